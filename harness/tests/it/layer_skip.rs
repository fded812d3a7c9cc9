//! `layer-skip:K`, the technique added as one file plus one registry line: the layers
//! are really gone (fewer weights), and the cell is scored against the f32 reference
//! rather than assumed lossless because its weights stay f32.

use crate::common;

use common::*;
use harness::store::{ResultStore, SqliteStore};

#[test]
fn skipping_layers_shrinks_the_model_and_costs_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("skip.yaml");
    std::fs::write(
        &grid,
        "name: skip
models:
  synth-4l:
    synthetic: {layers: 4, hidden: 64, heads: 4, kv_heads: 2, intermediate: 128, vocab: 320, seed: 3}
workloads:
  short: {prompt_tokens: 16, output_tokens: 8}
axes:
  technique: [f32, layer-skip:2, q8_0+layer-skip:1, layer-skip:3]
  threads: [1]
measure: {warmup: 1, min_reps: 3, max_reps: 10, min_time_s: 0.05, max_time_s: 2, max_cv: 0.5, timeout_s: 120}
",
    )
    .unwrap();
    let db = dir.path().join("h.db");
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
    let recs = SqliteStore::open_existing(&db).unwrap().all().unwrap();
    let get = |t: &str| recs.iter().find(|r| r.technique == t).unwrap_or_else(|| panic!("{t}: {}", text(&o)));
    let f32 = get("f32").summary.clone().unwrap();
    let skip2 = get("layer-skip:2").summary.clone().unwrap();
    assert_eq!(skip2.extra["skipped_layers"], 2);
    assert!(skip2.weight_mb < f32.weight_mb, "{} !< {}", skip2.weight_mb, f32.weight_mb);
    assert!(skip2.kl_mean.unwrap() > 0.0, "measured against the reference, not assumed exact");
    assert!(skip2.perplexity != f32.perplexity);
    assert!(get("q8_0+layer-skip:1").summary.is_some());
    // Four layers keep the first and the last: dropping three is not applicable.
    let too_many = get("layer-skip:3");
    assert_eq!(too_many.status, harness::record::CellStatus::NotApplicable, "{too_many:?}");
    assert!(too_many.reason.as_deref().unwrap().contains("cannot drop 3 of 4 layers"));
}
