//! `harness run` end to end on the smoke grid: store, resume, errors.

use crate::common;

use std::fs;
use std::time::{Duration, Instant};

use common::*;
use harness::record::CellStatus;
use harness::store::{ResultStore, SqliteStore as Store};

#[test]
fn smoke_run_stores_every_cell_and_resume_skips_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let db_s = db.to_str().unwrap();
    let o = run(&["run", &smoke_grid(), "--store", db_s, "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("8 cells: 8 run, 0 skipped"), "{}", text(&o));

    let store = Store::open_existing(&db).unwrap();
    let recs = store.all().unwrap();
    assert_eq!(recs.len(), 8);
    for r in &recs {
        assert_eq!(r.status, CellStatus::Ok, "{r:?}");
        let s = r.summary.as_ref().unwrap();
        assert!(s.latency_ms.p50 > 0.0 && s.ttft_ms > 0.0 && s.tpot_ms > 0.0 && s.peak_rss_mb > 1.0);
        assert!(s.latency_ms.p50_ci_lo <= s.latency_ms.p50 && s.latency_ms.p50 <= s.latency_ms.p50_ci_hi);
        assert!(r.samples.iter().any(|x| x.metric == "latency_ms" && x.values.len() == s.reps));
        assert!(!r.fingerprint.cpu_model.is_empty() && !r.fingerprint.crate_version.is_empty());
        let ppl = s.perplexity.unwrap();
        assert!(ppl.is_finite() && ppl > 1.0);
    }
    // The f32 cell is the reference and KV off recomputes it: exact by construction, nothing
    // compared with itself; quantized cells are measured and drift from it.
    let get =
        |t: &str| recs.iter().find(|r| r.technique == t && r.workload == "short").unwrap().summary.clone().unwrap();
    for exact in ["f32", "kv-off"] {
        assert!(get(exact).exact_by_construction() && get(exact).agreement.is_none(), "{exact}");
    }
    assert!(get("q4k").kl_mean.unwrap() > get("q8_0").kl_mean.unwrap());
    assert!(get("q4k").weight_mb < get("f32").weight_mb);

    let o = run(&["run", &smoke_grid(), "--store", db_s, "-q"]);
    assert!(o.status.success());
    assert!(text(&o).contains("8 cells: 0 run, 8 skipped"), "{}", text(&o));
    assert_eq!(count_cells(&db), 8);

    // Export round trip through the CLI.
    let o = run(&["export", "--store", db_s, "--format", "csv"]);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 9);
    let o = run(&["export", "--store", db_s, "--format", "json"]);
    let back: Vec<harness::record::CellRecord> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(back.len(), 8);
}

#[test]
fn unknown_technique_fails_with_line_and_known_names_and_leaves_store_alone() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("typo.yaml");
    let text_in = fs::read_to_string(smoke_grid()).unwrap().replace("q4k, kv-off]", "q4_k, kv-off]");
    fs::write(&grid, &text_in).unwrap();
    let line = text_in.lines().position(|l| l.contains("q4_k")).unwrap() + 1;
    let db = dir.path().join("h.db");
    fs::write(&db, b"").unwrap();
    let before = fs::read(&db).unwrap();
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = text(&o);
    assert!(err.contains(&format!("typo.yaml:{line}")), "{err}");
    assert!(err.contains("unknown technique `q4_k`") && err.contains("q4k") && err.contains("kv-off"), "{err}");
    assert_eq!(fs::read(&db).unwrap(), before, "store untouched");
}

