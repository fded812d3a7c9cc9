//! Figure 1: speed-up of every technique over the f32 baseline, technique × task,
//! one heatmap per hardware profile.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::{natural_cmp, sort_arms, ReportData};
use super::{draw, slug, style, Area, Chart, Figure, Item};
use crate::record::Arm;

pub struct SpeedupHeatmap;

impl Figure for SpeedupHeatmap {
    fn name(&self) -> &'static str {
        "speedup_heatmap"
    }
    fn title(&self) -> &'static str {
        "Speed-up over the f32 baseline, technique × task"
    }
    fn caption(&self) -> &'static str {
        "Median request latency of the baseline divided by the technique's, same task, thread count and engine: \
         above 1× (blue) the technique is faster, below (red) slower. The baseline is `f32`, or `static-batching` \
         for serving workloads. Grey: no measurement or no baseline. `*` marks a noisy cell (invalid verdict)."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no measured cell has an f32 (or static-batching) baseline", "harness run experiments/grid.yaml")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let mut per_hw: BTreeMap<&str, Heatmap> = BTreeMap::new();
        let base: BTreeMap<_, f64> = data
            .measured()
            // The baseline of a task: f32 weights, or for serving workloads (which run
            // f32 weights through different schedulers) plain static batching.
            .filter(|c| data.is_baseline(c))
            .map(|c| ((&c.task_id, c.arm.threads, &c.arm.engine), c.rec.summary.as_ref().unwrap().latency_ms.p50))
            .collect();
        for c in data.measured() {
            let r = &c.rec;
            let Some(&b) = base.get(&(&c.task_id, c.arm.threads, &c.arm.engine)) else { continue };
            let p50 = c.summary().unwrap().latency_ms.p50;
            if p50 <= 0.0 || b <= 0.0 {
                continue;
            }
            let h = per_hw
                .entry(&r.hardware)
                .or_insert_with(|| Heatmap { hardware: r.hardware.clone(), ..Default::default() });
            h.values.insert(((r.model.clone(), r.workload.clone()), c.arm.clone()), (b / p50, c.is_valid()));
        }
        per_hw
            .into_values()
            .map(|mut h| {
                let cols: BTreeSet<_> = h.values.keys().map(|k| k.0.clone()).collect();
                let mut arms: Vec<Arm> =
                    h.values.keys().map(|k| k.1.clone()).collect::<BTreeSet<_>>().into_iter().collect();
                sort_arms(&mut arms);
                h.cols = cols.into_iter().collect();
                h.cols.sort_by(|a, b| natural_cmp(&a.0, &b.0).then_with(|| natural_cmp(&a.1, &b.1)));
                h.rows = arms
                    .into_iter()
                    .map(|a| {
                        let label = data.label(&a);
                        (a, label)
                    })
                    .collect();
                h.layout();
                Item::Chart(Box::new(h))
            })
            .collect()
    }
}

/// (model, workload) of a column.
type Task = (String, String);

#[derive(Default)]
struct Heatmap {
    hardware: String,
    /// (model, workload), sorted.
    cols: Vec<Task>,
    /// (arm, label), in arm order.
    rows: Vec<(Arm, String)>,
    values: BTreeMap<(Task, Arm), (f64, bool)>,
    cell_w: u32,
    left: u32,
    /// Colour scale reaches ±`range` in log2 (2^range×).
    range: i32,
}

const CELL_H: u32 = 28;
const TOP: u32 = 66 + 2 * (style::TICK + 10);
const BAR_W: u32 = 150;

impl Heatmap {
    fn layout(&mut self) {
        let widest_col = self.cols.iter().map(|(_, w)| style::text_size(w, style::TICK).0).max().unwrap_or(40);
        self.cell_w = (widest_col + 16).max(style::text_size("00.00×*", style::NOTE).0 + 14).max(70);
        self.left = self.rows.iter().map(|r| style::text_size(&r.1, style::TICK).0).max().unwrap_or(40) + 30;
        let worst = self.values.values().map(|v| v.0.log2().abs()).fold(0.0, f64::max);
        self.range = (worst.ceil() as i32).clamp(1, 4);
    }

    /// Model names over the columns they span.
    fn model_spans(&self) -> Vec<(String, usize, usize)> {
        let mut spans: Vec<(String, usize, usize)> = Vec::new();
        for (i, (m, _)) in self.cols.iter().enumerate() {
            match spans.last_mut() {
                Some(s) if s.0 == *m => s.2 = i,
                _ => spans.push((m.clone(), i, i)),
            }
        }
        spans
    }
}

