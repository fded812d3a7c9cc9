//! Hardware: the machine fingerprint and kernel-enforced node limits.

pub mod bandwidth;
pub mod cgroup;
pub mod fingerprint;

use std::path::PathBuf;
use std::process::Command;

/// The harness binary to start workers and nodes with. On Linux `/proc/self/exe` names this very
/// binary even if a rebuild replaced the file mid-run, so every cell of a run is measured with
/// the same code.
pub fn harness_exe() -> anyhow::Result<PathBuf> {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if proc_exe.exists() {
        return Ok(proc_exe);
    }
    anyhow::Context::context(std::env::current_exe(), "locating the harness executable")
}

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
