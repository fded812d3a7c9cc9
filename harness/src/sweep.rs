//! The live active sweep behind `harness run GRID --active [--budget N]`: measure a grid's
//! cells in the order an active policy asks for them (see [`crate::meta::active`]), learning
//! from the store's tasks of other grids, and stop each task once its recommendation is
//! stable. It sits above [`crate::execute`] and [`crate::meta`]: the one place where
//! measuring and learning alternate.

use std::collections::BTreeMap;

use crate::execute::plan::PlannedCell;
use crate::execute::runner::{self, RunOptions};
use crate::hardware::fingerprint::fingerprint;
use crate::meta::active::{self, Policy, STABLE_STEPS};
use crate::meta::features::{Arm, TaskDescriptor};
use crate::meta::load::{self, ModelCatalog};
use crate::meta::objective::{Constraints, Objective};
use crate::meta::selectors;
use crate::record::task::task_name;
use crate::record::{CellStatus, MachineClass};
use crate::store::ResultStore;
use crate::BadInput;
use anyhow::{bail, Result};

/// How the sweep runs.
pub struct SweepOptions {
    /// The learner that predicts (it must predict performance, not read the truth).
    pub selector: String,
    /// At most this many cells measured.
    pub budget: Option<usize>,
}

/// Where a sweep left one task.
pub struct TaskOutcome {
    pub name: String,
    /// Cells of the task stored now, and its cells in the grid.
    pub measured: usize,
    pub cells: usize,
    /// The recommended cell's arm.
    pub arm: Arm,
    /// The recommended cell's latency: measured, predicted, or unknown.
    pub latency: Latency,
}

pub enum Latency {
    Measured(f64),
    Predicted(f64),
    Unknown,
}

/// What a sweep did.
pub struct SweepOutcome {
    pub tasks: Vec<TaskOutcome>,
    /// Cells measured by this sweep, and how many of them failed.
    pub spent: usize,
    pub failed: usize,
    /// The grid's cells stored now, of its cells.
    pub stored: usize,
    pub planned: usize,
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
                (Some(s), CellStatus::Ok) if s.verdict.is_valid() => {
                    Objective::Latency.raw(s).and_then(|x| Objective::Latency.performance(x))
                }
                _ => None,
            }))
        })
        .collect()
}

pub fn run(
    a: &SweepOptions,
    grid_name: &str,
    cells: &[PlannedCell],
    store: &dyn ResultStore,
    machine: &MachineClass,
    opts: &RunOptions,
) -> Result<SweepOutcome> {
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
            name: task_name(&m, &w, &h),
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
    let mut outcomes = vec![];
    for task in &tasks {
        let measured = measured(store, &task.cells)?;
        let (rec, _) = active::decide(&task.belief, &measured, Policy::Active, &[]);
        let c = &task.cells[rec].config;
        let latency = match measured[rec] {
            Some(Some(p)) => Latency::Measured(1.0 / p),
            _ if task.belief.mean[rec].is_finite() => Latency::Predicted((-task.belief.mean[rec]).exp()),
            _ => Latency::Unknown,
        };
        outcomes.push(TaskOutcome {
            name: task.name.clone(),
            measured: measured.iter().filter(|m| m.is_some()).count(),
            cells: task.cells.len(),
            arm: Arm { technique: c.technique.clone(), threads: c.threads, engine: c.engine.clone() },
            latency,
        });
    }
    let keys = store.keys()?;
    let stored = cells.iter().filter(|c| keys.contains(&c.key)).count();
    Ok(SweepOutcome { tasks: outcomes, spent, failed, stored, planned: cells.len() })
}
