//! A roofline-shaped time model per arm, and feasibility as its own target.
//!
//! **Time.** A request's time on a node is a non-negative combination of the work it
//! does, each term divided by the node's compute share (a CPU quota slows memory-bound
//! and compute-bound work alike): a fixed overhead, prefill compute (batch × prompt ×
//! parameters), decode weight streaming (output tokens × weight bytes under the arm's
//! format), decode compute (output × batch × parameters) and attention over the
//! context (output × batch × context × layers × hidden). The coefficients — the arm's
//! effective speeds — are fitted per arm by non-negative least squares on relative
//! error over the training tasks that ran it feasibly (exact over the 2^5 supports).
//! A new model, workload or node is then predicted from its sizes, not by similarity.
//!
//! **Feasibility.** An arm cannot run where it asks for more threads than the node
//! has cores, or where its weights take too large a share of the node's memory. The
//! share threshold is learned from the training tasks' feasible and infeasible pairs
//! (midway, in log space, between the largest feasible and the smallest infeasible
//! share); without infeasible examples it is [`DEFAULT_MEMORY_SHARE`]. Beyond these
//! rules, the arm's rate of running on the [`NEIGHBOURS`] training tasks nearest in
//! standardised features that ran it (Laplace-smoothed) is its chance to run (a
//! placement that fails for large models on a starved cluster fails for the next one
//! too): a selector maximising delivered performance scores ln(chance) + ln(predicted
//! performance).

use crate::meta::cv::Training;
use crate::meta::features::{arm_bits, weights_share_of_memory, Arm, TaskFeatures};
use crate::meta::objective::Objective;

/// Weight share of memory above which an arm is taken to fail, when training shows no failure.
pub const DEFAULT_MEMORY_SHARE: f64 = 0.5;
/// Training tasks whose run/fail outcome of an arm gives its chance to run.
pub const NEIGHBOURS: usize = 5;
/// Fewest feasible training tasks for an arm's own time model.
pub const MIN_TASKS: usize = 3;
/// Ridge penalty relative to the number of rows (stabilises nearly collinear terms).
const RIDGE: f64 = 1e-4;

/// The work terms of a request of the task on arm `arm`, divided by the node's share.
pub fn terms(f: &TaskFeatures, arm: &Arm, share: f64) -> Option<[f64; 5]> {
    let n = f.log2_params.exp2();
    // The (tied) embedding is looked up, not multiplied, except as the output head: once
    // per sequence in prefill, once per generated token in decode.
    let head = f.log2_vocab.exp2() * f.hidden;
    let layers = (n - head).max(n * 0.05);
    let (p, o, b) = (f.log2_prompt_tokens.exp2(), f.log2_output_tokens.exp2(), f.log2_batch.exp2());
    let bits = arm_bits(arm, f);
    let ctx = p + o / 2.0;
    let v = [
        1.0,
        b * (p * layers + head) / 1e9,
        o * n * bits / 8.0 / 1e6,
        o * b * n / 1e9,
        o * b * ctx * f.layers * f.hidden / 1e9,
    ];
    let share = if share.is_finite() && share > 0.0 { share } else { 1.0 };
    v.iter().all(|x| x.is_finite()).then(|| v.map(|x| x / share))
}

/// The objective's raw figure ↔ a request's time in ms (for throughput: batch × output
/// tokens per request time).
pub fn time_of(obj: Objective, f: &TaskFeatures, perf: f64) -> f64 {
    let raw = obj.raw_from_performance(perf);
    match obj {
        Objective::Throughput => f.log2_batch.exp2() * f.log2_output_tokens.exp2() / raw * 1e3,
        _ if obj.higher_is_better() => 1.0 / raw,
        _ => raw,
    }
}

pub fn perf_of(obj: Objective, f: &TaskFeatures, time_ms: f64) -> f64 {
    let raw = match obj {
        Objective::Throughput => f.log2_batch.exp2() * f.log2_output_tokens.exp2() / time_ms * 1e3,
        _ if obj.higher_is_better() => 1.0 / time_ms,
        _ => time_ms,
    };
    obj.performance(raw.max(1e-12)).unwrap_or(1e-12)
}

/// Non-negative least squares of `rows` · c ≈ 1 (rows already divided by the target),
/// by trying every support of the 5 terms (exact for so few).
pub fn nnls(rows: &[[f64; 5]]) -> Option<[f64; 5]> {
    let k = 5;
    let mut best: Option<([f64; 5], f64)> = None;
    for mask in 1u32..(1 << k) {
        let idx: Vec<usize> = (0..k).filter(|j| mask >> j & 1 == 1).collect();
        let m = idx.len();
        if m > rows.len() {
            continue;
        }
        let mut a = vec![vec![0.0; m]; m];
        let mut b = vec![0.0; m];
        for r in rows {
            for (i, &ji) in idx.iter().enumerate() {
                b[i] += r[ji];
                for (l, &jl) in idx.iter().enumerate() {
                    a[i][l] += r[ji] * r[jl];
                }
            }
        }
        for (i, row) in a.iter_mut().enumerate() {
            row[i] += RIDGE * rows.len() as f64 * row[i].max(1e-12);
        }
        let Some(x) = super::regress::solve(a, b) else { continue };
        if x.iter().any(|v| *v < 0.0 || !v.is_finite()) {
            continue;
        }
        let mut c = [0.0; 5];
        for (i, &j) in idx.iter().enumerate() {
            c[j] = x[i];
        }
        let loss: f64 = rows.iter().map(|r| (r.iter().zip(&c).map(|(x, c)| x * c).sum::<f64>() - 1.0).powi(2)).sum();
        if best.as_ref().is_none_or(|(_, l)| loss < *l) {
            best = Some((c, loss));
        }
    }
    best.map(|(c, _)| c)
}

