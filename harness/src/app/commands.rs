//! Every command's handler, in one place: options arrive typed from [`super::cli`],
//! become the library's option structs, and the stages do the work.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use harness::bench_engine::{self, BenchOptions};
use harness::config;
use harness::execute::{plan, runner};
use harness::hardware::fingerprint::{code_version, machine_class};
use harness::meta::grouping::GridSplit;
use harness::meta::load::{self, Loaded};
use harness::meta::objective::{Constraints, Objective};
use harness::models::hub;
use harness::record::{CellRecord, CellStatus};
use harness::report::{self, Formats, ReportOptions};
use harness::store::{self, merge, ResultStore};
use harness::workloads::corpus;
use harness::BadInput;

use super::cli::{
    BenchArgs, CompareArgs, ExportArgs, MergeArgs, NodeArgs, ReportArgs, ReportFormat, RooflineArgs, RunArgs,
    TaskTableArgs,
};

/// Bad input (grid, model files, store, unknown names) exits 2; anything else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if harness::error::is_bad_input(e) {
        2
    } else {
        1
    }
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
        let args = super::active_run::ActiveArgs { selector: a.selector.clone(), budget: a.budget };
        return super::active_run::run_active(&args, &grid.name(), &cells, store.as_ref(), &machine, &opts);
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
                let status = if s.verdict == "valid" { "ok".to_string() } else { "ok (noisy)".to_string() };
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

pub fn export(a: ExportArgs) -> Result<ExitCode> {
    let exporter = harness::export::exporter(&a.format).ok_or_else(|| {
        let known: Vec<_> = harness::export::exporters().iter().map(|e| e.name()).collect();
        BadInput(format!("unknown export format `{}`; known: {}", a.format, known.join(", ")))
    })?;
    let store = store::open_read_only(&a.store.store)?;
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

pub fn constraints(a: &TaskTableArgs) -> Constraints {
    Constraints {
        accuracy: a.accuracy_floor.as_ref().map(|f| f.0.clone()).unwrap_or_default(),
        memory_limit_mb: a.memory_limit,
        budget: a.budget,
    }
}

/// Opens the store and builds its task table; errors name what to run when it is empty. The store is opened
/// read-only unless an evaluation will be written into it (committed reference stores stay byte for byte as they are).
/// With `split`, tasks are formed within each side of it.
pub fn load_table(
    a: &TaskTableArgs,
    writable: bool,
    split: Option<&GridSplit>,
) -> Result<(Box<dyn ResultStore>, Loaded)> {
    let store = if writable { store::open_existing(&a.store.store)? } else { store::open_read_only(&a.store.store)? };
    let records = store.all()?;
    if records.is_empty() {
        bail!(
            "store {} has no tasks (no cells); run `harness run experiments/grid.yaml` first",
            a.store.store.display()
        );
    }
    let hub_cache = a.hub_cache.clone().unwrap_or_else(hub::default_cache_dir);
    let loaded = load::table(&records, split, a.objective.into(), &constraints(a), &hub_cache, !a.no_embeddings)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    if loaded.table.tasks.is_empty() {
        let why: Vec<String> = loaded.table.left_out.iter().take(5).map(|(t, w)| format!("{t}: {w}")).collect();
        bail!(
            "store {} has {} cells but no task with a feasible arm for objective {} under these constraints ({}); \
             relax the constraints or run more cells, e.g. `harness run experiments/grid.yaml`",
            a.store.store.display(),
            records.len(),
            Objective::from(a.objective),
            why.join("; ")
        );
    }
    for (t, why) in &loaded.table.left_out {
        eprintln!("note: {t} left out: {why}");
    }
    Ok((store, loaded))
}

pub fn report(a: ReportArgs) -> Result<ExitCode> {
    let formats = match a.format {
        ReportFormat::Svg => Formats { svg: true, png: false },
        ReportFormat::Png => Formats { svg: false, png: true },
        ReportFormat::Both => Formats { svg: true, png: true },
    };
    report::run(&ReportOptions { store: a.store.store, out: a.out, formats })
}

pub fn bench_engine(a: BenchArgs) -> Result<ExitCode> {
    bench_engine::run(&BenchOptions {
        repo: a.repo,
        file: a.file,
        hub_cache: a.hub_cache,
        threads: a.threads,
        prompt_tokens: a.prompt_tokens,
        decode_tokens: a.decode_tokens,
        rounds: a.rounds,
    })
}

pub fn merge(a: MergeArgs) -> Result<ExitCode> {
    let out = store::open(&a.out)?;
    let inputs: Vec<&std::path::Path> = a.inputs.iter().map(|p| p.as_path()).collect();
    let counts = merge::merge(out.as_ref(), &inputs)?;
    for c in &counts {
        println!("{}: {} added, {} replaced by newer, {} already there", c.source, c.added, c.replaced, c.unchanged);
    }
    let total = out.keys()?.len();
    println!("{}: {total} cells", out.location());
    Ok(ExitCode::SUCCESS)
}

pub fn node(a: NodeArgs) -> Result<ExitCode> {
    harness::distributed::node::serve(&a.listen, a.once).map(|_| ExitCode::SUCCESS)
}

pub fn worker() -> Result<ExitCode> {
    harness::execute::worker::main().map(|_| ExitCode::SUCCESS)
}

pub fn roofline(a: RooflineArgs) -> Result<ExitCode> {
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
            "best at batch 1, {model}: {} @{}t on {} reaches {:.0}% of the bandwidth",
            r.technique,
            r.threads,
            r.workload,
            r.share * 100.0
        );
    }
    println!("{} cells annotated in {} (column bandwidth_share)", rows.len(), store.location());
    Ok(ExitCode::SUCCESS)
}

