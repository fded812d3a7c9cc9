//! Cross-validation without leakage.
//!
//! A fold's [`Training`] is a *copy* of the training tasks' rows only: features
//! standardised with means and deviations of those rows, targets, costs. The
//! held-out task reaches a selector only as a [`Query`] (its own features, scaled
//! with the training statistics, and the list of arms that were run for it), so
//! nothing a selector fits can depend on it. Selectors that tune hyper-parameters
//! do so on inner folds of their [`Training`] ([`Training::subset`] re-standardises
//! on each inner training part).

use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::features::{Arm, TaskFeatures};
use super::tasks::{Task, TaskTable};

/// How tasks are held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CvScheme {
    /// Leave one task out.
    Loto,
    /// Leave one model out: every task of the held-out model at once.
    Lomo,
    /// Leave one (model, workload) out: the task on every node at once, so a task's
    /// twin on another (emulated) node is never in training when it is tested.
    Lomw,
    /// Leave one hardware profile (node) out, scoring only task kinds (model ×
    /// workload) that also ran on another node: tasks no other node ran are never
    /// tested, so the scheme measures transfer across nodes, not novelty of the task.
    Loho,
    /// Leave one machine class out (needs a store measured on two machines or more).
    Lomach,
    /// K folds over (model, workload) groups, assigned by a seeded shuffle: the
    /// grouped scheme for large stores.
    Kfold(usize),
    /// The folds given with the tasks (an imported ASlib scenario's `cv.arff`).
    Given,
}

impl CvScheme {
    pub fn as_str(self) -> String {
        match self {
            CvScheme::Loto => "loto".into(),
            CvScheme::Lomo => "lomo".into(),
            CvScheme::Lomw => "lomw".into(),
            CvScheme::Loho => "loho".into(),
            CvScheme::Lomach => "lomach".into(),
            CvScheme::Kfold(k) => format!("kfold:{k}"),
            CvScheme::Given => "given".into(),
        }
    }

    /// `loto`, `lomo`, `lomw`, `loho`, `lomach`, `kfold:K` or `given`.
    pub fn parse(s: &str) -> Result<CvScheme, String> {
        Ok(match s.trim() {
            "loto" => CvScheme::Loto,
            "lomo" => CvScheme::Lomo,
            "lomw" => CvScheme::Lomw,
            "loho" => CvScheme::Loho,
            "lomach" => CvScheme::Lomach,
            "given" => CvScheme::Given,
            other => match other.strip_prefix("kfold:").map(str::parse::<usize>) {
                Some(Ok(k)) if k >= 2 => CvScheme::Kfold(k),
                _ => {
                    return Err(format!(
                        "bad --cv `{s}`: expected loto, lomo, lomw, loho, lomach, kfold:K (K >= 2) or given"
                    ))
                }
            },
        })
    }
}

/// The (model, workload) group of a task: a task kind, whatever node it ran on.
pub fn kind(t: &Task) -> String {
    format!("{} / {}", t.model, t.workload)
}

/// One outer fold.
#[derive(Debug, Clone, PartialEq)]
pub struct Fold {
    /// What is held out (`task …`, `model …`, `hardware …`).
    pub name: String,
    pub test: Vec<usize>,
    pub train: Vec<usize>,
}

