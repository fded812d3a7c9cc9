//! Speculative decoding on our decoder (`techniques/speculative.rs` states the technique):
//! the draft proposes `k` tokens one at a time, the model runs all of them in one flat
//! forward and keeps the longest prefix equal to its own greedy picks, plus its next token.
//! Both KV caches are cut back past the first miss. One sequence (batch 1).

use std::cell::Cell;
use std::collections::VecDeque;

use anyhow::{ensure, Result};

use crate::engines::Batch;
use crate::models::llama::{argmax_flat, Decoder, FlatKv, Logits};
use crate::models::weights::NotApplicable;

/// The draft model and what it achieved so far.
pub struct Speculator {
    pub draft: Decoder,
    pub k: usize,
    pub stats: SpecStats,
}

/// Counters over every round since load.
#[derive(Debug, Default)]
pub struct SpecStats {
    pub rounds: Cell<u64>,
    pub proposed: Cell<u64>,
    pub accepted: Cell<u64>,
    /// Tokens the rounds yielded (accepted drafts plus the model's own pick each round).
    pub emitted: Cell<u64>,
}

impl SpecStats {
    pub fn to_json(&self) -> serde_json::Value {
        let (r, p, a, e) = (self.rounds.get(), self.proposed.get(), self.accepted.get(), self.emitted.get());
        serde_json::json!({
            "rounds": r,
            "proposed": p,
            "accepted": a,
            "acceptance_rate": if p > 0 { a as f64 / p as f64 } else { 0.0 },
            "tokens_per_target_pass": if r > 0 { e as f64 / r as f64 } else { 0.0 },
        })
    }
}

pub struct SpecBatch<'a> {
    model: &'a Decoder,
    sp: &'a Speculator,
    kv: Option<(FlatKv, FlatKv)>,
    pending: VecDeque<u32>,
}

impl<'a> SpecBatch<'a> {
    pub fn new(model: &'a Decoder, sp: &'a Speculator) -> Self {
        Self { model, sp, kv: None, pending: VecDeque::new() }
    }
}

impl Batch for SpecBatch<'_> {
    fn prefill(&mut self, prompts: &[Vec<u32>]) -> Result<Vec<u32>> {
        if prompts.len() != 1 {
            return Err(NotApplicable("speculative decoding runs one sequence at a time (batch 1)".into()).into());
        }
        let p = &prompts[0];
        let (mut kv, mut dkv) = (self.model.new_flat_kv(1), self.sp.draft.new_flat_kv(1));
        let logits = self.model.forward_flat(p, 1, 0, &mut kv, Logits::Last)?;
        // The draft reads the prompt too (its time counts: it is part of the technique).
        self.sp.draft.forward_flat(p, 1, 0, &mut dkv, Logits::Last)?;
        self.kv = Some((kv, dkv));
        self.pending.clear();
        Ok(argmax_flat(&logits, self.model.config().vocab_size))
    }

    fn decode(&mut self, seqs: &[Vec<u32>]) -> Result<Vec<u32>> {
        if let Some(t) = self.pending.pop_front() {
            return Ok(vec![t]);
        }
        let seq = &seqs[0];
        let n = seq.len();
        let (kv, dkv) = self.kv.as_mut().expect("prefill first");
        // Both caches hold every token but the last one emitted.
        ensure!(kv.len() == n - 1, "model cache holds {} positions, expected {}", kv.len(), n - 1);
        let vocab = self.model.config().vocab_size;
        let k = self.sp.k.min(self.model.config().max_seq_len.saturating_sub(n + 1)).max(1);
        // The draft catches up on tokens it has not read (the model's own pick of last round
        // and, after a round it fully accepted, its own last proposal), then proposes k.
        let caught = dkv.len();
        let mut proposal = Vec::with_capacity(k);
        let dl = self.sp.draft.forward_flat(&seq[caught..], 1, caught, dkv, Logits::Last)?;
        proposal.push(argmax_flat(&dl, vocab)[0]);
        while proposal.len() < k {
            let last = *proposal.last().expect("one");
            let at = n + proposal.len() - 1;
            let dl = self.sp.draft.forward_flat(&[last], 1, at, dkv, Logits::Last)?;
            proposal.push(argmax_flat(&dl, vocab)[0]);
        }
        // One pass of the model over the last token and the k proposals.
        let mut run = vec![seq[n - 1]];
        run.extend_from_slice(&proposal);
        let logits = self.model.forward_flat(&run, 1, n - 1, kv, Logits::All)?;
        let picks = argmax_flat(&logits, vocab);
        let accepted = proposal.iter().zip(&picks).take_while(|(d, g)| d == g).count();
        // Emitted: the accepted proposals, then the model's own pick after them.
        let mut out: VecDeque<u32> = proposal[..accepted].iter().copied().collect();
        out.push_back(picks[accepted]);
        kv.truncate(n + accepted);
        dkv.truncate(dkv.len().min(n + accepted));
        let st = &self.sp.stats;
        st.rounds.set(st.rounds.get() + 1);
        st.proposed.set(st.proposed.get() + k as u64);
        st.accepted.set(st.accepted.get() + accepted as u64);
        st.emitted.set(st.emitted.get() + out.len() as u64);
        let first = out.pop_front().expect("one token");
        self.pending = out;
        Ok(vec![first])
    }
}
