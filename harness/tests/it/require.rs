//! The require rule on the tests' own model helpers: a model missing from the hub cache is a
//! skip on a developer's machine and a failure where `HARNESS_REQUIRE` names it (as `.ci/run`
//! does), so removing `models/hub` cannot turn the model tests into silent passes there.
//! The test runs in a child process of its own (`common::in_child`): it changes its environment.

use crate::common;

#[test]
fn a_missing_model_skips_unless_required() {
    let empty = tempfile::tempdir().unwrap();
    let hub = [("HARNESS_HUB_CACHE", empty.path().to_str().unwrap())];
    if common::in_child("require::a_missing_model_skips_unless_required", &hub) {
        return;
    }
    // The child, alone in its process, with an empty hub cache.
    std::env::remove_var("HARNESS_REQUIRE");
    assert!(common::smollm2().is_none() && common::qwen_05b().is_none(), "skipped without the rule");
    let fails = |f: fn() -> bool| std::panic::catch_unwind(f).is_err();
    std::env::set_var("HARNESS_REQUIRE", "models");
    assert!(fails(|| common::smollm2().is_some()), "a required model that is missing must fail");
    assert!(!fails(common::large_models), "the larger models are another resource");
    std::env::set_var("HARNESS_REQUIRE", "large-models");
    assert!(fails(common::large_models));
    std::env::set_var("HARNESS_REQUIRE", "all");
    assert!(fails(|| common::smollm2().is_some()) && fails(|| common::gemma3().is_some()));
}
