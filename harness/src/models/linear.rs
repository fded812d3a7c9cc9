//! Linear layers whose weight format is chosen at load time.
//!
//! Every technique that changes how a matmul is computed (precision, ggml
//! quantization, later pruning and low-rank factors) is a variant here, so the
//! decoder code never changes when one is added.

use anyhow::Result;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Shape, Tensor};

use super::kernels::PackedWeight;
use super::weights::{quantize_rows, SourceTensor, WeightFormat};

pub enum Linear {
    /// Dense weight `(out, in)` in f32, f16 or bf16; activations stay f32 and
    /// are cast at the matmul boundary.
    Dense(Tensor),
    /// A ggml block-quantized weight run by candle's quantized kernels.
    Quant(QMatMul, usize),
    /// A Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 weight repacked for our kernels ([`super::kernels`]).
    Packed(PackedWeight),
    /// `W ≈ A·B` from a truncated SVD: `x·Bᵀ` (down to the rank) then `·Aᵀ`, each a linear
    /// layer of its own (so each factor takes the cell's weight format).
    LowRank { a: Box<Linear>, b: Box<Linear>, rank: usize },
}

/// What loading did, for the record.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct LoadStats {
    pub linear_tensors: usize,
    /// Tensors that took the fallback quantization (row length not a block multiple).
    pub fallback_tensors: usize,
    pub weight_bytes: usize,
    /// Weights set to zero by pruning, of the weights of the pruned tensors.
    pub pruned_weights: usize,
    pub prunable_weights: usize,
    /// Weights of the layers low rank applied to, and what their factors hold instead.
    pub factored_weights: usize,
    pub low_rank_params: usize,
}

impl LoadStats {
    /// Zeroed weights over the weights of the tensors pruning applied to.
    pub fn sparsity(&self) -> Option<f64> {
        (self.prunable_weights > 0).then(|| self.pruned_weights as f64 / self.prunable_weights as f64)
    }
}

/// Zero the `floor(s·n)` smallest-magnitude weights of `src`. With `keep_format` a
/// quantized tensor is quantized again to its own type (the file's format is what the
/// cell runs); otherwise the pruned f32 weight is returned for the cell's format.
pub fn prune_magnitude(src: SourceTensor, s: f32, keep_format: bool, stats: &mut LoadStats) -> Result<SourceTensor> {
    let dense = src.to_f32()?;
    let shape = dense.shape().clone();
    let mut w = dense.flatten_all()?.to_vec1::<f32>()?;
    let k = (s as f64 * w.len() as f64).floor() as usize;
    if k > 0 {
        let mut mags: Vec<f32> = w.iter().map(|v| v.abs()).collect();
        let (_, &mut threshold, _) = mags.select_nth_unstable_by(k - 1, f32::total_cmp);
        // Everything strictly below the k-th magnitude, then ties at it until k are zero.
        let mut left = k - w.iter().filter(|v| v.abs() < threshold).count();
        for v in w.iter_mut() {
            if v.abs() < threshold {
                *v = 0.0;
            } else if v.abs() == threshold && left > 0 {
                *v = 0.0;
                left -= 1;
            }
        }
    }
    stats.pruned_weights += k;
    stats.prunable_weights += w.len();
    let pruned = Tensor::from_vec(w, shape, &Device::Cpu)?;
    Ok(match src {
        SourceTensor::Quant(q) if keep_format && !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16) => {
            SourceTensor::Quant(quantize_rows(&pruned, q.dtype())?.0)
        }
        _ => SourceTensor::Dense(pruned),
    })
}

/// Keep only the rows `rows` and columns `cols` of a weight `(out, in)` (structured pruning:
/// the matrix really shrinks). With `keep_format` a quantized weight is quantized again to its
/// own type (or the fallback when the new row length is not a block multiple).
pub fn select(
    src: SourceTensor,
    rows: Option<&[usize]>,
    cols: Option<&[usize]>,
    keep_format: bool,
    stats: &mut LoadStats,
) -> Result<SourceTensor> {
    let dense = src.to_f32()?;
    let mut t = dense;
    if let Some(r) = rows {
        t = t.index_select(&Tensor::from_vec(r.iter().map(|&i| i as u32).collect(), r.len(), &Device::Cpu)?, 0)?;
    }
    if let Some(c) = cols {
        t = t.index_select(&Tensor::from_vec(c.iter().map(|&i| i as u32).collect(), c.len(), &Device::Cpu)?, 1)?;
    }
    let t = t.contiguous()?;
    Ok(match src {
        SourceTensor::Quant(q) if keep_format && !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16) => {
            let (q, fell_back) = quantize_rows(&t, q.dtype())?;
            stats.fallback_tensors += fell_back as usize;
            SourceTensor::Quant(q)
        }
        _ => SourceTensor::Dense(t),
    })
}

