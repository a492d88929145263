//! The typed view of one stats frame: what the `docker stats` math needs, borrowed from the
//! frame and the decoder.
//!
//! Counters are `u64` as the daemon sends them (cgroup "unlimited" is 18446744073709551615).
//! A field the frame omits or sends as `null` is `None` where its absence means something
//! (no `total_inactive_file`: not cgroup v1) and `0` where the docker CLI treats it as zero.

#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

/// A time as the daemon writes it (RFC 3339 with nanoseconds), as seconds and nanoseconds
/// since the Unix epoch. Go's zero time, `0001-01-01T00:00:00Z`, marks "no reading" (the
/// `preread` of a stream's first frame, every timestamp of a stopped container).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    pub nanos: u32,
}

impl Default for Timestamp {
    /// Go's zero time, as for a field the frame omits.
    fn default() -> Timestamp {
        Timestamp::ZERO
    }
}

impl Timestamp {
    /// Docker's `units.HumanDuration` (github.com/docker/go-units): "Less than a second",
    /// "About a minute", "5 days", … The daemon writes a container's `Status` with it ("Up 5
    /// minutes", "Exited (0) 3 minutes ago") and the docker CLI its CREATED columns ("2 weeks
    /// ago"), so text built here matches theirs word for word. A negative span (a clock that went
    /// back) is the caller's to clamp to zero, as Go's reads as "Less than a second".
    pub fn human_duration(d: Duration) -> String {
        let seconds = d.as_secs();
        if seconds < 1 {
            return "Less than a second".to_owned();
        }
        if seconds == 1 {
            return "1 second".to_owned();
        }
        if seconds < 60 {
            return format!("{seconds} seconds");
        }
        let minutes = seconds / 60;
        if minutes == 1 {
            return "About a minute".to_owned();
        }
        if minutes < 60 {
            return format!("{minutes} minutes");
        }
        // Go rounds the hours here (`int(d.Hours() + 0.5)`), and truncates everywhere else.
        let hours = (d.as_nanos() + 1_800_000_000_000) / 3_600_000_000_000;
        if hours == 1 {
            return "About an hour".to_owned();
        }
        if hours < 48 {
            return format!("{hours} hours");
        }
        if hours < 24 * 7 * 2 {
            return format!("{} days", hours / 24);
        }
        if hours < 24 * 30 * 2 {
            return format!("{} weeks", hours / 24 / 7);
        }
        if hours < 24 * 365 * 2 {
            return format!("{} months", hours / 24 / 30);
        }
        format!("{} years", seconds / 3600 / 24 / 365)
    }

    /// Go's zero time, `0001-01-01T00:00:00Z`.
    pub const ZERO: Timestamp = Timestamp {
        secs: -62_135_596_800,
        nanos: 0,
    };

    /// Whether this is Go's zero time (or earlier).
    pub fn is_zero(self) -> bool {
        self <= Timestamp::ZERO
    }

