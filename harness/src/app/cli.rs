//! The command line: [`Cli`] and the list of commands, each with its own file under `app/`
//! holding its clap `Args` and its `run`, which turns them into the library's option types.
//! The library never sees clap.

use std::path::PathBuf;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use super::*;

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Measure, learn and predict which inference acceleration fits a model, workload and node",
    long_about = "harness runs a YAML grid of models x acceleration techniques x hardware x workloads with real \
                  transformer inference (candle), records latency, throughput, memory and accuracy in a SQLite \
                  store, and resumes where it stopped. `evaluate` and `recommend` learn from the store which technique to \
                  use; `report` draws every figure from it.\n\nExit codes: 0 success, 1 some cells failed or a runtime \
                  error, 2 bad input (grid file, model files, store)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run every cell of a grid file not yet in the store.
    Run(run::RunArgs),
    /// Write the stored cells as CSV or JSON.
    Export(export::ExportArgs),
    /// List the acceleration techniques a grid may name (the same as `harness list techniques`).
    #[command(hide = true)]
    Techniques,
    /// Print a registry: techniques, engines, selectors, figures or weight formats.
    List(list::ListArgs),
    /// Our engine against candle's own quantized_llama on the same GGUF, alternating rounds.
    BenchEngine(bench_engine::BenchArgs),
    /// Draw every figure and table from the store: SVG/PNG, index.html and report.md.
    #[command(
        long_about = "Draw every figure and table from the results store alone: speed-up heatmaps, latency-accuracy \
                      Pareto fronts, latency versus batch size and concurrency, TTFT/TPOT distributions, selector \
                      comparison and regret CDF (from the latest `harness evaluate`), cost versus latency, the per-task \
                      picks, and speculative decoding's acceptance versus k. Writes OUT/figures/*.svg|png, \
                      OUT/index.html (opens from the file system) and OUT/report.md. Figures whose data are absent \
                      are skipped with the command that produces them. \
                      Output is deterministic: the same store gives byte-identical SVGs."
    )]
    Report(report::ReportArgs),
    /// Cross-validate the technique selectors on the stored results; print and store the evaluation.
    Evaluate(evaluate::EvaluateArgs),
    /// Recommend a technique for a task (model x workload x hardware) named in a grid file.
    Recommend(recommend::RecommendArgs),
    /// Merge results stores into one, by cell identity (idempotent, order-independent).
    #[command(
        long_about = "Merge results stores (shards of a grid, runs on other machines) into OUT, by cell identity. \
                      A cell present in several stores keeps its most recent measurement; merging again, or in \
                      another order, gives the same store. Every cell keeps its own fingerprint; each merge is \
                      logged in OUT's `provenance` table. Inputs must have this harness's schema version (open \
                      an older store once with this harness to migrate it). Evaluations are not merged."
    )]
    Merge(merge::MergeArgs),
    /// Cells that differ only on one axis, side by side: tokens/s, ratios with CIs, rank agreement.
    #[command(
        long_about = "Pair the stored cells that differ only on one axis (engine, threads, hardware or technique) and \
                      print, per pair, decode and prefill tokens per second of both sides with the ratio B / A and its \
                      bootstrap 95% CI from the raw samples; then, per task, Kendall's tau between the two sides' \
                      rankings of the arms both measured (1: the same order). Plain workloads only."
    )]
    Compare(compare::CompareArgs),
    /// Measure this machine's memory bandwidth and hold every stored decode cell against it.
    #[command(
        long_about = "Measure this machine's memory bandwidth with a STREAM-style triad (all cores, and one core), \
                      then print, for every stored decode cell measured on this machine class (plain workloads with \
                      a KV cache), the weight bytes streamed per token divided by the time per token, and that as a \
                      share of the bandwidth. The share is written into each cell (`bandwidth_share` column, \
                      `extra.bandwidth_share`) so reports can plot it. Measure on an idle machine."
    )]
    Roofline(roofline::RooflineArgs),
    /// This machine's fingerprint, how node limits are enforced here, and a grid's hardware profiles.
    #[command(
        long_about = "Print this machine's fingerprint (CPU, cores, memory, SIMD the binary was built with), how an \
                      emulated node's compute share and memory limit are enforced here (cgroup v1 or v2 when \
                      writable, with the CFS period used; otherwise why not), and, given a grid, each of its \
                      hardware profiles. `harness roofline` measures the memory bandwidth."
    )]
    Hardware(hardware::HardwareArgs),
    /// Serve a layer range of a model to a coordinator: one node of a cluster profile.
    #[command(
        long_about = "Run a node server: it holds the decoder layers a coordinator (a `harness run` of a grid whose \
                      hardware profile is a cluster) asks for, in this process, and runs their forward passes, \
                      keeping their KV caches here. It serves only a coordinator that proves it holds the \
                      cluster's shared secret, read from HARNESS_CLUSTER_SECRET or from the file named by \
                      HARNESS_CLUSTER_SECRET_FILE (never from the command line). The model file must be in this \
                      machine's hub cache too. Binds to loopback unless given another address: on a real second \
                      machine, `harness node --listen 0.0.0.0:7070` and point the profile's node at it with \
                      `addr: host:7070`."
    )]
    Node(node::NodeArgs),
    /// Algorithm-selection benchmarks: import an ASlib scenario as a task table, or export the store as one.
    #[command(long_about = "ASlib scenarios (https://github.com/coseal/aslib_data): `import DIR --out FILE` reads \
                      description.txt, algorithm_runs.arff, feature_values.arff and cv.arff of a runtime scenario \
                      into a task table (instances x algorithms, PAR10: unsolved runs count 10 x the cutoff) and \
                      prints the single-best and virtual-best PAR10; `harness evaluate --tasks FILE --cv given` then \
                      runs every selector with the scenario's own folds and reports PAR10 and the share of the \
                      single-best -> virtual-best gap closed. `export --out DIR` writes the store as a scenario.")]
    Aslib(aslib::AslibArgs),
    /// Replay a measuring policy on a fully measured store: selection quality against the share of cells measured.
    #[command(
        long_about = "Replay an active sweep on a store that already holds every cell: for each task of GRID, start \
                      from the other tasks only and measure its cells one at a time, in the order the policy asks \
                      for them (`active`: the arm whose predicted performance is least certain among those that could \
                      still be best; `random`: a seeded shuffle), refitting after each. Prints, against the share of \
                      the task's cells measured, the top-1 and regret of the arm recommended then, and the share \
                      needed to reach 95% of the full grid's top-1."
    )]
    Replay(replay::ReplayArgs),
    /// Whether each selector's code is the code frozen in selectors/FROZEN.yaml; --add freezes more.
    #[command(
        long_about = "The freeze manifest (selectors/FROZEN.yaml) holds, per frozen selector, the day it was frozen \
                      and the sha256 of every file under harness/src/meta its picks depend on (its own file, the \
                      shared base and what they import, transitively). Without --add: one line per selector of the \
                      registry saying whether this build's code matches its entry; exit 1 when a frozen selector's \
                      code differs. With --add NAMES: print the manifest with entries for those selectors added (a \
                      frozen selector whose code changed is refused: it needs a new name); redirect it into \
                      selectors/FROZEN.yaml and commit it before the tasks it will be scored on exist."
    )]
    Freeze(freeze::FreezeArgs),
    /// Write (and submit) a Slurm job array whose task K runs shard K of N of a grid; `slurm status` shows progress.
    #[command(
        long_about = "Write a Slurm job array for GRID: task K of N runs `harness run GRID --shard K/N`, into its own \
                      SQLite store (DIR/shard-K.db, merged afterwards with `harness merge`) or, with --store \
                      postgres://..., into one shared PostgreSQL store where cells are claimed atomically. The script \
                      goes to DIR/job.sbatch; --submit runs sbatch and prints the job id. `harness slurm status --dir \
                      DIR` prints per task the cells stored, being measured and left, and Slurm's view of the array. \
                      Hardware profiles that name `slurm: {partition, constraint}` get an array of their own, running \
                      only their cells there. Tasks on one machine measure one at a time (the measurement lock), so \
                      timings stay honest."
    )]
    Slurm(slurm::SlurmArgs),
    /// Verify a store: integrity, orphan rows, keys matching their configs, stale claims; --repair fixes what it safely can.
    #[command(
        long_about = "Verify a results store: the backend's own integrity check (SQLite's integrity_check), sample \
                      rows that belong to no cell, every cell's key against the identity of its stored configuration, \
                      no two records of one cell, measured cells carrying their measurements, and claims whose runner \
                      is gone. Exit 0 when whole (warnings allowed), 1 otherwise. --repair drops orphan rows and \
                      releases stale claims; it never deletes a measurement."
    )]
    Check(check::CheckArgs),
    /// The table of a folder of stores: per file and grid, machine class, engines, when, cells by outcome.
    #[command(
        long_about = "Print, for every store file (*.db) of DIR and every grid in it, the machine class and engines \
                      of its cells, when they were measured (UTC), and how many cells there are, failed, not \
                      applicable, judged invalid and run on emulated nodes. With --update FILE the table replaces \
                      the text between FILE's inventory markers instead (how results/*/README.md are written; a \
                      test regenerates them and compares). The stores are opened read-only."
    )]
    Inventory(inventory::InventoryArgs),
    /// Internal: run one cell (request on stdin, reply on stdout).
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Args)]
pub struct StoreArg {
    /// The results store: a SQLite file, or postgres://user@host:port/db[?schema=NAME] (password from PGPASSWORD
    /// or the password file PGPASSFILE / ~/.pgpass, never from the URL).
    #[arg(long, default_value = "results/harness.db")]
    pub store: PathBuf,
}

