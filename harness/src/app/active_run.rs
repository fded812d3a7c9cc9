//! `harness run GRID --active [--budget N]`: measure a grid's cells in the order an
//! active sweep asks for them (see `harness::meta::active`), learning from the
//! store's tasks of other grids, and stop each task once its recommendation is stable.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{bail, Result};
use harness::execute::plan::PlannedCell;
use harness::execute::runner::{self, RunOptions};
use harness::hardware::fingerprint::fingerprint;
use harness::meta::active::{self, Policy, STABLE_STEPS};
use harness::meta::features::{Arm, TaskDescriptor};
use harness::meta::load::{self, ModelCatalog};
use harness::meta::objective::{Constraints, Objective};
use harness::meta::selectors;
use harness::record::{CellStatus, MachineClass};
use harness::store::ResultStore;
use harness::BadInput;

/// What `--active` needs of the command line.
pub struct ActiveArgs {
    pub selector: String,
    pub budget: Option<usize>,
}

/// One task of the grid being swept.
struct SweepTask {
    name: String,
    cells: Vec<PlannedCell>,
    belief: active::Belief,
    /// Recommendations after each measurement of this run.
    history: Vec<usize>,
    done: bool,
}

/// What the store holds for each of `cells`: `None` not measured yet, `Some(None)`
/// failed, not applicable or invalid, `Some(Some(p))` its latency as a performance.
fn measured(store: &dyn ResultStore, cells: &[PlannedCell]) -> Result<Vec<Option<Option<f64>>>> {
    cells
        .iter()
        .map(|c| {
            Ok(store.get(&c.key)?.map(|r| match (&r.summary, r.status) {
                (Some(s), CellStatus::Ok) if s.verdict != "invalid" => {
                    Objective::Latency.raw(s).and_then(|x| Objective::Latency.performance(x))
                }
                _ => None,
            }))
        })
        .collect()
}

pub fn run_active(
    a: &ActiveArgs,
    grid_name: &str,
    cells: &[PlannedCell],
    store: &dyn ResultStore,
    machine: &MachineClass,
    opts: &RunOptions,
) -> Result<ExitCode> {
    let sel = selectors::by_name(&a.selector)?;
    if sel.needs_truth() {
        return Err(
            BadInput(format!("--selector `{}` reads the outcome it predicts; choose a learner", a.selector)).into()
        );
    }
    let records = store.all()?;
    let loaded = load::table(&records, None, Objective::Latency, &Constraints::default(), &opts.hub_cache, false)?;
    let table = loaded.table;
    let prior: Vec<usize> = (0..table.tasks.len()).filter(|&t| table.tasks[t].grid != grid_name).collect();
    if prior.len() < 2 {
        bail!(
            "an active sweep predicts from the store's tasks of other grids; {} has {} (run a grid first, e.g. \
             `harness run experiments/grid.yaml`)",
            store.location(),
            prior.len()
        );
    }
    // The grid's tasks, their candidate arms, and a belief for each from the prior.
    let mut by_task: BTreeMap<(String, String, String), Vec<PlannedCell>> = BTreeMap::new();
    for c in cells {
        let k = &c.config;
        by_task.entry((k.model.clone(), k.workload.clone(), k.hardware.clone())).or_default().push(c.clone());
    }
    let fp = fingerprint();
    let mut catalog = ModelCatalog::new();
    let mut tasks = vec![];
    for ((m, w, h), cells) in by_task {
        let cfg = &cells[0].config;
        let desc = TaskDescriptor::from_cell(cfg, catalog.info(cfg, &opts.hub_cache), &fp);
        let (features, extra) = (desc.features(), desc.extra());
        let arms: Vec<Option<usize>> = cells
            .iter()
            .map(|c| {
                let arm = Arm {
                    technique: c.config.technique.clone(),
                    threads: c.config.threads,
                    engine: c.config.engine.clone(),
                };
                table.arms.iter().position(|x| *x == arm)
            })
            .collect();
        let known: Vec<usize> = arms.iter().flatten().copied().collect();
        let b = active::belief_for(&table, &prior, sel.as_ref(), (0, 0), &|train| {
            train.query_with(&features, None, &extra, known.clone())
        })?;
        // Arms no stored task ran: unknown, measured first (an infinite upper bound).
        let mut it = b.mean.iter().zip(&b.spread);
        let (mean, spread) = arms
            .iter()
            .map(|x| match x {
                Some(_) => it.next().map_or((f64::NAN, f64::INFINITY), |(m, s)| (*m, *s)),
                None => (f64::NAN, f64::INFINITY),
            })
            .unzip();
        tasks.push(SweepTask {
            name: format!("{m} / {w} / {h}"),
            cells,
            belief: active::Belief { mean, spread },
            history: vec![],
            done: false,
        });
    }
    let budget = a.budget.unwrap_or(usize::MAX);
    let mut spent = 0;
    let mut failed = 0;
    eprintln!(
        "active sweep of {} tasks ({} cells), {} predicting from {} stored tasks of other grids; budget {}",
        tasks.len(),
        cells.len(),
        a.selector,
        prior.len(),
        a.budget.map_or("none (until every task is stable)".into(), |b| format!("{b} cells"))
    );
    loop {
        let mut ran = false;
        for task in tasks.iter_mut().filter(|t| !t.done) {
            if spent >= budget {
                break;
            }
            let measured = measured(store, &task.cells)?;
            let order: Vec<usize> = (0..task.cells.len()).collect();
            let (rec, next) = active::decide(&task.belief, &measured, Policy::Active, &order);
            task.history.push(rec);
            let h = &task.history;
            let stable = h.len() > STABLE_STEPS && h[h.len() - 1 - STABLE_STEPS..].iter().all(|&r| r == rec);
            let Some(next) = next.filter(|_| !stable) else {
                task.done = true;
                continue;
            };
            let report = runner::run(std::slice::from_ref(&task.cells[next]), grid_name, store, machine, opts)?;
            failed += report.failed();
            spent += report.executed.len();
            ran = true;
        }
        if !ran || spent >= budget {
            break;
        }
    }
    // Final recommendations.
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(["task", "cells measured", "recommended", "its latency"]);
    for task in &tasks {
        let measured = measured(store, &task.cells)?;
        let (rec, _) = active::decide(&task.belief, &measured, Policy::Active, &[]);
        let c = &task.cells[rec].config;
        let lat = match measured[rec] {
            Some(Some(p)) => format!("{:.1} ms measured", 1.0 / p),
            _ if task.belief.mean[rec].is_finite() => format!("{:.1} ms predicted", (-task.belief.mean[rec]).exp()),
            _ => "unknown".into(),
        };
        t.add_row([
            task.name.clone(),
            format!("{} of {}", measured.iter().filter(|m| m.is_some()).count(), task.cells.len()),
            format!("{} @{}t on {}", c.technique, c.threads, c.engine),
            lat,
        ]);
    }
    println!("{t}");
    let keys = store.keys()?;
    let stored_here = cells.iter().filter(|c| keys.contains(&c.key)).count();
    println!(
        "{spent} cells measured by the active sweep, {failed} failed; {stored_here} of the grid's {} cells stored (run \
         without --active to measure the rest)",
        cells.len()
    );
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
