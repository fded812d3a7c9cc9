//! Kernel-enforced limits for an emulated node: one cgroup per node (issue 12, first part).
//!
//! A node's compute share becomes a CFS quota (`share × cores × period` per `period`) on the
//! cores of its cpuset, and its memory a hard limit the kernel enforces by killing the process
//! (cgroup v1 `cpu`, `cpuset`, `memory`; v2 `cpu.max`, `cpuset.cpus`, `memory.max`). The CFS
//! period is [`CFS_PERIOD_US`] (5 ms): a decode step of a few milliseconds then sees the share
//! as a fine-grained slowdown rather than whole steps run at full speed and others stalled
//! for a 100 ms default period. Where no controller is writable (no root, another OS),
//! [`Mechanism::detect`] says why and nothing is enforced by the kernel.
//!
//! A process joins a group by writing its own pid (`join`), so it is limited from its first
//! allocation on; a parent can also move a child in (`attach`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// CFS period of every node group, µs: 5 ms, the kernel's default bandwidth slice
/// (`sched_cfs_bandwidth_slice_us`). A shorter period is served in slices longer than its
/// quota and overshoots: measured here, a half-share spin loop took 2.7× as long at 2 ms
/// and 1.9–2.0× at 5, 10 and 20 ms. A decode step of a few ms then sees at most one
/// throttled gap of 2.5 ms (at share 0.5), not a 100 ms default period's stall.
pub const CFS_PERIOD_US: u64 = 5_000;

/// Where cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// How a node's limits are enforced on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// cgroup v1 `cpu`, `cpuset` and `memory` hierarchies accept new groups.
    CgroupV1,
    /// The unified cgroup v2 hierarchy with the `cpu`, `cpuset` and `memory` controllers.
    CgroupV2,
    /// Not enforced by the kernel (the reason says why).
    Unenforced(String),
}

impl Mechanism {
    /// What this machine offers, checked by creating and removing a probe group.
    pub fn detect() -> Mechanism {
        static PROBES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let probe_name = format!("harness-probe-{}-{n}", std::process::id());
        let root = Path::new(ROOT);
        let v1 = ["cpu", "cpuset", "memory"].map(|c| root.join(c));
        if v1.iter().all(|p| p.join("tasks").exists()) {
            let probe = v1[0].join(&probe_name);
            return match std::fs::create_dir(&probe) {
                Ok(()) => {
                    let _ = std::fs::remove_dir(&probe);
                    Mechanism::CgroupV1
                }
                Err(e) => Mechanism::Unenforced(format!("cgroup v1 is mounted but not writable: {e}")),
            };
        }
        let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        if ["cpu", "cpuset", "memory"].iter().all(|c| controllers.split_whitespace().any(|x| x == *c)) {
            let probe = root.join(&probe_name);
            return match std::fs::create_dir(&probe) {
                Ok(()) => {
                    let _ = std::fs::remove_dir(&probe);
                    Mechanism::CgroupV2
                }
                Err(e) => Mechanism::Unenforced(format!("cgroup v2 is mounted but not writable: {e}")),
            };
        }
        Mechanism::Unenforced(format!("no cgroup cpu/cpuset/memory controllers under {ROOT}"))
    }

    /// [`Mechanism::detect`], once per process.
    pub fn here() -> &'static Mechanism {
        static HERE: std::sync::OnceLock<Mechanism> = std::sync::OnceLock::new();
        HERE.get_or_init(|| {
            let m = Mechanism::detect();
            m.sweep_stale();
            m
        })
    }

    /// Remove node groups left by harness processes that are gone (a run killed with SIGKILL
    /// cannot remove its own); empty groups of live processes are left alone.
    pub fn sweep_stale(&self) {
        let roots: Vec<PathBuf> = match self {
            Mechanism::CgroupV1 => ["cpu", "cpuset", "memory"].iter().map(|c| Path::new(ROOT).join(c)).collect(),
            Mechanism::CgroupV2 => vec![PathBuf::from(ROOT)],
            Mechanism::Unenforced(_) => return,
        };
        for root in roots {
            for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(pid) = name.strip_prefix("harness-").and_then(|r| r.split('-').next()?.parse::<u32>().ok())
                else {
                    continue;
                };
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
    }

    pub fn enforces(&self) -> bool {
        !matches!(self, Mechanism::Unenforced(_))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::CgroupV1 => "cgroup-v1",
            Mechanism::CgroupV2 => "cgroup-v2",
            Mechanism::Unenforced(_) => "unenforced",
        }
    }
}

