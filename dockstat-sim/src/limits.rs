//! Which simulated containers run under a CPU limit, and what it is: the one rule behind both
//! the stats frames' CFS throttling counters and what a container's inspect says about its
//! limit (`HostConfig.NanoCpus`, `CpuQuota`, `CpuPeriod`), so that the two always agree.
//!
//! By default `busy` runs with `--cpus 0.5`, as `shared/scripts/real-dockerd.sh spawn N mix`
//! starts it: it would use a whole core, so nearly every 100 ms period ends throttled (the
//! Docker 20.10 captures). `writer` runs with `--cpus 1.5`, which its short bursts never
//! reach: periods pass, none is throttled. The other workloads have no limit. Which container
//! runs which workload follows its number, so the limits are as deterministic as the rest of
//! the sim. A sim configured with a limit ([`SimConfig::nano_cpus`](crate::SimConfig),
//! `cpu_quota`, `cpu_period`) gives every container that one instead.

use crate::Workload;

/// The CFS period Docker sets for `--cpus`, and for `--cpu-quota` without `--cpu-period`, in
/// microseconds (100 ms).
pub const CFS_PERIOD_US: u64 = 100_000;

/// A container's CPU limit as its inspect's `HostConfig` has it: `--cpus` sets `NanoCpus`,
/// `--cpu-quota` and `--cpu-period` the other two.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuLimit {
    /// Billionths of a CPU (`--cpus 0.5` is 500000000).
    pub nano_cpus: i64,
    /// Microseconds of CPU per period.
    pub cpu_quota: i64,
    /// Microseconds; 0 is Docker's default, [`CFS_PERIOD_US`].
    pub cpu_period: i64,
}

impl CpuLimit {
    /// `--cpus CPUS` of `nano_cpus` billionths.
    pub const fn cpus(nano_cpus: i64) -> CpuLimit {
        CpuLimit {
            nano_cpus,
            cpu_quota: 0,
            cpu_period: 0,
        }
    }

    /// The CFS quota and period Docker writes for it to the cgroup (`cpu.cfs_quota_us` and
    /// `cpu.cfs_period_us`, v2's `cpu.max`), in microseconds; `None` when it sets none.
    pub fn cfs(self) -> Option<(u64, u64)> {
        let period = u64::try_from(self.cpu_period)
            .ok()
            .filter(|&p| p > 0)
            .unwrap_or(CFS_PERIOD_US);
        if self.nano_cpus > 0 {
            let quota =
                u128::from(self.nano_cpus as u64) * u128::from(CFS_PERIOD_US) / 1_000_000_000;
            return Some((u64::try_from(quota).unwrap_or(u64::MAX), CFS_PERIOD_US));
        }
        let quota = u64::try_from(self.cpu_quota).ok().filter(|&q| q > 0)?;
        Some((quota, period))
    }

    /// The limit in nanoseconds of CPU per second of wall time (a workload's rate above it
    /// is throttled); `None` without a limit.
    pub fn nanos_per_second(self) -> Option<u64> {
        let (quota, period) = self.cfs()?;
        let v = u128::from(quota) * 1_000_000_000 / u128::from(period);
        Some(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

/// The limit of a container running `workload` by default (`None`: no limit).
pub fn cpu_limit(workload: Workload) -> Option<CpuLimit> {
    match workload {
        Workload::Busy => Some(CpuLimit::cpus(500_000_000)),
        Workload::Writer => Some(CpuLimit::cpus(1_500_000_000)),
        Workload::Idle | Workload::Memhog | Workload::Forky | Workload::Net => None,
    }
}

/// The limit of a container running `workload` in a sim configured with `configured`
/// (`SimConfig`'s `nano_cpus`, `cpu_quota`, `cpu_period`): that one when it sets a limit,
/// else the workload's ([`cpu_limit`]).
pub(crate) fn container_limit(configured: CpuLimit, workload: Workload) -> Option<CpuLimit> {
    if configured.cfs().is_some() {
        Some(configured)
    } else {
        cpu_limit(workload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_as_docker_writes_them_to_the_cgroup() {
        let busy = cpu_limit(Workload::Busy).unwrap();
        assert_eq!(busy.cfs(), Some((50_000, 100_000)));
        assert_eq!(busy.nanos_per_second(), Some(500_000_000));
        let writer = cpu_limit(Workload::Writer).unwrap();
        assert_eq!(writer.cfs(), Some((150_000, 100_000)));
        let limited = Workload::CYCLE
            .iter()
            .filter(|w| cpu_limit(**w).is_some())
            .count();
        assert_eq!(limited, 2);
        // --cpu-quota 25000 (--cpu-period defaults to 100 ms), and with --cpu-period 50000.
        let quota = CpuLimit {
            cpu_quota: 25_000,
            ..CpuLimit::default()
        };
        assert_eq!(quota.cfs(), Some((25_000, 100_000)));
        let both = CpuLimit {
            cpu_period: 50_000,
            ..quota
        };
        assert_eq!(both.nanos_per_second(), Some(500_000_000));
        assert_eq!(CpuLimit::default().cfs(), None);
        // A configured limit is every container's; none leaves the workloads' own.
        let two = CpuLimit::cpus(2_000_000_000);
        assert_eq!(container_limit(two, Workload::Idle), Some(two));
        assert_eq!(container_limit(CpuLimit::default(), Workload::Idle), None);
        assert_eq!(
            container_limit(CpuLimit::default(), Workload::Busy),
            Some(busy)
        );
    }
}
