//! `random`: a uniform pick among the task's candidate arms. Every arm scores the
//! same, so the metrics are the exact expectation over uniform picks, not one
//! lucky or unlucky draw.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::selectors::{Fitted, Selector};

pub struct Random;

struct Uniform;

impl Selector for Random {
    fn source(&self) -> &'static str {
        file!()
    }
    fn family(&self) -> super::Family {
        super::Family::Random
    }
    fn name(&self) -> &'static str {
        "random"
    }
    fn describe(&self) -> &'static str {
        "uniform pick among the task's arms (expected value, not one draw)"
    }
    fn fit(&self, _train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(Uniform))
    }
}

impl Fitted for Uniform {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        Ok(vec![0.0; q.candidates.len()])
    }
}
