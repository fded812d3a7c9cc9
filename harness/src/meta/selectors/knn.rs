//! `knn`: the k most similar training tasks (Euclidean distance on standardised
//! meta-features) vote with their measured performance: each arm scores the
//! inverse-distance-weighted mean of its ln(perf/best) over the k nearest tasks
//! *that ran that arm* (tasks differ in which arms they ran: serving techniques only
//! run on serving workloads). k is tuned on inner folds of the training tasks.

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::embeddings::cosine;
use crate::meta::learn::{inner_regret, sq_dist};
use crate::meta::selector::{Fitted, Selector};

pub struct Knn;

/// Which representation distances are measured in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Space {
    /// Standardised numeric meta-features.
    Features,
    /// Text embeddings (1 − cosine); tasks without one fall back to features.
    Embedding,
}

/// A fitted kNN: the training rows themselves.
pub struct KnnModel {
    x: Vec<Vec<f64>>,
    emb: Vec<Option<Vec<f64>>>,
    y: Vec<Vec<Option<f64>>>,
    prior: Vec<f64>,
    k: usize,
    space: Space,
}

impl KnnModel {
    pub fn fit(train: &Training, k: usize, space: Space) -> KnnModel {
        KnnModel {
            x: train.x.clone(),
            emb: train.emb.clone(),
            y: train.y.clone(),
            prior: train.arm_means(),
            k: k.max(1),
            space,
        }
    }

    /// (training row, distance), nearest first.
    pub fn neighbours(&self, q: &Query) -> Vec<(usize, f64)> {
        let mut d: Vec<(usize, f64)> = (0..self.x.len())
            .map(|i| {
                let dist = match (self.space, &q.emb, &self.emb[i]) {
                    (Space::Embedding, Some(a), Some(b)) => (1.0 - cosine(a, b)).max(0.0),
                    _ => sq_dist(&q.x, &self.x[i]).sqrt(),
                };
                (i, dist)
            })
            .collect();
        d.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        d
    }

    fn predict(&self, q: &Query) -> Vec<f64> {
        let near = self.neighbours(q);
        q.candidates
            .iter()
            .map(|&a| {
                let (mut num, mut den) = (0.0, 0.0);
                for (y, d) in near.iter().filter_map(|&(i, d)| self.y[i][a].map(|y| (y, d))).take(self.k) {
                    let w = 1.0 / (d + 1e-6);
                    num += w * y;
                    den += w;
                }
                if den > 0.0 {
                    num / den
                } else {
                    self.prior[a]
                }
            })
            .collect()
    }
}

impl Fitted for KnnModel {
    fn scores(&self, q: &Query) -> Vec<f64> {
        self.predict(q)
    }
    fn predicted_targets(&self, q: &Query) -> Option<Vec<f64>> {
        Some(self.predict(q))
    }
}

/// The k among `ks` with the lowest inner-fold regret (smallest k on ties).
pub fn tune_k(train: &Training, ks: &[usize], space: Space) -> usize {
    let mut best = (f64::INFINITY, ks[0]);
    for &k in ks.iter().filter(|&&k| k < train.n().max(2)) {
        let r = inner_regret(train, 5, &|t: &Training| Ok(Box::new(KnnModel::fit(t, k, space)) as Box<dyn Fitted>));
        if r < best.0 - 1e-12 {
            best = (r, k);
        }
    }
    best.1
}

impl Selector for Knn {
    fn name(&self) -> &'static str {
        "knn"
    }
    fn describe(&self) -> &'static str {
        "k nearest training tasks in standardised feature space, inverse-distance vote; k tuned on inner folds"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        let k = tune_k(train, &[1, 2, 3, 5, 8], Space::Features);
        Ok(Box::new(KnnModel::fit(train, k, Space::Features)))
    }
}
