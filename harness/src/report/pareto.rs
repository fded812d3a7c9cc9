//! Figure 2: latency against accuracy loss per model and hardware profile, one
//! panel per workload, with the Pareto front drawn and its points labelled.

use std::collections::BTreeMap;

use anyhow::Result;
use plotters::prelude::*;

use super::axis::Axis;
use super::data::{natural_cmp, Cell, ReportData};
use super::draw::{self, Legend};
use super::style::SeriesStyle;
use super::{slug, Area, Chart, Figure, Item};
use crate::record::Arm;

pub struct Pareto;

/// The accuracy loss a figure plots: perplexity increase where every point has
/// it, else argmax disagreement with the f32 reference.
#[derive(Clone, Copy, PartialEq)]
enum Loss {
    Perplexity,
    Disagreement,
}

impl Loss {
    /// Zero for a cell exact by construction: the reference's own computation loses nothing.
    fn of(self, c: &Cell) -> Option<f64> {
        let s = c.summary()?;
        if s.exact_by_construction() {
            return Some(0.0);
        }
        match self {
            Loss::Perplexity => Some((s.perplexity? / s.ref_perplexity.filter(|r| *r > 0.0)? - 1.0) * 100.0),
            Loss::Disagreement => Some((1.0 - s.agreement?) * 100.0),
        }
    }
    fn axis(self) -> &'static str {
        match self {
            Loss::Perplexity => "perplexity increase over f32 (%)",
            Loss::Disagreement => "argmax disagreement with f32 (%)",
        }
    }
}

impl Figure for Pareto {
    fn name(&self) -> &'static str {
        "pareto"
    }
    fn title(&self) -> &'static str {
        "Latency–accuracy Pareto front per model and hardware"
    }
    fn caption(&self) -> &'static str {
        "Each point is an arm (a technique at a thread count, on an engine): median request latency against the loss of accuracy relative \
         to the model's f32 reference (perplexity on held-out text). Lower-left is better; the grey staircase joins \
         the Pareto-optimal points, which are labelled. One panel per workload. Techniques exact by construction \
         (f32 weights with a different decoding loop or schedule) sit at zero loss by definition, not by measurement."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no measured cell has an accuracy measurement", "harness run experiments/grid.yaml")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let mut groups: BTreeMap<(String, String), Vec<&Cell>> = BTreeMap::new();
        for c in data.measured().filter(|c| !c.is_serving() && c.summary().is_some_and(|s| s.latency_ms.p50 > 0.0)) {
            groups.entry((c.rec.model.clone(), c.rec.hardware.clone())).or_default().push(c);
        }
        groups
            .into_iter()
            .filter_map(|((model, hardware), cells)| {
                let loss = if cells.iter().all(|c| Loss::Perplexity.of(c).is_some()) {
                    Loss::Perplexity
                } else {
                    Loss::Disagreement
                };
                let mut panels: BTreeMap<String, Vec<Point>> = BTreeMap::new();
                for c in &cells {
                    let Some(y) = loss.of(c) else { continue };
                    let p = Point {
                        x: c.summary()?.latency_ms.p50,
                        y,
                        label: data.label(&c.arm),
                        style: data.series_style(&c.arm),
                        arm: c.arm.clone(),
                    };
                    panels.entry(format!("{} ({})", c.rec.workload, c.workload.shape())).or_default().push(p);
                }
                if panels.is_empty() {
                    return None;
                }
                let used: Vec<Arm> = panels.values().flatten().map(|p| p.arm.clone()).collect();
                let legend = Legend::techniques(data, &used);
                let mut panels: Vec<_> = panels.into_iter().collect();
                panels.sort_by(|a, b| natural_cmp(&a.0, &b.0));
                Some(Item::Chart(Box::new(ParetoChart { model, hardware, loss, panels, legend })))
            })
            .collect()
    }
}

struct Point {
    x: f64,
    y: f64,
    label: String,
    style: SeriesStyle,
    arm: Arm,
}

struct ParetoChart {
    model: String,
    hardware: String,
    loss: Loss,
    panels: Vec<(String, Vec<Point>)>,
    legend: Legend,
}

const PANEL: (u32, u32) = (560, 450);
const TOP: u32 = 70;

/// Indices of the Pareto-optimal points (minimising both x and y), by ascending x.
fn front(points: &[Point]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| points[a].x.total_cmp(&points[b].x).then(points[a].y.total_cmp(&points[b].y)));
    let mut best = f64::INFINITY;
    order
        .into_iter()
        .filter(|&i| {
            let keep = points[i].y < best;
            best = best.min(points[i].y);
            keep
        })
        .collect()
}

/// Accuracy losses above this (%) are off the scale when other points sit below it.
const OFF_SCALE: f64 = 1000.0;

