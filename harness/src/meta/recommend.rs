//! A recommendation for one task from everything in the store, with the quality it keeps,
//! an interval whose coverage was measured, the chance the pick is within 5 % of the best,
//! and the machines its evidence came from.
//!
//! - **Candidates** are the arms that can run on the task's profile: threads the node has,
//!   techniques applicable to the workload, placements only on a cluster profile, weights
//!   that fit the node's memory, an engine this binary has, and some stored task of the same
//!   kind (serving or plain) that ran the arm. Under a quality floor (the default), an arm
//!   whose predicted quality ([`super::quality`]) misses it is no candidate.
//! - **The pick** is the selector's, fitted once on every stored task (except the task itself
//!   when it was run: the answer is then still a prediction, shown next to the measured best).
//! - **Calibration** ([`Calibration`]): the selector cross-validated on the store (5 folds over
//!   model × workload kinds, and one machine class out when there are two or more): the
//!   absolute ln errors of its predictions on held-out tasks give a split-conformal 90 %
//!   interval, and the (score margin, pick within 5 % of the best) pairs of its held-out picks
//!   give the probability for this pick's margin. It is fitted once per store content, selector
//!   and code, and cached under `results/cache/`, so an answer takes well under a second.
//! - **Abstention**: a task farther from every stored task than twice the 95th percentile of the
//!   stored tasks' own nearest-neighbour distances is outside what the store covers; the answer
//!   then says so and how to measure it instead of guessing.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cv::{folds, CvScheme, Query, Training};
use super::features::{weights_share_of_memory, TaskDescriptor};
use super::objective::AccuracyFloor;
use super::quality::{Quality, QualityTable};
use super::selectors::{argmax, Selector};
use super::tasks::TaskTable;

/// Level of the prediction interval.
pub const COVERAGE: f64 = 0.9;
/// A pick within this share of the best counts as right for the probability.
pub const WITHIN: f64 = 0.05;
/// Where calibrations are cached.
pub const CACHE_DIR: &str = "results/cache";

/// The sources whose code decides a calibration (hashed into its cache key).
const SOURCES: &[&str] = &[
    include_str!("recommend.rs"),
    include_str!("cv.rs"),
    include_str!("features.rs"),
    include_str!("machine.rs"),
    include_str!("tasks.rs"),
    include_str!("learn/regress.rs"),
    include_str!("selectors/gbdt_mach.rs"),
];

#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub task: String,
    /// The machine class it was measured on.
    pub machine: String,
    /// Euclidean distance in standardised feature space.
    pub distance: f64,
    /// The measured best arm there.
    pub best: String,
    /// Regret the recommended arm had there, if it was run.
    pub pick_regret: Option<f64>,
}

/// One candidate arm as the answer shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub arm: String,
    /// Predicted objective in its own unit, when the selector predicts performance.
    pub predicted: Option<f64>,
    pub quality: Quality,
    /// Why it is not a candidate (quality below the floor), when it is not.
    pub excluded: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub task: String,
    /// `None` when the recommendation abstains (see [`Recommendation::abstain`]).
    pub arm: Option<String>,
    pub quality: Option<Quality>,
    /// Predicted objective in its own unit (ms, tok/s, ...), when the selector predicts performance.
    pub predicted: Option<f64>,
    /// The calibrated [`COVERAGE`] interval around it, in the same unit.
    pub interval: Option<(f64, f64)>,
    /// How the interval was calibrated (scheme, held-out predictions).
    pub interval_basis: String,
    /// Calibrated probability that the pick is within [`WITHIN`] of the task's best, with the
    /// number of held-out picks it rests on.
    pub p_within: Option<(f64, usize)>,
    /// Candidates by score, best first (at most 5).
    pub ranking: Vec<Ranked>,
    /// Every arm with its predicted objective and quality (for `--pareto`).
    pub all: Vec<Ranked>,
    pub nearest: Vec<Neighbour>,
    /// When the task is in the store: its measured best arm and the pick's measured regret.
    pub measured: Option<(String, f64)>,
    pub candidates: usize,
    /// Arms left out because they cannot run on the profile, with one reason each (counted).
    pub not_runnable: Vec<(String, String)>,
    /// The machine classes the fit learned from, with their task counts.
    pub evidence_machines: Vec<(String, usize)>,
    /// Whether the task's machine class has measurements in the store.
    pub machine_measured: bool,
    /// Why the recommendation abstains (the task is outside what the store covers).
    pub abstain: Option<String>,
    /// The quality floor in force (`none` for none).
    pub floor: String,
}

