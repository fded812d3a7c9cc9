//! Prefix caching: KV blocks of shared prompt prefixes are computed once and
//! reused by later requests (paged block cache with reference counts).

use super::{AppliesTo, Effect, ExecutionPlan, Family, Technique};

pub struct PrefixCache;

impl Technique for PrefixCache {
    fn name(&self) -> &'static str {
        "prefix-cache"
    }
    fn describe(&self) -> &'static str {
        "serving: reuse cached KV blocks of shared prompt prefixes"
    }
    fn apply(&self, _param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.serving.prefix_cache = true;
        Ok(())
    }
    fn family(&self) -> Family {
        Family::Serving
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Scheduling]
    }
    fn sort_rank(&self) -> u16 {
        18
    }
    fn applies_to(&self) -> AppliesTo {
        AppliesTo::Serving
    }
}
