//! Everything a report draws, read from the store once and put in a stable order.
//!
//! A report must come from the store alone, so the only inputs here are the cell
//! records (with the resolved cell config each carries as JSON) and the latest
//! evaluation. The config is read as loose JSON rather than as `CellConfig`, so
//! records written by older harness versions still render.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::engines::DEFAULT_ENGINE;
use crate::record::{Arm, CellRecord, CellStatus, EvaluationRecord, Summary, TaskId};
use crate::techniques::TechniqueName;

/// What a report is drawn from.
pub struct ReportData {
    /// Where the data came from, as the user named it.
    pub source: String,
    /// Every stored cell, sorted by grid, model, hardware, workload, then arm.
    pub cells: Vec<Cell>,
    /// Indices into `cells` of the measured ones (status ok), one per task and arm
    /// (the [`TaskId`] and [`Arm`] `harness evaluate` uses): the latest run wins.
    measured: Vec<usize>,
    /// Every technique measured, in the canonical order that fixes its colour.
    pub techniques: Vec<String>,
    /// Every thread count measured, ascending.
    pub threads: Vec<usize>,
    /// Every engine measured, the default first.
    pub engines: Vec<String>,
    /// Every (thread count, engine) measured, by engine (the default first) then threads;
    /// its rank fixes the marker shape.
    pub runs: Vec<(usize, String)>,
    pub evaluation: Option<EvaluationRecord>,
}

