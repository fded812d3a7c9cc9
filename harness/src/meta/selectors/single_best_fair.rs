//! `single-best-fair`: the one arm with the highest mean share of each training task's
//! best performance, the mean taken over **every** training task: a task that did not run
//! the arm, or where it failed or missed a constraint, counts it as delivering nothing
//! (share 0), as the evaluation's default `--infeasible zero` scores such a pick.
//!
//! `single-best` averages each arm only over the training tasks that ran it, so an arm run
//! on a few easy tasks can outrank one run everywhere, and its regret on a test set that
//! runs other arms is inflated (issue 24's review: 19.2 % on the holdout grid where a
//! one-line rule scored 1.7 %). This is the fairly computed baseline; nothing else is fitted.
//! Written after `selectors-frozen-3`, before any task of the `choice` grid was measured.

use anyhow::Result;

use crate::meta::cv::Training;
use crate::meta::learn::prior::ArmMeans;
use crate::meta::selectors::{Family, Fitted, Selector, FROZEN_4};

pub struct SingleBestFair;

/// Mean share of the best over all training tasks, 0 where the arm was not run or infeasible.
pub fn fair_means(train: &Training) -> Vec<f64> {
    let n = train.n().max(1) as f64;
    (0..train.arms.len()).map(|a| train.y_ok.iter().map(|row| row[a].map_or(0.0, f64::exp)).sum::<f64>() / n).collect()
}

impl Selector for SingleBestFair {
    fn name(&self) -> &'static str {
        "single-best-fair"
    }
    fn describe(&self) -> &'static str {
        "the arm with the best mean share of the best over every training task (not run or infeasible = 0), for every task"
    }
    fn frozen(&self) -> &'static str {
        FROZEN_4
    }
    fn family(&self) -> Family {
        Family::SingleBest
    }
    fn source(&self) -> &'static str {
        file!()
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(ArmMeans(fair_means(train))))
    }
}
