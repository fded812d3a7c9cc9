//! The parent side of `harness run`: skip stored cells, run the rest one by
//! one in worker processes, store each as soon as it ends.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::plan::PlannedCell;
use super::{WorkerReply, WorkerRequest};
use crate::hardware::cgroup::{Mechanism, NodeGroup, NodeLimits};
use crate::hardware::fingerprint::{code_version, fingerprint};
use crate::record::Verdict;
use crate::record::{CellRecord, CellStatus, MachineClass};
use crate::store::claim::{self, ClaimOutcome, Claimant};
use crate::store::ResultStore;

pub struct RunOptions {
    pub hub_cache: PathBuf,
    pub corpus_dir: PathBuf,
    /// Run again cells stored as failed (by default they count as finished).
    pub retry_failed: bool,
    /// Run again cells whose verdict is `invalid`.
    pub retry_invalid: bool,
    /// Treat cells stored from another machine class as done (by default they are measured again here).
    pub reuse_foreign: bool,
    /// No progress output at all.
    pub quiet: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    pub planned: usize,
    pub skipped: usize,
    /// Cells found stored from other machines: (machine, how many).
    pub foreign: Vec<(MachineClass, usize)>,
    pub executed: Vec<CellRecord>,
    /// Cells of this run that another run sharing the store measured.
    pub by_others: usize,
}

impl RunReport {
    pub fn failed(&self) -> usize {
        self.executed.iter().filter(|r| r.status == CellStatus::Failed).count()
    }
}

