//! Text embeddings of task descriptions with all-MiniLM-L6-v2 (a 6-layer BERT
//! sentence encoder) run in candle: mean pooling over tokens, unit length, as the
//! sentence-transformers recipe does. MetaInf embeds model, hardware and data
//! descriptions with a language model; this is the same idea at 22M parameters.
//!
//! Optional: without the model in the hub cache, evaluation runs on the numeric
//! features alone and says so.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

use crate::models::hub;

pub const REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Longest input the model was trained on (word pieces).
const MAX_TOKENS: usize = 256;

pub struct Embedder {
    model: BertModel,
    tokenizer: Tokenizer,
}

impl Embedder {
    /// Loads the encoder from the hub cache; `Ok(None)` when it is not there.
    pub fn from_hub_cache(cache: &Path) -> Result<Option<Embedder>> {
        let file = |name: &str| hub::resolve(cache, REPO, "main", name);
        let (Some(config), Some(tokenizer), Some(weights)) =
            (file("config.json"), file("tokenizer.json"), file("model.safetensors"))
        else {
            return Ok(None);
        };
        let config: Config = serde_json::from_str(
            &std::fs::read_to_string(&config).with_context(|| format!("reading {}", config.display()))?,
        )
        .with_context(|| format!("parsing {}", config.display()))?;
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer).map_err(|e| anyhow::anyhow!("loading {}: {e}", tokenizer.display()))?;
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams { max_length: MAX_TOKENS, ..Default::default() }))
            .map_err(|e| anyhow::anyhow!("tokenizer truncation: {e}"))?;
        tokenizer.with_padding(None);
        let tensors = candle_core::safetensors::load(&weights, &Device::Cpu)
            .with_context(|| format!("reading {}", weights.display()))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let model = BertModel::load(vb, &config).context("building the MiniLM encoder")?;
        Ok(Some(Embedder { model, tokenizer }))
    }

    /// Unit-length sentence embedding (384 numbers) of `text`.
    pub fn embed(&self, text: &str) -> Result<Vec<f64>> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        let ids = Tensor::new(enc.get_ids(), &Device::Cpu)?.unsqueeze(0)?;
        let types = ids.zeros_like()?;
        let mask = Tensor::new(enc.get_attention_mask(), &Device::Cpu)?.unsqueeze(0)?;
        let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (1, tokens, 384)
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let pooled = hidden.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?.clamp(1e-9, f64::MAX)?)?;
        let v: Vec<f32> = pooled.squeeze(0)?.to_vec1()?;
        let norm = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
        Ok(v.iter().map(|x| *x as f64 / norm).collect())
    }
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoder's files are read by crates that bound what they allocate: a safetensors header
    /// whose length or offsets lie, or a tokenizer file cut short, is an error naming nothing
    /// allocated by the claim (what `harness` relies on; see README "What can go wrong").
    #[test]
    fn lying_or_cut_encoder_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let header = br#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#;
        let sound = [&(header.len() as u64).to_le_bytes()[..], header, &[0u8; 16]].concat();
        assert!(candle_core::safetensors::load(write("ok.safetensors", &sound), &Device::Cpu).is_ok());
        let huge = [&(1u64 << 60).to_le_bytes()[..], header, &[0u8; 16]].concat();
        let cut = &sound[..sound.len() - 4];
        let past = [&(header.len() as u64).to_le_bytes()[..], &header[..], &[0u8; 8]].concat();
        for (name, bytes) in [("huge", &huge[..]), ("cut", cut), ("past", &past[..]), ("empty", &[][..])] {
            let p = write(&format!("{name}.safetensors"), bytes);
            assert!(candle_core::safetensors::load(&p, &Device::Cpu).is_err(), "{name} accepted");
        }
        let tok = write("tokenizer.json", br#"{"version":"1.0","truncation":null,"model":{"type":"Word"#);
        assert!(Tokenizer::from_file(tok).is_err());
    }

    /// Runs only where the set-up script fetched the model (`scripts/fetch_models.sh`).
    #[test]
    fn similar_descriptions_embed_close() {
        let cache = crate::require::hub_cache();
        let Some(e) = Embedder::from_hub_cache(&cache).unwrap().or_else(|| {
            crate::require::Resource::Models
                .missing(&format!("all-MiniLM-L6-v2 is not in {} (run scripts/fetch_models.sh)", cache.display()))
        }) else {
            return;
        };
        let a = e.embed("short prompt, long answer, one request at a time").unwrap();
        let b = e.embed("a brief prompt and a long reply, a single request").unwrap();
        let c = e.embed("the price of a cloud virtual machine per hour").unwrap();
        assert_eq!(a.len(), 384);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-6);
        assert!(cosine(&a, &b) > cosine(&a, &c) + 0.1, "{} vs {}", cosine(&a, &b), cosine(&a, &c));
    }
}
