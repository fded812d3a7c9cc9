//! `harness hardware`: this machine, how node limits are enforced here, a grid's profiles, and
//! the measured effect of a compute share (`--share-ratio`).

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use harness::config;
use harness::execute::{plan, runner};
use harness::hardware::fingerprint::{code_version, machine_class};
use harness::models::hub;
use harness::workloads::corpus;
use harness::BadInput;

#[derive(Debug, Args)]
pub struct HardwareArgs {
    /// A grid file whose hardware profiles to list.
    pub grid: Option<PathBuf>,
    /// Measure how much slower a node at this compute share is than a full one: the same f32
    /// decode of a synthetic 110M-parameter model, one core, in worker processes on the two
    /// nodes alternately; prints each round and the ratio of the medians.
    #[arg(long, value_name = "SHARE")]
    pub share_ratio: Option<f64>,
    /// Rounds of --share-ratio (each measures both nodes).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Skip measuring memory bandwidth and single-core speed.
    #[arg(long)]
    pub no_measure: bool,
    /// Measure this machine class's features (bandwidth and matmul speed per weight format, on every thread) and
    /// record them in DIR (one JSON file per class), where every learner reads them.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = harness::meta::machine::DEFAULT_DIR)]
    pub record: Option<PathBuf>,
}

pub fn run(a: HardwareArgs) -> Result<ExitCode> {
    use harness::hardware::cgroup::{Mechanism, CFS_PERIOD_US};
    let fp = harness::hardware::fingerprint::fingerprint();
    println!("machine: {}", fp.cpu_model);
    println!(
        "  cores: {} physical, {} logical; memory {} MiB; {}",
        fp.physical_cores, fp.logical_cores, fp.memory_mb, fp.os
    );
    println!("  built with: {} [{}]", fp.rustflags, fp.target_features);
    match Mechanism::detect() {
        Mechanism::Unenforced(why) => {
            println!("node limits: not enforced by the kernel ({why}); emulated nodes are pinned and their memory cap checked")
        }
        m => println!(
            "node limits: {} (compute share as a CFS quota per {} ms period, memory as a hard limit)",
            m.name(),
            CFS_PERIOD_US as f64 / 1000.0
        ),
    }
    if let Some(dir) = &a.record {
        let p = harness::meta::machine::measure_here(256, 5)?;
        let path = p.record(dir)?;
        let formats = harness::meta::machine::feature_formats();
        let get = |i: usize| p.decode_gops.get(&formats[i]).copied().unwrap_or(f64::NAN);
        println!(
            "machine features of {} recorded in {} (bandwidth {:.1} GB/s; decode GOP/s f32 {:.1}, q8_0 {:.1}, q4_0 {:.1})",
            p.class.label(),
            path.display(),
            p.bandwidth_gbs.unwrap_or(f64::NAN),
            get(0),
            get(1),
            get(2)
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !a.no_measure {
        let one = harness::hardware::bandwidth::triad(1, 128, 3);
        let all = harness::hardware::bandwidth::triad(fp.logical_cores.max(1), 128, 3);
        println!(
            "memory bandwidth (triad, best of 3): {:.1} GB/s on 1 thread, {:.1} GB/s on {}",
            one.best_gbs, all.best_gbs, all.threads
        );
        let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
        let peaks = pool.install(|| harness::measure::roofline::matmul_peaks(1024, 5))?;
        let reference = harness::techniques::reference(harness::techniques::Scope::Generation).to_string();
        let fastest =
            peaks.iter().filter(|p| p.format != reference).max_by(|a, b| a.decode_gops.total_cmp(&b.decode_gops));
        let show: Vec<String> = peaks
            .iter()
            .filter(|p| p.format == reference)
            .chain(fastest)
            .map(|p| format!("{} {:.1} GFLOP/s (decode row {:.1})", p.format, p.prefill_gops, p.decode_gops))
            .collect();
        println!(
            "single-core speed (1024² matmul, 64 rows, best of 5; f32 and the fastest other format): {}",
            show.join("; ")
        );
    }
    if let Some(path) = &a.grid {
        let grid = config::load(path)?;
        println!("hardware profiles of {}:", path.display());
        let mut names: Vec<&String> = grid.file.hardware.keys().collect();
        names.sort();
        if !names.iter().any(|n| n.as_str() == config::LOCAL_HARDWARE) {
            println!("  {}: this machine (always defined)", config::LOCAL_HARDWARE);
        }
        for n in names {
            let h = &grid.file.hardware[n];
            let node = match (&h.emulated, &h.cluster) {
                (Some(e), _) => format!(
                    "emulated node: {} cores at {} speed, {} memory",
                    e.cores.map_or("all".into(), |c| c.to_string()),
                    e.compute_share.unwrap_or(1.0),
                    e.memory_mb.map_or("unlimited".into(), |m| format!("{m} MiB"))
                ),
                (None, Some(c)) => format!("cluster of {} nodes, {} links", c.nodes.len(), c.links.len()),
                (None, None) => "this machine".into(),
            };
            let price =
                if h.cluster.is_some() { "prices per node".to_string() } else { format!("${}/h", h.price_per_hour) };
            println!("  {n}: {node}; {price}; {}", h.description.as_deref().unwrap_or(""));
            for node in h.cluster.iter().flat_map(|c| &c.nodes) {
                println!(
                    "    node {}: {} cores at {} speed, {}, ${}/h{}",
                    node.name,
                    node.cores,
                    node.compute_share,
                    node.memory_mb.map_or("unlimited memory".into(), |m| format!("{m} MiB")),
                    node.price_per_hour,
                    node.addr.as_ref().map_or(" (emulated here)".into(), |a| format!(" at {a}"))
                );
            }
            for l in h.cluster.iter().flat_map(|c| &c.links) {
                println!(
                    "    link {} <-> {}: {} ms, {} MB/s{}",
                    l.between[0],
                    l.between[1],
                    l.latency_ms,
                    l.bandwidth_mb_s,
                    if l.jitter_ms > 0.0 { format!(", jitter {} ms", l.jitter_ms) } else { String::new() }
                );
            }
        }
    }
    if let Some(share) = a.share_ratio {
        return share_ratio(share, a.rounds);
    }
    Ok(ExitCode::SUCCESS)
}

/// `harness hardware --share-ratio S`: the same decode on a full node and on one at share `S`,
/// alternately, in worker processes in their cgroups.
fn share_ratio(share: f64, rounds: usize) -> Result<ExitCode> {
    use harness::hardware::cgroup::Mechanism;
    if !(share > 0.0 && share < 1.0) {
        return Err(BadInput(format!("--share-ratio takes a share 0 < S < 1, got {share}")).into());
    }
    if let Mechanism::Unenforced(why) = Mechanism::here() {
        anyhow::bail!("a compute share needs the kernel's CPU quotas, which this machine does not offer: {why}");
    }
    let text = format!(
        "name: share-ratio\n\
         models:\n  synth-110m:\n    synthetic: {{layers: 12, hidden: 768, heads: 12, kv_heads: 4, intermediate: 2048, vocab: 16384, seed: 13}}\n\
         workloads:\n  decode:\n    prompt_tokens: 16\n    output_tokens: 48\n    eval_tokens: 16\n\
         hardware:\n  full:\n    emulated: {{cores: 1}}\n  share:\n    emulated: {{cores: 1, compute_share: {share}}}\n\
         axes:\n  technique: [{}]\n  threads: [1]\n  hardware: [full, share]\n\
         measure: {{warmup: 1, min_reps: 3, max_reps: 3}}\n",
        harness::techniques::reference(harness::techniques::Scope::Generation)
    );
    let grid = config::parse(std::path::Path::new("share-ratio.yaml"), &text)?;
    let (hub_cache, corpus_dir) = (hub::default_cache_dir(), corpus::default_dir());
    let machine = machine_class();
    let cells = plan::plan(&grid, &hub_cache, &corpus_dir, &machine, &code_version())?;
    let opts = runner::RunOptions {
        hub_cache,
        corpus_dir,
        retry_failed: false,
        retry_invalid: false,
        reuse_foreign: false,
        quiet: true,
    };
    println!("f32 decode, synthetic 110M model, 1 core, 48 tokens: full node vs a node at share {share}");
    let mut times: [Vec<f64>; 2] = [vec![], vec![]];
    for round in 1..=rounds.max(1) {
        let mut line = format!("  round {round}:");
        for (i, cell) in cells.iter().enumerate() {
            let reply = runner::measure_once(cell, &opts)?;
            let s = reply.summary.ok_or_else(|| {
                anyhow::anyhow!("the {} node's cell failed: {}", cell.config.hardware, reply.reason.unwrap_or_default())
            })?;
            let tpot = s.tpot_ms;
            times[i].push(tpot);
            line.push_str(&format!(" {} {tpot:.2} ms/token ({})", cell.config.hardware, s.verdict));
        }
        println!("{line}");
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (full, part) = (median(&mut times[0]), median(&mut times[1]));
    println!(
        "median time per token: full {full:.2} ms, share {share} {part:.2} ms; ratio {:.2} (ideal {:.2})",
        part / full,
        1.0 / share
    );
    Ok(ExitCode::SUCCESS)
}
