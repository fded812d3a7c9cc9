//! Weight quantization with candle's ggml kernels, derived from the f32
//! reference. Rows whose length is not a multiple of a k-quant's 256-wide
//! super-block fall back the way llama.cpp does (recorded per cell).

use candle_core::quantized::GgmlDType;

use super::{ExecutionPlan, Technique};
use crate::models::WeightFormat;

pub struct Quantize {
    name: &'static str,
    dtype: GgmlDType,
}

impl Quantize {
    pub fn new(name: &'static str, dtype: GgmlDType) -> Self {
        Self { name, dtype }
    }
}

impl Technique for Quantize {
    fn name(&self) -> &'static str {
        self.name
    }
    fn describe(&self) -> &'static str {
        "ggml block quantization of every linear layer (candle quantized matmul)"
    }
    fn apply(&self, plan: &mut ExecutionPlan) -> Result<(), String> {
        plan.set_weights(self.name, WeightFormat::Quant(self.dtype))
    }
}