impl Cmd {
    /// Runs the command. `explicit_store`: whether `--store` was given on the command line
    /// (`recommend` reads the committed stores unless it was).
    pub fn run(self, explicit_store: bool) -> Result<ExitCode> {
        match self {
            Cmd::Run(a) => run::run(a),
            Cmd::Export(a) => export::run(a),
            Cmd::Techniques => list::run(list::ListArgs { what: list::ListWhat::Techniques }),
            Cmd::List(a) => list::run(a),
            Cmd::BenchEngine(a) => bench_engine::run(a),
            Cmd::Report(a) => report::run(a),
            Cmd::Evaluate(a) => evaluate::run(a),
            Cmd::Recommend(a) => recommend::run(a, explicit_store),
            Cmd::Merge(a) => merge::run(a),
            Cmd::Roofline(a) => roofline::run(a),
            Cmd::Hardware(a) => hardware::run(a),
            Cmd::Compare(a) => compare::run(a),
            Cmd::Node(a) => node::run(a),
            Cmd::Aslib(a) => aslib::run(a),
            Cmd::Replay(a) => replay::run(a),
            Cmd::Freeze(a) => freeze::run(a),
            Cmd::Slurm(a) => slurm::run(a),
            Cmd::Check(a) => check::run(a),
            Cmd::Inventory(a) => inventory::run(a),
            Cmd::Worker => worker::run(),
        }
    }
}

/// Bad input (grid, model files, store, unknown names) exits 2; anything else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if harness::error::is_bad_input(e) {
        2
    } else {
        1
    }
}
