//! Is anything else using the machine while a cell is timed? Multi-threaded timings
//! are very sensitive to background load (a descheduled rayon thread stalls every
//! parallel op: a build beside a 2-thread cell made decode up to 5× slower here while
//! the cell still looked steady), so the worker reads the kernel's CPU accounting
//! (`/proc/stat`, `/proc/self/stat`, every `/proc/PID/stat`) before and after its timed
//! phase. CPU time spent by other processes, or stolen by the hypervisor, beyond the
//! thresholds below makes the cell `invalid: machine busy (…)`, naming the busiest
//! other process.

use std::collections::HashMap;
use std::time::Instant;

/// Other processes may use at most this share of the machine's CPU time during a
/// timed phase (all CPUs together: 0.10 on 2 CPUs is a fifth of one core)...
pub const MAX_OTHERS_SHARE: f64 = 0.10;
/// ...and at most this share may be stolen by the hypervisor.
pub const MAX_STEAL_SHARE: f64 = 0.10;
/// Below this many CPU-seconds nothing is judged: the kernel counts in 10 ms ticks,
/// so a short phase cannot tell a few ticks of housekeeping from load.
pub const MIN_JUDGED_CPU_S: f64 = 0.10;

/// Machine-wide CPU counters at one moment.
#[derive(Debug, Clone)]
struct Counters {
    at: Instant,
    /// Busy (user, nice, system, irq, softirq) and steal time over all CPUs, seconds.
    busy_s: f64,
    steal_s: f64,
    /// This process's own CPU time (all its threads), seconds.
    own_s: f64,
    /// CPU seconds and name of every other process.
    procs: HashMap<u32, (String, f64)>,
}

/// A started probe; [`CpuProbe::finish`] reports what the machine did meanwhile.
pub struct CpuProbe(Counters, Option<Vec<u32>>);

/// What other processes did while a cell was timed.
#[derive(Debug, Clone, PartialEq)]
pub struct BusyReport {
    pub wall_s: f64,
    pub cpus: usize,
    /// CPU seconds used by other processes (all CPUs together).
    pub others_cpu_s: f64,
    /// CPU seconds stolen by the hypervisor.
    pub steal_cpu_s: f64,
    /// The busiest other process: name, pid and the CPU seconds it used.
    pub culprit: Option<(String, u32, f64)>,
}

fn ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// `(comm, utime + stime + cutime + cstime)` in ticks from a `/proc/PID/stat` line (reaped
/// children count: a build's short-lived compilers show up in their parent).
fn proc_ticks(stat: &str) -> Option<(String, u64, u64)> {
    // The name is in parentheses and may hold spaces; fields resume after the last `)`.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_string();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state(0) ... utime is field 14 of the line, i.e. index 11 here.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    let children: i64 = rest.get(13).and_then(|c| c.parse::<i64>().ok()).unwrap_or(0)
        + rest.get(14).and_then(|c| c.parse::<i64>().ok()).unwrap_or(0);
    Some((name, utime + stime, children.max(0) as u64))
}

/// `(busy, steal)` ticks from the aggregate `cpu` line of `/proc/stat`.
fn stat_ticks(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    Some((get(0) + get(1) + get(2) + get(5) + get(6), get(7)))
}

impl Counters {
    fn read() -> Option<Counters> {
        let tick = ticks_per_s();
        let (busy, steal) = stat_ticks(&std::fs::read_to_string("/proc/stat").ok()?)?;
        let (_, own, _) = proc_ticks(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
        let me = std::process::id();
        let mut procs = HashMap::new();
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if pid == me {
                continue;
            }
            if let Some((name, t, children)) =
                std::fs::read_to_string(e.path().join("stat")).ok().as_deref().and_then(proc_ticks)
            {
                procs.insert(pid, (name, (t + children) as f64 / tick));
            }
        }
        Some(Counters {
            at: Instant::now(),
            busy_s: busy as f64 / tick,
            steal_s: steal as f64 / tick,
            own_s: own as f64 / tick,
            procs,
        })
    }
}

impl CpuProbe {
    /// `None` where the kernel's accounting cannot be read (not Linux).
    pub fn start() -> Option<CpuProbe> {
        Counters::read().map(|c| CpuProbe(c, None))
    }

    /// For a process under a CPU quota: the machine-wide counters are sampled on scheduler
    /// ticks, and a quota's run-and-stall rhythm aliases with them (a half-share node read
    /// as 25% "other" load on an idle machine), so others are summed per process instead.
    pub fn start_throttled() -> Option<CpuProbe> {
        Counters::read().map(|c| CpuProbe(c, Some(vec![])))
    }

    /// Like [`CpuProbe::start_throttled`], counting the processes `own` (this cell's node
    /// processes) as this process's own work.
    pub fn start_excluding(own: Vec<u32>) -> Option<CpuProbe> {
        Counters::read().map(|c| CpuProbe(c, Some(own)))
    }

