//! A recommendation for one task from everything in the store.
//!
//! The selector is fitted on every stored task (except the task itself, when it was
//! run: the answer is then still a prediction, shown next to the measured best).
//! Confidence is the share of refits on bootstrap resamples of the stored tasks that
//! pick the same arm: a pick that hinges on one or two tasks shows up as unstable.

use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::cv::Training;
use super::features::TaskDescriptor;
use super::learn::regress::{sq_dist, KernelRidge};
use super::selectors::{argmax, Selector};
use super::tasks::TaskTable;

/// Refits behind the confidence.
pub const REFITS: usize = 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub task: String,
    /// Euclidean distance in standardised feature space.
    pub distance: f64,
    /// The measured best arm there.
    pub best: String,
    /// Regret the recommended arm had there, if it was run.
    pub pick_regret: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub task: String,
    pub arm: String,
    /// Predicted objective in its own unit (ms, tok/s, ...), when the selector predicts performance.
    pub predicted: Option<f64>,
    /// Arms by score, best first (at most 5), with predicted share of the task's best when known.
    pub ranking: Vec<(String, Option<f64>)>,
    pub nearest: Vec<Neighbour>,
    /// Share of bootstrap refits picking the same arm.
    pub confidence: f64,
    /// When the task is in the store: its measured best arm and the pick's measured regret.
    pub measured: Option<(String, f64)>,
    pub candidates: usize,
}

pub fn recommend(
    table: &TaskTable,
    selector: &dyn Selector,
    task: &TaskDescriptor,
    embedding: Option<Vec<f64>>,
    budget: Option<f64>,
    seed: u64,
) -> Result<Recommendation> {
    let id = format!("{} / {} / {}", task.model.name, task.workload_name, task.hardware.name);
    let stored = table.tasks.iter().position(|t| t.id == id);
    let train_idx: Vec<usize> = (0..table.tasks.len()).filter(|&t| Some(t) != stored).collect();
    if train_idx.is_empty() {
        bail!("the store has no other task to learn from; run a grid first, e.g. `harness run experiments/grid.yaml`");
    }
    let features = task.features();
    let serving = features.serving;
    let candidates: Vec<usize> = (0..table.arms.len())
        .filter(|&a| task.hardware.spec.runs_threads(table.arms[a].threads))
        .filter(|&a| {
            train_idx.iter().any(|&t| table.tasks[t].features.serving == serving && table.perf(t, a).is_some())
        })
        .collect();
    if candidates.is_empty() {
        let kind = if serving > 0.5 { "serving" } else { "plain (non-serving)" };
        bail!("the store has no {kind} tasks to learn from; run a grid with such workloads first");
    }
    let train = Training::from_table(table, &train_idx, budget);
    let model = selector.fit(&train)?;
    let q = train.query(&features, embedding.as_ref(), candidates.clone());
    let scores = model.scores(&q)?;
    let pick = candidates[argmax(&scores)];
    let targets = model.predicted_targets(&q)?;

    // The task's best performance, from its features (ridge on ln best over stored tasks).
    let scale = KernelRidge::fit(&train.x, &train.log_best, 1.0).predict(&q.x);
    let predicted = targets.as_ref().map(|t| table.objective.raw_from_performance((scale + t[argmax(&scores)]).exp()));
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let ranking = order
        .iter()
        .take(5)
        .map(|&i| (table.arms[candidates[i]].name(), targets.as_ref().map(|t| t[i].exp())))
        .collect();

    // Nearest among the stored tasks of the same kind (serving or plain): those share its arms.
    let mut nearest: Vec<Neighbour> = train_idx
        .iter()
        .zip(&train.x)
        .filter(|(&t, _)| table.tasks[t].features.serving == serving)
        .map(|(&t, x)| Neighbour {
            task: table.tasks[t].id.clone(),
            distance: sq_dist(x, &q.x).sqrt(),
            best: table.arms[table.oracle_arm(t)].name(),
            pick_regret: table.perf(t, pick).map(|p| 1.0 - p / table.best(t)),
        })
        .collect();
    nearest.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    nearest.truncate(3);

    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc0ff);
    let mut agree = 0;
    for _ in 0..REFITS {
        let sample: Vec<usize> =
            (0..train_idx.len()).map(|_| train_idx[rng.random_range(0..train_idx.len())]).collect();
        let boot = Training::from_table(table, &sample, budget);
        let Ok(m) = selector.fit(&boot) else { continue };
        let bq = boot.query(&features, embedding.as_ref(), candidates.clone());
        // A refit that cannot score disagrees, as one that cannot fit does.
        if m.scores(&bq).is_ok_and(|s| candidates[argmax(&s)] == pick) {
            agree += 1;
        }
    }
    let measured = stored.map(|t| {
        (table.arms[table.oracle_arm(t)].name(), table.perf(t, pick).map_or(f64::NAN, |p| 1.0 - p / table.best(t)))
    });
    Ok(Recommendation {
        task: id,
        arm: table.arms[pick].name(),
        predicted,
        ranking,
        nearest,
        confidence: agree as f64 / REFITS as f64,
        measured,
        candidates: candidates.len(),
    })
}
