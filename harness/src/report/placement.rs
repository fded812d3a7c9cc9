//! Placement on clusters: where each step's time goes, per placement arm. One horizontal
//! stacked bar per cell of a cluster profile: compute on each node (colour per node, in
//! pipeline order), time on the links, and the rest (the coordinator and the protocol); a
//! node's bubble is everything in the bar but its own compute. The table gives the numbers,
//! the split, and the cost model's prediction beside the measurement.

use std::collections::BTreeMap;

use anyhow::Result;
use plotters::prelude::*;

use super::axis::Axis;
use super::data::{Cell, ReportData};
use super::draw::{self, Entry, Key, Legend};
use super::style;
use super::{slug, Area, Chart, Figure, Item, Table};

pub struct Placement;

/// One cell's step, ms: compute per node (name, ms), links, the rest.
struct Step {
    label: String,
    nodes: Vec<(String, f64)>,
    link_ms: f64,
    other_ms: f64,
}

/// Milliseconds per generation step of a cluster cell, split as its stored figures say.
fn step(data: &ReportData, c: &Cell) -> Option<(Step, Vec<String>)> {
    let s = c.summary()?;
    let extra = &s.extra;
    let placement = extra.get("placement")?;
    let wall = placement.get("step_wall_s")?.as_f64().filter(|w| *w > 0.0)?;
    let steps = c.workload.output_tokens.max(1) as f64;
    let per_step = s.latency_ms.p50 / steps;
    let scale = per_step / wall;
    let nodes: Vec<(String, f64)> = extra
        .get("nodes")?
        .as_array()?
        .iter()
        .map(|n| (n["node"].as_str().unwrap_or("?").to_string(), n["compute_s"].as_f64().unwrap_or(0.0) * scale))
        .collect();
    let link_s: f64 = extra.get("links")?.as_array()?.iter().filter_map(|l| l["seconds"].as_f64()).sum();
    let link_ms = link_s * scale;
    let other_ms = (per_step - nodes.iter().map(|n| n.1).sum::<f64>() - link_ms).max(0.0);
    let split: Vec<String> = placement
        .get("split")?
        .as_array()?
        .iter()
        .map(|st| format!("{}:{}–{}", st["node"].as_str().unwrap_or("?"), st["layers"][0], st["layers"][1]))
        .collect();
    let label = format!("{} · {}", c.rec.model, data.label(&c.arm));
    Some((Step { label, nodes, link_ms, other_ms }, split))
}

impl Figure for Placement {
    fn name(&self) -> &'static str {
        "placement"
    }
    fn title(&self) -> &'static str {
        "Placement on clusters: compute per node, links and the rest of each step"
    }
    fn caption(&self) -> &'static str {
        "One bar per measured cell of a cluster profile and workload: median time per generation step (request \
         latency ÷ output tokens), split in the proportions measured over the cell's run into compute on each node \
         (pipeline order), time on the shaped links, and the rest (coordinator, protocol, waiting). A node's idle \
         (bubble) time is the whole bar but its own compute. The table adds the split (node: layers), the cost \
         model's predicted time, and each cell's cost per 1k tokens (runtime × the prices of the nodes it used)."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no cell ran on a cluster profile", "harness run experiments/decentralized.yaml")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let mut panels: BTreeMap<(String, String), Vec<Step>> = BTreeMap::new();
        let mut table = Table {
            header: [
                "cluster",
                "workload",
                "model",
                "technique",
                "split",
                "ms/step",
                "compute ms (per node)",
                "links ms",
                "rest ms",
                "predicted ms/step",
                "$/1k tok",
            ]
            .map(String::from)
            .to_vec(),
            rows: vec![],
        };
        for c in data.measured() {
            let Some((st, split)) = step(data, c) else { continue };
            let s = c.summary().expect("stepped");
            let predicted = s.extra["placement"]["predicted_s"].as_f64().unwrap_or(f64::NAN) * 1e3
                / c.workload.output_tokens.max(1) as f64;
            let total: f64 = st.nodes.iter().map(|n| n.1).sum::<f64>() + st.link_ms + st.other_ms;
            table.rows.push(vec![
                c.rec.hardware.clone(),
                c.rec.workload.clone(),
                c.rec.model.clone(),
                data.label(&c.arm),
                split.join(" "),
                format!("{total:.1}"),
                st.nodes.iter().map(|(n, ms)| format!("{n} {ms:.1}")).collect::<Vec<_>>().join(", "),
                format!("{:.1}", st.link_ms),
                format!("{:.1}", st.other_ms),
                format!("{predicted:.1}"),
                format!("{:.5}", s.cost_per_1k_tokens),
            ]);
            panels.entry((c.rec.hardware.clone(), c.rec.workload.clone())).or_default().push(st);
        }
        if panels.is_empty() {
            return vec![];
        }
        table.rows.sort();
        let mut items: Vec<Item> = panels
            .into_iter()
            .map(|((hardware, workload), mut steps)| {
                steps.sort_by(|a, b| a.label.cmp(&b.label));
                Item::Chart(Box::new(StepChart { hardware, workload, steps }) as Box<dyn Chart>)
            })
            .collect();
        items.push(Item::Table(table));
        items
    }
}