/// What a selector's held-out errors on this store say about its answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub key: String,
    /// |ln(predicted / measured)| of every feasible arm of held-out tasks, 5 folds over kinds.
    pub kinds: Vec<f64>,
    /// The same with one machine class held out (empty with a single class).
    pub machines: Vec<f64>,
    /// (score margin of the pick over the runner-up, pick within [`WITHIN`] of the best).
    pub margins: Vec<(f64, bool)>,
    /// Each stored task's distance to its nearest other task (standardised features that vary).
    pub nn: Vec<f64>,
}

/// Columns of standardised rows that vary over them: distances are measured on these only (a
/// column constant over the store, such as one machine's memory, scales by 1 and would turn any
/// difference in its raw unit into a distance).
pub fn varying(rows: &[Vec<f64>]) -> Vec<usize> {
    let d = rows.first().map_or(0, Vec::len);
    (0..d).filter(|&j| rows.iter().any(|r| (r[j] - rows[0][j]).abs() > 1e-12)).collect()
}

/// Euclidean distance over the columns `cols`.
pub fn distance(a: &[f64], b: &[f64], cols: &[usize]) -> f64 {
    cols.iter().map(|&j| (a[j] - b[j]).powi(2)).sum::<f64>().sqrt()
}

/// The split-conformal quantile of `residuals` at [`COVERAGE`]: the ⌈(n+1)·c⌉-th smallest.
pub fn conformal_quantile(residuals: &[f64], coverage: f64) -> Option<f64> {
    let mut r: Vec<f64> = residuals.iter().copied().filter(|x| x.is_finite()).collect();
    if r.is_empty() {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let k = (((r.len() + 1) as f64) * coverage).ceil() as usize;
    Some(r[k.clamp(1, r.len()) - 1])
}

impl Calibration {
    /// The cache key of a calibration: the table's content, the selector, the budget, the seed
    /// and the code that computes it.
    pub fn key(table: &TaskTable, selector: &str, budget: Option<f64>, seed: u64) -> String {
        let mut h = Sha256::new();
        for s in SOURCES {
            h.update(s.as_bytes());
        }
        h.update(format!("{selector}|{budget:?}|{seed}|{}|{:?}", table.objective, table.extra_names).as_bytes());
        for a in &table.arms {
            h.update(a.name().as_bytes());
        }
        for (task, row) in table.tasks.iter().zip(&table.outcomes) {
            h.update(task.id.as_bytes());
            h.update(format!("{:?}{:?}", task.features.to_vec(), task.extra).as_bytes());
            for o in row {
                h.update(format!("{:?}", o.as_ref().map(|o| (o.perf, o.feasible))).as_bytes());
            }
        }
        hex::encode(&h.finalize()[..12])
    }

    /// The cached calibration for `key` in `dir`, if any.
    pub fn cached(dir: &Path, key: &str) -> Option<Calibration> {
        let text = std::fs::read_to_string(dir.join(format!("recommend-{key}.json"))).ok()?;
        serde_json::from_str::<Calibration>(&text).ok().filter(|c| c.key == key)
    }

    /// Writes it into `dir`; the path, or why not.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("recommend-{}.json", self.key));
        std::fs::write(&path, serde_json::to_string(self)? + "\n")?;
        Ok(path)
    }

    /// Cross-validates `selector` on `table` (see the module documentation).
    pub fn compute(table: &TaskTable, selector: &dyn Selector, budget: Option<f64>, seed: u64) -> Result<Calibration> {
        let key = Calibration::key(table, selector.name(), budget, seed);
        let (kinds, margins) = held_out(table, selector, CvScheme::Kfold(5), budget, seed)?;
        let classes: std::collections::BTreeSet<&str> = table.tasks.iter().map(|t| t.machine.as_str()).collect();
        let machines =
            if classes.len() >= 2 { held_out(table, selector, CvScheme::Lomach, budget, seed)?.0 } else { vec![] };
        let all: Vec<usize> = (0..table.tasks.len()).collect();
        let train = Training::from_table(table, &all, budget);
        let cols = varying(&train.x);
        let nn = (0..train.n())
            .map(|i| {
                (0..train.n())
                    .filter(|&j| j != i)
                    .map(|j| distance(&train.x[i], &train.x[j], &cols))
                    .fold(f64::INFINITY, f64::min)
            })
            .filter(|d| d.is_finite())
            .collect();
        Ok(Calibration { key, kinds, machines, margins, nn })
    }

    /// The distance beyond which a task is outside what the store covers.
    pub fn coverage_radius(&self) -> Option<f64> {
        let mut d = self.nn.clone();
        if d.len() < 3 {
            return None;
        }
        d.sort_by(f64::total_cmp);
        let p95 = d[((d.len() as f64 * 0.95).ceil() as usize).clamp(1, d.len()) - 1];
        Some(2.0 * p95.max(1e-6))
    }

    /// The calibrated chance that a pick with score margin `m` is within [`WITHIN`] of the
    /// best: the hit rate of the held-out picks with the nearest margins (a fifth of them,
    /// at least 10).
    pub fn p_within(&self, m: f64) -> Option<(f64, usize)> {
        if self.margins.is_empty() {
            return None;
        }
        let mut by: Vec<&(f64, bool)> = self.margins.iter().collect();
        by.sort_by(|a, b| (a.0 - m).abs().total_cmp(&(b.0 - m).abs()));
        let k = (self.margins.len() / 5).max(10).min(self.margins.len());
        let hits = by[..k].iter().filter(|(_, h)| *h).count();
        Some((hits as f64 / k as f64, k))
    }
}

