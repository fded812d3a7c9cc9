//! How `harness evaluate` scales: a synthetic store of 2,000 tasks x 60 arms (40 models x
//! 50 workloads, the best arm a function of two meta-features, 10% of the cells failing),
//! evaluated by grouped 10-fold cross-validation (folds over (model, workload) groups,
//! run in parallel) with one learner seed. Prints the wall time of the whole evaluation
//! and each selector's share. `cargo bench --bench evaluate_scale` (set
//! `SCALE_TASKS=500` for a quicker look, `SCALE_SELECTORS=a,b` to choose). Measure on an
//! idle machine; the target is under 10 minutes on 2 cores for the default selectors.

use std::time::Instant;

use harness::meta::cv::CvScheme;
use harness::meta::evaluate::{evaluate, GroupBy, Options};
use harness::meta::features::{Arm, TaskFeatures};
use harness::meta::objective::Objective;
use harness::meta::tasks::{Task, TaskTable};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The selectors a large store is evaluated with by default: every registered one
/// whose cost is at most quadratic in the tasks (the `ours` blends choose their
/// weights by inner cross-validation of every member and are left out here).
const DEFAULT: &[&str] =
    &["random", "heuristic", "single-best", "oracle", "knn", "gbdt", "random-forest", "metainf", "ours-2"];

fn table(n: usize, arms: usize, seed: u64) -> TaskTable {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let techniques = ["f32", "f16", "bf16", "q8_0", "q6k", "q4k", "q4_0", "kv-off", "q4_1", "q5_0"];
    let arm_list: Vec<Arm> = (0..arms)
        .map(|a| {
            Arm::new(
                harness::techniques::TechniqueName::from_stored(techniques[a % techniques.len()]),
                1 + a / techniques.len(),
            )
        })
        .collect();
    let (models, workloads) = (40, n.div_ceil(40));
    let mut tasks = vec![];
    let mut perf = vec![];
    for i in 0..n {
        let (m, w) = (i % models, i / models % workloads);
        let mut row: Vec<f64> = (0..TaskFeatures::NAMES.len()).map(|_| rng.random_range(-1.0..1.0)).collect();
        row[0] = 20.0 + m as f64 * 0.2;
        let f = TaskFeatures::from_slice(&row).unwrap();
        let (u, v) = (row[13], row[14]);
        perf.push(
            (0..arms)
                .map(|a| {
                    if rng.random_range(0.0..1.0) < 0.1 {
                        return Some(None);
                    }
                    let c = a as f64 / arms as f64 * 2.0 - 1.0;
                    Some(Some((-(u - c).powi(2) * 3.0 - (v * c).abs()).exp() * rng.random_range(0.9..1.1)))
                })
                .collect(),
        );
        tasks.push(Task {
            id: format!("m{m} / w{w} / t{i}"),
            model: format!("m{m}"),
            workload: format!("w{w}"),
            hardware: "local".into(),
            features: f,
            ..Default::default()
        });
    }
    TaskTable::from_performance(Objective::Throughput, arm_list, tasks, perf)
}

fn main() {
    let n: usize = std::env::var("SCALE_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let selectors: Vec<String> = std::env::var("SCALE_SELECTORS")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_else(|_| DEFAULT.iter().map(|s| s.to_string()).collect());
    let t = table(n, 60, 1);
    println!("{} tasks x {} arms, grouped 10-fold, 1 learner seed", t.tasks.len(), t.arms.len());
    let all = Instant::now();
    for s in &selectors {
        let start = Instant::now();
        let names: Vec<&str> = vec![s.as_str()];
        let opts =
            Options { cv: CvScheme::Kfold(10), group_by: GroupBy::Kind, bootstrap: 1000, ..Options::quick(&names) };
        let r = evaluate(&t, &opts).expect("evaluation runs");
        let regret = r.record.selectors[0].metric("regret_mean").map_or(f64::NAN, |m| m.value);
        println!("{s:14} {:7.1} s  (mean regret {:.3})", start.elapsed().as_secs_f64(), regret);
    }
    let total = all.elapsed().as_secs_f64();
    println!(
        "total {total:.1} s = {:.2} min for {} selectors (each run also fits random, heuristic, single-best)",
        total / 60.0,
        selectors.len()
    );
}
