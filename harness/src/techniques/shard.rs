//! `shard:POLICY[,microbatch=N]`: on a cluster profile, pipeline parallelism: contiguous layer
//! ranges on the nodes in order, activations passed over the links, each stage's KV cache on
//! its node. Policies: `even` (equal layers), `memory` (in proportion to node memory, as exo
//! does), `speed` (in proportion to measured node speed), `optimal` (least predicted time under
//! the cost model: measured per-layer times, link latency and bandwidth, memory limits; see
//! `distributed/split.rs`). With `microbatch=N` a batch travels as N groups so stages overlap.

use super::{AppliesTo, Aspect, Effect, ExecutionPlan, Family, Placement, SplitPolicy, Technique};

pub struct Shard;

const POLICIES: [(&str, SplitPolicy); 4] = [
    ("even", SplitPolicy::Even),
    ("memory", SplitPolicy::Memory),
    ("speed", SplitPolicy::Speed),
    ("optimal", SplitPolicy::Optimal),
];

impl Technique for Shard {
    fn name(&self) -> &'static str {
        "shard"
    }
    fn describe(&self) -> &'static str {
        "on a cluster: pipeline split of the layers over the nodes (even, memory, speed or optimal)"
    }
    fn family(&self) -> Family {
        Family::Placement
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Placement]
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("POLICY[,microbatch=N]: even, memory, speed or optimal; N micro-batches in flight (1 <= N <= 16)")
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        let usage = || {
            format!(
                "`{}:POLICY[,microbatch=N]` with POLICY one of {} and 1 <= N <= 16, got `{}`",
                self.name(),
                POLICIES.map(|p| p.0).join(", "),
                param.unwrap_or("")
            )
        };
        let mut parts = param.unwrap_or("").split(',');
        let name = parts.next().unwrap_or("");
        let split = POLICIES.iter().find(|p| p.0 == name).map(|p| p.1).ok_or_else(usage)?;
        let mut microbatch = 1;
        for part in parts {
            match part.split_once('=') {
                Some(("microbatch", n)) => {
                    microbatch = n.parse().ok().filter(|n| (1..=16).contains(n)).ok_or_else(usage)?
                }
                _ => return Err(usage()),
            }
        }
        plan.claim(Aspect::Placement, self.name())?;
        plan.placement = Some(Placement::Shard { split, microbatch });
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        42
    }
    fn applies_to(&self) -> AppliesTo {
        AppliesTo::Generation
    }
}
