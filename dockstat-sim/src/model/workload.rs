//! What each workload's cgroup counters read at a given time: the workloads and their CPU and
//! memory profiles, the wobble that makes counters advance unevenly yet never go back, the
//! sample types a frame is written from, and the deterministic hashing everything derives
//! from the seed. Pure functions of their arguments; not which containers exist or their
//! state (`mod.rs`).

use crate::time::SECOND;

/// splitmix64's finaliser: a cheap, well-mixed, deterministic hash step.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of two values.
pub(crate) fn hash2(a: u64, b: u64) -> u64 {
    mix(a ^ mix(b))
}

/// 64 lowercase hex digits derived from `key`, the shape of Docker's ids and digests.
pub(crate) fn hex64(key: u64) -> String {
    let mut s = String::with_capacity(64);
    for i in 0..4 {
        s.push_str(&format!("{:016x}", hash2(key, i)));
    }
    s
}

/// "Effective" nanoseconds: `t` plus a bounded deterministic wobble, so that counters driven
/// by it advance at a rate that varies from second to second (frames differ) while staying
/// exactly non-decreasing and averaging a slope of 1.
///
/// The wobble is a piecewise-linear interpolation between random values in `[-amp, amp]`
/// placed every second; its slope is at most `2 × amp / 1 s`, so with `amp` ≤ 400 ms the total
/// slope stays ≥ 0.2 and integer truncation can only ever add, never subtract, across one ns.
pub(crate) fn wobble(key: u64, t: u64, amp: u64) -> u64 {
    let amp = amp.min(400_000_000);
    let knot = |k: u64| i128::from(hash2(key, k) % 2001) - 1000; // [-1000, 1000]
    let k = t / SECOND;
    let f = i128::from(t % SECOND);
    let s = i128::from(SECOND);
    let amp = i128::from(amp);
    let w = (amp * (knot(k) * (s - f) + knot(k + 1) * f)).div_euclid(s * 1000);
    // |w| <= amp, so the sum is never negative.
    u64::try_from(i128::from(t) + amp + w).unwrap_or(0)
}

/// `base + rate_per_s × e / 1 s`, computed without overflow for any `e` the sim can reach.
pub(super) fn at_rate(base: u64, rate_per_s: u64, e: u64) -> u64 {
    let v = u128::from(rate_per_s) * u128::from(e) / u128::from(SECOND);
    base.saturating_add(u64::try_from(v).unwrap_or(u64::MAX))
}

/// A deterministic value in `[0, n]` that changes once per second (for gauges such as memory
/// usage, which go up and down).
pub(super) fn per_second(key: u64, t: u64, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    hash2(key, t / SECOND) % (n + 1)
}

/// What a container runs, as in `real-dockerd.sh spawn N mix` (which cycles in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `--cpus=0.5 sh -c 'yes > /dev/null'`: half a core, CFS throttling.
    Busy,
    /// `sleep`: almost no CPU.
    Idle,
    /// `-m 512m`, 200 MiB written to /dev/shm: memory near a limit, mostly cache.
    Memhog,
    /// `dd ... oflag=direct` of 16 MiB every second: block I/O counters advance.
    Writer,
    /// `--pids-limit=64`, ten background sleeps every 2 s: pids oscillate between 1 and 11.
    Forky,
    /// On the bridge network: the frame has a `networks` key with `eth0`.
    Net,
}

impl Workload {
    /// The cycle of `spawn N mix`.
    pub const CYCLE: [Workload; 6] = [
        Workload::Busy,
        Workload::Idle,
        Workload::Memhog,
        Workload::Writer,
        Workload::Forky,
        Workload::Net,
    ];

    /// The name used in container names and the `sim.workload` label.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Busy => "busy",
            Workload::Idle => "idle",
            Workload::Memhog => "memhog",
            Workload::Writer => "writer",
            Workload::Forky => "forky",
            Workload::Net => "net",
        }
    }

    pub(super) fn command(self) -> &'static str {
        match self {
            Workload::Busy => "sh -c 'yes > /dev/null'",
            Workload::Idle | Workload::Net => "sleep 1000000",
            Workload::Memhog => {
                "sh -c 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=200 2>/dev/null; exec sleep 1000000'"
            }
            Workload::Writer => {
                "sh -c 'while :; do dd if=/dev/zero of=/tmp/f bs=1M count=16 oflag=direct 2>/dev/null; sync; sleep 1; done'"
            }
            Workload::Forky => {
                "sh -c 'while :; do for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait; done'"
            }
        }
    }
}

