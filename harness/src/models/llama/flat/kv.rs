//! The flat forward's KV cache: per sequence and layer, keys and values written in place,
//! in f32 or 8 bits with a scale per 32 values; read in place by attention.

/// Keys and values of a batch of sequences, per layer `[kv_heads][capacity][head_dim]`,
/// written in place and grown by doubling (in steps of 256 positions).
pub struct FlatKv {
    pub(super) seqs: Vec<SeqKv>,
}

pub(super) struct SeqKv {
    pub(super) len: usize,
    pub(super) cap: usize,
    pub(super) layers: Vec<(KvBuf, KvBuf)>,
}

/// One layer's keys (or values) of one sequence, `[kv_heads][capacity][head_dim]`: f32, or
/// 8-bit codes with an f32 scale per 32 values (ggml's q8_0 layout, scales kept in f32).
#[derive(Debug, Clone)]
pub(super) enum KvBuf {
    F32(Vec<f32>),
    Q8 { codes: Vec<i8>, scales: Vec<f32> },
}

/// Values per scale of the 8-bit cache.
const KV_BLOCK: usize = 32;

/// How the flat forward keeps keys and values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KvFormat {
    #[default]
    F32,
    /// 8 bits per value, a scale per 32 (the `kv-type:q8_0` technique on our engine).
    Q8,
}

impl KvBuf {
    fn new(fmt: KvFormat) -> Self {
        match fmt {
            KvFormat::F32 => KvBuf::F32(Vec::new()),
            KvFormat::Q8 => KvBuf::Q8 { codes: Vec::new(), scales: Vec::new() },
        }
    }

    /// Copy the first `len` positions of every head into a buffer of capacity `cap`.
    fn grow(&mut self, heads: usize, old_cap: usize, cap: usize, len: usize, hd: usize) {
        fn regrid<T: Copy + Default>(buf: &[T], heads: usize, old: usize, new: usize, n: usize) -> Vec<T> {
            let mut grown = vec![T::default(); heads * new];
            for h in 0..heads {
                grown[h * new..][..n].copy_from_slice(&buf[h * old..][..n]);
            }
            grown
        }
        match self {
            KvBuf::F32(b) => *b = regrid(b, heads, old_cap * hd, cap * hd, len * hd),
            KvBuf::Q8 { codes, scales } => {
                let bs = hd / KV_BLOCK;
                *codes = regrid(codes, heads, old_cap * hd, cap * hd, len * hd);
                *scales = regrid(scales, heads, old_cap * bs, cap * bs, len * bs);
            }
        }
    }

    /// Store `row` (`hd` values) at row index `at` (head·capacity + position).
    pub(super) fn write(&mut self, at: usize, row: &[f32]) {
        let hd = row.len();
        match self {
            KvBuf::F32(b) => b[at * hd..][..hd].copy_from_slice(row),
            KvBuf::Q8 { codes, scales } => {
                let bs = hd / KV_BLOCK;
                for (j, blk) in row.chunks_exact(KV_BLOCK).enumerate() {
                    let amax = blk.iter().fold(0f32, |m, v| m.max(v.abs()));
                    let d = amax / 127.0;
                    let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
                    scales[at * bs + j] = d;
                    for (c, v) in codes[at * hd + j * KV_BLOCK..][..KV_BLOCK].iter_mut().zip(blk) {
                        *c = (v * inv).round_ties_even() as i8;
                    }
                }
            }
        }
    }

    /// `q · row(at)`.
    #[inline]
    pub(super) fn dot(&self, at: usize, q: &[f32]) -> f32 {
        let hd = q.len();
        match self {
            KvBuf::F32(b) => super::dot(q, &b[at * hd..][..hd]),
            KvBuf::Q8 { codes, scales } => {
                let bs = hd / KV_BLOCK;
                let c = &codes[at * hd..][..hd];
                // Eight independent lanes over the whole row (each block's scale folded into its
                // codes), so the compiler keeps the sums in vector registers and reduces once.
                let mut acc = [0f32; 8];
                for j in 0..bs {
                    let d = scales[at * bs + j];
                    let (xq, kq) = (&q[j * KV_BLOCK..][..KV_BLOCK], &c[j * KV_BLOCK..][..KV_BLOCK]);
                    for (x8, k8) in xq.chunks_exact(8).zip(kq.chunks_exact(8)) {
                        for l in 0..8 {
                            acc[l] += x8[l] * (k8[l] as f32 * d);
                        }
                    }
                }
                acc.iter().sum()
            }
        }
    }

    /// `acc += w · row(at)`.
    #[inline]
    pub(super) fn axpy(&self, at: usize, w: f32, acc: &mut [f32]) {
        let hd = acc.len();
        match self {
            KvBuf::F32(b) => acc.iter_mut().zip(&b[at * hd..][..hd]).for_each(|(a, v)| *a += w * v),
            KvBuf::Q8 { codes, scales } => {
                let bs = hd / KV_BLOCK;
                for j in 0..bs {
                    let ws = w * scales[at * bs + j];
                    for (a, c) in
                        acc[j * KV_BLOCK..][..KV_BLOCK].iter_mut().zip(&codes[at * hd + j * KV_BLOCK..][..KV_BLOCK])
                    {
                        *a += ws * *c as f32;
                    }
                }
            }
        }
    }
}

impl FlatKv {
    /// An empty cache of `batch` sequences over `layers` layers, kept in `fmt`.
    pub(super) fn new(batch: usize, layers: usize, fmt: KvFormat) -> Self {
        let buf = || (KvBuf::new(fmt), KvBuf::new(fmt));
        FlatKv {
            seqs: (0..batch).map(|_| SeqKv { len: 0, cap: 0, layers: (0..layers).map(|_| buf()).collect() }).collect(),
        }
    }

    /// Cached positions (the same for every sequence of the batch).
    pub fn len(&self) -> usize {
        self.seqs.first().map_or(0, |s| s.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every position from `len` on (speculative decoding's rollback past a rejected draft).
    pub fn truncate(&mut self, len: usize) {
        for s in &mut self.seqs {
            s.len = s.len.min(len);
        }
    }
}

impl SeqKv {
    pub(super) fn reserve(&mut self, need: usize, kv_heads: usize, hd: usize) {
        if need <= self.cap {
            return;
        }
        // Room for a few hundred more tokens, so decode steps rarely copy the cache.
        let cap = need.max(self.cap * 2).next_multiple_of(256);
        for (k, v) in &mut self.layers {
            k.grow(kv_heads, self.cap, cap, self.len, hd);
            v.grow(kv_heads, self.cap, cap, self.len, hd);
        }
        self.cap = cap;
    }
}
