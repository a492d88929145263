//! The docker CLI's ways of writing sizes, durations, times and strings, reproduced exactly
//! so that dockstat's output can be compared line for line with docker's.
//!
//! Sources: `github.com/docker/go-units` (`HumanDuration`, `HumanSizeWithPrecision`,
//! `BytesSize`), Go's `fmt` `%g` verb, `strconv.Quote`, `time.Time.String`, and the docker
//! CLI's `formatter.Ellipsis` / `stringid.TruncateID`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dockstat::stats::Timestamp;

/// `HumanDuration(now - then) + " ago"`, as `docker ps` CREATED and `docker images` CREATED.
pub(crate) fn ago(then: i64) -> String {
    let span = u64::try_from(now_unix() - then).unwrap_or(0);
    format!(
        "{} ago",
        Timestamp::human_duration(Duration::from_secs(span))
    )
}

/// `units.HumanSizeWithPrecision(size, 3)`: decimal units, 3 significant digits ("4.26MB").
pub(crate) fn human_size(size: f64) -> String {
    human_size_prec(size, 3)
}

/// `units.HumanSizeWithPrecision(size, precision)`; `units.HumanSize` is precision 4.
pub(crate) fn human_size_prec(size: f64, precision: usize) -> String {
    custom_size(
        size,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
        precision,
    )
}

/// `units.BytesSize`: binary units, 4 significant digits ("781.2KiB").
pub(crate) fn bytes_size(size: f64) -> String {
    custom_size(
        size,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
        4,
    )
}

fn custom_size(mut size: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    format!("{}{}", go_g(size, precision), units[i])
}

/// Go's `fmt.Sprintf("%.*g", precision, x)` for finite `x`.
pub(crate) fn go_g(x: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if x == 0.0 {
        return "0".into();
    }
    // Round to `precision` significant digits first: the exponent is that of the rounded value.
    let sci = format!("{:.*e}", precision - 1, x);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let mantissa = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (precision as i32 - 1 - exp).max(0) as usize;
        trim_fraction(&format!("{x:.decimals$}")).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// The docker CLI's `formatter.Ellipsis`: at most `width` characters, the last one `…`.
pub(crate) fn ellipsis(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// `stringid.TruncateID`: drop an `algo:` prefix, keep 12 characters.
pub(crate) fn truncate_id(id: &str) -> &str {
    let id = id.split_once(':').map_or(id, |(_, rest)| rest);
    match id.char_indices().nth(12) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Go's `time.Unix(secs, 0).String()` in the local time zone:
/// `2026-11-23 06:55:24 +0000 UTC`.
pub(crate) fn go_time_string(secs: i64) -> String {
    let (offset, zone) = dockstat::sys::Process::local_offset(secs);
    let local = Timestamp {
        secs: secs + offset,
        nanos: 0,
    };
    let ((y, m, d), (hour, minute, second)) = local.civil();
    let sign = if offset < 0 { '-' } else { '+' };
    let off = offset.abs();
    format!(
        "{y:04}-{m:02}-{d:02} {hour:02}:{minute:02}:{second:02} {sign}{:02}{:02} {zone}",
        off / 3600,
        off % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_size(408.0), "408B");
        assert_eq!(human_size(1230.0), "1.23kB");
        assert_eq!(human_size(4_263_800.0), "4.26MB");
        assert_eq!(human_size(1000.0), "1kB");
        assert_eq!(human_size(370_902_888.0), "371MB");
        assert_eq!(human_size(999.6), "1e+03B");
        assert_eq!(bytes_size(799_744.0), "781KiB");
        assert_eq!(bytes_size(25_276_502_016.0), "23.54GiB");
        assert_eq!(bytes_size(51_126_272.0), "48.76MiB");
        assert_eq!(bytes_size(0.0), "0B");
    }

    #[test]
    fn go_g_matches_fmt() {
        assert_eq!(go_g(0.000012345, 3), "1.23e-05");
        assert_eq!(go_g(0.00012345, 3), "0.000123");
        assert_eq!(go_g(12.0, 3), "12");
        assert_eq!(go_g(99.95, 3), "100");
        assert_eq!(go_g(1234.5, 4), "1234");
        assert_eq!(go_g(12345.0, 4), "1.234e+04");
    }

    #[test]
    fn strings_like_the_docker_cli() {
        assert_eq!(ellipsis("sleep 100000", 20), "sleep 100000");
        assert_eq!(
            ellipsis("sh -c 'while true; do dd if=/dev/zero'", 20),
            "sh -c 'while true; …"
        );
        assert_eq!(truncate_id("sha256:15426797fde0f5d6ee63e7"), "15426797fde0");
        assert_eq!(truncate_id("b3fe0c9afa00bdc55c65"), "b3fe0c9afa00");
        assert_eq!(go_quote("a \"b\"\t\u{1}"), "\"a \\\"b\\\"\\t\\x01\"");
    }
}
