//! `offload:fastest`: on a cluster profile, the whole model on the fastest node it fits on
//! (speed measured on each node at the cell's shapes), paying the link from home to it and
//! back for every step.

use super::{AppliesTo, Aspect, Effect, ExecutionPlan, Family, Placement, Technique};

pub struct Offload;

impl Technique for Offload {
    fn name(&self) -> &'static str {
        "offload"
    }
    fn describe(&self) -> &'static str {
        "on a cluster: the whole model on the fastest node that fits it, across the link"
    }
    fn family(&self) -> Family {
        Family::Placement
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Placement]
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("fastest: the node chosen (the fastest one the model fits on)")
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        if param != Some("fastest") {
            return Err(format!("`{}:fastest` is the one offload policy, got `{}`", self.name(), param.unwrap_or("")));
        }
        plan.claim(Aspect::Placement, self.name())?;
        plan.placement = Some(Placement::Offload);
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        41
    }
    fn applies_to(&self) -> AppliesTo {
        AppliesTo::Generation
    }
}
