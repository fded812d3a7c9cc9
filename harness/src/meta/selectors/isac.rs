//! `isac` (Kadioglu et al., 2010): cluster the training tasks by their
//! standardised meta-features with k-means (smartcore), give each cluster the arm
//! that is best on average over its members, and send a new task to the nearest
//! cluster centre. The number of clusters is tuned on inner folds (ISAC's g-means
//! picks it from the data; a few dozen tasks leave too little for that test).

use anyhow::{anyhow, Result};
use smartcore::cluster::kmeans::{KMeans, KMeansParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::meta::cv::{Query, Training};
use crate::meta::learn::regress::{matrix, sq_dist};
use crate::meta::learn::tune::{inner_regret, lowest_regret};
use crate::meta::selectors::{Fitted, Selector};

pub struct Isac;

struct Clusters {
    centres: Vec<Vec<f64>>,
    /// Per cluster, per arm: mean target of its members (training mean where none ran it).
    means: Vec<Vec<f64>>,
}

fn fit_clusters(train: &Training, k: usize) -> Result<Clusters> {
    let distinct = {
        let mut rows: Vec<String> = train.x.iter().map(|r| format!("{r:?}")).collect();
        rows.sort();
        rows.dedup();
        rows.len()
    };
    let k = k.min(distinct);
    let prior = train.arm_means();
    if k < 2 {
        let centre = vec![0.0; train.x.first().map_or(0, Vec::len)];
        return Ok(Clusters { centres: vec![centre], means: vec![prior] });
    }
    let x = matrix(&train.x)?;
    let params = KMeansParameters { k, max_iter: 100, seed: Some(train.seed_for(7)) };
    let km: KMeans<f64, usize, DenseMatrix<f64>, Vec<usize>> =
        KMeans::fit(&x, params).map_err(|e| anyhow!("k-means: {e}"))?;
    let labels = km.predict(&x).map_err(|e| anyhow!("k-means: {e}"))?;
    let d = train.x[0].len();
    let mut centres = vec![vec![0.0; d]; k];
    let mut sizes = vec![0usize; k];
    for (row, &c) in train.x.iter().zip(&labels) {
        sizes[c] += 1;
        centres[c].iter_mut().zip(row).for_each(|(s, v)| *s += v);
    }
    let mut means = vec![prior.clone(); k];
    for c in 0..k {
        if sizes[c] == 0 {
            centres[c] = vec![f64::INFINITY; d];
            continue;
        }
        centres[c].iter_mut().for_each(|s| *s /= sizes[c] as f64);
        for (a, m) in means[c].iter_mut().enumerate() {
            let v: Vec<f64> = labels.iter().zip(&train.y).filter(|(l, _)| **l == c).filter_map(|(_, y)| y[a]).collect();
            if !v.is_empty() {
                *m = v.iter().sum::<f64>() / v.len() as f64;
            }
        }
    }
    Ok(Clusters { centres, means })
}

impl Fitted for Clusters {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let c = (0..self.centres.len())
            .min_by(|&a, &b| sq_dist(&q.x, &self.centres[a]).total_cmp(&sq_dist(&q.x, &self.centres[b])))
            .unwrap_or(0);
        Ok(q.candidates.iter().map(|&a| self.means[c][a]).collect())
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        self.scores(q).map(Some)
    }
}

impl Selector for Isac {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "isac"
    }
    fn seeded(&self) -> bool {
        true
    }
    fn describe(&self) -> &'static str {
        "k-means clusters of tasks (smartcore), each cluster's best-on-average arm; k tuned on inner folds"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        let ks: Vec<usize> = [2, 3, 4, 6].into_iter().filter(|&k| k < train.n()).collect();
        let k = lowest_regret(&ks, 2, |k| {
            inner_regret(train, 5, &|t: &Training| Ok(Box::new(fit_clusters(t, k)?) as Box<dyn Fitted>))
        });
        Ok(Box::new(fit_clusters(train, k)?))
    }
}
