//! `harness node`: serve a layer range of a model to a coordinator (one node of a cluster).

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Address to listen on (port 0: any free port, printed on the first line).
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Serve one coordinator, then exit (how `harness run` starts emulated nodes).
    #[arg(long)]
    pub once: bool,
}

pub fn run(a: NodeArgs) -> Result<ExitCode> {
    harness::distributed::node::serve(&a.listen, a.once).map(|_| ExitCode::SUCCESS)
}
