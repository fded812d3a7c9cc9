//! The task's overall level: ln of its best performance, predicted from its
//! standardised features by ridge regression over the training tasks. Selectors that
//! predict only the relative performance of arms (ln(perf / best)) become absolute
//! predictions with it, so every predicting selector's error can be reported in the
//! objective's own unit (the same level model `harness recommend` prints with).

use super::regress::KernelRidge;
use crate::meta::cv::{Query, Training};

pub struct Level(KernelRidge);

impl Level {
    pub fn fit(train: &Training) -> Level {
        Level(KernelRidge::fit(&train.x, &train.log_best, 1.0))
    }

    /// Predicted ln(best performance) of the query's task.
    pub fn predict(&self, q: &Query) -> f64 {
        self.0.predict(&q.x)
    }
}
