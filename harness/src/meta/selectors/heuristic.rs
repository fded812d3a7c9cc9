//! `heuristic`: the rules a practitioner would apply without any data, written
//! down ([`crate::meta::learn::rules`]). Learns nothing; reads only the task's
//! descriptors.

use anyhow::Result;

use crate::meta::cv::Training;
use crate::meta::learn::rules::Rules;
use crate::meta::selectors::{Fitted, Selector};

pub struct Heuristic;

impl Selector for Heuristic {
    fn source(&self) -> &'static str {
        file!()
    }
    fn family(&self) -> super::Family {
        super::Family::NoFit
    }
    fn name(&self) -> &'static str {
        "heuristic"
    }
    fn describe(&self) -> &'static str {
        "written expert rules: memory-bound decode -> 4-bit, compute-bound -> 8/16-bit, shared prefix -> prefix cache, \
         many clients -> continuous batching, all cores"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(Rules::new(&train.arms)))
    }
}
