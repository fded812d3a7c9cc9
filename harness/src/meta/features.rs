//! Meta-features: what a selector may know about a task before running it.
//!
//! Numeric descriptors of the model (sizes from its config), the hardware (price,
//! cores, memory) and the workload (lengths, batch, arrivals, shared prefix), plus
//! derived roofline quantities: FLOPs per token, arithmetic intensity of decode
//! and prefill, weight bytes streamed per generated token, KV-cache size and
//! whether it all fits in memory. Nothing here looks at a measurement.
//!
//! Arm features describe a technique @ threads in the same terms (bits per weight,
//! KV cache, batching policy, threads), so joint models can share strength across arms.

use std::path::Path;

use candle_core::quantized::GgmlDType;

use crate::config::{CellConfig, HardwareSpec, WorkloadSpec};
use crate::models::gguf::GgufSource;
use crate::models::{hub, LlamaConfig, ModelSpec, WeightSource};
use crate::record::Fingerprint;

/// Declares a struct of named `f64` features with its `NAMES` (the field names, in
/// declaration order), `to_vec()` and `from_slice()`: the names and the numeric rows
/// handed to learners come from one list, so they cannot drift apart.
macro_rules! named_features {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub struct $name {
            $($(#[$fm])* pub $field: f64,)*
        }

        impl $name {
            /// The field names, in the order of [`Self::to_vec`].
            pub const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The values in [`Self::NAMES`] order: the row a learner sees.
            pub fn to_vec(&self) -> Vec<f64> {
                vec![$(self.$field),*]
            }

            /// Every feature `v` (tests and synthetic tables).
            pub fn filled(v: f64) -> Self {
                $name { $($field: v,)* }
            }

            /// The inverse of [`Self::to_vec`]; an error unless `v` has one value per name.
            pub fn from_slice(v: &[f64]) -> anyhow::Result<Self> {
                anyhow::ensure!(
                    v.len() == Self::NAMES.len(),
                    "{} needs {} values, got {}",
                    stringify!($name),
                    Self::NAMES.len(),
                    v.len()
                );
                let mut it = v.iter().copied();
                Ok($name { $($field: it.next().unwrap_or(f64::NAN),)* })
            }
        }
    };
}

named_features! {
    /// A task's raw numeric features ([`TaskDescriptor::features`]); NaN where unknown
    /// (imputed with the training mean when standardised).
    pub struct TaskFeatures {
        log2_params,
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        ffn_ratio,
        log2_vocab,
        native_bits_per_weight,
        synthetic,
        price_per_hour,
        cores,
        memory_gb,
        log2_prompt_tokens,
        log2_output_tokens,
        log2_batch,
        decode_share,
        serving,
        log2_requests,
        open_loop,
        shared_prefix_share,
        length_spread,
        log2_flops_per_token,
        log2_decode_intensity,
        log2_prefill_intensity,
        log2_weight_mb_per_token,
        log2_kv_mb,
        fits_in_memory,
        log2_work_gflop,
        attention_share,
    }
}

/// Names of [`TaskDescriptor::extra`]: the node's compute share (CPU quota per core,
/// 1 for an unthrottled node; the mean over a cluster's cores).
pub const EXTRA_NAMES: &[&str] = &["compute_share"];

/// What is known about a model without running it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub name: String,
    /// `None` when the model file is not in the hub cache (sizes then unknown).
    pub config: Option<LlamaConfig>,
    /// Bits per weight of the model file as stored (32 for synthetic f32 weights).
    pub native_bits: f64,
    pub synthetic: bool,
    /// One line for the text description, e.g. `GGUF Q4_1 file from HuggingFaceTB/...`.
    pub source: String,
}

