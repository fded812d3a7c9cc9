//! The store tests every backend passes: each takes a function that opens a new
//! connection to one fresh store (called again for concurrent writers and claimers).

use std::collections::HashSet;

use super::claim::{ClaimOutcome, Claimant};
use super::ResultStore;
use crate::record::{
    test_record, CellRecord, CellStatus, EvaluationRecord, MetricCi, SampleSeries, SelectorResult, TaskPick,
};

pub type Open<'a> = &'a (dyn Fn() -> Box<dyn ResultStore> + Sync);

/// Runs every conformance test on stores from `open`.
pub fn all(open: Open<'_>) {
    round_trip(open);
    failed_and_nan(open);
    written_accuracy_reads_back_as_exact(open);
    reinsert_replaces_row_and_samples(open);
    keys_and_counts(open);
    evaluations(open);
    claims(open);
    concurrent_writers(open);
    concurrent_claimers(open);
}

pub fn failed(key: &str) -> CellRecord {
    CellRecord {
        status: CellStatus::Failed,
        reason: Some("worker timed out".into()),
        summary: None,
        samples: vec![],
        started_at: 1_700_000_100.0,
        ..test_record(key)
    }
}

/// Each test works on its own keys: the stores are shared by the whole suite.
fn key(test: &str, k: &str) -> String {
    format!("{test}-{k}")
}

fn round_trip(open: Open<'_>) {
    let store = open();
    assert_eq!(store.schema_version().unwrap(), super::sqlite::schema::current_version());
    let rec = test_record(&key("rt", "a"));
    store.insert(&rec).unwrap();
    assert_eq!(store.get(&rec.key).unwrap(), Some(rec.clone()));
    assert!(store.all().unwrap().contains(&rec));
    assert_eq!(store.get("nope").unwrap(), None);
    assert!(store.keys().unwrap().contains(&rec.key));
    assert!(store.machine_classes().unwrap().iter().any(|(_, n)| *n >= 1));
    store.record_provenance("elsewhere.db", 1).unwrap();
}

fn failed_and_nan(open: Open<'_>) {
    let store = open();
    let f = failed(&key("nan", "f"));
    store.insert(&f).unwrap();
    assert_eq!(store.get(&f.key).unwrap(), Some(f));
    let mut rec = test_record(&key("nan", "n"));
    rec.summary.as_mut().unwrap().latency_ms.stdev = f64::NAN;
    rec.samples[0].values[1] = f64::NAN;
    store.insert(&rec).unwrap();
    let back = store.get(&rec.key).unwrap().unwrap();
    assert!(back.summary.unwrap().latency_ms.stdev.is_nan());
    assert!(back.samples[0].values[1].is_nan());
    assert_eq!(back.samples[0].values.len(), rec.samples[0].values.len());
}

/// A row as older harnesses wrote it for an exact technique (agreement 1 and KL 0, no basis)
/// reads back exact by construction; a new exact row reads back as written.
fn written_accuracy_reads_back_as_exact(open: Open<'_>) {
    use crate::record::accuracy::Basis;
    use crate::techniques::Technique;
    let exact = crate::techniques::kv_off::KvOff.name();
    let store = open();
    let mut old = test_record(&key("acc", "old"));
    old.technique = exact.into();
    let s = old.summary.as_mut().unwrap();
    (s.ref_perplexity, s.agreement, s.kl_mean) = (s.perplexity, Some(1.0), Some(0.0));
    store.insert(&old).unwrap();
    let back = store.get(&old.key).unwrap().unwrap().summary.unwrap();
    assert_eq!(back.accuracy_basis(), Some(Basis::ExactByConstruction));
    assert_eq!((back.perplexity, back.ref_perplexity, back.agreement, back.kl_mean), (Some(12.5), None, None, None));
    let mut new = test_record(&key("acc", "new"));
    new.technique = exact.into();
    new.summary.as_mut().unwrap().set_accuracy_basis(Basis::ExactByConstruction);
    store.insert(&new).unwrap();
    assert_eq!(store.get(&new.key).unwrap(), Some(new));
}

fn reinsert_replaces_row_and_samples(open: Open<'_>) {
    let store = open();
    let k = key("re", "k");
    store.insert(&failed(&k)).unwrap();
    let mut retry = test_record(&k);
    retry.samples = vec![SampleSeries { metric: "latency_ms".into(), values: vec![1.0] }];
    store.insert(&retry).unwrap();
    assert_eq!(store.get(&k).unwrap(), Some(retry));
    assert_eq!(store.all().unwrap().iter().filter(|r| r.key == k).count(), 1);
}

fn keys_and_counts(open: Open<'_>) {
    let store = open();
    let before = store.count_by_status().unwrap();
    let (a, b, c) = (key("kc", "a"), key("kc", "b"), key("kc", "c"));
    for rec in [test_record(&a), test_record(&b), failed(&c)] {
        store.insert(&rec).unwrap();
    }
    let keys = store.keys().unwrap();
    assert!([&a, &b, &c].iter().all(|k| keys.contains(*k)));
    assert!(store.keys_with_status(CellStatus::Failed).unwrap().contains(&c));
    assert!(!store.keys_with_status(CellStatus::Failed).unwrap().contains(&a));
    let verdict = test_record(&a).summary.unwrap().verdict;
    assert!(store.keys_with_verdict(verdict.as_str()).unwrap().contains(&a));
    let count = |v: &[(CellStatus, usize)], s: CellStatus| v.iter().find(|(x, _)| *x == s).map_or(0, |(_, n)| *n);
    let after = store.count_by_status().unwrap();
    assert_eq!(count(&after, CellStatus::Ok), count(&before, CellStatus::Ok) + 2);
    assert_eq!(count(&after, CellStatus::Failed), count(&before, CellStatus::Failed) + 1);
    let mut sorted = after.clone();
    sorted.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(after, sorted, "ordered by status");
    // Ordered by start time, then key.
    let all = store.all().unwrap();
    let order: Vec<(f64, &str)> = all.iter().map(|r| (r.started_at, r.key.as_str())).collect();
    let mut expected = order.clone();
    expected.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(y.1)));
    assert_eq!(order, expected);
}

