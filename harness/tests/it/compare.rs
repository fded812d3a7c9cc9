//! `harness compare --axis`: cells that differ only on one axis, paired.

use crate::common;

use common::*;

#[test]
fn compare_pairs_cells_across_an_axis() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("g.yaml");
    let smoke = std::fs::read_to_string(smoke_grid()).unwrap();
    std::fs::write(&grid, smoke.replace("threads: [1]", "threads: [1, 2]")).unwrap();
    let db = dir.path().join("h.db");
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["compare", "--store", db.to_str().unwrap(), "--axis", "threads"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // 2 workloads x 4 techniques, each at 1 and 2 threads.
    assert!(t.contains("8 pairs across `threads` (1 vs 2)"), "{t}");
    assert!(t.contains("Kendall tau"), "{t}");
    let o = run(&["compare", "--store", db.to_str().unwrap(), "--axis", "technique", "--values", "f32,q8_0"]);
    assert!(text(&o).contains("4 pairs across `technique` (f32 vs q8_0)"), "{}", text(&o));
    let o = run(&["compare", "--store", db.to_str().unwrap(), "--axis", "technique", "--values", "f32"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&["compare", "--store", db.to_str().unwrap(), "--axis", "engine"]);
    assert!(o.status.success() && text(&o).contains("no two cells"), "{}", text(&o));
    let o = run(&["compare", "--store", db.to_str().unwrap(), "--axis", "colour"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