/// The held-out residuals and (margin, hit) pairs of `selector` under `scheme`.
type HeldOut = (Vec<f64>, Vec<(f64, bool)>);

fn held_out(
    table: &TaskTable,
    selector: &dyn Selector,
    scheme: CvScheme,
    budget: Option<f64>,
    seed: u64,
) -> Result<HeldOut> {
    use rayon::prelude::*;
    let fs = folds(table, scheme, seed)?;
    let parts: Vec<Result<HeldOut>> = fs
        .par_iter()
        .map(|f| {
            let train = Training::from_table(table, &f.train, budget);
            let model = selector.fit(&train)?;
            let level = super::learn::level::Level::fit(&train);
            let (mut res, mut margins) = (vec![], vec![]);
            for &t in &f.test {
                let q = train.query_for(table, t);
                let scores = model.scores(&q)?;
                let pick = argmax(&scores);
                let mut sorted = scores.clone();
                sorted.sort_by(|a, b| b.total_cmp(a));
                let margin = if sorted.len() > 1 { sorted[0] - sorted[1] } else { f64::INFINITY };
                let best = table.best(t);
                let hit = table.feasible(t, q.candidates[pick])
                    && table.perf(t, q.candidates[pick]).is_some_and(|p| p >= (1.0 - WITHIN) * best);
                margins.push((margin.min(1e6), hit));
                if let Some(pred) = log_perf(model.as_ref(), &q, &level)? {
                    for (i, &a) in q.candidates.iter().enumerate() {
                        if let Some(o) = table.outcomes[t][a].as_ref().filter(|o| o.feasible && o.perf > 0.0) {
                            res.push((pred[i] - o.perf.ln()).abs());
                        }
                    }
                }
            }
            Ok((res, margins))
        })
        .collect();
    let (mut res, mut margins) = (vec![], vec![]);
    for p in parts {
        let (r, m) = p?;
        res.extend(r);
        margins.extend(m);
    }
    Ok((res, margins))
}

/// Predicted ln(performance) per candidate: the selector's own, or its relative
/// predictions on the shared level model.
fn log_perf(
    model: &dyn super::selectors::Fitted,
    q: &Query,
    level: &super::learn::level::Level,
) -> Result<Option<Vec<f64>>> {
    Ok(match model.predicted_log_perf(q)? {
        Some(v) => Some(v),
        None => model.predicted_targets(q)?.map(|rel| rel.iter().map(|r| r + level.predict(q)).collect()),
    })
}