pub fn run(
    cells: &[PlannedCell],
    grid_name: &str,
    store: &dyn ResultStore,
    machine: &MachineClass,
    opts: &RunOptions,
) -> Result<RunReport> {
    // Claims whose runner is gone (killed while it re-measured a stored cell, say) are dropped.
    let now = claim::now();
    for c in store.claims()?.into_iter().filter(|c| !c.live(now)) {
        store.release(&c.key, Some(&c.owner))?;
    }
    let done = store.keys()?;
    let mut rerun = if opts.retry_failed { store.keys_with_status(CellStatus::Failed)? } else { Default::default() };
    if opts.retry_invalid {
        rerun.extend(store.keys_with_verdict(Verdict::Invalid.as_str())?);
    }
    let version = code_version();
    let mut todo: Vec<&PlannedCell> =
        cells.iter().filter(|c| !done.contains(&c.key) || rerun.contains(&c.key)).collect();
    // Cells this store holds from another machine class: a different CPU or instruction
    // set reorders the arms, so they are measured again here unless asked otherwise.
    let mut foreign = Vec::new();
    for (other, _) in store.machine_classes()?.into_iter().filter(|(m, _)| m != machine) {
        let theirs: Vec<usize> = todo
            .iter()
            .enumerate()
            .filter(|(_, c)| done.contains(&c.key_on(&other, &version)))
            .map(|(i, _)| i)
            .collect();
        if theirs.is_empty() {
            continue;
        }
        if opts.reuse_foreign {
            eprintln!(
                "{} cells were measured on another machine (CPU {}); reusing them (--reuse-foreign)",
                theirs.len(),
                other.label()
            );
            let skip: std::collections::HashSet<usize> = theirs.iter().copied().collect();
            todo = todo.into_iter().enumerate().filter(|(i, _)| !skip.contains(i)).map(|(_, c)| c).collect();
        } else {
            eprintln!(
                "{} cells were measured on another machine (CPU {}); measuring them here",
                theirs.len(),
                other.label()
            );
        }
        foreign.push((other, theirs.len()));
    }
    let repriced = reprice(cells, &todo, store)?;
    if repriced > 0 {
        eprintln!(
            "{repriced} stored cells took the grid's new price per hour (their cost is recomputed from the measured \
             runtime; nothing is re-run)"
        );
    }
    let mut report =
        RunReport { planned: cells.len(), skipped: cells.len() - todo.len(), foreign, ..Default::default() };
    let fp = fingerprint();
    // A bar on a terminal; a line per cell when the output is piped or captured.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar =
        if opts.quiet || todo.is_empty() || !tty { ProgressBar::hidden() } else { ProgressBar::new(todo.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} cells, ETA {eta} {msg}")
            .expect("valid template"),
    );
    let total = todo.len();
    let ctx = Ctx { grid_name, fp: &fp, version: &version, opts, me: Claimant::me(), started: claim::now() };
    // A stored cell is measured again only if this run was asked to (it is in `rerun`).
    let redo = |c: &PlannedCell| rerun.contains(&c.key).then_some(ctx.started);
    let mut busy = Vec::new();
    let mut elsewhere = Vec::new();
    for (i, cell) in todo.into_iter().enumerate() {
        let c = &cell.config;
        bar.set_message(format!("{} {} {}t {}", c.model, c.technique, c.threads, c.workload));
        let rec = match measure_claimed(cell, &ctx, store, redo(cell))? {
            Claimed::Measured(rec) => *rec,
            Claimed::Done => {
                report.by_others += 1;
                if !tty && !opts.quiet {
                    eprintln!("[{}/{total}] {}: stored by another run", i + 1, cell_name(c));
                }
                bar.inc(1);
                continue;
            }
            Claimed::Held(by) => {
                if !tty && !opts.quiet {
                    eprintln!("[{}/{total}] {}: being measured by another run ({by}); later", i + 1, cell_name(c));
                }
                elsewhere.push(cell);
                bar.inc(1);
                continue;
            }
        };
        if rec.status == CellStatus::Failed && tty {
            bar.println(format!("cell failed: {}: {}", cell_name(c), rec.reason.as_deref().unwrap_or("")));
        }
        if let Some(why) = busy_reason(&rec) {
            let warning = format!("warning: {}: {why}; it is measured again at the end of the run", cell_name(c));
            if tty {
                bar.println(warning);
            } else if !opts.quiet {
                eprintln!("{warning}");
            }
            busy.push((report.executed.len(), cell));
        }
        if !tty && !opts.quiet {
            eprintln!("[{}/{total}] {}: {} ({:.1} s)", i + 1, cell_name(c), outcome(&rec), rec.wall_s);
        }
        report.executed.push(rec);
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Cells another run was measuring: wait for them to be stored; one whose runner died
    // (its claim stale) is measured here.
    if !elsewhere.is_empty() && !opts.quiet {
        eprintln!("waiting for {} cells that another run is measuring", elsewhere.len());
    }
    while !elsewhere.is_empty() {
        std::thread::sleep(Duration::from_millis(500));
        let mut still = Vec::new();
        for cell in elsewhere {
            match measure_claimed(cell, &ctx, store, redo(cell))? {
                Claimed::Measured(rec) => {
                    if !opts.quiet {
                        eprintln!("{} (left by another run): {}", cell_name(&cell.config), outcome(&rec));
                    }
                    report.executed.push(*rec);
                }
                Claimed::Done => report.by_others += 1,
                Claimed::Held(_) => still.push(cell),
            }
        }
        elsewhere = still;
    }
    // Cells measured while something else ran get one more chance once the rest is done.
    for (at, cell) in busy {
        let Claimed::Measured(rec) = measure_claimed(cell, &ctx, store, Some(claim::now()))? else {
            continue; // another run is measuring it again, or already did
        };
        if !opts.quiet {
            let still = if busy_reason(&rec).is_some() { " (still busy: kept as invalid)" } else { "" };
            eprintln!("measured again: {}: {}{still}", cell_name(&cell.config), outcome(&rec));
        }
        report.executed[at] = *rec;
    }
    Ok(report)
}

/// What became of a cell this run tried to claim.
enum Claimed {
    /// Claimed, measured and stored.
    Measured(Box<CellRecord>),
    /// Stored already (by another run since this one planned).
    Done,
    /// Another live run holds it (named).
    Held(String),
}

/// Takes the measurement lock, claims the cell in the store and, if it is ours, measures
/// and stores it (storing drops the claim). A claim is released if storing fails.
fn measure_claimed(
    cell: &PlannedCell,
    ctx: &Ctx<'_>,
    store: &dyn ResultStore,
    redo_before: Option<f64>,
) -> Result<Claimed> {
    let lock = super::lock::MeasureLock::acquire(ctx.opts.quiet)?;
    // The claim outlives the worker's own wall-clock limit, then another runner may take the cell.
    let ttl = cell.config.measure.timeout_s + CLAIM_MARGIN_S;
    match store.claim(&cell.key, &ctx.me, ttl, redo_before).with_context(|| format!("claiming cell {}", cell.key))? {
        ClaimOutcome::Claimed => {}
        ClaimOutcome::Done => return Ok(Claimed::Done),
        ClaimOutcome::Held(c) => return Ok(Claimed::Held(c.owner)),
    }
    let rec = measure_cell(cell, ctx);
    let stored = rec.and_then(|rec| {
        store.insert(&rec).with_context(|| format!("storing cell {}", rec.key))?;
        Ok(rec)
    });
    if stored.is_err() {
        let _ = store.release(&cell.key, Some(&ctx.me.owner));
    }
    // Held until the cell is stored: the next runner to measure here sees it stored.
    drop(lock);
    stored.map(|rec| Claimed::Measured(Box::new(rec)))
}

/// Seconds a claim outlives its cell's `measure.timeout_s` (loading, scoring, storing).
const CLAIM_MARGIN_S: f64 = 600.0;

/// What every cell of a run shares.
struct Ctx<'a> {
    grid_name: &'a str,
    fp: &'a crate::record::Fingerprint,
    version: &'a str,
    opts: &'a RunOptions,
    me: Claimant,
    /// When this run started (a stored record older than this is re-measured when asked).
    started: f64,
}

