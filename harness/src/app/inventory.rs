//! `harness inventory DIR [--update FILE]`: the table of a folder of stores (per file and grid: machine class,
//! engines, when, how many cells ended how), printed or spliced into a README between its markers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use harness::report::inventory;
use harness::BadInput;

#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Folder of stores (every `*.db` in it), e.g. results/reference.
    pub dir: PathBuf,
    /// Write the table into this Markdown file, between its inventory markers, instead of printing it.
    #[arg(long, value_name = "FILE")]
    pub update: Option<PathBuf>,
}

pub fn run(a: InventoryArgs) -> Result<ExitCode> {
    let table = inventory::markdown(&a.dir)?;
    let Some(path) = a.update else {
        print!("{table}");
        return Ok(ExitCode::SUCCESS);
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let new = inventory::splice(&text, &table).ok_or_else(|| {
        BadInput(format!(
            "{}: no inventory markers; put the lines\n{}\n{}\nwhere the table goes",
            path.display(),
            inventory::BEGIN,
            inventory::END
        ))
    })?;
    if new != text {
        std::fs::write(&path, &new).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("{}: inventory updated", path.display());
    } else {
        eprintln!("{}: inventory already current", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
