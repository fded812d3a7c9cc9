//! `ours-3`: `ours-2` with the time model read in each machine's own speeds, so a task on
//! a machine class the training never saw is predicted from what that class measurably does
//! ([`crate::meta::learn::machine_physics`]: every work term over the machine's bandwidth or
//! matmul speed for the arm's format class), not from another class's seconds per unit of
//! work.
//!
//! Everything else is `ours-2`'s, unchanged: feasibility as its own target (threads beyond
//! the node's cores, weights above the learned share of its memory, else the run rate on the
//! nearest training tasks), the score ln(chance) + ln(predicted performance), and for an arm
//! run on fewer than three training tasks the task's predicted level plus the arm's mean
//! relative performance (a counted fallback). Designed on the committed stores of
//! 2026-12-07 (issue 24), frozen by the manifest before any test task of its evaluation exists.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::learn::level::Level;
use crate::meta::learn::machine_physics::MachinePhysics;
use crate::meta::learn::physics::{self, Physics};
use crate::meta::learn::Fallbacks;
use crate::meta::selectors::{Fitted, Selector, FROZEN_4};

pub struct Ours3;

struct Model {
    time: MachinePhysics,
    feasibility: Physics,
    level: Level,
    /// Mean ln(perf / best) of each arm over the training tasks that ran it feasibly.
    prior: Vec<f64>,
    train: Training,
    fallbacks: Fallbacks,
}

impl Model {
    fn log_perf(&self, q: &Query) -> Vec<f64> {
        let share = physics::share(&self.train, &q.raw_extra);
        let mut fell_back = false;
        let v = q
            .candidates
            .iter()
            .map(|&a| match self.time.log_perf(&q.raw, &q.raw_extra, &self.train.arms[a], a, share) {
                Some(lp) => lp,
                None => {
                    fell_back = true;
                    self.level.predict(q) + self.prior[a]
                }
            })
            .collect();
        if fell_back {
            self.fallbacks.note();
        }
        v
    }
}

impl Fitted for Model {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let lp = self.log_perf(q);
        Ok(q.candidates
            .iter()
            .zip(lp)
            .map(|(&a, v)| v + self.feasibility.log_chance(&q.raw, &q.x, &self.train.arms[a], a))
            .collect())
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        let lp = self.log_perf(q);
        let max = lp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Ok(Some(lp.iter().map(|v| v - max).collect()))
    }
    fn predicted_log_perf(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        Ok(Some(self.log_perf(q)))
    }
    fn fallbacks(&self) -> usize {
        self.fallbacks.count()
    }
}

impl Selector for Ours3 {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "ours-3"
    }
    fn describe(&self) -> &'static str {
        "ours-2 with each work term over the machine's measured bandwidth or matmul speed for the arm's format \
         class, so the per-arm efficiencies carry across machine classes; absolute predictions"
    }
    fn frozen(&self) -> &'static str {
        FROZEN_4
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        let prior = (0..train.arms.len())
            .map(|a| {
                let v: Vec<f64> = train.y_ok.iter().filter_map(|r| r[a]).collect();
                if v.is_empty() {
                    -1.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            })
            .collect();
        Ok(Box::new(Model {
            time: MachinePhysics::fit(train),
            feasibility: Physics::fit(train),
            level: Level::fit(train),
            prior,
            train: train.clone(),
            fallbacks: Fallbacks::default(),
        }))
    }
}
