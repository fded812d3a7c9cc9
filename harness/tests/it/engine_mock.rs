//! Whole cells through the worker on the mock engine: scripted costs instead of a
//! model, so the worker's measurement, capability checks and memory cap run fast.

use crate::common;

use std::path::Path;
use std::time::Duration;

use harness::config::{expand, parse, CellConfig};
use harness::engines::mock::{MockEngine, Script};
use harness::engines::Capabilities;
use harness::execute::worker::run_cell_on;
use harness::execute::WorkerRequest;
use harness::record::CellStatus;

const GRID: &str = r#"
models:
  tiny: {synthetic: {layers: 4, hidden: 64, heads: 4, kv_heads: 2, intermediate: 128, vocab: 320, seed: 3}}
workloads:
  plain: {prompt_tokens: 8, output_tokens: 4, batch: 2, eval_tokens: 32}
  shared:
    prompt_tokens: 8
    output_tokens: 4
    eval_tokens: 32
    serving: {requests: 6, concurrency: 2, shared_prefix_tokens: 16, prompt_tokens_max: 12, output_tokens_max: 6}
hardware:
  small: {emulated: {cores: 1, memory_mb: 100}}
axes:
  technique: [f32, kv-off, q8_0, continuous-batching]
  threads: [1]
  hardware: [small]
measure: {warmup: 1, min_reps: 3, min_time_s: 0, bootstrap_resamples: 20}
"#;

fn cells() -> Vec<CellConfig> {
    expand(&parse(Path::new("mock.yaml"), GRID).unwrap())
}

fn cell(technique: &str, workload: &str) -> CellConfig {
    cells().into_iter().find(|c| c.technique.to_string() == technique && c.workload == workload).unwrap()
}

fn run(engine: &MockEngine, config: CellConfig) -> harness::execute::WorkerReply {
    let req = WorkerRequest {
        config,
        hub_cache: "/nonexistent".into(),
        corpus_dir: common::corpus_dir(),
        node_group: vec![],
    };
    match run_cell_on(engine, &req) {
        Ok(r) => r,
        Err(e) => panic!("{e:#}"),
    }
}

fn steady() -> MockEngine {
    MockEngine::new(Script { per_call: Duration::from_millis(1), ..Script::default() })
}

#[test]
fn plain_and_serving_cells_measure_on_the_mock() {
    // The verdict must be `valid`: no other test's processes may load the machine while the cells are timed.
    let _alone = common::alone();
    let plain = run(&steady(), cell("f32", "plain"));
    assert_eq!(plain.status, CellStatus::Ok);
    let s = plain.summary.unwrap();
    assert_eq!((s.verdict.as_str(), s.reps), ("valid", 3));
    assert!(s.tpot_ms >= 1.0 && (s.decode_tok_s - 1e3 / s.tpot_ms).abs() < 1e-9);
    assert_eq!((s.perplexity, s.agreement), (s.ref_perplexity, Some(1.0)), "f32 is its own reference");
    let served = run(&steady(), cell("continuous-batching", "shared"));
    let s = served.summary.unwrap();
    assert_eq!(s.serving.unwrap().requests, 6 * s.reps);
    assert!(served.samples.iter().any(|x| x.metric == "session_s" && x.values.len() == s.reps));
}

#[test]
fn a_lacking_capability_makes_the_cell_not_applicable() {
    let no_recompute = MockEngine::new(Script {
        capabilities: Capabilities { recompute: false, ..Capabilities::ALL },
        ..Script::default()
    });
    let e = run_cell_on(
        &no_recompute,
        &WorkerRequest {
            config: cell("kv-off", "plain"),
            hub_cache: "/x".into(),
            corpus_dir: "/x".into(),
            node_group: vec![],
        },
    )
    .unwrap_err();
    let na = e.downcast_ref::<harness::models::weights::NotApplicable>().expect("not applicable");
    assert!(na.0.contains("lacks decoding without a KV cache"), "{na}");
    // The same engine still runs cells that need nothing it lacks.
    assert_eq!(run(&no_recompute, cell("q8_0", "plain")).status, CellStatus::Ok);
}

#[test]
fn the_memory_cap_reads_the_engine_peak() {
    // Every cell of the grid runs on `small`, a node of 100 MiB.
    let cfg = cell("f32", "plain");
    assert_eq!(cfg.hardware, "small");
    let fat = MockEngine::new(Script { peak_memory_mb: Some(500.0), ..Script::default() });
    let req =
        WorkerRequest { config: cfg, hub_cache: "/x".into(), corpus_dir: common::corpus_dir(), node_group: vec![] };
    let e = run_cell_on(&fat, &req).unwrap_err().to_string();
    assert!(e.contains("out of memory on emulated node `small`"), "{e}");
}