struct StepChart {
    hardware: String,
    workload: String,
    steps: Vec<Step>,
}

const LINK: RGBColor = RGBColor(120, 120, 120);
const OTHER: RGBColor = RGBColor(215, 215, 215);

impl StepChart {
    /// Node names in the order they first appear (pipeline order within each cell).
    fn node_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for s in &self.steps {
            for (n, _) in &s.nodes {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        names
    }

    fn legend(&self) -> Legend {
        let mut entries: Vec<Entry> = self
            .node_names()
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                let (c, _) = style::categorical(i);
                Entry { label: format!("compute on {n}"), key: Key::Swatch(c, true) }
            })
            .collect();
        entries.push(Entry { label: "links".into(), key: Key::Swatch(LINK, true) });
        entries.push(Entry { label: "rest".into(), key: Key::Swatch(OTHER, true) });
        Legend(vec![("time per step".into(), entries)])
    }

    fn names_width(&self) -> u32 {
        self.steps.iter().map(|s| style::text_size(&s.label, style::TICK).0).max().unwrap_or(40) + 30
    }
}

impl Chart for StepChart {
    fn stem(&self) -> String {
        format!("placement-{}-{}", slug(&self.hardware), slug(&self.workload))
    }
    fn heading(&self) -> String {
        format!("cluster `{}`, workload `{}`", self.hardware, self.workload)
    }
    fn size(&self) -> (u32, u32) {
        let legend = self.legend();
        (560 + self.names_width() + legend.width(), (140 + self.steps.len() as u32 * 22).max(120 + legend.height()))
    }

    fn draw(&self, area: &Area) -> Result<()> {
        let legend = self.legend();
        let title = format!("Time per step on `{}` ({})", self.hardware, self.workload);
        let body = draw::title(area, &title, "compute per node, links and the rest; shorter is faster")?;
        let plot = draw::with_legend(&body, &legend)?;
        let n = self.steps.len();
        let totals: Vec<f64> =
            self.steps.iter().map(|s| s.nodes.iter().map(|x| x.1).sum::<f64>() + s.link_ms + s.other_ms).collect();
        let x = Axis::fit(&totals, true);
        let y = draw::categories(n);
        // Categorical axes count from the bottom: the first bar on top.
        let names: Vec<String> = self.steps.iter().rev().map(|s| s.label.clone()).collect();
        let chart = draw::plot_named(&plot, &x, &y, "ms per generation step", "", None, Some(&names))?;
        let pa = chart.plotting_area();
        let order = self.node_names();
        for (i, s) in self.steps.iter().enumerate() {
            let yc = (n - 1 - i) as f64;
            let mut at = 0.0;
            let mut segments: Vec<(f64, RGBColor)> = s
                .nodes
                .iter()
                .map(|(name, ms)| (*ms, style::categorical(order.iter().position(|o| o == name).unwrap_or(0)).0))
                .collect();
            segments.push((s.link_ms, LINK));
            segments.push((s.other_ms, OTHER));
            for (ms, color) in segments {
                if ms <= 0.0 {
                    continue;
                }
                let bar = [(x.at(at), yc - 0.35), (x.at(at + ms), yc + 0.35)];
                pa.draw(&Rectangle::new(bar, color.mix(0.85).filled()))?;
                pa.draw(&Rectangle::new(bar, BLACK.stroke_width(1)))?;
                at += ms;
            }
        }
        Ok(())
    }
}
