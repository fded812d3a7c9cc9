//! Speculative decoding (`spec:draft=D,k=K`): a draft proposes K tokens one by one, the model
//! checks all of them in one batched pass and keeps the longest prefix that equals its own
//! greedy picks, plus its own next token; both KV caches roll back past the first miss. The
//! output is exactly the model's greedy output (tested); what changes is how many tokens each
//! pass of the model yields. Drafts: the same model in another weight format (`draft=q4_0`),
//! the same model without N layers, self-speculative (`draft=skip:N`, the layers the
//! engine's layer-skipping criterion drops), or another model of the grid with the same
//! tokenizer (`draft=qwen2.5-coder-0.5b` for the 1.5B; a name the grid does not define is an
//! error at plan time, a different vocabulary `not_applicable`). Recorded: acceptance rate (accepted draft tokens
//! over proposed) and tokens per target pass (`extra.speculation`). One sequence at a time (batch 1)
//! with a KV cache: with `kv-off` it is refused at plan time, on other batches not applicable.

use super::{Aspect, Draft, Effect, ExecutionPlan, Family, Speculation, Technique, TechniqueName};
use crate::models::generate::KvMode;

pub struct Speculative;

impl Technique for Speculative {
    fn name(&self) -> &'static str {
        "spec"
    }
    fn describe(&self) -> &'static str {
        "a draft proposes k tokens, the model verifies them in one pass (greedy acceptance)"
    }
    fn family(&self) -> Family {
        Family::KvCache
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Decoding]
    }
    fn alters_outputs(&self) -> bool {
        false
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("draft=FORMAT|skip:N|MODEL,k=K: the draft (a weight format, N layers left out, or a model of the grid) and tokens per round, 1 <= K <= 16")
    }
    fn applies_to(&self) -> super::AppliesTo {
        super::AppliesTo::Generation
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        let usage = || format!("`{}:draft=D,k=K` (D a weight format such as q4_0, or skip:N)", self.name());
        let (mut draft, mut k) = (None, None);
        for part in param.ok_or_else(usage)?.split(',') {
            match part.split_once('=') {
                Some(("draft", d)) => {
                    draft = Some(match d.strip_prefix("skip:") {
                        Some(n) => Draft::SkipLayers(n.parse().ok().filter(|n| *n >= 1).ok_or_else(usage)?),
                        None => match TechniqueName::parse(d) {
                            Ok(t) => {
                                let (p, mut only) = (t.plan(), ExecutionPlan::default());
                                only.weights = p.weights;
                                if !p.same_recipe(&only) {
                                    return Err(format!("{}: draft `{d}` is not a weight format", usage()));
                                }
                                Draft::Format(p.weights)
                            }
                            // Not a technique: the name of another model of the grid (checked with the grid).
                            Err(_)
                                if !d.is_empty()
                                    && d.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) =>
                            {
                                Draft::Model(d.to_string())
                            }
                            Err(e) => return Err(format!("{}: draft `{d}`: {e}", usage())),
                        },
                    })
                }
                Some(("k", n)) => k = Some(n.parse().ok().filter(|k| (1..=16).contains(k)).ok_or_else(usage)?),
                _ => return Err(usage()),
            }
        }
        let (Some(draft), Some(k)) = (draft, k) else { return Err(usage()) };
        plan.claim(Aspect::Decoding, self.name())?;
        if plan.kv == KvMode::Off {
            return Err("`spec` verifies drafts against a KV cache; it cannot run with `kv-off`".into());
        }
        plan.speculative = Some(Speculation { draft, k });
        Ok(())
    }
    fn sort_rank(&self) -> u16 {
        24
    }
}

#[cfg(test)]
mod tests {
    use crate::models::WeightFormat;
    use crate::techniques::{Draft, TechniqueName};

    #[test]
    fn drafts_and_k_are_parsed_and_nonsense_refused() {
        let s = TechniqueName::parse("spec:draft=q4_0,k=4").unwrap().plan().recipe.speculative.unwrap();
        assert_eq!(s.k, 4);
        assert_eq!(s.draft, Draft::Format(WeightFormat::Quant(candle_core::quantized::GgmlDType::Q4_0)));
        let s = TechniqueName::parse("q8_0+spec:draft=skip:6,k=3").unwrap().plan().recipe.speculative.unwrap();
        assert_eq!(s.draft, Draft::SkipLayers(6));
        for bad in
            ["spec", "spec:k=4", "spec:draft=q4_0", "spec:draft=q4_0,k=0", "spec:draft=q4_0,k=99", "spec:draft=a b,k=2"]
        {
            assert!(TechniqueName::parse(bad).is_err(), "{bad}");
        }
        let s = TechniqueName::parse("spec:draft=qwen2.5-coder-0.5b,k=4").unwrap().plan().recipe.speculative.unwrap();
        assert_eq!(s.draft, Draft::Model("qwen2.5-coder-0.5b".into()));
        let err = TechniqueName::parse("kv-off+spec:draft=q4_0,k=4").unwrap_err().to_string();
        assert!(err.contains("kv-off"), "{err}");
    }
}
