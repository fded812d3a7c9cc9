//! Gemma 3 (270M and up). Against Llama's layer it changes:
//! - the embedding is multiplied by sqrt(hidden) before the first layer;
//! - heads are `key_length` wide (256), not hidden/heads, so q has more columns than the model is wide;
//! - each query and key head is RMS-normalised (its own weights) before RoPE, which turns the two halves of a head;
//! - attention and MLP outputs are RMS-normalised again before each residual add (four norms a layer);
//! - the MLP gate is GELU (tanh approximation), as llama.cpp runs it;
//! - five of every six layers are local: attention sees the last `sliding_window` (512) positions and RoPE turns
//!   at base 10 000; every sixth is global at the file's `rope.freq_base` (10⁶);
//! - the output head is the embedding (tied), and the GGUF stores norm weights with Gemma's `1 +` already added.
//!
//! Its tokenizer is SentencePiece (BPE); the GGUF carries the pieces, their scores and types but no merges, so
//! [`tokenizer`] derives the merges from the scores and builds it with the tokenizers crate (byte fallback,
//! `▁` for spaces, a BOS in front as the file asks). A Unigram model over the same scores, tried first,
//! split "The capital of France is" into 10 pieces where llama.cpp finds 5, and the model answered nonsense.

use anyhow::{anyhow, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::replace::Replace;
use tokenizers::{AddedToken, DecoderWrapper};

use super::{Activation, Arch, Metadata, Traits};
use crate::models::llama::LlamaConfig;

pub const TRAITS: Traits = Traits {
    rope_halves: true,
    qkv_bias: false,
    qk_norm: true,
    post_norms: true,
    embed_scale: true,
    act: Activation::GeluTanh,
};

/// Every `GLOBAL_EVERY`-th layer attends globally; the others are local (sliding window).
const GLOBAL_EVERY: usize = 6;
/// RoPE base of the local layers when the file does not say.
const LOCAL_ROPE_BASE: f32 = 10_000.0;

pub fn config(md: &Metadata<'_>) -> Result<LlamaConfig> {
    let mut cfg = md.common(Arch::Gemma3)?;
    cfg.rope_theta = md.f32_or("rope.freq_base", 1_000_000.0);
    cfg.key_length = Some(md.usize("attention.key_length")?);
    cfg.sliding_window = Some(md.usize("attention.sliding_window")?);
    cfg.rope_local_theta = Some(md.f32_or("rope.local_freq_base", LOCAL_ROPE_BASE));
    Ok(cfg)
}

/// Whether layer `i` (of the file's numbering) is a local, sliding-window layer.
pub fn is_local(i: usize) -> bool {
    !(i + 1).is_multiple_of(GLOBAL_EVERY)
}

/// GELU, tanh approximation: `x/2 · (1 + tanh(√(2/π)(x + 0.044715 x³)))`.
#[inline]
pub fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    let u = C * (x + 0.044_715 * x * x * x);
    // tanh(u) = 1 - 2/(e^{2u}+1), with the decoder's branch-free exp.
    let t = 1.0 - 2.0 / (crate::models::llama::exp(2.0 * u) + 1.0);
    0.5 * x * (1.0 + t)
}

fn strings(ct: &Content, key: &str) -> Result<Vec<String>> {
    match ct.metadata.get(key) {
        Some(Value::Array(a)) => a.iter().map(|v| Ok(v.to_string()?.clone())).collect(),
        _ => Err(anyhow!("missing metadata array {key}")),
    }
}

fn numbers(ct: &Content, key: &str) -> Result<Vec<f64>> {
    match ct.metadata.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| match v {
                Value::F32(x) => Ok(*x as f64),
                Value::I32(x) => Ok(*x as f64),
                Value::U32(x) => Ok(*x as f64),
                other => Ok(other.to_u32()? as f64),
            })
            .collect(),
        _ => Err(anyhow!("missing metadata array {key}")),
    }
}

