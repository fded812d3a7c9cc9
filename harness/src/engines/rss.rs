//! Peak resident set size of this process (each cell runs in its own worker,
//! so this is the cell's peak).

/// Peak RSS in MiB, from `getrusage` (Linux reports kilobytes).
pub fn peak_rss_mb() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return f64::NAN;
    }
    ru.ru_maxrss as f64 / 1024.0
}
