//! A cluster profile: nodes (cores, compute share, memory, price, optionally a real address)
//! and the links between them (latency, bandwidth, jitter).
//!
//! The nodes are listed in pipeline order and the first is *home*: the node a request
//! arrives at and its answer goes back to. A pipeline split takes contiguous layer ranges
//! along that order; an offload moves the whole model to one node and pays the link to it.
//! Between two nodes with no link of their own, traffic takes the route of least latency
//! over the links given (latencies add, the slowest link's bandwidth applies).

use serde::{Deserialize, Serialize};

/// Version of what runs a cluster cell beyond the engine: the split policies and their cost
/// model, the node protocol and the link shaping. Part of every cluster cell's identity: bump it
/// with any change that can move a placement or a timing, so stored cluster cells are measured
/// again.
pub const PLACEMENT_VERSION: &str = "placement-1";

/// One node of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterNode {
    pub name: String,
    /// Cores it computes on (threads of its process).
    #[serde(default = "one")]
    pub cores: usize,
    /// Its speed as a share of those cores' time, `0 < share <= 1`.
    #[serde(default = "full")]
    pub compute_share: f64,
    /// Memory for the model server, MiB (a hard limit of its cgroup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// Dollars per hour; a cell's cost adds the prices of the nodes it used.
    #[serde(default)]
    pub price_per_hour: f64,
    /// `host:port` of a `harness node` already running there (a real machine); absent: the
    /// node is emulated on this machine, in its own process and cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
}

fn one() -> usize {
    1
}
fn full() -> f64 {
    1.0
}

/// A link between two nodes, the same both ways (each direction shaped on its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The two nodes' names.
    pub between: [String; 2],
    /// One-way latency, ms.
    pub latency_ms: f64,
    /// Bandwidth each way, MB/s (10⁶ bytes per second).
    pub bandwidth_mb_s: f64,
    /// Uniform random extra delay per message, 0..jitter ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub jitter_ms: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    pub nodes: Vec<ClusterNode>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
}

/// The path between two nodes as the transport shapes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    pub latency_ms: f64,
    pub bandwidth_mb_s: f64,
    pub jitter_ms: f64,
}

impl Route {
    /// Co-located: no delay, no limit.
    pub const LOCAL: Route = Route { latency_ms: 0.0, bandwidth_mb_s: f64::INFINITY, jitter_ms: 0.0 };

    /// Expected time to move `bytes` one way, seconds (no queueing).
    pub fn transfer_s(&self, bytes: usize) -> f64 {
        self.latency_ms / 1e3 + self.jitter_ms / 2e3 + bytes as f64 / (self.bandwidth_mb_s * 1e6)
    }
}

