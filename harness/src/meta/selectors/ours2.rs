//! `ours-2`: predict each arm's time from the task's sizes, then pick the fastest arm
//! expected to run.
//!
//! Designed after `selectors-frozen-1` was scored on tasks it had never seen (where
//! every learner trailed the single-best arm and predicted latency was off by ~45 %):
//! a similarity learner cannot extrapolate to a new model size, workload shape or node
//! speed, and a penalised timing is a poor target. So:
//! - **time model** ([`crate::meta::learn::physics`]): per arm, a non-negative
//!   combination of overhead, prefill compute, decode weight streaming, decode
//!   compute and attention work, each divided by the node's compute share, fitted by
//!   NNLS on relative error over the training tasks that ran the arm feasibly. Its
//!   prediction is absolute (ms, tok/s), so it is also this selector's predicted
//!   performance;
//! - **feasibility as its own target**: threads beyond the node's cores, or weights
//!   above the learned share of the node's memory, rank the arm below every arm
//!   expected to run; otherwise the arm's run rate on the nearest training tasks that
//!   ran it is its chance to run, and
//!   the score is the expected delivered performance, ln(chance) + ln(predicted);
//! - an arm run on fewer than three training tasks has no time model: the task's
//!   predicted level (ridge on the features) plus the arm's mean relative
//!   performance stands in (counted as a fallback).
//!
//! No constant here was chosen on the tasks it is tested on: the design was frozen by
//! the tag `selectors-frozen-2` before those tasks were measured.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::learn::level::Level;
use crate::meta::learn::physics::{self, Physics};
use crate::meta::learn::Fallbacks;
use crate::meta::selectors::{Fitted, Selector, FROZEN_2};

pub struct Ours2;

struct Model {
    physics: Physics,
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
            .map(|&a| match self.physics.log_perf(&q.raw, &self.train.arms[a], a, share) {
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
            .map(|(&a, v)| v + self.physics.log_chance(&q.raw, &q.x, &self.train.arms[a], a))
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

impl Selector for Ours2 {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "ours-2"
    }
    fn describe(&self) -> &'static str {
        "per-arm roofline time model (NNLS on overhead, prefill, weight streaming, decode and attention work / node \
         share) + feasibility rule learned from failures; absolute predictions"
    }
    fn frozen(&self) -> &'static str {
        FROZEN_2
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
            physics: Physics::fit(train),
            level: Level::fit(train),
            prior,
            train: train.clone(),
            fallbacks: Fallbacks::default(),
        }))
    }
}
