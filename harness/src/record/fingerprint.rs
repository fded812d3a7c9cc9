//! Where and with what a cell ran: the machine fingerprint and the machine class
//! that is part of every cell's identity.

use serde::{Deserialize, Serialize};

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
    /// The GPU a cell used, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// How the other engines in this binary were built (llama.cpp's system info: its SIMD flags).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub engine_builds: Vec<(String, String)>,
}

/// The class of machine a cell was measured on: part of its identity, so results of
/// two machines never mix silently (the instruction set alone reorders the arms).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MachineClass {
    pub cpu_model: String,
    /// Logical CPUs of the machine.
    pub cores: usize,
    /// SIMD features compiled into the binary and available on the CPU, comma-separated.
    pub simd: String,
    /// The GPU model, when a cell used one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
}

impl MachineClass {
    /// The class a fingerprint describes (its SIMD features were available: the cell ran).
    pub fn of(fp: &Fingerprint) -> MachineClass {
        let mut simd: Vec<&str> = fp.target_features.split(',').filter(|f| !f.is_empty()).collect();
        simd.sort_unstable();
        MachineClass {
            cpu_model: fp.cpu_model.clone(),
            cores: fp.logical_cores,
            simd: simd.join(","),
            gpu: fp.gpu.clone(),
        }
    }

    /// A short tag telling machine classes apart in task names: the CPU model and a
    /// hash of the whole class (`AMD EPYC#1a2b3c`).
    pub fn tag(&self) -> String {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(serde_json::to_vec(self).expect("a machine class serializes"));
        format!("{}#{}", self.cpu_model, &hex::encode(h)[..6])
    }

    /// One line for messages and reports: `AMD EPYC, 2 cores, avx2,fma`.
    pub fn label(&self) -> String {
        let mut s = format!(
            "{}, {} cores, {}",
            self.cpu_model,
            self.cores,
            if self.simd.is_empty() { "no SIMD" } else { &self.simd }
        );
        if let Some(g) = &self.gpu {
            s.push_str(&format!(", GPU {g}"));
        }
        s
    }
}
