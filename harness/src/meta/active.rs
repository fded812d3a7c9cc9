//! Active sweeps: which cell of a new task to measure next.
//!
//! A task's arms are measured one at a time. Before each measurement the selector,
//! fitted on the other tasks (an ensemble of [`ENSEMBLE`] fits on bootstrap resamples
//! of them), predicts every arm's ln performance; the task's own measurements so far
//! correct the prediction's level (the mean residual of the measured arms). The
//! **active** policy measures next the unmeasured arm with the highest upper bound
//! (prediction + [`KAPPA`] × the ensemble's spread): the arm least certain among
//! those that could still be best. The **random** policy measures in a seeded random
//! order. After each measurement the recommendation is the best measured arm, unless
//! an unmeasured arm is predicted better than it by more than the spread.
//! [`replay`] runs a policy on tasks whose cells are all stored already and scores the
//! recommendation at every step.

use anyhow::Result;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cv::Training;
use super::learn::level::Level;
use super::metrics::TIE_TOLERANCE;
use super::selectors::{Fitted, Selector};
use super::tasks::TaskTable;

/// Fits on bootstrap resamples of the prior tasks.
pub const ENSEMBLE: usize = 5;
/// Weight of the ensemble's spread in the upper bound.
pub const KAPPA: f64 = 1.0;
/// Measurements in a row without a change of recommendation that end a sweep.
pub const STABLE_STEPS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Active,
    Random,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Active => "active",
            Policy::Random => "random",
        }
    }
}

/// The predictions of an ensemble for one task: mean and spread of ln performance per candidate.
pub struct Belief {
    pub mean: Vec<f64>,
    pub spread: Vec<f64>,
}

/// Fits `sel` on `ENSEMBLE` bootstrap resamples of `prior` (task indices) and predicts
/// every candidate of task `t`.
pub fn belief(table: &TaskTable, prior: &[usize], t: usize, sel: &dyn Selector, seed: u64) -> Result<Belief> {
    belief_for(table, prior, sel, (seed ^ (t as u64) << 20, seed), &|train: &Training| train.query_for(table, t))
}

/// As [`belief`], for a query built from each fitted training set (a task not in the
/// table); `seeds` = (the bootstrap's seed, the learners' seed).
pub fn belief_for(
    table: &TaskTable,
    prior: &[usize],
    sel: &dyn Selector,
    seeds: (u64, u64),
    query: &dyn Fn(&Training) -> super::cv::Query,
) -> Result<Belief> {
    let mut rng = ChaCha8Rng::seed_from_u64(seeds.0);
    let mut preds: Vec<Vec<f64>> = vec![];
    let mut n = 0;
    for e in 0..ENSEMBLE {
        let sample: Vec<usize> = if e == 0 {
            prior.to_vec()
        } else {
            let mut s: Vec<usize> = (0..prior.len()).map(|_| prior[rng.random_range(0..prior.len())]).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        let train = Training::from_table_seeded(table, &sample, None, seeds.1.wrapping_add(e as u64));
        let level = Level::fit(&train);
        let model: Box<dyn Fitted> = sel.fit(&train)?;
        let q = query(&train);
        n = q.candidates.len();
        let p = match model.predicted_log_perf(&q)? {
            Some(p) => p,
            None => match model.predicted_targets(&q)? {
                Some(rel) => rel.iter().map(|r| r + level.predict(&q)).collect(),
                None => anyhow::bail!("selector `{}` does not predict performance; choose a learner", sel.name()),
            },
        };
        preds.push(p);
    }
    let k = preds.len() as f64;
    let mean: Vec<f64> = (0..n).map(|i| preds.iter().map(|p| p[i]).sum::<f64>() / k).collect();
    let spread = (0..n)
        .map(|i| (preds.iter().map(|p| (p[i] - mean[i]).powi(2)).sum::<f64>() / (k - 1.0).max(1.0)).sqrt())
        .collect();
    Ok(Belief { mean, spread })
}

/// One step of a sweep: after `measured` cells, the recommendation's top-1 and regret.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub measured: usize,
    pub top1: f64,
    pub regret: f64,
    pub recommendation: usize,
}

/// One decision of a sweep: given the belief and what is measured so far
/// (`measured[i]`: `None` not yet, `Some(None)` ran and is infeasible, `Some(Some(p))`
/// its performance), the recommended candidate and the one to measure next (`None`
/// when every candidate is measured). `order` is the random policy's order.
pub fn decide(b: &Belief, measured: &[Option<Option<f64>>], policy: Policy, order: &[usize]) -> (usize, Option<usize>) {
    let n = measured.len();
    // Level correction from the measured feasible arms.
    let resid: Vec<f64> = (0..n)
        .filter_map(|i| match measured[i] {
            Some(Some(p)) if b.mean[i].is_finite() => Some(p.ln() - b.mean[i]),
            _ => None,
        })
        .collect();
    let offset = if resid.is_empty() { 0.0 } else { resid.iter().sum::<f64>() / resid.len() as f64 };
    let value = |i: usize| -> f64 {
        match measured[i] {
            Some(Some(p)) => p.ln(),
            Some(None) => f64::NEG_INFINITY,
            None => b.mean[i] + offset,
        }
    };
    let is_measured = |i: usize| measured[i].is_some();
    let best_measured = (0..n).filter(|&i| is_measured(i)).max_by(|&x, &y| value(x).total_cmp(&value(y)));
    let best_predicted = (0..n)
        .filter(|&i| !is_measured(i))
        .max_by(|&x, &y| (value(x) - b.spread[x]).total_cmp(&(value(y) - b.spread[y])));
    let rec = match (best_measured, best_predicted) {
        (Some(bm), Some(bp)) if value(bp) - b.spread[bp] > value(bm) => bp,
        (Some(bm), _) if value(bm).is_finite() => bm,
        (_, Some(bp)) => bp,
        (Some(bm), None) => bm,
        (None, None) => 0,
    };
    let next = match policy {
        Policy::Random => order.iter().copied().find(|&i| !is_measured(i)),
        Policy::Active => (0..n)
            .filter(|&i| !is_measured(i))
            .max_by(|&x, &y| (value(x) + KAPPA * b.spread[x]).total_cmp(&(value(y) + KAPPA * b.spread[y]))),
    };
    (rec, next)
}

