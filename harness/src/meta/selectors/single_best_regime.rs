//! `single-best-regime`: the single-best arm per regime — the arm with the best mean
//! share of the task's best over the training tasks of the same regime (serving or
//! not, decode- or prefill-bound, the node's core count), or over all training tasks
//! when none shares the regime. What a per-situation lookup table of measured winners
//! gives without any model. Written after `selectors-frozen-2` (a baseline with no
//! parameter fitted to any result).

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::features::TaskFeatures;
use crate::meta::selectors::{Fitted, Selector, FROZEN_3};

pub struct SingleBestRegime;

/// A task's regime: serving or not, decode-bound (more output than prompt tokens) or
/// not, and the node's cores.
fn regime(f: &TaskFeatures) -> (bool, bool, u64) {
    (f.serving > 0.5, f.decode_share > 0.5, f.cores.to_bits())
}

struct Table {
    regimes: Vec<((bool, bool, u64), Vec<f64>)>,
    overall: Vec<f64>,
}

/// Mean share exp(target) per arm over the rows `idx` (arms never run: 0).
fn shares(train: &Training, idx: &[usize]) -> Vec<f64> {
    (0..train.arms.len())
        .map(|a| {
            let v: Vec<f64> = idx.iter().filter_map(|&t| train.y[t][a]).map(f64::exp).collect();
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        })
        .collect()
}

impl Selector for SingleBestRegime {
    fn source(&self) -> &'static str {
        file!()
    }
    fn family(&self) -> super::Family {
        super::Family::SingleBest
    }
    fn name(&self) -> &'static str {
        "single-best-regime"
    }
    fn describe(&self) -> &'static str {
        "the arm with the best mean on the training tasks of the same regime (serving, decode-bound, node cores)"
    }
    fn frozen(&self) -> &'static str {
        FROZEN_3
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        let mut keys: Vec<(bool, bool, u64)> = train.raw.iter().map(regime).collect();
        keys.sort_unstable();
        keys.dedup();
        let regimes = keys
            .into_iter()
            .map(|k| {
                let idx: Vec<usize> = (0..train.n()).filter(|&t| regime(&train.raw[t]) == k).collect();
                (k, shares(train, &idx))
            })
            .collect();
        let all: Vec<usize> = (0..train.n()).collect();
        Ok(Box::new(Table { regimes, overall: shares(train, &all) }))
    }
}

impl Fitted for Table {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let k = regime(&q.raw);
        let means = self.regimes.iter().find(|(r, _)| *r == k).map_or(&self.overall, |(_, m)| m);
        // Arms the regime's tasks never ran rank by the overall means, below every arm they ran.
        Ok(q.candidates.iter().map(|&a| if means[a] > 0.0 { 1.0 + means[a] } else { self.overall[a] }).collect())
    }
}
