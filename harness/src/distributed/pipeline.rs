//! The coordinator: starts (or reaches) the nodes of a cluster profile, calibrates them, splits
//! the model as the placement technique says, loads each stage on its node, and runs
//! generation through the stages behind the [`LoadedModel`] trait.
//!
//! The coordinator lives at home (node 0): token ids go from it to the first stage, each
//! stage's hidden states on to the next, and the last stage's greedy picks come home. Every
//! message crosses the shaped link between the two nodes it travels between ([`super::link`]);
//! with micro-batches, groups of sequences travel at once, each node working on one at a time.

use std::collections::HashMap;
use std::io::BufRead;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor, D};

use super::link::Shaper;
use super::protocol::{self, Calibration, Header, Message, Payload, Want};
use super::split::{self, Policy, Shape, Split};
use crate::config::{CellConfig, ClusterSpec};
use crate::engines::{Batch, LoadedModel};
use crate::hardware::cgroup::{Mechanism, NodeGroup, NodeLimits};
use crate::models::generate::KvMode;
use crate::models::linear::LoadStats;
use crate::models::llama::Segment;
use crate::models::weights::NotApplicable;
use crate::techniques::{ExecutionPlan, Placement, SplitPolicy};

/// How long the coordinator waits for a node's answer to one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// A node of the cluster as the coordinator holds it.
struct NodeConn {
    name: String,
    conn: Mutex<TcpStream>,
    /// The node process, when emulated here (with its cgroup).
    child: Mutex<Option<Child>>,
    group: Option<NodeGroup>,
    pid: u32,
    memory_mb: Option<u64>,
    compute_s: Mutex<f64>,
}

impl NodeConn {
    /// Send a request and read its answer; a dead node is reported as such.
    fn request(&self, msg: &Message) -> Result<Message> {
        let mut s = self.conn.lock().expect("node connection");
        let peer = format!("node `{}`", self.name);
        let out = protocol::send(&mut *s, msg).and_then(|_| protocol::recv(&mut *s, &peer));
        drop(s);
        match out {
            Ok(m) => match m.header {
                Header::Error { message } => bail!("node `{}`: {message}", self.name),
                _ => Ok(m),
            },
            Err(e) => Err(anyhow::anyhow!("{}", self.why_gone().unwrap_or_else(|| format!("{e:#}")))),
        }
    }