/// What a node may use.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLimits {
    /// The cores it runs on, as a cpuset list (`"0"`, `"0-1"`).
    pub cpus: String,
    /// Its share of those cores' time, `0 < share <= 1` (1: unthrottled).
    pub compute_share: f64,
    /// Memory limit, MiB.
    pub memory_mb: Option<u64>,
}

impl NodeLimits {
    /// Cores in the cpuset list.
    pub fn cores(&self) -> usize {
        self.cpus
            .split(',')
            .map(|r| match r.split_once('-') {
                Some((a, b)) => b.trim().parse::<usize>().unwrap_or(0) + 1 - a.trim().parse::<usize>().unwrap_or(0),
                None => 1,
            })
            .sum()
    }

    /// CFS quota per [`CFS_PERIOD_US`], µs (`None`: unthrottled).
    pub fn quota_us(&self) -> Option<u64> {
        (self.compute_share < 1.0).then(|| ((self.compute_share * self.cores() as f64) * CFS_PERIOD_US as f64) as u64)
    }
}

/// A node's cgroup(s); removed when dropped (once its processes have exited).
#[derive(Debug)]
pub struct NodeGroup {
    mechanism: Mechanism,
    /// v1: the group in each of `cpu`, `cpuset`, `memory`; v2: the one group.
    dirs: Vec<PathBuf>,
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).with_context(|| format!("writing `{value}` to {}", path.display()))
}

