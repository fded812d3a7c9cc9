//! Pipeline sharding over real `harness node` processes on loopback: sharded greedy output
//! equals unsharded output token for token (2 and 3 nodes, f32 and 8-bit weights, with and
//! without micro-batches); the node serves only a coordinator holding the shared secret and
//! survives wrong secrets, oversized and malformed frames; a node killed mid-cell fails the
//! cell with a reason naming it and leaves no process behind; the time measured on a link grows
//! with the latency set on it.

use std::io::{BufRead, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use harness::config::CellConfig;
use harness::distributed::pipeline::{self, PipelineModel};
use harness::distributed::protocol::{self, Header, Message};
use harness::engines::{self, LoadedModel};
use harness::models::generate::KvMode;
use harness::workloads::generate::generate;

use crate::common;

const NODE_EXE: &str = env!("CARGO_BIN_EXE_harness");

/// The cell `technique` on a cluster of `shares.len()` one-core nodes in a chain with links of `latency_ms`.
fn cell(technique: &str, shares: &[f64], latency_ms: f64, batch: usize) -> CellConfig {
    let nodes: String = shares
        .iter()
        .enumerate()
        .map(|(i, s)| format!("        - {{name: n{i}, cores: 1, compute_share: {s}, price_per_hour: 0.01}}\n"))
        .collect();
    let links: String = (1..shares.len())
        .map(|i| format!("        - {{between: [n{}, n{i}], latency_ms: {latency_ms}, bandwidth_mb_s: 100}}\n", i - 1))
        .collect();
    let text = format!(
        "models:\n  synth:\n    synthetic: {{layers: 6, hidden: 256, heads: 4, kv_heads: 2, intermediate: 768, vocab: 4096, seed: 5}}\n\
         workloads:\n  w: {{prompt_tokens: 12, output_tokens: 10, batch: {batch}}}\n\
         hardware:\n  c:\n    cluster:\n      nodes:\n{nodes}      links:\n{links}\
         axes:\n  technique: [\"{technique}\"]\n  hardware: [c]\n  threads: [1]\n"
    );
    let grid = harness::config::parse(Path::new("cluster.yaml"), &text).unwrap();
    harness::config::expand(&grid).remove(0)
}

fn prompts(batch: usize) -> Vec<Vec<u32>> {
    (0..batch).map(|b| (0..12).map(|i| (17 + 31 * i + 7 * b as u32) % 4096).collect()).collect()
}

fn sharded(cfg: &CellConfig) -> PipelineModel {
    // The nodes are the harness binary, not this test binary; the same value for every test, set once, read only
    // by the pipeline's node spawner.
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("HARNESS_NODE_EXE", NODE_EXE));
    common::shared();
    pipeline::load(cfg, &cfg.technique.plan(), Path::new("/nonexistent")).unwrap()
}

/// The same technique's weight format in this process, on one thread (as each node runs).
fn unsharded(cfg: &CellConfig, batch: usize) -> (Vec<Vec<u32>>, candle_core::Tensor) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| {
        let engine = engines::by_name(engines::DEFAULT_ENGINE).unwrap();
        let m = engine.load(&cfg.model_spec, &cfg.technique.plan(), Path::new("/nonexistent")).unwrap();
        let g = generate(m.as_ref(), &prompts(batch), 10, KvMode::On).unwrap();
        (g.tokens, m.log_probs(&prompts(1)[0]).unwrap())
    })
}

#[test]
fn sharded_output_equals_unsharded_on_two_and_three_nodes() {
    for (technique, shares, batch) in [
        ("shard:even", vec![1.0, 1.0], 1),
        ("q8_0+shard:even", vec![1.0, 1.0, 1.0], 1),
        ("shard:speed", vec![1.0, 0.5, 1.0], 2),
        ("q4k+shard:even,microbatch=2", vec![1.0, 1.0], 3),
    ] {
        let cfg = cell(technique, &shares, 0.0, batch);
        let (want, want_lp) = unsharded(&cfg, batch);
        let model = sharded(&cfg);
        let stats = model.run_stats();
        assert!(stats["placement"]["nodes_used"].as_u64().unwrap() >= 2, "{technique}: {stats}");
        let got = generate(&model, &prompts(batch), 10, KvMode::On).unwrap();
        assert_eq!(got.tokens, want, "{technique}: sharded greedy output differs");
        let lp = model.log_probs(&prompts(1)[0]).unwrap();
        let diff = (lp - want_lp).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "{technique}: log-probabilities differ by {diff}");
    }
}

