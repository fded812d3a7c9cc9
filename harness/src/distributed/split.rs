//! Where a model's layers go: the split policies and their cost model.
//!
//! The cost model: node `j` runs a layer in `prefill_j` seconds over the prompt and `decode_j`
//! per decode step (measured on the node by [`super::protocol::Calibration`]); a message of `b`
//! bytes over the route from node `a` to `c` takes `latency + b / bandwidth`. A stage holds
//! contiguous layers on one node; stages follow the cluster's node order, starting and ending
//! at home (node 0), where requests arrive. A node's memory holds its layers' weights, the
//! embedding on the first stage, the output head on the last, the KV cache of its layers and
//! its process's base; a split where some node's need exceeds its memory is not considered.

use crate::config::ClusterSpec;

use super::protocol::Calibration;

/// How the layers are placed (a placement technique's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The whole model on home.
    Home,
    /// The whole model on the fastest node it fits on.
    Fastest,
    /// Equal numbers of layers on every node.
    Even,
    /// Layers in proportion to each node's memory.
    Memory,
    /// Layers in proportion to each node's measured speed.
    Speed,
    /// The split of least predicted time, by dynamic programming over contiguous ranges.
    Optimal,
}

/// The shapes the split is chosen for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub batch: usize,
    pub prompt: usize,
    pub output: usize,
    /// Micro-batches in flight (1: none): the objective becomes throughput (the slowest stage).
    pub microbatch: usize,
}

/// Layers `start..end` on node `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StagePlan {
    pub node: usize,
    pub start: usize,
    pub end: usize,
}

/// A chosen split and what the cost model predicts for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Split {
    pub stages: Vec<StagePlan>,
    /// Predicted seconds for the prompt and all output tokens.
    pub predicted_s: f64,
    /// Predicted memory of each used node, MiB.
    pub memory_mb: Vec<(usize, f64)>,
}

/// Headroom over the estimate of a node's memory (allocator, scratch buffers, page cache).
const MEMORY_MARGIN: f64 = 1.15;
const MEMORY_SLACK_MB: f64 = 24.0;

/// What the model needs on one node holding `layers` layers (first/last: embedding/head), MiB.
/// Loading holds more for a while: the last stage the output head in f32 on its way to the
/// cell's format (measured here: Qwen2.5-Coder-1.5B in q4k peaked at 2.87 GB, 1.07 GB above its
/// weights, about its 151936 × 1536 head in f32), the first the embedding's conversion (q4k
/// first stages peaked 220–310 MB above their weights; half the f32 embedding is counted).
pub fn need_mb(c: &Calibration, layers: usize, first: bool, last: bool, shape: &Shape) -> f64 {
    let positions = shape.batch * (shape.prompt + shape.output);
    let bytes = layers * (c.layer_bytes + c.kv_bytes_per_position * positions)
        + if first { c.embed_bytes } else { 0 }
        + if last { c.head_bytes } else { 0 };
    let transient = if last {
        c.embed_bytes
    } else if first {
        c.embed_bytes / 2
    } else {
        0
    };
    c.base_rss_mb + (MEMORY_MARGIN * bytes as f64 + transient as f64) / (1024.0 * 1024.0) + MEMORY_SLACK_MB
}

/// A node's memory in MiB (a node without a limit: this machine's).
fn memory_of(cluster: &ClusterSpec, j: usize) -> f64 {
    cluster.nodes[j].memory_mb.map_or(f64::INFINITY, |m| m as f64)
}

