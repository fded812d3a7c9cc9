//! Hyper-parameter tuning on inner folds of a fold's training tasks.

use anyhow::Result;

use crate::meta::cv::Training;
use crate::meta::selectors::Fitted;

/// Expected regret of a score vector against true targets (ln perf/best), ties
/// broken uniformly: the quantity hyper-parameters are tuned for.
pub fn regret_of(scores: &[f64], truth: &[f64]) -> f64 {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tied: Vec<f64> = scores.iter().zip(truth).filter(|(s, _)| **s >= max - 1e-12).map(|(_, t)| *t).collect();
    let best = truth.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    tied.iter().map(|t| 1.0 - (t - best).exp()).sum::<f64>() / tied.len().max(1) as f64
}

/// Mean inner-fold regret of a way of fitting: the hyper-parameter search criterion.
/// Only `train` is read, never the outer held-out task. An inner model that cannot
/// be fitted, or cannot score a validation task, leaves that case out of the mean.
pub fn inner_regret(train: &Training, folds: usize, fit: &dyn Fn(&Training) -> Result<Box<dyn Fitted>>) -> f64 {
    let mut total = 0.0;
    let mut count = 0usize;
    for (val, fit_idx) in train.inner_folds(folds) {
        let inner = train.subset(&fit_idx);
        let Ok(model) = fit(&inner) else { continue };
        for &i in &val {
            let q = train.inner_query(i, &inner);
            let truth = q.truth.clone().unwrap_or_default();
            let Ok(scores) = model.scores(&q) else { continue };
            total += regret_of(&scores, &truth);
            count += 1;
        }
    }
    if count == 0 {
        f64::INFINITY
    } else {
        total / count as f64
    }
}

/// The candidate among `values` with the lowest inner-fold regret (the first on ties,
/// within 1e-12), `default` when none is lower than infinity.
pub fn lowest_regret<T: Copy>(values: &[T], default: T, regret: impl Fn(T) -> f64) -> T {
    let mut best = (f64::INFINITY, default);
    for &v in values {
        let r = regret(v);
        if r < best.0 - 1e-12 {
            best = (r, v);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regret_averages_over_ties() {
        let truth = [0.0, (0.5f64).ln()];
        assert_eq!(regret_of(&[1.0, 0.0], &truth), 0.0);
        assert!((regret_of(&[0.0, 0.0], &truth) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn lowest_regret_keeps_the_first_of_equals() {
        assert_eq!(lowest_regret(&[1, 2, 3], 0, |v| if v == 1 { 0.5 } else { 0.2 }), 2);
        assert_eq!(lowest_regret(&[1, 2], 9, |_| f64::INFINITY), 9);
    }
}
