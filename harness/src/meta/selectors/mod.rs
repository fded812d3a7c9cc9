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
pub mod gbdt_arms;
pub mod gbdt_mach;
pub mod heuristic;
pub mod isac;
pub mod knn;
pub mod metainf;
pub mod oracle;
pub mod ours;
pub mod ours2;
pub mod ours3;
pub mod practitioner;
pub mod random;
pub mod random_forest;
pub mod random_sensible;
pub mod rf_arms;
pub mod single_best;
pub mod single_best_fair;
pub mod single_best_regime;

pub trait Selector: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for `--help` and the report.
    fn describe(&self) -> &'static str;
    /// Only the oracle reads the held-out task's true performance.
    fn needs_truth(&self) -> bool {
        false
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>>;
    /// The file that defines it (`file!()`): where the freeze manifest (`meta/freeze.rs`) starts the set of
    /// source files whose hashes freeze it.
    fn source(&self) -> &'static str;
    /// What kind of baseline or learner it is (the headline compares learners with the
    /// best no-fit rule and the fair single-best).
    fn family(&self) -> Family {
        Family::Learner
    }
    /// The git tag that froze this selector's code and constants (a later change makes
    /// a selector with a new name).
    fn frozen(&self) -> &'static str {
        FROZEN_1
    }
    /// Whether the selector draws random numbers (it then runs once per learner seed).
    fn seeded(&self) -> bool {
        false
    }
    /// Whether the selector is defined on text embeddings of the task (it refuses to
    /// run without them unless allowed).
    fn needs_embeddings(&self) -> bool {
        false
    }
}

/// The tag freezing the selectors as they stood after the seams refactor (2026-11-27).
pub const FROZEN_1: &str = "selectors-frozen-1";
/// The tag freezing the selectors designed after the frozen-1 test (2026-11-28).
pub const FROZEN_2: &str = "selectors-frozen-2";
/// Baselines added after `selectors-frozen-2` (nothing in them is fitted to a result).
pub const FROZEN_3: &str = "selectors-frozen-3";

/// Baselines after `selectors-frozen-3`: the practitioners' no-fit rules and the fair
/// single-best (issue 24), frozen by the manifest `selectors/FROZEN.toml` (2026-12-07).
pub const FROZEN_4: &str = "selectors-frozen-4";

/// What a selector is, for the comparisons the evaluation leads with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// A uniform draw (an expected value).
    Random,
    /// A rule with nothing fitted to any measurement.
    NoFit,
    /// One arm (or one per regime) chosen by its mean on the training tasks.
    SingleBest,
    /// Reads the held-out task's truth: the upper bound.
    Oracle,
    /// Fits a model to the training tasks.
    Learner,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Random => "random",
            Family::NoFit => "no-fit",
            Family::SingleBest => "single-best",
            Family::Oracle => "oracle",
            Family::Learner => "learner",
        }
    }
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
    /// Predicted ln(performance) per candidate in absolute terms, for selectors that
    /// model the task's level themselves; `None` lets the evaluation add the shared
    /// level model ([`super::learn::level`]) to [`Self::predicted_targets`].
    fn predicted_log_perf(&self, q: &Query) -> Result<Option<Vec<f64>>> {
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
        Box::new(single_best_fair::SingleBestFair),
        Box::new(practitioner::Practitioner(practitioner::Rule::Q4_0)),
        Box::new(practitioner::Practitioner(practitioner::Rule::Q8_0)),
        Box::new(practitioner::Practitioner(practitioner::Rule::Native)),
        Box::new(random_sensible::RandomSensible),
        Box::new(single_best_regime::SingleBestRegime),
        Box::new(oracle::Oracle),
        Box::new(knn::Knn),
        Box::new(isac::Isac),
        Box::new(alors::Alors),
        Box::new(gbdt::GbdtSelector),
        Box::new(random_forest::RandomForest),
        Box::new(gbdt_arms::GbdtArms),
        Box::new(rf_arms::RandomForestArms),
        Box::new(metainf::MetaInf),
        Box::new(ours::OursV1),
        Box::new(ours::Ours),
        Box::new(ours2::Ours2),
        Box::new(gbdt_mach::GbdtMach),
        Box::new(ours3::Ours3),
        Box::new(ours::OursAblated(ours::Ablation::NoRules)),
        Box::new(ours::OursAblated(ours::Ablation::NoJoint)),
        Box::new(ours::OursAblated(ours::Ablation::PriorRidge)),
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
