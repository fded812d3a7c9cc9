//! `harness check`: is a store whole? The backend checks its own storage (SQLite's
//! integrity check, rows that point at no cell); then every record is read back and
//! held against its configuration: its key must be the identity its stored config,
//! model digest, engine, code version and machine give, no two records may be one
//! cell, a measured cell must carry its summary; claims whose holder is gone are
//! listed. With `repair`, what can be fixed without losing a measurement is fixed
//! (orphan rows dropped, stale claims released); the rest is reported for a person.

use std::collections::HashMap;

use super::{ResultStore, StoreError};
use crate::config::CellConfig;
use crate::record::identity::engine_version_of;
use crate::record::CellStatus;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Fixed by `--repair`.
    Repaired,
    /// Worth knowing; the store is usable.
    Warning,
    /// The store is not whole.
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Repaired => "repaired",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One thing `check` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    pub what: String,
}

impl Finding {
    pub fn new(severity: Severity, what: impl Into<String>) -> Finding {
        Finding { severity, what: what.into() }
    }
}

/// What `check` saw.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub cells: usize,
    pub claims_live: usize,
    pub findings: Vec<Finding>,
}

impl CheckReport {
    /// No error left (warnings and repairs allowed).
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.severity != Severity::Error)
    }
}

/// Sample rows whose cell is gone, as every backend finds them (the same SQL on SQLite and
/// PostgreSQL): `count` runs a `SELECT COUNT(*) ...`, `delete` a `DELETE ...` (on repair).
pub(crate) fn orphan_samples<E>(
    repair: bool,
    count: impl FnOnce(&str) -> Result<i64, E>,
    delete: impl FnOnce(&str) -> Result<(), E>,
) -> Result<Option<Finding>, E> {
    let rows = "FROM samples WHERE cell_key NOT IN (SELECT key FROM cells)";
    let n = count(&format!("SELECT COUNT(*) {rows}"))?;
    if n == 0 {
        return Ok(None);
    }
    let what = format!("{n} sample rows belong to no stored cell");
    Ok(Some(if repair {
        delete(&format!("DELETE {rows}"))?;
        Finding::new(Severity::Repaired, format!("{what}: dropped"))
    } else {
        Finding::new(Severity::Error, format!("{what}; `--repair` drops them"))
    }))
}

/// Checks `store`, repairing what it safely can when `repair` is set.
pub fn check(store: &dyn ResultStore, repair: bool) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport { findings: store.check_storage(repair)?, ..Default::default() };
    let records = store.all()?;
    report.cells = records.len();
    let mut by_identity: HashMap<String, Vec<&str>> = HashMap::new();
    // Keys that are not the identity of their config under this harness's engine version, per engine.
    let mut unexplained: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for rec in &records {
        let at = |what: String| format!("cell {} ({} {} {}): {what}", rec.key, rec.model, rec.technique, rec.workload);
        if rec.status == CellStatus::Ok && rec.summary.is_none() {
            report.findings.push(Finding::new(Severity::Error, at("stored as ok without its measurements".into())));
        }
        let cfg = match serde_json::from_str::<CellConfig>(&rec.config_json) {
            Ok(c) => c,
            Err(e) => {
                let what = at(format!("its stored configuration cannot be read ({e}): its identity cannot be checked"));
                report.findings.push(Finding::new(Severity::Warning, what));
                continue;
            }
        };
        // A key that is its config's identity under a known engine version is the cell's identity;
        // any other stands for the identity this harness would give it now.
        let id = match engine_version_of(rec, &cfg) {
            Some(_) => rec.key.clone(),
            None => {
                let current = crate::engines::version(&cfg.engine).unwrap_or("unknown");
                unexplained.entry(format!("{} {current}", cfg.engine)).or_default().push(rec.key.clone());
                rec.expected_key(&cfg, current)
            }
        };
        by_identity.entry(id).or_default().push(&rec.key);
    }
    for (engine, keys) in unexplained {
        let what = format!(
            "{} cells' keys are not the identity of their stored configuration under this harness's {engine} (e.g. \
             {}): measured by another engine version, or rows edited by hand; a run of this version measures them \
             anew rather than reusing them",
            keys.len(),
            keys.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        );
        report.findings.push(Finding::new(Severity::Warning, what));
    }
    for (id, keys) in by_identity.into_iter().filter(|(_, k)| k.len() > 1) {
        let what = format!("{} records are one cell (identity {id}): {}", keys.len(), keys.join(", "));
        report.findings.push(Finding::new(Severity::Error, what));
    }
    let now = super::claim::now();
    for c in store.claims()? {
        if c.live(now) {
            report.claims_live += 1;
            continue;
        }
        let what = format!("claim on cell {} by {} is stale (its runner is gone)", c.key, c.owner);
        if repair {
            store.release(&c.key, Some(&c.owner))?;
            report.findings.push(Finding::new(Severity::Repaired, format!("{what}: released")));
        } else {
            report.findings.push(Finding::new(Severity::Warning, format!("{what}; `--repair` releases it")));
        }
    }
    report.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{test_record, CellRecord};
    use crate::store::claim::Claimant;
    use crate::store::SqliteStore;

    #[test]
    fn check_finds_orphans_hollow_cells_and_stale_claims_and_repairs_what_it_may() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path).unwrap();
        store.insert(&test_record("whole")).unwrap();
        let report = check(&store, false).unwrap();
        assert!(report.passed(), "{:?}", report.findings);
        // Rows written behind the store's back: samples of no cell, a measured cell without its figures.
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.pragma_update(None, "foreign_keys", "OFF").unwrap();
        raw.execute("INSERT INTO samples (cell_key, metric, idx, value) VALUES ('gone', 'latency_ms', 0, 1.0)", [])
            .unwrap();
        store.insert(&CellRecord { summary: None, ..test_record("hollow") }).unwrap();
        // A claim by a runner on another host whose deadline has passed.
        let remote = Claimant { owner: "elsewhere:1:1".into(), host: "elsewhere".into(), pid: 1 };
        store.claim("left", &remote, -1.0, None).unwrap();
        let report = check(&store, false).unwrap();
        assert!(!report.passed());
        let text: Vec<&str> = report.findings.iter().map(|f| f.what.as_str()).collect();
        assert!(text.iter().any(|t| t.contains("1 sample rows belong to no stored cell")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("hollow") && t.contains("without its measurements")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("claim on cell left") && t.contains("stale")), "{text:?}");
        let repaired = check(&store, true).unwrap();
        assert!(repaired.findings.iter().filter(|f| f.severity == Severity::Repaired).count() == 2);
        assert!(store.claims().unwrap().is_empty());
        // The hollow cell is a measurement to look at, not to delete: still an error.
        let again = check(&store, false).unwrap();
        let errors: Vec<_> = again.findings.iter().filter(|f| f.severity == Severity::Error).collect();
        assert!(!again.passed() && errors.len() == 1 && errors[0].what.contains("hollow"), "{:?}", again.findings);
    }
}
