//! The command line: clap types ([`cli`]) and one handler per command ([`commands`]; `harness hardware` in [`hardware`]).

pub mod aslib;
pub mod cli;
pub mod commands;
pub mod hardware;
pub mod replay;
