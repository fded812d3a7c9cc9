//! Figures from hand-made timings.

use super::*;

fn ms_d(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

fn spec() -> MeasureSpec {
    MeasureSpec { min_reps: 2, bootstrap_resamples: 10, ..Default::default() }
}

fn gen(ttft: u64, steps: &[u64]) -> Generation {
    let steps: Vec<Duration> = steps.iter().map(|&s| ms_d(s)).collect();
    let total = ms_d(ttft) + steps.iter().sum::<Duration>();
    Generation { tokens: vec![], ttft: ms_d(ttft), steps, total }
}

#[test]
fn plain_rates_are_per_sequence_for_decode_and_per_batch_for_throughput() {
    let shape = PlainShape { batch: 2, prompt_tokens: 8, output_tokens: 4, price_per_hour: 3.6 };
    let (s, samples) = generation(&spec(), &shape, &[gen(10, &[5, 5, 5]), gen(10, &[5, 5, 5])]);
    assert_eq!((s.verdict.as_str(), s.reps), ("valid", 2));
    assert!(close(s.ttft_ms, 10.0) && close(s.tpot_ms, 5.0));
    // One sequence decodes a token every 5 ms, whatever the batch.
    assert!(close(s.decode_tok_s, 200.0), "{}", s.decode_tok_s);
    // 2 prompts of 8 tokens in 10 ms; 2 × 4 tokens in 25 ms.
    assert!(close(s.prefill_tok_s, 1600.0));
    assert!(close(s.output_tok_s, 320.0));
    assert!(close(s.latency_ms.p50, 25.0));
    // $3.6/h is $0.001/s: 25 ms for 8 tokens.
    assert!(close(s.cost_per_1k_tokens, 0.001 * 0.025 / 8.0 * 1e3));
    let names: Vec<&str> = samples.iter().map(|x| x.metric.as_str()).collect();
    assert_eq!(names, ["latency_ms", "ttft_ms", "tpot_ms", "itl_ms"]);
    assert_eq!(samples[3].values.len(), 6, "every decode step of every repetition");
}

#[test]
fn plain_medians_and_one_token_answers() {
    let shape = PlainShape { batch: 1, prompt_tokens: 4, output_tokens: 1, price_per_hour: 0.0 };
    let (s, _) = generation(&spec(), &shape, &[gen(10, &[]), gen(30, &[]), gen(20, &[])]);
    assert!(close(s.ttft_ms, 20.0));
    assert_eq!((s.tpot_ms, s.decode_tok_s), (0.0, 0.0), "no decode step: no decode rate");
    assert_eq!(s.cost_per_1k_tokens, 0.0);
}

#[test]
fn a_noisy_sample_is_judged_invalid() {
    let shape = PlainShape { batch: 1, prompt_tokens: 4, output_tokens: 2, price_per_hour: 0.0 };
    let (s, _) = generation(&spec(), &shape, &[gen(10, &[5]), gen(40, &[5])]);
    assert_eq!(s.verdict, "invalid");
    assert!(s.verdict_reason.unwrap().contains("too noisy"));
}

fn request(id: usize, arrival: f64, times: &[f64], prompt: usize, hit: usize) -> RequestResult {
    RequestResult {
        id,
        prompt_tokens: prompt,
        hit_tokens: hit,
        tokens: vec![0; times.len()],
        arrival,
        token_times: times.to_vec(),
    }
}

fn session(results: Vec<RequestResult>, makespan: f64, steps: usize) -> Session {
    Session { results, makespan, steps, blocks_in_use_after: 0, blocks_available_after: 0, blocks_capacity: 0 }
}

#[test]
fn serving_percentiles_rates_cost_and_goodput() {
    let shape = ServingShape { ttft_slo_ms: 200.0, tpot_slo_ms: 150.0, max_batch: 4, price_per_hour: 3.6 };
    // r0: TTFT 100 ms, TPOT 100 ms (meets both); r1: TTFT 350 ms, one token (misses TTFT).
    let s0 = session(vec![request(0, 0.0, &[0.1, 0.2, 0.3], 10, 4), request(1, 0.05, &[0.4], 6, 0)], 0.5, 3);
    let (s, samples) = serving(&spec(), &shape, &[s0.clone(), s0]);
    let sv = s.serving.unwrap();
    assert_eq!((sv.requests, s.reps), (4, 2));
    assert!(close(s.ttft_ms, 225.0) && close(sv.ttft_mean_ms, 225.0));
    assert!(close(sv.ttft_p90_ms, 350.0));
    assert!(close(s.tpot_ms, 100.0) && close(s.decode_tok_s, 10.0));
    assert!(close(sv.itl_p50_ms, 100.0));
    assert!(close(s.latency_ms.p50, 325.0), "{}", s.latency_ms.p50);
    // Over 1 s of sessions: 8 generated, 32 prompt tokens, 4 requests.
    assert!(close(s.output_tok_s, 8.0) && close(s.prefill_tok_s, 32.0) && close(sv.request_throughput, 4.0));
    assert!(close(sv.goodput, 0.5) && close(sv.prefix_hit_rate, 0.25));
    assert!(close(s.cost_per_1k_tokens, 0.001 * 1.0 / 8.0 * 1e3));
    assert_eq!(s.extra["engine_steps"], 6);
    assert_eq!(s.extra["max_batch"], 4);
    assert_eq!(samples.last().unwrap().values, vec![0.5, 0.5]);
    assert_eq!(s.verdict, "valid");
}

#[test]
fn slo_of_a_one_token_answer_is_its_ttft() {
    let shape = ServingShape { ttft_slo_ms: 100.0, tpot_slo_ms: 1.0, max_batch: 1, price_per_hour: 0.0 };
    assert!(meets_slo(&request(0, 0.0, &[0.1], 1, 0), &shape));
    assert!(!meets_slo(&request(0, 0.0, &[0.1, 0.2], 1, 0), &shape), "TPOT 100 ms misses 1 ms");
    assert!(!meets_slo(&request(0, 0.0, &[0.2], 1, 0), &shape));
}
