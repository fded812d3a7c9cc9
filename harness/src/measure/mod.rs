//! Warm-up, repetitions until a minimum count and time, and the verdict.

pub mod busy;
pub mod roofline;
pub mod stats;
pub mod summary;

use std::time::Instant;

use anyhow::Result;

use crate::config::MeasureSpec;
use crate::record::Verdict;

/// Run `f` `warmup` times untimed, then until both `min_reps` and
/// `min_time_s` are reached. `max_reps` and `max_time_s` cut the repetitions
/// beyond `min_reps` short, never the minimum itself (slow cells take longer
/// rather than end with too few samples to judge).
pub fn repeat<T>(spec: &MeasureSpec, mut f: impl FnMut() -> Result<T>) -> Result<Vec<T>> {
    for _ in 0..spec.warmup {
        f()?;
    }
    let start = Instant::now();
    let mut out = Vec::new();
    loop {
        out.push(f()?);
        let t = start.elapsed().as_secs_f64();
        let enough = out.len() >= spec.min_reps && t >= spec.min_time_s;
        let cut = out.len() >= spec.max_reps || (t >= spec.max_time_s && out.len() >= spec.min_reps);
        if enough || cut {
            return Ok(out);
        }
    }
}

/// `valid`, or `invalid` with the reason.
pub fn verdict(spec: &MeasureSpec, samples: &[f64]) -> (Verdict, Option<String>) {
    if samples.len() < spec.min_reps {
        return (Verdict::Invalid, Some(format!("too few samples: {} < min_reps {}", samples.len(), spec.min_reps)));
    }
    let (mean, stdev) = stats::mean_stdev(samples);
    let cv = if mean > 0.0 { stdev / mean } else { 0.0 };
    if cv > spec.max_cv {
        return (Verdict::Invalid, Some(format!("too noisy: coefficient of variation {cv:.2} > {:.2}", spec.max_cv)));
    }
    (Verdict::Valid, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_honours_min_reps_and_time() {
        let spec = MeasureSpec { warmup: 2, min_reps: 4, max_reps: 100, min_time_s: 0.0, ..Default::default() };
        let mut calls = 0;
        let out = repeat(&spec, || {
            calls += 1;
            Ok(calls)
        })
        .unwrap();
        assert_eq!(out, vec![3, 4, 5, 6]);
    }

    #[test]
    fn verdicts() {
        let spec = MeasureSpec { min_reps: 3, max_cv: 0.1, ..Default::default() };
        assert_eq!(verdict(&spec, &[10.0, 10.1, 9.9]).0, "valid");
        let (v, why) = verdict(&spec, &[10.0, 20.0, 5.0]);
        assert_eq!(v, "invalid");
        assert!(why.unwrap().contains("too noisy"));
        assert!(verdict(&spec, &[10.0]).1.unwrap().contains("too few"));
    }
}

#[cfg(test)]
mod engine_tests;
