//! Regressors the selectors share: kernel ridge regression, wrappers over smartcore's
//! gradient-boosted trees and random forest, one of them per arm, and the small
//! linear algebra they need.

use anyhow::{anyhow, Result};
use smartcore::ensemble::random_forest_regressor::{RandomForestRegressor, RandomForestRegressorParameters};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::xgboost::{XGRegressor, XGRegressorParameters};

use super::Fallbacks;
use crate::meta::cv::{Query, Training};
use crate::meta::selectors::Fitted;

pub fn matrix(rows: &[Vec<f64>]) -> Result<DenseMatrix<f64>> {
    DenseMatrix::from_2d_vec(&rows.to_vec()).map_err(|e| anyhow!("building a feature matrix: {e}"))
}

/// Linear-kernel ridge regression (intercept = the mean target, unpenalised): in its
/// dual form when there are more features than rows (384-wide embeddings on a few
/// dozen tasks), in its primal form otherwise (thousands of tasks on a few dozen
/// features: O(n d²) instead of O(n³)). Both give the same predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRidge {
    form: Form,
    mean: f64,
}

#[derive(Debug, Clone, PartialEq)]
enum Form {
    Dual { rows: Vec<Vec<f64>>, alpha: Vec<f64> },
    Primal { w: Vec<f64> },
}

