//! When requests arrive: closed loop (a fixed number of clients, each sending
//! its next request when the last one is answered) or open loop (Poisson
//! arrivals at a rate, optionally in bursts), seeded so runs are reproducible.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// `concurrency` requests in flight; the next arrives when one finishes.
    Closed { concurrency: usize },
    /// Arrival offsets in seconds from the session start, one per request.
    Open { at: Vec<f64> },
}

/// Poisson arrivals of `n` requests at `rate` per second, in bursts of
/// `burst` requests arriving together (burst starts are Poisson at `rate / burst`).
pub fn poisson(n: usize, rate: f64, burst: usize, seed: u64) -> Vec<f64> {
    let burst = burst.max(1);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = 0.0;
    let mut at = Vec::with_capacity(n);
    while at.len() < n {
        let u: f64 = rng.random();
        t += -(1.0 - u).ln() / (rate / burst as f64);
        for _ in 0..burst.min(n - at.len()) {
            at.push(t);
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_arrivals_are_reproducible_and_have_the_rate() {
        let a = poisson(2000, 4.0, 1, 7);
        assert_eq!(a, poisson(2000, 4.0, 1, 7));
        assert_ne!(a, poisson(2000, 4.0, 1, 8));
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        let rate = a.len() as f64 / a.last().unwrap();
        assert!((rate - 4.0).abs() < 0.4, "empirical rate {rate}");
    }

    #[test]
    fn bursts_arrive_together() {
        let a = poisson(9, 2.0, 3, 1);
        assert_eq!(a.len(), 9);
        assert!(a[0] == a[1] && a[1] == a[2] && a[2] < a[3] && a[3] == a[5]);
    }
}
