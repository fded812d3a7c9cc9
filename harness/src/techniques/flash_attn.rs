//! Flash attention on or off (`flash-attn:on`, `flash-attn:off`): attention computed
//! tile by tile over the KV cache with an online softmax, never forming the full score
//! matrix (Dao et al., 2022), or the plain way. Without this technique an engine does
//! what it does by default (llama.cpp decides per backend: on this project's CPUs it
//! turns it on). Same mathematics, another order of summation (and, in llama.cpp, f16
//! accumulation), so accuracy is measured, not assumed. llama.cpp runs both (its
//! quantized V caches need it on); our engine's attention is its own fused loop, so
//! the cell is `not_applicable` there.

use super::{Aspect, Effect, ExecutionPlan, Family, Technique};

pub struct FlashAttn;

impl Technique for FlashAttn {
    fn name(&self) -> &'static str {
        "flash-attn"
    }
    fn describe(&self) -> &'static str {
        "flash attention on or off (tile by tile with an online softmax), instead of the engine's default"
    }
    fn family(&self) -> Family {
        // How attention reads the keys/values kept in the cache.
        Family::KvCache
    }
    fn effects(&self) -> &'static [Effect] {
        &[Effect::Decoding]
    }
    fn parameter(&self) -> Option<&'static str> {
        Some("on|off: switched on or off")
    }
    fn apply(&self, param: Option<&str>, plan: &mut ExecutionPlan) -> Result<(), String> {
        let on = match param {
            Some("on") => true,
            Some("off") => false,
            other => return Err(format!("`{}:X` needs X = on or off, got `{}`", self.name(), other.unwrap_or(""))),
        };
        plan.claim(Aspect::Attention, self.name())?;
        plan.flash_attention = Some(on);
        Ok(())
    }
    fn alters_outputs(&self) -> bool {
        true
    }
    fn sort_rank(&self) -> u16 {
        21
    }
}

#[cfg(test)]
mod tests {
    use crate::techniques::TechniqueName;

    #[test]
    fn it_sets_the_attention_and_combines_with_a_kv_type() {
        let t = TechniqueName::parse("kv-type:q8_0+flash-attn:on").unwrap();
        assert_eq!(t.plan().flash_attention, Some(true));
        assert!(!t.exact());
        assert_eq!(TechniqueName::parse("flash-attn:off").unwrap().plan().flash_attention, Some(false));
        assert_eq!(TechniqueName::parse("f32").unwrap().plan().flash_attention, None);
        assert!(TechniqueName::parse("flash-attn:on+flash-attn:off").is_err());
        for bad in ["flash-attn", "flash-attn:2", "flash-attn:yes"] {
            assert!(TechniqueName::parse(bad).is_err(), "{bad}");
        }
    }
}
