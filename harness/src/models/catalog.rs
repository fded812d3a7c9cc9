//! How a grid file names a model, and turning that into weights + tokenizer.

use crate::models::LlamaConfig;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::gguf::GgufSource;
use super::hub;
use super::synthetic::{SyntheticSource, SyntheticSpec};
use super::tokenizer::TextTokenizer;
use super::weights::WeightSource;

/// A model entry of a grid file: `hub: {repo, file}` or `synthetic: {...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "ModelEntry")]
pub enum ModelSpec {
    /// A GGUF file in the hub cache.
    Hub(HubSpec),
    /// Seeded random weights of a real architecture.
    Synthetic(SyntheticSpec),
}

/// The YAML shape of a model entry: exactly one of the keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    hub: Option<HubSpec>,
    synthetic: Option<SyntheticSpec>,
}

impl TryFrom<ModelEntry> for ModelSpec {
    type Error = String;
    fn try_from(e: ModelEntry) -> Result<Self, String> {
        match (e.hub, e.synthetic) {
            (Some(h), None) => Ok(ModelSpec::Hub(h)),
            (None, Some(s)) => Ok(ModelSpec::Synthetic(s)),
            _ => Err("a model needs exactly one of `hub: {repo, file}` or `synthetic: {layers, hidden, ...}`".into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpec {
    pub repo: String,
    pub file: String,
    #[serde(default = "default_revision")]
    pub revision: String,
    /// The script that fetches this model into the hub cache (`bash SCRIPT HUB_CACHE`), run by
    /// `harness run` when the file is missing; relative paths are the repository's (the grid
    /// file's folder's parent). Not part of the model's identity.
    #[serde(default, skip_serializing)]
    pub fetch: Option<String>,
}

fn default_revision() -> String {
    "main".into()
}

impl ModelSpec {
    pub fn is_synthetic(&self) -> bool {
        matches!(self, ModelSpec::Synthetic(_))
    }

    /// The model file in the hub cache, or `None` when it is not there.
    /// Synthetic models have no file and always resolve.
    pub fn locate(&self, cache: &Path) -> Option<Option<PathBuf>> {
        match self {
            ModelSpec::Hub(h) => hub::resolve(cache, &h.repo, &h.revision, &h.file).map(Some),
            ModelSpec::Synthetic(_) => Some(None),
        }
    }

    /// Content digest: sha256 of the model file, or of the synthetic spec.
    pub fn digest(&self, cache: &Path) -> anyhow::Result<String> {
        match self {
            ModelSpec::Hub(h) => {
                let path = hub::resolve(cache, &h.repo, &h.revision, &h.file)
                    .with_context(|| format!("{}/{} is not in the hub cache {}", h.repo, h.file, cache.display()))?;
                sha256_file(&path)
            }
            ModelSpec::Synthetic(s) => Ok(hex::encode(Sha256::digest(serde_json::to_vec(s)?))),
        }
    }

    /// The model's architecture sizes, from its spec or its GGUF header (a cheap read).
    pub fn config(&self, cache: &Path) -> anyhow::Result<LlamaConfig> {
        match self {
            ModelSpec::Hub(h) => {
                let path = hub::resolve(cache, &h.repo, &h.revision, &h.file)
                    .with_context(|| format!("{}/{} is not in the hub cache {}", h.repo, h.file, cache.display()))?;
                Ok(GgufSource::open(&path)?.config().clone())
            }
            ModelSpec::Synthetic(s) => Ok(s.config()),
        }
    }

    /// Open the weights alone (no tokenizer to build: what loading a model needs).
    pub fn weights(&self, cache: &Path) -> anyhow::Result<Box<dyn WeightSource>> {
        match self {
            ModelSpec::Hub(h) => {
                let path = model_file(h, cache)?;
                Ok(Box::new(GgufSource::open(&path)?))
            }
            ModelSpec::Synthetic(_) => Ok(self.open(cache)?.0),
        }
    }

    /// Open the weights and the matching tokenizer.
    pub fn open(&self, cache: &Path) -> anyhow::Result<(Box<dyn WeightSource>, TextTokenizer)> {
        match self {
            ModelSpec::Hub(h) => {
                let path = model_file(h, cache)?;
                let src = GgufSource::open(&path)?;
                let tok = TextTokenizer::from_gguf(src.content())?;
                Ok((Box::new(src), tok))
            }
            ModelSpec::Synthetic(s) => {
                anyhow::ensure!(s.vocab >= 256, "a synthetic model needs a vocabulary of at least 256 (byte tokens)");
                Ok((Box::new(SyntheticSource::new(s)), TextTokenizer::Bytes))
            }
        }
    }
}

/// The GGUF file of hub model `h` in `cache`; the error says how to fetch it.
fn model_file(h: &HubSpec, cache: &Path) -> anyhow::Result<PathBuf> {
    hub::resolve(cache, &h.repo, &h.revision, &h.file).with_context(|| {
        format!("{}/{} is not in the hub cache {}; run {}", h.repo, h.file, cache.display(), hub::FETCH_COMMAND)
    })
}

pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
