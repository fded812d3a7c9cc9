//! Our own matrix kernels for the block formats where candle's CPU kernels leave
//! speed on the table (Q4_0 has no multi-row dot, Q4_1 none vectorised at all).
//!
//! A weight is repacked once at load into groups of eight output rows: per block of
//! 32 inputs, the eight rows' scales (f16, as in the file) and then their codes
//! interleaved four bytes at a time, so one 256-bit integer dot product yields one
//! partial sum per row in each lane and an activation's four bytes are broadcast
//! once for all eight rows. Activations are quantized to 8 bits per block of 32 on
//! the fly (as ggml does). For every block and row:
//!
//! `out += d_w·d_a·Σ code·q_a + (m_w − offset·d_w)·d_a·Σ q_a`
//!
//! where `code` is the stored unsigned code, `offset` what the format subtracts from
//! it (8 for Q4_0, 16 for Q5_0, 128 for Q8_0 stored unsigned, 0 for Q4_1, Q5_1 and
//! signed Q8_0), and `m_w` the minimum of Q4_1/Q5_1. Four-bit and eight-bit formats
//! keep the file's bytes per weight (decode moves no more memory than llama.cpp);
//! five-bit ones are stored a code per byte (34 or 36 bytes per 32 weights against the
//! file's 22 or 24: their high bits would cost more to reassemble than they save).
//!
//! Paths: AVX-512 VNNI (`vpdpbusd`), AVX2 (`vpmaddubsw`), and a portable one that
//! is also the reference the tests compare the fast ones with. The path is chosen
//! once per process from what the CPU reports; `HARNESS_KERNELS=candle` keeps
//! candle's own kernels instead (to compare), `portable` or `avx2` lower the path.

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

use anyhow::{ensure, Result};
use candle_core::quantized::{GgmlDType, QTensor};
use half::f16;

/// Inputs per quantization block (all three formats).
pub const BLOCK: usize = 32;
/// Output rows packed together.
pub const GROUP: usize = 8;

/// Block formats with a packed kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackFormat {
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
}

impl PackFormat {
    pub fn of(dtype: GgmlDType) -> Option<Self> {
        match dtype {
            GgmlDType::Q4_0 => Some(Self::Q4_0),
            GgmlDType::Q4_1 => Some(Self::Q4_1),
            GgmlDType::Q5_0 => Some(Self::Q5_0),
            GgmlDType::Q5_1 => Some(Self::Q5_1),
            GgmlDType::Q8_0 => Some(Self::Q8_0),
            _ => None,
        }
    }

    fn is_q4(self) -> bool {
        matches!(self, Self::Q4_0 | Self::Q4_1)
    }

    /// Formats with a per-block minimum (`d·code + m`).
    fn has_min(self) -> bool {
        matches!(self, Self::Q4_1 | Self::Q5_1)
    }

    /// Bytes of one ggml block in the file.
    fn file_block_bytes(self) -> usize {
        match self {
            Self::Q4_0 => 18,
            Self::Q4_1 => 20,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q8_0 => 34,
        }
    }
}

/// The instruction set the kernels run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Portable,
    Avx2,
    Avx512Vnni,
}

impl Isa {
    /// The best this CPU offers (once per process; `HARNESS_KERNELS=portable|avx2` lowers
    /// it); `None` when `HARNESS_KERNELS=candle` keeps candle's kernels.
    pub fn detect() -> Option<Isa> {
        static ISA: OnceLock<Option<Isa>> = OnceLock::new();
        *ISA.get_or_init(|| {
            let best = best_isa();
            match std::env::var("HARNESS_KERNELS").as_deref() {
                Ok("candle") => None,
                Ok("portable") => Some(Isa::Portable),
                Ok("avx2") if best != Isa::Portable => Some(Isa::Avx2),
                _ => Some(best),
            }
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512Vnni => "avx512vnni",
        }
    }

    /// Every path this CPU can run (tests compare each with the portable one).
    pub fn available() -> Vec<Isa> {
        let best = best_isa();
        [Isa::Portable, Isa::Avx2, Isa::Avx512Vnni].into_iter().filter(|i| *i as u8 <= best as u8).collect()
    }
}

fn best_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 =
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c");
        if avx2 && is_x86_feature_detected!("avx512vnni") && is_x86_feature_detected!("avx512vl") {
            return Isa::Avx512Vnni;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

/// A weight `(rows, cols)` repacked for the kernels of one instruction set.
pub struct PackedWeight {
    format: PackFormat,
    isa: Isa,
    rows: usize,
    cols: usize,
    blocks: usize,
    data: Vec<u8>,
}

/// Layout facts the kernels share.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    pub format: PackFormat,
    pub blocks: usize,
    /// Bytes of one group's block: scales (and minimums) then codes.
    pub group_block: usize,
    /// Byte offset of the codes within a group's block.
    pub codes_at: usize,
    /// What the stored code has over the signed value (see the module doc).
    pub offset: f32,
    /// Byte-per-code layouts: whether the codes are signed (Q8_0 off the VNNI path).
    pub signed_bytes: bool,
}

impl PackedWeight {
    /// Repack a ggml tensor `(rows, cols)`; `None` when its format has no packed kernel.
    pub fn from_qtensor(q: &QTensor) -> Result<Option<Self>> {
        let (Some(format), Some(isa)) = (PackFormat::of(q.dtype()), Isa::detect()) else { return Ok(None) };
        let (rows, cols) = q.shape().dims2()?;
        Ok(Some(Self::pack(format, isa, rows, cols, &q.data()?)?))
    }

