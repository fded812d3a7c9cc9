//! Text to token ids: the model's own tokenizer, or bytes for synthetic models.

use anyhow::{anyhow, Result};
use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::tokenizer::TokenizerFromGguf;

pub enum TextTokenizer {
    /// A real tokenizer (for GGUF models, rebuilt from the file's metadata).
    Hf(Box<tokenizers::Tokenizer>),
    /// One token per byte; synthetic models have a vocabulary of at least 256.
    Bytes,
}

impl TextTokenizer {
    pub fn from_gguf(ct: &Content) -> Result<Self> {
        let t =
            tokenizers::Tokenizer::from_gguf(ct).map_err(|e| anyhow!("building tokenizer from GGUF metadata: {e}"))?;
        Ok(TextTokenizer::Hf(Box::new(t)))
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            TextTokenizer::Hf(t) => {
                Ok(t.encode(text, false).map_err(|e| anyhow!("tokenizing: {e}"))?.get_ids().to_vec())
            }
            TextTokenizer::Bytes => Ok(text.bytes().map(u32::from).collect()),
        }
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            TextTokenizer::Hf(t) => t.decode(ids, true).map_err(|e| anyhow!("detokenizing: {e}")),
            TextTokenizer::Bytes => Ok(ids.iter().map(|&i| (i.min(255) as u8) as char).collect()),
        }
    }
}
