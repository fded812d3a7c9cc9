//! Text to token ids: the model's own tokenizer, or bytes for synthetic models.

use anyhow::{anyhow, Result};
use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::tokenizer::TokenizerFromGguf;

pub enum TextTokenizer {
    /// A real tokenizer (for GGUF models, rebuilt from the file's metadata), and the
    /// BOS id put in front of every text when the model asks for one (Gemma).
    Hf(Box<tokenizers::Tokenizer>, Option<u32>),
    /// One token per byte; synthetic models have a vocabulary of at least 256.
    Bytes,
}

impl TextTokenizer {
    pub fn from_gguf(ct: &Content) -> Result<Self> {
        let kind = ct.metadata.get("tokenizer.ggml.model").and_then(|v| v.to_string().ok()).cloned();
        if kind.as_deref() == Some("llama") {
            // SentencePiece: candle's `from_gguf` builds only BPE tokenizers.
            let (t, bos) = crate::models::arch::gemma3::tokenizer(ct)?;
            return Ok(TextTokenizer::Hf(Box::new(t), bos));
        }
        let t =
            tokenizers::Tokenizer::from_gguf(ct).map_err(|e| anyhow!("building tokenizer from GGUF metadata: {e}"))?;
        Ok(TextTokenizer::Hf(Box::new(t), None))
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            TextTokenizer::Hf(t, bos) => {
                let ids = t.encode(text, false).map_err(|e| anyhow!("tokenizing: {e}"))?;
                Ok(bos.iter().copied().chain(ids.get_ids().iter().copied()).collect())
            }
            TextTokenizer::Bytes => Ok(text.bytes().map(u32::from).collect()),
        }
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        match self {
            TextTokenizer::Hf(t, _) => t.decode(ids, true).map_err(|e| anyhow!("detokenizing: {e}")),
            TextTokenizer::Bytes => Ok(ids.iter().map(|&i| (i.min(255) as u8) as char).collect()),
        }
    }
}
