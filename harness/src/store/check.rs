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
use crate::record::identity::LEGACY_ENGINE_VERSION;
use crate::record::{CellIdentity, CellStatus, MachineClass};

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

/// Checks `store`, repairing what it safely can when `repair` is set.
pub fn check(store: &dyn ResultStore, repair: bool) -> Result<CheckReport, StoreError> {
    let mut report = CheckReport { findings: store.check_storage(repair)?, ..Default::default() };
    let records = store.all()?;
    report.cells = records.len();
    let mut by_identity: HashMap<String, Vec<&str>> = HashMap::new();
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
        let machine = MachineClass::of(&rec.fingerprint);
        let current = crate::engines::version(&cfg.engine).unwrap_or("unknown");
        let identity = |engine_version: &str| {
            CellIdentity::new(&cfg, &rec.model_digest, engine_version, &rec.code_version, &machine).key()
        };
        let now = identity(current);
        let legacy = identity(LEGACY_ENGINE_VERSION);
        if rec.key != now && rec.key != legacy {
            let what = at(format!(
                "its key is not the identity of its stored configuration ({now} with this harness's {} {current}); \
                 measured by another engine version, or the row was edited",
                cfg.engine
            ));
            report.findings.push(Finding::new(Severity::Warning, what));
        }
        let id = if rec.key == legacy { legacy } else { now };
        by_identity.entry(id).or_default().push(&rec.key);
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
