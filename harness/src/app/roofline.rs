//! `harness roofline`: this machine's bandwidth and matmul peaks, every stored decode cell held against them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use harness::hardware::fingerprint::machine_class;
use harness::models::hub;
use harness::record::Arm;
use harness::store;
use harness::techniques::TechniqueName;

use super::cli::StoreArg;

#[derive(Debug, Args)]
pub struct RooflineArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Size of each of the triad's three arrays, MiB (far above the caches).
    #[arg(long, default_value_t = 256)]
    pub array_mib: usize,
    /// Triad passes per thread count, and timed products per format (the best counts).
    #[arg(long, default_value_t = 10)]
    pub passes: usize,
    /// Side of the square weight the per-format matmul peak is measured with (a multiple of 256).
    #[arg(long, default_value_t = 2048)]
    pub matmul_size: usize,
    /// Hub cache with the model files (their sizes) [default: $HARNESS_HUB_CACHE or models/hub].
    #[arg(long)]
    pub hub_cache: Option<PathBuf>,
}

pub fn run(a: RooflineArgs) -> Result<ExitCode> {
    use harness::hardware::bandwidth;
    use harness::measure::roofline;
    let store = store::open_existing(&a.store.store)?;
    let hub_cache = a.hub_cache.unwrap_or_else(hub::default_cache_dir);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (all, one, peaks) = {
        // A measurement like any cell's: never beside another run's.
        let _lock = harness::execute::lock::MeasureLock::acquire(false)?;
        let all = bandwidth::triad(cores, a.array_mib, a.passes);
        let one = bandwidth::triad(1, a.array_mib, a.passes);
        (all, one, roofline::matmul_peaks(a.matmul_size, a.passes)?)
    };
    let machine = machine_class();
    println!(
        "memory bandwidth (STREAM triad, 3 x {} MiB, best of {}): {:.1} GB/s on {cores} threads, {:.1} GB/s on 1 \
         (median {:.1} / {:.1}); machine {}",
        a.array_mib,
        a.passes,
        all.best_gbs,
        one.best_gbs,
        all.median_gbs,
        one.median_gbs,
        machine.label()
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["weights", "GOP/s at 64 rows", "GOP/s at 1 row"]);
    for p in &peaks {
        t.add_row(vec![p.format.clone(), format!("{:.1}", p.prefill_gops), format!("{:.1}", p.decode_gops)]);
    }
    println!(
        "peak matmul of our engine per weight format ({0}x{0} weight, {cores} threads, best of {1}):\n{t}",
        a.matmul_size, a.passes
    );
    let records = store.all()?;
    let rows = roofline::analyse(&records, &machine, &all, &hub_cache);
    if rows.is_empty() {
        println!(
            "no decode cell of this machine in {} (plain workloads with a KV cache); run `harness run \
             experiments/grid.yaml` first",
            store.location()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["model", "workload", "technique", "thr", "batch", "MB/token", "TPOT ms", "GB/s", "share"]);
    for r in &rows {
        t.add_row(vec![
            r.model.clone(),
            r.workload.clone(),
            r.technique.clone(),
            r.threads.to_string(),
            r.batch.to_string(),
            format!("{:.1}", r.streamed_mb),
            format!("{:.2}", r.tpot_ms),
            format!("{:.1}", r.achieved_gbs),
            format!("{:.0}%", r.share * 100.0),
        ]);
    }
    println!("{t}");
    let by_key: std::collections::HashMap<&str, &roofline::RooflineRow> =
        rows.iter().map(|r| (r.key.as_str(), r)).collect();
    for mut rec in records.into_iter().filter(|r| by_key.contains_key(r.key.as_str())) {
        let row = by_key[rec.key.as_str()];
        roofline::annotate(&mut rec, row, &all, &peaks);
        store.insert(&rec)?;
    }
    let mut best: std::collections::BTreeMap<&str, &roofline::RooflineRow> = Default::default();
    for r in rows.iter().filter(|r| r.batch == 1) {
        if best.get(r.model.as_str()).is_none_or(|b| r.share > b.share) {
            best.insert(&r.model, r);
        }
    }
    for (model, r) in best {
        println!(
            "best at batch 1, {model}: {} on {} reaches {:.0}% of the bandwidth",
            Arm::new(TechniqueName::from_stored(&r.technique), r.threads).label(true, false),
            r.workload,
            r.share * 100.0
        );
    }
    println!("{} cells annotated in {} (column bandwidth_share)", rows.len(), store.location());
    Ok(ExitCode::SUCCESS)
}
