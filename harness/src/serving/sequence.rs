//! A request being served: its tokens, how far its KV is computed, its blocks,
//! and the times its tokens came out.

use anyhow::Result;
use candle_core::Tensor;

use super::blocks::{block_hashes, BlockPool};
use super::Request;
use crate::models::llama::SequenceKv;

pub struct Sequence {
    pub req: Request,
    /// Prompt followed by the tokens generated so far.
    pub tokens: Vec<u32>,
    /// Tokens whose keys/values are in the cache.
    pub computed: usize,
    /// Prompt tokens that came from the prefix cache.
    pub hit_tokens: usize,
    /// Blocks reserved for the whole request (prompt + answer), cached prefix first.
    pub blocks: Vec<usize>,
    /// Full blocks already offered to the prefix index.
    published: usize,
    /// Contiguous keys/values per layer, `(1, kv_heads, computed, head_dim)`,
    /// what attention reads.
    kv: Vec<Option<(Tensor, Tensor)>>,
    /// Seconds since the session start.
    pub token_times: Vec<f64>,
}

impl Sequence {
    /// Admit `req` if the pool can reserve its blocks, reusing cached prefix
    /// blocks; hands the request back when there is no room yet.
    pub fn admit(req: Request, pool: &mut BlockPool, n_layers: usize) -> Result<Result<Self, Request>> {
        let bs = pool.block_size();
        let need = (req.prompt.len() + req.max_new).div_ceil(bs);
        let hits = pool.acquire_prefix(&req.prompt);
        if pool.available() < need - hits.len() {
            pool.release(&hits);
            return Ok(Err(req));
        }
        let mut blocks = hits.clone();
        for _ in hits.len()..need {
            blocks.push(pool.allocate().expect("checked available"));
        }
        let mut kv: Vec<Option<(Tensor, Tensor)>> = vec![None; n_layers];
        if !hits.is_empty() {
            for (layer, slot) in kv.iter_mut().enumerate() {
                let ks: Vec<&Tensor> =
                    hits.iter().map(|&b| &pool.kv(b).expect("indexed block has kv")[layer].0).collect();
                let vs: Vec<&Tensor> =
                    hits.iter().map(|&b| &pool.kv(b).expect("indexed block has kv")[layer].1).collect();
                *slot = Some((cat(&ks)?, cat(&vs)?));
            }
        }
        let computed = hits.len() * bs;
        Ok(Ok(Self {
            tokens: req.prompt.clone(),
            req,
            computed,
            hit_tokens: computed,
            blocks,
            published: hits.len(),
            kv,
            token_times: vec![],
        }))
    }

    pub fn prompt_len(&self) -> usize {
        self.req.prompt.len()
    }

    pub fn in_prefill(&self) -> bool {
        self.computed < self.prompt_len()
    }

    pub fn generated(&self) -> usize {
        self.tokens.len() - self.prompt_len()
    }

    pub fn finished(&self) -> bool {
        self.generated() >= self.req.max_new
    }

    /// Offer newly filled full blocks to the prefix index.
    pub fn publish_full_blocks(&mut self, pool: &mut BlockPool) -> Result<()> {
        if !pool.prefix_caching() {
            return Ok(());
        }
        let bs = pool.block_size();
        let full = self.computed / bs;
        if full <= self.published {
            return Ok(());
        }
        let hashes = block_hashes(&self.tokens[..full * bs], bs);
        for (j, &hash) in hashes.iter().enumerate().take(full).skip(self.published) {
            let kv = self
                .kv
                .iter()
                .map(|l| {
                    let (k, v) = l.as_ref().expect("computed tokens have kv");
                    Ok((k.narrow(2, j * bs, bs)?.contiguous()?, v.narrow(2, j * bs, bs)?.contiguous()?))
                })
                .collect::<Result<Vec<_>>>()?;
            pool.publish(self.blocks[j], hash, kv);
        }
        self.published = full;
        Ok(())
    }
}

fn cat(ts: &[&Tensor]) -> Result<Tensor> {
    Ok(Tensor::cat(ts, 2)?)
}

impl SequenceKv for Sequence {
    fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match &self.kv[layer] {
            None => (k.clone(), v.clone()),
            Some((pk, pv)) => (Tensor::cat(&[pk, k], 2)?, Tensor::cat(&[pv, v], 2)?),
        };
        self.kv[layer] = Some((k.clone(), v.clone()));
        Ok((k, v))
    }
}
