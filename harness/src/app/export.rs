//! `harness export`: the stored cells as CSV or JSON, through the exporters' registry.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use harness::store;
use harness::BadInput;

use super::cli::StoreArg;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Output format (the exporters of the registry).
    #[arg(long, default_value = "csv", value_parser = formats())]
    pub format: String,
    /// Output file [default: standard output].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    // clap has checked the name against the registry.
    let exporter = harness::export::exporter(&a.format)
        .ok_or_else(|| BadInput(format!("unknown export format `{}`", a.format)))?;
    let store = store::open_read_only(&a.store.store)?;
    let recs = store.all()?;
    match a.out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
            );
            exporter.write(&recs, &mut f)?;
            eprintln!("wrote {} cells to {}", recs.len(), path.display());
        }
        None => exporter.write(&recs, &mut std::io::stdout().lock())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The exporters' names, from the registry: clap refuses any other (exit 2, listing these).
fn formats() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(harness::export::exporters().iter().map(|e| e.name()).collect::<Vec<_>>())
}
