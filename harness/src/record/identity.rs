//! One identity per cell: what was measured, where, with what code. Its hash is the
//! cell's content key. Prose (descriptions), prices and the names a grid gives to
//! models, workloads, profiles and itself are not part of it: editing them re-runs nothing.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::fingerprint::MachineClass;
use crate::config::ClusterSpec;
use crate::config::{CellConfig, HardwareSpec, MeasureSpec, ServingSpec, WorkloadSpec};
use crate::models::ModelSpec;
use crate::techniques::TechniqueName;

/// The shape of a workload: every field of [`WorkloadSpec`] that changes what runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkloadShape<'a> {
    pub corpus: &'a str,
    pub prompt_tokens: usize,
    pub output_tokens: usize,
    pub batch: usize,
    pub eval_tokens: usize,
    pub seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serving: Option<&'a ServingSpec>,
}

impl<'a> WorkloadShape<'a> {
    pub fn of(w: &'a WorkloadSpec) -> Self {
        let WorkloadSpec { description: _, corpus, prompt_tokens, output_tokens, batch, eval_tokens, seed, serving } =
            w;
        WorkloadShape {
            corpus,
            prompt_tokens: *prompt_tokens,
            output_tokens: *output_tokens,
            batch: *batch,
            eval_tokens: *eval_tokens,
            seed: *seed,
            serving: serving.as_ref(),
        }
    }
}

/// A hardware profile's physical parameters (no name, description or price).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeShape<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cores: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compute_share: Option<f64>,
    /// How an emulated node's limits are enforced on this machine (kernel cgroups or a
    /// pinned process with a checked cap): a different mechanism measures something else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforcement: Option<&'a str>,
    /// A cluster's nodes and links, prices left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterSpec>,
    /// On a cluster: the version of the placement code ([`crate::config::cluster::PLACEMENT_VERSION`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<&'static str>,
}

impl<'a> NodeShape<'a> {
    pub fn of(h: &'a HardwareSpec) -> Self {
        let cluster = h.cluster.clone().map(|mut c| {
            c.nodes.iter_mut().for_each(|n| n.price_per_hour = 0.0);
            c
        });
        NodeShape {
            cores: h.max_threads(),
            memory_mb: h.memory_cap_mb(),
            compute_share: h.compute_share(),
            enforcement: h.enforcement.as_deref(),
            placement: cluster.as_ref().map(|_| crate::config::cluster::PLACEMENT_VERSION),
            cluster,
        }
    }
}

/// Everything that decides a cell's measurement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellIdentity<'a> {
    pub model: &'a ModelSpec,
    pub model_digest: &'a str,
    pub workload: WorkloadShape<'a>,
    pub technique: &'a TechniqueName,
    pub engine: &'a str,
    /// The engine's version: bumped by any change that can move a timing.
    pub engine_version: &'a str,
    pub threads: usize,
    pub node: NodeShape<'a>,
    pub measure: &'a MeasureSpec,
    /// Crate version, measurement protocol and build flags.
    pub code_version: &'a str,
    pub machine: &'a MachineClass,
}

impl<'a> CellIdentity<'a> {
    pub fn new(
        cfg: &'a CellConfig,
        model_digest: &'a str,
        engine_version: &'a str,
        code_version: &'a str,
        machine: &'a MachineClass,
    ) -> Self {
        CellIdentity {
            model: &cfg.model_spec,
            model_digest,
            workload: WorkloadShape::of(&cfg.workload_spec),
            technique: &cfg.technique,
            engine: &cfg.engine,
            engine_version,
            threads: cfg.threads,
            node: NodeShape::of(&cfg.hardware_spec),
            measure: &cfg.measure,
            code_version,
            machine,
        }
    }

    /// The content key: 32 hex digits of the identity's SHA-256.
    pub fn key(&self) -> String {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(self).expect("a cell identity serializes"));
        hex::encode(&h.finalize()[..16])
    }
}

/// The version of our candle engine that measured every cell stored before engines
/// were part of a cell's identity (store migration 3 keys them with it).
pub const LEGACY_ENGINE_VERSION: &str = "candle-0.11.1+decoder-1";

/// The engine version that measured a stored cell, read back from its key (the version
/// is hashed into the key and stored nowhere else): this harness's version of the
/// cell's engine, or [`LEGACY_ENGINE_VERSION`]. `None` when the key is the identity under
/// neither: a version this harness does not know, or a key it did not make.
pub fn engine_version_of(rec: &super::CellRecord, cfg: &CellConfig) -> Option<&'static str> {
    let machine = rec.machine();
    let key = |v: &str| CellIdentity::new(cfg, &rec.model_digest, v, &rec.code_version, &machine).key();
    crate::engines::version(&cfg.engine).into_iter().chain([LEGACY_ENGINE_VERSION]).find(|v| key(v) == rec.key)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_cluster_cells_identity_holds_the_placement_version_and_no_prices() {
        use crate::config::{ClusterNode, ClusterSpec, HardwareSpec};
        let node = |p: f64| ClusterNode {
            name: "a".into(),
            cores: 1,
            compute_share: 1.0,
            memory_mb: None,
            price_per_hour: p,
            addr: None,
        };
        let spec = |p: f64| HardwareSpec {
            cluster: Some(ClusterSpec { nodes: vec![node(p)], links: vec![] }),
            ..HardwareSpec::default()
        };
        let shape = |h: &HardwareSpec| serde_json::to_string(&super::NodeShape::of(h)).unwrap();
        assert!(shape(&spec(0.1)).contains(crate::config::cluster::PLACEMENT_VERSION));
        assert_eq!(shape(&spec(0.1)), shape(&spec(0.7)), "prices are not part of the identity");
        assert!(!shape(&HardwareSpec::default()).contains("placement"), "one machine's keys are unchanged");
    }

    #[test]
    fn the_first_candle_version_is_the_legacy_one() {
        // When the engine's version is bumped this stays: old cells were measured by v1.
        assert!(crate::engines::CANDLE_VERSION.starts_with("candle-0.11.1+decoder-"));
    }
}
