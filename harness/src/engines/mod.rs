//! Inference engines: what runs a model for a cell. `engine` is an axis of the grid
//! and part of every cell's identity.
//!
//! An [`Engine`] loads a model for a cell's [`ExecutionPlan`] into a [`LoadedModel`];
//! generation, serving, accuracy and the worker talk only to those two traits, so a
//! second engine is one more folder here and one more line in [`by_name`]. What an
//! engine cannot do it says in its [`Capabilities`]; such cells are `not_applicable`.

pub mod candle;
#[cfg(feature = "llamacpp")]
pub mod llamacpp;
pub mod mock;
pub mod rss;

use std::path::Path;

use anyhow::Result;
use candle_core::Tensor;

use crate::models::generate::KvMode;
use crate::models::linear::LoadStats;
use crate::models::llama::Segment;
use crate::models::weights::NotApplicable;
use crate::models::ModelSpec;
use candle_core::quantized::GgmlDType;

use crate::techniques::{ExecutionPlan, Requirement};

/// The engine of cells whose grid names none: our candle engine.
pub const DEFAULT_ENGINE: &str = "candle";

/// The candle engine's version: bump it with any change that can move a timing, so
/// stored cells of the old engine are measured again.
pub const CANDLE_VERSION: &str = "candle-0.11.1+decoder-4";

/// Every engine, by name: one line per engine. The mock is here (tests and the worker
/// reach it by name) but not in [`names`], so no grid can select it.
pub fn by_name(name: &str) -> Option<Box<dyn Engine>> {
    match name {
        DEFAULT_ENGINE => Some(Box::new(candle::CandleEngine)),
        #[cfg(feature = "llamacpp")]
        llamacpp::NAME => Some(Box::new(llamacpp::LlamaCppEngine)),
        mock::NAME => Some(Box::new(mock::MockEngine::default())),
        _ => None,
    }
}

/// Names of the engines a grid may use.
pub fn names() -> Vec<&'static str> {
    vec![
        DEFAULT_ENGINE,
        #[cfg(feature = "llamacpp")]
        llamacpp::NAME,
    ]
}

/// How each engine other than ours was built (compile flags, SIMD), for every cell's fingerprint.
pub fn builds() -> Vec<(&'static str, String)> {
    vec![
        #[cfg(feature = "llamacpp")]
        (llamacpp::NAME, llamacpp::system_info()),
    ]
}

/// Engines that exist but are not compiled into this build, with how to get them.
pub fn not_built() -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    if cfg!(not(feature = "llamacpp")) {
        out.push(("llamacpp", "build with `--features llamacpp` (scripts/setup.sh does)"));
    }
    out
}

/// The version of engine `name`, part of a cell's identity.
pub fn version(name: &str) -> Option<&'static str> {
    names().contains(&name).then(|| by_name(name).map(|e| e.version())).flatten()
}

/// What an engine can run beyond prefill and decode of a batch with a KV cache. Each engine
/// writes every field out (no `..Capabilities::ALL`), so a new capability fails to compile
/// until every engine has said whether it has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Decoding without a KV cache (the whole sequence recomputed every step).
    pub recompute: bool,
    /// The ragged step over many sequences that the serving loop drives.
    pub ragged_step: bool,
    /// Leaving decoder layers out.
    pub layer_skip: bool,
    /// Log-probabilities of a teacher-forced pass (every cell scores accuracy).
    pub log_probs: bool,
    /// The number formats its KV cache can be kept in (beyond its own default).
    pub kv_dtypes: &'static [GgmlDType],
    /// Flash attention switched on or off as a plan asks.
    pub flash_attention: bool,
    /// Rewriting the weights at load: magnitude and structured pruning, low-rank factors.
    pub prune: bool,
    /// Speculative decoding with a draft of its own.
    pub speculative: bool,
}

impl Capabilities {
    pub const ALL: Capabilities = Capabilities {
        recompute: true,
        ragged_step: true,
        layer_skip: true,
        log_probs: true,
        kv_dtypes: &[GgmlDType::F32, GgmlDType::F16, GgmlDType::Q8_0, GgmlDType::Q4_0],
        flash_attention: true,
        prune: true,
        speculative: true,
    };

    /// Whether an engine with these capabilities meets `r`: every requirement a recipe can
    /// make is answered here, by an exhaustive match (a new one fails to compile until it is).
    pub fn supports(&self, r: &Requirement) -> bool {
        let Capabilities {
            recompute,
            ragged_step,
            layer_skip,
            log_probs,
            kv_dtypes,
            flash_attention,
            prune,
            speculative,
        } = *self;
        match r {
            Requirement::KvDtype(d) => kv_dtypes.contains(d),
            Requirement::Recompute => recompute,
            Requirement::RaggedStep => ragged_step,
            Requirement::LayerSkip => layer_skip,
            Requirement::LogProbs => log_probs,
            Requirement::FlashAttention => flash_attention,
            Requirement::MagnitudePruning | Requirement::StructuredPruning | Requirement::LowRank => prune,
            Requirement::Speculative => speculative,
        }
    }

    /// Why a cell running `plan` (on a serving workload when `serving`) cannot run
    /// on an engine with these capabilities; `None` when it can.
    pub fn lacking(&self, engine: &str, plan: &ExecutionPlan, serving: bool) -> Option<String> {
        plan.requirements(serving)
            .into_iter()
            .find(|r| !self.supports(r))
            .map(|r| format!("engine `{engine}` lacks {}", r.what()))
    }
}

