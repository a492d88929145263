//! The numbers `docker stats` shows, computed exactly as docker/cli computes them
//! (`cli/command/container/stats_helpers.go`): the same formulas, the same float64 operations
//! in the same order, and the same integer wrap-arounds, so the results are bit-identical.
//!
//! - CPU % (Linux) = (Δtotal_usage / Δsystem_cpu_usage) × online_cpus × 100 when both deltas
//!   are positive; `online_cpus` falls back to the number of `percpu_usage` entries. Not
//!   normalised: 250 % is two and a half cores ([`Derived::cpu_percent_host`] divides by the
//!   CPUs).
//! - CPU % (Windows) = Δtotal_usage / ((read − preread) in 100 ns intervals × num_procs) × 100.
//! - Memory used = usage − total_inactive_file (cgroup v1) or usage − inactive_file (v2), each
//!   only when smaller than usage; MEM % = used / limit × 100. Windows: private working set.
//! - NET I/O sums the interfaces; BLOCK I/O sums `io_service_bytes_recursive` by the first
//!   letter of `op` (Windows: storage_stats); PIDS is `pids_stats.current`.
//!
//! The deltas come from the frame's own `precpu_stats`, so a frame's numbers never depend on
//! an assumed interval; [`Derived::interval_nanos`] is `read − preread` for callers that want
//! rates.

#![forbid(unsafe_code)]

use super::model::Sample;

/// Which formulas apply: the daemon's OS, from the `Ostype` header of its responses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Platform {
    #[default]
    Linux,
    Windows,
}

impl Platform {
    /// From an `Ostype` header value (`linux`, `windows`).
    pub fn from_ostype(value: &[u8]) -> Platform {
        if value.eq_ignore_ascii_case(b"windows") {
            Platform::Windows
        } else {
            Platform::Linux
        }
    }
}

/// The derived numbers of one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Derived {
    /// CPU %, as `docker stats` shows it (100 % = one CPU).
    pub cpu_percent: f64,
    /// CPU % of the whole host (100 % = every CPU busy).
    pub cpu_percent_host: f64,
    /// The CPU count used: `online_cpus`, or the `percpu_usage` count.
    pub online_cpus: u32,
    /// `memory_stats.usage` as reported.
    pub mem_usage: u64,
    /// Memory used without the page cache (the MEM USAGE column).
    pub mem_used: f64,
    pub mem_limit: f64,
    pub mem_percent: f64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    /// The first sample of a stream: no previous reading, so CPU % covers the container's
    /// whole life (`docker stats` shows it anyway).
    pub warmup: bool,
    /// The container is not running: every reading is zero.
    pub stopped: bool,
    /// `read − preread` in nanoseconds (0 for a warm-up sample).
    pub interval_nanos: u64,
}

/// Computes what `docker stats` shows for one sample.
pub fn derive(s: &Sample<'_>, platform: Platform) -> Derived {
    let warmup = s.is_warmup();
    let interval_nanos = if s.preread.is_zero() || s.read.is_zero() {
        0
    } else {
        u64::try_from(s.read.nanos_since(s.preread)).unwrap_or(0)
    };
    let mut d = Derived {
        net_rx: s.networks.rx_bytes(),
        net_tx: s.networks.tx_bytes(),
        warmup,
        stopped: s.is_stopped(),
        interval_nanos,
        mem_usage: s.memory.usage,
        ..Derived::default()
    };
    match platform {
        Platform::Linux => {
            d.online_cpus = if s.cpu.online_cpus == 0 {
                s.cpu.percpu_count
            } else {
                s.cpu.online_cpus
            };
            d.cpu_percent = cpu_percent_unix(
                s.precpu.total_usage,
                s.precpu.system_cpu_usage,
                s.cpu.total_usage,
                s.cpu.system_cpu_usage,
                d.online_cpus,
            );
            d.block_read = s.blkio.read;
            d.block_write = s.blkio.write;
            d.mem_used = mem_used_no_cache(s);
            d.mem_limit = s.memory.limit as f64;
            d.mem_percent = if d.mem_limit != 0.0 {
                d.mem_used / d.mem_limit * 100.0
            } else {
                0.0
            };
            d.pids = s.pids.current;
        }
        Platform::Windows => {
            d.online_cpus = s.num_procs;
            d.cpu_percent = cpu_percent_windows(s);
            d.block_read = s.storage.read_size_bytes;
            d.block_write = s.storage.write_size_bytes;
            d.mem_used = s.memory.private_working_set.unwrap_or(0) as f64;
        }
    }
    d.cpu_percent_host = if d.online_cpus > 0 {
        d.cpu_percent / f64::from(d.online_cpus)
    } else {
        0.0
    };
    d
}

/// docker/cli `calculateCPUPercentUnix`.
fn cpu_percent_unix(prev_cpu: u64, prev_system: u64, cpu: u64, system: u64, cpus: u32) -> f64 {
    let cpu_delta = cpu as f64 - prev_cpu as f64;
    let system_delta = system as f64 - prev_system as f64;
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * f64::from(cpus) * 100.0
    } else {
        0.0
    }
}

/// docker/cli `calculateCPUPercentWindows`, with Go's integer semantics: the duration
/// saturates, converts to uint64 with wrap-around, and the multiplication wraps.
fn cpu_percent_windows(s: &Sample<'_>) -> f64 {
    let nanos = s
        .read
        .nanos_since(s.preread)
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let possible = ((nanos as u64) / 100).wrapping_mul(u64::from(s.num_procs));
    let used = s.cpu.total_usage.wrapping_sub(s.precpu.total_usage);
    if possible > 0 {
        used as f64 / possible as f64 * 100.0
    } else {
        0.0
    }
}

/// docker/cli `calculateMemUsageUnixNoCache`.
fn mem_used_no_cache(s: &Sample<'_>) -> f64 {
    let usage = s.memory.usage;
    // cgroup v1: the key's presence decides, not its value.
    if let Some(v) = s.memory.total_inactive_file {
        if v < usage {
            return (usage - v) as f64;
        }
    }
    let v = s.memory.inactive_file.unwrap_or(0);
    if v < usage {
        return (usage - v) as f64;
    }
    usage as f64
}
