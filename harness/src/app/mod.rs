//! The command line: clap types ([`cli`]) and one handler per command ([`commands`]).

pub mod cli;
pub mod commands;
