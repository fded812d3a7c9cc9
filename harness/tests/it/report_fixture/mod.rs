//! A small results store with every kind of data a report draws: static-batch
//! cells on two hardware profiles, serving cells, failed / not-applicable /
//! noisy cells, and one evaluation. Values are made up but shaped like real ones.
#![allow(dead_code)]

use std::path::Path;

use harness::config::CellConfig;
use harness::record::{
    CellRecord, CellStatus, EvaluationRecord, Fingerprint, LatencyStats, MetricCi, SampleSeries, SelectorResult,
    ServingStats, Summary, TaskPick,
};
use harness::store::{ResultStore, SqliteStore as Store};
use serde_json::json;

fn fingerprint() -> Fingerprint {
    Fingerprint {
        cpu_model: "Test CPU 9000".into(),
        physical_cores: 2,
        logical_cores: 2,
        memory_mb: 16384,
        os: "Linux (Debian GNU/Linux 12)".into(),
        crate_version: "0.1.0".into(),
        git_revision: "abc123".into(),
        rustflags: "-C target-cpu=native".into(),
        target_features: "avx2,fma".into(),
        gpu: None,
        engine_builds: vec![],
    }
}

/// `n` deterministic samples spread around `center`.
fn spread(center: f64, n: usize, width: f64) -> Vec<f64> {
    (0..n).map(|i| center * (1.0 + width * (((i * 7919) % 13) as f64 / 12.0 - 0.5))).collect()
}

struct Spec<'a> {
    grid: &'a str,
    model: &'a str,
    technique: &'a str,
    threads: usize,
    workload: &'a str,
    hardware: &'a str,
    price: f64,
    emulated: bool,
    /// (prompt, output, batch) and, for serving, concurrency.
    shape: (usize, usize, usize),
    concurrency: Option<usize>,
    p50: f64,
    ppl_increase: f64,
}

fn record(s: &Spec, status: CellStatus, verdict: &str) -> CellRecord {
    let (prompt, output, batch) = s.shape;
    let serving = s.concurrency.map(|c| json!({"requests": 8, "concurrency": c, "shared_prefix_tokens": 0}));
    let model_spec = if s.model.starts_with("synth") {
        json!({"synthetic": {"layers": 2, "hidden": 64, "heads": 4, "kv_heads": 2, "intermediate": 128, "vocab": 512, "max_seq": 512, "seed": 1}})
    } else {
        json!({"hub": {"repo": "Org/Model-GGUF", "file": "model.gguf", "revision": "main"}})
    };
    let config = json!({
        "model": s.model, "model_spec": model_spec, "technique": s.technique, "threads": s.threads,
        "workload": s.workload,
        "workload_spec": {"description": format!("{} traffic", s.workload), "corpus": "licenses",
                          "prompt_tokens": prompt, "output_tokens": output, "batch": batch, "eval_tokens": 128,
                          "seed": 0, "serving": serving},
        "hardware": s.hardware,
        "hardware_spec": {"description": format!("{} node", s.hardware), "price_per_hour": s.price},
        "measure": {}
    });
    let tokens = (batch * output) as f64;
    let lat = spread(s.p50, 9, 0.1);
    let summary = (status == CellStatus::Ok).then(|| Summary {
        verdict: verdict.into(),
        verdict_reason: (verdict != "valid").then(|| "coefficient of variation 0.31 above max_cv 0.25".into()),
        reps: lat.len(),
        latency_ms: LatencyStats {
            p50: s.p50,
            p90: s.p50 * 1.05,
            p99: s.p50 * 1.08,
            mean: s.p50 * 1.01,
            stdev: s.p50 * 0.03,
            p50_ci_lo: s.p50 * 0.96,
            p50_ci_hi: s.p50 * 1.05,
            outliers: 0,
        },
        ttft_ms: s.p50 * 0.1,
        tpot_ms: s.p50 * 0.9 / output as f64,
        decode_tok_s: 1000.0 / (s.p50 * 0.9 / output as f64),
        prefill_tok_s: prompt as f64 * 1000.0 / (s.p50 * 0.1),
        output_tok_s: tokens * 1000.0 / s.p50,
        peak_rss_mb: 300.0,
        weight_mb: 250.0,
        perplexity: s.concurrency.is_none().then_some(12.0 * (1.0 + s.ppl_increase / 100.0)),
        ref_perplexity: s.concurrency.is_none().then_some(12.0),
        agreement: Some(1.0 - s.ppl_increase / 200.0),
        kl_mean: Some(s.ppl_increase / 1000.0),
        cost_per_1k_tokens: s.price / 3600.0 * (s.p50 / 1000.0) / tokens * 1000.0,
        serving: s.concurrency.map(|_| ServingStats {
            requests: 8,
            request_throughput: 2.0,
            goodput: 0.9,
            ..Default::default()
        }),
        extra: json!({}),
    });
    let samples = if status == CellStatus::Ok {
        let mut v = vec![SampleSeries { metric: "latency_ms".into(), values: lat }];
        if s.concurrency.is_some() {
            v.push(SampleSeries { metric: "ttft_ms".into(), values: spread(s.p50 * 0.1, 24, 0.8) });
            v.push(SampleSeries { metric: "tpot_ms".into(), values: spread(s.p50 * 0.9 / output as f64, 24, 0.4) });
        }
        v
    } else {
        vec![]
    };
    let key = format!("{}-{}-{}-{}-{}-{}", s.grid, s.model, s.technique, s.threads, s.workload, s.hardware);
    CellRecord {
        key,
        grid: s.grid.into(),
        model: s.model.into(),
        technique: s.technique.into(),
        threads: s.threads,
        engine: "candle".into(),
        workload: s.workload.into(),
        hardware: s.hardware.into(),
        emulated: s.emulated,
        status,
        reason: match status {
            CellStatus::Failed => Some("worker killed by signal 9 (out of memory?)".into()),
            CellStatus::NotApplicable => Some("kv-off does not apply to serving workloads".into()),
            CellStatus::Ok => None,
        },
        summary,
        samples,
        config_json: config.to_string(),
        fingerprint: fingerprint(),
        model_digest: "d".repeat(64),
        code_version: "0.1.0+m2".into(),
        started_at: 1.0e9,
        wall_s: 3.0,
    }
}