/// The outer folds of `scheme`. Grouped schemes need at least two groups.
pub fn folds(table: &TaskTable, scheme: CvScheme, seed: u64) -> Result<Vec<Fold>> {
    let n = table.tasks.len();
    if n < 2 {
        bail!(
            "cross-validation needs at least 2 tasks with a feasible arm; the store has {n} \
             (run more of the grid, e.g. `harness run experiments/grid.yaml`)"
        );
    }
    let key = |t: &Task| -> String {
        match scheme {
            CvScheme::Loto => t.id.clone(),
            CvScheme::Lomo => t.model.clone(),
            CvScheme::Lomw | CvScheme::Kfold(_) => kind(t),
            CvScheme::Loho => t.hardware.clone(),
            CvScheme::Lomach => t.machine.clone(),
            CvScheme::Given => t.fold.map_or_else(|| "none".into(), |f| format!("{f:04}")),
        }
    };
    let keys: Vec<String> = table.tasks.iter().map(key).collect();
    let groups: Vec<String> = keys.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let (label, what, grid) = match scheme {
        CvScheme::Loto => ("task", "tasks", "experiments/grid.yaml"),
        CvScheme::Lomo => ("model", "models", "experiments/meta_wide.yaml"),
        CvScheme::Lomw | CvScheme::Kfold(_) => ("model / workload", "(model, workload) kinds", "experiments/grid.yaml"),
        CvScheme::Loho => ("hardware", "hardware profiles", "experiments/holdout.yaml"),
        CvScheme::Lomach => ("machine", "machine classes", "experiments/grid.yaml (on another machine, then merge)"),
        CvScheme::Given => ("fold", "given folds", "an ASlib scenario (`harness aslib import`)"),
    };
    if scheme == CvScheme::Given && table.tasks.iter().any(|t| t.fold.is_none()) {
        bail!("--cv given needs a fold for every task (an imported ASlib scenario); these tasks have none");
    }
    if groups.len() < 2 {
        bail!(
            "--cv {} needs tasks on at least two {what}; the store has only `{}`. \
             Use --cv loto, or run a grid with more of them (e.g. `harness run {grid}`)",
            scheme.as_str(),
            groups.join("`, `")
        );
    }
    let folds: Vec<Fold> = match scheme {
        CvScheme::Kfold(k) => {
            let mut order = groups.clone();
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xf01d);
            order.shuffle(&mut rng);
            let k = k.min(order.len());
            (0..k)
                .map(|f| {
                    let held: Vec<&String> = order.iter().skip(f).step_by(k).collect();
                    let (test, train) = (0..n).partition(|&t| held.contains(&&keys[t]));
                    Fold { name: format!("fold {} of {k} ({} groups)", f + 1, held.len()), test, train }
                })
                .collect()
        }
        CvScheme::Loho => {
            // Kinds present on at least two nodes.
            let mut nodes: std::collections::BTreeMap<String, std::collections::BTreeSet<&str>> = Default::default();
            for t in &table.tasks {
                nodes.entry(kind(t)).or_default().insert(&t.hardware);
            }
            groups
                .iter()
                .map(|g| {
                    let test = (0..n)
                        .filter(|&t| keys[t] == *g && nodes[&kind(&table.tasks[t])].len() >= 2)
                        .collect::<Vec<_>>();
                    let train = (0..n).filter(|&t| keys[t] != *g).collect();
                    Fold { name: format!("{label} {g}"), test, train }
                })
                .filter(|f| !f.test.is_empty())
                .collect()
        }
        _ => groups
            .iter()
            .map(|g| {
                let (test, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&t| keys[t] == *g);
                Fold { name: format!("{label} {g}"), test, train }
            })
            .collect(),
    };
    if folds.is_empty() {
        bail!(
            "--cv {}: no task kind (model, workload) ran on two nodes, so no task can be held out with its node; \
             run a grid that repeats tasks on another node (e.g. `harness run {grid}`)",
            scheme.as_str()
        );
    }
    Ok(folds)
}

/// The one fold of a frozen protocol: fit on the tasks `train`, score `test` once.
pub fn split(table: &TaskTable, train: Vec<usize>, test: Vec<usize>, name: &str) -> Result<Vec<Fold>> {
    if train.is_empty() || test.is_empty() {
        bail!(
            "--train/--test: {} training and {} test tasks in the store; both must be non-empty",
            train.len(),
            test.len()
        );
    }
    if let Some(t) = train.iter().find(|t| test.contains(t)) {
        bail!("--train/--test: task {} is in both sets", table.tasks[*t].id);
    }
    Ok(vec![Fold { name: name.into(), test, train }])
}

/// Column means and deviations of the training rows; NaN (unknown) is imputed with the
/// mean, a constant column scales by 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
}

