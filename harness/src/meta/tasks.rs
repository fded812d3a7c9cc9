//! The task table: task (model × workload × hardware) × arm (technique @ threads)
//! performance, built from the stored cells for one objective and set of constraints.
//!
//! **Infeasible arms are kept, and penalised.** An arm that failed, was not applicable
//! or breaks a constraint stays a candidate of its task (a selector may pick it, since it
//! cannot know in advance), and its performance is set to **half the performance of the
//! task's worst feasible arm** (twice as slow as the slowest arm that was allowed). Every
//! metric reads that penalised value: regret = 1 − perf(pick)/perf(best) is then larger
//! than for any feasible pick (and below 1), a penalised pick never counts as top-1 or
//! top-k correct, ranks last in Spearman and NDCG, and its speed-up ratio is halved
//! relative to the worst feasible arm. A task without any feasible arm has no oracle; it
//! is left out and listed in [`TaskTable::left_out`].

use std::collections::{BTreeMap, BTreeSet};

use super::features::{TaskDescriptor, TaskFeatures};
use super::objective::{Constraints, Objective};
use crate::record::{Arm, CellRecord, CellStatus, TaskId};

/// Performance of an infeasible arm, as a share of the task's worst feasible arm.
pub const INFEASIBLE_FACTOR: f64 = 0.5;

/// What one arm did on one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The objective as stored (ms, tok/s, ...), when measured.
    pub raw: Option<f64>,
    /// Higher-is-better performance after the infeasibility penalty; what every metric reads.
    pub perf: f64,
    pub feasible: bool,
    /// Why the arm is infeasible.
    pub why: Option<String>,
    /// Cost per 1000 tokens, when measured (budget-aware selectors predict it).
    pub cost: Option<f64>,
}

/// One task with its features.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// `model / workload / hardware`.
    pub id: String,
    pub model: String,
    pub workload: String,
    pub hardware: String,
    /// Raw numeric features; NaN where unknown.
    pub features: TaskFeatures,
    /// Unit-length text embedding of [`Task::description`], when the embedding model is present.
    pub embedding: Option<Vec<f64>>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskTable {
    pub objective: Objective,
    pub arms: Vec<Arm>,
    pub tasks: Vec<Task>,
    /// `[task][arm]`: `None` where the arm was not run for the task (not a candidate).
    pub outcomes: Vec<Vec<Option<Outcome>>>,
    /// Tasks left out, with the reason.
    pub left_out: Vec<(String, String)>,
}

/// Cells grouped by task before features exist: built by [`group_cells`].
pub struct CellGroups {
    /// Task name → (its id, a representative cell, its arms' latest records).
    pub tasks: BTreeMap<String, (TaskId, CellRecord, BTreeMap<Arm, CellRecord>)>,
    /// Records whose config could not be read, with the reason.
    pub unreadable: Vec<(String, String)>,
}

/// Groups stored cells by [`TaskId`]: the model, workload and node shapes and the
/// machine class, so two grids that reuse a workload name for different workloads make
/// two tasks (the second named `workload@grid`), and two machines' `local` are two
/// tasks (named `local@<cpu>` when both are present). When an arm was measured more
/// than once (re-runs), the latest record counts.
pub fn group_cells(records: &[CellRecord]) -> CellGroups {
    let mut by_id: BTreeMap<TaskId, (String, CellRecord, BTreeMap<Arm, CellRecord>)> = BTreeMap::new();
    let mut unreadable = Vec::new();
    for rec in records {
        let id = match TaskId::of(rec) {
            Ok(id) => id,
            Err(e) => {
                unreadable.push((rec.key.clone(), format!("config_json unreadable: {e}")));
                continue;
            }
        };
        let arm = Arm::of(rec);
        let entry = by_id.entry(id).or_insert_with(|| (rec.grid.clone(), rec.clone(), BTreeMap::new()));
        match entry.2.get(&arm) {
            Some(prev) if prev.started_at > rec.started_at => {}
            _ => {
                entry.2.insert(arm, rec.clone());
            }
        }
    }
    let names = TaskId::display_names(by_id.iter().map(|(id, (grid, _, _))| (id, grid.as_str())));
    let mut tasks = BTreeMap::new();
    for ((id, (_, rep, arms)), name) in by_id.into_iter().zip(names) {
        let mut rep = rep;
        rep.workload = name.workload.clone();
        rep.hardware = name.hardware.clone();
        tasks.insert(name.name(), (id, rep, arms));
    }
    CellGroups { tasks, unreadable }
}