/// Predicted time of `stages` for `shape`: per stage compute plus the links between stages
/// (token ids home → first, hidden states between stages, next tokens last → home).
pub fn predict(cluster: &ClusterSpec, cals: &[Calibration], stages: &[StagePlan], shape: &Shape) -> f64 {
    let h = cals[0].hidden;
    let hop = |a: usize, b: usize, bytes: usize| cluster.route(a, b).map_or(f64::INFINITY, |r| r.transfer_s(bytes));
    // One pass over the stages for `rows` positions: (sum of stage+link times, slowest one).
    let pass = |prefill: bool| -> (f64, f64) {
        let rows = if prefill { shape.batch * shape.prompt } else { shape.batch };
        let mut from = 0;
        let (mut total, mut worst) = (0.0f64, 0.0f64);
        for (i, s) in stages.iter().enumerate() {
            let c = &cals[s.node];
            let per_layer = if prefill { c.prefill_layer_s } else { c.decode_layer_s };
            let bytes = if i == 0 { rows * 4 } else { rows * h * 4 };
            let mut t = hop(from, s.node, bytes) + per_layer * (s.end - s.start) as f64;
            if s.end == c.layers {
                // The output head runs on the last position of each sequence, prefill and decode
                // alike: as long as a decode step through as many bytes of weights.
                t += c.decode_layer_s * c.head_bytes as f64 / c.layer_bytes.max(1) as f64;
            }
            total += t;
            worst = worst.max(t);
            from = s.node;
        }
        let back = hop(from, 0, shape.batch * 4);
        (total + back, worst.max(back))
    };
    let m = shape.microbatch.max(1) as f64;
    let time = |(total, worst): (f64, f64)| {
        if m > 1.0 {
            // m micro-batches through the pipeline: the first crosses every stage, the rest
            // follow one slowest stage apart (each micro-batch is 1/m of the work).
            total / m + (m - 1.0) * worst / m
        } else {
            total
        }
    };
    time(pass(true)) + shape.output.saturating_sub(1) as f64 * time(pass(false))
}

/// Whether every stage fits its node; `Err(reason)` names the first that does not.
fn fits(
    cluster: &ClusterSpec,
    cals: &[Calibration],
    stages: &[StagePlan],
    shape: &Shape,
) -> Result<Vec<(usize, f64)>, String> {
    let layers = cals[0].layers;
    let mut out = Vec::new();
    for s in stages {
        let need = need_mb(&cals[s.node], s.end - s.start, s.start == 0, s.end == layers, shape);
        let have = memory_of(cluster, s.node);
        if need > have {
            return Err(format!(
                "node `{}` would need about {need:.0} MiB for layers {}..{} and has {have:.0} MiB",
                cluster.nodes[s.node].name, s.start, s.end
            ));
        }
        out.push((s.node, need));
    }
    Ok(out)
}

/// Layers in proportion to `weights` over the nodes in order (largest remainders get the rest).
fn proportional(layers: usize, weights: &[f64]) -> Vec<StagePlan> {
    let total: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| layers as f64 * w / total).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())).then(a.cmp(&b)));
    let short = layers - counts.iter().sum::<usize>();
    for &i in order.iter().take(short) {
        counts[i] += 1;
    }
    let mut start = 0;
    let mut stages = Vec::new();
    for (node, &n) in counts.iter().enumerate() {
        if n > 0 {
            stages.push(StagePlan { node, start, end: start + n });
            start += n;
        }
    }
    stages
}

