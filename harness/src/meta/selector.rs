//! The selector interface and its registry.
//!
//! A selector learns from a fold's [`Training`] and then scores the candidate arms
//! of a held-out [`Query`]; the highest score is its pick (equal scores are a tie,
//! broken uniformly at random, and metrics take the expectation). Adding a selector
//! is one file under `meta/selectors/` and one line in [`registry`].

use anyhow::Result;

use super::cv::{Query, Training};
use super::selectors::{alors, gbdt, heuristic, isac, knn, metainf, oracle, ours, random, random_forest, single_best};

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
    /// One score per `q.candidates`, higher preferred.
    fn scores(&self, q: &Query) -> Vec<f64>;
    /// Predicted targets ln(perf / best) per candidate, when the scores are such
    /// predictions (learners); `None` for rules and baselines.
    fn predicted_targets(&self, q: &Query) -> Option<Vec<f64>> {
        let _ = q;
        None
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

pub fn by_name(name: &str) -> Result<Box<dyn Selector>> {
    registry().into_iter().find(|s| s.name() == name).ok_or_else(|| {
        crate::BadInput(format!("unknown selector `{name}`; known selectors: {}", names().join(", "))).into()
    })
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
