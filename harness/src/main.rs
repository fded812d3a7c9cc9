use std::process::ExitCode;

use clap::Parser;
use harness::cli::{Cli, Cmd};
use harness::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run(a) => commands::run(a),
        Cmd::Export(a) => commands::export(a),
        Cmd::Techniques => commands::techniques(),
        Cmd::BenchEngine(a) => harness::bench_engine::run(a),
        Cmd::Report(a) => harness::report::run(a),
        Cmd::Evaluate(a) => harness::meta::cli::evaluate(a),
        Cmd::Recommend(a) => harness::meta::cli::recommend(a),
        Cmd::Worker => harness::execute::worker::main().map(|_| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
