//! `random-forest-arms`: the per-arm `random-forest` given the same arm and roofline features as `ours`,
//! as one model over (task, arm) pairs ([`crate::meta::learn::pairs`]), trained on
//! feasible arms only, with feasibility as its own target. Frozen with
//! `selectors-frozen-2`.

use anyhow::Result;

use crate::meta::cv::Training;
use crate::meta::learn::pairs::{fit, PairLearner};
use crate::meta::selectors::{Fitted, Selector, FROZEN_2};

pub struct RandomForestArms;

impl Selector for RandomForestArms {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "random-forest-arms"
    }
    fn seeded(&self) -> bool {
        true
    }
    fn frozen(&self) -> &'static str {
        FROZEN_2
    }
    fn describe(&self) -> &'static str {
        "one random forest over (task features, arm roofline features, arm id) pairs, trained on feasible arms; ranked by ln(chance to run) + prediction"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(fit(train, PairLearner::Forest)?))
    }
}