    /// Repack ggml blocks (`rows × cols/32` blocks in file order) for `isa`.
    pub fn pack(format: PackFormat, isa: Isa, rows: usize, cols: usize, file: &[u8]) -> Result<Self> {
        ensure!(cols.is_multiple_of(BLOCK), "row length {cols} is not a multiple of {BLOCK}");
        let blocks = cols / BLOCK;
        let fb = format.file_block_bytes();
        ensure!(file.len() == rows * blocks * fb, "{} bytes for {rows}x{cols} {format:?}", file.len());
        let layout = layout(format, isa, blocks);
        let groups = rows.div_ceil(GROUP);
        let mut data = vec![0u8; groups * blocks * layout.group_block];
        let mut vals = [0u8; BLOCK];
        for r in 0..rows {
            let (g, lane) = (r / GROUP, r % GROUP);
            for b in 0..blocks {
                let src = &file[(r * blocks + b) * fb..][..fb];
                let dst = &mut data[(g * blocks + b) * layout.group_block..][..layout.group_block];
                dst[lane * 2..lane * 2 + 2].copy_from_slice(&src[0..2]);
                let qs = if format.has_min() {
                    dst[16 + lane * 2..16 + lane * 2 + 2].copy_from_slice(&src[2..4]);
                    &src[4..]
                } else {
                    &src[2..]
                };
                // Codes of the 32 inputs in order.
                match format {
                    PackFormat::Q4_0 | PackFormat::Q4_1 => {
                        for j in 0..16 {
                            vals[j] = qs[j] & 0x0F;
                            vals[j + 16] = qs[j] >> 4;
                        }
                    }
                    PackFormat::Q5_0 | PackFormat::Q5_1 => {
                        // ggml: 32 high bits in a little-endian u32, then the low nibbles.
                        let qh = u32::from_le_bytes([qs[0], qs[1], qs[2], qs[3]]);
                        let lo = &qs[4..];
                        for j in 0..16 {
                            vals[j] = (lo[j] & 0x0F) | ((((qh >> j) & 1) as u8) << 4);
                            vals[j + 16] = (lo[j] >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
                        }
                    }
                    PackFormat::Q8_0 => {
                        for j in 0..BLOCK {
                            // Unsigned for the VNNI path (u8 × i8 products), signed otherwise.
                            vals[j] = if isa == Isa::Avx512Vnni { qs[j] ^ 0x80 } else { qs[j] };
                        }
                    }
                }
                let codes = &mut dst[layout.codes_at..];
                if format.is_q4() {
                    // Vector p holds input quad p in its low nibbles and quad p+4 in its high ones.
                    for p in 0..4 {
                        for i in 0..4 {
                            codes[p * 32 + lane * 4 + i] = vals[p * 4 + i] | (vals[(p + 4) * 4 + i] << 4);
                        }
                    }
                } else {
                    for quad in 0..8 {
                        codes[quad * 32 + lane * 4..][..4].copy_from_slice(&vals[quad * 4..quad * 4 + 4]);
                    }
                }
            }
        }
        Ok(Self { format, isa, rows, cols, blocks, data })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes of the packed weight (equal to the file's blocks, padding rows aside).
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn layout(&self) -> Layout {
        layout(self.format, self.isa, self.blocks)
    }

    /// `out (m, rows) = x (m, cols) · Wᵀ`, spread over candle's CPU thread pool.
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) {
        assert_eq!(x.len(), m * self.cols, "activation length");
        assert_eq!(out.len(), m * self.rows, "output length");
        let acts = QuantActs::quantize(x, m, self.cols);
        let groups = self.rows.div_ceil(GROUP);
        let lay = self.layout();
        let out = Disjoint::new(out);
        let run = |range: std::ops::Range<usize>| self.groups_into(&lay, &acts, range, &out);
        if groups * m < 64 {
            run(0..groups);
        } else {
            candle_core::utils::barrier_pool().execute_chunked(groups, run);
        }
    }

    /// Groups `range` of the output: each group writes only its own eight output columns of
    /// every row, and the pool hands each group to one worker, so the pieces taken from
    /// `out` never overlap between workers (nor within one: a piece is written and dropped).
    fn groups_into(&self, lay: &Layout, acts: &QuantActs, range: std::ops::Range<usize>, out: &Disjoint<f32>) {
        let n = self.rows;
        let stride = self.blocks * lay.group_block;
        let per_call = match self.isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512Vnni => x86::groups_per_call(self.isa, acts.rows),
            _ => 1,
        };
        let mut g = range.start;
        while g < range.end {
            let ng = per_call.min(range.end - g);
            let w = &self.data[g * stride..(g + ng) * stride];
            let mut put = |row: usize, gi: usize, vals: &[f32; GROUP]| {
                let first = (g + gi) * GROUP;
                let width = GROUP.min(n - first);
                // SAFETY: columns `first..first + width` of `row` belong to group `g + gi`, which
                // is in this worker's `range` alone (see above).
                unsafe { out.part(row * n + first, width) }.copy_from_slice(&vals[..width]);
            };
            match self.isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 | Isa::Avx512Vnni => x86::groups(self.isa, lay, w, ng, acts, &mut put),
                _ => portable::group(lay, w, acts, &mut |row, vals| put(row, 0, vals)),
            }
            g += ng;
        }
    }

