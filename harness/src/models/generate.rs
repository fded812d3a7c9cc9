//! How a generation keeps its past. The generation loop itself drives any engine
//! and lives in `workloads::generate`, above the engines.

/// Whether past keys/values are kept between decode steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvMode {
    /// Cache keys/values: each decode step processes one new token.
    On,
    /// Recompute: each step runs the whole sequence so far again.
    Off,
}