/// One stored cell with the parts of its config the figures need.
pub struct Cell {
    pub rec: CellRecord,
    /// The task `harness evaluate` files this cell under.
    pub task_id: TaskId,
    /// The arm it measured: technique @ threads on an engine.
    pub arm: Arm,
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
    fn new(rec: CellRecord, task_id: TaskId) -> Cell {
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
            task_id,
            arm: Arm::of(&rec),
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
        self.summary().is_some_and(|s| s.verdict.is_valid())
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
        self.rec.task_name()
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

/// Orders engines: the default first, then by name.
fn engine_key(e: &str) -> (bool, &str) {
    (e != DEFAULT_ENGINE, e)
}

/// Sorts engine names, the default first.
pub fn sort_engines(engines: &mut [String]) {
    engines.sort_by(|a, b| engine_key(a).cmp(&engine_key(b)));
}

/// Orders arms as tables and figures list them: technique (canonically), threads, then
/// engine, so one arm's engines sit side by side.
fn arm_key(a: &Arm) -> ((u16, usize, String), usize, (bool, &str)) {
    (a.technique.sort_key(), a.threads, engine_key(&a.engine))
}

/// Sorts arms in the report's order.
pub fn sort_arms(arms: &mut [Arm]) {
    arms.sort_by(|a, b| arm_key(a).cmp(&arm_key(b)));
}

/// Names every record's task the way `harness evaluate` does ([`TaskId::display_names`]):
/// a workload or hardware name that stands for several tasks (two grids reusing a name,
/// two machine classes) gets a suffix, so no table merges tasks that evaluate keeps apart.
/// Returns each record's task; a record whose config this build cannot read (an older
/// harness's) is a task of its own names, with an empty shape.
fn name_tasks(records: &mut [CellRecord]) -> Vec<TaskId> {
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
    ids.into_iter()
        .zip(records.iter())
        .map(|(id, r)| {
            id.unwrap_or_else(|| TaskId {
                model: r.model.clone(),
                workload: r.workload.clone(),
                hardware: r.hardware.clone(),
                shape: String::new(),
                machine: r.machine(),
            })
        })
        .collect()
}

/// Sorts technique names canonically.
pub fn sort_techniques(names: &mut [String]) {
    names.sort_by_key(|t| technique_key(t));
}

impl ReportData {
    pub fn new(source: String, mut records: Vec<CellRecord>, evaluation: Option<EvaluationRecord>) -> ReportData {
        let ids = name_tasks(&mut records);
        let mut cells: Vec<Cell> = records.into_iter().zip(ids).map(|(r, id)| Cell::new(r, id)).collect();
        cells.sort_by(|a, b| {
            let k = |c: &Cell| {
                let r = &c.rec;
                (r.grid.clone(), r.model.clone(), r.hardware.clone(), r.workload.clone())
            };
            k(a).cmp(&k(b))
                .then_with(|| arm_key(&a.arm).cmp(&arm_key(&b.arm)))
                .then(a.rec.started_at.total_cmp(&b.rec.started_at))
                .then(a.rec.key.cmp(&b.rec.key))
        });
        let mut latest: BTreeMap<(&TaskId, &Arm), usize> = BTreeMap::new();
        for (i, c) in cells.iter().enumerate().filter(|(_, c)| c.summary().is_some()) {
            let r = &c.rec;
            let id = (&c.task_id, &c.arm);
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
            measured.iter().map(|&i| cells[i].arm.technique.to_string()).collect::<BTreeSet<_>>().into_iter().collect();
        sort_techniques(&mut techniques);
        let threads = measured.iter().map(|&i| cells[i].arm.threads).collect::<BTreeSet<_>>().into_iter().collect();
        let mut engines: Vec<String> =
            measured.iter().map(|&i| cells[i].arm.engine.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        sort_engines(&mut engines);
        let mut runs: Vec<(usize, String)> = measured
            .iter()
            .map(|&i| (cells[i].arm.threads, cells[i].arm.engine.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        runs.sort_by(|a, b| (engine_key(&a.1), a.0).cmp(&(engine_key(&b.1), b.0)));
        ReportData { source, cells, measured, techniques, threads, engines, runs, evaluation }
    }

    /// Whether the cell ran its scope's baseline technique (f32 weights for plain
    /// generation, static batching for serving workloads).
    pub fn is_baseline(&self, c: &Cell) -> bool {
        c.rec.is_reference(c.is_serving())
    }

    /// Measured cells (status ok, valid or noisy), one per task and arm.
    pub fn measured(&self) -> impl Iterator<Item = &Cell> {
        self.measured.iter().map(|&i| &self.cells[i])
    }

    /// An arm as every table and figure names it: `q4k`, with `@2t` when the store holds
    /// several thread counts and `on llamacpp` when it holds an engine other than the
    /// default, so two engines' cells never share a label.
    pub fn label(&self, arm: &Arm) -> String {
        arm.label(self.threads.len() > 1, self.shows_engines())
    }

    /// Whether labels name the engine (see [`ReportData::label`]).
    pub fn shows_engines(&self) -> bool {
        self.engines.iter().any(|e| e != DEFAULT_ENGINE)
    }

    /// The fixed look of an arm, the same in every figure: the technique picks the
    /// colour, the thread count and engine the marker.
    pub fn series_style(&self, arm: &Arm) -> super::style::SeriesStyle {
        let technique = arm.technique.as_str();
        let rank = self.techniques.iter().position(|t| t == technique).unwrap_or(self.techniques.len());
        let (color, filled) = super::style::categorical(rank);
        let marker = super::style::Marker::nth(self.run_rank(arm.threads, &arm.engine));
        super::style::SeriesStyle { color, filled, marker }
    }

    /// Rank of a (thread count, engine) in [`ReportData::runs`], which fixes its marker.
    pub fn run_rank(&self, threads: usize, engine: &str) -> usize {
        self.runs.iter().position(|(n, e)| *n == threads && e == engine).unwrap_or(0)
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
    fn arms_sort_by_technique_then_threads_then_engine_with_the_default_first() {
        let arm = |t: &str, n: usize, e: &str| Arm { engine: e.into(), ..Arm::new(TechniqueName::from_stored(t), n) };
        let mut arms = vec![
            arm("q4k", 1, "llamacpp"),
            arm("q4k", 2, "candle"),
            arm("q4k", 1, "candle"),
            arm("f32", 2, "llamacpp"),
        ];
        sort_arms(&mut arms);
        let names: Vec<String> = arms.iter().map(|a| a.label(true, true)).collect();
        assert_eq!(names, ["f32 @2t on llamacpp", "q4k @1t on candle", "q4k @1t on llamacpp", "q4k @2t on candle"]);
    }

    #[test]
    fn techniques_sort_by_family_then_combinations() {
        let mut t: Vec<String> = ["zeta", "q4k+kv-off", "kv-off", "q4k", "f32", "q8_0"].map(String::from).to_vec();
        sort_techniques(&mut t);
        assert_eq!(t, ["f32", "q8_0", "q4k", "q4k+kv-off", "kv-off", "zeta"]);
    }
}
