//! `harness recommend`: an answer for a task nobody measured, from every store it is given
//! (by default the committed reference stores, plus `results/harness.db` when it exists).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use harness::config::{self, HardwareSpec};
use harness::hardware::fingerprint::machine_class;
use harness::meta::features::{HardwareInfo, ModelInfo, TaskDescriptor};
use harness::meta::objective::{AccuracyFloors, Objective};
use harness::meta::quality::QualityTable;
use harness::meta::recommend::{self as rec, Calibration};
use harness::meta::{load, output, selectors};
use harness::models::hub;
use harness::record::CellRecord;
use harness::store;
use harness::BadInput;

use super::task_table::{constraints, TaskTableArgs};

#[derive(Debug, Args)]
#[command(
    long_about = "Recommend an arm (technique @ threads) for a task defined in a grid file, typically one not yet \
                  run, from the stores given with --store or, by default, every committed reference store \
                  (results/reference/, results/evaluation/: all machine classes measured for the project) plus \
                  results/harness.db when it exists. Only arms that can run on the profile are candidates \
                  (threads, memory, placements only on clusters, engines built in), and only those whose \
                  predicted quality meets the accuracy floor (default ppl:5%,agreement:0.9; --accuracy-floor none \
                  opts out). Prints the pick with its quality, its predicted objective with a 90% interval \
                  calibrated on held-out tasks (split-conformal), the calibrated chance it is within 5% of the \
                  best, the machines the evidence came from and the nearest stored tasks; abstains when the task \
                  is outside what the stores cover. The calibration is computed once per store content and \
                  cached in results/cache/."
)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub table: TaskTableArgs,
    /// Model name, as defined in the grid file.
    #[arg(long)]
    pub model: String,
    /// Workload name, as defined in the grid file.
    #[arg(long)]
    pub workload: String,
    /// Hardware profile name (`local` is always defined).
    #[arg(long, default_value = harness::config::LOCAL_HARDWARE)]
    pub hardware: String,
    /// Grid file defining the model, workload and hardware.
    #[arg(long, default_value = "experiments/grid.yaml")]
    pub grid: PathBuf,
    /// Selector making the recommendation (not one that needs the truth, like `oracle`).
    #[arg(long, default_value = "gbdt-mach")]
    pub selector: String,
    /// Print the latency-quality front of the arms that can run here instead of the ranking.
    #[arg(long)]
    pub pareto: bool,
}

/// Where the committed stores live (every machine class measured for the project).
pub const REFERENCE_DIRS: &[&str] = &["results/reference", "results/evaluation"];

/// The stores read when `--store` is not given: the committed ones, and the user's own.
pub fn default_stores() -> Vec<PathBuf> {
    let mut out = vec![];
    for dir in REFERENCE_DIRS {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut dbs: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "db")).collect();
        dbs.sort();
        out.extend(dbs);
    }
    let own = Path::new("results/harness.db");
    if own.exists() {
        out.push(own.to_path_buf());
    }
    out
}

/// Every record of `paths`, one per cell key (the latest measured wins).
pub fn read_stores(paths: &[PathBuf]) -> Result<Vec<CellRecord>> {
    let mut by_key: std::collections::BTreeMap<String, CellRecord> = Default::default();
    for p in paths {
        let s = store::open_read_only(p)?;
        for r in s.all()? {
            let newer = by_key.get(&r.key).is_none_or(|old| r.started_at >= old.started_at);
            if newer {
                by_key.insert(r.key.clone(), r);
            }
        }
    }
    Ok(by_key.into_values().collect())
}

