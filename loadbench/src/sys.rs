//! The few OS facts the bench needs: file-descriptor limit, CPU time, resident memory, wall
//! clock. The C calls behind them are in `dockstat::sys`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit: 10,000 streams need more than 10,000
/// descriptors (in the sim and in the client), and the usual soft limit is 1024.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    dockstat::sys::FileLimit::raise().map(|l| l.soft)
}

/// User and system CPU time of this process (all threads), in microseconds.
pub fn cpu_time_us() -> (u64, u64) {
    let (user, system) = dockstat::sys::Process::cpu_time();
    (user.as_micros() as u64, system.as_micros() as u64)
}

/// Gives freed heap memory back to the OS (glibc `malloc_trim`). Called after the container
/// listing, before the RSS baseline: otherwise the streams' allocations would reuse the
/// listing's freed (but still resident) pages and RSS per stream would read too low.
pub fn trim_heap() {
    dockstat::sys::Process::trim_heap();
}

/// `VmRSS` of this process from `/proc/self/status`, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CLOCK_REALTIME in nanoseconds since the epoch: the clock the sim stamps `read` with.
#[inline]
pub fn now_unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
