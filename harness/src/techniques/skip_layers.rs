//! Calibrated layer skipping (`skip-layers:K`): the decoder runs without the K layers that change
//! the hidden state least on calibration text (256 tokens of the corpus's training part, never
//! the held-out text). A layer's change is the mean over tokens of `1 − cos(x_in, x_out)`, its
//! output against its input (Gromov et al. 2024 and ShortGPT's "block influence" use this
//! measure). Unlike `layer-skip:K`, which drops the K layers before the last by position, any
//! layer may go. The weights of dropped layers are never built; fewer than two layers left →
//! `not_applicable`.

use super::{Aspect, Effect, ExecutionPlan, Family, Technique};

pub struct SkipLayers;

impl Technique for SkipLayers {
    fn name(&self) -> &'static str {
        "skip-layers"
    }
    fn describe(&self) -> &'static str {
        "drop the K decoder layers that change the hidden state least on calibration text"
    }
    fn family(&self) -> Family {
        Family::Structure
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Structure]
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("K: number of layers to drop, at least 1")
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        let k = super::layer_count(self.name(), param)?;
        plan.claim(Aspect::Layers, self.name())?;
        plan.skip_layers = k;
        plan.skip_by_change = true;
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        20
    }
}

#[cfg(test)]
mod tests {
    use crate::techniques::TechniqueName;

    #[test]
    fn calibrated_skipping_is_its_own_choice_of_layers() {
        let p = TechniqueName::parse("q8_0+skip-layers:4").unwrap().plan();
        assert_eq!((p.skip_layers, p.skip_by_change, p.needs_calibration()), (4, true, true));
        assert!(TechniqueName::parse("skip-layers:2+layer-skip:2").is_err(), "both choose the layers");
        assert!(TechniqueName::parse("skip-layers:0").is_err());
    }
}
