//! `gbdt`: one gradient-boosted tree ensemble per arm (smartcore's XGBoost-style
//! regressor) predicts the arm's ln(perf / best) from the standardised
//! meta-features; the arm predicted best is picked. Arms run on fewer than two
//! training tasks fall back to their training mean.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::learn::{arm_rows, per_arm_scores, Gbdt};
use crate::meta::selector::{Fitted, Selector};

pub struct GbdtSelector;

struct PerArm {
    models: Vec<Option<Gbdt>>,
    prior: Vec<f64>,
}

impl Selector for GbdtSelector {
    fn name(&self) -> &'static str {
        "gbdt"
    }
    fn describe(&self) -> &'static str {
        "per-arm gradient-boosted trees (smartcore XGRegressor) on meta-features -> ln(perf/best)"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        let models = (0..train.arms.len())
            .map(|a| {
                let (x, y) = arm_rows(train, a);
                if x.len() < 2 {
                    return Ok(None);
                }
                Gbdt::fit(&x, &y, 100, 3, a as u64).map(Some)
            })
            .collect::<Result<_>>()?;
        Ok(Box::new(PerArm { models, prior: train.arm_means() }))
    }
}

impl Fitted for PerArm {
    fn scores(&self, q: &Query) -> Vec<f64> {
        let predict =
            |a: usize| self.models[a].as_ref().and_then(|m| m.predict(std::slice::from_ref(&q.x)).ok()).map(|v| v[0]);
        per_arm_scores(q, predict, &self.prior)
    }
    fn predicted_targets(&self, q: &Query) -> Option<Vec<f64>> {
        Some(self.scores(q))
    }
}
