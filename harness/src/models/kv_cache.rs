//! Key/value caches behind one small trait, so paged or prefix-sharing caches
//! can replace the contiguous one without touching the decoder.

use anyhow::Result;
use candle_core::Tensor;

/// Per-layer store of past keys and values, shaped `(batch, kv_heads, seq, head_dim)`.
pub trait KvCache: Send {
    /// Append this step's keys/values and return everything cached so far.
    fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)>;
    /// Cached positions.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn reset(&mut self);
}

/// Contiguous cache grown by concatenation along the sequence axis: the same
/// layout candle's reference models use, so attention reads contiguous memory.
#[derive(Default)]
pub struct ConcatKv {
    kv: Option<(Tensor, Tensor)>,
}

impl KvCache for ConcatKv {
    fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match &self.kv {
            None => (k.clone(), v.clone()),
            Some((pk, pv)) => (Tensor::cat(&[pk, k], 2)?, Tensor::cat(&[pv, v], 2)?),
        };
        self.kv = Some((k.clone(), v.clone()));
        Ok((k, v))
    }

    fn len(&self) -> usize {
        self.kv.as_ref().map_or(0, |(k, _)| k.dims()[2])
    }

    fn reset(&mut self) {
        self.kv = None;
    }
}

/// The caches of every layer of one batch of sequences.
pub struct KvState {
    pub layers: Vec<Box<dyn KvCache>>,
}

impl KvState {
    pub fn contiguous(n_layers: usize) -> Self {
        Self { layers: (0..n_layers).map(|_| Box::new(ConcatKv::default()) as Box<dyn KvCache>).collect() }
    }

    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&mut self) {
        self.layers.iter_mut().for_each(|l| l.reset());
    }
}
