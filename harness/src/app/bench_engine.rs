//! `harness bench-engine`: our engine against candle's own quantized_llama on one GGUF.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use harness::bench_engine::{self, BenchOptions};

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

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    bench_engine::run(&BenchOptions {
        repo: a.repo,
        file: a.file,
        hub_cache: a.hub_cache,
        threads: a.threads,
        prompt_tokens: a.prompt_tokens,
        decode_tokens: a.decode_tokens,
        rounds: a.rounds,
    })
}
