//! Static batching, the serving baseline made explicit: a batch is formed,
//! runs until its last request finishes, and only then is the next admitted.

use super::{ExecutionPlan, Technique};

pub struct StaticBatching;

impl Technique for StaticBatching {
    fn name(&self) -> &'static str {
        "static-batching"
    }
    fn describe(&self) -> &'static str {
        "serving: fixed batches that run to completion (the default policy)"
    }
    fn apply(&self, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.set_batching(self.name(), false)
    }
}
