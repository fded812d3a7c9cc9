//! Both engines on the same GGUF give the same greedy tokens (SmolLM2, a handful of
//! prompts, 24 tokens each). With f32 weights (both from the file dequantized) the
//! architectures are the same computation, summed in another order (each engine's SIMD
//! kernels, chosen by the CPU: AVX-512 and AVX2 machines round differently), so they may
//! part only at a near tie of the exact model: two best log-probabilities within
//! [`F32_TIE`]; another test holds the engines' teacher-forced log-probabilities within
//! [`F32_DRIFT`] of each other everywhere, which is what that bound is derived from. On the
//! file's own Q4_1 each engine rounds its activations its own way (8-bit per block;
//! llama.cpp also keeps an f16 KV cache), so the judge is the exact computation, the file's
//! weights in f32 (which the first test ties to llama.cpp). A correct 8-bit implementation
//! leaves the exact tokens only where the exact model's two candidates are close:
//! llama.cpp itself left them at a 0.50-nat gap on one prompt (2026-11-27), ours at
//! 0.03–0.32 nats after 6–21 tokens. So ours must leave them only below 0.6 nats, and
//! follow them for at least a third of all generated tokens before leaving; a wrong
//! position, mask, norm or kernel parts at once, on a clear choice, on every prompt.
//! llama.cpp's departures are printed, not judged.
//! Skipped with a message when the model is not fetched (`scripts/fetch_models.sh`;
//! `.ci/run` fetches it and sets `HARNESS_REQUIRE`, under which a missing model fails).

use crate::common;

use harness::engines::{self, LoadedModel};
use harness::models::generate::KvMode;
use harness::techniques::TechniqueName;

/// Greedy tokens generated per prompt.
const TOKENS: usize = 24;

const PROMPTS: &[&str] = &[
    "The license grants you the right to",
    "Permission is hereby granted, free of charge, to any person obtaining a copy",
    "In the beginning the Universe was created. This has made a lot of people",
    "def fibonacci(n):\n    ",
    "The capital of France is",
];

fn greedy(model: &dyn LoadedModel, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut batch = model.batch(KvMode::On).unwrap();
    let mut seq = prompt.to_vec();
    let mut next = batch.prefill(&[seq.clone()]).unwrap()[0];
    let mut out = vec![];
    for _ in 0..n {
        out.push(next);
        seq.push(next);
        next = batch.decode(&[seq.clone()]).unwrap()[0];
    }
    out
}

/// Where a greedy run leaves another: the token index and the judge's log-prob gap
/// between the two picks there.
type Parted = (usize, f32);

struct Runs {
    prompt: String,
    /// Our engine against the judge, llama.cpp against the judge.
    ours: Option<Parted>,
    theirs: Option<Parted>,
}

/// Greedy tokens of both engines in `format` for every prompt, each set against the
/// judge: our engine with `judge`'s weights (f32 for the exact computation).
fn compare(format: &str, judge: &str) -> Option<Vec<Runs>> {
    let (spec, hub, tok) = common::smollm2()?;
    let load = |engine: &str, t: &str| {
        engines::by_name(engine).unwrap().load(&spec, &TechniqueName::parse(t).unwrap().plan(), &hub).unwrap()
    };
    let (candle, llama, exact) = (load("candle", format), load("llamacpp", format), load("candle", judge));
    let mut out = vec![];
    for p in PROMPTS {
        let ids = tok.encode(p).unwrap();
        let want = greedy(exact.as_ref(), &ids, TOKENS);
        let parted = |got: &[u32]| {
            got.iter().zip(&want).position(|(x, y)| x != y).map(|at| {
                let mut ctx = ids.clone();
                ctx.extend(&want[..at]);
                let lp = exact.log_probs(&ctx).unwrap();
                let last: Vec<f32> = lp.get(ctx.len() - 1).unwrap().to_vec1().unwrap();
                (at, (last[want[at] as usize] - last[got[at] as usize]).abs())
            })
        };
        let ours = parted(&greedy(candle.as_ref(), &ids, TOKENS));
        let theirs = parted(&greedy(llama.as_ref(), &ids, TOKENS));
        out.push(Runs { prompt: p.to_string(), ours, theirs });
    }
    Some(out)
}

/// How far apart the two engines' f32 log-probabilities of one text may lie at any position
/// (nats). Both sum the same f32 products in other orders (each engine's SIMD kernels, picked
/// by the CPU), and llama.cpp keeps its default f16 KV cache, which dominates: measured
/// 0.014 nats at most over the five prompts on an AVX2 EPYC (2026-12-06; the test prints it).
/// A wrong operation moves them by a tenth of a nat or more.
const F32_DRIFT: f32 = 0.02;