fn evaluations(open: Open<'_>) {
    let store = open();
    let m = |n: &str, v: f64| MetricCi { name: n.into(), value: v, ci_lo: v - 0.1, ci_hi: v + 0.1 };
    let mut e = EvaluationRecord {
        id: 0,
        created_at: 1.5,
        objective: "latency".into(),
        cv: "loto".into(),
        baseline: "random".into(),
        config_json: "{}".into(),
        selectors: vec![
            SelectorResult {
                selector: "ours".into(),
                metrics: vec![m("top1", 0.8), m("regret_mean", 0.02)],
                p_value_vs_baseline: Some(0.01),
            },
            SelectorResult { selector: "random".into(), metrics: vec![m("top1", 0.2)], p_value_vs_baseline: None },
        ],
        picks: vec![TaskPick {
            task: "m / w / local".into(),
            selector: "ours".into(),
            pick: "q4k @2t".into(),
            oracle: "q4k @2t".into(),
            regret: 0.0,
        }],
    };
    let id = store.insert_evaluation(&e).unwrap();
    e.id = id;
    assert_eq!(store.latest_evaluation().unwrap().unwrap(), e);
    e.objective = "throughput".into();
    let id2 = store.insert_evaluation(&e).unwrap();
    assert!(id2 > id);
    assert_eq!(store.latest_evaluation().unwrap().unwrap().objective, "throughput");
}

/// A runner on another host: its claims hold until their deadline.
fn remote(name: &str) -> Claimant {
    Claimant { owner: format!("{name}:1:1"), host: name.into(), pid: 1 }
}

fn claims(open: Open<'_>) {
    let store = open();
    let k = key("cl", "x");
    let (a, b) = (remote("node-a"), remote("node-b"));
    assert_eq!(store.claim(&k, &a, 60.0, None).unwrap(), ClaimOutcome::Claimed);
    assert!(matches!(store.claim(&k, &b, 60.0, None).unwrap(), ClaimOutcome::Held(c) if c.owner == a.owner));
    assert!(store.claims().unwrap().iter().any(|c| c.key == k && c.owner == a.owner));
    store.insert(&test_record(&k)).unwrap();
    assert!(!store.claims().unwrap().iter().any(|c| c.key == k), "storing a cell ends its claim");
    assert_eq!(store.claim(&k, &b, 60.0, None).unwrap(), ClaimOutcome::Done);
    assert_eq!(store.claim(&k, &b, 60.0, Some(f64::MAX)).unwrap(), ClaimOutcome::Claimed, "a retry re-measures");
    store.release(&k, Some(&b.owner)).unwrap();
    // An expired claim is taken over; a released one is free.
    let k2 = key("cl", "y");
    assert_eq!(store.claim(&k2, &a, -1.0, None).unwrap(), ClaimOutcome::Claimed);
    assert_eq!(store.claim(&k2, &b, 60.0, None).unwrap(), ClaimOutcome::Claimed);
    store.release(&k2, Some(&a.owner)).unwrap();
    assert!(store.claims().unwrap().iter().any(|c| c.key == k2), "only the holder's release counts");
    store.release(&k2, None).unwrap();
    assert_eq!(store.claim(&k2, &Claimant::me(), 60.0, None).unwrap(), ClaimOutcome::Claimed);
    store.release(&k2, None).unwrap();
}

fn concurrent_writers(open: Open<'_>) {
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                let store = open();
                for i in 0..25 {
                    store.insert(&test_record(&key("cw", &format!("{t}-{i}")))).unwrap();
                }
            });
        }
    });
    let keys = open().keys().unwrap();
    assert_eq!(keys.iter().filter(|k| k.starts_with("cw-")).count(), 100);
}

/// Four runners race for the same 40 cells: each is claimed once and stored once.
fn concurrent_claimers(open: Open<'_>) {
    let won: Vec<Vec<String>> = std::thread::scope(|s| {
        let runners: Vec<_> = (0..4)
            .map(|t| {
                s.spawn(move || {
                    let store = open();
                    let me = remote(&format!("runner-{t}"));
                    let mut mine = Vec::new();
                    for i in 0..40 {
                        let k = key("cc", &i.to_string());
                        if store.claim(&k, &me, 60.0, None).unwrap() == ClaimOutcome::Claimed {
                            store.insert(&test_record(&k)).unwrap();
                            mine.push(k);
                        }
                    }
                    mine
                })
            })
            .collect();
        runners.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let all: Vec<&String> = won.iter().flatten().collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!((all.len(), unique.len()), (40, 40), "every cell claimed exactly once: {won:?}");
    assert_eq!(open().keys().unwrap().iter().filter(|k| k.starts_with("cc-")).count(), 40);
}