/// Why arm `a` cannot run for `task` on its profile, from the technique's descriptors and
/// the profile; `None` when it can.
pub fn not_runnable(table: &TaskTable, a: usize, task: &TaskDescriptor) -> Option<String> {
    let arm = &table.arms[a];
    let spec = &task.hardware.spec;
    if !spec.runs_threads(arm.threads) {
        return Some(format!("{} threads: the node has fewer cores", arm.threads));
    }
    let serving = task.workload.serving.is_some();
    if let Some(why) = arm.technique.not_applicable(serving) {
        return Some(why);
    }
    let plan = arm.technique.plan();
    if plan.placement.is_some() && spec.cluster.is_none() {
        return Some("a placement across nodes: the profile is a single node".into());
    }
    if crate::engines::by_name(&arm.engine).is_none() {
        return Some(format!("engine `{}` is not built into this binary", arm.engine));
    }
    let raw = task.features();
    let share = weights_share_of_memory(plan.bits_per_weight(raw.native_bits_per_weight), &raw);
    if share.is_finite() && share >= 1.0 {
        return Some(format!("its weights need {:.1}x the node's memory", share));
    }
    None
}

/// Everything a recommendation is made from.
pub struct Inputs<'a> {
    pub table: &'a TaskTable,
    pub selector: &'a dyn Selector,
    pub task: &'a TaskDescriptor,
    /// The task's extras (node share, machine features), named as the table's.
    pub extra: Vec<f64>,
    /// The task's machine class tag.
    pub machine: String,
    pub embedding: Option<Vec<f64>>,
    pub budget: Option<f64>,
    pub floor: &'a [AccuracyFloor],
    pub quality: &'a QualityTable,
    pub calibration: &'a Calibration,
    pub seed: u64,
}