/// An inference engine: loads models for cells.
pub trait Engine {
    fn name(&self) -> &'static str;
    /// Part of a cell's identity: bump it with any change that can move a timing.
    fn version(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    /// Load `spec` (found in `hub_cache` when it is a hub model) the way `plan` says:
    /// its weight format and the layers it leaves out. Fails with [`NotApplicable`]
    /// when the plan asks for something this engine or model cannot do.
    fn load(&self, spec: &ModelSpec, plan: &ExecutionPlan, hub_cache: &Path) -> Result<Box<dyn LoadedModel>>;

    /// Fail with [`NotApplicable`] when this engine lacks a capability the cell needs.
    fn check(&self, plan: &ExecutionPlan, serving: bool) -> Result<()> {
        match self.capabilities().lacking(self.name(), plan, serving) {
            Some(why) => Err(NotApplicable(why).into()),
            None => Ok(()),
        }
    }
}

/// A model loaded by an engine, ready to run.
pub trait LoadedModel {
    /// Start a batch of sequences, keeping keys/values between steps when `kv` is on.
    fn batch(&self, kv: KvMode) -> Result<Box<dyn Batch + '_>>;
    /// One step over a ragged set of sequences (prefill chunks and decode tokens
    /// alike), each with its own KV storage; returns each segment's greedy next token.
    fn step_ragged(&self, segs: &mut [Segment<'_>]) -> Result<Vec<u32>>;
    /// Log-probabilities `(positions, vocab)` of a teacher-forced pass over `tokens`.
    fn log_probs(&self, tokens: &[u32]) -> Result<Tensor>;
    /// Decoder layers that run (KV slots each sequence needs).
    fn layers(&self) -> usize;
    /// What loading built: tensor counts and weight bytes as run.
    fn load_stats(&self) -> &LoadStats;
    /// Peak memory of the engine so far, MiB (an in-process engine: the process's peak RSS).
    fn peak_memory_mb(&self) -> f64;

    fn weight_bytes(&self) -> usize {
        self.load_stats().weight_bytes
    }

    /// Figures of what the engine did beyond timings, for the cell's `extra` (parameters as
    /// built, speculative decoding's acceptance); nothing by default.
    fn run_stats(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
    /// Processes of this model's own whose CPU time is this cell's work, not another load
    /// (a cluster's emulated node servers); `None` for a model run in this process alone.
    fn own_processes(&self) -> Option<Vec<u32>> {
        None
    }
    /// What the nodes it runs on cost per hour together, when that is not the profile's price
    /// (a model split over a cluster's nodes pays for the nodes it used).
    fn price_per_hour(&self) -> Option<f64> {
        None
    }
}

/// A batch of equal-length sequences being generated together.
pub trait Batch {
    /// Run the prompts (all one length); returns each one's greedy next token.
    fn prefill(&mut self, prompts: &[Vec<u32>]) -> Result<Vec<u32>>;
    /// One decode step: `seqs` are the sequences so far, each ending in its latest
    /// pick; returns each one's greedy next token.
    fn decode(&mut self, seqs: &[Vec<u32>]) -> Result<Vec<u32>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_knows_every_grid_engine_and_hides_the_mock() {
        for n in names() {
            let e = by_name(n).expect("grid engine in the registry");
            assert_eq!(e.name(), n);
            assert_eq!(version(n), Some(e.version()));
        }
        assert_eq!(version(DEFAULT_ENGINE), Some(CANDLE_VERSION));
        assert!(by_name(mock::NAME).is_some());
        assert!(!names().contains(&mock::NAME));
        assert_eq!(version(mock::NAME), None);
        assert!(by_name("nope").is_none());
    }

    #[test]
    fn kv_formats_and_flash_attention_are_checked_against_the_engine() {
        let candle = by_name(DEFAULT_ENGINE).unwrap().capabilities();
        let mut plan = ExecutionPlan::default();
        plan.kv_dtype = Some(GgmlDType::F32);
        assert_eq!(candle.lacking("candle", &plan, false), None, "our cache is f32");
        plan.kv_dtype = Some(GgmlDType::Q8_0);
        assert_eq!(candle.lacking("candle", &plan, false), None, "our flat cache has an 8-bit form");
        let engine = by_name(DEFAULT_ENGINE).unwrap();
        assert!(engine.check(&plan, true).unwrap_err().to_string().contains("serving caches in f32 only"));
        plan.kv_dtype = Some(GgmlDType::Q4_0);
        let why = candle.lacking("candle", &plan, false).unwrap();
        assert!(why.contains("lacks a KV cache in Q4_0"), "{why}");
        let mut flash = ExecutionPlan::default();
        flash.flash_attention = Some(false);
        assert!(candle.lacking("candle", &flash, false).unwrap().contains("flash attention"));
        #[cfg(feature = "llamacpp")]
        {
            let llama = by_name(llamacpp::NAME).unwrap().capabilities();
            assert_eq!(llama.lacking("llamacpp", &plan, false), None);
            assert_eq!(llama.lacking("llamacpp", &flash, false), None);
        }
    }

    #[test]
    fn a_lacking_capability_names_itself() {
        let caps = Capabilities { recompute: false, ..Capabilities::ALL };
        let plain = ExecutionPlan::default();
        assert_eq!(caps.lacking("x", &plain, true), None);
        let mut off = ExecutionPlan::default();
        off.kv = KvMode::Off;
        let why = caps.lacking("x", &off, false).unwrap();
        assert!(why.contains("engine `x` lacks decoding without a KV cache"), "{why}");
        let serving_less = Capabilities { ragged_step: false, ..Capabilities::ALL };
        assert!(serving_less.lacking("x", &plain, true).unwrap().contains("ragged"));
        assert_eq!(serving_less.lacking("x", &plain, false), None);
        let mut skip = ExecutionPlan::default();
        skip.skip_layers = 2;
        assert!(Capabilities { layer_skip: false, ..Capabilities::ALL }.lacking("x", &skip, false).is_some());
    }
}
