//! Selection metrics per held-out task, their bootstrap confidence intervals over
//! tasks, and the paired test against the baseline.
//!
//! All metrics read the penalised performance of [`super::tasks`] (infeasible arms
//! at half the task's worst feasible arm). Equal scores are a tie broken uniformly at
//! random, and every metric is the exact expectation over that draw (top-1, regret,
//! speed-ups, infeasible picks) or its average over 256 seeded tie-breaks (top-3, NDCG@3).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::tasks::TaskTable;
use crate::record::MetricCi;

/// Picks within this share of the best count as correct.
pub const TIE_TOLERANCE: f64 = 0.02;
const TIE_DRAWS: usize = 256;

/// What one selector did on one task.
#[derive(Debug, Clone, PartialEq)]
pub struct PerTask {
    pub top1: f64,
    pub top3: f64,
    /// 1 − perf(pick)/perf(best), expected over ties.
    pub regret: f64,
    pub ndcg3: f64,
    pub spearman: f64,
    /// Share of the (tied) picks that are infeasible.
    pub infeasible: f64,
    /// Share of the (tied) picks that ran but miss the quality floor (the one in force, or the
    /// default when none is): quality given up.
    pub below_floor: f64,
    /// Expected share of the task's best performance, perf(pick)/perf(best) = 1 − regret.
    pub share: f64,
    /// Wall time to fit (this task's share of the fold) and score, ms.
    pub ms: f64,
    /// The arm picked (`uniform over N arms` for a tie of more than one).
    pub pick: String,
    /// The tied picks (arm indices of the table), each picked with equal chance.
    pub picks: Vec<usize>,
    /// How well the selector predicted performance, when it predicts it.
    pub prediction: Option<PredictionError>,
}

/// The error of a selector's predicted objective (raw units: ms, tok/s) on one held-out
/// task's feasible arms.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionError {
    /// Mean absolute percentage error over the task's feasible arms, as a fraction.
    pub mape: f64,
    /// Share of those arms predicted within ±10 %.
    pub within10: f64,
    /// Absolute percentage error of the picked arm (the first tied pick; NaN when infeasible).
    pub pick_ape: f64,
    /// Spearman correlation of predicted and measured performance over the feasible arms.
    pub spearman: f64,
    /// |ln(predicted / measured)| of each of those arms (for the interval's coverage).
    pub residuals: Vec<f64>,
    /// The same for the picked arm (NaN when infeasible).
    pub pick_residual: f64,
    /// Whether the pick's measured figure lies in its 90 % interval, split-conformal on the
    /// residuals of the other folds' tasks (NaN until computed, or with one fold).
    pub cover90: f64,
    /// The share of the task's arms whose measured figure lies in their 90 % interval.
    pub cover90_arms: f64,
}

/// Error of `pred_log_perf` (predicted ln performance per candidate) against the
/// measured raw figures of task `t`'s feasible candidates.
pub fn prediction_error(
    table: &TaskTable,
    t: usize,
    candidates: &[usize],
    pred_log_perf: &[f64],
    pick: usize,
) -> Option<PredictionError> {
    let obj = table.objective;
    let mut apes = vec![];
    let (mut p, mut m) = (vec![], vec![]);
    let mut pick_ape = f64::NAN;
    let (mut residuals, mut pick_residual) = (vec![], f64::NAN);
    for (i, &a) in candidates.iter().enumerate() {
        let Some(o) = table.outcomes[t][a].as_ref().filter(|o| o.feasible) else { continue };
        let Some(raw) = o.raw.filter(|r| *r != 0.0) else { continue };
        let pred = obj.raw_from_performance(pred_log_perf[i].exp());
        let ape = ((pred - raw) / raw).abs();
        if !ape.is_finite() {
            continue;
        }
        let residual = (pred / raw).ln().abs();
        if a == pick {
            pick_ape = ape;
            pick_residual = residual;
        }
        residuals.push(residual);
        apes.push(ape);
        p.push(pred_log_perf[i]);
        m.push(o.perf);
    }
    if apes.is_empty() {
        return None;
    }
    Some(PredictionError {
        mape: mean(&apes),
        within10: apes.iter().filter(|e| **e <= 0.10 + 1e-12).count() as f64 / apes.len() as f64,
        pick_ape,
        spearman: if p.len() >= 2 { spearman(&p, &m) } else { f64::NAN },
        residuals,
        pick_residual,
        cover90: f64::NAN,
        cover90_arms: f64::NAN,
    })
}

