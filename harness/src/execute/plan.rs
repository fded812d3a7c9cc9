//! From a validated grid to the list of cells with content keys, checking
//! that every model file and corpus is present before anything runs.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use crate::config::{expand, CellConfig, ConfigError, Grid};
use crate::engines;
use crate::models::hub;
use crate::record::{CellIdentity, MachineClass};
use crate::workloads::corpus;

/// A cell ready to run: its config and content key.
#[derive(Debug, Clone)]
pub struct PlannedCell {
    pub config: CellConfig,
    pub key: String,
    pub model_digest: String,
}

impl PlannedCell {
    /// The key this cell would have if measured on `machine` (to find cells of another machine).
    pub fn key_on(&self, machine: &MachineClass, code_version: &str) -> String {
        let engine_version = engines::version(&self.config.engine).unwrap_or("unknown");
        CellIdentity::new(&self.config, &self.model_digest, engine_version, code_version, machine).key()
    }
}

/// Expand the grid and resolve every cell on this machine; a missing model file or
/// corpus is a [`ConfigError`] pointing at its definition. Two cells of one identity
/// (workloads that differ only in name or prose) are planned once.
/// Run the fetch script of every hub model of `grid` that names one and is not in the cache
/// (the larger models are fetched only by the grids that use them). Says what it runs.
pub fn fetch_missing(grid: &Grid, hub_cache: &Path) -> Result<()> {
    let root = grid.path.parent().and_then(Path::parent).unwrap_or(Path::new("."));
    for (name, spec) in &grid.file.models {
        let crate::models::ModelSpec::Hub(h) = spec else { continue };
        let Some(script) = &h.fetch else { continue };
        if spec.locate(hub_cache).is_some() {
            continue;
        }
        let path = if Path::new(script).exists() { Path::new(script).to_path_buf() } else { root.join(script) };
        eprintln!("fetching model `{name}` ({}/{}) with {}", h.repo, h.file, path.display());
        let ok = std::process::Command::new("bash").arg(&path).arg(hub_cache).status()?.success();
        anyhow::ensure!(ok, "{} failed to fetch model `{name}`", path.display());
    }
    Ok(())
}

