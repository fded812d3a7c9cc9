//! Results of `harness evaluate`: what one cross-validation of the selectors found.
//!
//! One evaluation = one cross-validation of several selectors on the task ×
//! technique matrix built from the cells, for one objective.

use serde::{Deserialize, Serialize};

/// A metric with its bootstrap 95% confidence interval over tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricCi {
    /// e.g. `top1`, `top3`, `regret_mean`, `regret_median`, `regret_p90`, `gap_closed`,
    /// `ndcg3`, `spearman`, `gain_vs_random`, `gain_vs_heuristic`, `infeasible_picks`,
    /// `selection_ms`.
    pub name: String,
    pub value: f64,
    pub ci_lo: f64,
    pub ci_hi: f64,
}

/// Every metric of one selector, and its paired test against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectorResult {
    pub selector: String,
    pub metrics: Vec<MetricCi>,
    /// Paired test of per-task regret against the `--baseline` selector (two-sided p).
    pub p_value_vs_baseline: Option<f64>,
}

impl SelectorResult {
    pub fn metric(&self, name: &str) -> Option<&MetricCi> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// What one selector picked for one held-out task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPick {
    /// `model / workload / hardware`.
    pub task: String,
    pub selector: String,
    /// The technique (with threads) picked, e.g. `q4k @2t`.
    pub pick: String,
    /// The oracle's technique for this task.
    pub oracle: String,
    /// Relative regret versus the oracle (0 = picked the best; infeasible picks penalised).
    pub regret: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    /// Assigned by the store on insert.
    pub id: i64,
    /// Unix seconds.
    pub created_at: f64,
    pub objective: String,
    /// `loto`, `lomo` or `loho`.
    pub cv: String,
    pub baseline: String,
    /// Everything else that defined the evaluation (constraints, seeds, task count), JSON.
    pub config_json: String,
    pub selectors: Vec<SelectorResult>,
    pub picks: Vec<TaskPick>,
}
