//! One model over (task, arm) pairs: the task's standardised features, the arm in
//! roofline terms ([`arm_features`]) and the arm's identity, so a tree ensemble shares
//! strength across arms. The `-arms` selectors train it on the measured targets of
//! feasible arms only and rank by ln(chance to run) + predicted target, the chance
//! from [`super::physics`]'s feasibility rules and neighbours.

use anyhow::Result;

use super::level::Level;
use super::physics::Physics;
use super::regress::{Forest, Gbdt, Regressor};
use crate::meta::cv::{Query, Training};
use crate::meta::features::{arm_features, Arm, TaskFeatures};
use crate::meta::selectors::Fitted;

/// The pair row of arm `a` for a task with standardised features `x` and raw `raw`.
/// An arm feature that cannot be computed (an arm that is no technique, as in an
/// imported scenario, or a model of unknown size) is 0: the trees cannot order NaN.
pub fn pair_row(arms: &[Arm], a: usize, x: &[f64], raw: &TaskFeatures) -> Vec<f64> {
    let mut row = x.to_vec();
    row.extend(arm_features(&arms[a], raw).to_vec().into_iter().map(|v| if v.is_finite() { v } else { 0.0 }));
    row.extend((0..arms.len()).map(|b| if a == b { 1.0 } else { 0.0 }));
    row
}

/// The pair rows and targets of every (task, arm) of `t` that has a target in `targets`
/// (`[task][arm]`, one of the training set's target matrices).
pub fn pairs(t: &Training, targets: &[Vec<Option<f64>>]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut rows = Vec::new();
    let mut y = Vec::new();
    for (i, row) in targets.iter().enumerate() {
        for (a, v) in row.iter().enumerate() {
            if let Some(v) = v {
                rows.push(pair_row(&t.arms, a, &t.x[i], &t.raw[i]));
                y.push(*v);
            }
        }
    }
    (rows, y)
}

/// Which regressor a pair model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairLearner {
    Gbdt,
    Forest,
}

pub struct PairModel {
    model: Box<dyn Regressor + Send + Sync>,
    arms: Vec<Arm>,
    physics: Physics,
    level: Level,
}

/// Fits the pair model on the feasible (task, arm) pairs of `t`.
pub fn fit(t: &Training, learner: PairLearner) -> Result<PairModel> {
    let (rows, y) = pairs(t, &t.y_ok);
    anyhow::ensure!(!rows.is_empty(), "no feasible training pairs");
    let model: Box<dyn Regressor + Send + Sync> = match learner {
        PairLearner::Gbdt => Box::new(Gbdt::fit(&rows, &y, 100, 4, t.seed_for(11))?),
        PairLearner::Forest => Box::new(Forest::fit(&rows, &y, 100, t.seed_for(13))?),
    };
    Ok(PairModel { model, arms: t.arms.clone(), physics: Physics::fit(t), level: Level::fit(t) })
}

impl PairModel {
    fn targets(&self, q: &Query) -> Result<Vec<f64>> {
        let rows: Vec<Vec<f64>> = q.candidates.iter().map(|&a| pair_row(&self.arms, a, &q.x, &q.raw)).collect();
        self.model.predict(&rows)
    }
}

impl Fitted for PairModel {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let t = self.targets(q)?;
        Ok(q.candidates
            .iter()
            .zip(t)
            .map(|(&a, v)| v + self.physics.log_chance(&q.raw, &q.x, &self.arms[a], a))
            .collect())
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        self.targets(q).map(Some)
    }
    fn predicted_log_perf(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        let l = self.level.predict(q);
        Ok(Some(self.targets(q)?.iter().map(|t| t + l).collect()))
    }
}
