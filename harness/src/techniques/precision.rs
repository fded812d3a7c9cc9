//! Floating-point weight precision, and running a file's own format as is.

use super::{ExecutionPlan, Technique};
use crate::models::WeightFormat;

pub struct Precision {
    name: &'static str,
    describe: &'static str,
    format: WeightFormat,
}

impl Precision {
    pub fn native() -> Self {
        Self { name: "native", describe: "weights exactly as the model file stores them", format: WeightFormat::Native }
    }
    pub fn f32() -> Self {
        Self {
            name: "f32",
            describe: "f32 weights: the reference every other technique is compared with",
            format: WeightFormat::F32,
        }
    }
    pub fn f16() -> Self {
        Self { name: "f16", describe: "f16 weights, f32 activations", format: WeightFormat::F16 }
    }
    pub fn bf16() -> Self {
        Self { name: "bf16", describe: "bf16 weights, f32 activations", format: WeightFormat::BF16 }
    }
}

impl Technique for Precision {
    fn name(&self) -> &'static str {
        self.name
    }
    fn describe(&self) -> &'static str {
        self.describe
    }
    fn apply(&self, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.set_weights(self.name, self.format)
    }
}