    /// Nanoseconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn nanos_since(self, earlier: Timestamp) -> i128 {
        (i128::from(self.secs) - i128::from(earlier.secs)) * 1_000_000_000
            + (i128::from(self.nanos) - i128::from(earlier.nanos))
    }

    /// Nanoseconds since the Unix epoch, saturating.
    pub fn unix_nanos(self) -> i64 {
        let n = i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos);
        n.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// The UTC calendar date and time of day: `((year, month, day), (hour, minute, second))`,
    /// proleptic Gregorian (the calendar RFC 3339 and Go's `time` use, extended backwards), so
    /// [`Timestamp::ZERO`] is `((1, 1, 1), (0, 0, 0))` and a time before 1970 has its own date
    /// rather than a wrapped one. The nanoseconds are [`Timestamp::nanos`].
    pub fn civil(self) -> ((i64, u32, u32), (u32, u32, u32)) {
        let date = civil_from_days(self.secs.div_euclid(86_400));
        // In 0..86_400, so the casts cannot truncate.
        let rem = self.secs.rem_euclid(86_400) as u32;
        (date, (rem / 3600, rem % 3600 / 60, rem % 60))
    }

    /// Parses RFC 3339 (`2026-11-23T06:55:26.742434502Z`, `…+01:00`); `None` if malformed.
    pub fn parse(s: &[u8]) -> Option<Timestamp> {
        Timestamp::parse_cached(s, &mut DateCache::default())
    }

    /// [`Timestamp::parse`], remembering the last date: a frame's two timestamps, and the
    /// frames of a day, share it, and turning a date into days is most of the work.
    pub(crate) fn parse_cached(s: &[u8], cache: &mut DateCache) -> Option<Timestamp> {
        Timestamp::parse_daemon(s, cache).or_else(|| Timestamp::parse_general(s))
    }

    /// The daemon's own form, `YYYY-MM-DDTHH:MM:SS.fffffffffZ` with 1 to 9 fraction digits
    /// (Go trims trailing zeros), without the general parser's branches.
    #[inline]
    fn parse_daemon(s: &[u8], cache: &mut DateCache) -> Option<Timestamp> {
        if s.len() < 22 || s.len() > 30 || s[19] != b'.' || s[s.len() - 1] != b'Z' {
            return None;
        }
        if s[10] != b'T' || s[13] != b':' || s[16] != b':' {
            return None;
        }
        let days = match cache.date {
            Some((date, days)) if date[..] == s[..10] => days,
            _ => {
                let days = Timestamp::date_days(&s[..10])?;
                let mut date = [0u8; 10];
                date.copy_from_slice(&s[..10]);
                cache.date = Some((date, days));
                days
            }
        };
        let digit = |i: usize| -> Option<i64> {
            let d = s[i].wrapping_sub(b'0');
            (d <= 9).then_some(i64::from(d))
        };
        let hour = digit(11)? * 10 + digit(12)?;
        let minute = digit(14)? * 10 + digit(15)?;
        let second = digit(17)? * 10 + digit(18)?;
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let frac = &s[20..s.len() - 1];
        let mut nanos = 0u32;
        for &c in frac {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            nanos = nanos * 10 + u32::from(d);
        }
        nanos *= 10u32.pow(9 - frac.len() as u32);
        Some(Timestamp {
            secs: days * 86_400 + hour * 3600 + minute * 60 + second,
            nanos,
        })
    }

    /// `YYYY-MM-DD` to days since the epoch, validated.
    fn date_days(s: &[u8]) -> Option<i64> {
        if s[4] != b'-' || s[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            s[r].iter().try_fold(0i64, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
            })
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        Some(days_from_civil(year, month, day))
    }

    fn parse_general(s: &[u8]) -> Option<Timestamp> {
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let d = s.get(r)?;
            d.iter().try_fold(0i64, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
            })
        };
        if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b'T' | b't') {
            return None;
        }
        if s[13] != b':' || s[16] != b':' {
            return None;
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut i = 19;
        let mut nanos = 0u32;
        if s[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < s.len() && s[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(s[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return None;
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
        let offset = match s.get(i..)? {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let d = |a: u8, b: u8| -> Option<i64> {
                    (a.is_ascii_digit() && b.is_ascii_digit())
                        .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
                };
                let secs = d(*h1, *h2)? * 3600 + d(*m1, *m2)? * 60;
                if *sign == b'+' { secs } else { -secs }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        Some(Timestamp {
            secs: days * 86_400 + hour * 3600 + minute * 60 + second - offset,
            nanos,
        })
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 with nanoseconds, trailing zeros trimmed (Go's `RFC3339Nano`), in UTC.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ((y, m, d), (hour, minute, second)) = self.civil();
        write!(f, "{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:{second:02}")?;
        if self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// The last date parsed and its day number (see [`Timestamp::parse_cached`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DateCache {
    date: Option<([u8; 10], i64)>,
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01, proleptic Gregorian (H. Hinnant's algorithm:
/// days are counted from 0000-03-01 so that the leap day is the last day of a year, in eras
/// of 400 years, which are all 146,097 days long).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `cpu_stats` / `precpu_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// `cpu_usage.total_usage`: nanoseconds of CPU (Linux), 100 ns intervals (Windows).
    pub total_usage: u64,
    /// Number of entries of `cpu_usage.percpu_usage` (cgroup v1 only).
    pub percpu_count: u32,
    /// `system_cpu_usage`: host CPU time in nanoseconds (Linux only).
    pub system_cpu_usage: u64,
    /// `online_cpus` (0 when absent).
    pub online_cpus: u32,
    /// `cpu_usage.usage_in_usermode` and `usage_in_kernelmode`: nanoseconds (Linux; 0 when
    /// absent). cgroup v1's `cpuacct.stat` and v2's `cpu.stat` give them as well.
    pub user_usage: u64,
    pub system_usage: u64,
    /// `throttling_data`: CFS bandwidth enforcement (all zero without a CPU limit).
    pub throttling: Throttling,
}

/// `cpu_stats.throttling_data`, or `cpu.stat` (`nr_periods`, `nr_throttled`, `throttled_time`
/// on cgroup v1; `throttled_usec` on v2) for the cgroupfs source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttling {
    /// Enforcement periods that have elapsed.
    pub periods: u64,
    /// Periods in which the container was throttled.
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    pub throttled_time: u64,
}

/// Where a sample's numbers came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Source {
    /// A frame of the daemon's `GET /containers/{id}/stats`.
    #[default]
    Api,
    /// The container's cgroup files, read by this process (see [`crate::source`]).
    Cgroupfs,
}

impl Source {
    /// `api` or `cgroupfs`, as the CLI's `--source` and the `source` field of its JSON say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::Cgroupfs => "cgroupfs",
        }
    }
}

/// A CPU limit as CFS bandwidth control enforces it: `quota` microseconds of CPU per `period`
/// microseconds (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`; over the
/// API, the container's `HostConfig.NanoCpus` or `CpuQuota` / `CpuPeriod`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuLimit {
    pub quota_us: u64,
    pub period_us: u64,
}

impl CpuLimit {
    /// The limit in CPUs (1.5 = one and a half CPUs); `None` for a zero period.
    pub fn cpus(self) -> Option<f64> {
        (self.period_us > 0).then(|| self.quota_us as f64 / self.period_us as f64)
    }
}

/// One line of a pressure file (`some avg10=0.00 avg60=0.00 avg300=0.00 total=0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StallLine {
    /// `avg10` in hundredths of a percent, exactly as the kernel prints it (`12.34` is 1234).
    pub avg10: u32,
    /// `total`: microseconds stalled since the cgroup was created.
    pub total_us: u64,
}

/// Pressure stall information of one resource: `some` (at least one task stalled: cAdvisor's
/// "waiting") and `full` (every non-idle task stalled at once: "stalled"). The kernel prints
/// no `full` line for CPU before Linux 5.13, hence the `Option`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    pub some: StallLine,
    pub full: Option<StallLine>,
}

