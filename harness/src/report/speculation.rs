//! Speculative decoding: acceptance rate against the number of drafted tokens k, one line per
//! model, draft and workload, and a table of what each configuration did to latency against
//! the same cell without speculation (same model, workload, threads, hardware, engine, and the
//! rest of the recipe).

use std::collections::BTreeMap;

use anyhow::Result;
use plotters::prelude::*;

use super::axis::Axis;
use super::data::{Cell, ReportData};
use super::draw::{self, Entry, Key, Legend};
use super::style::{self, SeriesStyle};
use super::{Area, Chart, Figure, Item, Table};
use crate::techniques::{Draft, ExecutionPlan};

pub struct Speculation;

/// What a speculative cell's technique says: its draft (for people) and k; `None` for other cells.
fn speculation(c: &Cell) -> Option<(String, usize, ExecutionPlan)> {
    let plan = c.arm.technique.plan();
    let sp = plan.speculative.clone()?;
    let draft = match &sp.draft {
        Draft::Format(f) => format!("{} of itself", f.name()),
        Draft::SkipLayers(n) => format!("itself without {n} layers"),
        Draft::Model(m) => m.clone(),
    };
    let mut base = plan;
    base.speculative = None;
    Some((draft, sp.k, base))
}

fn stat(c: &Cell, key: &str) -> Option<f64> {
    c.summary()?.extra.get("speculation")?.get(key)?.as_f64()
}

impl Figure for Speculation {
    fn name(&self) -> &'static str {
        "speculation"
    }
    fn title(&self) -> &'static str {
        "Speculative decoding: acceptance rate versus k, and the speed-up it buys"
    }
    fn caption(&self) -> &'static str {
        "Each line is one model, draft and workload: the share of drafted tokens the model accepted against the \
         number drafted per round (k). The table sets each configuration's median latency against the same cell \
         without speculation (speed-up above 1 is faster); outputs are the model's own in every case."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no cell ran speculative decoding", "harness run experiments/compression.yaml")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let all: Vec<&Cell> = data.measured().filter(|c| c.summary().is_some()).collect();
        let mut lines: BTreeMap<(String, String, String), Vec<(f64, f64)>> = BTreeMap::new();
        let mut table = Table {
            header: [
                "model",
                "workload",
                "draft",
                "k",
                "acceptance",
                "tokens per pass",
                "p50 ms",
                "without ms",
                "speed-up",
            ]
            .map(String::from)
            .to_vec(),
            rows: vec![],
        };
        for c in &all {
            let (Some((draft, k, base)), Some(rate)) = (speculation(c), stat(c, "acceptance_rate")) else { continue };
            lines
                .entry((c.rec.model.clone(), draft.clone(), c.rec.workload.clone()))
                .or_default()
                .push((k as f64, rate));
            let r = &c.rec;
            let without = all.iter().find(|o| {
                o.task_id == c.task_id
                    && o.arm.threads == c.arm.threads
                    && o.arm.engine == c.arm.engine
                    && o.arm.technique.plan().same_recipe(&base)
            });
            let p50 = c.summary().map_or(0.0, |s| s.latency_ms.p50);
            let base_p50 = without.and_then(|o| o.summary()).map(|s| s.latency_ms.p50);
            table.rows.push(vec![
                r.model.clone(),
                r.workload.clone(),
                draft,
                k.to_string(),
                format!("{rate:.2}"),
                stat(c, "tokens_per_target_pass").map_or("–".into(), |t| format!("{t:.2}")),
                format!("{p50:.1}"),
                base_p50.map_or("–".into(), |b| format!("{b:.1}")),
                base_p50.filter(|_| p50 > 0.0).map_or("–".into(), |b| format!("{:.2}×", b / p50)),
            ]);
        }
        if lines.is_empty() {
            return vec![];
        }
        table.rows.sort();
        let lines: Vec<Line> = lines
            .into_iter()
            .enumerate()
            .map(|(i, ((model, draft, workload), mut pts))| {
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let (color, filled) = style::categorical(i);
                let marker = style::Marker::nth(i / 8);
                Line {
                    label: format!("{model} · {draft} · {workload}"),
                    style: SeriesStyle { color, filled, marker },
                    pts,
                }
            })
            .collect();
        vec![Item::Chart(Box::new(AcceptanceChart { lines })), Item::Table(table)]
    }
}

struct Line {
    label: String,
    style: SeriesStyle,
    pts: Vec<(f64, f64)>,
}

struct AcceptanceChart {
    lines: Vec<Line>,
}

impl AcceptanceChart {
    fn legend(&self) -> Legend {
        let entries = self.lines.iter().map(|l| Entry { label: l.label.clone(), key: Key::Marker(l.style) }).collect();
        Legend(vec![("model · draft · workload".to_string(), entries)])
    }
}

impl Chart for AcceptanceChart {
    fn stem(&self) -> String {
        "speculation".into()
    }
    fn heading(&self) -> String {
        "acceptance rate versus drafted tokens per round".into()
    }
    fn size(&self) -> (u32, u32) {
        let legend = self.legend();
        (640 + legend.width(), (70 + 460).max(70 + legend.height()))
    }

    fn draw(&self, area: &Area) -> Result<()> {
        let legend = self.legend();
        let body = draw::title(area, "Speculative decoding: acceptance versus k", "higher is better")?;
        let plot = draw::with_legend(&body, &legend)?;
        let ks: Vec<f64> = self.lines.iter().flat_map(|l| l.pts.iter().map(|p| p.0)).collect();
        let x = Axis::fit(&ks, false);
        let y = Axis::linear(0.0, 1.0);
        let chart = draw::plot(&plot, &x, &y, "drafted tokens per round (k)", "acceptance rate")?;
        let screen = area.use_screen_coord();
        for l in &self.lines {
            let pts: Vec<(f64, f64)> = l.pts.iter().map(|p| (x.at(p.0), y.at(p.1))).collect();
            chart.plotting_area().draw(&PathElement::new(pts.clone(), l.style.color.stroke_width(2)))?;
            let marks: Vec<_> = pts.into_iter().map(|q| (q, l.style)).collect();
            draw::markers(&screen, &chart, &marks)?;
        }
        Ok(())
    }
}