/// Bootstrap resamples over groups: each resample draws as many groups as there are,
/// with replacement, and takes every task of each drawn group (`groups[i]` is task i's
/// group). With one task per group this is the ordinary bootstrap over tasks.
pub fn group_resamples(groups: &[String], count: usize, seed: u64) -> Vec<Vec<usize>> {
    let members = group_members(groups);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| (0..members.len()).flat_map(|_| members[rng.random_range(0..members.len())].iter().copied()).collect())
        .collect()
}

/// Task indices per distinct group, in order of first appearance.
pub fn group_members(groups: &[String]) -> Vec<Vec<usize>> {
    let mut order: Vec<&String> = vec![];
    let mut members: Vec<Vec<usize>> = vec![];
    for (i, g) in groups.iter().enumerate() {
        match order.iter().position(|o| *o == g) {
            Some(k) => members[k].push(i),
            None => {
                order.push(g);
                members.push(vec![i]);
            }
        }
    }
    members
}

/// The paired test over groups: differences summed within each group, then the
/// sign-flip test of [`paired_test`] over the group sums (exchangeable units are groups,
/// not the correlated tasks inside them).
pub fn group_paired_test(a: &[f64], b: &[f64], groups: &[String], seed: u64) -> Option<f64> {
    let members = group_members(groups);
    let sa: Vec<f64> = members.iter().map(|m| m.iter().map(|&i| a[i] - b[i]).sum()).collect();
    paired_test(&sa, &vec![0.0; sa.len()], seed)
}

/// Holm's step-down adjustment of p-values (family-wise error), in input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut out = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in idx.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

/// Mean of `v` over the resampled indices, as a percentile 95% interval.
pub fn mean_ci(v: &[f64], resamples: &[Vec<usize>]) -> (f64, f64, f64) {
    let boot: Vec<f64> = resamples.iter().map(|ix| mean(&pick(v, ix))).filter(|x| x.is_finite()).collect();
    (mean(v), quantile(&boot, 0.025), quantile(&boot, 0.975))
}

/// Scores `scores` (one per candidate of task `t`) against the measured truth.
pub fn per_task(table: &TaskTable, t: usize, candidates: &[usize], scores: &[f64], ms: f64) -> PerTask {
    let perf: Vec<f64> = candidates.iter().map(|&a| table.perf(t, a).expect("a candidate was run")).collect();
    let feasible: Vec<bool> =
        candidates.iter().map(|&a| table.outcomes[t][a].as_ref().is_some_and(|o| o.feasible)).collect();
    let best = table.best(t);
    let good = |i: usize| feasible[i] && perf[i] >= (1.0 - TIE_TOLERANCE) * best;
    // An infeasible arm's performance may be 0 (delivers nothing); it sorts last.
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tied: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] >= max - 1e-12).collect();
    let share = |f: &dyn Fn(usize) -> f64| tied.iter().map(|&i| f(i)).sum::<f64>() / tied.len() as f64;
    let pick = if tied.len() == 1 {
        table.arms[candidates[tied[0]]].name()
    } else {
        format!("uniform over {} arms", tied.len())
    };

    // Orders with ties broken at random; exact when there are no ties.
    let has_ties = {
        let mut s = scores.to_vec();
        s.sort_by(f64::total_cmp);
        s.windows(2).any(|w| (w[1] - w[0]).abs() <= 1e-12)
    };
    let draws = if has_ties { TIE_DRAWS } else { 1 };
    let mut rng = ChaCha8Rng::seed_from_u64(0x5e1ec7 ^ t as u64);
    let ideal = dcg3(
        &{
            let mut p = perf.clone();
            p.sort_by(|a, b| b.total_cmp(a));
            p
        },
        best,
    );
    let (mut top3, mut ndcg) = (0.0, 0.0);
    for _ in 0..draws {
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.shuffle(&mut rng);
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        top3 += f64::from(order.iter().take(3).any(|&i| good(i)));
        let ranked: Vec<f64> = order.iter().map(|&i| perf[i]).collect();
        ndcg += dcg3(&ranked, best) / ideal;
    }
    PerTask {
        top1: share(&|i| f64::from(good(i))),
        top3: top3 / draws as f64,
        regret: share(&|i| 1.0 - perf[i] / best),
        ndcg3: ndcg / draws as f64,
        spearman: spearman(scores, &perf),
        infeasible: share(&|i| f64::from(!feasible[i])),
        below_floor: share(&|i| {
            f64::from(feasible[i] && table.outcomes[t][candidates[i]].as_ref().is_some_and(|o| o.below_floor))
        }),
        share: share(&|i| perf[i] / best),
        ms,
        pick,
        picks: tied.iter().map(|&i| candidates[i]).collect(),
        prediction: None,
    }
}

