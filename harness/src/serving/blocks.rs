//! A paged KV cache's block manager: fixed-size blocks with reference counts,
//! and a prefix index so requests sharing a prompt prefix share its blocks.
//!
//! Blocks are the unit of admission (a request reserves the blocks its prompt
//! and answer need) and of sharing. A full block's keys/values are kept with
//! the block when prefix caching is on; a block whose last user finished stays
//! in the index (evictable, least recently used first) until its space is needed.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use candle_core::Tensor;

/// Keys and values of one block, per layer: `(1, kv_heads, block_size, head_dim)`.
pub type BlockKv = Vec<(Tensor, Tensor)>;

struct Block {
    refs: usize,
    hash: Option<u64>,
    kv: Option<BlockKv>,
}

pub struct BlockPool {
    block_size: usize,
    blocks: Vec<Block>,
    free: Vec<usize>,
    /// Unreferenced blocks still in the prefix index, least recently used first.
    evictable: VecDeque<usize>,
    index: HashMap<u64, usize>,
    prefix_caching: bool,
}

/// Chain hash of full blocks: block `i`'s hash covers every token up to its end,
/// so equal hashes mean equal prefixes (up to 64-bit collisions).
pub fn block_hashes(tokens: &[u32], block_size: usize) -> Vec<u64> {
    let mut prev = 0u64;
    tokens
        .chunks_exact(block_size)
        .map(|chunk| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            prev.hash(&mut h);
            chunk.hash(&mut h);
            prev = h.finish();
            prev
        })
        .collect()
}

impl BlockPool {
    pub fn new(capacity: usize, block_size: usize, prefix_caching: bool) -> Self {
        let blocks = (0..capacity).map(|_| Block { refs: 0, hash: None, kv: None }).collect();
        Self {
            block_size,
            blocks,
            free: (0..capacity).rev().collect(),
            evictable: VecDeque::new(),
            index: HashMap::new(),
            prefix_caching,
        }
    }

    pub fn block_size(&self) -> usize {
        self.block_size
    }

    pub fn prefix_caching(&self) -> bool {
        self.prefix_caching
    }

    pub fn capacity(&self) -> usize {
        self.blocks.len()
    }

    /// Blocks some request holds.
    pub fn in_use(&self) -> usize {
        self.blocks.iter().filter(|b| b.refs > 0).count()
    }

    /// Blocks that can be handed out now (free, or evictable from the index).
    pub fn available(&self) -> usize {
        self.free.len() + self.evictable.len()
    }

    /// The cached blocks matching the leading full blocks of `tokens`, each
    /// with a new reference. At least one token is always left uncached, so
    /// the request still computes the logits of its last prompt token.
    pub fn acquire_prefix(&mut self, tokens: &[u32]) -> Vec<usize> {
        if !self.prefix_caching || tokens.len() < 2 {
            return vec![];
        }
        let usable = &tokens[..tokens.len() - 1];
        let mut hits = vec![];
        for h in block_hashes(usable, self.block_size) {
            match self.index.get(&h) {
                Some(&id) => {
                    let b = &mut self.blocks[id];
                    if b.refs == 0 {
                        self.evictable.retain(|&e| e != id);
                    }
                    b.refs += 1;
                    hits.push(id);
                }
                None => break,
            }
        }
        hits
    }

    /// The keys/values a cached block holds.
    pub fn kv(&self, id: usize) -> Option<&BlockKv> {
        self.blocks[id].kv.as_ref()
    }

    /// A fresh block with one reference, evicting the least recently used
    /// cached block if none is free.
    pub fn allocate(&mut self) -> Option<usize> {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                let id = self.evictable.pop_front()?;
                if let Some(h) = self.blocks[id].hash.take() {
                    self.index.remove(&h);
                }
                self.blocks[id].kv = None;
                id
            }
        };
        self.blocks[id].refs = 1;
        Some(id)
    }

    /// Record a block a request has just filled, under its prefix hash, so
    /// later requests can reuse it. No-op without prefix caching, or when an
    /// equal block is already indexed (two requests computed it at once).
    pub fn publish(&mut self, id: usize, hash: u64, kv: BlockKv) {
        if !self.prefix_caching || self.index.contains_key(&hash) || self.blocks[id].hash.is_some() {
            return;
        }
        self.index.insert(hash, id);
        self.blocks[id].hash = Some(hash);
        self.blocks[id].kv = Some(kv);
    }

    /// Drop one reference to each block; unreferenced indexed blocks become
    /// evictable, the rest free.
    pub fn release(&mut self, ids: &[usize]) {
        for &id in ids {
            let b = &mut self.blocks[id];
            assert!(b.refs > 0, "block {id} released more often than acquired");
            b.refs -= 1;
            if b.refs == 0 {
                if b.hash.is_some() {
                    self.evictable.push_back(id);
                } else {
                    b.kv = None;
                    self.free.push(id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv() -> BlockKv {
        let t = Tensor::zeros((1, 1, 4, 2), candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
        vec![(t.clone(), t)]
    }

    #[test]
    fn prefix_blocks_are_shared_and_every_block_comes_back() {
        let mut pool = BlockPool::new(8, 4, true);
        let prompt: Vec<u32> = (0..13).collect(); // 3 full blocks + 1 token
        assert!(pool.acquire_prefix(&prompt).is_empty());
        let a: Vec<usize> = (0..4).map(|_| pool.allocate().unwrap()).collect();
        for (i, h) in block_hashes(&prompt, 4).into_iter().enumerate() {
            pool.publish(a[i], h, kv());
        }
        // A second request with the same 12-token prefix and another tail.
        let mut other = prompt[..12].to_vec();
        other.extend([99, 98]);
        let hits = pool.acquire_prefix(&other);
        assert_eq!(hits, a[..3].to_vec());
        assert_eq!(pool.in_use(), 4);
        pool.release(&a);
        assert_eq!(pool.in_use(), 3, "shared blocks still held by the second request");
        pool.release(&hits);
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.available(), 8, "no leak: every block is free or evictable");
        // Cached blocks are reused after their users left...
        assert_eq!(pool.acquire_prefix(&prompt).len(), 3);
        pool.release(&a[..3]);
        // ...and evicted, least recently used first, when space is needed.
        let all: Vec<usize> = (0..8).map(|_| pool.allocate().unwrap()).collect();
        assert_eq!(all.len(), 8);
        assert!(pool.allocate().is_none());
        assert!(pool.acquire_prefix(&prompt).is_empty(), "evicted blocks left the index");
        pool.release(&all);
        assert_eq!(pool.available(), 8);
    }

    #[test]
    fn at_least_one_token_is_left_to_compute() {
        let mut pool = BlockPool::new(4, 4, true);
        let prompt: Vec<u32> = (0..8).collect(); // exactly two blocks
        let ids: Vec<usize> = (0..2).map(|_| pool.allocate().unwrap()).collect();
        for (i, h) in block_hashes(&prompt, 4).into_iter().enumerate() {
            pool.publish(ids[i], h, kv());
        }
        assert_eq!(pool.acquire_prefix(&prompt).len(), 1);
    }
}
