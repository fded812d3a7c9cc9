//! The hot paths of our engine: quantized matrix–vector (decode) and matrix–matrix
//! (prefill) products per weight format, and one whole decode step of a Llama-style
//! model with a KV cache. `cargo bench --bench kernels -- --save-baseline before`, then
//! after a change `cargo bench --bench kernels -- --baseline before` prints the change.
//! Measure on an idle machine.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use harness::engines;
use harness::models::generate::KvMode;
use harness::models::ModelSpec;
use harness::techniques::TechniqueName;

const K: usize = 1024;

fn matmul(c: &mut Criterion) {
    let dev = Device::Cpu;
    let w = Tensor::randn(0f32, 0.02, (K, K), &dev).unwrap();
    let mut g = c.benchmark_group("matmul_1024");
    g.sample_size(20)
        .measurement_time(std::time::Duration::from_secs(2))
        .warm_up_time(std::time::Duration::from_secs(1));
    let formats = [
        ("f32", None),
        ("q8_0", Some(GgmlDType::Q8_0)),
        ("q4_0", Some(GgmlDType::Q4_0)),
        ("q4_1", Some(GgmlDType::Q4_1)),
        ("q4k", Some(GgmlDType::Q4K)),
        ("q6k", Some(GgmlDType::Q6K)),
    ];
    for (name, dtype) in formats {
        let mm = match dtype {
            Some(d) => QMatMul::from_qtensor(QTensor::quantize(&w, d).unwrap()).unwrap(),
            None => QMatMul::Tensor(w.clone()),
        };
        for rows in [1usize, 64] {
            let x = Tensor::randn(0f32, 1.0, (rows, K), &dev).unwrap().to_dtype(DType::F32).unwrap();
            let shape = if rows == 1 { "decode" } else { "prefill64" };
            g.bench_with_input(BenchmarkId::new(name, shape), &x, |b, x| b.iter(|| mm.forward(x).unwrap()));
        }
    }
    g.finish();
}

/// Our packed kernels (`models::kernels`) at the same shapes, for the formats they cover.
fn packed(c: &mut Criterion) {
    use harness::models::kernels::PackedWeight;
    let dev = Device::Cpu;
    let w = Tensor::randn(0f32, 0.02, (K, K), &dev).unwrap();
    let mut g = c.benchmark_group("packed_1024");
    g.sample_size(20)
        .measurement_time(std::time::Duration::from_secs(2))
        .warm_up_time(std::time::Duration::from_secs(1));
    for (name, dtype) in [("q8_0", GgmlDType::Q8_0), ("q4_0", GgmlDType::Q4_0), ("q4_1", GgmlDType::Q4_1)] {
        let p = PackedWeight::from_qtensor(&QTensor::quantize(&w, dtype).unwrap()).unwrap().unwrap();
        for rows in [1usize, 64] {
            let x: Vec<f32> = Tensor::randn(0f32, 1.0, (rows * K,), &dev).unwrap().to_vec1().unwrap();
            let mut out = vec![0f32; rows * K];
            let shape = if rows == 1 { "decode" } else { "prefill64" };
            g.bench_function(BenchmarkId::new(name, shape), |b| b.iter(|| p.matmul(&x, rows, &mut out)));
        }
    }
    g.finish();
}

/// One decode step after a 64-token prompt (the prefill is outside the timing), on a
/// synthetic Llama of the given shape, per technique.
fn decode_step_of(c: &mut Criterion, group: &str, shape: &str, techniques: &[&str]) {
    let spec: ModelSpec = serde_yaml::from_str(shape).unwrap();
    let mut g = c.benchmark_group(group);
    g.sample_size(20)
        .measurement_time(std::time::Duration::from_secs(3))
        .warm_up_time(std::time::Duration::from_secs(1));
    for technique in techniques {
        let plan = TechniqueName::parse(technique).unwrap().plan();
        let engine = engines::by_name(engines::DEFAULT_ENGINE).unwrap();
        let model = engine.load(&spec, &plan, std::path::Path::new("/nonexistent")).unwrap();
        let prompt: Vec<u32> = (0..64u32).map(|i| (i * 7919 + 13) % 8192).collect();
        g.bench_function(*technique, |b| {
            b.iter_batched(
                || {
                    let mut batch = model.batch(KvMode::On).unwrap();
                    let next = batch.prefill(std::slice::from_ref(&prompt)).unwrap()[0];
                    let mut seq = prompt.clone();
                    seq.push(next);
                    (batch, seq)
                },
                |(mut batch, seq)| batch.decode(std::slice::from_ref(&seq)).unwrap(),
                criterion::BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn decode_step(c: &mut Criterion) {
    decode_step_of(
        c,
        "decode_step_26m",
        "synthetic: {layers: 6, hidden: 512, heads: 8, kv_heads: 4, intermediate: 1536, vocab: 8192, seed: 11}",
        &["f32", "q8_0", "q4k"],
    );
    // SmolLM2-135M's shapes (random weights): the model the peer grid measures.
    decode_step_of(
        c,
        "decode_step_135m",
        "synthetic: {layers: 30, hidden: 576, heads: 9, kv_heads: 3, intermediate: 1536, vocab: 49152, seed: 11}",
        &["q8_0", "q4_0"],
    );
}

criterion_group!(benches, matmul, packed, decode_step);
criterion_main!(benches);
