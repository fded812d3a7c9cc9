//! `harness compare --axis AXIS`: cells that differ only on one axis (the engine, the
//! threads, the hardware profile, the technique), side by side. For each pair: decode
//! and prefill tokens per second of both, the ratio with a bootstrap 95% CI from the
//! raw samples; per task, whether the two sides rank the arms alike (Kendall's tau
//! over the techniques both measured). From the store alone.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{CellConfig, HardwareSpec};
use crate::engines;
use crate::measure::stats::median;
use crate::record::task::task_kind_name;
use crate::record::{CellRecord, CellStatus};
use crate::techniques::{self, Scope};

/// An axis cells can be paired across.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Engine,
    Threads,
    Hardware,
    Technique,
}

impl Axis {
    pub fn parse(s: &str) -> Option<Axis> {
        match s {
            "engine" => Some(Axis::Engine),
            "threads" => Some(Axis::Threads),
            "hardware" => Some(Axis::Hardware),
            "technique" => Some(Axis::Technique),
            _ => None,
        }
    }

    pub const NAMES: &'static [&'static str] = &["engine", "threads", "hardware", "technique"];

    /// The name [`Axis::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Axis::Engine => "engine",
            Axis::Threads => "threads",
            Axis::Hardware => "hardware",
            Axis::Technique => "technique",
        }
    }

    /// This axis's value of a cell, and the key of the cell's identity with that axis
    /// neutralised: two cells share it exactly when they differ only on the axis (prose,
    /// prices and names never count, as for any cell identity).
    fn split(self, rec: &CellRecord, cfg: &CellConfig) -> (String, String) {
        let mut c = cfg.clone();
        let value = match self {
            Axis::Engine => std::mem::take(&mut c.engine),
            Axis::Threads => std::mem::take(&mut c.threads).to_string(),
            Axis::Hardware => {
                c.hardware_spec = HardwareSpec::default();
                c.hardware.clone()
            }
            Axis::Technique => {
                // A speculative draft model belongs to the technique, not to what the pair shares.
                c.draft_spec = None;
                std::mem::replace(&mut c.technique, techniques::reference(Scope::Generation)).to_string()
            }
        };
        let engine_version = engines::version(&c.engine).unwrap_or_default();
        (value, rec.expected_key(&c, engine_version))
    }
}

/// One pair of cells across the axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// `model / workload / hardware`, technique @ threads on engine, with the axis left out.
    pub task: String,
    pub arm: String,
    pub a: String,
    pub b: String,
    pub decode: Rate,
    pub prefill: Rate,
}

/// Tokens per second of both sides and the ratio b / a with its 95% CI.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    pub a: f64,
    pub b: f64,
    pub ratio: f64,
    pub ci: (f64, f64),
}

/// Per task: how alike the two sides rank the arms they both measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    pub task: String,
    pub arms: usize,
    pub kendall_tau: f64,
}

fn rate(samples_a: &[f64], samples_b: &[f64], per_ms: f64, seed: u64) -> Rate {
    let to_rate = |ms: f64| if ms > 0.0 { per_ms * 1e3 / ms } else { f64::NAN };
    let (a, b) = (to_rate(median(samples_a)), to_rate(median(samples_b)));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ratios: Vec<f64> = (0..1000)
        .map(|_| {
            let draw = |xs: &[f64], rng: &mut ChaCha8Rng| {
                let d: Vec<f64> = (0..xs.len()).map(|_| xs[rng.random_range(0..xs.len())]).collect();
                median(&d)
            };
            // Rates are inverse times: b/a = time_a / time_b.
            draw(samples_a, &mut rng) / draw(samples_b, &mut rng)
        })
        .filter(|r| r.is_finite())
        .collect();
    ratios.sort_by(f64::total_cmp);
    let ci = if ratios.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        (ratios[ratios.len() * 25 / 1000], ratios[(ratios.len() * 975 / 1000).min(ratios.len() - 1)])
    };
    Rate { a, b, ratio: b / a, ci }
}

fn samples<'a>(r: &'a CellRecord, metric: &str) -> &'a [f64] {
    r.samples.iter().find(|s| s.metric == metric).map_or(&[], |s| &s.values)
}

