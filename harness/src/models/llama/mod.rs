//! Llama-architecture decoder (RMSNorm, GQA attention with interleaved RoPE,
//! SwiGLU MLP), read top to bottom. Linear layers and the KV cache are
//! pluggable ([`Linear`], [`KvState`]), so techniques change them without
//! touching this file.

use anyhow::{ensure, Context, Result};
use candle_core::{DType, Device, IndexOp, Tensor, D};
use serde::{Deserialize, Serialize};

mod flat;

pub(crate) use flat::exp;
pub use flat::{argmax_flat, FlatKv, KvFormat, Probe, StageInput};

use super::arch::Arch;
use super::kv_cache::KvState;
use super::linear::{prune_magnitude, select, Linear, LoadStats};
use super::weights::{NotApplicable, WeightFormat, WeightSource};

/// Hyper-parameters of a Llama-style decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub rope_theta: f32,
    pub rms_norm_eps: f64,
    pub max_seq_len: usize,
    /// The architecture whose forward runs (Llama unless a GGUF says otherwise).
    #[serde(default, skip_serializing_if = "Arch::is_llama")]
    pub arch: Arch,
    /// Width of a head when it is not hidden/heads (Gemma 3: 256 at hidden 640).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_length: Option<usize>,
    /// Positions a local layer attends to (Gemma 3's sliding window); `None`: every layer is global.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<usize>,
    /// RoPE base of the local layers, when it differs from the global one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_local_theta: Option<f32>,
}

impl LlamaConfig {
    pub fn head_dim(&self) -> usize {
        self.key_length.unwrap_or(self.hidden_size / self.num_heads)
    }

    /// Parameters in the transformer (embedding counted once even when tied).
    pub fn parameters(&self) -> usize {
        let h = self.hidden_size;
        let (q, kv) = (self.num_heads * self.head_dim(), self.num_kv_heads * self.head_dim());
        let per_layer = h * q * 2 + h * kv * 2 + 3 * h * self.intermediate_size + 2 * h;
        self.vocab_size * h + self.num_layers * per_layer + h
    }

    /// Whether decoder layer `i` (the file's numbering) attends only to a sliding window.
    pub fn is_local(&self, i: usize) -> bool {
        self.sliding_window.is_some() && self.arch == Arch::Gemma3 && crate::models::arch::gemma3::is_local(i)
    }
}

struct Block {
    attn_norm: Tensor,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    ffn_norm: Tensor,
    w_gate: Linear,
    w_up: Linear,
    w_down: Linear,
    /// The KV head each kept query head reads (all heads unless structured pruning removed some).
    heads: Vec<usize>,
    /// FFN channels kept.
    channels: usize,
    /// The layer's index in the file.
    index: usize,
}

/// How to build a decoder beyond its weight format: what the compression techniques ask for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    /// Decoder layers (the file's numbering) left out; their weights are never built.
    pub skip: Vec<usize>,
    /// Fraction of each decoder linear layer's weights zeroed by magnitude ([`prune_magnitude`]).
    pub sparsity: Option<f32>,
    /// Attention heads and FFN channels kept per layer (structured pruning): the matrices shrink.
    pub structure: Option<Structure>,
    /// Each decoder linear layer replaced by two thin factors of a truncated SVD ([`LowRank`]).
    pub low_rank: Option<LowRank>,
    /// Only the decoder layers `start..end` (a pipeline stage): the embedding is built only when
    /// the range starts at 0, the final norm and output head only when it ends at the last layer.
    pub stage: Option<std::ops::Range<usize>>,
}

/// Per decoder layer (the file's numbering), the query heads and FFN channels kept, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    pub heads: Vec<Vec<usize>>,
    pub channels: Vec<Vec<usize>>,
}

/// The rank of a low-rank factorisation: fixed, or the smallest keeping a fraction of the spectrum's energy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LowRank {
    Rank(usize),
    Energy(f32),
}

/// What the caller wants back from a forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// Logits of the last position only, `(batch, vocab)`: generation.
    Last,
    /// Logits of every position, `(batch, seq, vocab)`: perplexity and fidelity.
    All,
}

