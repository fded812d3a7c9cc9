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
        "regret_mean" | "regret_median" | "regret_p90" | "infeasible_picks" | "regret_mean_seeds"
        | "regret_mean_noise" | "pred_mape" | "pred_within10" | "pred_pick_ape" | "pred_pick_within10" => (true, 1),
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
    let protocol = match cfg["protocol"]["kind"].as_str() {
        Some("frozen") => format!("frozen protocol ({})", cfg["protocol"]["label"].as_str().unwrap_or_default()),
        _ => format!("cv {} ({} folds)", r.cv, o.folds),
    };
    writeln!(
        out,
        "objective {}, {protocol}: {} tasks scored x {} arms, {} cells ({} infeasible: {}); {} invalid cells left out; \
         95% bootstrap CIs over {} groups by {} ({} resamples); learner seeds {}; selector code {} (build {}); \
         train tasks {} / test tasks {}",
        r.objective,
        cfg["tasks"],
        cfg["arms"],
        cfg["cells"],
        cfg["infeasible_cells"],
        cfg["infeasible_penalty"].as_str().unwrap_or_default(),
        cfg["invalid_cells_left_out"],
        cfg["groups"],
        cfg["bootstrap_groups"].as_str().unwrap_or_default(),
        cfg["bootstrap_resamples"],
        cfg["learner_seeds"],
        cfg["selector_code_revision"].as_str().unwrap_or_default(),
        cfg["code_revision"].as_str().unwrap_or_default(),
        cfg["train_tasks_hash"].as_str().unwrap_or_default(),
        cfg["test_tasks_hash"].as_str().unwrap_or_default(),
    )?;
    if let Some(d) = cfg["context"]["arms_dropped_unseen_in_training"].as_array().filter(|d| !d.is_empty()) {
        writeln!(out, "arms no training task ran, left out of the test tasks: {}", d.len())?;
    }
    let no_emb = cfg["context"]["metainf_without_embeddings"].as_bool().unwrap_or(false);
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let p_head = format!("p vs {}", r.baseline);
    t.set_header(["selector", "top-1", "top-3", "regret mean", "regret median", "regret p90", "gap closed", &p_head]);
    let label = |s: &SelectorResult| {
        if no_emb && s.selector == "metainf" {
            "metainf (no embeddings)".to_string()
        } else {
            s.selector.clone()
        }
    };
    for s in &r.selectors {
        t.add_row([
            label(s),
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
            label(s),
            cell(s, "ndcg3"),
            cell(s, "spearman"),
            cell(s, "gain_vs_random"),
            cell(s, "gain_vs_heuristic"),
            cell(s, "infeasible_picks"),
            cell(s, "selection_ms"),
        ]);
    }
    writeln!(out, "{t}")?;
    // Noise, seeds, prediction.
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "selector",
        "top-1 (noise-aware)",
        "regret over rep. resamples",
        "regret over seeds [min, max]",
        "pred. MAPE",
        "pred. within 10%",
        "pick's APE",
        "pick within 10%",
        "pred. Spearman",
    ]);
    let mut any = false;
    for s in &r.selectors {
        let row = [
            label(s),
            cell(s, "top1_noise"),
            cell(s, "regret_mean_noise"),
            cell(s, "regret_mean_seeds"),
            cell(s, "pred_mape"),
            cell(s, "pred_within10"),
            cell(s, "pred_pick_ape"),
            cell(s, "pred_pick_within10"),
            cell(s, "pred_spearman"),
        ];
        any |= row[1..].iter().any(|c| c != "-");
        t.add_row(row);
    }
    if any {
        writeln!(out, "{t}")?;
    }
    if let Some(n) = cfg["noise"].as_object() {
        writeln!(
            out,
            "noise: {} of {} tasks have repeated measurements on two or more arms; {} of them have a best arm \
             separable from the runner-up; noise ceiling (oracle's split-half test-retest top-1) {} on {} tasks",
            n["tasks_with_reps"],
            cfg["tasks"],
            n["separable"],
            n["ceiling_top1"].as_f64().map_or("n/a".into(), |c| format!("{c:.3}")),
            n["ceiling_tasks"]
        )?;
    }
    if let Some(p) = cfg["paired_differences"].as_array().filter(|p| !p.is_empty()) {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        let focus = cfg["focus"].as_str().unwrap_or_default();
        t.set_header([
            format!("{focus} minus"),
            "mean regret difference [95% CI]".into(),
            "p (group permutation)".into(),
            "p (Holm)".into(),
        ]);
        for row in p {
            let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
            t.add_row([
                row["other"].as_str().unwrap_or_default().to_string(),
                format!("{:+.1} pts [{:+.1}, {:+.1}]", f("diff") * 100.0, f("ci_lo") * 100.0, f("ci_hi") * 100.0),
                format!("{:.4}", f("p")),
                format!("{:.4}", f("p_holm")),
            ]);
        }
        writeln!(out, "{t}")?;
    }
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
    if o.tested.len() > 60 {
        writeln!(out, "per-task picks of {} tasks: see --format json", o.tested.len())?;
        return single_best_line(out, r);
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut head = vec!["task".to_string(), "oracle".to_string()];
    head.extend(focus.iter().map(|n| format!("{n} (regret)")));
    t.set_header(head);
    for (k, &i) in o.tested.iter().enumerate() {
        let task = &table.tasks[i];
        let mut row = vec![task.id.clone(), table.arms[table.oracle_arm(i)].name()];
        for n in &focus {
            let p = &o.per_task.iter().find(|(s, _)| s == n).expect("listed").1[k];
            row.push(format!("{} ({:.1}%)", p.pick, p.regret * 100.0));
        }
        t.add_row(row);
    }
    writeln!(out, "{t}")?;
    single_best_line(out, r)
}

