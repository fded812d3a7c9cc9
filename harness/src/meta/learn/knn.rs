//! Nearest training tasks: each arm scores the inverse-distance-weighted mean of its
//! ln(perf/best) over the k nearest training tasks *that ran that arm* (tasks differ
//! in which arms they ran: serving techniques only run on serving workloads).

use anyhow::Result;

use super::regress::sq_dist;
use super::tune::{inner_regret, lowest_regret};
use super::Fallbacks;
use crate::meta::cv::{Query, Training};
use crate::meta::embeddings::cosine;
use crate::meta::selectors::Fitted;

/// Which representation distances are measured in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Space {
    /// Standardised numeric meta-features.
    Features,
    /// Text embeddings (1 − cosine); tasks without one fall back to features (counted).
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
    fallbacks: Fallbacks,
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
            fallbacks: Fallbacks::default(),
        }
    }

    /// (training row, distance), nearest first.
    pub fn neighbours(&self, q: &Query) -> Vec<(usize, f64)> {
        let mut no_embedding = false;
        let mut d: Vec<(usize, f64)> = (0..self.x.len())
            .map(|i| {
                let dist = match (self.space, &q.emb, &self.emb[i]) {
                    (Space::Embedding, Some(a), Some(b)) => (1.0 - cosine(a, b)).max(0.0),
                    (space, _, _) => {
                        no_embedding |= space == Space::Embedding;
                        sq_dist(&q.x, &self.x[i]).sqrt()
                    }
                };
                (i, dist)
            })
            .collect();
        if no_embedding {
            self.fallbacks.note();
        }
        d.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        d
    }

    /// Arms no neighbour ran score their training mean (no evidence, by design).
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
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        Ok(self.predict(q))
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        Ok(Some(self.predict(q)))
    }
    fn fallbacks(&self) -> usize {
        self.fallbacks.count()
    }
}

/// The k among `ks` with the lowest inner-fold regret (smallest k on ties).
pub fn tune_k(train: &Training, ks: &[usize], space: Space) -> usize {
    let tried: Vec<usize> = ks.iter().copied().filter(|&k| k < train.n().max(2)).collect();
    lowest_regret(&tried, ks[0], |k| {
        inner_regret(train, 5, &|t: &Training| Ok(Box::new(KnnModel::fit(t, k, space)) as Box<dyn Fitted>))
    })
}