impl Standardizer {
    pub fn fit(rows: &[Vec<f64>]) -> Standardizer {
        let d = rows.first().map_or(0, Vec::len);
        let mut mean = vec![0.0; d];
        let mut std = vec![1.0; d];
        for j in 0..d {
            let col: Vec<f64> = rows.iter().map(|r| r[j]).filter(|x| x.is_finite()).collect();
            if col.is_empty() {
                continue;
            }
            let m = col.iter().sum::<f64>() / col.len() as f64;
            let v = col.iter().map(|x| (x - m).powi(2)).sum::<f64>() / col.len() as f64;
            mean[j] = m;
            std[j] = if v.sqrt() > 1e-12 { v.sqrt() } else { 1.0 };
        }
        Standardizer { mean, std }
    }

    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(x, (m, s))| if x.is_finite() { (x - m) / s } else { 0.0 })
            .collect()
    }
}

/// What a selector learns from: the training tasks of one fold, and nothing else.
#[derive(Debug, Clone, PartialEq)]
pub struct Training {
    pub arms: Vec<Arm>,
    pub ids: Vec<String>,
    /// Raw features (rules and arm features read these).
    pub raw: Vec<TaskFeatures>,
    /// Standardised features.
    pub x: Vec<Vec<f64>>,
    pub emb: Vec<Option<Vec<f64>>>,
    /// `[task][arm]` ln(perf / best), `None` where the arm was not run; an infeasible
    /// arm at the legacy penalty ([`TaskTable::legacy_target`]): the signal the selectors
    /// of `selectors-frozen-1` were built on, kept for them unchanged.
    pub y: Vec<Vec<Option<f64>>>,
    /// `[task][arm]` ln(perf / best) of feasible arms only (`None`: not run or infeasible).
    pub y_ok: Vec<Vec<Option<f64>>>,
    /// `[task][arm]` whether the arm ran and was feasible (`None`: not run).
    pub feasible: Vec<Vec<Option<bool>>>,
    /// Raw [`Task::extra`] features, named by [`Training::extra_names`]; part of the
    /// standardised rows `x` only for tables whose extras are their features
    /// ([`TaskTable::extra_in_x`], an imported scenario).
    pub raw_extra: Vec<Vec<f64>>,
    pub extra_names: Vec<String>,
    pub extra_in_x: bool,
    /// Seed for learners that draw random numbers (`--seed`).
    pub seed: u64,
    /// The objective the targets measure.
    pub objective: crate::meta::objective::Objective,
    /// ln of each task's best performance (for absolute predictions).
    pub log_best: Vec<f64>,
    /// `[task][arm]` cost per 1k tokens where measured.
    pub cost: Vec<Vec<Option<f64>>>,
    pub standardizer: Standardizer,
    /// `--budget`, for budget-aware selectors.
    pub budget: Option<f64>,
}

/// The per-task rows a [`Training`] is assembled from.
struct Rows {
    ids: Vec<String>,
    raw: Vec<TaskFeatures>,
    emb: Vec<Option<Vec<f64>>>,
    y: Vec<Vec<Option<f64>>>,
    y_ok: Vec<Vec<Option<f64>>>,
    feasible: Vec<Vec<Option<bool>>>,
    extra: Vec<Vec<f64>>,
    extra_names: Vec<String>,
    extra_in_x: bool,
    log_best: Vec<f64>,
    cost: Vec<Vec<Option<f64>>>,
}

/// A task's feature row: its [`TaskFeatures`], followed by its extras when they are features.
fn row(f: &TaskFeatures, extra: &[f64], extra_in_x: bool) -> Vec<f64> {
    let mut r = f.to_vec();
    if extra_in_x {
        r.extend_from_slice(extra);
    }
    r
}

/// A held-out task as a selector sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub raw: TaskFeatures,
    /// Standardised with the training statistics.
    pub x: Vec<f64>,
    pub emb: Option<Vec<f64>>,
    /// Raw [`Task::extra`] features (names in [`Training::extra_names`]).
    pub raw_extra: Vec<f64>,
    /// Arms to choose among.
    pub candidates: Vec<usize>,
    /// The true targets of the candidates: given to the oracle only.
    pub truth: Option<Vec<f64>>,
}