pub fn recommend(i: &Inputs) -> Result<Recommendation> {
    let (table, task) = (i.table, i.task);
    let id = format!("{} / {} / {}", task.model.name, task.workload_name, task.hardware.name);
    // The same task measured on this machine class (ids carry the class when a store holds several).
    let wl = &task.workload_name;
    let stored = table.tasks.iter().position(|t| {
        t.model == task.model.name
            && t.hardware == task.hardware.name
            && t.machine == i.machine
            && (t.workload == *wl || t.workload.starts_with(&format!("{wl}@")))
    });
    let train_idx: Vec<usize> = (0..table.tasks.len()).filter(|&t| Some(t) != stored).collect();
    if train_idx.is_empty() {
        bail!("the store has no other task to learn from; run a grid first, e.g. `harness run experiments/grid.yaml`");
    }
    let features = task.features();
    let serving = features.serving;
    let mut not_runnable_arms = vec![];
    let runnable: Vec<usize> = (0..table.arms.len())
        .filter(|&a| {
            train_idx.iter().any(|&t| table.tasks[t].features.serving == serving && table.perf(t, a).is_some())
        })
        .filter(|&a| match not_runnable(table, a, task) {
            None => true,
            Some(why) => {
                not_runnable_arms.push((table.arms[a].name(), why));
                false
            }
        })
        .collect();
    if runnable.is_empty() {
        let kind = if serving > 0.5 { "serving" } else { "plain (non-serving)" };
        bail!("the store has no {kind} tasks with an arm that can run on `{}`", task.hardware.name);
    }
    let train = Training::from_table(table, &train_idx, i.budget);
    let model = i.selector.fit(&train)?;
    let level = super::learn::level::Level::fit(&train);
    let q = train.query_with(&features, i.embedding.as_ref(), &i.extra, runnable.clone());
    let scores = model.scores(&q)?;
    let pred = log_perf(model.as_ref(), &q, &level)?;
    let objective = table.objective;
    let all: Vec<Ranked> = runnable
        .iter()
        .enumerate()
        .map(|(k, &a)| {
            let quality = i.quality.predict(&task.model.name, &table.arms[a].technique);
            let excluded = quality.violation(i.floor);
            Ranked {
                arm: table.arms[a].name(),
                predicted: pred.as_ref().map(|p| objective.raw_from_performance(p[k].exp())),
                quality,
                excluded,
            }
        })
        .collect();
    let keep: Vec<usize> = (0..runnable.len()).filter(|&k| all[k].excluded.is_none()).collect();
    let mut order: Vec<usize> = keep.clone();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let ranking: Vec<Ranked> = order.iter().take(5).map(|&k| all[k].clone()).collect();
    let machine_measured = table.tasks.iter().any(|t| t.machine == i.machine);
    let mut evidence: std::collections::BTreeMap<String, usize> = Default::default();
    for &t in &train_idx {
        *evidence.entry(table.tasks[t].machine.clone()).or_default() += 1;
    }

    let cols = varying(&train.x);
    let mut nearest: Vec<Neighbour> = train_idx
        .iter()
        .zip(&train.x)
        .filter(|(&t, _)| table.tasks[t].features.serving == serving)
        .map(|(&t, x)| Neighbour {
            task: table.tasks[t].id.clone(),
            machine: table.tasks[t].machine.clone(),
            distance: distance(x, &q.x, &cols),
            best: table.arms[table.oracle_arm(t)].name(),
            pick_regret: None,
        })
        .collect();
    nearest.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    nearest.truncate(3);
    let distance = nearest.first().map_or(f64::INFINITY, |n| n.distance);
    let abstain = match i.calibration.coverage_radius() {
        Some(r) if distance > r => Some(format!(
            "the task is {distance:.1} from the nearest stored task, beyond what the store covers (twice the 95th \
             percentile of stored tasks' nearest-neighbour distance: {r:.1}); a prediction here would be a guess"
        )),
        _ if keep.is_empty() => Some(format!(
            "no arm that runs here is predicted to keep quality within the floor {} ({} left out for quality); \
             measure them, or relax the floor with --accuracy-floor",
            floor_label(i.floor),
            runnable.len()
        )),
        _ => None,
    };
    let (pick, pick_k) = match order.first() {
        Some(&k) if abstain.is_none() => (Some(runnable[k]), Some(k)),
        _ => (None, None),
    };
    if let Some(p) = pick {
        for n in &mut nearest {
            let t = table.tasks.iter().position(|x| x.id == n.task).expect("a stored task");
            n.pick_regret = table.perf(t, p).map(|v| 1.0 - v / table.best(t));
        }
    }
    let pool = if machine_measured || i.calibration.machines.is_empty() {
        (&i.calibration.kinds, "5 folds over model x workload kinds")
    } else {
        (&i.calibration.machines, "one machine class held out")
    };
    let q90 = conformal_quantile(pool.0, COVERAGE);
    let predicted = pick_k.and_then(|k| all[k].predicted);
    let interval = match (predicted, q90) {
        (Some(p), Some(r)) => Some((p * (-r).exp(), p * r.exp())),
        _ => None,
    };
    let margin = pick_k.map(|k| {
        let runner = keep.iter().filter(|&&j| j != k).map(|&j| scores[j]).fold(f64::NEG_INFINITY, f64::max);
        if runner.is_finite() {
            scores[k] - runner
        } else {
            1e6
        }
    });
    let measured = match (stored, pick) {
        (Some(t), Some(p)) => Some((
            table.arms[table.oracle_arm(t)].name(),
            table.perf(t, p).map_or(f64::NAN, |v| 1.0 - v / table.best(t)),
        )),
        _ => None,
    };
    Ok(Recommendation {
        task: id,
        arm: pick.map(|p| table.arms[p].name()),
        quality: pick_k.map(|k| all[k].quality.clone()),
        predicted,
        interval,
        interval_basis: format!("split-conformal over {} held-out predictions ({})", pool.0.len(), pool.1),
        p_within: margin.and_then(|m| i.calibration.p_within(m)),
        ranking,
        all,
        nearest,
        measured,
        candidates: keep.len(),
        not_runnable: not_runnable_arms,
        evidence_machines: evidence.into_iter().collect(),
        machine_measured,
        abstain,
        floor: floor_label(i.floor),
    })
}

fn floor_label(floor: &[AccuracyFloor]) -> String {
    super::objective::AccuracyFloors(floor.to_vec()).label()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conformal_quantile_is_the_rank_the_coverage_needs() {
        let r: Vec<f64> = (1..=9).map(f64::from).collect();
        // ceil(10 * 0.9) = 9th smallest.
        assert_eq!(conformal_quantile(&r, 0.9), Some(9.0));
        assert_eq!(conformal_quantile(&r, 0.5), Some(5.0));
        assert_eq!(conformal_quantile(&[], 0.9), None);
    }

    #[test]
    fn the_probability_reads_the_picks_with_the_nearest_margins() {
        let mut margins: Vec<(f64, bool)> = (0..20).map(|i| (i as f64 / 100.0, false)).collect();
        margins.extend((0..20).map(|i| (1.0 + i as f64 / 100.0, true)));
        let c = Calibration { key: String::new(), kinds: vec![], machines: vec![], margins, nn: vec![1.0; 10] };
        assert_eq!(c.p_within(0.05), Some((0.0, 10)));
        assert_eq!(c.p_within(1.1), Some((1.0, 10)));
        assert_eq!(c.coverage_radius(), Some(2.0));
    }
}