/// CPU behaviour of a workload.
pub(super) struct CpuProfile {
    /// CPU time used while starting up (ns).
    pub(super) base: u64,
    /// Steady CPU use in ns per second of wall time (1e9 = one full core).
    pub(super) rate: u64,
    /// Wobble amplitude (see [`wobble`]).
    pub(super) amp: u64,
    /// Share of CPU time spent in the kernel, per mille.
    pub(super) kernel_permille: u64,
}

/// Memory behaviour of a workload, in cgroup v1 terms (v2 keys are derived from it).
pub(super) struct MemProfile {
    pub(super) rss: u64,
    /// Page cache including shmem.
    pub(super) cache: u64,
    pub(super) shmem: u64,
    pub(super) mapped_file: u64,
    pub(super) active_anon: u64,
    pub(super) active_file: u64,
    /// Charged memory that is neither rss nor cache (kernel stacks, slab, page tables).
    pub(super) kernel: u64,
    pub(super) max_usage: u64,
    /// Per-second jitter of usage (bytes, rounded to pages).
    pub(super) usage_jitter: u64,
    /// Per-second swing of pages between active and inactive anon.
    pub(super) active_swing: u64,
    pub(super) pgfault: (u64, u64),
    pub(super) pgmajfault: u64,
    pub(super) pgpgin: (u64, u64),
    pub(super) pgpgout: (u64, u64),
}

pub(super) fn cpu_profile(w: Workload) -> CpuProfile {
    match w {
        Workload::Busy => CpuProfile {
            base: 5_000_000,
            rate: 500_000_000,
            amp: 20_000_000,
            kernel_permille: 10,
        },
        Workload::Idle => CpuProfile {
            base: 22_500_051,
            rate: 10_000,
            amp: 300_000_000,
            kernel_permille: 500,
        },
        Workload::Memhog => CpuProfile {
            base: 617_322_549,
            rate: 30_000,
            amp: 300_000_000,
            kernel_permille: 670,
        },
        Workload::Writer => CpuProfile {
            base: 10_000_000,
            rate: 3_900_000,
            amp: 150_000_000,
            kernel_permille: 700,
        },
        Workload::Forky => CpuProfile {
            base: 8_000_000,
            rate: 7_800_000,
            amp: 200_000_000,
            kernel_permille: 280,
        },
        Workload::Net => CpuProfile {
            base: 19_115_196,
            rate: 15_000,
            amp: 300_000_000,
            kernel_permille: 100,
        },
    }
}

pub(super) fn mem_profile(w: Workload) -> MemProfile {
    match w {
        Workload::Busy => MemProfile {
            rss: 61_440,
            cache: 16_384,
            shmem: 0,
            mapped_file: 12_288,
            active_anon: 4_096,
            active_file: 16_384,
            kernel: 270_336,
            max_usage: 4_096_000,
            usage_jitter: 0,
            active_swing: 0,
            pgfault: (1_161, 0),
            pgmajfault: 1,
            pgpgin: (850, 0),
            pgpgout: (831, 0),
        },
        Workload::Idle | Workload::Net => MemProfile {
            rss: 53_248,
            cache: 0,
            shmem: 0,
            mapped_file: 0,
            active_anon: 4_096,
            active_file: 0,
            kernel: 270_336,
            max_usage: 3_821_568,
            usage_jitter: 0,
            active_swing: 0,
            pgfault: (1_034, 0),
            pgmajfault: 0,
            pgpgin: (753, 0),
            pgpgout: (740, 0),
        },
        Workload::Memhog => MemProfile {
            rss: 57_344,
            cache: 209_715_200,
            shmem: 209_715_200,
            mapped_file: 0,
            active_anon: 3_207_168,
            active_file: 0,
            kernel: 753_664,
            max_usage: 330_911_744,
            usage_jitter: 0,
            active_swing: 1_515_520,
            pgfault: (30_950, 0),
            pgmajfault: 0,
            pgpgin: (81_692, 0),
            pgpgout: (30_478, 0),
        },
        Workload::Writer => MemProfile {
            rss: 110_592,
            cache: 0,
            shmem: 0,
            mapped_file: 0,
            active_anon: 4_096,
            active_file: 0,
            kernel: 430_080,
            max_usage: 3_551_232,
            usage_jitter: 393_216,
            active_swing: 0,
            pgfault: (6_914, 392),
            pgmajfault: 0,
            pgpgin: (5_273, 301),
            pgpgout: (5_246, 301),
        },
        Workload::Forky => MemProfile {
            rss: 577_536,
            cache: 0,
            shmem: 0,
            mapped_file: 0,
            active_anon: 45_056,
            active_file: 0,
            kernel: 1_040_384,
            max_usage: 3_829_760,
            usage_jitter: 262_144,
            active_swing: 0,
            pgfault: (15_596, 332),
            pgmajfault: 0,
            pgpgin: (5_373, 105),
            pgpgout: (5_232, 103),
        },
    }
}

