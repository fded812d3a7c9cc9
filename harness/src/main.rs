use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

mod app;

use app::cli::{Cli, Cmd};
use app::commands;

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
    let result = match cli.command {
        Cmd::Run(a) => commands::run(a),
        Cmd::Export(a) => commands::export(a),
        Cmd::Techniques => app::list::run(app::list::ListArgs { what: app::list::ListWhat::Techniques }),
        Cmd::List(a) => app::list::run(a),
        Cmd::BenchEngine(a) => commands::bench_engine(a),
        Cmd::Report(a) => commands::report(a),
        Cmd::Evaluate(a) => app::evaluate::evaluate(a),
        Cmd::Recommend(a) => app::recommend::recommend(a, explicit_store),
        Cmd::Merge(a) => commands::merge(a),
        Cmd::Roofline(a) => commands::roofline(a),
        Cmd::Hardware(a) => app::hardware::hardware(a),
        Cmd::Compare(a) => commands::compare(a),
        Cmd::Node(a) => commands::node(a),
        Cmd::Aslib(a) => app::aslib::aslib(a),
        Cmd::Replay(a) => app::replay::replay(a),
        Cmd::Freeze(a) => app::freeze::freeze(a),
        Cmd::Slurm(a) => app::slurm::slurm(a),
        Cmd::Check(a) => app::slurm::check(a),
        Cmd::Worker => commands::worker(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::exit_code(&e))
        }
    }
}
