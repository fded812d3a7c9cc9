//! Command-line options, parsed once into typed structs; [`super::commands`] turns
//! them into the library's option types. The library never sees clap.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use harness::meta::cv::CvScheme;
use harness::meta::evaluate::GroupBy;
use harness::meta::objective::{AccuracyFloors, Objective};
use harness::meta::tasks::Infeasible;

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
    Run(RunArgs),
    /// Write the stored cells as CSV or JSON.
    Export(ExportArgs),
    /// List the acceleration techniques a grid may name (the same as `harness list techniques`).
    #[command(hide = true)]
    Techniques,
    /// Print a registry: techniques, engines, selectors, figures or weight formats.
    List(super::list::ListArgs),
    /// Our engine against candle's own quantized_llama on the same GGUF, alternating rounds.
    BenchEngine(BenchArgs),
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
    Report(ReportArgs),
    /// Cross-validate the technique selectors on the stored results; print and store the evaluation.
    Evaluate(EvaluateArgs),
    /// Recommend a technique for a task (model x workload x hardware) named in a grid file.
    Recommend(RecommendArgs),
    /// Merge results stores into one, by cell identity (idempotent, order-independent).
    #[command(
        long_about = "Merge results stores (shards of a grid, runs on other machines) into OUT, by cell identity. \
                      A cell present in several stores keeps its most recent measurement; merging again, or in \
                      another order, gives the same store. Every cell keeps its own fingerprint; each merge is \
                      logged in OUT's `provenance` table. Inputs must have this harness's schema version (open \
                      an older store once with this harness to migrate it). Evaluations are not merged."
    )]
    Merge(MergeArgs),
    /// Cells that differ only on one axis, side by side: tokens/s, ratios with CIs, rank agreement.
    #[command(
        long_about = "Pair the stored cells that differ only on one axis (engine, threads, hardware or technique) and \
                      print, per pair, decode and prefill tokens per second of both sides with the ratio B / A and its \
                      bootstrap 95% CI from the raw samples; then, per task, Kendall's tau between the two sides' \
                      rankings of the arms both measured (1: the same order). Plain workloads only."
    )]
    Compare(CompareArgs),
    /// Measure this machine's memory bandwidth and hold every stored decode cell against it.
    #[command(
        long_about = "Measure this machine's memory bandwidth with a STREAM-style triad (all cores, and one core), \
                      then print, for every stored decode cell measured on this machine class (plain workloads with \
                      a KV cache), the weight bytes streamed per token divided by the time per token, and that as a \
                      share of the bandwidth. The share is written into each cell (`bandwidth_share` column, \
                      `extra.bandwidth_share`) so reports can plot it. Measure on an idle machine."
    )]
    Roofline(RooflineArgs),
    /// This machine's fingerprint, how node limits are enforced here, and a grid's hardware profiles.
    #[command(
        long_about = "Print this machine's fingerprint (CPU, cores, memory, SIMD the binary was built with), how an \
                      emulated node's compute share and memory limit are enforced here (cgroup v1 or v2 when \
                      writable, with the CFS period used; otherwise why not), and, given a grid, each of its \
                      hardware profiles. `harness roofline` measures the memory bandwidth."
    )]
    Hardware(HardwareArgs),
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
    Node(NodeArgs),
    /// Algorithm-selection benchmarks: import an ASlib scenario as a task table, or export the store as one.
    #[command(long_about = "ASlib scenarios (https://github.com/coseal/aslib_data): `import DIR --out FILE` reads \
                      description.txt, algorithm_runs.arff, feature_values.arff and cv.arff of a runtime scenario \
                      into a task table (instances x algorithms, PAR10: unsolved runs count 10 x the cutoff) and \
                      prints the single-best and virtual-best PAR10; `harness evaluate --tasks FILE --cv given` then \
                      runs every selector with the scenario's own folds and reports PAR10 and the share of the \
                      single-best -> virtual-best gap closed. `export --out DIR` writes the store as a scenario.")]
    Aslib(AslibArgs),
    /// Replay a measuring policy on a fully measured store: selection quality against the share of cells measured.
    #[command(
        long_about = "Replay an active sweep on a store that already holds every cell: for each task of GRID, start \
                      from the other tasks only and measure its cells one at a time, in the order the policy asks \
                      for them (`active`: the arm whose predicted performance is least certain among those that could \
                      still be best; `random`: a seeded shuffle), refitting after each. Prints, against the share of \
                      the task's cells measured, the top-1 and regret of the arm recommended then, and the share \
                      needed to reach 95% of the full grid's top-1."
    )]
    Replay(ReplayArgs),
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
    Freeze(FreezeArgs),
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
    Slurm(SlurmArgs),
    /// Verify a store: integrity, orphan rows, keys matching their configs, stale claims; --repair fixes what it safely can.
    #[command(
        long_about = "Verify a results store: the backend's own integrity check (SQLite's integrity_check), sample \
                      rows that belong to no cell, every cell's key against the identity of its stored configuration, \
                      no two records of one cell, measured cells carrying their measurements, and claims whose runner \
                      is gone. Exit 0 when whole (warnings allowed), 1 otherwise. --repair drops orphan rows and \
                      releases stale claims; it never deletes a measurement."
    )]
    Check(CheckArgs),
    /// Internal: run one cell (request on stdin, reply on stdout).
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Args)]
pub struct AslibArgs {
    #[command(subcommand)]
    pub command: AslibCmd,
}