/// Pressure of a container's cgroup (cgroup v2 `cpu.pressure`, `memory.pressure`,
/// `io.pressure`). Each is `None` where there is none: the API source, cgroup v1, a kernel
/// without PSI (or booted with `psi=0`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pressures {
    pub cpu: Option<Pressure>,
    pub memory: Option<Pressure>,
    pub io: Option<Pressure>,
}

/// `memory_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub usage: u64,
    pub limit: u64,
    /// cgroup v1 only.
    pub max_usage: Option<u64>,
    /// `stats.total_inactive_file`: present only on cgroup v1.
    pub total_inactive_file: Option<u64>,
    /// `stats.inactive_file` (cgroup v1 and v2).
    pub inactive_file: Option<u64>,
    /// `stats.cache` (cgroup v1).
    pub cache: Option<u64>,
    /// Windows: `commitbytes`, `commitpeakbytes`, `privateworkingset`.
    pub commit_bytes: Option<u64>,
    pub commit_peak_bytes: Option<u64>,
    pub private_working_set: Option<u64>,
}

/// `pids_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PidsStats {
    pub current: u64,
    /// Present when a limit is set (cgroup v2 reports "max" as 18446744073709551615).
    pub limit: Option<u64>,
}

/// Sums of `blkio_stats.io_service_bytes_recursive`, as `docker stats` computes BLOCK I/O.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlkioStats {
    /// Entries whose `op` is `read` in any case (`Read` on cgroup v1). docker/cli takes every
    /// op starting with `r`, the same on Docker's frames; Podman's `rios` is left out.
    pub read: u64,
    /// Entries whose `op` is `write` in any case (Podman's `wios` is left out).
    pub write: u64,
    /// Number of entries.
    pub entries: u32,
}

/// `storage_stats` (Windows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    pub read_count_normalized: u64,
    pub read_size_bytes: u64,
    pub write_count_normalized: u64,
    pub write_size_bytes: u64,
}

/// One entry of `networks`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats<'a> {
    /// The interface name (`eth0`).
    pub name: &'a str,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// An interface as the decoder keeps it: where its name is in the frame, and its counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NetEntry {
    pub(crate) name_start: u32,
    pub(crate) name_end: u32,
    /// rx_bytes, rx_packets, rx_errors, rx_dropped, tx_bytes, tx_packets, tx_errors, tx_dropped.
    pub(crate) counters: [u64; 8],
}

/// The `networks` of a frame (empty for containers without a network).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Networks<'a> {
    pub(crate) frame: &'a [u8],
    pub(crate) entries: &'a [NetEntry],
}

