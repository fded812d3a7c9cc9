//! ASlib, the algorithm-selection library's scenario format (Bischl et al., 2016):
//! import a scenario as a task table so every selector runs on the public benchmarks
//! with the scenario's own folds, and export our store as a scenario.
//!
//! A scenario directory holds `description.txt` (YAML: cutoff, whether the measure
//! is maximised), `algorithm_runs.arff` (instance, repetition, algorithm, the measure,
//! run status), `feature_values.arff` (instance, repetition, features; `?` unknown) and
//! `cv.arff` (instance, repetition, fold). Runtime scenarios are scored as **PAR10**: a
//! run that is not `ok`, or took longer than the cutoff, counts as 10 × the cutoff. The
//! imported table's tasks are the instances, its arms the algorithms, its extra
//! features the scenario's (features of repetition 1; feature costs are not charged),
//! and its folds those of `cv.arff` (repetition 1).
//!
//! The imported table is written as JSON (`harness aslib import DIR --out FILE`) and
//! evaluated with `harness evaluate --tasks FILE --cv given`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::features::TaskFeatures;
use super::objective::Objective;
use super::tasks::{Task, TaskTable};
use crate::record::Arm;
use crate::techniques::TechniqueName;

/// The engine name imported arms carry (they are algorithms, not techniques).
pub const ENGINE: &str = "aslib";

/// A parsed ARFF file: attribute names and data rows (strings, `?` kept).
#[derive(Debug, Clone, PartialEq)]
pub struct Arff {
    pub attributes: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Splits one ARFF data line at commas outside quotes, unquoting values.
fn split_line(line: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => quote = Some(c),
            (None, ',') => out.push(std::mem::take(&mut cur).trim().to_string()),
            (None, c) => cur.push(c),
        }
    }
    out.push(cur.trim().to_string());
    out
}

/// Parses ARFF text (`@attribute` lines, `@data`, `%` comments); errors name the line.
pub fn parse_arff(text: &str, file: &str) -> Result<Arff> {
    let mut attributes = vec![];
    let mut rows = vec![];
    let mut data = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('%') {
            continue;
        }
        let lower = l.to_ascii_lowercase();
        if !data {
            if lower.starts_with("@attribute") {
                let rest = l["@attribute".len()..].trim();
                let name = if let Some(r) = rest.strip_prefix('\'') {
                    r.split('\'').next().unwrap_or_default().to_string()
                } else {
                    rest.split_whitespace().next().unwrap_or_default().to_string()
                };
                attributes.push(name);
            } else if lower.starts_with("@data") {
                data = true;
            }
            continue;
        }
        let v = split_line(l);
        if v.len() != attributes.len() {
            bail!("{file}:{}: {} values, the header declares {} attributes", i + 1, v.len(), attributes.len());
        }
        rows.push(v);
    }
    if !data {
        bail!("{file}: no @data section");
    }
    Ok(Arff { attributes, rows })
}

fn read_arff(dir: &Path, name: &str) -> Result<Arff> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    parse_arff(&text, &path.display().to_string())
}

fn column(a: &Arff, name: &str, file: &str) -> Result<usize> {
    a.attributes
        .iter()
        .position(|x| x.eq_ignore_ascii_case(name))
        .ok_or_else(|| anyhow!("{file}: no attribute `{name}` (has: {})", a.attributes.join(", ")))
}

/// An imported scenario, as written to and read from JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub scenario: String,
    /// Runtime cutoff, seconds (PAR10 counts 10 × this for unsolved runs).
    pub cutoff: f64,
    pub algorithms: Vec<String>,
    pub feature_names: Vec<String>,
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: String,
    /// 0-based fold of `cv.arff`.
    pub fold: usize,
    /// NaN (null in JSON) where unknown.
    pub features: Vec<Option<f64>>,
    /// PAR10 runtime per algorithm; `None` where the algorithm has no run for it.
    pub par10: Vec<Option<f64>>,
    /// Whether each algorithm solved it within the cutoff.
    pub solved: Vec<bool>,
}

