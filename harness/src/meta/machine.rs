//! Machine features: what a machine class can do, so a task on a machine never measured
//! is placed by its instruction set, threads, memory bandwidth and per-format matmul speed,
//! not by its name.
//!
//! Each machine class is described once ([`MachineProfile`]): its ISA flags and thread count
//! come from the class itself (every cell stores them), its measured figures from
//! `harness hardware --record` (a JSON file per class under `results/machines/`, committed
//! for the classes of the reference stores) or, for stores annotated by `harness roofline`,
//! from the bandwidth and matmul peaks kept in their cells. A figure nobody measured is
//! NaN, which learners impute with the training mean (and [`MachineProfile::measured`]
//! says so, so a recommendation can).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::record::{CellRecord, MachineClass};

/// Names of the machine features, in the order of [`MachineProfile::features`].
pub const NAMES: &[&str] = &[
    "isa_avx512",
    "isa_avx2",
    "isa_fma",
    "isa_vnni",
    "machine_threads",
    "log2_bandwidth_gbs",
    "log2_f32_decode_gops",
    "log2_q8_0_decode_gops",
    "log2_q4_0_decode_gops",
    "log2_q8_0_over_q4_0_decode",
    "log2_f32_prefill_gops",
];

/// The weight formats whose speed is a machine feature: f32, 8-bit and 4-bit blocks, named as the
/// weight formats name themselves (so no technique is spelled here).
pub fn feature_formats() -> [String; 3] {
    use crate::models::WeightFormat;
    use candle_core::quantized::GgmlDType;
    [WeightFormat::F32.name(), WeightFormat::Quant(GgmlDType::Q8_0).name(), WeightFormat::Quant(GgmlDType::Q4_0).name()]
}

/// The default folder of recorded machine profiles.
pub const DEFAULT_DIR: &str = "results/machines";

/// What one machine class can do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineProfile {
    pub class: MachineClass,
    /// STREAM triad on every thread, best pass, GB/s.
    #[serde(default)]
    pub bandwidth_gbs: Option<f64>,
    /// Our engine's matmul GOP/s at one row (a decode step) on every thread, per weight format.
    #[serde(default)]
    pub decode_gops: BTreeMap<String, f64>,
    /// The same at 64 rows (prefill), per weight format.
    #[serde(default)]
    pub prefill_gops: BTreeMap<String, f64>,
    /// Where the measured figures came from (a profile file, annotated cells, nothing).
    #[serde(default)]
    pub source: String,
}

impl MachineProfile {
    /// The class alone: ISA flags and threads, nothing measured.
    pub fn unmeasured(class: MachineClass) -> MachineProfile {
        MachineProfile {
            class,
            bandwidth_gbs: None,
            decode_gops: BTreeMap::new(),
            prefill_gops: BTreeMap::new(),
            source: "not measured".into(),
        }
    }

    /// Whether bandwidth and matmul speed were measured.
    pub fn measured(&self) -> bool {
        self.bandwidth_gbs.is_some() && !self.decode_gops.is_empty()
    }

    /// The feature row, named by [`NAMES`]; NaN where not measured.
    pub fn features(&self) -> Vec<f64> {
        let flags: Vec<&str> = self.class.simd.split(',').collect();
        let has = |f: &str| if flags.contains(&f) { 1.0 } else { 0.0 };
        let lg = |v: Option<f64>| v.filter(|v| *v > 0.0).map_or(f64::NAN, f64::log2);
        let dec = |f: &str| self.decode_gops.get(f).copied();
        let [f32_, q8, q4] = feature_formats();
        let ratio = match (dec(&q8), dec(&q4)) {
            (Some(a), Some(b)) if a > 0.0 && b > 0.0 => (b / a).log2(),
            _ => f64::NAN,
        };
        vec![
            has("avx512f"),
            has("avx2"),
            has("fma"),
            if has("avx512vnni") + has("avxvnni") > 0.0 { 1.0 } else { 0.0 },
            self.class.cores as f64,
            lg(self.bandwidth_gbs),
            lg(dec(&f32_)),
            lg(dec(&q8)),
            lg(dec(&q4)),
            ratio,
            lg(self.prefill_gops.get(&f32_).copied()),
        ]
    }

    /// The file name a class's profile is recorded under (`amd-epyc-2cpu-<tag hash>.json`).
    pub fn file_name(&self) -> String {
        let tag = self.class.tag();
        let hash = tag.rsplit('#').next().unwrap_or("");
        let model: String = self
            .class
            .cpu_model
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        format!("{model}-{}cpu-{hash}.json", self.class.cores)
    }

