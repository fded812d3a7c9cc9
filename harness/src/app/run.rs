//! `harness run GRID`: plan the grid's cells, run those not stored (or, with `--active`,
//! in the order an active sweep asks for them) and print what was measured.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use harness::config;
use harness::execute::{plan, runner};
use harness::hardware::fingerprint::{code_version, machine_class};
use harness::models::hub;
use harness::record::{CellRecord, CellStatus};
use harness::store;
use harness::sweep;
use harness::workloads::corpus;
use harness::BadInput;

use super::cli::StoreArg;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Grid file (YAML), e.g. experiments/grid.yaml.
    pub grid: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// Hub cache holding the model files [default: $HARNESS_HUB_CACHE or models/hub].
    #[arg(long)]
    pub hub_cache: Option<PathBuf>,
    /// Corpus directory [default: $HARNESS_CORPUS_DIR or data/corpus].
    #[arg(long)]
    pub corpus_dir: Option<PathBuf>,
    /// Run cells stored as failed again (by default every stored cell counts as finished).
    #[arg(long)]
    pub retry_failed: bool,
    /// Also run again cells whose measurements were judged invalid (too noisy, too few samples).
    #[arg(long)]
    pub retry_invalid: bool,
    /// Count cells stored from another machine class (another CPU or instruction set) as done instead of
    /// measuring them again here.
    #[arg(long)]
    pub reuse_foreign: bool,
    /// Print the planned cells and how many are stored, run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only shard K of N (1-based): a deterministic slice of the grid's cells, balanced by expected cost, so N
    /// independent processes (machines, or a job array) cover the grid exactly once; merge their stores with
    /// `harness merge`.
    #[arg(long, value_name = "K/N", value_parser = harness::execute::shard::Shard::parse)]
    pub shard: Option<harness::execute::shard::Shard>,
    /// Run only the cells on these hardware profiles (comma-separated), before any --shard: how `harness slurm`
    /// sends each profile's cells to its own partition.
    #[arg(long, value_name = "PROFILES", value_delimiter = ',')]
    pub hardware: Vec<String>,
    /// No progress output (a bar on a terminal, a line per cell otherwise).
    #[arg(long, short)]
    pub quiet: bool,
    /// Measure the cells a learner is least sure about first (per task: the arm with the highest upper bound of
    /// predicted performance, predicted from the store's tasks of other grids and corrected by the task's own
    /// measurements), and stop a task once its recommended arm is unchanged for 3 measurements.
    #[arg(long)]
    pub active: bool,
    /// With --active: measure at most this many cells.
    #[arg(long, value_name = "N", requires = "active")]
    pub budget: Option<usize>,
    /// With --active: the learner that predicts (it must predict performance).
    #[arg(long, default_value = "random-forest", requires = "active")]
    pub selector: String,
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let grid = config::load(&a.grid)?;
    let hub_cache = a.hub_cache.unwrap_or_else(hub::default_cache_dir);
    let corpus_dir = a.corpus_dir.unwrap_or_else(corpus::default_dir);
    let machine = machine_class();
    if !a.dry_run {
        plan::fetch_missing(&grid, &hub_cache)?;
    }
    let mut cells = plan::plan(&grid, &hub_cache, &corpus_dir, &machine, &code_version())?;
    if !a.hardware.is_empty() {
        if let Some(bad) = a.hardware.iter().find(|h| !cells.iter().any(|c| &c.config.hardware == *h)) {
            bail!(BadInput::new(format!(
                "--hardware {bad}: no cell of {} runs on a profile of that name",
                grid.name()
            )));
        }
        cells.retain(|c| a.hardware.contains(&c.config.hardware));
    }
    if let Some(shard) = a.shard {
        let total = cells.len();
        let (mine, share) = harness::execute::shard::select(&cells, shard, &hub_cache);
        eprintln!(
            "shard {}/{}: {} of the grid's {total} cells, {:.1}% of its expected cost",
            shard.k,
            shard.n,
            mine.len(),
            share * 100.0
        );
        cells = mine;
    }
    let store = store::open(&a.store.store)?;
    if a.dry_run {
        let done = store.keys()?;
        for c in &cells {
            let k = &c.config;
            let state = if done.contains(&c.key) { "stored" } else { "to run" };
            println!("{state:7} {} {} {} {}t {}", c.key, k.model, k.technique, k.threads, k.workload);
        }
        println!("{} cells, {} stored", cells.len(), cells.iter().filter(|c| done.contains(&c.key)).count());
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{}: {} cells planned; store {}", grid.path.display(), cells.len(), store.location());
    let opts = runner::RunOptions {
        hub_cache,
        corpus_dir,
        retry_failed: a.retry_failed,
        retry_invalid: a.retry_invalid,
        reuse_foreign: a.reuse_foreign,
        quiet: a.quiet,
    };
    if a.active {
        let opts_active = sweep::SweepOptions { selector: a.selector.clone(), budget: a.budget };
        let out = sweep::run(&opts_active, &grid.name(), &cells, store.as_ref(), &machine, &opts)?;
        return Ok(print_sweep(&out));
    }
    let report = runner::run(&cells, &grid.name(), store.as_ref(), &machine, &opts)?;
    if !report.executed.is_empty() {
        println!("{}", summary_table(&report.executed));
    }
    let failed = report.failed();
    let others =
        if report.by_others > 0 { format!(", {} stored by another run", report.by_others) } else { String::new() };
    println!(
        "{} cells: {} run, {} skipped (already stored){others}, {} failed",
        report.planned,
        report.executed.len(),
        report.skipped,
        failed
    );
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

pub fn summary_table(recs: &[CellRecord]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "model",
        "technique",
        "thr",
        "workload",
        "status",
        "p50 ms",
        "TTFT ms",
        "TPOT ms",
        "out tok/s",
        "RSS MB",
        "ppl",
        "agree",
        "KL",
    ]);
    let f = |x: f64, p: usize| format!("{x:.p$}");
    for r in recs {
        let mut row = vec![r.model.clone(), r.technique.clone(), r.threads.to_string(), r.workload.clone()];
        match (&r.summary, r.status) {
            (Some(s), CellStatus::Ok) => {
                let status = if s.verdict.is_valid() { "ok".to_string() } else { "ok (noisy)".to_string() };
                row.extend([
                    status,
                    f(s.latency_ms.p50, 1),
                    f(s.ttft_ms, 1),
                    f(s.tpot_ms, 2),
                    f(s.output_tok_s, 1),
                    f(s.peak_rss_mb, 0),
                    s.perplexity.map_or("-".into(), |x| f(x, 2)),
                    exact_or(s, s.agreement, 3),
                    exact_or(s, s.kl_mean, 4),
                ]);
            }
            _ => {
                let mut why = r.reason.clone().unwrap_or_default();
                why.truncate(60);
                row.push(format!("{}: {why}", r.status.as_str()));
            }
        }
        t.add_row(row);
    }
    t
}

/// A comparison with the reference as the table prints it: `exact` for a cell that is the
/// reference's own computation (nothing was compared), `-` when not measured.
fn exact_or(s: &harness::record::Summary, figure: Option<f64>, places: usize) -> String {
    match figure {
        _ if s.exact_by_construction() => "exact".into(),
        Some(x) => format!("{x:.places$}"),
        None => "-".into(),
    }
}

/// The active sweep's final recommendations, one row per task.
fn print_sweep(out: &sweep::SweepOutcome) -> ExitCode {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["task", "cells measured", "recommended", "its latency"]);
    for task in &out.tasks {
        let lat = match task.latency {
            sweep::Latency::Measured(ms) => format!("{ms:.1} ms measured"),
            sweep::Latency::Predicted(ms) => format!("{ms:.1} ms predicted"),
            sweep::Latency::Unknown => "unknown".into(),
        };
        t.add_row([task.name.clone(), format!("{} of {}", task.measured, task.cells), task.arm.label(true, true), lat]);
    }
    println!("{t}");
    println!(
        "{} cells measured by the active sweep, {} failed; {} of the grid's {} cells stored (run without --active to \
         measure the rest)",
        out.spent, out.failed, out.stored, out.planned
    );
    if out.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
