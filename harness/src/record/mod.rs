//! The data model every stage shares: what a cell is (its identity and content key),
//! what it leaves behind (status, summary, samples, fingerprint), how evaluate and
//! report group cells (task, arm), and what an evaluation found. No storage code here:
//! the store, the exporters, the learners and the report all read these types.

pub mod accuracy;
pub mod cell;
pub mod columns;
pub mod evaluation;
pub mod fingerprint;
pub mod identity;
pub mod task;
pub mod time;

pub use cell::*;
pub use evaluation::{EvaluationRecord, MetricCi, SelectorResult, TaskPick};
pub use fingerprint::{Fingerprint, MachineClass};
pub use identity::{engine_version_of, CellIdentity};
pub use task::{Arm, TaskId};