#[test]
fn malformed_yaml_and_missing_model_exit_2_with_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    fs::write(&bad, "models:\n  a: {synthetic: [\n").unwrap();
    let o = run(&["run", bad.to_str().unwrap(), "--store", dir.path().join("x.db").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("bad.yaml:"), "{}", text(&o));
    assert!(!dir.path().join("x.db").exists(), "no store created on bad input");

    let missing = dir.path().join("missing.yaml");
    fs::write(
        &missing,
        "models:\n  ghost:\n    hub: {repo: nobody/ghost, file: ghost.gguf}\nworkloads:\n  w: {prompt_tokens: 4, output_tokens: 2}\n",
    )
    .unwrap();
    let o = harness(&["run", missing.to_str().unwrap(), "--store", dir.path().join("x.db").to_str().unwrap()])
        .env("HARNESS_HUB_CACHE", dir.path().join("empty-hub"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o);
    assert!(
        err.contains("missing.yaml:2") && err.contains("models.ghost") && err.contains("scripts/fetch_models.sh"),
        "{err}"
    );
}

/// A damaged store file is bad input, refused untouched with exit 2 and the same message whether
/// the command would write it (`run`) or only read it (`export`): a file that is not SQLite, and one
/// that begins as SQLite but holds no database (found by SQLite's first read, not by its header).
#[test]
fn a_damaged_store_exits_2_untouched_for_run_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("damaged.db");
    let db_s = db.to_str().unwrap();
    let grid = smoke_grid();
    let sqlite_header_only = [b"SQLite format 3\0".as_slice(), &[0xA5; 8192]].concat();
    for bytes in [b"a shopping list, not a database\n".repeat(100), sqlite_header_only] {
        fs::write(&db, &bytes).unwrap();
        for args in [["run", &grid, "--store", db_s, "-q"], ["export", "--store", db_s, "--format", "csv"]] {
            let o = run(&args);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
            assert!(text(&o).contains(&format!("{db_s} is not a usable results store")), "{args:?}: {}", text(&o));
            assert_eq!(fs::read(&db).unwrap(), bytes, "{args:?}: the store is left untouched");
        }
    }
}

#[test]
fn a_failing_cell_is_stored_as_failed_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("g.yaml");
    // 30 is not divisible by 4 heads: that model fails to load in its worker.
    fs::write(
        &grid,
        r#"
models:
  broken: {synthetic: {layers: 1, hidden: 30, heads: 4, intermediate: 32, vocab: 256}}
  fine: {synthetic: {layers: 1, hidden: 32, heads: 4, intermediate: 32, vocab: 256}}
workloads:
  w: {prompt_tokens: 4, output_tokens: 2, eval_tokens: 8}
  too-long: {prompt_tokens: 2000, output_tokens: 2, eval_tokens: 8}
axes: {threads: [1]}
measure: {min_reps: 2, min_time_s: 0.0, warmup: 0}
"#,
    )
    .unwrap();
    let db = dir.path().join("h.db");
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let recs = Store::open_existing(&db).unwrap().all().unwrap();
    assert_eq!(recs.len(), 4);
    let broken: Vec<_> = recs.iter().filter(|r| r.model == "broken").collect();
    assert!(broken.iter().all(|r| r.status == CellStatus::Failed || r.status == CellStatus::NotApplicable));
    let f = broken.iter().find(|r| r.status == CellStatus::Failed).unwrap();
    assert!(f.reason.as_deref().unwrap().contains("not divisible by heads"), "{:?}", f.reason);
    let fine_w = recs.iter().find(|r| r.model == "fine" && r.workload == "w").unwrap();
    assert_eq!(fine_w.status, CellStatus::Ok);
    let fine_long = recs.iter().find(|r| r.model == "fine" && r.workload == "too-long").unwrap();
    assert_eq!(fine_long.status, CellStatus::NotApplicable, "{:?}", fine_long.reason);
    // Failed cells count as finished unless asked to retry.
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
    assert!(text(&o).contains("0 run, 4 skipped"), "{}", text(&o));
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q", "--retry-failed"]);
    assert!(text(&o).contains("1 run, 3 skipped"), "{}", text(&o));
    assert_eq!(count_cells(&db), 4);
}