/// Where the exact model's two best tokens lie within this gap (nats), two f32 engines may
/// pick differently: each of the two log-probabilities may move by up to [`F32_DRIFT`], so a
/// gap below twice that can flip, and nothing wider can. Seen on AVX2: a parting at token 7
/// of the MIT-licence prompt at a 0.007-nat gap.
const F32_TIE: f32 = 2.0 * F32_DRIFT;

#[test]
fn with_f32_weights_both_engines_pick_the_same_tokens() {
    let Some(runs) = compare("f32", "f32") else { return };
    for r in runs {
        assert_eq!(r.ours, None, "{:?}: our f32 run is not deterministic", r.prompt);
        if let Some((at, gap)) = r.theirs {
            assert!(
                gap < F32_TIE,
                "{:?}: the engines part at token {at} with the same f32 weights where the exact picks differ by \
                 {gap:.4} nats, not a near tie (< {F32_TIE})",
                r.prompt
            );
            eprintln!("{:?}: the f32 engines part at token {at}, a {gap:.4}-nat tie", r.prompt);
        }
    }
}

#[test]
fn with_f32_weights_both_engines_give_the_same_log_probabilities() {
    let Some((spec, hub, tok)) = common::smollm2() else { return };
    let ids = tok.encode(&PROMPTS.join(" ")).unwrap();
    let ours = common::next_token_log_probs("candle", "f32", &spec, &hub, &ids);
    let theirs = common::next_token_log_probs("llamacpp", "f32", &spec, &hub, &ids);
    let drift = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    eprintln!("f32 engines: max |log p difference| {drift:.6} nats over {} positions", ours.len());
    assert!(drift < F32_DRIFT, "the f32 engines' log-probabilities differ by up to {drift} nats");
}

#[test]
fn on_the_files_own_format_ours_leaves_the_exact_tokens_only_at_near_ties() {
    let Some(runs) = compare("native", "f32") else { return };
    let followed: usize = runs.iter().map(|r| r.ours.map_or(TOKENS, |(at, _)| at)).sum();
    for r in &runs {
        if let Some((at, gap)) = r.ours {
            assert!(gap < 0.6, "{:?}: ours leaves the exact tokens at {at} on a clear choice (gap {gap:.4})", r.prompt);
            eprintln!("{:?}: ours leaves the exact tokens at {at}, a {gap:.4}-nat tie", r.prompt);
        }
        if let Some((at, gap)) = r.theirs {
            eprintln!("{:?}: llama.cpp leaves them at {at}, where the exact picks differ by {gap:.4} nats", r.prompt);
        }
    }
    let total = TOKENS * runs.len();
    assert!(3 * followed >= total, "ours follows the exact tokens for only {followed} of {total} tokens");
}

/// llama.cpp's KV-cache formats and flash-attention switch really reach llama.cpp: a
/// setting silently dropped would leave its log-probabilities of a text unchanged; a
/// broken cache would leave nothing of the model (several nats off on average).
#[test]
fn llama_cpp_kv_formats_and_flash_attention_reach_it() {
    let Some((spec, hub, tok)) = common::smollm2() else { return };
    let ids = tok.encode(&PROMPTS.join(" ")).unwrap();
    // Log-prob of each actual next token.
    let scores = |technique: &str| common::next_token_log_probs("llamacpp", technique, &spec, &hub, &ids);
    let base = scores("native");
    let diff = |other: &[f32]| -> (f32, f32) {
        let d: Vec<f32> = base.iter().zip(other).map(|(a, b)| (a - b).abs()).collect();
        (d.iter().copied().fold(0.0, f32::max), d.iter().sum::<f32>() / d.len() as f32)
    };
    let (off_max, off_mean) = diff(&scores("native+flash-attn:off"));
    let (q4_max, q4_mean) = diff(&scores("native+kv-type:q4_0+flash-attn:on"));
    let (q8_max, q8_mean) = diff(&scores("native+kv-type:q8_0+flash-attn:on"));
    eprintln!(
        "vs llama.cpp's default: flash attention off max {off_max:.5} mean {off_mean:.6}; q8_0 cache max {q8_max:.4} \
         mean {q8_mean:.4}; q4_0 cache max {q4_max:.4} mean {q4_mean:.4} nats"
    );
    assert!(off_max > 0.0, "switching flash attention off changed nothing");
    assert!(q8_max > 0.0 && q4_mean > q8_mean, "q8_0 {q8_max}/{q8_mean}, q4_0 {q4_max}/{q4_mean}");
    assert!(q4_mean < 1.0, "a 4-bit cache left nothing of the model: {q4_mean} nats off on average");
}
