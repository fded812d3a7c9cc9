//! The typed shape of a grid file. Nothing below the config stage sees YAML.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Grid};
use crate::models::ModelSpec;
use crate::techniques::TechniqueName;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridFile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Named models; the `model` axis refers to these names.
    pub models: BTreeMap<String, ModelSpec>,
    /// Named workloads; the `workload` axis refers to these names.
    pub workloads: BTreeMap<String, WorkloadSpec>,
    /// Named hardware profiles; `local` (this machine) always exists.
    #[serde(default)]
    pub hardware: BTreeMap<String, HardwareSpec>,
    /// A file of named hardware profiles (`profiles:`), relative to this grid; the axes may
    /// name them as if they were defined under `hardware:` (which wins on a clash).
    #[serde(default)]
    pub hardware_profiles: Option<String>,
    /// Values per axis; the cells are their cartesian product.
    #[serde(default)]
    pub axes: Axes,
    /// Values for axes that `axes` leaves out.
    #[serde(default)]
    pub defaults: Axes,
    /// Combinations to leave out: a cell matching every key of a rule is dropped.
    #[serde(default)]
    pub exclude: Vec<ExcludeRule>,
    #[serde(default)]
    pub measure: MeasureSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axes {
    pub model: Option<Vec<String>>,
    pub technique: Option<Vec<TechniqueName>>,
    pub threads: Option<Vec<usize>>,
    pub workload: Option<Vec<String>>,
    pub hardware: Option<Vec<String>>,
    /// Inference engines (`harness engines` lists them) [default: candle].
    pub engine: Option<Vec<String>>,
}

/// One `exclude:` rule; each key holds one value or a list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExcludeRule {
    pub model: Option<OneOrMany<String>>,
    pub technique: Option<OneOrMany<TechniqueName>>,
    pub threads: Option<OneOrMany<usize>>,
    pub workload: Option<OneOrMany<String>>,
    pub hardware: Option<OneOrMany<String>>,
    pub engine: Option<OneOrMany<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: PartialEq> OneOrMany<T> {
    pub fn contains(&self, v: &T) -> bool {
        match self {
            OneOrMany::One(x) => x == v,
            OneOrMany::Many(xs) => xs.contains(v),
        }
    }
}

/// A workload: what is asked of the model in one timed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// Folder under the corpus directory the text comes from.
    #[serde(default = "default_corpus")]
    pub corpus: String,
    /// Prompt length in tokens (of the model's own tokenizer).
    pub prompt_tokens: usize,
    /// Tokens generated per sequence.
    pub output_tokens: usize,
    /// Sequences decoded together.
    #[serde(default = "one")]
    pub batch: usize,
    /// Held-out tokens scored for perplexity and fidelity.
    #[serde(default = "default_eval_tokens")]
    pub eval_tokens: usize,
    /// Seed for where in the corpus prompts are cut (and for arrivals).
    #[serde(default)]
    pub seed: u64,
    /// Present for serving workloads: many requests arriving over time.
    /// `prompt_tokens`/`output_tokens` are then each request's (minimum) lengths.
    #[serde(default)]
    pub serving: Option<ServingSpec>,
}

/// Requests, arrivals, server limits and targets of a serving workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingSpec {
    /// Requests per session.
    pub requests: usize,
    /// Closed loop: this many clients, each sending its next request when answered.
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Open loop: Poisson arrivals at this many requests per second.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Open loop: requests arriving together (bursty traffic).
    #[serde(default = "one")]
    pub burst: usize,
    /// Most requests the server runs at once [default: concurrency, or 8].
    #[serde(default)]
    pub max_batch: Option<usize>,
    /// Tokens of a prompt prefix every request shares (system prompt, few-shot).
    #[serde(default)]
    pub shared_prefix_tokens: usize,
    /// Each request's unique prompt length is drawn from prompt_tokens..=this.
    #[serde(default)]
    pub prompt_tokens_max: Option<usize>,
    /// Each request's answer length is drawn from output_tokens..=this.
    #[serde(default)]
    pub output_tokens_max: Option<usize>,
    /// Token budget of one step under chunked prefill.
    #[serde(default = "default_chunk")]
    pub chunk_tokens: usize,
    /// Tokens per KV block.
    #[serde(default = "default_block")]
    pub block_size: usize,
    /// KV blocks in the pool.
    #[serde(default = "default_kv_blocks")]
    pub kv_blocks: usize,
    /// Targets for goodput.
    #[serde(default = "default_ttft_slo")]
    pub ttft_slo_ms: f64,
    #[serde(default = "default_tpot_slo")]
    pub tpot_slo_ms: f64,
    /// Static batching starts a partial batch once its oldest request waited this long.
    #[serde(default = "default_static_wait")]
    pub static_max_wait_ms: f64,
}

