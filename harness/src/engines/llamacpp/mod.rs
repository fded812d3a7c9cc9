//! The llama.cpp engine (`engine: llamacpp`, cargo feature `llamacpp`): the engine
//! people deploy, through the `llama-cpp-2` crate, which builds llama.cpp from the
//! source it ships (with `GGML_NATIVE` when Rust's `target-cpu=native` is set, as
//! `.cargo/config.toml` does). It runs a GGUF file as stored, on the CPU, with the
//! cell's thread count; tokens come from our tokenizer of the same GGUF (same ids).
//!
//! Other weight formats are made by llama.cpp's own quantizer from the file (see
//! `quantize.rs`), into a cache keyed by the file's digest. What it does not do yet is
//! `not_applicable` with the reason: decoding without a KV cache, the ragged serving
//! step (its multi-sequence API could carry it), leaving layers out.

mod quantize;

use std::cell::RefCell;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, Context, Result};
use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor, D};
use llama_cpp_2::context::params::{KvCacheType, LlamaContextParams};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::{Batch, Capabilities, Engine, LoadedModel};
use crate::engines::rss;
use crate::models::generate::KvMode;
use crate::models::linear::LoadStats;
use crate::models::llama::Segment;
use crate::models::weights::NotApplicable;
use crate::models::{hub, ModelSpec};
use crate::techniques::ExecutionPlan;

pub const NAME: &str = "llamacpp";

/// The crate pins llama.cpp's source: its version is the engine's (`q1`: how formats are made).
pub const VERSION: &str = "llama-cpp-2=0.1.160+sys=0.1.160+q1";

/// Tokens of context each sequence gets (llama.cpp allocates its KV cache up front).
const CONTEXT_PER_SEQUENCE: u32 = 1024;

/// llama.cpp's backend is initialised once per process.
fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<LlamaBackend> = OnceLock::new();
    if let Some(b) = BACKEND.get() {
        return Ok(b);
    }
    let mut b = LlamaBackend::init().map_err(|e| anyhow!("initialising llama.cpp: {e}"))?;
    // Its own log lines would fill the worker's stderr; failures come back as errors.
    b.void_logs();
    Ok(BACKEND.get_or_init(|| b))
}

/// Threads of the cell: the worker sets `RAYON_NUM_THREADS` for every engine.
fn threads() -> i32 {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as i32))
}

/// What llama.cpp was compiled with (`CPU : SSE3 = 1 | AVX2 = 1 | ...`), for the fingerprint.
pub fn system_info() -> String {
    // SAFETY: returns a pointer to a static, NUL-terminated string owned by llama.cpp.
    let p = unsafe { llama_cpp_sys_2::llama_print_system_info() };
    if p.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated (above).
    unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().trim().to_string()
}

pub struct LlamaCppEngine;

impl Engine for LlamaCppEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> &'static str {
        VERSION
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            recompute: false,
            ragged_step: false,
            layer_skip: false,
            log_probs: true,
            kv_dtypes: Capabilities::ALL.kv_dtypes,
            flash_attention: true,
            prune: false,
            speculative: false,
        }
    }

    fn load(&self, spec: &ModelSpec, plan: &ExecutionPlan, hub_cache: &Path) -> Result<Box<dyn LoadedModel>> {
        let ModelSpec::Hub(h) = spec else {
            return Err(NotApplicable("llama.cpp runs GGUF files; a synthetic model has none".into()).into());
        };
        let file = hub::resolve(hub_cache, &h.repo, &h.revision, &h.file)
            .with_context(|| format!("{}/{} is not in the hub cache {}", h.repo, h.file, hub_cache.display()))?;
        let path = quantize::file_for(spec, &file, plan.weights, hub_cache)?;
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, &path, &LlamaModelParams::default())
            .map_err(|e| anyhow!("llama.cpp could not load {}: {e}", path.display()))?;
        // The worker runs one cell and exits: the model lives as long as the process,
        // which lets contexts borrow it for the process's lifetime.
        let model: &'static LlamaModel = Box::leak(Box::new(model));
        let stats = LoadStats { weight_bytes: model.size() as usize, ..LoadStats::default() };
        let attention = Attention { kv_dtype: plan.kv_dtype, flash: plan.flash_attention };
        Ok(Box::new(LlamaCppModel { model, stats, attention, ctx: RefCell::new(None) }))
    }
}

/// A context sized for `seqs` sequences of `n_batch` tokens per decode call.
struct Ctx {
    seqs: u32,
    n_batch: u32,
    ctx: LlamaContext<'static>,
}

/// How the plan asks llama.cpp to keep and read its KV cache.
#[derive(Clone, Copy)]
struct Attention {
    /// `None`: llama.cpp's default (f16).
    kv_dtype: Option<GgmlDType>,
    /// `None`: llama.cpp decides (auto).
    flash: Option<bool>,
}

impl Attention {
    fn apply(self, params: LlamaContextParams) -> Result<LlamaContextParams> {
        let params = match self.kv_dtype {
            None => params,
            Some(d) => {
                let t = match d {
                    GgmlDType::F32 => KvCacheType::F32,
                    GgmlDType::F16 => KvCacheType::F16,
                    GgmlDType::Q8_0 => KvCacheType::Q8_0,
                    GgmlDType::Q4_0 => KvCacheType::Q4_0,
                    other => return Err(NotApplicable(format!("llama.cpp has no KV cache in {other:?}")).into()),
                };
                params.with_type_k(t).with_type_v(t)
            }
        };
        Ok(match self.flash {
            None => params,
            Some(true) => params.with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_ENABLED),
            Some(false) => params.with_flash_attention_policy(llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED),
        })
    }
}

