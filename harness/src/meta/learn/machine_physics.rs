//! The roofline time model of [`super::physics`] with every work term divided by what the
//! task's machine measurably does for it, so one arm's coefficients carry over from one
//! machine class to another.
//!
//! [`super::physics`] fits, per arm, seconds per unit of work: those are this machine's
//! speeds, and on another class they are wrong by its speed ratio (the cross-machine MAPE
//! of 48–99 % the issues report). Here the terms are work / machine speed, each class's
//! speed taken from its machine features ([`crate::meta::machine`]: STREAM bandwidth, our
//! engine's decode matmul GOP/s for f32, 8-bit and 4-bit blocks, f32 prefill GOP/s):
//! - overhead: 1;
//! - prefill compute / f32 prefill GOP/s;
//! - decode weight streaming / bandwidth;
//! - decode compute / decode GOP/s of the arm's format class (≥ 16 bits: f32's; above 6
//!   bits: the 8-bit block's; else the 4-bit block's);
//! - attention work / f32 decode GOP/s;
//!
//! each divided by the node's compute share. The coefficients are then efficiencies (how
//! far the arm's engine and recipe are from the measured kernels), which is what may hold
//! across classes. A machine feature nobody measured is the training mean (the terms then
//! do not move). Within one machine class every speed is a constant and this is
//! [`super::physics`] rescaled.

use super::physics::{nnls, perf_of, time_of, MIN_TASKS};
use crate::meta::cv::Training;
use crate::meta::features::{arm_bits, Arm, TaskFeatures};
use crate::meta::objective::Objective;

/// Indices of the speeds in [`Speeds`]: bandwidth, decode f32 / 8-bit / 4-bit, prefill f32.
const N: usize = 5;

/// The machine features read, by name, in [`Speeds`] order.
fn names() -> [String; N] {
    let [f32_, q8, q4] = crate::meta::machine::feature_formats();
    [
        "log2_bandwidth_gbs".to_string(),
        format!("log2_{f32_}_decode_gops"),
        format!("log2_{q8}_decode_gops"),
        format!("log2_{q4}_decode_gops"),
        format!("log2_{f32_}_prefill_gops"),
    ]
}

/// The machine-speed reader of a training set: where each speed sits among the extras and
/// its training mean (log2), for the rows that lack it.
#[derive(Debug, Clone)]
pub struct Speeds {
    index: [Option<usize>; N],
    mean: [f64; N],
}

impl Speeds {
    pub fn fit(train: &Training) -> Speeds {
        let names = names();
        let index = std::array::from_fn(|k| train.extra_names.iter().position(|n| *n == names[k]));
        let mean = std::array::from_fn(|k| {
            let v: Vec<f64> = index[k]
                .map(|i| train.raw_extra.iter().filter_map(|e| e.get(i).copied()).filter(|v| v.is_finite()).collect())
                .unwrap_or_default();
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        });
        Speeds { index, mean }
    }

    /// The machine's speeds (linear units) for a task with these extras.
    pub fn of(&self, raw_extra: &[f64]) -> [f64; N] {
        std::array::from_fn(|k| {
            let v = self.index[k].and_then(|i| raw_extra.get(i).copied()).filter(|v| v.is_finite());
            v.unwrap_or(self.mean[k]).exp2()
        })
    }
}

/// The work terms of a request of the task on arm `arm`, each over the machine's speed for
/// it and the node's share.
pub fn terms(f: &TaskFeatures, arm: &Arm, share: f64, speed: &[f64; N]) -> Option<[f64; 5]> {
    let n = f.log2_params.exp2();
    let head = f.log2_vocab.exp2() * f.hidden;
    let layers = (n - head).max(n * 0.05);
    let (p, o, b) = (f.log2_prompt_tokens.exp2(), f.log2_output_tokens.exp2(), f.log2_batch.exp2());
    let bits = arm_bits(arm, f);
    let ctx = p + o / 2.0;
    let decode_speed = if bits >= 16.0 {
        speed[1]
    } else if bits > 6.0 {
        speed[2]
    } else {
        speed[3]
    };
    let v = [
        1.0,
        b * (p * layers + head) / 1e9 / speed[4],
        o * n * bits / 8.0 / 1e6 / speed[0],
        o * b * n / 1e9 / decode_speed,
        o * b * ctx * f.layers * f.hidden / 1e9 / speed[1],
    ];
    let share = if share.is_finite() && share > 0.0 { share } else { 1.0 };
    v.iter().all(|x| x.is_finite()).then(|| v.map(|x| x / share))
}

