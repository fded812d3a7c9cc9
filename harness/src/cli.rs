//! Command-line options, parsed once into typed structs.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    about = "Measure, learn and predict which inference acceleration fits a model, workload and node",
    long_about = "harness runs a YAML grid of models x acceleration techniques x hardware x workloads with real \
                  transformer inference (candle), records latency, throughput, memory and accuracy in a SQLite \
                  store, and resumes where it stopped.\n\nExit codes: 0 success, 1 some cells failed or a runtime \
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
    /// List the acceleration techniques a grid may name.
    Techniques,
    /// Our engine against candle's own quantized_llama on the same GGUF, alternating rounds.
    BenchEngine(BenchArgs),
    /// Internal: run one cell (request on stdin, reply on stdout).
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Args)]
pub struct StoreArg {
    /// The results store (SQLite).
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
    /// Print the planned cells and how many are stored, run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArg,
    /// Output format.
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// Output file [default: standard output].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
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
