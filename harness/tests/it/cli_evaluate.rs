//! `harness evaluate` and `harness recommend` end to end, on a small fixture store
//! written with the Store API (synthetic models, figures from a formula: no inference).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::config::{self, CellConfig};
use harness::record::{CellRecord, CellStatus, Fingerprint, LatencyStats, Summary};
use harness::store::{ResultStore, SqliteStore as Store};

const GRID: &str = r#"
name: fixture
models:
  small:
    synthetic: {layers: 2, hidden: 64, heads: 4, kv_heads: 2, intermediate: 128, vocab: 512, seed: 1}
  big:
    synthetic: {layers: 8, hidden: 512, heads: 8, kv_heads: 4, intermediate: 1536, vocab: 8192, seed: 2}
workloads:
  chat: {description: short prompt long answer, prompt_tokens: 32, output_tokens: 32}
  summarize: {description: long prompt short answer, prompt_tokens: 192, output_tokens: 8}
  batch8: {description: eight requests decoded together, prompt_tokens: 32, output_tokens: 16, batch: 8}
  longchat: {description: medium prompt very long answer, prompt_tokens: 64, output_tokens: 96}
hardware:
  cheap: {price_per_hour: 0.05}
  pricey: {price_per_hour: 0.40}
axes:
  model: [small, big]
  workload: [chat, summarize, batch8]
  hardware: [cheap, pricey]
  technique: [f32, q8_0, q4k, kv-off]
  threads: [1, 2]
"#;

/// A plausible latency: quantization speeds decode of the big model and slows prefill;
/// the small model is compute-bound and gains nothing; threads help the big one only.
fn latency_ms(c: &CellConfig) -> f64 {
    let big = c.model == "big";
    let (prefill, decode) = match (c.technique.as_str(), big) {
        ("f32", _) => (1.0, 1.0),
        ("q8_0", true) => (2.0, 0.5),
        ("q4k", true) => (1.5, 0.3),
        ("q8_0", false) => (1.3, 1.1),
        ("q4k", false) => (1.4, 1.2),
        _ => (1.0, 4.0), // kv-off recomputes
    };
    let w = &c.workload_spec;
    let size = if big { 20.0 } else { 1.0 };
    let threads = match (c.threads, big) {
        (2, true) => 0.55,
        (2, false) => 1.1,
        _ => 1.0,
    };
    size * threads
        * (w.prompt_tokens as f64 * prefill * 0.05 + w.output_tokens as f64 * decode * (w.batch as f64).sqrt())
}

fn record(i: usize, c: &CellConfig) -> CellRecord {
    let lat = latency_ms(c);
    let tokens = (c.workload_spec.output_tokens * c.workload_spec.batch) as f64;
    let ppl_inc = match c.technique.as_str() {
        "q8_0" => 1.005,
        "q4k" => 1.03,
        _ => 1.0,
    };
    let failed = c.model == "big" && c.technique.as_str() == "q4k" && c.threads == 1 && c.workload == "batch8";
    CellRecord {
        key: format!("k{i:03}"),
        grid: "fixture".into(),
        model: c.model.clone(),
        technique: c.technique.to_string(),
        threads: c.threads,
        engine: "candle".into(),
        workload: c.workload.clone(),
        hardware: c.hardware.clone(),
        emulated: false,
        status: if failed { CellStatus::Failed } else { CellStatus::Ok },
        reason: failed.then(|| "worker killed (out of memory)".into()),
        summary: (!failed).then(|| Summary {
            verdict: "valid".into(),
            reps: 5,
            latency_ms: LatencyStats { p50: lat, p90: lat * 1.1, p99: lat * 1.2, mean: lat, ..Default::default() },
            ttft_ms: lat * 0.2,
            tpot_ms: lat * 0.8 / c.workload_spec.output_tokens as f64,
            output_tok_s: tokens / lat * 1e3,
            peak_rss_mb: if c.model == "big" { 300.0 } else { 20.0 },
            weight_mb: 10.0,
            perplexity: Some(12.0 * ppl_inc),
            ref_perplexity: Some(12.0),
            agreement: Some(2.0 - ppl_inc),
            kl_mean: Some(ppl_inc - 1.0),
            cost_per_1k_tokens: lat / 3.6e6 * c.hardware_spec.price_per_hour / tokens * 1e3,
            ..Default::default()
        }),
        samples: vec![],
        config_json: serde_json::to_string(c).unwrap(),
        fingerprint: Fingerprint {
            cpu_model: "Fixture CPU".into(),
            physical_cores: 2,
            logical_cores: 2,
            memory_mb: 8192,
            ..Default::default()
        },
        model_digest: "fixture".into(),
        code_version: "fixture".into(),
        started_at: 1_700_000_000.0 + i as f64,
        wall_s: 1.0,
    }
}

