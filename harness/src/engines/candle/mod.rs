//! Our candle engine: the Llama decoder of [`crate::models::llama`], run in this
//! process on candle's CPU kernels.

use std::path::Path;

use anyhow::Result;
use candle_core::{Device, Tensor, D};

use super::{Batch, Capabilities, Engine, LoadedModel, CANDLE_VERSION, DEFAULT_ENGINE};
use crate::engines::rss;
use crate::models::generate::KvMode;
use crate::models::linear::LoadStats;
use crate::models::llama::{argmax_flat, argmax_rows, Decoder, FlatKv, KvFormat, LoadOptions, Logits, Segment};
use crate::models::weights::NotApplicable;
use crate::models::ModelSpec;
use crate::models::WeightFormat;
use crate::techniques::layer_skip::layers_to_skip;
use crate::techniques::{Draft, ExecutionPlan};
use candle_core::quantized::GgmlDType;

mod speculative;
pub use speculative::Speculator;

pub struct CandleEngine;

impl Engine for CandleEngine {
    fn name(&self) -> &'static str {
        DEFAULT_ENGINE
    }

    fn version(&self) -> &'static str {
        CANDLE_VERSION
    }

    fn capabilities(&self) -> Capabilities {
        // Our KV cache is f32, or 8-bit with a scale per 32 values (flat forward); attention is its own fused loop.
        Capabilities {
            recompute: true,
            ragged_step: true,
            layer_skip: true,
            log_probs: true,
            kv_dtypes: &[GgmlDType::F32, GgmlDType::Q8_0],
            flash_attention: false,
            prune: true,
            speculative: true,
        }
    }

    fn check(&self, plan: &ExecutionPlan, serving: bool) -> Result<()> {
        if let Some(why) = self.capabilities().lacking(self.name(), plan, serving) {
            return Err(NotApplicable(why).into());
        }
        if serving && plan.kv_dtype.is_some_and(|d| d != GgmlDType::F32) {
            // The serving loop's ragged step runs the tensor path, whose cache is f32.
            return Err(NotApplicable(format!("engine `{}` keeps serving caches in f32 only", self.name())).into());
        }
        Ok(())
    }

    fn load(&self, spec: &ModelSpec, plan: &ExecutionPlan, hub_cache: &Path) -> Result<Box<dyn LoadedModel>> {
        let decoder = build_decoder(spec, plan, hub_cache, None)?;
        let draft = match &plan.speculative {
            None => None,
            Some(sp) => {
                let (mut src, _) = spec.open(hub_cache)?;
                let d = match sp.draft {
                    Draft::Format(f) => Decoder::load(src.as_mut(), f)?,
                    Draft::SkipLayers(n) => {
                        let skip = layers_to_skip(src.config().num_layers, n).map_err(NotApplicable)?;
                        Decoder::load_without(src.as_mut(), plan.weights, &skip)?
                    }
                    Draft::Model(ref name) => {
                        let dspec = plan
                            .draft_spec
                            .as_ref()
                            .ok_or_else(|| anyhow::anyhow!("draft model `{name}` was not resolved from the grid"))?;
                        // The draft runs in the file's own format (a small model drafting as shipped).
                        let d = Decoder::load(dspec.open(hub_cache)?.0.as_mut(), WeightFormat::Native)?;
                        if d.config().vocab_size != decoder.config().vocab_size {
                            return Err(NotApplicable(format!(
                                "draft `{name}` has a vocabulary of {}, the model {}: they must share a tokenizer",
                                d.config().vocab_size,
                                decoder.config().vocab_size
                            ))
                            .into());
                        }
                        d
                    }
                };
                Some(Speculator { draft: d, k: sp.k, stats: Default::default() })
            }
        };
        Ok(Box::new(CandleModel(decoder, draft)))
    }
}

/// A [`Decoder`] behind the engine traits, with the draft of speculative decoding when the plan has one.
pub struct CandleModel(pub Decoder, pub Option<Speculator>);

