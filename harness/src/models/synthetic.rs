//! Real Llama architecture, seeded random weights: fast tests and scale sweeps.
//! Accuracy on a synthetic model means fidelity to its own f32 reference only.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::llama::LlamaConfig;
use super::weights::{SourceTensor, WeightSource};

/// Size of a synthetic model, as written in a grid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    #[serde(default)]
    pub kv_heads: Option<usize>,
    pub intermediate: usize,
    #[serde(default = "default_vocab")]
    pub vocab: usize,
    #[serde(default = "default_max_seq")]
    pub max_seq: usize,
    #[serde(default)]
    pub seed: u64,
}

fn default_vocab() -> usize {
    512
}
fn default_max_seq() -> usize {
    1024
}

impl SyntheticSpec {
    pub fn config(&self) -> LlamaConfig {
        LlamaConfig {
            vocab_size: self.vocab,
            hidden_size: self.hidden,
            intermediate_size: self.intermediate,
            num_layers: self.layers,
            num_heads: self.heads,
            num_kv_heads: self.kv_heads.unwrap_or(self.heads),
            rope_theta: 10_000.0,
            rms_norm_eps: 1e-5,
            max_seq_len: self.max_seq,
            arch: Default::default(),
            key_length: None,
            sliding_window: None,
            rope_local_theta: None,
        }
    }
}

/// One generated tensor: its shape and the uniform range `offset ± scale`.
struct Slot {
    name: String,
    dims: Vec<usize>,
    scale: f32,
    offset: f32,
}

/// Every tensor of the model in generation order: one ChaCha8 stream seeded with
/// `spec.seed` fills them one after the other, one 32-bit word per value.
fn layout(cfg: &LlamaConfig) -> Vec<Slot> {
    let (h, kv, ff) = (cfg.hidden_size, cfg.num_kv_heads * cfg.head_dim(), cfg.intermediate_size);
    let mut out = Vec::new();
    let mut put =
        |name: String, dims: Vec<usize>, scale: f32, offset: f32| out.push(Slot { name, dims, scale, offset });
    // Uniform(-a, a) with a = sqrt(3 / fan_in): unit-variance activations.
    let lin = |fan_in: usize| (3.0 / fan_in as f32).sqrt();
    put("token_embd.weight".into(), vec![cfg.vocab_size, h], 1.0, 0.0);
    for i in 0..cfg.num_layers {
        put(format!("blk.{i}.attn_norm.weight"), vec![h], 0.1, 1.0);
        put(format!("blk.{i}.attn_q.weight"), vec![h, h], lin(h), 0.0);
        put(format!("blk.{i}.attn_k.weight"), vec![kv, h], lin(h), 0.0);
        put(format!("blk.{i}.attn_v.weight"), vec![kv, h], lin(h), 0.0);
        put(format!("blk.{i}.attn_output.weight"), vec![h, h], lin(h), 0.0);
        put(format!("blk.{i}.ffn_norm.weight"), vec![h], 0.1, 1.0);
        put(format!("blk.{i}.ffn_gate.weight"), vec![ff, h], lin(h), 0.0);
        put(format!("blk.{i}.ffn_up.weight"), vec![ff, h], lin(h), 0.0);
        put(format!("blk.{i}.ffn_down.weight"), vec![h, ff], lin(ff), 0.0);
    }
    put("output_norm.weight".into(), vec![h], 0.1, 1.0);
    put("output.weight".into(), vec![cfg.vocab_size, h], 2.0 * lin(h), 0.0);
    out
}

fn fill(rng: &mut ChaCha8Rng, slot: &Slot) -> Vec<f32> {
    let n = slot.dims.iter().product();
    (0..n).map(|_| slot.offset + slot.scale * (rng.random::<f32>() * 2.0 - 1.0)).collect()
}

/// The generated weights, kept as plain vectors so a test can recompute the
/// forward pass independently of candle. Holds the whole model in f32: the
/// harness loads through [`SyntheticSource`] instead.
pub struct SyntheticWeights {
    cfg: LlamaConfig,
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl SyntheticWeights {
    pub fn generate(spec: &SyntheticSpec) -> Self {
        let cfg = spec.config();
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let tensors = layout(&cfg)
            .into_iter()
            .map(|slot| {
                let v = fill(&mut rng, &slot);
                (slot.name, (slot.dims, v))
            })
            .collect();
        Self { cfg, tensors }
    }
}

/// The same weights as [`SyntheticWeights::generate`], made one tensor at a time when
/// the loader takes it (the stream is seeked to the tensor's first word), so loading
/// a quantized synthetic model never holds its whole f32 copy: peak memory is the
/// converted model plus one f32 tensor, as when loading a file.
pub struct SyntheticSource {
    cfg: LlamaConfig,
    seed: u64,
    /// Name → (slot, index of its first word in the stream).
    slots: BTreeMap<String, (Slot, u128)>,
}

impl SyntheticSource {
    pub fn new(spec: &SyntheticSpec) -> Self {
        let cfg = spec.config();
        let mut pos = 0u128;
        let slots = layout(&cfg)
            .into_iter()
            .map(|slot| {
                let start = pos;
                pos += slot.dims.iter().product::<usize>() as u128;
                (slot.name.clone(), (slot, start))
            })
            .collect();
        Self { cfg, seed: spec.seed, slots }
    }

    /// One tensor's values.
    pub fn values(&self, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let (slot, start) = self.slots.get(name).ok_or_else(|| anyhow!("synthetic model has no tensor {name}"))?;
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_word_pos(*start);
        Ok((slot.dims.clone(), fill(&mut rng, slot)))
    }
}

impl WeightSource for SyntheticSource {
    fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    fn take(&mut self, name: &str) -> Result<SourceTensor> {
        let (dims, v) = self.values(name)?;
        Ok(SourceTensor::Dense(Tensor::from_vec(v, dims.as_slice(), &Device::Cpu)?))
    }

    fn has(&self, name: &str) -> bool {
        self.slots.contains_key(name)
    }
}

impl WeightSource for SyntheticWeights {
    fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    fn take(&mut self, name: &str) -> Result<SourceTensor> {
        let (dims, v) = self.tensors.get(name).ok_or_else(|| anyhow!("synthetic model has no tensor {name}"))?;
        Ok(SourceTensor::Dense(Tensor::from_slice(v, dims.as_slice(), &Device::Cpu)?))
    }

    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_source_makes_exactly_the_eager_weights() {
        let spec = SyntheticSpec {
            layers: 2,
            hidden: 48,
            heads: 4,
            kv_heads: Some(2),
            intermediate: 80,
            vocab: 300,
            max_seq: 64,
            seed: 9,
        };
        let eager = SyntheticWeights::generate(&spec);
        let lazy = SyntheticSource::new(&spec);
        assert_eq!(eager.tensors.len(), lazy.slots.len());
        // In reverse order, so every tensor is found by seeking, not by continuing.
        for (name, (dims, v)) in eager.tensors.iter().rev() {
            let (d, w) = lazy.values(name).unwrap();
            assert_eq!((&d, &w), (dims, v), "{name}");
        }
    }
}
