//! Unstructured magnitude pruning (`prune:S`): in every linear layer of the decoder
//! the fraction S of weights with the smallest magnitude is set to zero (per tensor;
//! the embedding table and the output head stay dense). The weights keep their format
//! (the file's own, or the one the cell names: zeros survive q8_0/q4_0 exactly, a
//! block minimum shifts them in Q4_1), the achieved sparsity is counted and stored
//! (`extra.sparsity`). Dense kernels skip no zero, so this saves no time: the data
//! should show exactly that, and what the zeros cost in perplexity and agreement.

use super::{Aspect, Effect, ExecutionPlan, Family, Technique};

pub struct Prune;

impl Technique for Prune {
    fn name(&self) -> &'static str {
        "prune"
    }
    fn describe(&self) -> &'static str {
        "zero the fraction S of smallest-magnitude weights of every decoder linear layer"
    }
    fn family(&self) -> Family {
        Family::Structure
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Weights]
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("S: fraction of each layer's weights set to zero, 0 < S < 1")
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        let s = super::open_fraction(self.name(), "S", param)?;
        plan.claim(Aspect::Sparsity, self.name())?;
        plan.sparsity = Some(s);
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        22
    }
}

#[cfg(test)]
mod tests {
    use crate::techniques::TechniqueName;

    #[test]
    fn the_fraction_is_checked_and_combines_with_a_format() {
        let t = TechniqueName::parse("q8_0+prune:0.5").unwrap();
        assert_eq!(t.plan().sparsity, Some(0.5));
        assert!(!t.exact());
        for bad in ["prune", "prune:0", "prune:1", "prune:1.5", "prune:x", "prune:0.2+prune:0.3"] {
            assert!(TechniqueName::parse(bad).is_err(), "{bad}");
        }
    }
}
