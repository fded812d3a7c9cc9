//! A blend of members, each predicting every arm's ln(perf / best), with weights on a
//! simplex grid chosen for the regret of the pick on inner folds of the training tasks
//! (plus a small squared-error term), separately for plain and serving tasks and,
//! optionally, for tasks on a node no training task ran on. `ours` is such a blend.

use anyhow::Result;

use super::tune::regret_of;
use super::Fallbacks;
use crate::meta::cv::{Query, Training};
use crate::meta::features::TaskFeatures;
use crate::meta::selectors::Fitted;

/// Targets below this (a fifth of the task's best) are clipped: all equally wrong.
pub const FLOOR: f64 = -1.609_437_912_434_100_3;
/// Blend weights are multiples of 1/QUANTA.
const QUANTA: usize = 4;
/// Weight of the squared error against regret in the blend criterion.
const MSE_WEIGHT: f64 = 0.05;
/// Inner validation cases of one kind fewer than this fall back to the pooled weights.
const MIN_CASES: usize = 3;

/// Fits one member on a training set.
pub type Member = fn(&Training) -> Result<Box<dyn Fitted>>;

/// What to blend and how to choose the weights.
pub struct BlendSpec {
    /// The members by name, the prior first: it always fits, and stands in for a
    /// member that cannot be fitted on the full training set.
    pub members: Vec<(&'static str, Member)>,
    /// Inner folds the weights are chosen on ([`Training::inner_folds`]).
    pub folds: usize,
    /// The one-standard-error rule towards the prior; else the lowest inner loss.
    pub one_se: bool,
    /// Separate weights for a task on a node no training task ran on, chosen by holding
    /// out each training node in turn; with a single training node this member alone.
    pub unseen_node: Option<&'static str>,
}

/// A member's predicted targets (its scores when it predicts none).
fn targets(m: &dyn Fitted, q: &Query) -> Result<Vec<f64>> {
    match m.predicted_targets(q)? {
        Some(t) => Ok(t),
        None => m.scores(q),
    }
}

/// The fitted ensemble.
pub struct Blend {
    pub names: Vec<&'static str>,
    /// One weight per member for plain tasks, serving tasks and (with
    /// [`BlendSpec::unseen_node`]) tasks on a node no training task ran on.
    pub weights: Vec<Vec<f64>>,
    /// The nodes of the training tasks ([`node`]).
    seen_nodes: Vec<[u64; 3]>,
    fitted: Vec<Box<dyn Fitted>>,
    /// Members dropped or predicting zeros because they failed.
    fallbacks: Fallbacks,
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
            // A member that cannot answer predicts zeros (no preference), counted.
            let p = targets(m.as_ref(), q).unwrap_or_else(|_| {
                self.fallbacks.note();
                vec![0.0; q.candidates.len()]
            });
            out.iter_mut().zip(p).for_each(|(o, v)| *o += w * v);
        }
        out
    }
}

impl Fitted for Blend {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        Ok(self.predict(q))
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        Ok(Some(self.predict(q)))
    }
    fn fallbacks(&self) -> usize {
        self.fallbacks.count() + self.fitted.iter().map(|m| m.fallbacks()).sum::<usize>()
    }
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
fn kind(raw: &TaskFeatures) -> usize {
    usize::from(raw.serving > 0.5)
}