/// Kendall's tau-a between two score lists over the same items.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len();
    if n < 2 {
        return f64::NAN;
    }
    let mut s = 0.0;
    for i in 0..n {
        for j in i + 1..n {
            s += ((x[i] - x[j]) * (y[i] - y[j])).signum();
        }
    }
    s / (n * (n - 1) / 2) as f64
}

/// Pairs across `axis` (values `a` and `b`, or the two most common when not given) and per-task agreement.
pub fn compare(records: &[CellRecord], axis: Axis, values: Option<(&str, &str)>) -> (Vec<Pair>, Vec<Agreement>) {
    // Measured plain cells (serving cells have no single decode rate), keyed by what a pair shares.
    let mut by_rest: BTreeMap<String, BTreeMap<String, &CellRecord>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in records.iter().filter(|r| r.status == CellStatus::Ok && r.summary.is_some()) {
        let Ok(cfg) = serde_json::from_str::<CellConfig>(&r.config_json) else { continue };
        if cfg.workload_spec.serving.is_some() {
            continue;
        }
        let (value, rest) = axis.split(r, &cfg);
        *counts.entry(value.clone()).or_default() += 1;
        by_rest.entry(rest).or_default().insert(value, r);
    }
    let (va, vb) = match values {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => {
            let mut v: Vec<(String, usize)> = counts.into_iter().collect();
            v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            match v.as_slice() {
                [x, y, ..] => {
                    let (mut a, mut b) = (x.0.clone(), y.0.clone());
                    if b < a {
                        std::mem::swap(&mut a, &mut b);
                    }
                    (a, b)
                }
                _ => return (vec![], vec![]),
            }
        }
    };
    let mut pairs = Vec::new();
    let mut per_task: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, sides) in by_rest.values().enumerate() {
        let (Some(a), Some(b)) = (sides.get(&va), sides.get(&vb)) else { continue };
        let cfg: CellConfig = serde_json::from_str(&a.config_json).expect("read above");
        let w = &cfg.workload_spec;
        let task = match axis {
            Axis::Hardware => task_kind_name(&a.model, &a.workload),
            _ => a.task_name(),
        };
        let arm = a.arm();
        let arm = match axis {
            Axis::Engine => arm.label(true, false),
            Axis::Threads => arm.label(false, true),
            Axis::Hardware => arm.label(true, true),
            Axis::Technique => arm.setting_label(),
        };
        let decode = rate(samples(a, "tpot_ms"), samples(b, "tpot_ms"), w.batch as f64, i as u64);
        let prefill =
            rate(samples(a, "ttft_ms"), samples(b, "ttft_ms"), (w.batch * w.prompt_tokens) as f64, i as u64 + 7);
        let lat = |r: &CellRecord| r.summary.as_ref().map_or(f64::NAN, |s| s.latency_ms.p50);
        if axis != Axis::Technique {
            per_task.entry(task.clone()).or_default().push((-lat(a), -lat(b)));
        }
        pairs.push(Pair { task, arm, a: va.clone(), b: vb.clone(), decode, prefill });
    }
    let agreement = per_task
        .into_iter()
        .filter(|(_, v)| v.len() >= 2)
        .map(|(task, v)| {
            let (x, y): (Vec<f64>, Vec<f64>) = v.into_iter().unzip();
            Agreement { task, arms: x.len(), kendall_tau: kendall_tau(&x, &y) }
        })
        .collect();
    (pairs, agreement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kendall_tau_of_orders() {
        assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
        assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
        assert!((kendall_tau(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]) - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_rate_ratio_has_a_ci_around_it() {
        let a = [10.0, 10.5, 9.5, 10.2, 9.8];
        let b = [5.0, 5.2, 4.8, 5.1, 4.9];
        let r = rate(&a, &b, 1.0, 1);
        assert!((r.a - 100.0).abs() < 1e-9 && (r.b - 200.0).abs() < 1e-9);
        assert!((r.ratio - 2.0).abs() < 1e-9);
        assert!(r.ci.0 <= 2.0 && 2.0 <= r.ci.1 && r.ci.1 - r.ci.0 < 0.5, "{r:?}");
    }
}
