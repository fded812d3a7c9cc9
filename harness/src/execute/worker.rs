//! One cell, in its own process: load the model with the cell's technique,
//! time generation, score accuracy, report on stdout.
//!
//! A process per cell because candle's thread pool size is fixed per process,
//! and so that a crash or out-of-memory in one cell cannot take the run down
//! and every cell's peak RSS is its own.

use std::io::{Read, Write};

use anyhow::{Context, Result};

use super::{WorkerReply, WorkerRequest};
use crate::measure::{self, rss, stats};
use crate::models::generate::{generate, KvMode};
use crate::models::weights::NotApplicable;
use crate::models::{Decoder, WeightFormat};
use crate::store::{CellStatus, SampleSeries, Summary};
use crate::techniques::TechniqueName;
use crate::workloads::{self, accuracy, corpus::Corpus};

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

pub fn run_cell(req: &WorkerRequest) -> Result<WorkerReply> {
    let cfg = &req.config;
    let tech = TechniqueName::parse(&cfg.technique).map_err(anyhow::Error::msg)?;
    let plan = tech.plan();
    let w = &cfg.workload_spec;

    let (mut src, tok) = cfg.model_spec.open(&req.hub_cache)?;
    let max_seq = src.config().max_seq_len;
    if w.prompt_tokens + w.output_tokens > max_seq || w.eval_tokens + 1 > max_seq {
        return Err(NotApplicable(format!(
            "workload needs {} positions, model allows {max_seq}",
            (w.prompt_tokens + w.output_tokens).max(w.eval_tokens + 1)
        ))
        .into());
    }
    let corpus = Corpus::load(&req.corpus_dir, &w.corpus)?;
    let inputs = workloads::prepare(w, &corpus, &tok)?;
    drop(corpus);

    let model = Decoder::load(src.as_mut(), plan.weights)?;
    drop(src);
    let gens = measure::repeat(&cfg.measure, || generate(&model, &inputs.prompts, w.output_tokens, plan.kv))?;
    let peak_rss_mb = rss::peak_rss_mb();

    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
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

    // Accuracy: this technique against held-out text and against the f32 reference.
    let lp = accuracy::log_probs(&model, &inputs.eval)?;
    let weight_mb = model.load_stats.weight_bytes as f64 / (1024.0 * 1024.0);
    let load_stats = model.load_stats.clone();
    drop(model);
    let ppl = accuracy::perplexity(&lp, &inputs.eval)?;
    let (ref_ppl, agreement, kl) = if plan.weights == WeightFormat::F32 {
        (ppl, 1.0, 0.0)
    } else {
        let (mut src, _) = cfg.model_spec.open(&req.hub_cache)?;
        let reference = Decoder::load(src.as_mut(), WeightFormat::F32)?;
        let rlp = accuracy::log_probs(&reference, &inputs.eval)?;
        (accuracy::perplexity(&rlp, &inputs.eval)?, accuracy::agreement(&rlp, &lp)?, accuracy::kl_mean(&rlp, &lp)?)
    };

    let m = &cfg.measure;
    let lat = stats::describe(&latency, m.bootstrap_resamples, 0);
    let (verdict, verdict_reason) = measure::verdict(m, &latency);
    let b = w.batch as f64;
    let tpot_med = stats::median(&tpot);
    let ttft_med = stats::median(&ttft);
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
        peak_rss_mb,
        weight_mb,
        perplexity: Some(ppl),
        ref_perplexity: Some(ref_ppl),
        agreement: Some(agreement),
        kl_mean: Some(kl),
        extra: serde_json::json!({
            "weight_format": plan.weights.name(),
            "kv_cache": matches!(plan.kv, KvMode::On),
            "linear_tensors": load_stats.linear_tensors,
            "fallback_tensors": load_stats.fallback_tensors,
            "eval_tokens": inputs.eval.len() - 1,
        }),
    };
    let series = |name: &str, values: Vec<f64>| SampleSeries { metric: name.into(), values };
    Ok(WorkerReply {
        status: CellStatus::Ok,
        reason: None,
        summary: Some(summary),
        samples: vec![
            series("latency_ms", latency),
            series("ttft_ms", ttft),
            series("tpot_ms", tpot),
            series("itl_ms", itl),
        ],
    })
}
