use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

mod app;

use app::cli::Cli;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    // `recommend` reads the committed stores unless --store is given on the command line.
    let explicit_store = matches
        .subcommand_matches("recommend")
        .and_then(|m| m.value_source("store"))
        .is_some_and(|s| s == clap::parser::ValueSource::CommandLine);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let result = cli.command.run(explicit_store);
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(app::cli::exit_code(&e))
        }
    }
}
