//! `harness check [--repair]`: is a store whole.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use harness::store::{self, check};

use super::cli::StoreArg;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Fix what can be fixed without losing a measurement (orphan rows, stale claims).
    #[arg(long)]
    pub repair: bool,
}

/// `harness check [--repair]`: exit 0 when whole (warnings allowed), 1 when not.
pub fn run(a: CheckArgs) -> Result<ExitCode> {
    let s = if a.repair { store::open_existing(&a.store.store)? } else { store::open_read_only(&a.store.store)? };
    let report = check::check(s.as_ref(), a.repair)?;
    for f in &report.findings {
        println!("{}: {}", f.severity.label(), f.what);
    }
    let verdict = if report.passed() { "ok" } else { "NOT whole" };
    println!(
        "{}: {} cells, {} being measured now, {} findings: {verdict}",
        s.location(),
        report.cells,
        report.claims_live,
        report.findings.len()
    );
    Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
