//! Evaluation of selectors on a task table: cross-validated, or frozen (fit on one
//! task set, scored once on another).
//!
//! For every outer fold each selector is fitted on the fold's [`Training`] alone and
//! scores the held-out tasks' candidate arms; the scores become [`PerTask`] metrics.
//! Learners that draw random numbers run once per learner seed (`seeds`), and their
//! per-task results are averaged over the seeds (the spread of the mean regret across
//! seeds is reported). Aggregates carry bootstrap CIs over **groups** of tasks (by
//! default a (model, workload) kind: a task's twins on other nodes are not independent
//! evidence); the focal selector's paired differences to every other one get group
//! bootstrap CIs and group permutation p-values, Holm-corrected across the selectors
//! compared. Measurement noise is carried through by resampling each cell's stored
//! repetitions ([`super::noise`]). Selectors that predict performance report its error
//! (MAPE, share within ±10 %, rank correlation).
//!
//! `random`, `heuristic` and `single-best` always run: the efficiency gains and the
//! gap closed are measured against them. A fitted selector that cannot score a
//! held-out task fails the evaluation (naming selector and task): no stand-in is
//! substituted for it. Stand-ins a learner uses inside (its fallbacks) are summed per
//! selector into the record's config.

use std::time::Instant;

use anyhow::{anyhow, bail, Result};
use rayon::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::cv::{folds, kind, CvScheme, Fold, Training};
use super::learn::level::Level;
use super::metrics::{
    aggregate, group_paired_test, group_resamples, holm, mean_ci, per_task, prediction_error, PerTask, SelectorTasks,
};
use super::noise::{self, Resampled};
use super::selectors::{self, Selector};
use super::tasks::TaskTable;
use crate::record::{EvaluationRecord, MetricCi, SelectorResult, TaskPick};

/// What the bootstrap and the permutation test resample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    Task,
    Model,
    /// (model, workload): a task on every node.
    Kind,
}

impl GroupBy {
    pub fn key(self, t: &super::tasks::Task) -> String {
        match self {
            GroupBy::Task => t.id.clone(),
            GroupBy::Model => t.model.clone(),
            GroupBy::Kind => kind(t),
        }
    }
}

pub struct Options {
    /// Selectors to report, in order (empty: every registered one).
    pub selectors: Vec<String>,
    pub baseline: String,
    pub cv: CvScheme,
    /// A frozen protocol instead of cross-validation: (training tasks, test tasks, label).
    pub split: Option<(Vec<usize>, Vec<usize>, String)>,
    pub budget: Option<f64>,
    /// Bootstrap resamples for the CIs.
    pub bootstrap: usize,
    pub seed: u64,
    /// Learner seeds (seed, seed + 1, ...) for the learners that draw random numbers.
    pub seeds: usize,
    pub group_by: GroupBy,
    /// The selector whose paired differences to the others are reported (when reported).
    pub focus: String,
    /// Resamples of the stored repetitions (0: no noise analysis).
    pub noise_resamples: usize,
    /// Extra facts for the record's config (constraints, store path, warnings).
    pub context: serde_json::Value,
}

impl Options {
    /// Defaults for tests and benches: LOTO, 200 resamples, one seed, grouped by task.
    pub fn quick(selectors: &[&str]) -> Options {
        Options {
            selectors: selectors.iter().map(|s| s.to_string()).collect(),
            baseline: "random".into(),
            cv: CvScheme::Loto,
            split: None,
            budget: None,
            bootstrap: 200,
            seed: 1,
            seeds: 1,
            group_by: GroupBy::Task,
            focus: "ours".into(),
            noise_resamples: 0,
            context: serde_json::Value::Null,
        }
    }
}

