//! The rules a practitioner would apply without any data, written down. They learn
//! nothing and read only the task's descriptors.
//!
//! 1. Serving workloads (requests arriving over time):
//!    - a shared prompt prefix worth caching (≥ 25% of the mean prompt) → prefix
//!      caching, combined with continuous batching and chunked prefill if offered;
//!    - several requests in flight (≥ 2 clients, or open-loop bursts) → continuous
//!      batching, with chunked prefill when prompts are long (≥ 128 tokens);
//!    - one client at a time → static batching (nothing to batch, simplest scheduler).
//! 2. Plain generation:
//!    - decode-bound (≥ 25% of tokens generated) at batch ≤ 2 → memory-bound: stream
//!      fewer weight bytes with 4-bit quantization (q4k, q4_0, q4_1, then the file's own
//!      4/5-bit format, then q5k, q6k, q8_0);
//!    - otherwise (prefill-bound or batched) → compute-bound: 8-bit weights (q8_0),
//!      then 16-bit floats, then f32;
//!    - never recompute the KV cache (`kv-off` last).
//! 3. Threads: as many as the machine has cores (ties go to more threads).
//! 4. Memory first: an arm whose weights would take more than half the node's memory
//!    (the runtime, KV cache and loader need the rest) goes after every arm that fits.
//!
//! Arms the rules do not mention rank after the ones they do.

use anyhow::Result;
use candle_core::quantized::GgmlDType;

use crate::meta::cv::Query;
use crate::meta::features::{arm_bits, weights_share_of_memory, Arm, TaskFeatures};
use crate::meta::selectors::Fitted;
use crate::models::generate::KvMode;
use crate::models::WeightFormat;
use crate::techniques::{ExecutionPlan, ServingFlags};

/// The rules for a fold's arms: scores are the rank of each arm's recipe in
/// [`preference`] (memory first), threads breaking ties.
pub struct Rules {
    arms: Vec<Arm>,
}

impl Rules {
    pub fn new(arms: &[Arm]) -> Rules {
        Rules { arms: arms.to_vec() }
    }
}

/// A recipe the rules name: a weight format alone, or a serving policy alone.
fn weights(w: WeightFormat) -> ExecutionPlan {
    let mut p = ExecutionPlan::default();
    p.weights = w;
    p
}

fn policy(continuous: bool, chunked_prefill: bool, prefix_cache: bool) -> ExecutionPlan {
    let static_batching = !(continuous || chunked_prefill || prefix_cache);
    let mut p = ExecutionPlan::default();
    p.serving = ServingFlags { continuous, chunked_prefill, prefix_cache, static_batching };
    p
}

/// Recipes in the order the rules prefer them for a task with raw features `f`. The
/// rules speak of what a technique does (weight format, bits, scheduling), never of
/// its name; an arm matches a rule when its recipe is exactly that.
pub fn preference(f: &TaskFeatures) -> Vec<ExecutionPlan> {
    use GgmlDType::*;
    use WeightFormat::{Native, Quant, BF16, F16, F32};
    let serving = f.serving > 0.5;
    if serving {
        let shared = f.shared_prefix_share >= 0.25;
        let many = f.log2_batch >= 1.0 || f.open_loop > 0.5;
        let long = f.log2_prompt_tokens >= 7.0;
        let (all, prefix, cont, chunk, stat) = (
            policy(true, true, true),
            policy(false, false, true),
            policy(true, false, false),
            policy(false, true, false),
            policy(false, false, false),
        );
        return if shared {
            vec![all, prefix, cont, chunk, stat]
        } else if many && long {
            vec![all, chunk, cont, prefix, stat]
        } else if many {
            vec![cont, all, chunk, prefix, stat]
        } else {
            vec![stat, cont, chunk, prefix, all]
        };
    }
    let decode_bound = f.decode_share >= 0.25 && f.log2_batch <= 1.0;
    let native_low_bit = f.native_bits_per_weight <= 6.0;
    let mut order: Vec<WeightFormat> =
        if decode_bound { vec![Quant(Q4K), Quant(Q4_0), Quant(Q4_1)] } else { vec![Quant(Q8_0), F16, BF16, F32] };
    if decode_bound {
        if native_low_bit {
            order.push(Native);
        }
        order.extend([Quant(Q5K), Quant(Q5_0), Quant(Q5_1), Quant(Q6K), Quant(Q8_0), F16, F32, BF16]);
    } else {
        order.extend([Quant(Q6K), Quant(Q5K), Quant(Q4K), Quant(Q4_0), Native]);
    }
    let mut plans: Vec<ExecutionPlan> = order.into_iter().map(weights).collect();
    // Never recompute the KV cache: recomputing f32 goes last.
    let mut recompute = ExecutionPlan::default();
    recompute.kv = KvMode::Off;
    plans.push(recompute);
    plans
}

impl Fitted for Rules {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let order = preference(&q.raw);
        let cores = q.raw.cores;
        Ok(q.candidates
            .iter()
            .map(|&a| {
                let arm = &self.arms[a];
                let plan = arm.technique.plan();
                let mut rank = order.iter().position(|p| p.same_recipe(&plan)).unwrap_or(order.len());
                if weights_share_of_memory(arm_bits(arm, &q.raw), &q.raw) > 0.5 {
                    rank += 100;
                }
                // More threads preferred, up to the core count.
                let threads = if (arm.threads as f64) <= cores.max(1.0) { arm.threads as f64 } else { 0.0 };
                -(rank as f64) * 1000.0 + threads
            })
            .collect())
    }
}
