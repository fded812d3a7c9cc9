//! Which stored cells make up each task, and which of them count: the step between
//! the store and the [`super::tasks::TaskTable`].
//!
//! Three rules, applied in this order, so no later rule sees a cell an earlier one
//! dropped:
//! 1. **Invalid cells never count.** A measurement judged invalid (a busy machine, a
//!    noise limit broken) is set aside before anything else, so a later invalid cell of
//!    an arm cannot hide an earlier valid one.
//! 2. **One version per engine in a task.** An engine's version is part of a cell's
//!    identity because a new version can move every timing, so arms measured by two
//!    versions are not compared. Two grids whose cells of one shape were measured by
//!    different versions stay two tasks (`workload@grid`), each whole: the committed
//!    evaluation store's standard grid (decoder-3) and compression grid (decoder-4)
//!    share SmolLM2 and synth-26m `chat`. Within one grid, a re-run after a version
//!    bump supersedes: only the newest version's cells count, the others are listed in
//!    [`CellGroups::superseded`] (two tasks there would count one task twice).
//! 3. **The latest record of an arm wins** among what is left (re-runs of one cell).
//!
//! With a [`GridSplit`] (`--train`/`--test`), the training grids' cells and the test
//! grids' cells form their tasks apart, so a task of one shape in both is two tasks,
//! and no test cell is ever trained on.

use std::collections::BTreeMap;

use crate::config::CellConfig;
use crate::record::{engine_version_of, Arm, CellRecord, CellStatus, TaskId};

/// `--train` / `--test`: grid names whose cells form training and test tasks apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GridSplit {
    pub train: Vec<String>,
    pub test: Vec<String>,
}

impl GridSplit {
    /// 0 for a training grid (also when named in both), 1 for a test grid, 2 for any other.
    fn side(&self, grid: &str) -> u8 {
        if self.train.iter().any(|g| g == grid) {
            0
        } else if self.test.iter().any(|g| g == grid) {
            1
        } else {
            2
        }
    }
}

/// A cell set aside: (task name, arm name, why).
pub type SetAside = (String, String, String);

/// Cells grouped by task before features exist: built by [`group_cells`].
pub struct CellGroups {
    /// Task name → (its id, a representative cell, its arms' counted records).
    pub tasks: BTreeMap<String, (TaskId, CellRecord, BTreeMap<Arm, CellRecord>)>,
    /// Records whose config could not be read, with the reason.
    pub unreadable: Vec<(String, String)>,
    /// Cells judged invalid: rule 1.
    pub invalid: Vec<SetAside>,
    /// Cells of an engine version older than the newest of their task in their grid: rule 2.
    pub superseded: Vec<SetAside>,
}

/// Whether the stored measurement was judged invalid, and why.
fn invalid(rec: &CellRecord) -> Option<String> {
    let s = rec.summary.as_ref().filter(|_| rec.status == CellStatus::Ok)?;
    (s.verdict == "invalid").then(|| s.verdict_reason.clone().unwrap_or_else(|| "no reason stored".into()))
}

/// A counted candidate: its arm, the version of its engine that measured it, the record.
type Counted<'a> = (Arm, Option<&'static str>, &'a CellRecord);

/// The cells of one task shape from one grid, or of the grids merged into one task.
struct Gathered<'a> {
    grid: String,
    rep: CellRecord,
    cells: Vec<Counted<'a>>,
    invalid: Vec<(Arm, String)>,
}

