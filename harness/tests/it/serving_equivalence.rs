//! The serving loop on a synthetic model: whatever the policy, every request's
//! tokens equal plain greedy decoding of that request alone, and the block
//! cache gives every block back.

use harness::engines::candle::CandleModel;
use harness::models::generate::KvMode;
use harness::models::llama::Decoder;
use harness::models::synthetic::{SyntheticSpec, SyntheticWeights};
use harness::models::WeightFormat;
use harness::serving::{arrivals, serve, Arrivals, Request, ServingConfig};
use harness::workloads::generate::generate;

fn model() -> CandleModel {
    let spec = SyntheticSpec {
        layers: 2,
        hidden: 64,
        heads: 4,
        kv_heads: Some(2),
        intermediate: 128,
        vocab: 384,
        max_seq: 256,
        seed: 5,
    };
    CandleModel(Decoder::load(&mut SyntheticWeights::generate(&spec), WeightFormat::F32).unwrap(), None)
}

/// Requests sharing a 40-token prefix, with varied tails and answer lengths.
fn requests() -> Vec<Request> {
    let prefix: Vec<u32> = (0..40).map(|i| (i * 37 + 11) % 384).collect();
    (0..10)
        .map(|id| {
            let mut prompt = prefix.clone();
            prompt.extend((0..(3 + id * 5) as u32).map(|j| (j * 53 + id as u32 * 101 + 7) % 384));
            Request { id, prompt, max_new: 2 + (id * 7) % 9 }
        })
        .collect()
}

fn config(continuous: bool, chunk: Option<usize>, prefix_cache: bool) -> ServingConfig {
    ServingConfig {
        max_batch: 4,
        continuous,
        chunk,
        prefix_cache,
        block_size: 8,
        kv_blocks: 256,
        static_max_wait_s: 0.0,
    }
}

#[test]
fn every_policy_reproduces_greedy_decoding_of_each_request_alone() {
    let m = model();
    let reqs = requests();
    let alone: Vec<Vec<u32>> = reqs
        .iter()
        .map(|r| generate(&m, std::slice::from_ref(&r.prompt), r.max_new, KvMode::On).unwrap().tokens[0].clone())
        .collect();
    let policies = [
        ("static", config(false, None, false)),
        ("continuous", config(true, None, false)),
        ("chunked", config(false, Some(16), false)),
        ("prefix", config(false, None, true)),
        ("all", config(true, Some(16), true)),
    ];
    for arrivals in [Arrivals::Closed { concurrency: 3 }, Arrivals::Open { at: arrivals::poisson(10, 200.0, 2, 1) }] {
        for (name, cfg) in &policies {
            let s = serve(&m, reqs.clone(), &arrivals, cfg).unwrap();
            assert_eq!(s.results.len(), reqs.len());
            for (r, want) in s.results.iter().zip(&alone) {
                assert_eq!(&r.tokens, want, "policy {name}, request {}", r.id);
                assert_eq!(r.token_times.len(), r.tokens.len());
                assert!(r.ttft() >= 0.0);
            }
            assert_eq!(s.blocks_in_use_after, 0, "policy {name} leaked blocks");
            assert_eq!(s.blocks_available_after, s.blocks_capacity, "policy {name}: every block free or evictable");
            let hits: usize = s.results.iter().map(|r| r.hit_tokens).sum();
            if cfg.prefix_cache {
                // 40 shared tokens = 5 full blocks of 8, reused by later requests.
                assert!(hits >= 40 * 5, "policy {name}: {hits} prefix tokens reused");
            } else {
                assert_eq!(hits, 0);
            }
        }
    }
}

#[test]
fn a_small_pool_queues_requests_and_still_frees_everything() {
    let m = model();
    // Each request needs up to ceil((40+48+10)/8) = 13 blocks; 16 blocks fit one at a time.
    let cfg = ServingConfig { kv_blocks: 16, ..config(true, Some(16), true) };
    let s = serve(&m, requests(), &Arrivals::Closed { concurrency: 4 }, &cfg).unwrap();
    assert_eq!(s.results.len(), 10);
    assert_eq!(s.blocks_in_use_after, 0);
    let too_small = ServingConfig { kv_blocks: 4, ..cfg };
    let e = serve(&m, requests(), &Arrivals::Closed { concurrency: 1 }, &too_small).unwrap_err();
    assert!(e.to_string().contains("raise serving.kv_blocks"), "{e}");
}