    /// Why the node's process is gone, if it is.
    fn why_gone(&self) -> Option<String> {
        let mut child = self.child.lock().ok()?;
        let c = child.as_mut()?;
        // Give the kernel a moment to finish the kill before reading the status.
        let mut status = None;
        for _ in 0..50 {
            if let Ok(Some(s)) = c.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = status?;
        use std::os::unix::process::ExitStatusExt;
        if let Some(g) = self.group.as_ref().filter(|g| g.oom_killed()) {
            return Some(format!(
                "node `{}` was killed by its {} MiB memory limit (peak {:.0} MiB in its cgroup)",
                self.name,
                self.memory_mb.unwrap_or(0),
                g.peak_memory_mb().unwrap_or(f64::NAN)
            ));
        }
        Some(match status.signal() {
            Some(sig) => format!("node `{}` (pid {}) died of signal {sig} mid-cell", self.name, self.pid),
            None => format!("node `{}` (pid {}) exited with {status} mid-cell", self.name, self.pid),
        })
    }
}

impl Drop for NodeConn {
    fn drop(&mut self) {
        if let Ok(mut s) = self.conn.lock() {
            let _ = protocol::send(&mut *s, &Message::new(Header::Bye));
        }
        if let Ok(mut child) = self.child.lock() {
            if let Some(c) = child.as_mut() {
                // A node leaves on `Bye`; one that does not is killed, never left behind.
                for _ in 0..100 {
                    if matches!(c.try_wait(), Ok(Some(_))) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// One stage of the loaded pipeline.
struct StageConn {
    node: Arc<NodeConn>,
    index: usize,
}

/// A model split over a cluster's nodes.
pub struct PipelineModel {
    cluster: ClusterSpec,
    policy: Policy,
    microbatch: usize,
    stages: Vec<StageConn>,
    /// Every node still held (stages' nodes; idle ones are let go after the split).
    nodes: Vec<Arc<NodeConn>>,
    links: HashMap<(usize, usize), Shaper>,
    split: Split,
    layers: usize,
    vocab: usize,
    load_stats: LoadStats,
    /// Wall time of every forward step driven, seconds (compute + links + waiting).
    step_wall_s: Mutex<f64>,
    mechanism: String,
    calibrations: Vec<Calibration>,
}

/// The policy a plan's placement asks for (no placement: stay home).
fn policy_of(p: Option<&Placement>) -> (Policy, usize) {
    match p {
        None | Some(Placement::Local) => (Policy::Home, 1),
        Some(Placement::Offload) => (Policy::Fastest, 1),
        Some(Placement::Shard { split, microbatch }) => (
            match split {
                SplitPolicy::Even => Policy::Even,
                SplitPolicy::Memory => Policy::Memory,
                SplitPolicy::Speed => Policy::Speed,
                SplitPolicy::Optimal => Policy::Optimal,
            },
            *microbatch,
        ),
    }
}

/// Start every node of the cluster of `cfg` (emulated ones in their own processes and cgroups),
/// calibrate them, split the model as `plan` says and load the stages.
pub fn load(cfg: &CellConfig, plan: &ExecutionPlan, hub: &Path) -> Result<PipelineModel> {
    let cluster = cfg.hardware_spec.cluster.clone().context("not a cluster profile")?;
    let (policy, microbatch) = policy_of(plan.placement.as_ref());
    let w = &cfg.workload_spec;
    let microbatch = microbatch.clamp(1, w.batch);
    let shape = Shape { batch: w.batch, prompt: w.prompt_tokens, output: w.output_tokens, microbatch };
    let cpus = cpusets(&cluster, microbatch > 1).map_err(NotApplicable)?;
    let real = cluster.nodes.iter().any(|n| n.addr.is_some());
    let secret = if real {
        protocol::secret_from_env().context("this cluster has nodes on other machines")?
    } else {
        protocol::nonce().into_bytes()
    };
    let mechanism = Mechanism::here();
    let mut nodes = Vec::new();
    for (i, n) in cluster.nodes.iter().enumerate() {
        let node = match &n.addr {
            Some(addr) => connect(&n.name, addr, None, None, n.memory_mb, &secret)?,
            None => {
                let limits =
                    NodeLimits { cpus: cpus[i].clone(), compute_share: n.compute_share, memory_mb: n.memory_mb };
                spawn_node(&n.name, &limits, n.cores.min(cfg.threads.max(1)), mechanism, &secret)?
            }
        };
        nodes.push(Arc::new(node));
    }
    let technique = cfg.technique.to_string();
    let model = &cfg.model_spec;
    // Calibrate one node at a time: nothing else computes meanwhile.
    let mut cals = Vec::new();
    for node in &nodes {
        let m = node.request(&Message::new(Header::Calibrate {
            model: model.clone(),
            technique: technique.clone(),
            hub_cache: hub.to_path_buf(),
            batch: shape.batch,
            prompt: shape.prompt,
            decode_steps: 4,
        }))?;
        let Header::Calibrated(c) = m.header else {
            bail!("node `{}` answered calibration with {:?}", node.name, m.header)
        };
        cals.push(c);
    }
    let split = split::choose(policy, &cluster, &cals, &shape).map_err(NotApplicable)?;
    let layers = cals[0].layers;
    let mut load_stats = LoadStats::default();
    let mut stages = Vec::new();
    for s in &split.stages {
        let node = nodes[s.node].clone();
        let m = node.request(&Message::new(Header::Load {
            model: model.clone(),
            technique: technique.clone(),
            hub_cache: hub.to_path_buf(),
            start: s.start,
            end: s.end,
            calibration: plan.calibration.clone(),
        }))?;
        let Header::Loaded { weight_bytes, .. } = m.header else {
            bail!("node `{}` answered loading with {:?}", node.name, m.header)
        };
        load_stats.weight_bytes += weight_bytes;
        stages.push(StageConn { node, index: s.node });
    }
    // Nodes holding no stage are let go.
    let used: Vec<usize> = split.stages.iter().map(|s| s.node).collect();
    let nodes: Vec<Arc<NodeConn>> =
        nodes.into_iter().enumerate().filter(|(i, _)| used.contains(i)).map(|(_, n)| n).collect();
    let mut links = HashMap::new();
    let mut from = 0;
    for &to in used.iter().chain(std::iter::once(&0)) {
        let route = cluster.route(from, to).context("nodes without a route")?;
        links.entry((from, to)).or_insert_with(|| Shaper::new(route));
        from = to;
    }
    let vocab = model.config(hub)?.vocab_size;
    Ok(PipelineModel {
        cluster,
        policy,
        microbatch,
        stages,
        nodes,
        links,
        split,
        layers,
        vocab,
        load_stats,
        step_wall_s: Mutex::new(0.0),
        mechanism: if real { "remote".into() } else { mechanism.name().into() },
        calibrations: cals,
    })
}

/// Each emulated node's CPU set. Nodes that compute at the same time (micro-batches in flight)
/// get CPU sets whose quotas together fit this machine's cores, so none steals from another;
/// otherwise only one stage computes at a time and each node runs on the first `cores` CPUs.
fn cpusets(cluster: &ClusterSpec, concurrent: bool) -> Result<Vec<String>, String> {
    let have = std::thread::available_parallelism().map_or(1, |n| n.get());
    let range = |a: usize, n: usize| if n == 1 { a.to_string() } else { format!("{a}-{}", a + n - 1) };
    if !concurrent {
        return Ok(cluster.nodes.iter().map(|n| range(0, n.cores.min(have))).collect());
    }
    // First fit of each node's share of its cores onto CPUs of capacity 1.
    let mut load = vec![0.0f64; have];
    let mut out = Vec::new();
    for n in &cluster.nodes {
        if n.addr.is_some() {
            out.push(String::new());
            continue;
        }
        let mut placed = None;
        for a in 0..=have.saturating_sub(n.cores) {
            if (a..a + n.cores).all(|c| load[c] + n.compute_share <= 1.0 + 1e-9) {
                placed = Some(a);
                break;
            }
        }
        let Some(a) = placed else {
            return Err(format!(
                "the cluster's nodes compute at once with micro-batches and need {:.1} cores; this machine has {have}",
                cluster.cores_at_once(&(0..cluster.nodes.len()).collect::<Vec<_>>())
            ));
        };
        (a..a + n.cores).for_each(|c| load[c] += n.compute_share);
        out.push(range(a, n.cores));
    }
    Ok(out)
}

/// Start `harness node` for an emulated node, in its cgroup when the kernel enforces limits.
fn spawn_node(name: &str, limits: &NodeLimits, threads: usize, mech: &Mechanism, secret: &[u8]) -> Result<NodeConn> {
    // The harness binary itself (a test, being another binary, names it in HARNESS_NODE_EXE).
    let exe = match std::env::var_os("HARNESS_NODE_EXE") {
        Some(exe) => std::path::PathBuf::from(exe),
        None => crate::hardware::harness_exe()?,
    };
    let group = if mech.enforces() {
        Some(NodeGroup::create_unique(mech, limits)?)
    } else {
        if limits.compute_share < 1.0 {
            return Err(NotApplicable(format!(
                "node `{name}` at {} speed needs the kernel's CPU quotas: {}",
                limits.compute_share,
                match mech {
                    Mechanism::Unenforced(why) => why.as_str(),
                    _ => "",
                }
            ))
            .into());
        }
        None
    };
    let mut cmd = Command::new(exe);
    cmd.args(["node", "--listen", "127.0.0.1:0", "--once"])
        .env(protocol::SECRET_ENV, std::ffi::OsStr::from_bytes(secret))
        .env_remove(protocol::SECRET_FILE_ENV)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    crate::hardware::die_with_parent(&mut cmd);
    let mut child = cmd.spawn().context("starting a node process")?;
    let pid = child.id();
    if let Some(g) = &group {
        if let Err(e) = g.attach(pid) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.context(format!("moving node `{name}` into its cgroup")));
        }
    }
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let Some(addr) = line.trim().strip_prefix("listening on ") else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("node `{name}` did not start (said `{}`)", line.trim());
    };
    connect(name, addr, Some(child), group, limits.memory_mb, secret)
}

use std::os::unix::ffi::OsStrExt;

/// Connect to the node at `addr` and prove the secret.
fn connect(
    name: &str,
    addr: &str,
    child: Option<Child>,
    group: Option<NodeGroup>,
    memory_mb: Option<u64>,
    secret: &[u8],
) -> Result<NodeConn> {
    let sock = addr
        .parse::<std::net::SocketAddr>()
        .ok()
        .or_else(|| std::net::ToSocketAddrs::to_socket_addrs(addr).ok().and_then(|mut a| a.next()))
        .with_context(|| format!("node `{name}`: cannot resolve `{addr}`"))?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(10))
        .with_context(|| format!("node `{name}`: connecting to {addr}"))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let pid = protocol::authenticate(&mut s, secret, &format!("node `{name}` at {addr}"))?;
    Ok(NodeConn {
        name: name.to_string(),
        conn: Mutex::new(s),
        child: Mutex::new(child),
        group,
        pid,
        memory_mb,
        compute_s: Mutex::new(0.0),
    })
}

impl PipelineModel {
    /// Process ids of the node processes emulated on this machine.
    pub fn node_pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter(|n| n.group.is_some() || n.child.lock().is_ok_and(|c| c.is_some()))
            .map(|n| n.pid)
            .collect()
    }

