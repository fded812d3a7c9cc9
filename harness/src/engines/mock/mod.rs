//! A mock engine with scripted costs and deterministic tokens, for fast tests of
//! measurement, verdicts and scheduling without a real model. Reachable by name
//! through [`super::by_name`] but not in [`super::names`]: no grid selects it.
//!
//! Every call sleeps for its scripted cost (the callers time with real clocks,
//! and that timing code is what the tests exercise). The next token of a sequence
//! is a fixed function of its last token and that token's position, so a request
//! decodes to the same tokens alone, batched, chunked or from a cached prefix.

use std::cell::Cell;
use std::path::Path;
use std::time::Duration;

use anyhow::{ensure, Result};
use candle_core::{DType, Device, Tensor, D};

use super::{Batch, Capabilities, Engine, LoadedModel};
use crate::models::generate::KvMode;
use crate::models::linear::LoadStats;
use crate::models::llama::Segment;
use crate::models::weights::NotApplicable;
use crate::models::ModelSpec;
use crate::techniques::layer_skip::layers_to_skip;
use crate::techniques::ExecutionPlan;

pub const NAME: &str = "mock";

/// What each call costs and what the engine can do.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Cost of every call (a prefill, a decode step, a ragged step), whatever it carries.
    pub per_call: Duration,
    /// Cost of every token a call computes (a recomputing decode computes them all again).
    pub per_token: Duration,
    /// Cost multipliers, cycled: one per batch (a repetition of a plain cell, all its
    /// calls alike) and one per ragged step. Empty: no noise.
    pub noise: Vec<f64>,
    pub capabilities: Capabilities,
    /// Reported peak memory; `None`: the weights' size.
    pub peak_memory_mb: Option<f64>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            per_call: Duration::from_micros(200),
            per_token: Duration::from_micros(10),
            noise: vec![],
            capabilities: Capabilities::ALL,
            peak_memory_mb: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MockEngine {
    pub script: Script,
}

impl MockEngine {
    pub fn new(script: Script) -> Self {
        Self { script }
    }

    /// A model without a weight source: `layers` layers over a `vocab`-token vocabulary.
    pub fn model(&self, layers: usize, vocab: usize) -> MockModel {
        let stats = LoadStats { linear_tensors: 7 * layers + 1, weight_bytes: layers << 20, ..LoadStats::default() };
        MockModel { script: self.script.clone(), layers, vocab, stats, batches: Cell::new(0), steps: Cell::new(0) }
    }
}

impl Engine for MockEngine {
    fn name(&self) -> &'static str {
        NAME
    }

    fn version(&self) -> &'static str {
        "mock-1"
    }

    fn capabilities(&self) -> Capabilities {
        self.script.capabilities
    }

    fn load(&self, spec: &ModelSpec, plan: &ExecutionPlan, hub_cache: &Path) -> Result<Box<dyn LoadedModel>> {
        // The header alone: the mock needs the shape, never the weights.
        let (src, _) = spec.open(hub_cache)?;
        let cfg = src.config().clone();
        let skip = layers_to_skip(cfg.num_layers, plan.skip_layers).map_err(NotApplicable)?;
        let mut m = self.model(cfg.num_layers - skip.len(), cfg.vocab_size);
        // Weights as the plan would store them (32 bits for the file's own format).
        m.stats.weight_bytes = (cfg.parameters() as f64 * plan.bits_per_weight(32.0) / 8.0) as usize;
        Ok(Box::new(m))
    }
}

/// A loaded mock model; counts its batches and ragged steps to cycle the noise.
pub struct MockModel {
    script: Script,
    layers: usize,
    vocab: usize,
    stats: LoadStats,
    batches: Cell<usize>,
    steps: Cell<usize>,
}

impl MockModel {
    /// The token after `last` at position `pos`.
    pub fn next_token(&self, last: u32, pos: usize) -> u32 {
        ((last as u64 * 31 + pos as u64 * 7 + 1) % self.vocab as u64) as u32
    }

    /// Sleep for a call computing `tokens` tokens, scaled by noise entry `k`.
    fn spend(&self, tokens: usize, k: usize) {
        let s = &self.script;
        let scale = if s.noise.is_empty() { 1.0 } else { s.noise[k % s.noise.len()] };
        let cost = (s.per_call + s.per_token * tokens as u32).mul_f64(scale);
        if !cost.is_zero() {
            std::thread::sleep(cost);
        }
    }
}