/// (technique, relative speed at 1 thread, at batch 4, perplexity increase %).
const TECHNIQUES: [(&str, f64, f64, f64); 5] = [
    ("f32", 1.0, 1.0, 0.0),
    ("f16", 0.9, 1.1, 0.05),
    ("q8_0", 1.4, 0.9, 0.4),
    ("q4k", 2.1, 0.8, 3.5),
    ("kv-off", 0.3, 0.25, 0.0),
];

/// Writes the fixture store at `path` and returns how many cells it holds.
pub fn build(path: &Path) -> usize {
    let store = Store::open(path).unwrap();
    let mut n = 0;
    let mut put = |r: CellRecord| {
        store.insert(&r).unwrap();
        n += 1;
    };
    for (model, size) in [("smol-135m", 1.0), ("synth-26m", 0.3)] {
        for (hardware, price, emulated, slow) in [("local", 0.05, false, 1.0), ("edge-pi", 0.01, true, 3.5)] {
            for (workload, shape) in [("chat", (32, 32, 1)), ("summarize", (192, 8, 1)), ("batch4", (32, 16, 4))] {
                for (tech, speed1, batch_factor, ppl) in TECHNIQUES {
                    for threads in [1, 2] {
                        if hardware == "edge-pi" && threads == 2 {
                            continue;
                        }
                        let mut speed = speed1 * if threads == 2 { 1.7 } else { 1.0 };
                        if shape.2 > 1 {
                            speed *= batch_factor;
                        }
                        let work = (shape.0 as f64 * 0.2 + (shape.1 * shape.2) as f64 * 30.0) * size * slow;
                        let spec = Spec {
                            grid: "standard",
                            model,
                            technique: tech,
                            threads,
                            workload,
                            hardware,
                            price,
                            emulated,
                            shape,
                            concurrency: None,
                            p50: work / speed,
                            ppl_increase: ppl,
                        };
                        let (status, verdict) = match (tech, threads, workload) {
                            ("kv-off", 1, "summarize") if model == "synth-26m" => (CellStatus::Failed, ""),
                            ("q4k", 2, "chat") => (CellStatus::Ok, "invalid"),
                            _ => (CellStatus::Ok, "valid"),
                        };
                        put(record(&spec, status, verdict));
                    }
                }
            }
        }
    }
    let serving_techs = [
        ("static-batching", 1.0),
        ("continuous-batching", 1.5),
        ("prefix-cache+chunked-prefill+continuous-batching", 1.9),
    ];
    for (workload, c) in [("chat-c1", 1), ("chat-c4", 4), ("chat-c16", 16)] {
        for (tech, gain) in serving_techs {
            let load = if tech == "static-batching" { c as f64 } else { (c as f64).sqrt() };
            let spec = Spec {
                grid: "serving",
                model: "smol-135m",
                technique: tech,
                threads: 2,
                workload,
                hardware: "local",
                price: 0.05,
                emulated: false,
                shape: (16, 32, 1),
                concurrency: Some(c),
                p50: 900.0 * load / gain,
                ppl_increase: 0.0,
            };
            put(record(&spec, CellStatus::Ok, "valid"));
        }
    }
    // Speculative decoding at two k, beside its q8_0 cell (acceptance in `extra`).
    for (k, acceptance, slower) in [(2, 0.6, 1.2), (4, 0.45, 1.5)] {
        let tech = format!("q8_0+spec:draft=q4_0,k={k}");
        let spec = Spec {
            grid: "standard",
            model: "smol-135m",
            technique: &tech,
            threads: 2,
            workload: "chat",
            hardware: "local",
            price: 0.05,
            emulated: false,
            shape: (32, 32, 1),
            concurrency: None,
            p50: (32.0 * 0.2 + 32.0 * 30.0) / (1.4 * 1.7) * slower,
            ppl_increase: 0.4,
        };
        let mut r = record(&spec, CellStatus::Ok, "valid");
        if let Some(sm) = r.summary.as_mut() {
            sm.extra = json!({"speculation": {"rounds": 10, "proposed": 10 * k, "accepted": (10.0 * k as f64 * acceptance) as u64,
                "acceptance_rate": acceptance, "tokens_per_target_pass": 1.0 + k as f64 * acceptance}});
        }
        put(r);
    }
    // Placement on a three-node cluster: where each step's time went.
    for (tech, p50, split, compute, link) in [
        ("q8_0+local", 480.0, vec![("home", 0, 30)], vec![("home", 1.0)], 0.0),
        (
            "q8_0+shard:even",
            900.0,
            vec![("home", 0, 10), ("old", 10, 20), ("mid", 20, 30)],
            vec![("home", 0.2), ("old", 0.4), ("mid", 0.25)],
            0.12,
        ),
        ("q8_0+shard:optimal", 520.0, vec![("home", 0, 24), ("mid", 24, 30)], vec![("home", 0.7), ("mid", 0.2)], 0.06),
    ] {
        let spec = Spec {
            grid: "decentralized",
            model: "smol-135m",
            technique: tech,
            threads: 1,
            workload: "chat",
            hardware: "trio",
            price: 0.08,
            emulated: true,
            shape: (32, 32, 1),
            concurrency: None,
            p50,
            ppl_increase: 0.4,
        };
        let mut r = record(&spec, CellStatus::Ok, "valid");
        if let Some(sm) = r.summary.as_mut() {
            let wall = 10.0;
            sm.extra = json!({
                "placement": {
                    "policy": tech.split('+').nth(1).unwrap(),
                    "microbatch": 1,
                    "split": split.iter().map(|(n, a, b)| json!({"node": n, "layers": [a, b]})).collect::<Vec<_>>(),
                    "predicted_s": p50 / 1000.0 * 0.9,
                    "nodes_used": split.len(),
                    "step_wall_s": wall,
                },
                "nodes": compute.iter().map(|(n, f)| json!({"node": n, "compute_s": f * wall, "bubble_s": (1.0 - f) * wall})).collect::<Vec<_>>(),
                "links": if link > 0.0 { vec![json!({"from": "home", "to": "old", "seconds": link * wall, "bytes": 1000, "messages": 64})] } else { vec![] },
            });
        }
        put(r);
    }
    let na = Spec {
        grid: "serving",
        model: "smol-135m",
        technique: "kv-off",
        threads: 2,
        workload: "chat-c4",
        hardware: "local",
        price: 0.05,
        emulated: false,
        shape: (16, 32, 1),
        concurrency: Some(4),
        p50: 1.0,
        ppl_increase: 0.0,
    };
    put(record(&na, CellStatus::NotApplicable, ""));
    store.insert_evaluation(&evaluation()).unwrap();
    n
}

