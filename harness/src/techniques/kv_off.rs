//! No KV cache: every decode step recomputes attention over the whole sequence.

use super::{AppliesTo, Aspect, Effect, ExecutionPlan, Family, Technique};
use crate::models::generate::KvMode;

pub struct KvOff;

impl Technique for KvOff {
    fn name(&self) -> &'static str {
        "kv-off"
    }
    fn describe(&self) -> &'static str {
        "disable the KV cache and recompute the whole sequence each step"
    }
    fn family(&self) -> Family {
        Family::KvCache
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Decoding]
    }
    fn apply(&self, _param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.claim(Aspect::KvCache, self.name())?;
        if plan.speculative.is_some() {
            return Err(format!(
                "speculative decoding verifies drafts against a KV cache; it cannot run with `{}`",
                self.name()
            ));
        }
        plan.kv = KvMode::Off;
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        14
    }
    fn applies_to(&self) -> AppliesTo {
        AppliesTo::Generation
    }
}
