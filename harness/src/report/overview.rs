//! The page's opening tables: what the store holds, per grid and per machine.
//! Shared by the HTML page and the Markdown report so both say the same.

use std::collections::BTreeMap;

use super::data::{natural_cmp, sort_engines, sort_techniques, ReportData};
use super::Table;
use crate::record::CellStatus;

/// Cells per grid by outcome: valid, invalid (noisy), failed, not applicable.
pub fn counts(data: &ReportData) -> Table {
    let mut per: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for c in &data.cells {
        let slot = match (c.rec.status, c.is_valid()) {
            (CellStatus::Ok, true) => 0,
            (CellStatus::Ok, false) => 1,
            (CellStatus::Failed, _) => 2,
            (CellStatus::NotApplicable, _) => 3,
        };
        per.entry(&c.rec.grid).or_default()[slot] += 1;
    }
    let mut total = [0usize; 4];
    let mut rows: Vec<Vec<String>> = per
        .iter()
        .map(|(g, n)| {
            (0..4).for_each(|i| total[i] += n[i]);
            row(g, n)
        })
        .collect();
    if per.len() > 1 {
        rows.push(row("all grids", &total));
    }
    Table {
        header: ["grid", "cells", "valid", "invalid (noisy)", "failed", "not applicable"].map(String::from).to_vec(),
        rows,
    }
}

fn row(name: &str, n: &[usize; 4]) -> Vec<String> {
    let mut r = vec![name.to_string(), n.iter().sum::<usize>().to_string()];
    r.extend(n.iter().map(|x| x.to_string()));
    r
}

/// Distinct machine fingerprints and how many cells each produced.
pub fn machines(data: &ReportData) -> Table {
    let mut per: BTreeMap<Vec<String>, usize> = BTreeMap::new();
    for c in &data.cells {
        let f = &c.rec.fingerprint;
        let key = vec![
            f.cpu_model.clone(),
            format!("{} / {}", f.physical_cores, f.logical_cores),
            format!("{:.1}", f.memory_mb as f64 / 1024.0),
            f.os.clone(),
            format!("{} ({})", f.crate_version, f.git_revision),
            f.rustflags.clone(),
            f.target_features.clone(),
        ];
        *per.entry(key).or_default() += 1;
    }
    let rows = per
        .into_iter()
        .map(|(mut k, n)| {
            k.push(n.to_string());
            k
        })
        .collect();
    Table {
        header: ["CPU", "cores (phys / logical)", "memory GiB", "OS", "harness (git)", "RUSTFLAGS", "SIMD", "cells"]
            .map(String::from)
            .to_vec(),
        rows,
    }
}

/// What each grid ran, as far as the store records it: models, workloads,
/// hardware profiles, techniques, thread counts and engines.
pub fn grids(data: &ReportData) -> Vec<(String, Table)> {
    let mut names: Vec<&str> = data.cells.iter().map(|c| c.rec.grid.as_str()).collect();
    names.dedup();
    names
        .into_iter()
        .map(|g| {
            let cells: Vec<_> = data.cells.iter().filter(|c| c.rec.grid == g).collect();
            let mut rows: BTreeMap<(u8, String), Vec<String>> = BTreeMap::new();
            let mut techniques: Vec<String> = Vec::new();
            let mut threads: Vec<usize> = Vec::new();
            let mut engines: Vec<String> = Vec::new();
            for c in &cells {
                let r = &c.rec;
                rows.entry((0, r.model.clone()))
                    .or_insert_with(|| vec!["model".into(), r.model.clone(), c.model_source.clone()]);
                rows.entry((1, r.workload.clone())).or_insert_with(|| {
                    let desc = c.workload.description.clone().unwrap_or_default();
                    let text =
                        if desc.is_empty() { c.workload.shape() } else { format!("{desc} ({})", c.workload.shape()) };
                    vec!["workload".into(), r.workload.clone(), text]
                });
                rows.entry((2, r.hardware.clone())).or_insert_with(|| {
                    let mut text = c.hardware_description.clone().unwrap_or_default();
                    if let Some(p) = c.price_per_hour {
                        text = format!("{text}{}${p}/hour", if text.is_empty() { "" } else { ", " });
                    }
                    if r.emulated {
                        text.push_str(" (emulated)");
                    }
                    vec!["hardware".into(), r.hardware.clone(), text]
                });
                if !techniques.contains(&r.technique) {
                    techniques.push(r.technique.clone());
                }
                if !threads.contains(&r.threads) {
                    threads.push(r.threads);
                }
                if !engines.contains(&r.engine) {
                    engines.push(r.engine.clone());
                }
            }
            sort_techniques(&mut techniques);
            threads.sort_unstable();
            let mut rows: Vec<((u8, String), Vec<String>)> = rows.into_iter().collect();
            rows.sort_by(|a, b| a.0 .0.cmp(&b.0 .0).then_with(|| natural_cmp(&a.0 .1, &b.0 .1)));
            let mut rows: Vec<Vec<String>> = rows.into_iter().map(|r| r.1).collect();
            rows.push(vec!["techniques".into(), techniques.len().to_string(), techniques.join(", ")]);
            let threads: Vec<String> = threads.iter().map(|t| t.to_string()).collect();
            rows.push(vec!["threads".into(), threads.len().to_string(), threads.join(", ")]);
            sort_engines(&mut engines);
            rows.push(vec!["engines".into(), engines.len().to_string(), engines.join(", ")]);
            let header = ["axis", "name", "as stored"].map(String::from).to_vec();
            (g.to_string(), Table { header, rows })
        })
        .collect()
}

/// Cells without trustworthy numbers: failed, not applicable, or judged noisy, with why.
pub fn problems(data: &ReportData) -> Table {
    let rows = data
        .cells
        .iter()
        .filter(|c| !c.is_valid())
        .map(|c| {
            let r = &c.rec;
            let (status, why) = match c.summary() {
                Some(s) => ("invalid".to_string(), s.verdict_reason.clone().unwrap_or_default()),
                None => (r.status.as_str().to_string(), r.reason.clone().unwrap_or_default()),
            };
            let mut why = why.replace('\n', " ");
            if why.chars().count() > 160 {
                why = why.chars().take(157).collect::<String>() + "...";
            }
            // The full arm name: a failed cell's thread count or engine may be one no measured cell shares.
            vec![r.grid.clone(), c.task(), c.arm.name(), status, why]
        })
        .collect();
    Table { header: ["grid", "task", "arm", "status", "reason"].map(String::from).to_vec(), rows }
}
