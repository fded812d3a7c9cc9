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
        | "regret_mean_noise" | "pred_mape" | "pred_within10" | "pred_pick_ape" | "pred_pick_within10"
        | "floor_violations" | "pred_cover90" | "pred_cover90_arms" => (true, 1),
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
        "below quality floor",
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
            cell(s, "floor_violations"),
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
        "90% interval covers pick",
        "covers arms",
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
            cell(s, "pred_cover90"),
            cell(s, "pred_cover90_arms"),
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
    headline(out, &cfg)?;
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

/// The best no-fit rule and the fair single-best, each learner against both, whether the
/// best arm moves between tasks, and whether each selector's code is the frozen code.
fn headline(out: &mut dyn Write, cfg: &serde_json::Value) -> Result<()> {
    let h = &cfg["headline"];
    let named = |v: &serde_json::Value| {
        v["name"].as_str().map(|n| format!("{n} ({:.1}%)", v["regret_mean"].as_f64().unwrap_or(f64::NAN) * 100.0))
    };
    if let Some(rows) = h["rows"].as_array().filter(|r| !r.is_empty()) {
        writeln!(
            out,
            "baselines: best no-fit rule {}, fair single-best {} (mean regret on these tasks)",
            named(&h["best_no_fit"]).unwrap_or_else(|| "none scored".into()),
            named(&h["single_best_fair"]).unwrap_or_else(|| "not scored".into()),
        )?;
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header(["learner", "minus", "mean regret difference [95% CI]", "p (group permutation)", "p (Holm)"]);
        for row in rows {
            let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
            t.add_row([
                row["learner"].as_str().unwrap_or_default().to_string(),
                format!(
                    "{} ({})",
                    row["against"].as_str().unwrap_or_default(),
                    row["baseline"].as_str().unwrap_or_default()
                ),
                format!("{:+.1} pts [{:+.1}, {:+.1}]", f("diff") * 100.0, f("ci_lo") * 100.0, f("ci_hi") * 100.0),
                format!("{:.4}", f("p")),
                format!("{:.4}", f("p_holm")),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    let c = &cfg["choice_matters"];
    if let (Some(d), Some(n)) = (c["differs"].as_u64(), c["tasks"].as_u64()) {
        writeln!(
            out,
            "choice matters: in {d} of {n} tasks the best arm beats the one arm best over them all ({}, {:.1}% of each task's best on average) by more than the {:.0}% tie tolerance",
            c["single_best_arm"].as_str().unwrap_or_default(),
            c["single_best_mean_share"].as_f64().unwrap_or(f64::NAN) * 100.0,
            super::metrics::TIE_TOLERANCE * 100.0
        )?;
    }
    if let Some(sels) = cfg["selectors"].as_array() {
        let mut by: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for s in sels {
            by.entry(s["manifest"].as_str().unwrap_or("unknown")).or_default().push(s["name"].as_str().unwrap_or("?"));
        }
        let parts: Vec<String> = by.iter().map(|(k, v)| format!("{k}: {}", v.join(", "))).collect();
        writeln!(out, "freeze manifest ({}): {}", super::freeze::MANIFEST_PATH, parts.join("; "))?;
        for s in sels.iter().filter(|s| s["manifest"] == "differs") {
            writeln!(
                out,
                "  {}: {}",
                s["name"].as_str().unwrap_or("?"),
                s["manifest_detail"].as_str().unwrap_or_default()
            )?;
        }
    }
    Ok(())
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

pub fn recommendation(
    out: &mut dyn Write,
    r: &Recommendation,
    objective: &str,
    unit: &str,
    pareto: bool,
) -> Result<()> {
    writeln!(out, "task: {}", r.task)?;
    let classes: Vec<String> = r.evidence_machines.iter().map(|(m, n)| format!("{m} ({n} tasks)")).collect();
    writeln!(out, "evidence: stored tasks measured on {}", classes.join(", "))?;
    if !r.machine_measured {
        writeln!(
            out,
            "note: this machine's class has no measurements in the store; what is known about other machines is \
             carried over by their measured speed, and the interval below was calibrated with one machine class \
             held out. To measure the most informative cells here and answer from them: \
             `harness run GRID --active --budget N` (N cells), then ask again with `--store results/harness.db`"
        )?;
    }
    writeln!(out, "quality floor: {}", r.floor)?;
    let fmt = |v: f64| if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.2}") };
    match (&r.arm, &r.abstain) {
        (Some(arm), _) => {
            writeln!(out, "recommended: {arm} (objective {objective}; {} candidate arms)", r.candidates)?;
            if let Some(q) = &r.quality {
                writeln!(out, "quality: {}", q.describe())?;
            }
            match (r.predicted, r.interval) {
                (Some(p), Some((lo, hi))) => writeln!(
                    out,
                    "predicted {objective}: {} {unit}, 90% interval [{}, {}] ({})",
                    fmt(p),
                    fmt(lo),
                    fmt(hi),
                    r.interval_basis
                )?,
                (Some(p), None) => writeln!(out, "predicted {objective}: {} {unit}", fmt(p))?,
                _ => writeln!(out, "predicted {objective}: (this selector ranks, it does not predict performance)")?,
            }
            if let Some((p, n)) = r.p_within {
                writeln!(
                    out,
                    "chance it is within 5% of the best arm: {:.0}% (held-out picks with the nearest score margins: {n})",
                    p * 100.0
                )?;
            }
        }
        (None, Some(why)) => {
            writeln!(out, "no recommendation: {why}")?;
            writeln!(
                out,
                "measure instead: `harness run GRID --active --budget N` measures the N most informative cells of \
                 this task here; then ask again with `--store results/harness.db`"
            )?;
        }
        (None, None) => writeln!(out, "no recommendation")?,
    }
    if let Some((best, regret)) = &r.measured {
        writeln!(
            out,
            "this task is in the store (left out of the fit): measured best {best}; the pick's measured regret {:.1}%",
            regret * 100.0
        )?;
    }
    let excluded = r.all.iter().filter(|a| a.excluded.is_some()).count();
    if excluded > 0 {
        let fastest = r
            .all
            .iter()
            .filter(|a| a.excluded.is_some() && a.predicted.is_some())
            .min_by(|a, b| a.predicted.unwrap_or(f64::INFINITY).total_cmp(&b.predicted.unwrap_or(f64::INFINITY)));
        writeln!(
            out,
            "left out for quality: {excluded} arms{}",
            fastest.map_or(String::new(), |a| format!(
                ", e.g. {} ({})",
                a.arm,
                a.excluded.as_deref().unwrap_or_default()
            ))
        )?;
    }
    if !r.not_runnable.is_empty() {
        let (arm, why) = &r.not_runnable[0];
        writeln!(out, "cannot run on this profile: {} arms, e.g. {arm} ({why})", r.not_runnable.len())?;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if pareto {
        // The latency-quality front: an arm is on it when no arm predicted faster loses less quality.
        let mut all: Vec<&super::recommend::Ranked> = r.all.iter().filter(|a| a.predicted.is_some()).collect();
        let higher = objective == "throughput" || objective == "goodput";
        all.sort_by(|a, b| {
            let (x, y) = (a.predicted.unwrap_or(f64::NAN), b.predicted.unwrap_or(f64::NAN));
            if higher {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        });
        let loss = |a: &super::recommend::Ranked| a.quality.ppl_increase_pct.map_or(f64::INFINITY, |p| p.max(0.0));
        let mut best_loss = f64::INFINITY;
        t.set_header(["front", &format!("predicted {objective} ({unit})"), "arm", "quality", "floor"]);
        for a in all {
            let l = loss(a);
            if l < best_loss - 1e-9 {
                best_loss = l;
                t.add_row([
                    "*".into(),
                    fmt(a.predicted.unwrap_or(f64::NAN)),
                    a.arm.clone(),
                    a.quality.describe(),
                    a.excluded.clone().unwrap_or_else(|| "meets it".into()),
                ]);
            }
        }
        writeln!(out, "latency-quality front of the arms that run here (faster first; each loses less quality than every faster one):\n{t}")?;
    } else {
        t.set_header(["rank", "arm", &format!("predicted {objective} ({unit})"), "quality"]);
        for (i, a) in r.ranking.iter().enumerate() {
            t.add_row([(i + 1).to_string(), a.arm.clone(), a.predicted.map_or("-".into(), fmt), a.quality.describe()]);
        }
        writeln!(out, "{t}")?;
    }
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["nearest stored task", "machine", "distance", "measured best", "recommended arm's regret there"]);
    for n in &r.nearest {
        t.add_row([
            n.task.clone(),
            n.machine.clone(),
            format!("{:.2}", n.distance),
            n.best.clone(),
            n.pick_regret.map_or("not run".into(), |x| format!("{:.1}%", x * 100.0)),
        ]);
    }
    writeln!(out, "{t}")?;
    Ok(())
}
