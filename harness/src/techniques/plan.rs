//! The recipe a cell runs: what every technique of the cell set, read by the engine.

use candle_core::quantized::GgmlDType;

use crate::models::generate::KvMode;
pub use crate::models::llama::LowRank;
use crate::models::WeightFormat;

/// Speculative decoding: the draft and how many tokens it proposes per round.
#[derive(Debug, Clone, PartialEq)]
pub struct Speculation {
    pub draft: Draft,
    pub k: usize,
}

/// What drafts the tokens the model verifies.
#[derive(Debug, Clone, PartialEq)]
pub enum Draft {
    /// The same model in another weight format (e.g. q4_0).
    Format(WeightFormat),
    /// The same model without N of its layers (self-speculative).
    SkipLayers(usize),
    /// Another model of the grid (same tokenizer), by its name there.
    Model(String),
}

impl Draft {
    /// The grid model it names, if any.
    pub fn model(&self) -> Option<&str> {
        match self {
            Draft::Model(m) => Some(m),
            _ => None,
        }
    }
}

/// Where a model runs on a cluster profile (a placement technique's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// The whole model on the node requests arrive at (no split).
    Local,
    /// The whole model on the fastest node it fits on, paying the link to it.
    Offload,
    /// Contiguous layer ranges over the nodes, in a pipeline.
    Shard { split: SplitPolicy, microbatch: usize },
}

/// How a pipeline split chooses each node's layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitPolicy {
    /// Equal numbers of layers.
    Even,
    /// In proportion to node memory.
    Memory,
    /// In proportion to measured node speed.
    Speed,
    /// Least predicted time under the cost model (dynamic programming).
    Optimal,
}

/// What a worker does for a cell, after all its techniques applied. Open to new
/// kinds of techniques: each adds the field it needs and claims its [`Aspect`] so
/// two techniques can never silently decide the same thing.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionPlan {
    pub weights: WeightFormat,
    pub kv: KvMode,
    /// Scheduling of a serving workload (ignored by plain workloads).
    pub serving: ServingFlags,
    /// Decoder layers to leave out (the engine picks which by the criterion the
    /// layer-skipping technique states); 0 runs every layer.
    pub skip_layers: usize,
    /// Choose the layers to leave out by calibration (the smallest change of the hidden state)
    /// rather than by position.
    pub skip_by_change: bool,
    /// Fraction of each decoder linear layer's weights zeroed by magnitude.
    pub sparsity: Option<f32>,
    /// The KV cache's number format; `None` keeps the engine's own (f32 ours, f16 llama.cpp's).
    pub kv_dtype: Option<GgmlDType>,
    /// Flash attention on or off; `None` leaves it to the engine.
    pub flash_attention: Option<bool>,
    /// Each decoder linear layer replaced by the two factors of a truncated SVD.
    pub low_rank: Option<LowRank>,
    /// Fraction of attention heads and of FFN channels removed from every layer (structured pruning).
    pub structured: Option<f32>,
    /// Speculative decoding: a draft proposes tokens, the model verifies them in one pass.
    pub speculative: Option<Speculation>,
    /// Tokens the importance scores of structured pruning are computed on: set by the worker
    /// from the corpus's training text, never the held-out text ([`crate::workloads::calibration`]).
    pub calibration: Vec<u32>,
    /// The draft model's spec when speculation drafts with another model (set by the worker from the cell).
    pub draft_spec: Option<crate::models::ModelSpec>,
    /// Where the model runs on a cluster profile (`None`: on the node requests arrive at).
    pub placement: Option<Placement>,
    /// Which technique decided each aspect.
    claims: Vec<(Aspect, &'static str)>,
}

/// Something only one technique of a cell may decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aspect {
    Weights,
    Batching,
    KvCache,
    Layers,
    Attention,
    Sparsity,
    Heads,
    Decoding,
    Placement,
}

impl Aspect {
    fn what(self) -> &'static str {
        match self {
            Aspect::Weights => "the weight format",
            Aspect::Batching => "the batching policy",
            Aspect::KvCache => "the KV cache",
            Aspect::Layers => "the layers to run",
            Aspect::Attention => "the attention kernel",
            Aspect::Sparsity => "how each weight matrix is thinned (zeros or low rank)",
            Aspect::Heads => "the attention heads and FFN channels kept",
            Aspect::Decoding => "the decoding loop",
            Aspect::Placement => "where the model runs",
        }
    }
}

