//! Both engines on the same GGUF give the same greedy tokens (SmolLM2, a handful of
//! prompts, 24 tokens each). With f32 weights (both from the file dequantized) they must
//! agree token for token: the architectures are the same computation. On the file's own
//! Q4_1 the kernels round differently (and llama.cpp keeps an f16 KV cache), so where
//! they part our model's two candidates must be nearly tied, within 0.25 nats (on
//! 2026-11-27 three of five prompts parted, at gaps of 0.07-0.12 nats); a wrong position,
//! mask or norm parts at once, on a clear choice.
//! Skipped with a message when the model is not fetched (`scripts/fetch_models.sh`;
//! `.ci/run` fetches it).
#![cfg(feature = "llamacpp")]

mod common;

use harness::engines::{self, LoadedModel};
use harness::models::generate::KvMode;
use harness::models::ModelSpec;
use harness::techniques::TechniqueName;

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

/// Where two greedy runs part: the token index and our model's log-prob gap between the two picks.
type Parted = (usize, f32);

/// Greedy tokens of both engines for every prompt, and where they part, our model's
/// log-prob gap between the two picks there.
fn compare(format: &str) -> Option<Vec<(String, Option<Parted>)>> {
    let hub = common::repo_root().join("models/hub");
    let spec: ModelSpec = serde_yaml::from_str(
        "hub: {repo: HuggingFaceTB/SmolLM2-135M-Instruct-GGUF, file: SmolLM2-135M-Instruct.Q4_1.gguf}",
    )
    .unwrap();
    if spec.locate(&hub).is_none() {
        eprintln!("skipped: SmolLM2 is not in {} (run scripts/fetch_models.sh)", hub.display());
        return None;
    }
    let (_, tok) = spec.open(&hub).unwrap();
    let plan = TechniqueName::parse(format).unwrap().plan();
    let candle = engines::by_name("candle").unwrap().load(&spec, &plan, &hub).unwrap();
    let llama = engines::by_name("llamacpp").unwrap().load(&spec, &plan, &hub).unwrap();
    let mut out = vec![];
    for p in PROMPTS {
        let ids = tok.encode(p).unwrap();
        let (a, b) = (greedy(candle.as_ref(), &ids, 24), greedy(llama.as_ref(), &ids, 24));
        let parted = a.iter().zip(&b).position(|(x, y)| x != y).map(|at| {
            let mut ctx = ids.clone();
            ctx.extend(&a[..at]);
            let lp = candle.log_probs(&ctx).unwrap();
            let last: Vec<f32> = lp.get(ctx.len() - 1).unwrap().to_vec1().unwrap();
            (at, (last[a[at] as usize] - last[b[at] as usize]).abs())
        });
        out.push((p.to_string(), parted));
    }
    Some(out)
}

#[test]
fn with_f32_weights_both_engines_pick_the_same_tokens() {
    let Some(runs) = compare("f32") else { return };
    for (p, parted) in runs {
        assert_eq!(parted, None, "{p:?}: the engines part (token, gap) with the same f32 weights");
    }
}

#[test]
fn on_the_files_own_format_they_part_only_at_near_ties() {
    let Some(runs) = compare("native") else { return };
    let same = runs.iter().filter(|(_, p)| p.is_none()).count();
    for (p, parted) in &runs {
        if let Some((at, gap)) = parted {
            assert!(*gap < 0.25, "{p:?}: the engines part at token {at} on a clear choice (log-prob gap {gap:.4})");
            eprintln!("{p:?}: part at token {at}, where our model's two picks differ by {gap:.4} nats");
        }
    }
    assert!(same >= 2, "only {same} of {} prompts agree token for token", runs.len());
}
