//! `gbdt`: one gradient-boosted tree ensemble per arm (smartcore's XGBoost-style
//! regressor) predicts the arm's ln(perf / best) from the standardised
//! meta-features; the arm predicted best is picked. Arms run on fewer than two
//! training tasks fall back to their training mean.

use anyhow::Result;

use crate::meta::cv::Training;
use crate::meta::learn::regress::{Gbdt, PerArm};
use crate::meta::selectors::{Fitted, Selector};

pub struct GbdtSelector;

impl Selector for GbdtSelector {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "gbdt"
    }
    fn seeded(&self) -> bool {
        true
    }
    fn describe(&self) -> &'static str {
        "per-arm gradient-boosted trees (smartcore XGRegressor) on meta-features -> ln(perf/best)"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(PerArm::fit(train, |x, y, a| Gbdt::fit(x, y, 100, 3, train.seed_for(a as u64)))?))
    }
}