    /// Writes the profile into `dir` (created if missing); returns the path.
    pub fn record(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(self.file_name());
        let text = serde_json::to_string_pretty(self)? + "\n";
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// Profiles of every machine class known, by class tag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Machines {
    pub profiles: BTreeMap<String, MachineProfile>,
}

impl Machines {
    /// The classes of `records`, measured figures from the profile files in `dir` (when it
    /// exists) and, failing those, from the roofline annotations of the records themselves.
    pub fn gather(records: &[CellRecord], dir: &Path) -> Machines {
        let mut m = Machines::default();
        m.read_dir(dir);
        for rec in records {
            let class = rec.machine();
            let tag = class.tag();
            let p = m.profiles.entry(tag).or_insert_with(|| MachineProfile::unmeasured(class));
            if p.source.starts_with("file") {
                continue;
            }
            let Some(extra) = rec.summary.as_ref().map(|s| &s.extra) else { continue };
            if let Some(bw) = extra.get("roofline").and_then(|r| r.get("best_gbs")).and_then(|v| v.as_f64()) {
                p.bandwidth_gbs = Some(p.bandwidth_gbs.map_or(bw, |b: f64| b.max(bw)));
                p.source = "annotated cells (harness roofline)".into();
            }
            if let Some(peak) = extra.get("matmul_peak") {
                let fmt = peak.get("format").and_then(|v| v.as_str());
                let get = |k: &str| peak.get(k).and_then(|v| v.as_f64());
                if let (Some(f), Some(d), Some(pr)) = (fmt, get("decode_gops"), get("prefill_gops")) {
                    p.decode_gops.insert(f.to_string(), d);
                    p.prefill_gops.insert(f.to_string(), pr);
                }
            }
        }
        m
    }

    /// Adds the profile files of `dir`; unreadable files are skipped with nothing added.
    pub fn read_dir(&mut self, dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths.into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let Ok(mut p) = serde_json::from_str::<MachineProfile>(&text) else { continue };
            p.source = format!("file {}", path.display());
            self.profiles.insert(p.class.tag(), p);
        }
    }

    /// The profile of `class`: the known one, or the class alone.
    pub fn profile(&self, class: &MachineClass) -> MachineProfile {
        self.profiles.get(&class.tag()).cloned().unwrap_or_else(|| MachineProfile::unmeasured(class.clone()))
    }
}

/// Measures this machine: bandwidth and matmul peaks per format on every thread.
pub fn measure_here(array_mib: usize, passes: usize) -> Result<MachineProfile> {
    let class = crate::hardware::fingerprint::machine_class();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _lock = crate::execute::lock::MeasureLock::acquire(false)?;
    let bw = crate::hardware::bandwidth::triad(threads, array_mib, passes);
    // As `harness roofline` measures them (and annotates cells with): every thread, 1024² weights.
    let peaks = crate::measure::roofline::matmul_peaks(1024, passes)?;
    Ok(MachineProfile {
        class,
        bandwidth_gbs: Some(bw.best_gbs),
        decode_gops: peaks.iter().map(|p| (p.format.clone(), p.decode_gops)).collect(),
        prefill_gops: peaks.iter().map(|p| (p.format.clone(), p.prefill_gops)).collect(),
        source: format!("measured by harness hardware --record ({threads} threads: triad, 1024² matmul)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(simd: &str) -> MachineClass {
        MachineClass { cpu_model: "AMD EPYC".into(), cores: 2, simd: simd.into(), gpu: None }
    }

    #[test]
    fn isa_flags_and_measured_figures_become_features() {
        let mut p = MachineProfile::unmeasured(class("avx,avx2,avx512f,avx512vnni,fma"));
        let f = p.features();
        assert_eq!(f.len(), NAMES.len());
        assert_eq!(&f[..5], &[1.0, 1.0, 1.0, 1.0, 2.0]);
        assert!(f[5..].iter().all(|v| v.is_nan()), "nothing measured is NaN: {f:?}");
        assert!(!p.measured());
        p.bandwidth_gbs = Some(32.0);
        let [_, q8, q4] = feature_formats();
        p.decode_gops.insert(q8, 100.0);
        p.decode_gops.insert(q4, 200.0);
        let f = p.features();
        assert_eq!(f[5], 5.0);
        assert_eq!(f[9], 1.0, "q4_0 twice as fast as q8_0 per row");
        assert!(p.measured());
        let avx2 = MachineProfile::unmeasured(class("avx,avx2,fma")).features();
        assert_eq!(&avx2[..4], &[0.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn a_recorded_profile_is_read_back_by_its_class() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = MachineProfile::unmeasured(class("avx2,fma"));
        p.bandwidth_gbs = Some(20.0);
        p.decode_gops.insert(feature_formats()[0].clone(), 30.0);
        let path = p.record(dir.path()).unwrap();
        assert!(path.file_name().unwrap().to_string_lossy().starts_with("amd-epyc-2cpu-"));
        let m = Machines::gather(&[], dir.path());
        let back = m.profile(&class("avx2,fma"));
        assert_eq!(back.bandwidth_gbs, Some(20.0));
        assert!(back.source.starts_with("file"));
        assert!(!m.profile(&class("avx512f")).measured(), "another class is not this one");
    }
}
