//! One cell, in its own process: load the model with the cell's technique,
//! time generation (or a serving session), score accuracy, report on stdout.
//!
//! A process per cell because candle's thread pool size is fixed per process,
//! and so that a crash or out-of-memory in one cell cannot take the run down
//! and every cell's peak RSS is its own.

use std::io::{Read, Write};

use anyhow::{Context, Result};

use super::{WorkerReply, WorkerRequest};
use crate::config::CellConfig;
use crate::distributed::engine::ClusterEngine;
use crate::engines::{self, Engine, LoadedModel};
use crate::measure;
use crate::measure::summary::{self, PlainShape, ServingShape};
use crate::models::linear::LoadStats;
use crate::models::weights::NotApplicable;
use crate::record::accuracy::Basis;
use crate::record::{CellStatus, SampleSeries, Summary, Verdict};
use crate::serving::{self, ServingConfig};
use crate::techniques::ExecutionPlan;
use crate::workloads::generate::generate;
use crate::workloads::{self, accuracy, corpus::Corpus, Prepared};

/// Entry point of `harness worker`: request on stdin, reply on stdout.
pub fn main() -> Result<()> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading the cell request on stdin")?;
    let req: WorkerRequest = serde_json::from_str(&input).context("parsing the cell request")?;
    let reply = match run_cell(&req) {
        Ok(r) => r,
        Err(e) => match e.downcast_ref::<NotApplicable>() {
            Some(na) => WorkerReply {
                status: CellStatus::NotApplicable,
                reason: Some(na.0.clone()),
                summary: None,
                samples: vec![],
            },
            None => WorkerReply {
                status: CellStatus::Failed,
                reason: Some(format!("{e:#}")),
                summary: None,
                samples: vec![],
            },
        },
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(&reply)?)?;
    out.flush()?;
    Ok(())
}

/// Figures every cell reports, whatever its workload: its perplexity, and its fidelity to the
/// reference, measured or (for an exact technique on our engine) known by construction.
struct Accuracy {
    perplexity: f64,
    basis: Basis,
    ref_perplexity: Option<f64>,
    agreement: Option<f64>,
    kl_mean: Option<f64>,
}

pub fn run_cell(req: &WorkerRequest) -> Result<WorkerReply> {
    let cfg = &req.config;
    let engine = engines::by_name(&cfg.engine).with_context(|| format!("unknown engine `{}`", cfg.engine))?;
    // A cluster profile's cells run on the cluster as their engine, its nodes running this one.
    let engine: Box<dyn Engine> = match cfg.hardware_spec.cluster {
        Some(_) => Box::new(ClusterEngine::new(cfg.clone(), engine)),
        None => engine,
    };
    run_cell_on(engine.as_ref(), req)
}