/// DCG of the first three, relevance = share of the best performance.
fn dcg3(perf_in_order: &[f64], best: f64) -> f64 {
    perf_in_order.iter().take(3).enumerate().map(|(i, p)| (p / best) / ((i + 2) as f64).log2()).sum()
}

/// Average ranks (ties share their mean rank).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0;
        (i..=j).for_each(|k| r[idx[k]] = mean);
        i = j + 1;
    }
    r
}

/// Spearman correlation of scores and performance; 0 when either is constant (the
/// expectation over random tie-breaks).
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va <= 0.0 || vb <= 0.0 {
        0.0
    } else {
        cov / (va * vb).sqrt()
    }
}

pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Linear-interpolated quantile, `q` in [0, 1].
pub fn quantile(v: &[f64], q: f64) -> f64 {
    crate::measure::stats::percentile(v, q * 100.0)
}

/// What the aggregate metrics of one selector are computed from.
pub struct SelectorTasks<'a> {
    pub tasks: &'a [PerTask],
    /// Same task order: the single-best's, random's and heuristic's results.
    pub single_best: &'a [PerTask],
    pub random: &'a [PerTask],
    pub heuristic: &'a [PerTask],
}

/// A statistic of the tasks at the given (resampled) indices.
type Statistic<'a> = Box<dyn Fn(&[usize]) -> f64 + 'a>;