#[derive(Debug, Subcommand)]
pub enum AslibCmd {
    /// Read an ASlib runtime scenario directory into a task table (JSON).
    Import {
        /// The scenario directory (description.txt, algorithm_runs.arff, feature_values.arff, cv.arff).
        dir: PathBuf,
        /// Where to write the task table.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the store's task table as an ASlib scenario directory.
    Export {
        #[command(flatten)]
        table: TaskTableArgs,
        /// The scenario directory to write.
        #[arg(long)]
        out: PathBuf,
        /// Folds of cv.arff (over model x workload groups).
        #[arg(long, default_value_t = 10)]
        folds: usize,
    },
}

#[derive(Debug, Args)]
pub struct FreezeArgs {
    /// Selectors to freeze (comma-separated registry names): prints the manifest with them added.
    #[arg(long, value_delimiter = ',')]
    pub add: Vec<String>,
    /// The day the new entries are frozen on, YYYY-MM-DD [default: today, UTC].
    #[arg(long)]
    pub date: Option<String>,
}

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

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Fix what can be fixed without losing a measurement (orphan rows, stale claims).
    #[arg(long)]
    pub repair: bool,
}

#[derive(Debug, Args)]
pub struct StoreArg {
    /// The results store: a SQLite file, or postgres://user@host:port/db[?schema=NAME] (password from PGPASSWORD
    /// or the password file PGPASSFILE / ~/.pgpass, never from the URL).
    #[arg(long, default_value = "results/harness.db")]
    pub store: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Grid file (YAML), e.g. experiments/grid.yaml.
    pub grid: PathBuf,
    #[command(flatten)]
    pub store: StoreArg,
    /// Hub cache holding the model files [default: $HARNESS_HUB_CACHE or models/hub].
    #[arg(long)]
    pub hub_cache: Option<PathBuf>,
    /// Corpus directory [default: $HARNESS_CORPUS_DIR or data/corpus].
    #[arg(long)]
    pub corpus_dir: Option<PathBuf>,
    /// Run cells stored as failed again (by default every stored cell counts as finished).
    #[arg(long)]
    pub retry_failed: bool,
    /// Also run again cells whose measurements were judged invalid (too noisy, too few samples).
    #[arg(long)]
    pub retry_invalid: bool,
    /// Count cells stored from another machine class (another CPU or instruction set) as done instead of
    /// measuring them again here.
    #[arg(long)]
    pub reuse_foreign: bool,
    /// Print the planned cells and how many are stored, run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run only shard K of N (1-based): a deterministic slice of the grid's cells, balanced by expected cost, so N
    /// independent processes (machines, or a job array) cover the grid exactly once; merge their stores with
    /// `harness merge`.
    #[arg(long, value_name = "K/N", value_parser = harness::execute::shard::Shard::parse)]
    pub shard: Option<harness::execute::shard::Shard>,
    /// Run only the cells on these hardware profiles (comma-separated), before any --shard: how `harness slurm`
    /// sends each profile's cells to its own partition.
    #[arg(long, value_name = "PROFILES", value_delimiter = ',')]
    pub hardware: Vec<String>,
    /// No progress output (a bar on a terminal, a line per cell otherwise).
    #[arg(long, short)]
    pub quiet: bool,
    /// Measure the cells a learner is least sure about first (per task: the arm with the highest upper bound of
    /// predicted performance, predicted from the store's tasks of other grids and corrected by the task's own
    /// measurements), and stop a task once its recommended arm is unchanged for 3 measurements.
    #[arg(long)]
    pub active: bool,
    /// With --active: measure at most this many cells.
    #[arg(long, value_name = "N", requires = "active")]
    pub budget: Option<usize>,
    /// With --active: the learner that predicts (it must predict performance).
    #[arg(long, default_value = "random-forest", requires = "active")]
    pub selector: String,
}

