//! The decoder's forward pass on flat f32 buffers: what generation and perplexity run.
//!
//! The tensor forward in [`super`] builds each step from about thirty candle ops per
//! layer, each allocating its output, and grows the KV cache by concatenation; at
//! batch 1 that costs more than the matmuls themselves. Here one pass walks the
//! layers over scratch buffers allocated once per call: RMSNorm, RoPE, the attention
//! of the new tokens against a KV cache written in place, SwiGLU and the residual
//! adds are plain loops (attention spread over heads on candle's thread pool), and
//! every linear layer writes straight into its output ([`Linear::matmul_into`]).
//! The arithmetic is the tensor path's; tests hold the two to each other.

use anyhow::{ensure, Result};
use candle_core::{CpuStorage, Storage, Tensor};

use super::{Decoder, Logits};
use crate::models::arch::gemma3::gelu_tanh;
use crate::models::arch::Activation;
use crate::models::kernels::Disjoint;

mod kv;

pub use kv::{FlatKv, KvFormat};

/// What a layer of another architecture adds to Llama's ([`crate::models::arch::Traits`]).
#[derive(Debug, Clone, Default)]
pub(super) struct LayerExtras {
    /// Biases of q (the kept heads' rows), k and v.
    pub bias: Option<[Vec<f32>; 3]>,
    /// RMSNorm weights of each query and key head, `head_dim` long.
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    /// RMSNorm of the attention and MLP outputs before their residual adds.
    pub post_attn: Option<Vec<f32>>,
    pub post_ffn: Option<Vec<f32>>,
    /// Attends to a sliding window, with the local RoPE tables.
    pub local: bool,
}

/// Sums of what each layer computed over calibration tokens, for importance scores.
#[derive(Debug, Default)]
pub struct Probe {
    /// Per layer, per query head: Σ over tokens of the head's attention-output L2 norm.
    pub head_norm: Vec<Vec<f64>>,
    /// Per layer, per FFN channel: Σ over tokens of |act(gate)·up|.
    pub channel_mag: Vec<Vec<f64>>,
    /// Per layer, the tokens summed.
    pub tokens: Vec<usize>,
    /// Per layer: Σ over tokens of 1 − cos(layer input, layer output).
    pub change: Vec<f64>,
}

/// What a pipeline stage starts from.
#[derive(Debug, Clone, Copy)]
pub enum StageInput<'a> {
    /// Token ids (the first stage embeds them).
    Tokens(&'a [u32]),
    /// The previous stage's hidden states, `positions × hidden`.
    Hidden(&'a [f32]),
}

/// Norm weights and RoPE tables as plain slices (copied once at load).
pub(super) struct FlatParams {
    pub attn_norm: Vec<Vec<f32>>,
    pub ffn_norm: Vec<Vec<f32>>,
    pub extras: Vec<LayerExtras>,
    pub norm: Vec<f32>,
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
    /// RoPE tables of the local layers, when their base differs.
    pub local: Option<(Vec<f32>, Vec<f32>)>,
    /// The MLP's gate activation (the architecture's).
    pub act: Activation,
}

impl FlatParams {
    pub fn new(
        attn: &[&Tensor],
        ffn: &[&Tensor],
        extras: Vec<LayerExtras>,
        norm: &Tensor,
        (cos, sin): (&Tensor, &Tensor),
        local: Option<(&Tensor, &Tensor)>,
        act: Activation,
    ) -> Result<Self> {
        let v = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.flatten_all()?.to_vec1::<f32>()?) };
        Ok(Self {
            attn_norm: attn.iter().map(|t| v(t)).collect::<Result<_>>()?,
            ffn_norm: ffn.iter().map(|t| v(t)).collect::<Result<_>>()?,
            extras,
            norm: v(norm)?,
            cos: v(cos)?,
            sin: v(sin)?,
            local: match local {
                Some((c, s)) => Some((v(c)?, v(s)?)),
                None => None,
            },
            act,
        })
    }
}

impl Decoder {
    /// An empty KV cache for `batch` sequences, for [`Decoder::forward_flat`].
    pub fn new_flat_kv(&self, batch: usize) -> FlatKv {
        FlatKv::new(batch, self.blocks.len(), self.kv_format)
    }

