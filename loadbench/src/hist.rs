//! Latency histogram: log-linear buckets from 1 µs to 60 s, fixed size, no allocation per
//! value.
//!
//! Below 16 µs each microsecond has its own bucket; above, every power of two is split into
//! 16 equal buckets, so a bucket is at most 1/16 of its lower bound wide and a percentile read
//! as the bucket's midpoint is within ±3.2 %. Values under 1 µs (and negative ones, if the
//! clock stepped) land in bucket 0; values over 60 s in the last bucket.

use std::sync::atomic::{AtomicU64, Ordering};

/// Linear sub-buckets per power of two.
const SUB: u64 = 16;
const SUB_BITS: u32 = 4;
/// The largest value kept apart, in µs.
const MAX_US: u64 = 60_000_000;
/// Number of buckets: the index of `MAX_US`, plus one.
pub const BUCKETS: usize = bucket(MAX_US) + 1;

/// The bucket of `us` microseconds.
const fn bucket(us: u64) -> usize {
    let us = if us > MAX_US { MAX_US } else { us };
    if us < SUB {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros(); // >= SUB_BITS
    let sub = (us >> (octave - SUB_BITS)) & (SUB - 1);
    (SUB + (octave - SUB_BITS) as u64 * SUB + sub) as usize
}

/// The smallest value of bucket `i`, and its width, in µs.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, 1);
    }
    let octave = (i - SUB) / SUB + u64::from(SUB_BITS);
    let sub = (i - SUB) % SUB;
    let width = 1 << (octave - u64::from(SUB_BITS));
    ((1 << octave) + sub * width, width)
}

fn index_of(nanos: i64) -> usize {
    bucket(nanos.max(0) as u64 / 1000)
}

/// A histogram owned by one thread.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: [u64; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: [0; BUCKETS],
        }
    }
}

impl Histogram {
    #[inline]
    pub fn record(&mut self, nanos: i64) {
        self.counts[index_of(nanos)] += 1;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// What was recorded since `start` (an earlier snapshot of this histogram).
    pub fn since(&self, start: &Histogram) -> Histogram {
        let mut out = self.clone();
        for (o, s) in out.counts.iter_mut().zip(start.counts.iter()) {
            *o -= s;
        }
        out
    }

    /// The `q` quantile (0..=1) in µs, as its bucket's midpoint; `None` when empty.
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the quantile, 1-based: p99 of 100 values is the 99th smallest.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = bounds(i);
                return Some(low as f64 + width as f64 / 2.0);
            }
        }
        None
    }

    /// The distribution: `[upper end of the bucket in µs, fraction of values in it or
    /// below]` for each non-empty bucket, in order; empty when nothing was recorded.
    pub fn cdf(&self) -> Vec<[f64; 2]> {
        let total = self.count();
        let mut seen = 0;
        let mut out = Vec::new();
        for (i, &c) in self.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            seen += c;
            let (low, width) = bounds(i);
            out.push([(low + width) as f64, seen as f64 / total as f64]);
        }
        out
    }

    /// The upper end of the highest non-empty bucket, in µs; `None` when empty.
    pub fn max_us(&self) -> Option<f64> {
        let i = self.counts.iter().rposition(|&c| c > 0)?;
        let (low, width) = bounds(i);
        Some((low + width) as f64)
    }
}

/// A histogram shared by threads (the bollard phase's tasks run on two workers).
#[derive(Debug)]
pub struct AtomicHistogram {
    counts: [AtomicU64; BUCKETS],
}

impl Default for AtomicHistogram {
    fn default() -> AtomicHistogram {
        AtomicHistogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl AtomicHistogram {
    #[inline]
    pub fn record(&self, nanos: i64) {
        self.counts[index_of(nanos)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Histogram {
        let mut h = Histogram::default();
        for (o, c) in h.counts.iter_mut().zip(self.counts.iter()) {
            *o = c.load(Ordering::Relaxed);
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_range_in_order() {
        let mut last = 0;
        for us in [
            0,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            1000,
            999_999,
            60_000_000,
            u64::MAX,
        ] {
            let b = bucket(us);
            assert!(b >= last && b < BUCKETS, "{us} -> {b}");
            last = b;
            if us <= MAX_US {
                let (low, width) = bounds(b);
                assert!(
                    low <= us && us < low + width,
                    "{us} not in [{low}, +{width})"
                );
            }
        }
        assert_eq!(BUCKETS, 365); // 16 + 21 octaves × 16 + 13 of the 26th
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for us in 1..=100 {
            h.record(us * 1000);
        }
        assert_eq!(h.quantile_us(0.5), Some(51.0)); // bucket [50, 52)
        let p99 = h.quantile_us(0.99).unwrap();
        assert!((96.0..=100.0).contains(&p99), "{p99}");
        let start = h.clone();
        h.record(5_000_000);
        assert_eq!(h.since(&start).count(), 1);
        let cdf = h.cdf();
        assert_eq!(cdf.first(), Some(&[2.0, 1.0 / 101.0]));
        assert_eq!(cdf.last().map(|p| p[1]), Some(1.0));
    }
}