fn single_best_line(out: &mut dyn Write, r: &EvaluationRecord) -> Result<()> {
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

/// An ASlib scenario's PAR10 per selector and the share of the single-best → virtual-best gap closed.
pub fn par10(
    out: &mut dyn Write,
    s: &super::aslib::Scenario,
    ids: &[&str],
    picks: &[(String, Vec<Vec<usize>>)],
) -> Result<()> {
    let rows = super::aslib::par10_gap(s, ids, picks);
    let by_id: std::collections::BTreeMap<&str, &super::aslib::Instance> =
        s.instances.iter().map(|i| (i.id.as_str(), i)).collect();
    let scored = super::aslib::Scenario { instances: ids.iter().map(|i| by_id[i].clone()).collect(), ..s.clone() };
    let (sbs, sbs_v, vbs) = scored.sbs_vbs();
    writeln!(
        out,
        "{}: {} instances x {} algorithms, cutoff {} s; single best {sbs} PAR10 {sbs_v:.1} s, virtual best {vbs:.1} s \
         (feature costs not charged)",
        s.scenario,
        ids.len(),
        s.algorithms.len(),
        s.cutoff
    )?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["selector", "PAR10 (s)", "gap closed (SBS -> VBS)"]);
    for (name, par10, gap) in rows {
        t.add_row([name, format!("{par10:.1}"), format!("{:.3}", gap)]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}

/// Mean regret [CI] and infeasible-pick rate of every selector under each infeasibility rule.
pub fn sensitivity(out: &mut dyn Write, rows: &[(super::tasks::Infeasible, EvaluationRecord)]) -> Result<()> {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    let mut head = vec!["selector".to_string()];
    head.extend(rows.iter().map(|(r, _)| format!("regret, --infeasible {}", r.label())));
    head.push("infeasible picks".into());
    t.set_header(head);
    for s in &rows[0].1.selectors {
        let mut row = vec![s.selector.clone()];
        for (_, rec) in rows {
            let r = rec.selectors.iter().find(|x| x.selector == s.selector);
            row.push(r.map_or("-".into(), |r| cell(r, "regret_mean")));
        }
        row.push(cell(s, "infeasible_picks"));
        t.add_row(row);
    }
    writeln!(out, "sensitivity to the infeasibility rule:\n{t}")?;
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