/// Choose the split `policy` asks for; `Err(reason)` when no split of that policy fits.
pub fn choose(policy: Policy, cluster: &ClusterSpec, cals: &[Calibration], shape: &Shape) -> Result<Split, String> {
    let layers = cals[0].layers;
    let n = cluster.nodes.len();
    let finish = |stages: Vec<StagePlan>| -> Result<Split, String> {
        let memory_mb = fits(cluster, cals, &stages, shape)?;
        Ok(Split { predicted_s: predict(cluster, cals, &stages, shape), stages, memory_mb })
    };
    match policy {
        Policy::Home => finish(vec![StagePlan { node: 0, start: 0, end: layers }]),
        Policy::Fastest => {
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| cals[a].decode_layer_s.total_cmp(&cals[b].decode_layer_s).then(a.cmp(&b)));
            let mut why = Vec::new();
            for j in order {
                match finish(vec![StagePlan { node: j, start: 0, end: layers }]) {
                    Ok(s) => return Ok(s),
                    Err(e) => why.push(e),
                }
            }
            Err(format!("the whole model fits on no node: {}", why.join("; ")))
        }
        Policy::Even => finish(proportional(layers, &vec![1.0; n])),
        Policy::Memory => {
            let total: u64 = cluster.nodes.iter().filter_map(|x| x.memory_mb).sum();
            let w: Vec<f64> =
                (0..n).map(|j| cluster.nodes[j].memory_mb.map_or(total.max(1) as f64, |m| m as f64)).collect();
            finish(proportional(layers, &w))
        }
        Policy::Speed => {
            let w: Vec<f64> = cals.iter().map(|c| 1.0 / c.decode_layer_s.max(1e-9)).collect();
            finish(proportional(layers, &w))
        }
        Policy::Optimal => optimal(cluster, cals, shape),
    }
}

