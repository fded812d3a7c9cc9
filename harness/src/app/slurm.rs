//! `harness slurm GRID --array N`, `harness slurm status`, and `harness check`: running a
//! grid on a cluster and making sure its stores are whole.

use std::process::ExitCode;

use anyhow::{Context, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use harness::config;
use harness::execute::slurm::ArrayJob;
use harness::execute::{plan, shard};
use harness::hardware::fingerprint::{code_version, machine_class};
use harness::models::hub;
use harness::record::CellStatus;
use harness::store::{self, check};
use harness::workloads::corpus;

use super::cli::{CheckArgs, SlurmArgs, SlurmCmd, SlurmStatusArgs};

fn absolute(p: &std::path::Path) -> Result<std::path::PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

pub fn slurm(a: SlurmArgs) -> Result<ExitCode> {
    if let Some(SlurmCmd::Status(s)) = a.command {
        return status(s);
    }
    let w = a.write;
    let grid_path =
        w.grid.ok_or_else(|| harness::BadInput::new("a grid file is needed: harness slurm GRID --array N"))?;
    let grid = config::load(&grid_path)?;
    let hub_cache = w.hub_cache.unwrap_or_else(hub::default_cache_dir);
    let corpus_dir = w.corpus_dir.unwrap_or_else(corpus::default_dir);
    let cells = plan::plan(&grid, &hub_cache, &corpus_dir, &machine_class(), &code_version())?;
    let n = w.array.filter(|n| *n >= 1).ok_or_else(|| harness::BadInput::new("--array N (at least 1) is needed"))?;
    if let Some(url) = &w.store {
        // Connect once now: a wrong URL or password fails here, not in N tasks on the cluster.
        let s = store::open(std::path::Path::new(url))?;
        eprintln!("shared store {} (schema version {})", s.location(), s.schema_version()?);
    }
    let dir = w.dir.unwrap_or_else(|| std::path::PathBuf::from("results/slurm").join(grid.name()));
    let mut job = ArrayJob {
        grid: absolute(&grid_path)?,
        n,
        store: w.store,
        dir: absolute(&dir)?,
        partition: w.partition,
        time: w.time,
        cpus: cells.iter().map(|c| c.config.threads).max().unwrap_or(1),
        exe: std::env::current_exe().context("locating the harness executable")?,
        workdir: std::env::current_dir()?,
        hub_cache: absolute(&hub_cache)?,
        corpus_dir: absolute(&corpus_dir)?,
        job_id: None,
    };
    job.write()?;
    println!("{}: {} cells in {n} tasks; job script {}", grid_path.display(), cells.len(), job.script_path().display());
    if w.submit {
        let id = job.submit()?;
        println!("submitted job {id}");
        println!("progress: harness slurm status --dir {}", job.dir.display());
    } else {
        println!("submit it with: sbatch {}   (or run again with --submit)", job.script_path().display());
    }
    if job.store.is_none() {
        println!("when it is done: harness merge results/harness.db {}/shard-*.db", job.dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Per task: cells planned, stored (by status), being measured now, left; then Slurm's view.
fn status(a: SlurmStatusArgs) -> Result<ExitCode> {
    let job = ArrayJob::read(&a.dir).map_err(|e| harness::BadInput::new(format!("{e:#}")))?;
    let grid = config::load(&job.grid)?;
    let cells = plan::plan(&grid, &job.hub_cache, &job.corpus_dir, &machine_class(), &code_version())?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(["task", "cells", "ok", "failed", "n/a", "measuring", "left"]);
    let mut totals = [0usize; 6];
    let now = store::claim::now();
    for k in 1..=job.n {
        let (mine, _) = shard::select(&cells, shard::Shard { k, n: job.n }, &job.hub_cache);
        let path = job.store_of(k);
        let (mut ok, mut failed, mut na, mut measuring) = (0, 0, 0, 0);
        let exists = job.store.is_some() || path.exists();
        if exists {
            let s = store::open_read_only(&path)?;
            let keys: std::collections::HashSet<&str> = mine.iter().map(|c| c.key.as_str()).collect();
            for status in [CellStatus::Ok, CellStatus::Failed, CellStatus::NotApplicable] {
                let n = s.keys_with_status(status)?.iter().filter(|k| keys.contains(k.as_str())).count();
                match status {
                    CellStatus::Ok => ok = n,
                    CellStatus::Failed => failed = n,
                    CellStatus::NotApplicable => na = n,
                }
            }
            measuring = s.claims()?.iter().filter(|c| keys.contains(c.key.as_str()) && c.live(now)).count();
        }
        let left = mine.len() - ok - failed - na;
        let row = [mine.len(), ok, failed, na, measuring, left];
        totals.iter_mut().zip(row).for_each(|(t, v)| *t += v);
        t.add_row(std::iter::once(k.to_string()).chain(row.iter().map(|v| v.to_string())));
    }
    t.add_row(std::iter::once("all".to_string()).chain(totals.iter().map(|v| v.to_string())));
    println!("{t}");
    match &job.job_id {
        Some(id) => {
            let q = job.queue().unwrap_or_default();
            let states: Vec<String> = q.iter().map(|(s, n)| format!("{n} {s}")).collect();
            let says = if states.is_empty() { "no task queued or running".into() } else { states.join(", ") };
            println!("job {id}: {says}");
        }
        None => println!("not submitted (sbatch {})", job.script_path().display()),
    }
    println!("{} of {} cells stored", totals[1] + totals[2] + totals[3], totals[0]);
    Ok(ExitCode::SUCCESS)
}

/// `harness check [--repair]`: exit 0 when whole (warnings allowed), 1 when not.
pub fn check(a: CheckArgs) -> Result<ExitCode> {
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