/// [`run_cell`] on a given engine (tests pass a scripted one).
pub fn run_cell_on(engine: &dyn Engine, req: &WorkerRequest) -> Result<WorkerReply> {
    let cfg = &req.config;
    let mut plan = cfg.technique.plan();
    let w = &cfg.workload_spec;
    if let Some(why) = cfg.technique.not_applicable(w.serving.is_some()) {
        return Err(NotApplicable(why).into());
    }
    engine.check(&plan, w.serving.is_some())?;
    if plan.placement.is_some() && cfg.hardware_spec.cluster.is_none() {
        let hw = &cfg.hardware;
        return Err(NotApplicable(format!(
            "placement techniques choose among the nodes of a cluster profile; `{hw}` is a single node"
        ))
        .into());
    }
    let (src, tok) = cfg.model_spec.open(&req.hub_cache)?;
    let max_seq = src.config().max_seq_len;
    drop(src);
    let needed = match &w.serving {
        Some(sv) => workloads::serving::max_positions(w, sv),
        None => w.prompt_tokens + w.output_tokens,
    }
    .max(w.eval_tokens + 1);
    if needed > max_seq {
        return Err(NotApplicable(format!("workload needs {needed} positions, model allows {max_seq}")).into());
    }
    let corpus = Corpus::load(&req.corpus_dir, &w.corpus)?;
    let inputs = workloads::prepare(w, &corpus, &tok)?;
    drop(corpus);
    plan.draft_spec = cfg.draft_spec.clone();
    if plan.needs_calibration() {
        plan.calibration = workloads::calibration(&inputs, CALIBRATION_TOKENS)?;
    }

    let enforced = !req.node_group.is_empty();
    let model = engine.load(&cfg.model_spec, &plan, &req.hub_cache)?;
    if !enforced {
        check_memory_cap(cfg, model.peak_memory_mb(), "loading the model")?;
    }
    // The kernel's CPU accounting around the timed phase: did anything else run?
    let probe = if let Some(pids) = model.own_processes() {
        // The nodes' processes are this cell's own work, not another process's load.
        measure::busy::CpuProbe::start_excluding(pids)
    } else if enforced && cfg.hardware_spec.compute_share().is_some() {
        measure::busy::CpuProbe::start_throttled()
    } else {
        measure::busy::CpuProbe::start()
    };
    let (mut summary, samples) = match &w.serving {
        None => measure_generation(cfg, &plan, model.as_ref(), &inputs)?,
        Some(_) => measure_serving(cfg, &plan, model.as_ref(), &inputs)?,
    };
    let busy = probe.and_then(|p| p.finish());
    if let Some(why) = busy.as_ref().and_then(|b| b.busy_reason()) {
        summary.verdict = Verdict::Invalid;
        summary.verdict_reason = Some(why);
    }
    summary.peak_rss_mb = model.peak_memory_mb();
    if enforced {
        leave_node_group(&req.node_group)?;
    } else {
        check_memory_cap(cfg, summary.peak_rss_mb, "measuring")?;
    }
    summary.weight_mb = model.weight_bytes() as f64 / (1024.0 * 1024.0);
    let load_stats = model.load_stats().clone();
    let run_stats = model.run_stats();
    let acc = score(engine, cfg, model, &inputs.eval, &req.hub_cache)?;
    summary.perplexity = Some(acc.perplexity);
    summary.ref_perplexity = acc.ref_perplexity;
    summary.agreement = acc.agreement;
    summary.kl_mean = acc.kl_mean;
    summary.extra = extra(&plan, &load_stats, inputs.eval.len() - 1, summary.extra.take());
    summary.set_accuracy_basis(acc.basis);
    if let (serde_json::Value::Object(obj), serde_json::Value::Object(more)) = (&mut summary.extra, run_stats) {
        obj.extend(more);
    }
    if let (Some(b), serde_json::Value::Object(obj)) = (&busy, &mut summary.extra) {
        obj.insert("machine_load".into(), b.to_json());
    }
    Ok(WorkerReply { status: CellStatus::Ok, reason: None, summary: Some(summary), samples })
}

/// Tokens of training text the importance scores of structured pruning are computed on.
const CALIBRATION_TOKENS: usize = 256;

fn extra(plan: &ExecutionPlan, ls: &LoadStats, eval_tokens: usize, more: serde_json::Value) -> serde_json::Value {
    let mut obj = plan.describe();
    let low_rank_kept = (ls.factored_weights > 0).then(|| ls.low_rank_params as f64 / ls.factored_weights as f64);
    let stats = [
        ("linear_tensors", serde_json::json!(ls.linear_tensors)),
        ("fallback_tensors", serde_json::json!(ls.fallback_tensors)),
        ("sparsity", serde_json::json!(ls.sparsity())),
        ("low_rank_kept", serde_json::json!(low_rank_kept)),
        ("eval_tokens", serde_json::json!(eval_tokens)),
    ];
    obj.extend(stats.into_iter().map(|(k, v)| (k.to_string(), v)));
    if let serde_json::Value::Object(more) = more {
        obj.extend(more);
    }
    serde_json::Value::Object(obj)
}

