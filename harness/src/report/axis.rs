//! Axis ranges and ticks chosen from the data, linear or logarithmic.
//!
//! Figures plot in "axis space" (the value itself, or its log10) on plain f64
//! coordinates with explicit key points, so tick positions and labels are ours:
//! round numbers, the same on every run, and readable on a log scale.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// One axis: its range in axis space, its ticks, and whether it is log10.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub ticks: Vec<f64>,
    pub log: bool,
}

/// Log scale once the data span more than this factor.
const LOG_SPAN: f64 = 8.0;

impl Axis {
    /// An axis covering `values` with a little headroom; log when every value is
    /// positive and they span more than 8×; `zero` forces 0 into a linear range.
    pub fn fit(values: &[f64], zero: bool) -> Axis {
        let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let (min, max) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        if v.is_empty() {
            return Axis::linear(0.0, 1.0);
        }
        if min > 0.0 && max / min > LOG_SPAN && !zero {
            return Axis::log(min, max);
        }
        let (mut lo, mut hi) = if zero { (min.min(0.0), max.max(0.0)) } else { (min, max) };
        if hi - lo < 1e-12 {
            let pad = if hi.abs() > 0.0 { hi.abs() * 0.1 } else { 1.0 };
            lo -= pad;
            hi += pad;
        }
        let pad = (hi - lo) * 0.06;
        let lo = if zero && lo == 0.0 { 0.0 } else { lo - pad };
        let hi = if zero && hi == 0.0 { 0.0 } else { hi + pad };
        Axis::linear(lo, hi)
    }

    /// Linear axis over [lo, hi] with four to eight round ticks (1, 2, 2.5 or 5 × 10^k apart).
    pub fn linear(lo: f64, hi: f64) -> Axis {
        let count = |step: f64| ((hi / step).floor() - (lo / step).ceil()) as i64 + 1;
        let base = 10f64.powf(((hi - lo) / 6.0).log10().floor());
        let step = [0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0]
            .iter()
            .map(|m| m * base)
            .min_by_key(|&st| (count(st) - 6).abs())
            .unwrap_or(1.0);
        let first = (lo / step).ceil() as i64;
        let last = (hi / step).floor() as i64;
        let ticks = (first..=last).map(|i| clean(i as f64 * step)).collect();
        Axis { lo, hi, ticks, log: false }
    }

    /// Log10 axis covering [min, max] (both > 0), ticks at 1-2-5 steps of each decade
    /// (or only at powers of ten when that already gives enough).
    pub fn log(min: f64, max: f64) -> Axis {
        let (lo, hi) = (min.log10() - 0.08, max.log10() + 0.08);
        let mut ticks = Vec::new();
        for mult in [&[1.0][..], &[1.0, 3.0], &[1.0, 2.0, 5.0]] {
            ticks.clear();
            for d in (lo.floor() as i32)..=(hi.ceil() as i32) {
                for m in mult {
                    let t = (m * 10f64.powi(d)).log10();
                    if t >= lo && t <= hi {
                        ticks.push(t);
                    }
                }
            }
            if ticks.len() >= 4 {
                break;
            }
        }
        Axis { lo, hi, ticks, log: true }
    }

    /// Log2 axis whose ticks are exactly `values` (batch sizes, client counts).
    pub fn log_at(values: &[f64]) -> Axis {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let span = (max.log10() - min.log10()).max(0.3);
        let (lo, hi) = (min.log10() - span * 0.08, max.log10() + span * 0.08);
        Axis { lo, hi, ticks: values.iter().map(|v| v.log10()).collect(), log: true }
    }

    /// A value's position in axis space.
    pub fn at(&self, v: f64) -> f64 {
        if self.log {
            v.max(1e-12).log10()
        } else {
            v
        }
    }

    /// A tick's label (axis space back to the value).
    pub fn label(&self, t: f64) -> String {
        fmt_num(if self.log { 10f64.powf(t) } else { t })
    }

    /// The coordinate spec plotters draws with.
    pub fn coord(&self) -> Ticked {
        Ticked { lo: self.lo, hi: self.hi, ticks: self.ticks.clone() }
    }
}

/// A linear f64 coordinate whose grid lines and labels sit exactly at our ticks
/// (plotters' own f64 ranges choose their own and cannot take a label formatter
/// once wrapped with fixed key points).
#[derive(Debug, Clone)]
pub struct Ticked {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = if self.hi > self.lo { (v - self.lo) / (self.hi - self.lo) } else { 0.5 };
        limit.0 + ((limit.1 - limit.0) as f64 * t).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        // Light (minor) grid lines: none.
        if hint.weight().allow_light_points() {
            vec![]
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// Rounds away float noise (0.30000000000000004 → 0.3) so labels and SVGs are stable.
fn clean(x: f64) -> f64 {
    let r = (x * 1e9).round() / 1e9;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// A number for a tick or a label: three significant digits below 10 (more
/// integer digits above), no trailing zeros, no exponent.
pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    let decimals = if a == 0.0 || !a.is_finite() || a >= 100.0 {
        0
    } else if a >= 10.0 {
        1
    } else {
        ((2.0 - a.log10().floor()).max(2.0) as usize).min(10)
    };
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_inside() {
        let a = Axis::fit(&[13.2, 47.9], false);
        assert!(!a.log && a.ticks.len() >= 4, "{a:?}");
        assert!(a.ticks.iter().all(|&t| t >= a.lo && t <= a.hi && (t / 5.0).fract().abs() < 1e-9), "{a:?}");
    }

    #[test]
    fn wide_positive_span_goes_log() {
        let a = Axis::fit(&[0.5, 400.0], false);
        assert!(a.log && a.ticks.len() >= 3, "{a:?}");
        assert_eq!(a.label(a.at(100.0)), "100");
    }

    #[test]
    fn numbers_print_short() {
        assert_eq!(fmt_num(0.30000000000000004), "0.3");
        assert_eq!(fmt_num(1520.4), "1520");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(-0.0421), "-0.0421");
        assert_eq!(fmt_num(0.0005), "0.0005");
        assert_eq!(fmt_num(2.5), "2.5");
    }
}
