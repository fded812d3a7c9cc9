//! `harness list techniques|engines|selectors|figures|formats`: every registry, read from the registries
//! themselves (nothing listed here by hand).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};
use harness::techniques::Family;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Which registry to print.
    #[arg(value_enum)]
    pub what: ListWhat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListWhat {
    /// The acceleration techniques a grid may name (`axes: technique`).
    Techniques,
    /// The inference engines a grid may name (`axes: engine`), with their versions and capabilities.
    Engines,
    /// The technique selectors `evaluate` and `recommend` know (`--selectors`, `--selector`).
    Selectors,
    /// The figures `harness report` draws, with the data each needs.
    Figures,
    /// The weight formats the techniques load a model in.
    Formats,
}

pub fn run(a: ListArgs) -> Result<ExitCode> {
    match a.what {
        ListWhat::Techniques => {
            for (t, name) in harness::techniques::registry().iter().zip(harness::techniques::known_names()) {
                println!("{name:20} {:?}: {}", t.family(), t.describe());
                if let Some(p) = t.parameter() {
                    println!("{:20} parameter {p}", "");
                }
            }
            println!("\nCombine with `+`, e.g. `q4k+kv-off`; give a parameter after `:`, e.g. `layer-skip:2`.");
        }
        ListWhat::Engines => {
            for name in harness::engines::names() {
                let e = harness::engines::by_name(name).expect("a listed engine exists");
                println!("{name:12} {:32} {:?}", e.version(), e.capabilities());
            }
        }
        ListWhat::Selectors => {
            for s in harness::meta::selectors::registry() {
                println!("{:20} {:10} {}", s.name(), format!("{:?}", s.family()), s.describe());
            }
        }
        ListWhat::Figures => {
            for f in harness::report::figures() {
                let (needs, how) = f.needs();
                println!("{:18} {} (absent when: {needs}; {how})", f.name(), f.title());
            }
        }
        ListWhat::Formats => {
            let default = harness::techniques::ExecutionPlan::default();
            for (t, name) in harness::techniques::registry().iter().zip(harness::techniques::known_names()) {
                if t.parameter().is_some() {
                    continue;
                }
                let mut plan = default.clone();
                let weights = matches!(t.family(), Family::Precision | Family::Quantization);
                if weights && t.apply(None, &mut plan).is_ok() {
                    println!("{:8} technique `{name}` ({:?})", plan.weights.name(), t.family());
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