impl ServingSpec {
    pub fn max_batch(&self) -> usize {
        self.max_batch.or(self.concurrency).unwrap_or(8)
    }
}

fn default_chunk() -> usize {
    64
}
fn default_block() -> usize {
    16
}
fn default_kv_blocks() -> usize {
    4096
}
fn default_ttft_slo() -> f64 {
    2000.0
}
fn default_tpot_slo() -> f64 {
    150.0
}
fn default_static_wait() -> f64 {
    100.0
}

/// A hardware profile. Cost = runtime x price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareSpec {
    #[serde(default)]
    pub description: Option<String>,
    /// Price per hour of the node, in dollars.
    #[serde(default = "default_price")]
    pub price_per_hour: f64,
    /// Set for a node this machine stands in for (fewer cores, less memory): its cells
    /// are stored with `emulated = 1` and reports label them "(emulated)".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulated: Option<EmulatedNode>,
    /// Several nodes joined by links: a cell on this profile runs on them as its placement
    /// technique says (one node, offloaded, or split into a pipeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<super::ClusterSpec>,
    /// Set by the planner, never by a grid: how this machine enforces the profile's limits
    /// (`cgroup-v1`, `cgroup-v2`, `unenforced`). Part of the cell's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<String>,
    /// Where `harness slurm` runs this profile's cells on a Slurm cluster: a real kind of
    /// cluster node as a hardware profile. Not part of a cell's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<SlurmPlacement>,
}

/// A Slurm partition and node constraint (`--partition`, `--constraint`) for a profile's cells.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmPlacement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// A feature expression of the nodes, e.g. `avx512&highmem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
}

impl SlurmPlacement {
    /// Both go into a job script: letters, digits and Slurm's operators only.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let ok =
            |s: &str, extra: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c));
        if let Some(p) = self.partition.as_deref().filter(|p| !ok(p, "-_.,")) {
            return Err((".partition", format!("`{p}` is not a partition name (letters, digits, - _ . and , only)")));
        }
        if let Some(c) = self.constraint.as_deref().filter(|c| !ok(c, "-_.,&|[]*:()")) {
            return Err((".constraint", format!("`{c}` is not a Slurm feature expression")));
        }
        Ok(())
    }
}

impl HardwareSpec {
    /// Whether the profile limits what its cells may use (cores, memory, speed) or spans nodes.
    pub fn is_limited(&self) -> bool {
        self.emulated.is_some() || self.cluster.is_some()
    }
}

/// The name of the profile of this machine as it is, defined in every grid.
pub const LOCAL_HARDWARE: &str = "local";

impl Default for HardwareSpec {
    fn default() -> Self {
        Self {
            description: Some("this machine's CPU".into()),
            price_per_hour: default_price(),
            emulated: None,
            cluster: None,
            enforcement: None,
            slurm: None,
        }
    }
}

/// A smaller node emulated on this machine's CPU. Cores are real (the worker is pinned
/// to that many CPUs); memory is a cap checked against the worker's peak resident set
/// after loading the model and after measuring, the way an out-of-memory kill would
/// end the cell on the real node. Speed per core and memory bandwidth are this
/// machine's: only what is set here differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatedNode {
    /// CPUs the worker may use (pinned to CPUs `0..cores`); cells with more threads are
    /// not planned on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<usize>,
    /// Memory of the node in MiB: a hard limit of the worker's cgroup where the kernel enforces
    /// it (over it the kernel kills the worker); elsewhere a cap checked against its peak RSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// The node's speed as a share of this machine's cores, `0 < share <= 1`: a CFS quota of the
    /// worker's cgroup (a 0.5 node gets half of each core's time). Needs the kernel's cgroups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_share: Option<f64>,
}

