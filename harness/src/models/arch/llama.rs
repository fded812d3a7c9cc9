//! Llama (SmolLM2 and our synthetic models): the decoder of [`crate::models::llama`] as it is.

use anyhow::Result;

use super::{Activation, Arch, Metadata, Traits};
use crate::models::llama::LlamaConfig;

pub const TRAITS: Traits = Traits {
    rope_halves: false,
    qkv_bias: false,
    qk_norm: false,
    post_norms: false,
    embed_scale: false,
    act: Activation::Silu,
};

pub fn config(md: &Metadata<'_>) -> Result<LlamaConfig> {
    md.common(Arch::Llama)
}