impl ModelInfo {
    /// Sizes from a synthetic spec, or from the GGUF header in the hub cache (a cheap read:
    /// metadata and tensor table only). A missing file gives a warning and unknown sizes.
    pub fn resolve(name: &str, spec: &ModelSpec, hub_cache: &Path) -> (ModelInfo, Option<String>) {
        match spec {
            ModelSpec::Synthetic(s) => (
                ModelInfo {
                    name: name.into(),
                    config: Some(s.config()),
                    native_bits: 32.0,
                    synthetic: true,
                    source: "synthetic Llama-style decoder with seeded random f32 weights".into(),
                },
                None,
            ),
            ModelSpec::Hub(h) => {
                let unknown = |why: String| {
                    let info = ModelInfo {
                        name: name.into(),
                        config: None,
                        native_bits: f64::NAN,
                        synthetic: false,
                        source: format!("GGUF file {} from {}", h.file, h.repo),
                    };
                    (info, Some(why))
                };
                let Some(path) = hub::resolve(hub_cache, &h.repo, &h.revision, &h.file) else {
                    return unknown(format!(
                        "model `{name}` ({}/{}) is not in the hub cache {}; its size features are unknown \
                         (run {} to fetch it)",
                        h.repo,
                        h.file,
                        hub_cache.display(),
                        hub::FETCH_COMMAND
                    ));
                };
                match GgufSource::open(&path) {
                    Ok(src) => {
                        let dtype = src.content().tensor_infos.get("blk.0.attn_q.weight").map(|t| t.ggml_dtype);
                        let native_bits = dtype.map_or(f64::NAN, bits_per_weight);
                        let info = ModelInfo {
                            name: name.into(),
                            config: Some(src.config().clone()),
                            native_bits,
                            synthetic: false,
                            source: format!(
                                "GGUF {} file {} from {}",
                                dtype.map_or("?".into(), |d| format!("{d:?}")),
                                h.file,
                                h.repo
                            ),
                        };
                        (info, None)
                    }
                    Err(e) => unknown(format!("model `{name}`: cannot read the GGUF header: {e:#}")),
                }
            }
        }
    }
}

/// Bits per weight of a ggml storage type.
pub fn bits_per_weight(d: GgmlDType) -> f64 {
    crate::techniques::dtype_bits(d)
}

/// The machine a hardware profile stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct HardwareInfo {
    pub name: String,
    pub spec: HardwareSpec,
    pub cpu_model: String,
    pub cores: usize,
    pub memory_mb: u64,
}

impl HardwareInfo {
    pub fn new(name: &str, spec: &HardwareSpec, fp: &Fingerprint) -> Self {
        HardwareInfo {
            name: name.into(),
            spec: spec.clone(),
            cpu_model: fp.cpu_model.clone(),
            // A cluster: its nodes' compute (cores × share) and memory together.
            cores: match &spec.cluster {
                Some(c) => c.nodes.iter().map(|n| n.cores as f64 * n.compute_share).sum::<f64>().round() as usize,
                None => spec.max_threads().unwrap_or(fp.physical_cores),
            }
            .max(1),
            memory_mb: match &spec.cluster {
                Some(c) => c.nodes.iter().map(|n| n.memory_mb.unwrap_or(fp.memory_mb)).sum(),
                None => spec.memory_cap_mb().unwrap_or(fp.memory_mb),
            },
        }
    }
}

/// Everything features are computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDescriptor {
    pub model: ModelInfo,
    pub workload_name: String,
    pub workload: WorkloadSpec,
    pub hardware: HardwareInfo,
}

impl TaskDescriptor {
    pub fn from_cell(cfg: &CellConfig, model: ModelInfo, fp: &Fingerprint) -> Self {
        TaskDescriptor {
            model,
            workload_name: cfg.workload.clone(),
            workload: cfg.workload_spec.clone(),
            hardware: HardwareInfo::new(&cfg.hardware, &cfg.hardware_spec, fp),
        }
    }

    /// Descriptors beyond [`TaskFeatures`], named by [`EXTRA_NAMES`]: read only by the
    /// selectors that ask for them by name (the frozen ones never see them).
    pub fn extra(&self) -> Vec<f64> {
        let spec = &self.hardware.spec;
        let share = match &spec.cluster {
            Some(c) => {
                let cores: f64 = c.nodes.iter().map(|n| n.cores as f64).sum();
                c.nodes.iter().map(|n| n.cores as f64 * n.compute_share).sum::<f64>() / cores.max(1.0)
            }
            None => spec.compute_share().unwrap_or(1.0),
        };
        vec![share]
    }

