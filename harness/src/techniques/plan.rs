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

/// Every decision a cell's techniques make: what the engine must build and run. Two
/// cells with equal recipes run the same computation whatever their techniques are called
/// (derived equality). Its consumers — the engines' requirements ([`Recipe::requirements`]),
/// the cell's stored description ([`Recipe::describe`]) and the cluster check
/// ([`Recipe::reshapes_model`]) — each destructure it whole, so a field added here fails to
/// compile until each of them has decided what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipe {
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
    /// Where the model runs on a cluster profile (`None`: on the node requests arrive at).
    pub placement: Option<Placement>,
}

/// What running a cell asks of its engine beyond prefill and decode of a batch with a KV
/// cache, in the order a lacking engine is told about them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Requirement {
    /// The KV cache kept in this number format.
    KvDtype(GgmlDType),
    /// Decoding without a KV cache (the whole sequence recomputed every step).
    Recompute,
    /// The ragged batch step the serving loop drives (a serving workload).
    RaggedStep,
    /// Leaving decoder layers out.
    LayerSkip,
    /// Log-probabilities of a teacher-forced pass (every cell scores accuracy).
    LogProbs,
    /// Flash attention switched on or off as asked.
    FlashAttention,
    /// Magnitude pruning of the weights.
    MagnitudePruning,
    /// Structured pruning of heads and channels.
    StructuredPruning,
    /// Low-rank factors of the weights.
    LowRank,
    /// Speculative decoding with a draft.
    Speculative,
}

impl Requirement {
    /// What is lacking, as an engine that cannot meet it is told: "engine `x` lacks WHAT".
    pub fn what(&self) -> String {
        match self {
            Requirement::KvDtype(d) => format!("a KV cache in {d:?}"),
            Requirement::Recompute => "decoding without a KV cache".into(),
            Requirement::RaggedStep => "the ragged batch step of the serving loop".into(),
            Requirement::LayerSkip => "leaving decoder layers out".into(),
            Requirement::LogProbs => "log-probabilities for accuracy scoring".into(),
            Requirement::FlashAttention => "a choice of flash attention".into(),
            Requirement::MagnitudePruning => "magnitude pruning of the weights".into(),
            Requirement::StructuredPruning => "structured pruning of heads and channels".into(),
            Requirement::LowRank => "low-rank factors of the weights".into(),
            Requirement::Speculative => "speculative decoding".into(),
        }
    }
}

impl Recipe {
    /// What an engine must be able to do to run this recipe (on a serving workload when
    /// `serving`). Placement is the cluster's to meet, not the engine's; weight formats are
    /// each engine's to build or refuse at load.
    pub fn requirements(&self, serving: bool) -> Vec<Requirement> {
        let Recipe {
            weights: _,
            kv,
            serving: _,
            skip_layers,
            skip_by_change: _,
            sparsity,
            kv_dtype,
            flash_attention,
            low_rank,
            structured,
            speculative,
            placement: _,
        } = self;
        let mut out = Vec::new();
        out.extend(kv_dtype.map(Requirement::KvDtype));
        let needs = [
            (*kv == KvMode::Off, Requirement::Recompute),
            (serving, Requirement::RaggedStep),
            (*skip_layers > 0, Requirement::LayerSkip),
            (true, Requirement::LogProbs),
            (flash_attention.is_some(), Requirement::FlashAttention),
            (sparsity.is_some(), Requirement::MagnitudePruning),
            (structured.is_some(), Requirement::StructuredPruning),
            (low_rank.is_some(), Requirement::LowRank),
            (speculative.is_some(), Requirement::Speculative),
        ];
        out.extend(needs.into_iter().filter(|(need, _)| *need).map(|(_, r)| r));
        out
    }

    /// Whether the model is rebuilt beyond its weight and KV formats (pruned, factored, layers
    /// left out, or drafted for): what a cluster's nodes cannot build.
    pub fn reshapes_model(&self) -> bool {
        let Recipe {
            weights: _,
            kv: _,
            serving: _,
            skip_layers,
            skip_by_change: _,
            sparsity,
            kv_dtype: _,
            flash_attention: _,
            low_rank,
            structured,
            speculative,
            placement: _,
        } = self;
        speculative.is_some() || structured.is_some() || *skip_layers > 0 || low_rank.is_some() || sparsity.is_some()
    }

    /// The recipe as a stored cell describes it (its `extra`). Decisions the cell's technique
    /// name already spells out in full are not repeated.
    pub fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        let Recipe {
            weights,
            kv,
            serving,
            skip_layers,
            // In the technique name (`layer-skip-calib:K`), `sparsity` below as measured, and the
            // parameters' names (`kv-type:`, `flash-attn:`, `lowrank:`, `prune-heads:`, `spec:`, placements).
            skip_by_change: _,
            sparsity: _,
            kv_dtype: _,
            flash_attention: _,
            low_rank: _,
            structured: _,
            speculative: _,
            placement: _,
        } = self;
        let ServingFlags { continuous, chunked_prefill, prefix_cache, static_batching: _ } = serving;
        [
            ("weight_format", serde_json::json!(weights.name())),
            ("kv_cache", serde_json::json!(matches!(kv, KvMode::On))),
            ("continuous_batching", serde_json::json!(continuous)),
            ("chunked_prefill", serde_json::json!(chunked_prefill)),
            ("prefix_cache", serde_json::json!(prefix_cache)),
            ("skipped_layers", serde_json::json!(skip_layers)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// What a worker does for a cell, after all its techniques applied: the [`Recipe`] (read
/// through `Deref`), the inputs the worker sets from the cell at run time, and which
/// technique decided each [`Aspect`], so two techniques can never silently decide the
/// same thing.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionPlan {
    pub recipe: Recipe,
    /// Tokens the importance scores of structured pruning are computed on: set by the worker
    /// from the corpus's training text, never the held-out text ([`crate::workloads::calibration`]).
    pub calibration: Vec<u32>,
    /// The draft model's spec when speculation drafts with another model (set by the worker from the cell).
    pub draft_spec: Option<crate::models::ModelSpec>,
    /// Which technique decided each aspect.
    claims: Vec<(Aspect, &'static str)>,
}

impl std::ops::Deref for ExecutionPlan {
    type Target = Recipe;
    fn deref(&self) -> &Recipe {
        &self.recipe
    }
}

impl std::ops::DerefMut for ExecutionPlan {
    fn deref_mut(&mut self) -> &mut Recipe {
        &mut self.recipe
    }
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

impl Default for Recipe {
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
            placement: None,
        }
    }
}

impl Default for ExecutionPlan {
    /// The baseline recipe, no run-time inputs, nothing claimed.
    fn default() -> Self {
        Self { recipe: Recipe::default(), calibration: Vec::new(), draft_spec: None, claims: Vec::new() }
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
        self.recipe == other.recipe
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
