//! `ours`: a ranking-aware ensemble over roofline features, its blend chosen on
//! inner folds.
//!
//! Members, each predicting every arm's ln(perf / best) for the task:
//! - `prior`: ln of the arm's mean share of the best over training tasks (ranks arms
//!   exactly as `single-best` does: the safe default the blend falls back to);
//! - `ridge`: per-arm ridge regression on the standardised model, workload and
//!   roofline features. Linear in the descriptors, so it is additive in "which model"
//!   and "which workload": a task whose model and workload were each seen in other
//!   combinations is predicted from both (the main source of its gain on real stores);
//! - `knn`: inverse-distance vote of the 3 nearest training tasks that ran each arm;
//! - `expert`: the written rules of `heuristic` as pseudo-targets — knowledge for
//!   regimes no training task shows (a shared prefix when none of them had one);
//! - `joint`, only from [`JOINT_MIN_TASKS`] training tasks on: **one** gradient-boosted
//!   tree model over (task features, arm features) pairs — bits per weight, weight
//!   bytes streamed per token under the arm, KV cache, threads per core, batching
//!   policy, the arm's identity — for interactions a linear model cannot express.
//!   Below that size it overfitted and cost ~0.8 s per task, so it is left out.
//!
//! Ranking-aware in two ways: targets are per-task normalised and truncated at
//! ln(0.2) (how bad a hopeless arm is does not change the pick, so no capacity is
//! spent on it), and the blend weights (a simplex grid in steps of ¼) are chosen for
//! the *regret of the pick* on inner folds of the training tasks (leave-one-out up
//! to [`LOO_MAX`] tasks), with a small squared-error term. Below [`JOINT_MIN_TASKS`]
//! training tasks, among blends whose inner loss is within one paired standard error
//! of the lowest, the one leaning most on the prior wins: a few noisy tasks do not
//! pull the pick away from the single-best unless the evidence is consistent. From
//! that size on the blend with the lowest inner loss wins: on the 53-task store of
//! 2026-11-25 the one-SE rule kept the blend near the prior and cost 2.9 points of
//! mean regret (7.6% against 4.7% under LOTO; found on that store, so that figure is
//! not a clean test: `ours-v1` keeps the old rule selectable for comparison). Serving and plain tasks get separate weights
//! (each from its own inner cases, pooled when fewer than three). Nothing outside
//! the fold's training tasks is read.
//!
//! Few members on purpose: a larger blend (a text-embedding kNN as well, the joint
//! trees at every size) chose its weights less reliably on ~20 tasks.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::features::{arm_features, idx};
use crate::meta::learn::{regret_of, Gbdt, KernelRidge, PerArm};
use crate::meta::selector::{Fitted, Selector};
use crate::meta::selectors::heuristic::Rules;
use crate::meta::selectors::knn::{KnnModel, Space};
use crate::meta::selectors::single_best::ArmPrior;

pub struct Ours;

/// Targets below this (a fifth of the task's best) are clipped: all equally wrong.
const FLOOR: f64 = -1.609_437_912_434_100_3;
/// Inner cross-validation is leave-one-task-out up to this many training tasks, else
/// [`INNER_FOLDS`] interleaved parts.
pub const LOO_MAX: usize = 24;
const INNER_FOLDS: usize = 5;
/// The joint tree member joins from this many training tasks on.
pub const JOINT_MIN_TASKS: usize = 30;
/// Blend weights are multiples of 1/QUANTA.
const QUANTA: usize = 4;
/// Weight of the squared error against regret in the blend criterion.
const MSE_WEIGHT: f64 = 0.05;

type Member = fn(&Training) -> Result<Box<dyn Fitted>>;

fn prior(t: &Training) -> Result<Box<dyn Fitted>> {
    // ln of the mean share of best: ranks arms exactly as the single-best does.
    Ok(Box::new(ArmPrior(t.arm_mean_shares().into_iter().map(|s| s.max(1e-9).ln().max(FLOOR)).collect())))
}

fn knn(t: &Training) -> Result<Box<dyn Fitted>> {
    Ok(Box::new(KnnModel::fit(t, 3, Space::Features)))
}

fn ridge(t: &Training) -> Result<Box<dyn Fitted>> {
    Ok(Box::new(PerArm::fit(t, |x, y, _| {
        let y: Vec<f64> = y.iter().map(|v| v.max(FLOOR)).collect();
        Ok(KernelRidge::fit(x, &y, 3.0))
    })?))
}

