//! The matrix: cartesian product of the axes, minus `exclude:` rules.

use serde::{Deserialize, Serialize};

use super::schema::{ExcludeRule, HardwareSpec, MeasureSpec, WorkloadSpec};
use super::Grid;
use crate::models::ModelSpec;
use crate::techniques::{Scope, TechniqueName};

/// One fully resolved cell: everything a worker needs, nothing from YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellConfig {
    pub model: String,
    pub model_spec: ModelSpec,
    pub technique: TechniqueName,
    pub threads: usize,
    /// The inference engine (absent in configs stored before engines were an axis).
    #[serde(default = "default_engine")]
    pub engine: String,
    pub workload: String,
    pub workload_spec: WorkloadSpec,
    pub hardware: String,
    pub hardware_spec: HardwareSpec,
    pub measure: MeasureSpec,
    /// The draft model of speculative decoding when the technique names one of the grid's models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_spec: Option<ModelSpec>,
}

/// Expand a grid into its cells, in a stable order (model, hardware,
/// workload, technique, threads).
pub fn expand(g: &Grid) -> Vec<CellConfig> {
    let f = &g.file;
    let models =
        f.axes.model.clone().or(f.defaults.model.clone()).unwrap_or_else(|| f.models.keys().cloned().collect());
    let workloads = f
        .axes
        .workload
        .clone()
        .or(f.defaults.workload.clone())
        .unwrap_or_else(|| f.workloads.keys().cloned().collect());
    let techniques = f
        .axes
        .technique
        .clone()
        .or(f.defaults.technique.clone())
        .unwrap_or_else(|| vec![crate::techniques::reference(Scope::Generation)]);
    let threads = f.axes.threads.clone().or(f.defaults.threads.clone()).unwrap_or_else(|| vec![default_threads()]);
    let hardware =
        f.axes.hardware.clone().or(f.defaults.hardware.clone()).unwrap_or_else(|| vec![super::LOCAL_HARDWARE.into()]);
    let engines = f.axes.engine.clone().or(f.defaults.engine.clone()).unwrap_or_else(|| vec![default_engine()]);
    let mut cells = Vec::new();
    for m in &models {
        for h in &hardware {
            for w in &workloads {
                for t in &techniques {
                    for &n in &threads {
                        for engine in &engines {
                            if f.exclude.iter().any(|r| excluded(r, &Coords { m, t, n, w, h, engine })) {
                                continue;
                            }
                            let hardware_spec = f.hardware.get(h).cloned().unwrap_or_default();
                            if !hardware_spec.runs_threads(n) {
                                continue;
                            }
                            cells.push(CellConfig {
                                model: m.clone(),
                                model_spec: f.models[m].clone(),
                                technique: t.clone(),
                                threads: n,
                                engine: engine.clone(),
                                workload: w.clone(),
                                workload_spec: f.workloads[w].clone(),
                                hardware: h.clone(),
                                hardware_spec,
                                measure: f.measure.clone(),
                                draft_spec: t
                                    .plan()
                                    .recipe
                                    .speculative
                                    .and_then(|sp| sp.draft.model().and_then(|d| f.models.get(d).cloned())),
                            });
                        }
                    }
                }
            }
        }
    }
    cells
}

/// Where a cell sits on every axis.
struct Coords<'a> {
    m: &'a String,
    t: &'a TechniqueName,
    n: usize,
    w: &'a String,
    h: &'a String,
    engine: &'a String,
}

fn excluded(r: &ExcludeRule, c: &Coords<'_>) -> bool {
    let any = r.model.is_some()
        || r.technique.is_some()
        || r.threads.is_some()
        || r.workload.is_some()
        || r.hardware.is_some()
        || r.engine.is_some();
    any && r.model.as_ref().is_none_or(|x| x.contains(c.m))
        && r.technique.as_ref().is_none_or(|x| x.contains(c.t))
        && r.threads.as_ref().is_none_or(|x| x.contains(&c.n))
        && r.workload.as_ref().is_none_or(|x| x.contains(c.w))
        && r.hardware.as_ref().is_none_or(|x| x.contains(c.h))
        && r.engine.as_ref().is_none_or(|x| x.contains(c.engine))
}

