//! The serving loop: requests arrive, queue, and are scheduled token by token
//! over the engine's ragged step ([`LoadedModel::step_ragged`]).
//!
//! Policies, any combination: static batching (the default: a fixed batch
//! runs until its last request finishes), continuous batching (requests join
//! and leave the running batch at every step), chunked prefill (a step
//! carries at most `chunk` tokens, decodes first, prompts split to fill the
//! rest), prefix caching (shared prompt prefixes reuse cached KV blocks).

pub mod arrivals;
pub mod blocks;
pub mod sequence;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::engines::LoadedModel;
use crate::models::llama::Segment;
pub use arrivals::Arrivals;
use blocks::BlockPool;
use sequence::Sequence;

/// One request: its prompt and how many tokens to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: usize,
    pub prompt: Vec<u32>,
    pub max_new: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServingConfig {
    /// Most requests running at once.
    pub max_batch: usize,
    pub continuous: bool,
    /// Tokens per step when prefill is chunked (decodes count against it).
    pub chunk: Option<usize>,
    pub prefix_cache: bool,
    pub block_size: usize,
    pub kv_blocks: usize,
    /// Static batching starts a partial batch after its oldest request waited this long.
    pub static_max_wait_s: f64,
}

/// What happened to one request; times in seconds from the session start.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestResult {
    pub id: usize,
    pub prompt_tokens: usize,
    pub hit_tokens: usize,
    pub tokens: Vec<u32>,
    pub arrival: f64,
    pub token_times: Vec<f64>,
}

impl RequestResult {
    pub fn ttft(&self) -> f64 {
        self.token_times[0] - self.arrival
    }
    pub fn e2e(&self) -> f64 {
        self.token_times.last().expect("at least one token") - self.arrival
    }
    /// Time per output token after the first; `None` for one-token answers.
    pub fn tpot(&self) -> Option<f64> {
        let n = self.token_times.len();
        (n > 1).then(|| (self.token_times[n - 1] - self.token_times[0]) / (n - 1) as f64)
    }
    pub fn itls(&self) -> impl Iterator<Item = f64> + '_ {
        self.token_times.windows(2).map(|w| w[1] - w[0])
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    /// In request id order.
    pub results: Vec<RequestResult>,
    pub makespan: f64,
    pub steps: usize,
    /// Blocks still referenced after every request finished (must be 0).
    pub blocks_in_use_after: usize,
    pub blocks_available_after: usize,
    pub blocks_capacity: usize,
}