impl HardwareSpec {
    /// Threads this node can run (`None`: as many as asked).
    pub fn max_threads(&self) -> Option<usize> {
        self.emulated.as_ref().and_then(|e| e.cores)
    }
    /// Whether the node can run `threads` threads (an emulated node has only its cores).
    pub fn runs_threads(&self, threads: usize) -> bool {
        self.max_threads().is_none_or(|c| threads <= c)
    }
    /// Memory cap in MiB of an emulated node.
    pub fn memory_cap_mb(&self) -> Option<u64> {
        self.emulated.as_ref().and_then(|e| e.memory_mb)
    }
    /// Compute share of an emulated node (`None`: whole cores).
    pub fn compute_share(&self) -> Option<f64> {
        self.emulated.as_ref().and_then(|e| e.compute_share).filter(|&s| s < 1.0)
    }
}

/// How long and how often to measure a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MeasureSpec {
    pub warmup: usize,
    pub min_reps: usize,
    pub max_reps: usize,
    pub min_time_s: f64,
    pub max_time_s: f64,
    /// Coefficient of variation above which a cell is judged too noisy.
    pub max_cv: f64,
    /// Wall-clock limit of one cell's worker process.
    pub timeout_s: f64,
    pub bootstrap_resamples: usize,
}

impl Default for MeasureSpec {
    fn default() -> Self {
        Self {
            warmup: 1,
            min_reps: 5,
            max_reps: 50,
            min_time_s: 2.0,
            max_time_s: 30.0,
            max_cv: 0.25,
            timeout_s: 600.0,
            bootstrap_resamples: 1000,
        }
    }
}

fn default_corpus() -> String {
    "licenses".into()
}
fn one() -> usize {
    1
}
fn default_eval_tokens() -> usize {
    128
}
fn default_price() -> f64 {
    0.10
}

/// Checks serde cannot do: references between sections, ranges.
pub(super) fn validate(g: &Grid) -> Result<(), ConfigError> {
    let f = &g.file;
    let err = |line, field: &str, msg: String| Err(ConfigError::new(&g.path, line, field, msg));
    for (section, axes) in [("axes", &f.axes), ("defaults", &f.defaults)] {
        for m in axes.model.iter().flatten() {
            if !f.models.contains_key(m) {
                let known: Vec<_> = f.models.keys().cloned().collect();
                return err(
                    g.value_line(section, m),
                    &format!("{section}.model"),
                    format!("unknown model `{m}`; models defined in this file: {}", known.join(", ")),
                );
            }
        }
        for w in axes.workload.iter().flatten() {
            if !f.workloads.contains_key(w) {
                let known: Vec<_> = f.workloads.keys().cloned().collect();
                return err(
                    g.value_line(section, w),
                    &format!("{section}.workload"),
                    format!("unknown workload `{w}`; workloads defined in this file: {}", known.join(", ")),
                );
            }
        }
        for h in axes.hardware.iter().flatten() {
            if h != LOCAL_HARDWARE && !f.hardware.contains_key(h) {
                return err(
                    g.value_line(section, h),
                    &format!("{section}.hardware"),
                    format!("unknown hardware profile `{h}`; define it under `hardware:`"),
                );
            }
        }
        for e in axes.engine.iter().flatten() {
            if !crate::engines::names().contains(&e.as_str()) {
                return err(
                    g.value_line(section, e),
                    &format!("{section}.engine"),
                    match crate::engines::not_built().into_iter().find(|(n, _)| n == e) {
                        Some((_, how)) => format!("engine `{e}` is not in this build: {how}"),
                        None => format!("unknown engine `{e}`; known engines: {}", crate::engines::names().join(", ")),
                    },
                );
            }
        }
        for t in axes.technique.iter().flatten() {
            if let Some(m) = t.plan().recipe.speculative.and_then(|sp| sp.draft.model().map(str::to_string)) {
                if !f.models.contains_key(&m) {
                    let known: Vec<_> = f.models.keys().cloned().collect();
                    return err(
                        g.value_line(section, &t.to_string()),
                        &format!("{section}.technique"),
                        format!("draft model `{m}` of `{t}` is not a model of this file; models: {}", known.join(", ")),
                    );
                }
            }
        }
        for &t in axes.threads.iter().flatten() {
            if t == 0 {
                return err(
                    g.line_of_key("threads"),
                    &format!("{section}.threads"),
                    "thread counts must be at least 1".into(),
                );
            }
        }
    }
    validate_hardware(&g.path, &g.text, &f.hardware)?;
    for (name, w) in &f.workloads {
        let line = g.line_of_key(name);
        if w.prompt_tokens == 0 || w.output_tokens == 0 || w.batch == 0 {
            return err(
                line,
                &format!("workloads.{name}"),
                "prompt_tokens, output_tokens and batch must be at least 1".into(),
            );
        }
        if w.eval_tokens < 2 {
            return err(line, &format!("workloads.{name}.eval_tokens"), "need at least 2 held-out tokens".into());
        }
        if let Some(sv) = &w.serving {
            let field = format!("workloads.{name}.serving");
            if sv.concurrency.is_some() == sv.rate.is_some() {
                return err(
                    line,
                    &field,
                    "give exactly one of `concurrency` (closed loop) or `rate` (open loop)".into(),
                );
            }
            if sv.requests == 0 || sv.concurrency == Some(0) || sv.rate.is_some_and(|r| r <= 0.0) || sv.max_batch() == 0
            {
                return err(line, &field, "requests, concurrency, rate and max_batch must be positive".into());
            }
            if sv.prompt_tokens_max.is_some_and(|m| m < w.prompt_tokens)
                || sv.output_tokens_max.is_some_and(|m| m < w.output_tokens)
            {
                return err(line, &field, "prompt_tokens_max/output_tokens_max must be at least the minimums".into());
            }
            if sv.chunk_tokens == 0 || sv.block_size == 0 || sv.kv_blocks == 0 {
                return err(line, &field, "chunk_tokens, block_size and kv_blocks must be positive".into());
            }
        }
    }
    let m = &f.measure;
    if m.min_reps == 0 || m.max_reps < m.min_reps {
        return err(g.line_of_key("measure"), "measure.min_reps", "need 1 <= min_reps <= max_reps".into());
    }
    Ok(())
}

