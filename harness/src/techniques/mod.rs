//! Acceleration techniques. Each one adjusts an [`ExecutionPlan`]; a cell's
//! technique is one name or several joined by `+` (`q4k+kv-off`).
//!
//! Adding a technique: one new file with a [`Technique`] implementation and one
//! line in [`registry`].

mod chunked_prefill;
mod continuous_batching;
mod kv_off;
mod precision;
mod prefix_cache;
mod quantize;
mod static_batching;

use std::fmt;

use candle_core::quantized::GgmlDType;
use serde::{Deserialize, Serialize};

use crate::models::generate::KvMode;
use crate::models::WeightFormat;

/// What a worker does for a cell, after all its techniques applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionPlan {
    pub weights: WeightFormat,
    pub kv: KvMode,
    /// Scheduling of a serving workload (ignored by plain workloads).
    pub serving: ServingFlags,
    /// Technique that set `weights`, to reject two weight formats in one cell.
    weights_set_by: Option<&'static str>,
    /// Technique that chose the batching policy, to reject two in one cell.
    batching_set_by: Option<&'static str>,
}

/// Serving-level techniques of a cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServingFlags {
    pub continuous: bool,
    pub chunked_prefill: bool,
    pub prefix_cache: bool,
}

impl ServingFlags {
    pub fn any(&self) -> bool {
        self.continuous || self.chunked_prefill || self.prefix_cache
    }
}

impl Default for ExecutionPlan {
    /// The baseline: f32 weights (a GGUF's dequantized reference), KV cache on.
    fn default() -> Self {
        Self {
            weights: WeightFormat::F32,
            kv: KvMode::On,
            serving: ServingFlags::default(),
            weights_set_by: None,
            batching_set_by: None,
        }
    }
}

impl ExecutionPlan {
    /// Set the weight format; fails when another technique already did.
    pub fn set_weights(&mut self, by: &'static str, fmt: WeightFormat) -> Result<(), String> {
        if let Some(prev) = self.weights_set_by {
            return Err(format!("`{prev}` and `{by}` both choose the weight format; use one"));
        }
        self.weights_set_by = Some(by);
        self.weights = fmt;
        Ok(())
    }

    /// Choose the batching policy; fails when another technique already did.
    pub fn set_batching(&mut self, by: &'static str, continuous: bool) -> Result<(), String> {
        if let Some(prev) = self.batching_set_by {
            return Err(format!("`{prev}` and `{by}` both choose the batching policy; use one"));
        }
        self.batching_set_by = Some(by);
        self.serving.continuous = continuous;
        Ok(())
    }
}

pub trait Technique: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for `--help` and error messages.
    fn describe(&self) -> &'static str;
    fn apply(&self, plan: &mut ExecutionPlan) -> Result<(), String>;
}

/// Every technique the harness knows.
pub fn registry() -> Vec<Box<dyn Technique>> {
    vec![
        Box::new(precision::Precision::native()),
        Box::new(precision::Precision::f32()),
        Box::new(precision::Precision::f16()),
        Box::new(precision::Precision::bf16()),
        Box::new(quantize::Quantize::new("q8_0", GgmlDType::Q8_0)),
        Box::new(quantize::Quantize::new("q4_0", GgmlDType::Q4_0)),
        Box::new(quantize::Quantize::new("q4_1", GgmlDType::Q4_1)),
        Box::new(quantize::Quantize::new("q5_0", GgmlDType::Q5_0)),
        Box::new(quantize::Quantize::new("q5_1", GgmlDType::Q5_1)),
        Box::new(quantize::Quantize::new("q2k", GgmlDType::Q2K)),
        Box::new(quantize::Quantize::new("q3k", GgmlDType::Q3K)),
        Box::new(quantize::Quantize::new("q4k", GgmlDType::Q4K)),
        Box::new(quantize::Quantize::new("q5k", GgmlDType::Q5K)),
        Box::new(quantize::Quantize::new("q6k", GgmlDType::Q6K)),
        Box::new(kv_off::KvOff),
        Box::new(static_batching::StaticBatching),
        Box::new(continuous_batching::ContinuousBatching),
        Box::new(chunked_prefill::ChunkedPrefill),
        Box::new(prefix_cache::PrefixCache),
    ]
}

pub fn known_names() -> Vec<&'static str> {
    registry().iter().map(|t| t.name()).collect()
}

/// A validated technique expression such as `q4k+kv-off`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct TechniqueName(String);

impl TechniqueName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let reg = registry();
        let mut plan = ExecutionPlan::default();
        for part in s.split('+').map(str::trim) {
            let t = reg
                .iter()
                .find(|t| t.name() == part)
                .ok_or_else(|| format!("unknown technique `{part}`; known techniques: {}", known_names().join(", ")))?;
            t.apply(&mut plan).map_err(|e| format!("technique `{s}`: {e}"))?;
        }
        Ok(Self(s.split('+').map(str::trim).collect::<Vec<_>>().join("+")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn plan(&self) -> ExecutionPlan {
        let reg = registry();
        let mut plan = ExecutionPlan::default();
        for part in self.0.split('+') {
            if let Some(t) = reg.iter().find(|t| t.name() == part) {
                // Validated in `parse`; cannot fail here.
                let _ = t.apply(&mut plan);
            }
        }
        plan
    }
}

impl fmt::Display for TechniqueName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<TechniqueName> for String {
    fn from(t: TechniqueName) -> String {
        t.0
    }
}

impl<'de> Deserialize<'de> for TechniqueName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TechniqueName::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_names_parse_and_plan() {
        let t = TechniqueName::parse("q4k + kv-off").unwrap();
        assert_eq!(t.as_str(), "q4k+kv-off");
        let p = t.plan();
        assert_eq!(p.weights, WeightFormat::Quant(GgmlDType::Q4K));
        assert_eq!(p.kv, KvMode::Off);
    }

    #[test]
    fn unknown_and_conflicting_names_are_rejected() {
        let e = TechniqueName::parse("q4_k").unwrap_err();
        assert!(e.contains("unknown technique `q4_k`") && e.contains("q4k"), "{e}");
        let e = TechniqueName::parse("q4k+f16").unwrap_err();
        assert!(e.contains("both choose the weight format"), "{e}");
        let e = TechniqueName::parse("static-batching+continuous-batching").unwrap_err();
        assert!(e.contains("batching policy"), "{e}");
        let all = TechniqueName::parse("prefix-cache+chunked-prefill+continuous-batching").unwrap().plan();
        assert!(all.serving.continuous && all.serving.chunked_prefill && all.serving.prefix_cache);
    }
}