impl LoadedModel for CandleModel {
    fn batch(&self, kv: KvMode) -> Result<Box<dyn Batch + '_>> {
        if let Some(sp) = &self.1 {
            return Ok(Box::new(speculative::SpecBatch::new(&self.0, sp)));
        }
        Ok(Box::new(CandleBatch { model: &self.0, kv_on: kv == KvMode::On, state: None }))
    }

    fn run_stats(&self) -> serde_json::Value {
        let mut v = serde_json::json!({ "parameters": self.0.parameters(), "layers_kept": self.0.kept_layers() });
        if let Some(sp) = &self.1 {
            v["speculation"] = sp.stats.to_json();
        }
        v
    }

    fn step_ragged(&self, segs: &mut [Segment<'_>]) -> Result<Vec<u32>> {
        let logits = self.0.forward_segments(segs)?;
        argmax_rows(&logits)
    }

    /// Teacher-forced scoring by the model's own forward pass. The draft and the KV mode are
    /// decoding loops and do not enter: that is why those techniques' accuracy is stored as
    /// exact by construction (`record::accuracy`), and their loops are checked token for token
    /// against plain greedy decoding by `tests/it/exact_techniques.rs`.
    fn log_probs(&self, tokens: &[u32]) -> Result<Tensor> {
        let n = tokens.len();
        let mut kv = self.0.new_flat_kv(1);
        let logits = self.0.forward_flat(tokens, 1, 0, &mut kv, Logits::All)?;
        let logits = Tensor::from_vec(logits, (n, self.0.config().vocab_size), &Device::Cpu)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?)
    }

    fn layers(&self) -> usize {
        self.0.layers()
    }

    fn load_stats(&self) -> &LoadStats {
        &self.0.load_stats
    }

    fn peak_memory_mb(&self) -> f64 {
        // Each cell runs in its own worker process, so its peak RSS is the cell's.
        rss::peak_rss_mb()
    }
}

/// A batch on the decoder, run by its flat forward: its KV cache, or, when every
/// step recomputes, a fresh one per step.
struct CandleBatch<'a> {
    model: &'a Decoder,
    kv_on: bool,
    state: Option<FlatKv>,
}

impl CandleBatch<'_> {
    fn step(&mut self, flat: &[u32], b: usize, pos: usize) -> Result<Vec<u32>> {
        let vocab = self.model.config().vocab_size;
        let kv = self.state.get_or_insert_with(|| self.model.new_flat_kv(b));
        let logits = self.model.forward_flat(flat, b, pos, kv, Logits::Last)?;
        Ok(argmax_flat(&logits, vocab))
    }
}

impl Batch for CandleBatch<'_> {
    fn prefill(&mut self, prompts: &[Vec<u32>]) -> Result<Vec<u32>> {
        self.state = None;
        let out = self.step(&prompts.concat(), prompts.len(), 0);
        if !self.kv_on {
            self.state = None;
        }
        out
    }

    fn decode(&mut self, seqs: &[Vec<u32>]) -> Result<Vec<u32>> {
        let (b, len) = (seqs.len(), seqs[0].len());
        if self.kv_on {
            let last: Vec<u32> = seqs.iter().map(|s| s[len - 1]).collect();
            self.step(&last, b, len - 1)
        } else {
            // No cache: the whole sequence again, as the technique says.
            self.state = None;
            let out = self.step(&seqs.concat(), b, 0);
            self.state = None;
            out
        }
    }
}

/// The decoder `plan` asks for (weight format, layers left out, pruning, low rank, KV format),
/// whole or only the layers of one pipeline `stage`. Importance scores of structured pruning
/// and calibrated layer skipping are computed on the whole model either way.
pub fn build_decoder(
    spec: &ModelSpec,
    plan: &ExecutionPlan,
    hub_cache: &Path,
    stage: Option<std::ops::Range<usize>>,
) -> Result<Decoder> {
    let mut src = spec.weights(hub_cache)?;
    // Skipped layers are never built: the model really is smaller and faster.
    let mut skip = if plan.skip_by_change {
        vec![]
    } else {
        layers_to_skip(src.config().num_layers, plan.skip_layers).map_err(NotApplicable)?
    };
    let mut structure = None;
    if plan.structured.is_some() || plan.skip_by_change {
        // Importance is scored on the whole model as the file stores it, then the file is read again.
        let whole = Decoder::load(src.as_mut(), WeightFormat::Native)?;
        // One pass over the calibration text scores heads, channels and layers alike.
        let probe = whole.probe(&plan.calibration)?;
        if let Some(f) = plan.structured {
            structure = Some(whole.structure_for(&probe, f)?);
        }
        if plan.skip_by_change {
            skip = whole.least_changing_layers(&probe, plan.skip_layers)?;
        }
        drop(whole);
        src = spec.weights(hub_cache)?;
    }
    let opt = LoadOptions { skip, sparsity: plan.sparsity, structure, low_rank: plan.low_rank, stage };
    let mut decoder = Decoder::load_with(src.as_mut(), plan.weights, &opt)?;
    if plan.kv_dtype == Some(GgmlDType::Q8_0) {
        decoder.set_kv_format(KvFormat::Q8)?;
    }
    Ok(decoder)
}