/// Dynamic programming over contiguous layer ranges: `best[j][l][p]` is the least cost of
/// placing layers `0..l` on nodes `0..=j` (in order, a node may hold none) with node `p` the last
/// one holding any. Costs are the prefill and decode passes' times (sums of stage and link
/// times) without micro-batches, or the slowest stage with them; the exact prediction then
/// ranks the few best candidates.
#[allow(clippy::needless_range_loop)] // layer indices are the DP's coordinates
fn optimal(cluster: &ClusterSpec, cals: &[Calibration], shape: &Shape) -> Result<Split, String> {
    let layers = cals[0].layers;
    let n = cluster.nodes.len();
    // Every contiguous assignment along the node order, built by DP over (layers placed, last node).
    // States keep the stages so far; with a few nodes and tens of layers this is small.
    type State = (f64, Vec<StagePlan>);
    let mut frontier: Vec<Vec<Option<State>>> = vec![vec![None; n + 1]; layers + 1];
    frontier[0][n] = Some((0.0, vec![])); // nothing placed yet; `n` stands for "home, no stage"
    for j in 0..n {
        // Node j may take layers l..e after any state with its last node before j.
        let mut next = frontier.clone();
        for l in 0..layers {
            for p in (0..n).chain(std::iter::once(n)) {
                if p != n && p >= j {
                    continue;
                }
                let Some((_, stages)) = &frontier[l][p] else { continue };
                for e in l + 1..=layers {
                    let mut st = stages.clone();
                    st.push(StagePlan { node: j, start: l, end: e });
                    let need = need_mb(&cals[j], e - l, l == 0, e == layers, shape);
                    if need > memory_of(cluster, j) {
                        break; // more layers only need more
                    }
                    // Partial splits are scored with the way home from their last node: equal across
                    // the candidates one state compares, which all end on node j.
                    let cost = predict(cluster, cals, &st, shape);
                    let slot = &mut next[e][j];
                    if slot.as_ref().is_none_or(|(c, _)| cost < *c) {
                        *slot = Some((cost, st));
                    }
                }
            }
        }
        frontier = next;
    }
    let done: Vec<Vec<StagePlan>> = frontier[layers].iter().flatten().map(|(_, s)| s.clone()).collect();
    let best = done
        .into_iter()
        .filter(|s| fits(cluster, cals, s, shape).is_ok())
        .min_by(|a, b| predict(cluster, cals, a, shape).total_cmp(&predict(cluster, cals, b, shape)))
        .ok_or_else(|| "no split of the layers over the nodes fits their memory".to_string())?;
    let memory_mb = fits(cluster, cals, &best, shape)?;
    Ok(Split { predicted_s: predict(cluster, cals, &best, shape), stages: best, memory_mb })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClusterNode, LinkSpec};

    fn cal(decode: f64) -> Calibration {
        Calibration {
            prefill_layer_s: decode * 10.0,
            decode_layer_s: decode,
            layer_bytes: 10 << 20,
            embed_bytes: 20 << 20,
            head_bytes: 20 << 20,
            base_rss_mb: 10.0,
            layers: 12,
            hidden: 512,
            kv_bytes_per_position: 4096,
        }
    }

    fn cluster(mem: [Option<u64>; 3], latency: f64) -> ClusterSpec {
        let node = |i: usize| ClusterNode {
            name: format!("n{i}"),
            cores: 1,
            compute_share: 1.0,
            memory_mb: mem[i],
            price_per_hour: 0.0,
            addr: None,
        };
        let link = |a: usize, b: usize| LinkSpec {
            between: [format!("n{a}"), format!("n{b}")],
            latency_ms: latency,
            bandwidth_mb_s: 10.0,
            jitter_ms: 0.0,
        };
        ClusterSpec { nodes: (0..3).map(node).collect(), links: vec![link(0, 1), link(1, 2)] }
    }

    const SHAPE: Shape = Shape { batch: 1, prompt: 16, output: 16, microbatch: 1 };

    #[test]
    fn policies_split_as_they_say() {
        let cals = [cal(0.001), cal(0.002), cal(0.004)];
        // Four layers and the head are more than a 100 MiB node holds.
        let small = cluster([Some(400), Some(200), Some(100)], 1.0);
        let why = choose(Policy::Even, &small, &cals, &SHAPE).unwrap_err();
        assert!(why.contains("node `n2` would need about 124 MiB for layers 8..12 and has 100 MiB"), "{why}");
        let c = cluster([Some(400), Some(200), Some(200)], 1.0);
        let even = choose(Policy::Even, &c, &cals, &SHAPE).unwrap();
        assert_eq!(even.stages.iter().map(|s| s.end - s.start).collect::<Vec<_>>(), [4, 4, 4]);
        let speed = choose(Policy::Speed, &c, &cals, &SHAPE).unwrap();
        assert_eq!(speed.stages.iter().map(|s| s.end - s.start).collect::<Vec<_>>(), [7, 3, 2]);
        let mem = choose(Policy::Memory, &c, &cals, &SHAPE).unwrap();
        assert_eq!(mem.stages.iter().map(|s| s.end - s.start).collect::<Vec<_>>(), [6, 3, 3]);
        // The fastest node holds everything when it fits; links cost nothing when staying home.
        let home = choose(Policy::Home, &c, &cals, &SHAPE).unwrap();
        assert_eq!(home.stages, [StagePlan { node: 0, start: 0, end: 12 }]);
    }

    #[test]
    fn the_optimal_split_is_never_predicted_slower_than_the_others_and_respects_memory() {
        for latency in [0.0, 1.0, 20.0] {
            // Home cannot hold the whole model: a split is needed.
            let c = cluster([Some(120), Some(400), Some(400)], latency);
            let cals = [cal(0.001), cal(0.003), cal(0.0015)];
            let best = choose(Policy::Optimal, &c, &cals, &SHAPE).unwrap();
            for p in [Policy::Even, Policy::Memory, Policy::Speed, Policy::Fastest] {
                if let Ok(s) = choose(p, &c, &cals, &SHAPE) {
                    assert!(best.predicted_s <= s.predicted_s + 1e-12, "{p:?} at {latency} ms: {s:?} vs {best:?}");
                }
            }
            assert!(best.memory_mb.iter().all(|&(j, need)| need <= memory_of(&c, j)));
        }
        let starved = cluster([Some(20), Some(20), Some(20)], 1.0);
        let cals = [cal(0.001), cal(0.001), cal(0.001)];
        assert!(choose(Policy::Optimal, &starved, &cals, &SHAPE).unwrap_err().contains("fits"));
        assert!(choose(Policy::Home, &starved, &cals, &SHAPE).unwrap_err().contains("node `n0` would need"));
    }
}