    /// Mean prompt length (shared prefix included), mean output length, sequences in flight.
    fn shape(&self) -> (f64, f64, f64) {
        let w = &self.workload;
        match &w.serving {
            None => (w.prompt_tokens as f64, w.output_tokens as f64, w.batch as f64),
            Some(sv) => {
                let p = (w.prompt_tokens + sv.prompt_tokens_max.unwrap_or(w.prompt_tokens)) as f64 / 2.0;
                let o = (w.output_tokens + sv.output_tokens_max.unwrap_or(w.output_tokens)) as f64 / 2.0;
                let inflight = sv.concurrency.unwrap_or(sv.burst).min(sv.max_batch()).max(1);
                (p + sv.shared_prefix_tokens as f64, o, inflight as f64)
            }
        }
    }

    /// The numeric features. Unknown values are NaN (imputed with the training mean
    /// when standardised).
    pub fn features(&self) -> TaskFeatures {
        let nan = f64::NAN;
        let c = self.model.config.as_ref();
        let get = |f: fn(&LlamaConfig) -> f64| c.map_or(nan, f);
        let params = get(|c| c.parameters() as f64);
        let layers = get(|c| c.num_layers as f64);
        let hidden = get(|c| c.hidden_size as f64);
        let kv_per_token = get(|c| (2 * c.num_layers * c.num_kv_heads * c.head_dim() * 4) as f64);
        let (prompt, output, inflight) = self.shape();
        let w = &self.workload;
        let sv = w.serving.as_ref();
        let seq = prompt + output;
        let kv_bytes = kv_per_token * seq * inflight;
        let memory = self.hardware.memory_mb as f64 * 1e6;
        let spread = match sv {
            None => 1.0,
            Some(sv) => {
                let max =
                    sv.prompt_tokens_max.unwrap_or(w.prompt_tokens) + sv.output_tokens_max.unwrap_or(w.output_tokens);
                max as f64 / (w.prompt_tokens + w.output_tokens).max(1) as f64
            }
        };
        let requests = sv.map_or(inflight, |s| s.requests as f64);
        let attention_flops = 4.0 * layers * seq / 2.0 * hidden;
        TaskFeatures {
            log2_params: params.log2(),
            layers,
            hidden,
            heads: get(|c| c.num_heads as f64),
            kv_heads: get(|c| c.num_kv_heads as f64),
            head_dim: get(|c| c.head_dim() as f64),
            ffn_ratio: get(|c| c.intermediate_size as f64 / c.hidden_size as f64),
            log2_vocab: get(|c| (c.vocab_size as f64).log2()),
            native_bits_per_weight: self.model.native_bits,
            synthetic: bool_f(self.model.synthetic),
            price_per_hour: self.hardware.spec.price_per_hour,
            cores: self.hardware.cores as f64,
            memory_gb: self.hardware.memory_mb as f64 / 1024.0,
            log2_prompt_tokens: prompt.max(1.0).log2(),
            log2_output_tokens: output.max(1.0).log2(),
            log2_batch: inflight.log2(),
            decode_share: output / seq.max(1.0),
            serving: bool_f(sv.is_some()),
            log2_requests: sv.map_or(0.0, |s| (s.requests as f64).log2()),
            open_loop: bool_f(sv.is_some_and(|s| s.concurrency.is_none() && s.rate.is_some())),
            shared_prefix_share: sv.map_or(0.0, |s| s.shared_prefix_tokens as f64 / prompt.max(1.0)),
            length_spread: spread,
            log2_flops_per_token: (2.0 * params).log2(),
            // Decode with f32 weights: 2 FLOPs per weight per sequence, 4 bytes per weight.
            log2_decode_intensity: (inflight / 2.0).log2(),
            log2_prefill_intensity: (prompt * inflight / 2.0).max(1e-3).log2(),
            log2_weight_mb_per_token: (4.0 * params / 1e6 / inflight).log2(),
            log2_kv_mb: (kv_bytes / 1e6).max(1e-3).log2(),
            fits_in_memory: bool_f(4.0 * params + kv_bytes < memory),
            log2_work_gflop: (2.0 * params * seq * requests / 1e9).log2(),
            attention_share: attention_flops / (attention_flops + 2.0 * params),
        }
    }

