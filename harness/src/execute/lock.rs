//! One measurement at a time on a machine: whatever store they write to, two
//! `harness run`s (or shards of one grid) never time cells at the same moment. A
//! worker runs only while its runner holds an exclusive `flock` on a file in the
//! system's temporary folder; the kernel drops the lock if the runner dies.

use std::fs::File;
use std::time::Instant;

use anyhow::{Context, Result};

/// Held for as long as one cell's worker runs.
pub struct MeasureLock(File);

impl MeasureLock {
    /// Waits for the machine-wide lock (saying so when another run holds it).
    pub fn acquire(quiet: bool) -> Result<MeasureLock> {
        let path = std::env::temp_dir().join("harness-measure.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the measurement lock {}", path.display()))?;
        if !try_lock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            // Said once per process: two runs sharing the machine would otherwise say it every cell.
            static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            let quiet = quiet || SAID.swap(true, std::sync::atomic::Ordering::Relaxed);
            if !quiet {
                eprintln!("waiting: another harness run on this machine is measuring a cell ({})", path.display());
            }
            let t0 = Instant::now();
            anyhow::ensure!(try_lock(&file, libc::LOCK_EX), "cannot take the measurement lock {}", path.display());
            if !quiet {
                eprintln!("lock taken after {:.1} s (later waits are not reported)", t0.elapsed().as_secs_f64());
            }
        }
        Ok(MeasureLock(file))
    }
}

fn try_lock(file: &File, how: i32) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a valid open descriptor; released when the file is closed.
    unsafe { libc::flock(file.as_raw_fd(), how) == 0 }
}

impl Drop for MeasureLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above; closing the file would release it too.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let first = MeasureLock::acquire(true).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _second = MeasureLock::acquire(true).unwrap();
            tx.send(Instant::now()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(rx.try_recv().is_err(), "the second waits while the first holds the lock");
        let released = Instant::now();
        drop(first);
        let got = rx.recv().unwrap();
        assert!(got >= released);
        t.join().unwrap();
    }
}
