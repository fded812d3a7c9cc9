//! Links shaped in the transport: each direction of a link is a token bucket (the link's
//! bandwidth, no burst: a message occupies the link for `bytes / bandwidth`, messages queue
//! behind each other) followed by a delay line (the latency, plus a uniform random jitter):
//! the sender holds a message until the moment it would have arrived, then writes it to the
//! node's socket. `tc netem` would do the same in the kernel; it is not available here, so the
//! shaping is the harness's own and applies to the harness's traffic only.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::Route;

/// One direction of a link, with what crossed it.
#[derive(Debug)]
pub struct Shaper {
    pub route: Route,
    /// When the link is free again (the token bucket's state).
    free_at: Mutex<Option<Instant>>,
    pub stats: Mutex<LinkStats>,
    /// Off: messages pass at once (the scoring pass, which is not timed).
    shaping: std::sync::atomic::AtomicBool,
}

/// What crossed one direction of a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct LinkStats {
    pub messages: u64,
    pub bytes: u64,
    /// Time messages spent on the link: queueing, transmission and latency, seconds.
    pub seconds: f64,
}

impl Shaper {
    pub fn new(route: Route) -> Self {
        Shaper {
            route,
            free_at: Mutex::new(None),
            stats: Mutex::new(LinkStats::default()),
            shaping: std::sync::atomic::AtomicBool::new(true),
        }
    }

    pub fn set_shaping(&self, on: bool) {
        self.shaping.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// When a message of `bytes` handed over at `now` arrives (and book the link meanwhile).
    pub fn arrival(&self, bytes: usize, now: Instant) -> Instant {
        let r = self.route;
        if r.bandwidth_mb_s.is_infinite() && r.latency_ms == 0.0 && r.jitter_ms == 0.0 {
            return now;
        }
        let tx = Duration::from_secs_f64(bytes as f64 / (r.bandwidth_mb_s * 1e6));
        let mut free = self.free_at.lock().expect("link lock");
        let start = free.map_or(now, |f| f.max(now));
        *free = Some(start + tx);
        let jitter = if r.jitter_ms > 0.0 { rand::random::<f64>() * r.jitter_ms } else { 0.0 };
        start + tx + Duration::from_secs_f64((r.latency_ms + jitter) / 1e3)
    }

    /// Carry a message of `bytes`: wait until it arrives, then `deliver` it; the time from
    /// hand-over to delivery is booked on the link.
    pub fn carry<T>(&self, bytes: usize, deliver: impl FnOnce() -> T) -> T {
        let t0 = Instant::now();
        if self.shaping.load(std::sync::atomic::Ordering::Relaxed) {
            let due = self.arrival(bytes, t0);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let out = deliver();
        let mut s = self.stats.lock().expect("link stats");
        s.messages += 1;
        s.bytes += bytes as u64;
        s.seconds += t0.elapsed().as_secs_f64();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_queue_for_the_bandwidth_and_wait_out_the_latency() {
        let s = Shaper::new(Route { latency_ms: 10.0, bandwidth_mb_s: 1.0, jitter_ms: 0.0 });
        let t0 = Instant::now();
        // 1 MB at 1 MB/s: on the link for one second, then 10 ms of latency.
        let a = s.arrival(1_000_000, t0);
        assert_eq!(a - t0, Duration::from_millis(1010));
        // A second message handed over at once waits for the first to leave the link.
        let b = s.arrival(500_000, t0);
        assert_eq!(b - t0, Duration::from_millis(1510));
        let local = Shaper::new(Route::LOCAL);
        assert_eq!(local.arrival(1 << 30, t0), t0);
    }
}
