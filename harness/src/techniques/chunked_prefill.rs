//! Chunked prefill: a step carries at most `serving.chunk_tokens` tokens;
//! decodes go first and long prompts are split to fill the rest, so a long
//! prompt no longer stalls every running decode.

use super::{ExecutionPlan, Technique};

pub struct ChunkedPrefill;

impl Technique for ChunkedPrefill {
    fn name(&self) -> &'static str {
        "chunked-prefill"
    }
    fn describe(&self) -> &'static str {
        "serving: split prompts into chunks interleaved with decode steps"
    }
    fn apply(&self, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.serving.chunked_prefill = true;
        Ok(())
    }
}