pub fn run(a: RecommendArgs, explicit_store: bool) -> Result<ExitCode> {
    let sel = selectors::by_name(&a.selector)?;
    if sel.needs_truth() {
        return Err(BadInput(format!(
            "selector `{}` reads the measured outcome of the task it picks for, so it cannot recommend for a task \
             not yet run; choose another with --selector (e.g. gbdt-mach, gbdt, heuristic)",
            a.selector
        ))
        .into());
    }
    let grid = config::load(&a.grid)?;
    let f = &grid.file;
    let known = |m: &mut dyn Iterator<Item = &String>| m.cloned().collect::<Vec<_>>().join(", ");
    let model_spec = f.models.get(&a.model).ok_or_else(|| {
        BadInput(format!(
            "{}: no model `{}`; models defined there: {}",
            a.grid.display(),
            a.model,
            known(&mut f.models.keys())
        ))
    })?;
    let workload = f.workloads.get(&a.workload).ok_or_else(|| {
        BadInput(format!(
            "{}: no workload `{}`; workloads defined there: {}",
            a.grid.display(),
            a.workload,
            known(&mut f.workloads.keys())
        ))
    })?;
    let hardware = match f.hardware.get(&a.hardware) {
        Some(h) => h.clone(),
        None if a.hardware == config::LOCAL_HARDWARE => HardwareSpec::default(),
        None => {
            return Err(BadInput(format!(
                "{}: no hardware profile `{}`; profiles defined there: local, {}",
                a.grid.display(),
                a.hardware,
                known(&mut f.hardware.keys())
            ))
            .into())
        }
    };
    let paths = if explicit_store { vec![a.table.store.store.clone()] } else { default_stores() };
    if paths.is_empty() {
        return Err(BadInput(
            "no store to learn from: results/reference/ has no committed store and results/harness.db does not \
             exist; run `harness run experiments/grid.yaml` first, or name one with --store"
                .into(),
        )
        .into());
    }
    let records = read_stores(&paths)?;
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    println!("stores: {} ({} cells)", names.join(", "), records.len());
    if records.is_empty() {
        return Err(BadInput(format!(
            "{} hold no cells; run `harness run experiments/grid.yaml` first",
            names.join(", ")
        ))
        .into());
    }
    let floor = a.table.accuracy_floor.clone().unwrap_or_else(AccuracyFloors::default_floor);
    let mut cons = constraints(&a.table);
    cons.accuracy = floor.0.clone();
    let objective = Objective::from(a.table.objective);
    let hub_cache = a.table.hub_cache.clone().unwrap_or_else(hub::default_cache_dir);
    let want_embeddings = sel.needs_embeddings() && !a.table.no_embeddings;
    let loaded = load::table(&records, None, objective, &cons, &hub_cache, want_embeddings)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    if loaded.table.tasks.is_empty() {
        return Err(BadInput(format!(
            "the stores hold {} cells but no task with an arm meeting the floor {} for objective {objective}; \
             relax the constraints (--accuracy-floor none) or run more cells",
            records.len(),
            floor.label()
        ))
        .into());
    }
    let (model, warning) = ModelInfo::resolve(&a.model, model_spec, &hub_cache);
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    let fp = harness::hardware::fingerprint::fingerprint();
    let task = TaskDescriptor {
        model,
        workload_name: a.workload.clone(),
        workload: workload.clone(),
        hardware: HardwareInfo::new(&a.hardware, &hardware, &fp),
    };
    let here = machine_class();
    // The stores' classes and the recorded profiles (results/machines), gathered with the table.
    let machines = &loaded.machines;
    let mut extra = task.extra();
    extra.extend(machines.profile(&here).features());
    let embedding = match &loaded.embedder {
        Some(e) => Some(e.embed(&task.description())?),
        None => None,
    };
    let table = &loaded.table;
    // Beside the store it was given (a file), else in results/cache (the committed stores' calibrations).
    let cache_dir = match (&explicit_store, a.table.store.store.parent()) {
        (true, Some(parent)) if !a.table.store.store.to_string_lossy().contains("://") => parent.join("cache"),
        _ => PathBuf::from(rec::CACHE_DIR),
    };
    let cache = cache_dir.as_path();
    let key = Calibration::key(table, sel.name(), a.table.budget, 0);
    let calibration = match Calibration::cached(cache, &key) {
        Some(c) => c,
        None => {
            eprintln!(
                "calibrating `{}` on these stores (cross-validated once per store content; cached in {})",
                sel.name(),
                cache.display()
            );
            let c = Calibration::compute(table, sel.as_ref(), a.table.budget, 0)?;
            if let Err(e) = c.save(cache) {
                eprintln!("note: the calibration could not be cached in {}: {e:#}", cache.display());
            }
            c
        }
    };
    let quality = QualityTable::from_records(&records);
    let mut r = rec::recommend(&rec::Inputs {
        table,
        selector: sel.as_ref(),
        task: &task,
        extra,
        machine: here.tag(),
        embedding,
        budget: a.table.budget,
        floor: &floor.0,
        quality: &quality,
        calibration: &calibration,
        seed: 0,
    })?;
    // Machine classes by their description, not their tag.
    let label = |tag: &str| machines.profiles.get(tag).map_or(tag.to_string(), |p| p.class.label());
    for (m, _) in &mut r.evidence_machines {
        *m = label(m);
    }
    for n in &mut r.nearest {
        n.machine = label(&n.machine);
    }
    println!(
        "this machine: {}{}",
        here.label(),
        if r.machine_measured { "" } else { " (no stored task measured on it)" }
    );
    output::recommendation(&mut std::io::stdout().lock(), &r, objective.as_str(), objective.unit(), a.pareto)?;
    Ok(ExitCode::SUCCESS)
}
