//! `random-forest`: one random forest per arm (smartcore, 100 trees, a third of
//! the features per split) predicts the arm's ln(perf / best) from the
//! standardised meta-features; the arm predicted best is picked.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::learn::{arm_rows, per_arm_scores, Forest};
use crate::meta::selector::{Fitted, Selector};

pub struct RandomForest;

struct PerArm {
    models: Vec<Option<Forest>>,
    prior: Vec<f64>,
}

impl Selector for RandomForest {
    fn name(&self) -> &'static str {
        "random-forest"
    }
    fn describe(&self) -> &'static str {
        "per-arm random forest (smartcore) on meta-features -> ln(perf/best)"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        let models = (0..train.arms.len())
            .map(|a| {
                let (x, y) = arm_rows(train, a);
                if x.len() < 2 {
                    return Ok(None);
                }
                Forest::fit(&x, &y, 100, a as u64).map(Some)
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
