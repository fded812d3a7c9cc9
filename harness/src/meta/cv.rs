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
    /// Leave one hardware profile out.
    Loho,
}

impl CvScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            CvScheme::Loto => "loto",
            CvScheme::Lomo => "lomo",
            CvScheme::Loho => "loho",
        }
    }
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
pub fn folds(table: &TaskTable, scheme: CvScheme) -> Result<Vec<Fold>> {
    let n = table.tasks.len();
    if n < 2 {
        bail!(
            "cross-validation needs at least 2 tasks with a feasible arm; the store has {n} \
             (run more of the grid, e.g. `harness run experiments/grid.yaml`)"
        );
    }
    let key: fn(&Task) -> &str = match scheme {
        CvScheme::Loto => |t| &t.id,
        CvScheme::Lomo => |t| &t.model,
        CvScheme::Loho => |t| &t.hardware,
    };
    let groups = table.groups(key);
    if groups.len() < 2 {
        let (what, grid) = if scheme == CvScheme::Lomo {
            ("models", "experiments/meta_wide.yaml")
        } else {
            ("hardware profiles", "experiments/edge.yaml")
        };
        bail!(
            "--cv {} needs tasks on at least two {what}; the store has only `{}`. \
             Use --cv loto, or run a grid with more of them (e.g. `harness run {grid}`)",
            scheme.as_str(),
            groups.join("`, `")
        );
    }
    Ok(groups
        .iter()
        .map(|g| {
            let (test, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&t| key(&table.tasks[t]) == g);
            let label = match scheme {
                CvScheme::Loto => "task",
                CvScheme::Lomo => "model",
                CvScheme::Loho => "hardware",
            };
            Fold { name: format!("{label} {g}"), test, train }
        })
        .collect())
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
    /// `[task][arm]` ln(perf / best), `None` where the arm was not run.
    pub y: Vec<Vec<Option<f64>>>,
    /// ln of each task's best performance (for absolute predictions).
    pub log_best: Vec<f64>,
    /// `[task][arm]` cost per 1k tokens where measured.
    pub cost: Vec<Vec<Option<f64>>>,
    pub standardizer: Standardizer,
    /// `--budget`, for budget-aware selectors.
    pub budget: Option<f64>,
}

/// A held-out task as a selector sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub raw: TaskFeatures,
    /// Standardised with the training statistics.
    pub x: Vec<f64>,
    pub emb: Option<Vec<f64>>,
    /// Arms to choose among.
    pub candidates: Vec<usize>,
    /// The true targets of the candidates: given to the oracle only.
    pub truth: Option<Vec<f64>>,
}

impl Training {
    /// The rows of `train` (task indices of `table`).
    pub fn from_table(table: &TaskTable, train: &[usize], budget: Option<f64>) -> Training {
        let arms = table.arms.clone();
        let rows = train.iter().map(|&t| table.tasks[t].features).collect();
        let y = train.iter().map(|&t| (0..arms.len()).map(|a| table.target(t, a)).collect()).collect();
        let cost = train
            .iter()
            .map(|&t| table.outcomes[t].iter().map(|o| o.as_ref().and_then(|o| o.cost)).collect())
            .collect();
        Training::assemble(
            arms,
            train.iter().map(|&t| table.tasks[t].id.clone()).collect(),
            rows,
            train.iter().map(|&t| table.tasks[t].embedding.clone()).collect(),
            y,
            train.iter().map(|&t| table.best(t).ln()).collect(),
            cost,
            budget,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        arms: Vec<Arm>,
        ids: Vec<String>,
        raw: Vec<TaskFeatures>,
        emb: Vec<Option<Vec<f64>>>,
        y: Vec<Vec<Option<f64>>>,
        log_best: Vec<f64>,
        cost: Vec<Vec<Option<f64>>>,
        budget: Option<f64>,
    ) -> Training {
        let rows: Vec<Vec<f64>> = raw.iter().map(TaskFeatures::to_vec).collect();
        let standardizer = Standardizer::fit(&rows);
        let x = rows.iter().map(|r| standardizer.apply(r)).collect();
        Training { arms, ids, raw, x, emb, y, log_best, cost, standardizer, budget }
    }

    pub fn n(&self) -> usize {
        self.raw.len()
    }

    /// The rows `idx` of this training set, standardised afresh on them alone.
    pub fn subset(&self, idx: &[usize]) -> Training {
        let pick = |v: &Vec<Vec<Option<f64>>>| idx.iter().map(|&i| v[i].clone()).collect();
        Training::assemble(
            self.arms.clone(),
            idx.iter().map(|&i| self.ids[i].clone()).collect(),
            idx.iter().map(|&i| self.raw[i]).collect(),
            idx.iter().map(|&i| self.emb[i].clone()).collect(),
            pick(&self.y),
            idx.iter().map(|&i| self.log_best[i]).collect(),
            pick(&self.cost),
            self.budget,
        )
    }

    /// The query for a task with these raw features, embedding and candidate arms.
    pub fn query(&self, raw: &TaskFeatures, emb: Option<&Vec<f64>>, candidates: Vec<usize>) -> Query {
        Query { raw: *raw, x: self.standardizer.apply(&raw.to_vec()), emb: emb.cloned(), candidates, truth: None }
    }

    /// The query for held-out task `t` of `table`.
    pub fn query_for(&self, table: &TaskTable, t: usize) -> Query {
        self.query(&table.tasks[t].features, table.tasks[t].embedding.as_ref(), table.candidates(t))
    }

    /// Row `i` of this training set as a query for a model fitted on `inner`
    /// (which must not contain it), with its truth for scoring the inner fold.
    pub fn inner_query(&self, i: usize, inner: &Training) -> Query {
        let candidates: Vec<usize> = (0..self.arms.len()).filter(|&a| self.y[i][a].is_some()).collect();
        let mut q = inner.query(&self.raw[i], self.emb[i].as_ref(), candidates);
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
