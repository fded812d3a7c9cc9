//! One-line rules a practitioner would write without any data (issue 24): nothing is
//! fitted, each reads only the task's descriptors and the arm's recipe.
//!
//! - `rule-q4_0`: "q4_0 at the node's cores" — the fastest-decoding common format, whatever
//!   it costs in quality;
//! - `rule-q8_0`: "q8_0 at the node's cores" — the format people keep when quality matters;
//! - `rule-native`: "the engine's default" — the model file as shipped, at the node's cores,
//!   as llama.cpp (and ours) run a GGUF unless told otherwise.
//!
//! Shared by the three: the named format first, then the formats nearest to it in spirit
//! (listed below); a recipe that changes nothing but the weights before one that also prunes,
//! skips or approximates; the model kept whole on one node (no placement, or `local`) before
//! offloading or splitting it; weights that take more than half the node's memory after every
//! arm that fits (the memory rule of [`crate::meta::learn::physics`], the one `heuristic` and
//! `random-sensible` use); more threads up to the node's cores. Serving workloads: the
//! engines' default scheduler, continuous batching alone, first. They say nothing about the
//! engine: arms equal but for the engine score the same, and the evaluation takes the
//! expectation over the tie. Written after `selectors-frozen-3`, before any task of the
//! `choice` grid was measured.

use anyhow::Result;
use candle_core::quantized::GgmlDType;

use crate::meta::cv::{Query, Training};
use crate::meta::features::{arm_bits, weights_share_of_memory, Arm};
use crate::meta::learn::physics::DEFAULT_MEMORY_SHARE;
use crate::meta::selectors::{Family, Fitted, Selector, FROZEN_4};
use crate::models::WeightFormat;
use crate::techniques::{ExecutionPlan, Placement};

/// Which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Q4_0,
    Q8_0,
    Native,
}

pub struct Practitioner(pub Rule);

impl Rule {
    /// Weight formats in the order the rule prefers them.
    fn formats(self) -> Vec<WeightFormat> {
        use GgmlDType::*;
        use WeightFormat::{Native, Quant, BF16, F16, F32};
        match self {
            Rule::Q4_0 => vec![
                Quant(Q4_0),
                Quant(Q4_1),
                Quant(Q4K),
                Native,
                Quant(Q5_0),
                Quant(Q5K),
                Quant(Q6K),
                Quant(Q8_0),
                F16,
                BF16,
                F32,
            ],
            Rule::Q8_0 => vec![
                Quant(Q8_0),
                Quant(Q6K),
                F16,
                BF16,
                F32,
                Quant(Q5K),
                Quant(Q5_0),
                Native,
                Quant(Q4K),
                Quant(Q4_1),
                Quant(Q4_0),
            ],
            Rule::Native => vec![
                Native,
                Quant(Q4K),
                Quant(Q8_0),
                Quant(Q6K),
                Quant(Q5K),
                F16,
                BF16,
                F32,
                Quant(Q4_0),
                Quant(Q4_1),
                Quant(Q5_0),
            ],
        }
    }
}

impl Selector for Practitioner {
    fn name(&self) -> &'static str {
        match self.0 {
            Rule::Q4_0 => "rule-q4_0",
            Rule::Q8_0 => "rule-q8_0",
            Rule::Native => "rule-native",
        }
    }
    fn describe(&self) -> &'static str {
        match self.0 {
            Rule::Q4_0 => "no-fit rule: q4_0 weights at the node's cores (nearest 4-bit format when absent), kept whole, fitting memory",
            Rule::Q8_0 => "no-fit rule: q8_0 weights at the node's cores (then q6k, f16, f32), kept whole, fitting memory",
            Rule::Native => "no-fit rule, the engine's default: the model file as shipped at the node's cores, kept whole, fitting memory",
        }
    }
    fn frozen(&self) -> &'static str {
        FROZEN_4
    }
    fn family(&self) -> Family {
        Family::NoFit
    }
    fn source(&self) -> &'static str {
        file!()
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(Fixed { rule: self.0, arms: train.arms.clone() }))
    }
}

struct Fixed {
    rule: Rule,
    arms: Vec<Arm>,
}

