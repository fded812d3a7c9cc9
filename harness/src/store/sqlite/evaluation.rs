//! Results of `harness evaluate`, kept in the store so `harness report` can
//! draw them without re-running anything.
//!
//! One evaluation = one cross-validation of several selectors on the task ×
//! technique matrix built from the cells, for one objective.

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::record::{EvaluationRecord, MetricCi, SelectorResult, TaskPick};
use crate::store::StoreError;

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

pub(super) fn insert(s: &SqliteStore, e: &EvaluationRecord) -> Result<i64, StoreError> {
    s.insert_evaluation_impl(e)
}

pub(super) fn latest(s: &SqliteStore) -> Result<Option<EvaluationRecord>, StoreError> {
    s.latest_evaluation_impl()
}

impl SqliteStore {
    /// Store an evaluation in one transaction; returns its id.
    pub(super) fn insert_evaluation_impl(&self, e: &EvaluationRecord) -> Result<i64, StoreError> {
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
    pub(super) fn latest_evaluation_impl(&self) -> Result<Option<EvaluationRecord>, StoreError> {
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
