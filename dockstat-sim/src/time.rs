//! Wall-clock formatting without external crates: RFC 3339 with nanoseconds (Go's
//! `time.RFC3339Nano`, used for `read`/`preread` in stats frames), the zero time
//! `0001-01-01T00:00:00Z`, the HTTP `Date` header (RFC 9110 IMF-fixdate) and Docker's
//! human durations ("Up 5 minutes").
//!
//! Times are plain `u64` nanoseconds since the Unix epoch ([`UnixNanos`]) so that everything
//! above this module stays pure: the server reads the clock once per loop turn and passes the
//! value down. Nothing here reads a clock except [`now`].

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since 1970-01-01T00:00:00Z. `u64` lasts until the year 2554.
pub(crate) type UnixNanos = u64;

/// One second in nanoseconds.
pub(crate) const SECOND: u64 = 1_000_000_000;

/// What Go's `time.Time{}.Format(time.RFC3339Nano)` prints; Docker uses it for a `read` or
/// `preread` that never happened (the first frame of a stream, frames of stopped containers).
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The current wall-clock time. A clock before 1970 (a broken host) reads as the epoch rather
/// than failing: the sim must keep serving.
pub(crate) fn now() -> UnixNanos {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Civil date from days since the epoch (Howard Hinnant's `civil_from_days`), valid for the
/// whole `u64` nanosecond range.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // The casts cannot truncate: month and day are small by construction.
    (year, month as u32, day as u32)
}

/// Broken-down UTC time.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    nanos: u64,
    weekday: usize, // 0 = Sunday
}

fn civil(t: UnixNanos) -> Civil {
    let secs = t / SECOND;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // `days` < 2^64 / 86400e9, so it fits an i64 with room to spare.
    let (year, month, day) = civil_from_days(days as i64);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        nanos: t % SECOND,
        // 1970-01-01 was a Thursday.
        weekday: ((days + 4) % 7) as usize,
    }
}

fn push_2(out: &mut Vec<u8>, v: u64) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn push_4(out: &mut Vec<u8>, v: i64) {
    let v = v.clamp(0, 9999) as u64;
    push_2(out, v / 100);
    push_2(out, v % 100);
}

/// Appends `t` as Go's `RFC3339Nano`: `2026-11-23T06:55:27.76142342Z`. Trailing zeros of
/// the fraction are dropped, and a whole second has no fraction at all, exactly like Go
/// (the fixtures contain both 8- and 9-digit fractions).
pub(crate) fn push_rfc3339_nano(out: &mut Vec<u8>, t: UnixNanos) {
    let c = civil(t);
    push_4(out, c.year);
    out.push(b'-');
    push_2(out, u64::from(c.month));
    out.push(b'-');
    push_2(out, u64::from(c.day));
    out.push(b'T');
    push_2(out, c.hour);
    out.push(b':');
    push_2(out, c.minute);
    out.push(b':');
    push_2(out, c.second);
    if c.nanos != 0 {
        out.push(b'.');
        let mut digits = [0u8; 9];
        let mut n = c.nanos;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
        let len = 9 - digits.iter().rev().take_while(|&&d| d == b'0').count();
        out.extend_from_slice(&digits[..len]);
    }
    out.push(b'Z');
}

/// Appends an HTTP date (`Mon, 23 Nov 2026 06:55:53 GMT`), as Go's `http.TimeFormat`.
pub(crate) fn push_http_date(out: &mut Vec<u8>, t: UnixNanos) {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    out.extend_from_slice(DAYS[c.weekday % 7].as_bytes());
    out.extend_from_slice(b", ");
    push_2(out, u64::from(c.day));
    out.push(b' ');
    let month = (c.month as usize).clamp(1, 12) - 1;
    out.extend_from_slice(MONTHS[month].as_bytes());
    out.push(b' ');
    push_4(out, c.year);
    out.push(b' ');
    push_2(out, c.hour);
    out.push(b':');
    push_2(out, c.minute);
    out.push(b':');
    push_2(out, c.second);
    out.extend_from_slice(b" GMT");
}

/// Docker's `units.HumanDuration` (github.com/docker/go-units), which the daemon uses for the
/// `Status` column: "Up 5 minutes", "Exited (0) 3 minutes ago".
pub(crate) fn human_duration(nanos: u64) -> String {
    let seconds = nanos / SECOND;
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
    // Go rounds the hours here (math.Round), and truncates everywhere else.
    let hours = (nanos + 1800 * SECOND) / (3600 * SECOND);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(t: u64) -> String {
        let mut v = Vec::new();
        push_rfc3339_nano(&mut v, t);
        String::from_utf8(v).unwrap_or_default()
    }

    fn date(t: u64) -> String {
        let mut v = Vec::new();
        push_http_date(&mut v, t);
        String::from_utf8(v).unwrap_or_default()
    }

    #[test]
    fn rfc3339_matches_go() {
        // 2026-11-23T06:55:27Z = 1795416927 (the fixtures' capture time).
        let base = 1_795_416_927 * SECOND;
        assert_eq!(rfc(base + 761_423_420), "2026-11-23T06:55:27.76142342Z");
        assert_eq!(rfc(base + 745_601_815), "2026-11-23T06:55:27.745601815Z");
        assert_eq!(rfc(base), "2026-11-23T06:55:27Z");
        assert_eq!(rfc(base + 100_000_000), "2026-11-23T06:55:27.1Z");
        assert_eq!(rfc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc(951_782_400 * SECOND), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn http_date_matches_fixture() {
        // Date: Mon, 23 Nov 2026 06:55:53 GMT (docker20-ping.http)
        assert_eq!(
            date(1_795_416_953 * SECOND + 5),
            "Mon, 23 Nov 2026 06:55:53 GMT"
        );
        assert_eq!(date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(SECOND), "1 second");
        assert_eq!(human_duration(33 * SECOND), "33 seconds");
        assert_eq!(human_duration(75 * SECOND), "About a minute");
        assert_eq!(human_duration(5 * 60 * SECOND), "5 minutes");
        assert_eq!(human_duration(59 * 60 * SECOND), "59 minutes");
        assert_eq!(human_duration(89 * 60 * SECOND), "About an hour");
        assert_eq!(human_duration(90 * 60 * SECOND), "2 hours");
        assert_eq!(human_duration(3 * 86_400 * SECOND), "3 days");
        assert_eq!(human_duration(20 * 86_400 * SECOND), "2 weeks");
        assert_eq!(human_duration(100 * 86_400 * SECOND), "3 months");
        assert_eq!(human_duration(800 * 86_400 * SECOND), "2 years");
    }
}
