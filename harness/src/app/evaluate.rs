//! `harness evaluate`: cross-validated or frozen evaluation of the selectors on the store or an imported
//! task table, printed and stored.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use harness::config;
use harness::meta::cv::CvScheme;
use harness::meta::evaluate::{self, Options};
use harness::meta::grouping::GridSplit;
use harness::meta::load::Loaded;
use harness::meta::output;
use harness::meta::selectors;
use harness::meta::tasks::{Infeasible, TaskTable};
use harness::models::hub;
use harness::BadInput;
use serde_json::json;

use super::task_table::{constraints, load_table, GroupByArg, TaskTableArgs};

#[derive(Debug, Args)]
#[command(
    long_about = "Build the task x technique table from the store (task = model x workload x hardware profile; arm = \
                  technique @ threads), cross-validate every selector (leave-one-task-out by default), and print \
                  top-1/top-3 accuracy, regret versus the oracle, gap closed, NDCG@3, Spearman, efficiency gains, \
                  infeasible picks and selection time, each with a bootstrap 95% CI over tasks, plus a paired test \
                  against --baseline. The evaluation is written into the store for `harness report`.\n\n\
                  Arms that failed or break a constraint stay candidates and count at half the performance of the \
                  task's worst feasible arm in every metric."
)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub table: TaskTableArgs,
    /// Selector the paired test compares against.
    #[arg(long, default_value = "random")]
    pub baseline: String,
    /// Selectors to evaluate, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', long_help = selectors_help())]
    pub selectors: Vec<String>,
    /// Cross-validation: `loto` (one task out), `lomo` (one model out), `lomw` (one model x workload out, on
    /// every node at once), `loho` (one node out, scoring task kinds that ran on another node too), `lomach` (one
    /// machine class out), `kfold:K` (K folds over model x workload groups, for large stores), `given` (the folds
    /// an imported ASlib scenario brings).
    #[arg(long, default_value = "loto", value_parser = CvScheme::parse, value_name = "SCHEME")]
    pub cv: CvScheme,
    /// Frozen protocol: fit the selectors on the tasks of these grids only (grid names as stored, or grid files),
    /// comma-separated; needs --test.
    #[arg(long, value_delimiter = ',', value_name = "GRIDS", requires = "test")]
    pub train: Vec<String>,
    /// Frozen protocol: score the fitted selectors once on the tasks of these grids (see --train).
    #[arg(long, value_delimiter = ',', value_name = "GRIDS", requires = "train")]
    pub test: Vec<String>,
    /// With --train/--test: keep test arms that no training task ran (by default they are dropped: no selector
    /// was built for them).
    #[arg(long)]
    pub all_arms: bool,
    /// What picking an infeasible arm (failed, not applicable, over a constraint) delivers: `zero` (nothing,
    /// regret 1), `worst` (as the task's worst feasible arm) or `factor:F` (F x the worst feasible arm).
    #[arg(long, default_value = "zero", value_parser = Infeasible::parse, value_name = "RULE")]
    pub infeasible: Infeasible,
    /// Also print the mean regret of every selector under each infeasibility rule (zero, worst, factor:0.5).
    #[arg(long)]
    pub sensitivity: bool,
    /// Learner seeds: learners that draw random numbers run with seeds SEED..SEED+N-1 and their per-task results
    /// are averaged; the spread of the mean regret over the seeds is reported.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub seeds: usize,
    /// What the bootstrap CIs and permutation tests resample: `kind` (model x workload: a task and its twins on
    /// other nodes together), `model`, or `task`.
    #[arg(long, value_enum, default_value_t = GroupByArg::Kind)]
    pub group_by: GroupByArg,
    /// The selector whose paired differences (it minus every other) are reported with Holm-corrected p-values.
    #[arg(long, default_value = "ours")]
    pub focus: String,
    /// Resamples of each cell's stored repetitions for the noise analysis (0: none).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub noise_resamples: usize,
    /// Let `metainf` run without text embeddings (it then reads the numeric features and is labelled so).
    #[arg(long)]
    pub allow_no_embeddings: bool,
    /// Evaluate an imported task table (`harness aslib import DIR --out FILE`) instead of the store.
    #[arg(long, value_name = "FILE")]
    pub tasks: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EvaluateFormat::Table)]
    pub format: EvaluateFormat,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Seed of the bootstrap, tie-breaks and learners.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print only; do not write the evaluation into the store.
    #[arg(long)]
    pub no_save: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvaluateFormat {
    Table,
    Json,
    Csv,
}