/// Writes at `path` one valid measured cell for every cell `harness run` expands from the
/// grid file `grid`, each carrying its real stored config, with the median latency (ms) and
/// perplexity increase (%) that `figures` gives it. Cells start one second apart in the order
/// the grid expands, as a run stores them. Returns how many cells it wrote.
///
/// The grid is expanded without validation, which would refuse an engine this build lacks
/// (`--no-default-features` has no llama.cpp): a report reads a store, it never runs an engine.
pub fn build_grid(path: &Path, grid: &Path, figures: impl Fn(&CellConfig) -> (f64, f64)) -> usize {
    let store = Store::open(path).unwrap();
    let text = std::fs::read_to_string(grid).unwrap();
    let file = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", grid.display()));
    let grid = harness::config::Grid { path: grid.to_path_buf(), text, file };
    let name = grid.name();
    let cells = harness::config::expand(&grid);
    for (i, cfg) in cells.iter().enumerate() {
        let w = &cfg.workload_spec;
        let (p50, ppl_increase) = figures(cfg);
        let spec = Spec {
            grid: &name,
            model: &cfg.model,
            technique: cfg.technique.as_str(),
            threads: cfg.threads,
            workload: &cfg.workload,
            hardware: &cfg.hardware,
            price: cfg.hardware_spec.price_per_hour,
            emulated: false,
            shape: (w.prompt_tokens, w.output_tokens, w.batch),
            concurrency: None,
            p50,
            ppl_increase,
        };
        let mut r = record(&spec, CellStatus::Ok, "valid");
        r.key = format!("{}-{}", r.key, cfg.engine);
        r.engine = cfg.engine.clone();
        r.config_json = serde_json::to_string(cfg).unwrap();
        r.started_at = 1.0e9 + i as f64;
        store.insert(&r).unwrap();
    }
    cells.len()
}