/// cgroup v1 memory counters of one sample (v2 keys are derived from these by the writer).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemSample {
    pub(crate) usage: u64,
    pub(crate) max_usage: u64,
    pub(crate) rss: u64,
    pub(crate) cache: u64,
    pub(crate) shmem: u64,
    pub(crate) mapped_file: u64,
    pub(crate) active_anon: u64,
    pub(crate) inactive_anon: u64,
    pub(crate) active_file: u64,
    pub(crate) inactive_file: u64,
    pub(crate) pgfault: u64,
    pub(crate) pgmajfault: u64,
    pub(crate) pgpgin: u64,
    pub(crate) pgpgout: u64,
    pub(crate) kernel_stack: u64,
    pub(crate) slab: u64,
    /// `memory_stats.limit`: the container's limit, or the host's memory.
    pub(crate) limit: u64,
    /// `hierarchical_memory_limit` / `hierarchical_memsw_limit` (v1).
    pub(crate) hier_limit: u64,
    pub(crate) hier_memsw_limit: u64,
}

/// Block I/O counters (bytes and operations) on the simulated disk, major 254 minor 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlkSample {
    pub(crate) read_bytes: u64,
    pub(crate) write_bytes: u64,
    pub(crate) discard_bytes: u64,
    pub(crate) read_ops: u64,
    pub(crate) write_ops: u64,
    pub(crate) discard_ops: u64,
}

/// `eth0` counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NetSample {
    pub(crate) rx_bytes: u64,
    pub(crate) rx_packets: u64,
    pub(crate) tx_bytes: u64,
    pub(crate) tx_packets: u64,
}

/// Everything a stats frame says about a running container at one instant, already in the
/// units and rounding of the given cgroup version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    /// ns. v1: the sum of `percpu`; v2: kernel + user (µs precision).
    pub(crate) cpu_total: u64,
    /// ns per online CPU (v1 only; empty on v2).
    pub(crate) percpu: Vec<u64>,
    pub(crate) cpu_kernel: u64,
    pub(crate) cpu_user: u64,
    /// Host CPU time in ns (`/proc/stat`, 10 ms resolution).
    pub(crate) system: u64,
    pub(crate) online_cpus: u32,
    pub(crate) periods: u64,
    pub(crate) throttled_periods: u64,
    pub(crate) throttled_time: u64,
    pub(crate) mem: MemSample,
    pub(crate) pids: u64,
    pub(crate) pids_limit: Option<u64>,
    pub(crate) blk: Option<BlkSample>,
    pub(crate) net: Option<NetSample>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wobble_is_non_decreasing_and_bounded() {
        for key in 0..20 {
            let mut prev = 0;
            let mut t = 0;
            while t < 5 * SECOND {
                let e = wobble(key, t, 400_000_000);
                assert!(e >= prev, "key {key} t {t}: {e} < {prev}");
                assert!(e.abs_diff(t + 400_000_000) <= 400_000_000);
                prev = e;
                t += 1 + hash2(key, t) % 3_000_000;
            }
            // Single-nanosecond steps across a knot.
            let a = wobble(key, SECOND - 1, 400_000_000);
            let b = wobble(key, SECOND, 400_000_000);
            assert!(b >= a);
        }
    }
}