/// The truncated SVD of `w` `(out, in)`: `A = U_r·diag(S_r)` `(out, r)`, `B = V_rᵀ` `(r, in)`,
/// at the rank `rank` asks for (an energy fraction keeps the smallest rank whose singular
/// values hold that share of `Σ s²`), rounded up to a multiple of `align`.
pub fn truncated_svd(w: &Tensor, rank: super::llama::LowRank, align: usize) -> Result<(Tensor, Tensor, usize)> {
    let (out, inp) = w.dims2()?;
    let data = w.flatten_all()?.to_vec1::<f32>()?;
    let m = faer::Mat::<f32>::from_fn(out, inp, |i, j| data[i * inp + j]);
    let svd = m.thin_svd().map_err(|e| anyhow::anyhow!("SVD did not converge: {e:?}"))?;
    let s: Vec<f32> = (0..out.min(inp)).map(|i| svd.S()[i]).collect();
    let full = s.len();
    let r = match rank {
        super::llama::LowRank::Rank(r) => r,
        super::llama::LowRank::Energy(e) => {
            let total: f64 = s.iter().map(|v| (*v as f64).powi(2)).sum();
            let mut acc = 0.0;
            s.iter()
                .position(|v| {
                    acc += (*v as f64).powi(2);
                    acc >= e as f64 * total
                })
                .map_or(full, |i| i + 1)
        }
    };
    let r = r.next_multiple_of(align.max(1)).clamp(1, full);
    let (u, v) = (svd.U(), svd.V());
    let s = &s;
    let a: Vec<f32> = (0..out).flat_map(|i| (0..r).map(move |k| u[(i, k)] * s[k])).collect();
    let b: Vec<f32> = (0..r).flat_map(|k| (0..inp).map(move |j| v[(j, k)])).collect();
    Ok((Tensor::from_vec(a, (out, r), &Device::Cpu)?, Tensor::from_vec(b, (r, inp), &Device::Cpu)?, r))
}

impl Linear {
    /// A weight factored by [`truncated_svd`], each factor stored in `fmt` (for `Native`, in the
    /// source's own type). Kept whole when the factors would hold as many weights as it.
    pub fn low_rank(
        src: SourceTensor,
        rank: super::llama::LowRank,
        fmt: WeightFormat,
        stats: &mut LoadStats,
    ) -> Result<Self> {
        let fmt = match (fmt, &src) {
            (WeightFormat::Native, SourceTensor::Quant(q)) if !matches!(q.dtype(), GgmlDType::F32 | GgmlDType::F16) => {
                WeightFormat::Quant(q.dtype())
            }
            (WeightFormat::Native, _) => WeightFormat::F32,
            (f, _) => f,
        };
        // A quantized factor A has rows of `r` values: keep r a multiple of the block size.
        let align = match fmt {
            WeightFormat::Quant(d) => d.block_size().min(32),
            _ => 1,
        };
        let w = src.to_f32()?;
        let (out, inp) = w.dims2()?;
        let (a, b, r) = truncated_svd(&w, rank, align)?;
        stats.factored_weights += out * inp;
        if r * (out + inp) >= out * inp {
            stats.low_rank_params += out * inp;
            return Self::build(SourceTensor::Dense(w), fmt, stats);
        }
        stats.low_rank_params += r * (out + inp);
        let a = Self::build(SourceTensor::Dense(a), fmt, stats)?;
        let b = Self::build(SourceTensor::Dense(b), fmt, stats)?;
        stats.linear_tensors -= 1;
        Ok(Linear::LowRank { a: Box::new(a), b: Box::new(b), rank: r })
    }

    /// The weight as f32 `(out, in)` (a low-rank layer: the product of its factors).
    pub fn to_f32(&self) -> Result<Tensor> {
        Ok(match self {
            Linear::Dense(t) => t.to_dtype(DType::F32)?,
            Linear::Quant(q, _) => match q {
                QMatMul::QTensor(t) => t.dequantize(&Device::Cpu)?,
                QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.to_dtype(DType::F32)?,
            },
            Linear::Packed(p) => Tensor::from_vec(p.dequantize(), (p.rows(), p.cols()), &Device::Cpu)?,
            Linear::LowRank { a, b, .. } => a.to_f32()?.matmul(&b.to_f32()?)?,
        })
    }