/// Reads an ASlib runtime scenario directory.
pub fn import(dir: &Path) -> Result<Scenario> {
    let desc_path = dir.join("description.txt");
    let desc: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(&desc_path).with_context(|| format!("reading {}", desc_path.display()))?,
    )
    .with_context(|| format!("{}: not YAML", desc_path.display()))?;
    let scenario = desc["scenario_id"].as_str().map(str::to_string).unwrap_or_else(|| {
        dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "scenario".into())
    });
    let kind = desc["performance_type"][0].as_str().unwrap_or("runtime");
    if kind != "runtime" {
        bail!("{}: performance_type `{kind}`; only runtime scenarios (PAR10) are supported", desc_path.display());
    }
    let cutoff = desc["algorithm_cutoff_time"]
        .as_f64()
        .or_else(|| desc["algorithm_cutoff_time"].as_u64().map(|v| v as f64))
        .ok_or_else(|| anyhow!("{}: algorithm_cutoff_time missing or not a number", desc_path.display()))?;

    let runs = read_arff(dir, "algorithm_runs.arff")?;
    let f = "algorithm_runs.arff";
    let (ci, cr, ca, cs) = (
        column(&runs, "instance_id", f)?,
        column(&runs, "repetition", f)?,
        column(&runs, "algorithm", f)?,
        column(&runs, "runstatus", f)?,
    );
    let measure = desc["performance_measures"][0].as_str().unwrap_or("runtime").to_string();
    let cm = column(&runs, &measure, f)?;
    let mut algorithms: Vec<String> = runs.rows.iter().map(|r| r[ca].clone()).collect();
    algorithms.sort();
    algorithms.dedup();
    let mut par10: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    let mut solved: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for r in &runs.rows {
        if r[cr] != "1" {
            continue;
        }
        let a = algorithms.binary_search(&r[ca]).expect("collected");
        let time: Option<f64> = r[cm].parse().ok().filter(|t: &f64| t.is_finite());
        let ok = r[cs] == "ok" && time.is_some_and(|t| t <= cutoff);
        let v = if ok { time.expect("ok has a time").max(0.0) } else { 10.0 * cutoff };
        par10.entry(r[ci].clone()).or_insert_with(|| vec![None; algorithms.len()])[a] = Some(v);
        solved.entry(r[ci].clone()).or_insert_with(|| vec![false; algorithms.len()])[a] = ok;
    }

    let feats = read_arff(dir, "feature_values.arff")?;
    let (fi, fr) =
        (column(&feats, "instance_id", "feature_values.arff")?, column(&feats, "repetition", "feature_values.arff")?);
    let feature_cols: Vec<usize> = (0..feats.attributes.len()).filter(|&c| c != fi && c != fr).collect();
    let feature_names: Vec<String> = feature_cols.iter().map(|&c| feats.attributes[c].clone()).collect();
    let mut features: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for r in feats.rows.iter().filter(|r| r[fr] == "1") {
        features.insert(
            r[fi].clone(),
            feature_cols.iter().map(|&c| r[c].parse().ok().filter(|v: &f64| v.is_finite())).collect(),
        );
    }

    let cv = read_arff(dir, "cv.arff")?;
    let (vi, vr, vf) = (
        column(&cv, "instance_id", "cv.arff")?,
        column(&cv, "repetition", "cv.arff")?,
        column(&cv, "fold", "cv.arff")?,
    );
    let mut folds: BTreeMap<String, usize> = BTreeMap::new();
    for r in cv.rows.iter().filter(|r| r[vr] == "1") {
        let f: usize = r[vf].parse().map_err(|_| anyhow!("cv.arff: fold `{}` is not a number", r[vf]))?;
        folds.insert(r[vi].clone(), f.saturating_sub(1));
    }

    let mut instances = vec![];
    for (id, p) in par10 {
        let Some(&fold) = folds.get(&id) else { continue };
        let features = features.get(&id).cloned().unwrap_or_else(|| vec![None; feature_names.len()]);
        let solved = solved.remove(&id).unwrap_or_default();
        instances.push(Instance { id, fold, features, par10: p, solved });
    }
    if instances.is_empty() {
        bail!("{}: no instance has both runs and a fold", dir.display());
    }
    Ok(Scenario { scenario, cutoff, algorithms, feature_names, instances })
}

