use std::process::ExitCode;

use clap::Parser;

mod app;

use app::cli::{Cli, Cmd};
use app::commands;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run(a) => commands::run(a),
        Cmd::Export(a) => commands::export(a),
        Cmd::Techniques => commands::techniques(),
        Cmd::BenchEngine(a) => commands::bench_engine(a),
        Cmd::Report(a) => commands::report(a),
        Cmd::Evaluate(a) => app::evaluate::evaluate(a),
        Cmd::Recommend(a) => commands::recommend(a),
        Cmd::Merge(a) => commands::merge(a),
        Cmd::Roofline(a) => commands::roofline(a),
        Cmd::Hardware(a) => app::hardware::hardware(a),
        Cmd::Compare(a) => commands::compare(a),
        Cmd::Node(a) => commands::node(a),
        Cmd::Aslib(a) => app::aslib::aslib(a),
        Cmd::Replay(a) => app::replay::replay(a),
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
