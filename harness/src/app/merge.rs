//! `harness merge OUT INPUTS…`: stores merged by cell identity.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use harness::store::{self, merge};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The store to merge into (created if absent).
    pub out: PathBuf,
    /// Stores to merge from.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

pub fn run(a: MergeArgs) -> Result<ExitCode> {
    let out = store::open(&a.out)?;
    let inputs: Vec<&std::path::Path> = a.inputs.iter().map(|p| p.as_path()).collect();
    let counts = merge::merge(out.as_ref(), &inputs)?;
    for c in &counts {
        println!("{}: {} added, {} replaced by newer, {} already there", c.source, c.added, c.replaced, c.unchanged);
    }
    let total = out.keys()?.len();
    println!("{}: {total} cells", out.location());
    Ok(ExitCode::SUCCESS)
}
