//! The kernels on x86-64: AVX-512 VNNI (`vpdpbusd` on 256-bit registers) where the CPU
//! has it, AVX2 (`vpmaddubsw` + `vpmaddwd`) otherwise. One body, written once in
//! [`kernel!`], compiled for each instruction set; the integer dot is what differs.

use std::arch::x86_64::*;

use super::{Isa, Layout, PackFormat, QuantActs, BLOCK, GROUP};

/// Activation rows per register tile: each weight vector loaded is used this many times.
const TILE: usize = 4;

/// The eight outputs of one row group for every activation row; `put(row, outputs)`.
pub(crate) fn group(isa: Isa, lay: &Layout, w: &[u8], acts: &QuantActs, put: &mut dyn FnMut(usize, &[f32; GROUP])) {
    assert!(w.len() >= lay.blocks * lay.group_block, "weight group too short");
    let mut row = 0;
    // SAFETY: the path was chosen by `Isa::detect`/`available`, so the CPU has its features;
    // every pointer the kernels form stays within `w` and the activation rows (asserted).
    unsafe {
        while row < acts.rows {
            let left = acts.rows - row;
            match (isa, left) {
                (Isa::Avx512Vnni, 4..) => vnni::<TILE>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, 3) => vnni::<3>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, 2) => vnni::<2>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, _) => vnni::<1>(lay, w, acts, row, put),
                (_, 4..) => avx2::<TILE>(lay, w, acts, row, put),
                (_, 3) => avx2::<3>(lay, w, acts, row, put),
                (_, 2) => avx2::<2>(lay, w, acts, row, put),
                (_, _) => avx2::<1>(lay, w, acts, row, put),
            }
            row += left.min(TILE);
        }
    }
}

/// `acc + Σ₄ w_u8·a_i8` per 32-bit lane, one instruction.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
#[inline]
fn dot_vnni(acc: __m256i, w: __m256i, a: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, w, a)
}

/// The same with AVX2: u8×i8 pairs to i16 (codes below 16 never saturate), then to i32.
#[target_feature(enable = "avx2")]
#[inline]
fn dot_avx2(acc: __m256i, w: __m256i, a: __m256i) -> __m256i {
    let pairs = _mm256_maddubs_epi16(w, a);
    _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// Signed weights with AVX2: |w| × (a with w's sign) keeps the pair sums within i16.
#[target_feature(enable = "avx2")]
#[inline]
fn dot_avx2_signed(acc: __m256i, w: __m256i, a: __m256i) -> __m256i {
    dot_avx2(acc, _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w))
}

macro_rules! kernel {
    ($name:ident, $features:literal, $dot_q4:ident, $dot_q8:ident) => {
        /// One register tile: `MR` activation rows from `row0` against one group of eight rows.
        #[target_feature(enable = $features)]
        unsafe fn $name<const MR: usize>(
            lay: &Layout,
            w: &[u8],
            acts: &QuantActs,
            row0: usize,
            put: &mut dyn FnMut(usize, &[f32; GROUP]),
        ) {
            let cols = acts.blocks * BLOCK;
            assert!(row0 + MR <= acts.rows && acts.codes.len() >= acts.rows * cols);
            let q4 = lay.format != PackFormat::Q8_0;
            let q41 = lay.format == PackFormat::Q4_1;
            let with_c = q41 || lay.offset != 0.0;
            let neg_off = _mm256_set1_ps(-lay.offset);
            let nibble = _mm256_set1_epi8(0x0F);
            let wp = w.as_ptr();
            let ap: [*const i8; MR] = std::array::from_fn(|r| unsafe { acts.codes.as_ptr().add((row0 + r) * cols) });
            let mut acc = [_mm256_setzero_ps(); MR];
            for b in 0..lay.blocks {
                let blk = unsafe { wp.add(b * lay.group_block) };
                let d = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(blk as *const __m128i) });
                // c = m − offset·d: what each unit of the activation block's sum adds.
                let c = if q41 {
                    let m = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(blk.add(16) as *const __m128i) });
                    _mm256_fmadd_ps(neg_off, d, m)
                } else {
                    _mm256_mul_ps(neg_off, d)
                };
                let codes = unsafe { blk.add(lay.codes_at) };
                let mut isum = [_mm256_setzero_si256(); MR];
                let bcast = |r: usize, quad: usize| unsafe {
                    _mm256_set1_epi32((ap[r].add(b * BLOCK + quad * 4) as *const i32).read_unaligned())
                };
                if q4 {
                    for p in 0..4 {
                        let v = unsafe { _mm256_loadu_si256(codes.add(p * 32) as *const __m256i) };
                        let lo = _mm256_and_si256(v, nibble);
                        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), nibble);
                        for r in 0..MR {
                            isum[r] = $dot_q4(isum[r], lo, bcast(r, p));
                            isum[r] = $dot_q4(isum[r], hi, bcast(r, p + 4));
                        }
                    }
                } else {
                    for quad in 0..8 {
                        let v = unsafe { _mm256_loadu_si256(codes.add(quad * 32) as *const __m256i) };
                        for r in 0..MR {
                            isum[r] = $dot_q8(isum[r], v, bcast(r, quad));
                        }
                    }
                }
                for r in 0..MR {
                    let at = (row0 + r) * acts.blocks + b;
                    let da = _mm256_set1_ps(acts.d[at]);
                    acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(isum[r]), acc[r]);
                    if with_c {
                        acc[r] = _mm256_fmadd_ps(c, _mm256_set1_ps(acts.s[at]), acc[r]);
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                let mut o = [0f32; GROUP];
                unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
                put(row0 + r, &o);
            }
        }
    };
}

kernel!(vnni, "avx2,fma,f16c,avx512vnni,avx512vl", dot_vnni, dot_vnni);
kernel!(avx2, "avx2,fma,f16c", dot_avx2, dot_avx2_signed);