/// `--selectors` help, from the registry: every selector with its one-line description.
fn selectors_help() -> String {
    let mut s = String::from("Selectors to evaluate, comma-separated [default: all]:\n");
    for sel in harness::meta::selectors::registry() {
        s.push_str(&format!("  {:14} {}\n", sel.name(), sel.describe()));
    }
    s
}

/// The grid names `grids` stand for: stored grid names, or grid files whose `name:` is read.
fn grid_names(grids: &[String]) -> Result<Vec<String>> {
    let mut names = vec![];
    for g in grids {
        let path = Path::new(g);
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") && path.exists() {
            names.push(config::load(path)?.name());
        } else {
            names.push(g.clone());
        }
    }
    Ok(names)
}

/// Task indices of `table` whose grid is one of `grids` (stored grid names, or grid
/// files whose `name:` is read); an unknown name is bad input naming the grids present.
pub fn tasks_of_grids(table: &TaskTable, grids: &[String], flag: &str) -> Result<Vec<usize>> {
    let names = grid_names(grids)?;
    let present: std::collections::BTreeSet<&str> = table.tasks.iter().map(|t| t.grid.as_str()).collect();
    for n in &names {
        if !present.contains(n.as_str()) {
            return Err(BadInput(format!(
                "{flag}: no task of grid `{n}` in the store; grids with tasks there: {}",
                present.into_iter().collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    Ok((0..table.tasks.len()).filter(|&t| names.contains(&table.tasks[t].grid)).collect())
}

pub fn run(a: EvaluateArgs) -> Result<ExitCode> {
    for name in a.selectors.iter().chain([&a.baseline]) {
        selectors::by_name(name)?;
    }
    let scenario = a.tasks.as_ref().map(|f| harness::meta::aslib::read(f)).transpose()?;
    let (store, loaded) = match &scenario {
        Some(s) => (None, Loaded { table: s.table(), warnings: vec![], embedder: None, machines: Default::default() }),
        None => {
            // Tasks are formed within each side, so no task holds cells of a training and a test grid.
            let sides = if a.train.is_empty() {
                None
            } else {
                Some(GridSplit { train: grid_names(&a.train)?, test: grid_names(&a.test)? })
            };
            let (s, l) = load_table(&a.table, !a.no_save, sides.as_ref())?;
            (Some(s), l)
        }
    };
    let mut table = loaded.table.clone().with_infeasible(a.infeasible);
    let embeddings = !table.tasks.is_empty() && table.tasks.iter().all(|t| t.embedding.is_some());
    let names: Vec<String> = if a.selectors.is_empty() {
        selectors::names().iter().map(|s| s.to_string()).collect()
    } else {
        a.selectors.clone()
    };
    if !embeddings {
        let needs: Vec<&String> =
            names.iter().filter(|n| selectors::by_name(n).is_ok_and(|s| s.needs_embeddings())).collect();
        if !needs.is_empty() && !a.allow_no_embeddings {
            return Err(BadInput(format!(
                "{} {} defined on text embeddings of the task, and the tasks have none ({}); fetch the embedding \
                 model ({}), leave {} out with --selectors, or pass --allow-no-embeddings to run {} on the numeric \
                 features (labelled so in the output)",
                needs.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
                if needs.len() == 1 { "is" } else { "are" },
                if a.tasks.is_some() || a.table.no_embeddings { "not computed here" } else { "model absent" },
                hub::FETCH_COMMAND,
                if needs.len() == 1 { "it" } else { "them" },
                if needs.len() == 1 { "it" } else { "them" },
            ))
            .into());
        }
    }
    let mut split = None;
    let mut dropped_arms = vec![];
    if !a.train.is_empty() {
        let train = tasks_of_grids(&table, &a.train, "--train")?;
        let test: Vec<usize> =
            tasks_of_grids(&table, &a.test, "--test")?.into_iter().filter(|t| !train.contains(t)).collect();
        if !a.all_arms {
            let known: Vec<usize> =
                (0..table.arms.len()).filter(|&arm| train.iter().any(|&t| table.outcomes[t][arm].is_some())).collect();
            dropped_arms = (0..table.arms.len()).filter(|x| !known.contains(x)).map(|x| table.arms[x].name()).collect();
            let keep: Vec<usize> = train.iter().chain(&test).copied().collect();
            let ids: Vec<String> = keep.iter().map(|&t| table.tasks[t].id.clone()).collect();
            table = table.subset(&keep).restrict_arms(&known);
            let pos = |id: &String| table.tasks.iter().position(|t| &t.id == id);
            let tr: Vec<usize> = ids[..train.len()].iter().filter_map(pos).collect();
            let te: Vec<usize> = ids[train.len()..].iter().filter_map(pos).collect();
            split = Some((tr, te, format!("train {} / test {}", a.train.join(","), a.test.join(","))));
        } else {
            split = Some((train, test, format!("train {} / test {}", a.train.join(","), a.test.join(","))));
        }
    }
    let opts = Options {
        selectors: a.selectors.clone(),
        baseline: a.baseline.clone(),
        cv: a.cv,
        split,
        budget: a.table.budget,
        bootstrap: a.bootstrap,
        seed: a.seed,
        seeds: a.seeds,
        group_by: a.group_by.into(),
        focus: a.focus.clone(),
        noise_resamples: a.noise_resamples,
        context: json!({
            "store": a.tasks.as_ref().unwrap_or(&a.table.store.store).display().to_string(),
            "constraints": constraints(&a.table),
            "warnings": loaded.warnings,
            "feature_names": harness::meta::features::TaskFeatures::NAMES,
            "arms_dropped_unseen_in_training": dropped_arms,
            "metainf_without_embeddings": !embeddings,
        }),
    };
    let mut outcome = evaluate::evaluate(&table, &opts)?;
    if let (false, Some(store)) = (a.no_save, &store) {
        outcome.record.id =
            store.insert_evaluation(&outcome.record).context("writing the evaluation into the store")?;
    }
    let mut out = std::io::stdout().lock();
    match a.format {
        EvaluateFormat::Table => output::table(&mut out, &table, &outcome)?,
        EvaluateFormat::Json => output::json(&mut out, &outcome.record)?,
        EvaluateFormat::Csv => output::csv(&mut out, &outcome.record)?,
    }
    if let Some(s) = &scenario {
        let ids: Vec<&str> = outcome.tested.iter().map(|&t| table.tasks[t].id.as_str()).collect();
        let picks: Vec<(String, Vec<Vec<usize>>)> = outcome
            .per_task
            .iter()
            .filter(|(n, _)| outcome.record.selectors.iter().any(|r| &r.selector == n))
            .map(|(n, p)| (n.clone(), p.iter().map(|x| x.picks.clone()).collect()))
            .collect();
        output::par10(&mut out, s, &ids, &picks)?;
    }
    if a.sensitivity {
        let rules = [Infeasible::Zero, Infeasible::Worst, Infeasible::Factor(0.5)];
        let mut rows = vec![];
        for rule in rules {
            let t = table.clone().with_infeasible(rule);
            let o = if rule == a.infeasible { None } else { Some(evaluate::evaluate(&t, &opts)?) };
            let rec = o.as_ref().map_or(&outcome.record, |o| &o.record);
            rows.push((rule, rec.clone()));
        }
        output::sensitivity(&mut out, &rows)?;
    }
    if let (false, Some(store)) = (a.no_save, &store) {
        eprintln!("evaluation {} written to {}", outcome.record.id, store.location());
    }
    Ok(ExitCode::SUCCESS)
}
