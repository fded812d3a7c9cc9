//! Layer skipping (`layer-skip:K`): the decoder runs without K of its layers.
//!
//! Criterion: the K layers just before the last one are dropped (the first and
//! the last layer are always kept). In trained decoders the deeper layers change
//! the hidden state least, so they are the ones studies of layer pruning remove
//! first (Gromov et al., "The Unreasonable Ineffectiveness of the Deeper Layers",
//! 2024). The matmuls of those layers are really gone: the speed-up shows in the
//! measurements, and the accuracy cost in perplexity and agreement with the reference.

use super::{Aspect, Effect, ExecutionPlan, Family, Technique};

pub struct LayerSkip;

impl Technique for LayerSkip {
    fn name(&self) -> &'static str {
        "layer-skip"
    }
    fn describe(&self) -> &'static str {
        "drop K decoder layers (those just before the last; first and last kept)"
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
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        19
    }
}

/// Indices of the layers to drop from a decoder of `layers` layers, or why it cannot.
pub fn layers_to_skip(layers: usize, k: usize) -> Result<Vec<usize>, String> {
    if k == 0 {
        return Ok(vec![]);
    }
    if layers < k + 2 {
        return Err(format!("cannot drop {k} of {layers} layers: the first and the last are always kept"));
    }
    Ok((layers - 1 - k..layers - 1).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_layers_before_the_last() {
        assert_eq!(layers_to_skip(6, 2).unwrap(), vec![3, 4]);
        assert_eq!(layers_to_skip(6, 0).unwrap(), Vec::<usize>::new());
        assert!(layers_to_skip(3, 2).is_err());
        assert_eq!(layers_to_skip(3, 1).unwrap(), vec![1]);
    }
}
