//! The integration tests, one binary: each file below was a test binary of its own, and each of those linked the
//! whole harness with llama.cpp (27 links of the same library). Modules share `common` (models, the harness
//! binary, the resource rule of `harness/src/require.rs`) and `report_fixture`.
//!
//! Run one file's tests with a filter: `cargo test --release --test it -- cli_run::`.
//! Process-wide state is off limits here: a test that needs another environment runs the harness binary, or
//! itself (`common::in_child`), as a child process with that environment, never `std::env::set_var` on a setting
//! another test reads. A test that needs the machine idle holds it alone (`common::alone`).

mod common;
mod report_fixture;

mod architectures;
mod busy_machine;
mod cgroup;
mod cli_evaluate;
mod cli_identity;
mod cli_run;
mod cli_serving;
mod cluster;
mod compare;
mod compression;
mod distributed;
#[cfg(feature = "llamacpp")]
mod engine_agreement;
mod engine_mock;
mod exact_techniques;
mod forward_reference;
mod inventory;
mod layer_skip;
mod list;
mod meta_planted;
mod meta_protocol;
mod module_graph;
mod pruning;
mod reference;
mod report;
mod report_browser;
mod require;
mod roofline;
mod serving_equivalence;
mod technique_names;
mod vocabulary;
