//! From stored cells to a task table with features and (optionally) embeddings.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;

use super::embeddings::{self, Embedder};
use super::features::{ModelInfo, TaskDescriptor};
use super::grouping::{group_cells, GridSplit, SetAside};
use super::machine::{self, Machines};
use super::objective::{Constraints, Objective};
use super::tasks::TaskTable;
use crate::config::CellConfig;
use crate::record::CellRecord;

/// Sizes of every model named in `records`, resolved once each; warnings for the unknown.
pub struct ModelCatalog {
    models: BTreeMap<String, ModelInfo>,
    pub warnings: Vec<String>,
}

impl ModelCatalog {
    pub fn new() -> Self {
        ModelCatalog { models: BTreeMap::new(), warnings: vec![] }
    }

    pub fn info(&mut self, cfg: &CellConfig, hub_cache: &Path) -> ModelInfo {
        let key = format!("{}{}", cfg.model, serde_json::to_string(&cfg.model_spec).unwrap_or_default());
        if let Some(m) = self.models.get(&key) {
            return m.clone();
        }
        let (info, warning) = ModelInfo::resolve(&cfg.model, &cfg.model_spec, hub_cache);
        self.warnings.extend(warning);
        self.models.insert(key, info.clone());
        info
    }
}

impl Default for ModelCatalog {
    fn default() -> Self {
        Self::new()
    }
}

/// The embedding model if wanted and present; a warning otherwise.
pub fn embedder(hub_cache: &Path, wanted: bool, warnings: &mut Vec<String>) -> Option<Embedder> {
    if !wanted {
        return None;
    }
    match Embedder::from_hub_cache(hub_cache) {
        Ok(Some(e)) => Some(e),
        Ok(None) => {
            warnings.push(format!(
                "{} is not in the hub cache {}: the text-embedding features are left out; `metainf` needs them \
                 (or --allow-no-embeddings) (run {} to fetch it)",
                embeddings::REPO,
                hub_cache.display(),
                crate::models::hub::FETCH_COMMAND
            ));
            None
        }
        Err(e) => {
            warnings.push(format!(
                "{} could not be loaded ({e:#}); the text-embedding features are left out",
                embeddings::REPO
            ));
            None
        }
    }
}

/// The descriptor of a stored cell's task.
pub fn descriptor(rec: &CellRecord, catalog: &mut ModelCatalog, hub_cache: &Path) -> Option<TaskDescriptor> {
    let cfg: CellConfig = serde_json::from_str(&rec.config_json).ok()?;
    let info = catalog.info(&cfg, hub_cache);
    let mut d = TaskDescriptor::from_cell(&cfg, info, &rec.fingerprint);
    // Workload names made unique by the task grouping (`name@grid`).
    d.workload_name = rec.workload.clone();
    Some(d)
}

/// Everything `evaluate` and `recommend` need from the store.
pub struct Loaded {
    pub table: TaskTable,
    pub warnings: Vec<String>,
    pub embedder: Option<Embedder>,
    /// The machine classes of the records, with what each can do.
    pub machines: Machines,
}

/// The task table of `records`, tasks formed within each side of `split` when given.
pub fn table(
    records: &[CellRecord],
    split: Option<&GridSplit>,
    objective: Objective,
    constraints: &Constraints,
    hub_cache: &Path,
    want_embeddings: bool,
) -> Result<Loaded> {
    let groups = group_cells(records, split);
    let mut catalog = ModelCatalog::new();
    let mut table = TaskTable::build(&groups, objective, constraints, |rec| descriptor(rec, &mut catalog, hub_cache));
    let mut warnings = catalog.warnings;
    warnings.extend(superseded_warning(&groups.superseded));
    let machines = Machines::gather(records, Path::new(machine::DEFAULT_DIR));
    add_machine_features(&mut table, records, &machines);
    let embedder = if table.tasks.is_empty() { None } else { embedder(hub_cache, want_embeddings, &mut warnings) };
    if let Some(e) = &embedder {
        for task in &mut table.tasks {
            task.embedding = Some(e.embed(&task.description)?);
        }
    }
    Ok(Loaded { table, warnings, embedder, machines })
}

/// Appends every task's machine features ([`machine::NAMES`]) to its extras.
pub fn add_machine_features(table: &mut TaskTable, records: &[CellRecord], machines: &Machines) {
    let classes: BTreeMap<String, crate::record::MachineClass> =
        records.iter().map(|r| r.machine()).map(|c| (c.tag(), c)).collect();
    table.extra_names.extend(machine::NAMES.iter().map(|s| s.to_string()));
    for task in &mut table.tasks {
        let features = match classes.get(&task.machine) {
            Some(c) => machines.profile(c).features(),
            None => vec![f64::NAN; machine::NAMES.len()],
        };
        task.extra.extend(features);
    }
}

/// One line for the cells left out because a newer engine version measured their task.
fn superseded_warning(cells: &[SetAside]) -> Option<String> {
    let (task, arm, why) = cells.first()?;
    Some(format!(
        "{} cells left out because their task's newest cells were measured by another version of their engine \
         (arms of two engine versions are not compared), e.g. {task}: {arm}, {why}; run their grid again to \
         measure them with this version",
        cells.len()
    ))
}
