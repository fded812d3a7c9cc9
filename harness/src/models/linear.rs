//! Linear layers whose weight format is chosen at load time.
//!
//! Every technique that changes how a matmul is computed (precision, ggml
//! quantization, later pruning and low-rank factors) is a variant here, so the
//! decoder code never changes when one is added.

use anyhow::Result;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Module, Tensor};

use super::weights::{quantize_rows, SourceTensor, WeightFormat};

pub enum Linear {
    /// Dense weight `(out, in)` in f32, f16 or bf16; activations stay f32 and
    /// are cast at the matmul boundary.
    Dense(Tensor),
    /// A ggml block-quantized weight run by candle's quantized kernels.
    Quant(QMatMul, usize),
}

/// What loading did, for the record.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LoadStats {
    pub linear_tensors: usize,
    /// Tensors that took the fallback quantization (row length not a block multiple).
    pub fallback_tensors: usize,
    pub weight_bytes: usize,
}

impl Linear {
    pub fn build(src: SourceTensor, fmt: WeightFormat, stats: &mut LoadStats) -> Result<Self> {
        stats.linear_tensors += 1;
        let lin = match (fmt, src) {
            (WeightFormat::Native, SourceTensor::Quant(q)) => Self::from_qtensor(q)?,
            (WeightFormat::Native, SourceTensor::Dense(t)) | (WeightFormat::F32, SourceTensor::Dense(t)) => {
                Linear::Dense(t.to_dtype(DType::F32)?)
            }
            (WeightFormat::F32, src) => Linear::Dense(src.to_f32()?),
            (WeightFormat::F16, src) => Linear::Dense(src.to_f32()?.to_dtype(DType::F16)?),
            (WeightFormat::BF16, src) => Linear::Dense(src.to_f32()?.to_dtype(DType::BF16)?),
            (WeightFormat::Quant(d), SourceTensor::Quant(q)) if q.dtype() == d => Self::from_qtensor(q)?,
            (WeightFormat::Quant(d), src) => {
                let (q, fell_back) = quantize_rows(&src.to_f32()?, d)?;
                stats.fallback_tensors += fell_back as usize;
                Self::from_qtensor(q)?
            }
        };
        stats.weight_bytes += lin.bytes();
        Ok(lin)
    }

    fn from_qtensor(q: QTensor) -> Result<Self> {
        let bytes = q.storage_size_in_bytes();
        Ok(match QMatMul::from_qtensor(q)? {
            // f32/f16 GGUF tensors come back dense.
            QMatMul::Tensor(t) | QMatMul::TensorF16(t) => Linear::Dense(t),
            qm => Linear::Quant(qm, bytes),
        })
    }

    pub fn bytes(&self) -> usize {
        match self {
            Linear::Dense(t) => t.elem_count() * t.dtype().size_in_bytes(),
            Linear::Quant(_, b) => *b,
        }
    }

    /// `x @ W^T` for `x` of shape `(.., in)` in f32.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Linear::Quant(qm, _) => qm.forward(x)?,
            Linear::Dense(w) => {
                let w = match *x.dims() {
                    [b1, b2, _, _] => w.broadcast_left((b1, b2))?.t()?,
                    [b, _, _] => w.broadcast_left(b)?.t()?,
                    _ => w.t()?,
                };
                if w.dtype() == DType::F32 {
                    x.matmul(&w)?
                } else {
                    x.to_dtype(w.dtype())?.matmul(&w)?.to_dtype(DType::F32)?
                }
            }
        })
    }
}