pub struct Decoder {
    cfg: LlamaConfig,
    /// The token embedding (absent on a pipeline stage after the first).
    embed: Option<Tensor>,
    blocks: Vec<Block>,
    norm: Tensor,
    /// The output head (absent on a pipeline stage before the last).
    lm_head: Option<Linear>,
    cos: Tensor,
    sin: Tensor,
    flat: flat::FlatParams,
    /// How [`Decoder::new_flat_kv`] keeps keys and values.
    kv_format: KvFormat,
    pub load_stats: LoadStats,
}

impl Decoder {
    /// Build the engine from a weight source, storing linear layers in `fmt`.
    /// The embedding table stays f32 for lookups; the output head (tied or
    /// not) takes the technique's format like every other matmul.
    pub fn load(src: &mut dyn WeightSource, fmt: WeightFormat) -> Result<Self> {
        Self::load_with(src, fmt, &LoadOptions::default())
    }

    /// Like [`Decoder::load`], leaving out the decoder layers at the indices in `skip`
    /// (their weights are never built: the model really is smaller and faster).
    pub fn load_without(src: &mut dyn WeightSource, fmt: WeightFormat, skip: &[usize]) -> Result<Self> {
        Self::load_with(src, fmt, &LoadOptions { skip: skip.to_vec(), ..Default::default() })
    }

