//! Measurement noise carried into the evaluation.
//!
//! Each cell stores its raw repetitions. Resampling them (with replacement, the
//! median as the cell's figure, as the runner summarises them) gives many equally
//! plausible versions of the task table; the oracle and every selector's pick are
//! re-scored on each. From that:
//! - a pick is **statistically tied** with the best when, in at least
//!   [`TIED_SHARE`] of the resamples, it is within the tie tolerance of that
//!   resample's best arm (noise-aware top-1);
//! - a task is **separable** when its runner-up is tied with the best in fewer than
//!   [`TIED_SHARE`] of the resamples (its best arm is distinguishable at all);
//! - the **noise ceiling** is the oracle's own test–retest top-1: the best arm by
//!   half of each cell's repetitions (even ones), scored on the other half (odd ones);
//! - every selector's mean regret gets a measurement-noise interval (2.5–97.5 % of its
//!   value over the resamples).
//!
//! Only objectives stored per repetition (latency, TTFT) have this; for others the
//! report says so.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::metrics::{quantile, PerTask, TIE_TOLERANCE};
use super::tasks::TaskTable;

/// A pick within the tie tolerance of the best in at least this share of the
/// resamples counts as tied with the best.
pub const TIED_SHARE: f64 = 0.05;

/// Versions of the table's performance, one per resample of the stored repetitions.
pub struct Resampled {
    /// `[task][resample][arm]` performance (NaN: not run).
    perf: Vec<Vec<Vec<f64>>>,
    /// Whether task t has repetitions on at least two feasible arms.
    pub has_reps: Vec<bool>,
    pub count: usize,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Resampled {
    pub fn new(table: &TaskTable, count: usize, seed: u64) -> Resampled {
        let obj = table.objective;
        let mut perf = Vec::with_capacity(table.tasks.len());
        let mut has_reps = Vec::with_capacity(table.tasks.len());
        for (t, row) in table.outcomes.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let with_reps = row.iter().flatten().filter(|o| o.feasible && o.reps.len() >= 2).count();
            has_reps.push(with_reps >= 2);
            let versions = (0..count)
                .map(|_| {
                    row.iter()
                        .map(|o| match o {
                            None => f64::NAN,
                            Some(o) if o.feasible && o.reps.len() >= 2 => {
                                let mut draw: Vec<f64> =
                                    (0..o.reps.len()).map(|_| o.reps[rng.random_range(0..o.reps.len())]).collect();
                                obj.performance(median(&mut draw)).unwrap_or(o.perf)
                            }
                            Some(o) => o.perf,
                        })
                        .collect()
                })
                .collect();
            perf.push(versions);
        }
        Resampled { perf, has_reps, count }
    }

    fn best(&self, table: &TaskTable, t: usize, r: usize) -> f64 {
        (0..table.arms.len())
            .filter(|&a| table.feasible(t, a))
            .map(|a| self.perf[t][r][a])
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// Share of resamples in which arm `a` is within the tie tolerance of task `t`'s best.
    pub fn tied_share(&self, table: &TaskTable, t: usize, a: usize) -> f64 {
        if !table.feasible(t, a) {
            return 0.0;
        }
        let hits =
            (0..self.count).filter(|&r| self.perf[t][r][a] >= (1.0 - TIE_TOLERANCE) * self.best(table, t, r)).count();
        hits as f64 / self.count.max(1) as f64
    }

    /// Noise-aware top-1 of one selector's result on task `t`: its (tied) picks' chance
    /// of being statistically tied with the best; the plain top-1 where no repetitions exist.
    pub fn top1(&self, table: &TaskTable, t: usize, p: &PerTask) -> f64 {
        if !self.has_reps[t] {
            return p.top1;
        }
        let w = 1.0 / p.picks.len() as f64;
        p.picks.iter().map(|&a| w * f64::from(self.tied_share(table, t, a) >= TIED_SHARE)).sum()
    }

    /// The mean regret of `results`' picks (one per task of `tasks`) in each resample:
    /// its mean, 2.5 % and 97.5 % quantiles over the resamples.
    pub fn regret_interval(&self, table: &TaskTable, tasks: &[usize], results: &[PerTask]) -> (f64, f64, f64) {
        let means: Vec<f64> = (0..self.count)
            .map(|r| {
                let sum: f64 = tasks
                    .iter()
                    .zip(results)
                    .map(|(&t, p)| {
                        let best = self.best(table, t, r);
                        let w = 1.0 / p.picks.len() as f64;
                        p.picks.iter().map(|&a| w * (1.0 - self.perf[t][r][a] / best)).sum::<f64>()
                    })
                    .sum();
                sum / tasks.len().max(1) as f64
            })
            .collect();
        let mean = means.iter().sum::<f64>() / means.len().max(1) as f64;
        (mean, quantile(&means, 0.025), quantile(&means, 0.975))
    }
}

/// The noise summary of a set of tasks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NoiseSummary {
    /// Tasks with repetitions on at least two feasible arms.
    pub tasks_with_reps: usize,
    /// Of those, tasks whose best arm is separable from the runner-up.
    pub separable: usize,
    /// The oracle's split-half test–retest top-1 (NaN when no task has ≥ 2 repetitions per arm).
    pub ceiling_top1: f64,
    /// Tasks the ceiling was computed on.
    pub ceiling_tasks: usize,
    pub resamples: usize,
}

pub fn summary(table: &TaskTable, tasks: &[usize], rs: &Resampled) -> NoiseSummary {
    let obj = table.objective;
    let mut separable = 0;
    let mut with = 0;
    let (mut hits, mut n) = (0.0, 0);
    for &t in tasks {
        if !rs.has_reps[t] {
            continue;
        }
        with += 1;
        let oracle = table.oracle_arm(t);
        let runner_up = table
            .candidates(t)
            .into_iter()
            .filter(|&a| a != oracle && table.feasible(t, a))
            .max_by(|&a, &b| table.perf(t, a).unwrap_or(0.0).total_cmp(&table.perf(t, b).unwrap_or(0.0)));
        if runner_up.is_none_or(|r| rs.tied_share(table, t, r) < TIED_SHARE) {
            separable += 1;
        }
        // Split half: every feasible arm needs two repetitions.
        let feas: Vec<usize> = table.candidates(t).into_iter().filter(|&a| table.feasible(t, a)).collect();
        let halves: Option<Vec<(f64, f64)>> = feas
            .iter()
            .map(|&a| {
                let reps = &table.outcomes[t][a].as_ref()?.reps;
                if reps.len() < 2 {
                    return None;
                }
                let mut even: Vec<f64> = reps.iter().step_by(2).copied().collect();
                let mut odd: Vec<f64> = reps.iter().skip(1).step_by(2).copied().collect();
                Some((obj.performance(median(&mut even))?, obj.performance(median(&mut odd))?))
            })
            .collect();
        if let Some(h) = halves {
            let pick = (0..h.len()).max_by(|&i, &j| h[i].0.total_cmp(&h[j].0)).expect("feasible arms");
            let best_b = h.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
            hits += f64::from(h[pick].1 >= (1.0 - TIE_TOLERANCE) * best_b);
            n += 1;
        }
    }
    NoiseSummary {
        tasks_with_reps: with,
        separable,
        ceiling_top1: if n > 0 { hits / n as f64 } else { f64::NAN },
        ceiling_tasks: n,
        resamples: rs.count,
    }
}