fn cell_name(c: &crate::config::CellConfig) -> String {
    let engine = if c.engine == crate::engines::DEFAULT_ENGINE { String::new() } else { format!(" with {}", c.engine) };
    format!("{} {} {}t {} on {}{engine}", c.model, c.technique, c.threads, c.workload, c.hardware)
}

fn outcome(rec: &CellRecord) -> String {
    match (&rec.status, &rec.summary) {
        (CellStatus::Ok, Some(s)) => match &s.verdict_reason {
            Some(why) if !s.verdict.is_valid() => format!("ok, p50 {:.1} ms, {}: {why}", s.latency_ms.p50, s.verdict),
            _ => format!("ok, p50 {:.1} ms, {}", s.latency_ms.p50, s.verdict),
        },
        (status, _) => format!("{}: {}", status.as_str(), rec.reason.as_deref().unwrap_or("")),
    }
}

/// The worker's busy-machine verdict, if it gave one.
fn busy_reason(rec: &CellRecord) -> Option<&str> {
    rec.summary.as_ref()?.verdict_reason.as_deref().filter(|r| r.starts_with("machine busy"))
}

/// Runs one cell in a worker (the caller holds the machine-wide measurement lock) and builds its record.
fn measure_cell(cell: &PlannedCell, ctx: &Ctx<'_>) -> Result<CellRecord> {
    let c = &cell.config;
    let started_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    // Background load ruins multi-threaded timings (a descheduled rayon
    // thread stalls every parallel op): keep it with the result.
    let load = sysinfo::System::load_average().map(|l| l.one).unwrap_or(f64::NAN);
    let t0 = Instant::now();
    let mut reply = spawn_worker(cell, ctx.opts).unwrap_or_else(|e| WorkerReply {
        status: CellStatus::Failed,
        reason: Some(format!("{e:#}")),
        summary: None,
        samples: vec![],
    });
    if let Some(serde_json::Value::Object(extra)) = reply.summary.as_mut().map(|s| &mut s.extra) {
        extra.insert("load_avg_1m_at_start".into(), serde_json::json!(load));
    }
    Ok(CellRecord {
        key: cell.key.clone(),
        grid: ctx.grid_name.to_string(),
        model: c.model.clone(),
        technique: c.technique.to_string(),
        threads: c.threads,
        engine: c.engine.clone(),
        workload: c.workload.clone(),
        hardware: c.hardware.clone(),
        emulated: c.hardware_spec.emulated.is_some()
            || c.hardware_spec.cluster.as_ref().is_some_and(|cl| cl.nodes.iter().any(|n| n.addr.is_none())),
        status: reply.status,
        reason: reply.reason,
        summary: reply.summary,
        samples: reply.samples,
        config_json: serde_json::to_string(c)?,
        fingerprint: ctx.fp.clone(),
        model_digest: cell.model_digest.clone(),
        code_version: ctx.version.to_string(),
        started_at,
        wall_s: t0.elapsed().as_secs_f64(),
    })
}

