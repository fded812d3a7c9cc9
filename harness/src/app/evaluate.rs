//! `harness evaluate`: cross-validated or frozen evaluation of the selectors on the store or an imported
//! task table, printed and stored.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use harness::config;
use harness::meta::evaluate::{self, Options};
use harness::meta::grouping::GridSplit;
use harness::meta::load::Loaded;
use harness::meta::output;
use harness::meta::selectors;
use harness::meta::tasks::{Infeasible, TaskTable};
use harness::models::hub;
use harness::BadInput;
use serde_json::json;

use super::cli::{EvaluateArgs, EvaluateFormat};
use super::commands::{constraints, load_table};

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

pub fn evaluate(a: EvaluateArgs) -> Result<ExitCode> {
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