#[test]
fn an_emulated_node_runs_out_of_memory_on_big_weights_and_is_marked_emulated() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("g.yaml");
    // The cap goes between the tiny model's peak RSS and the ~17M-parameter one's
    // (~70 MiB of f32 weights), both measured by a first run on an uncapped node.
    let grid_text = |cap: u64| {
        format!(
            r#"
models:
  tiny: {{synthetic: {{layers: 1, hidden: 32, heads: 4, intermediate: 32, vocab: 256}}}}
  big: {{synthetic: {{layers: 4, hidden: 512, heads: 8, intermediate: 2048, vocab: 4096}}}}
workloads:
  w: {{prompt_tokens: 4, output_tokens: 2, eval_tokens: 8}}
hardware:
  edge:
    description: a small board
    emulated: {{cores: 1, memory_mb: {cap}}}
axes: {{threads: [1, 2], hardware: [local, edge]}}
measure: {{min_reps: 2, min_time_s: 0.0, warmup: 0}}
"#
        )
    };
    // First learn the two models' peak RSS on the real node.
    fs::write(&grid, grid_text(100_000)).unwrap();
    let probe = dir.path().join("probe.db");
    let o = run(&["run", grid.to_str().unwrap(), "--store", probe.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", text(&o));
    let recs = Store::open_existing(&probe).unwrap().all().unwrap();
    // 2 models x (local at 1 and 2 threads + edge at 1 thread only).
    assert_eq!(recs.len(), 6, "a 1-core node plans no 2-thread cell");
    let peak = |m: &str| {
        recs.iter().filter(|r| r.model == m).map(|r| r.summary.as_ref().unwrap().peak_rss_mb).fold(0.0, f64::max)
    };
    let (tiny, big) = (peak("tiny"), peak("big"));
    assert!(big > tiny + 20.0, "big {big} MiB vs tiny {tiny} MiB");
    assert!(recs.iter().all(|r| r.emulated == (r.hardware == "edge")));

    let cap = ((tiny + big) / 2.0) as u64;
    fs::write(&grid, grid_text(cap)).unwrap();
    let db = dir.path().join("h.db");
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"]);
    assert_eq!(o.status.code(), Some(1), "one cell fails: {}", text(&o));
    let recs = Store::open_existing(&db).unwrap().all().unwrap();
    assert_eq!(recs.len(), 6);
    for r in &recs {
        let oom = r.hardware == "edge" && r.model == "big";
        assert_eq!(r.status == CellStatus::Failed, oom, "{} {} {:?}", r.model, r.hardware, r.reason);
        if oom {
            let why = r.reason.as_deref().unwrap();
            // The kernel kills the worker where cgroups are writable; elsewhere the cap is checked.
            let kernel = why.contains(&format!("killed by the node's {cap} MiB memory limit (peak"));
            let checked = why.contains("out of memory on emulated node `edge`") && why.contains(&format!("{cap} MiB"));
            assert!(kernel || checked, "{why}");
        }
    }
}

#[test]
fn killed_run_resumes_and_stores_every_cell_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("slow.yaml");
    // Each cell measures for at least 0.3 s, so a kill lands mid-run.
    let text_in = fs::read_to_string(smoke_grid())
        .unwrap()
        .replace("min_time_s: 0.05", "min_time_s: 0.3")
        .replace("max_reps: 10", "max_reps: 100000");
    fs::write(&grid, text_in).unwrap();
    let db = dir.path().join("h.db");
    let args = ["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap(), "-q"];
    let mut child =
        harness(&args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let t0 = Instant::now();
    // Wait until at least two cells are stored, then kill -9 mid-run.
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let n = if db.exists() { Store::open_existing(&db).map(|s| s.keys().unwrap().len()).unwrap_or(0) } else { 0 };
        if n >= 2 || t0.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = count_cells(&db);
    assert!((2..8).contains(&partial), "killed after {partial} cells");
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("{} run, {partial} skipped", 8 - partial)), "{}", text(&o));
    let store = Store::open_existing(&db).unwrap();
    let recs = store.all().unwrap();
    assert_eq!(recs.len(), 8);
    let keys: std::collections::HashSet<_> = recs.iter().map(|r| r.key.clone()).collect();
    assert_eq!(keys.len(), 8, "every cell exactly once");
}

