//! Weights and configuration from a GGUF file (the architectures of [`super::arch`]).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::quantized::gguf_file::Content;
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
        // Every count and length in the header checked against the file's size before candle allocates by them.
        let len = file.metadata().with_context(|| format!("reading {}", path.display()))?.len();
        let header = super::gguf_header::check(BufReader::new(&file), len)
            .map_err(|e| anyhow::anyhow!("{} is not a sound GGUF file: {e}", path.display()))?;
        // candle reads the header string by string, asking the reader its position each time (a system call
        // through a file): the header, whose size the walk just bounded by the file's, is read into memory once.
        let mut head = vec![0u8; header.data_offset.min(len) as usize];
        let mut reader = BufReader::new(file);
        std::io::Seek::rewind(&mut reader)?;
        std::io::Read::read_exact(&mut reader, &mut head)
            .with_context(|| format!("reading GGUF header of {}", path.display()))?;
        let content = Content::read(&mut std::io::Cursor::new(head))
            .with_context(|| format!("reading GGUF header of {}", path.display()))?;
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
    super::arch::config_from_gguf(ct)
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
