//! The selector interface, its registry, and one file per selector.
//!
//! A selector learns from a fold's [`Training`] and then scores the candidate arms
//! of a held-out [`Query`]; the highest score is its pick (equal scores are a tie,
//! broken uniformly at random, and metrics take the expectation). Adding a selector
//! is one file here and one line in [`registry`]. Selector files compose the shared
//! parts of [`super::learn`] and import nothing from each other.

use anyhow::Result;

use super::cv::{Query, Training};
use crate::BadInput;

pub mod alors;
pub mod gbdt;
pub mod heuristic;
pub mod isac;
pub mod knn;
pub mod metainf;
pub mod oracle;
pub mod ours;
pub mod random;
pub mod random_forest;
pub mod single_best;

pub trait Selector: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for `--help` and the report.
    fn describe(&self) -> &'static str;
    /// Only the oracle reads the held-out task's true performance.
    fn needs_truth(&self) -> bool {
        false
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>>;
}

/// A fitted selector.
pub trait Fitted {
    /// One score per `q.candidates`, higher preferred; an error when the model cannot
    /// answer at all (the evaluation then fails naming the selector and task).
    fn scores(&self, q: &Query) -> Result<Vec<f64>>;
    /// Predicted targets ln(perf / best) per candidate, when the scores are such
    /// predictions (learners); `None` for rules and baselines.
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        let _ = q;
        Ok(None)
    }
    /// How often this model has answered with a stand-in instead of its own output
    /// (see [`super::learn::Fallbacks`]): fallbacks at fit time plus those of the
    /// queries scored so far.
    fn fallbacks(&self) -> usize {
        0
    }
}

/// Every selector, in the order tables list them.
pub fn registry() -> Vec<Box<dyn Selector>> {
    vec![
        Box::new(random::Random),
        Box::new(heuristic::Heuristic),
        Box::new(single_best::SingleBest),
        Box::new(oracle::Oracle),
        Box::new(knn::Knn),
        Box::new(isac::Isac),
        Box::new(alors::Alors),
        Box::new(gbdt::GbdtSelector),
        Box::new(random_forest::RandomForest),
        Box::new(metainf::MetaInf),
        Box::new(ours::OursV1),
        Box::new(ours::Ours),
    ]
}

pub fn names() -> Vec<&'static str> {
    registry().iter().map(|s| s.name()).collect()
}

/// The selector called `name`; an unknown name is the user's input ([`BadInput`], exit 2).
pub fn by_name(name: &str) -> Result<Box<dyn Selector>> {
    registry()
        .into_iter()
        .find(|s| s.name() == name)
        .ok_or_else(|| BadInput(format!("unknown selector `{name}`; known selectors: {}", names().join(", "))).into())
}

/// Index of the highest score (first of equals).
pub fn argmax(scores: &[f64]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_selector_is_bad_input() {
        let e = by_name("magic").err().expect("unknown");
        assert!(crate::error::is_bad_input(&e), "{e:#}");
        assert!(by_name("ours").is_ok());
    }
}