impl LoadedModel for MockModel {
    fn batch(&self, kv: KvMode) -> Result<Box<dyn Batch + '_>> {
        ensure!(kv == KvMode::On || self.script.capabilities.recompute, NotApplicable("mock: no recompute".into()));
        let k = self.batches.get();
        self.batches.set(k + 1);
        Ok(Box::new(MockBatch { model: self, kv, k }))
    }

    fn step_ragged(&self, segs: &mut [Segment<'_>]) -> Result<Vec<u32>> {
        ensure!(self.script.capabilities.ragged_step, NotApplicable("mock: no ragged step".into()));
        let k = self.steps.get();
        self.steps.set(k + 1);
        self.spend(segs.iter().map(|s| s.tokens.len()).sum(), k);
        let mut next = Vec::with_capacity(segs.len());
        for s in segs.iter_mut() {
            let l = s.tokens.len();
            // One-wide keys/values, so the scheduler's block and prefix bookkeeping runs for real.
            let z = Tensor::zeros((1, 1, l, 1), DType::F32, &Device::Cpu)?;
            for layer in 0..self.layers {
                s.kv.append(layer, &z, &z)?;
            }
            next.push(self.next_token(s.tokens[l - 1], s.pos + l - 1));
        }
        Ok(next)
    }

    fn log_probs(&self, tokens: &[u32]) -> Result<Tensor> {
        ensure!(self.script.capabilities.log_probs, NotApplicable("mock: no log-probabilities".into()));
        let (n, v) = (tokens.len(), self.vocab);
        let mut logits = vec![0f32; n * v];
        for (i, &t) in tokens.iter().enumerate() {
            logits[i * v + self.next_token(t, i) as usize] = 4.0;
        }
        let logits = Tensor::from_vec(logits, (n, v), &Device::Cpu)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?)
    }

    fn layers(&self) -> usize {
        self.layers
    }

    fn load_stats(&self) -> &LoadStats {
        &self.stats
    }

    fn peak_memory_mb(&self) -> f64 {
        self.script.peak_memory_mb.unwrap_or(self.stats.weight_bytes as f64 / (1024.0 * 1024.0))
    }
}

struct MockBatch<'a> {
    model: &'a MockModel,
    kv: KvMode,
    /// Which batch of the model this is (its noise entry).
    k: usize,
}

impl Batch for MockBatch<'_> {
    fn prefill(&mut self, prompts: &[Vec<u32>]) -> Result<Vec<u32>> {
        self.model.spend(prompts.iter().map(Vec::len).sum(), self.k);
        Ok(prompts.iter().map(|p| self.model.next_token(p[p.len() - 1], p.len() - 1)).collect())
    }

    fn decode(&mut self, seqs: &[Vec<u32>]) -> Result<Vec<u32>> {
        let computed = match self.kv {
            KvMode::On => seqs.len(),
            KvMode::Off => seqs.iter().map(Vec::len).sum(),
        };
        self.model.spend(computed, self.k);
        Ok(seqs.iter().map(|s| self.model.next_token(s[s.len() - 1], s.len() - 1)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::synthetic::SyntheticSpec;

    fn spec() -> ModelSpec {
        ModelSpec::Synthetic(SyntheticSpec {
            layers: 4,
            hidden: 64,
            heads: 4,
            kv_heads: Some(2),
            intermediate: 128,
            vocab: 300,
            max_seq: 256,
            seed: 1,
        })
    }

    #[test]
    fn loads_the_plan_shape_and_scores_its_own_picks_as_likely() {
        let mut plan = ExecutionPlan::default();
        plan.skip_layers = 1;
        let m = MockEngine::default().load(&spec(), &plan, Path::new("/nonexistent")).unwrap();
        assert_eq!(m.layers(), 3);
        assert!(m.weight_bytes() > 0);
        let mut b = m.batch(KvMode::On).unwrap();
        let first = b.prefill(&[vec![5, 6, 7]]).unwrap();
        let lp = m.log_probs(&[5, 6, 7]).unwrap();
        let best = lp.argmax(D::Minus1).unwrap().to_vec1::<u32>().unwrap();
        assert_eq!(best[2], first[0], "log-probabilities peak on the token decoding picks");
    }

    #[test]
    fn a_missing_capability_fails_as_not_applicable() {
        let script =
            Script { capabilities: Capabilities { recompute: false, ..Capabilities::ALL }, ..Script::default() };
        let m = MockEngine::new(script).model(2, 256);
        let e = m.batch(KvMode::Off).err().unwrap();
        assert!(e.downcast_ref::<NotApplicable>().is_some());
    }
}
