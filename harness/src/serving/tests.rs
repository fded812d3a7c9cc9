//! The scheduler on the mock engine: scripted step costs, deterministic tokens,
//! so policies compare by step counts and timing order without a real model.

use std::time::Duration;

use super::*;
use crate::engines::mock::{MockEngine, MockModel, Script};
use crate::models::generate::KvMode;
use crate::workloads::generate::generate;

fn mock(per_call_ms: u64) -> MockModel {
    let script =
        Script { per_call: Duration::from_millis(per_call_ms), per_token: Duration::ZERO, ..Script::default() };
    MockEngine::new(script).model(2, 500)
}

fn config(max_batch: usize, continuous: bool, chunk: Option<usize>, prefix_cache: bool) -> ServingConfig {
    ServingConfig { max_batch, continuous, chunk, prefix_cache, block_size: 4, kv_blocks: 64, static_max_wait_s: 0.0 }
}

/// Four requests of 6 prompt tokens (a shared first 4), alternately short and long answers.
fn requests() -> Vec<Request> {
    (0..4)
        .map(|id| Request {
            id,
            prompt: vec![1, 2, 3, 4, 10 + id as u32, 20 + id as u32],
            max_new: if id % 2 == 0 { 1 } else { 8 },
        })
        .collect()
}

fn closed() -> Arrivals {
    Arrivals::Closed { concurrency: 4 }
}

#[test]
fn every_policy_answers_like_generation_alone() {
    let m = mock(0);
    let alone: Vec<Vec<u32>> = requests()
        .iter()
        .map(|r| generate(&m, std::slice::from_ref(&r.prompt), r.max_new, KvMode::On).unwrap().tokens[0].clone())
        .collect();
    for cfg in [config(2, false, None, false), config(2, true, Some(3), false), config(3, true, Some(5), true)] {
        let s = serve(&m, requests(), &closed(), &cfg).unwrap();
        let got: Vec<Vec<u32>> = s.results.iter().map(|r| r.tokens.clone()).collect();
        assert_eq!(got, alone, "{cfg:?}");
        assert_eq!(s.blocks_in_use_after, 0);
    }
}

#[test]
fn continuous_batching_takes_fewer_steps_and_answers_short_requests_sooner() {
    let m = mock(3);
    // Static: each batch of two runs until its 8-token answer is done: 2 × 8 steps.
    let st = serve(&m, requests(), &closed(), &config(2, false, None, false)).unwrap();
    assert_eq!(st.steps, 16);
    // Continuous: a finished short request's slot is refilled at the next step;
    // the last long answer starts at step 3 and ends at step 10.
    let ct = serve(&m, requests(), &closed(), &config(2, true, None, false)).unwrap();
    assert_eq!(ct.steps, 10);
    // Request 2 waits for the whole first batch under static batching (>= 9 steps
    // of 3 ms), only for two steps under continuous batching.
    assert!(st.results[2].ttft() >= 0.027, "{}", st.results[2].ttft());
    assert!(ct.results[2].ttft() < st.results[2].ttft());
    assert!(ct.makespan < st.makespan);
    // Within a static batch both requests get their first token from the same step.
    assert_eq!(st.results[0].token_times[0], st.results[1].token_times[0]);
}

#[test]
fn chunked_prefill_splits_a_prompt_over_steps() {
    let m = mock(0);
    let one = vec![Request { id: 0, prompt: (1..=10).collect(), max_new: 3 }];
    let whole = serve(&m, one.clone(), &closed(), &config(1, true, None, false)).unwrap();
    // One prefill step yields the first token, two decode steps the rest.
    assert_eq!(whole.steps, 3);
    // Chunks of 4: 4 + 4 + 2 prompt tokens, the last chunk yields the first token.
    let chunked = serve(&m, one, &closed(), &config(1, true, Some(4), false)).unwrap();
    assert_eq!(chunked.steps, 5);
    assert_eq!(chunked.results[0].tokens, whole.results[0].tokens);
}

#[test]
fn prefix_cache_reuses_the_shared_block() {
    let m = mock(0);
    // One at a time, so later requests find the first one's published block.
    let s = serve(&m, requests(), &Arrivals::Closed { concurrency: 1 }, &config(1, false, None, true)).unwrap();
    let hits: Vec<usize> = s.results.iter().map(|r| r.hit_tokens).collect();
    assert_eq!(hits, [0, 4, 4, 4], "the shared 4 tokens are one block of 4");
    assert_eq!(s.blocks_available_after, s.blocks_capacity);
}
