//! The kernels on x86-64: AVX-512 VNNI (`vpdpbusd` on 256-bit registers) where the CPU
//! has it, AVX2 (`vpmaddubsw` + `vpmaddwd`) otherwise. One body, written once in
//! [`kernel!`], compiled for each instruction set; the integer dot is what differs.

use std::arch::x86_64::*;

use super::{Isa, Layout, PackFormat, QuantActs, BLOCK, GROUP};

/// Activation rows per register tile: each weight vector loaded is used this many times.
const TILE: usize = 4;

/// The outputs of `ng` consecutive row groups (1 or 2; `w` holds their blocks one group
/// after another) for every activation row; `put(row, group, outputs)`.
pub(crate) fn groups(
    isa: Isa,
    lay: &Layout,
    w: &[u8],
    ng: usize,
    acts: &QuantActs,
    put: &mut dyn FnMut(usize, usize, &[f32; GROUP]),
) {
    assert!(w.len() >= ng * lay.blocks * lay.group_block, "weight groups too short");
    let mut row = 0;
    // SAFETY: the path was chosen by `Isa::detect`/`available`, so the CPU has its features;
    // every pointer the kernels form stays within `w` and the activation rows (asserted).
    unsafe {
        while row < acts.rows {
            let left = acts.rows - row;
            match (isa, ng, left) {
                (Isa::Avx512Vnni, 2, 4..) => vnni::<TILE, 2>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, 2, 3) => vnni::<3, 2>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, 2, 2) => vnni::<2, 2>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, 2, _) => vnni::<1, 2>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, _, 4..) => vnni::<TILE, 1>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, _, 3) => vnni::<3, 1>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, _, 2) => vnni::<2, 1>(lay, w, acts, row, put),
                (Isa::Avx512Vnni, _, _) => vnni::<1, 1>(lay, w, acts, row, put),
                // AVX2 has 16 vector registers: one group at a time.
                (_, _, 4..) => avx2::<TILE, 1>(lay, w, acts, row, put),
                (_, _, 3) => avx2::<3, 1>(lay, w, acts, row, put),
                (_, _, 2) => avx2::<2, 1>(lay, w, acts, row, put),
                (_, _, _) => avx2::<1, 1>(lay, w, acts, row, put),
            }
            row += left.min(TILE);
        }
    }
}

/// Row groups one kernel call takes on this path for `m` activation rows: two where
/// the activations are reused (prefill, VNNI's 32 registers); one for a single row,
/// where a second weight stream measured slower (SmolLM2 decode 237 → 165 tok/s).
pub(crate) fn groups_per_call(isa: Isa, m: usize) -> usize {
    if isa == Isa::Avx512Vnni && m >= TILE {
        2
    } else {
        1
    }
}

/// `acc + Σ₄ w_u8·a_i8` per 32-bit lane, one instruction.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
#[inline]
fn dot_vnni(acc: __m256i, w: __m256i, a: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(acc, w, a)
}

/// The same with AVX2: u8×i8 pairs to i16 (codes below 32 never saturate), then to i32.
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
        /// One register tile: `MR` activation rows from `row0` against `NG` groups of
        /// eight rows (each activation broadcast is used by every group).
        #[target_feature(enable = $features)]
        unsafe fn $name<const MR: usize, const NG: usize>(
            lay: &Layout,
            w: &[u8],
            acts: &QuantActs,
            row0: usize,
            put: &mut dyn FnMut(usize, usize, &[f32; GROUP]),
        ) {
            let cols = acts.blocks * BLOCK;
            assert!(row0 + MR <= acts.rows && acts.codes.len() >= acts.rows * cols);
            assert!(w.len() >= NG * lay.blocks * lay.group_block);
            let stride = lay.blocks * lay.group_block;
            let q4 = matches!(lay.format, PackFormat::Q4_0 | PackFormat::Q4_1);
            let q41 = matches!(lay.format, PackFormat::Q4_1 | PackFormat::Q5_1);
            let with_c = q41 || lay.offset != 0.0;
            let signed = lay.signed_bytes;
            let neg_off = _mm256_set1_ps(-lay.offset);
            let nibble = _mm256_set1_epi8(0x0F);
            let wp = w.as_ptr();
            let ap: [*const i8; MR] = std::array::from_fn(|r| unsafe { acts.codes.as_ptr().add((row0 + r) * cols) });
            let mut acc = [[_mm256_setzero_ps(); MR]; NG];
            for b in 0..lay.blocks {
                let blk: [*const u8; NG] = std::array::from_fn(|g| unsafe { wp.add(g * stride + b * lay.group_block) });
                let mut isum = [[_mm256_setzero_si256(); MR]; NG];
                let bcast = |r: usize, quad: usize| unsafe {
                    _mm256_set1_epi32((ap[r].add(b * BLOCK + quad * 4) as *const i32).read_unaligned())
                };
                if q4 {
                    for p in 0..4 {
                        let lo_a: [__m256i; MR] = std::array::from_fn(|r| bcast(r, p));
                        let hi_a: [__m256i; MR] = std::array::from_fn(|r| bcast(r, p + 4));
                        for g in 0..NG {
                            let v = unsafe { _mm256_loadu_si256(blk[g].add(lay.codes_at + p * 32) as *const __m256i) };
                            let lo = _mm256_and_si256(v, nibble);
                            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), nibble);
                            for r in 0..MR {
                                isum[g][r] = $dot_q4(isum[g][r], lo, lo_a[r]);
                                isum[g][r] = $dot_q4(isum[g][r], hi, hi_a[r]);
                            }
                        }
                    }
                } else {
                    for quad in 0..8 {
                        let a: [__m256i; MR] = std::array::from_fn(|r| bcast(r, quad));
                        for g in 0..NG {
                            let v =
                                unsafe { _mm256_loadu_si256(blk[g].add(lay.codes_at + quad * 32) as *const __m256i) };
                            for r in 0..MR {
                                isum[g][r] = if signed {
                                    $dot_q8(isum[g][r], v, a[r])
                                } else {
                                    // Unsigned codes (Q5 and VNNI's Q8_0): below 32 or the VNNI dot.
                                    $dot_q4(isum[g][r], v, a[r])
                                };
                            }
                        }
                    }
                }
                for g in 0..NG {
                    let d = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(blk[g] as *const __m128i) });
                    // c = m − offset·d: what each unit of the activation block's sum adds.
                    let c = if q41 {
                        let m = _mm256_cvtph_ps(unsafe { _mm_loadu_si128(blk[g].add(16) as *const __m128i) });
                        _mm256_fmadd_ps(neg_off, d, m)
                    } else {
                        _mm256_mul_ps(neg_off, d)
                    };
                    for r in 0..MR {
                        let at = (row0 + r) * acts.blocks + b;
                        let da = _mm256_set1_ps(acts.d[at]);
                        acc[g][r] = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(isum[g][r]), acc[g][r]);
                        if with_c {
                            acc[g][r] = _mm256_fmadd_ps(c, _mm256_set1_ps(acts.s[at]), acc[g][r]);
                        }
                    }
                }
            }
            for (g, rows) in acc.iter().enumerate() {
                for (r, a) in rows.iter().enumerate() {
                    let mut o = [0f32; GROUP];
                    unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
                    put(row0 + r, g, &o);
                }
            }
        }
    };
}

kernel!(vnni, "avx2,fma,f16c,avx512vnni,avx512vl", dot_vnni, dot_vnni);
kernel!(avx2, "avx2,fma,f16c", dot_avx2, dot_avx2_signed);
