//! `harness report`: every figure and table from the store.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use harness::report::{self, Formats, ReportOptions};

use super::cli::StoreArg;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Folder for index.html, report.md and figures/ (created if absent; stale images in figures/ are removed).
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Image format of the figures (the page shows SVG when written, else PNG).
    #[arg(long, value_enum, default_value_t = ReportFormat::Both)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Svg,
    Png,
    Both,
}

pub fn run(a: ReportArgs) -> Result<ExitCode> {
    let formats = match a.format {
        ReportFormat::Svg => Formats { svg: true, png: false },
        ReportFormat::Png => Formats { svg: false, png: true },
        ReportFormat::Both => Formats { svg: true, png: true },
    };
    report::run(&ReportOptions { store: a.store.store, out: a.out, formats })
}