    pub fn finish(self) -> Option<BusyReport> {
        let (a, per_process) = (self.0, self.1);
        let b = Counters::read()?;
        let own = per_process.clone().unwrap_or_default();
        // Processes started meanwhile count from zero.
        let summed: f64 = b
            .procs
            .iter()
            .filter(|(pid, _)| !own.contains(pid))
            .map(|(pid, (_, t))| (t - a.procs.get(pid).map_or(0.0, |p| p.1)).max(0.0))
            .sum();
        let culprit = b
            .procs
            .iter()
            .filter(|(pid, _)| !own.contains(pid))
            .filter_map(|(pid, (name, t))| {
                let before = a.procs.get(pid).map_or(0.0, |p| p.1);
                Some((name.clone(), *pid, t - before)).filter(|(_, _, d)| *d > 0.0)
            })
            .max_by(|x, y| x.2.total_cmp(&y.2));
        Some(BusyReport {
            wall_s: b.at.duration_since(a.at).as_secs_f64(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            others_cpu_s: if per_process.is_some() {
                summed
            } else {
                ((b.busy_s - a.busy_s) - (b.own_s - a.own_s)).max(0.0)
            },
            steal_cpu_s: (b.steal_s - a.steal_s).max(0.0),
            culprit,
        })
    }
}

impl BusyReport {
    /// Share of the machine's CPU time (wall time × CPUs) other processes used.
    pub fn others_share(&self) -> f64 {
        self.others_cpu_s / (self.wall_s * self.cpus as f64).max(1e-9)
    }

    pub fn steal_share(&self) -> f64 {
        self.steal_cpu_s / (self.wall_s * self.cpus as f64).max(1e-9)
    }

    /// `Some(reason)` when the machine was too busy for the timings to count.
    pub fn busy_reason(&self) -> Option<String> {
        let culprit = |s: &mut String| {
            if let Some((name, pid, t)) = &self.culprit {
                s.push_str(&format!("; busiest: {name} (pid {pid}) used {:.0}% of a CPU", t / self.wall_s * 100.0));
            }
        };
        if self.others_cpu_s >= MIN_JUDGED_CPU_S && self.others_share() > MAX_OTHERS_SHARE {
            let mut s = format!(
                "machine busy (other processes used {:.0}% of the {} CPUs while the cell was timed, above {:.0}%",
                self.others_share() * 100.0,
                self.cpus,
                MAX_OTHERS_SHARE * 100.0
            );
            culprit(&mut s);
            s.push(')');
            return Some(s);
        }
        if self.steal_cpu_s >= MIN_JUDGED_CPU_S && self.steal_share() > MAX_STEAL_SHARE {
            return Some(format!(
                "machine busy (the hypervisor took {:.0}% of the CPU time while the cell was timed, above {:.0}%)",
                self.steal_share() * 100.0,
                MAX_STEAL_SHARE * 100.0
            ));
        }
        None
    }

    /// The figures, for the cell's `extra`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "others_cpu_share": self.others_share(),
            "steal_share": self.steal_share(),
            "busiest_other_process": self.culprit.as_ref().map(|(n, p, t)| format!("{n} (pid {p}): {t:.2} CPU-s")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_lines() {
        let line = "1234 (rust c (x)) R 1 2 3 4 5 6 7 8 9 10 250 50 30 12 20 0 1 0";
        assert_eq!(proc_ticks(line), Some(("rust c (x)".to_string(), 300, 42)));
        let stat = "cpu  100 5 20 1000 3 1 2 7 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(stat_ticks(stat), Some((128, 7)));
    }

    #[test]
    fn thresholds_and_reasons() {
        let r = |others: f64, steal: f64| BusyReport {
            wall_s: 2.0,
            cpus: 2,
            others_cpu_s: others,
            steal_cpu_s: steal,
            culprit: Some(("yes".into(), 42, others)),
        };
        assert_eq!(r(0.05, 0.0).busy_reason(), None, "a few ticks of housekeeping");
        assert_eq!(r(0.3, 0.0).busy_reason(), None, "7.5% of the machine is below the threshold");
        let why = r(2.0, 0.0).busy_reason().unwrap();
        assert!(why.starts_with("machine busy (other processes used 50% of the 2 CPUs"), "{why}");
        assert!(why.contains("yes (pid 42) used 100% of a CPU"), "{why}");
        assert!(r(0.0, 1.0).busy_reason().unwrap().contains("hypervisor"));
    }

    #[test]
    fn a_busy_thread_of_another_process_is_seen() {
        let Some(probe) = CpuProbe::start() else { return };
        // A child process spinning for a while is "another process".
        let mut child = std::process::Command::new("sh")
            .args(["-c", "end=$(($(date +%s)+1)); while [ $(date +%s) -le $end ]; do :; done"])
            .spawn()
            .unwrap();
        child.wait().unwrap();
        let r = probe.finish().unwrap();
        assert!(r.others_cpu_s > 0.5, "{r:?}");
        assert!(r.culprit.is_some(), "{r:?}");
    }
}
