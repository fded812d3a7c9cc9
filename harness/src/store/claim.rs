//! Cell claims: before a runner measures a cell it claims it in the store, so two
//! runners sharing a store (two `harness run`s on one SQLite file, a job array on one
//! PostgreSQL server) never measure the same cell. A claim names its holder (host,
//! pid and the process's start time) and expires: a holder on this host is alive
//! while its process is (so a killed run's claims are taken over at once); a holder on
//! another host is trusted until the claim's deadline (the cell's wall-clock timeout
//! plus a margin), after which its cell may be measured again. Storing a cell drops
//! its claim in the same transaction.
//!
//! The rule is one function, [`decide`]; each backend only reads the cell and the
//! claim and writes the result inside one transaction that excludes other claimers.

use std::time::{SystemTime, UNIX_EPOCH};

/// Who claims: one runner process.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimant {
    /// `host:pid:start` (the process's start time in clock ticks since boot), unique per process.
    pub owner: String,
    pub host: String,
    pub pid: i64,
}

impl Claimant {
    /// This process.
    pub fn me() -> Claimant {
        let pid = std::process::id() as i64;
        let host = host_name();
        let start = process_start(pid).unwrap_or(0);
        Claimant { owner: format!("{host}:{pid}:{start}"), host, pid }
    }
}

/// The claims table's columns in [`ClaimRow`]'s order, as every backend selects them.
pub const SELECT: &str = "SELECT key, owner, host, pid, claimed_at, expires_at FROM claims";

/// A claim as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRow {
    pub key: String,
    pub owner: String,
    pub host: String,
    pub pid: i64,
    pub claimed_at: f64,
    pub expires_at: f64,
}

impl ClaimRow {
    /// Is its holder still at work? On this host: its process exists with the same start
    /// time. Elsewhere: its deadline has not passed.
    pub fn live(&self, now: f64) -> bool {
        if self.host == host_name() {
            let start = self.owner.rsplit(':').next().and_then(|s| s.parse::<u64>().ok());
            return start.is_some() && process_start(self.pid) == start;
        }
        now < self.expires_at
    }
}

/// What a claim attempt found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// The cell is ours to measure.
    Claimed,
    /// The cell is already stored (by another runner, or earlier).
    Done,
    /// Another live runner is measuring it.
    Held(ClaimRow),
}

/// The rule every backend applies inside its claim transaction. `stored_at`: the start
/// time of the stored record of the cell, if any; `redo_before`: a stored record that
/// started before this time is to be measured again (`--retry-failed`).
pub fn decide(
    stored_at: Option<f64>,
    existing: Option<&ClaimRow>,
    me: &Claimant,
    redo_before: Option<f64>,
    now: f64,
) -> ClaimOutcome {
    let redo = |at: f64| redo_before.is_some_and(|t| at.is_nan() || at < t);
    if stored_at.is_some_and(|at| !redo(at)) {
        return ClaimOutcome::Done;
    }
    match existing {
        Some(c) if c.owner != me.owner && c.live(now) => ClaimOutcome::Held(c.clone()),
        _ => ClaimOutcome::Claimed,
    }
}

/// Seconds since the epoch.
pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A process's start time (clock ticks since boot, field 22 of `/proc/PID/stat`), or
/// `None` if no such process runs: with the pid it names one process, whatever pids the
/// kernel reuses.
fn process_start(pid: i64) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim_by(owner: &Claimant, expires_at: f64) -> ClaimRow {
        ClaimRow {
            key: "k".into(),
            owner: owner.owner.clone(),
            host: owner.host.clone(),
            pid: owner.pid,
            claimed_at: 0.0,
            expires_at,
        }
    }

    #[test]
    fn a_live_holder_keeps_its_claim_and_a_dead_one_loses_it() {
        let me = Claimant::me();
        assert!(me.owner.ends_with(&format!(":{}", process_start(me.pid).unwrap())));
        // Another live process on this host: our parent (the test harness's launcher or shell).
        let parent = std::os::unix::process::parent_id() as i64;
        let start = process_start(parent).unwrap();
        let other = Claimant { owner: format!("{}:{parent}:{start}", me.host), host: me.host.clone(), pid: parent };
        let held = decide(None, Some(&claim_by(&other, 0.0)), &me, None, now());
        assert!(matches!(held, ClaimOutcome::Held(_)), "a live local holder is not overridden by an old deadline");
        // The same pid with another start time: the process it named is gone.
        let gone = Claimant { owner: format!("{}:{parent}:{}", me.host, start + 1), ..other.clone() };
        assert_eq!(decide(None, Some(&claim_by(&gone, f64::MAX)), &me, None, now()), ClaimOutcome::Claimed);
        // Our own claim is ours again.
        assert_eq!(decide(None, Some(&claim_by(&me, f64::MAX)), &me, None, now()), ClaimOutcome::Claimed);
    }

    #[test]
    fn a_remote_holder_is_trusted_until_its_deadline() {
        let me = Claimant::me();
        let remote = Claimant { owner: "elsewhere:12:34".into(), host: "elsewhere".into(), pid: 12 };
        let t = now();
        assert!(matches!(decide(None, Some(&claim_by(&remote, t + 60.0)), &me, None, t), ClaimOutcome::Held(_)));
        assert_eq!(decide(None, Some(&claim_by(&remote, t - 1.0)), &me, None, t), ClaimOutcome::Claimed);
    }

    #[test]
    fn stored_cells_are_done_unless_older_than_a_retry() {
        let me = Claimant::me();
        assert_eq!(decide(Some(10.0), None, &me, None, now()), ClaimOutcome::Done);
        assert_eq!(decide(Some(10.0), None, &me, Some(20.0), now()), ClaimOutcome::Claimed);
        assert_eq!(decide(Some(30.0), None, &me, Some(20.0), now()), ClaimOutcome::Done, "re-measured since");
    }
}
