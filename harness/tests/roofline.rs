//! `harness roofline`: the machine's bandwidth, every decode cell's share of it, kept in the store.

mod common;

use common::*;
use harness::store::{ResultStore, SqliteStore};

#[test]
fn roofline_prints_the_bandwidth_and_annotates_decode_cells() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let o = run(&["run", &smoke_grid(), "--store", db.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["roofline", "--store", db.to_str().unwrap(), "--array-mib", "8", "--passes", "2"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("memory bandwidth (STREAM triad") && t.contains("GB/s on 1"), "{t}");
    // kv-off recomputes the sequence: not a decode step over the weights, so not held against the roofline.
    assert!(t.contains("6 cells annotated"), "{t}");
    let recs = SqliteStore::open_existing(&db).unwrap().all().unwrap();
    let shares: Vec<f64> =
        recs.iter().filter_map(|r| r.summary.as_ref()?.extra.get("bandwidth_share")?.as_f64()).collect();
    assert_eq!(shares.len(), 6);
    assert!(shares.iter().all(|s| *s > 0.0 && s.is_finite()), "{shares:?}");
    let csv = run(&["export", "--store", db.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&csv.stdout);
    assert!(out.lines().next().unwrap().ends_with("bandwidth_share"), "{out}");
}