/// Every aggregate metric with a percentile bootstrap 95% CI over tasks. The same
/// resamples (seeded) serve every selector, so their intervals are comparable.
pub fn aggregate(s: &SelectorTasks, resamples: &[Vec<usize>]) -> Vec<MetricCi> {
    let n = s.tasks.len();
    let col = |f: fn(&PerTask) -> f64, v: &[PerTask]| v.iter().map(f).collect::<Vec<f64>>();
    let regret = col(|p| p.regret, s.tasks);
    let sb_regret = col(|p| p.regret, s.single_best);
    // A baseline delivering under 0.1% of the best (zero goodput) counts as 0.1%, so
    // one such task cannot make the mean infinite.
    let ratio = |base: &[PerTask]| -> Vec<f64> {
        s.tasks.iter().zip(base).map(|(p, b)| (p.share / b.share.max(1e-3) - 1.0) * 100.0).collect()
    };
    let series: Vec<(&str, Statistic)> = vec![
        ("top1", Box::new(move |ix: &[usize]| mean(&pick(&col(|p| p.top1, s.tasks), ix)))),
        ("top3", Box::new(move |ix: &[usize]| mean(&pick(&col(|p| p.top3, s.tasks), ix)))),
        ("regret_mean", Box::new(|ix: &[usize]| mean(&pick(&regret, ix)))),
        ("regret_median", Box::new(|ix: &[usize]| quantile(&pick(&regret, ix), 0.5))),
        ("regret_p90", Box::new(|ix: &[usize]| quantile(&pick(&regret, ix), 0.9))),
        (
            "gap_closed",
            Box::new(|ix: &[usize]| {
                let sb = mean(&pick(&sb_regret, ix));
                if sb > 1e-12 {
                    1.0 - mean(&pick(&regret, ix)) / sb
                } else {
                    f64::NAN
                }
            }),
        ),
        ("ndcg3", Box::new(move |ix: &[usize]| mean(&pick(&col(|p| p.ndcg3, s.tasks), ix)))),
        ("spearman", Box::new(move |ix: &[usize]| mean(&pick(&col(|p| p.spearman, s.tasks), ix)))),
        ("gain_vs_random", {
            let r = ratio(s.random);
            Box::new(move |ix: &[usize]| mean(&pick(&r, ix)))
        }),
        ("gain_vs_heuristic", {
            let r = ratio(s.heuristic);
            Box::new(move |ix: &[usize]| mean(&pick(&r, ix)))
        }),
        ("infeasible_picks", Box::new(move |ix: &[usize]| mean(&pick(&col(|p| p.infeasible, s.tasks), ix)))),
        ("floor_violations", Box::new(move |ix: &[usize]| mean(&pick(&col(|p| p.below_floor, s.tasks), ix)))),
        ("selection_ms", Box::new(move |ix: &[usize]| mean(&pick(&col(|p| p.ms, s.tasks), ix)))),
    ];
    let mut series = series;
    if s.tasks.iter().any(|p| p.prediction.is_some()) {
        let pe = |f: fn(&PredictionError) -> f64| -> Vec<f64> {
            s.tasks.iter().map(|p| p.prediction.as_ref().map_or(f64::NAN, f)).collect()
        };
        let finite_mean = |v: Vec<f64>| -> Statistic { Box::new(move |ix: &[usize]| finite(&pick(&v, ix))) };
        series.push(("pred_mape", finite_mean(pe(|e| e.mape))));
        series.push(("pred_within10", finite_mean(pe(|e| e.within10))));
        series.push(("pred_pick_ape", finite_mean(pe(|e| e.pick_ape))));
        series.push((
            "pred_pick_within10",
            // NaN (left out of the mean) where the pick's error is unknown (an infeasible pick).
            finite_mean(pe(|e| if e.pick_ape.is_finite() { f64::from(e.pick_ape <= 0.10 + 1e-12) } else { f64::NAN })),
        ));
        series.push(("pred_spearman", finite_mean(pe(|e| e.spearman))));
        series.push(("pred_cover90", finite_mean(pe(|e| e.cover90))));
        series.push(("pred_cover90_arms", finite_mean(pe(|e| e.cover90_arms))));
    }
    let all: Vec<usize> = (0..n).collect();
    series
        .into_iter()
        .map(|(name, f)| {
            let boot: Vec<f64> = resamples.iter().map(|ix| f(ix)).filter(|x| x.is_finite()).collect();
            MetricCi { name: name.into(), value: f(&all), ci_lo: quantile(&boot, 0.025), ci_hi: quantile(&boot, 0.975) }
        })
        .collect()
}

/// Mean of the finite values (NaN when none).
fn finite(v: &[f64]) -> f64 {
    let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    mean(&f)
}

fn pick(v: &[f64], ix: &[usize]) -> Vec<f64> {
    ix.iter().map(|&i| v[i]).collect()
}

/// `count` bootstrap resamples of `n` task indices, seeded.
pub fn resamples(n: usize, count: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..count).map(|_| (0..n).map(|_| rng.random_range(0..n)).collect()).collect()
}

