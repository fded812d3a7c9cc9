//! `harness aslib import|export`: ASlib scenarios in and out.

use std::process::ExitCode;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use harness::meta::aslib;

use super::task_table::{load_table, TaskTableArgs};

#[derive(Debug, Args)]
pub struct AslibArgs {
    #[command(subcommand)]
    pub command: AslibCmd,
}

#[derive(Debug, Subcommand)]
pub enum AslibCmd {
    /// Read an ASlib runtime scenario directory into a task table (JSON).
    Import {
        /// The scenario directory (description.txt, algorithm_runs.arff, feature_values.arff, cv.arff).
        dir: PathBuf,
        /// Where to write the task table.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the store's task table as an ASlib scenario directory.
    Export {
        #[command(flatten)]
        table: TaskTableArgs,
        /// The scenario directory to write.
        #[arg(long)]
        out: PathBuf,
        /// Folds of cv.arff (over model x workload groups).
        #[arg(long, default_value_t = 10)]
        folds: usize,
    },
}

pub fn run(a: AslibArgs) -> Result<ExitCode> {
    match a.command {
        AslibCmd::Import { dir, out } => {
            let s = aslib::import(&dir)?;
            aslib::write(&s, &out)?;
            let (sbs, sbs_v, vbs) = s.sbs_vbs();
            let folds = s.instances.iter().map(|i| i.fold).max().map_or(0, |f| f + 1);
            println!(
                "{}: {} instances x {} algorithms, {} features, {folds} folds, cutoff {} s; single best {sbs} \
                 (PAR10 {sbs_v:.1} s), virtual best PAR10 {vbs:.1} s",
                s.scenario,
                s.instances.len(),
                s.algorithms.len(),
                s.feature_names.len(),
                s.cutoff
            );
            println!(
                "written to {}; evaluate with `harness evaluate --tasks {} --cv given`",
                out.display(),
                out.display()
            );
        }
        AslibCmd::Export { table, out, folds } => {
            let (_store, loaded) = load_table(&table, false, None)?;
            aslib::export(&loaded.table, &out, folds)?;
            println!(
                "{} tasks x {} arms written as an ASlib scenario to {}",
                loaded.table.tasks.len(),
                loaded.table.arms.len(),
                out.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