/// Whether `plan` changes nothing but its weights (and where the model is placed).
fn weights_only(plan: &ExecutionPlan) -> bool {
    let mut plain = ExecutionPlan::default();
    plain.weights = plan.weights;
    plain.placement = plan.placement;
    plain.same_recipe(plan)
}

impl Fitted for Fixed {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let formats = self.rule.formats();
        let serving = q.raw.serving > 0.5;
        let cores = q.raw.cores;
        Ok(q.candidates
            .iter()
            .map(|&a| {
                let arm = &self.arms[a];
                let plan = arm.technique.plan();
                // Lower is preferred; the parts are ordered by weight.
                let mut rank = 0.0;
                if serving {
                    let s = &plan.serving;
                    let default_scheduler = s.continuous && !s.chunked_prefill && !s.prefix_cache;
                    rank += if default_scheduler { 0.0 } else { 1.0 };
                } else {
                    rank += formats.iter().position(|f| *f == plan.weights).unwrap_or(formats.len()) as f64;
                    rank += if weights_only(&plan) { 0.0 } else { 0.5 };
                }
                let whole = matches!(plan.placement, None | Some(Placement::Local));
                rank += if whole { 0.0 } else { 0.25 };
                let share = weights_share_of_memory(arm_bits(arm, &q.raw), &q.raw);
                if share.is_finite() && share > DEFAULT_MEMORY_SHARE {
                    rank += 100.0;
                }
                let threads =
                    if !cores.is_finite() || (arm.threads as f64) <= cores.max(1.0) { arm.threads as f64 } else { 0.0 };
                -rank * 1000.0 + threads
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::features::TaskFeatures;
    use crate::techniques::TechniqueName;

    fn arm(t: &str, threads: usize, engine: &str) -> Arm {
        Arm { technique: TechniqueName::from_stored(t), threads, engine: engine.into() }
    }

    fn query(cores: f64, memory_gb: f64, n: usize) -> Query {
        let mut raw = TaskFeatures::filled(f64::NAN);
        raw.cores = cores;
        raw.memory_gb = memory_gb;
        raw.serving = 0.0;
        raw.log2_params = (135e6f64).log2();
        raw.native_bits_per_weight = 4.5;
        Query { raw, x: vec![], emb: None, raw_extra: vec![], candidates: (0..n).collect(), truth: None }
    }

    fn pick(rule: Rule, arms: &[Arm], q: &Query) -> Vec<usize> {
        let f = Fixed { rule, arms: arms.to_vec() };
        let s = f.scores(q).unwrap();
        let best = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (0..s.len()).filter(|&i| s[i] == best).collect()
    }

    #[test]
    fn each_rule_names_its_format_at_the_node_cores_and_ties_engines() {
        let arms = vec![
            arm("q4_0", 1, "candle"),
            arm("q4_0", 2, "candle"),
            arm("q4_0", 2, "llamacpp"),
            arm("q8_0", 2, "candle"),
            arm("q8_0", 2, "llamacpp"),
            arm("native", 2, "llamacpp"),
            arm("f32", 2, "candle"),
            arm("q8_0+prune:0.1", 2, "candle"),
        ];
        let q = query(2.0, 16.0, arms.len());
        assert_eq!(pick(Rule::Q4_0, &arms, &q), vec![1, 2]);
        assert_eq!(pick(Rule::Q8_0, &arms, &q), vec![3, 4]);
        assert_eq!(pick(Rule::Native, &arms, &q), vec![5]);
        // One core: the 1-thread arm.
        let q1 = query(1.0, 16.0, arms.len());
        assert_eq!(pick(Rule::Q4_0, &arms, &q1), vec![0]);
    }

    #[test]
    fn weights_too_large_for_the_node_go_last() {
        let arms = vec![arm("f32", 1, "candle"), arm("q8_0", 1, "candle")];
        // 135M params: f32 is 540 MB, q8_0 about 143 MB; a 0.5 GB node holds only the second under half.
        let mut q = query(1.0, 0.5, 2);
        q.raw.log2_params = (135e6f64).log2();
        assert_eq!(pick(Rule::Q8_0, &[arms[0].clone()], &query(1.0, 16.0, 1)), vec![0]);
        let f = Fixed { rule: Rule::Native, arms: arms.clone() };
        let s = f.scores(&q).unwrap();
        assert!(s[1] > s[0], "{s:?}");
    }
}
