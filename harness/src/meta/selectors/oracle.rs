//! `oracle`: the measured best arm of the held-out task. The upper bound every
//! regret is measured against; the only selector given the task's truth.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::selectors::{Fitted, Selector};

pub struct Oracle;

struct Truth;

impl Selector for Oracle {
    fn source(&self) -> &'static str {
        file!()
    }
    fn family(&self) -> super::Family {
        super::Family::Oracle
    }
    fn name(&self) -> &'static str {
        "oracle"
    }
    fn describe(&self) -> &'static str {
        "the measured best arm of the held-out task (upper bound)"
    }
    fn needs_truth(&self) -> bool {
        true
    }
    fn fit(&self, _train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(Truth))
    }
}

impl Fitted for Truth {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        q.truth.clone().ok_or_else(|| anyhow::anyhow!("the oracle needs the task's measured truth"))
    }
}
