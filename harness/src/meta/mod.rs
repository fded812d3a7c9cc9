//! Learn from the store which technique to use for a task never run, and prove it
//! with honest cross-validation (`harness evaluate`, `harness recommend`).
//!
//! Stages: [`load`] reads the cells, grouped by [`grouping`], into a [`tasks::TaskTable`] (task = model ×
//! workload × hardware; arm = technique @ threads; one [`objective::Objective`],
//! [`objective::Constraints`] making arms infeasible) with [`features`] and optional
//! [`embeddings`] per task; [`cv`] splits it into folds without leakage; each
//! selector of the [`selectors::registry`] (one file each under [`selectors`], built
//! from the shared parts in [`learn`]) is fitted per fold; [`metrics`] scores the picks with bootstrap CIs; [`evaluate`]
//! ties it together into a [`crate::store::EvaluationRecord`]; [`recommend`] answers
//! for a new task; the command line is in the binary.

pub mod active;
pub mod aslib;
pub mod cv;
pub mod embeddings;
pub mod evaluate;
pub mod features;
pub mod freeze;
pub mod grouping;
pub mod learn;
pub mod load;
pub mod machine;
pub mod metrics;
pub mod noise;
pub mod objective;
pub mod output;
pub mod quality;
pub mod recommend;
pub mod selectors;
pub mod tasks;
