//! What is known about an arm before looking at the task: its record on the training
//! tasks. The single-best selector and the safe default of the learners.

use anyhow::Result;

use crate::meta::cv::Query;
use crate::meta::selectors::Fitted;

/// Mean share of the task's best per arm ([`crate::meta::cv::Training::arm_mean_shares`]):
/// ranks arms by their mean training regret, as the single-best does. Not a prediction
/// of ln(perf / best), so it offers no predicted targets.
pub struct ArmMeans(pub Vec<f64>);

impl Fitted for ArmMeans {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        Ok(q.candidates.iter().map(|&a| self.0[a]).collect())
    }
}

/// Mean target ln(perf/best) per arm: the learners' prior.
pub struct ArmPrior(pub Vec<f64>);

impl Fitted for ArmPrior {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        Ok(q.candidates.iter().map(|&a| self.0[a]).collect())
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        self.scores(q).map(Some)
    }
}