pub struct LlamaCppModel {
    model: &'static LlamaModel,
    stats: LoadStats,
    attention: Attention,
    /// Made on first use for a batch shape and kept (a new context allocates its whole
    /// KV cache; the warm-up repetition pays for it), cleared between uses.
    ctx: RefCell<Option<Ctx>>,
}

impl LlamaCppModel {
    /// Runs `f` on a context for `seqs` sequences taking up to `n_batch` tokens per call, KV cleared.
    fn with_ctx<R>(
        &self,
        seqs: u32,
        n_batch: u32,
        f: impl FnOnce(&mut LlamaContext<'static>) -> Result<R>,
    ) -> Result<R> {
        let mut slot = self.ctx.borrow_mut();
        let fits = slot.as_ref().is_some_and(|c| c.seqs == seqs && c.n_batch >= n_batch);
        if !fits {
            *slot = None;
            let per_seq = CONTEXT_PER_SEQUENCE.min(self.model.n_ctx_train().max(256));
            let n_batch = n_batch.max(512);
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(per_seq * seqs))
                .with_n_batch(n_batch)
                .with_n_ubatch(n_batch)
                .with_n_seq_max(seqs)
                .with_n_threads(threads())
                .with_n_threads_batch(threads());
            let params = self.attention.apply(params)?;
            let ctx = self.model.new_context(backend()?, params).map_err(|e| anyhow!("llama.cpp context: {e}"))?;
            *slot = Some(Ctx { seqs, n_batch, ctx });
        }
        let c = slot.as_mut().expect("made above");
        c.ctx.clear_kv_cache();
        f(&mut c.ctx)
    }
}

fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best as u32
}

impl LoadedModel for LlamaCppModel {
    fn batch(&self, kv: KvMode) -> Result<Box<dyn Batch + '_>> {
        anyhow::ensure!(kv == KvMode::On, "llama.cpp keeps a KV cache");
        Ok(Box::new(LlamaCppBatch { model: self, seqs: 0 }))
    }

    fn step_ragged(&self, _segs: &mut [Segment<'_>]) -> Result<Vec<u32>> {
        Err(NotApplicable("engine `llamacpp` lacks the ragged batch step of the serving loop".into()).into())
    }

    fn log_probs(&self, tokens: &[u32]) -> Result<Tensor> {
        let n = tokens.len();
        let vocab = self.model.n_vocab() as usize;
        let rows = self.with_ctx(1, n as u32, |ctx| {
            let mut batch = LlamaBatch::new(n, 1);
            for (i, &t) in tokens.iter().enumerate() {
                batch.add(LlamaToken(t as i32), i as i32, &[0], true)?;
            }
            ctx.decode(&mut batch).map_err(|e| anyhow!("llama.cpp decode: {e}"))?;
            let mut all = Vec::with_capacity(n * vocab);
            for i in 0..n {
                all.extend_from_slice(&ctx.get_logits_ith(i as i32)[..vocab]);
            }
            Ok(all)
        })?;
        let logits = Tensor::from_vec(rows, (n, vocab), &Device::Cpu)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?)
    }

    fn layers(&self) -> usize {
        self.model.n_layer() as usize
    }

    fn load_stats(&self) -> &LoadStats {
        &self.stats
    }

    fn peak_memory_mb(&self) -> f64 {
        rss::peak_rss_mb()
    }
}

/// One generated batch: sequence `i` is llama.cpp's sequence id `i`.
struct LlamaCppBatch<'a> {
    model: &'a LlamaCppModel,
    seqs: usize,
}

impl Batch for LlamaCppBatch<'_> {
    fn prefill(&mut self, prompts: &[Vec<u32>]) -> Result<Vec<u32>> {
        let b = prompts.len();
        let total: usize = prompts.iter().map(Vec::len).sum();
        self.seqs = b;
        let vocab = self.model.model.n_vocab() as usize;
        self.model.with_ctx(b as u32, total as u32, |ctx| {
            let mut batch = LlamaBatch::new(total, b as i32);
            let mut last = Vec::with_capacity(b);
            for (s, p) in prompts.iter().enumerate() {
                for (i, &t) in p.iter().enumerate() {
                    let is_last = i + 1 == p.len();
                    batch.add(LlamaToken(t as i32), i as i32, &[s as i32], is_last)?;
                }
                last.push(batch.n_tokens() - 1);
            }
            ctx.decode(&mut batch).map_err(|e| anyhow!("llama.cpp decode: {e}"))?;
            Ok(last.iter().map(|&i| argmax(&ctx.get_logits_ith(i)[..vocab])).collect())
        })
    }

    fn decode(&mut self, seqs: &[Vec<u32>]) -> Result<Vec<u32>> {
        anyhow::ensure!(seqs.len() == self.seqs, "decode after a prefill of the same sequences");
        let vocab = self.model.model.n_vocab() as usize;
        let mut slot = self.model.ctx.borrow_mut();
        let ctx = &mut slot.as_mut().context("decode before prefill")?.ctx;
        let mut batch = LlamaBatch::new(seqs.len(), seqs.len() as i32);
        for (s, seq) in seqs.iter().enumerate() {
            let t = *seq.last().context("an empty sequence")?;
            batch.add(LlamaToken(t as i32), (seq.len() - 1) as i32, &[s as i32], true)?;
        }
        ctx.decode(&mut batch).map_err(|e| anyhow!("llama.cpp decode: {e}"))?;
        Ok((0..seqs.len()).map(|i| argmax(&ctx.get_logits_ith(i as i32)[..vocab])).collect())
    }
}
