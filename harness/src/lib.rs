//! `harness`: measure which inference acceleration fits a model, a workload
//! and a node; learn from the measurements; predict for unseen tasks.
//!
//! Data flows one way, and the imports say so:
//! [`config`] (grid files → typed cells; [`techniques`] parse into plans, [`engines`]
//! are named) → [`execute`] (plan cells with their [`record::CellIdentity`], run each in
//! a worker that drives an engine over [`models`], [`workloads`] and [`serving`], timed by
//! [`measure`]) → [`store`] (cells as [`record`] types) → [`meta`] (learn and evaluate
//! selectors from the store alone) and [`report`] / [`export`] (figures, tables, files from
//! the store alone). [`sweep`] alternates measuring and learning (the active sweep).
//! [`hardware`] fingerprints the machine. The command line lives in the
//! binary (`src/app/`); nothing here parses arguments.

pub mod bench_engine;
pub mod config;
pub mod distributed;
pub mod engines;
pub mod error;
pub mod execute;
pub mod export;
pub mod hardware;
pub mod measure;
// The files of the frozen selectors (selectors/FROZEN.yaml hashes them byte for byte) keep their bytes until
// they are re-issued under new names, so the few doc links there that do not resolve are allowed here, not
// fixed there; everything else is documented under `-D warnings` (.ci/run).
#[allow(rustdoc::broken_intra_doc_links, rustdoc::private_intra_doc_links)]
pub mod meta;
pub mod models;
pub mod record;
pub mod report;
pub mod require;
pub mod serving;
pub mod store;
pub mod sweep;
pub mod techniques;
pub mod workloads;

pub use error::BadInput;
