//! Printing an evaluation: a table for people, JSON and CSV for programs.

use std::io::Write;

use anyhow::Result;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use super::evaluate::Outcome;
use super::recommend::Recommendation;
use super::tasks::TaskTable;
use crate::record::{EvaluationRecord, SelectorResult};

/// How a metric is shown: as a percentage or a plain number, with this many decimals.
fn style(name: &str) -> (bool, usize) {
    match name {
        "regret_mean" | "regret_median" | "regret_p90" | "infeasible_picks" => (true, 1),
        "gain_vs_random" | "gain_vs_heuristic" => (false, 1),
        "selection_ms" => (false, 2),
        _ => (false, 3),
    }
}

fn cell(s: &SelectorResult, name: &str) -> String {
    let Some(m) = s.metric(name) else { return "-".into() };
    if m.value.is_nan() {
        return "n/a".into();
    }
    let (pct, d) = style(name);
    let k = if pct { 100.0 } else { 1.0 };
    let unit = if pct { "%" } else { "" };
    format!("{:.d$}{unit} [{:.d$}, {:.d$}]", m.value * k, m.ci_lo * k, m.ci_hi * k)
}

pub fn table(out: &mut dyn Write, table: &TaskTable, o: &Outcome) -> Result<()> {
    let r = &o.record;
    let cfg: serde_json::Value = serde_json::from_str(&r.config_json)?;
    writeln!(
        out,
        "objective {}, cv {} ({} folds): {} tasks x {} arms, {} cells ({} infeasible, counted at half the task's \
         worst feasible arm); 95% bootstrap CIs over tasks ({} resamples)",
        r.objective,
        r.cv,
        o.folds,
        cfg["tasks"],
        cfg["arms"],
        cfg["cells"],
        cfg["infeasible_cells"],
        cfg["bootstrap_resamples"]
    )?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let p_head = format!("p vs {}", r.baseline);
    t.set_header(["selector", "top-1", "top-3", "regret mean", "regret median", "regret p90", "gap closed", &p_head]);
    for s in &r.selectors {
        t.add_row([
            s.selector.clone(),
            cell(s, "top1"),
            cell(s, "top3"),
            cell(s, "regret_mean"),
            cell(s, "regret_median"),
            cell(s, "regret_p90"),
            cell(s, "gap_closed"),
            s.p_value_vs_baseline.map_or("-".into(), |p| format!("{p:.4}")),
        ]);
    }
    writeln!(out, "{t}")?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "selector",
        "NDCG@3",
        "Spearman",
        "gain vs random %",
        "gain vs heuristic %",
        "infeasible",
        "ms/task",
    ]);
    for s in &r.selectors {
        t.add_row([
            s.selector.clone(),
            cell(s, "ndcg3"),
            cell(s, "spearman"),
            cell(s, "gain_vs_random"),
            cell(s, "gain_vs_heuristic"),
            cell(s, "infeasible_picks"),
            cell(s, "selection_ms"),
        ]);
    }
    writeln!(out, "{t}")?;
    if let Some(f) = cfg["fallbacks"].as_object() {
        let list: Vec<String> = f.iter().map(|(s, n)| format!("{s} {n}")).collect();
        writeln!(
            out,
            "fallbacks (answers where a learner's own part failed or lacked an input and a stand-in such as the \
             arm prior or the numeric features was used): {}",
            list.join(", ")
        )?;
    }

    // Where choosing matters: the oracle, the single-best and ours (or the first learner) per task.
    let focus = ["ours", "single-best", "heuristic"]
        .into_iter()
        .filter(|n| o.per_task.iter().any(|(s, _)| s == n))
        .collect::<Vec<_>>();
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut head = vec!["task".to_string(), "oracle".to_string()];
    head.extend(focus.iter().map(|n| format!("{n} (regret)")));
    t.set_header(head);
    for (i, task) in table.tasks.iter().enumerate() {
        let mut row = vec![task.id.clone(), table.arms[table.oracle_arm(i)].name()];
        for n in &focus {
            let p = &o.per_task.iter().find(|(s, _)| s == n).expect("listed").1[i];
            row.push(format!("{} ({:.1}%)", p.pick, p.regret * 100.0));
        }
        t.add_row(row);
    }
    writeln!(out, "{t}")?;
    if let Some(sb) = r.selectors.iter().find(|s| s.selector == "single-best").and_then(|s| s.metric("regret_mean")) {
        writeln!(
            out,
            "single-best mean regret {:.1}% [{:.1}, {:.1}]: {}",
            sb.value * 100.0,
            sb.ci_lo * 100.0,
            sb.ci_hi * 100.0,
            if sb.value >= 0.10 {
                "one technique for every task leaves at least 10% on the table; choosing matters"
            } else {
                "below 10%: this store's tasks agree on one technique; widen the grid to make choosing matter"
            }
        )?;
    }
    Ok(())
}

pub fn json(out: &mut dyn Write, r: &EvaluationRecord) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, r)?;
    writeln!(out)?;
    Ok(())
}

pub fn csv(out: &mut dyn Write, r: &EvaluationRecord) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["selector", "metric", "value", "ci_lo", "ci_hi", "p_value_vs_baseline"])?;
    for s in &r.selectors {
        for m in &s.metrics {
            w.write_record([
                s.selector.clone(),
                m.name.clone(),
                m.value.to_string(),
                m.ci_lo.to_string(),
                m.ci_hi.to_string(),
                s.p_value_vs_baseline.map_or(String::new(), |p| p.to_string()),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

pub fn recommendation(out: &mut dyn Write, r: &Recommendation, objective: &str, unit: &str) -> Result<()> {
    writeln!(out, "task: {}", r.task)?;
    writeln!(out, "recommended: {} (objective {objective}; {} candidate arms)", r.arm, r.candidates)?;
    match r.predicted {
        Some(p) => writeln!(out, "predicted {objective}: {p:.4} {unit}")?,
        None => writeln!(out, "predicted {objective}: (this selector ranks, it does not predict performance)")?,
    }
    writeln!(
        out,
        "confidence: {:.0}% ({} of {} refits on resampled stores pick the same arm)",
        r.confidence * 100.0,
        (r.confidence * super::recommend::REFITS as f64).round(),
        super::recommend::REFITS
    )?;
    if let Some((best, regret)) = &r.measured {
        writeln!(
            out,
            "this task is in the store (left out of the fit): measured best {best}; the pick's measured regret {:.1}%",
            regret * 100.0
        )?;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["rank", "arm", "predicted share of the task's best"]);
    for (i, (arm, share)) in r.ranking.iter().enumerate() {
        t.add_row([(i + 1).to_string(), arm.clone(), share.map_or("-".into(), |s| format!("{:.1}%", s * 100.0))]);
    }
    writeln!(out, "{t}")?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["nearest stored task", "distance", "measured best", "recommended arm's regret there"]);
    for n in &r.nearest {
        t.add_row([
            n.task.clone(),
            format!("{:.2}", n.distance),
            n.best.clone(),
            n.pick_regret.map_or("not run".into(), |x| format!("{:.1}%", x * 100.0)),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}