/// Perplexity under this technique, and fidelity to the reference (the same
/// engine with the baseline plan: f32 weights, every layer).
fn score(
    engine: &dyn Engine,
    cfg: &CellConfig,
    model: Box<dyn LoadedModel>,
    eval: &[u32],
    hub: &std::path::Path,
) -> Result<Accuracy> {
    let lp = accuracy::log_probs(model.as_ref(), eval)?;
    drop(model);
    let perplexity = accuracy::perplexity(&lp, eval)?;
    // Exact techniques (f32 weights, no structural change) score with the reference's own forward
    // pass, so no figure would compare anything: they are marked exact by construction instead.
    // Only our engine's f32 *is* the reference; another engine's f32 is measured against it.
    if cfg.technique.exact() && engine.name() == engines::DEFAULT_ENGINE {
        return Ok(Accuracy {
            perplexity,
            basis: Basis::ExactByConstruction,
            ref_perplexity: None,
            agreement: None,
            kl_mean: None,
        });
    }
    // Every engine is scored against the same reference: our engine with f32 weights.
    let rlp = match engines::by_name(engines::DEFAULT_ENGINE) {
        Some(candle) if engine.name() != engines::mock::NAME => reference_log_probs(cfg, eval, hub, || {
            accuracy::log_probs(candle.load(&cfg.model_spec, &ExecutionPlan::default(), hub)?.as_ref(), eval)
        })?,
        _ => accuracy::log_probs(engine.load(&cfg.model_spec, &ExecutionPlan::default(), hub)?.as_ref(), eval)?,
    };
    Ok(Accuracy {
        perplexity,
        basis: Basis::Measured,
        ref_perplexity: Some(accuracy::perplexity(&rlp, eval)?),
        agreement: Some(accuracy::agreement(&rlp, &lp)?),
        kl_mean: Some(accuracy::kl_mean(&rlp, &lp)?),
    })
}