/// One tree ensemble over (task, arm) pairs.
struct Joint {
    model: Gbdt,
    arms: Vec<crate::meta::features::Arm>,
}

fn pair_row(arms: &[crate::meta::features::Arm], a: usize, x: &[f64], raw: &[f64]) -> Vec<f64> {
    let mut row = x.to_vec();
    row.extend(arm_features(&arms[a], raw));
    row.extend((0..arms.len()).map(|b| if a == b { 1.0 } else { 0.0 }));
    row
}

fn joint(t: &Training) -> Result<Box<dyn Fitted>> {
    let mut rows = Vec::new();
    let mut y = Vec::new();
    for i in 0..t.n() {
        for a in 0..t.arms.len() {
            if let Some(v) = t.y[i][a] {
                rows.push(pair_row(&t.arms, a, &t.x[i], &t.raw[i]));
                y.push(v.max(FLOOR));
            }
        }
    }
    anyhow::ensure!(!rows.is_empty(), "no training pairs");
    Ok(Box::new(Joint { model: Gbdt::fit(&rows, &y, 60, 3, 5)?, arms: t.arms.clone() }))
}

impl Fitted for Joint {
    fn scores(&self, q: &Query) -> Vec<f64> {
        let rows: Vec<Vec<f64>> = q.candidates.iter().map(|&a| pair_row(&self.arms, a, &q.x, &q.raw)).collect();
        self.model.predict(&rows).unwrap_or_else(|_| vec![0.0; rows.len()])
    }
    fn predicted_targets(&self, q: &Query) -> Option<Vec<f64>> {
        Some(self.scores(q))
    }
}

/// The expert rules as a member: their preference order turned into pseudo-targets
/// (the rules' first choice 0, each later rank a step lower), so the blend can lean on
/// written knowledge where the training tasks say nothing (a regime none of them shows,
/// such as a shared prompt prefix when no training task has one).
struct Expert(Rules);

/// Pseudo-target drop per rank of the rules' preference.
const EXPERT_STEP: f64 = 0.15;

fn expert(t: &Training) -> Result<Box<dyn Fitted>> {
    Ok(Box::new(Expert(Rules::new(&t.arms))))
}

impl Fitted for Expert {
    fn scores(&self, q: &Query) -> Vec<f64> {
        let s = self.0.scores(q);
        s.iter().map(|v| (-EXPERT_STEP * s.iter().filter(|o| *o > v).count() as f64).max(FLOOR)).collect()
    }
    fn predicted_targets(&self, q: &Query) -> Option<Vec<f64>> {
        Some(self.scores(q))
    }
}

/// How a version of `ours` chooses its blend weights (the members are the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 2026-11-24: always the one-standard-error rule towards the prior.
    V1,
    /// 2026-11-25: the one-standard-error rule below [`JOINT_MIN_TASKS`] training tasks,
    /// the blend with the lowest inner loss from there on.
    V2,
}

