//! Static batching, the serving baseline made explicit: a batch is formed,
//! runs until its last request finishes, and only then is the next admitted.

use super::{Effect, ExecutionPlan, Family, Scope, Technique};

pub struct StaticBatching;

impl Technique for StaticBatching {
    fn name(&self) -> &'static str {
        "static-batching"
    }
    fn describe(&self) -> &'static str {
        "serving: fixed batches that run to completion (the default policy)"
    }
    fn family(&self) -> Family {
        Family::Batching
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Scheduling]
    }
    fn apply(&self, _param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.set_batching(self.name(), false)
    }
    fn reference_for(&self) -> Option<Scope> {
        Some(Scope::Serving)
    }
    fn sort_rank(&self) -> u16 {
        15
    }
}
