//! Low-rank factorisation (`lowrank:E` or `lowrank:R`): every decoder linear layer `W (out, in)`
//! is replaced by the two factors of its truncated SVD, `A = U_r·S_r (out, r)` and `B = V_rᵀ (r, in)`,
//! so a matmul becomes two thin ones. A parameter below 1 is an energy fraction (the smallest
//! rank whose singular values keep that share of `Σ s²`, per layer); 1 or more is a fixed rank.
//! A layer whose factors would hold as many weights as it stays whole. The factors take the
//! cell's weight format (`q8_0+lowrank:0.9`); with a quantized format the rank is rounded up to
//! a block multiple. The parameter count as built is recorded (`extra.parameters`).
//! Thinning a matrix twice makes no sense: with `prune:S` it is refused at plan time.

use super::{Aspect, Effect, ExecutionPlan, Family, LowRank, Technique};

pub struct LowRankTechnique;

impl Technique for LowRankTechnique {
    fn name(&self) -> &'static str {
        "lowrank"
    }
    fn describe(&self) -> &'static str {
        "replace every decoder linear layer by the two factors of its truncated SVD"
    }
    fn family(&self) -> Family {
        Family::Structure
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Weights, Effect::Structure]
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("E < 1: energy fraction kept per layer; R >= 1: a fixed rank")
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        let bad = || format!("`{}:E` needs an energy fraction 0 < E < 1 or a whole rank R >= 1", self.name());
        let p = param.ok_or_else(bad)?;
        let r = if let Ok(r) = p.parse::<usize>() {
            LowRank::Rank(r.max(1))
        } else {
            let e: f32 = p.parse().map_err(|_| bad())?;
            if !(e > 0.0 && e < 1.0) {
                return Err(bad());
            }
            LowRank::Energy(e)
        };
        if p == "0" {
            return Err(bad());
        }
        plan.claim(Aspect::Sparsity, self.name())?;
        plan.low_rank = Some(r);
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        23
    }
}

#[cfg(test)]
mod tests {
    use crate::techniques::{LowRank, TechniqueName};

    #[test]
    fn energy_or_rank_and_no_second_thinning() {
        assert_eq!(TechniqueName::parse("lowrank:0.9").unwrap().plan().low_rank, Some(LowRank::Energy(0.9)));
        assert_eq!(TechniqueName::parse("q8_0+lowrank:64").unwrap().plan().low_rank, Some(LowRank::Rank(64)));
        for bad in ["lowrank", "lowrank:0", "lowrank:1.5", "lowrank:-2", "lowrank:x"] {
            assert!(TechniqueName::parse(bad).is_err(), "{bad}");
        }
        let err = TechniqueName::parse("prune:0.3+lowrank:0.9").unwrap_err().to_string();
        assert!(err.contains("prune") && err.contains("lowrank"), "{err}");
    }
}