    /// Run `input` for sequence group `group` through every stage and home again.
    fn run(&self, group: u32, batch: usize, pos: usize, input: Message, want: Want) -> Result<Message> {
        let mut msg = input;
        let mut from = 0;
        for st in &self.stages {
            let link = &self.links[&(from, st.index)];
            // The link holds the message for its latency and bandwidth; then the node computes.
            link.carry(msg.wire_bytes(), || ());
            let reply = st.node.request(&msg)?;
            let Header::Output { payload, compute_s } = reply.header else {
                bail!("node `{}` answered a forward pass with {:?}", st.node.name, reply.header)
            };
            *st.node.compute_s.lock().expect("stats") += compute_s;
            msg = Message { header: Header::Forward { group, batch, pos, input: payload, want }, body: reply.body };
            from = st.index;
        }
        let home = &self.links[&(from, 0)];
        home.carry(msg.wire_bytes(), || ());
        Ok(msg)
    }

    /// One step of every micro-batch group: `rows[g]` are group g's token rows.
    fn step(&self, groups: &[Vec<u32>], per_group: &[usize], pos: usize) -> Result<Vec<u32>> {
        let t0 = Instant::now();
        let outs: Vec<Result<Vec<u32>>> = std::thread::scope(|s| {
            let handles: Vec<_> = groups
                .iter()
                .zip(per_group)
                .enumerate()
                .map(|(g, (tokens, &b))| {
                    s.spawn(move || {
                        let head = Header::Forward {
                            group: g as u32,
                            batch: b,
                            pos,
                            input: Payload::Tokens,
                            want: Want::NextTokens,
                        };
                        self.run(g as u32, b, pos, Message::with_u32(head, tokens), Want::NextTokens)?.u32s()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a pipeline thread panicked"))))
                .collect()
        });
        *self.step_wall_s.lock().expect("stats") += t0.elapsed().as_secs_f64();
        let mut next = Vec::new();
        for o in outs {
            next.extend(o?);
        }
        Ok(next)
    }

    fn price_of_used_nodes(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.index)
            .collect::<std::collections::BTreeSet<_>>()
            .iter()
            .map(|&i| self.cluster.nodes[i].price_per_hour)
            .sum()
    }
}

impl LoadedModel for PipelineModel {
    fn own_processes(&self) -> Option<Vec<u32>> {
        Some(self.node_pids())
    }

    fn batch(&self, kv: KvMode) -> Result<Box<dyn Batch + '_>> {
        if kv != KvMode::On {
            return Err(NotApplicable(
                "a pipeline keeps each stage's KV cache on its node; it runs with a KV cache".into(),
            )
            .into());
        }
        Ok(Box::new(PipeBatch { model: self }))
    }

    fn step_ragged(&self, _segs: &mut [Segment<'_>]) -> Result<Vec<u32>> {
        Err(NotApplicable("a model split over nodes runs plain generation, not the serving loop".into()).into())
    }

    fn log_probs(&self, tokens: &[u32]) -> Result<Tensor> {
        // Scoring is not timed: the links pass messages at once.
        self.links.values().for_each(|l| l.set_shaping(false));
        let n = tokens.len();
        let group = u32::MAX;
        let head = Header::Forward { group, batch: 1, pos: 0, input: Payload::Tokens, want: Want::AllLogits };
        let out = self.run(group, 1, 0, Message::with_u32(head, tokens), Want::AllLogits)?.f32s()?;
        self.links.values().for_each(|l| l.set_shaping(true));
        let logits = Tensor::from_vec(out, (n, self.vocab), &Device::Cpu)?;
        Ok(candle_nn::ops::log_softmax(&logits, D::Minus1)?)
    }

    fn layers(&self) -> usize {
        self.layers
    }

    fn load_stats(&self) -> &LoadStats {
        &self.load_stats
    }

    fn peak_memory_mb(&self) -> f64 {
        // The largest node's peak: what the tightest memory must hold.
        self.nodes
            .iter()
            .filter_map(|n| match n.request(&Message::new(Header::Stats)).ok()?.header {
                Header::NodeStats { peak_rss_mb, .. } => Some(peak_rss_mb),
                _ => None,
            })
            .fold(0.0, f64::max)
    }

    fn price_per_hour(&self) -> Option<f64> {
        Some(self.price_of_used_nodes())
    }

    fn run_stats(&self) -> serde_json::Value {
        let wall = *self.step_wall_s.lock().expect("stats");
        let nodes: Vec<serde_json::Value> = self
            .stages
            .iter()
            .map(|s| {
                let compute = *s.node.compute_s.lock().expect("stats");
                let peak = match s.node.request(&Message::new(Header::Stats)).map(|m| m.header) {
                    Ok(Header::NodeStats { peak_rss_mb, .. }) => Some(peak_rss_mb),
                    _ => None,
                };
                let cgroup_peak = s.node.group.as_ref().and_then(|g| g.peak_memory_mb());
                let throttled = s.node.group.as_ref().and_then(|g| g.throttled()).map(|(p, _)| p);
                serde_json::json!({
                    "node": s.node.name,
                    "compute_s": compute,
                    "bubble_s": (wall - compute).max(0.0),
                    "peak_rss_mb": peak,
                    "cgroup_peak_mb": cgroup_peak,
                    "throttled_periods": throttled,
                    "price_per_hour": self.cluster.nodes[s.index].price_per_hour,
                    "calibration": self.calibrations[s.index],
                })
            })
            .collect();
        let links: Vec<serde_json::Value> = self
            .links
            .iter()
            .filter(|((a, b), _)| a != b)
            .map(|((a, b), l)| {
                let st = *l.stats.lock().expect("stats");
                serde_json::json!({
                    "from": self.cluster.nodes[*a].name,
                    "to": self.cluster.nodes[*b].name,
                    "latency_ms": l.route.latency_ms,
                    "bandwidth_mb_s": l.route.bandwidth_mb_s,
                    "messages": st.messages,
                    "bytes": st.bytes,
                    "seconds": st.seconds,
                })
            })
            .collect();
        let split: Vec<serde_json::Value> = self
            .split
            .stages
            .iter()
            .map(|s| serde_json::json!({"node": self.cluster.nodes[s.node].name, "layers": [s.start, s.end]}))
            .collect();
        serde_json::json!({
            "layers_kept": (0..self.layers).collect::<Vec<_>>(),
            "placement": {
                "policy": format!("{:?}", self.policy).to_lowercase(),
                "microbatch": self.microbatch,
                "split": split,
                "predicted_s": self.split.predicted_s,
                "nodes_used": self.stages.len(),
                "price_per_hour": self.price_of_used_nodes(),
                "enforcement": self.mechanism,
                "step_wall_s": wall,
            },
            "nodes": nodes,
            "links": links,
        })
    }
}

/// A batch run through the pipeline, split into the plan's micro-batches.
struct PipeBatch<'a> {
    model: &'a PipelineModel,
}

impl PipeBatch<'_> {
    /// Rows per micro-batch group (as even as possible).
    fn groups(&self, batch: usize) -> Vec<usize> {
        let m = self.model.microbatch.min(batch).max(1);
        (0..m).map(|g| batch / m + usize::from(g < batch % m)).collect()
    }

    fn run(&self, rows: &[Vec<u32>], pos: usize) -> Result<Vec<u32>> {
        let sizes = self.groups(rows.len());
        let mut groups = Vec::new();
        let mut at = 0;
        for &n in &sizes {
            groups.push(rows[at..at + n].concat());
            at += n;
        }
        self.model.step(&groups, &sizes, pos)
    }
}

impl Batch for PipeBatch<'_> {
    fn prefill(&mut self, prompts: &[Vec<u32>]) -> Result<Vec<u32>> {
        // Position 0 starts every group's caches afresh on every node.
        self.run(prompts, 0)
    }

    fn decode(&mut self, seqs: &[Vec<u32>]) -> Result<Vec<u32>> {
        let len = seqs[0].len();
        let last: Vec<Vec<u32>> = seqs.iter().map(|s| vec![s[len - 1]]).collect();
        self.run(&last, len - 1)
    }
}