#[test]
fn senseless_compression_combinations_and_unknown_drafts_fail_at_plan_time_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let base = "models:\n  m: {synthetic: {layers: 2, hidden: 64, heads: 2, intermediate: 128, vocab: 256, seed: 1}}\n\
                workloads:\n  w: {prompt_tokens: 4, output_tokens: 2}\naxes:\n  technique: [f32, \"TECH\"]\n";
    for (tech, want) in [
        ("prune:0.3+lowrank:0.9", "`prune` and `lowrank` both choose how each weight matrix is thinned"),
        ("kv-off+spec:draft=q4_0,k=4", "kv-off"),
        ("spec:draft=nosuch,k=2", "draft model `nosuch`"),
        ("skip-layers:2+layer-skip:1", "both choose the layers to run"),
    ] {
        let grid = dir.path().join("g.yaml");
        fs::write(&grid, base.replace("TECH", tech)).unwrap();
        let db = dir.path().join("g.db");
        let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{tech}: {}", text(&o));
        let err = text(&o);
        assert!(err.contains("g.yaml:") && err.contains(want), "{tech}: {err}");
        assert!(!db.exists(), "no store created on bad input");
    }
}

#[test]
fn hardware_prints_the_machine_the_enforcement_and_a_grids_profiles() {
    let edge = common::repo_root().join("experiments/edge.yaml");
    let o = run(&["hardware", edge.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("machine: ") && t.contains("node limits: "), "{t}");
    // Either the kernel enforces node limits (and says with which period), or the output says why not.
    assert!(t.contains("CFS quota per 5 ms period") || t.contains("not enforced by the kernel ("), "{t}");
    assert!(t.contains("memory bandwidth (triad") && t.contains("single-core speed"), "{t}");
    assert!(t.contains("edge-1c-384m: emulated node: 1 cores at 1 speed, 384 MiB memory"), "{t}");
    // Profiles named in a profiles file, clusters with their nodes and links.
    let dec = common::repo_root().join("experiments/decentralized.yaml");
    let o = run(&["hardware", dec.to_str().unwrap(), "--no-measure"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("trio-slow: cluster of 3 nodes, 3 links; prices per node"), "{t}");
    assert!(t.contains("node old: 1 cores at 0.4 speed, 4096 MiB, $0.01/h (emulated here)"), "{t}");
    assert!(t.contains("link home <-> old: 8 ms, 10 MB/s, jitter 1 ms"), "{t}");
    let o = run(&["hardware", "no-such-grid.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// A cluster profile or a placement that cannot be right is refused before anything runs, naming
/// the file, the line and the field; a placement on a single node is `not_applicable`.
#[test]
fn bad_clusters_and_placements_are_refused_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("c.yaml");
    let db = dir.path().join("c.db");
    let base = "models:\n  s:\n    synthetic: {layers: 2, hidden: 64, heads: 2, intermediate: 128, vocab: 256}\n\
                workloads:\n  w: {prompt_tokens: 4, output_tokens: 2, eval_tokens: 8}\n";
    let cases = [
        (
            "hardware:\n  c:\n    cluster:\n      nodes:\n        - {name: a}\n        - {name: b}\n      links:\n        - {between: [a, z], latency_ms: 1, bandwidth_mb_s: 10}\naxes:\n  hardware: [c]\n",
            "hardware.c.cluster.links[0].between",
        ),
        (
            "hardware:\n  c:\n    cluster:\n      nodes:\n        - {name: a, compute_share: 1.5}\naxes:\n  hardware: [c]\n",
            "hardware.c.cluster.nodes[0].compute_share",
        ),
        ("axes:\n  technique: [\"shard:fastest\"]\n", "`shard:POLICY[,microbatch=N]`"),
        ("hardware_profiles: nowhere.yaml\n", "hardware_profiles"),
    ];
    for (tail, want) in cases {
        fs::write(&grid, format!("{base}{tail}")).unwrap();
        let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap()]);
        let err = text(&o);
        assert_eq!(o.status.code(), Some(2), "{tail}: {err}");
        assert!(err.contains("c.yaml:") && err.contains(want), "{tail}: {err}");
        assert!(!db.exists(), "no store created on bad input");
    }
    fs::write(&grid, format!("{base}axes:\n  technique: [\"q8_0+shard:even\"]\n")).unwrap();
    let o = run(&["run", grid.to_str().unwrap(), "--store", db.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let recs = Store::open_existing(&db).unwrap().all().unwrap();
    assert_eq!(recs[0].status, CellStatus::NotApplicable);
    assert!(recs[0].reason.as_deref().unwrap().contains("is a single node"), "{:?}", recs[0].reason);
}

/// `--active`: with the smoke grid's tasks as the prior, a new grid's cells are measured
/// one at a time in the learner's order, within the budget; without a prior it says
/// what to run first.
#[test]
fn active_run_measures_within_its_budget_from_a_prior() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    let db_s = db.to_str().unwrap();
    let text_in = fs::read_to_string(smoke_grid()).unwrap();
    let other = dir.path().join("other.yaml");
    fs::write(
        &other,
        text_in.replace("name: smoke", "name: other").replace(
            "prompt_tokens: 16\n    output_tokens: 8\n  batch2",
            "prompt_tokens: 24\n    output_tokens: 12\n  batch2",
        ),
    )
    .unwrap();
    let o = run(&["run", other.to_str().unwrap(), "--store", db_s, "--active", "-q"]);
    assert!(!o.status.success(), "no prior: {}", text(&o));
    assert!(text(&o).contains("predicts from the store's tasks of other grids"), "{}", text(&o));

    assert!(run(&["run", &smoke_grid(), "--store", db_s, "-q"]).status.success());
    let o = run(&["run", other.to_str().unwrap(), "--store", db_s, "--active", "--budget", "3", "-q"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("3 cells measured by the active sweep"), "{t}");
    assert_eq!(count_cells(&db), 8 + 3, "the smoke grid's 8 cells and 3 of the other grid's");
    assert!(t.contains("recommended"), "{t}");
}

/// `--shard K/N`: the shards' cells are disjoint and together the whole grid; two
/// shards run into two stores and merged hold exactly the cells of one run.
#[test]
fn shards_cover_the_grid_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = |args: &[&str]| -> Vec<String> {
        let o = run(args);
        assert!(o.status.success(), "{}", text(&o));
        let mut k: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("to run").map(|r| r.split_whitespace().next().unwrap().to_string()))
            .collect();
        k.sort();
        k
    };
    let db = dir.path().join("dry.db");
    let db_s = db.to_str().unwrap();
    let all = keys(&["run", &smoke_grid(), "--store", db_s, "--dry-run"]);
    let mut union = vec![];
    for k in 1..=3 {
        let part = keys(&["run", &smoke_grid(), "--store", db_s, "--dry-run", "--shard", &format!("{k}/3")]);
        assert!(!part.is_empty(), "shard {k}/3 is empty");
        assert!(part.iter().all(|x| !union.contains(x)), "shards overlap");
        union.extend(part);
    }
    union.sort();
    assert_eq!(union, all, "the shards are the grid");
    let o = run(&["run", &smoke_grid(), "--store", db_s, "--shard", "4/3"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let (a, b, m) = (dir.path().join("a.db"), dir.path().join("b.db"), dir.path().join("m.db"));
    for (k, s) in [("1/2", &a), ("2/2", &b)] {
        let o = run(&["run", &smoke_grid(), "--store", s.to_str().unwrap(), "--shard", k, "-q"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = run(&["merge", m.to_str().unwrap(), a.to_str().unwrap(), b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let merged = harness::store::open_existing(&m).unwrap();
    let mut stored: Vec<String> = merged.all().unwrap().into_iter().map(|r| r.key).collect();
    stored.sort();
    assert_eq!(stored, all, "merged shards hold every cell of the grid once");
}