/// The raw figure, feasibility and reason of one stored cell.
fn outcome_of(rec: &CellRecord, objective: Objective, constraints: &Constraints) -> (Option<f64>, Option<String>) {
    let raw = rec.summary.as_ref().filter(|_| rec.status == CellStatus::Ok).and_then(|s| objective.raw(s));
    let mut why = constraints.violation(rec);
    if why.is_none() {
        match raw.and_then(|r| objective.performance(r)) {
            Some(_) => {}
            None if rec.summary.as_ref().is_some_and(|s| s.serving.is_none()) && objective == Objective::Goodput => {
                why = Some("no serving figures (goodput needs a serving workload)".into())
            }
            None => why = Some(format!("no usable {objective} figure")),
        }
    }
    (raw, why)
}

impl TaskTable {
    /// Builds the table from grouped cells; `describe` gives each task's descriptor
    /// (features and text) from its representative cell.
    pub fn build(
        groups: &CellGroups,
        objective: Objective,
        constraints: &Constraints,
        mut describe: impl FnMut(&CellRecord) -> Option<TaskDescriptor>,
    ) -> TaskTable {
        let arms: Vec<Arm> = groups
            .tasks
            .values()
            .flat_map(|(_, _, a)| a.keys().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut table = TaskTable { objective, arms, tasks: vec![], outcomes: vec![], left_out: vec![] };
        for (key, why) in &groups.unreadable {
            table.left_out.push((format!("cell {key}"), why.clone()));
        }
        for (id, (_, rep, cells)) in &groups.tasks {
            let mut raw_rows = vec![None; table.arms.len()];
            for (arm, rec) in cells {
                let a = table.arms.binary_search(arm).expect("arm collected above");
                let (raw, why) = outcome_of(rec, objective, constraints);
                let cost = rec.summary.as_ref().map(|s| s.cost_per_1k_tokens).filter(|c| c.is_finite());
                raw_rows[a] = Some((raw, why, cost));
            }
            let Some(desc) = describe(rep) else {
                table.left_out.push((id.clone(), "its config could not be described".into()));
                continue;
            };
            let outcomes = match penalise(objective, raw_rows) {
                Ok(o) => o,
                Err(why) => {
                    table.left_out.push((id.clone(), why));
                    continue;
                }
            };
            table.tasks.push(Task {
                id: id.clone(),
                model: rep.model.clone(),
                workload: rep.workload.clone(),
                hardware: rep.hardware.clone(),
                features: desc.features(),
                embedding: None,
                description: desc.description(),
            });
            table.outcomes.push(outcomes);
        }
        table
    }

    /// A table from performance values directly (synthetic benchmarks and tests):
    /// `perf[t][a]` is `None` (not run), `Some(None)` (infeasible) or `Some(Some(p))`.
    pub fn from_performance(
        objective: Objective,
        arms: Vec<Arm>,
        tasks: Vec<Task>,
        perf: Vec<Vec<Option<Option<f64>>>>,
    ) -> TaskTable {
        let mut table = TaskTable { objective, arms, tasks: vec![], outcomes: vec![], left_out: vec![] };
        for (task, row) in tasks.into_iter().zip(perf) {
            let raw_rows = row
                .into_iter()
                .map(|c| {
                    c.map(|p| {
                        let raw = p.map(|p| objective.raw_from_performance(p));
                        (raw, p.is_none().then(|| "infeasible".to_string()), None)
                    })
                })
                .collect();
            match penalise(objective, raw_rows) {
                Ok(o) => {
                    table.tasks.push(task);
                    table.outcomes.push(o);
                }
                Err(why) => table.left_out.push((task.id.clone(), why)),
            }
        }
        table
    }

    /// Arms run for task `t`: the candidates a selector chooses among.
    pub fn candidates(&self, t: usize) -> Vec<usize> {
        (0..self.arms.len()).filter(|&a| self.outcomes[t][a].is_some()).collect()
    }

    /// Penalised performance of arm `a` on task `t`.
    pub fn perf(&self, t: usize, a: usize) -> Option<f64> {
        self.outcomes[t][a].as_ref().map(|o| o.perf)
    }

    /// The best (oracle) performance of task `t`.
    pub fn best(&self, t: usize) -> f64 {
        self.outcomes[t].iter().flatten().map(|o| o.perf).fold(f64::NEG_INFINITY, f64::max)
    }

    /// The oracle's arm of task `t` (first of equals).
    pub fn oracle_arm(&self, t: usize) -> usize {
        let best = self.best(t);
        self.candidates(t).into_iter().find(|&a| self.perf(t, a) == Some(best)).expect("a task has an arm")
    }

    /// Learning target: ln(perf / best) ≤ 0, the task's oracle at 0. Normalising per
    /// task makes the target a ranking quantity: it removes the task's overall speed,
    /// which says nothing about which arm to pick.
    pub fn target(&self, t: usize, a: usize) -> Option<f64> {
        let best = self.best(t);
        self.perf(t, a).map(|p| (p.max(best * 1e-9) / best).ln())
    }

    /// Distinct values of a task attribute, for grouped cross-validation.
    pub fn groups(&self, key: impl Fn(&Task) -> &str) -> Vec<String> {
        self.tasks.iter().map(|t| key(t).to_string()).collect::<BTreeSet<_>>().into_iter().collect()
    }
}

type RawRow = Vec<Option<(Option<f64>, Option<String>, Option<f64>)>>;

/// Turns raw figures into penalised performance; an error (the reason the task is
/// left out) when no arm is feasible or none performs at all (zero goodput everywhere).
fn penalise(objective: Objective, row: RawRow) -> Result<Vec<Option<Outcome>>, String> {
    let perf = |raw: Option<f64>| raw.and_then(|r| objective.performance(r));
    let feasible: Vec<f64> =
        row.iter().flatten().filter(|(_, why, _)| why.is_none()).filter_map(|(raw, _, _)| perf(*raw)).collect();
    if feasible.is_empty() {
        return Err(format!("no feasible arm for objective {objective}"));
    }
    if feasible.iter().all(|p| *p <= 0.0) {
        return Err(format!("every arm has zero {objective}; nothing to choose"));
    }
    let worst = feasible.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(row
        .into_iter()
        .map(|c| {
            c.map(|(raw, why, cost)| {
                let feasible = why.is_none();
                let p = if feasible { perf(raw).unwrap_or(0.0) } else { INFEASIBLE_FACTOR * worst };
                Outcome { raw, perf: p, feasible, why, cost }
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> Task {
        Task {
            id: id.into(),
            model: "m".into(),
            workload: id.into(),
            hardware: "h".into(),
            features: TaskFeatures::filled(0.0),
            embedding: None,
            description: String::new(),
        }
    }

    #[test]
    fn infeasible_arms_stay_candidates_at_half_the_worst() {
        let arms = (1..=3).map(|n| Arm::new(crate::techniques::TechniqueName::parse("f32").unwrap(), n)).collect();
        let t = TaskTable::from_performance(
            Objective::Throughput,
            arms,
            vec![task("a"), task("b")],
            vec![vec![Some(Some(10.0)), Some(Some(4.0)), Some(None)], vec![Some(None), None, Some(None)]],
        );
        assert_eq!(t.tasks.len(), 1, "a task with no feasible arm is left out");
        assert_eq!(t.left_out, vec![("b".to_string(), "no feasible arm for objective throughput".to_string())]);
        assert_eq!(t.candidates(0), vec![0, 1, 2]);
        assert_eq!(t.perf(0, 2), Some(2.0));
        assert!(!t.outcomes[0][2].as_ref().unwrap().feasible);
        assert_eq!(t.oracle_arm(0), 0);
        assert_eq!(t.target(0, 0), Some(0.0));
        assert!((t.target(0, 1).unwrap() - (0.4f64).ln()).abs() < 1e-12);
    }

    #[test]
    fn latency_turns_into_speed() {
        let arms = (1..=2).map(|n| Arm::new(crate::techniques::TechniqueName::parse("f32").unwrap(), n)).collect();
        // Performance in, raw latency kept: 1/0.5 = 2 ms and 1/0.25 = 4 ms.
        let t = TaskTable::from_performance(
            Objective::Latency,
            arms,
            vec![task("a")],
            vec![vec![Some(Some(0.5)), Some(Some(0.25))]],
        );
        assert_eq!(t.outcomes[0][0].as_ref().unwrap().raw, Some(2.0));
        assert_eq!(t.oracle_arm(0), 0);
    }
}
