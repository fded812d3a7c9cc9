//! Continuous batching: requests join and leave the running batch at every step.

use super::{ExecutionPlan, Technique};

pub struct ContinuousBatching;

impl Technique for ContinuousBatching {
    fn name(&self) -> &'static str {
        "continuous-batching"
    }
    fn describe(&self) -> &'static str {
        "serving: admit and retire requests at every decode step"
    }
    fn apply(&self, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.set_batching(self.name(), true)
    }
}
