//! Percentiles, bootstrap confidence intervals and outlier counts.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::record::LatencyStats;

/// Linear-interpolated percentile `q` in [0, 100] of sorted data.
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = (q / 100.0) * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn median(xs: &[f64]) -> f64 {
    percentile(xs, 50.0)
}

/// Mean and sample standard deviation (0 for fewer than two values).
pub fn mean_stdev(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let stdev =
        if xs.len() > 1 { (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (mean, stdev)
}

/// Percentile `q` of unsorted data (NaN when empty).
pub fn percentile(xs: &[f64], q: f64) -> f64 {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    percentile_sorted(&s, q)
}

/// Summary of a sample; the median's 95% CI from `resamples` bootstrap draws
/// (seeded, so a stored result is reproducible from its raw samples).
pub fn describe(xs: &[f64], resamples: usize, seed: u64) -> LatencyStats {
    let mut s = xs.to_vec();
    s.sort_by(f64::total_cmp);
    let (mean, stdev) = mean_stdev(&s);
    let (q1, q3) = (percentile_sorted(&s, 25.0), percentile_sorted(&s, 75.0));
    let iqr = q3 - q1;
    let outliers = s.iter().filter(|&&x| x < q1 - 1.5 * iqr || x > q3 + 1.5 * iqr).count();
    let (lo, hi) = bootstrap_median_ci(&s, resamples, seed);
    LatencyStats {
        p50: percentile_sorted(&s, 50.0),
        p90: percentile_sorted(&s, 90.0),
        p99: percentile_sorted(&s, 99.0),
        mean,
        stdev,
        p50_ci_lo: lo,
        p50_ci_hi: hi,
        outliers,
    }
}

/// Percentile bootstrap 95% interval of the median.
pub fn bootstrap_median_ci(xs: &[f64], resamples: usize, seed: u64) -> (f64, f64) {
    if xs.len() < 2 || resamples == 0 {
        let m = median(xs);
        return (m, m);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut meds: Vec<f64> = (0..resamples)
        .map(|_| {
            let draw: Vec<f64> = (0..xs.len()).map(|_| xs[rng.random_range(0..xs.len())]).collect();
            median(&draw)
        })
        .collect();
    meds.sort_by(f64::total_cmp);
    (percentile_sorted(&meds, 2.5), percentile_sorted(&meds, 97.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile_sorted(&s, 50.0), 3.0);
        assert_eq!(percentile_sorted(&s, 90.0), 4.6);
        assert_eq!(percentile_sorted(&s, 100.0), 5.0);
    }

    #[test]
    fn describe_counts_outliers_and_brackets_median() {
        let xs = [10.0, 10.2, 9.8, 10.1, 9.9, 10.0, 50.0];
        let d = describe(&xs, 500, 1);
        assert_eq!(d.outliers, 1);
        assert_eq!(d.p50, 10.0);
        assert!(d.p50_ci_lo <= 10.0 && d.p50_ci_hi >= 10.0);
        assert!(d.p50_ci_hi < 50.0);
        assert_eq!(describe(&xs, 500, 1), d, "seeded bootstrap is reproducible");
    }
}
