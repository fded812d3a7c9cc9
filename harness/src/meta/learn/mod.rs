//! The learner parts selectors are composed of: per-arm regressors ([`regress`]),
//! the arm priors ([`prior`]), nearest neighbours ([`knn`]), the written expert rules
//! ([`rules`]), blending members on inner folds ([`blend`]) and inner-fold tuning
//! ([`tune`]). Selector files under `meta/selectors/` only put these together.

use std::sync::atomic::{AtomicUsize, Ordering};

pub mod blend;
pub mod knn;
pub mod level;
pub mod machine_physics;
pub mod pairs;
pub mod physics;
pub mod prior;
pub mod regress;
pub mod rules;
pub mod tune;

/// Counts the times a fitted model answered with a stand-in (the arm prior, zeros,
/// the numeric features for a missing embedding, a member left out of a blend)
/// because its own part failed or lacked an input. The output is what it always
/// was; the count makes it visible in the evaluation record.
#[derive(Debug, Default)]
pub struct Fallbacks(AtomicUsize);

impl Fallbacks {
    pub fn note(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}