/// Per-arm efficiencies, fitted by NNLS on relative error over the training tasks that ran
/// the arm feasibly (at least [`MIN_TASKS`]).
pub struct MachinePhysics {
    pub coef: Vec<Option<[f64; 5]>>,
    pub speeds: Speeds,
    objective: Objective,
}

impl MachinePhysics {
    pub fn fit(train: &Training) -> MachinePhysics {
        let speeds = Speeds::fit(train);
        let obj = train.objective;
        let coef = (0..train.arms.len())
            .map(|a| {
                let rows: Vec<[f64; 5]> = (0..train.n())
                    .filter_map(|t| {
                        let y = train.y_ok[t][a]?;
                        let time = time_of(obj, &train.raw[t], (y + train.log_best[t]).exp());
                        let share = super::physics::share(train, &train.raw_extra[t]);
                        let x = terms(&train.raw[t], &train.arms[a], share, &speeds.of(&train.raw_extra[t]))?;
                        (time.is_finite() && time > 0.0).then(|| x.map(|v| v / time))
                    })
                    .collect();
                if rows.len() < MIN_TASKS {
                    return None;
                }
                nnls(&rows)
            })
            .collect();
        MachinePhysics { coef, speeds, objective: obj }
    }

    /// Predicted ln performance of arm `a` on a task with raw features `f` and extras
    /// `raw_extra`, when the arm has a model.
    pub fn log_perf(&self, f: &TaskFeatures, raw_extra: &[f64], arm: &Arm, a: usize, share: f64) -> Option<f64> {
        let c = self.coef[a]?;
        let x = terms(f, arm, share, &self.speeds.of(raw_extra))?;
        let time: f64 = x.iter().zip(&c).map(|(x, c)| x * c).sum();
        (time > 0.0).then(|| perf_of(self.objective, f, time).ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::techniques::TechniqueName;

    fn task() -> TaskFeatures {
        let mut f = TaskFeatures::filled(f64::NAN);
        f.log2_params = (135e6f64).log2();
        f.log2_vocab = 15.0;
        f.hidden = 576.0;
        f.layers = 30.0;
        f.log2_prompt_tokens = 5.0;
        f.log2_output_tokens = 6.0;
        f.log2_batch = 0.0;
        f.native_bits_per_weight = 4.5;
        f
    }

    #[test]
    fn a_machine_twice_as_fast_at_everything_halves_every_work_term() {
        let arm = Arm { technique: TechniqueName::from_stored("q8_0"), threads: 2, engine: "candle".into() };
        let slow = [20.0, 10.0, 60.0, 100.0, 70.0];
        let fast = slow.map(|s| 2.0 * s);
        let a = terms(&task(), &arm, 1.0, &slow).unwrap();
        let b = terms(&task(), &arm, 1.0, &fast).unwrap();
        assert_eq!(a[0], b[0]);
        for k in 1..5 {
            assert!((a[k] / b[k] - 2.0).abs() < 1e-12, "{k}: {a:?} {b:?}");
        }
        // Half the node's share doubles every term, overhead included.
        let h = terms(&task(), &arm, 0.5, &slow).unwrap();
        assert!(h.iter().zip(&a).all(|(h, a)| (h / a - 2.0).abs() < 1e-12));
    }

    #[test]
    fn the_decode_term_reads_the_speed_of_the_arms_format_class() {
        let speeds = [20.0, 10.0, 60.0, 100.0, 70.0];
        let t = |name: &str| {
            let arm = Arm { technique: TechniqueName::from_stored(name), threads: 2, engine: "candle".into() };
            let x = terms(&task(), &arm, 1.0, &speeds).unwrap();
            // decode compute per unit of work, undone: work / term = speed.
            let o = 64.0;
            let n = 135e6;
            o * n / 1e9 / x[3]
        };
        assert!((t("f32") - 10.0).abs() < 1e-9);
        assert!((t("q8_0") - 60.0).abs() < 1e-9);
        assert!((t("q4_0") - 100.0).abs() < 1e-9);
        assert!((t("native") - 100.0).abs() < 1e-9, "a 4.5-bit file is in the 4-bit class");
    }
}
