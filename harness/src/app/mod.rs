//! The command line: [`cli`] lists the commands; each command is one file here with its clap `Args` and its
//! `run` (the options they share: [`cli::StoreArg`], and [`task_table`] for the commands that learn).
//! Domain logic lives in the library; these files only turn options into its option structs and print.

pub mod aslib;
pub mod bench_engine;
pub mod check;
pub mod cli;
pub mod compare;
pub mod evaluate;
pub mod export;
pub mod freeze;
pub mod hardware;
pub mod inventory;
pub mod list;
pub mod merge;
pub mod node;
pub mod recommend;
pub mod replay;
pub mod report;
pub mod roofline;
pub mod run;
pub mod slurm;
pub mod task_table;
pub mod worker;