/// The SentencePiece tokenizer of a Gemma GGUF, and its BOS id when the file asks for one.
///
/// Gemma's SentencePiece model is BPE: starting from characters, the adjacent pair whose
/// concatenation is the highest-scoring piece merges first (llama.cpp's SPM tokenizer). The
/// GGUF keeps pieces and scores but no merge list, so the merges are derived here: every split
/// of a piece into two pieces, ranked by the piece's score (then by the two halves' ids).
pub fn tokenizer(ct: &Content) -> Result<(tokenizers::Tokenizer, Option<u32>)> {
    let pieces = strings(ct, "tokenizer.ggml.tokens")?;
    let scores = numbers(ct, "tokenizer.ggml.scores")?;
    let types = numbers(ct, "tokenizer.ggml.token_type")?;
    anyhow::ensure!(pieces.len() == scores.len() && pieces.len() == types.len(), "tokenizer arrays differ in length");
    // llama.cpp's token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte.
    let (mut control, mut user) = (Vec::new(), Vec::new());
    let mut vocab = tokenizers::models::bpe::Vocab::with_capacity(pieces.len());
    for (i, (p, &t)) in pieces.iter().zip(&types).enumerate() {
        match t as u32 {
            3 => control.push(p.clone()),
            4 => user.push(p.clone()),
            _ => {}
        }
        vocab.insert(p.clone(), i as u32);
    }
    let mut merges: Vec<(f64, u32, u32, String, String)> = Vec::new();
    for (p, (&score, &t)) in pieces.iter().zip(scores.iter().zip(&types)) {
        if t as u32 != 1 {
            continue;
        }
        for (cut, _) in p.char_indices().skip(1) {
            let (a, b) = p.split_at(cut);
            if let (Some(&ia), Some(&ib)) = (vocab.get(a), vocab.get(b)) {
                merges.push((score, ia, ib, a.to_string(), b.to_string()));
            }
        }
    }
    merges.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)).then(x.2.cmp(&y.2)));
    let merges: Vec<(String, String)> = merges.into_iter().map(|(_, _, _, a, b)| (a, b)).collect();
    let unk = ct.metadata.get("tokenizer.ggml.unknown_token_id").and_then(|v| v.to_u32().ok());
    let mut bpe = BPE::builder().vocab_and_merges(vocab, merges).byte_fallback(true);
    if let Some(u) = unk.and_then(|u| pieces.get(u as usize)) {
        bpe = bpe.unk_token(u.clone());
    }
    let model = bpe.build().map_err(|e| anyhow!("building the BPE model: {e}"))?;
    let mut tok = tokenizers::Tokenizer::new(model);
    tok.with_normalizer(Some(Replace::new(" ", "▁").map_err(|e| anyhow!("{e}"))?)).map_err(|e| anyhow!("{e}"))?;
    tok.with_decoder(Some(Sequence::new(vec![
        DecoderWrapper::Replace(tokenizers::normalizers::replace::Replace::new("▁", " ").map_err(|e| anyhow!("{e}"))?),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ])));
    // User-defined pieces (runs of newlines, HTML tags) match whole, as SentencePiece matches them;
    // control pieces are special (never produced from text, dropped when decoding).
    tok.add_tokens(user.into_iter().map(|p| AddedToken::from(p, false).normalized(false)).collect::<Vec<_>>())
        .map_err(|e| anyhow!("{e}"))?;
    tok.add_special_tokens(control.into_iter().map(|p| AddedToken::from(p, true)).collect::<Vec<_>>())
        .map_err(|e| anyhow!("{e}"))?;
    let add_bos = ct.metadata.get("tokenizer.ggml.add_bos_token").and_then(|v| v.to_bool().ok()).unwrap_or(false);
    let bos = ct.metadata.get("tokenizer.ggml.bos_token_id").and_then(|v| v.to_u32().ok());
    Ok((tok, if add_bos { bos } else { None }))
}
