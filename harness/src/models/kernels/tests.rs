use candle_core::{Device, Tensor};

use super::*;

fn weight(rows: usize, cols: usize, seed: u64) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let v: Vec<f32> = (0..rows * cols).map(|_| rng.random_range(-1.0f32..1.0) * 0.05).collect();
    Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap()
}

fn acts(m: usize, cols: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..m * cols).map(|_| rng.random_range(-2.0f32..2.0)).collect()
}

/// `x (m, k) · Wᵀ` in f64 on the given f32 weights: the plain path.
fn plain(x: &[f32], w: &[f32], m: usize, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; m * rows];
    for i in 0..m {
        for r in 0..rows {
            let s: f64 = (0..cols).map(|k| f64::from(x[i * cols + k]) * f64::from(w[r * cols + k])).sum();
            out[i * rows + r] = s as f32;
        }
    }
    out
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

const FORMATS: [GgmlDType; 5] = [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q5_0, GgmlDType::Q5_1, GgmlDType::Q8_0];

#[test]
fn packing_keeps_every_weight() {
    for dtype in FORMATS {
        for isa in Isa::available() {
            let (rows, cols) = (20, 96);
            let q = QTensor::quantize(&weight(rows, cols, 1), dtype).unwrap();
            let p = PackedWeight::pack(PackFormat::of(dtype).unwrap(), isa, rows, cols, &q.data().unwrap()).unwrap();
            let want = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(p.dequantize(), want, "{dtype:?} on {}", isa.label());
        }
    }
}

#[test]
fn every_path_matches_the_plain_matmul() {
    for dtype in FORMATS {
        for (rows, cols) in [(8, 32), (20, 96), (64, 576)] {
            let q = QTensor::quantize(&weight(rows, cols, 2), dtype).unwrap();
            let w = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for m in [1, 3, 4, 7] {
                let x = acts(m, cols, 3);
                let want = plain(&x, &w, m, rows, cols);
                let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
                let mut reference = Vec::new();
                for isa in Isa::available() {
                    let p = PackedWeight::pack(PackFormat::of(dtype).unwrap(), isa, rows, cols, &q.data().unwrap())
                        .unwrap();
                    let mut out = vec![f32::NAN; m * rows];
                    p.matmul(&x, m, &mut out);
                    // 8-bit activations: about 1 % of the largest output.
                    let err = max_abs_diff(&out, &want);
                    assert!(err < 0.02 * scale, "{dtype:?} {rows}x{cols} m={m} {}: {err} vs {scale}", isa.label());
                    if isa == Isa::Portable {
                        reference = out;
                    } else {
                        // The same arithmetic in another order: agreement to rounding.
                        let err = max_abs_diff(&out, &reference);
                        assert!(err < 1e-4 * scale, "{dtype:?} {} vs portable: {err}", isa.label());
                    }
                }
            }
        }
    }
}

#[test]
fn large_products_run_on_the_pool_and_agree() {
    // Enough groups to be split across the thread pool.
    let (rows, cols, m) = (512, 256, 5);
    let q = QTensor::quantize(&weight(rows, cols, 4), GgmlDType::Q4_0).unwrap();
    let x = acts(m, cols, 5);
    let fast = PackedWeight::from_qtensor(&q).unwrap().unwrap();
    let slow = PackedWeight::pack(PackFormat::Q4_0, Isa::Portable, rows, cols, &q.data().unwrap()).unwrap();
    let (mut a, mut b) = (vec![0f32; m * rows], vec![0f32; m * rows]);
    fast.matmul(&x, m, &mut a);
    slow.matmul(&x, m, &mut b);
    let scale = b.iter().fold(0f32, |a, v| a.max(v.abs()));
    assert!(max_abs_diff(&a, &b) < 1e-4 * scale);
}

#[test]
fn a_row_length_off_the_block_is_refused() {
    let Err(err) = PackedWeight::pack(PackFormat::Q8_0, Isa::Portable, 4, 40, &[0u8; 4 * 34]) else {
        panic!("a 40-wide row was packed")
    };
    assert!(err.to_string().contains("multiple of 32"), "{err}");
}

/// Small enough for Miri (`scripts/miri_kernels.sh`), large enough that the product's groups
/// and the activations' rows are split across the pool: every output written exactly once,
/// each by the worker that owns it, equal to the same product computed on one thread.
#[test]
fn the_pool_writes_each_output_once() {
    let (rows, cols, m) = (64, 32, 8);
    let q = QTensor::quantize(&weight(rows, cols, 6), GgmlDType::Q4_0).unwrap();
    let x = acts(m, cols, 7);
    let p = PackedWeight::pack(PackFormat::Q4_0, Isa::Portable, rows, cols, &q.data().unwrap()).unwrap();
    assert!(rows.div_ceil(GROUP) * m >= 64 && m >= 8, "both loops take the pool");
    let mut pooled = vec![f32::NAN; m * rows];
    p.matmul(&x, m, &mut pooled);
    // Row by row: below the pool's threshold, on this thread alone.
    let mut alone = vec![f32::NAN; m * rows];
    for (xi, oi) in x.chunks(cols).zip(alone.chunks_mut(rows)) {
        p.matmul(xi, 1, oi);
    }
    assert_eq!(pooled, alone);
}
