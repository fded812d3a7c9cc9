//! `knn`: the k most similar training tasks (Euclidean distance on standardised
//! meta-features) vote with their measured performance ([`KnnModel`]): each arm
//! scores the inverse-distance-weighted mean of its ln(perf/best) over the k nearest
//! tasks that ran it. k is tuned on inner folds of the training tasks.

use anyhow::Result;

use crate::meta::cv::Training;
use crate::meta::learn::knn::{tune_k, KnnModel, Space};
use crate::meta::selectors::{Fitted, Selector};

pub struct Knn;

impl Selector for Knn {
    fn source(&self) -> &'static str {
        file!()
    }
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
