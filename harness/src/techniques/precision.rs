//! Floating-point weight precision, and running a file's own format as is.

use super::{Effect, ExecutionPlan, Family, Scope, Technique};
use crate::models::WeightFormat;

pub struct Precision {
    name: &'static str,
    describe: &'static str,
    format: WeightFormat,
    rank: u16,
}

impl Precision {
    pub const fn native() -> Self {
        Self {
            name: "native",
            describe: "weights exactly as the model file stores them",
            format: WeightFormat::Native,
            rank: 3,
        }
    }
    pub const fn f32() -> Self {
        Self {
            name: "f32",
            describe: "f32 weights: the reference every other technique is compared with",
            format: WeightFormat::F32,
            rank: 0,
        }
    }
    pub const fn f16() -> Self {
        Self { name: "f16", describe: "f16 weights, f32 activations", format: WeightFormat::F16, rank: 1 }
    }
    pub const fn bf16() -> Self {
        Self { name: "bf16", describe: "bf16 weights, f32 activations", format: WeightFormat::BF16, rank: 2 }
    }
}

impl Technique for Precision {
    fn name(&self) -> &'static str {
        self.name
    }
    fn describe(&self) -> &'static str {
        self.describe
    }
    fn family(&self) -> Family {
        Family::Precision
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Weights]
    }
    fn apply(&self, _param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.set_weights(self.name, self.format)
    }
    /// f32 weights are the reference itself (a GGUF's dequantized file).
    fn alters_outputs(&self) -> bool {
        self.format != WeightFormat::F32
    }
    fn reference_for(&self) -> Option<Scope> {
        (self.format == WeightFormat::F32).then_some(Scope::Generation)
    }
    fn sort_rank(&self) -> u16 {
        self.rank
    }
}