/// A node as the features describe it: cores, memory and price (bit patterns, for equality).
fn node(raw: &TaskFeatures) -> [u64; 3] {
    [raw.cores.to_bits(), raw.memory_gb.to_bits(), raw.price_per_hour.to_bits()]
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
pub fn fit_blend(train: &Training, spec: &BlendSpec) -> Result<Blend> {
    let members = &spec.members;
    let k = members.len();
    let fallbacks = Fallbacks::default();
    let cases = inner_cases(train, members, train.inner_folds(spec.folds), &fallbacks);
    let pooled = best_weights(k, &cases.iter().collect::<Vec<_>>(), spec.one_se);
    let per_kind = |kd: usize| {
        let own: Vec<&Case> = cases.iter().filter(|c| c.2 == kd).collect();
        if own.len() >= MIN_CASES {
            best_weights(k, &own, spec.one_se)
        } else {
            pooled.clone()
        }
    };
    let mut weights = vec![per_kind(0), per_kind(1)];
    let seen_nodes: Vec<[u64; 3]> = {
        let mut v: Vec<[u64; 3]> = train.raw.iter().map(node).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if let Some(decider) = spec.unseen_node {
        // A task on a node no training task ran on: weights chosen the same way the
        // question is asked, by holding out each training node in turn. With a single
        // training node there is no evidence about transfer: `decider` decides.
        let node_folds: Vec<(Vec<usize>, Vec<usize>)> =
            seen_nodes.iter().map(|n| (0..train.n()).partition(|&i| node(&train.raw[i]) == *n)).collect();
        let unseen = if node_folds.len() >= 2 {
            best_weights(k, &inner_cases(train, members, node_folds, &fallbacks).iter().collect::<Vec<_>>(), false)
        } else {
            let mut w = vec![0.0; k];
            w[members.iter().position(|(n, _)| *n == decider).expect("the decider is a member")] = 1.0;
            w
        };
        weights.push(unseen);
    }
    let mut fitted = Vec::with_capacity(k);
    let mut used = weights.clone();
    for (i, (_, f)) in members.iter().enumerate() {
        match (weights.iter().any(|w| w[i] > 0.0)).then(|| f(train)) {
            Some(Ok(m)) => fitted.push(m),
            // A member that cannot fit on the full set drops out (counted); the prior always fits.
            other => {
                if matches!(other, Some(Err(_))) {
                    fallbacks.note();
                }
                used.iter_mut().for_each(|w| w[i] = 0.0);
                fitted.push((members[0].1)(train)?);
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
    Ok(Blend { names: members.iter().map(|(n, _)| *n).collect(), weights: used, seen_nodes, fitted, fallbacks })
}

/// Every member's predictions for the validation tasks of each inner fold `(val, fit)`;
/// a member that cannot be fitted or answer there predicts zeros (counted).
fn inner_cases(
    train: &Training,
    members: &[(&'static str, Member)],
    folds: Vec<(Vec<usize>, Vec<usize>)>,
    fallbacks: &Fallbacks,
) -> Vec<Case> {
    let mut cases = Vec::new();
    for (val, fit_idx) in folds {
        if fit_idx.is_empty() {
            continue;
        }
        let inner = train.subset(&fit_idx);
        let fitted: Vec<Option<Box<dyn Fitted>>> = members.iter().map(|(_, f)| f(&inner).ok()).collect();
        fitted.iter().filter(|m| m.is_none()).for_each(|_| fallbacks.note());
        for &i in &val {
            let q = train.inner_query(i, &inner);
            let truth = q.truth.clone().unwrap_or_default();
            let preds = fitted
                .iter()
                .map(|m| match m.as_ref().map(|m| targets(m.as_ref(), &q)) {
                    Some(Ok(p)) => p,
                    Some(Err(_)) => {
                        fallbacks.note();
                        vec![0.0; q.candidates.len()]
                    }
                    None => vec![0.0; q.candidates.len()],
                })
                .collect();
            cases.push((preds, truth, kind(&train.raw[i])));
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::features::Arm;
    use crate::meta::learn::prior::ArmPrior;
    use crate::meta::objective::Objective;
    use crate::meta::tasks::{Task, TaskTable};
    use crate::techniques::TechniqueName;

    fn training(n: usize) -> Training {
        let arms: Vec<Arm> = (1..=3).map(|t| Arm::new(TechniqueName::parse("native").unwrap(), t)).collect();
        let tasks = (0..n)
            .map(|i| Task {
                id: format!("t{i}"),
                model: "m".into(),
                workload: format!("w{i}"),
                hardware: "h".into(),
                features: TaskFeatures { decode_share: i as f64, ..TaskFeatures::filled(1.0) },
                embedding: None,
                description: String::new(),
                ..Default::default()
            })
            .collect();
        let perf = (0..n).map(|i| (0..3).map(|a| Some(Some(1.0 + ((i + a) % 3) as f64))).collect()).collect();
        let table = TaskTable::from_performance(Objective::Throughput, arms, tasks, perf);
        Training::from_table(&table, &(0..n).collect::<Vec<_>>(), None)
    }

    fn prior(t: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(ArmPrior(t.arm_means())))
    }

    fn broken(_: &Training) -> Result<Box<dyn Fitted>> {
        anyhow::bail!("cannot fit")
    }

    #[test]
    fn a_member_that_cannot_fit_is_counted_and_the_prior_stands_in() {
        let train = training(6);
        let spec = BlendSpec {
            members: vec![("prior", prior), ("broken", broken)],
            folds: 6,
            one_se: false,
            unseen_node: None,
        };
        let blend = fit_blend(&train, &spec).unwrap();
        let q = train.query(&train.raw[0], None, vec![0, 1, 2]);
        assert_eq!(blend.scores(&q).unwrap(), prior(&train).unwrap().scores(&q).unwrap());
        assert!(blend.fallbacks() >= 6, "one per inner fold: {}", blend.fallbacks());
    }

    #[test]
    fn simplex_grid_covers_the_blends() {
        let s = simplex(3);
        assert_eq!(s.len(), 15);
        assert!(s.iter().all(|w| (w.iter().sum::<f64>() - 1.0).abs() < 1e-12));
        assert_eq!(s.last().unwrap().iter().filter(|w| **w == 1.0).count(), 1);
    }
}