    /// Run `tokens` (`batch` rows of equal length, row-major) from absolute position
    /// `pos`, appending their keys/values to `kv` (which must hold exactly `pos`).
    /// Returns logits `(batch, vocab)` for [`Logits::Last`], `(batch·seq, vocab)` for `All`.
    pub fn forward_flat(
        &self,
        tokens: &[u32],
        batch: usize,
        pos: usize,
        kv: &mut FlatKv,
        want: Logits,
    ) -> Result<Vec<f32>> {
        self.forward_stage(StageInput::Tokens(tokens), batch, pos, kv, want)
    }

    /// One pipeline stage's part of [`Decoder::forward_flat`]: from tokens (the first stage) or
    /// the previous stage's hidden states (`batch·seq × hidden`, row-major) through this stage's
    /// layers; returns logits as `forward_flat` does when the stage ends in the output head,
    /// else the hidden states of every position for the next stage.
    pub fn forward_stage(
        &self,
        input: StageInput<'_>,
        batch: usize,
        pos: usize,
        kv: &mut FlatKv,
        want: Logits,
    ) -> Result<Vec<f32>> {
        self.forward_probed(input, batch, pos, kv, want, None)
    }

    /// [`Decoder::forward_flat`], adding what each layer computed to `probe` when given.
    pub(super) fn forward_probed(
        &self,
        input: StageInput<'_>,
        batch: usize,
        pos: usize,
        kv: &mut FlatKv,
        want: Logits,
        mut probe: Option<&mut Probe>,
    ) -> Result<Vec<f32>> {
        let cfg = &self.cfg;
        let (h, nh, nkv, hd) = (cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim());
        let m = match input {
            StageInput::Tokens(t) => t.len(),
            StageInput::Hidden(x) => {
                ensure!(x.len().is_multiple_of(h), "hidden states of {} values are not rows of {h}", x.len());
                x.len() / h
            }
        };
        ensure!(batch > 0 && m > 0 && m.is_multiple_of(batch), "ragged batch");
        let seq = m / batch;
        ensure!(kv.seqs.len() == batch, "KV cache holds {} sequences, batch has {batch}", kv.seqs.len());
        ensure!(kv.seqs.iter().all(|s| s.len == pos), "KV cache holds {} positions, step starts at {pos}", kv.len());
        ensure!(pos + seq <= cfg.max_seq_len, "sequence of {} exceeds max {}", pos + seq, cfg.max_seq_len);
        let eps = cfg.rms_norm_eps as f32;
        let p = &self.flat;
        for s in &mut kv.seqs {
            s.reserve(pos + seq, nkv, hd);
        }

        let tr = cfg.arch.traits();
        let mut x = vec![0f32; m * h];
        match input {
            StageInput::Hidden(from) => x.copy_from_slice(from),
            StageInput::Tokens(tokens) => {
                let (storage, layout) = self.embedding()?.storage_and_layout();
                let Storage::Cpu(CpuStorage::F32(table)) = &*storage else {
                    anyhow::bail!("embedding is not f32 on CPU")
                };
                let table = &table[layout.start_offset()..];
                let scale = if tr.embed_scale { (h as f32).sqrt() } else { 1.0 };
                for (row, &t) in x.chunks_exact_mut(h).zip(tokens) {
                    ensure!((t as usize) < cfg.vocab_size, "token {t} outside the vocabulary");
                    row.iter_mut().zip(&table[t as usize * h..][..h]).for_each(|(d, s)| *d = s * scale);
                }
            }
        }
        let inter = self.blocks.iter().map(|b| b.channels).max().unwrap_or(0);
        let (mut xn, mut tmp) = (vec![0f32; m * h], vec![0f32; m * h]);
        let (mut q, mut k, mut v) = (vec![0f32; m * nh * hd], vec![0f32; m * nkv * hd], vec![0f32; m * nkv * hd]);
        let mut att = vec![0f32; m * nh * hd];
        let (mut gate, mut up) = (vec![0f32; m * inter], vec![0f32; m * inter]);

        let mut x_in = if probe.is_some() { x.clone() } else { Vec::new() };
        for (i, blk) in self.blocks.iter().enumerate() {
            let ex = &p.extras[i];
            if probe.is_some() {
                x_in.copy_from_slice(&x);
            }
            let nq = blk.heads.len();
            let (q, att) = (&mut q[..m * nq * hd], &mut att[..m * nq * hd]);
            rms_norm(&x, &p.attn_norm[i], eps, &mut xn);
            blk.wq.matmul_into(&xn, m, q)?;
            blk.wk.matmul_into(&xn, m, &mut k)?;
            blk.wv.matmul_into(&xn, m, &mut v)?;
            if let Some([bq, bk, bv]) = &ex.bias {
                for (out, b) in [(&mut *q, bq), (&mut k, bk), (&mut v, bv)] {
                    out.chunks_exact_mut(b.len()).for_each(|r| r.iter_mut().zip(b).for_each(|(o, b)| *o += b));
                }
            }
            if let (Some(qn), Some(kn)) = (&ex.q_norm, &ex.k_norm) {
                rms_norm_in_place(q, qn, eps);
                rms_norm_in_place(&mut k, kn, eps);
            }
            let (cos_t, sin_t) = match (&p.local, ex.local) {
                (Some((c, s)), true) => (c, s),
                _ => (&p.cos, &p.sin),
            };
            for r in 0..m {
                let at = (pos + r % seq) * hd / 2;
                let (cos, sin) = (&cos_t[at..][..hd / 2], &sin_t[at..][..hd / 2]);
                rope(&mut q[r * nq * hd..][..nq * hd], hd, cos, sin, tr.rope_halves);
                rope(&mut k[r * nkv * hd..][..nkv * hd], hd, cos, sin, tr.rope_halves);
            }
            for (b, s) in kv.seqs.iter_mut().enumerate() {
                let (kc, vc) = &mut s.layers[i];
                for t in 0..seq {
                    let r = b * seq + t;
                    for g in 0..nkv {
                        let at = g * s.cap + pos + t;
                        kc.write(at, &k[(r * nkv + g) * hd..][..hd]);
                        vc.write(at, &v[(r * nkv + g) * hd..][..hd]);
                    }
                }
            }
            let window = if ex.local { cfg.sliding_window } else { None };
            attend(kv, i, q, att, batch, seq, pos, (&blk.heads, hd), window);
            if let Some(pr) = probe.as_deref_mut() {
                let sums = &mut pr.head_norm[i];
                sums.resize(nq, 0.0);
                for row in att.chunks_exact(nq * hd) {
                    for (s, head) in sums.iter_mut().zip(row.chunks_exact(hd)) {
                        *s += dot(head, head).sqrt() as f64;
                    }
                }
            }
            blk.wo.matmul_into(att, m, &mut tmp)?;
            add_residual(&mut x, &mut tmp, ex.post_attn.as_deref(), eps, &mut xn);

            rms_norm(&x, &p.ffn_norm[i], eps, &mut xn);
            let c = blk.channels;
            let (gate, up) = (&mut gate[..m * c], &mut up[..m * c]);
            blk.w_gate.matmul_into(&xn, m, gate)?;
            blk.w_up.matmul_into(&xn, m, up)?;
            match p.act {
                Activation::Silu => gate.iter_mut().zip(&*up).for_each(|(g, u)| *g = *g / (1.0 + exp(-*g)) * u),
                Activation::GeluTanh => gate.iter_mut().zip(&*up).for_each(|(g, u)| *g = gelu_tanh(*g) * u),
            }
            if let Some(pr) = probe.as_deref_mut() {
                let sums = &mut pr.channel_mag[i];
                sums.resize(c, 0.0);
                for row in gate.chunks_exact(c) {
                    sums.iter_mut().zip(row).for_each(|(s, a)| *s += a.abs() as f64);
                }
                pr.tokens[i] += m;
            }
            blk.w_down.matmul_into(gate, m, &mut tmp)?;
            add_residual(&mut x, &mut tmp, ex.post_ffn.as_deref(), eps, &mut xn);
            if let Some(pr) = probe.as_deref_mut() {
                for (a, b) in x_in.chunks_exact(h).zip(x.chunks_exact(h)) {
                    let cos = dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt()).max(1e-30);
                    pr.change[i] += 1.0 - cos as f64;
                }
            }
        }
        for s in &mut kv.seqs {
            s.len = pos + seq;
        }
        let Some(head) = &self.lm_head else {
            // A stage before the last: every position's hidden state goes on.
            return Ok(x);
        };

