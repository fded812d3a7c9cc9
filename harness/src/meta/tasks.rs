//! The task table: task (model × workload × hardware) × arm (technique @ threads)
//! performance, built from the stored cells for one objective and set of constraints.
//!
//! **Infeasible arms are kept, and scored by an explicit rule.** An arm that failed, was
//! not applicable or breaks a constraint stays a candidate of its task (a selector may
//! pick it, since it cannot know in advance). What such a pick delivers is the
//! [`Infeasible`] rule of the evaluation (`--infeasible`): by default **nothing** (its
//! performance is 0, so its regret is 1: a run that fails serves no request), or the
//! task's worst feasible arm, or a factor of it. A task without any feasible arm has no
//! oracle; it is left out and listed in [`TaskTable::left_out`].
//!
//! What learners are trained on is separate from that scoring rule: the measured
//! targets of feasible arms and feasibility itself ([`crate::meta::cv::Training`]), and,
//! for the selectors frozen before the rule existed (`selectors-frozen-1`), the legacy
//! signal they were built on: an infeasible arm at [`LEGACY_INFEASIBLE_FACTOR`] × the
//! worst feasible arm.
//!
//! **Invalid cells are not used.** A cell whose measurement was judged invalid (a busy
//! machine, a noise limit broken) is no candidate of its task, and cannot hide a valid
//! cell of its arm ([`super::grouping`] sets it aside first); the table counts them in
//! [`TaskTable::invalid`] so the evaluation says how many (re-measure them with
//! `harness run GRID --retry-invalid`).

use std::collections::BTreeSet;

use super::features::{TaskDescriptor, TaskFeatures};
use super::grouping::CellGroups;
use super::objective::{Constraints, Objective};
use crate::record::{Arm, CellRecord, CellStatus};

/// The training signal of an infeasible arm for the selectors of `selectors-frozen-1`:
/// this share of the task's worst feasible arm (their scoring rule before `--infeasible`).
pub const LEGACY_INFEASIBLE_FACTOR: f64 = 0.5;

/// What picking an infeasible arm delivers, in the metrics (`--infeasible`).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "rule", content = "factor")]
pub enum Infeasible {
    /// Nothing: performance 0, regret 1 (the default: a failed run serves nobody).
    #[default]
    Zero,
    /// As much as the task's worst feasible arm.
    Worst,
    /// This share of the task's worst feasible arm.
    Factor(f64),
}

impl Infeasible {
    /// `zero`, `worst` or `factor:F` (0 ≤ F ≤ 1).
    pub fn parse(s: &str) -> Result<Infeasible, String> {
        let bad = || format!("bad --infeasible `{s}`: expected `zero`, `worst` or `factor:F` with 0 <= F <= 1");
        match s.trim() {
            "zero" => Ok(Infeasible::Zero),
            "worst" => Ok(Infeasible::Worst),
            other => {
                let f: f64 = other.strip_prefix("factor:").ok_or_else(bad)?.trim().parse().map_err(|_| bad())?;
                (0.0..=1.0).contains(&f).then_some(Infeasible::Factor(f)).ok_or_else(bad)
            }
        }
    }

    /// The performance an infeasible pick delivers on a task whose worst feasible arm performs `worst`.
    pub fn perf(self, worst: f64) -> f64 {
        match self {
            Infeasible::Zero => 0.0,
            Infeasible::Worst => worst,
            Infeasible::Factor(f) => f * worst,
        }
    }

    pub fn label(self) -> String {
        match self {
            Infeasible::Zero => "zero".into(),
            Infeasible::Worst => "worst".into(),
            Infeasible::Factor(f) => format!("factor:{f}"),
        }
    }

    /// One sentence for tables.
    pub fn describe(self) -> String {
        match self {
            Infeasible::Zero => "an infeasible pick delivers nothing (regret 1)".into(),
            Infeasible::Worst => "an infeasible pick counts as the task's worst feasible arm".into(),
            Infeasible::Factor(f) => format!("an infeasible pick counts as {f} x the task's worst feasible arm"),
        }
    }
}

