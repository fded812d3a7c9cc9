//! Table 8: for every held-out task of the latest evaluation, the oracle's
//! technique and what each selector picked, with its regret.

use std::collections::BTreeMap;

use super::axis::fmt_num;
use super::data::ReportData;
use super::{Figure, Item, Table};

pub struct TaskPicks;

impl Figure for TaskPicks {
    fn name(&self) -> &'static str {
        "task_picks"
    }
    fn title(&self) -> &'static str {
        "Per-task picks: oracle and selectors"
    }
    fn caption(&self) -> &'static str {
        "From the latest `harness evaluate`: per held-out task, the oracle's technique and each selector's pick \
         with its regret against the oracle (0% = the best technique, or one within the tie tolerance)."
    }
    fn needs(&self) -> (&'static str, &'static str) {
        ("no evaluation with per-task picks", "harness evaluate")
    }

    fn build(&self, data: &ReportData) -> Vec<Item> {
        let Some(e) = &data.evaluation else { return vec![] };
        if e.picks.is_empty() {
            return vec![];
        }
        let mut selectors: Vec<String> = e.selectors.iter().map(|s| s.selector.clone()).collect();
        let mut extra: Vec<String> =
            e.picks.iter().map(|p| p.selector.clone()).filter(|s| !selectors.contains(s)).collect();
        extra.sort();
        extra.dedup();
        selectors.extend(extra);
        let mut tasks: BTreeMap<&str, (String, BTreeMap<&str, String>)> = BTreeMap::new();
        for p in &e.picks {
            let regret = if p.regret.is_finite() { format!("{}%", fmt_num(p.regret * 100.0)) } else { "–".into() };
            let t = tasks.entry(&p.task).or_insert_with(|| (p.oracle.clone(), BTreeMap::new()));
            t.1.insert(&p.selector, format!("{} ({regret})", p.pick));
        }
        let mut header = vec!["task".to_string(), "oracle".to_string()];
        header.extend(selectors.iter().map(|s| format!("{s}: pick (regret)")));
        let rows = tasks
            .into_iter()
            .map(|(task, (oracle, picks))| {
                let mut row = vec![task.to_string(), oracle];
                row.extend(selectors.iter().map(|s| picks.get(s.as_str()).cloned().unwrap_or_else(|| "–".into())));
                row
            })
            .collect();
        vec![Item::Table(Table { header, rows })]
    }
}
