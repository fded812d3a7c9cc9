//! Compression and speculative decoding on a real model (SmolLM2; skipped with a message when
//! it is not fetched): structured pruning really shrinks the network, speculative decoding's
//! output is the model's own greedy output, and the calibration text stays off the held-out text.

use crate::common;

use harness::engines::LoadedModel;
use harness::models::generate::KvMode;
use harness::techniques::TechniqueName;

fn load(
    spec: &harness::models::ModelSpec,
    hub: &std::path::Path,
    technique: &str,
    cal: &[u32],
) -> Box<dyn LoadedModel> {
    let mut plan = TechniqueName::parse(technique).unwrap().plan();
    plan.calibration = cal.to_vec();
    harness::engines::by_name("candle").unwrap().load(spec, &plan, hub).unwrap()
}

/// 256 tokens of a licence text that the held-out text of these tests (Apache-2.0) does not share.
fn calibration(tok: &harness::models::tokenizer::TextTokenizer) -> Vec<u32> {
    tok.encode(&std::fs::read_to_string("/usr/share/common-licenses/GPL-3").unwrap()).unwrap()[..256].to_vec()
}

fn greedy(m: &dyn LoadedModel, prompt: &[u32], n: usize) -> Vec<u32> {
    harness::workloads::generate::generate(m, &[prompt.to_vec()], n, KvMode::On).unwrap().tokens.remove(0)
}

#[test]
fn structured_pruning_shrinks_heads_and_channels_and_the_parameter_count() {
    let Some((spec, hub, tok)) = common::smollm2() else { return };
    let cal = calibration(&tok);
    let whole = load(&spec, &hub, "q8_0", &cal);
    let pruned = load(&spec, &hub, "q8_0+prune-heads:0.25", &cal);
    let cfg = spec.config(&hub).unwrap();
    let (p0, p1) =
        (whole.run_stats()["parameters"].as_u64().unwrap(), pruned.run_stats()["parameters"].as_u64().unwrap());
    assert_eq!(p0 as usize, cfg.parameters(), "the whole model counts as its config says");
    // SmolLM2: 9 heads of 64 → 7 kept (q rows and o columns: 2·2·64·576 per layer),
    // 1536 channels → 1152 kept (3·384·576 per layer), over 30 layers.
    let h = cfg.hidden_size;
    let removed = cfg.num_layers * (2 * 2 * 64 * h + 3 * 384 * h);
    assert_eq!((p0 - p1) as usize, removed, "{p0} → {p1}");
    assert!(pruned.weight_bytes() < whole.weight_bytes());
    // It still runs and still speaks: perplexity on held-out text rises but stays finite.
    let text = tok.encode(&std::fs::read_to_string("/usr/share/common-licenses/Apache-2.0").unwrap()).unwrap();
    let eval = &text[..200];
    let ppl = |m: &dyn LoadedModel| {
        let lp = m.log_probs(eval).unwrap();
        harness::workloads::accuracy::perplexity(&lp, eval).unwrap()
    };
    let (a, b) = (ppl(whole.as_ref()), ppl(pruned.as_ref()));
    assert!(b > a && b.is_finite(), "perplexity {a} → {b}");
}

#[test]
fn speculative_output_equals_plain_greedy_output() {
    let Some((spec, hub, tok)) = common::smollm2() else { return };
    let prompt = tok.encode("The GNU General Public License is a free, copyleft license for").unwrap();
    let plain = greedy(load(&spec, &hub, "q8_0", &[]).as_ref(), &prompt, 40);
    for technique in ["q8_0+spec:draft=q4_0,k=4", "q8_0+spec:draft=skip:12,k=3", "q8_0+spec:draft=q8_0,k=5"] {
        let m = load(&spec, &hub, technique, &[]);
        assert_eq!(greedy(m.as_ref(), &prompt, 40), plain, "{technique}");
        let st = &m.run_stats()["speculation"];
        let rate = st["acceptance_rate"].as_f64().unwrap();
        eprintln!("{technique}: acceptance {rate:.2}, {:.2} tokens per pass", st["tokens_per_target_pass"]);
        assert!(st["rounds"].as_u64().unwrap() > 0 && (0.0..=1.0).contains(&rate));
        if technique.ends_with("draft=q8_0,k=5") {
            // The model drafting for itself is always right.
            assert_eq!(rate, 1.0);
        }
    }
}

#[test]
fn a_smaller_model_drafts_for_the_larger_without_changing_its_output() {
    let (Some((big, hub, tok)), Some((small, _, _))) = (common::qwen_15b(), common::qwen_05b()) else { return };
    let prompt = tok.encode("def quicksort(items):\n    \"\"\"Sort a list.\"\"\"\n").unwrap();
    let plain = greedy(load(&big, &hub, "native", &[]).as_ref(), &prompt, 32);
    let mut plan = TechniqueName::parse("native+spec:draft=qwen2.5-coder-0.5b,k=4").unwrap().plan();
    plan.draft_spec = Some(small);
    let m = harness::engines::by_name("candle").unwrap().load(&big, &plan, &hub).unwrap();
    assert_eq!(greedy(m.as_ref(), &prompt, 32), plain);
    let st = &m.run_stats()["speculation"];
    eprintln!(
        "1.5B drafted by 0.5B: acceptance {}, {} tokens per pass",
        st["acceptance_rate"], st["tokens_per_target_pass"]
    );
    assert!(st["accepted"].as_u64().unwrap() > 0, "the 0.5B agrees with the 1.5B somewhere");
}

#[test]
fn calibrated_layer_skipping_drops_the_layers_that_change_the_hidden_state_least() {
    let Some((spec, hub, tok)) = common::smollm2() else { return };
    let cal = calibration(&tok);
    let m = load(&spec, &hub, "q8_0+skip-layers:4", &cal);
    let kept: Vec<usize> =
        m.run_stats()["layers_kept"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    assert_eq!(kept.len(), 26);
    // The same scores from the whole model: every dropped layer changes the hidden state less than every kept one.
    let (mut src, _) = spec.open(&hub).unwrap();
    let whole = harness::models::Decoder::load(src.as_mut(), harness::models::WeightFormat::Native).unwrap();
    let probe = whole.probe(&cal).unwrap();
    let dropped: Vec<usize> = (0..30).filter(|i| !kept.contains(i)).collect();
    let max_dropped = dropped.iter().map(|&i| probe.change[i]).fold(f64::MIN, f64::max);
    let min_kept = kept.iter().map(|&i| probe.change[i]).fold(f64::MAX, f64::min);
    assert!(max_dropped <= min_kept, "dropped {dropped:?}: {max_dropped} > {min_kept}");
    eprintln!("skip-layers:4 drops {dropped:?}");
}