/// Serve `requests` arriving per `arrivals` until every one is answered.
pub fn serve(
    model: &dyn LoadedModel,
    requests: Vec<Request>,
    arrivals: &Arrivals,
    cfg: &ServingConfig,
) -> Result<Session> {
    let n_layers = model.layers();
    let total = requests.len();
    let mut pool = BlockPool::new(cfg.kv_blocks, cfg.block_size, cfg.prefix_cache);
    // Open loop: (arrival, request) in time order. Closed loop: the first
    // `concurrency` arrive at 0, the rest wait in `backlog` for a completion.
    let mut future: VecDeque<(f64, Request)> = VecDeque::new();
    let mut backlog: VecDeque<Request> = VecDeque::new();
    match arrivals {
        Arrivals::Open { at } => {
            let mut v: Vec<(f64, Request)> = at.iter().copied().zip(requests).collect();
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            future.extend(v);
        }
        Arrivals::Closed { concurrency } => {
            let mut it = requests.into_iter();
            future.extend(it.by_ref().take((*concurrency).max(1)).map(|r| (0.0, r)));
            backlog.extend(it);
        }
    }
    let mut waiting: VecDeque<(f64, Request)> = VecDeque::new();
    let mut running: Vec<(f64, Sequence)> = Vec::new();
    let mut done: Vec<RequestResult> = Vec::with_capacity(total);
    let mut steps = 0;
    let start = Instant::now();
    let now = || start.elapsed().as_secs_f64();
    while done.len() < total {
        let t = now();
        while future.front().is_some_and(|(a, _)| *a <= t) {
            waiting.push_back(future.pop_front().expect("front exists"));
        }
        let admit = cfg.continuous
            || (running.is_empty()
                && (waiting.len() >= cfg.max_batch
                    || future.is_empty()
                    || waiting.front().is_some_and(|(a, _)| t - a >= cfg.static_max_wait_s)));
        if admit {
            while running.len() < cfg.max_batch {
                let Some((a, req)) = waiting.pop_front() else { break };
                match Sequence::admit(req, &mut pool, n_layers)? {
                    Ok(seq) => running.push((a, seq)),
                    Err(req) => {
                        waiting.push_front((a, req));
                        break;
                    }
                }
            }
        }
        if running.is_empty() {
            match (future.front(), waiting.front()) {
                (Some((a, _)), _) => {
                    let wait = if waiting.is_empty() { a - t } else { (a - t).min(cfg.static_max_wait_s) };
                    std::thread::sleep(Duration::from_secs_f64(wait.clamp(0.0, 0.05)));
                    continue;
                }
                (None, Some((_, r))) => bail!(
                    "request {} needs {} KV blocks but the pool has {}; raise serving.kv_blocks",
                    r.id,
                    (r.prompt.len() + r.max_new).div_ceil(cfg.block_size),
                    cfg.kv_blocks
                ),
                (None, None) => bail!("scheduler stalled with {} of {total} requests answered", done.len()),
            }
        }
        step(model, &mut running, cfg)?;
        steps += 1;
        let t = now();
        let mut i = 0;
        while i < running.len() {
            let seq = &mut running[i].1;
            while seq.token_times.len() < seq.generated() {
                seq.token_times.push(t);
            }
            seq.publish_full_blocks(&mut pool)?;
            if seq.finished() {
                let (arrival, seq) = running.swap_remove(i);
                pool.release(&seq.blocks);
                done.push(RequestResult {
                    id: seq.req.id,
                    prompt_tokens: seq.prompt_len(),
                    hit_tokens: seq.hit_tokens,
                    tokens: seq.tokens[seq.prompt_len()..].to_vec(),
                    arrival,
                    token_times: seq.token_times,
                });
                if let Some(next) = backlog.pop_front() {
                    waiting.push_back((t, next));
                }
            } else {
                i += 1;
            }
        }
    }
    done.sort_by_key(|r| r.id);
    Ok(Session {
        results: done,
        makespan: now(),
        steps,
        blocks_in_use_after: pool.in_use(),
        blocks_available_after: pool.available(),
        blocks_capacity: pool.capacity(),
    })
}

/// One engine step over the running sequences: decodes first, then prompt
/// tokens (whole prompts, or chunks filling the step's token budget).
fn step(model: &dyn LoadedModel, running: &mut [(f64, Sequence)], cfg: &ServingConfig) -> Result<()> {
    let mut budget = cfg.chunk.unwrap_or(usize::MAX);
    let mut take = vec![0usize; running.len()];
    for (n, (_, s)) in take.iter_mut().zip(running.iter()) {
        if !s.in_prefill() {
            *n = 1;
            budget = budget.saturating_sub(1);
        }
    }
    for (n, (_, s)) in take.iter_mut().zip(running.iter()) {
        if s.in_prefill() {
            let rest = s.prompt_len() - s.computed;
            *n = if cfg.chunk.is_some() { rest.min(budget) } else { rest };
            budget = budget.saturating_sub(*n);
        }
    }
    if take.iter().all(|&n| n == 0) {
        // A budget used up by decodes cannot starve every prompt forever:
        // give the first waiting prompt one chunk.
        if let Some(i) = running.iter().position(|(_, s)| s.in_prefill()) {
            take[i] = (running[i].1.prompt_len() - running[i].1.computed).min(cfg.chunk.unwrap_or(usize::MAX)).max(1);
        }
    }
    let bufs: Vec<Vec<u32>> =
        running.iter().zip(&take).map(|((_, s), &n)| s.tokens[s.computed..s.computed + n].to_vec()).collect();
    let mut segs: Vec<Segment<'_>> = Vec::new();
    let mut which = Vec::new();
    for (i, (((_, s), &n), buf)) in running.iter_mut().zip(&take).zip(&bufs).enumerate() {
        if n > 0 {
            let pos = s.computed;
            segs.push(Segment { tokens: buf, pos, kv: s });
            which.push(i);
        }
    }
    let next = model.step_ragged(&mut segs)?;
    drop(segs);
    for (k, &i) in which.iter().enumerate() {
        let s = &mut running[i].1;
        s.computed += take[i];
        // A sequence whose every token is now computed produced its next token.
        if s.computed == s.tokens.len() {
            s.tokens.push(next[k]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