/// Per-arm time models and the feasibility rule, fitted on a training set.
pub struct Physics {
    pub coef: Vec<Option<[f64; 5]>>,
    /// Per arm, the (standardised features, ran feasibly) of the training tasks that ran it.
    runs: Vec<Vec<(Vec<f64>, bool)>>,
    pub memory_share: f64,
    pub objective: Objective,
}

/// The node's compute share of a task (1 when the table has no such descriptor).
pub fn share(train: &Training, raw_extra: &[f64]) -> f64 {
    train.extra_value(raw_extra, "compute_share").filter(|s| s.is_finite() && *s > 0.0).unwrap_or(1.0)
}

impl Physics {
    pub fn fit(train: &Training) -> Physics {
        let obj = train.objective;
        let coef = (0..train.arms.len())
            .map(|a| {
                let rows: Vec<[f64; 5]> = (0..train.n())
                    .filter_map(|t| {
                        let y = train.y_ok[t][a]?;
                        let time = time_of(obj, &train.raw[t], (y + train.log_best[t]).exp());
                        let x = terms(&train.raw[t], &train.arms[a], share(train, &train.raw_extra[t]))?;
                        (time.is_finite() && time > 0.0).then(|| x.map(|v| v / time))
                    })
                    .collect();
                if rows.len() < MIN_TASKS {
                    return None;
                }
                nnls(&rows)
            })
            .collect();
        // Largest feasible and smallest infeasible weight share among pairs whose threads fit.
        let (mut ok_max, mut bad_min) = (0.0f64, f64::INFINITY);
        for t in 0..train.n() {
            for a in 0..train.arms.len() {
                let Some(feasible) = train.feasible[t][a] else { continue };
                if train.arms[a].threads as f64 > train.raw[t].cores {
                    continue;
                }
                let s = weights_share_of_memory(arm_bits(&train.arms[a], &train.raw[t]), &train.raw[t]);
                if !s.is_finite() {
                    continue;
                }
                if feasible {
                    ok_max = ok_max.max(s);
                } else {
                    bad_min = bad_min.min(s);
                }
            }
        }
        let memory_share = if bad_min.is_finite() && bad_min > ok_max {
            (ok_max.max(1e-6) * bad_min).sqrt()
        } else if bad_min.is_finite() {
            bad_min
        } else {
            DEFAULT_MEMORY_SHARE.max(ok_max * 1.05)
        };
        let runs = (0..train.arms.len())
            .map(|a| (0..train.n()).filter_map(|t| train.feasible[t][a].map(|f| (train.x[t].clone(), f))).collect())
            .collect();
        Physics { coef, runs, memory_share, objective: obj }
    }

    /// Predicted ln performance of arm `a`, when the arm has a time model.
    pub fn log_perf(&self, f: &TaskFeatures, arm: &Arm, a: usize, share: f64) -> Option<f64> {
        let c = self.coef[a]?;
        let x = terms(f, arm, share)?;
        let time: f64 = x.iter().zip(&c).map(|(x, c)| x * c).sum();
        (time > 0.0).then(|| perf_of(self.objective, f, time).ln())
    }

    /// ln of the chance that arm `a` runs on the task: ~0 where the rules say it cannot,
    /// else its training run rate.
    pub fn log_chance(&self, f: &TaskFeatures, x: &[f64], arm: &Arm, a: usize) -> f64 {
        if !self.feasible(f, arm) {
            return -50.0;
        }
        let mut near: Vec<(f64, bool)> =
            self.runs[a].iter().map(|(r, ok)| (super::regress::sq_dist(r, x), *ok)).collect();
        near.sort_by(|p, q| p.0.total_cmp(&q.0));
        near.truncate(NEIGHBOURS);
        let ok = near.iter().filter(|(_, ok)| *ok).count() as f64;
        ((ok + 1.0) / (near.len() as f64 + 2.0)).ln()
    }

    /// Whether arm `arm` is expected to run on the task at all.
    pub fn feasible(&self, f: &TaskFeatures, arm: &Arm) -> bool {
        if f.cores.is_finite() && arm.threads as f64 > f.cores {
            return false;
        }
        let s = weights_share_of_memory(arm_bits(arm, f), f);
        !(s.is_finite() && s > self.memory_share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nnls_recovers_non_negative_coefficients() {
        // time = 2 + 3 x1 (+ 0 x2): rows divided by time.
        let rows: Vec<[f64; 5]> = (1..8)
            .map(|i| {
                let x1 = i as f64;
                let x2 = (i * i) as f64 / 10.0;
                let t = 2.0 + 3.0 * x1;
                [1.0 / t, x1 / t, x2 / t, 0.0, 0.0]
            })
            .collect();
        let c = nnls(&rows).unwrap();
        assert!((c[0] - 2.0).abs() < 0.05 && (c[1] - 3.0).abs() < 0.05 && c[2] < 0.05, "{c:?}");
        assert!(c.iter().all(|v| *v >= 0.0));
    }
}
