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
use crate::measure::{self, rss, stats};
use crate::models::generate::{generate, KvMode};
use crate::models::linear::LoadStats;
use crate::models::weights::NotApplicable;
use crate::models::{Decoder, WeightFormat};
use crate::record::{CellStatus, SampleSeries, ServingStats, Summary};
use crate::serving::{self, ServingConfig};
use crate::techniques::ExecutionPlan;
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

/// Figures every cell reports, whatever its workload.
struct Accuracy {
    perplexity: f64,
    ref_perplexity: f64,
    agreement: f64,
    kl_mean: f64,
}

pub fn run_cell(req: &WorkerRequest) -> Result<WorkerReply> {
    let cfg = &req.config;
    let plan = cfg.technique.plan();
    let w = &cfg.workload_spec;
    if plan.serving.any() && w.serving.is_none() {
        return Err(NotApplicable("serving techniques need a workload with a `serving:` section".into()).into());
    }
    if w.serving.is_some() && plan.kv == KvMode::Off {
        return Err(NotApplicable("the serving loop always keeps a KV cache".into()).into());
    }
    let (mut src, tok) = cfg.model_spec.open(&req.hub_cache)?;
    let max_seq = src.config().max_seq_len;
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

    let skip = crate::techniques::layer_skip::layers_to_skip(src.config().num_layers, plan.skip_layers)
        .map_err(NotApplicable)?;
    let model = Decoder::load_without(src.as_mut(), plan.weights, &skip)?;
    drop(src);
    check_memory_cap(cfg, rss::peak_rss_mb(), "loading the model")?;
    let (mut summary, samples) = match &w.serving {
        None => measure_generation(cfg, &plan, &model, &inputs)?,
        Some(_) => measure_serving(cfg, &plan, &model, &inputs)?,
    };
    summary.peak_rss_mb = rss::peak_rss_mb();
    check_memory_cap(cfg, summary.peak_rss_mb, "measuring")?;
    summary.weight_mb = model.load_stats.weight_bytes as f64 / (1024.0 * 1024.0);
    let load_stats = model.load_stats.clone();
    let acc = score(cfg, model, &inputs.eval, &req.hub_cache)?;
    summary.perplexity = Some(acc.perplexity);
    summary.ref_perplexity = Some(acc.ref_perplexity);
    summary.agreement = Some(acc.agreement);
    summary.kl_mean = Some(acc.kl_mean);
    summary.extra = extra(&plan, &load_stats, inputs.eval.len() - 1, summary.extra.take());
    Ok(WorkerReply { status: CellStatus::Ok, reason: None, summary: Some(summary), samples })
}

fn extra(plan: &ExecutionPlan, ls: &LoadStats, eval_tokens: usize, more: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({
        "weight_format": plan.weights.name(),
        "kv_cache": matches!(plan.kv, KvMode::On),
        "continuous_batching": plan.serving.continuous,
        "chunked_prefill": plan.serving.chunked_prefill,
        "prefix_cache": plan.serving.prefix_cache,
        "skipped_layers": plan.skip_layers,
        "linear_tensors": ls.linear_tensors,
        "fallback_tensors": ls.fallback_tensors,
        "eval_tokens": eval_tokens,
    });
    if let (Some(obj), serde_json::Value::Object(more)) = (v.as_object_mut(), more) {
        obj.extend(more);
    }
    v
}

