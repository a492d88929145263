//! Wall-clock formatting without external crates: RFC 3339 with nanoseconds (Go's
//! `time.RFC3339Nano`, used for `read`/`preread` in stats frames), the zero time
//! `0001-01-01T00:00:00Z`, the HTTP `Date` header (RFC 9110 IMF-fixdate) and Docker's
//! human durations ("Up 5 minutes"). The calendar arithmetic and the duration wording are the
//! library's (`dockstat::stats::Timestamp`: `civil` and `human_duration`).
//!
//! Times are plain `u64` nanoseconds since the Unix epoch ([`UnixNanos`]) so that everything
//! above this module stays pure: the server reads the clock once per loop turn and passes the
//! value down. Nothing here reads a clock except [`now`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dockstat::stats::Timestamp;

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

/// Broken-down UTC time.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    weekday: usize, // 0 = Sunday
}

fn civil(t: UnixNanos) -> Civil {
    // `t / SECOND` < 2^64 / 1e9, so it fits an i64 with room to spare.
    let secs = (t / SECOND) as i64;
    let nanos = (t % SECOND) as u32;
    let ((year, month, day), (hour, minute, second)) = Timestamp { secs, nanos }.civil();
    Civil {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
        // 1970-01-01 was a Thursday.
        weekday: ((secs / 86_400 + 4) % 7) as usize,
    }
}

fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

fn push_4(out: &mut Vec<u8>, v: i64) {
    let v = v.clamp(0, 9999) as u32;
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
    push_2(out, c.month);
    out.push(b'-');
    push_2(out, c.day);
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
    push_2(out, c.day);
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

/// How long before `now` a moment was, as the daemon writes it in a container's `Status`
/// ("Up 5 minutes", "Exited (0) 3 minutes ago"). A moment after `now` reads as no time at all.
pub(crate) fn since(now: UnixNanos, then: UnixNanos) -> String {
    Timestamp::human_duration(Duration::from_nanos(now.saturating_sub(then)))
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
    fn status_durations() {
        let now = 1_795_416_953 * SECOND;
        assert_eq!(since(now, now - 90 * 60 * SECOND), "2 hours");
        assert_eq!(since(now, now - SECOND + 1), "Less than a second");
        // A container started "after" now (a clock step back) has just started.
        assert_eq!(since(now, now + 5 * SECOND), "Less than a second");
    }
}
