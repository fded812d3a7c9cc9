//! Decoder architectures read from GGUF files: one file per architecture, each saying
//! how its metadata maps to a [`LlamaConfig`] and which parts of the shared decoder
//! ([`crate::models::llama`]) it uses. A new architecture is one file here and one line
//! in [`Arch::traits`] and [`config_from_gguf`].

pub mod gemma3;
pub mod llama;
pub mod qwen2;

use anyhow::{anyhow, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use serde::{Deserialize, Serialize};

use super::llama::LlamaConfig;

/// The architecture of a decoder: which forward it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// Llama: interleaved RoPE, SwiGLU, two RMSNorms per layer (SmolLM2, synthetic models).
    #[default]
    Llama,
    /// Qwen2: Llama plus biases on q/k/v, half-split RoPE, a separate output head.
    Qwen2,
    /// Gemma 3: scaled embedding, per-head q/k norms, norms after attention and MLP too,
    /// GELU-gated MLP, local sliding-window layers between global ones.
    Gemma3,
}

/// How an architecture's layer computes, read by the shared forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// RoPE over the two halves of a head (GPT-NeoX style) rather than adjacent pairs.
    pub rope_halves: bool,
    /// Biases on the q, k and v projections.
    pub qkv_bias: bool,
    /// RMSNorm of every query and key head before RoPE.
    pub qk_norm: bool,
    /// RMSNorm of the attention and MLP outputs before each residual add.
    pub post_norms: bool,
    /// The embedding is multiplied by sqrt(hidden).
    pub embed_scale: bool,
    /// The MLP's gate activation.
    pub act: Activation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Silu,
    /// GELU, tanh approximation.
    GeluTanh,
}

impl Arch {
    pub fn is_llama(&self) -> bool {
        *self == Arch::Llama
    }

    pub fn traits(self) -> Traits {
        match self {
            Arch::Llama => llama::TRAITS,
            Arch::Qwen2 => qwen2::TRAITS,
            Arch::Gemma3 => gemma3::TRAITS,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Gemma3 => "gemma3",
        }
    }
}

/// The decoder configuration of a GGUF file, by its `general.architecture`.
pub fn config_from_gguf(ct: &Content) -> Result<LlamaConfig> {
    let arch = ct.metadata.get("general.architecture").and_then(|v| v.to_string().ok()).cloned().unwrap_or_default();
    let md = Metadata { ct, prefix: arch.clone() };
    match arch.as_str() {
        "llama" => llama::config(&md),
        "qwen2" => qwen2::config(&md),
        "gemma3" => gemma3::config(&md),
        other => anyhow::bail!("architecture `{other}` is not supported (llama, qwen2 and gemma3 are)"),
    }
}

/// Metadata of one architecture's keys (`<arch>.<key>`).
pub struct Metadata<'a> {
    pub ct: &'a Content,
    prefix: String,
}

impl Metadata<'_> {
    pub fn get(&self, key: &str) -> Result<&Value> {
        let k = format!("{}.{key}", self.prefix);
        self.ct.metadata.get(&k).ok_or_else(|| anyhow!("missing metadata key {k}"))
    }

    pub fn usize(&self, key: &str) -> Result<usize> {
        Ok(self.get(key)?.to_u32()? as usize)
    }

    pub fn f32_or(&self, key: &str, default: f32) -> f32 {
        self.get(key).and_then(|v| Ok(v.to_f32()?)).unwrap_or(default)
    }

    /// Vocabulary size, from the embedding table.
    pub fn vocab(&self) -> Result<usize> {
        match self.ct.tensor_infos.get("token_embd.weight") {
            Some(t) => Ok(t.shape.dims()[0]),
            None => anyhow::bail!("no token_embd.weight tensor"),
        }
    }

    /// The sizes every Llama-like architecture states the same way.
    pub fn common(&self, arch: Arch) -> Result<LlamaConfig> {
        Ok(LlamaConfig {
            vocab_size: self.vocab()?,
            hidden_size: self.usize("embedding_length")?,
            intermediate_size: self.usize("feed_forward_length")?,
            num_layers: self.usize("block_count")?,
            num_heads: self.usize("attention.head_count")?,
            num_kv_heads: self.usize("attention.head_count_kv")?,
            rope_theta: self.f32_or("rope.freq_base", 10_000.0),
            rms_norm_eps: self.get("attention.layer_norm_rms_epsilon")?.to_f32()? as f64,
            max_seq_len: self.usize("context_length").unwrap_or(2048).min(4096),
            arch,
            key_length: None,
            sliding_window: None,
            rope_local_theta: None,
        })
    }
}
