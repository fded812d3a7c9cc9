//! `harness`: measure which inference acceleration fits a model, a workload
//! and a node; learn from the measurements; predict for unseen tasks.
//!
//! Data flows one way: [`config`] → [`execute::plan`] → [`execute`] →
//! [`store`] → (learn, report).

pub mod bench_engine;
pub mod cli;
pub mod commands;
pub mod config;
pub mod execute;
pub mod export;
pub mod hardware;
pub mod measure;
pub mod meta;
pub mod models;
pub mod report;
pub mod serving;
pub mod store;
pub mod techniques;
pub mod workloads;