#[derive(Debug, Args)]
pub struct NodeArgs {
    /// Address to listen on (port 0: any free port, printed on the first line).
    #[arg(long, default_value = "127.0.0.1:7070")]
    pub listen: String,
    /// Serve one coordinator, then exit (how `harness run` starts emulated nodes).
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, Args)]
pub struct HardwareArgs {
    /// A grid file whose hardware profiles to list.
    pub grid: Option<PathBuf>,
    /// Measure how much slower a node at this compute share is than a full one: the same f32
    /// decode of a synthetic 110M-parameter model, one core, in worker processes on the two
    /// nodes alternately; prints each round and the ratio of the medians.
    #[arg(long, value_name = "SHARE")]
    pub share_ratio: Option<f64>,
    /// Rounds of --share-ratio (each measures both nodes).
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Skip measuring memory bandwidth and single-core speed.
    #[arg(long)]
    pub no_measure: bool,
    /// Measure this machine class's features (bandwidth and matmul speed per weight format, on every thread) and
    /// record them in DIR (one JSON file per class), where every learner reads them.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = harness::meta::machine::DEFAULT_DIR)]
    pub record: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RooflineArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Size of each of the triad's three arrays, MiB (far above the caches).
    #[arg(long, default_value_t = 256)]
    pub array_mib: usize,
    /// Triad passes per thread count, and timed products per format (the best counts).
    #[arg(long, default_value_t = 10)]
    pub passes: usize,
    /// Side of the square weight the per-format matmul peak is measured with (a multiple of 256).
    #[arg(long, default_value_t = 2048)]
    pub matmul_size: usize,
    /// Hub cache with the model files (their sizes) [default: $HARNESS_HUB_CACHE or models/hub].
    #[arg(long)]
    pub hub_cache: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The store to merge into (created if absent).
    pub out: PathBuf,
    /// Stores to merge from.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Output format: csv or json.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Output file [default: standard output].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Folder for index.html, report.md and figures/ (created if absent; stale images in figures/ are removed).
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Image format of the figures (the page shows SVG when written, else PNG).
    #[arg(long, value_enum, default_value_t = ReportFormat::Both)]
    pub format: ReportFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Svg,
    Png,
    Both,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Hub repo of the GGUF model.
    #[arg(long, default_value = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF")]
    pub repo: String,
    /// File in the repo.
    #[arg(long, default_value = "SmolLM2-135M-Instruct.Q4_1.gguf")]
    pub file: String,
    #[arg(long)]
    pub hub_cache: Option<PathBuf>,
    /// Threads for both engines (sets candle's pool; must be given before any work).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    #[arg(long, default_value_t = 128)]
    pub prompt_tokens: usize,
    #[arg(long, default_value_t = 64)]
    pub decode_tokens: usize,
    /// Alternating rounds per engine.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

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

#[derive(Debug, Args)]
#[command(
    long_about = "Recommend an arm (technique @ threads) for a task defined in a grid file, typically one not yet \
                  run, from the stores given with --store or, by default, every committed reference store \
                  (results/reference/, results/evaluation/: all machine classes measured for the project) plus \
                  results/harness.db when it exists. Only arms that can run on the profile are candidates \
                  (threads, memory, placements only on clusters, engines built in), and only those whose \
                  predicted quality meets the accuracy floor (default ppl:5%,agreement:0.9; --accuracy-floor none \
                  opts out). Prints the pick with its quality, its predicted objective with a 90% interval \
                  calibrated on held-out tasks (split-conformal), the calibrated chance it is within 5% of the \
                  best, the machines the evidence came from and the nearest stored tasks; abstains when the task \
                  is outside what the stores cover. The calibration is computed once per store content and \
                  cached in results/cache/."
)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub table: TaskTableArgs,
    /// Model name, as defined in the grid file.
    #[arg(long)]
    pub model: String,
    /// Workload name, as defined in the grid file.
    #[arg(long)]
    pub workload: String,
    /// Hardware profile name (`local` is always defined).
    #[arg(long, default_value = harness::config::LOCAL_HARDWARE)]
    pub hardware: String,
    /// Grid file defining the model, workload and hardware.
    #[arg(long, default_value = "experiments/grid.yaml")]
    pub grid: PathBuf,
    /// Selector making the recommendation (not one that needs the truth, like `oracle`).
    #[arg(long, default_value = "gbdt-mach")]
    pub selector: String,
    /// Print the latency-quality front of the arms that can run here instead of the ranking.
    #[arg(long)]
    pub pareto: bool,
}

/// `--selectors` help, from the registry: every selector with its one-line description.
fn selectors_help() -> String {
    let mut s = String::from("Selectors to evaluate, comma-separated [default: all]:\n");
    for sel in harness::meta::selectors::registry() {
        s.push_str(&format!("  {:14} {}\n", sel.name(), sel.describe()));
    }
    s
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

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// The axis the paired cells differ on: engine, threads, hardware or technique.
    #[arg(long, default_value = "engine")]
    pub axis: String,
    /// The two values to compare, `A,B` (ratios are B / A) [default: the two most common]. Technique
    /// names may hold commas themselves (`q8_0,q8_0+spec:draft=q4_0,k=4`): the split is where both sides are
    /// techniques.
    #[arg(long)]
    pub values: Option<String>,
}