/// What one arm did on one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The objective as stored (ms, tok/s, ...), when measured.
    pub raw: Option<f64>,
    /// Higher-is-better performance, an infeasible arm's by the table's [`Infeasible`]
    /// rule; what every metric reads.
    pub perf: f64,
    pub feasible: bool,
    /// Why the arm is infeasible.
    pub why: Option<String>,
    /// Cost per 1000 tokens, when measured (budget-aware selectors predict it).
    pub cost: Option<f64>,
    /// The objective's raw figure per stored repetition (measurement noise), when stored.
    pub reps: Vec<f64>,
    /// The cell ran but its measured quality misses the accuracy floor in force, or the
    /// default floor when none is ([`Constraints::below_floor`]): what `evaluate` counts as a
    /// quality-floor violation when it is picked.
    pub below_floor: bool,
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
    /// The machine class the task was measured on.
    pub machine: String,
    /// The grid the task's cells came from (for `--train` / `--test`).
    pub grid: String,
    /// A fold given with the tasks (an ASlib scenario's `cv.arff`), 0-based.
    pub fold: Option<usize>,
    /// Features beyond [`TaskFeatures`] (an imported scenario's, or descriptors the
    /// frozen selectors never read), with names in [`TaskTable::extra_names`].
    pub extra: Vec<f64>,
}

