//! Techniques exact by construction, on a real decoder (a synthetic model, no download): their
//! own decoding loops give the reference's greedy tokens, which is what lets a cell of theirs
//! store its accuracy as `exact-by-construction` instead of measuring it; and the worker does
//! store them so, with no agreement or KL it did not measure.

use crate::common;

use std::path::Path;

use harness::config::{expand, parse, CellConfig};
use harness::engines::LoadedModel;
use harness::execute::worker::run_cell_on;
use harness::execute::WorkerRequest;
use harness::models::generate::KvMode;
use harness::models::synthetic::SyntheticSpec;
use harness::models::ModelSpec;
use harness::record::accuracy::Basis;
use harness::record::CellStatus;
use harness::techniques::{ExecutionPlan, TechniqueName};
use harness::workloads::generate::generate;

fn spec(seed: u64) -> ModelSpec {
    ModelSpec::Synthetic(SyntheticSpec {
        layers: 3,
        hidden: 64,
        heads: 4,
        kv_heads: Some(2),
        intermediate: 128,
        vocab: 320,
        max_seq: 256,
        seed,
    })
}

fn load(plan: &ExecutionPlan) -> Box<dyn LoadedModel> {
    harness::engines::by_name("candle").unwrap().load(&spec(7), plan, Path::new("/nonexistent")).unwrap()
}

fn prompts(batch: usize) -> Vec<Vec<u32>> {
    (0..batch as u32).map(|b| (0..12).map(|i| (i * 41 + b * 97 + 5) % 320).collect()).collect()
}

/// The reference's greedy tokens: f32 weights, every layer, a KV cache.
fn reference(prompts: &[Vec<u32>], n: usize) -> Vec<Vec<u32>> {
    let tokens = generate(load(&ExecutionPlan::default()).as_ref(), prompts, n, KvMode::On).unwrap().tokens;
    // A decoder stuck on one token would make every comparison below trivially equal.
    for t in &tokens {
        let distinct: std::collections::BTreeSet<_> = t.iter().collect();
        assert!(distinct.len() > 4, "the synthetic model's greedy output varies: {t:?}");
    }
    tokens
}

#[test]
fn kv_off_recomputes_the_reference_greedy_tokens() {
    let plan = TechniqueName::parse("kv-off").unwrap().plan();
    assert_eq!(plan.kv, KvMode::Off);
    let p = prompts(2);
    assert_eq!(generate(load(&plan).as_ref(), &p, 40, plan.kv).unwrap().tokens, reference(&p, 40));
}

#[test]
fn speculative_decoding_gives_the_reference_greedy_tokens_whatever_the_draft() {
    let p = prompts(1);
    let want = reference(&p, 48);
    let mut rejected = 0;
    for technique in ["spec:draft=q4_0,k=4", "spec:draft=skip:1,k=3", "spec:draft=f32,k=5", "spec:draft=other,k=4"] {
        let mut plan = TechniqueName::parse(technique).unwrap().plan();
        // Another model of the grid: the same architecture, other weights, so it is often wrong.
        plan.draft_spec = Some(spec(8));
        let m = load(&plan);
        assert_eq!(generate(m.as_ref(), &p, 48, plan.kv).unwrap().tokens, want, "{technique}");
        let st = &m.run_stats()["speculation"];
        let (proposed, accepted) = (st["proposed"].as_u64().unwrap(), st["accepted"].as_u64().unwrap());
        assert!(proposed > 0, "{technique}: the draft proposed");
        if technique.contains("draft=f32") {
            assert_eq!(accepted, proposed, "the model drafting for itself is always right");
        }
        rejected += proposed - accepted;
    }
    assert!(rejected > 0, "some proposals were rejected, so the caches were rolled back");
}

const GRID: &str = r#"
models:
  tiny: {synthetic: {layers: 2, hidden: 64, heads: 4, kv_heads: 2, intermediate: 128, vocab: 320, seed: 3}}
workloads:
  plain: {prompt_tokens: 8, output_tokens: 4, batch: 1, eval_tokens: 32}
hardware:
  small: {emulated: {cores: 1}}
axes:
  technique: [f32, kv-off, "spec:draft=q4_0,k=2", q8_0]
  threads: [1]
  hardware: [small]
measure: {warmup: 0, min_reps: 1, min_time_s: 0, bootstrap_resamples: 10}
"#;

fn cell(technique: &str) -> CellConfig {
    let cells = expand(&parse(Path::new("exact.yaml"), GRID).unwrap());
    cells.into_iter().find(|c| c.technique.to_string() == technique).unwrap()
}

#[test]
fn the_worker_marks_exact_cells_and_measures_the_others() {
    let engine = harness::engines::by_name("candle").unwrap();
    for (technique, basis) in [
        ("f32", Basis::ExactByConstruction),
        ("kv-off", Basis::ExactByConstruction),
        ("spec:draft=q4_0,k=2", Basis::ExactByConstruction),
        ("q8_0", Basis::Measured),
    ] {
        let req = WorkerRequest {
            config: cell(technique),
            hub_cache: "/nonexistent".into(),
            corpus_dir: common::corpus_dir(),
            node_group: vec![],
        };
        let reply = run_cell_on(engine.as_ref(), &req).unwrap_or_else(|e| panic!("{technique}: {e:#}"));
        assert_eq!(reply.status, CellStatus::Ok, "{technique}: {:?}", reply.reason);
        let s = reply.summary.unwrap();
        assert_eq!(s.accuracy_basis(), Some(basis), "{technique}: {}", s.extra);
        assert!(s.perplexity.is_some_and(f64::is_finite), "{technique}: its own perplexity is measured");
        let compared = [s.ref_perplexity, s.agreement, s.kl_mean].map(|f| f.is_some());
        let measured = basis == Basis::Measured;
        assert_eq!(compared, [measured; 3], "{technique}: a comparison is stored only when measured");
    }
}
