//! The execute stage: plan cells from a grid, run each in its own worker
//! process, store what comes back.

pub mod lock;
pub mod plan;
pub mod runner;
pub mod shard;
pub mod slurm;
pub mod worker;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::CellConfig;
use crate::record::{CellStatus, SampleSeries, Summary};

/// What the parent sends a worker on stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerRequest {
    pub config: CellConfig,
    pub hub_cache: PathBuf,
    pub corpus_dir: PathBuf,
    /// The cgroup directories the worker runs in when the kernel enforces its node's limits:
    /// it leaves them before scoring accuracy (the f32 reference is the harness's bookkeeping,
    /// not the node's). Empty: limits, if any, are a pinned CPU set and a checked memory cap.
    #[serde(default)]
    pub node_group: Vec<PathBuf>,
}

/// What a worker prints as its last stdout line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerReply {
    pub status: CellStatus,
    pub reason: Option<String>,
    pub summary: Option<Summary>,
    pub samples: Vec<SampleSeries>,
}
