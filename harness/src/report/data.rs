//! Everything a report draws, read from the store once and put in a stable order.
//!
//! A report must come from the store alone, so the only inputs here are the cell
//! records (with the resolved cell config each carries as JSON) and the latest
//! evaluation. The config is read as loose JSON rather than as `CellConfig`, so
//! records written by older harness versions still render.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::record::{CellRecord, CellStatus, EvaluationRecord, Summary, TaskId};
use crate::techniques::{Scope, TechniqueName};

/// What a report is drawn from.
pub struct ReportData {
    /// Where the data came from, as the user named it.
    pub source: String,
    /// Every stored cell, sorted by grid, model, hardware, workload, technique, threads.
    pub cells: Vec<Cell>,
    /// Indices into `cells` of the measured ones (status ok), one per
    /// (model, technique, threads, workload, hardware): the latest run wins.
    measured: Vec<usize>,
    /// Every technique measured, in the canonical order that fixes its colour.
    pub techniques: Vec<String>,
    /// Every thread count measured, ascending; its rank fixes the marker shape.
    pub threads: Vec<usize>,
    pub evaluation: Option<EvaluationRecord>,
}

/// One stored cell with the parts of its config the figures need.
pub struct Cell {
    pub rec: CellRecord,
    pub workload: WorkloadInfo,
    pub hardware_description: Option<String>,
    pub price_per_hour: Option<f64>,
    /// `repo/file` of a hub model or the synthetic model's dimensions.
    pub model_source: String,
}

/// A workload's shape as the cell ran it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkloadInfo {
    pub description: Option<String>,
    pub prompt_tokens: usize,
    pub output_tokens: usize,
    pub batch: usize,
    pub serving: Option<ServingInfo>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServingInfo {
    pub requests: usize,
    pub concurrency: Option<usize>,
    pub rate: Option<f64>,
    pub max_batch: usize,
    pub shared_prefix_tokens: usize,
}

impl WorkloadInfo {
    /// The load axis of batch-scaling figures: batch size, or concurrent requests.
    pub fn load(&self) -> usize {
        match &self.serving {
            Some(s) => s.concurrency.unwrap_or(s.max_batch),
            None => self.batch,
        }
    }

    /// A one-line shape, e.g. `32→32 tokens, batch 4` or `16→32 tokens, 8 requests, 4 clients`.
    pub fn shape(&self) -> String {
        let io = format!("{}→{} tokens", self.prompt_tokens, self.output_tokens);
        match &self.serving {
            None => format!("{io}, batch {}", self.batch),
            Some(s) => {
                let load = match (s.concurrency, s.rate) {
                    (Some(c), _) => format!("{c} client{}", if c == 1 { "" } else { "s" }),
                    (None, Some(r)) => format!("Poisson {r} req/s, max batch {}", s.max_batch),
                    (None, None) => format!("max batch {}", s.max_batch),
                };
                let prefix = if s.shared_prefix_tokens > 0 {
                    format!(", {}-token shared prefix", s.shared_prefix_tokens)
                } else {
                    String::new()
                };
                format!("{io}, {} requests, {load}{prefix}", s.requests)
            }
        }
    }
}

