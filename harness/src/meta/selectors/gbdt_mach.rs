//! `gbdt-mach`: the per-arm `gbdt` given the machine and the node as well as the task
//! ([`crate::meta::machine`] features and the node's compute share, standardised on the
//! training rows), with the task's level (ln of its best performance) from ridge
//! regression on the same rows, and a roofline offset for machines it was not trained on.
//!
//! The offset: what one machine class was trained on says nothing by itself about another
//! one (its machine features are constant in training). Our engine's decode and prefill
//! matmul speed per weight format *is* measured on each class, so an arm's predicted
//! ln(performance) moves by ln(speed of its format here / mean speed in training), decode
//! and prefill weighted by the task's decode share. Within one class the offset is zero;
//! arms of other engines and formats not measured get none.

use anyhow::Result;

use crate::meta::cv::{Query, Standardizer, Training};
use crate::meta::learn::regress::{Gbdt, KernelRidge};
use crate::meta::selectors::{Fitted, Selector};

pub struct GbdtMach;

impl Selector for GbdtMach {
    fn source(&self) -> &'static str {
        file!()
    }
    fn name(&self) -> &'static str {
        "gbdt-mach"
    }
    fn seeded(&self) -> bool {
        true
    }
    fn frozen(&self) -> &'static str {
        super::FROZEN_4
    }
    fn describe(&self) -> &'static str {
        "per-arm gradient-boosted trees on task + machine + node features -> ln(perf/best), level by ridge, roofline offset per weight format across machines"
    }
    fn fit(&self, train: &Training) -> Result<Box<dyn Fitted>> {
        Ok(Box::new(MachModel::fit(train)?))
    }
}

/// Indices of the machine features' decode and prefill speed per format within the extras.
fn machine_index(names: &[String], name: &str) -> Option<usize> {
    names.iter().position(|n| n == name)
}

/// ln(decode, prefill GOP/s) of one format on one machine, where measured.
type Speeds = (Option<f64>, Option<f64>);

pub struct MachModel {
    extra_std: Standardizer,
    models: Vec<Option<Gbdt>>,
    prior: Vec<f64>,
    level: KernelRidge,
    /// Per arm: mean ln(decode GOP/s of its format) over training tasks, and its prefill twin.
    train_speed: Vec<Speeds>,
    /// Per arm: the format whose speed moves it (our engine's arms only).
    formats: Vec<Option<String>>,
    /// Names of the extras (the machine features among them).
    names: Vec<String>,
}

/// The row a learner sees: standardised task features, then standardised extras.
fn row(x: &[f64], extra_std: &Standardizer, raw_extra: &[f64]) -> Vec<f64> {
    let mut r = x.to_vec();
    r.extend(extra_std.apply(raw_extra));
    r
}

/// ln(decode, prefill GOP/s) of `format` on the machine of a task with these extras.
fn speeds(
    names: &[String],
    raw_extra: &[f64],
    format: &str,
    prefill: &std::collections::BTreeMap<String, usize>,
) -> (Option<f64>, Option<f64>) {
    let get = |i: Option<usize>| i.and_then(|i| raw_extra.get(i).copied()).filter(|v| v.is_finite());
    let dec = get(machine_index(names, &format!("log2_{format}_decode_gops")));
    let pre = get(prefill.get(format).copied());
    (dec, pre)
}

