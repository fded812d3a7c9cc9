//! A cell's timings turned into its summary and raw sample series: pure functions,
//! so every figure has one definition, whatever the engine that produced the timings.
//!
//! `decode_tok_s` is per sequence (1000 / median TPOT) for plain and serving cells
//! alike, so a batch of 8 and a serving session compare on one scale.

use std::time::Duration;

use super::{stats, verdict};
use crate::config::MeasureSpec;
use crate::record::{SampleSeries, ServingStats, Summary};
use crate::serving::{RequestResult, Session};
use crate::workloads::generate::Generation;

/// What a plain cell generated per repetition, and what its node costs.
#[derive(Debug, Clone, PartialEq)]
pub struct PlainShape {
    pub batch: usize,
    pub prompt_tokens: usize,
    pub output_tokens: usize,
    pub price_per_hour: f64,
}

/// The targets and limits of a serving cell, and what its node costs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingShape {
    pub ttft_slo_ms: f64,
    pub tpot_slo_ms: f64,
    pub max_batch: usize,
    pub price_per_hour: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn series(name: &str, values: Vec<f64>) -> SampleSeries {
    SampleSeries { metric: name.into(), values }
}

/// Tokens per second of one sequence decoding at `tpot_ms` per token (0 when unknown).
pub fn decode_tok_s(tpot_ms: f64) -> f64 {
    if tpot_ms > 0.0 {
        1e3 / tpot_ms
    } else {
        0.0
    }
}

/// Repetitions of a batch of equal prompts, prefilled and decoded together; the
/// verdict is judged on the batch latency.
pub fn generation(m: &MeasureSpec, shape: &PlainShape, gens: &[Generation]) -> (Summary, Vec<SampleSeries>) {
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
    let lat = stats::describe(&latency, m.bootstrap_resamples, 0);
    let (verdict, verdict_reason) = verdict(m, &latency);
    let b = shape.batch as f64;
    let (tpot_med, ttft_med) = (stats::median(&tpot), stats::median(&ttft));
    let out_tokens = b * shape.output_tokens as f64;
    let summary = Summary {
        verdict,
        verdict_reason,
        reps: latency.len(),
        ttft_ms: ttft_med,
        tpot_ms: tpot_med,
        decode_tok_s: decode_tok_s(tpot_med),
        prefill_tok_s: b * shape.prompt_tokens as f64 * 1e3 / ttft_med,
        output_tok_s: out_tokens * 1e3 / lat.p50,
        cost_per_1k_tokens: shape.price_per_hour / 3600.0 * (lat.p50 / 1e3) / out_tokens * 1e3,
        latency_ms: lat,
        ..Default::default()
    };
    let samples =
        vec![series("latency_ms", latency), series("ttft_ms", ttft), series("tpot_ms", tpot), series("itl_ms", itl)];
    (summary, samples)
}

/// Whether a request met both targets (a one-token answer has no TPOT to miss).
pub fn meets_slo(r: &RequestResult, shape: &ServingShape) -> bool {
    r.ttft() * 1e3 <= shape.ttft_slo_ms && r.tpot().is_none_or(|t| t * 1e3 <= shape.tpot_slo_ms)
}

/// Repeated serving sessions: distributions over every request of every session,
/// rates over the sessions' summed makespan; the verdict is judged on the makespans.
pub fn serving(m: &MeasureSpec, shape: &ServingShape, sessions: &[Session]) -> (Summary, Vec<SampleSeries>) {
    let all: Vec<&RequestResult> = sessions.iter().flat_map(|s| &s.results).collect();
    let e2e: Vec<f64> = all.iter().map(|r| r.e2e() * 1e3).collect();
    let ttft: Vec<f64> = all.iter().map(|r| r.ttft() * 1e3).collect();
    let tpot: Vec<f64> = all.iter().filter_map(|r| r.tpot()).map(|x| x * 1e3).collect();
    let itl: Vec<f64> = all.iter().flat_map(|r| r.itls()).map(|x| x * 1e3).collect();
    let makespans: Vec<f64> = sessions.iter().map(|s| s.makespan).collect();
    let total_time: f64 = makespans.iter().sum();
    let generated: usize = all.iter().map(|r| r.tokens.len()).sum();
    let prompt: usize = all.iter().map(|r| r.prompt_tokens).sum();
    let hits: usize = all.iter().map(|r| r.hit_tokens).sum();
    let good = all.iter().filter(|r| meets_slo(r, shape)).count();
    let mut ttft_sorted = ttft.clone();
    let mut tpot_sorted = tpot.clone();
    let mut itl_sorted = itl.clone();
    for v in [&mut ttft_sorted, &mut tpot_sorted, &mut itl_sorted] {
        v.sort_by(f64::total_cmp);
    }
    let pct = stats::percentile_sorted;
    let (verdict, verdict_reason) = verdict(m, &makespans);
    let tpot_med = pct(&tpot_sorted, 50.0);
    let summary = Summary {
        verdict,
        verdict_reason,
        reps: sessions.len(),
        latency_ms: stats::describe(&e2e, m.bootstrap_resamples, 0),
        ttft_ms: pct(&ttft_sorted, 50.0),
        tpot_ms: tpot_med,
        decode_tok_s: decode_tok_s(tpot_med),
        prefill_tok_s: prompt as f64 / total_time,
        output_tok_s: generated as f64 / total_time,
        cost_per_1k_tokens: shape.price_per_hour / 3600.0 * total_time / generated as f64 * 1e3,
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
            "max_batch": shape.max_batch,
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
    (summary, samples)
}

#[cfg(test)]
mod tests;