/// Serving-level techniques of a cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServingFlags {
    pub continuous: bool,
    pub chunked_prefill: bool,
    pub prefix_cache: bool,
    /// Static batching was asked for by name (it is also what runs when no policy is).
    pub static_batching: bool,
}

impl ServingFlags {
    /// Whether a technique needs the serving loop.
    pub fn any(&self) -> bool {
        self.continuous || self.chunked_prefill || self.prefix_cache
    }
}

impl Default for ExecutionPlan {
    /// The baseline: f32 weights (a GGUF's dequantized reference), KV cache on, every layer.
    fn default() -> Self {
        Self {
            weights: WeightFormat::F32,
            kv: KvMode::On,
            serving: ServingFlags::default(),
            skip_layers: 0,
            skip_by_change: false,
            sparsity: None,
            kv_dtype: None,
            flash_attention: None,
            low_rank: None,
            structured: None,
            speculative: None,
            calibration: Vec::new(),
            draft_spec: None,
            placement: None,
            claims: Vec::new(),
        }
    }
}

impl ExecutionPlan {
    /// Record that technique `by` decides `aspect`; fails when another already did.
    pub fn claim(&mut self, aspect: Aspect, by: &'static str) -> Result<(), String> {
        if let Some((_, prev)) = self.claims.iter().find(|(a, _)| *a == aspect) {
            return Err(format!("`{prev}` and `{by}` both choose {}; use one", aspect.what()));
        }
        self.claims.push((aspect, by));
        Ok(())
    }

    /// Set the weight format; fails when another technique already did.
    pub fn set_weights(&mut self, by: &'static str, fmt: WeightFormat) -> Result<(), String> {
        self.claim(Aspect::Weights, by)?;
        self.weights = fmt;
        Ok(())
    }

    /// Choose the batching policy; fails when another technique already did.
    pub fn set_batching(&mut self, by: &'static str, continuous: bool) -> Result<(), String> {
        self.claim(Aspect::Batching, by)?;
        self.serving.continuous = continuous;
        self.serving.static_batching = !continuous;
        Ok(())
    }

    /// The same recipe, ignoring which technique decided what (two spellings of one plan compare equal).
    pub fn same_recipe(&self, other: &ExecutionPlan) -> bool {
        self.weights == other.weights
            && self.kv == other.kv
            && self.serving == other.serving
            && self.skip_layers == other.skip_layers
            && self.skip_by_change == other.skip_by_change
            && self.sparsity == other.sparsity
            && self.kv_dtype == other.kv_dtype
            && self.flash_attention == other.flash_attention
            && self.low_rank == other.low_rank
            && self.structured == other.structured
            && self.speculative == other.speculative
            && self.placement == other.placement
    }

    /// Whether the engine needs calibration text to build this plan.
    pub fn needs_calibration(&self) -> bool {
        self.structured.is_some() || self.skip_by_change
    }

    /// Bits per weight the plan stores; `native` is the model file's own.
    pub fn bits_per_weight(&self, native: f64) -> f64 {
        match self.weights {
            WeightFormat::Native => native,
            WeightFormat::F32 => 32.0,
            WeightFormat::F16 | WeightFormat::BF16 => 16.0,
            WeightFormat::Quant(d) => dtype_bits(d),
        }
    }

    /// Whether the weights are a k-quant (256-wide super-blocks).
    pub fn kquant_weights(&self) -> bool {
        matches!(
            self.weights,
            WeightFormat::Quant(GgmlDType::Q2K | GgmlDType::Q3K | GgmlDType::Q4K | GgmlDType::Q5K | GgmlDType::Q6K)
        )
    }

    /// Whether the weights are floating point (`native` bits tell for the file's own format).
    pub fn float_weights(&self, native: f64) -> bool {
        matches!(self.weights, WeightFormat::F32 | WeightFormat::F16 | WeightFormat::BF16)
            || (self.weights == WeightFormat::Native && native >= 16.0)
    }
}

/// Bits per weight of a ggml storage type.
pub fn dtype_bits(d: GgmlDType) -> f64 {
    d.type_size() as f64 * 8.0 / d.block_size() as f64
}