impl Scenario {
    /// The task table: instances × algorithms, objective runtime (PAR10 seconds).
    pub fn table(&self) -> TaskTable {
        let arms: Vec<Arm> = self
            .algorithms
            .iter()
            .map(|a| Arm { technique: TechniqueName::from_stored(a), threads: 1, engine: ENGINE.into() })
            .collect();
        let tasks: Vec<Task> = self
            .instances
            .iter()
            .map(|i| Task {
                id: i.id.clone(),
                model: i.id.clone(),
                workload: String::new(),
                hardware: self.scenario.clone(),
                features: TaskFeatures::filled(f64::NAN),
                description: format!("{} instance {}", self.scenario, i.id),
                machine: self.scenario.clone(),
                grid: self.scenario.clone(),
                fold: Some(i.fold),
                extra: i.features.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
                ..Default::default()
            })
            .collect();
        let perf = self
            .instances
            .iter()
            .map(|i| i.par10.iter().map(|p| p.map(|s| Objective::Runtime.performance(s.max(1e-6)))).collect())
            .collect();
        let mut t = TaskTable::from_performance(Objective::Runtime, arms, tasks, perf);
        t.extra_names = self.feature_names.clone();
        t.extra_in_x = true;
        t
    }

    /// Mean PAR10 of the single best algorithm (by mean PAR10) and of the virtual best.
    pub fn sbs_vbs(&self) -> (String, f64, f64) {
        let n = self.instances.len() as f64;
        let mean_of =
            |a: usize| self.instances.iter().map(|i| i.par10[a].unwrap_or(10.0 * self.cutoff)).sum::<f64>() / n;
        let (sbs, sbs_v) = (0..self.algorithms.len())
            .map(|a| (a, mean_of(a)))
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .expect("a scenario has algorithms");
        let vbs =
            self.instances.iter().map(|i| i.par10.iter().flatten().copied().fold(f64::INFINITY, f64::min)).sum::<f64>()
                / n;
        (self.algorithms[sbs].clone(), sbs_v, vbs)
    }
}

/// Writes an imported scenario as JSON.
pub fn write(s: &Scenario, path: &Path) -> Result<()> {
    let text = serde_json::to_string(s)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Reads a scenario written by [`write`].
pub fn read(path: &Path) -> Result<Scenario> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        crate::BadInput(format!("{}: not a task table written by `harness aslib import` ({e})", path.display())).into()
    })
}

/// PAR10 of each selector's picks from an evaluation's picks: the mean PAR10 and the
/// share of the single-best → virtual-best gap closed, per selector.
/// `ids` are the scored tasks, `picks` per selector the tied picks (arm indices) per task.
/// Single-best and virtual-best are over the scored tasks.
pub fn par10_gap(s: &Scenario, ids: &[&str], picks: &[(String, Vec<Vec<usize>>)]) -> Vec<(String, f64, f64)> {
    let by_id: BTreeMap<&str, &Instance> = s.instances.iter().map(|i| (i.id.as_str(), i)).collect();
    let scored = Scenario { instances: ids.iter().map(|id| by_id[id].clone()).collect(), ..s.clone() };
    let (_, sbs, vbs) = scored.sbs_vbs();
    picks
        .iter()
        .map(|(name, per_task)| {
            let total: f64 = ids
                .iter()
                .zip(per_task)
                .map(|(id, arms)| {
                    let inst = by_id[id];
                    let w = 1.0 / arms.len() as f64;
                    arms.iter().map(|&a| w * inst.par10[a].unwrap_or(10.0 * s.cutoff)).sum::<f64>()
                })
                .sum();
            let mean = total / ids.len() as f64;
            let gap = if sbs - vbs > 1e-12 { (sbs - mean) / (sbs - vbs) } else { f64::NAN };
            (name.clone(), mean, gap)
        })
        .collect()
}

