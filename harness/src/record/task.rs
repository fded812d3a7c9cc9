//! What `evaluate` and `report` group cells by: the task (model × workload × node ×
//! machine) and the arm (technique @ threads on an engine). Defined once, here.

use std::fmt;

use serde::Serialize;

use super::fingerprint::MachineClass;
use super::identity::{NodeShape, WorkloadShape};
use super::CellRecord;
use crate::config::CellConfig;
use crate::engines::DEFAULT_ENGINE;
use crate::techniques::TechniqueName;

/// A task: one model on one workload on one node of one machine class. Two tasks are
/// the same exactly when their shapes are, whatever the grids called them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// `model / workload / hardware` as the grid named them (made unique by [`TaskId::display_names`]).
    pub model: String,
    pub workload: String,
    pub hardware: String,
    /// Hash of the model spec and digest, the workload shape and the node shape.
    pub shape: String,
    pub machine: MachineClass,
}

impl TaskId {
    /// The task of a stored cell; an error when its config cannot be read.
    pub fn of(rec: &CellRecord) -> Result<TaskId, serde_json::Error> {
        let cfg: CellConfig = serde_json::from_str(&rec.config_json)?;
        Ok(TaskId::from_config(&cfg, &rec.model_digest, &rec.machine()))
    }

    pub fn from_config(cfg: &CellConfig, model_digest: &str, machine: &MachineClass) -> TaskId {
        #[derive(Serialize)]
        struct Shape<'a> {
            model: &'a crate::models::ModelSpec,
            digest: &'a str,
            workload: WorkloadShape<'a>,
            node: NodeShape<'a>,
        }
        let shape = Shape {
            model: &cfg.model_spec,
            digest: model_digest,
            workload: WorkloadShape::of(&cfg.workload_spec),
            node: NodeShape::of(&cfg.hardware_spec),
        };
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(serde_json::to_vec(&shape).expect("a task shape serializes"));
        TaskId {
            model: cfg.model.clone(),
            workload: cfg.workload.clone(),
            hardware: cfg.hardware.clone(),
            shape: hex::encode(&h[..8]),
            machine: machine.clone(),
        }
    }

    /// `model / workload / hardware`: the plain name.
    pub fn name(&self) -> String {
        task_name(&self.model, &self.workload, &self.hardware)
    }
}

/// `model / workload / hardware`: how a task is named everywhere (the one place it is formatted).
pub fn task_name(model: &str, workload: &str, hardware: &str) -> String {
    format!("{model} / {workload} / {hardware}")
}

/// `model / workload`: a task's kind, the same task on any node.
pub fn task_kind_name(model: &str, workload: &str) -> String {
    format!("{model} / {workload}")
}

/// How a task is shown: its names, made unique where names alone would merge tasks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskName {
    pub model: String,
    pub workload: String,
    pub hardware: String,
}

impl TaskName {
    /// `model / workload / hardware`.
    pub fn name(&self) -> String {
        task_name(&self.model, &self.workload, &self.hardware)
    }
}

impl TaskId {
    /// Display names for distinct tasks (each given with the grid that stored it first):
    /// the grid's names, with the hardware made `name@<machine>` when cells of several
    /// machine classes are present, and the workload made `name@grid` when one name
    /// still stands for several tasks.
    pub fn display_names<'a>(ids: impl Iterator<Item = (&'a TaskId, &'a str)>) -> Vec<TaskName> {
        let ids: Vec<(&TaskId, &str)> = ids.collect();
        let machines: std::collections::BTreeSet<&MachineClass> = ids.iter().map(|(id, _)| &id.machine).collect();
        let names: Vec<TaskName> = ids
            .iter()
            .map(|(id, _)| TaskName {
                model: id.model.clone(),
                workload: id.workload.clone(),
                hardware: if machines.len() > 1 {
                    format!("{}@{}", id.hardware, id.machine.tag())
                } else {
                    id.hardware.clone()
                },
            })
            .collect();
        let mut count: std::collections::BTreeMap<&TaskName, usize> = Default::default();
        for n in &names {
            *count.entry(n).or_default() += 1;
        }
        let clash: Vec<bool> = names.iter().map(|n| count[n] > 1).collect();
        names
            .into_iter()
            .zip(clash)
            .zip(&ids)
            .map(|((mut n, clash), (_, grid))| {
                if clash {
                    n.workload = format!("{}@{grid}", n.workload);
                }
                n
            })
            .collect()
    }
}

/// A selectable arm: a technique expression at a thread count, on an engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arm {
    pub technique: TechniqueName,
    pub threads: usize,
    pub engine: String,
}

impl Arm {
    pub fn new(technique: TechniqueName, threads: usize) -> Arm {
        Arm { technique, threads, engine: DEFAULT_ENGINE.to_string() }
    }

    /// The arm of a stored cell.
    pub fn of(rec: &CellRecord) -> Arm {
        Arm { technique: TechniqueName::from_stored(&rec.technique), threads: rec.threads, engine: rec.engine.clone() }
    }

    /// `q4k @2t`, with the engine when it is not the default: `q4k @2t on llamacpp`.
    pub fn name(&self) -> String {
        self.label(true, self.engine != DEFAULT_ENGINE)
    }

    /// The arm's name with the thread count and the engine each shown or left out, for
    /// pages where every arm shares one of them: `q4k`, `q4k @2t`, `q4k on llamacpp`.
    pub fn label(&self, threads: bool, engine: bool) -> String {
        let mut s = self.technique.to_string();
        if threads {
            s.push_str(&format!(" @{}t", self.threads));
        }
        if engine {
            s.push_str(&format!(" on {}", self.engine));
        }
        s
    }

    /// The arm without its technique, `@2t on candle`: what pairs across techniques share.
    pub fn setting_label(&self) -> String {
        format!("@{}t on {}", self.threads, self.engine)
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
