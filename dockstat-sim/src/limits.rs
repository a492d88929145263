//! Which simulated containers run under a CPU limit, and what it is: the one rule behind both
//! the stats frames' CFS throttling counters and what a container's inspect says about its
//! limit (`HostConfig.NanoCpus`), so that the two always agree.
//!
//! `busy` runs with `--cpus 0.5`, as `shared/scripts/real-dockerd.sh spawn N mix` starts it: it
//! would use a whole core, so nearly every 100 ms period ends throttled (the Docker 20.10
//! captures). `writer` runs with `--cpus 1.5`, which its short bursts never reach: periods pass,
//! none is throttled. The other workloads have no limit. Which container runs which workload
//! follows its number, so the limits are as deterministic as the rest of the sim.

use crate::Workload;

/// The CFS period Docker sets for `--cpus`, in microseconds (100 ms).
pub const CFS_PERIOD_US: u64 = 100_000;

/// A container's CPU limit as `docker run --cpus` sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuLimit {
    /// `HostConfig.NanoCpus`: billionths of a CPU (`--cpus 0.5` is 500000000).
    pub nano_cpus: u64,
}

impl CpuLimit {
    /// The CFS quota Docker writes for it (`cpu.cfs_quota_us`, the first field of v2's
    /// `cpu.max`), in microseconds per [`CpuLimit::period_us`].
    pub fn quota_us(self) -> u64 {
        self.nano_cpus * CFS_PERIOD_US / 1_000_000_000
    }

    /// The CFS period, in microseconds.
    pub fn period_us(self) -> u64 {
        CFS_PERIOD_US
    }
}

/// The CPU limit of a container running `workload` (`None`: no limit).
pub fn cpu_limit(workload: Workload) -> Option<CpuLimit> {
    match workload {
        Workload::Busy => Some(CpuLimit {
            nano_cpus: 500_000_000,
        }),
        Workload::Writer => Some(CpuLimit {
            nano_cpus: 1_500_000_000,
        }),
        Workload::Idle | Workload::Memhog | Workload::Forky | Workload::Net => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_as_docker_writes_them_to_the_cgroup() {
        let busy = cpu_limit(Workload::Busy).unwrap();
        assert_eq!((busy.quota_us(), busy.period_us()), (50_000, 100_000));
        let writer = cpu_limit(Workload::Writer).unwrap();
        assert_eq!((writer.quota_us(), writer.period_us()), (150_000, 100_000));
        let limited = Workload::CYCLE
            .iter()
            .filter(|w| cpu_limit(**w).is_some())
            .count();
        assert_eq!(limited, 2);
    }
}
