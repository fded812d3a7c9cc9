//! `harness replay --active GRID`: an active sweep replayed on a fully measured store.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use harness::meta::active::{self, Policy};
use harness::meta::selectors;
use harness::BadInput;

use super::evaluate::tasks_of_grids;
use super::task_table::{load_table, TaskTableArgs};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub table: TaskTableArgs,
    /// Replay the active policy (and, beside it, the random order).
    #[arg(long)]
    pub active: bool,
    /// The grid whose tasks are swept (grid file or stored grid name); the store's other tasks are the prior.
    pub grid: String,
    /// The selector that recommends and predicts (it must predict performance).
    #[arg(long, default_value = "random-forest")]
    pub selector: String,
    /// Seed of the random order and of the learner.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: ReplayArgs) -> Result<ExitCode> {
    if !a.active {
        return Err(BadInput("harness replay needs a policy to replay: pass --active".into()).into());
    }
    let sel = selectors::by_name(&a.selector)?;
    if sel.needs_truth() {
        return Err(
            BadInput(format!("selector `{}` reads the outcome it predicts; choose a learner", a.selector)).into()
        );
    }
    let (_store, loaded) = load_table(&a.table, false, None)?;
    let table = &loaded.table;
    let tasks = tasks_of_grids(table, std::slice::from_ref(&a.grid), "GRID")?;
    let r = active::replay(table, &tasks, sel.as_ref(), a.seed)?;
    let cells: usize = tasks.iter().map(|&t| table.candidates(t).len()).sum();
    println!(
        "{} tasks of `{}` ({} cells) swept one cell at a time, {} predicting from the store's other {} tasks \
         (ensemble of {} bootstrap fits); recommendation scored against the full grid's best (tie tolerance 2%)",
        r.tasks,
        a.grid,
        cells,
        a.selector,
        table.tasks.len() - tasks.len(),
        active::ENSEMBLE
    );
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header(["cells measured", "active top-1", "active regret", "random top-1", "random regret", "active curve"]);
    let curve = |p: Policy| &r.curves.iter().find(|(x, _)| *x == p).expect("both policies").1;
    let (ac, rc) = (curve(Policy::Active), curve(Policy::Random));
    for (i, s) in r.shares.iter().enumerate() {
        if i % 2 == 1 && i + 1 != r.shares.len() {
            continue;
        }
        let bar = "#".repeat((ac[i].0 * 30.0).round() as usize);
        t.add_row([
            format!("{:.0}%", s * 100.0),
            format!("{:.3}", ac[i].0),
            format!("{:.1}%", ac[i].1 * 100.0),
            format!("{:.3}", rc[i].0),
            format!("{:.1}%", rc[i].1 * 100.0),
            bar,
        ]);
    }
    println!("{t}");
    for p in [Policy::Active, Policy::Random] {
        let reach = r.share_to_reach(p, 0.95);
        let (sh, t1, rg) = r.stopped.iter().find(|(x, _)| *x == p).expect("both").1;
        println!(
            "{}: 95% of the full grid's top-1 (1.000) reached after {} of the cells; stopping once the \
             recommendation is unchanged for {} measurements: {:.0}% of the cells measured, top-1 {:.3}, regret {:.1}%",
            p.as_str(),
            reach.map_or("never (not before all)".into(), |s| format!("{:.0}%", s * 100.0)),
            active::STABLE_STEPS,
            sh * 100.0,
            t1,
            rg * 100.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
