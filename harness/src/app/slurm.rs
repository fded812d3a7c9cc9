//! `harness slurm GRID --array N` and `harness slurm status`: running a grid on a cluster.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use harness::config;
use harness::execute::slurm::ArrayJob;
use harness::execute::{plan, shard};
use harness::hardware::fingerprint::{code_version, machine_class};
use harness::models::hub;
use harness::record::CellStatus;
use harness::store;
use harness::workloads::corpus;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SlurmArgs {
    #[command(subcommand)]
    pub command: Option<SlurmCmd>,
    #[command(flatten)]
    pub write: SlurmWriteArgs,
}

#[derive(Debug, Subcommand)]
pub enum SlurmCmd {
    /// Progress of a job array written by `harness slurm`, read from its stores and from squeue.
    Status(SlurmStatusArgs),
}

#[derive(Debug, Args)]
pub struct SlurmWriteArgs {
    /// Grid file (YAML).
    pub grid: Option<std::path::PathBuf>,
    /// Tasks in the array (the grid is split into this many shards, balanced by expected cost).
    #[arg(long, value_name = "N")]
    pub array: Option<usize>,
    /// Slurm partition for the tasks.
    #[arg(long)]
    pub partition: Option<String>,
    /// Wall-clock limit per task, in Slurm's format (e.g. 2:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// One shared store for every task (postgres://user@host:port/db; the password from PGPASSWORD or PGPASSFILE).
    /// Default: one SQLite store per task in DIR.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Folder for the job script, the task logs and the per-task stores [default: results/slurm/GRID-NAME].
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Submit the script with sbatch and print the job id.
    #[arg(long)]
    pub submit: bool,
    /// Hub cache holding the model files [default: $HARNESS_HUB_CACHE or models/hub].
    #[arg(long)]
    pub hub_cache: Option<std::path::PathBuf>,
    /// Corpus directory [default: $HARNESS_CORPUS_DIR or data/corpus].
    #[arg(long)]
    pub corpus_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct SlurmStatusArgs {
    /// The folder `harness slurm` wrote the array into.
    #[arg(long)]
    pub dir: std::path::PathBuf,
}

fn absolute(p: &std::path::Path) -> Result<std::path::PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

pub fn run(a: SlurmArgs) -> Result<ExitCode> {
    if let Some(SlurmCmd::Status(s)) = a.command {
        return status(s);
    }
    let w = a.write;
    let grid_path =
        w.grid.ok_or_else(|| harness::BadInput::new("a grid file is needed: harness slurm GRID --array N"))?;
    let grid = config::load(&grid_path)?;
    let hub_cache = w.hub_cache.unwrap_or_else(hub::default_cache_dir);
    let corpus_dir = w.corpus_dir.unwrap_or_else(corpus::default_dir);
    let cells = plan::plan(&grid, &hub_cache, &corpus_dir, &machine_class(), &code_version())?;
    let n = w.array.filter(|n| *n >= 1).ok_or_else(|| harness::BadInput::new("--array N (at least 1) is needed"))?;
    if let Some(url) = &w.store {
        // Connect once now: a wrong URL or password fails here, not in N tasks on the cluster.
        let s = store::open(std::path::Path::new(url))?;
        eprintln!("shared store {} (schema version {})", s.location(), s.schema_version()?);
    }
    let dir = absolute(&w.dir.unwrap_or_else(|| std::path::PathBuf::from("results/slurm").join(grid.name())))?;
    // Profiles that name a Slurm partition or constraint get arrays of their own; the rest share one.
    let mut groups: std::collections::BTreeMap<(Option<String>, Option<String>), Vec<&plan::PlannedCell>> =
        Default::default();
    for c in &cells {
        let placed = c.config.hardware_spec.slurm.clone().unwrap_or_default();
        let partition = placed.partition.or_else(|| w.partition.clone());
        groups.entry((partition, placed.constraint)).or_default().push(c);
    }
    let template = ArrayJob {
        name: String::new(),
        hardware: vec![],
        constraint: None,
        grid: absolute(&grid_path)?,
        n,
        store: w.store,
        dir,
        partition: None,
        time: w.time,
        cpus: 1,
        exe: std::env::current_exe().context("locating the harness executable")?,
        workdir: std::env::current_dir()?,
        hub_cache: absolute(&hub_cache)?,
        corpus_dir: absolute(&corpus_dir)?,
        job_id: None,
    };
    let single = groups.len() == 1;
    let mut jobs: Vec<ArrayJob> = groups
        .into_iter()
        .map(|((partition, constraint), group)| {
            let mut hardware: Vec<String> = group.iter().map(|c| c.config.hardware.clone()).collect();
            hardware.sort();
            hardware.dedup();
            let name = if single {
                String::new()
            } else {
                let label = [partition.as_deref(), constraint.as_deref()].into_iter().flatten().collect::<Vec<_>>();
                let label = if label.is_empty() { "default".to_string() } else { label.join("-") };
                label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
            };
            ArrayJob {
                name,
                hardware: if single { vec![] } else { hardware },
                constraint,
                partition,
                n: n.min(group.len()),
                cpus: group.iter().map(|c| c.config.threads).max().unwrap_or(1),
                ..template.clone()
            }
        })
        .collect();
    ArrayJob::write_all(&jobs)?;
    for job in &jobs {
        let cells_of = cells.iter().filter(|c| job.hardware.is_empty() || job.hardware.contains(&c.config.hardware));
        let on = match (&job.partition, &job.constraint) {
            (None, None) => String::new(),
            (p, c) => format!(
                " on{}{}",
                p.as_ref().map(|p| format!(" partition {p}")).unwrap_or_default(),
                c.as_ref().map(|c| format!(" nodes with {c}")).unwrap_or_default()
            ),
        };
        println!(
            "{}: {} cells in {} tasks{on}; job script {}",
            grid_path.display(),
            cells_of.count(),
            job.n,
            job.script_path().display()
        );
    }
    let dir = jobs[0].dir.clone();
    if w.submit {
        for job in jobs.iter_mut() {
            let id = job.submit()?;
            println!("submitted job {id}");
        }
        ArrayJob::write_all(&jobs)?;
        println!("progress: harness slurm status --dir {}", dir.display());
    } else {
        for job in &jobs {
            println!("submit it with: sbatch {}   (or run again with --submit)", job.script_path().display());
        }
    }
    if jobs[0].store.is_none() {
        println!("when it is done: harness merge results/harness.db {}/shard*.db", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Per task: cells planned, stored (by status), being measured now, left; then Slurm's view.
fn status(a: SlurmStatusArgs) -> Result<ExitCode> {
    let jobs = ArrayJob::read(&a.dir).map_err(|e| harness::BadInput::new(format!("{e:#}")))?;
    let Some(first) = jobs.first() else {
        return Err(harness::BadInput::new(format!("no job array recorded in {}", a.dir.display())).into());
    };
    let grid = config::load(&first.grid)?;
    let all = plan::plan(&grid, &first.hub_cache, &first.corpus_dir, &machine_class(), &code_version())?;
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(["task", "cells", "ok", "failed", "n/a", "measuring", "left"]);
    let mut totals = [0usize; 6];
    let now = store::claim::now();
    let mut stores: std::collections::HashMap<std::path::PathBuf, Stored> = Default::default();
    for job in &jobs {
        let cells: Vec<plan::PlannedCell> = all
            .iter()
            .filter(|c| job.hardware.is_empty() || job.hardware.contains(&c.config.hardware))
            .cloned()
            .collect();
        for k in 1..=job.n {
            let (mine, _) = shard::select(&cells, shard::Shard { k, n: job.n }, &job.hub_cache);
            let path = job.store_of(k);
            if !stores.contains_key(&path) {
                // A task's SQLite store appears when the task starts; until then nothing is stored.
                let read =
                    if job.store.is_some() || path.exists() { Stored::read(&path, now)? } else { Stored::default() };
                stores.insert(path.clone(), read);
            }
            let row = stores[&path].row(&mine);
            totals.iter_mut().zip(row).for_each(|(t, v)| *t += v);
            let label = if job.name.is_empty() { k.to_string() } else { format!("{} {k}", job.name) };
            t.add_row(std::iter::once(label).chain(row.iter().map(|v| v.to_string())));
        }
    }
    t.add_row(std::iter::once("all".to_string()).chain(totals.iter().map(|v| v.to_string())));
    println!("{t}");
    for job in &jobs {
        match &job.job_id {
            Some(id) => {
                let q = job.queue().unwrap_or_default();
                let states: Vec<String> = q.iter().map(|(s, n)| format!("{n} {s}")).collect();
                let says = if states.is_empty() { "no task queued or running".into() } else { states.join(", ") };
                println!("job {id}: {says}");
            }
            None => println!("not submitted (sbatch {})", job.script_path().display()),
        }
    }
    println!("{} of {} cells stored", totals[1] + totals[2] + totals[3], totals[0]);
    Ok(ExitCode::SUCCESS)
}

/// What a task's store holds, read once per store (a shared store serves every task).
#[derive(Default)]
struct Stored {
    /// Keys by status: ok, failed, not applicable.
    by_status: [std::collections::HashSet<String>; 3],
    /// Keys a live runner is measuring.
    measuring: std::collections::HashSet<String>,
}

impl Stored {
    fn read(path: &std::path::Path, now: f64) -> Result<Stored> {
        let s = store::open_read_only(path)?;
        let mut by_status: [std::collections::HashSet<String>; 3] = Default::default();
        for (set, status) in by_status.iter_mut().zip([CellStatus::Ok, CellStatus::Failed, CellStatus::NotApplicable]) {
            *set = s.keys_with_status(status)?;
        }
        let measuring = s.claims()?.into_iter().filter(|c| c.live(now)).map(|c| c.key).collect();
        Ok(Stored { by_status, measuring })
    }

    /// One task's cells: planned, ok, failed, n/a, being measured, left.
    fn row(&self, mine: &[plan::PlannedCell]) -> [usize; 6] {
        let count = |set: &std::collections::HashSet<String>| mine.iter().filter(|c| set.contains(&c.key)).count();
        let [ok, failed, na] = self.by_status.each_ref().map(count);
        [mine.len(), ok, failed, na, count(&self.measuring), mine.len() - ok - failed - na]
    }
}
