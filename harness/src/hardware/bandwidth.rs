//! This machine's memory bandwidth, measured the STREAM way: the triad
//! `a[i] = b[i] + s * c[i]` over arrays far larger than any cache, split over
//! threads, best of several passes. Decode at batch 1 streams every weight once per
//! token, so this is the roofline a decode step is held against.

use std::time::Instant;

/// Bytes per triad element counted as STREAM does (two reads, one write, no write-allocate).
const BYTES_PER_ELEMENT: f64 = 24.0;

/// A bandwidth measurement.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Bandwidth {
    pub threads: usize,
    /// Size of each of the three arrays, MiB.
    pub array_mib: usize,
    /// Best pass, GB/s (10^9 bytes per second).
    pub best_gbs: f64,
    /// Median pass, GB/s.
    pub median_gbs: f64,
}

/// Runs the triad on `threads` threads over three arrays of `array_mib` MiB each, `passes` times.
pub fn triad(threads: usize, array_mib: usize, passes: usize) -> Bandwidth {
    let n = array_mib * 1024 * 1024 / 8;
    let threads = threads.max(1);
    let mut a = vec![0.0f64; n];
    let b: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let c: Vec<f64> = (0..n).map(|i| (n - i) as f64).collect();
    let chunk = n.div_ceil(threads);
    let mut rates = Vec::with_capacity(passes);
    for pass in 0..passes.max(1) {
        let s = 1.0 + pass as f64 * 1e-3;
        let t0 = Instant::now();
        std::thread::scope(|scope| {
            for ((a, b), c) in a.chunks_mut(chunk).zip(b.chunks(chunk)).zip(c.chunks(chunk)) {
                scope.spawn(move || {
                    for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
                        *a = b + s * c;
                    }
                });
            }
        });
        let secs = t0.elapsed().as_secs_f64();
        rates.push(BYTES_PER_ELEMENT * n as f64 / secs / 1e9);
        // Keep the work observable so it cannot be optimised away.
        std::hint::black_box(&a);
    }
    rates.sort_by(f64::total_cmp);
    Bandwidth {
        threads,
        array_mib,
        best_gbs: *rates.last().expect("at least one pass"),
        median_gbs: rates[rates.len() / 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_triad_measures_a_plausible_bandwidth() {
        let bw = triad(1, 16, 3);
        // Anything from a slow VM to a server's single core.
        assert!(bw.best_gbs > 0.5 && bw.best_gbs < 500.0, "{bw:?}");
        assert!(bw.median_gbs <= bw.best_gbs);
    }
}