impl NodeGroup {
    /// Create the group `name` with `limits` under `mechanism` (which must enforce).
    pub fn create(mechanism: &Mechanism, name: &str, limits: &NodeLimits) -> Result<NodeGroup> {
        if !(limits.compute_share > 0.0 && limits.compute_share <= 1.0) {
            bail!("a node's compute share must be in (0, 1], got {}", limits.compute_share);
        }
        let root = Path::new(ROOT);
        let group = match mechanism {
            Mechanism::CgroupV1 => {
                let dirs: Vec<PathBuf> = ["cpuset", "cpu", "memory"].iter().map(|c| root.join(c).join(name)).collect();
                for d in &dirs {
                    std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
                }
                let g = NodeGroup { mechanism: mechanism.clone(), dirs };
                let mems = std::fs::read_to_string(root.join("cpuset/cpuset.mems")).unwrap_or_else(|_| "0".into());
                write(&g.dirs[0].join("cpuset.mems"), mems.trim())?;
                write(&g.dirs[0].join("cpuset.cpus"), &limits.cpus)?;
                write(&g.dirs[1].join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
                write(&g.dirs[1].join("cpu.cfs_quota_us"), &limits.quota_us().map_or("-1".into(), |q| q.to_string()))?;
                if let Some(mb) = limits.memory_mb {
                    write(&g.dirs[2].join("memory.limit_in_bytes"), &(mb << 20).to_string())?;
                    // No swap to spill into: over the limit the kernel kills, as on a small node.
                    let _ = write(&g.dirs[2].join("memory.swappiness"), "0");
                }
                g
            }
            Mechanism::CgroupV2 => {
                let dir = root.join(name);
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let g = NodeGroup { mechanism: mechanism.clone(), dirs: vec![dir] };
                write(&g.dirs[0].join("cpuset.cpus"), &limits.cpus)?;
                let max = limits.quota_us().map_or("max".into(), |q| q.to_string());
                write(&g.dirs[0].join("cpu.max"), &format!("{max} {CFS_PERIOD_US}"))?;
                if let Some(mb) = limits.memory_mb {
                    write(&g.dirs[0].join("memory.max"), &(mb << 20).to_string())?;
                    let _ = write(&g.dirs[0].join("memory.swap.max"), "0");
                }
                g
            }
            Mechanism::Unenforced(why) => bail!("node limits cannot be enforced here: {why}"),
        };
        Ok(group)
    }

    pub fn mechanism(&self) -> &Mechanism {
        &self.mechanism
    }

    /// Create a group named for this process (`harness-PID-N`, N counting this process's groups),
    /// so that [`Mechanism::sweep_stale`] can remove it once the process is gone.
    pub fn create_unique(mechanism: &Mechanism, limits: &NodeLimits) -> Result<NodeGroup> {
        static GROUPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = GROUPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        NodeGroup::create(mechanism, &format!("harness-{}-{n}", std::process::id()), limits)
    }

    /// The cgroup directories a process joins (write its pid to `cgroup.procs` of each).
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Move process `pid` (and its future children) into the group.
    pub fn attach(&self, pid: u32) -> Result<()> {
        for d in &self.dirs {
            write(&d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Whether the kernel killed a process of the group for exceeding its memory limit.
    pub fn oom_killed(&self) -> bool {
        let (file, key) = match self.mechanism {
            Mechanism::CgroupV1 => (self.dirs[2].join("memory.oom_control"), "oom_kill"),
            _ => (self.dirs[0].join("memory.events"), "oom_kill"),
        };
        std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .any(|(k, v)| k == key && v.trim().parse::<u64>().unwrap_or(0) > 0)
    }

    /// Peak memory of the group so far, MiB.
    pub fn peak_memory_mb(&self) -> Option<f64> {
        let file = match self.mechanism {
            Mechanism::CgroupV1 => self.dirs[2].join("memory.max_usage_in_bytes"),
            _ => self.dirs[0].join("memory.peak"),
        };
        let bytes: u64 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
        Some(bytes as f64 / (1024.0 * 1024.0))
    }

    /// CFS periods in which the group ran out of quota, and the time it waited, ns.
    pub fn throttled(&self) -> Option<(u64, u64)> {
        let (file, periods, time, scale) = match self.mechanism {
            Mechanism::CgroupV1 => (self.dirs[1].join("cpu.stat"), "nr_throttled", "throttled_time", 1),
            _ => (self.dirs[0].join("cpu.stat"), "nr_throttled", "throttled_usec", 1000),
        };
        let text = std::fs::read_to_string(file).ok()?;
        let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok());
        Some((get(periods)?, get(time)? * scale))
    }
}

impl Drop for NodeGroup {
    fn drop(&mut self) {
        for d in &self.dirs {
            // Fails while a process is still inside; the group is then left for the kernel's
            // release (it holds no resource once empty).
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_follow_the_share_of_the_cores() {
        let l = NodeLimits { cpus: "0-1".into(), compute_share: 0.5, memory_mb: None };
        assert_eq!(l.cores(), 2);
        assert_eq!(l.quota_us(), Some(5_000));
        let one = NodeLimits { cpus: "1".into(), compute_share: 0.25, memory_mb: Some(384) };
        assert_eq!((one.cores(), one.quota_us()), (1, Some(1_250)));
        assert_eq!(NodeLimits { compute_share: 1.0, ..one.clone() }.quota_us(), None);
        assert!(
            NodeGroup::create(&Mechanism::CgroupV1, "x", &NodeLimits { compute_share: 0.0, ..one.clone() }).is_err()
        );
        let err = NodeGroup::create(&Mechanism::Unenforced("no root".into()), "x", &one).unwrap_err();
        assert!(err.to_string().contains("no root"));
    }
}