impl MachModel {
    fn fit(t: &Training) -> Result<MachModel> {
        let extra_std = Standardizer::fit(&t.raw_extra);
        let rows: Vec<Vec<f64>> = (0..t.n()).map(|i| row(&t.x[i], &extra_std, &t.raw_extra[i])).collect();
        let models = (0..t.arms.len())
            .map(|a| {
                let (x, y): (Vec<Vec<f64>>, Vec<f64>) =
                    (0..t.n()).filter_map(|i| t.y[i][a].map(|y| (rows[i].clone(), y))).unzip();
                if x.len() < 2 {
                    return Ok(None);
                }
                Gbdt::fit(&x, &y, 100, 3, t.seed_for(a as u64 ^ 0x3ac)).map(Some)
            })
            .collect::<Result<Vec<_>>>()?;
        let level = KernelRidge::fit(&rows, &t.log_best, 1.0);
        let formats: Vec<Option<String>> = t
            .arms
            .iter()
            .map(|arm| {
                let w = arm.technique.plan().weights;
                (arm.engine == crate::engines::DEFAULT_ENGINE && w != crate::models::WeightFormat::Native)
                    .then(|| w.name())
            })
            .collect();
        let prefill = prefill_index(&t.extra_names);
        let train_speed = formats
            .iter()
            .map(|f| {
                let Some(f) = f else { return (None, None) };
                let v: Vec<Speeds> = t.raw_extra.iter().map(|e| speeds(&t.extra_names, e, f, &prefill)).collect();
                let mean = |k: &dyn Fn(&Speeds) -> Option<f64>| {
                    let xs: Vec<f64> = v.iter().filter_map(k).collect();
                    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
                };
                (mean(&|p| p.0), mean(&|p| p.1))
            })
            .collect();
        Ok(MachModel {
            extra_std,
            models,
            prior: t.arm_means(),
            level,
            train_speed,
            formats,
            names: t.extra_names.clone(),
        })
    }

    /// The roofline offset of arm `a` for the query (ln units).
    fn offset(&self, q: &Query, a: usize) -> f64 {
        let Some(f) = &self.formats[a] else { return 0.0 };
        let prefill = prefill_index(&self.names);
        let (dq, pq) = speeds(&self.names, &q.raw_extra, f, &prefill);
        let (dt, pt) = self.train_speed[a];
        let ln2 = std::f64::consts::LN_2;
        let share = if q.raw.decode_share.is_finite() { q.raw.decode_share } else { 0.5 };
        let d = match (dq, dt) {
            (Some(q), Some(t)) => (q - t) * ln2,
            _ => 0.0,
        };
        // Only f32's prefill speed is a machine feature; other formats move with it in proportion.
        let p = match (pq, pt) {
            (Some(q), Some(t)) => (q - t) * ln2,
            _ => d,
        };
        share * d + (1.0 - share) * p
    }

    fn targets(&self, q: &Query) -> Result<Vec<f64>> {
        let r = row(&q.x, &self.extra_std, &q.raw_extra);
        q.candidates
            .iter()
            .map(|&a| {
                let base = match &self.models[a] {
                    None => self.prior[a],
                    Some(m) => m.predict(std::slice::from_ref(&r))?[0],
                };
                Ok(base + self.offset(q, a))
            })
            .collect()
    }
}

/// Where each format's prefill speed sits among the extras (only f32's is a feature).
fn prefill_index(names: &[String]) -> std::collections::BTreeMap<String, usize> {
    let [f32_, ..] = crate::meta::machine::feature_formats();
    machine_index(names, &format!("log2_{f32_}_prefill_gops")).map(|i| (f32_, i)).into_iter().collect()
}

impl Fitted for MachModel {
    fn scores(&self, q: &Query) -> Result<Vec<f64>> {
        self.targets(q)
    }
    fn predicted_targets(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        self.targets(q).map(Some)
    }
    fn predicted_log_perf(&self, q: &Query) -> Result<Option<Vec<f64>>> {
        let level = self.level.predict(&row(&q.x, &self.extra_std, &q.raw_extra));
        Ok(Some(self.targets(q)?.iter().map(|t| t + level).collect()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn machine_feature_names_cover_the_formats_the_offset_reads() {
        for f in crate::meta::machine::feature_formats() {
            assert!(crate::meta::machine::NAMES.contains(&format!("log2_{f}_decode_gops").as_str()), "{f}");
        }
    }
}