/// A price is not part of a cell's identity: a stored cell whose profile now has
/// another price per hour keeps its measurement and takes the new price, its cost
/// scaled from the measured runtime (cost = runtime × price). Returns how many changed.
fn reprice(cells: &[PlannedCell], todo: &[&PlannedCell], store: &dyn ResultStore) -> Result<usize> {
    let running: std::collections::HashSet<&str> = todo.iter().map(|c| c.key.as_str()).collect();
    let mut n = 0;
    for cell in cells.iter().filter(|c| !running.contains(c.key.as_str())) {
        let Some(mut rec) = store.get(&cell.key)? else { continue };
        let Ok(mut stored) = serde_json::from_str::<crate::config::CellConfig>(&rec.config_json) else { continue };
        let (old, new) = (stored.hardware_spec.price_per_hour, cell.config.hardware_spec.price_per_hour);
        if old == new || old <= 0.0 {
            continue;
        }
        stored.hardware_spec.price_per_hour = new;
        rec.config_json = serde_json::to_string(&stored)?;
        if let Some(s) = rec.summary.as_mut() {
            s.cost_per_1k_tokens *= new / old;
        }
        store.insert(&rec)?;
        n += 1;
    }
    Ok(n)
}

/// Measure one planned cell in a worker once, storing nothing (`harness hardware --share-ratio`).
pub fn measure_once(cell: &PlannedCell, opts: &RunOptions) -> Result<WorkerReply> {
    let _lock = super::lock::MeasureLock::acquire(opts.quiet)?;
    spawn_worker(cell, opts)
}

/// Run one cell in a child `harness worker` with the cell's thread count, in its node's
/// cgroup when the profile limits the node and the kernel can enforce it.
fn spawn_worker(cell: &PlannedCell, opts: &RunOptions) -> Result<WorkerReply> {
    let hw = &cell.config.hardware_spec;
    let group = match node_group(hw) {
        Ok(g) => g,
        Err(why) => {
            return Ok(WorkerReply {
                status: CellStatus::NotApplicable,
                reason: Some(why),
                summary: None,
                samples: vec![],
            })
        }
    };
    let req = WorkerRequest {
        config: cell.config.clone(),
        hub_cache: opts.hub_cache.clone(),
        corpus_dir: opts.corpus_dir.clone(),
        node_group: group.as_ref().map(|g| g.dirs().to_vec()).unwrap_or_default(),
    };
    let mut cmd = Command::new(crate::hardware::harness_exe()?);
    cmd.arg("worker")
        .env("RAYON_NUM_THREADS", cell.config.threads.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::hardware::die_with_parent(&mut cmd);
    if let Some(cores) = hw.max_threads() {
        pin_to_cpus(&mut cmd, cores);
    }
    let mut child = cmd.spawn().context("starting a worker process")?;
    if let Some(g) = &group {
        // The worker reads its request before doing anything: it is limited from its first allocation.
        if let Err(e) = g.attach(child.id()) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.context("moving the worker into its node's cgroup"));
        }
    }
    child.stdin.take().expect("piped").write_all(serde_json::to_string(&req)?.as_bytes())?;
    let (status, stdout, stderr) = wait_with_limit(child, Duration::from_secs_f64(cell.config.measure.timeout_s))?;
    let limits = group.as_ref().map(|g| limits_json(g, hw));
    let tail: Vec<&str> = stderr.lines().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
    let Some(status) = status else {
        anyhow::bail!(
            "timed out after {:.0} s (measure.timeout_s; the worker was killed): {}",
            cell.config.measure.timeout_s,
            if tail.is_empty() { "no output on stderr".to_string() } else { tail.join(" | ") }
        );
    };
    if let Some(line) = stdout.lines().rev().find(|l| !l.trim().is_empty()) {
        if let Ok(mut reply) = serde_json::from_str::<WorkerReply>(line) {
            if let (Some(serde_json::Value::Object(extra)), Some(l)) =
                (reply.summary.as_mut().map(|s| &mut s.extra), limits)
            {
                extra.insert("node_limits".into(), l);
            }
            return Ok(reply);
        }
    }
    use std::os::unix::process::ExitStatusExt;
    let why = match (status.code(), status.signal()) {
        (_, Some(9)) if group.as_ref().is_some_and(|g| g.oom_killed()) => {
            let g = group.as_ref().expect("checked");
            format!(
                "killed by the node's {} MiB memory limit (peak {:.0} MiB in the node's cgroup, {})",
                hw.memory_cap_mb().unwrap_or(0),
                g.peak_memory_mb().unwrap_or(f64::NAN),
                g.mechanism().name()
            )
        }
        (Some(code), _) => format!("worker exited with code {code}"),
        (None, Some(9)) => "worker killed by SIGKILL (out of memory?)".to_string(),
        (None, Some(s)) => format!("worker killed by signal {s}"),
        (None, None) => "worker ended abnormally".to_string(),
    };
    anyhow::bail!("{why}: {}", tail.join(" | "))
}

