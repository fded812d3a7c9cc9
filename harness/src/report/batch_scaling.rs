//! Figure 3: each technique's latency as the load grows (batch size, or concurrent
//! clients for serving workloads), with 95% CI bands: which technique wins
//! changes with the load.

use std::collections::BTreeMap;

use anyhow::Result;
use plotters::prelude::*;

use super::axis::Axis;
use super::data::{Cell, ReportData};
use super::draw::{self, Legend};
use super::style::SeriesStyle;
use super::{slug, Area, Chart, Figure, Item};
use crate::record::Arm;

pub struct BatchScaling;

impl Figure for BatchScaling {
    fn name(&self) -> &'static str {
        "batch_scaling"
    }
    fn title(&self) -> &'static str {
        "Technique performance versus batch size and concurrency"
    }
    fn caption(&self) -> &'static str {
        "Static batches: median time per generated token (request latency ÷ batch × output tokens) against the \
         batch size. Serving workloads: median request latency against the number of concurrent clients (max \
         batch for open-loop arrivals). Bands: bootstrap 95% CI of the median. Where several workloads share a \
         load, the one generating the most tokens per request is used."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no technique was measured at two batch sizes or concurrencies", "harness run experiments/grid.yaml")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        // (hardware) -> (model, serving) -> arm -> load -> cell
        type Series<'a> = BTreeMap<Arm, BTreeMap<usize, &'a Cell>>;
        let mut per_hw: BTreeMap<String, BTreeMap<(String, bool), Series>> = BTreeMap::new();
        for c in data.measured().filter(|c| c.summary().is_some_and(|s| s.latency_ms.p50 > 0.0)) {
            let r = &c.rec;
            let series = per_hw
                .entry(r.hardware.clone())
                .or_default()
                .entry((r.model.clone(), c.is_serving()))
                .or_default()
                .entry(c.arm.clone())
                .or_default();
            let load = c.workload.load();
            let better = |old: &&Cell| {
                let k = |c: &Cell| (c.workload.output_tokens, std::cmp::Reverse(c.rec.workload.clone()));
                k(c) > k(old)
            };
            if series.get(&load).is_none_or(better) {
                series.insert(load, c);
            }
        }
        let mut items = Vec::new();
        for (hardware, groups) in per_hw {
            let mut panels = Vec::new();
            for ((model, serving), series) in groups {
                if !series.values().any(|s| s.len() >= 2) {
                    continue;
                }
                let lines = series
                    .iter()
                    .map(|(arm, pts)| Line {
                        style: data.series_style(arm),
                        arm: arm.clone(),
                        points: pts.iter().map(|(&load, c)| point(c, load as f64, serving)).collect(),
                    })
                    .collect();
                panels.push(Panel { model, serving, lines });
            }
            if panels.is_empty() {
                continue;
            }
            let used: Vec<_> = panels.iter().flat_map(|p| p.lines.iter().map(|l| l.arm.clone())).collect();
            items.push(Item::Chart(Box::new(Scaling { hardware, legend: Legend::techniques(data, &used), panels })));
        }
        items
    }
}

/// (load, median, CI low, CI high) in the panel's unit.
fn point(c: &Cell, load: f64, serving: bool) -> (f64, f64, f64, f64) {
    let l = &c.summary().expect("measured").latency_ms;
    let per = if serving { 1.0 } else { c.tokens_per_request() };
    let (lo, hi) =
        if l.p50_ci_lo > 0.0 && l.p50_ci_hi >= l.p50_ci_lo { (l.p50_ci_lo, l.p50_ci_hi) } else { (l.p50, l.p50) };
    (load, l.p50 / per, lo / per, hi / per)
}

struct Line {
    style: SeriesStyle,
    arm: Arm,
    points: Vec<(f64, f64, f64, f64)>,
}

struct Panel {
    model: String,
    serving: bool,
    lines: Vec<Line>,
}

struct Scaling {
    hardware: String,
    legend: Legend,
    panels: Vec<Panel>,
}

const PANEL: (u32, u32) = (620, 460);
const TOP: u32 = 70;

impl Chart for Scaling {
    fn stem(&self) -> String {
        format!("batch_scaling-{}", slug(&self.hardware))
    }
    fn heading(&self) -> String {
        format!("hardware profile `{}`", self.hardware)
    }
    fn size(&self) -> (u32, u32) {
        let (cols, rows) = draw::grid_shape(self.panels.len(), 2);
        let h = (TOP + rows as u32 * PANEL.1).max(TOP + self.legend.height());
        (cols as u32 * PANEL.0 + self.legend.width(), h)
    }

    fn draw(&self, area: &Area) -> Result<()> {
        let title = format!("Latency versus load — hardware `{}`", self.hardware);
        let body = draw::title(area, &title, "lines: median; bands: 95% CI of the median; lower is better")?;
        let plots = draw::with_legend(&body, &self.legend)?;
        let (cols, rows) = draw::grid_shape(self.panels.len(), 2);
        let plots = plots.split_vertically(rows as u32 * PANEL.1).0.split_horizontally(cols as u32 * PANEL.0).0;
        let screen = area.use_screen_coord();
        for (p, cell) in self.panels.iter().zip(plots.split_evenly((rows, cols))) {
            let kind = if p.serving { "serving workloads" } else { "static batches" };
            let panel = draw::panel_heading(&cell, &format!("{} — {kind}", p.model))?;
            let mut loads: Vec<f64> = p.lines.iter().flat_map(|l| l.points.iter().map(|q| q.0)).collect();
            loads.sort_by(f64::total_cmp);
            loads.dedup();
            let x = Axis::log_at(&loads);
            let ys: Vec<f64> = p.lines.iter().flat_map(|l| l.points.iter().flat_map(|q| [q.2, q.3])).collect();
            let y = Axis::fit(&ys, false);
            let (xd, yd) = if p.serving {
                ("concurrent clients (requests)", "median request latency (ms)")
            } else {
                ("batch size (sequences)", "time per generated token (ms)")
            };
            let chart = draw::plot(&panel, &x, &y, xd, yd)?;
            for l in p.lines.iter().filter(|l| l.points.len() >= 2) {
                let band: Vec<(f64, f64)> = l
                    .points
                    .iter()
                    .map(|q| (x.at(q.0), y.at(q.3)))
                    .chain(l.points.iter().rev().map(|q| (x.at(q.0), y.at(q.2))))
                    .collect();
                chart.plotting_area().draw(&Polygon::new(band, l.style.color.mix(0.18).filled()))?;
            }
            for l in &p.lines {
                let line: Vec<(f64, f64)> = l.points.iter().map(|q| (x.at(q.0), y.at(q.1))).collect();
                chart.plotting_area().draw(&PathElement::new(line.clone(), l.style.color.stroke_width(2)))?;
                let marks: Vec<_> = line.into_iter().map(|q| (q, l.style)).collect();
                draw::markers(&screen, &chart, &marks)?;
            }
        }
        Ok(())
    }
}
