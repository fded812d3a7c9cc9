//! `single-best`: the arm with the best mean on the training tasks, whatever the
//! task: the highest mean share of each task's best performance, i.e. the lowest
//! mean training regret (scale-free, so fast and slow tasks weigh the same). Its
//! regret is what choosing per task can win back.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::selector::{Fitted, Selector};

pub struct SingleBest;

/// Mean target per arm (also the fallback prior of the learners).
pub struct ArmMeans(pub Vec<f64>);

impl Selector for SingleBest {
    fn name(&self) -> &'static str {
        "single-best"
    }
    fn describe(&self) -> &'static str {
        "the arm with the best mean on the training tasks, for every task"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(ArmMeans(train.arm_mean_shares())))
    }
}

impl Fitted for ArmMeans {
    fn scores(&self, q: &Query) -> Vec<f64> {
        q.candidates.iter().map(|&a| self.0[a]).collect()
    }
}

/// Mean target ln(perf/best) per arm: the learners' prior.
pub struct ArmPrior(pub Vec<f64>);

impl Fitted for ArmPrior {
    fn scores(&self, q: &Query) -> Vec<f64> {
        q.candidates.iter().map(|&a| self.0[a]).collect()
    }
    fn predicted_targets(&self, q: &Query) -> Option<Vec<f64>> {
        Some(self.scores(q))
    }
}
