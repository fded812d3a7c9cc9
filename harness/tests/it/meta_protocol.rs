//! The evaluation protocol itself: folds hold out exactly their group, nothing of a
//! held-out task's outcomes reaches its own pick (through `evaluate`, under LOTO, LOMO
//! and LOHO), outcome rows shuffled across tasks leave no learner better than the
//! single-best arm, the frozen split scores only its test tasks, learner seeds are
//! reported, and an active sweep finds the best arm before measuring every cell.

use harness::meta::active::{self, Policy};
use harness::meta::cv::{folds, kind, CvScheme};
use harness::meta::evaluate::{evaluate, GroupBy, Options};
use harness::meta::features::{Arm, TaskFeatures};
use harness::meta::objective::Objective;
use harness::meta::selectors::{self, registry};
use harness::meta::tasks::{Task, TaskTable};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const ARMS: [&str; 5] = ["f32", "q8_0", "q4k", "f16", "kv-off"];

/// `models` × `workloads` × 2 nodes. The workload decides the best arm (arm i peaks at
/// u = (i + 0.5) / 4 of its `decode_share`, q8_0 a little higher); node `n1` is slower
/// overall; `kv-off` is slow and fails on every third task.
fn grid(models: usize, workloads: usize, seed: u64) -> TaskTable {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let arms: Vec<Arm> =
        ARMS.iter().map(|t| Arm::new(harness::techniques::TechniqueName::parse(t).unwrap(), 1)).collect();
    let mut tasks = vec![];
    let mut perf = vec![];
    let mut i = 0;
    for m in 0..models {
        let size: f64 = rng.random_range(1.0..50.0);
        for w in 0..workloads {
            let u = (w as f64 + rng.random_range(0.2..0.8)) / workloads as f64;
            for node in 0..2 {
                let row: Vec<f64> = (0..TaskFeatures::NAMES.len())
                    .map(|j| if j < 4 { rng.random_range(-1.0..1.0) } else { 1.0 })
                    .collect();
                let mut f = TaskFeatures::from_slice(&row).unwrap();
                f.decode_share = u;
                f.log2_params = size.log2();
                f.cores = 2.0;
                f.memory_gb = if node == 0 { 16.0 } else { 8.0 };
                f.serving = 0.0;
                f.shared_prefix_share = 0.0;
                f.native_bits_per_weight = 32.0;
                let scale = 100.0 / size / (1.0 + node as f64);
                perf.push(
                    (0..ARMS.len())
                        .map(|a| {
                            if a == 4 {
                                return Some(if i % 3 == 0 { None } else { Some(scale * 0.05) });
                            }
                            let c = (a as f64 + 0.5) / 4.0;
                            // q8_0 is a little faster everywhere: the one best constant
                            // choice (symmetric arms would make leave-one-out flip the
                            // single-best to the wrong arm on every task).
                            let boost = if a == 1 { 1.25 } else { 1.0 };
                            Some(Some(boost * scale * (-12.0 * (u - c).powi(2)).exp()))
                        })
                        .collect(),
                );
                tasks.push(Task {
                    id: format!("m{m} / w{w} / n{node}"),
                    model: format!("m{m}"),
                    workload: format!("w{w}"),
                    hardware: format!("n{node}"),
                    features: f,
                    description: format!("task {i}"),
                    machine: "fixture".into(),
                    grid: if m + 1 == models { "test".into() } else { "train".into() },
                    ..Default::default()
                });
                i += 1;
            }
        }
    }
    TaskTable::from_performance(Objective::Throughput, arms, tasks, perf)
}

fn opts(selectors: &[&str], cv: CvScheme) -> Options {
    Options { cv, bootstrap: 100, ..Options::quick(selectors) }
}

