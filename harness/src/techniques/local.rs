//! `local`: on a cluster profile, the whole model on the node requests arrive at (home): no
//! split, no link crossed. The baseline the other placements are weighed against.

use super::{AppliesTo, Aspect, Effect, ExecutionPlan, Family, Placement, Technique};

pub struct Local;

impl Technique for Local {
    fn name(&self) -> &'static str {
        "local"
    }
    fn describe(&self) -> &'static str {
        "on a cluster: the whole model on the node requests arrive at (no split)"
    }
    fn family(&self) -> Family {
        Family::Placement
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Placement]
    }
    fn apply(&self, _param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.claim(Aspect::Placement, self.name())?;
        plan.placement = Some(Placement::Local);
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        40
    }
    fn applies_to(&self) -> AppliesTo {
        AppliesTo::Generation
    }
}