    /// The task in words, for the text embedding (MetaInf embeds model, hardware and data
    /// descriptions with a language model).
    pub fn description(&self) -> String {
        let m = &self.model;
        let size = match &m.config {
            Some(c) => format!(
                "{:.0}M parameters, {} layers, hidden size {}, {} attention heads, {} KV heads, vocabulary {}",
                c.parameters() as f64 / 1e6,
                c.num_layers,
                c.hidden_size,
                c.num_heads,
                c.num_kv_heads,
                c.vocab_size
            ),
            None => "size unknown".into(),
        };
        let w = &self.workload;
        let mut wl = format!("{} prompt tokens, {} output tokens, batch {}", w.prompt_tokens, w.output_tokens, w.batch);
        if let Some(sv) = &w.serving {
            wl = format!(
                "served requests: {} requests, {}, up to {} prompt and {} output tokens, shared prefix of {} tokens",
                sv.requests,
                match (sv.concurrency, sv.rate) {
                    (Some(c), _) => format!("{c} concurrent clients"),
                    (None, Some(r)) => format!("Poisson arrivals at {r} per second in bursts of {}", sv.burst),
                    _ => "one client".into(),
                },
                sv.prompt_tokens_max.unwrap_or(w.prompt_tokens),
                sv.output_tokens_max.unwrap_or(w.output_tokens),
                sv.shared_prefix_tokens
            );
        }
        let h = &self.hardware;
        format!(
            "Model {}: a Llama-architecture transformer decoder, {}; {}. Workload {}: {}; {}. Hardware {}: {}; \
             CPU {}, {} cores, {:.0} GB memory, ${} per hour.",
            m.name,
            m.source,
            size,
            self.workload_name,
            w.description.as_deref().unwrap_or("text generation"),
            wl,
            h.name,
            match &h.spec.emulated {
                Some(_) => format!(
                    "{} (emulated on this machine's CPU)",
                    h.spec.description.as_deref().unwrap_or("a smaller CPU node")
                ),
                None => h.spec.description.clone().unwrap_or_else(|| "a CPU node".into()),
            },
            h.cpu_model,
            h.cores,
            h.memory_mb as f64 / 1024.0,
            h.spec.price_per_hour
        )
    }
}

