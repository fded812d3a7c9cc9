//! Magnitude pruning through the engine: the share asked for is the share zeroed, and
//! on a trained model (SmolLM2, skipped with a message when not fetched) perplexity
//! rises with sparsity, while llama.cpp, which cannot prune at load, refuses the cell.

use crate::common;

use harness::engines;
use harness::models::ModelSpec;
use harness::techniques::TechniqueName;

#[test]
fn the_engine_prunes_the_share_asked_for() {
    let spec: ModelSpec =
        serde_yaml::from_str("synthetic: {layers: 2, hidden: 64, heads: 4, intermediate: 128, vocab: 512, seed: 3}")
            .unwrap();
    let plan = TechniqueName::parse("prune:0.4").unwrap().plan();
    let m = engines::by_name("candle").unwrap().load(&spec, &plan, std::path::Path::new("/x")).unwrap();
    let s = m.load_stats().sparsity().unwrap();
    assert!((s - 0.4).abs() < 1e-3, "achieved sparsity {s}");
    #[cfg(feature = "llamacpp")]
    {
        let caps = engines::by_name("llamacpp").unwrap().capabilities();
        assert!(caps.lacking("llamacpp", &plan, false).unwrap().contains("pruning"));
    }
}

#[test]
fn perplexity_rises_with_sparsity() {
    let Some((spec, hub, tok)) = common::smollm2() else { return };
    let text = "Permission is hereby granted, free of charge, to any person obtaining a copy of this software \
                and associated documentation files, to deal in the Software without restriction, including \
                without limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or \
                sell copies of the Software, and to permit persons to whom the Software is furnished to do so.";
    let ids = tok.encode(text).unwrap();
    let ppl = |technique: &str| -> f64 {
        let lp = common::next_token_log_probs("candle", technique, &spec, &hub, &ids);
        (-lp.iter().map(|v| f64::from(*v)).sum::<f64>() / lp.len() as f64).exp()
    };
    let (p0, p3, p6) = (ppl("f32"), ppl("prune:0.3"), ppl("prune:0.6"));
    eprintln!("perplexity: dense {p0:.2}, 30% pruned {p3:.2}, 60% pruned {p6:.2}");
    assert!(p0 < p3 && p3 < p6, "perplexity should rise with sparsity: {p0} {p3} {p6}");
}
