//! What one executed cell leaves behind: the row the store keeps.
//!
//! These types are the contract between the execute stage (which fills them)
//! and everything downstream (store, export, learn, report).

use serde::{Deserialize, Serialize};

use super::fingerprint::{Fingerprint, MachineClass};

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

/// Whether a measured cell's figures can be trusted: `valid`, or `invalid` (too few samples,
/// too noisy, a busy machine) with the reason beside it. Stored as its name; a stored name
/// this harness does not know reads as `invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Verdict {
    #[default]
    Valid,
    Invalid,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
        }
    }

    pub fn is_valid(self) -> bool {
        self == Verdict::Valid
    }
}

impl From<&str> for Verdict {
    fn from(s: &str) -> Verdict {
        if s == "valid" {
            Verdict::Valid
        } else {
            Verdict::Invalid
        }
    }
}

impl From<String> for Verdict {
    fn from(s: String) -> Verdict {
        Verdict::from(s.as_str())
    }
}

impl From<Verdict> for String {
    fn from(v: Verdict) -> String {
        v.as_str().to_string()
    }
}

/// `verdict == "invalid"` reads as it always has.
impl PartialEq<&str> for Verdict {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Headline metrics of a measured cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Whether the figures can be trusted (`invalid` with [`Summary::verdict_reason`]).
    pub verdict: Verdict,
    pub verdict_reason: Option<String>,
    /// Timed repetitions (warm-up excluded).
    pub reps: usize,
    /// End-to-end request (batch) latency.
    pub latency_ms: LatencyStats,
    /// Median time to first token.
    pub ttft_ms: f64,
    /// Median time per output token after the first.
    pub tpot_ms: f64,
    /// Decode tokens per second of one sequence (1000 / tpot), plain and serving cells alike.
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

/// The full record of one cell, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellRecord {
    /// Content key: hash of the cell's [`super::CellIdentity`].
    pub key: String,
    pub grid: String,
    pub model: String,
    pub technique: String,
    pub threads: usize,
    /// The inference engine that ran it (`candle` for cells stored before engines were an axis).
    pub engine: String,
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

impl CellRecord {
    /// The class of machine the cell was measured on.
    pub fn machine(&self) -> MachineClass {
        MachineClass::of(&self.fingerprint)
    }

    /// The cell's task; an error when its stored configuration cannot be read.
    pub fn task_id(&self) -> Result<super::TaskId, serde_json::Error> {
        super::TaskId::of(self)
    }

    /// The cell's arm: its technique at its thread count on its engine.
    pub fn arm(&self) -> super::Arm {
        super::Arm::of(self)
    }

    /// `model / workload / hardware` as the grid named them: the task's plain name.
    pub fn task_name(&self) -> String {
        super::task::task_name(&self.model, &self.workload, &self.hardware)
    }

    /// The key a cell of configuration `cfg` (this cell's, or one derived from it) has under
    /// `engine_version`, with this cell's model digest, code version and machine class.
    pub fn expected_key(&self, cfg: &crate::config::CellConfig, engine_version: &str) -> String {
        super::CellIdentity::new(cfg, &self.model_digest, engine_version, &self.code_version, &self.machine()).key()
    }

    /// Whether the cell ran its scope's baseline technique: f32 weights for plain generation
    /// (`serving` false), static batching for a serving workload.
    pub fn is_reference(&self, serving: bool) -> bool {
        let scope = if serving { crate::techniques::Scope::Serving } else { crate::techniques::Scope::Generation };
        crate::techniques::TechniqueName::from_stored(&self.technique).is_reference(scope)
    }
}

/// A fully populated record for tests here and in the exporters.
#[cfg(test)]
pub fn test_record(key: &str) -> CellRecord {
    CellRecord {
        key: key.to_owned(),
        grid: "smoke".into(),
        model: "smollm2-135m".into(),
        technique: "q4_1".into(),
        threads: 4,
        workload: "chat, short".into(),
        hardware: "local".into(),
        engine: "candle".into(),
        emulated: false,
        status: CellStatus::Ok,
        reason: None,
        summary: Some(Summary {
            verdict: Verdict::Valid,
            verdict_reason: Some("cv \"low\"".into()),
            reps: 3,
            latency_ms: LatencyStats {
                p50: 10.5,
                p90: 11.25,
                p99: 12.0,
                mean: 10.9,
                stdev: 0.1 + 0.2,
                p50_ci_lo: 10.0,
                p50_ci_hi: 11.0,
                outliers: 1,
            },
            ttft_ms: 3.5,
            tpot_ms: 1.25,
            decode_tok_s: 800.0,
            prefill_tok_s: 4000.0,
            output_tok_s: 700.0,
            peak_rss_mb: 512.0,
            weight_mb: 90.5,
            perplexity: Some(12.5),
            ref_perplexity: Some(12.0),
            agreement: Some(0.97),
            kl_mean: None,
            cost_per_1k_tokens: 0.001,
            serving: Some(ServingStats {
                requests: 16,
                ttft_p90_ms: 30.0,
                ttft_p99_ms: 31.5,
                ttft_mean_ms: 20.25,
                tpot_p90_ms: 2.5,
                tpot_p99_ms: 3.0,
                itl_p50_ms: 1.0,
                itl_p90_ms: 2.0,
                itl_p99_ms: 4.0,
                request_throughput: 5.5,
                goodput: 0.75,
                prefix_hit_rate: 0.5,
            }),
            extra: serde_json::json!({"fallback": ["lm_head"], "n": 2}),
        }),
        samples: vec![
            SampleSeries { metric: "latency_ms".into(), values: vec![10.5, 11.25, 12.0] },
            SampleSeries { metric: "empty".into(), values: vec![] },
            SampleSeries { metric: "ttft_ms".into(), values: vec![3.0, 3.5, 4.0] },
        ],
        config_json: r#"{"model":"smollm2-135m","threads":4}"#.into(),
        fingerprint: Fingerprint {
            cpu_model: "Test CPU, 4 cores".into(),
            physical_cores: 4,
            logical_cores: 8,
            memory_mb: 16384,
            os: "linux".into(),
            crate_version: "0.1.0".into(),
            git_revision: "abc123".into(),
            rustflags: "-C target-cpu=native".into(),
            target_features: "avx2,fma".into(),
            gpu: None,
            engine_builds: vec![],
        },
        model_digest: "sha256:feed".into(),
        code_version: "0.1.0+abc123".into(),
        started_at: 1_700_000_000.25,
        wall_s: 4.5,
    }
}
