//! From a validated grid to the list of cells with content keys, checking
//! that every model file and corpus is present before anything runs.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::config::{expand, CellConfig, ConfigError, Grid};
use crate::hardware::fingerprint::code_version;
use crate::models::hub;
use crate::workloads::corpus;

/// A cell ready to run: its config and content key.
#[derive(Debug, Clone)]
pub struct PlannedCell {
    pub config: CellConfig,
    pub key: String,
    pub model_digest: String,
}

/// Content key: hash of the resolved config, the model's digest and the code version.
pub fn content_key(cfg: &CellConfig, model_digest: &str, code_version: &str) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(cfg).expect("cell config serializes"));
    h.update(b"\0");
    h.update(model_digest.as_bytes());
    h.update(b"\0");
    h.update(code_version.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Expand the grid and resolve every cell; a missing model file or corpus is
/// a [`ConfigError`] pointing at its definition.
pub fn plan(grid: &Grid, hub_cache: &Path, corpus_dir: &Path) -> Result<Vec<PlannedCell>> {
    let cells = expand(grid);
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    for c in &cells {
        if digests.contains_key(&c.model) {
            continue;
        }
        if c.model_spec.locate(hub_cache).is_none() {
            let what = match &c.model_spec {
                crate::models::ModelSpec::Hub(h) => format!("{}/{}", h.repo, h.file),
                crate::models::ModelSpec::Synthetic(_) => unreachable!("synthetic models always resolve"),
            };
            return Err(ConfigError::new(
                &grid.path,
                grid.line_of_key(&c.model),
                format!("models.{}", c.model),
                format!(
                    "model file {what} is not in the hub cache {}; fetch it with `{}` (or set HARNESS_HUB_CACHE)",
                    hub_cache.display(),
                    hub::FETCH_COMMAND
                ),
            )
            .into());
        }
        digests.insert(c.model.clone(), c.model_spec.digest(hub_cache)?);
    }
    for c in &cells {
        let dir = corpus_dir.join(&c.workload_spec.corpus);
        if !dir.is_dir() {
            return Err(ConfigError::new(
                &grid.path,
                grid.line_of_key(&c.workload),
                format!("workloads.{}.corpus", c.workload),
                format!(
                    "corpus `{}` not found at {}; gather it with `{}`",
                    c.workload_spec.corpus,
                    dir.display(),
                    corpus::FETCH_COMMAND
                ),
            )
            .into());
        }
    }
    let version = code_version();
    Ok(cells
        .into_iter()
        .map(|config| {
            let model_digest = digests[&config.model].clone();
            let key = content_key(&config, &model_digest, &version);
            PlannedCell { config, key, model_digest }
        })
        .collect())
}