impl Default for Task {
    fn default() -> Self {
        Task {
            id: String::new(),
            model: String::new(),
            workload: String::new(),
            hardware: String::new(),
            features: TaskFeatures::filled(f64::NAN),
            embedding: None,
            description: String::new(),
            machine: String::new(),
            grid: String::new(),
            fold: None,
            extra: vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskTable {
    pub objective: Objective,
    /// How an infeasible pick is scored.
    pub infeasible: Infeasible,
    /// Names of [`Task::extra`].
    pub extra_names: Vec<String>,
    /// Whether the extras are the tasks' features for every learner (an imported
    /// scenario's); otherwise only selectors that ask for them by name read them.
    pub extra_in_x: bool,
    /// Cells judged invalid and therefore not used: (task, arm, reason).
    pub invalid: Vec<(String, String, String)>,
    pub arms: Vec<Arm>,
    pub tasks: Vec<Task>,
    /// `[task][arm]`: `None` where the arm was not run for the task (not a candidate).
    pub outcomes: Vec<Vec<Option<Outcome>>>,
    /// Tasks left out, with the reason.
    pub left_out: Vec<(String, String)>,
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

/// The raw figure of each stored repetition, for objectives stored per repetition.
fn reps_of(rec: &CellRecord, objective: Objective) -> Vec<f64> {
    let metric = match objective {
        Objective::Latency => "latency_ms",
        Objective::Ttft => "ttft_ms",
        _ => return vec![],
    };
    rec.samples
        .iter()
        .find(|s| s.metric == metric)
        .map(|s| s.values.iter().copied().filter(|v| v.is_finite() && *v > 0.0).collect())
        .unwrap_or_default()
}

impl TaskTable {
    fn empty(objective: Objective, arms: Vec<Arm>) -> TaskTable {
        TaskTable {
            objective,
            infeasible: Infeasible::default(),
            extra_names: vec![],
            extra_in_x: false,
            invalid: vec![],
            arms,
            tasks: vec![],
            outcomes: vec![],
            left_out: vec![],
        }
    }

    /// Builds the table from grouped cells; `describe` gives each task's descriptor
    /// (features and text) from its representative cell. The invalid cells the grouping
    /// set aside are counted in [`TaskTable::invalid`].
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
        let mut table = TaskTable::empty(objective, arms);
        table.extra_names = super::features::EXTRA_NAMES.iter().map(|s| s.to_string()).collect();
        for (key, why) in &groups.unreadable {
            table.left_out.push((format!("cell {key}"), why.clone()));
        }
        table.invalid = groups.invalid.clone();
        for (id, (_, rep, cells)) in &groups.tasks {
            let mut raw_rows = vec![None; table.arms.len()];
            for (arm, rec) in cells {
                let a = table.arms.binary_search(arm).expect("arm collected above");
                let (raw, why) = outcome_of(rec, objective, constraints);
                let cost = rec.summary.as_ref().map(|s| s.cost_per_1k_tokens).filter(|c| c.is_finite());
                raw_rows[a] = Some((raw, why, cost, reps_of(rec, objective), constraints.below_floor(rec)));
            }
            let Some(desc) = describe(rep) else {
                table.left_out.push((id.clone(), "its config could not be described".into()));
                continue;
            };
            let outcomes = match outcomes(objective, raw_rows, table.infeasible) {
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
                machine: rep.machine().tag(),
                grid: rep.grid.clone(),
                fold: None,
                extra: desc.extra(),
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
        let mut table = TaskTable::empty(objective, arms);
        for (task, row) in tasks.into_iter().zip(perf) {
            let raw_rows = row
                .into_iter()
                .map(|c| {
                    c.map(|p| {
                        let raw = p.map(|p| objective.raw_from_performance(p));
                        (raw, p.is_none().then(|| "infeasible".to_string()), None, vec![], false)
                    })
                })
                .collect();
            match outcomes(objective, raw_rows, table.infeasible) {
                Ok(o) => {
                    table.tasks.push(task);
                    table.outcomes.push(o);
                }
                Err(why) => table.left_out.push((task.id.clone(), why)),
            }
        }
        table
    }

    /// The same table with infeasible picks scored by `rule`.
    pub fn with_infeasible(mut self, rule: Infeasible) -> TaskTable {
        self.infeasible = rule;
        for row in &mut self.outcomes {
            let worst = worst_feasible(row);
            for o in row.iter_mut().flatten().filter(|o| !o.feasible) {
                o.perf = rule.perf(worst);
            }
        }
        self
    }

    /// Only the tasks `keep` (indices, in order).
    pub fn subset(&self, keep: &[usize]) -> TaskTable {
        let mut t = self.clone();
        t.tasks = keep.iter().map(|&i| self.tasks[i].clone()).collect();
        t.outcomes = keep.iter().map(|&i| self.outcomes[i].clone()).collect();
        t
    }

    /// Only the arms `keep` (indices, in order); tasks left with no feasible arm are left out.
    pub fn restrict_arms(&self, keep: &[usize]) -> TaskTable {
        let mut t = TaskTable { arms: keep.iter().map(|&a| self.arms[a].clone()).collect(), ..self.clone() };
        t.tasks.clear();
        t.outcomes.clear();
        for (task, row) in self.tasks.iter().zip(&self.outcomes) {
            let row: Vec<Option<Outcome>> = keep.iter().map(|&a| row[a].clone()).collect();
            if row.iter().flatten().any(|o| o.feasible) {
                t.tasks.push(task.clone());
                t.outcomes.push(row);
            } else {
                t.left_out.push((task.id.clone(), "no feasible arm among the arms evaluated".into()));
            }
        }
        t.with_infeasible(self.infeasible)
    }

    /// Arms run for task `t`: the candidates a selector chooses among.
    pub fn candidates(&self, t: usize) -> Vec<usize> {
        (0..self.arms.len()).filter(|&a| self.outcomes[t][a].is_some()).collect()
    }

    /// Performance of arm `a` on task `t` as the metrics read it.
    pub fn perf(&self, t: usize, a: usize) -> Option<f64> {
        self.outcomes[t][a].as_ref().map(|o| o.perf)
    }

    /// Whether arm `a` ran on task `t` and was feasible there.
    pub fn feasible(&self, t: usize, a: usize) -> bool {
        self.outcomes[t][a].as_ref().is_some_and(|o| o.feasible)
    }

    /// The best (oracle) performance of task `t`: its best feasible arm's.
    pub fn best(&self, t: usize) -> f64 {
        self.outcomes[t].iter().flatten().filter(|o| o.feasible).map(|o| o.perf).fold(f64::NEG_INFINITY, f64::max)
    }

    /// The oracle's arm of task `t` (first of equals).
    pub fn oracle_arm(&self, t: usize) -> usize {
        let best = self.best(t);
        self.candidates(t)
            .into_iter()
            .find(|&a| self.feasible(t, a) && self.perf(t, a) == Some(best))
            .expect("a task has a feasible arm")
    }

    /// ln(perf / best) ≤ 0 of a feasible arm, the task's oracle at 0; `None` for an arm
    /// not run or infeasible. Normalising per task makes the target a ranking quantity:
    /// it removes the task's overall speed, which says nothing about which arm to pick.
    pub fn target(&self, t: usize, a: usize) -> Option<f64> {
        let best = self.best(t);
        self.outcomes[t][a].as_ref().filter(|o| o.feasible).map(|o| (o.perf.max(best * 1e-9) / best).ln())
    }

    /// The target the selectors of `selectors-frozen-1` were built on: as [`Self::target`],
    /// with an infeasible arm at [`LEGACY_INFEASIBLE_FACTOR`] × the worst feasible arm.
    pub fn legacy_target(&self, t: usize, a: usize) -> Option<f64> {
        let o = self.outcomes[t][a].as_ref()?;
        if o.feasible {
            return self.target(t, a);
        }
        let worst = worst_feasible(&self.outcomes[t]);
        Some((LEGACY_INFEASIBLE_FACTOR * worst / self.best(t)).max(1e-9).ln())
    }

    /// Distinct values of a task attribute, for grouped cross-validation.
    pub fn groups(&self, key: impl Fn(&Task) -> &str) -> Vec<String> {
        self.tasks.iter().map(|t| key(t).to_string()).collect::<BTreeSet<_>>().into_iter().collect()
    }
}

fn worst_feasible(row: &[Option<Outcome>]) -> f64 {
    row.iter().flatten().filter(|o| o.feasible).map(|o| o.perf).fold(f64::INFINITY, f64::min)
}

type RawRow = Vec<Option<(Option<f64>, Option<String>, Option<f64>, Vec<f64>, bool)>>;

/// Raw figures to outcomes, infeasible arms scored by `rule`; an error (the reason
/// the task is left out) when no arm is feasible or none performs at all (zero goodput
/// everywhere).
fn outcomes(objective: Objective, row: RawRow, rule: Infeasible) -> Result<Vec<Option<Outcome>>, String> {
    let perf = |raw: Option<f64>| raw.and_then(|r| objective.performance(r));
    let feasible: Vec<f64> =
        row.iter().flatten().filter(|(_, why, ..)| why.is_none()).filter_map(|(raw, ..)| perf(*raw)).collect();
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
            c.map(|(raw, why, cost, reps, below_floor)| {
                let feasible = why.is_none();
                let p = if feasible { perf(raw).unwrap_or(0.0) } else { rule.perf(worst) };
                Outcome { raw, perf: p, feasible, why, cost, reps, below_floor }
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
            ..Default::default()
        }
    }

    #[test]
    fn infeasible_rule_syntax() {
        assert_eq!(Infeasible::parse("zero"), Ok(Infeasible::Zero));
        assert_eq!(Infeasible::parse("worst"), Ok(Infeasible::Worst));
        assert_eq!(Infeasible::parse("factor:0.25"), Ok(Infeasible::Factor(0.25)));
        for bad in ["half", "factor:2", "factor:", "factor:x"] {
            assert!(Infeasible::parse(bad).unwrap_err().contains("expected `zero`"), "{bad}");
        }
    }

    #[test]
    fn infeasible_arms_stay_candidates_scored_by_the_rule() {
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
        assert_eq!(t.perf(0, 2), Some(0.0), "by default an infeasible pick delivers nothing");
        assert!(!t.outcomes[0][2].as_ref().unwrap().feasible);
        assert_eq!(t.oracle_arm(0), 0);
        assert_eq!(t.target(0, 0), Some(0.0));
        assert!((t.target(0, 1).unwrap() - (0.4f64).ln()).abs() < 1e-12);
        assert_eq!(t.target(0, 2), None, "learners do not see a penalised timing");
        assert!((t.legacy_target(0, 2).unwrap() - (0.2f64).ln()).abs() < 1e-12, "half the worst (4) of 10");
        let worst = t.clone().with_infeasible(Infeasible::Worst);
        assert_eq!(worst.perf(0, 2), Some(4.0));
        assert_eq!(t.with_infeasible(Infeasible::Factor(0.5)).perf(0, 2), Some(2.0));
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
