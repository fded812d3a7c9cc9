//! Repetitions and verdicts over the mock engine's scripted costs: what a
//! plain cell's worker does, minus the model.

use std::time::Duration;

use super::summary::{self, PlainShape};
use super::*;
use crate::engines::mock::{MockEngine, MockModel, Script};
use crate::models::generate::KvMode;
use crate::workloads::generate::generate;

fn engine(per_call_ms: u64, noise: Vec<f64>) -> MockModel {
    let script =
        Script { per_call: Duration::from_millis(per_call_ms), per_token: Duration::ZERO, noise, ..Script::default() };
    MockEngine::new(script).model(2, 300)
}

const SHAPE: PlainShape = PlainShape { batch: 2, prompt_tokens: 4, output_tokens: 3, price_per_hour: 1.0 };

/// Measure a plain cell of two prompts, three output tokens each, on `m`.
fn measure(spec: &MeasureSpec, m: &MockModel) -> crate::record::Summary {
    let prompts = vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8]];
    let gens = repeat(spec, || generate(m, &prompts, SHAPE.output_tokens, KvMode::On)).unwrap();
    summary::generation(spec, &SHAPE, &gens).0
}

fn spec(min_reps: usize, min_time_s: f64) -> MeasureSpec {
    MeasureSpec {
        warmup: 1,
        min_reps,
        max_reps: 100,
        min_time_s,
        max_cv: 0.25,
        bootstrap_resamples: 20,
        ..Default::default()
    }
}

#[test]
fn a_steady_engine_is_valid_after_min_reps() {
    let s = measure(&spec(5, 0.0), &engine(2, vec![]));
    assert_eq!(s.verdict, "valid", "{:?}", s.verdict_reason);
    assert_eq!(s.reps, 5);
    // Three calls of >= 2 ms: a prefill and two decode steps.
    assert!(s.latency_ms.p50 >= 6.0 && s.ttft_ms >= 2.0 && s.tpot_ms >= 2.0);
    // Per sequence: one token per decode step, whatever the batch of two.
    assert!((s.decode_tok_s - 1e3 / s.tpot_ms).abs() < 1e-9);
}

#[test]
fn a_noisy_engine_is_invalid() {
    // Every other repetition costs four times as much.
    let s = measure(&spec(6, 0.0), &engine(2, vec![1.0, 4.0]));
    assert_eq!(s.verdict, "invalid");
    assert!(s.verdict_reason.unwrap().contains("too noisy"));
}

#[test]
fn min_time_keeps_repeating_past_min_reps() {
    let m = engine(2, vec![]);
    let s = measure(&spec(2, 0.1), &m);
    // >= 6 ms a repetition: 100 ms take more than two, and at most ~17.
    assert!(s.reps > 2 && s.reps <= 17, "{} reps", s.reps);
    assert!(s.latency_ms.mean * s.reps as f64 >= 100.0 - 1.0);
}

#[test]
fn recomputing_costs_grow_with_the_sequence() {
    let script = Script { per_call: Duration::ZERO, per_token: Duration::from_micros(200), ..Script::default() };
    let m = MockEngine::new(script).model(2, 300);
    let p = vec![vec![1u32; 20]];
    let on = generate(&m, &p, 5, KvMode::On).unwrap();
    let off = generate(&m, &p, 5, KvMode::Off).unwrap();
    assert_eq!(on.tokens, off.tokens, "the mock decodes alike with or without a cache");
    // A cached step computes 1 token (0.2 ms), a recomputing one 21 to 24 (>= 4.2 ms).
    assert!(off.steps.iter().all(|d| *d >= Duration::from_micros(4200)));
    assert!(off.total > on.total);
}