impl Cell {
    fn new(rec: CellRecord) -> Cell {
        let cfg: Value = serde_json::from_str(&rec.config_json).unwrap_or(Value::Null);
        let w = &cfg["workload_spec"];
        let num = |v: &Value| v.as_u64().map(|x| x as usize);
        let serving = w.get("serving").filter(|s| s.is_object()).map(|s| {
            let concurrency = num(&s["concurrency"]);
            ServingInfo {
                requests: num(&s["requests"]).unwrap_or(0),
                concurrency,
                rate: s["rate"].as_f64(),
                max_batch: num(&s["max_batch"]).or(concurrency).unwrap_or(8),
                shared_prefix_tokens: num(&s["shared_prefix_tokens"]).unwrap_or(0),
            }
        });
        let workload = WorkloadInfo {
            description: w["description"].as_str().map(str::to_string),
            prompt_tokens: num(&w["prompt_tokens"]).unwrap_or(0),
            output_tokens: num(&w["output_tokens"]).unwrap_or(0),
            batch: num(&w["batch"]).unwrap_or(1),
            serving,
        };
        let hw = &cfg["hardware_spec"];
        let model_source = match &cfg["model_spec"] {
            Value::Object(m) if m.contains_key("hub") => {
                format!("{}/{}", m["hub"]["repo"].as_str().unwrap_or("?"), m["hub"]["file"].as_str().unwrap_or("?"))
            }
            Value::Object(m) if m.contains_key("synthetic") => {
                let dims: Vec<String> =
                    m["synthetic"].as_object().into_iter().flatten().map(|(k, v)| format!("{k} {v}")).collect();
                format!("synthetic ({})", dims.join(", "))
            }
            _ => "unknown".into(),
        };
        Cell {
            workload,
            hardware_description: hw["description"].as_str().map(str::to_string),
            price_per_hour: hw["price_per_hour"].as_f64(),
            model_source,
            rec,
        }
    }

    /// The summary of a measured cell (`None` for failed or not-applicable ones).
    pub fn summary(&self) -> Option<&Summary> {
        self.rec.summary.as_ref().filter(|_| self.rec.status == CellStatus::Ok)
    }

    pub fn is_valid(&self) -> bool {
        self.summary().is_some_and(|s| s.verdict == "valid")
    }

    pub fn is_serving(&self) -> bool {
        self.workload.serving.is_some()
    }

    /// Raw samples of one series (`ttft_ms`, `tpot_ms`, ...), empty when absent.
    pub fn samples(&self, metric: &str) -> &[f64] {
        self.rec.samples.iter().find(|s| s.metric == metric).map_or(&[], |s| &s.values)
    }

    /// Generated tokens per request: what `ms per generated token` divides by.
    pub fn tokens_per_request(&self) -> f64 {
        (self.workload.batch.max(1) * self.workload.output_tokens.max(1)) as f64
    }

    /// `model / workload / hardware`, the task name `harness evaluate` uses.
    pub fn task(&self) -> String {
        format!("{} / {} / {}", self.rec.model, self.rec.workload, self.rec.hardware)
    }
}

/// Canonical technique order, from the technique registry: precisions, then
/// quantizations from most to fewest bits, then the rest; a combination sorts right
/// after its first part.
fn technique_key(t: &str) -> (u16, usize, String) {
    TechniqueName::from_stored(t).sort_key()
}

/// Orders names with their numbers compared as numbers: `chat-c4` before `chat-c16`.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(s: &str) -> Vec<(bool, u64, &str)> {
        let mut out = Vec::new();
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            let digit = c.is_ascii_digit();
            let end = rest.find(|ch: char| ch.is_ascii_digit() != digit).unwrap_or(rest.len());
            let (head, tail) = rest.split_at(end);
            out.push((digit, if digit { head.parse().unwrap_or(u64::MAX) } else { 0 }, head));
            rest = tail;
        }
        out
    }
    let key = |s| parts(s).into_iter().map(|(d, n, t)| if d { (0, n, "") } else { (1, 0, t) }).collect::<Vec<_>>();
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

/// Names every record's task the way `harness evaluate` does ([`TaskId::display_names`]):
/// a workload or hardware name that stands for several tasks (two grids reusing a name,
/// two machine classes) gets a suffix, so no table merges tasks that evaluate keeps apart.
fn name_tasks(records: &mut [CellRecord]) {
    let mut first_grid: BTreeMap<TaskId, String> = BTreeMap::new();
    let ids: Vec<Option<TaskId>> = records.iter().map(|r| TaskId::of(r).ok()).collect();
    for (id, r) in ids.iter().zip(records.iter()) {
        if let Some(id) = id {
            first_grid.entry(id.clone()).or_insert_with(|| r.grid.clone());
        }
    }
    let names = TaskId::display_names(first_grid.iter().map(|(id, g)| (id, g.as_str())));
    let by_id: BTreeMap<&TaskId, _> = first_grid.keys().zip(names).collect();
    for (id, r) in ids.iter().zip(records.iter_mut()) {
        if let Some(name) = id.as_ref().and_then(|id| by_id.get(id)) {
            r.workload = name.workload.clone();
            r.hardware = name.hardware.clone();
        }
    }
}