impl ClusterSpec {
    /// `Err((field suffix, message))` when the cluster is not well formed.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.nodes.is_empty() {
            return Err((".nodes".into(), "a cluster needs at least one node".into()));
        }
        let have = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        for (i, n) in self.nodes.iter().enumerate() {
            let field = format!(".nodes[{i}]");
            if self.nodes[..i].iter().any(|m| m.name == n.name) {
                return Err((field, format!("two nodes are named `{}`", n.name)));
            }
            if !(n.compute_share > 0.0 && n.compute_share <= 1.0) {
                return Err((format!("{field}.compute_share"), "a compute share is 0 < share <= 1".into()));
            }
            if n.cores == 0 || n.memory_mb == Some(0) {
                return Err((field, "a node needs at least 1 core and 1 MiB of memory".into()));
            }
            if n.addr.is_none() && n.cores > have {
                return Err((
                    format!("{field}.cores"),
                    format!("this machine has {have} CPUs; an emulated node cannot have {}", n.cores),
                ));
            }
            if n.price_per_hour < 0.0 {
                return Err((format!("{field}.price_per_hour"), "a price cannot be negative".into()));
            }
        }
        for (i, l) in self.links.iter().enumerate() {
            let field = format!(".links[{i}]");
            for end in &l.between {
                if self.index(end).is_none() {
                    return Err((format!("{field}.between"), format!("no node named `{end}` in this cluster")));
                }
            }
            if l.between[0] == l.between[1] {
                return Err((format!("{field}.between"), "a link joins two different nodes".into()));
            }
            if !(l.latency_ms >= 0.0 && l.bandwidth_mb_s > 0.0 && l.jitter_ms >= 0.0) {
                return Err((field, "latency and jitter must be >= 0 ms and bandwidth > 0 MB/s".into()));
            }
        }
        for i in 1..self.nodes.len() {
            if self.route(0, i).is_none() {
                return Err((
                    ".links".into(),
                    format!("node `{}` has no route to `{}`", self.nodes[i].name, self.nodes[0].name),
                ));
            }
        }
        Ok(())
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The route of least latency from node `a` to node `b` (`None`: not connected).
    pub fn route(&self, a: usize, b: usize) -> Option<Route> {
        if a == b {
            return Some(Route::LOCAL);
        }
        let n = self.nodes.len();
        // Dijkstra on latency over a handful of nodes.
        let mut best: Vec<Option<Route>> = vec![None; n];
        let mut done = vec![false; n];
        best[a] = Some(Route { latency_ms: 0.0, bandwidth_mb_s: f64::INFINITY, jitter_ms: 0.0 });
        while let Some(u) = (0..n)
            .filter(|&i| !done[i] && best[i].is_some())
            .min_by(|&x, &y| best[x].unwrap().latency_ms.total_cmp(&best[y].unwrap().latency_ms))
        {
            done[u] = true;
            let ru = best[u].unwrap();
            for l in &self.links {
                let (x, y) = (self.index(&l.between[0]), self.index(&l.between[1]));
                let v = match (x, y) {
                    (Some(x), Some(y)) if x == u => y,
                    (Some(x), Some(y)) if y == u => x,
                    _ => continue,
                };
                let r = Route {
                    latency_ms: ru.latency_ms + l.latency_ms,
                    bandwidth_mb_s: ru.bandwidth_mb_s.min(l.bandwidth_mb_s),
                    jitter_ms: ru.jitter_ms + l.jitter_ms,
                };
                if !done[v] && best[v].is_none_or(|b| r.latency_ms < b.latency_ms) {
                    best[v] = Some(r);
                }
            }
        }
        best[b]
    }

    /// Cores the emulated nodes among `used` need if they compute at the same time.
    pub fn cores_at_once(&self, used: &[usize]) -> f64 {
        used.iter()
            .map(|&i| &self.nodes[i])
            .filter(|n| n.addr.is_none())
            .map(|n| n.cores as f64 * n.compute_share)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ClusterSpec {
        let node = |name: &str| ClusterNode {
            name: name.into(),
            cores: 1,
            compute_share: 1.0,
            memory_mb: None,
            price_per_hour: 0.01,
            addr: None,
        };
        let link = |a: &str, b: &str, ms: f64, bw: f64| LinkSpec {
            between: [a.into(), b.into()],
            latency_ms: ms,
            bandwidth_mb_s: bw,
            jitter_ms: 0.0,
        };
        ClusterSpec {
            nodes: vec![node("a"), node("b"), node("c")],
            links: vec![link("a", "b", 2.0, 100.0), link("b", "c", 3.0, 10.0)],
        }
    }

    #[test]
    fn routes_add_latency_and_take_the_narrowest_bandwidth() {
        let c = chain();
        assert!(c.validate().is_ok());
        let r = c.route(0, 2).unwrap();
        assert_eq!((r.latency_ms, r.bandwidth_mb_s), (5.0, 10.0));
        assert_eq!(c.route(2, 0), Some(r));
        assert_eq!(c.route(1, 1), Some(Route::LOCAL));
        assert!((r.transfer_s(1_000_000) - 0.105).abs() < 1e-9);
    }

    #[test]
    fn malformed_clusters_say_what_is_wrong() {
        let mut c = chain();
        c.links.pop();
        assert!(c.validate().unwrap_err().1.contains("no route"));
        let mut c = chain();
        c.links[0].between[1] = "zz".into();
        assert_eq!(c.validate().unwrap_err().0, ".links[0].between");
        let mut c = chain();
        c.nodes[1].compute_share = 0.0;
        assert_eq!(c.validate().unwrap_err().0, ".nodes[1].compute_share");
        let mut c = chain();
        c.nodes[2].name = "a".into();
        assert!(c.validate().unwrap_err().1.contains("two nodes"));
    }
}
