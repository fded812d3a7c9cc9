//! Qwen2 (Qwen2.5 and Qwen2.5-Coder): Llama's layer with biases on the q/k/v projections,
//! RoPE over the two halves of each head, and an output head of its own (`output.weight`).
//! candle-transformers' `quantized_qwen2` is the reference our test holds it to.

use anyhow::Result;

use super::{Activation, Arch, Metadata, Traits};
use crate::models::llama::LlamaConfig;

pub const TRAITS: Traits = Traits {
    rope_halves: true,
    qkv_bias: true,
    qk_norm: false,
    post_norms: false,
    embed_scale: false,
    act: Activation::Silu,
};

pub fn config(md: &Metadata<'_>) -> Result<LlamaConfig> {
    md.common(Arch::Qwen2)
}