impl KernelRidge {
    pub fn fit(rows: &[Vec<f64>], y: &[f64], lambda: f64) -> KernelRidge {
        let n = rows.len();
        let mean = if n == 0 { 0.0 } else { y.iter().sum::<f64>() / n as f64 };
        let centred: Vec<f64> = y.iter().map(|v| v - mean).collect();
        let d = rows.first().map_or(0, Vec::len);
        if n > d && d > 0 {
            let mut a = vec![vec![0.0; d]; d];
            let mut b = vec![0.0; d];
            for (r, yc) in rows.iter().zip(&centred) {
                for (i, (ai, bi)) in a.iter_mut().zip(b.iter_mut()).enumerate() {
                    *bi += r[i] * yc;
                    for (aij, rj) in ai[i..].iter_mut().zip(&r[i..]) {
                        *aij += r[i] * rj;
                    }
                }
            }
            for i in 0..d {
                let (upper, lower) = a.split_at_mut(i);
                for (j, row) in upper.iter().enumerate() {
                    lower[0][j] = row[i];
                }
                a[i][i] += lambda;
            }
            let w = solve(a, b).unwrap_or_else(|| vec![0.0; d]);
            return KernelRidge { form: Form::Primal { w }, mean };
        }
        let mut k: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| dot(&rows[i], &rows[j])).collect()).collect();
        for (i, row) in k.iter_mut().enumerate() {
            row[i] += lambda;
        }
        let alpha = solve(k, centred).unwrap_or_else(|| vec![0.0; n]);
        KernelRidge { form: Form::Dual { rows: rows.to_vec(), alpha }, mean }
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        self.mean
            + match &self.form {
                Form::Dual { rows, alpha } => rows.iter().zip(alpha).map(|(r, a)| a * dot(r, x)).sum::<f64>(),
                Form::Primal { w } => dot(w, x),
            }
    }
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn sq_dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` when singular.
pub fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            if f != 0.0 {
                let (top, rest) = a.split_at_mut(r);
                rest[0][c..].iter_mut().zip(&top[c][c..]).for_each(|(x, p)| *x -= f * p);
                b[r] -= f * b[c];
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// The columns that vary over the training rows: trees cannot split on the others,
/// and dropping them saves most of the fitting time when many descriptors are constant
/// across a store (one machine, one price).
#[derive(Debug, Clone, PartialEq)]
pub struct Varying(Vec<usize>);

impl Varying {
    pub fn of(rows: &[Vec<f64>]) -> Varying {
        let d = rows.first().map_or(0, Vec::len);
        let cols: Vec<usize> = (0..d).filter(|&j| rows.iter().any(|r| r[j] != rows[0][j])).collect();
        // Keep one column so a matrix can be built even when nothing varies.
        Varying(if cols.is_empty() { vec![0] } else { cols })
    }

    pub fn select(&self, rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
        rows.iter().map(|r| self.0.iter().map(|&j| r[j]).collect()).collect()
    }
}

/// smartcore's gradient-boosted regression trees (XGBoost-style second-order boosting).
pub struct Gbdt(XGRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>, Varying);

impl Gbdt {
    pub fn fit(rows: &[Vec<f64>], y: &[f64], trees: usize, depth: u16, seed: u64) -> Result<Gbdt> {
        let cols = Varying::of(rows);
        let rows = &cols.select(rows);
        let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
        let params = XGRegressorParameters::default()
            .with_n_estimators(trees)
            .with_max_depth(depth)
            .with_learning_rate(0.1)
            .with_lambda(1.0)
            .with_base_score(mean)
            .with_seed(seed);
        let m = XGRegressor::fit(&matrix(rows)?, &y.to_vec(), params).map_err(|e| anyhow!("gbdt fit: {e}"))?;
        Ok(Gbdt(m, cols))
    }

    pub fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>> {
        self.0.predict(&matrix(&self.1.select(rows))?).map_err(|e| anyhow!("gbdt predict: {e}"))
    }
}

/// smartcore's random forest regressor (bootstrap samples, best splits).
pub struct Forest(RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>, Varying);

impl Forest {
    pub fn fit(rows: &[Vec<f64>], y: &[f64], trees: usize, seed: u64) -> Result<Forest> {
        let cols = Varying::of(rows);
        let rows = &cols.select(rows);
        let d = rows.first().map_or(1, Vec::len);
        let params =
            RandomForestRegressorParameters::default().with_n_trees(trees).with_m((d / 3).max(1)).with_seed(seed);
        let m = RandomForestRegressor::fit(&matrix(rows)?, &y.to_vec(), params)
            .map_err(|e| anyhow!("random forest fit: {e}"))?;
        Ok(Forest(m, cols))
    }

    pub fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>> {
        self.0.predict(&matrix(&self.1.select(rows))?).map_err(|e| anyhow!("random forest predict: {e}"))
    }
}

/// Rows of `train` that ran arm `a`: (standardised features, targets).
pub fn arm_rows(train: &Training, a: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    (0..train.n()).filter_map(|t| train.y[t][a].map(|y| (train.x[t].clone(), y))).unzip()
}

/// A regressor fitted on standardised meta-features (one row per task).
pub trait Regressor {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>>;
}

impl Regressor for KernelRidge {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>> {
        Ok(rows.iter().map(|r| KernelRidge::predict(self, r)).collect())
    }
}

impl Regressor for Gbdt {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>> {
        Gbdt::predict(self, rows)
    }
}

impl Regressor for Forest {
    fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<f64>> {
        Forest::predict(self, rows)
    }
}

/// One regressor per arm predicting ln(perf / best); arms run on fewer than two
/// training tasks have no model and score their training mean (by design, not a
/// fallback). An arm whose model fails to predict also scores its mean, counted.
pub struct PerArm<M> {
    models: Vec<Option<M>>,
    prior: Vec<f64>,
    fallbacks: Fallbacks,
}

impl<M: Regressor> PerArm<M> {
    /// Fit `fit_one(rows, targets, arm)` for every arm of `train`.
    pub fn fit(train: &Training, fit_one: impl Fn(&[Vec<f64>], &[f64], usize) -> Result<M>) -> Result<Self> {
        let models = (0..train.arms.len())
            .map(|a| {
                let (x, y) = arm_rows(train, a);
                if x.len() < 2 {
                    return Ok(None);
                }
                fit_one(&x, &y, a).map(Some)
            })
            .collect::<Result<_>>()?;
        Ok(PerArm { models, prior: train.arm_means(), fallbacks: Fallbacks::default() })
    }
}

impl<M: Regressor> Fitted for PerArm<M> {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        let mut failed = false;
        let s = q
            .candidates
            .iter()
            .map(|&a| match &self.models[a] {
                None => self.prior[a],
                Some(m) => match m.predict(std::slice::from_ref(&q.x)) {
                    Ok(v) => v[0],
                    Err(_) => {
                        failed = true;
                        self.prior[a]
                    }
                },
            })
            .collect();
        if failed {
            self.fallbacks.note();
        }
        Ok(s)
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        self.scores(q).map(Some)
    }
    fn fallbacks(&self) -> usize {
        self.fallbacks.count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solve_and_ridge() {
        let x = solve(vec![vec![2.0, 1.0], vec![1.0, 3.0]], vec![3.0, 5.0]).unwrap();
        assert!((x[0] - 0.8).abs() < 1e-12 && (x[1] - 1.4).abs() < 1e-12);
        let rows: Vec<Vec<f64>> = (0..20).map(|i| vec![i as f64 / 10.0, 1.0]).collect();
        let y: Vec<f64> = rows.iter().map(|r| 3.0 * r[0]).collect();
        let m = KernelRidge::fit(&rows, &y, 1e-6);
        assert!((m.predict(&[0.55, 1.0]) - 1.65).abs() < 1e-3);
        assert!(matches!(m.form, Form::Primal { .. }), "20 rows, 2 features: primal");
        let wide: Vec<Vec<f64>> = (0..5).map(|i| vec![i as f64, (i * i) as f64, 1.0, (i % 2) as f64]).collect();
        let yw = [0.1, 0.5, 0.2, 0.9, 0.4];
        let dual = KernelRidge::fit(&wide[..3], &yw[..3], 0.7);
        let primal = KernelRidge::fit(&wide, &yw, 0.7);
        assert!(matches!(primal.form, Form::Primal { .. }) && matches!(dual.form, Form::Dual { .. }));
        // The dual fit on 3 rows of 4 features equals the primal solution of the same system.
        let d = 4;
        let mean = yw[..3].iter().sum::<f64>() / 3.0;
        let mut a = vec![vec![0.0; d]; d];
        let mut b = vec![0.0; d];
        for (r, yv) in wide[..3].iter().zip(&yw[..3]) {
            for i in 0..d {
                b[i] += r[i] * (yv - mean);
                for j in 0..d {
                    a[i][j] += r[i] * r[j];
                }
            }
        }
        (0..d).for_each(|i| a[i][i] += 0.7);
        let w = solve(a, b).unwrap();
        let x = [2.5, 3.0, 1.0, 0.5];
        assert!((dual.predict(&x) - (mean + dot(&w, &x))).abs() < 1e-9);
    }

    #[test]
    fn smartcore_learners_fit_a_step() {
        let rows: Vec<Vec<f64>> = (0..40).map(|i| vec![i as f64, (i * 7 % 5) as f64]).collect();
        let y: Vec<f64> = rows.iter().map(|r| if r[0] < 20.0 { 0.0 } else { 1.0 }).collect();
        let g = Gbdt::fit(&rows, &y, 50, 2, 1).unwrap().predict(&[vec![5.0, 0.0], vec![35.0, 0.0]]).unwrap();
        assert!(g[0] < 0.2 && g[1] > 0.8, "{g:?}");
        let f = Forest::fit(&rows, &y, 30, 1).unwrap().predict(&[vec![5.0, 0.0], vec![35.0, 0.0]]).unwrap();
        assert!(f[0] < 0.2 && f[1] > 0.8, "{f:?}");
    }
}
