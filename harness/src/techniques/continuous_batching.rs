//! Continuous batching: requests join and leave the running batch at every step.

use super::{AppliesTo, Effect, ExecutionPlan, Family, Technique};

pub struct ContinuousBatching;

impl Technique for ContinuousBatching {
    fn name(&self) -> &'static str {
        "continuous-batching"
    }
    fn describe(&self) -> &'static str {
        "serving: admit and retire requests at every decode step"
    }
    fn apply(&self, _param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.set_batching(self.name(), true)
    }
    fn family(&self) -> Family {
        Family::Batching
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Scheduling]
    }
    fn sort_rank(&self) -> u16 {
        16
    }
    fn applies_to(&self) -> AppliesTo {
        AppliesTo::Serving
    }
}
