//! Results of `harness evaluate`, kept in the store so `harness report` can
//! draw them without re-running anything.
//!
//! One evaluation = one cross-validation of several selectors on the task ×
//! technique matrix built from the cells, for one objective.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};

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

/// Migration 2: the evaluation tables.
pub(super) const V2: &str = "
CREATE TABLE evaluations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  REAL NOT NULL,
    objective   TEXT NOT NULL,
    cv          TEXT NOT NULL,
    baseline    TEXT NOT NULL,
    config_json TEXT NOT NULL
);
CREATE TABLE evaluation_metrics (
    eval_id  INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    selector TEXT NOT NULL,
    ordinal  INTEGER NOT NULL,
    metric   TEXT NOT NULL,
    value    REAL,
    ci_lo    REAL,
    ci_hi    REAL,
    p_value_vs_baseline REAL,
    PRIMARY KEY (eval_id, selector, metric)
);
CREATE TABLE evaluation_picks (
    eval_id  INTEGER NOT NULL REFERENCES evaluations (id) ON DELETE CASCADE,
    task     TEXT NOT NULL,
    selector TEXT NOT NULL,
    pick     TEXT NOT NULL,
    oracle   TEXT NOT NULL,
    regret   REAL,
    PRIMARY KEY (eval_id, task, selector)
);
";

fn real(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

impl Store {
    /// Store an evaluation in one transaction; returns its id.
    pub fn insert_evaluation(&self, e: &EvaluationRecord) -> Result<i64, StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(self.conn(), rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO evaluations (created_at, objective, cv, baseline, config_json) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.created_at, e.objective, e.cv, e.baseline, e.config_json],
        )?;
        let id = tx.last_insert_rowid();
        for (ord, s) in e.selectors.iter().enumerate() {
            for m in &s.metrics {
                tx.execute(
                    "INSERT INTO evaluation_metrics VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        id,
                        s.selector,
                        ord as i64,
                        m.name,
                        real(m.value),
                        real(m.ci_lo),
                        real(m.ci_hi),
                        s.p_value_vs_baseline
                    ],
                )?;
            }
        }
        for p in &e.picks {
            tx.execute(
                "INSERT INTO evaluation_picks VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, p.task, p.selector, p.pick, p.oracle, real(p.regret)],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// The most recent evaluation, if any (optionally of one objective/cv).
    pub fn latest_evaluation(&self) -> Result<Option<EvaluationRecord>, StoreError> {
        let id: Option<i64> =
            self.conn().query_row("SELECT max(id) FROM evaluations", [], |r| r.get(0)).optional()?.flatten();
        match id {
            Some(id) => self.evaluation(id),
            None => Ok(None),
        }
    }

    pub fn evaluation(&self, id: i64) -> Result<Option<EvaluationRecord>, StoreError> {
        let conn = self.conn();
        let head = conn
            .query_row(
                "SELECT id, created_at, objective, cv, baseline, config_json FROM evaluations WHERE id = ?1",
                [id],
                |r| {
                    Ok(EvaluationRecord {
                        id: r.get(0)?,
                        created_at: r.get(1)?,
                        objective: r.get(2)?,
                        cv: r.get(3)?,
                        baseline: r.get(4)?,
                        config_json: r.get(5)?,
                        selectors: vec![],
                        picks: vec![],
                    })
                },
            )
            .optional()?;
        let Some(mut e) = head else { return Ok(None) };
        let mut st = conn.prepare(
            "SELECT selector, metric, value, ci_lo, ci_hi, p_value_vs_baseline FROM evaluation_metrics
             WHERE eval_id = ?1 ORDER BY ordinal, rowid",
        )?;
        let nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
        let rows = st.query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                MetricCi { name: r.get(1)?, value: nan(r.get(2)?), ci_lo: nan(r.get(3)?), ci_hi: nan(r.get(4)?) },
                r.get::<_, Option<f64>>(5)?,
            ))
        })?;
        for row in rows {
            let (sel, m, p) = row?;
            match e.selectors.last_mut() {
                Some(s) if s.selector == sel => s.metrics.push(m),
                _ => e.selectors.push(SelectorResult { selector: sel, metrics: vec![m], p_value_vs_baseline: p }),
            }
        }
        let mut st = conn.prepare(
            "SELECT task, selector, pick, oracle, regret FROM evaluation_picks WHERE eval_id = ?1 ORDER BY rowid",
        )?;
        let rows = st.query_map([id], |r| {
            Ok(TaskPick {
                task: r.get(0)?,
                selector: r.get(1)?,
                pick: r.get(2)?,
                oracle: r.get(3)?,
                regret: nan(r.get(4)?),
            })
        })?;
        e.picks = rows.collect::<Result<_, _>>()?;
        Ok(Some(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("e.db")).unwrap();
        assert!(store.latest_evaluation().unwrap().is_none());
        let m = |n: &str, v: f64| MetricCi { name: n.into(), value: v, ci_lo: v - 0.1, ci_hi: v + 0.1 };
        let mut e = EvaluationRecord {
            id: 0,
            created_at: 1.5,
            objective: "latency".into(),
            cv: "loto".into(),
            baseline: "random".into(),
            config_json: "{}".into(),
            selectors: vec![
                SelectorResult {
                    selector: "ours".into(),
                    metrics: vec![m("top1", 0.8), m("regret_mean", 0.02)],
                    p_value_vs_baseline: Some(0.01),
                },
                SelectorResult { selector: "random".into(), metrics: vec![m("top1", 0.2)], p_value_vs_baseline: None },
            ],
            picks: vec![TaskPick {
                task: "m / w / local".into(),
                selector: "ours".into(),
                pick: "q4k @2t".into(),
                oracle: "q4k @2t".into(),
                regret: 0.0,
            }],
        };
        let id = store.insert_evaluation(&e).unwrap();
        e.id = id;
        assert_eq!(store.latest_evaluation().unwrap().unwrap(), e);
        e.objective = "throughput".into();
        let id2 = store.insert_evaluation(&e).unwrap();
        assert!(id2 > id);
        assert_eq!(store.latest_evaluation().unwrap().unwrap().objective, "throughput");
    }
}
