//! Acceleration techniques. Each one describes itself (family, what it changes,
//! whether it is a reference, where it sorts) and adjusts an open [`ExecutionPlan`]
//! that the engine reads. A cell's technique is a [`TechniqueName`]: one name or
//! several joined by `+`, each optionally with a parameter (`q4k+layer-skip:2`).
//!
//! Adding a technique: one new file with a [`Technique`] implementation and one
//! line in [`registry`]. Nothing outside this folder spells a technique's name:
//! learners, rules, accuracy scoring and reports read the descriptors and the plan
//! (a test in `tests/it/technique_names.rs` enforces it).

mod chunked_prefill;
mod continuous_batching;
mod flash_attn;
pub mod kv_off;
pub mod kv_type;
pub mod layer_skip;
mod local;
mod lowrank;
mod name;
mod offload;
mod plan;
mod precision;
mod prefix_cache;
mod prune;
mod prune_heads;
mod quantize;
mod shard;
mod skip_layers;
mod speculative;
mod static_batching;

use candle_core::quantized::GgmlDType;

pub use name::TechniqueName;
pub use plan::{
    dtype_bits, Aspect, Draft, ExecutionPlan, LowRank, Placement, Recipe, Requirement, ServingFlags, Speculation,
    SplitPolicy,
};

/// What kind of acceleration a technique is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Floating-point width of the weights (or the file's own format).
    Precision,
    /// Block quantization of the weights.
    Quantization,
    /// How past keys/values are kept.
    KvCache,
    /// Removing parts of the network (layers, heads, channels).
    Structure,
    /// How a server batches requests.
    Batching,
    /// Serving-level reuse and splitting of work (prefix cache, chunked prefill).
    Serving,
    /// Where the model runs on a cluster: one node, moved to another, or split over several.
    Placement,
}

/// What a technique changes when it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The numbers or storage format of the weights.
    Weights,
    /// The shape of the network (fewer layers, heads, channels).
    Structure,
    /// The decoding loop (KV cache, speculation).
    Decoding,
    /// How requests are scheduled (batching, chunking, caching across requests).
    Scheduling,
    /// Where the model runs (threads, shards, nodes).
    Placement,
}

/// The workloads a reference technique is the baseline for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Plain generation: every accuracy figure is measured against this technique.
    Generation,
    /// Serving workloads: the scheduler every other policy is compared with.
    Serving,
}

/// The workloads a technique can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliesTo {
    /// Plain generation and serving workloads alike.
    Any,
    /// Only workloads with a `serving:` section (it changes how a server schedules requests).
    Serving,
    /// Only plain generation (the serving loop cannot run it).
    Generation,
}

/// The parameter of `name:S` as a fraction strictly between 0 and 1 (`symbol` names it in the error).
fn open_fraction(name: &str, symbol: &str, param: Option<&str>) -> Result<f32, String> {
    param
        .and_then(|p| p.parse().ok())
        .filter(|s: &f32| *s > 0.0 && *s < 1.0)
        .ok_or_else(|| format!("`{name}:{symbol}` needs a fraction 0 < {symbol} < 1, got `{}`", param.unwrap_or("")))
}

/// The parameter of `name:K` as a whole number of layers, at least 1.
fn layer_count(name: &str, param: Option<&str>) -> Result<usize, String> {
    param
        .and_then(|p| p.parse().ok())
        .filter(|&k| k >= 1)
        .ok_or_else(|| format!("`{name}:K` needs a whole number of layers K >= 1"))
}

pub trait Technique: Send + Sync {
    /// The name grids use (without a parameter).
    fn name(&self) -> &'static str;
    /// One line for `harness techniques` and error messages.
    fn describe(&self) -> &'static str;
    fn family(&self) -> Family;
    fn effects(&self) -> &'static [Effect];
    /// `Some(what)` when the technique takes a parameter (`name:VALUE`); `what` says
    /// what the value means, e.g. "K: number of layers to drop".
    fn parameter(&self) -> Option<&'static str> {
        None
    }
    /// Adjust the plan; `param` is the text after `:` (checked to be present exactly
    /// when [`Technique::parameter`] is `Some`). Errors say what is wrong.
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String>;
    /// Whether the outputs may differ from the reference's (weights or structure
    /// change): such a cell's accuracy is measured against the reference, never assumed.
    fn alters_outputs(&self) -> bool {
        self.effects().iter().any(|e| matches!(e, Effect::Weights | Effect::Structure))
    }
    /// `Some(scope)` for the baseline of that scope.
    fn reference_for(&self) -> Option<Scope> {
        None
    }
    /// Position in tables and figures (lower first).
    fn sort_rank(&self) -> u16;
    /// The workloads it can run on; a cell elsewhere is stored as `not_applicable`.
    fn applies_to(&self) -> AppliesTo {
        AppliesTo::Any
    }
}