/// Our store as an ASlib scenario: instances are tasks, algorithms are arms, the
/// measure is the objective's raw figure (for latency: milliseconds), `crash` for a
/// failed cell and `not_applicable` for one that could not run; folds by (model,
/// workload) group, `folds` of them.
pub fn export(table: &TaskTable, dir: &Path, folds: usize) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let obj = table.objective;
    let measure = obj.as_str();
    let cutoff = table.outcomes.iter().flatten().flatten().filter_map(|o| o.raw).fold(0.0f64, f64::max) * 2.0;
    let q = |s: &str| format!("'{}'", s.replace('\'', "_"));
    let mut desc = String::new();
    writeln!(desc, "scenario_id: harness-{measure}")?;
    writeln!(desc, "performance_measures:\n- {measure}")?;
    writeln!(desc, "maximize:\n- {}", obj.higher_is_better())?;
    writeln!(desc, "performance_type:\n- {}", if obj.higher_is_better() { "solution_quality" } else { "runtime" })?;
    writeln!(desc, "algorithm_cutoff_time: {cutoff}")?;
    writeln!(desc, "algorithm_cutoff_memory: '?'")?;
    writeln!(desc, "features_cutoff_time: '?'")?;
    writeln!(desc, "features_cutoff_memory: '?'")?;
    writeln!(desc, "features_deterministic:")?;
    for n in TaskFeatures::NAMES {
        writeln!(desc, "- {n}")?;
    }
    writeln!(desc, "features_stochastic: []")?;
    writeln!(desc, "algorithms_deterministic: []")?;
    writeln!(desc, "algorithms_stochastic:")?;
    for a in &table.arms {
        writeln!(desc, "- {}", q(&a.name()))?;
    }
    writeln!(desc, "number_of_feature_steps: 1")?;
    writeln!(desc, "default_steps:\n- all")?;
    writeln!(desc, "feature_steps:\n  all:\n    provides:")?;
    for n in TaskFeatures::NAMES {
        writeln!(desc, "    - {n}")?;
    }
    std::fs::write(dir.join("description.txt"), desc)?;

    let mut runs = format!(
        "@RELATION ALGORITHM_RUNS_harness\n\n@ATTRIBUTE instance_id STRING\n@ATTRIBUTE repetition NUMERIC\n\
         @ATTRIBUTE algorithm STRING\n@ATTRIBUTE {measure} NUMERIC\n\
         @ATTRIBUTE runstatus {{ok, timeout, memout, not_applicable, crash, other}}\n\n@DATA\n"
    );
    for (t, row) in table.tasks.iter().zip(&table.outcomes) {
        for (a, o) in table.arms.iter().zip(row) {
            let Some(o) = o else { continue };
            let (v, status) = match (o.feasible, o.raw) {
                (true, Some(r)) => (format!("{r}"), "ok"),
                _ if o.why.as_deref().is_some_and(|w| w.starts_with("not_applicable")) => {
                    ("?".into(), "not_applicable")
                }
                _ => ("?".into(), "crash"),
            };
            writeln!(runs, "{},1,{},{v},{status}", q(&t.id), q(&a.name()))?;
        }
    }
    std::fs::write(dir.join("algorithm_runs.arff"), runs)?;

    let mut fv = String::from(
        "@RELATION FEATURE_VALUES_harness\n\n@ATTRIBUTE instance_id STRING\n@ATTRIBUTE repetition NUMERIC\n",
    );
    for n in TaskFeatures::NAMES {
        writeln!(fv, "@ATTRIBUTE {n} NUMERIC")?;
    }
    fv.push_str("\n@DATA\n");
    for t in &table.tasks {
        let vals: Vec<String> =
            t.features.to_vec().iter().map(|v| if v.is_finite() { format!("{v}") } else { "?".into() }).collect();
        writeln!(fv, "{},1,{}", q(&t.id), vals.join(","))?;
    }
    std::fs::write(dir.join("feature_values.arff"), fv)?;

    let mut cv = String::from(
        "@RELATION CV_harness\n\n@ATTRIBUTE instance_id STRING\n@ATTRIBUTE repetition NUMERIC\n@ATTRIBUTE fold NUMERIC\n\n@DATA\n",
    );
    let kinds: Vec<String> =
        table.tasks.iter().map(super::cv::kind).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    for t in &table.tasks {
        let k = kinds.iter().position(|g| *g == super::cv::kind(t)).expect("listed");
        writeln!(cv, "{},1,{}", q(&t.id), k % folds.max(1) + 1)?;
    }
    std::fs::write(dir.join("cv.arff"), cv)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arff_lines_split_at_commas_outside_quotes() {
        assert_eq!(split_line("'a,b',1, ok"), vec!["a,b", "1", "ok"]);
        let a =
            parse_arff("% c\n@RELATION x\n@ATTRIBUTE id STRING\n@ATTRIBUTE v NUMERIC\n@DATA\nx,1\ny,?\n", "f").unwrap();
        assert_eq!(a.attributes, vec!["id", "v"]);
        assert_eq!(a.rows, vec![vec!["x", "1"], vec!["y", "?"]]);
        let e = parse_arff("@ATTRIBUTE id STRING\n@DATA\nx,1\n", "f.arff").unwrap_err();
        assert!(e.to_string().contains("f.arff:3: 2 values"), "{e}");
    }
}
