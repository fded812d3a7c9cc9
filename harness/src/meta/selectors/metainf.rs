//! `metainf`, after MetaInf (COLM 2025): describe the task in words, embed the
//! description with a language model (here all-MiniLM-L6-v2), predict each arm's
//! performance from the embedding, and pick the best arm within budget.
//!
//! Performance predictor: one kernel ridge regression per arm on the embedding
//! (linear kernel = cosine similarity, as embeddings are unit length), target
//! ln(perf / best), penalty tuned on inner folds. With `--budget`, a second ridge
//! per arm predicts ln(cost per 1k tokens) and arms predicted over budget rank
//! below every arm predicted within it. Without the embedding model the standardised
//! numeric features stand in for the embedding (the evaluation warns, and counts
//! every task so answered as a fallback).

use anyhow::Result;

use crate::meta::cv::{Query, Training};
use crate::meta::learn::regress::KernelRidge;
use crate::meta::learn::tune::{inner_regret, lowest_regret};
use crate::meta::learn::Fallbacks;
use crate::meta::selectors::{Fitted, Selector};

pub struct MetaInf;

/// Added to (subtracted from) the score of an arm predicted over budget.
const OVER_BUDGET: f64 = 100.0;

struct Model {
    perf: Vec<Option<KernelRidge>>,
    cost: Vec<Option<KernelRidge>>,
    prior: Vec<f64>,
    budget: Option<f64>,
    use_embedding: bool,
    fallbacks: Fallbacks,
}

fn representation(use_embedding: bool, x: &[f64], emb: Option<&Vec<f64>>) -> Vec<f64> {
    match (use_embedding, emb) {
        (true, Some(e)) => e.clone(),
        _ => x.to_vec(),
    }
}

fn fit_model(train: &Training, lambda: f64) -> Model {
    let use_embedding = train.n() > 0 && train.emb.iter().all(Option::is_some);
    let rows: Vec<Vec<f64>> =
        (0..train.n()).map(|t| representation(use_embedding, &train.x[t], train.emb[t].as_ref())).collect();
    let per_arm = |value: &dyn Fn(usize, usize) -> Option<f64>| -> Vec<Option<KernelRidge>> {
        (0..train.arms.len())
            .map(|a| {
                let (x, y): (Vec<Vec<f64>>, Vec<f64>) =
                    (0..train.n()).filter_map(|t| value(t, a).map(|v| (rows[t].clone(), v))).unzip();
                (x.len() >= 2).then(|| KernelRidge::fit(&x, &y, lambda))
            })
            .collect()
    };
    let perf = per_arm(&|t, a| train.y[t][a]);
    let cost = match train.budget {
        Some(_) => per_arm(&|t, a| train.cost[t][a].filter(|c| *c > 0.0).map(f64::ln)),
        None => vec![None; train.arms.len()],
    };
    Model { perf, cost, prior: train.arm_means(), budget: train.budget, use_embedding, fallbacks: Fallbacks::default() }
}

impl Model {
    /// The query as the model reads it: its embedding, or the numeric features where
    /// the training tasks or the query lack one (a fallback).
    fn represent(&self, q: &Query) -> Vec<f64> {
        if !self.use_embedding || q.emb.is_none() {
            self.fallbacks.note();
        }
        representation(self.use_embedding, &q.x, q.emb.as_ref())
    }

    fn targets(&self, q: &Query, r: &[f64]) -> Vec<f64> {
        q.candidates.iter().map(|&a| self.perf[a].as_ref().map_or(self.prior[a], |m| m.predict(r))).collect()
    }
}

impl Fitted for Model {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let r = self.represent(q);
        let mut s = self.targets(q, &r);
        if let Some(budget) = self.budget {
            for (score, &a) in s.iter_mut().zip(&q.candidates) {
                if self.cost[a].as_ref().is_some_and(|m| m.predict(&r) > budget.ln()) {
                    *score -= OVER_BUDGET;
                }
            }
        }
        Ok(s)
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        let r = self.represent(q);
        Ok(Some(self.targets(q, &r)))
    }
    fn fallbacks(&self) -> usize {
        self.fallbacks.count()
    }
}

impl Selector for MetaInf {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "metainf"
    }
    fn needs_embeddings(&self) -> bool {
        true
    }
    fn describe(&self) -> &'static str {
        "MetaInf: MiniLM embedding of the task description -> per-arm kernel ridge -> best predicted within budget"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        let lambda = lowest_regret(&[0.03, 0.3, 3.0], 1.0, |lambda| {
            inner_regret(train, 5, &|t: &Training| Ok(Box::new(fit_model(t, lambda)) as Box<dyn Fitted>))
        });
        Ok(Box::new(fit_model(train, lambda)))
    }
}
