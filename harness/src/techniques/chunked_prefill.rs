//! Chunked prefill: a step carries at most `serving.chunk_tokens` tokens;
//! decodes go first and long prompts are split to fill the rest, so a long
//! prompt no longer stalls every running decode.

use super::{AppliesTo, Effect, ExecutionPlan, Family, Technique};

pub struct ChunkedPrefill;

impl Technique for ChunkedPrefill {
    fn name(&self) -> &'static str {
        "chunked-prefill"
    }
    fn describe(&self) -> &'static str {
        "serving: split prompts into chunks interleaved with decode steps"
    }
    fn apply(&self, _param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.serving.chunked_prefill = true;
        Ok(())
    }
    fn family(&self) -> Family {
        Family::Serving
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Scheduling]
    }
    fn sort_rank(&self) -> u16 {
        17
    }
    fn applies_to(&self) -> AppliesTo {
        AppliesTo::Serving
    }
}
