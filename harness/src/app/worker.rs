//! `harness worker` (hidden): run one cell, the request on stdin and the reply on stdout.

use std::process::ExitCode;

use anyhow::Result;

pub fn run() -> Result<ExitCode> {
    harness::execute::worker::main().map(|_| ExitCode::SUCCESS)
}