/// Each engine's version in `cells`: the one of its newest cell.
fn newest_versions(cells: &[Counted<'_>]) -> BTreeMap<String, Option<&'static str>> {
    let mut newest: BTreeMap<String, (f64, Option<&'static str>)> = BTreeMap::new();
    for (arm, version, rec) in cells {
        let n = newest.entry(arm.engine.clone()).or_insert((rec.started_at, *version));
        if rec.started_at > n.0 {
            *n = (rec.started_at, *version);
        }
    }
    newest.into_iter().map(|(engine, (_, v))| (engine, v)).collect()
}

/// The tasks the grids' cells of one shape make: one when every engine's newest
/// version is the same in each grid, one per grid otherwise.
fn merge_if_one_version(grids: Vec<Gathered<'_>>) -> Vec<Gathered<'_>> {
    let mut seen: BTreeMap<String, Option<&str>> = BTreeMap::new();
    let one_version =
        grids.iter().flat_map(|g| newest_versions(&g.cells)).all(|(e, v)| *seen.entry(e).or_insert(v) == v);
    if !one_version {
        return grids;
    }
    let mut grids = grids.into_iter();
    let mut first = grids.next().expect("a task shape has a grid");
    for g in grids {
        first.cells.extend(g.cells);
        first.invalid.extend(g.invalid);
    }
    vec![first]
}

/// Groups stored cells by [`TaskId`] (the model, workload and node shapes and the
/// machine class), within each side of `split` when one is given, by the rules of this
/// module. Two grids that reuse a workload name for different workloads make two tasks
/// (the second named `workload@grid`), and two machines' `local` are two tasks (named
/// `local@<cpu>` when both are present).
pub fn group_cells(records: &[CellRecord], split: Option<&GridSplit>) -> CellGroups {
    // The side comes second in the key so that tasks keep the order of their ids; each
    // shape's grids in the order first seen.
    let mut by_id: BTreeMap<(TaskId, u8), Vec<Gathered<'_>>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for rec in records {
        let cfg: CellConfig = match serde_json::from_str(&rec.config_json) {
            Ok(c) => c,
            Err(e) => {
                unreadable.push((rec.key.clone(), format!("config_json unreadable: {e}")));
                continue;
            }
        };
        let id = TaskId::from_config(&cfg, &rec.model_digest, &rec.machine());
        let side = split.map_or(0, |s| s.side(&rec.grid));
        let grids = by_id.entry((id, side)).or_default();
        let g = match grids.iter().position(|g| g.grid == rec.grid) {
            Some(i) => &mut grids[i],
            None => {
                grids.push(Gathered { grid: rec.grid.clone(), rep: rec.clone(), cells: vec![], invalid: vec![] });
                grids.last_mut().expect("just pushed")
            }
        };
        let arm = Arm::of(rec);
        match invalid(rec) {
            Some(why) => g.invalid.push((arm, why)),
            None => g.cells.push((arm, engine_version_of(rec, &cfg), rec)),
        }
    }
    let tasks: Vec<(TaskId, Gathered)> = by_id
        .into_iter()
        .flat_map(|((id, _), grids)| merge_if_one_version(grids).into_iter().map(move |g| (id.clone(), g)))
        .collect();
    let names = TaskId::display_names(tasks.iter().map(|(id, g)| (id, g.grid.as_str())));
    let mut groups = CellGroups { tasks: BTreeMap::new(), unreadable, invalid: vec![], superseded: vec![] };
    for ((id, g), name) in tasks.into_iter().zip(names) {
        let task = name.name();
        groups.invalid.extend(g.invalid.into_iter().map(|(arm, why)| (task.clone(), arm.name(), why)));
        let newest = newest_versions(&g.cells);
        let mut arms: BTreeMap<Arm, CellRecord> = BTreeMap::new();
        for (arm, version, rec) in &g.cells {
            let kept = newest[&arm.engine];
            if *version != kept {
                let label = |v: Option<&str>| v.unwrap_or("a version this harness does not know").to_string();
                let why = format!("measured by {}; the task's newest cells by {}", label(*version), label(kept));
                groups.superseded.push((task.clone(), arm.name(), why));
                continue;
            }
            match arms.get(arm) {
                Some(prev) if prev.started_at > rec.started_at => {}
                _ => {
                    arms.insert(arm.clone(), (*rec).clone());
                }
            }
        }
        let mut rep = g.rep;
        rep.workload = name.workload.clone();
        rep.hardware = name.hardware.clone();
        groups.tasks.insert(task, (id, rep, arms));
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::identity::LEGACY_ENGINE_VERSION;
    use crate::record::{test_record, CellIdentity};

    /// One synthetic model on one workload: one task, four arms.
    const GRID: &str = r#"
name: NAME
models: {tiny: {synthetic: {layers: 2, hidden: 64, heads: 4, kv_heads: 2, intermediate: 128, vocab: 512, seed: 1}}}
workloads: {chat: {description: a chat, prompt_tokens: 32, output_tokens: 32}}
axes:
  technique: [f32, q8_0]
  threads: [1, 2]
"#;

    /// The cells of grid `name`, keyed as `engine_version` would key them, started at `t0`, `t0 + 1`, ...
    fn cells(name: &str, engine_version: &str, t0: f64) -> Vec<CellRecord> {
        let text = GRID.replace("NAME", name);
        let grid = crate::config::parse(std::path::Path::new("grid.yaml"), &text).unwrap();
        let mut out = vec![];
        for (i, cfg) in crate::config::expand(&grid).into_iter().enumerate() {
            let mut rec = test_record("");
            rec.grid = name.into();
            rec.model = cfg.model.clone();
            rec.technique = cfg.technique.to_string();
            rec.threads = cfg.threads;
            rec.workload = cfg.workload.clone();
            rec.hardware = cfg.hardware.clone();
            rec.started_at = t0 + i as f64;
            rec.config_json = serde_json::to_string(&cfg).unwrap();
            rec.key =
                CellIdentity::new(&cfg, &rec.model_digest, engine_version, &rec.code_version, &rec.machine()).key();
            out.push(rec);
        }
        out
    }

    fn arm_names(arms: &BTreeMap<Arm, CellRecord>) -> Vec<String> {
        arms.keys().map(|a| a.name()).collect()
    }

    #[test]
    fn a_later_invalid_cell_does_not_hide_a_valid_one() {
        let mut records = cells("standard", LEGACY_ENGINE_VERSION, 0.0);
        // A grid of the same shape measured the same arm later, and too noisily.
        let mut noisy = records[1].clone();
        noisy.grid = "compression".into();
        noisy.key = "another".into();
        noisy.started_at = 100.0;
        let s = noisy.summary.as_mut().unwrap();
        s.verdict = "invalid".into();
        s.verdict_reason = Some("too noisy".into());
        s.latency_ms.p50 = 1e6;
        records.push(noisy);
        let g = group_cells(&records, None);
        assert_eq!(g.tasks.len(), 1);
        let (_, _, arms) = g.tasks.values().next().unwrap();
        assert_eq!(arms.len(), 4, "every arm keeps its valid cell: {:?}", arm_names(arms));
        assert!(arms.values().all(|r| r.key != "another"));
        assert_eq!(g.invalid.len(), 1, "the invalid cell is counted as left out");
        assert_eq!(g.invalid[0].2, "too noisy");
    }

    #[test]
    fn one_task_never_mixes_two_engine_versions() {
        let current = crate::engines::version(crate::engines::DEFAULT_ENGINE).unwrap();
        assert_ne!(current, LEGACY_ENGINE_VERSION);
        let mut records = cells("standard", LEGACY_ENGINE_VERSION, 0.0);
        // After the engine's version changed, two of the four arms were measured again.
        let again = cells("standard", current, 100.0);
        records.extend(again.into_iter().take(2));
        let g = group_cells(&records, None);
        let (_, _, arms) = g.tasks.values().next().unwrap();
        assert_eq!(arms.len(), 2, "only the newest version's arms: {:?}", arm_names(arms));
        assert!(arms
            .values()
            .all(|r| engine_version_of(r, &serde_json::from_str(&r.config_json).unwrap()) == Some(current)));
        assert_eq!(g.superseded.len(), 4, "every cell of the older version is set aside: {:?}", g.superseded);
        assert!(g.superseded[0].2.contains(LEGACY_ENGINE_VERSION), "{:?}", g.superseded);
        // A store measured by one version keeps every arm, whatever the version.
        let g = group_cells(&cells("standard", LEGACY_ENGINE_VERSION, 0.0), None);
        assert_eq!(g.tasks.values().next().unwrap().2.len(), 4);
        assert!(g.superseded.is_empty());
        // Two grids of one shape measured by two versions: two tasks, each whole.
        let mut records = cells("standard", LEGACY_ENGINE_VERSION, 0.0);
        records.extend(cells("compression", current, 100.0).into_iter().take(3));
        let g = group_cells(&records, None);
        let sizes: Vec<(&str, usize)> = g.tasks.iter().map(|(n, (_, _, arms))| (n.as_str(), arms.len())).collect();
        assert_eq!(sizes, [("tiny / chat@compression / local", 3), ("tiny / chat@standard / local", 4)]);
        assert!(g.superseded.is_empty());
        // Of one version, they are one task, as for any two grids of one shape.
        let mut records = cells("standard", current, 0.0);
        records.extend(cells("compression", current, 100.0).into_iter().take(3));
        assert_eq!(group_cells(&records, None).tasks.len(), 1);
    }

    #[test]
    fn a_split_forms_training_and_test_tasks_apart() {
        let mut records = cells("standard", LEGACY_ENGINE_VERSION, 0.0);
        records.extend(cells("compression", LEGACY_ENGINE_VERSION, 100.0).into_iter().take(3));
        // Without a split the two grids' cells of one shape are one task, as cross-validation wants.
        assert_eq!(group_cells(&records, None).tasks.len(), 1);
        let split = GridSplit { train: vec!["standard".into()], test: vec!["compression".into()] };
        let g = group_cells(&records, Some(&split));
        let grids: BTreeMap<&str, (&str, Vec<&str>)> = g
            .tasks
            .iter()
            .map(|(name, (_, rep, arms))| {
                (name.as_str(), (rep.grid.as_str(), arms.values().map(|r| r.grid.as_str()).collect()))
            })
            .collect();
        assert_eq!(grids.len(), 2, "{grids:?}");
        assert_eq!(grids["tiny / chat@standard / local"], ("standard", vec!["standard"; 4]));
        assert_eq!(grids["tiny / chat@compression / local"], ("compression", vec!["compression"; 3]));
    }
}