    /// The weight as f32 `(rows, cols)`, from the packed bytes (tests check the packing with it;
    /// structured pruning's importance scores read column norms from it).
    pub fn dequantize(&self) -> Vec<f32> {
        let lay = self.layout();
        let mut w = vec![0f32; self.rows * self.cols];
        for r in 0..self.rows {
            let (g, lane) = (r / GROUP, r % GROUP);
            for b in 0..self.blocks {
                let blk = &self.data[(g * self.blocks + b) * lay.group_block..][..lay.group_block];
                let (d, min) = scales(&lay, blk, lane);
                for k in 0..BLOCK {
                    let code = code_at(&lay, blk, lane, k);
                    w[r * self.cols + b * BLOCK + k] = d * (code - lay.offset) + min;
                }
            }
        }
        w
    }
}

fn layout(format: PackFormat, isa: Isa, blocks: usize) -> Layout {
    let scale_bytes = if format.has_min() { 32 } else { 16 };
    let code_bytes = if format.is_q4() { 128 } else { 256 };
    let offset = match (format, isa) {
        (PackFormat::Q4_0, _) => 8.0,
        (PackFormat::Q4_1 | PackFormat::Q5_1, _) => 0.0,
        (PackFormat::Q5_0, _) => 16.0,
        (PackFormat::Q8_0, Isa::Avx512Vnni) => 128.0,
        (PackFormat::Q8_0, _) => 0.0,
    };
    let signed_bytes = format == PackFormat::Q8_0 && isa != Isa::Avx512Vnni;
    Layout { format, blocks, group_block: scale_bytes + code_bytes, codes_at: scale_bytes, offset, signed_bytes }
}

/// Scale and minimum of `lane` in a group's block.
pub(crate) fn scales(lay: &Layout, blk: &[u8], lane: usize) -> (f32, f32) {
    let h = |at: usize| f16::from_le_bytes([blk[at], blk[at + 1]]).to_f32();
    let d = h(lane * 2);
    let min = if lay.format.has_min() { h(16 + lane * 2) } else { 0.0 };
    (d, min)
}

/// The code of input `k` of `lane`, as the kernels read it (unsigned or signed per the layout).
pub(crate) fn code_at(lay: &Layout, blk: &[u8], lane: usize, k: usize) -> f32 {
    let codes = &blk[lay.codes_at..];
    if lay.format.is_q4() {
        let (quad, i) = (k / 4, k % 4);
        let byte = codes[(quad % 4) * 32 + lane * 4 + i];
        f32::from(if quad < 4 { byte & 0x0F } else { byte >> 4 })
    } else {
        let byte = codes[(k / 4) * 32 + lane * 4 + k % 4];
        if lay.signed_bytes {
            f32::from(byte as i8)
        } else {
            f32::from(byte)
        }
    }
}

/// Activations quantized to 8 bits per block: codes, scales and scaled code sums.
pub(crate) struct QuantActs {
    pub rows: usize,
    pub blocks: usize,
    pub codes: Vec<i8>,
    pub d: Vec<f32>,
    /// `d · Σ codes` per block: what the weights' offsets and minimums multiply.
    pub s: Vec<f32>,
}

impl QuantActs {
    pub fn quantize(x: &[f32], rows: usize, cols: usize) -> Self {
        let blocks = cols / BLOCK;
        let mut codes = vec![0i8; rows * cols];
        let mut d = vec![0f32; rows * blocks];
        let mut s = vec![0f32; rows * blocks];
        if rows < 8 {
            quantize_blocks(x, &mut codes, &mut d, &mut s);
        } else {
            // Prefill: rows spread over the pool (each worker its own rows).
            let (cs, ds, ss) = (Disjoint::new(&mut codes), Disjoint::new(&mut d), Disjoint::new(&mut s));
            candle_core::utils::barrier_pool().execute_chunked(rows, |range| {
                // SAFETY: the pool hands each row to one worker, and a row's codes and
                // scales lie in these pieces alone.
                let (codes, d, s) = unsafe {
                    (
                        cs.part(range.start * cols, range.len() * cols),
                        ds.part(range.start * blocks, range.len() * blocks),
                        ss.part(range.start * blocks, range.len() * blocks),
                    )
                };
                quantize_blocks(&x[range.start * cols..range.end * cols], codes, d, s);
            });
        }
        Self { rows, blocks, codes, d, s }
    }
}

/// 8-bit codes per block of 32 (scale = max |x| / 127, rounded to nearest), written so
/// the compiler vectorises it.
fn quantize_blocks(x: &[f32], codes: &mut [i8], d: &mut [f32], s: &mut [f32]) {
    for (i, (chunk, out)) in x.chunks_exact(BLOCK).zip(codes.chunks_exact_mut(BLOCK)).enumerate() {
        let amax = chunk.iter().fold(0f32, |a, v| a.max(v.abs()));
        let scale = amax / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let mut q = [0i32; BLOCK];
        for (o, v) in q.iter_mut().zip(chunk) {
            *o = (v * inv).round_ties_even() as i32;
        }
        let mut sum = 0i32;
        for (o, v) in out.iter_mut().zip(&q) {
            let c = (*v).clamp(-127, 127);
            *o = c as i8;
            sum += c;
        }
        d[i] = scale;
        s[i] = scale * sum as f32;
    }
}

/// An output buffer shared by the pool's workers, each writing its own disjoint pieces.
///
/// A worker is handed neither the whole buffer as `&mut` (two live `&mut` over one
/// buffer alias, which is undefined behaviour even when the writes do not overlap) nor
/// a copy: it takes `&mut` pieces of exactly what it writes through [`Disjoint::part`].
/// The outputs are not contiguous per worker (a matmul group owns eight columns of every
/// row), so `chunks_mut` cannot hand them out.
pub(crate) struct Disjoint<'a, T> {
    ptr: *mut T,
    len: usize,
    _buf: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: a `Disjoint` is the `&mut [T]` it was made from, split between threads by the
// contract of `part`; sending or sharing it is sending `&mut [T]`, sound for `T: Send`.
unsafe impl<T: Send> Send for Disjoint<'_, T> {}
unsafe impl<T: Send> Sync for Disjoint<'_, T> {}

impl<'a, T> Disjoint<'a, T> {
    pub fn new(buf: &'a mut [T]) -> Self {
        Self { ptr: buf.as_mut_ptr(), len: buf.len(), _buf: std::marker::PhantomData }
    }

    /// Elements `start..start + len` (bounds checked).
    ///
    /// # Safety
    /// While the piece lives, no other piece overlapping it may be taken, on any thread.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn part(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start.checked_add(len).is_some_and(|end| end <= self.len), "piece {start}+{len} of {}", self.len);
        // SAFETY: in bounds (checked above) of the buffer borrowed for 'a; exclusive by the
        // caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }
}

#[cfg(test)]
mod tests;
