//! `harness evaluate` and `harness recommend`: typed options in, store and stdout out.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::json;

use super::evaluate::{self, Options};
use super::features::{HardwareInfo, ModelInfo, TaskDescriptor};
use super::load::{self, Loaded};
use super::objective::Constraints;
use super::{output, recommend as rec, selector};
use crate::cli::{EvaluateArgs, EvaluateFormat, RecommendArgs, TaskTableArgs};
use crate::config::{self, HardwareSpec};
use crate::models::hub;
use crate::store::Store;

fn constraints(a: &TaskTableArgs) -> Constraints {
    Constraints {
        accuracy: a.accuracy_floor.as_ref().map(|f| f.0.clone()).unwrap_or_default(),
        memory_limit_mb: a.memory_limit,
        budget: a.budget,
    }
}

/// Opens the store and builds the table; errors name what to run when it is empty.
fn load_table(a: &TaskTableArgs) -> Result<(Store, Loaded)> {
    let store = Store::open_existing(&a.store.store)?;
    let records = store.all()?;
    if records.is_empty() {
        bail!(
            "store {} has no tasks (no cells); run `harness run experiments/grid.yaml` first",
            a.store.store.display()
        );
    }
    let hub_cache = a.hub_cache.clone().unwrap_or_else(hub::default_cache_dir);
    let loaded = load::table(&records, a.objective, &constraints(a), &hub_cache, !a.no_embeddings)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    if loaded.table.tasks.is_empty() {
        let why: Vec<String> = loaded.table.left_out.iter().take(5).map(|(t, w)| format!("{t}: {w}")).collect();
        bail!(
            "store {} has {} cells but no task with a feasible arm for objective {} under these constraints ({}); \
             relax the constraints or run more cells, e.g. `harness run experiments/grid.yaml`",
            a.store.store.display(),
            records.len(),
            a.objective,
            why.join("; ")
        );
    }
    for (t, why) in &loaded.table.left_out {
        eprintln!("note: {t} left out: {why}");
    }
    Ok((store, loaded))
}

pub fn evaluate(a: EvaluateArgs) -> Result<ExitCode> {
    for name in a.selectors.iter().chain([&a.baseline]) {
        selector::by_name(name)?;
    }
    let (store, loaded) = load_table(&a.table)?;
    let table = &loaded.table;
    let opts = Options {
        selectors: a.selectors.clone(),
        baseline: a.baseline.clone(),
        cv: a.cv,
        budget: a.table.budget,
        bootstrap: a.bootstrap,
        seed: a.seed,
        context: json!({
            "store": a.table.store.store.display().to_string(),
            "constraints": constraints(&a.table),
            "warnings": loaded.warnings,
            "feature_names": super::features::FEATURE_NAMES,
        }),
    };
    let mut outcome = evaluate::evaluate(table, &opts)?;
    if !a.no_save {
        outcome.record.id =
            store.insert_evaluation(&outcome.record).context("writing the evaluation into the store")?;
    }
    let mut out = std::io::stdout().lock();
    match a.format {
        EvaluateFormat::Table => output::table(&mut out, table, &outcome)?,
        EvaluateFormat::Json => output::json(&mut out, &outcome.record)?,
        EvaluateFormat::Csv => output::csv(&mut out, &outcome.record)?,
    }
    if !a.no_save {
        eprintln!("evaluation {} written to {}", outcome.record.id, store.path().display());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn recommend(a: RecommendArgs) -> Result<ExitCode> {
    let sel = selector::by_name(&a.selector)?;
    let grid = config::load(&a.grid)?;
    let f = &grid.file;
    let known = |m: &mut dyn Iterator<Item = &String>| m.cloned().collect::<Vec<_>>().join(", ");
    let model_spec = f.models.get(&a.model).with_context(|| {
        format!("{}: no model `{}`; models defined there: {}", a.grid.display(), a.model, known(&mut f.models.keys()))
    })?;
    let workload = f.workloads.get(&a.workload).with_context(|| {
        format!(
            "{}: no workload `{}`; workloads defined there: {}",
            a.grid.display(),
            a.workload,
            known(&mut f.workloads.keys())
        )
    })?;
    let hardware = match f.hardware.get(&a.hardware) {
        Some(h) => h.clone(),
        None if a.hardware == "local" => HardwareSpec::default(),
        None => bail!(
            "{}: no hardware profile `{}`; profiles defined there: local, {}",
            a.grid.display(),
            a.hardware,
            known(&mut f.hardware.keys())
        ),
    };
    let (_store, loaded) = load_table(&a.table)?;
    let hub_cache = a.table.hub_cache.clone().unwrap_or_else(hub::default_cache_dir);
    let (model, warning) = ModelInfo::resolve(&a.model, model_spec, &hub_cache);
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let task = TaskDescriptor {
        model,
        workload_name: a.workload.clone(),
        workload: workload.clone(),
        hardware: HardwareInfo::new(&a.hardware, &hardware, &crate::hardware::fingerprint::fingerprint()),
    };
    let embedding = match &loaded.embedder {
        Some(e) => Some(e.embed(&task.description())?),
        None => None,
    };
    let r = rec::recommend(&loaded.table, sel.as_ref(), &task, embedding, a.table.budget, 0)?;
    let objective = loaded.table.objective;
    output::recommendation(&mut std::io::stdout().lock(), &r, objective.as_str(), objective.unit())?;
    Ok(ExitCode::SUCCESS)
}
