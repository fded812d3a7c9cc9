//! The command line: clap types ([`cli`]) and one handler per command ([`commands`]; `harness evaluate` in
//! [`evaluate`], `harness hardware` in [`hardware`], `harness recommend` in [`recommend`], `harness aslib` in [`aslib`], `harness replay` in [`replay`], `harness freeze` in [`freeze`], `harness list` in [`list`],
//! `harness run --active` in [`active_run`]).

pub mod active_run;
pub mod aslib;
pub mod cli;
pub mod commands;
pub mod evaluate;
pub mod freeze;
pub mod hardware;
pub mod list;
pub mod recommend;
pub mod replay;
pub mod slurm;
