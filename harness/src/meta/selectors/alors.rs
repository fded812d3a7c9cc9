//! `alors` (Mısır & Sebag, 2017): factorise the training tasks × arms matrix of
//! ln(perf / best) into latent task and arm factors (alternating least squares
//! over the measured entries, arm biases, ridge penalty), then solve the cold start
//! of a new task by predicting its latent factors from its meta-features with a
//! random forest per factor (smartcore). Score = arm bias + predicted task factors ·
//! arm factors.

use anyhow::Result;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::meta::cv::{Query, Training};
use crate::meta::learn::regress::{dot, solve, Forest};
use crate::meta::learn::Fallbacks;
use crate::meta::selectors::{Fitted, Selector};

pub struct Alors;

const RANK: usize = 3;
const LAMBDA: f64 = 0.1;
const SWEEPS: usize = 30;

struct Factorised {
    bias: Vec<f64>,
    arm_factors: Vec<Vec<f64>>,
    /// One forest per latent dimension (features → task factor).
    cold_start: Vec<Forest>,
    /// Queries whose latent factors a forest could not predict (0 stood in).
    fallbacks: Fallbacks,
}

/// Task factors, arm factors and arm biases of `y` (rows: tasks).
fn factorise(
    y: &[Vec<Option<f64>>],
    prior: &[f64],
    rank: usize,
    seed: u64,
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>) {
    let (n, m) = (y.len(), prior.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<Vec<f64>> = (0..m).map(|_| (0..rank).map(|_| rng.random_range(-0.1..0.1)).collect()).collect();
    let mut b = prior.to_vec();
    let mut u = vec![vec![0.0; rank]; n];
    for _ in 0..SWEEPS {
        for t in 0..n {
            let mut a_mat = vec![vec![0.0; rank]; rank];
            let mut rhs = vec![0.0; rank];
            for a in 0..m {
                if let Some(val) = y[t][a] {
                    for i in 0..rank {
                        rhs[i] += v[a][i] * (val - b[a]);
                        for j in 0..rank {
                            a_mat[i][j] += v[a][i] * v[a][j];
                        }
                    }
                }
            }
            (0..rank).for_each(|i| a_mat[i][i] += LAMBDA);
            u[t] = solve(a_mat, rhs).unwrap_or_else(|| vec![0.0; rank]);
        }
        for a in 0..m {
            // Unknowns [v_a; b_a]; the bias is not penalised.
            let mut a_mat = vec![vec![0.0; rank + 1]; rank + 1];
            let mut rhs = vec![0.0; rank + 1];
            let mut seen = false;
            for t in 0..n {
                if let Some(val) = y[t][a] {
                    seen = true;
                    let z: Vec<f64> = u[t].iter().copied().chain([1.0]).collect();
                    for i in 0..=rank {
                        rhs[i] += z[i] * val;
                        for j in 0..=rank {
                            a_mat[i][j] += z[i] * z[j];
                        }
                    }
                }
            }
            if !seen {
                continue;
            }
            (0..rank).for_each(|i| a_mat[i][i] += LAMBDA);
            a_mat[rank][rank] += 1e-6;
            if let Some(sol) = solve(a_mat, rhs) {
                v[a] = sol[..rank].to_vec();
                b[a] = sol[rank];
            }
        }
    }
    (u, v, b)
}

impl Selector for Alors {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "alors"
    }
    fn seeded(&self) -> bool {
        true
    }
    fn describe(&self) -> &'static str {
        "matrix factorisation of tasks x arms (ALS) with a random-forest cold start from meta-features"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        let prior = train.arm_means();
        let rank = RANK.min(train.n().saturating_sub(1)).min(train.arms.len().saturating_sub(1)).max(1);
        let (u, v, b) = factorise(&train.y, &prior, rank, train.seed_for(17));
        let cold_start = (0..rank)
            .map(|d| {
                let target: Vec<f64> = u.iter().map(|r| r[d]).collect();
                Forest::fit(&train.x, &target, 50, train.seed_for(d as u64))
            })
            .collect::<Result<_>>()?;
        Ok(Box::new(Factorised { bias: b, arm_factors: v, cold_start, fallbacks: Fallbacks::default() }))
    }
}

impl Fitted for Factorised {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let mut failed = false;
        let u: Vec<f64> = self
            .cold_start
            .iter()
            .map(|f| {
                f.predict(std::slice::from_ref(&q.x)).map(|p| p[0]).unwrap_or_else(|_| {
                    failed = true;
                    0.0
                })
            })
            .collect();
        if failed {
            self.fallbacks.note();
        }
        Ok(q.candidates.iter().map(|&a| self.bias[a] + dot(&u, &self.arm_factors[a])).collect())
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        self.scores(q).map(Some)
    }
    fn fallbacks(&self) -> usize {
        self.fallbacks.count()
    }
}
