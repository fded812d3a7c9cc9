//! Cross-validated evaluation of selectors on a task table.
//!
//! For every outer fold each selector is fitted on the fold's [`Training`] alone and
//! scores the held-out tasks' candidate arms; the scores become [`PerTask`] metrics,
//! aggregated with bootstrap CIs over tasks and tested, paired by task, against the
//! baseline. `random`, `heuristic` and `single-best` always run: the efficiency gains
//! and the gap closed are measured against them.
//!
//! A fitted selector that cannot score a held-out task fails the evaluation (naming
//! selector and task): no stand-in is substituted for it. Stand-ins a learner uses
//! inside (its fallbacks) are summed per selector into the record's config.

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use serde_json::json;

use super::cv::{folds, CvScheme, Training};
use super::metrics::{aggregate, paired_test, per_task, resamples, PerTask, SelectorTasks};
use super::selectors::{self, Selector};
use super::tasks::{TaskTable, INFEASIBLE_FACTOR};
use crate::record::{EvaluationRecord, SelectorResult, TaskPick};

pub struct Options {
    /// Selectors to report, in order (empty: every registered one).
    pub selectors: Vec<String>,
    pub baseline: String,
    pub cv: CvScheme,
    pub budget: Option<f64>,
    /// Bootstrap resamples for the CIs.
    pub bootstrap: usize,
    pub seed: u64,
    /// Extra facts for the record's config (constraints, store path, warnings).
    pub context: serde_json::Value,
}

/// Per-task results of every selector that ran, in table task order.
pub struct Outcome {
    pub record: EvaluationRecord,
    /// Selector name → per-task results.
    pub per_task: Vec<(String, Vec<PerTask>)>,
    pub folds: usize,
}

/// Names to run: the requested ones plus the references metrics need, requested first.
/// Selector names to report, and the selectors to run.
type Plan = (Vec<String>, Vec<Box<dyn Selector>>);

fn plan(opts: &Options) -> Result<Plan> {
    let mut report: Vec<String> = if opts.selectors.is_empty() {
        selectors::names().iter().map(|s| s.to_string()).collect()
    } else {
        opts.selectors.clone()
    };
    for must in [opts.baseline.as_str(), "single-best"] {
        if !report.iter().any(|s| s == must) {
            report.push(must.to_string());
        }
    }
    let mut run = report.clone();
    for reference in ["random", "heuristic", "single-best"] {
        if !run.iter().any(|s| s == reference) {
            run.push(reference.into());
        }
    }
    let selectors = run.iter().map(|n| selectors::by_name(n)).collect::<Result<Vec<_>>>()?;
    Ok((report, selectors))
}

