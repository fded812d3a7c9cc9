//! Where weights come from, and the format the engine runs them in.

use anyhow::Result;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};

use super::llama::LlamaConfig;

/// A weight as its source holds it.
pub enum SourceTensor {
    /// A ggml block-quantized (or f16/f32) tensor, as stored in a GGUF file.
    Quant(QTensor),
    /// A dense f32 tensor (synthetic models).
    Dense(Tensor),
}

impl SourceTensor {
    /// The f32 reference of this weight: dequantized when stored quantized.
    pub fn to_f32(&self) -> Result<Tensor> {
        Ok(match self {
            SourceTensor::Quant(q) => q.dequantize(&Device::Cpu)?,
            SourceTensor::Dense(t) => t.to_dtype(DType::F32)?,
        })
    }

    pub fn dims(&self) -> Vec<usize> {
        match self {
            SourceTensor::Quant(q) => q.shape().dims().to_vec(),
            SourceTensor::Dense(t) => t.dims().to_vec(),
        }
    }
}

/// Anything that hands out named weights and a model configuration.
pub trait WeightSource {
    fn config(&self) -> &LlamaConfig;
    /// Take one tensor by its GGUF-style name (`blk.0.attn_q.weight`).
    fn take(&mut self, name: &str) -> Result<SourceTensor>;
    /// Whether a tensor exists (e.g. `output.weight` is absent when tied).
    fn has(&self, name: &str) -> bool;
}

/// The numeric format the engine stores linear-layer weights in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// Exactly as the source stores them (for a GGUF, its own quantization).
    Native,
    F32,
    F16,
    BF16,
    /// A ggml block quantization, derived from the f32 reference.
    Quant(GgmlDType),
}

impl WeightFormat {
    /// Lower-case name of the format as stored (`f16`, `q4k`, `native`), for the
    /// cell's `weight_format` figure; the variants' own names, so nothing here
    /// duplicates the technique vocabulary.
    pub fn name(self) -> String {
        match self {
            WeightFormat::Quant(d) => format!("{d:?}").to_lowercase(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

/// The format llama.cpp falls back to when a row length is not a multiple of a
/// k-quant's 256-wide super-block (SmolLM2's hidden size is 576, for example).
pub fn fallback_dtype(d: GgmlDType) -> GgmlDType {
    match d {
        GgmlDType::Q2K | GgmlDType::Q3K => GgmlDType::Q4_0,
        GgmlDType::Q4K => GgmlDType::Q5_0,
        GgmlDType::Q5K => GgmlDType::Q5_1,
        GgmlDType::Q6K => GgmlDType::Q8_0,
        other => other,
    }
}

/// Quantize an f32 matrix, falling back when its rows do not fit the block size.
/// Returns the tensor and whether the fallback was taken.
pub fn quantize_rows(t: &Tensor, dtype: GgmlDType) -> Result<(QTensor, bool)> {
    let cols = *t.dims().last().unwrap_or(&0);
    let (dtype, fell_back) = if cols.is_multiple_of(dtype.block_size()) {
        (dtype, false)
    } else {
        let fb = fallback_dtype(dtype);
        if !cols.is_multiple_of(fb.block_size()) {
            return Err(NotApplicable(format!(
                "cannot quantize a row of {cols} values to {dtype:?} or {fb:?} (block size {})",
                fb.block_size()
            ))
            .into());
        }
        (fb, true)
    };
    Ok((QTensor::quantize(t, dtype)?, fell_back))
}

/// A technique that cannot apply to this model or workload; the cell is stored
/// as `not_applicable` with this reason rather than as failed.
#[derive(Debug, Clone)]
pub struct NotApplicable(pub String);

impl std::fmt::Display for NotApplicable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotApplicable {}

#[cfg(test)]
mod tests {
    #[test]
    fn format_names_are_lower_case_variant_names() {
        use super::WeightFormat;
        use candle_core::quantized::GgmlDType;
        let names: Vec<String> =
            [WeightFormat::Native, WeightFormat::F32, WeightFormat::BF16, WeightFormat::Quant(GgmlDType::Q4K)]
                .map(|w| w.name())
                .to_vec();
        assert_eq!(names, ["native", "f32", "bf16", "q4k"]);
    }
}