#[test]
fn every_fold_holds_out_exactly_its_group() {
    let t = grid(4, 3, 1);
    let n = t.tasks.len();
    for (scheme, key) in [
        (CvScheme::Loto, Box::new(|x: &Task| x.id.clone()) as Box<dyn Fn(&Task) -> String>),
        (CvScheme::Lomo, Box::new(|x: &Task| x.model.clone())),
        (CvScheme::Lomw, Box::new(kind)),
        (CvScheme::Loho, Box::new(|x: &Task| x.hardware.clone())),
    ] {
        let f = folds(&t, scheme, 0).unwrap();
        let mut seen = vec![0; n];
        for fold in &f {
            let g = key(&t.tasks[fold.test[0]]);
            // Every task of the group is held out, nothing else.
            let group: Vec<usize> = (0..n).filter(|&i| key(&t.tasks[i]) == g).collect();
            assert_eq!(fold.test, group, "{scheme:?} {}", fold.name);
            // Training is everything else (LOHO: every task not on the held-out node).
            let rest: Vec<usize> = (0..n).filter(|i| !group.contains(i)).collect();
            assert_eq!(fold.train, rest, "{scheme:?} {}", fold.name);
            fold.test.iter().for_each(|&i| seen[i] += 1);
        }
        assert!(seen.iter().all(|&s| s == 1), "{scheme:?}: every task tested once: {seen:?}");
    }
    // LOMW keeps a task's twin on the other node out of its training.
    for fold in folds(&t, CvScheme::Lomw, 0).unwrap() {
        for &i in &fold.test {
            assert!(fold.train.iter().all(|&j| kind(&t.tasks[j]) != kind(&t.tasks[i])));
        }
    }
    // K folds over (model, workload) groups: groups whole, every task once.
    let f = folds(&t, CvScheme::Kfold(5), 3).unwrap();
    assert_eq!(f.len(), 5);
    let mut seen = vec![0; n];
    for fold in &f {
        for &i in &fold.test {
            seen[i] += 1;
            let twins: Vec<usize> = (0..n).filter(|&j| kind(&t.tasks[j]) == kind(&t.tasks[i])).collect();
            assert!(twins.iter().all(|j| fold.test.contains(j)), "a group split across folds");
        }
        assert!(fold.train.iter().all(|j| !fold.test.contains(j)));
    }
    assert!(seen.iter().all(|&s| s == 1));
}

#[test]
fn loho_tests_only_task_kinds_another_node_ran() {
    let mut t = grid(3, 2, 2);
    // Drop m0 / w0 from node n1: that kind ran on one node only.
    let keep: Vec<usize> = (0..t.tasks.len()).filter(|&i| t.tasks[i].id != "m0 / w0 / n1").collect();
    t = t.subset(&keep);
    let f = folds(&t, CvScheme::Loho, 0).unwrap();
    let tested: Vec<&str> = f.iter().flat_map(|x| x.test.iter().map(|&i| t.tasks[i].id.as_str())).collect();
    assert!(!tested.contains(&"m0 / w0 / n0"), "{tested:?}");
    assert_eq!(tested.len(), t.tasks.len() - 1);
}

/// The held-out task's outcomes (performance and feasibility of every arm) are
/// scrambled; no selector's pick for that task may change, under any scheme.
#[test]
fn held_out_outcomes_never_reach_their_own_pick() {
    let t = grid(4, 2, 3);
    let names: Vec<&str> = selectors::names().into_iter().filter(|n| *n != "oracle").collect();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for scheme in [CvScheme::Loto, CvScheme::Lomo, CvScheme::Loho] {
        let k = 5;
        let mut scrambled = t.clone();
        // Reverse the arms' order (the best becomes the worst) and make every arm feasible.
        for o in scrambled.outcomes[k].iter_mut().flatten() {
            o.perf = 1.0 / o.perf.max(1e-3) * rng.random_range(0.9..1.1);
            o.raw = Some(1.0 / o.perf);
            o.feasible = true;
            o.why = None;
        }
        let a = evaluate(&t, &opts(&names, scheme)).unwrap();
        let b = evaluate(&scrambled, &opts(&names, scheme)).unwrap();
        let pos = a.tested.iter().position(|&i| i == k).expect("task k is tested");
        assert_eq!(b.tested, a.tested);
        for ((name, pa), (_, pb)) in a.per_task.iter().zip(&b.per_task) {
            if name == "oracle" {
                continue;
            }
            assert_eq!(pa[pos].picks, pb[pos].picks, "{scheme:?}: {name}'s pick for the held-out task changed");
        }
        // The scramble did reach the scoring (the test could fail): the oracle's arm moved.
        assert_ne!(t.oracle_arm(k), scrambled.oracle_arm(k));
    }
}