/// Two-sided paired sign-flip permutation test of mean(a − b) = 0: exact up to 16
/// tasks, else 20 000 seeded random flips. `None` with fewer than 2 tasks.
pub fn paired_test(a: &[f64], b: &[f64], seed: u64) -> Option<f64> {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len();
    if n < 2 {
        return None;
    }
    let observed = d.iter().sum::<f64>().abs();
    if observed <= 1e-12 {
        return Some(1.0);
    }
    let at_least = |signs: &dyn Fn(usize) -> bool| {
        let s: f64 = d.iter().enumerate().map(|(i, x)| if signs(i) { -x } else { *x }).sum();
        s.abs() >= observed - 1e-12
    };
    if n <= 16 {
        let total = 1u64 << n;
        let hits = (0..total).filter(|m| at_least(&|i| m >> i & 1 == 1)).count();
        Some(hits as f64 / total as f64)
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let draws = 20_000;
        let hits = (0..draws)
            .filter(|_| {
                let flips: Vec<bool> = (0..n).map(|_| rng.random()).collect();
                at_least(&|i| flips[i])
            })
            .count();
        Some((hits + 1) as f64 / (draws + 1) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::features::Arm;
    use crate::meta::objective::Objective;
    use crate::meta::tasks::Task;

    fn table() -> TaskTable {
        let arms = ["a", "b", "c", "d"]
            .iter()
            .map(|t| Arm::new(crate::techniques::TechniqueName::from_stored(t), 1))
            .collect();
        let task = Task {
            id: "t".into(),
            model: "m".into(),
            workload: "w".into(),
            hardware: "h".into(),
            features: crate::meta::features::TaskFeatures::filled(0.0),
            embedding: None,
            description: String::new(),
            ..Default::default()
        };
        TaskTable::from_performance(
            Objective::Throughput,
            arms,
            vec![task],
            vec![vec![Some(Some(10.0)), Some(Some(9.9)), Some(Some(5.0)), Some(None)]],
        )
    }

    #[test]
    fn perfect_and_uniform_picks() {
        let t = table();
        let c = t.candidates(0);
        let oracle = per_task(&t, 0, &c, &[10.0, 9.9, 5.0, 2.5], 0.0);
        assert_eq!((oracle.top1, oracle.regret, oracle.ndcg3, oracle.infeasible), (1.0, 0.0, 1.0, 0.0));
        assert!((oracle.spearman - 1.0).abs() < 1e-12);
        // By default the infeasible arm delivers nothing: regret 1.
        let uniform = per_task(&t, 0, &c, &[0.0; 4], 0.0);
        assert!((uniform.regret - (0.0 + 0.01 + 0.5 + 1.0) / 4.0).abs() < 1e-12);
        assert_eq!(uniform.top1, 0.5, "9.9 is within 2% of 10");
        assert_eq!(uniform.infeasible, 0.25);
        assert_eq!(uniform.spearman, 0.0);
        assert_eq!(uniform.pick, "uniform over 4 arms");
        assert!((uniform.top3 - 1.0).abs() < 1e-12, "any 3 of 4 include a, or b");
        let bad = per_task(&t, 0, &c, &[0.0, 0.0, 0.0, 1.0], 0.0);
        assert_eq!((bad.top1, bad.infeasible, bad.regret), (0.0, 1.0, 1.0));
        // Counted at half the worst feasible (5.0) instead: 2.5, regret 0.75.
        let half = t.clone().with_infeasible(crate::meta::tasks::Infeasible::Factor(0.5));
        assert_eq!(per_task(&half, 0, &c, &[0.0, 0.0, 0.0, 1.0], 0.0).regret, 0.75);
    }

    #[test]
    fn holm_and_group_resamples() {
        let adj = holm(&[0.01, 0.04, 0.03]);
        assert!((adj[0] - 0.03).abs() < 1e-12 && (adj[2] - 0.06).abs() < 1e-12 && (adj[1] - 0.06).abs() < 1e-12);
        let groups: Vec<String> = ["a", "a", "b", "c", "c", "c"].iter().map(|s| s.to_string()).collect();
        for r in group_resamples(&groups, 50, 3) {
            // Whole groups only: a drawn group brings all its tasks.
            let count = |i: usize| r.iter().filter(|&&x| x == i).count();
            assert_eq!(count(0), count(1));
            assert!(count(3) == count(4) && count(4) == count(5));
        }
        // Two groups of identical differences: the group test sees 2 units, not 4 tasks.
        let p = group_paired_test(&[1.0; 4], &[0.0; 4], &groups[..4], 0).unwrap();
        assert!((p - 0.5).abs() < 1e-12 || (p - 0.25).abs() < 1e-12, "{p}");
    }

    #[test]
    fn paired_test_is_exact_for_few_tasks() {
        assert_eq!(paired_test(&[1.0; 5], &[1.0; 5], 0), Some(1.0));
        // All five differences positive: only the two all-same-sign flips are as extreme.
        let p = paired_test(&[1.0; 5], &[0.0; 5], 0).unwrap();
        assert!((p - 2.0 / 32.0).abs() < 1e-12);
        let big = paired_test(&[1.0; 30], &[0.0; 30], 0).unwrap();
        assert!(big < 0.001);
    }

    #[test]
    fn quantiles_and_ranks() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(quantile(&[0.0, 10.0], 0.9), 9.0);
        assert_eq!(ranks(&[5.0, 1.0, 5.0]), vec![1.5, 0.0, 1.5]);
    }
}