impl<'a> Networks<'a> {
    /// Number of interfaces.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the frame has no interfaces.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The interfaces, in frame order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = NetworkStats<'a>> + 'a {
        let frame = self.frame;
        self.entries.iter().map(move |e| {
            let name = frame
                .get(e.name_start as usize..e.name_end as usize)
                .and_then(|n| std::str::from_utf8(n).ok())
                .unwrap_or_default();
            let [
                rx_bytes,
                rx_packets,
                rx_errors,
                rx_dropped,
                tx_bytes,
                tx_packets,
                tx_errors,
                tx_dropped,
            ] = e.counters;
            NetworkStats {
                name,
                rx_bytes,
                rx_packets,
                rx_errors,
                rx_dropped,
                tx_bytes,
                tx_packets,
                tx_errors,
                tx_dropped,
            }
        })
    }

    /// Received bytes over all interfaces, at most `u64::MAX`.
    ///
    /// docker/cli adds the interfaces as float64s, so its sum never wraps; a sum that wrapped
    /// at 2^64 would show two interfaces of 2^63 bytes as 0. The sum is exact up to
    /// `u64::MAX` (which shows as docker's 2^64, `18.4EB`) and stops there.
    pub fn rx_bytes(&self) -> u64 {
        self.sum(0)
    }

    /// Transmitted bytes over all interfaces, at most `u64::MAX` (see [`Networks::rx_bytes`]).
    pub fn tx_bytes(&self) -> u64 {
        self.sum(4)
    }

    fn sum(&self, counter: usize) -> u64 {
        let total: u128 = self
            .entries
            .iter()
            .map(|e| u128::from(e.counters[counter]))
            .sum();
        u64::try_from(total).unwrap_or(u64::MAX)
    }
}

/// One decoded stats frame. Borrowed from the frame (strings) and from the decoder
/// (the interface list), so it lives only as long as the call that delivers it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample<'a> {
    /// The full container id.
    pub id: &'a str,
    /// The container name with its leading `/`.
    pub name: &'a str,
    pub read: Timestamp,
    pub preread: Timestamp,
    pub cpu: CpuStats,
    pub precpu: CpuStats,
    pub memory: MemoryStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
    /// Windows.
    pub num_procs: u32,
    /// Windows.
    pub storage: StorageStats,
    pub networks: Networks<'a>,
    /// Where these numbers came from.
    pub source: Source,
    /// Pressure stall information (the cgroupfs source on cgroup v2 only).
    pub pressure: Pressures,
    /// The container's CPU limit, when it has one and it is known: read with the sample by
    /// the cgroupfs source; from the container's inspect over the API, when the engine was
    /// asked for it ([`EngineConfig::cpu_limits`](crate::engine::EngineConfig::cpu_limits)).
    pub cpu_limit: Option<CpuLimit>,
}