    /// Build the decoder as `opt` says: layers left out, heads and channels removed, weights
    /// pruned by magnitude, layers factored; every linear layer then stored in `fmt`.
    pub fn load_with(src: &mut dyn WeightSource, fmt: WeightFormat, opt: &LoadOptions) -> Result<Self> {
        let cfg = src.config().clone();
        let tr = cfg.arch.traits();
        ensure!(
            cfg.key_length.is_some() || cfg.hidden_size.is_multiple_of(cfg.num_heads),
            "hidden size not divisible by heads"
        );
        ensure!(cfg.num_heads.is_multiple_of(cfg.num_kv_heads), "heads not divisible by kv heads");
        let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim());
        let mut stats = LoadStats::default();
        let range = opt.stage.clone().unwrap_or(0..cfg.num_layers);
        ensure!(range.start < range.end && range.end <= cfg.num_layers, "stage {range:?} of {} layers", cfg.num_layers);
        let (first, last) = (range.start == 0, range.end == cfg.num_layers);
        let lm_head = if last {
            let head_src =
                if src.has("output.weight") { src.take("output.weight")? } else { src.take("token_embd.weight")? };
            Some(Linear::build(head_src, fmt, &mut stats).context("output head")?)
        } else {
            None
        };
        let embed = if first { Some(src.take("token_embd.weight")?.to_f32()?) } else { None };
        stats.weight_bytes += embed.as_ref().map_or(0, |e| e.elem_count() * 4);
        let vec_of = |src: &mut dyn WeightSource, name: &str| -> Result<Tensor> {
            src.take(name)?.to_f32().with_context(|| format!("tensor {name}"))
        };
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        let mut extras = Vec::with_capacity(cfg.num_layers);
        for i in range.clone().filter(|i| !opt.skip.contains(i)) {
            let heads: Vec<usize> = match &opt.structure {
                Some(st) => st.heads[i].clone(),
                None => (0..nh).collect(),
            };
            let channels: Option<&[usize]> = opt.structure.as_ref().map(|st| st.channels[i].as_slice());
            ensure!(!heads.is_empty(), "layer {i} keeps no attention head");
            let head_rows: Vec<usize> = heads.iter().flat_map(|&h| h * hd..(h + 1) * hd).collect();
            let rows_q = opt.structure.as_ref().map(|_| head_rows.as_slice());
            let mut lin = |name: &str, rows: Option<&[usize]>, cols: Option<&[usize]>| -> Result<Linear> {
                let full = format!("blk.{i}.{name}.weight");
                let keep = fmt == WeightFormat::Native;
                let mut t = src.take(&full)?;
                if rows.is_some() || cols.is_some() {
                    t = select(t, rows, cols, keep, &mut stats).with_context(|| format!("shrinking {full}"))?;
                }
                if let Some(s) = opt.sparsity {
                    t = prune_magnitude(t, s, keep, &mut stats).with_context(|| format!("pruning {full}"))?;
                }
                if let Some(r) = opt.low_rank {
                    return Linear::low_rank(t, r, fmt, &mut stats).with_context(|| format!("factoring {full}"));
                }
                Linear::build(t, fmt, &mut stats).with_context(|| format!("tensor {full}"))
            };
            let (wq, wk, wv) = (lin("attn_q", rows_q, None)?, lin("attn_k", None, None)?, lin("attn_v", None, None)?);
            let wo = lin("attn_output", None, rows_q)?;
            let (w_gate, w_up) = (lin("ffn_gate", channels, None)?, lin("ffn_up", channels, None)?);
            let w_down = lin("ffn_down", None, channels)?;
            let mut extra = flat::LayerExtras { local: cfg.is_local(i), ..Default::default() };
            if tr.qkv_bias {
                let bq = vec_of(src, &format!("blk.{i}.attn_q.bias"))?.to_vec1::<f32>()?;
                let bq = head_rows.iter().map(|&r| bq[r]).collect();
                let bk = vec_of(src, &format!("blk.{i}.attn_k.bias"))?.to_vec1::<f32>()?;
                let bv = vec_of(src, &format!("blk.{i}.attn_v.bias"))?.to_vec1::<f32>()?;
                extra.bias = Some([bq, bk, bv]);
            }
            if tr.qk_norm {
                extra.q_norm = Some(vec_of(src, &format!("blk.{i}.attn_q_norm.weight"))?.to_vec1::<f32>()?);
                extra.k_norm = Some(vec_of(src, &format!("blk.{i}.attn_k_norm.weight"))?.to_vec1::<f32>()?);
            }
            if tr.post_norms {
                extra.post_attn = Some(vec_of(src, &format!("blk.{i}.post_attention_norm.weight"))?.to_vec1::<f32>()?);
                extra.post_ffn = Some(vec_of(src, &format!("blk.{i}.post_ffw_norm.weight"))?.to_vec1::<f32>()?);
            }
            extras.push(extra);
            blocks.push(Block {
                attn_norm: vec_of(src, &format!("blk.{i}.attn_norm.weight"))?,
                ffn_norm: vec_of(src, &format!("blk.{i}.ffn_norm.weight"))?,
                channels: channels.map_or(cfg.intermediate_size, <[usize]>::len),
                heads: heads.iter().map(|h| h / (nh / nkv)).collect(),
                index: i,
                wq,
                wk,
                wv,
                wo,
                w_gate,
                w_up,
                w_down,
            });
        }
        let norm = vec_of(src, "output_norm.weight")?;
        stats.weight_bytes += (norm.elem_count() + blocks.len() * 2 * cfg.hidden_size) * 4;
        let (cos, sin) = rope_tables(&cfg, cfg.rope_theta)?;
        let local = match cfg.rope_local_theta {
            Some(theta) => Some(rope_tables(&cfg, theta)?),
            None => None,
        };
        let flat = flat::FlatParams::new(
            &blocks.iter().map(|b| &b.attn_norm).collect::<Vec<_>>(),
            &blocks.iter().map(|b| &b.ffn_norm).collect::<Vec<_>>(),
            extras,
            &norm,
            (&cos, &sin),
            local.as_ref().map(|(c, s)| (c, s)),
            tr.act,
        )?;
        Ok(Self { cfg, embed, blocks, norm, lm_head, cos, sin, flat, kv_format: KvFormat::F32, load_stats: stats })
    }

    /// What every layer computes over `calibration` tokens (the whole model, every layer).
    pub fn probe(&self, calibration: &[u32]) -> Result<Probe> {
        ensure!(self.blocks.len() == self.cfg.num_layers, "importance is scored on the whole model");
        ensure!(calibration.len() >= 16, "importance scores need calibration text ({} tokens)", calibration.len());
        let n = self.blocks.len();
        let mut probe = Probe {
            head_norm: vec![vec![]; n],
            channel_mag: vec![vec![]; n],
            tokens: vec![0; n],
            change: vec![0.0; n],
        };
        self.forward_probed(
            flat::StageInput::Tokens(calibration),
            1,
            0,
            &mut self.new_flat_kv(1),
            Logits::Last,
            Some(&mut probe),
        )?;
        Ok(probe)
    }

    /// The `k` layers whose output differs least from their input in `p` (mean 1 − cosine over
    /// the calibration tokens, [`Decoder::probe`]), ascending; fails when fewer than two would be left.
    pub fn least_changing_layers(&self, p: &Probe, k: usize) -> Result<Vec<usize>> {
        let n = self.blocks.len();
        if k + 2 > n {
            return Err(NotApplicable(format!("cannot drop {k} of {n} layers: at least two must be left")).into());
        }
        let mut idx: Vec<usize> = (0..n).collect();
        idx.sort_by(|a, b| p.change[*a].total_cmp(&p.change[*b]).then(a.cmp(b)));
        let mut out: Vec<usize> = idx.into_iter().take(k).collect();
        out.sort_unstable();
        Ok(out)
    }

    /// Which heads and FFN channels structured pruning keeps when it removes the fraction `f`
    /// of each layer's, scored from `probe` (this whole model's [`Decoder::probe`] over calibration
    /// tokens; see `techniques/prune_heads.rs` for the score).
    pub fn structure_for(&self, probe: &Probe, f: f32) -> Result<Structure> {
        ensure!(probe.tokens.len() == self.blocks.len(), "importance is scored on the whole model");
        let n = self.blocks.len();
        let hd = self.cfg.head_dim();
        let keep_top = |scores: Vec<f64>, keep: usize| -> Vec<usize> {
            let mut idx: Vec<usize> = (0..scores.len()).collect();
            idx.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
            let mut kept: Vec<usize> = idx.into_iter().take(keep).collect();
            kept.sort_unstable();
            kept
        };
        let (mut heads, mut channels) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (i, blk) in self.blocks.iter().enumerate() {
            // ‖output-projection columns‖ per head and per channel, from the f32 reference.
            let wo = blk.wo.to_f32()?;
            let wd = blk.w_down.to_f32()?;
            let col_norms = |w: &Tensor| -> Result<Vec<f64>> {
                Ok(w.sqr()?.sum(0)?.to_vec1::<f32>()?.into_iter().map(|v| (v as f64).sqrt()).collect())
            };
            let (wo_cols, wd_cols) = (col_norms(&wo)?, col_norms(&wd)?);
            let t = probe.tokens[i].max(1) as f64;
            let hs: Vec<f64> = (0..self.cfg.num_heads)
                .map(|h| {
                    let w: f64 = wo_cols[h * hd..(h + 1) * hd].iter().map(|c| c * c).sum::<f64>().sqrt();
                    probe.head_norm[i][h] / t * w
                })
                .collect();
            let cs: Vec<f64> = probe.channel_mag[i].iter().zip(&wd_cols).map(|(a, w)| a / t * w).collect();
            let keep_h = ((self.cfg.num_heads as f32 * (1.0 - f)).round() as usize).max(1);
            let c = cs.len();
            let keep_c = (((c as f32 * (1.0 - f)) as usize).next_multiple_of(32)).clamp(32, c);
            heads.push(keep_top(hs, keep_h));
            channels.push(keep_top(cs, keep_c));
        }
        Ok(Structure { heads, channels })
    }

    /// The token embedding, f32 `(vocab, hidden)`.
    fn embedding(&self) -> Result<&Tensor> {
        self.embed.as_ref().ok_or_else(|| anyhow::anyhow!("this pipeline stage holds no token embedding"))
    }

    /// The output head.
    fn head(&self) -> Result<&Linear> {
        self.lm_head.as_ref().ok_or_else(|| anyhow::anyhow!("this pipeline stage holds no output head"))
    }

    /// Whether this decoder ends in the output head (a whole model, or a pipeline's last stage).
    pub fn has_head(&self) -> bool {
        self.lm_head.is_some()
    }

    /// Parameters of the decoder as built (structured pruning and low rank change it; the
    /// embedding counted once even when tied, the way [`LlamaConfig::parameters`] counts).
    pub fn parameters(&self) -> usize {
        let h = self.cfg.hidden_size;
        let layers: usize = self
            .blocks
            .iter()
            .map(|b| {
                [&b.wq, &b.wk, &b.wv, &b.wo, &b.w_gate, &b.w_up, &b.w_down]
                    .iter()
                    .map(|l| l.parameters())
                    .sum::<usize>()
                    + 2 * h
            })
            .sum();
        let tied = self.embed.is_some() || self.lm_head.is_some();
        if tied {
            self.cfg.vocab_size * h + layers + h
        } else {
            layers
        }
    }

    /// Gate the MLP with `act` instead of the architecture's own activation. Only for holding
    /// the rest of the architecture to a reference that gates differently: candle-transformers
    /// 0.11.1's `quantized_gemma3` uses SiLU where Gemma 3 (and llama.cpp) use GELU.
    pub fn set_activation(&mut self, act: super::arch::Activation) {
        self.flat.act = act;
    }

    /// Keep the flat forward's KV caches in `fmt` from now on (8 bits: `hd` must be a multiple of 32).
    pub fn set_kv_format(&mut self, fmt: KvFormat) -> Result<()> {
        if fmt == KvFormat::Q8 && !self.cfg.head_dim().is_multiple_of(32) {
            return Err(NotApplicable(format!(
                "an 8-bit KV cache needs heads a multiple of 32 wide, not {}",
                self.cfg.head_dim()
            ))
            .into());
        }
        self.kv_format = fmt;
        Ok(())
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// Decoder layers that run (fewer than the config's when some were left out).
    pub fn layers(&self) -> usize {
        self.blocks.len()
    }

    /// The file's indices of the layers that run.
    pub fn kept_layers(&self) -> Vec<usize> {
        self.blocks.iter().map(|b| b.index).collect()
    }

    pub fn new_kv(&self) -> KvState {
        KvState::contiguous(self.blocks.len())
    }

    /// Run `tokens` (`(batch, seq)`, u32) starting at absolute position `pos`.
    /// With a KV state the new keys/values are appended to it and attention
    /// sees the cached past; without one the sequence is attended on its own
    /// (`pos` must then be 0: that is the recompute mode).
    pub fn forward(&self, tokens: &Tensor, pos: usize, mut kv: Option<&mut KvState>, want: Logits) -> Result<Tensor> {
        self.tensor_path()?;
        let (b, seq) = tokens.dims2()?;
        ensure!(kv.is_some() || pos == 0, "without a KV cache the whole sequence must be given");
        ensure!(pos + seq <= self.cfg.max_seq_len, "sequence of {} exceeds max {}", pos + seq, self.cfg.max_seq_len);
        let mask = if seq > 1 { Some(causal_mask(seq, pos, tokens.device())?) } else { None };
        let cos = self.cos.narrow(0, pos, seq)?;
        let sin = self.sin.narrow(0, pos, seq)?;
        let mut x =
            self.embedding()?.index_select(&tokens.flatten_all()?, 0)?.reshape((b, seq, self.cfg.hidden_size))?;
        for (i, blk) in self.blocks.iter().enumerate() {
            let h = candle_nn::ops::rms_norm(&x, &blk.attn_norm, self.cfg.rms_norm_eps as f32)?;
            let a = match kv.as_deref_mut() {
                Some(state) => self.attention(blk, &h, &cos, &sin, mask.as_ref(), Some(state.layers[i].as_mut()))?,
                None => self.attention(blk, &h, &cos, &sin, mask.as_ref(), None)?,
            };
            x = (x + a)?;
            let h = candle_nn::ops::rms_norm(&x, &blk.ffn_norm, self.cfg.rms_norm_eps as f32)?;
            let gate = candle_nn::ops::silu(&blk.w_gate.forward(&h)?)?;
            let m = blk.w_down.forward(&(gate * blk.w_up.forward(&h)?)?)?;
            x = (x + m)?;
        }
        let x = candle_nn::ops::rms_norm(&x, &self.norm, self.cfg.rms_norm_eps as f32)?;
        match want {
            Logits::Last => self.head()?.forward(&x.i((.., seq - 1, ..))?.contiguous()?),
            Logits::All => self.head()?.forward(&x),
        }
    }

    /// The tensor forward runs the Llama layer with every head; other architectures and
    /// structurally pruned models run only the flat forward.
    fn tensor_path(&self) -> Result<()> {
        if !self.cfg.arch.is_llama() || self.blocks.iter().any(|b| b.heads.len() != self.cfg.num_heads) {
            return Err(NotApplicable(format!(
                "the tensor forward (serving's ragged step) runs only the full Llama architecture, not {}{}",
                self.cfg.arch.name(),
                if self.cfg.arch.is_llama() { " with heads removed" } else { "" }
            ))
            .into());
        }
        Ok(())
    }

    fn attention(
        &self,
        blk: &Block,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        mask: Option<&Tensor>,
        cache: Option<&mut dyn super::kv_cache::KvCache>,
    ) -> Result<Tensor> {
        let (b, seq, hidden) = x.dims3()?;
        let (q, k, v) = self.qkv(blk, x)?;
        let (q, k, v) = self.rotate(q, k, v, b, seq, cos, sin)?;
        let (k, v) = match cache {
            Some(c) => c.append(&k, &v)?,
            None => (k, v),
        };
        let y = self.attend(&q, k, v, mask)?;
        blk.wo.forward(&y.transpose(1, 2)?.reshape((b, seq, hidden))?)
    }

    /// Query/key/value projections of `(b, seq, hidden)` activations, flat.
    fn qkv(&self, blk: &Block, x: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        Ok((blk.wq.forward(x)?, blk.wk.forward(x)?, blk.wv.forward(x)?))
    }

    /// Split flat projections into heads `(b, heads, seq, head_dim)` and apply RoPE.
    #[allow(clippy::too_many_arguments)]
    fn rotate(
        &self,
        q: Tensor,
        k: Tensor,
        v: Tensor,
        b: usize,
        seq: usize,
        cos: &Tensor,
        sin: &Tensor,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (nh, nkv, hd) = (self.cfg.num_heads, self.cfg.num_kv_heads, self.cfg.head_dim());
        let q = q.reshape((b, seq, nh, hd))?.transpose(1, 2)?.contiguous()?;
        let k = k.reshape((b, seq, nkv, hd))?.transpose(1, 2)?.contiguous()?;
        let v = v.reshape((b, seq, nkv, hd))?.transpose(1, 2)?.contiguous()?;
        let q = candle_nn::rotary_emb::rope_i(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k, cos, sin)?;
        Ok((q, k, v))
    }

    /// Scaled dot-product attention with grouped KV heads; `(b, heads, seq, head_dim)` out.
    fn attend(&self, q: &Tensor, k: Tensor, v: Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (nh, nkv, hd) = (self.cfg.num_heads, self.cfg.num_kv_heads, self.cfg.head_dim());
        let k = candle_transformers::utils::repeat_kv(k, nh / nkv)?;
        let v = candle_transformers::utils::repeat_kv(v, nh / nkv)?;
        let att = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        let att = match mask {
            None => att,
            Some(m) => {
                let neg = Tensor::new(f32::NEG_INFINITY, att.device())?.broadcast_as(att.shape())?;
                m.broadcast_as(att.shape())?.where_cond(&neg, &att)?
            }
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        Ok(att.matmul(&v.contiguous()?)?)
    }

    /// One step over a ragged set of sequences, the way a serving engine batches:
    /// every linear layer runs once over all new tokens of all sequences
    /// (prefill chunks and decode tokens alike), attention runs per sequence
    /// against that sequence's own cache. Returns the logits of each segment's
    /// last token, `(segments, vocab)`.
    pub fn forward_segments(&self, segs: &mut [Segment<'_>]) -> Result<Tensor> {
        self.tensor_path()?;
        ensure!(!segs.is_empty() && segs.iter().all(|s| !s.tokens.is_empty()), "empty segment");
        let h = self.cfg.hidden_size;
        let total: usize = segs.iter().map(|s| s.tokens.len()).sum();
        for s in segs.iter() {
            ensure!(
                s.pos + s.tokens.len() <= self.cfg.max_seq_len,
                "sequence exceeds max length {}",
                self.cfg.max_seq_len
            );
        }
        let flat: Vec<u32> = segs.iter().flat_map(|s| s.tokens.iter().copied()).collect();
        let dev = Device::Cpu;
        let masks: Vec<Option<Tensor>> = segs
            .iter()
            .map(|s| if s.tokens.len() > 1 { causal_mask(s.tokens.len(), s.pos, &dev).map(Some) } else { Ok(None) })
            .collect::<Result<_>>()?;
        let ropes: Vec<(Tensor, Tensor)> = segs
            .iter()
            .map(|s| Ok((self.cos.narrow(0, s.pos, s.tokens.len())?, self.sin.narrow(0, s.pos, s.tokens.len())?)))
            .collect::<Result<_>>()?;
        let mut x = self.embedding()?.index_select(&Tensor::from_vec(flat, total, &dev)?, 0)?.reshape((1, total, h))?;
        for (i, blk) in self.blocks.iter().enumerate() {
            let hn = candle_nn::ops::rms_norm(&x, &blk.attn_norm, self.cfg.rms_norm_eps as f32)?;
            let (q, k, v) = self.qkv(blk, &hn)?;
            let mut outs = Vec::with_capacity(segs.len());
            let mut off = 0;
            for (j, s) in segs.iter_mut().enumerate() {
                let l = s.tokens.len();
                let (cos, sin) = &ropes[j];
                let (qs, ks, vs) =
                    self.rotate(q.narrow(1, off, l)?, k.narrow(1, off, l)?, v.narrow(1, off, l)?, 1, l, cos, sin)?;
                let (kf, vf) = s.kv.append(i, &ks, &vs)?;
                let y = self.attend(&qs, kf, vf, masks[j].as_ref())?;
                outs.push(y.transpose(1, 2)?.reshape((1, l, h))?);
                off += l;
            }
            let y = if outs.len() == 1 { outs.pop().expect("one") } else { Tensor::cat(&outs, 1)? };
            x = (x + blk.wo.forward(&y)?)?;
            let hn = candle_nn::ops::rms_norm(&x, &blk.ffn_norm, self.cfg.rms_norm_eps as f32)?;
            let gate = candle_nn::ops::silu(&blk.w_gate.forward(&hn)?)?;
            x = (x + blk.w_down.forward(&(gate * blk.w_up.forward(&hn)?)?)?)?;
        }
        let mut last = Vec::with_capacity(segs.len());
        let mut off = 0;
        for s in segs.iter() {
            off += s.tokens.len();
            last.push((off - 1) as u32);
        }
        let x = x.squeeze(0)?.index_select(&Tensor::new(last.as_slice(), &dev)?, 0)?;
        let x = candle_nn::ops::rms_norm(&x, &self.norm, self.cfg.rms_norm_eps as f32)?;
        self.head()?.forward(&x)
    }
}

/// Per-sequence key/value storage addressed by layer, for [`Decoder::forward_segments`].
pub trait SequenceKv {
    /// Append `(1, kv_heads, new, head_dim)` keys/values at `layer`; return all so far.
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)>;
}

impl SequenceKv for KvState {
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        self.layers[layer].append(k, v)
    }
}