fn bool_f(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

pub use crate::record::Arm;

named_features! {
    /// An arm (technique @ threads) in roofline terms, for one task ([`arm_features`]).
    pub struct ArmFeatures {
        bits_per_weight,
        log2_arm_weight_mb_per_token,
        kquant,
        float_weights,
        kv_off,
        threads,
        threads_per_core,
        continuous_batching,
        chunked_prefill,
        prefix_cache,
        static_batching,
        prefix_cache_x_shared_prefix,
        bits_x_decode_share,
        log2_weights_share_of_memory,
    }
}

/// The arm in roofline terms, for the task whose raw features are `task`.
pub fn arm_features(arm: &Arm, task: &TaskFeatures) -> ArmFeatures {
    let plan = arm.technique.plan();
    let native = task.native_bits_per_weight;
    let bits = plan.bits_per_weight(native);
    let serving = &plan.serving;
    ArmFeatures {
        bits_per_weight: bits,
        log2_arm_weight_mb_per_token: task.log2_weight_mb_per_token + (bits / 32.0).log2(),
        kquant: bool_f(plan.kquant_weights()),
        float_weights: bool_f(plan.float_weights(native)),
        kv_off: bool_f(plan.kv == crate::models::generate::KvMode::Off),
        threads: arm.threads as f64,
        threads_per_core: arm.threads as f64 / task.cores.max(1.0),
        continuous_batching: bool_f(serving.continuous),
        chunked_prefill: bool_f(serving.chunked_prefill),
        prefix_cache: bool_f(serving.prefix_cache),
        static_batching: bool_f(serving.static_batching),
        prefix_cache_x_shared_prefix: bool_f(serving.prefix_cache) * task.shared_prefix_share,
        bits_x_decode_share: bits.log2() * task.decode_share,
        log2_weights_share_of_memory: weights_share_of_memory(bits, task).log2(),
    }
}

/// The arm's weights (parameters × bits) as a share of the node's memory: above ~1
/// the arm cannot run there (an emulated small node makes this bite).
pub fn weights_share_of_memory(bits: f64, task: &TaskFeatures) -> f64 {
    let weight_bytes = task.log2_params.exp2() * bits / 8.0;
    weight_bytes / (task.memory_gb * 1024.0 * 1024.0 * 1024.0)
}

/// Bits per weight an arm stores, for a task with raw features `task`.
pub fn arm_bits(arm: &Arm, task: &TaskFeatures) -> f64 {
    arm.technique.plan().bits_per_weight(task.native_bits_per_weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::synthetic::SyntheticSpec;

    fn synth() -> ModelSpec {
        ModelSpec::Synthetic(SyntheticSpec {
            layers: 2,
            hidden: 64,
            heads: 4,
            kv_heads: Some(2),
            intermediate: 128,
            vocab: 512,
            max_seq: 256,
            seed: 1,
        })
    }

    fn workload(prompt: usize, output: usize, batch: usize) -> WorkloadSpec {
        serde_yaml::from_str(&format!("{{prompt_tokens: {prompt}, output_tokens: {output}, batch: {batch}}}")).unwrap()
    }

    fn task(w: WorkloadSpec) -> TaskDescriptor {
        let (model, warn) = ModelInfo::resolve("s", &synth(), Path::new("/nonexistent"));
        assert!(warn.is_none());
        let fp = Fingerprint { cpu_model: "cpu".into(), physical_cores: 2, memory_mb: 8192, ..Default::default() };
        TaskDescriptor {
            model,
            workload_name: "w".into(),
            workload: w,
            hardware: HardwareInfo::new("local", &HardwareSpec::default(), &fp),
        }
    }

    #[test]
    fn roofline_quantities_follow_the_workload() {
        let chat = task(workload(32, 32, 1)).features();
        let batch = task(workload(32, 32, 8)).features();
        assert_eq!(chat.to_vec().len(), TaskFeatures::NAMES.len());
        assert!(chat.to_vec().iter().all(|x| x.is_finite()), "{chat:?}");
        // Batching 8 sequences raises decode intensity 8x and cuts weight bytes per token 8x.
        assert!((batch.log2_decode_intensity - chat.log2_decode_intensity - 3.0).abs() < 1e-9);
        assert!((chat.log2_weight_mb_per_token - batch.log2_weight_mb_per_token - 3.0).abs() < 1e-9);
        assert_eq!(chat.fits_in_memory, 1.0);
        assert_eq!(chat.decode_share, 0.5);
        assert_eq!(TaskFeatures::from_slice(&chat.to_vec()).unwrap(), chat);
        assert!(TaskFeatures::from_slice(&[1.0]).is_err());
    }

    #[test]
    fn arm_features_know_bits_and_flags() {
        let t = task(workload(32, 32, 1)).features();
        let arm = |t: &str, n| Arm::new(crate::techniques::TechniqueName::parse(t).unwrap(), n);
        let q4k = arm_features(&arm("q4k+kv-off", 2), &t);
        assert_eq!(q4k.bits_per_weight, 4.5);
        assert_eq!(q4k.to_vec()[0], 4.5, "the row follows the declaration order");
        assert_eq!(q4k.kv_off, 1.0);
        let native = arm_features(&arm("native", 1), &t);
        assert_eq!(native.bits_per_weight, 32.0, "a synthetic model's native weights are f32");
        assert_eq!(q4k.to_vec().len(), ArmFeatures::NAMES.len());
    }

    #[test]
    fn unknown_hub_model_warns_and_leaves_sizes_unknown() {
        let spec: ModelSpec = serde_yaml::from_str("hub: {repo: a/b, file: c.gguf}").unwrap();
        let (info, warn) = ModelInfo::resolve("m", &spec, Path::new("/nonexistent"));
        assert!(warn.unwrap().contains("not in the hub cache"));
        assert!(info.config.is_none());
        let d = TaskDescriptor { model: info, ..task(workload(8, 8, 1)) };
        assert!(d.features().log2_params.is_nan());
        assert!(d.description().contains("size unknown"));
    }
}