impl Training {
    /// The rows of `train` (task indices of `table`).
    pub fn from_table(table: &TaskTable, train: &[usize], budget: Option<f64>) -> Training {
        Training::from_table_seeded(table, train, budget, 0)
    }

    /// As [`Self::from_table`], learners seeded with `seed`.
    pub fn from_table_seeded(table: &TaskTable, train: &[usize], budget: Option<f64>, seed: u64) -> Training {
        let arms = table.arms.clone();
        let na = arms.len();
        let per = |f: &dyn Fn(usize, usize) -> Option<f64>| -> Vec<Vec<Option<f64>>> {
            train.iter().map(|&t| (0..na).map(|a| f(t, a)).collect()).collect()
        };
        let rows = Rows {
            ids: train.iter().map(|&t| table.tasks[t].id.clone()).collect(),
            raw: train.iter().map(|&t| table.tasks[t].features).collect(),
            emb: train.iter().map(|&t| table.tasks[t].embedding.clone()).collect(),
            y: per(&|t, a| table.legacy_target(t, a)),
            y_ok: per(&|t, a| table.target(t, a)),
            feasible: train
                .iter()
                .map(|&t| table.outcomes[t].iter().map(|o| o.as_ref().map(|o| o.feasible)).collect())
                .collect(),
            extra: train.iter().map(|&t| table.tasks[t].extra.clone()).collect(),
            extra_names: table.extra_names.clone(),
            extra_in_x: table.extra_in_x,
            log_best: train.iter().map(|&t| table.best(t).ln()).collect(),
            cost: per(&|t, a| table.outcomes[t][a].as_ref().and_then(|o| o.cost)),
        };
        Training::assemble(arms, rows, budget, seed, table.objective)
    }

    fn assemble(
        arms: Vec<Arm>,
        r: Rows,
        budget: Option<f64>,
        seed: u64,
        objective: crate::meta::objective::Objective,
    ) -> Training {
        let rows: Vec<Vec<f64>> = r.raw.iter().zip(&r.extra).map(|(f, e)| row(f, e, r.extra_in_x)).collect();
        let standardizer = Standardizer::fit(&rows);
        let x = rows.iter().map(|r| standardizer.apply(r)).collect();
        Training {
            arms,
            ids: r.ids,
            raw: r.raw,
            x,
            emb: r.emb,
            y: r.y,
            y_ok: r.y_ok,
            feasible: r.feasible,
            raw_extra: r.extra,
            extra_names: r.extra_names,
            extra_in_x: r.extra_in_x,
            seed,
            objective,
            log_best: r.log_best,
            cost: r.cost,
            standardizer,
            budget,
        }
    }

