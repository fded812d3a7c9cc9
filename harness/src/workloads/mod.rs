//! Workloads: prompts cut from a real corpus, and the held-out text that
//! accuracy is scored on.

pub mod accuracy;
pub mod corpus;
pub mod generate;
pub mod serving;

use anyhow::{ensure, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::WorkloadSpec;
use crate::models::tokenizer::TextTokenizer;

/// Token-level inputs of one workload for one model's tokenizer.
pub struct Prepared {
    /// `batch` prompts of exactly `prompt_tokens` tokens each.
    pub prompts: Vec<Vec<u32>>,
    /// The tokenized training text, for serving workloads to cut requests from.
    pub train: Vec<u32>,
    /// `eval_tokens + 1` held-out tokens (inputs plus the targets shifted by one).
    pub eval: Vec<u32>,
}

/// Cut prompts from the training part of the corpus at seeded offsets, and
/// take the held-out text for evaluation.
pub fn prepare(spec: &WorkloadSpec, corpus: &corpus::Corpus, tok: &TextTokenizer) -> Result<Prepared> {
    let train = tok.encode(&corpus.train)?;
    let held = tok.encode(&corpus.heldout)?;
    ensure!(
        train.len() > spec.prompt_tokens,
        "corpus `{}` has {} tokens, fewer than a prompt of {}",
        spec.corpus,
        train.len(),
        spec.prompt_tokens
    );
    ensure!(
        held.len() > spec.eval_tokens,
        "held-out text of corpus `{}` has {} tokens, fewer than eval_tokens {}",
        spec.corpus,
        held.len(),
        spec.eval_tokens
    );
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let prompts = (0..spec.batch)
        .map(|_| {
            let start = rng.random_range(0..train.len() - spec.prompt_tokens);
            train[start..start + spec.prompt_tokens].to_vec()
        })
        .collect();
    Ok(Prepared { prompts, eval: held[..=spec.eval_tokens].to_vec(), train })
}
