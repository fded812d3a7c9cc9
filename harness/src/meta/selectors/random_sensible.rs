//! `random-sensible`: a uniform pick among the arms that could run at all — threads
//! within the node's cores, weights under half the node's memory (the rules of
//! [`crate::meta::learn::physics`] with their default threshold, nothing fitted).
//! The baseline a user who reads the node's spec sheet would get by chance; `random`
//! draws among every arm. Written after `selectors-frozen-2` (a baseline with no
//! parameter fitted to any result).

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::features::Arm;
use crate::meta::learn::physics::DEFAULT_MEMORY_SHARE;
use crate::meta::selectors::{Fitted, Selector, FROZEN_3};

pub struct RandomSensible;

struct Sensible(Vec<Arm>);

impl Selector for RandomSensible {
    fn source(&self) -> &'static str {
        file!()
    }
    fn family(&self) -> super::Family {
        super::Family::NoFit
    }
    fn name(&self) -> &'static str {
        "random-sensible"
    }
    fn describe(&self) -> &'static str {
        "uniform pick among the arms whose threads fit the node's cores and whose weights take under half its memory"
    }
    fn frozen(&self) -> &'static str {
        FROZEN_3
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(Sensible(train.arms.clone())))
    }
}

impl Fitted for Sensible {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        Ok(q.candidates
            .iter()
            .map(|&a| {
                let arm = &self.0[a];
                let threads_fit = !(q.raw.cores.is_finite() && arm.threads as f64 > q.raw.cores);
                let share = crate::meta::features::weights_share_of_memory(
                    crate::meta::features::arm_bits(arm, &q.raw),
                    &q.raw,
                );
                let fits = !(share.is_finite() && share > DEFAULT_MEMORY_SHARE);
                if threads_fit && fits {
                    0.0
                } else {
                    -1.0
                }
            })
            .collect())
    }
}
