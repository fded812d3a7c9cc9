//! No KV cache: every decode step recomputes attention over the whole sequence.

use super::{ExecutionPlan, Technique};
use crate::models::generate::KvMode;

pub struct KvOff;

impl Technique for KvOff {
    fn name(&self) -> &'static str {
        "kv-off"
    }
    fn describe(&self) -> &'static str {
        "disable the KV cache and recompute the whole sequence each step"
    }
    fn apply(&self, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.kv = KvMode::Off;
        Ok(())
    }
}