impl Sample<'_> {
    /// The first frame of a stream: no previous reading to compare with.
    pub fn is_warmup(&self) -> bool {
        self.preread.is_zero() && self.precpu.total_usage == 0 && self.precpu.system_cpu_usage == 0
    }

    /// A frame of a container that is not running (all readings zero).
    pub fn is_stopped(&self) -> bool {
        self.read.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let t = Timestamp::parse(b"2026-11-23T06:55:26.742434502Z").unwrap();
        assert_eq!(t.secs, 1_795_416_926);
        assert_eq!(t.nanos, 742_434_502);
        assert_eq!(t.to_string(), "2026-11-23T06:55:26.742434502Z");
        assert_eq!(
            Timestamp::parse(b"0001-01-01T00:00:00Z"),
            Some(Timestamp::ZERO)
        );
        assert!(Timestamp::ZERO.is_zero());
        assert_eq!(Timestamp::ZERO.to_string(), "0001-01-01T00:00:00Z");
        let z = Timestamp::parse(b"2022-09-04T19:16:22.1815Z").unwrap();
        assert_eq!(z.nanos, 181_500_000);
        let off = Timestamp::parse(b"2022-09-04T21:16:22+02:00").unwrap();
        assert_eq!(off, Timestamp::parse(b"2022-09-04T19:16:22Z").unwrap());
        let a = Timestamp::parse(b"2026-11-23T06:55:27.000000001Z").unwrap();
        assert_eq!(a.nanos_since(t), 257_565_499);
        for bad in [
            &b"2026-13-01T00:00:00Z"[..],
            b"2025-02-29T00:00:00Z",
            b"1900-02-29T00:00:00Z",
            b"2026-02-30T00:00:00Z",
            b"2026-11-23 06:55:26Z",
            b"2026-11-23T06:55:26.Z",
            b"2026-11-23T06:55:26",
            b"2026-11-23T24:00:00Z",
            b"",
        ] {
            assert_eq!(
                Timestamp::parse(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn civil_dates() {
        let at = |secs| Timestamp { secs, nanos: 0 }.civil();
        assert_eq!(at(0), ((1970, 1, 1), (0, 0, 0)));
        assert_eq!(at(1_795_416_953), ((2026, 11, 23), (6, 55, 53)));
        assert_eq!(Timestamp::ZERO.civil(), ((1, 1, 1), (0, 0, 0)));
        assert_eq!(at(20_780 * 86_400).0, (2026, 11, 23));
        assert_eq!(at(-719_162 * 86_400).0, (1, 1, 1));
        // Before 1970: the last second of 1969, and the day before the epoch's day.
        assert_eq!(at(-1), ((1969, 12, 31), (23, 59, 59)));
        assert_eq!(at(-86_400), ((1969, 12, 31), (0, 0, 0)));
        assert_eq!(at(-86_401), ((1969, 12, 30), (23, 59, 59)));
        // 1900 was not a leap year, 2000 and 1600 were.
        assert_eq!(at(-2_203_891_200), ((1900, 3, 1), (0, 0, 0)));
        assert_eq!(at(-2_203_891_201), ((1900, 2, 28), (23, 59, 59)));
        assert_eq!(at(951_782_400), ((2000, 2, 29), (0, 0, 0)));
        assert_eq!(at(951_868_800), ((2000, 3, 1), (0, 0, 0)));
        assert_eq!(at(1_709_164_800), ((2024, 2, 29), (0, 0, 0)));
        assert_eq!(at(-11_670_998_400), ((1600, 2, 29), (0, 0, 0)));
        assert_eq!(at(253_402_300_799), ((9999, 12, 31), (23, 59, 59)));
        // Every day from year 1 to 2400 round-trips through the parser's inverse, and days
        // follow each other with no gaps.
        let mut prev = at(Timestamp::ZERO.secs - 86_400).0;
        for day in (Timestamp::ZERO.secs / 86_400)..(days_from_civil(2400, 12, 31) + 1) {
            let (y, m, d) = at(day * 86_400).0;
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), day);
            let next_day = d == prev.2 + 1 && (y, m) == (prev.0, prev.1);
            let next_month = d == 1 && prev.2 == days_in_month(prev.0, i64::from(prev.1)) as u32;
            assert!(next_day || next_month, "{prev:?} then {:?}", (y, m, d));
            prev = (y, m, d);
        }
        // Parsing and formatting agree before 1970 as after.
        for s in [
            "1969-07-20T20:17:40Z",
            "1600-02-29T12:00:00.5Z",
            "1970-01-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(s.as_bytes()).unwrap().to_string(), s);
        }
    }

    #[test]
    fn human_durations_like_go_units() {
        let secs = |s| Timestamp::human_duration(Duration::from_secs(s));
        assert_eq!(
            Timestamp::human_duration(Duration::ZERO),
            "Less than a second"
        );
        assert_eq!(
            Timestamp::human_duration(Duration::from_millis(999)),
            "Less than a second"
        );
        assert_eq!(secs(1), "1 second");
        assert_eq!(secs(33), "33 seconds");
        assert_eq!(secs(59), "59 seconds");
        assert_eq!(secs(60), "About a minute");
        assert_eq!(secs(75), "About a minute");
        assert_eq!(secs(119), "About a minute");
        assert_eq!(secs(120), "2 minutes");
        assert_eq!(secs(300), "5 minutes");
        assert_eq!(secs(59 * 60), "59 minutes");
        assert_eq!(secs(3599), "59 minutes");
        assert_eq!(secs(3600), "About an hour");
        assert_eq!(secs(5399), "About an hour");
        // Rounded to the nearest hour from the nanoseconds, as Go's float hours.
        assert_eq!(
            Timestamp::human_duration(Duration::from_nanos(5_399_999_999_999)),
            "About an hour"
        );
        assert_eq!(secs(89 * 60), "About an hour");
        assert_eq!(secs(5400), "2 hours");
        assert_eq!(secs(47 * 3600), "47 hours");
        assert_eq!(secs(48 * 3600 - 1801), "47 hours");
        assert_eq!(secs(48 * 3600 - 1800), "2 days");
        assert_eq!(secs(48 * 3600), "2 days");
        assert_eq!(secs(3 * 86_400), "3 days");
        assert_eq!(secs(14 * 86_400), "2 weeks");
        assert_eq!(secs(20 * 86_400), "2 weeks");
        assert_eq!(secs(60 * 86_400), "2 months");
        assert_eq!(secs(100 * 86_400), "3 months");
        assert_eq!(secs(730 * 86_400), "2 years");
        assert_eq!(secs(800 * 86_400), "2 years");
        assert_eq!(
            Timestamp::human_duration(Duration::MAX),
            "584942417355 years"
        );
    }
}