impl Grid {
    fn value_line(&self, section: &str, value: &str) -> Option<usize> {
        super::locate::value_line(&self.text, section, value)
    }
}

/// Checks of hardware profiles (a grid's own, or those of a profiles file `path` with `text`).
pub(super) fn validate_hardware(
    path: &std::path::Path,
    text: &str,
    hardware: &BTreeMap<String, HardwareSpec>,
) -> Result<(), ConfigError> {
    for (name, h) in hardware {
        if h.enforcement.is_some() {
            return Err(ConfigError::new(
                path,
                super::locate::key_line(text, name),
                format!("hardware.{name}.enforcement"),
                "set by the harness (how this machine enforces the limits), not by a grid",
            ));
        }
        if let Some(Err((field, msg))) = h.slurm.as_ref().map(SlurmPlacement::check) {
            return Err(ConfigError::new(
                path,
                super::locate::key_line(text, name),
                format!("hardware.{name}.slurm{field}"),
                msg,
            ));
        }
        if let Some(c) = &h.cluster {
            if let Err((field, msg)) = c.validate() {
                return Err(ConfigError::new(
                    path,
                    super::locate::key_line(text, name),
                    format!("hardware.{name}.cluster{field}"),
                    msg,
                ));
            }
            if h.emulated.is_some() {
                return Err(ConfigError::new(
                    path,
                    super::locate::key_line(text, name),
                    format!("hardware.{name}"),
                    "a profile is one emulated node or a cluster of nodes, not both",
                ));
            }
        }
        if let Some(e) = &h.emulated {
            if e.compute_share.is_some_and(|s| !(s > 0.0 && s <= 1.0)) {
                return Err(ConfigError::new(
                    path,
                    super::locate::key_line(text, name),
                    format!("hardware.{name}.emulated.compute_share"),
                    "a compute share is a fraction of the cores' time, 0 < share <= 1",
                ));
            }
            if e.cores == Some(0) || e.memory_mb == Some(0) {
                return Err(ConfigError::new(
                    path,
                    super::locate::key_line(text, name),
                    format!("hardware.{name}.emulated"),
                    "an emulated node needs at least 1 core and 1 MiB of memory",
                ));
            }
            let have = super::expand::default_threads();
            if e.cores.is_some_and(|c| c > have) {
                return Err(ConfigError::new(
                    path,
                    super::locate::key_line(text, name),
                    format!("hardware.{name}.emulated.cores"),
                    format!("this machine has {have} CPUs; it can only emulate nodes with fewer cores"),
                ));
            }
        }
    }
    Ok(())
}