        let rows: Vec<usize> = match want {
            Logits::Last => (0..batch).map(|b| b * seq + seq - 1).collect(),
            Logits::All => (0..m).collect(),
        };
        let mut last = vec![0f32; rows.len() * h];
        for (dst, &r) in last.chunks_exact_mut(h).zip(&rows) {
            dst.copy_from_slice(&x[r * h..][..h]);
        }
        let mut normed = vec![0f32; last.len()];
        rms_norm(&last, &p.norm, eps, &mut normed);
        let vocab = cfg.vocab_size;
        let mut logits = vec![0f32; rows.len() * vocab];
        head.matmul_into(&normed, rows.len(), &mut logits)?;
        Ok(logits)
    }
}

/// Greedy pick per row of flat `(rows, vocab)` logits: the first maximum, as candle's
/// `argmax` picks it (the flat forward's counterpart of [`super::argmax_rows`]).
pub fn argmax_flat(logits: &[f32], vocab: usize) -> Vec<u32> {
    logits
        .chunks_exact(vocab)
        .map(|row| {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}

/// `out = x / sqrt(mean(x²) + eps) · w`, per row of `w.len()`.
fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let h = w.len();
    for (row, o) in x.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
        let ss = dot(row, row) / h as f32;
        let inv = 1.0 / (ss + eps).sqrt();
        for ((o, xv), wv) in o.iter_mut().zip(row).zip(w) {
            *o = xv * inv * wv;
        }
    }
}

