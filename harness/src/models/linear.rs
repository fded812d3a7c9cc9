//! Linear layers whose weight format is chosen at load time.
//!
//! Every technique that changes how a matmul is computed (precision, ggml
//! quantization, later pruning and low-rank factors) is a variant here, so the
//! decoder code never changes when one is added.

use anyhow::Result;
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Shape, Tensor};

use super::kernels::PackedWeight;
use super::weights::{quantize_rows, SourceTensor, WeightFormat};

pub enum Linear {
    /// Dense weight `(out, in)` in f32, f16 or bf16; activations stay f32 and
    /// are cast at the matmul boundary.
    Dense(Tensor),
    /// A ggml block-quantized weight run by candle's quantized kernels.
    Quant(QMatMul, usize),
    /// A Q4_0/Q4_1/Q8_0 weight repacked for our kernels ([`super::kernels`]).
    Packed(PackedWeight),
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
        if let Some(p) = PackedWeight::from_qtensor(&q)? {
            return Ok(Linear::Packed(p));
        }
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
            Linear::Packed(p) => p.bytes(),
        }
    }

    /// Output features.
    pub fn out_features(&self) -> Result<usize> {
        Ok(match self {
            Linear::Dense(w) => w.dims2()?.0,
            Linear::Quant(qm, _) => match qm {
                QMatMul::QTensor(q) => q.shape().dims2()?.0,
                QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.dims2()?.0,
            },
            Linear::Packed(p) => p.rows(),
        })
    }

    /// `out (m, out_features) = x (m, in_features) · Wᵀ` on flat buffers: our kernels
    /// directly for packed weights, candle's matmul for the rest.
    pub fn matmul_into(&self, x: &[f32], m: usize, out: &mut [f32]) -> Result<()> {
        if let Linear::Packed(p) = self {
            p.matmul(x, m, out);
            return Ok(());
        }
        let k = x.len() / m;
        let y = self.forward(&Tensor::from_slice(x, (m, k), &Device::Cpu)?)?;
        let y = y.flatten_all()?.to_vec1::<f32>()?;
        out.copy_from_slice(&y);
        Ok(())
    }

    /// `x @ W^T` for `x` of shape `(.., in)` in f32.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Linear::Quant(qm, _) => qm.forward(x)?,
            Linear::Packed(p) => x.contiguous()?.apply_op1_no_bwd(&PackedOp(p))?,
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

/// A packed matmul as a candle op, so tensor code (perplexity, serving) runs our kernels too.
struct PackedOp<'a>(&'a PackedWeight);

impl CustomOp1 for PackedOp<'_> {
    fn name(&self) -> &'static str {
        "packed-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else { candle_core::bail!("packed matmul takes f32 activations") };
        let dims = layout.shape().dims();
        let k = *dims.last().unwrap_or(&0);
        if k != self.0.cols() {
            candle_core::bail!("packed matmul: {k} inputs for a {}-column weight", self.0.cols())
        }
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("packed matmul needs contiguous activations")
        };
        let m = (end - start) / k;
        let mut out = vec![0f32; m * self.0.rows()];
        self.0.matmul(&data[start..end], m, &mut out);
        let mut shape = dims.to_vec();
        *shape.last_mut().expect("at least one dim") = self.0.rows();
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}
