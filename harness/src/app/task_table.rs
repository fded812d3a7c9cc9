//! How the commands that learn (`evaluate`, `recommend`, `replay`, `aslib export`) build the task
//! table from the store: the options they share and the one loader.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use harness::meta::evaluate::GroupBy;
use harness::meta::grouping::GridSplit;
use harness::meta::load::{self, Loaded};
use harness::meta::objective::{AccuracyFloors, Constraints, Objective};
use harness::models::hub;
use harness::store::{self, ResultStore};

use super::cli::StoreArg;

/// How the task table is built from the store (shared by `evaluate` and `recommend`).
#[derive(Debug, Args)]
pub struct TaskTableArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// What the best technique optimises.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Latency)]
    pub objective: ObjectiveArg,
    /// Accuracy floor an arm must meet, comma-separated clauses: `ppl:P%` (perplexity at most P% above the f32
    /// reference's), `agreement:A` (greedy agreement with the f32 reference at least A, 0..1), `kl:K` (mean KL at
    /// most K nats). Example: `ppl:1%,agreement:0.99`. A cell exact by construction (the reference's own
    /// computation: `kv-off`, `spec:…`, serving policies) meets every floor; any other cell must have measured it.
    /// `none`: no floor. `evaluate` applies none unless given one (it reports the picks that miss the default
    /// floor `ppl:5%,agreement:0.9` as quality-floor violations); `recommend` applies the default unless told
    /// otherwise.
    #[arg(long, value_name = "CLAUSES", value_parser = AccuracyFloors::parse)]
    pub accuracy_floor: Option<AccuracyFloors>,
    /// Peak resident memory an arm may use, MB.
    #[arg(long, value_name = "MB")]
    pub memory_limit: Option<f64>,
    /// Cost an arm may reach, dollars per 1000 generated tokens.
    #[arg(long, value_name = "DOLLARS")]
    pub budget: Option<f64>,
    /// Hub cache with the model files (sizes) and all-MiniLM-L6-v2 (text embeddings)
    /// [default: $HARNESS_HUB_CACHE or models/hub].
    #[arg(long)]
    pub hub_cache: Option<PathBuf>,
    /// Leave the text-embedding features out even when the embedding model is present.
    #[arg(long)]
    pub no_embeddings: bool,
}

/// `--objective`, mirrored for clap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ObjectiveArg {
    /// Median request latency (lower is better).
    Latency,
    /// Generated tokens per second (higher is better).
    Throughput,
    /// Median time to first token (lower is better).
    Ttft,
    /// Cost per 1000 generated tokens (lower is better).
    Cost,
    /// Requests per second meeting both latency targets; serving workloads only (higher is better).
    Goodput,
}

impl From<ObjectiveArg> for Objective {
    fn from(o: ObjectiveArg) -> Objective {
        match o {
            ObjectiveArg::Latency => Objective::Latency,
            ObjectiveArg::Throughput => Objective::Throughput,
            ObjectiveArg::Ttft => Objective::Ttft,
            ObjectiveArg::Cost => Objective::Cost,
            ObjectiveArg::Goodput => Objective::Goodput,
        }
    }
}

/// `--cv`, mirrored for clap.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GroupByArg {
    /// One model x workload (a task on every node).
    Kind,
    /// One model.
    Model,
    /// One task.
    Task,
}

impl From<GroupByArg> for GroupBy {
    fn from(g: GroupByArg) -> GroupBy {
        match g {
            GroupByArg::Kind => GroupBy::Kind,
            GroupByArg::Model => GroupBy::Model,
            GroupByArg::Task => GroupBy::Task,
        }
    }
}

pub fn constraints(a: &TaskTableArgs) -> Constraints {
    Constraints {
        accuracy: a.accuracy_floor.as_ref().map(|f| f.0.clone()).unwrap_or_default(),
        memory_limit_mb: a.memory_limit,
        budget: a.budget,
    }
}

/// Opens the store and builds its task table; errors name what to run when it is empty. The store is opened
/// read-only unless an evaluation will be written into it (committed reference stores stay byte for byte as they are).
/// With `split`, tasks are formed within each side of it.
pub fn load_table(
    a: &TaskTableArgs,
    writable: bool,
    split: Option<&GridSplit>,
) -> Result<(Box<dyn ResultStore>, Loaded)> {
    let store = if writable { store::open_existing(&a.store.store)? } else { store::open_read_only(&a.store.store)? };
    let records = store.all()?;
    if records.is_empty() {
        bail!(
            "store {} has no tasks (no cells); run `harness run experiments/grid.yaml` first",
            a.store.store.display()
        );
    }
    let hub_cache = a.hub_cache.clone().unwrap_or_else(hub::default_cache_dir);
    let loaded = load::table(&records, split, a.objective.into(), &constraints(a), &hub_cache, !a.no_embeddings)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    if loaded.table.tasks.is_empty() {
        let why: Vec<String> = loaded.table.left_out.iter().take(5).map(|(t, w)| format!("{t}: {w}")).collect();
        bail!(
            "store {} has {} cells but no task with a feasible arm for objective {} under these constraints ({}); \
             relax the constraints or run more cells, e.g. `harness run experiments/grid.yaml`",
            a.store.store.display(),
            records.len(),
            Objective::from(a.objective),
            why.join("; ")
        );
    }
    for (t, why) in &loaded.table.left_out {
        eprintln!("note: {t} left out: {why}");
    }
    Ok((store, loaded))
}