/// A temp dir with `grid.yaml`, `store.db` (every cell of the grid) and an empty hub cache.
fn fixture() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let grid_path = dir.path().join("grid.yaml");
    std::fs::write(&grid_path, GRID).unwrap();
    let grid = config::parse(&grid_path, GRID).unwrap();
    let store_path = dir.path().join("store.db");
    let store = Store::open(&store_path).unwrap();
    for (i, c) in config::expand(&grid).iter().enumerate() {
        store.insert(&record(i, c)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("hub")).unwrap();
    (dir, grid_path, store_path)
}

fn harness(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .env("HARNESS_HUB_CACHE", dir.join("hub"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn evaluate_prints_every_selector_and_stores_the_evaluation() {
    let (dir, _grid, store) = fixture();
    let s = store.to_str().unwrap();
    // metainf is defined on text embeddings; the hub cache has no embedding model.
    let o = harness(dir.path(), &["evaluate", "--store", s, "--bootstrap", "200", "--seeds", "1"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("`metainf` is defined on text embeddings") && err.contains("--allow-no-embeddings"), "{err}");
    let o =
        harness(dir.path(), &["evaluate", "--store", s, "--bootstrap", "200", "--seeds", "1", "--allow-no-embeddings"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("metainf (no embeddings)"), "{out}");
    assert!(out.contains("pred. MAPE") && out.contains("noise ceiling"), "{out}");
    assert!(out.contains("ours minus"), "paired differences of ours:\n{out}");
    let names = harness::meta::selectors::names();
    for name in &names {
        assert!(out.contains(&format!("│ {name} ")), "{name} missing:\n{out}");
    }
    assert!(out.contains("single-best mean regret"), "{out}");
    // The headline comparisons, whether choosing matters, and the freeze of every selector scored.
    assert!(out.contains("baselines: best no-fit rule rule-"), "{out}");
    assert!(out.contains("fair single-best single-best-fair ("), "{out}");
    assert!(out.contains("ours") && out.contains("best no-fit rule (rule-"), "{out}");
    assert!(out.contains("choice matters: in "), "{out}");
    assert!(out.contains("freeze manifest (selectors/FROZEN.yaml): "), "{out}");
    assert!(!out.contains("DIFFERS from the manifest"), "{out}");
    assert!(err.contains("all-MiniLM-L6-v2 is not in the hub cache"), "{err}");
    let e = Store::open_existing(&store).unwrap().latest_evaluation().unwrap().expect("evaluation stored");
    assert_eq!((e.objective.as_str(), e.cv.as_str(), e.baseline.as_str()), ("latency", "loto", "random"));
    assert_eq!(e.selectors.len(), names.len());
    let oracle = e.selectors.iter().find(|s| s.selector == "oracle").unwrap();
    assert_eq!(oracle.metric("regret_mean").unwrap().value, 0.0);
    for m in ["top1", "top3", "regret_mean", "regret_median", "regret_p90", "gap_closed", "ndcg3", "spearman"] {
        assert!(oracle.metric(m).is_some(), "{m}");
    }
    // 12 tasks (2 models x 3 workloads x 2 hardware), one pick per task and selector.
    assert_eq!(e.picks.len(), 12 * names.len());
    let ours = e.selectors.iter().find(|s| s.selector == "ours").unwrap();
    assert!(ours.p_value_vs_baseline.is_some());
}

#[test]
fn grouped_cross_validation_constraints_and_formats() {
    let (dir, _grid, store) = fixture();
    let s = store.to_str().unwrap();
    let o = harness(
        dir.path(),
        &[
            "evaluate",
            "--store",
            s,
            "--cv",
            "lomo",
            "--format",
            "json",
            "--selectors",
            "ours,knn",
            "--baseline",
            "single-best",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cv"], "lomo");
    let sel: Vec<&str> = v["selectors"].as_array().unwrap().iter().map(|s| s["selector"].as_str().unwrap()).collect();
    assert_eq!(sel, ["ours", "knn", "single-best", "single-best-fair"]);

    let o = harness(
        dir.path(),
        &[
            "evaluate",
            "--store",
            s,
            "--cv",
            "loho",
            "--format",
            "csv",
            "--objective",
            "cost",
            "--accuracy-floor",
            "ppl:1%",
            "--no-save",
            "--allow-no-embeddings",
            "--seeds",
            "1",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("selector,metric,value,ci_lo,ci_hi,p_value_vs_baseline"), "{out}");
    assert!(out.contains("ours,regret_mean,"), "{out}");
    // --no-save: still the lomo evaluation last.
    assert_eq!(Store::open_existing(&store).unwrap().latest_evaluation().unwrap().unwrap().cv, "lomo");
}

#[test]
fn recommend_answers_for_an_unseen_task() {
    let (dir, grid, store) = fixture();
    let o = harness(
        dir.path(),
        &[
            "recommend",
            "--store",
            store.to_str().unwrap(),
            "--grid",
            grid.to_str().unwrap(),
            "--model",
            "big",
            "--workload",
            "longchat",
            "--hardware",
            "cheap",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("task: big / longchat / cheap"), "{out}");
    assert!(out.contains("recommended: "), "{out}");
    assert!(out.contains("predicted latency: ") && out.contains("90% interval ["), "{out}");
    assert!(out.contains("chance it is within 5% of the best arm: "), "{out}");
    assert!(out.contains("quality floor: ppl:5%,agreement:0.9"), "the default floor is in force:\n{out}");
    assert!(out.contains("quality: perplexity"), "the pick's quality is printed:\n{out}");
    assert!(out.contains("evidence: stored tasks measured on Fixture CPU, 2 cores"), "{out}");
    assert!(dir.path().join("cache").is_dir(), "the calibration is cached beside the store");
    assert!(out.contains("big / chat / cheap"), "the closest stored task is listed:\n{out}");
    // Decode-heavy on the big model: a quantized arm wins, as in its neighbours.
    assert!(out.contains("recommended: q4k @2t") || out.contains("recommended: q8_0 @2t"), "{out}");

    // A one-core node (emulated) can only run one thread: no 2-thread arm is a candidate.
    let text_grid = std::fs::read_to_string(&grid).unwrap();
    let edge_grid = dir.path().join("edge.yaml");
    std::fs::write(
        &edge_grid,
        text_grid.replace("hardware:\n", "hardware:\n  board: {price_per_hour: 0.01, emulated: {cores: 1}}\n"),
    )
    .unwrap();
    let args = |g: &std::path::Path| {
        vec![
            "recommend".to_string(),
            "--store".into(),
            store.to_str().unwrap().into(),
            "--grid".into(),
            g.to_str().unwrap().into(),
            "--model".into(),
            "big".into(),
            "--workload".into(),
            "longchat".into(),
            "--hardware".into(),
            "board".into(),
        ]
    };
    let a = args(&edge_grid);
    let o = harness(dir.path(), &a.iter().map(String::as_str).collect::<Vec<_>>());
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("recommended: ") && out.contains(" @1t"), "{out}");
    // The ranking rows (`│ 1 ┆ arm ┆ ...`); the nearest stored tasks below may name 2-thread bests.
    let ranked: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start_matches('│').trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(ranked.len(), 4, "f32, q8_0, q4k and kv-off at 1 thread:\n{out}");
    assert!(ranked.iter().all(|l| l.contains("@1t")), "a 1-core node offered a 2-thread arm:\n{out}");
}

#[test]
fn recommend_abstains_far_outside_the_store_and_keeps_quality_by_default() {
    let (dir, grid, store) = fixture();
    // A 7B-class decoder on 16k-token prompts in batches of 64: nothing like the store's two small models.
    let far = GRID.replace(
        "models:\n",
        "models:\n  giant:\n    synthetic: {layers: 32, hidden: 4096, heads: 32, kv_heads: 8, intermediate: 11008, \
         vocab: 32000, max_seq: 32768, seed: 3}\n",
    )
    .replace("workloads:\n", "workloads:\n  novel: {prompt_tokens: 16384, output_tokens: 2048, batch: 64}\n");
    let far_grid = dir.path().join("far.yaml");
    std::fs::write(&far_grid, far).unwrap();
    let args = |model: &str, workload: &str, extra: &[&str]| {
        let mut v = vec![
            "recommend".to_string(),
            "--store".into(),
            store.to_str().unwrap().into(),
            "--grid".into(),
            far_grid.to_str().unwrap().into(),
            "--model".into(),
            model.into(),
            "--workload".into(),
            workload.into(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |a: Vec<String>| {
        let o = harness(dir.path(), &a.iter().map(String::as_str).collect::<Vec<_>>());
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}\n{err}");
        out
    };
    let out = run(args("giant", "novel", &[]));
    assert!(out.contains("no recommendation: the task is") && out.contains("beyond what the store covers"), "{out}");
    assert!(out.contains("harness run GRID --active --budget N"), "the remedy is offered:\n{out}");
    assert!(!out.contains("recommended: "), "{out}");

    // A floor only exact arms meet: q8_0 (+0.5%) and q4k (+3%) are no candidates, and say why.
    let out = run(args("big", "longchat", &["--accuracy-floor", "ppl:0.1%"]));
    assert!(out.contains("quality floor: ppl:0.1%"), "{out}");
    let pick = out.lines().find(|l| l.starts_with("recommended: ")).unwrap_or_default();
    assert!(pick.contains("f32") || pick.contains("kv-off"), "{out}");
    assert!(out.contains("left out for quality: ") && out.contains("% > 0.1%"), "{out}");
    // Opting out puts them back.
    let out = run(args("big", "longchat", &["--accuracy-floor", "none", "--pareto"]));
    assert!(out.contains("quality floor: none") && out.contains("latency-quality front"), "{out}");
    let _ = grid;
}

#[test]
fn errors_name_what_to_do() {
    let (dir, grid, store) = fixture();
    let empty = dir.path().join("empty.db");
    Store::open(&empty).unwrap();
    let o = harness(dir.path(), &["evaluate", "--store", empty.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert!(!o.status.success());
    assert!(err.contains("has no tasks") && err.contains("harness run experiments/grid.yaml"), "{err}");

    let o = harness(dir.path(), &["evaluate", "--store", store.to_str().unwrap(), "--selectors", "ours,magic"]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("unknown selector `magic`") && err.contains("metainf"), "{err}");
    assert_eq!(o.status.code(), Some(2), "an unknown selector is bad input");

    let o = harness(
        dir.path(),
        &[
            "recommend",
            "--store",
            store.to_str().unwrap(),
            "--grid",
            grid.to_str().unwrap(),
            "--model",
            "huge",
            "--workload",
            "chat",
        ],
    );
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("no model `huge`") && err.contains("big, small"), "{err}");

    let o = harness(dir.path(), &["evaluate", "--store", store.to_str().unwrap(), "--accuracy-floor", "ppl:1"]);
    let (_, err) = text(&o);
    assert!(!o.status.success() && err.contains("expected `ppl:P%`"), "{err}");
}

#[test]
fn frozen_protocol_names_the_grids_it_knows() {
    let (dir, _grid, store) = fixture();
    let s = store.to_str().unwrap();
    let o = harness(
        dir.path(),
        &["evaluate", "--store", s, "--train", "nosuch", "--test", "fixture", "--no-save", "--allow-no-embeddings"],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--train: no task of grid `nosuch`"), "{err}");
    let o = harness(dir.path(), &["evaluate", "--store", s, "--infeasible", "half"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("expected `zero`, `worst` or `factor:F`"));
    let o = harness(dir.path(), &["evaluate", "--store", s, "--cv", "kfold:1"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A second grid measured later: one task of the same shape as one of the fixture's
/// (`small / chat / cheap`) and one of its own (`longchat`).
const SECOND_GRID: &str = r#"
name: second
axes:
  model: [small]
  workload: [chat, longchat]
  hardware: [cheap]
  technique: [f32, q8_0]
  threads: [1, 2]
"#;

#[test]
fn a_frozen_split_forms_test_tasks_from_the_test_grid_alone() {
    let (dir, _grid, store) = fixture();
    let head = GRID.split("axes:").next().unwrap().replace("name: fixture", "");
    let yaml = format!("{head}{}", SECOND_GRID.trim_start());
    let second = config::parse(&dir.path().join("second.yaml"), &yaml).unwrap();
    let db = Store::open(&store).unwrap();
    for (i, c) in config::expand(&second).iter().enumerate() {
        let mut rec = record(i, c);
        (rec.key, rec.grid, rec.started_at) = (format!("s{i:03}"), "second".into(), 1_800_000_000.0 + i as f64);
        db.insert(&rec).unwrap();
    }
    drop(db);
    let s = store.to_str().unwrap();
    let args = ["evaluate", "--store", s, "--train", "fixture", "--test", "second", "--selectors", "oracle"];
    let o = harness(dir.path(), &[&args[..], &["--seeds", "1", "--no-save", "--format", "json"]].concat());
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tested: std::collections::BTreeSet<&str> =
        v["picks"].as_array().unwrap().iter().map(|p| p["task"].as_str().unwrap()).collect();
    // The task of the fixture's shape is a test task of its own, not merged into training.
    assert_eq!(tested, ["small / chat@second / cheap", "small / longchat / cheap"].into(), "{out}");
    let config: serde_json::Value = serde_json::from_str(v["config_json"].as_str().unwrap()).unwrap();
    // 12 training tasks of 8 arms, all the fixture's cells; 2 test tasks of 4 arms, all the second grid's.
    assert_eq!(config["cells"], 12 * 8 + 2 * 4, "{config}");
}

/// A hand-written ASlib scenario: 6 instances, 3 algorithms, 2 folds, a timeout.
fn scenario(dir: &Path) -> PathBuf {
    let d = dir.join("TINY-2026");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("description.txt"),
        "scenario_id: TINY-2026\nperformance_measures:\n- runtime\nmaximize:\n- false\nperformance_type:\n- runtime\n\
         algorithm_cutoff_time: 100\n",
    )
    .unwrap();
    let mut runs = String::from(
        "@RELATION runs\n@ATTRIBUTE instance_id STRING\n@ATTRIBUTE repetition NUMERIC\n@ATTRIBUTE algorithm STRING\n\
         @ATTRIBUTE runtime NUMERIC\n@ATTRIBUTE runstatus {ok, timeout, memout, not_applicable, crash, other}\n@DATA\n",
    );
    let mut feats = String::from(
        "@RELATION f\n@ATTRIBUTE instance_id STRING\n@ATTRIBUTE repetition NUMERIC\n@ATTRIBUTE size NUMERIC\n\
         @ATTRIBUTE 'ratio' NUMERIC\n@DATA\n",
    );
    let mut cv = String::from(
        "@RELATION cv\n@ATTRIBUTE instance_id STRING\n@ATTRIBUTE repetition NUMERIC\n@ATTRIBUTE fold NUMERIC\n@DATA\n",
    );
    for i in 0..6 {
        // Small instances: `a` wins; large: `b` wins; `c` times out on instance 5.
        let small = i < 3;
        let (ta, tb) = if small { (1.0, 10.0) } else { (50.0, 5.0) };
        runs.push_str(&format!("'inst {i}',1,a,{ta},ok\n"));
        runs.push_str(&format!("'inst {i}',1,b,{tb},ok\n"));
        if i == 5 {
            runs.push_str("'inst 5',1,c,100,timeout\n");
        } else {
            runs.push_str(&format!("'inst {i}',1,c,20,ok\n"));
        }
        feats.push_str(&format!(
            "'inst {i}',1,{},{}\n",
            if small { 1 } else { 9 },
            if i == 2 { "?".into() } else { format!("0.{i}") }
        ));
        cv.push_str(&format!("'inst {i}',1,{}\n", i % 2 + 1));
    }
    std::fs::write(d.join("algorithm_runs.arff"), runs).unwrap();
    std::fs::write(d.join("feature_values.arff"), feats).unwrap();
    std::fs::write(d.join("cv.arff"), cv).unwrap();
    d
}

#[test]
fn aslib_scenario_imports_and_evaluates_with_its_own_folds() {
    let (dir, _grid, store) = fixture();
    let d = scenario(dir.path());
    let out_file = dir.path().join("tiny.json");
    let o = harness(dir.path(), &["aslib", "import", d.to_str().unwrap(), "--out", out_file.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    // SBS: mean PAR10 of a = (3 + 150) / 6 = 25.5, b = (30 + 15) / 6 = 7.5, c = (100 + 1000) / 6.
    assert!(out.contains("6 instances x 3 algorithms, 2 features, 2 folds"), "{out}");
    assert!(out.contains("single best b (PAR10 7.5 s), virtual best PAR10 3.0 s"), "{out}");
    let s = harness::meta::aslib::read(&out_file).unwrap();
    assert_eq!(s.instances.iter().find(|i| i.id == "inst 5").unwrap().par10[2], Some(1000.0));
    let o = harness(
        dir.path(),
        &[
            "evaluate",
            "--tasks",
            out_file.to_str().unwrap(),
            "--cv",
            "given",
            "--selectors",
            "random,single-best,oracle,knn,random-forest",
            "--seeds",
            "1",
        ],
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    assert!(out.contains("cv given (2 folds)"), "{out}");
    assert!(out.contains("gap closed (SBS -> VBS)"), "{out}");
    let oracle = out.lines().find(|l| l.contains("│ oracle ") && l.contains("3.0")).expect("oracle PAR10 row");
    assert!(oracle.contains("1.000"), "{oracle}");

    // Our store as a scenario, and back.
    let exported = dir.path().join("exported");
    let o = harness(
        dir.path(),
        &["aslib", "export", "--store", store.to_str().unwrap(), "--out", exported.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o).1);
    let back = harness::meta::aslib::import(&exported).unwrap();
    assert_eq!(back.instances.len(), 12);
    assert_eq!(back.feature_names.len(), harness::meta::features::TaskFeatures::NAMES.len());
}
