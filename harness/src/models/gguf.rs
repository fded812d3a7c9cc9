//! Weights and configuration from a GGUF file (llama architecture).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;

use super::llama::LlamaConfig;
use super::weights::{SourceTensor, WeightSource};

pub struct GgufSource {
    path: PathBuf,
    reader: BufReader<File>,
    content: Content,
    cfg: LlamaConfig,
}

impl GgufSource {
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening model file {}", path.display()))?;
        let mut reader = BufReader::new(file);
        let content =
            Content::read(&mut reader).with_context(|| format!("reading GGUF header of {}", path.display()))?;
        let cfg = config_from_metadata(&content).with_context(|| format!("GGUF metadata of {}", path.display()))?;
        Ok(Self { path: path.to_path_buf(), reader, content, cfg })
    }

    pub fn content(&self) -> &Content {
        &self.content
    }

    /// The storage type of the model's first attention weight, e.g. `Q4_1`.
    pub fn native_dtype(&self) -> Option<String> {
        self.content.tensor_infos.get("blk.0.attn_q.weight").map(|t| format!("{:?}", t.ggml_dtype))
    }
}

fn config_from_metadata(ct: &Content) -> Result<LlamaConfig> {
    let arch = ct.metadata.get("general.architecture").and_then(|v| v.to_string().ok()).cloned().unwrap_or_default();
    anyhow::ensure!(arch == "llama", "architecture `{arch}` is not supported by the llama engine");
    let get = |k: &str| -> Result<&Value> { ct.metadata.get(k).ok_or_else(|| anyhow!("missing metadata key {k}")) };
    let u = |k: &str| -> Result<usize> { Ok(get(k)?.to_u32()? as usize) };
    let hidden = u("llama.embedding_length")?;
    let vocab = match ct.tensor_infos.get("token_embd.weight") {
        Some(t) => t.shape.dims()[0],
        None => anyhow::bail!("no token_embd.weight tensor"),
    };
    Ok(LlamaConfig {
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: u("llama.feed_forward_length")?,
        num_layers: u("llama.block_count")?,
        num_heads: u("llama.attention.head_count")?,
        num_kv_heads: u("llama.attention.head_count_kv")?,
        rope_theta: get("llama.rope.freq_base").and_then(|v| Ok(v.to_f32()?)).unwrap_or(10_000.0),
        rms_norm_eps: get("llama.attention.layer_norm_rms_epsilon")?.to_f32()? as f64,
        max_seq_len: u("llama.context_length").unwrap_or(2048).min(4096),
    })
}

impl WeightSource for GgufSource {
    fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    fn take(&mut self, name: &str) -> Result<SourceTensor> {
        let q = self
            .content
            .tensor(&mut self.reader, name, &Device::Cpu)
            .with_context(|| format!("tensor {name} in {}", self.path.display()))?;
        Ok(SourceTensor::Quant(q))
    }

    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }
}
