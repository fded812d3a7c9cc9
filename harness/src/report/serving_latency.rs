//! Figure 4: distributions of time to first token and time per output token over
//! every request of the serving cells, as box plots grouped by workload.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use plotters::prelude::*;

use super::axis::Axis;
use super::data::{natural_cmp, sort_arms, ReportData};
use super::draw::{self, Entry, Key, Legend};
use super::style::SeriesStyle;
use super::{slug, Area, Chart, Figure, Item};
use crate::record::Arm;

pub struct ServingLatency;

/// TTFT and TPOT samples of one cell, ms.
type Dist = (Vec<f64>, Vec<f64>);

impl Figure for ServingLatency {
    fn name(&self) -> &'static str {
        "serving_latency"
    }
    fn title(&self) -> &'static str {
        "TTFT and TPOT distributions of the serving techniques"
    }
    fn caption(&self) -> &'static str {
        "Every request of every repetition of a serving cell: box from the first to the third quartile, line at \
         the median, whiskers to the furthest request within 1.5 IQR, dots beyond. Top: time to first token; \
         bottom: time per output token after the first."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no serving cells", "harness run experiments/serving.yaml")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        // (model, hardware) -> workload -> arm -> (TTFT, TPOT)
        let mut groups: BTreeMap<(String, String), BTreeMap<String, BTreeMap<Arm, Dist>>> = BTreeMap::new();
        for c in data.measured().filter(|c| c.is_serving() && !c.samples("ttft_ms").is_empty()) {
            let r = &c.rec;
            groups
                .entry((r.model.clone(), r.hardware.clone()))
                .or_default()
                .entry(r.workload.clone())
                .or_default()
                .insert(c.arm.clone(), (c.samples("ttft_ms").to_vec(), c.samples("tpot_ms").to_vec()));
        }
        groups
            .into_iter()
            .map(|((model, hardware), workloads)| {
                let mut series: Vec<Arm> =
                    workloads.values().flat_map(|m| m.keys().cloned()).collect::<BTreeSet<_>>().into_iter().collect();
                sort_arms(&mut series);
                let entries = series
                    .iter()
                    .map(|a| {
                        let s = data.series_style(a);
                        Entry { label: data.label(a), key: Key::Swatch(s.color, s.filled) }
                    })
                    .collect();
                let styles = series.iter().map(|a| data.series_style(a)).collect();
                let mut groups: Vec<_> = workloads
                    .into_iter()
                    .map(|(w, m)| (w, series.iter().map(|k| m.get(k).cloned()).collect()))
                    .collect();
                groups.sort_by(|a, b| natural_cmp(&a.0, &b.0));
                Item::Chart(Box::new(Boxes {
                    model,
                    hardware,
                    legend: Legend(vec![("technique".into(), entries)]),
                    styles,
                    groups,
                }))
            })
            .collect()
    }
}

struct Boxes {
    model: String,
    hardware: String,
    legend: Legend,
    /// One per series (arm), in legend order.
    styles: Vec<SeriesStyle>,
    /// Workload -> per series, its (TTFT, TPOT) samples if measured.
    groups: Vec<(String, Vec<Option<Dist>>)>,
}

const TOP: u32 = 70;
const PANEL_H: u32 = 380;

/// Quartiles, whisker ends and outliers of `v` (Tukey's 1.5 IQR rule).
struct BoxStats {
    q1: f64,
    median: f64,
    q3: f64,
    lo: f64,
    hi: f64,
    outliers: Vec<f64>,
}

fn box_stats(v: &[f64]) -> Option<BoxStats> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let q = |p: f64| crate::measure::stats::percentile_sorted(&s, p);
    let (q1, median, q3) = (q(25.0), q(50.0), q(75.0));
    let (fence_lo, fence_hi) = (q1 - 1.5 * (q3 - q1), q3 + 1.5 * (q3 - q1));
    let inside: Vec<f64> = s.iter().copied().filter(|x| *x >= fence_lo && *x <= fence_hi).collect();
    let outliers = s.iter().copied().filter(|x| *x < fence_lo || *x > fence_hi).collect();
    Some(BoxStats { q1, median, q3, lo: inside[0], hi: inside[inside.len() - 1], outliers })
}

impl Chart for Boxes {
    fn stem(&self) -> String {
        format!("serving_latency-{}-{}", slug(&self.model), slug(&self.hardware))
    }
    fn heading(&self) -> String {
        format!("model `{}` on hardware `{}`", self.model, self.hardware)
    }
    fn size(&self) -> (u32, u32) {
        let per_group = (self.styles.len() as u32 * 26 + 30).max(130);
        let w = (self.groups.len() as u32 * per_group + 140).max(700);
        (w + self.legend.width(), (TOP + 2 * PANEL_H).max(TOP + self.legend.height()))
    }

    fn draw(&self, area: &Area) -> Result<()> {
        let title = format!("Serving latency distributions — {} on `{}`", self.model, self.hardware);
        let body = draw::title(area, &title, "one box per technique and workload, over all requests")?;
        let plots = draw::with_legend(&body, &self.legend)?;
        let plots = plots.split_vertically(2 * PANEL_H).0;
        let names: Vec<String> = self.groups.iter().map(|g| g.0.clone()).collect();
        let n = self.styles.len().max(1) as f64;
        let width = 0.8 / n;
        let (top, bottom) = plots.split_vertically(PANEL_H);
        for (which, panel, y_desc) in [(0, top, "time to first token (ms)"), (1, bottom, "time per output token (ms)")]
        {
            let stats: Vec<Vec<Option<BoxStats>>> = self
                .groups
                .iter()
                .map(|(_, per)| {
                    per.iter()
                        .map(|d| d.as_ref().and_then(|d| box_stats(if which == 0 { &d.0 } else { &d.1 })))
                        .collect()
                })
                .collect();
            let all: Vec<f64> = stats
                .iter()
                .flatten()
                .flatten()
                .flat_map(|b| [b.lo, b.hi].into_iter().chain(b.outliers.iter().copied()))
                .collect();
            let y = Axis::fit(&all, false);
            let x = draw::categories(names.len());
            let chart = draw::plot_named(&panel, &x, &y, "workload", y_desc, Some(&names), None)?;
            let pa = chart.plotting_area();
            for (g, per) in stats.iter().enumerate() {
                for (i, b) in per.iter().enumerate() {
                    let Some(b) = b else { continue };
                    let s = &self.styles[i];
                    let x0 = g as f64 - 0.4 + i as f64 * width + width * 0.12;
                    let (x1, xm) = (x0 + width * 0.76, x0 + width * 0.38);
                    let fill = if s.filled { s.color.mix(0.45).filled() } else { WHITE.filled() };
                    let edge = s.color.stroke_width(2);
                    pa.draw(&PathElement::new(vec![(xm, y.at(b.lo)), (xm, y.at(b.q1))], edge))?;
                    pa.draw(&PathElement::new(vec![(xm, y.at(b.q3)), (xm, y.at(b.hi))], edge))?;
                    pa.draw(&Rectangle::new([(x0, y.at(b.q1)), (x1, y.at(b.q3))], fill))?;
                    pa.draw(&Rectangle::new([(x0, y.at(b.q1)), (x1, y.at(b.q3))], edge))?;
                    pa.draw(&PathElement::new(
                        vec![(x0, y.at(b.median)), (x1, y.at(b.median))],
                        BLACK.stroke_width(2),
                    ))?;
                    for &o in &b.outliers {
                        pa.draw(&Circle::new((xm, y.at(o)), 2, s.color.filled()))?;
                    }
                }
            }
        }
        Ok(())
    }
}
