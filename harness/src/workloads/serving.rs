//! Requests of a serving workload: a shared prefix plus a unique part per
//! request, lengths drawn from the workload's ranges, and their arrivals.

use anyhow::{ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::{ServingSpec, WorkloadSpec};
use crate::serving::{arrivals, Arrivals, Request};

/// The requests of one session, cut from tokenized training text (seeded).
pub fn requests(w: &WorkloadSpec, sv: &ServingSpec, train: &[u32]) -> Result<Vec<Request>> {
    let pmax = sv.prompt_tokens_max.unwrap_or(w.prompt_tokens);
    let omax = sv.output_tokens_max.unwrap_or(w.output_tokens);
    ensure!(
        train.len() > sv.shared_prefix_tokens + pmax,
        "corpus `{}` has {} tokens, too few for a {}-token prefix plus {}-token prompts",
        w.corpus,
        train.len(),
        sv.shared_prefix_tokens,
        pmax
    );
    let mut rng = ChaCha8Rng::seed_from_u64(w.seed ^ 0x5e41);
    let start = rng.random_range(0..train.len() - sv.shared_prefix_tokens);
    let prefix = &train[start..start + sv.shared_prefix_tokens];
    Ok((0..sv.requests)
        .map(|id| {
            let len = rng.random_range(w.prompt_tokens..=pmax);
            let at = rng.random_range(0..train.len() - len);
            let mut prompt = prefix.to_vec();
            prompt.extend_from_slice(&train[at..at + len]);
            Request { id, prompt, max_new: rng.random_range(w.output_tokens..=omax) }
        })
        .collect())
}

pub fn arrivals(w: &WorkloadSpec, sv: &ServingSpec) -> Arrivals {
    match (sv.concurrency, sv.rate) {
        (Some(c), _) => Arrivals::Closed { concurrency: c },
        (None, Some(rate)) => Arrivals::Open { at: arrivals::poisson(sv.requests, rate, sv.burst, w.seed) },
        (None, None) => Arrivals::Closed { concurrency: 1 },
    }
}

/// Longest sequence a request of this workload can reach.
pub fn max_positions(w: &WorkloadSpec, sv: &ServingSpec) -> usize {
    sv.shared_prefix_tokens
        + sv.prompt_tokens_max.unwrap_or(w.prompt_tokens)
        + sv.output_tokens_max.unwrap_or(w.output_tokens)
}
