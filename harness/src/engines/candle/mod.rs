//! Our candle engine: the Llama decoder of [`crate::models::llama`], run in this
//! process on candle's CPU kernels.

use std::path::Path;

use anyhow::Result;
use candle_core::{Device, Tensor, D};

use super::{Batch, Capabilities, Engine, LoadedModel, CANDLE_VERSION, DEFAULT_ENGINE};
use crate::engines::rss;
use crate::models::generate::KvMode;
use crate::models::kv_cache::KvState;
use crate::models::linear::LoadStats;
use crate::models::llama::{argmax_rows, Decoder, Logits, Segment};
use crate::models::weights::NotApplicable;
use crate::models::ModelSpec;
use crate::techniques::layer_skip::layers_to_skip;
use crate::techniques::ExecutionPlan;

pub struct CandleEngine;

impl Engine for CandleEngine {
    fn name(&self) -> &'static str {
        DEFAULT_ENGINE
    }

    fn version(&self) -> &'static str {
        CANDLE_VERSION
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn load(&self, spec: &ModelSpec, plan: &ExecutionPlan, hub_cache: &Path) -> Result<Box<dyn LoadedModel>> {
        let (mut src, _) = spec.open(hub_cache)?;
        // Skipped layers are never built: the model really is smaller and faster.
        let skip = layers_to_skip(src.config().num_layers, plan.skip_layers).map_err(NotApplicable)?;
        let decoder = Decoder::load_without(src.as_mut(), plan.weights, &skip)?;
        Ok(Box::new(CandleModel(decoder)))
    }
}

/// A [`Decoder`] behind the engine traits.
pub struct CandleModel(pub Decoder);

impl LoadedModel for CandleModel {
    fn batch(&self, kv: KvMode) -> Result<Box<dyn Batch + '_>> {
        let state = (kv == KvMode::On).then(|| self.0.new_kv());
        Ok(Box::new(CandleBatch { model: &self.0, state }))
    }

    fn step_ragged(&self, segs: &mut [Segment<'_>]) -> Result<Vec<u32>> {
        let logits = self.0.forward_segments(segs)?;
        argmax_rows(&logits)
    }

    fn log_probs(&self, tokens: &[u32]) -> Result<Tensor> {
        let n = tokens.len();
        let x = Tensor::from_slice(tokens, (1, n), &Device::Cpu)?;
        let logits = self.0.forward(&x, 0, None, Logits::All)?.squeeze(0)?;
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

/// A batch on the decoder: its KV state, or none when every step recomputes.
struct CandleBatch<'a> {
    model: &'a Decoder,
    state: Option<KvState>,
}

impl Batch for CandleBatch<'_> {
    fn prefill(&mut self, prompts: &[Vec<u32>]) -> Result<Vec<u32>> {
        let (b, plen) = (prompts.len(), prompts[0].len());
        let flat: Vec<u32> = prompts.concat();
        let x = Tensor::from_vec(flat, (b, plen), &Device::Cpu)?;
        let logits = self.model.forward(&x, 0, self.state.as_mut(), Logits::Last)?;
        argmax_rows(&logits)
    }

    fn decode(&mut self, seqs: &[Vec<u32>]) -> Result<Vec<u32>> {
        let (b, len) = (seqs.len(), seqs[0].len());
        let logits = match self.state.as_mut() {
            Some(st) => {
                let last: Vec<u32> = seqs.iter().map(|s| s[len - 1]).collect();
                let x = Tensor::from_vec(last, (b, 1), &Device::Cpu)?;
                self.model.forward(&x, len - 1, Some(st), Logits::Last)?
            }
            None => {
                let x = Tensor::from_vec(seqs.concat(), (b, len), &Device::Cpu)?;
                self.model.forward(&x, 0, None, Logits::Last)?
            }
        };
        argmax_rows(&logits)
    }
}
