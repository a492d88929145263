//! Cheap fixed-bucket histograms for the engine's self-monitoring.
//!
//! A [`Histogram`] counts values (nanoseconds) into power-of-two buckets: bucket `b` holds the
//! values `v` with `2^(b-1+base) < v <= 2^(b+base)` (bucket 0 everything up to `2^base`), and
//! the last bucket everything larger. Recording a value is a subtraction, a leading-zero count,
//! a clamp and two additions: no float, no branch on the data beyond the clamp, no allocation.
//! The bounds are inclusive, as Prometheus's `le`.

#![forbid(unsafe_code)]

use crate::error::DecodeError;

/// Number of finite buckets; one more counts what is larger than the last bound.
pub(crate) const HISTOGRAM_BUCKETS: usize = 24;

/// A histogram of nanosecond values with power-of-two bucket bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// log2 of the first bucket's upper bound, in nanoseconds.
    base: u32,
    /// Per-bucket counts (not cumulative); the last one is `+Inf`.
    counts: [u64; HISTOGRAM_BUCKETS + 1],
    /// Sum of the values recorded, in nanoseconds (wrapping).
    sum: u64,
}

impl Histogram {
    /// A histogram whose first bucket ends at `2^base` ns and whose last finite bucket ends at
    /// `2^(base + HISTOGRAM_BUCKETS - 1)` ns.
    pub(crate) const fn new(base: u32) -> Histogram {
        Histogram {
            base,
            counts: [0; HISTOGRAM_BUCKETS + 1],
            sum: 0,
        }
    }

    /// Records one value (nanoseconds).
    #[inline]
    pub(crate) fn record(&mut self, nanos: u64) {
        // ceil(log2(v)) for v >= 1 is 64 - lzcnt(v - 1); v = 0 lands in bucket 0.
        let log = 64 - nanos.saturating_sub(1).leading_zeros();
        let index = (log.saturating_sub(self.base) as usize).min(HISTOGRAM_BUCKETS);
        self.counts[index] += 1;
        self.sum = self.sum.wrapping_add(nanos);
    }

    /// Upper bound of finite bucket `i`, in nanoseconds.
    pub fn bound_nanos(&self, i: usize) -> u64 {
        1u64 << (self.base as usize + i).min(63)
    }

    /// Per-bucket counts, not cumulative: 24 finite buckets, then `+Inf`.
    pub fn counts(&self) -> &[u64; HISTOGRAM_BUCKETS + 1] {
        &self.counts
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of the values recorded, in nanoseconds.
    pub fn sum_nanos(&self) -> u64 {
        self.sum
    }

    /// The bucket bound at or below which fraction `q` (0..=1) of the values lie: an upper
    /// estimate of the quantile, within a factor of two. `None` when empty; `u64::MAX` when it
    /// falls in the `+Inf` bucket.
    pub fn quantile_bound(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let want = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some(if i == HISTOGRAM_BUCKETS {
                    u64::MAX
                } else {
                    self.bound_nanos(i)
                });
            }
        }
        Some(u64::MAX)
    }
}

/// Decode errors by kind (see [`DecodeError`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeErrorCounts {
    pub syntax: u64,
    pub too_deep: u64,
    pub shape: u64,
}

impl DecodeErrorCounts {
    pub(crate) fn add(&mut self, kind: DecodeError) {
        match kind {
            DecodeError::Syntax => self.syntax += 1,
            DecodeError::TooDeep => self.too_deep += 1,
            DecodeError::Shape => self.shape += 1,
        }
    }
}

/// The engine's timing histograms ([`super::Engine::metrics`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineMetrics {
    /// Per delivered frame: the time from the end of the previous frame of the same reactor
    /// turn (or the turn's first body data) to the end of this frame's delivery — reading,
    /// dechunking, decoding, deriving and the handler. Buckets from 256 ns to about 2 s.
    pub frame_time: Histogram,
    /// Per delivered frame of a running container: the wall-clock time at delivery minus the
    /// frame's `read` timestamp (the daemon's clock; negative skew counts as 0). Buckets from
    /// about 1 ms to about 2.3 h.
    pub lag: Histogram,
}

impl Default for EngineMetrics {
    fn default() -> EngineMetrics {
        EngineMetrics {
            frame_time: Histogram::new(8),
            lag: Histogram::new(20),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_powers_of_two() {
        let mut h = Histogram::new(8);
        for v in [0, 1, 256] {
            h.record(v);
        }
        assert_eq!(h.counts()[0], 3);
        h.record(257);
        h.record(512);
        assert_eq!(h.counts()[1], 2);
        h.record(513);
        assert_eq!(h.counts()[2], 1);
        h.record(u64::MAX);
        assert_eq!(h.counts()[HISTOGRAM_BUCKETS], 1);
        let last = h.bound_nanos(HISTOGRAM_BUCKETS - 1);
        h.record(last);
        assert_eq!(h.counts()[HISTOGRAM_BUCKETS - 1], 1);
        h.record(last + 1);
        assert_eq!(h.counts()[HISTOGRAM_BUCKETS], 2);
        assert_eq!(h.count(), 9);
        assert_eq!(h.quantile_bound(0.0), Some(256));
        assert_eq!(h.quantile_bound(1.0), Some(u64::MAX));
        assert_eq!(Histogram::new(8).quantile_bound(0.5), None);
    }
}