/// The members that apply to this training set, by name (the prior first).
fn members(t: &Training) -> Vec<(&'static str, Member)> {
    let mut m: Vec<(&'static str, Member)> = vec![("prior", prior), ("ridge", ridge), ("knn", knn), ("expert", expert)];
    if t.n() >= JOINT_MIN_TASKS {
        m.push(("joint", joint));
    }
    m
}

/// Every weight vector on the simplex grid, most even blends first (they win ties).
fn simplex(k: usize) -> Vec<Vec<f64>> {
    fn rec(k: usize, left: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if cur.len() == k - 1 {
            cur.push(left);
            out.push(cur.clone());
            cur.pop();
            return;
        }
        for q in 0..=left {
            cur.push(q);
            rec(k, left - q, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    rec(k, QUANTA, &mut Vec::new(), &mut out);
    out.sort_by_key(|w| (*w.iter().max().unwrap_or(&0), w.iter().rev().copied().collect::<Vec<_>>()));
    out.into_iter().map(|w| w.into_iter().map(|q| q as f64 / QUANTA as f64).collect()).collect()
}

/// Serving workloads (index 1) and plain generation (index 0) get their own blend
/// weights: which members generalise differs between the two regimes.
fn kind(raw: &[f64]) -> usize {
    usize::from(raw[idx("serving")] > 0.5)
}

/// Inner validation cases of one kind fewer than this fall back to the pooled weights.
const MIN_CASES: usize = 3;

/// The fitted ensemble.
pub struct Blend {
    pub names: Vec<&'static str>,
    /// One weight per member for plain tasks, serving tasks and (version 2) tasks on
    /// a node no training task ran on.
    pub weights: Vec<Vec<f64>>,
    /// The nodes of the training tasks ([`node`]).
    seen_nodes: Vec<[u64; 3]>,
    fitted: Vec<Box<dyn Fitted>>,
}

impl Blend {
    fn predict(&self, q: &Query) -> Vec<f64> {
        let mut out = vec![0.0; q.candidates.len()];
        let unseen_node = self.weights.len() > 2 && self.seen_nodes.binary_search(&node(&q.raw)).is_err();
        let weights = if unseen_node { &self.weights[2] } else { &self.weights[kind(&q.raw)] };
        for (w, m) in weights.iter().zip(&self.fitted) {
            if *w == 0.0 {
                continue;
            }
            let p = m.predicted_targets(q).unwrap_or_else(|| m.scores(q));
            out.iter_mut().zip(p).for_each(|(o, v)| *o += w * v);
        }
        out
    }
}

impl Fitted for Blend {
    fn scores(&self, q: &Query) -> Vec<f64> {
        self.predict(q)
    }
    fn predicted_targets(&self, q: &Query) -> Option<Vec<f64>> {
        Some(self.predict(q))
    }
}

/// One inner validation case: per member the predicted targets, the truth, the kind.
type Case = (Vec<Vec<f64>>, Vec<f64>, usize);

/// The blend weights for `cases`, by a paired one-standard-error rule: among the
/// simplex weights whose per-case losses exceed those of the lowest-mean blend by at
/// most one standard error of the paired differences, the one leaning most on the
/// prior (the most even first among equals). A few noisy tasks then do not pull the
/// blend away from the single-best unless the evidence is consistent. Prior alone
/// when there are no cases.
fn best_weights(k: usize, cases: &[&Case], one_se: bool) -> Vec<f64> {
    let mut only_prior = vec![0.0; k];
    only_prior[0] = 1.0;
    if cases.is_empty() {
        return only_prior;
    }
    let losses: Vec<(Vec<f64>, Vec<f64>)> = simplex(k)
        .into_iter()
        .map(|w| {
            let per_case = cases
                .iter()
                .map(|(preds, truth, _)| {
                    let blend: Vec<f64> =
                        (0..truth.len()).map(|c| (0..k).map(|m| w[m] * preds[m][c]).sum::<f64>()).collect();
                    let mse = blend.iter().zip(truth).map(|(p, t)| (p - t.max(FLOOR)).powi(2)).sum::<f64>()
                        / truth.len().max(1) as f64;
                    regret_of(&blend, truth) + MSE_WEIGHT * mse
                })
                .collect();
            (w, per_case)
        })
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let lowest = losses.iter().map(|(_, l)| l).min_by(|a, b| mean(a).total_cmp(&mean(b))).expect("simplex").clone();
    let n = lowest.len() as f64;
    let within_one_se = |l: &[f64]| {
        let d: Vec<f64> = l.iter().zip(&lowest).map(|(a, b)| a - b).collect();
        let md = mean(&d);
        let se = (d.iter().map(|x| (x - md).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt() / n.sqrt();
        md <= se + 1e-12
    };
    let mut chosen: Option<Vec<f64>> = None;
    for (w, l) in losses {
        if !one_se {
            // The first (most even) blend with the lowest inner loss.
            if chosen.is_none() && mean(&l) <= mean(&lowest) {
                chosen = Some(w);
            }
            continue;
        }
        if within_one_se(&l) && chosen.as_ref().is_none_or(|c| w[0] > c[0]) {
            chosen = Some(w);
        }
    }
    chosen.unwrap_or(only_prior)
}

/// Chooses blend weights on inner folds of `train`, then fits every used member on all of it.
pub fn fit_blend(train: &Training, version: Version) -> Result<Blend> {
    let members = members(train);
    let one_se = version == Version::V1 || train.n() < JOINT_MIN_TASKS;
    let k = members.len();
    let folds = if train.n() <= LOO_MAX { train.n() } else { INNER_FOLDS };
    let cases = inner_cases(train, &members, train.inner_folds(folds));
    let pooled = best_weights(k, &cases.iter().collect::<Vec<_>>(), one_se);
    let per_kind = |kd: usize| {
        let own: Vec<&Case> = cases.iter().filter(|c| c.2 == kd).collect();
        if own.len() >= MIN_CASES {
            best_weights(k, &own, one_se)
        } else {
            pooled.clone()
        }
    };
    let mut weights = vec![per_kind(0), per_kind(1)];
    let seen_nodes: Vec<[u64; 3]> = {
        let mut v: Vec<[u64; 3]> = train.raw.iter().map(|r| node(r)).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if version == Version::V2 {
        // A task on a node no training task ran on: weights chosen the same way the
        // question is asked, by holding out each training node in turn. With a single
        // training node there is no evidence about transfer: the written rules decide.
        let node_folds: Vec<(Vec<usize>, Vec<usize>)> =
            seen_nodes.iter().map(|n| (0..train.n()).partition(|&i| node(&train.raw[i]) == *n)).collect();
        let unseen = if node_folds.len() >= 2 {
            best_weights(k, &inner_cases(train, &members, node_folds).iter().collect::<Vec<_>>(), false)
        } else {
            let mut w = vec![0.0; k];
            w[members.iter().position(|(n, _)| *n == "expert").expect("expert is a member")] = 1.0;
            w
        };
        weights.push(unseen);
    }
    let mut fitted = Vec::with_capacity(k);
    let mut used = weights.clone();
    for (i, (_, f)) in members.iter().enumerate() {
        match (weights.iter().any(|w| w[i] > 0.0)).then(|| f(train)) {
            Some(Ok(m)) => fitted.push(m),
            // A member that cannot fit on the full set drops out; the prior always fits.
            _ => {
                used.iter_mut().for_each(|w| w[i] = 0.0);
                fitted.push(prior(train)?);
            }
        }
    }
    for w in &mut used {
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            *w = vec![0.0; k];
            w[0] = 1.0;
        } else {
            w.iter_mut().for_each(|x| *x /= total);
        }
    }
    Ok(Blend { names: members.iter().map(|(n, _)| *n).collect(), weights: used, seen_nodes, fitted })
}

/// A node as the features describe it: cores, memory and price (bit patterns, for equality).
fn node(raw: &[f64]) -> [u64; 3] {
    ["cores", "memory_gb", "price_per_hour"].map(|f| raw[idx(f)].to_bits())
}

/// Every member's predictions for the validation tasks of each inner fold `(val, fit)`.
fn inner_cases(
    train: &Training,
    members: &[(&'static str, Member)],
    folds: Vec<(Vec<usize>, Vec<usize>)>,
) -> Vec<Case> {
    let mut cases = Vec::new();
    for (val, fit_idx) in folds {
        if fit_idx.is_empty() {
            continue;
        }
        let inner = train.subset(&fit_idx);
        let fitted: Vec<Option<Box<dyn Fitted>>> = members.iter().map(|(_, f)| f(&inner).ok()).collect();
        for &i in &val {
            let q = train.inner_query(i, &inner);
            let truth = q.truth.clone().unwrap_or_default();
            let preds = fitted
                .iter()
                .map(|m| match m {
                    Some(m) => m.predicted_targets(&q).unwrap_or_else(|| m.scores(&q)),
                    None => vec![0.0; q.candidates.len()],
                })
                .collect();
            cases.push((preds, truth, kind(&train.raw[i])));
        }
    }
    cases
}

impl Selector for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn describe(&self) -> &'static str {
        "ranking-aware blend of arm prior, per-arm ridge on roofline features, kNN and the expert rules (+ a joint \
         task x arm GBDT from 30 tasks); weights for inner-fold regret per regime, 1-SE rule to the prior below 30 \
         training tasks"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(fit_blend(train, Version::V2)?))
    }
}

/// The first `ours` (2026-11-24), kept selectable so its figures can be checked on new
/// data: it was designed before the edge, wide and rag tasks were measured.
pub struct OursV1;

impl Selector for OursV1 {
    fn name(&self) -> &'static str {
        "ours-v1"
    }
    fn describe(&self) -> &'static str {
        "ours as of 2026-11-24: the same blend, 1-SE rule to the prior at every size"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(fit_blend(train, Version::V1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplex_grid_covers_the_blends() {
        let s = simplex(3);
        assert_eq!(s.len(), 15);
        assert!(s.iter().all(|w| (w.iter().sum::<f64>() - 1.0).abs() < 1e-12));
        assert_eq!(s.last().unwrap().iter().filter(|w| **w == 1.0).count(), 1);
    }
}