/// Per-task results of every selector that ran, in table task order.
pub struct Outcome {
    pub record: EvaluationRecord,
    /// Selector name → per-task results (for the tested tasks, in `tested` order).
    pub per_task: Vec<(String, Vec<PerTask>)>,
    /// Table indices of the tasks scored.
    pub tested: Vec<usize>,
    pub folds: usize,
    /// The folds themselves (fold-membership checks).
    pub fold_list: Vec<Fold>,
}

/// Selector names to report, and the selectors to run.
type Plan = (Vec<String>, Vec<Box<dyn Selector>>);

fn plan(opts: &Options) -> Result<Plan> {
    let mut report: Vec<String> = if opts.selectors.is_empty() {
        selectors::names().iter().map(|s| s.to_string()).collect()
    } else {
        opts.selectors.clone()
    };
    for must in [opts.baseline.as_str(), "single-best", "single-best-fair"] {
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

/// A short, stable hash of a set of task ids.
pub fn task_set_hash(table: &TaskTable, idx: &[usize]) -> String {
    let mut ids: Vec<&str> = idx.iter().map(|&t| table.tasks[t].id.as_str()).collect();
    ids.sort_unstable();
    hex::encode(&Sha256::digest(ids.join("\n").as_bytes())[..8])
}

/// One fold's (task, result) pairs and the fallbacks its model used.
type FoldResults = (Vec<(usize, PerTask)>, usize);

/// Results of one selector over every fold, for one learner seed.
fn run_selector(
    table: &TaskTable,
    folds: &[Fold],
    trainings: &[(Training, Level)],
    sel: &dyn Selector,
    n: usize,
) -> Result<(Vec<Option<PerTask>>, usize)> {
    // Folds in parallel (each fits its own model; results do not depend on the order).
    let per_fold: Vec<Result<FoldResults>> = folds
        .par_iter()
        .zip(trainings.par_iter())
        .map(|(fold, (train, level))| {
            let start = Instant::now();
            let model = sel.fit(train).map_err(|e| anyhow!("selector `{}` on {}: {e:#}", sel.name(), fold.name))?;
            let fit_ms = start.elapsed().as_secs_f64() * 1e3 / fold.test.len().max(1) as f64;
            let mut out = vec![];
            let mut uncounted = 0;
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
                let mut p = per_task(table, t, &q.candidates, &scores, ms);
                // Predicting again for the error report is not a second answer: stand-ins
                // noted meanwhile are not counted as fallbacks.
                let noted = model.fallbacks();
                if !sel.needs_truth() {
                    let absolute = match model.predicted_log_perf(&q)? {
                        Some(v) => Some(v),
                        None => model
                            .predicted_targets(&q)?
                            .map(|rel| rel.iter().map(|r| r + level.predict(&q)).collect::<Vec<f64>>()),
                    };
                    if let Some(pred) = absolute {
                        p.prediction = prediction_error(table, t, &q.candidates, &pred, p.picks[0]);
                    }
                }
                uncounted += model.fallbacks() - noted;
                out.push((t, p));
            }
            Ok((out, model.fallbacks() - uncounted))
        })
        .collect();
    let mut results: Vec<Option<PerTask>> = vec![None; n];
    let mut fallbacks = 0;
    for r in per_fold {
        let (out, fb) = r?;
        fallbacks += fb;
        for (t, p) in out {
            results[t] = Some(p);
        }
    }
    coverage(&mut results, folds);
    Ok((results, fallbacks))
}

/// The measured coverage of split-conformal 90 % intervals (cross-conformal, as CV+): a task's
/// interval is its prediction × exp(±q), q the conformal quantile of the absolute ln errors on
/// the tasks of every *other* fold, so no task calibrates its own interval.
fn coverage(results: &mut [Option<PerTask>], folds: &[Fold]) {
    let residuals = |f: &Fold, results: &[Option<PerTask>]| -> Vec<f64> {
        f.test
            .iter()
            .filter_map(|&t| results[t].as_ref()?.prediction.as_ref())
            .flat_map(|e| e.residuals.iter().copied())
            .collect()
    };
    let per_fold: Vec<Vec<f64>> = folds.iter().map(|f| residuals(f, results)).collect();
    for (k, f) in folds.iter().enumerate() {
        let pool: Vec<f64> =
            per_fold.iter().enumerate().filter(|(j, _)| *j != k).flat_map(|(_, r)| r.iter().copied()).collect();
        let Some(q) = super::recommend::conformal_quantile(&pool, super::recommend::COVERAGE) else { continue };
        for &t in &f.test {
            let Some(e) = results[t].as_mut().and_then(|p| p.prediction.as_mut()) else { continue };
            if e.pick_residual.is_finite() {
                e.cover90 = f64::from(e.pick_residual <= q);
            }
            if !e.residuals.is_empty() {
                e.cover90_arms = e.residuals.iter().filter(|r| **r <= q).count() as f64 / e.residuals.len() as f64;
            }
        }
    }
}

/// Paired differences of per-task regrets: for each (row, x, y) the row gains the mean of x − y
/// with its group-bootstrap CI, the group permutation p-value, and Holm's correction over all rows.
fn paired_differences(
    pairs: Vec<(serde_json::Value, Vec<f64>, Vec<f64>)>,
    boot: &[Vec<usize>],
    groups: &[String],
    seed: u64,
) -> Vec<serde_json::Value> {
    let mut ps = vec![];
    let mut rows = vec![];
    for (mut row, x, y) in pairs {
        let d: Vec<f64> = x.iter().zip(&y).map(|(a, b)| a - b).collect();
        let (v, lo, hi) = mean_ci(&d, boot);
        ps.push(group_paired_test(&x, &y, groups, seed).unwrap_or(1.0));
        row["diff"] = json!(v);
        row["ci_lo"] = json!(lo);
        row["ci_hi"] = json!(hi);
        rows.push(row);
    }
    for (row, (p, h)) in rows.iter_mut().zip(ps.iter().zip(holm(&ps))) {
        row["p"] = json!(p);
        row["p_holm"] = json!(h);
    }
    rows
}

/// How many tested tasks' best arm differs from the single arm best over them all (the arm
/// with the highest mean share of each task's best, infeasible or not run = 0): beyond the
/// tie tolerance, the task loses by taking that one arm.
fn choice_matters(table: &TaskTable, tested: &[usize]) -> serde_json::Value {
    let share = |t: usize, a: usize| -> f64 {
        let best = table.best(t);
        match &table.outcomes[t][a] {
            Some(o) if o.feasible && best > 0.0 => o.perf / best,
            _ => 0.0,
        }
    };
    let Some(sb) = (0..table.arms.len()).max_by(|&a, &b| {
        let m = |a: usize| tested.iter().map(|&t| share(t, a)).sum::<f64>();
        m(a).total_cmp(&m(b)).then(b.cmp(&a))
    }) else {
        return json!(null);
    };
    let differs = tested
        .iter()
        .filter(|&&t| table.best(t).is_finite() && share(t, sb) < 1.0 - super::metrics::TIE_TOLERANCE)
        .count();
    json!({
        "tasks": tested.len(),
        "differs": differs,
        "single_best_arm": table.arms[sb].name(),
        "single_best_mean_share": tested.iter().map(|&t| share(t, sb)).sum::<f64>() / tested.len().max(1) as f64,
    })
}

/// The comparisons the evaluation leads with: the best no-fit rule and the fair single-best
/// among the selectors reported (best = lowest mean regret on these very tasks, which favours
/// the baseline), and every learner's paired difference to each, with group-bootstrap CIs,
/// group permutation p-values and Holm's correction over all those comparisons.
fn headline(
    report: &[String],
    regret_of: &dyn Fn(&str) -> Vec<f64>,
    boot: &[Vec<usize>],
    groups: &[String],
    seed: u64,
) -> serde_json::Value {
    let family = |n: &str| selectors::by_name(n).map(|s| s.family()).ok();
    let mean = |n: &str| {
        let r = regret_of(n);
        r.iter().sum::<f64>() / r.len().max(1) as f64
    };
    let best_of = |f: selectors::Family| {
        report.iter().filter(|n| family(n) == Some(f)).min_by(|a, b| mean(a).total_cmp(&mean(b))).cloned()
    };
    let no_fit = best_of(selectors::Family::NoFit);
    let fair = report.iter().find(|n| *n == "single-best-fair").cloned();
    let learners: Vec<&String> = report.iter().filter(|n| family(n) == Some(selectors::Family::Learner)).collect();
    let mut pairs = vec![];
    for l in &learners {
        for (kind, base) in [("best no-fit rule", &no_fit), ("single-best-fair", &fair)] {
            let Some(b) = base else { continue };
            pairs.push((json!({"learner": l, "against": kind, "baseline": b}), regret_of(l), regret_of(b)));
        }
    }
    let rows = paired_differences(pairs, boot, groups, seed);
    json!({
        "best_no_fit": no_fit.as_ref().map(|n| json!({"name": n, "regret_mean": mean(n)})),
        "single_best_fair": fair.as_ref().map(|n| json!({"name": n, "regret_mean": mean(n)})),
        "rows": rows,
    })
}

/// The mean of per-task results over seeds (picks and prediction of the first seed).
fn average(seeds: Vec<Vec<PerTask>>) -> Vec<PerTask> {
    let k = seeds.len() as f64;
    let mut out = seeds[0].clone();
    for (i, p) in out.iter_mut().enumerate() {
        let avg = |f: fn(&PerTask) -> f64| seeds.iter().map(|s| f(&s[i])).sum::<f64>() / k;
        p.top1 = avg(|x| x.top1);
        p.top3 = avg(|x| x.top3);
        p.regret = avg(|x| x.regret);
        p.ndcg3 = avg(|x| x.ndcg3);
        p.spearman = avg(|x| x.spearman);
        p.infeasible = avg(|x| x.infeasible);
        p.below_floor = avg(|x| x.below_floor);
        p.share = avg(|x| x.share);
        p.ms = avg(|x| x.ms);
    }
    out
}

pub fn evaluate(table: &TaskTable, opts: &Options) -> Result<Outcome> {
    if table.tasks.is_empty() {
        bail!("no tasks to evaluate");
    }
    let (report, selectors) = plan(opts)?;
    let folds = match &opts.split {
        Some((train, test, label)) => super::cv::split(table, train.clone(), test.clone(), label)?,
        None => folds(table, opts.cv, opts.seed)?,
    };
    let n = table.tasks.len();
    let mut tested: Vec<usize> = folds.iter().flat_map(|f| f.test.iter().copied()).collect();
    tested.sort_unstable();
    tested.dedup();
    let seeds = opts.seeds.max(1);
    let trainings: Vec<Vec<(Training, Level)>> = (0..seeds as u64)
        .map(|s| {
            folds
                .iter()
                .map(|f| {
                    let t = Training::from_table_seeded(table, &f.train, opts.budget, opts.seed.wrapping_add(s));
                    let level = Level::fit(&t);
                    (t, level)
                })
                .collect()
        })
        .collect();
    let mut per_task: Vec<(String, Vec<PerTask>)> = vec![];
    let mut seed_regret: Vec<(String, Vec<f64>)> = vec![];
    let mut fallbacks = vec![];
    for sel in &selectors {
        let runs = if sel.seeded() { seeds } else { 1 };
        let mut per_seed = vec![];
        let mut fb = 0;
        for tr in trainings.iter().take(runs) {
            let (r, f) = run_selector(table, &folds, tr, sel.as_ref(), n)?;
            fb += f;
            per_seed.push(tested.iter().map(|&t| r[t].clone().expect("every tested task is in a fold")).collect());
        }
        let means: Vec<f64> =
            per_seed.iter().map(|s: &Vec<PerTask>| s.iter().map(|p| p.regret).sum::<f64>() / s.len() as f64).collect();
        seed_regret.push((sel.name().to_string(), means));
        fallbacks.push((sel.name().to_string(), fb));
        per_task.push((sel.name().to_string(), average(per_seed)));
    }
    let get = |name: &str| &per_task.iter().find(|(n, _)| n == name).expect("reference selector ran").1;
    let groups: Vec<String> = tested.iter().map(|&t| opts.group_by.key(&table.tasks[t])).collect();
    let boot = group_resamples(&groups, opts.bootstrap, opts.seed);
    let noise = (opts.noise_resamples > 0).then(|| Resampled::new(table, opts.noise_resamples, opts.seed));
    let regret_of = |name: &str| get(name).iter().map(|p| p.regret).collect::<Vec<f64>>();
    let baseline_regret = regret_of(&opts.baseline);
    let mut selector_results = Vec::new();
    let mut picks = Vec::new();
    for name in &report {
        let tasks = get(name);
        let mut metrics = aggregate(
            &SelectorTasks {
                tasks,
                single_best: get("single-best"),
                random: get("random"),
                heuristic: get("heuristic"),
            },
            &boot,
        );
        if let Some(rs) = &noise {
            let top1: Vec<f64> = tested.iter().zip(tasks).map(|(&t, p)| rs.top1(table, t, p)).collect();
            let (v, lo, hi) = mean_ci(&top1, &boot);
            metrics.push(MetricCi { name: "top1_noise".into(), value: v, ci_lo: lo, ci_hi: hi });
            let (v, lo, hi) = rs.regret_interval(table, &tested, tasks);
            metrics.push(MetricCi { name: "regret_mean_noise".into(), value: v, ci_lo: lo, ci_hi: hi });
        }
        let seeds_of = &seed_regret.iter().find(|(s, _)| s == name).expect("ran").1;
        if seeds_of.len() > 1 {
            let mn = seeds_of.iter().copied().fold(f64::INFINITY, f64::min);
            let mx = seeds_of.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let m = seeds_of.iter().sum::<f64>() / seeds_of.len() as f64;
            metrics.push(MetricCi { name: "regret_mean_seeds".into(), value: m, ci_lo: mn, ci_hi: mx });
        }
        let regret: Vec<f64> = tasks.iter().map(|p| p.regret).collect();
        let p_value = if *name == opts.baseline {
            None
        } else {
            group_paired_test(&regret, &baseline_regret, &groups, opts.seed)
        };
        selector_results.push(SelectorResult { selector: name.clone(), metrics, p_value_vs_baseline: p_value });
        for (i, p) in tasks.iter().enumerate() {
            let t = tested[i];
            picks.push(TaskPick {
                task: table.tasks[t].id.clone(),
                selector: name.clone(),
                pick: p.pick.clone(),
                oracle: table.arms[table.oracle_arm(t)].name(),
                regret: p.regret,
            });
        }
    }
    // Paired differences of the focal selector to every other one reported.
    let mut paired = vec![];
    if report.contains(&opts.focus) {
        let f = regret_of(&opts.focus);
        let pairs = report
            .iter()
            .filter(|s| **s != opts.focus && *s != "oracle")
            .map(|o| (json!({"other": o}), f.clone(), regret_of(o)))
            .collect();
        paired = paired_differences(pairs, &boot, &groups, opts.seed);
    }
    let noise_summary = noise.as_ref().map(|rs| noise::summary(table, &tested, rs));
    let infeasible_cells = table.outcomes.iter().flatten().flatten().filter(|o| !o.feasible).count();
    let train_set: Vec<usize> = match &opts.split {
        Some((train, _, _)) => train.clone(),
        None => (0..n).collect(),
    };
    let mut config = json!({
        "tasks": tested.len(),
        "tasks_in_table": n,
        "arms": table.arms.len(),
        "cells": table.outcomes.iter().flatten().flatten().count(),
        "infeasible_cells": infeasible_cells,
        "invalid_cells_left_out": table.invalid.len(),
        "folds": folds.len(),
        "protocol": match &opts.split {
            Some((_, _, label)) => json!({"kind": "frozen", "label": label}),
            None => json!({"kind": "cross-validation", "scheme": opts.cv.as_str()}),
        },
        "train_tasks_hash": task_set_hash(table, &train_set),
        "test_tasks_hash": task_set_hash(table, &tested),
        "code_revision": env!("HARNESS_GIT_REV"),
        "selector_code_revision": env!("HARNESS_SELECTORS_REV"),
        "left_out": table.left_out,
        "bootstrap_resamples": opts.bootstrap,
        "bootstrap_groups": opts.group_by,
        "groups": crate::meta::metrics::group_members(&groups).len(),
        "seed": opts.seed,
        "learner_seeds": seeds,
        "tie_tolerance": super::metrics::TIE_TOLERANCE,
        "units": {
            "top1, top1_noise, top3, ndcg3, spearman, gap_closed": "fraction",
            "regret_mean, regret_median, regret_p90": "fraction of the oracle's performance lost, 0..1",
            "regret_mean_seeds": "mean over learner seeds [min, max]",
            "regret_mean_noise": "mean [2.5%, 97.5%] over resamples of the stored repetitions (the first seed's picks)",
            "pred_mape, pred_pick_ape": "fraction (mean absolute percentage error of the predicted objective)",
            "pred_within10, pred_pick_within10": "share of arms (tasks) predicted within +-10%",
            "gain_vs_random, gain_vs_heuristic": "percent (mean per-task speed-up ratio - 1)",
            "infeasible_picks": "share of tasks",
            "floor_violations": "share of tasks whose pick ran but misses the quality floor (the one in force, else the default)",
            "pred_cover90, pred_cover90_arms": "share of picks (arms) whose measured figure lies in the split-conformal 90% interval calibrated on the other folds",
            "selection_ms": "milliseconds per task (fit share + scoring)",
        },
        "infeasible_rule": table.infeasible.label(),
        "infeasible_penalty": table.infeasible.describe(),
        "embeddings": table.tasks.iter().all(|t| t.embedding.is_some()),
        "focus": opts.focus,
        "paired_differences": paired,
        "noise": noise_summary,
        "selectors": report.iter().map(|n| {
            let s = selectors::by_name(n).ok();
            let manifest = s.as_ref().map(|s| super::freeze::status(s.as_ref()));
            json!({
                "name": n,
                "describe": s.as_ref().map(|s| s.describe()).unwrap_or_default(),
                "frozen": s.as_ref().map(|s| s.frozen()).unwrap_or_default(),
                "family": s.as_ref().map(|s| s.family().as_str()).unwrap_or_default(),
                "manifest": manifest.as_ref().map(|m| m.short()).unwrap_or_default(),
                "manifest_detail": manifest.as_ref().map(|m| m.label()).unwrap_or_default(),
            })
        }).collect::<Vec<_>>(),
        "headline": headline(&report, &regret_of, &boot, &groups, opts.seed),
        "choice_matters": choice_matters(table, &tested),
        "context": opts.context,
    });
    // Only when a learner used a stand-in, so a record without the key had none.
    let used: serde_json::Map<String, serde_json::Value> =
        fallbacks.iter().filter(|(_, n)| *n > 0).map(|(s, n)| (s.clone(), json!(n))).collect();
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
        cv: match &opts.split {
            Some(_) => "frozen".into(),
            None => opts.cv.as_str(),
        },
        baseline: opts.baseline.clone(),
        config_json: config.to_string(),
        selectors: selector_results,
        picks,
    };
    Ok(Outcome { record, per_task, tested, folds: folds.len(), fold_list: folds })
}
