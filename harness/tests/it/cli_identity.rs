//! A cell's identity end to end: prose and prices are not part of it, the machine
//! class is, and stores merge by it.

use crate::common;

use std::path::Path;

use common::*;
use harness::config::CellConfig;
use harness::record::{CellIdentity, MachineClass};
use harness::store::{ResultStore, SqliteStore};

fn store_keys(db: &Path) -> std::collections::BTreeSet<String> {
    SqliteStore::open_existing(db).unwrap().keys().unwrap().into_iter().collect()
}

#[test]
fn editing_descriptions_prices_and_names_runs_no_cell() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let o = run(&["run", &smoke_grid(), "--store", db.to_str().unwrap(), "-q"]);
    assert!(o.status.success() && text(&o).contains("8 cells: 8 run"), "{}", text(&o));
    let edited: String = std::fs::read_to_string(smoke_grid())
        .unwrap()
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            match t {
                t if t.starts_with("description:") => format!("{indent}description: rewritten prose"),
                t if t.starts_with("name:") => "name: renamed-grid".to_string(),
                "axes:" => "hardware:\n  local: {price_per_hour: 3.5, description: a pricier label}\naxes:".into(),
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let grid = dir.path().join("edited.yaml");
    std::fs::write(&grid, &edited).unwrap();
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("8 cells: 0 run, 8 skipped"), "{}", text(&o));
    assert!(text(&o).contains("8 stored cells took the grid's new price per hour"), "{}", text(&o));
    // Cost follows the price in force (the default profile costs $0.10 per hour).
    let recs = SqliteStore::open_existing(&db).unwrap().all().unwrap();
    let cfg: CellConfig = serde_json::from_str(&recs[0].config_json).unwrap();
    assert_eq!(cfg.hardware_spec.price_per_hour, 3.5);
    let s = recs[0].summary.as_ref().unwrap();
    let runtime_h = s.latency_ms.p50 / 3.6e6;
    let tokens = (cfg.workload_spec.batch * cfg.workload_spec.output_tokens) as f64;
    assert!((s.cost_per_1k_tokens - 3.5 * runtime_h / tokens * 1e3).abs() < 1e-12 * 3.5, "{s:?}");
    // A shape change is a new cell.
    let grid2 = dir.path().join("longer.yaml");
    std::fs::write(&grid2, edited.replacen("output_tokens: 8", "output_tokens: 9", 1)).unwrap();
    let o = run(&["run", grid2.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
    assert!(text(&o).contains("8 cells: 4 run, 4 skipped"), "{}", text(&o));
}

/// Copies every cell of `from` into a new store as if measured on `machine` (a test
/// fixture: production code never fakes the machine class).
fn as_if_measured_on(from: &Path, to: &Path, cpu: &str) {
    let src = SqliteStore::open_existing(from).unwrap();
    let dst = SqliteStore::open(to).unwrap();
    for mut rec in src.all().unwrap() {
        rec.fingerprint.cpu_model = cpu.to_string();
        let machine = MachineClass::of(&rec.fingerprint);
        let cfg: CellConfig = serde_json::from_str(&rec.config_json).unwrap();
        let version = harness::engines::version(&cfg.engine).unwrap();
        rec.key = CellIdentity::new(&cfg, &rec.model_digest, version, &rec.code_version, &machine).key();
        dst.insert(&rec).unwrap();
    }
}

#[test]
fn cells_of_another_machine_are_measured_again_unless_reused() {
    let dir = tempfile::tempdir().unwrap();
    let here = dir.path().join("here.db");
    let o = run(&["run", &smoke_grid(), "--store", here.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let there = dir.path().join("there.db");
    as_if_measured_on(&here, &there, "Elsewhere CPU 9000");
    let reuse = dir.path().join("reuse.db");
    std::fs::copy(&there, &reuse).unwrap();

    let o = run(&["run", &smoke_grid(), "--store", there.to_str().unwrap(), "-q"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("8 cells were measured on another machine (CPU Elsewhere CPU 9000"), "{t}");
    assert!(t.contains("measuring them here") && t.contains("8 cells: 8 run, 0 skipped"), "{t}");
    assert_eq!(count_cells(&there), 16, "both machines' cells are kept, apart");

    let o = run(&["run", &smoke_grid(), "--store", reuse.to_str().unwrap(), "-q", "--reuse-foreign"]);
    let t = text(&o);
    assert!(t.contains("reusing them (--reuse-foreign)") && t.contains("8 cells: 0 run, 8 skipped"), "{t}");
}

#[test]
fn merging_two_halves_of_a_grid_equals_the_whole_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let smoke = std::fs::read_to_string(smoke_grid()).unwrap();
    let half = |name: &str, techniques: &str| {
        let p = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&p, smoke.replace("technique: [f32, q8_0, q4k, kv-off]", techniques)).unwrap();
        let db = dir.path().join(format!("{name}.db"));
        let o = run(&["run", p.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
        assert!(o.status.success(), "{}", text(&o));
        db
    };
    let a = half("a", "technique: [f32, q8_0]");
    let b = half("b", "technique: [q4k, kv-off]");
    let whole = half("whole", "technique: [f32, q8_0, q4k, kv-off]");
    let merged = dir.path().join("merged.db");
    let m = |inputs: &[&Path]| {
        let mut args = vec!["merge", merged.to_str().unwrap()];
        args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
        let o = run(&args);
        assert!(o.status.success(), "{}", text(&o));
        text(&o)
    };
    let t = m(&[&a, &b]);
    assert!(t.contains("4 added") && t.contains("8 cells"), "{t}");
    assert_eq!(store_keys(&merged), store_keys(&whole), "same identities as one store of the whole grid");
    let before = SqliteStore::open_existing(&merged).unwrap().all().unwrap();
    let t = m(&[&b, &a]);
    assert!(!t.contains(" 1 added") && t.matches("0 added").count() == 2, "{t}");
    assert_eq!(SqliteStore::open_existing(&merged).unwrap().all().unwrap(), before, "merging again changes nothing");
    let o = run(&["run", &smoke_grid(), "--store", merged.to_str().unwrap(), "--dry-run"]);
    assert!(text(&o).contains("8 cells, 8 stored"), "{}", text(&o));
}

#[test]
fn bad_names_and_truth_needing_selectors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let o = run(&["run", &smoke_grid(), "--store", db.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let db = db.to_str().unwrap();
    let grid = smoke_grid();
    let rec = |extra: &[&str]| {
        let mut args =
            vec!["recommend", "--store", db, "--grid", &grid, "--model", "synth-tiny", "--workload", "short"];
        args.extend(extra);
        run(&args)
    };
    let o = rec(&["--selector", "oracle"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("`oracle`") && text(&o).contains("--selector"), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
    let o = rec(&["--selector", "no-such"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&["recommend", "--store", db, "--grid", &grid, "--model", "huge", "--workload", "short"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&["export", "--store", db, "--format", "xlsx"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("csv") && text(&o).contains("json"), "the registry's formats are listed: {}", text(&o));
    let o = run(&["compare", "--store", db, "--axis", "colour"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("engine") && text(&o).contains("technique"), "the axes are listed: {}", text(&o));
    let o = run(&["evaluate", "--store", db, "--selectors", "random,nope"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = rec(&["--selector", "heuristic"]);
    assert!(o.status.success(), "{}", text(&o));
}