/// The f32 reference's log-probabilities of `eval`, computed once per model, held-out text,
/// engine version and build, and kept in the system's temporary directory: every cell of a
/// model but the exact ones is scored against the same reference, and building it (the whole
/// model in f32) costs more than many cells' measurement.
fn reference_log_probs(
    cfg: &CellConfig,
    eval: &[u32],
    hub: &std::path::Path,
    compute: impl FnOnce() -> Result<candle_core::Tensor>,
) -> Result<candle_core::Tensor> {
    use sha2::{Digest, Sha256};
    let file = cfg
        .model_spec
        .locate(hub)
        .flatten()
        .and_then(|p| std::fs::metadata(&p).ok())
        .map(|m| (m.len(), m.modified().ok()));
    let key = serde_json::to_vec(&serde_json::json!({
        "model": cfg.model_spec,
        "file": format!("{file:?}"),
        "eval": eval,
        "engine": engines::CANDLE_VERSION,
        "code": crate::hardware::fingerprint::code_version(),
    }))?;
    let dir = std::env::temp_dir().join("harness-reference");
    let path = dir.join(hex::encode(&Sha256::digest(&key)[..16]));
    if let Ok(bytes) = std::fs::read(&path) {
        if let Some(t) = decode_log_probs(&bytes) {
            return Ok(t);
        }
    }
    let t = compute()?;
    let (n, v) = t.dims2()?;
    let mut bytes = Vec::with_capacity(8 + n * v * 4);
    bytes.extend_from_slice(&(n as u32).to_le_bytes());
    bytes.extend_from_slice(&(v as u32).to_le_bytes());
    for x in t.flatten_all()?.to_vec1::<f32>()? {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    // Written aside and renamed: a reader never sees half a file.
    let tmp = dir.join(format!("{}.{}", path.file_name().and_then(|f| f.to_str()).unwrap_or("x"), std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() && std::fs::write(&tmp, &bytes).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
    Ok(t)
}

fn decode_log_probs(bytes: &[u8]) -> Option<candle_core::Tensor> {
    let n = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let v = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?) as usize;
    if bytes.len() != 8 + n * v * 4 {
        return None;
    }
    let vals: Vec<f32> = bytes[8..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    candle_core::Tensor::from_vec(vals, (n, v), &candle_core::Device::Cpu).ok()
}

/// A batch of equal prompts, prefilled and decoded together, repeated.
fn measure_generation(
    cfg: &CellConfig,
    plan: &ExecutionPlan,
    model: &dyn LoadedModel,
    inputs: &Prepared,
) -> Result<(Summary, Vec<SampleSeries>)> {
    let w = &cfg.workload_spec;
    let gens = measure::repeat(&cfg.measure, || generate(model, &inputs.prompts, w.output_tokens, plan.kv))?;
    let shape = PlainShape {
        batch: w.batch,
        prompt_tokens: w.prompt_tokens,
        output_tokens: w.output_tokens,
        // On a cluster: the prices of the nodes the model ran on.
        price_per_hour: model.price_per_hour().unwrap_or(cfg.hardware_spec.price_per_hour),
    };
    Ok(summary::generation(&cfg.measure, &shape, &gens))
}

/// Sessions of many requests through the serving loop, repeated per `measure`.
fn measure_serving(
    cfg: &CellConfig,
    plan: &ExecutionPlan,
    model: &dyn LoadedModel,
    inputs: &Prepared,
) -> Result<(Summary, Vec<SampleSeries>)> {
    let w = &cfg.workload_spec;
    let sv = w.serving.as_ref().expect("serving workload");
    let reqs = workloads::serving::requests(w, sv, &inputs.train)?;
    let arrivals = workloads::serving::arrivals(w, sv);
    let scfg = ServingConfig {
        max_batch: sv.max_batch(),
        continuous: plan.serving.continuous,
        chunk: plan.serving.chunked_prefill.then_some(sv.chunk_tokens),
        prefix_cache: plan.serving.prefix_cache,
        block_size: sv.block_size,
        kv_blocks: sv.kv_blocks,
        static_max_wait_s: sv.static_max_wait_ms / 1e3,
    };
    // Warm-up: one request alone, through the same loop.
    for _ in 0..cfg.measure.warmup {
        let one = vec![reqs[0].clone()];
        serving::serve(model, one, &serving::Arrivals::Closed { concurrency: 1 }, &scfg)?;
    }
    let spec = crate::config::MeasureSpec { warmup: 0, ..cfg.measure.clone() };
    let sessions = measure::repeat(&spec, || serving::serve(model, reqs.clone(), &arrivals, &scfg))?;
    for s in &sessions {
        anyhow::ensure!(s.blocks_in_use_after == 0, "KV blocks leaked: {} still referenced", s.blocks_in_use_after);
    }
    let shape = ServingShape {
        ttft_slo_ms: sv.ttft_slo_ms,
        tpot_slo_ms: sv.tpot_slo_ms,
        max_batch: scfg.max_batch,
        price_per_hour: cfg.hardware_spec.price_per_hour,
    };
    Ok(summary::serving(&cfg.measure, &shape, &sessions))
}

/// Move this process out of its node's cgroups into their parents (the harness's own share of
/// the machine), so that scoring accuracy with the f32 reference is not limited by the node.
fn leave_node_group(dirs: &[std::path::PathBuf]) -> Result<()> {
    let pid = std::process::id().to_string();
    for d in dirs {
        let parent = d.parent().context("a node group has a parent cgroup")?;
        std::fs::write(parent.join("cgroup.procs"), &pid)
            .with_context(|| format!("leaving the node's cgroup {}", d.display()))?;
    }
    Ok(())
}

/// On an emulated node with a memory cap, fail the cell as out of memory once the
/// worker's peak RSS (`peak`, MiB) went above it (a real node would have killed it there). Checked
/// after loading and after measuring; scoring accuracy afterwards loads the f32
/// reference model, which is bookkeeping of the harness and not part of the node.
fn check_memory_cap(cfg: &CellConfig, peak: f64, phase: &str) -> Result<()> {
    let Some(cap) = cfg.hardware_spec.memory_cap_mb() else {
        return Ok(());
    };
    if peak > cap as f64 {
        anyhow::bail!(
            "out of memory on emulated node `{}`: peak RSS {peak:.0} MiB while {phase} is above its {cap} MiB",
            cfg.hardware
        );
    }
    Ok(())
}
