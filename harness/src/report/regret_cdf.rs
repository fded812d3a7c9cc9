//! Figure 6: the distribution of per-task regret of each selector (empirical CDF)
//! from the latest `harness evaluate`.

use anyhow::Result;
use plotters::prelude::*;

use super::axis::Axis;
use super::data::ReportData;
use super::draw::{self, Entry, Key, Legend};
use super::style::{self, Marker, SeriesStyle};
use super::{Area, Chart, Figure, Item};

pub struct RegretCdf;

impl Figure for RegretCdf {
    fn name(&self) -> &'static str {
        "regret_cdf"
    }
    fn title(&self) -> &'static str {
        "Regret CDF per selector"
    }
    fn caption(&self) -> &'static str {
        "For each selector, the share of held-out tasks whose pick had at most a given regret against the oracle \
         (0% = picked the best technique). A curve further up and to the left is better."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no evaluation with per-task picks", "harness evaluate")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let Some(e) = &data.evaluation else { return vec![] };
        // Selector order: as evaluated, then any selector only the picks name.
        let mut order: Vec<String> = e.selectors.iter().map(|s| s.selector.clone()).collect();
        let mut extra: Vec<String> =
            e.picks.iter().map(|p| p.selector.clone()).filter(|s| !order.contains(s)).collect();
        extra.sort();
        extra.dedup();
        order.extend(extra);
        let curves: Vec<Curve> = order
            .iter()
            .enumerate()
            .filter_map(|(i, sel)| {
                let mut r: Vec<f64> = e
                    .picks
                    .iter()
                    .filter(|p| p.selector == *sel && p.regret.is_finite())
                    .map(|p| p.regret * 100.0)
                    .collect();
                r.sort_by(f64::total_cmp);
                let (color, filled) = style::categorical(i);
                let style = SeriesStyle { color, filled, marker: Marker::nth(i) };
                (!r.is_empty()).then(|| Curve { selector: sel.clone(), style, regrets: r })
            })
            .collect();
        if curves.is_empty() {
            return vec![];
        }
        // Curves at zero regret coincide; the count in the legend keeps them apart.
        let entries = curves
            .iter()
            .map(|c| {
                let zero = c.regrets.iter().filter(|r| **r <= 0.0).count();
                let label = format!("{} ({zero}/{} at 0%)", c.selector, c.regrets.len());
                Entry { label, key: Key::Marker(c.style) }
            })
            .collect();
        let heading = format!("objective `{}`, cross-validation `{}`", e.objective, e.cv);
        vec![Item::Chart(Box::new(Cdf { heading, legend: Legend(vec![("selector".into(), entries)]), curves }))]
    }
}

struct Curve {
    selector: String,
    style: SeriesStyle,
    /// Regret per task, %, ascending.
    regrets: Vec<f64>,
}

struct Cdf {
    heading: String,
    legend: Legend,
    curves: Vec<Curve>,
}

impl Chart for Cdf {
    fn stem(&self) -> String {
        "regret_cdf".into()
    }
    fn heading(&self) -> String {
        self.heading.clone()
    }
    fn size(&self) -> (u32, u32) {
        (820 + self.legend.width(), (560).max(80 + self.legend.height()))
    }

    fn draw(&self, area: &Area) -> Result<()> {
        let body = draw::title(area, &format!("Regret CDF — {}", self.heading), "up and to the left is better")?;
        let plot_area = draw::with_legend(&body, &self.legend)?;
        let all: Vec<f64> = self.curves.iter().flat_map(|c| c.regrets.iter().copied()).collect();
        let x = Axis::fit(&all, true);
        let y = Axis { lo: 0.0, hi: 1.04, ticks: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0], log: false };
        let chart = draw::plot(&plot_area, &x, &y, "regret vs oracle (%)", "share of tasks")?;
        let screen = area.use_screen_coord();
        for c in &self.curves {
            let n = c.regrets.len() as f64;
            let mut path = vec![(x.lo, 0.0)];
            let mut steps = Vec::new();
            for (k, &r) in c.regrets.iter().enumerate() {
                path.push((x.at(r), k as f64 / n));
                path.push((x.at(r), (k + 1) as f64 / n));
                // Markers only at the top of each step, so overlapping curves stay distinguishable.
                if c.regrets.get(k + 1) != Some(&r) {
                    steps.push(((x.at(r), (k + 1) as f64 / n), c.style));
                }
            }
            path.push((x.hi, 1.0));
            chart.plotting_area().draw(&PathElement::new(path, c.style.color.stroke_width(2)))?;
            draw::markers(&screen, &chart, &steps)?;
        }
        Ok(())
    }
}