pub fn evaluate(table: &TaskTable, opts: &Options) -> Result<Outcome> {
    if table.tasks.is_empty() {
        bail!("no tasks to evaluate");
    }
    let (report, selectors) = plan(opts)?;
    let folds = folds(table, opts.cv)?;
    let n = table.tasks.len();
    let mut results: Vec<Vec<Option<PerTask>>> = vec![vec![None; n]; selectors.len()];
    let mut fallbacks = vec![0usize; selectors.len()];
    for fold in &folds {
        let train = Training::from_table(table, &fold.train, opts.budget);
        for (s, sel) in selectors.iter().enumerate() {
            let start = Instant::now();
            let model = sel.fit(&train).map_err(|e| anyhow!("selector `{}` on {}: {e:#}", sel.name(), fold.name))?;
            let fit_ms = start.elapsed().as_secs_f64() * 1e3 / fold.test.len() as f64;
            for &t in &fold.test {
                let mut q = train.query_for(table, t);
                if sel.needs_truth() {
                    q.truth = Some(q.candidates.iter().map(|&a| table.perf(t, a).unwrap_or(0.0)).collect());
                }
                let start = Instant::now();
                let scores = model
                    .scores(&q)
                    .map_err(|e| anyhow!("selector `{}` on task {}: {e:#}", sel.name(), table.tasks[t].id))?;
                let ms = fit_ms + start.elapsed().as_secs_f64() * 1e3;
                results[s][t] = Some(per_task(table, t, &q.candidates, &scores, ms));
            }
            fallbacks[s] += model.fallbacks();
        }
    }
    let per_task: Vec<(String, Vec<PerTask>)> = selectors
        .iter()
        .zip(results)
        .map(|(s, r)| (s.name().to_string(), r.into_iter().map(|p| p.expect("every task is in one fold")).collect()))
        .collect();
    let get = |name: &str| &per_task.iter().find(|(n, _)| n == name).expect("reference selector ran").1;
    let boot = resamples(n, opts.bootstrap, opts.seed);
    let baseline_regret: Vec<f64> = get(&opts.baseline).iter().map(|p| p.regret).collect();
    let mut selector_results = Vec::new();
    let mut picks = Vec::new();
    for name in &report {
        let tasks = get(name);
        let metrics = aggregate(
            &SelectorTasks {
                tasks,
                single_best: get("single-best"),
                random: get("random"),
                heuristic: get("heuristic"),
            },
            &boot,
        );
        let regret: Vec<f64> = tasks.iter().map(|p| p.regret).collect();
        let p_value = if *name == opts.baseline { None } else { paired_test(&regret, &baseline_regret, opts.seed) };
        selector_results.push(SelectorResult { selector: name.clone(), metrics, p_value_vs_baseline: p_value });
        for (t, p) in tasks.iter().enumerate() {
            picks.push(TaskPick {
                task: table.tasks[t].id.clone(),
                selector: name.clone(),
                pick: p.pick.clone(),
                oracle: table.arms[table.oracle_arm(t)].name(),
                regret: p.regret,
            });
        }
    }
    let infeasible_cells = table.outcomes.iter().flatten().flatten().filter(|o| !o.feasible).count();
    let mut config = json!({
        "tasks": n,
        "arms": table.arms.len(),
        "cells": table.outcomes.iter().flatten().flatten().count(),
        "infeasible_cells": infeasible_cells,
        "folds": folds.len(),
        "left_out": table.left_out,
        "bootstrap_resamples": opts.bootstrap,
        "seed": opts.seed,
        "tie_tolerance": super::metrics::TIE_TOLERANCE,
        "units": {
            "top1, top3, ndcg3, spearman, gap_closed": "fraction",
            "regret_mean, regret_median, regret_p90": "fraction of the oracle's performance lost, 0..1",
            "gain_vs_random, gain_vs_heuristic": "percent (mean per-task speed-up ratio - 1)",
            "infeasible_picks": "share of tasks",
            "selection_ms": "milliseconds per task (fit share + scoring)",
        },
        "infeasible_penalty": format!(
            "an infeasible arm performs at {INFEASIBLE_FACTOR} x the task's worst feasible arm in every metric"
        ),
        "embeddings": table.tasks.iter().all(|t| t.embedding.is_some()),
        "selectors": report.iter().map(|n| {
            let d = selectors::by_name(n).map(|s| s.describe()).unwrap_or_default();
            json!({"name": n, "describe": d})
        }).collect::<Vec<_>>(),
        "context": opts.context,
    });
    // Only when a learner used a stand-in, so a record without the key had none.
    let used: serde_json::Map<String, serde_json::Value> = selectors
        .iter()
        .zip(&fallbacks)
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| (s.name().to_string(), json!(n)))
        .collect();
    if !used.is_empty() {
        config["fallbacks"] = serde_json::Value::Object(used);
    }
    let record = EvaluationRecord {
        id: 0,
        created_at: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        objective: table.objective.as_str().into(),
        cv: opts.cv.as_str().into(),
        baseline: opts.baseline.clone(),
        config_json: config.to_string(),
        selectors: selector_results,
        picks,
    };
    Ok(Outcome { record, per_task, folds: folds.len() })
}
