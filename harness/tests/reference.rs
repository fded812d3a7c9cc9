//! The committed reference store draws the whole report right after a clone, and
//! drawing it leaves the file byte for byte as committed (it is at this harness's
//! schema version: when a migration is added, migrate the reference stores too).

mod common;

use common::*;

#[test]
fn the_reference_store_draws_the_report_and_stays_untouched() {
    let dir = repo_root().join("results/reference");
    let stores: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    assert!(!stores.is_empty(), "results/reference/ holds at least one store");
    for store in stores {
        let before = std::fs::read(&store).unwrap();
        let out = tempfile::tempdir().unwrap();
        let o = run(&["report", "--store", store.to_str().unwrap(), "--out", out.path().to_str().unwrap()]);
        let t = text(&o);
        assert!(o.status.success(), "{t}");
        assert!(t.contains("from 96 cells"), "the standard grid: {t}");
        assert!(out.path().join("figures").read_dir().unwrap().count() > 5, "{t}");
        assert_eq!(std::fs::read(&store).unwrap(), before, "{} was modified", store.display());
        assert!(!store.with_extension("db-wal").exists());
    }
}
