//! Greedy generation for a batch of equal-length prompts, timed per token, on any engine.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};

use crate::engines::LoadedModel;
use crate::models::generate::KvMode;

/// Timing of one generated batch.
#[derive(Debug, Clone)]
pub struct Generation {
    pub tokens: Vec<Vec<u32>>,
    /// Prefill plus the first greedy pick.
    pub ttft: Duration,
    /// Time of each later decode step.
    pub steps: Vec<Duration>,
    pub total: Duration,
}

/// Generate exactly `n_out` tokens per prompt (end-of-sequence is not honoured,
/// so every repetition does the same work).
pub fn generate(model: &dyn LoadedModel, prompts: &[Vec<u32>], n_out: usize, kv: KvMode) -> Result<Generation> {
    ensure!(!prompts.is_empty() && n_out > 0, "need at least one prompt and one output token");
    let plen = prompts[0].len();
    ensure!(prompts.iter().all(|p| p.len() == plen && plen > 0), "prompts of a batch must have one non-zero length");
    let b = prompts.len();
    let start = Instant::now();
    let mut seqs: Vec<Vec<u32>> = prompts.to_vec();
    let mut out: Vec<Vec<u32>> = vec![Vec::with_capacity(n_out); b];
    let mut batch = model.batch(kv)?;
    let mut next = batch.prefill(prompts)?;
    let ttft = start.elapsed();
    let mut steps = Vec::with_capacity(n_out.saturating_sub(1));
    for i in 0..n_out {
        for (s, (o, &t)) in seqs.iter_mut().zip(out.iter_mut().zip(&next)) {
            s.push(t);
            o.push(t);
        }
        if i + 1 == n_out {
            break;
        }
        let t0 = Instant::now();
        next = batch.decode(&seqs)?;
        steps.push(t0.elapsed());
    }
    Ok(Generation { tokens: out, ttft, steps, total: start.elapsed() })
}