/// Where to clip the loss axis: a point far above the rest (a destroyed model, perplexity up by
/// 10⁴ % and more) would squash every other point into the floor, so when at least two points are
/// at most [`OFF_SCALE`] and some are above, the axis ends a fifth above the highest of the rest and
/// the others are drawn at its top edge, labelled with their value.
fn off_scale_cap(ys: &[f64]) -> Option<f64> {
    let within: Vec<f64> = ys.iter().copied().filter(|v| *v <= OFF_SCALE).collect();
    (within.len() >= 2 && within.len() < ys.len()).then(|| within.iter().fold(1.0f64, |m, v| m.max(*v)) * 1.2)
}

impl Chart for ParetoChart {
    fn stem(&self) -> String {
        format!("pareto-{}-{}", slug(&self.model), slug(&self.hardware))
    }
    fn heading(&self) -> String {
        format!("model `{}` on hardware `{}`", self.model, self.hardware)
    }
    fn size(&self) -> (u32, u32) {
        let (cols, rows) = draw::grid_shape(self.panels.len(), 3);
        let h = (TOP + rows as u32 * PANEL.1).max(TOP + self.legend.height());
        (cols as u32 * PANEL.0 + self.legend.width(), h)
    }

    fn draw(&self, area: &Area) -> Result<()> {
        let title = format!("Latency vs accuracy — {} on `{}`", self.model, self.hardware);
        let body = draw::title(area, &title, "lower-left is better; labelled points form the Pareto front")?;
        let plots = draw::with_legend(&body, &self.legend)?;
        let (cols, rows) = draw::grid_shape(self.panels.len(), 3);
        let (w, _) = plots.dim_in_pixel();
        let plots = plots.split_vertically(rows as u32 * PANEL.1).0.split_horizontally(w.min(cols as u32 * PANEL.0)).0;
        let screen = area.use_screen_coord();
        for ((heading, points), cell) in self.panels.iter().zip(plots.split_evenly((rows, cols))) {
            let panel = draw::panel_heading(&cell, heading)?;
            let x = Axis::fit(&points.iter().map(|p| p.x).collect::<Vec<_>>(), false);
            let cap = off_scale_cap(&points.iter().map(|p| p.y).collect::<Vec<_>>());
            let shown = |v: f64| cap.map_or(v, |c| v.min(c));
            let y = Axis::fit(&points.iter().map(|p| shown(p.y)).collect::<Vec<_>>(), true);
            let chart = draw::plot(&panel, &x, &y, "median request latency (ms)", self.loss.axis())?;
            let best = front(points);
            let stairs: Vec<(f64, f64)> = best
                .windows(2)
                .flat_map(|w| {
                    let (a, b) = (&points[w[0]], &points[w[1]]);
                    [(x.at(a.x), y.at(shown(a.y))), (x.at(b.x), y.at(shown(a.y)))]
                })
                .chain(best.last().map(|&i| (x.at(points[i].x), y.at(shown(points[i].y)))))
                .collect();
            let stairs: Vec<(i32, i32)> = stairs.iter().map(|p| chart.backend_coord(p)).collect();
            screen.draw(&PathElement::new(stairs.clone(), RGBColor(170, 170, 170).stroke_width(2)))?;
            let marks: Vec<_> = points.iter().map(|p| ((x.at(p.x), y.at(shown(p.y))), p.style)).collect();
            let px = draw::markers(&screen, &chart, &marks)?;
            let off = |i: usize| cap.is_some_and(|c| points[i].y > c);
            let labels: Vec<_> = (0..points.len())
                .filter(|i| best.contains(i) || off(*i))
                .map(|i| {
                    let label = points[i].label.clone();
                    (px[i], if off(i) { format!("{label} ↑ +{:.1e} %", points[i].y) } else { label })
                })
                .collect();
            draw::label_points(&screen, &chart, &px, &[&stairs], &labels)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_keeps_only_undominated_points() {
        let p = |x: f64, y: f64| Point {
            x,
            y,
            label: String::new(),
            style: SeriesStyle { color: RGBColor(0, 0, 0), filled: true, marker: super::super::style::Marker::Circle },
            arm: Arm::new(crate::techniques::TechniqueName::from_stored("f32"), 1),
        };
        let pts = vec![p(3.0, 0.0), p(1.0, 5.0), p(2.0, 1.0), p(2.5, 2.0), p(4.0, 0.0)];
        assert_eq!(front(&pts), vec![1, 2, 0]);
    }

    #[test]
    fn a_destroyed_model_goes_off_the_scale_instead_of_squashing_the_rest() {
        assert_eq!(off_scale_cap(&[0.0, 12.0, 180.0, 1.8e7]), Some(180.0 * 1.2));
        assert_eq!(off_scale_cap(&[0.0, 12.0, 180.0]), None, "nothing far above: the full range");
        assert_eq!(off_scale_cap(&[5.0, 2e4, 3e6]), None, "one point below is not a scale");
    }
}
