//! The command line: clap types ([`cli`]) and one handler per command ([`commands`]; `harness hardware` in [`hardware`]).

pub mod active_run;
pub mod aslib;
pub mod cli;
pub mod commands;
pub mod hardware;
pub mod replay;
