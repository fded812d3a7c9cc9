//! Weight quantization with candle's ggml kernels, derived from the f32
//! reference. Rows whose length is not a multiple of a k-quant's 256-wide
//! super-block fall back the way llama.cpp does (recorded per cell).

use candle_core::quantized::GgmlDType;

use super::{Effect, ExecutionPlan, Family, Technique};
use crate::models::WeightFormat;

pub struct Quantize {
    name: &'static str,
    dtype: GgmlDType,
    rank: u16,
}

impl Quantize {
    /// `rank` places it in tables: more bits first.
    pub const fn new(name: &'static str, dtype: GgmlDType, rank: u16) -> Self {
        Self { name, dtype, rank }
    }
}

impl Technique for Quantize {
    fn name(&self) -> &'static str {
        self.name
    }
    fn describe(&self) -> &'static str {
        "ggml block quantization of every linear layer (candle quantized matmul)"
    }
    fn family(&self) -> Family {
        Family::Quantization
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Weights]
    }
    fn apply(&self, _param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.set_weights(self.name, WeightFormat::Quant(self.dtype))
    }
    fn sort_rank(&self) -> u16 {
        self.rank
    }
}