/// Negative control: outcome rows permuted across tasks carry no information about the
/// task's features, so no learner may beat the single-best arm by more than chance;
/// on the real rows the same learners beat it by far.
#[test]
fn permuted_outcomes_drop_every_learner_to_the_single_best() {
    let learners =
        ["knn", "gbdt", "random-forest", "ours", "ours-2", "ours-3", "gbdt-arms", "gbdt-mach", "random-forest-arms"];
    let mut names = learners.to_vec();
    names.push("single-best");
    let t = grid(8, 4, 5);
    let regret = |r: &harness::record::EvaluationRecord, s: &str| {
        r.selectors.iter().find(|x| x.selector == s).unwrap().metric("regret_mean").unwrap().value
    };
    let real = evaluate(&t, &opts(&names, CvScheme::Loto)).unwrap().record;
    let sb = regret(&real, "single-best");
    assert!(sb > 0.15, "the problem needs choosing: single-best regret {sb}");
    let learned: Vec<f64> = learners.iter().map(|l| regret(&real, l)).collect();
    assert!(learned.iter().filter(|r| **r < 0.5 * sb).count() >= 3, "learners find the rule: {learned:?} vs {sb}");

    let mut permuted = t.clone();
    let mut order: Vec<usize> = (0..t.tasks.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(17));
    permuted.outcomes = order.iter().map(|&i| t.outcomes[i].clone()).collect();
    let r = evaluate(&permuted, &opts(&names, CvScheme::Loto)).unwrap().record;
    let sb = regret(&r, "single-best");
    for s in &r.selectors {
        eprintln!(
            "permuted: {:20} regret {:.3} top1 {:.3}",
            s.selector,
            s.metric("regret_mean").unwrap().value,
            s.metric("top1").unwrap().value
        );
    }
    for l in learners {
        let x = regret(&r, l);
        assert!(x >= 0.9 * sb, "{l} beats the single-best ({sb:.3}) on permuted rows: {x:.3}");
    }
}

#[test]
fn frozen_split_scores_only_the_test_tasks_and_records_both_sets() {
    let t = grid(4, 2, 6);
    let train: Vec<usize> = (0..t.tasks.len()).filter(|&i| t.tasks[i].grid == "train").collect();
    let test: Vec<usize> = (0..t.tasks.len()).filter(|&i| t.tasks[i].grid == "test").collect();
    let o = Options {
        split: Some((train.clone(), test.clone(), "train / test".into())),
        group_by: GroupBy::Kind,
        seeds: 3,
        ..opts(&["gbdt", "ours-2", "single-best"], CvScheme::Loto)
    };
    let out = evaluate(&t, &o).unwrap();
    assert_eq!(out.tested, test);
    assert_eq!(out.record.cv, "frozen");
    let cfg: serde_json::Value = serde_json::from_str(&out.record.config_json).unwrap();
    assert_eq!(cfg["tasks"], test.len());
    assert_ne!(cfg["train_tasks_hash"], cfg["test_tasks_hash"]);
    assert_eq!(cfg["learner_seeds"], 3);
    // A seeded learner reports its spread over seeds; a deterministic one does not.
    let gbdt = out.record.selectors.iter().find(|s| s.selector == "gbdt").unwrap();
    let s = gbdt.metric("regret_mean_seeds").expect("gbdt is seeded");
    assert!(s.ci_lo <= s.value + 1e-12 && s.value <= s.ci_hi + 1e-12, "{s:?}");
    let ours2 = out.record.selectors.iter().find(|s| s.selector == "ours-2").unwrap();
    assert!(ours2.metric("regret_mean_seeds").is_none());
    // Predicting selectors report their error.
    assert!(ours2.metric("pred_mape").is_some() && gbdt.metric("pred_within10").is_some());
    // A task in both sets is refused.
    let both = Options { split: Some((train.clone(), vec![train[0]], "x".into())), ..opts(&["gbdt"], CvScheme::Loto) };
    assert!(evaluate(&t, &both).is_err());
}

#[test]
fn active_sweep_finds_the_best_arm_before_measuring_everything() {
    let t = grid(6, 4, 8);
    let tasks: Vec<usize> = (0..t.tasks.len()).filter(|&i| t.tasks[i].model == "m5").collect();
    let rf = selectors::by_name("random-forest").unwrap();
    let r = active::replay(&t, &tasks, rf.as_ref(), 0).unwrap();
    let curve = &r.curves.iter().find(|(p, _)| *p == Policy::Active).unwrap().1;
    assert_eq!(curve.last().unwrap().0, 1.0, "with every cell measured the recommendation is the best arm");
    let share = r.share_to_reach(Policy::Active, 0.95).unwrap();
    assert!(share < 1.0, "the active sweep needed every cell");
    assert!(registry().iter().any(|s| s.name() == "ours-2"));
}