    /// Weights this layer multiplies by (both factors of a low-rank one).
    pub fn parameters(&self) -> usize {
        match self {
            Linear::Dense(t) => t.elem_count(),
            Linear::Quant(q, _) => match q {
                QMatMul::QTensor(t) => t.shape().elem_count(),
                QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.elem_count(),
            },
            Linear::Packed(p) => p.rows() * p.cols(),
            Linear::LowRank { a, b, .. } => a.parameters() + b.parameters(),
        }
    }

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
            Linear::LowRank { a, b, .. } => a.bytes() + b.bytes(),
        }
    }

    /// `out (m, outputs) = x (m, inputs) · Wᵀ` on flat buffers: our kernels
    /// directly for packed weights, candle's matmul for the rest.
    pub fn matmul_into(&self, x: &[f32], m: usize, out: &mut [f32]) -> Result<()> {
        match self {
            Linear::Packed(p) => {
                p.matmul(x, m, out);
                return Ok(());
            }
            Linear::LowRank { a, b, rank } => {
                let mut mid = vec![0f32; m * rank];
                b.matmul_into(x, m, &mut mid)?;
                return a.matmul_into(&mid, m, out);
            }
            _ => {}
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
            Linear::LowRank { a, b, .. } => a.forward(&b.forward(x)?)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_zeroes_exactly_the_requested_share_of_the_smallest_weights() {
        let dev = candle_core::Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (64, 96), &dev).unwrap();
        let orig = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for s in [0.1f32, 0.5, 0.9] {
            let mut stats = LoadStats::default();
            let SourceTensor::Dense(p) = prune_magnitude(SourceTensor::Dense(w.clone()), s, true, &mut stats).unwrap()
            else {
                panic!("a dense weight stays dense")
            };
            let p = p.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let k = (s as f64 * p.len() as f64).floor() as usize;
            assert_eq!(p.iter().filter(|v| **v == 0.0).count(), k, "sparsity {s}");
            assert_eq!(stats.sparsity(), Some(k as f64 / p.len() as f64));
            // Every kept weight is at least as large as every zeroed one, and unchanged.
            let kept_min = p.iter().filter(|v| **v != 0.0).map(|v| v.abs()).fold(f32::INFINITY, f32::min);
            let zeroed_max = orig.iter().zip(&p).filter(|(_, q)| **q == 0.0).map(|(o, _)| o.abs()).fold(0.0, f32::max);
            assert!(zeroed_max <= kept_min, "{zeroed_max} > {kept_min}");
            assert!(orig.iter().zip(&p).all(|(o, q)| *q == 0.0 || o == q));
        }
    }

    #[test]
    fn svd_reconstruction_error_falls_with_rank() {
        let dev = candle_core::Device::Cpu;
        // A matrix with a decaying spectrum, as trained weights have.
        let a = Tensor::randn(0f32, 1.0, (48, 16), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (16, 40), &dev).unwrap();
        let w = (a.matmul(&b).unwrap() + Tensor::randn(0f32, 0.05, (48, 40), &dev).unwrap()).unwrap();
        let err = |r: usize| -> f32 {
            let (fa, fb, got) = truncated_svd(&w, crate::models::llama::LowRank::Rank(r), 1).unwrap();
            assert_eq!(got, r);
            let d = (fa.matmul(&fb).unwrap() - &w).unwrap();
            d.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap().sqrt()
        };
        let errs: Vec<f32> = [2, 4, 8, 16, 40].iter().map(|&r| err(r)).collect();
        assert!(errs.windows(2).all(|p| p[1] < p[0]), "{errs:?}");
        assert!(errs[3] < 0.1 * errs[0] && errs[4] < 1e-3, "{errs:?}");
        // An energy fraction picks the smallest rank that keeps it (16 here, the planted rank).
        let (_, _, r) = truncated_svd(&w, crate::models::llama::LowRank::Energy(0.999), 1).unwrap();
        assert!((14..=20).contains(&r), "rank {r}");
        // A low-rank layer computes what its factors' product does.
        let mut stats = LoadStats::default();
        let lin = Linear::low_rank(
            SourceTensor::Dense(w.clone()),
            crate::models::llama::LowRank::Rank(8),
            WeightFormat::F32,
            &mut stats,
        )
        .unwrap();
        assert!(matches!(lin, Linear::LowRank { rank: 8, .. }));
        assert_eq!(lin.parameters(), 8 * (48 + 40));
        assert_eq!(stats.low_rank_params, 8 * (48 + 40));
    }

    #[test]
    fn a_quantized_weight_is_pruned_in_its_own_format() {
        let w = Tensor::randn(0f32, 1.0, (8, 64), &candle_core::Device::Cpu).unwrap();
        let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let mut stats = LoadStats::default();
        let SourceTensor::Quant(p) = prune_magnitude(SourceTensor::Quant(q), 0.5, true, &mut stats).unwrap() else {
            panic!("stays quantized")
        };
        assert_eq!(p.dtype(), GgmlDType::Q8_0);
        let zeros = p.dequantize(&candle_core::Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(zeros.iter().filter(|v| **v == 0.0).count() >= 256, "q8_0 keeps the zeros");
        let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let pruned = prune_magnitude(SourceTensor::Quant(q), 0.5, false, &mut stats).unwrap();
        assert!(matches!(pruned, SourceTensor::Dense(_)), "for another format the f32 weight comes back");
    }
}