/// A sweep of task `t` under `policy`: the recommendation after 0, 1, ... every cell.
pub fn sweep(table: &TaskTable, t: usize, b: &Belief, policy: Policy, seed: u64) -> Vec<Step> {
    let cands = table.candidates(t);
    let n = cands.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xac71 ^ (t as u64) << 24);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut measured: Vec<Option<Option<f64>>> = vec![None; n];
    let best = table.best(t);
    let mut steps = vec![];
    for m in 0..=n {
        let (rec, next) = decide(b, &measured, policy, &order);
        let a = cands[rec];
        let p = if table.feasible(t, a) { table.perf(t, a).expect("run") } else { 0.0 };
        steps.push(Step {
            measured: m,
            top1: f64::from(table.feasible(t, a) && p >= (1.0 - TIE_TOLERANCE) * best),
            regret: 1.0 - p / best,
            recommendation: a,
        });
        let Some(next) = next else { break };
        let arm = cands[next];
        measured[next] = Some(table.feasible(t, arm).then(|| table.perf(t, arm).expect("run")));
    }
    steps
}

/// The step at which a sweep would stop: the recommendation unchanged over
/// [`STABLE_STEPS`] measurements in a row (or the last step).
pub fn stop_step(steps: &[Step]) -> usize {
    let mut run = 0;
    for i in 1..steps.len() {
        if steps[i].recommendation == steps[i - 1].recommendation && steps[i].measured > 0 {
            run += 1;
            if run >= STABLE_STEPS {
                return i;
            }
        } else {
            run = 0;
        }
    }
    steps.len() - 1
}

/// Replay results: per policy, the mean top-1 and regret at each share of cells measured.
pub struct Replay {
    pub shares: Vec<f64>,
    /// Policy → (mean top-1, mean regret) per share.
    pub curves: Vec<(Policy, Vec<(f64, f64)>)>,
    /// Policy → (mean share measured at the stopping rule, mean top-1 there, mean regret there).
    pub stopped: Vec<(Policy, (f64, f64, f64))>,
    pub tasks: usize,
}

impl Replay {
    /// The smallest share at which `policy` reaches `target` mean top-1.
    pub fn share_to_reach(&self, policy: Policy, target: f64) -> Option<f64> {
        let c = &self.curves.iter().find(|(p, _)| *p == policy)?.1;
        self.shares.iter().zip(c).find(|(_, (top1, _))| *top1 >= target - 1e-12).map(|(s, _)| *s)
    }
}

/// Replays both policies on `tasks` (each task's prior: every task not in `tasks`).
pub fn replay(table: &TaskTable, tasks: &[usize], sel: &dyn Selector, seed: u64) -> Result<Replay> {
    let prior: Vec<usize> = (0..table.tasks.len()).filter(|t| !tasks.contains(t)).collect();
    if prior.len() < 2 {
        anyhow::bail!("an active sweep needs at least two other tasks to learn from; the store has {}", prior.len());
    }
    let shares: Vec<f64> = (0..=20).map(|i| i as f64 / 20.0).collect();
    let mut curves = vec![];
    let mut stopped = vec![];
    let beliefs: Vec<Belief> = tasks.iter().map(|&t| belief(table, &prior, t, sel, seed)).collect::<Result<_>>()?;
    for policy in [Policy::Active, Policy::Random] {
        let sweeps: Vec<Vec<Step>> =
            tasks.iter().zip(&beliefs).map(|(&t, b)| sweep(table, t, b, policy, seed)).collect();
        let curve = shares
            .iter()
            .map(|s| {
                let at: Vec<&Step> = sweeps
                    .iter()
                    .map(|st| {
                        let n = st.len() - 1;
                        &st[((s * n as f64).ceil() as usize).min(n)]
                    })
                    .collect();
                let k = at.len() as f64;
                (at.iter().map(|x| x.top1).sum::<f64>() / k, at.iter().map(|x| x.regret).sum::<f64>() / k)
            })
            .collect();
        curves.push((policy, curve));
        let k = sweeps.len() as f64;
        let (mut sh, mut t1, mut rg) = (0.0, 0.0, 0.0);
        for st in &sweeps {
            let i = stop_step(st);
            sh += st[i].measured as f64 / (st.len() - 1).max(1) as f64;
            t1 += st[i].top1;
            rg += st[i].regret;
        }
        stopped.push((policy, (sh / k, t1 / k, rg / k)));
    }
    Ok(Replay { shares, curves, stopped, tasks: tasks.len() })
}
