//! Reconnect delays: capped exponential backoff with jitter, and the small random source
//! behind it. Sans-io: the caller adds the delay to its own `now`.

#![forbid(unsafe_code)]

use std::time::Duration;

/// Delays for reconnecting streams and rediscovering hosts.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    rng: u64,
}

impl Backoff {
    /// Delays from `min`, doubling per failed attempt up to `max`; `seed` varies the jitter
    /// between processes.
    pub(crate) fn new(min: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            min,
            max,
            rng: seed | 1,
        }
    }

    /// The delay before attempt `attempts + 1`: `min × 2^attempts`, capped at `max`, times a
    /// random factor in [0.5, 1.5) so that streams that failed together do not come back
    /// together.
    pub(crate) fn delay(&mut self, attempts: u32) -> Duration {
        let base = self
            .min
            .saturating_mul(1u32 << attempts.min(16))
            .min(self.max);
        let jitter = 0.5 + (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(jitter)
    }

    /// A number that differs from the last one given for `slot` (generations only have to
    /// differ from the previous occupant's).
    pub(crate) fn generation(&mut self, slot: u32) -> u32 {
        (self.next() as u32) ^ slot
    }

    fn next(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_schedule_doubles_with_jitter_and_stops_at_the_cap() {
        let mut b = Backoff::new(ms(100), ms(30_000), 42);
        for attempts in 0..40 {
            let base = (100u64 << attempts.min(16)).min(30_000);
            for _ in 0..50 {
                let d = b.delay(attempts);
                assert!(
                    d >= ms(base) / 2,
                    "attempt {attempts}: {d:?} < half of {base} ms"
                );
                assert!(
                    d < ms(base) * 3 / 2,
                    "attempt {attempts}: {d:?} ≥ 1.5 × {base} ms"
                );
            }
        }
    }

    #[test]
    fn streams_that_failed_together_come_back_spread_out() {
        let mut b = Backoff::new(ms(100), ms(30_000), 7);
        let mut delays: Vec<Duration> = (0..1000).map(|_| b.delay(3)).collect();
        delays.sort();
        // 800 ms × [0.5, 1.5): the middle half spans at least a quarter of the range.
        assert!(
            delays[750] - delays[250] > ms(200),
            "{:?}",
            (delays[250], delays[750])
        );
    }

    #[test]
    fn generations_differ_from_the_last_one() {
        let mut b = Backoff::new(ms(1), ms(2), 1);
        let mut last = b.generation(5);
        for _ in 0..1000 {
            let g = b.generation(5);
            assert_ne!(g, last);
            last = g;
        }
    }
}