/// Perplexity under this technique, and fidelity to the f32 reference.
fn score(cfg: &CellConfig, model: Decoder, eval: &[u32], hub: &std::path::Path) -> Result<Accuracy> {
    let lp = accuracy::log_probs(&model, eval)?;
    drop(model);
    let perplexity = accuracy::perplexity(&lp, eval)?;
    // Exact techniques (f32 weights, no structural change) are the reference by construction.
    if cfg.technique.exact() {
        return Ok(Accuracy { perplexity, ref_perplexity: perplexity, agreement: 1.0, kl_mean: 0.0 });
    }
    let (mut src, _) = cfg.model_spec.open(hub)?;
    let reference = Decoder::load(src.as_mut(), WeightFormat::F32)?;
    let rlp = accuracy::log_probs(&reference, eval)?;
    Ok(Accuracy {
        perplexity,
        ref_perplexity: accuracy::perplexity(&rlp, eval)?,
        agreement: accuracy::agreement(&rlp, &lp)?,
        kl_mean: accuracy::kl_mean(&rlp, &lp)?,
    })
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn series(name: &str, values: Vec<f64>) -> SampleSeries {
    SampleSeries { metric: name.into(), values }
}

/// A batch of equal prompts, prefilled and decoded together, repeated.
fn measure_generation(
    cfg: &CellConfig,
    plan: &ExecutionPlan,
    model: &Decoder,
    inputs: &Prepared,
) -> Result<(Summary, Vec<SampleSeries>)> {
    let w = &cfg.workload_spec;
    let gens = measure::repeat(&cfg.measure, || generate(model, &inputs.prompts, w.output_tokens, plan.kv))?;
    let latency: Vec<f64> = gens.iter().map(|g| ms(g.total)).collect();
    let ttft: Vec<f64> = gens.iter().map(|g| ms(g.ttft)).collect();
    let tpot: Vec<f64> =
        gens.iter()
            .map(|g| {
                if g.steps.is_empty() {
                    0.0
                } else {
                    g.steps.iter().map(|d| ms(*d)).sum::<f64>() / g.steps.len() as f64
                }
            })
            .collect();
    let itl: Vec<f64> = gens.iter().flat_map(|g| g.steps.iter().map(|d| ms(*d))).collect();
    let m = &cfg.measure;
    let lat = stats::describe(&latency, m.bootstrap_resamples, 0);
    let (verdict, verdict_reason) = measure::verdict(m, &latency);
    let b = w.batch as f64;
    let (tpot_med, ttft_med) = (stats::median(&tpot), stats::median(&ttft));
    let out_tokens = b * w.output_tokens as f64;
    let summary = Summary {
        verdict,
        verdict_reason,
        reps: latency.len(),
        ttft_ms: ttft_med,
        tpot_ms: tpot_med,
        decode_tok_s: if tpot_med > 0.0 { b * 1e3 / tpot_med } else { 0.0 },
        prefill_tok_s: b * w.prompt_tokens as f64 * 1e3 / ttft_med,
        output_tok_s: out_tokens * 1e3 / lat.p50,
        cost_per_1k_tokens: cfg.hardware_spec.price_per_hour / 3600.0 * (lat.p50 / 1e3) / out_tokens * 1e3,
        latency_ms: lat,
        ..Default::default()
    };
    let samples =
        vec![series("latency_ms", latency), series("ttft_ms", ttft), series("tpot_ms", tpot), series("itl_ms", itl)];
    Ok((summary, samples))
}

/// Sessions of many requests through the serving loop, repeated per `measure`.
fn measure_serving(
    cfg: &CellConfig,
    plan: &ExecutionPlan,
    model: &Decoder,
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
    let m = &cfg.measure;
    let spec = crate::config::MeasureSpec { warmup: 0, ..m.clone() };
    let sessions = measure::repeat(&spec, || serving::serve(model, reqs.clone(), &arrivals, &scfg))?;
    for s in &sessions {
        anyhow::ensure!(s.blocks_in_use_after == 0, "KV blocks leaked: {} still referenced", s.blocks_in_use_after);
    }
    let all: Vec<&serving::RequestResult> = sessions.iter().flat_map(|s| &s.results).collect();
    let e2e: Vec<f64> = all.iter().map(|r| r.e2e() * 1e3).collect();
    let ttft: Vec<f64> = all.iter().map(|r| r.ttft() * 1e3).collect();
    let tpot: Vec<f64> = all.iter().filter_map(|r| r.tpot()).map(|x| x * 1e3).collect();
    let itl: Vec<f64> = all.iter().flat_map(|r| r.itls()).map(|x| x * 1e3).collect();
    let makespans: Vec<f64> = sessions.iter().map(|s| s.makespan).collect();
    let total_time: f64 = makespans.iter().sum();
    let generated: usize = all.iter().map(|r| r.tokens.len()).sum();
    let prompt: usize = all.iter().map(|r| r.prompt_tokens).sum();
    let hits: usize = all.iter().map(|r| r.hit_tokens).sum();
    let good = all
        .iter()
        .filter(|r| r.ttft() * 1e3 <= sv.ttft_slo_ms && r.tpot().is_none_or(|t| t * 1e3 <= sv.tpot_slo_ms))
        .count();
    let mut ttft_sorted = ttft.clone();
    let mut tpot_sorted = tpot.clone();
    let mut itl_sorted = itl.clone();
    for v in [&mut ttft_sorted, &mut tpot_sorted, &mut itl_sorted] {
        v.sort_by(f64::total_cmp);
    }
    let pct = stats::percentile_sorted;
    let (verdict, verdict_reason) = measure::verdict(m, &makespans);
    let tpot_med = pct(&tpot_sorted, 50.0);
    let summary = Summary {
        verdict,
        verdict_reason,
        reps: sessions.len(),
        latency_ms: stats::describe(&e2e, m.bootstrap_resamples, 0),
        ttft_ms: pct(&ttft_sorted, 50.0),
        tpot_ms: tpot_med,
        decode_tok_s: if tpot_med > 0.0 { 1e3 / tpot_med } else { 0.0 },
        prefill_tok_s: prompt as f64 / total_time,
        output_tok_s: generated as f64 / total_time,
        cost_per_1k_tokens: cfg.hardware_spec.price_per_hour / 3600.0 * total_time / generated as f64 * 1e3,
        serving: Some(ServingStats {
            requests: all.len(),
            ttft_p90_ms: pct(&ttft_sorted, 90.0),
            ttft_p99_ms: pct(&ttft_sorted, 99.0),
            ttft_mean_ms: ttft.iter().sum::<f64>() / ttft.len() as f64,
            tpot_p90_ms: pct(&tpot_sorted, 90.0),
            tpot_p99_ms: pct(&tpot_sorted, 99.0),
            itl_p50_ms: pct(&itl_sorted, 50.0),
            itl_p90_ms: pct(&itl_sorted, 90.0),
            itl_p99_ms: pct(&itl_sorted, 99.0),
            request_throughput: all.len() as f64 / total_time,
            goodput: good as f64 / all.len() as f64,
            prefix_hit_rate: hits as f64 / prompt as f64,
        }),
        extra: serde_json::json!({
            "engine_steps": sessions.iter().map(|s| s.steps).sum::<usize>(),
            "max_batch": scfg.max_batch,
        }),
        ..Default::default()
    };
    let samples = vec![
        series("latency_ms", e2e),
        series("ttft_ms", ttft),
        series("tpot_ms", tpot),
        series("itl_ms", itl),
        series("session_s", makespans),
    ];
    Ok((summary, samples))
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
