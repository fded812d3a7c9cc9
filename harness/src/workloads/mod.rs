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

/// Calibration tokens for importance scores (structured pruning): the first `n` tokens of the
/// corpus's training text, checked to share no run of [`OVERLAP_RUN`] tokens with the held-out
/// text that perplexity is scored on.
pub fn calibration(p: &Prepared, n: usize) -> Result<Vec<u32>> {
    ensure!(p.train.len() >= n, "the training text has {} tokens, fewer than {n} for calibration", p.train.len());
    let cal = p.train[..n].to_vec();
    disjoint(&cal, &p.eval)?;
    Ok(cal)
}

/// Runs of this many tokens shared by calibration and held-out text count as overlap.
pub const OVERLAP_RUN: usize = 16;

/// Fails when `a` and `b` share a run of [`OVERLAP_RUN`] tokens.
pub fn disjoint(a: &[u32], b: &[u32]) -> Result<()> {
    let held: std::collections::HashSet<&[u32]> = b.windows(OVERLAP_RUN).collect();
    if let Some(at) = a.windows(OVERLAP_RUN).position(|w| held.contains(w)) {
        anyhow::bail!("calibration text overlaps the held-out text (a run of {OVERLAP_RUN} tokens at {at})");
    }
    Ok(())
}

#[cfg(test)]
mod calibration_tests {
    use super::*;

    #[test]
    fn calibration_never_overlaps_the_held_out_text() {
        let train: Vec<u32> = (0..400).collect();
        let ok = Prepared { prompts: vec![], train: train.clone(), eval: (1000..1100).collect() };
        assert_eq!(calibration(&ok, 256).unwrap(), train[..256].to_vec());
        // Held-out text that repeats 16 tokens of the calibration window is refused.
        let leak = Prepared { prompts: vec![], train, eval: (100..116).chain(2000..2050).collect() };
        let err = calibration(&leak, 256).unwrap_err().to_string();
        assert!(err.contains("overlaps the held-out text"), "{err}");
        // Fifteen shared tokens are not a run.
        let short =
            Prepared { prompts: vec![], train: (0..400).collect(), eval: (100..115).chain(2000..2050).collect() };
        assert!(calibration(&short, 256).is_ok());
    }
}
