//! The KV cache's number format (`kv-type:T`, T one of f32, f16, q8_0, q4_0).
//!
//! Keys and values of every layer are stored in T: half (f16), a quarter (q8_0) or
//! about a seventh (q4_0) of the f32 cache's bytes, read back by attention at every
//! step. Lower precision changes the outputs, so the accuracy of such a cell is
//! measured against the reference like a weight format's. An engine runs the types
//! it has (llama.cpp all four, ours f32 only); elsewhere the cell is `not_applicable`.

use candle_core::quantized::GgmlDType;

use super::{Aspect, Effect, ExecutionPlan, Family, Technique};

pub struct KvType;

/// The types a grid may name, as spelled there.
pub const TYPES: [(&str, GgmlDType); 4] =
    [("f32", GgmlDType::F32), ("f16", GgmlDType::F16), ("q8_0", GgmlDType::Q8_0), ("q4_0", GgmlDType::Q4_0)];

impl Technique for KvType {
    fn name(&self) -> &'static str {
        "kv-type"
    }
    fn describe(&self) -> &'static str {
        "store the KV cache in T (f32, f16, q8_0 or q4_0)"
    }
    fn family(&self) -> Family {
        Family::KvCache
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Decoding]
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("T: the KV cache's format, one of f32, f16, q8_0, q4_0")
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        let known = TYPES.map(|(n, _)| n).join(", ");
        let dtype = TYPES
            .iter()
            .find(|(n, _)| Some(*n) == param)
            .map(|(_, d)| *d)
            .ok_or_else(|| format!("`{}:T` needs T among {known}, got `{}`", self.name(), param.unwrap_or("")))?;
        plan.claim(Aspect::KvCache, self.name())?;
        plan.kv_dtype = Some(dtype);
        Ok(())
    }
    fn alters_outputs(&self) -> bool {
        true
    }
    fn sort_rank(&self) -> u16 {
        20
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use crate::techniques::TechniqueName;

    #[test]
    fn the_type_is_parsed_checked_and_claims_the_kv_cache() {
        let t = TechniqueName::parse("q8_0+kv-type:q4_0").unwrap();
        assert_eq!(t.plan().kv_dtype, Some(GgmlDType::Q4_0));
        assert!(!t.exact(), "a quantized cache changes the outputs");
        assert!(!TechniqueName::parse("kv-type:f32").unwrap().exact(), "measured, never assumed");
        let e = TechniqueName::parse("kv-type:f64").unwrap_err();
        assert!(e.contains("f32, f16, q8_0, q4_0") && e.contains("f64"), "{e}");
        let e = TechniqueName::parse("kv-type:f16+kv-off").unwrap_err();
        assert!(e.contains("the KV cache"), "{e}");
        assert!(TechniqueName::parse("kv-type").is_err());
    }
}
