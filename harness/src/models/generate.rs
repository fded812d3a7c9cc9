//! Greedy generation for a batch of equal-length prompts, timed per token.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use candle_core::{Device, Tensor};

use super::llama::{argmax_rows, Decoder, Logits};

/// Whether past keys/values are kept between decode steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvMode {
    /// Cache keys/values: each decode step processes one new token.
    On,
    /// Recompute: each step runs the whole sequence so far again.
    Off,
}

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
pub fn generate(model: &Decoder, prompts: &[Vec<u32>], n_out: usize, kv: KvMode) -> Result<Generation> {
    ensure!(!prompts.is_empty() && n_out > 0, "need at least one prompt and one output token");
    let plen = prompts[0].len();
    ensure!(prompts.iter().all(|p| p.len() == plen && plen > 0), "prompts of a batch must have one non-zero length");
    let b = prompts.len();
    let dev = Device::Cpu;
    let start = Instant::now();
    let mut seqs: Vec<Vec<u32>> = prompts.to_vec();
    let mut out: Vec<Vec<u32>> = vec![Vec::with_capacity(n_out); b];
    let mut state = (kv == KvMode::On).then(|| model.new_kv());
    let flat: Vec<u32> = prompts.concat();
    let logits = model.forward(&Tensor::from_vec(flat, (b, plen), &dev)?, 0, state.as_mut(), Logits::Last)?;
    let mut next = argmax_rows(&logits)?;
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
        let logits = match state.as_mut() {
            Some(st) => {
                let x = Tensor::from_vec(next.clone(), (b, 1), &dev)?;
                model.forward(&x, plen + i, Some(st), Logits::Last)?
            }
            None => {
                let len = seqs[0].len();
                let x = Tensor::from_vec(seqs.concat(), (b, len), &dev)?;
                model.forward(&x, 0, None, Logits::Last)?
            }
        };
        next = argmax_rows(&logits)?;
        steps.push(t0.elapsed());
    }
    Ok(Generation { tokens: out, ttft, steps, total: start.elapsed() })
}