/// RMSNorm of each `w.len()`-wide piece of `x`, in place (Gemma's per-head q/k norms).
fn rms_norm_in_place(x: &mut [f32], w: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(w.len()) {
        let inv = 1.0 / (dot(row, row) / w.len() as f32 + eps).sqrt();
        row.iter_mut().zip(w).for_each(|(v, w)| *v *= inv * w);
    }
}

/// `x += out`, or `x += rms_norm(out)` when the architecture normalises a sub-layer's output.
fn add_residual(x: &mut [f32], out: &mut [f32], post: Option<&[f32]>, eps: f32, scratch: &mut [f32]) {
    let add = match post {
        Some(w) => {
            rms_norm(out, w, eps, scratch);
            &*scratch
        }
        None => &*out,
    };
    x.iter_mut().zip(add).for_each(|(a, b)| *a += b);
}

/// RoPE over every head of one row: Llama turns adjacent pairs `(2j, 2j+1)` by angle j,
/// Qwen2 and Gemma (`halves`) the pairs `(j, j + hd/2)`.
fn rope(row: &mut [f32], hd: usize, cos: &[f32], sin: &[f32], halves: bool) {
    for head in row.chunks_exact_mut(hd) {
        if halves {
            let (a, b) = head.split_at_mut(hd / 2);
            for j in 0..hd / 2 {
                let (x0, x1) = (a[j], b[j]);
                a[j] = x0 * cos[j] - x1 * sin[j];
                b[j] = x0 * sin[j] + x1 * cos[j];
            }
        } else {
            for (j, pair) in head.chunks_exact_mut(2).enumerate() {
                let (x0, x1) = (pair[0], pair[1]);
                pair[0] = x0 * cos[j] - x1 * sin[j];
                pair[1] = x0 * sin[j] + x1 * cos[j];
            }
        }
    }
}

