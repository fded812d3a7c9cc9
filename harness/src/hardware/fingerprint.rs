//! What machine and build produced a result.

use sysinfo::System;

use crate::record::{Fingerprint, MachineClass};

/// Crate version plus the measurement protocol revision: part of every cell's
/// content key, so changing how we measure re-runs cells, while an unrelated
/// commit does not. The git revision is recorded, not keyed.
pub const PROTOCOL: &str = "m2";

pub fn code_version() -> String {
    format!("{}+{}+{}", env!("CARGO_PKG_VERSION"), PROTOCOL, build_flags())
}

/// RUSTFLAGS of this build, e.g. `-C target-cpu=native`.
pub fn build_flags() -> &'static str {
    env!("HARNESS_RUSTFLAGS")
}

pub fn fingerprint() -> Fingerprint {
    let Ok(mut sys) = System::new() else {
        return Fingerprint { crate_version: env!("CARGO_PKG_VERSION").to_string(), ..Default::default() };
    };
    sys.refresh_memory();
    sys.refresh_cpu_all();
    let cpu_model = sys.cpus().first().map(|c| c.brand().trim().to_string()).unwrap_or_default();
    Fingerprint {
        cpu_model,
        physical_cores: System::physical_core_count().ok().unwrap_or(0),
        logical_cores: sys.cpus().len(),
        memory_mb: sys.total_memory() / (1024 * 1024),
        os: System::long_os_version().ok().unwrap_or_default(),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: env!("HARNESS_GIT_REV").to_string(),
        rustflags: build_flags().to_string(),
        target_features: available_features(env!("HARNESS_TARGET_FEATURES")),
        gpu: None,
        engine_builds: crate::engines::builds().into_iter().map(|(n, b)| (n.to_string(), b)).collect(),
    }
}

/// The compiled-in SIMD features this CPU also reports (`/proc/cpuinfo` flags; all of
/// them where that cannot be read).
fn available_features(compiled: &str) -> String {
    let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
        return compiled.to_string();
    };
    // `sse4.2` is `sse4_2` there, `avx512vnni` is `avx512_vnni`.
    let norm = |f: &str| f.replace(['_', '.'], "");
    let flags: std::collections::HashSet<String> = info
        .lines()
        .filter(|l| l.starts_with("flags") || l.starts_with("Features"))
        .flat_map(|l| l.split(':').nth(1).unwrap_or("").split_whitespace().map(norm))
        .collect();
    if flags.is_empty() {
        return compiled.to_string();
    }
    compiled.split(',').filter(|f| flags.contains(&norm(f))).collect::<Vec<_>>().join(",")
}

/// This machine's class, part of every cell's identity.
pub fn machine_class() -> MachineClass {
    MachineClass::of(&fingerprint())
}
