//! The few OS calls the bench needs: file-descriptor limit, CPU time, resident memory,
//! wall clock. The only `unsafe` of the crate is here, one call per function.

#![allow(unsafe_code)]

use std::time::{SystemTime, UNIX_EPOCH};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit: 10,000 streams need more than 10,000
/// descriptors (in the sim and in the client), and the usual soft limit is 1024.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read/write the `rlimit` struct we pass by
    // pointer, which is valid and exclusively borrowed for the duration of each call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: as above.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}

/// User and system CPU time of this process (all threads), in microseconds.
pub fn cpu_time_us() -> (u64, u64) {
    // SAFETY: `rusage` is plain old data, so all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into the struct we pass, valid for the call.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_SELF) cannot fail");
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

/// Gives freed heap memory back to the OS (glibc `malloc_trim`). Called after the container
/// listing, before the RSS baseline: otherwise the streams' allocations would reuse the
/// listing's freed (but still resident) pages and RSS per stream would read too low.
pub fn trim_heap() {
    // SAFETY: malloc_trim takes no pointers and only releases memory malloc owns and has
    // already freed; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
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