/// One sequence's share of a ragged step: its new tokens, the absolute position
/// of the first of them, and where its keys/values live.
pub struct Segment<'a> {
    pub tokens: &'a [u32],
    pub pos: usize,
    pub kv: &'a mut dyn SequenceKv,
}

/// `(seq, pos+seq)` u8 mask, 1 where a query may not see a key.
fn causal_mask(seq: usize, pos: usize, dev: &Device) -> Result<Tensor> {
    let kv_len = pos + seq;
    let m: Vec<u8> = (0..seq).flat_map(|i| (0..kv_len).map(move |j| u8::from(j > pos + i))).collect();
    Ok(Tensor::from_slice(&m, (seq, kv_len), dev)?)
}

/// RoPE cos/sin tables `(max_seq, head_dim/2)`, theta_i = base^(-2i/d).
fn rope_tables(cfg: &LlamaConfig, theta: f32) -> Result<(Tensor, Tensor)> {
    let hd = cfg.head_dim();
    let inv: Vec<f32> = (0..hd).step_by(2).map(|i| 1.0 / theta.powf(i as f32 / hd as f32)).collect();
    let inv = Tensor::new(inv.as_slice(), &Device::Cpu)?;
    let t = Tensor::arange(0u32, cfg.max_seq_len as u32, &Device::Cpu)?.to_dtype(DType::F32)?;
    let freqs = t.reshape((cfg.max_seq_len, 1))?.matmul(&inv.reshape((1, hd / 2))?)?;
    Ok((freqs.cos()?, freqs.sin()?))
}

/// Greedy pick per row of `(batch, vocab)` logits.
pub fn argmax_rows(logits: &Tensor) -> Result<Vec<u32>> {
    Ok(logits.argmax(D::Minus1)?.to_vec1::<u32>()?)
}
