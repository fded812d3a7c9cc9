//! Figure 5: the selectors of the latest `harness evaluate` side by side: top-1
//! accuracy, share of the single-best→oracle gap closed, and mean regret, each
//! with its bootstrap 95% CI.

use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::Axis;
use super::data::ReportData;
use super::{draw, style, Area, Chart, Figure, Item};
use crate::record::EvaluationRecord;

pub struct SelectorComparison;

/// (metric name in the store, panel heading, axis text). All three are shares,
/// drawn as percentages.
const METRICS: [(&str, &str, &str); 3] = [
    ("top1", "top-1 accuracy", "tasks where the pick is (near) best (%)"),
    ("gap_closed", "gap closed", "single-best → oracle gap closed (%)"),
    ("regret_mean", "mean regret", "mean regret vs oracle (%)"),
];

impl Figure for SelectorComparison {
    fn name(&self) -> &'static str {
        "selector_comparison"
    }
    fn title(&self) -> &'static str {
        "Selector comparison"
    }
    fn caption(&self) -> &'static str {
        "From the latest `harness evaluate`: per selector, top-1 accuracy (higher is better), the share of the gap \
         between the single best technique and the oracle that it closes (higher is better), and mean regret \
         against the oracle (lower is better). Whiskers: bootstrap 95% CI over tasks."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no evaluation", "harness evaluate")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let Some(e) = &data.evaluation else { return vec![] };
        let has_any =
            e.selectors.iter().any(|s| METRICS.iter().any(|m| s.metric(m.0).is_some_and(|v| v.value.is_finite())));
        if !has_any {
            return vec![];
        }
        vec![Item::Chart(Box::new(Bars { eval: e.clone() }))]
    }
}

struct Bars {
    eval: EvaluationRecord,
}

const PANEL_W: u32 = 400;
const TOP: u32 = 70;

impl Bars {
    fn names(&self) -> Vec<String> {
        // Categorical axes count from the bottom; list the first selector on top.
        self.eval.selectors.iter().rev().map(|s| s.selector.clone()).collect()
    }
    fn names_width(&self) -> u32 {
        self.eval.selectors.iter().map(|s| style::text_size(&s.selector, style::TICK).0).max().unwrap_or(40) + 24
    }
}

impl Chart for Bars {
    fn stem(&self) -> String {
        "selector_comparison".into()
    }
    fn heading(&self) -> String {
        format!("objective `{}`, cross-validation `{}`", self.eval.objective, self.eval.cv)
    }
    fn size(&self) -> (u32, u32) {
        let h = TOP + 120 + self.eval.selectors.len() as u32 * 44;
        (3 * (PANEL_W + self.names_width()), h.max(360))
    }

    fn draw(&self, area: &Area) -> Result<()> {
        let e = &self.eval;
        let title = format!("Selectors — objective `{}`, cross-validation `{}`", e.objective, e.cv);
        let note = format!("{} selectors; whiskers: bootstrap 95% CI over tasks", e.selectors.len());
        let body = draw::title(area, &title, &note)?;
        let names = self.names();
        let n = names.len();
        for ((metric, heading, desc), panel) in METRICS.iter().zip(body.split_evenly((1, 3))) {
            let panel = draw::panel_heading(&panel, heading)?;
            let rows: Vec<(usize, f64, f64, f64)> = e
                .selectors
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    s.metric(metric)
                        .filter(|m| m.value.is_finite())
                        .map(|m| (i, m.value * 100.0, m.ci_lo * 100.0, m.ci_hi * 100.0))
                })
                .collect();
            let xs: Vec<f64> = rows.iter().flat_map(|r| [r.1, r.2, r.3]).filter(|v| v.is_finite()).collect();
            let x = Axis::fit(&xs, true);
            let y = draw::categories(n);
            let chart = draw::plot_named(&panel, &x, &y, desc, "", None, Some(&names))?;
            let pa = chart.plotting_area();
            // A metric a selector has no value for (e.g. gap closed when the single best
            // already matches the oracle) is said, not left as a silent gap.
            for i in (0..n).filter(|i| !rows.iter().any(|r| r.0 == *i)) {
                let s = style::text(style::NOTE).pos(Pos::new(HPos::Left, VPos::Center));
                pa.draw(&Text::new("n/a", (x.lo + (x.hi - x.lo) * 0.02, (n - 1 - i) as f64), s))?;
            }
            for (i, v, lo, hi) in rows {
                let yc = (n - 1 - i) as f64;
                let (color, filled) = style::categorical(i);
                let fill = if filled { color.mix(0.75).filled() } else { WHITE.filled() };
                let bar = [(x.at(0.0_f64.max(x.lo)), yc - 0.32), (x.at(v), yc + 0.32)];
                pa.draw(&Rectangle::new(bar, fill))?;
                pa.draw(&Rectangle::new(bar, color.stroke_width(2)))?;
                if lo.is_finite() && hi.is_finite() {
                    let w = BLACK.stroke_width(2);
                    pa.draw(&PathElement::new(vec![(x.at(lo), yc), (x.at(hi), yc)], w))?;
                    for end in [lo, hi] {
                        pa.draw(&PathElement::new(vec![(x.at(end), yc - 0.15), (x.at(end), yc + 0.15)], w))?;
                    }
                }
            }
        }
        Ok(())
    }
}