pub fn plan(
    grid: &Grid,
    hub_cache: &Path,
    corpus_dir: &Path,
    machine: &MachineClass,
    code_version: &str,
) -> Result<Vec<PlannedCell>> {
    let mut cells = expand(grid);
    // How this machine enforces the limits of emulated nodes is part of what a cell measures.
    let mechanism = crate::hardware::cgroup::Mechanism::here();
    for c in cells.iter_mut().filter(|c| c.hardware_spec.is_limited()) {
        c.hardware_spec.enforcement = Some(mechanism.name().to_string());
    }
    let mut digests: BTreeMap<String, String> = BTreeMap::new();
    for c in &cells {
        if digests.contains_key(&c.model) {
            continue;
        }
        if c.model_spec.locate(hub_cache).is_none() {
            let (what, script) = match &c.model_spec {
                crate::models::ModelSpec::Hub(h) => {
                    (format!("{}/{}", h.repo, h.file), h.fetch.clone().unwrap_or_else(|| hub::FETCH_COMMAND.into()))
                }
                crate::models::ModelSpec::Synthetic(_) => unreachable!("synthetic models always resolve"),
            };
            return Err(ConfigError::new(
                &grid.path,
                grid.line_of_key(&c.model),
                format!("models.{}", c.model),
                format!(
                    "model file {what} is not in the hub cache {}; fetch it with `{script}` (or set HARNESS_HUB_CACHE)",
                    hub_cache.display(),
                ),
            )
            .into());
        }
        if let crate::models::ModelSpec::Synthetic(spec) = &c.model_spec {
            check_fits(grid, &c.model, &spec.config())?;
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
    let mut seen = std::collections::HashSet::new();
    Ok(cells
        .into_iter()
        .map(|config| {
            let model_digest = digests[&config.model].clone();
            let mut cell = PlannedCell { config, key: String::new(), model_digest };
            cell.key = cell.key_on(machine, code_version);
            cell
        })
        .filter(|c| seen.insert(c.key.clone()))
        .collect())
}

/// A synthetic model is built in memory as f32: one larger than this machine's memory is
/// refused here, with the figures, rather than killed mid-run.
fn check_fits(grid: &Grid, name: &str, cfg: &crate::models::llama::LlamaConfig) -> Result<()> {
    let (h, q, kv) =
        (cfg.hidden_size as f64, (cfg.num_heads * cfg.head_dim()) as f64, (cfg.num_kv_heads * cfg.head_dim()) as f64);
    let per_layer = h * q * 2.0 + h * kv * 2.0 + 3.0 * h * cfg.intermediate_size as f64 + 2.0 * h;
    let bytes = 4.0 * (cfg.vocab_size as f64 * h + cfg.num_layers as f64 * per_layer + h);
    let Some(total) = total_memory_bytes() else { return Ok(()) };
    if bytes <= total {
        return Ok(());
    }
    let gib = |b: f64| b / (1u64 << 30) as f64;
    Err(ConfigError::new(
        &grid.path,
        grid.line_of_key(name),
        format!("models.{name}.synthetic"),
        format!(
            "this synthetic model needs {:.1} GiB for its f32 weights alone; this machine has {:.1} GiB of memory",
            gib(bytes),
            gib(total)
        ),
    )
    .into())
}

/// `MemTotal` of `/proc/meminfo`.
fn total_memory_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: f64 = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(cpu: &str) -> MachineClass {
        MachineClass { cpu_model: cpu.into(), cores: 2, simd: "avx2,fma".into(), gpu: None }
    }

    fn keys(text: &str, m: &MachineClass) -> Vec<String> {
        let g = crate::config::parse(Path::new("grid.yaml"), text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("licenses")).unwrap();
        // The standard grid's hub model is not needed: give every model a synthetic stand-in digest.
        expand(&g)
            .into_iter()
            .map(|config| {
                let c = PlannedCell { config, key: String::new(), model_digest: "sha256:test".into() };
                c.key_on(m, "0.1.0+m2+flags")
            })
            .collect()
    }

    /// Prose, prices and names are not part of a cell's identity; the machine is.
    #[test]
    fn descriptions_and_prices_do_not_change_keys_of_the_standard_grid() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../experiments/grid.yaml")).unwrap();
        let edited: String = text
            .lines()
            .map(|l| {
                let t = l.trim_start();
                let indent = &l[..l.len() - t.len()];
                if t.starts_with("description:") {
                    format!("{indent}description: edited prose, nothing else")
                } else if t.starts_with("price_per_hour:") {
                    format!("{indent}price_per_hour: 9.75")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(text, edited);
        let here = machine("AMD EPYC");
        assert_eq!(keys(&text, &here), keys(&edited, &here));
        let there = keys(&text, &machine("Intel Xeon"));
        assert!(keys(&text, &here).iter().zip(&there).all(|(a, b)| a != b), "the machine class is in every key");
        let changed = text.replace("prompt_tokens: 128", "prompt_tokens: 127");
        assert_ne!(keys(&text, &here), keys(&changed, &here), "a workload's shape is in the key");
    }

    #[test]
    fn a_synthetic_model_larger_than_memory_is_refused_at_plan_time() {
        let text = "models:\n  huge:\n    synthetic: {layers: 400, hidden: 16384, heads: 128, intermediate: 65536}\n\
                    workloads: {w: {prompt_tokens: 4, output_tokens: 2}}\n";
        let g = crate::config::parse(Path::new("huge.yaml"), text).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let m = machine("AMD EPYC");
        let err = plan(&g, dir.path(), dir.path(), &m, "v").unwrap_err();
        let e = format!("{err:#}");
        assert!(e.contains("huge.yaml:2") && e.contains("models.huge.synthetic") && e.contains("GiB"), "{e}");
    }
}
