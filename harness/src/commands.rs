//! The subcommands, wiring the stages together. Options arrive typed from `cli`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::cli::{ExportArgs, RunArgs};
use crate::config::{self, ConfigError};
use crate::execute::{plan, runner};
use crate::models::hub;
use crate::store::{CellRecord, CellStatus, Store, StoreError};
use crate::workloads::corpus;

/// Bad input (grid, model files, store) exits 2; anything else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<StoreError>().is_some() {
        2
    } else {
        1
    }
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let grid = config::load(&a.grid)?;
    let hub_cache = a.hub_cache.unwrap_or_else(hub::default_cache_dir);
    let corpus_dir = a.corpus_dir.unwrap_or_else(corpus::default_dir);
    let cells = plan::plan(&grid, &hub_cache, &corpus_dir)?;
    let store = Store::open(&a.store.store)?;
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
    eprintln!("{}: {} cells planned; store {}", grid.path.display(), cells.len(), store.path().display());
    let opts = runner::RunOptions {
        hub_cache,
        corpus_dir,
        retry_failed: a.retry_failed,
        retry_invalid: a.retry_invalid,
        quiet: a.quiet,
    };
    let report = runner::run(&cells, &grid.name(), &store, &opts)?;
    if !report.executed.is_empty() {
        println!("{}", summary_table(&report.executed));
    }
    let failed = report.failed();
    println!(
        "{} cells: {} run, {} skipped (already stored), {} failed",
        report.planned,
        report.executed.len(),
        report.skipped,
        failed
    );
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn summary_table(recs: &[CellRecord]) -> Table {
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
                let status = if s.verdict == "valid" { "ok".to_string() } else { "ok (noisy)".to_string() };
                row.extend([
                    status,
                    f(s.latency_ms.p50, 1),
                    f(s.ttft_ms, 1),
                    f(s.tpot_ms, 2),
                    f(s.output_tok_s, 1),
                    f(s.peak_rss_mb, 0),
                    s.perplexity.map_or("-".into(), |x| f(x, 2)),
                    s.agreement.map_or("-".into(), |x| f(x, 3)),
                    s.kl_mean.map_or("-".into(), |x| f(x, 4)),
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

pub fn export(a: ExportArgs) -> Result<ExitCode> {
    let exporter = crate::export::exporter(&a.format).with_context(|| {
        let known: Vec<_> = crate::export::exporters().iter().map(|e| e.name()).collect();
        format!("unknown export format `{}`; known: {}", a.format, known.join(", "))
    })?;
    let store = Store::open_existing(&a.store.store)?;
    let recs = store.all()?;
    match a.out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
            );
            exporter.write(&recs, &mut f)?;
            eprintln!("wrote {} cells to {}", recs.len(), path.display());
        }
        None => exporter.write(&recs, &mut std::io::stdout().lock())?,
    }
    Ok(ExitCode::SUCCESS)
}

pub fn techniques() -> Result<ExitCode> {
    for t in crate::techniques::registry() {
        println!("{:8} {}", t.name(), t.describe());
    }
    println!("\nCombine with `+`, e.g. `q4k+kv-off`.");
    Ok(ExitCode::SUCCESS)
}
