//! What one executed cell leaves behind: the row the store keeps.
//!
//! These types are the contract between the execute stage (which fills them)
//! and everything downstream (store, export, learn, report).

use serde::{Deserialize, Serialize};

/// How a cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellStatus {
    /// Measured; see the summary's verdict for whether the figures are trustworthy.
    Ok,
    /// The worker errored, panicked, was killed or timed out; `reason` says which.
    Failed,
    /// The technique cannot apply to this model/workload; `reason` says why.
    NotApplicable,
}

impl CellStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::Failed => "failed",
            CellStatus::NotApplicable => "not_applicable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(CellStatus::Ok),
            "failed" => Some(CellStatus::Failed),
            "not_applicable" => Some(CellStatus::NotApplicable),
            _ => None,
        }
    }
}

/// Distribution summary of one repeated measurement (milliseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
    pub stdev: f64,
    /// Bootstrap 95% confidence interval of the median.
    pub p50_ci_lo: f64,
    pub p50_ci_hi: f64,
    /// Samples beyond 1.5 IQR of the quartiles.
    pub outliers: usize,
}

/// Headline metrics of a measured cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `valid` or `invalid`.
    pub verdict: String,
    pub verdict_reason: Option<String>,
    /// Timed repetitions (warm-up excluded).
    pub reps: usize,
    /// End-to-end request (batch) latency.
    pub latency_ms: LatencyStats,
    /// Median time to first token.
    pub ttft_ms: f64,
    /// Median time per output token after the first.
    pub tpot_ms: f64,
    /// Decode tokens per second over the whole batch (1000 / tpot * batch).
    pub decode_tok_s: f64,
    /// Prompt tokens per second during prefill.
    pub prefill_tok_s: f64,
    /// Generated tokens per second end to end.
    pub output_tok_s: f64,
    /// Peak resident set of the worker process after the timed phase.
    pub peak_rss_mb: f64,
    /// Bytes held by the model weights as run (after the technique).
    pub weight_mb: f64,
    /// Perplexity on held-out text under this technique.
    pub perplexity: Option<f64>,
    /// Perplexity of the f32 reference on the same text.
    pub ref_perplexity: Option<f64>,
    /// Share of positions whose argmax equals the f32 reference's.
    pub agreement: Option<f64>,
    /// Mean KL(reference || technique) over positions, nats.
    pub kl_mean: Option<f64>,
    /// Price of the hardware profile times runtime, per 1000 generated tokens.
    pub cost_per_1k_tokens: f64,
    /// Request-level figures of a serving workload (arrivals, queueing, batching).
    #[serde(default)]
    pub serving: Option<ServingStats>,
    /// Anything technique-specific (fallback tensors, etc.).
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// What a serving cell adds: distributions over requests and the session's rates.
/// (The request latency, median TTFT and TPOT stay in [`Summary`].)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServingStats {
    pub requests: usize,
    pub ttft_p90_ms: f64,
    pub ttft_p99_ms: f64,
    pub ttft_mean_ms: f64,
    pub tpot_p90_ms: f64,
    pub tpot_p99_ms: f64,
    /// Inter-token latency over every gap of every request.
    pub itl_p50_ms: f64,
    pub itl_p90_ms: f64,
    pub itl_p99_ms: f64,
    /// Completed requests per second of the session.
    pub request_throughput: f64,
    /// Share of requests meeting both the TTFT and the TPOT target of the workload.
    pub goodput: f64,
    /// Share of prompt tokens whose KV came from the prefix cache.
    pub prefix_hit_rate: f64,
}

/// One named series of raw samples (e.g. `latency_ms`, `ttft_ms`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSeries {
    pub metric: String,
    pub values: Vec<f64>,
}

/// Where and with what a cell ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub cpu_model: String,
    pub physical_cores: usize,
    pub logical_cores: usize,
    pub memory_mb: u64,
    pub os: String,
    pub crate_version: String,
    pub git_revision: String,
    /// RUSTFLAGS the binary was built with, e.g. `-C target-cpu=native`.
    pub rustflags: String,
    /// SIMD features compiled in (avx2, fma, f16c, ...).
    pub target_features: String,
}

/// The full record of one cell, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// Content key: hash of resolved config, model digest and code version.
    pub key: String,
    pub grid: String,
    pub model: String,
    pub technique: String,
    pub threads: usize,
    pub workload: String,
    pub hardware: String,
    /// True when the hardware profile is emulated rather than the real machine.
    pub emulated: bool,
    pub status: CellStatus,
    pub reason: Option<String>,
    pub summary: Option<Summary>,
    pub samples: Vec<SampleSeries>,
    /// The resolved cell configuration, JSON.
    pub config_json: String,
    pub fingerprint: Fingerprint,
    pub model_digest: String,
    pub code_version: String,
    /// Unix seconds.
    pub started_at: f64,
    pub wall_s: f64,
}
