//! Structured pruning (`prune-heads:F`): from every decoder layer the fraction F of attention
//! heads and of FFN channels with the lowest importance is removed, so the matrices really
//! shrink (q rows and output-projection columns of a head; gate/up rows and down columns of a
//! channel) and the speed-up shows in the measurements. Per-layer shapes then differ, and the
//! parameter count is recomputed (`extra.parameters`).
//!
//! Importance (activation-weighted, measured on calibration text from the corpus's training
//! part, never the held-out text): a head scores the mean L2 norm of its attention output over
//! the calibration tokens times the Frobenius norm of its output-projection columns; a channel
//! the mean |silu(gate)·up| times the L2 norm of its down-projection column. The kept channel
//! count is a multiple of 32 (so quantized rows stay whole blocks); every layer keeps a head.

use super::{Aspect, Effect, ExecutionPlan, Family, Technique};

pub struct PruneHeads;

impl Technique for PruneHeads {
    fn name(&self) -> &'static str {
        "prune-heads"
    }
    fn describe(&self) -> &'static str {
        "remove the fraction F of least important attention heads and FFN channels of every layer"
    }
    fn family(&self) -> Family {
        Family::Structure
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Structure]
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("F: fraction of heads and of FFN channels removed per layer, 0 < F < 1")
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        let f = super::open_fraction(self.name(), "F", param)?;
        plan.claim(Aspect::Heads, self.name())?;
        plan.structured = Some(f);
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        21
    }
}

#[cfg(test)]
mod tests {
    use crate::techniques::TechniqueName;

    #[test]
    fn the_fraction_is_checked() {
        assert_eq!(TechniqueName::parse("q8_0+prune-heads:0.25").unwrap().plan().structured, Some(0.25));
        for bad in ["prune-heads", "prune-heads:0", "prune-heads:1", "prune-heads:0.2+prune-heads:0.3"] {
            assert!(TechniqueName::parse(bad).is_err(), "{bad}");
        }
    }
}
