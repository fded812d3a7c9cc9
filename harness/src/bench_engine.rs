//! `harness bench-engine`: our decoder against candle-transformers'
//! `quantized_llama` on the same GGUF file, same threads, same build flags,
//! alternating rounds so drift on a shared machine hits both alike.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::models::quantized_llama::ModelWeights;

use crate::hardware::fingerprint;
use crate::measure::stats::median;
use crate::models::gguf::GgufSource;
use crate::models::llama::{argmax_flat, argmax_rows, Decoder, Logits};
use crate::models::{hub, WeightFormat};

/// Tokens per second of one engine in one round.
struct Round {
    prefill: f64,
    decode: f64,
}

/// What `harness bench-engine` compares.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Hub repo and file of the GGUF model.
    pub repo: String,
    pub file: String,
    pub hub_cache: Option<std::path::PathBuf>,
    /// Threads for both engines (sets candle's pool; must be given before any work).
    pub threads: usize,
    pub prompt_tokens: usize,
    pub decode_tokens: usize,
    /// Alternating rounds per engine.
    pub rounds: usize,
}

pub fn run(a: &BenchOptions) -> Result<ExitCode> {
    // candle and rayon read the pool size once, at first use.
    std::env::set_var("RAYON_NUM_THREADS", a.threads.to_string());
    let cache = a.hub_cache.clone().unwrap_or_else(hub::default_cache_dir);
    let path = hub::resolve(&cache, &a.repo, "main", &a.file).with_context(|| {
        format!("{}/{} is not in the hub cache {}; run {}", a.repo, a.file, cache.display(), hub::FETCH_COMMAND)
    })?;
    let mut ours_src = GgufSource::open(&path)?;
    let ours = Decoder::load(&mut ours_src, WeightFormat::Native)?;
    let mut f = std::fs::File::open(&path)?;
    let ct = gguf_file::Content::read(&mut f)?;
    let mut theirs = ModelWeights::from_gguf(ct, &mut f, &Device::Cpu)?;
    let vocab = ours.config().vocab_size as u32;
    // A fixed, non-trivial prompt: the same ids for both engines.
    let prompt: Vec<u32> = (0..a.prompt_tokens as u32).map(|i| (i * 7919 + 13) % vocab).collect();

    println!(
        "bench-engine: {} | threads {} | prompt {} | decode {} | rounds {} | flags `{}`",
        a.file,
        a.threads,
        a.prompt_tokens,
        a.decode_tokens,
        a.rounds,
        fingerprint::build_flags()
    );
    let (mut ours_r, mut theirs_r) = (vec![], vec![]);
    // One untimed round each to warm caches and the thread pool.
    bench_ours(&ours, &prompt, 4)?;
    bench_candle(&mut theirs, &prompt, 4)?;
    for i in 0..a.rounds {
        // Alternate which engine goes first.
        if i % 2 == 0 {
            ours_r.push(bench_ours(&ours, &prompt, a.decode_tokens)?);
            theirs_r.push(bench_candle(&mut theirs, &prompt, a.decode_tokens)?);
        } else {
            theirs_r.push(bench_candle(&mut theirs, &prompt, a.decode_tokens)?);
            ours_r.push(bench_ours(&ours, &prompt, a.decode_tokens)?);
        }
    }
    let med = |rs: &[Round], f: fn(&Round) -> f64| median(&rs.iter().map(f).collect::<Vec<_>>());
    let (op, od) = (med(&ours_r, |r| r.prefill), med(&ours_r, |r| r.decode));
    let (tp, td) = (med(&theirs_r, |r| r.prefill), med(&theirs_r, |r| r.decode));
    println!("{:<28} {:>14} {:>14}", "engine", "prefill tok/s", "decode tok/s");
    println!("{:<28} {:>14.1} {:>14.1}", "harness (ours)", op, od);
    println!("{:<28} {:>14.1} {:>14.1}", "candle quantized_llama", tp, td);
    println!("{:<28} {:>14.3} {:>14.3}", "ratio ours / candle", op / tp, od / td);
    Ok(ExitCode::SUCCESS)
}

/// Our engine as cells run it: the flat forward with its in-place KV cache.
fn bench_ours(m: &Decoder, prompt: &[u32], n: usize) -> Result<Round> {
    let vocab = m.config().vocab_size;
    let mut kv = m.new_flat_kv(1);
    let t0 = Instant::now();
    let mut next = argmax_flat(&m.forward_flat(prompt, 1, 0, &mut kv, Logits::Last)?, vocab)[0];
    let prefill = prompt.len() as f64 / t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for i in 0..n {
        next = argmax_flat(&m.forward_flat(&[next], 1, prompt.len() + i, &mut kv, Logits::Last)?, vocab)[0];
    }
    Ok(Round { prefill, decode: n as f64 / t1.elapsed().as_secs_f64() })
}

fn bench_candle(m: &mut ModelWeights, prompt: &[u32], n: usize) -> Result<Round> {
    let dev = Device::Cpu;
    m.clear_kv_cache();
    let t0 = Instant::now();
    let logits = m.forward(&Tensor::from_slice(prompt, (1, prompt.len()), &dev)?, 0)?;
    let mut next = argmax_rows(&logits)?[0];
    let prefill = prompt.len() as f64 / t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    for i in 0..n {
        let logits = m.forward(&Tensor::new(&[[next]], &dev)?, prompt.len() + i)?;
        next = argmax_rows(&logits)?[0];
    }
    Ok(Round { prefill, decode: n as f64 / t1.elapsed().as_secs_f64() })
}