/// Every technique the harness knows; the order `harness list techniques` lists them in. A static
/// slice: built once, never per call.
pub fn registry() -> &'static [&'static dyn Technique] {
    use quantize::Quantize as Q;
    static REGISTRY: &[&dyn Technique] = &[
        &precision::Precision::native(),
        &precision::Precision::f32(),
        &precision::Precision::f16(),
        &precision::Precision::bf16(),
        &Q::new("q8_0", GgmlDType::Q8_0, 4),
        &Q::new("q4_0", GgmlDType::Q4_0, 11),
        &Q::new("q4_1", GgmlDType::Q4_1, 10),
        &Q::new("q5_0", GgmlDType::Q5_0, 8),
        &Q::new("q5_1", GgmlDType::Q5_1, 7),
        &Q::new("q2k", GgmlDType::Q2K, 13),
        &Q::new("q3k", GgmlDType::Q3K, 12),
        &Q::new("q4k", GgmlDType::Q4K, 9),
        &Q::new("q5k", GgmlDType::Q5K, 6),
        &Q::new("q6k", GgmlDType::Q6K, 5),
        &kv_off::KvOff,
        &kv_type::KvType,
        &flash_attn::FlashAttn,
        &layer_skip::LayerSkip,
        &prune::Prune,
        &prune_heads::PruneHeads,
        &lowrank::LowRankTechnique,
        &speculative::Speculative,
        &skip_layers::SkipLayers,
        &static_batching::StaticBatching,
        &continuous_batching::ContinuousBatching,
        &chunked_prefill::ChunkedPrefill,
        &prefix_cache::PrefixCache,
        &local::Local,
        &offload::Offload,
        &shard::Shard,
    ];
    REGISTRY
}

/// Names as grids write them, parameterised ones with their placeholder (`layer-skip:K`).
pub fn known_names() -> Vec<String> {
    registry()
        .iter()
        .map(|t| match t.parameter() {
            Some(p) => format!("{}:{}", t.name(), p.split(':').next().unwrap_or("N").trim()),
            None => t.name().to_string(),
        })
        .collect()
}

/// The baseline technique of a scope (`f32` for generation, static batching for serving).
pub fn reference(scope: Scope) -> TechniqueName {
    let reg = registry();
    let t = reg.iter().find(|t| t.reference_for() == Some(scope)).expect("the registry has a reference per scope");
    TechniqueName::parse(t.name()).expect("a registered name parses")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::generate::KvMode;
    use crate::models::WeightFormat;

    #[test]
    fn composite_names_parse_and_plan() {
        let t = TechniqueName::parse("q4k + kv-off").unwrap();
        assert_eq!(t.as_str(), "q4k+kv-off");
        let p = t.plan();
        assert_eq!(p.weights, WeightFormat::Quant(GgmlDType::Q4K));
        assert_eq!(p.kv, KvMode::Off);
        assert!(!t.exact());
        assert!(TechniqueName::parse("kv-off").unwrap().exact());
        assert!(reference(Scope::Generation).exact());
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
        let e = TechniqueName::parse("kv-off+kv-off").unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn parameters_are_checked() {
        let t = TechniqueName::parse("q4k+layer-skip:2").unwrap();
        assert_eq!(t.plan().skip_layers, 2);
        assert!(!t.exact(), "a model with layers removed is not its reference");
        assert!(!TechniqueName::parse("layer-skip:1").unwrap().exact());
        for bad in ["layer-skip", "layer-skip:0", "layer-skip:x", "q4k:3"] {
            let e = TechniqueName::parse(bad).unwrap_err();
            assert!(e.contains(bad.split(':').next().unwrap()), "{bad}: {e}");
        }
        assert!(known_names().contains(&"layer-skip:K".to_string()));
    }

    #[test]
    fn techniques_say_which_workloads_they_apply_to() {
        let serving = TechniqueName::parse("prefix-cache+continuous-batching").unwrap();
        assert!(serving.not_applicable(false).unwrap().contains("serving technique"));
        assert_eq!(serving.not_applicable(true), None);
        let recompute = TechniqueName::parse("q4k+kv-off").unwrap();
        assert!(recompute.not_applicable(true).unwrap().contains("serving loop"));
        assert_eq!(recompute.not_applicable(false), None);
        assert_eq!(TechniqueName::parse("q8_0+layer-skip:1").unwrap().not_applicable(true), None);
    }

    #[test]
    fn stored_names_of_unknown_techniques_still_read() {
        let t = TechniqueName::from_stored("q4k+warp-drive:9");
        assert_eq!(t.as_str(), "q4k+warp-drive:9");
        assert!(!t.exact(), "an unknown part is never assumed exact");
        let mut names: Vec<TechniqueName> =
            ["zeta", "q4k+kv-off", "kv-off", "q4k", "f32", "q8_0"].map(TechniqueName::from_stored).to_vec();
        names.sort_by_key(|t| t.sort_key());
        let order: Vec<&str> = names.iter().map(|t| t.as_str()).collect();
        assert_eq!(order, ["f32", "q8_0", "q4k", "q4k+kv-off", "kv-off", "zeta"]);
    }
}