/// The cgroup of an emulated node whose limits the kernel enforces here; `None` when the
/// profile limits nothing or the kernel cannot (then the worker is pinned and its memory
/// cap checked). `Err(why)` when the profile asks for what only the kernel can give.
fn node_group(hw: &crate::config::HardwareSpec) -> std::result::Result<Option<NodeGroup>, String> {
    let Some(node) = &hw.emulated else { return Ok(None) };
    let mech = Mechanism::here();
    if !mech.enforces() {
        if let (Some(share), Mechanism::Unenforced(why)) = (hw.compute_share(), mech) {
            return Err(format!("a node at {share} of a core's speed needs the kernel's CPU quotas: {why}"));
        }
        return Ok(None);
    }
    let cores = node.cores.unwrap_or_else(crate::config::default_threads);
    let limits = NodeLimits {
        cpus: if cores == 1 { "0".into() } else { format!("0-{}", cores - 1) },
        compute_share: node.compute_share.unwrap_or(1.0),
        memory_mb: node.memory_mb,
    };
    NodeGroup::create_unique(mech, &limits).map(Some).map_err(|e| format!("creating the node's cgroup: {e:#}"))
}

/// How the node's limits were enforced and what the kernel saw, for the cell's `extra`.
fn limits_json(g: &NodeGroup, hw: &crate::config::HardwareSpec) -> serde_json::Value {
    let (periods, throttled_ns) = g.throttled().unwrap_or((0, 0));
    serde_json::json!({
        "mechanism": g.mechanism().name(),
        "cfs_period_us": crate::hardware::cgroup::CFS_PERIOD_US,
        "compute_share": hw.compute_share().unwrap_or(1.0),
        "memory_mb": hw.memory_cap_mb(),
        "node_peak_mb": g.peak_memory_mb(),
        "throttled_periods": periods,
        "throttled_ms": throttled_ns as f64 / 1e6,
    })
}

/// Wait for `child` at most `limit` (killing it then), collecting its stdout and stderr.
/// `None` as the status: it ran past the limit.
fn wait_with_limit(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<(Option<std::process::ExitStatus>, String, String)> {
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok((status, out_t.join().unwrap_or_default(), err_t.join().unwrap_or_default()))
}

/// Pin the worker to CPUs `0..cores`: an emulated node with fewer cores than this machine.
fn pin_to_cpus(cmd: &mut Command, cores: usize) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the set is built before fork; sched_setaffinity is async-signal-safe.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        for cpu in 0..cores {
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
        unsafe {
            cmd.pre_exec(move || {
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (cmd, cores);
}
