//! `harness roofline`: the machine's bandwidth, every decode cell's share of it, kept in the store.

use crate::common;

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
    let exported = run(&["export", "--store", db.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&exported.stdout);
    // The share is a column of the CSV (where among the columns does not matter), filled for exactly the annotated cells.
    let mut rd = csv::Reader::from_reader(exported.stdout.as_slice());
    let at = rd.headers().unwrap().iter().position(|c| c == "bandwidth_share");
    let at = at.unwrap_or_else(|| panic!("no bandwidth_share column: {out}"));
    let filled = rd.records().filter(|r| !r.as_ref().unwrap()[at].is_empty()).count();
    assert_eq!(filled, 6, "{out}");
}
