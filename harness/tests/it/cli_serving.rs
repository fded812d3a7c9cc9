//! `harness run` on serving workloads: request-level figures reach the store.

use crate::common;

use std::fs;

use common::*;
use harness::record::CellStatus;
use harness::store::{ResultStore, SqliteStore as Store};

#[test]
fn serving_cells_store_request_level_figures() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("serve.yaml");
    fs::write(
        &grid,
        r#"
models:
  tiny: {synthetic: {layers: 2, hidden: 64, heads: 4, kv_heads: 2, intermediate: 128, vocab: 320, seed: 3}}
workloads:
  shared:
    prompt_tokens: 8
    output_tokens: 4
    serving: {requests: 6, concurrency: 2, shared_prefix_tokens: 48, prompt_tokens_max: 16, output_tokens_max: 8}
  plain: {prompt_tokens: 8, output_tokens: 4}
axes:
  technique: [static-batching, prefix-cache+chunked-prefill+continuous-batching]
  threads: [1]
measure: {warmup: 1, min_reps: 1, min_time_s: 0}
"#,
    )
    .unwrap();
    let db = dir.path().join("h.db");
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let recs = Store::open_existing(&db).unwrap().all().unwrap();
    assert_eq!(recs.len(), 4);
    let get = |t: &str, w: &str| recs.iter().find(|r| r.technique.starts_with(t) && r.workload == w).unwrap();
    // A serving technique on a plain workload does not apply; the baseline name does nothing there either.
    assert_eq!(get("prefix-cache", "plain").status, CellStatus::NotApplicable);
    for t in ["static-batching", "prefix-cache"] {
        let r = get(t, "shared");
        assert_eq!(r.status, CellStatus::Ok, "{:?}", r.reason);
        let s = r.summary.as_ref().unwrap();
        let sv = s.serving.as_ref().expect("serving figures");
        assert_eq!(sv.requests, 6);
        assert!(sv.request_throughput > 0.0 && s.ttft_ms > 0.0 && sv.ttft_p99_ms >= s.ttft_ms);
        assert!((0.0..=1.0).contains(&sv.goodput));
        assert!(r.samples.iter().any(|x| x.metric == "ttft_ms" && x.values.len() == 6));
        if t == "prefix-cache" {
            assert!(sv.prefix_hit_rate > 0.3, "hit rate {}", sv.prefix_hit_rate);
        } else {
            assert_eq!(sv.prefix_hit_rate, 0.0);
        }
    }
    let o = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("select count(*) from cells where request_throughput > 0 and goodput is not null")
        .output();
    if let Ok(o) = o {
        if o.status.success() {
            assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "2");
        }
    }
}