#[test]
fn a_node_killed_mid_cell_fails_it_with_a_reason_and_leaves_nothing_behind() {
    let cfg = cell("shard:even", &[1.0, 1.0, 1.0], 0.0, 1);
    let model = sharded(&cfg);
    let pids = model.node_pids();
    assert_eq!(pids.len(), 3);
    let mut batch = model.batch(KvMode::On).unwrap();
    batch.prefill(&prompts(1)).unwrap();
    unsafe { libc::kill(pids[1] as i32, libc::SIGKILL) };
    let err = batch.decode(&[vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]]).unwrap_err().to_string();
    assert!(err.contains("node `n1`") && err.contains("signal 9"), "{err}");
    drop(batch);
    drop(model);
    for pid in pids {
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "node process {pid} was left behind");
    }
}

#[test]
fn time_on_a_link_grows_with_its_latency() {
    let mut seconds = Vec::new();
    for latency in [0.0, 4.0, 16.0] {
        let cfg = cell("shard:even", &[1.0, 1.0], latency, 1);
        let model = sharded(&cfg);
        generate(&model, &prompts(1), 10, KvMode::On).unwrap();
        let stats = model.run_stats();
        let link: f64 = stats["links"].as_array().unwrap().iter().map(|l| l["seconds"].as_f64().unwrap()).sum();
        let msgs: u64 = stats["links"].as_array().unwrap().iter().map(|l| l["messages"].as_u64().unwrap()).sum();
        // Each message waits out the latency: at least messages × latency.
        assert!(link >= msgs as f64 * latency / 1e3, "{latency} ms: {link} s over {msgs} messages");
        seconds.push(link);
    }
    assert!(seconds[0] < seconds[1] && seconds[1] < seconds[2], "{seconds:?}");
}