    /// A learner's seed: `base` at learner seed 0 (what every selector of
    /// `selectors-frozen-1` used), a different stream for every other learner seed.
    pub fn seed_for(&self, base: u64) -> u64 {
        base ^ self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    pub fn n(&self) -> usize {
        self.raw.len()
    }

    /// The rows `idx` of this training set, standardised afresh on them alone.
    pub fn subset(&self, idx: &[usize]) -> Training {
        let pick = |v: &Vec<Vec<Option<f64>>>| idx.iter().map(|&i| v[i].clone()).collect();
        Training::assemble(
            self.arms.clone(),
            Rows {
                ids: idx.iter().map(|&i| self.ids[i].clone()).collect(),
                raw: idx.iter().map(|&i| self.raw[i]).collect(),
                emb: idx.iter().map(|&i| self.emb[i].clone()).collect(),
                y: pick(&self.y),
                y_ok: pick(&self.y_ok),
                feasible: idx.iter().map(|&i| self.feasible[i].clone()).collect(),
                extra: idx.iter().map(|&i| self.raw_extra[i].clone()).collect(),
                extra_names: self.extra_names.clone(),
                extra_in_x: self.extra_in_x,
                log_best: idx.iter().map(|&i| self.log_best[i]).collect(),
                cost: pick(&self.cost),
            },
            self.budget,
            self.seed,
            self.objective,
        )
    }

    /// The value of the extra feature `name` in a raw extra row, when the table has it.
    pub fn extra_value(&self, raw_extra: &[f64], name: &str) -> Option<f64> {
        self.extra_names.iter().position(|n| n == name).and_then(|i| raw_extra.get(i).copied())
    }

    /// The query for a task with these raw features, embedding and candidate arms.
    pub fn query(&self, raw: &TaskFeatures, emb: Option<&Vec<f64>>, candidates: Vec<usize>) -> Query {
        self.query_with(raw, emb, &[], candidates)
    }

    /// As [`Self::query`], with the task's extra features.
    pub fn query_with(
        &self,
        raw: &TaskFeatures,
        emb: Option<&Vec<f64>>,
        extra: &[f64],
        candidates: Vec<usize>,
    ) -> Query {
        Query {
            raw: *raw,
            x: self.standardizer.apply(&row(raw, extra, self.extra_in_x)),
            emb: emb.cloned(),
            raw_extra: extra.to_vec(),
            candidates,
            truth: None,
        }
    }

    /// The query for held-out task `t` of `table`.
    pub fn query_for(&self, table: &TaskTable, t: usize) -> Query {
        let task = &table.tasks[t];
        self.query_with(&task.features, task.embedding.as_ref(), &task.extra, table.candidates(t))
    }

    /// Row `i` of this training set as a query for a model fitted on `inner`
    /// (which must not contain it), with its truth for scoring the inner fold.
    pub fn inner_query(&self, i: usize, inner: &Training) -> Query {
        let candidates: Vec<usize> = (0..self.arms.len()).filter(|&a| self.y[i][a].is_some()).collect();
        let mut q = inner.query_with(&self.raw[i], self.emb[i].as_ref(), &self.raw_extra[i], candidates);
        q.truth = Some(q.candidates.iter().map(|&a| self.y[i][a].unwrap_or(f64::NEG_INFINITY)).collect());
        q
    }

    /// Mean target of each arm over the training tasks that ran it; arms never run
    /// get the overall mean (no evidence either way).
    pub fn arm_means(&self) -> Vec<f64> {
        let all: Vec<f64> = self.y.iter().flatten().flatten().copied().collect();
        let overall = if all.is_empty() { 0.0 } else { all.iter().sum::<f64>() / all.len() as f64 };
        (0..self.arms.len())
            .map(|a| {
                let v: Vec<f64> = self.y.iter().filter_map(|r| r[a]).collect();
                if v.is_empty() {
                    overall
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            })
            .collect()
    }

    /// Mean share of the task's best, exp(target), per arm over the training tasks that
    /// ran it (1 − the arm's mean regret); arms never run get 0.
    pub fn arm_mean_shares(&self) -> Vec<f64> {
        (0..self.arms.len())
            .map(|a| {
                let v: Vec<f64> = self.y.iter().filter_map(|r| r[a]).map(f64::exp).collect();
                if v.is_empty() {
                    0.0
                } else {
                    v.iter().sum::<f64>() / v.len() as f64
                }
            })
            .collect()
    }

    /// Deterministic inner folds over this training set: leave-one-out up to `k` rows,
    /// else `k` interleaved parts. Returns (validation, fit) index lists.
    pub fn inner_folds(&self, k: usize) -> Vec<(Vec<usize>, Vec<usize>)> {
        let n = self.n();
        let parts = n.min(k.max(2));
        (0..parts)
            .map(|p| (0..n).partition(|i| i % parts == p))
            .filter(|(v, f): &(Vec<usize>, Vec<usize>)| !v.is_empty() && !f.is_empty())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardizer_imputes_and_scales() {
        let s = Standardizer::fit(&[vec![1.0, 5.0, f64::NAN], vec![3.0, 5.0, 2.0]]);
        assert_eq!(s.mean, vec![2.0, 5.0, 2.0]);
        assert_eq!(s.apply(&[3.0, 7.0, f64::NAN]), vec![1.0, 2.0, 0.0]);
    }
}