/// The engine of cells whose grid names none: our candle engine.
pub fn default_engine() -> String {
    crate::engines::DEFAULT_ENGINE.to_string()
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::parse;
    use super::*;

    const GRID: &str = r#"
name: t
models:
  tiny:
    synthetic: {layers: 1, hidden: 32, heads: 2, intermediate: 64}
  other:
    synthetic: {layers: 1, hidden: 32, heads: 2, intermediate: 64, seed: 1}
workloads:
  short: {prompt_tokens: 4, output_tokens: 2}
  long: {prompt_tokens: 8, output_tokens: 2, batch: 2}
axes:
  technique: [f32, q8_0, q4k+kv-off]
  threads: [1, 2]
exclude:
  - {technique: q8_0, threads: 2}
  - {model: other, workload: [long, short], technique: f32}
"#;

    #[test]
    fn cartesian_product_minus_excludes() {
        let g = parse(Path::new("t.yaml"), GRID).unwrap();
        let cells = expand(&g);
        // 2 models x 2 workloads x 3 techniques x 2 threads = 24,
        // minus q8_0@2 threads (2x2=4), minus other/f32 (2 workloads x 2 threads = 4).
        assert_eq!(cells.len(), 16);
        assert!(!cells.iter().any(|c| c.technique.as_str() == "q8_0" && c.threads == 2));
        assert!(!cells.iter().any(|c| c.model == "other" && c.technique.as_str() == "f32"));
        assert!(cells.iter().any(|c| c.technique.as_str() == "q4k+kv-off" && c.workload_spec.batch == 2));
        assert!(cells.iter().all(|c| c.hardware == "local"));
    }

    #[test]
    fn emulated_node_runs_only_the_threads_it_has_and_keeps_keys_of_real_ones() {
        let text = GRID.replace(
            "axes:\n",
            "hardware:\n  edge:\n    emulated: {cores: 1, memory_mb: 128}\naxes:\n  hardware: [local, edge]\n",
        );
        let g = parse(Path::new("t.yaml"), &text).unwrap();
        let cells = expand(&g);
        let edge: Vec<_> = cells.iter().filter(|c| c.hardware == "edge").collect();
        assert_eq!(cells.len() - edge.len(), 16);
        assert!(!edge.is_empty() && edge.iter().all(|c| c.threads == 1), "a 1-core node runs no 2-thread cell");
        assert_eq!(edge[0].hardware_spec.memory_cap_mb(), Some(128));
        // A real profile serialises as before (no `emulated` key), so stored content keys stay valid.
        let local = serde_json::to_string(&cells[0].hardware_spec).unwrap();
        assert!(!local.contains("emulated"), "{local}");
        let e = parse(Path::new("t.yaml"), &text.replace("cores: 1", "cores: 0")).unwrap_err();
        assert!(e.to_string().contains("hardware.edge.emulated"), "{e}");
    }

    #[test]
    fn defaults_fill_missing_axes() {
        let text = GRID.replace("  threads: [1, 2]\n", "").replace("exclude:", "defaults:\n  threads: [3]\nexclude:");
        let g = parse(Path::new("t.yaml"), &text).unwrap();
        assert!(expand(&g).iter().all(|c| c.threads == 3));
    }

    #[test]
    fn unknown_technique_names_line_and_known_names() {
        let text = GRID.replace("q4k+kv-off", "q4_k");
        let e = parse(Path::new("grid.yaml"), &text).unwrap_err();
        assert_eq!(e.line, Some(12), "{e}");
        let s = e.to_string();
        assert!(s.starts_with("grid.yaml:12"), "{s}");
        assert!(s.contains("unknown technique `q4_k`") && s.contains("q4k") && s.contains("f16"), "{s}");
    }

    #[test]
    fn malformed_yaml_and_unknown_fields_have_lines() {
        let e = parse(Path::new("g.yaml"), "models: {\n  a: [\n").unwrap_err();
        assert!(e.line.is_some(), "{e}");
        let e = parse(Path::new("g.yaml"), &GRID.replace("batch: 2", "batch: 2, batsh: 3")).unwrap_err();
        assert!(e.to_string().contains("batsh") && e.line == Some(10), "{e}");
    }

    #[test]
    fn unknown_model_reference_names_line() {
        let text = GRID.replace("  threads: [1, 2]\n", "  threads: [1, 2]\n  model: [tiny, huge]\n");
        let e = parse(Path::new("g.yaml"), &text).unwrap_err();
        assert_eq!(e.line, Some(14), "{e}");
        assert!(e.to_string().contains("unknown model `huge`"), "{e}");
    }
}