/// A node started by hand: `(child, address)`.
fn start_node(secret: Option<&str>) -> (std::process::Child, String) {
    let mut cmd = Command::new(NODE_EXE);
    cmd.args(["node", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env_remove(protocol::SECRET_ENV).env_remove(protocol::SECRET_FILE_ENV);
    if let Some(s) = secret {
        cmd.env(protocol::SECRET_ENV, s);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").unwrap_or("").to_string();
    (child, addr)
}

#[test]
fn a_node_serves_only_the_secret_and_survives_bad_peers() {
    // Without a secret a node does not start.
    let (mut child, addr) = start_node(None);
    assert!(addr.is_empty());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success() && err.contains("no cluster secret"), "{err}");

    let (mut node, addr) = start_node(Some("right-secret"));
    // A wrong secret is refused with a clear error.
    let mut s = TcpStream::connect(&addr).unwrap();
    let e = protocol::authenticate(&mut s, b"wrong-secret", "node").unwrap_err().to_string();
    assert!(e.contains("wrong shared secret"), "{e}");
    // An oversized frame instead of the proof: the node drops that connection.
    let mut s = TcpStream::connect(&addr).unwrap();
    protocol::recv(&mut s, "node").unwrap();
    s.write_all(&u32::MAX.to_le_bytes()).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut s, &mut buf).unwrap_or(0), 0, "connection closed");
    // A malformed header after a good proof: an error reply or a closed connection, never a crash.
    let mut s = TcpStream::connect(&addr).unwrap();
    protocol::authenticate(&mut s, b"right-secret", "node").unwrap();
    let junk = [12u32.to_le_bytes(), 8u32.to_le_bytes()].concat();
    s.write_all(&junk).unwrap();
    s.write_all(b"notjson!").unwrap();
    let _ = protocol::recv(&mut s, "node");
    // A peer that disappears mid-frame.
    let mut s = TcpStream::connect(&addr).unwrap();
    protocol::authenticate(&mut s, b"right-secret", "node").unwrap();
    s.write_all(&100u32.to_le_bytes()).unwrap();
    drop(s);
    // The node still serves a coordinator that holds the secret.
    let mut s = TcpStream::connect(&addr).unwrap();
    let pid = protocol::authenticate(&mut s, b"right-secret", "node").unwrap();
    assert_eq!(pid, node.id());
    protocol::send(&mut s, &Message::new(Header::Stats)).unwrap();
    assert!(matches!(protocol::recv(&mut s, "node").unwrap().header, Header::NodeStats { .. }));
    // A request for a stage that is not loaded gets an error reply on a live connection.
    protocol::send(
        &mut s,
        &Message::new(Header::Forward {
            group: 0,
            batch: 1,
            pos: 0,
            input: protocol::Payload::Tokens,
            want: protocol::Want::NextTokens,
        }),
    )
    .unwrap();
    match protocol::recv(&mut s, "node").unwrap().header {
        Header::Error { message } => assert!(message.contains("no stage loaded"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(node.try_wait().unwrap().is_none(), "the node is still up");
    node.kill().unwrap();
    node.wait().unwrap();
}

/// Pids of `harness node --once` processes (the ones `harness run` starts for emulated nodes)
/// whose environment holds `tag` (inherited from the run that started them: other tests' nodes
/// running at the same time are not these).
fn node_processes(tag: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let env = std::fs::read(e.path().join("environ")).ok()?;
            let ours = String::from_utf8_lossy(&env).split('\0').any(|v| v == tag);
            (ours && cmd.contains(" node --listen 127.0.0.1:0 --once")).then_some(pid)
        })
        .collect()
}

/// Through `harness run`: a node killed mid-cell fails that cell with a reason naming the node,
/// the next cell runs, and no node process outlives the run.
#[test]
fn harness_run_survives_a_node_killed_mid_cell() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("kill.yaml");
    std::fs::write(
        &grid,
        "models:\n  s:\n    synthetic: {layers: 4, hidden: 128, heads: 2, intermediate: 256, vocab: 512, max_seq: 1024, seed: 3}\n\
         workloads:\n  long: {prompt_tokens: 8, output_tokens: 400, eval_tokens: 16}\n\
         hardware:\n  c:\n    cluster:\n      nodes:\n        - {name: a}\n        - {name: b}\n      links:\n        - {between: [a, b], latency_ms: 3, bandwidth_mb_s: 100}\n\
         axes:\n  technique: [\"shard:even\", \"local\"]\n  hardware: [c]\n  threads: [1]\nmeasure: {warmup: 0, min_reps: 1, max_reps: 1}\n",
    )
    .unwrap();
    let store = dir.path().join("k.db");
    let tag = format!("HARNESS_TEST_TAG=kill-{}", std::process::id());
    let run = Command::new(NODE_EXE)
        .args(["run", grid.to_str().unwrap(), "--store", store.to_str().unwrap()])
        .env("HARNESS_CORPUS_DIR", common::corpus_dir())
        .env("HARNESS_TEST_TAG", tag.trim_start_matches("HARNESS_TEST_TAG="))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first cell's two nodes, let it generate a while, kill one.
    let start = std::time::Instant::now();
    let nodes = loop {
        let now = node_processes(&tag);
        if now.len() == 2 || start.elapsed().as_secs() > 60 {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(nodes.len(), 2, "the first cell starts two nodes");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe { libc::kill(*nodes.iter().max().unwrap() as i32, libc::SIGKILL) };
    let out = run.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "one cell failed: {text}");
    let recs = harness::store::open_existing(&store).unwrap().all().unwrap();
    assert_eq!(recs.len(), 2, "{text}");
    let failed = recs.iter().find(|r| r.technique == "shard:even").unwrap();
    let why = failed.reason.as_deref().unwrap_or("");
    assert!(why.contains("node `b`") && why.contains("died of signal 9"), "{why}");
    let ok = recs.iter().find(|r| r.technique == "local").unwrap();
    assert_eq!(ok.status, harness::record::CellStatus::Ok, "{:?}", ok.reason);
    let left = node_processes(&tag);
    assert!(left.is_empty(), "node processes left behind: {left:?}");
}