pub fn compare(a: CompareArgs) -> Result<ExitCode> {
    use harness::report::compare::{self, Axis};
    let axis = Axis::parse(&a.axis)
        .ok_or_else(|| BadInput(format!("unknown axis `{}`; axes: {}", a.axis, Axis::NAMES.join(", "))))?;
    let store = store::open_read_only(&a.store.store)?;
    let records = store.all()?;
    let values = match &a.values {
        None => None,
        Some(v) => {
            let valid = |s: &str| {
                !s.is_empty() && (axis != Axis::Technique || harness::techniques::TechniqueName::parse(s).is_ok())
            };
            let split = v.match_indices(',').map(|(i, _)| (&v[..i], &v[i + 1..])).find(|(x, y)| valid(x) && valid(y));
            Some(split.ok_or_else(|| BadInput(format!("--values takes two values, A,B; got `{v}`")))?)
        }
    };
    let (pairs, agreement) = compare::compare(&records, axis, values);
    let Some(first) = pairs.first() else {
        println!(
            "no two cells in {} differ only in {}; run a grid with two or more values on that axis, e.g. \
             `harness run experiments/peer.yaml`",
            store.location(),
            a.axis
        );
        return Ok(ExitCode::SUCCESS);
    };
    let (va, vb) = (first.a.clone(), first.b.clone());
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "task".to_string(),
        "arm".to_string(),
        format!("decode tok/s {va}"),
        format!("decode {vb}"),
        format!("{vb}/{va} [95% CI]"),
        format!("prefill tok/s {va}"),
        format!("prefill {vb}"),
        format!("{vb}/{va} [95% CI]"),
    ]);
    let ratio = |r: &compare::Rate| format!("{:.2} [{:.2}, {:.2}]", r.ratio, r.ci.0, r.ci.1);
    for p in &pairs {
        t.add_row(vec![
            p.task.clone(),
            p.arm.clone(),
            format!("{:.1}", p.decode.a),
            format!("{:.1}", p.decode.b),
            ratio(&p.decode),
            format!("{:.1}", p.prefill.a),
            format!("{:.1}", p.prefill.b),
            ratio(&p.prefill),
        ]);
    }
    println!("{} pairs across `{}` ({va} vs {vb}):\n{t}", pairs.len(), a.axis);
    if !agreement.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(["task", "arms both measured", "Kendall tau of latency ranks"]);
        for g in &agreement {
            t.add_row(vec![g.task.clone(), g.arms.to_string(), format!("{:.2}", g.kendall_tau)]);
        }
        println!("do {va} and {vb} rank the arms of a task alike?\n{t}");
    }
    Ok(ExitCode::SUCCESS)
}