impl Chart for Heatmap {
    fn stem(&self) -> String {
        format!("speedup_heatmap-{}", slug(&self.hardware))
    }
    fn heading(&self) -> String {
        format!("hardware profile `{}`", self.hardware)
    }
    fn size(&self) -> (u32, u32) {
        let w = self.left + self.cols.len() as u32 * self.cell_w + BAR_W + 30;
        let title_w = style::text_size(&self.title(), style::TITLE).0 + 40;
        (w.max(title_w).max(640), TOP + self.rows.len() as u32 * CELL_H + 60)
    }

    fn draw(&self, area: &Area) -> Result<()> {
        draw::title(
            area,
            &self.title(),
            "median latency of the baseline ÷ technique's (same task, threads and engine); * noisy cell",
        )?;
        let (cw, left) = (self.cell_w as i32, self.left as i32);
        let center = Pos::new(HPos::Center, VPos::Center);
        // Column headers: model spanning its workloads, then each workload.
        let y_model = TOP as i32 - 2 * (style::TICK as i32 + 10);
        for (m, a, b) in self.model_spans() {
            let (x0, x1) = (left + a as i32 * cw, left + (b as i32 + 1) * cw);
            area.draw(&Text::new(m, ((x0 + x1) / 2, y_model + 6), style::bold(style::TICK).pos(center)))?;
            area.draw(&PathElement::new(vec![(x0 + 4, y_model + 16), (x1 - 4, y_model + 16)], BLACK))?;
        }
        for (i, (_, w)) in self.cols.iter().enumerate() {
            let x = left + i as i32 * cw + cw / 2;
            area.draw(&Text::new(w.clone(), (x, TOP as i32 - 14), style::text(style::TICK).pos(center)))?;
        }
        let right = Pos::new(HPos::Right, VPos::Center);
        for (j, (key, label)) in self.rows.iter().enumerate() {
            let y0 = TOP as i32 + j as i32 * CELL_H as i32;
            area.draw(&Text::new(
                label.clone(),
                (left - 10, y0 + CELL_H as i32 / 2),
                style::text(style::TICK).pos(right),
            ))?;
            for (i, col) in self.cols.iter().enumerate() {
                let x0 = left + i as i32 * cw;
                let rect = [(x0 + 1, y0 + 1), (x0 + cw - 1, y0 + CELL_H as i32 - 1)];
                match self.values.get(&(col.clone(), key.clone())) {
                    Some(&(v, valid)) => {
                        let bg = style::diverging(v.log2() / self.range as f64);
                        area.draw(&Rectangle::new(rect, bg.filled()))?;
                        let ink = style::ink_on(bg);
                        let text = format!("{}×{}", fmt_speedup(v), if valid { "" } else { "*" });
                        let s = style::text(style::NOTE).color(&ink).pos(center);
                        area.draw(&Text::new(text, (x0 + cw / 2, y0 + CELL_H as i32 / 2), s))?;
                    }
                    None => area.draw(&Rectangle::new(rect, style::MISSING_GREY.filled()))?,
                }
            }
        }
        self.colour_bar(area)
    }
}

impl Heatmap {
    fn title(&self) -> String {
        format!("Speed-up over f32 — hardware `{}`", self.hardware)
    }

    fn colour_bar(&self, area: &Area) -> Result<()> {
        let x0 = (self.left + self.cols.len() as u32 * self.cell_w) as i32 + 30;
        let (y0, h) = (TOP as i32, (self.rows.len() as i32 * CELL_H as i32).max(160));
        let steps = 64;
        for k in 0..steps {
            let t = 1.0 - 2.0 * (k as f64 + 0.5) / steps as f64;
            let ya = y0 + h * k / steps;
            let yb = y0 + h * (k + 1) / steps;
            area.draw(&Rectangle::new([(x0, ya), (x0 + 18, yb)], style::diverging(t).filled()))?;
        }
        area.draw(&Rectangle::new([(x0, y0), (x0 + 18, y0 + h)], BLACK))?;
        let left = Pos::new(HPos::Left, VPos::Center);
        for e in -self.range..=self.range {
            let y = y0 + ((self.range - e) as f64 / (2 * self.range) as f64 * h as f64).round() as i32;
            area.draw(&PathElement::new(vec![(x0 + 18, y), (x0 + 23, y)], BLACK))?;
            let label = format!("{}×", super::axis::fmt_num(2f64.powi(e)));
            area.draw(&Text::new(label, (x0 + 27, y), style::text(style::TICK).pos(left)))?;
        }
        let cap = style::text(style::TICK).pos(Pos::new(HPos::Left, VPos::Bottom));
        area.draw(&Text::new("speed-up (×)", (x0 - 4, y0 - 8), cap))?;
        Ok(())
    }
}

fn fmt_speedup(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}