/// `e^x` to about 2 ulp, branch-free so the compiler vectorises the loops that call it
/// (libm's `expf` is a call per element: SiLU and softmax spent most of their time there).
/// Range reduction `x = n·ln2 + r`, |r| ≤ ln2/2, a degree-6 polynomial for `e^r`, and
/// `2^n` put into the exponent bits; inputs are clamped to where the result is finite.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, x));
    let p = r.mul_add(1.0 / 720.0, 1.0 / 120.0);
    let p = r.mul_add(p, 1.0 / 24.0);
    let p = r.mul_add(p, 1.0 / 6.0);
    let p = r.mul_add(p, 0.5);
    let p = r.mul_add(p, 1.0);
    let p = r.mul_add(p, 1.0);
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Eight independent lanes, so the compiler keeps the sum in vector registers.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Causal attention of the step's queries against the cache of layer `layer`,
/// one work item per (sequence, head); output `(m, heads·head_dim)`.
#[allow(clippy::too_many_arguments)]
fn attend(
    kv: &FlatKv,
    layer: usize,
    q: &[f32],
    out: &mut [f32],
    batch: usize,
    seq: usize,
    pos: usize,
    (heads, hd): (&[usize], usize),
    window: Option<usize>,
) {
    let nh = heads.len();
    let scale = 1.0 / (hd as f32).sqrt();
    let out = Disjoint::new(out);
    let item = |it: usize| {
        let (b, head) = (it / nh, it % nh);
        let g = heads[head];
        let s = &kv.seqs[b];
        let (kc, vc) = &s.layers[layer];
        let base = g * s.cap;
        let mut scores = Vec::with_capacity(pos + seq);
        let mut acc = vec![0f32; hd];
        for t in 0..seq {
            let r = b * seq + t;
            let qv = &q[(r * nh + head) * hd..][..hd];
            let len = pos + t + 1;
            // A local layer sees the last `window` positions, itself included.
            let first = window.map_or(0, |w| len.saturating_sub(w));
            scores.clear();
            let mut max = f32::NEG_INFINITY;
            for j in first..len {
                let sc = kc.dot(base + j, qv) * scale;
                max = max.max(sc);
                scores.push(sc);
            }
            scores.iter_mut().for_each(|sc| *sc = exp(*sc - max));
            let sum: f32 = scores.iter().sum();
            acc.iter_mut().for_each(|a| *a = 0.0);
            for (j, &w) in (first..len).zip(&scores) {
                vc.axpy(base + j, w, &mut acc);
            }
            // SAFETY: head `head` of row r is written by this item alone, and the pool hands
            // each item to one worker.
            let o = unsafe { out.part((r * nh + head) * hd, hd) };
            let inv = 1.0 / sum;
            for (dst, a) in o.iter_mut().zip(&acc) {
                *dst = a * inv;
            }
        }
    };
    let items = batch * nh;
    // Query-key pairs: below a few hundred the pool's hand-off costs more than it saves.
    let work = items * seq * (pos + seq);
    if work < 256 {
        (0..items).for_each(item);
    } else {
        candle_core::utils::barrier_pool().execute_chunked(items, |range| range.for_each(item));
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::super::{argmax_rows, Decoder, Logits};
    use crate::models::synthetic::{SyntheticSource, SyntheticSpec};
    use crate::models::weights::WeightFormat;

    fn decoder(fmt: WeightFormat) -> Decoder {
        let spec: SyntheticSpec = serde_yaml::from_str(
            "{layers: 3, hidden: 128, heads: 4, kv_heads: 2, intermediate: 256, vocab: 512, seed: 5}",
        )
        .unwrap();
        Decoder::load(&mut SyntheticSource::new(&spec), fmt).unwrap()
    }

    fn formats() -> Vec<WeightFormat> {
        use candle_core::quantized::GgmlDType;
        vec![
            WeightFormat::F32,
            WeightFormat::Quant(GgmlDType::Q8_0),
            WeightFormat::Quant(GgmlDType::Q4_0),
            WeightFormat::Quant(GgmlDType::Q4_1),
            WeightFormat::Quant(GgmlDType::Q4K),
        ]
    }

    fn max_diff(a: &[f32], b: &[f32]) -> (f32, f32) {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        (a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max), scale)
    }

    #[test]
    fn flat_forward_equals_the_tensor_forward_for_prefill_and_decode() {
        let dev = Device::Cpu;
        for fmt in formats() {
            let d = decoder(fmt);
            // Two sequences of 9 tokens, then three decode steps, both ways.
            let prompts: Vec<u32> = (0..18u32).map(|i| (i * 37 + 11) % 512).collect();
            let mut kv_t = d.new_kv();
            let mut kv_f = d.new_flat_kv(2);
            let want =
                d.forward(&Tensor::from_slice(&prompts, (2, 9), &dev).unwrap(), 0, Some(&mut kv_t), Logits::Last);
            let want = want.unwrap();
            let got = d.forward_flat(&prompts, 2, 0, &mut kv_f, Logits::Last).unwrap();
            let (err, scale) = max_diff(&got, &want.flatten_all().unwrap().to_vec1().unwrap());
            assert!(err <= 1e-4 * scale.max(1.0), "{fmt:?} prefill: {err} of {scale}");
            let mut next = argmax_rows(&want).unwrap();
            for step in 0..3 {
                let x = Tensor::from_slice(&next, (2, 1), &dev).unwrap();
                let want = d.forward(&x, 9 + step, Some(&mut kv_t), Logits::Last).unwrap();
                let got = d.forward_flat(&next, 2, 9 + step, &mut kv_f, Logits::Last).unwrap();
                let (err, scale) = max_diff(&got, &want.flatten_all().unwrap().to_vec1().unwrap());
                assert!(err <= 1e-4 * scale.max(1.0), "{fmt:?} decode step {step}: {err} of {scale}");
                next = argmax_rows(&want).unwrap();
            }
            assert_eq!(kv_f.len(), 12);
        }
    }

    #[test]
    fn flat_forward_all_logits_equal_the_tensor_forward_without_cache() {
        let dev = Device::Cpu;
        let d = decoder(WeightFormat::F32);
        let toks: Vec<u32> = (0..70u32).map(|i| (i * 53 + 7) % 512).collect();
        let want = d.forward(&Tensor::from_slice(&toks, (1, 70), &dev).unwrap(), 0, None, Logits::All).unwrap();
        let got = d.forward_flat(&toks, 1, 0, &mut d.new_flat_kv(1), Logits::All).unwrap();
        let (err, scale) = max_diff(&got, &want.flatten_all().unwrap().to_vec1().unwrap());
        assert!(err <= 1e-4 * scale.max(1.0), "{err} of {scale}");
    }

    #[test]
    fn an_8_bit_cache_follows_the_f32_one_closely() {
        let mut d = decoder(WeightFormat::F32);
        let prompt: Vec<u32> = (0..40u32).map(|i| (i * 31 + 3) % 512).collect();
        let run = |d: &Decoder| {
            let mut kv = d.new_flat_kv(1);
            let mut out = d.forward_flat(&prompt, 1, 0, &mut kv, Logits::Last).unwrap();
            let mut next = super::argmax_flat(&out, 512)[0];
            for step in 0..5 {
                out = d.forward_flat(&[next], 1, 40 + step, &mut kv, Logits::Last).unwrap();
                next = super::argmax_flat(&out, 512)[0];
            }
            out
        };
        let exact = run(&d);
        d.set_kv_format(super::KvFormat::Q8).unwrap();
        let q8 = run(&d);
        let (err, scale) = max_diff(&q8, &exact);
        // Close (8-bit keys and values), but not bit-identical: the cache really is quantized.
        assert!(err > 0.0 && err < 0.02 * scale.max(1.0), "{err} of {scale}");
    }

    /// Small enough for Miri (`scripts/miri_kernels.sh`): a 16-token prefill spreads attention
    /// over the pool (each head of each row written by its own item), decoding the same tokens
    /// one at a time stays on this thread; the last logits agree to rounding.
    #[test]
    fn pooled_attention_equals_one_token_at_a_time() {
        use candle_core::quantized::GgmlDType;
        let spec: SyntheticSpec = serde_yaml::from_str(
            "{layers: 1, hidden: 32, heads: 4, kv_heads: 2, intermediate: 64, vocab: 64, seed: 9}",
        )
        .unwrap();
        let d = Decoder::load(&mut SyntheticSource::new(&spec), WeightFormat::Quant(GgmlDType::Q4_0)).unwrap();
        let toks: Vec<u32> = (0..16u32).map(|i| (i * 7 + 3) % 64).collect();
        let pooled = d.forward_flat(&toks, 1, 0, &mut d.new_flat_kv(1), Logits::Last).unwrap();
        let mut kv = d.new_flat_kv(1);
        let mut alone = vec![];
        for (pos, t) in toks.iter().enumerate() {
            alone = d.forward_flat(&[*t], 1, pos, &mut kv, Logits::Last).unwrap();
        }
        let (err, scale) = max_diff(&pooled, &alone);
        assert!(err <= 1e-4 * scale.max(1.0), "{err} of {scale}");
    }

    #[test]
    fn the_fast_exp_matches_libm() {
        let mut worst = 0f32;
        // Over the whole clamped range (beyond it the result saturates, checked below).
        for i in -87_000..=88_000 {
            let x = i as f32 / 1000.0;
            let (want, got) = (x.exp(), super::exp(x));
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 1e-6, "relative error {worst}");
        assert_eq!(super::exp(-1e9), super::exp(-87.0));
        assert!(super::exp(1e9).is_finite());
    }

    #[test]
    fn a_cache_at_another_position_is_refused() {
        let d = decoder(WeightFormat::F32);
        let mut kv = d.new_flat_kv(1);
        d.forward_flat(&[1, 2, 3], 1, 0, &mut kv, Logits::Last).unwrap();
        let err = d.forward_flat(&[4], 1, 5, &mut kv, Logits::Last).unwrap_err();
        assert!(err.to_string().contains("holds 3 positions"), "{err}");
    }
}
