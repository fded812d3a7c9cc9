//! `random-forest`: one random forest per arm (smartcore, 100 trees, a third of
//! the features per split) predicts the arm's ln(perf / best) from the
//! standardised meta-features; the arm predicted best is picked. Arms run on
//! fewer than two training tasks fall back to their training mean.

use anyhow::Result;

use crate::meta::cv::Training;
use crate::meta::learn::regress::{Forest, PerArm};
use crate::meta::selectors::{Fitted, Selector};

pub struct RandomForest;

impl Selector for RandomForest {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "random-forest"
    }
    fn seeded(&self) -> bool {
        true
    }
    fn describe(&self) -> &'static str {
        "per-arm random forest (smartcore) on meta-features -> ln(perf/best)"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(PerArm::fit(train, |x, y, a| Forest::fit(x, y, 100, train.seed_for(a as u64)))?))
    }
}
