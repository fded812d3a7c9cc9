//! Hardware: the machine fingerprint and kernel-enforced node limits.

pub mod bandwidth;
pub mod cgroup;
pub mod fingerprint;

use std::process::Command;

/// Make a child process die when its parent does (a `kill -9` of the run must not leave a
/// worker or a node measuring on, or racing the resumed run for the CPU).
pub fn die_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
}