fn evaluation() -> EvaluationRecord {
    let selectors = ["metainf", "random-forest", "knn", "single-best", "random"];
    let m = |name: &str, v: f64| MetricCi { name: name.into(), value: v, ci_lo: v * 0.8, ci_hi: (v * 1.2).min(1.0) };
    let results = selectors
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let q = 1.0 - i as f64 * 0.18;
            SelectorResult {
                selector: s.to_string(),
                metrics: vec![
                    m("top1", 0.9 * q),
                    m("top3", 0.97 * q),
                    m("regret_mean", 0.02 + 0.1 * (1.0 - q)),
                    m("regret_median", 0.01 + 0.05 * (1.0 - q)),
                    m("gap_closed", 0.95 * q - 0.1),
                    m("ndcg3", 0.9 * q),
                    m("spearman", 0.8 * q),
                    m("selection_ms", 0.3),
                ],
                p_value_vs_baseline: (*s != "random").then_some(0.01 * (i + 1) as f64),
            }
        })
        .collect();
    let techs = ["q4k @2t", "q8_0 @2t", "f16 @2t"];
    let mut picks = Vec::new();
    for (t, task) in [
        "smol-135m / chat / local",
        "smol-135m / batch4 / local",
        "synth-26m / chat / edge-pi",
        "synth-26m / summarize / local",
    ]
    .iter()
    .enumerate()
    {
        for (i, s) in selectors.iter().enumerate() {
            let wrong = (t + i) % 3 == 2 || i >= 3;
            picks.push(TaskPick {
                task: task.to_string(),
                selector: s.to_string(),
                pick: techs[if wrong { (t + 1) % 3 } else { t % 3 }].into(),
                oracle: techs[t % 3].into(),
                regret: if wrong { 0.04 * (i + t + 1) as f64 } else { 0.0 },
            });
        }
    }
    EvaluationRecord {
        id: 0,
        created_at: 2.0e9,
        objective: "latency".into(),
        cv: "loto".into(),
        baseline: "random".into(),
        config_json: "{}".into(),
        selectors: results,
        picks,
    }
}
