//! Table: the fastest measured technique of every task, with what it costs in
//! accuracy and memory, for readers who want the answer without a figure.

use std::collections::BTreeMap;

use super::axis::fmt_num;
use super::data::{Cell, ReportData};
use super::{Figure, Item, Table};
use crate::record::TaskId;

pub struct FastestPerTask;

impl Figure for FastestPerTask {
    fn name(&self) -> &'static str {
        "fastest_per_task"
    }
    fn title(&self) -> &'static str {
        "Fastest technique per task"
    }
    fn caption(&self) -> &'static str {
        "Per task (model / workload / hardware), the measured technique with the lowest median request latency, \
         its speed-up over f32 at the same thread count on the same engine, its perplexity change against the f32 reference and \
         its peak memory. Noisy cells (invalid verdict) are marked `*`."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no measured cells", "harness run experiments/grid.yaml")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let mut best: BTreeMap<&TaskId, &Cell> = BTreeMap::new();
        let mut f32s: BTreeMap<(&TaskId, usize, &str), f64> = BTreeMap::new();
        for c in data.measured() {
            let p50 = c.summary().expect("measured").latency_ms.p50;
            if c.rec.is_reference(false) {
                f32s.insert((&c.task_id, c.arm.threads, &c.arm.engine), p50);
            }
            if best.get(&c.task_id).is_none_or(|b| p50 < b.summary().expect("measured").latency_ms.p50) {
                best.insert(&c.task_id, c);
            }
        }
        if best.is_empty() {
            return vec![];
        }
        let mut rows: Vec<Vec<String>> = best
            .into_iter()
            .map(|(task, c)| {
                let s = c.summary().expect("measured");
                let speedup = f32s
                    .get(&(task, c.arm.threads, c.arm.engine.as_str()))
                    .map_or("–".into(), |b| format!("{}×", fmt_num(b / s.latency_ms.p50)));
                let ppl = match (s.perplexity, s.ref_perplexity) {
                    _ if s.exact_by_construction() => "exact".into(),
                    (Some(p), Some(r)) if r > 0.0 => format!("{:+.2}%", (p / r - 1.0) * 100.0),
                    _ => "–".into(),
                };
                let flag = if c.is_valid() { "" } else { " *" };
                vec![
                    c.task(),
                    format!("{}{flag}", data.label(&c.arm)),
                    fmt_num(s.latency_ms.p50),
                    speedup,
                    ppl,
                    fmt_num(s.peak_rss_mb),
                ]
            })
            .collect();
        rows.sort();
        let header = [
            "task",
            "fastest technique",
            "median latency (ms)",
            "speed-up over f32",
            "perplexity change",
            "peak RSS (MB)",
        ];
        vec![Item::Table(Table { header: header.map(String::from).to_vec(), rows })]
    }
}