/// Sorts technique names canonically.
pub fn sort_techniques(names: &mut [String]) {
    names.sort_by_key(|t| technique_key(t));
}

impl ReportData {
    pub fn new(source: String, mut records: Vec<CellRecord>, evaluation: Option<EvaluationRecord>) -> ReportData {
        name_tasks(&mut records);
        let mut cells: Vec<Cell> = records.into_iter().map(Cell::new).collect();
        cells.sort_by(|a, b| {
            let k = |c: &Cell| {
                let r = &c.rec;
                (r.grid.clone(), r.model.clone(), r.hardware.clone(), r.workload.clone(), technique_key(&r.technique))
            };
            k(a).cmp(&k(b))
                .then(a.rec.threads.cmp(&b.rec.threads))
                .then(a.rec.started_at.total_cmp(&b.rec.started_at))
                .then(a.rec.key.cmp(&b.rec.key))
        });
        let mut latest: BTreeMap<(String, String, usize, String, String), usize> = BTreeMap::new();
        for (i, c) in cells.iter().enumerate().filter(|(_, c)| c.summary().is_some()) {
            let r = &c.rec;
            let id = (r.model.clone(), r.technique.clone(), r.threads, r.workload.clone(), r.hardware.clone());
            let keep = latest.get(&id).is_none_or(|&j| {
                let o = &cells[j].rec;
                (r.started_at, &r.key) > (o.started_at, &o.key)
            });
            if keep {
                latest.insert(id, i);
            }
        }
        let mut measured: Vec<usize> = latest.into_values().collect();
        measured.sort_unstable();
        let mut techniques: Vec<String> =
            measured.iter().map(|&i| cells[i].rec.technique.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        sort_techniques(&mut techniques);
        let threads = measured.iter().map(|&i| cells[i].rec.threads).collect::<BTreeSet<_>>().into_iter().collect();
        ReportData { source, cells, measured, techniques, threads, evaluation }
    }

    /// Whether the cell ran its scope's baseline technique (f32 weights for plain
    /// generation, static batching for serving workloads).
    pub fn is_baseline(&self, c: &Cell) -> bool {
        let scope = if c.is_serving() { Scope::Serving } else { Scope::Generation };
        TechniqueName::from_stored(&c.rec.technique).is_reference(scope)
    }

    /// Measured cells (status ok, valid or noisy), one per cell identity.
    pub fn measured(&self) -> impl Iterator<Item = &Cell> {
        self.measured.iter().map(|&i| &self.cells[i])
    }

    /// `q4k` or, when the store holds several thread counts, `q4k @2t`.
    pub fn label(&self, c: &Cell) -> String {
        if self.threads.len() > 1 {
            format!("{} @{}t", c.rec.technique, c.rec.threads)
        } else {
            c.rec.technique.clone()
        }
    }

    /// The fixed look of a technique at a thread count, the same in every figure.
    pub fn series_style(&self, technique: &str, threads: usize) -> super::style::SeriesStyle {
        let rank = self.techniques.iter().position(|t| t == technique).unwrap_or(self.techniques.len());
        let (color, filled) = super::style::categorical(rank);
        let marker = super::style::Marker::nth(self.threads.iter().position(|&t| t == threads).unwrap_or(0));
        super::style::SeriesStyle { color, filled, marker }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_with_numbers_as_numbers() {
        let mut w = vec!["chat-c16", "chat-c4", "batch4", "chat-c1"];
        w.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(w, ["batch4", "chat-c1", "chat-c4", "chat-c16"]);
    }

    #[test]
    fn techniques_sort_by_family_then_combinations() {
        let mut t: Vec<String> = ["zeta", "q4k+kv-off", "kv-off", "q4k", "f32", "q8_0"].map(String::from).to_vec();
        sort_techniques(&mut t);
        assert_eq!(t, ["f32", "q8_0", "q4k", "q4k+kv-off", "kv-off", "zeta"]);
    }
}
