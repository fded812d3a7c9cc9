//! Kernel-enforced node limits on real processes (skipped with a message where cgroups are not
//! writable): a process over its node's memory limit is killed by the kernel, and a process on
//! a half-share node is throttled by the CFS quota.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

use harness::hardware::cgroup::{Mechanism, NodeGroup, NodeLimits};

use crate::common;

fn mechanism() -> Option<Mechanism> {
    match Mechanism::detect() {
        Mechanism::Unenforced(why) => harness::require::Resource::Cgroups.missing(&why),
        m => Some(m),
    }
}

/// `python3 -c CODE` started inside `group`: the shell joins the group, then becomes python,
/// so the program is limited from its first allocation.
fn run_in(group: &NodeGroup, code: &str) -> std::process::ExitStatus {
    let dirs: Vec<String> = group.dirs().iter().map(|d| d.display().to_string()).collect();
    Command::new("sh")
        .arg("-c")
        .arg(r#"for d in "$@"; do echo $$ > "$d/cgroup.procs" || exit 97; done; exec python3 -c "$CODE""#)
        .arg("sh")
        .args(&dirs)
        .env("CODE", code)
        .status()
        .unwrap()
}

#[test]
fn a_process_over_the_nodes_memory_limit_is_killed_by_the_kernel() {
    let Some(m) = mechanism() else { return };
    let name = format!("harness-test-oom-{}", std::process::id());
    let g = NodeGroup::create(&m, &name, &NodeLimits { cpus: "0".into(), compute_share: 1.0, memory_mb: Some(64) })
        .unwrap();
    // 256 MiB touched page by page: four times the node's memory.
    let st = run_in(&g, "b = bytearray(256 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1");
    assert_eq!(st.signal(), Some(9), "killed by SIGKILL, got {st:?}");
    assert!(g.oom_killed(), "the group records an OOM kill");
    assert!(g.peak_memory_mb().unwrap() <= 64.5, "never above its limit: {:?}", g.peak_memory_mb());
    // Under the limit the same program finishes.
    let ok = run_in(&g, "b = bytearray(16 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1");
    assert!(ok.success(), "{ok:?}");
}

#[test]
fn a_half_share_node_is_throttled_by_its_quota() {
    let Some(m) = mechanism() else { return };
    let name = format!("harness-test-cpu-{}", std::process::id());
    let g =
        NodeGroup::create(&m, &name, &NodeLimits { cpus: "0".into(), compute_share: 0.5, memory_mb: None }).unwrap();
    // About 0.2 s of CPU work: at half a core it runs out of quota in period after period.
    let st = run_in(&g, "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass");
    assert!(st.success(), "{st:?}");
    let (periods, waited_ns) = g.throttled().unwrap();
    assert!(periods >= 20, "throttled in {periods} periods");
    assert!(waited_ns > 0);
}

/// Through `harness run`: a node whose memory limit is below the model's peak is killed by the
/// kernel, the cell is stored as failed with that reason and the node's peak, the run goes on;
/// a half-share node's cell records how its limits were enforced.
#[test]
fn harness_run_stores_an_out_of_memory_kill_and_goes_on() {
    let Some(m) = mechanism() else { return };
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("nodes.yaml");
    std::fs::write(
        &grid,
        "name: nodes\nmodels:\n  synth:\n    synthetic: {layers: 4, hidden: 512, heads: 8, kv_heads: 4, intermediate: 1536, vocab: 8192, seed: 1}\n\
         workloads:\n  chat: {prompt_tokens: 16, output_tokens: 8, eval_tokens: 16}\n\
         hardware:\n  tiny: {emulated: {cores: 1, memory_mb: 40}}\n  half: {emulated: {cores: 1, compute_share: 0.5}}\n\
         axes:\n  technique: [f32]\n  threads: [1]\n  hardware: [tiny, half]\nmeasure: {warmup: 0, min_reps: 1, max_reps: 1}\n",
    )
    .unwrap();
    let store = dir.path().join("s.db");
    let out = common::run(&["run", grid.to_str().unwrap(), "--store", store.to_str().unwrap()]);
    let text = common::text(&out);
    // A failed cell makes the run's exit status 1, after every cell ran.
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("2 cells: 2 run, 0 skipped (already stored), 1 failed"), "{text}");
    assert!(text.contains("killed by the node's 40 MiB memory limit (peak"), "{text}");
    let rows = harness::store::open_existing(&store).unwrap().all().unwrap();
    let tiny = rows.iter().find(|r| r.hardware == "tiny").unwrap();
    assert_eq!(tiny.status, harness::record::CellStatus::Failed);
    assert!(tiny.reason.as_deref().unwrap().contains("killed by the node's 40 MiB memory limit"), "{:?}", tiny.reason);
    let half = rows.iter().find(|r| r.hardware == "half").unwrap();
    assert_eq!(half.status, harness::record::CellStatus::Ok, "{:?}", half.reason);
    let limits = &half.summary.as_ref().unwrap().extra["node_limits"];
    assert_eq!(limits["mechanism"], m.name());
    assert_eq!(limits["compute_share"], 0.5);
    assert!(limits["throttled_periods"].as_u64().unwrap() > 0, "{limits}");
}
