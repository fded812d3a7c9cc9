//! Figure 7: cost per 1k generated tokens against request latency, one panel per
//! hardware profile (the decentralised set-ups, once a grid defines several),
//! on shared axes so profiles compare at a glance.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use super::axis::Axis;
use super::data::ReportData;
use super::draw::{self, Legend};
use super::style::SeriesStyle;
use super::{Area, Chart, Figure, Item};

pub struct CostLatency;

impl Figure for CostLatency {
    fn name(&self) -> &'static str {
        "cost_latency"
    }
    fn title(&self) -> &'static str {
        "Cost per 1k tokens versus latency per hardware profile"
    }
    fn caption(&self) -> &'static str {
        "Each point is one measured cell: median request latency against the price of the hardware profile times \
         the runtime, per 1000 generated tokens. Lower-left is better; the labelled points are the cost–latency \
         Pareto front of each profile (technique · workload). Emulated edge profiles appear as extra panels. On a \
         cluster profile the arms include where the model runs (local, offloaded, split): each pays the prices of \
         the nodes it used, so a cheaper slower placement and a dearer faster one can both be on the front."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no measured cell has a cost (hardware price per hour)", "harness run experiments/grid.yaml")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let cells: Vec<_> = data
            .measured()
            .filter(|c| c.summary().is_some_and(|s| s.cost_per_1k_tokens > 0.0 && s.latency_ms.p50 > 0.0))
            .collect();
        if cells.is_empty() {
            return vec![];
        }
        let models: BTreeSet<&str> = cells.iter().map(|c| c.rec.model.as_str()).collect();
        let mut panels: BTreeMap<String, Vec<Point>> = BTreeMap::new();
        for c in &cells {
            let s = c.summary().expect("filtered");
            let task =
                if models.len() > 1 { format!("{}/{}", c.rec.model, c.rec.workload) } else { c.rec.workload.clone() };
            let emulated = if c.rec.emulated { " (emulated)" } else { "" };
            panels.entry(format!("{}{emulated}", c.rec.hardware)).or_default().push(Point {
                x: s.latency_ms.p50,
                y: s.cost_per_1k_tokens,
                label: format!("{} · {task}", data.label(&c.arm)),
                style: data.series_style(&c.arm),
            });
        }
        let used: Vec<_> = cells.iter().map(|c| c.arm.clone()).collect();
        let legend = Legend::techniques(data, &used);
        vec![Item::Chart(Box::new(CostChart { legend, panels: panels.into_iter().collect() }))]
    }
}

struct Point {
    x: f64,
    y: f64,
    label: String,
    style: SeriesStyle,
}

struct CostChart {
    legend: Legend,
    panels: Vec<(String, Vec<Point>)>,
}

const PANEL: (u32, u32) = (680, 500);
const TOP: u32 = 70;

impl Chart for CostChart {
    fn stem(&self) -> String {
        "cost_latency".into()
    }
    fn heading(&self) -> String {
        let names: Vec<&str> = self.panels.iter().map(|p| p.0.as_str()).collect();
        format!("hardware profiles: {}", names.join(", "))
    }
    fn size(&self) -> (u32, u32) {
        let (cols, rows) = draw::grid_shape(self.panels.len(), 2);
        ((cols as u32 * PANEL.0) + self.legend.width(), (TOP + rows as u32 * PANEL.1).max(TOP + self.legend.height()))
    }

    fn draw(&self, area: &Area) -> Result<()> {
        let body =
            draw::title(area, "Cost per 1k tokens versus latency", "lower-left is better; labels: Pareto front")?;
        let plots = draw::with_legend(&body, &self.legend)?;
        let (cols, rows) = draw::grid_shape(self.panels.len(), 2);
        let plots = plots.split_vertically(rows as u32 * PANEL.1).0.split_horizontally(cols as u32 * PANEL.0).0;
        let all = || self.panels.iter().flat_map(|p| &p.1);
        let x = Axis::fit(&all().map(|p| p.x).collect::<Vec<_>>(), false);
        let y = Axis::fit(&all().map(|p| p.y).collect::<Vec<_>>(), false);
        let screen = area.use_screen_coord();
        for ((name, points), cell) in self.panels.iter().zip(plots.split_evenly((rows, cols))) {
            let panel = draw::panel_heading(&cell, &format!("hardware `{name}`"))?;
            let chart = draw::plot(&panel, &x, &y, "median request latency (ms)", "cost per 1k generated tokens ($)")?;
            let marks: Vec<_> = points.iter().map(|p| ((x.at(p.x), y.at(p.y)), p.style)).collect();
            let px = draw::markers(&screen, &chart, &marks)?;
            let mut order: Vec<usize> = (0..points.len()).collect();
            order.sort_by(|&a, &b| points[a].x.total_cmp(&points[b].x).then(points[a].y.total_cmp(&points[b].y)));
            let mut best = f64::INFINITY;
            let labels: Vec<_> = order
                .into_iter()
                .filter(|&i| {
                    let keep = points[i].y < best;
                    best = best.min(points[i].y);
                    keep
                })
                .map(|i| (px[i], points[i].label.clone()))
                .collect();
            draw::label_points(&screen, &chart, &px, &[], &labels)?;
        }
        Ok(())
    }
}
