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
    let mut out = String::with_capacity(12);
    push_size(&mut out, size, Base::Decimal, precision);
    out
}

/// `units.BytesSize`: binary units, 4 significant digits ("781.2KiB").
pub(crate) fn bytes_size(size: f64) -> String {
    let mut out = String::with_capacity(12);
    push_size(&mut out, size, Base::Binary, 4);
    out
}

/// The units of [`push_size`]: go-units' decimal (`HumanSize`) or binary (`BytesSize`) ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Base {
    Decimal,
    Binary,
}

/// Appends [`human_size_prec`] (`Base::Decimal`) or [`bytes_size`] (`Base::Binary`, at
/// precision 4) of `size`.
pub(crate) fn push_size(out: &mut String, mut size: f64, base: Base, precision: usize) {
    let (base, units) = match base {
        Base::Decimal => (
            1000.0,
            &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"],
        ),
        Base::Binary => (
            1024.0,
            &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
        ),
    };
    let mut i = 0;
    while size >= base && i < units.len() - 1 {
        size /= base;
        i += 1;
    }
    push_go_g(out, size, precision);
    out.push_str(units[i]);
}

/// 10^0 to 10^15, exact as `f64` and `u64`.
const POW10: [u64; 16] = {
    let mut t = [1u64; 16];
    let mut i = 1;
    while i < t.len() {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `round(x × scale)` for `scale` a power of ten, when the float product rounds to the same
/// integer as the exact decimal value of `x` does: `None` for a negative, NaN or too large
/// `x` (past 10^9) and whenever the product lies within a margin of a half-integer (a tie,
/// or close enough to one that the product's own rounding could have moved it across).
///
/// The product `y = fl(x × scale)` is within half an ulp of the exact `x × scale`, less than
/// `y × 2^-52`; the margin is four times that, so outside it no half-integer lies between
/// the two and both round to the same integer, with no tie to break.
fn scaled_round(x: f64, scale: f64) -> Option<u64> {
    if !(0.0..1e9).contains(&x) {
        return None;
    }
    let y = x * scale;
    let floor = y.floor();
    // Exact: `y` and `floor` are multiples of `y`'s ulp, the difference below 1.
    let frac = y - floor;
    let margin = (y * (4.0 * f64::EPSILON)).max(f64::MIN_POSITIVE);
    if (frac - 0.5).abs() <= margin {
        return None;
    }
    Some(floor as u64 + u64::from(frac > 0.5))
}

/// Appends `format!("{x:.2}")`. Finite values below 10^9 are scaled by 100 and rounded as
/// integers ([`scaled_round`]), which gives std's text exactly; near a rounding tie, or out
/// of that range, std's exact formatting writes it.
pub(crate) fn push_fixed2(out: &mut String, x: f64) {
    match scaled_round(x.abs(), 100.0) {
        Some(r) => {
            if x.is_sign_negative() {
                out.push('-');
            }
            crate::format::push_u64(out, r / 100);
            out.push('.');
            let cents = (r % 100) as u8;
            out.push(char::from(b'0' + cents / 10));
            out.push(char::from(b'0' + cents % 10));
        }
        None => {
            use std::fmt::Write as _;
            let _ = write!(out, "{x:.2}");
        }
    }
}

/// Appends [`go_g`]`(x, precision)`. Values from 1 to below `10^precision` (every size after
/// its unit is chosen) are rounded to `precision` significant digits as integers
/// ([`scaled_round`]); zero is `0`; anything else, a value near a rounding tie and a value
/// that rounds up to one more digit (`9.9996` at 4 digits) go through [`go_g`].
pub(crate) fn push_go_g(out: &mut String, x: f64, precision: usize) {
    if x == 0.0 {
        out.push('0');
        return;
    }
    if (1..=9).contains(&precision) && x >= 1.0 && x < POW10[precision] as f64 {
        // Digits before the point, less one: the exponent of `x` in scientific notation.
        let int = x as u64;
        let exp = POW10.iter().take_while(|&&p| p <= int).count() - 1;
        let decimals = precision - 1 - exp;
        if let Some(r) = scaled_round(x, POW10[decimals] as f64) {
            if r < POW10[precision] {
                let (int, mut frac, mut decimals) =
                    (r / POW10[decimals], r % POW10[decimals], decimals);
                if frac == 0 {
                    decimals = 0;
                }
                while decimals > 0 && frac % 10 == 0 {
                    frac /= 10;
                    decimals -= 1;
                }
                crate::format::push_u64(out, int);
                if decimals > 0 {
                    out.push('.');
                    // Leading zeros of the fraction, then its digits.
                    for p in (1..decimals).rev() {
                        if frac < POW10[p] {
                            out.push('0');
                        }
                    }
                    crate::format::push_u64(out, frac);
                }
                return;
            }
        }
    }
    out.push_str(&go_g(x, precision));
}

/// Go's `fmt.Sprintf("%.*g", precision, x)` for finite `x`, by std's exact formatting.
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
    use proptest::prelude::*;

    /// `x` moved by `ulps` units in the last place.
    fn step(x: f64, ulps: i64) -> f64 {
        f64::from_bits((x.to_bits() as i64 + ulps) as u64)
    }

    /// Values for `{:.2}`: any float, and those next to a rounding tie (k/100 ± ulps,
    /// k/100 + 0.005 ± ulps), of both signs.
    fn fixed2_value() -> impl Strategy<Value = f64> {
        let near = |half: f64| {
            (0u64..2_000_000_000, -4i64..=4, any::<bool>()).prop_map(move |(k, ulps, neg)| {
                let x = step(k as f64 / 100.0 + half, ulps);
                if neg { -x } else { x }
            })
        };
        prop_oneof![
            any::<f64>(),
            -1000.0..1000.0f64,
            0.0..1e10f64,
            near(0.0),
            near(0.005),
            (0u64..200_000, -4i64..=4).prop_map(|(k, u)| step(k as f64 / 100.0 + 0.005, u)),
        ]
    }

    /// Values for `%.*g`: any, sizes after their unit is chosen, and values next to a
    /// rounding tie at 1 to 5 significant digits (k/10^d and k/10^d + 0.5/10^d, ± ulps).
    fn go_g_value() -> impl Strategy<Value = f64> {
        let tie = (1u64..100_000, 0u32..5, -4i64..=4, any::<bool>()).prop_map(|(k, d, u, half)| {
            let scale = 10f64.powi(d as i32);
            let x = k as f64 / scale + if half { 0.5 / scale } else { 0.0 };
            step(x, u)
        });
        prop_oneof![
            any::<f64>(),
            0.0..100_000.0f64,
            (any::<u64>(), 0u32..7, any::<bool>()).prop_map(|(v, k, binary)| {
                let base: f64 = if binary { 1024.0 } else { 1000.0 };
                v as f64 / base.powi(k as i32)
            }),
            tie,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100_000))]

        #[test]
        fn fixed2_is_std(x in fixed2_value()) {
            let mut s = String::new();
            push_fixed2(&mut s, x);
            prop_assert_eq!(s, format!("{x:.2}"));
        }

        #[test]
        fn go_g_fast_is_exact(x in go_g_value(), precision in 1usize..=6) {
            let mut s = String::new();
            push_go_g(&mut s, x, precision);
            prop_assert_eq!(s, go_g(x, precision));
        }

        #[test]
        fn sizes_are_go_g_and_a_unit(v in any::<u64>(), shift in 0u32..64) {
            let size = (v >> shift) as f64;
            let reference = |base: f64, units: &[&str], precision| {
                let (mut size, mut i) = (size, 0);
                while size >= base && i < units.len() - 1 {
                    size /= base;
                    i += 1;
                }
                format!("{}{}", go_g(size, precision), units[i])
            };
            prop_assert_eq!(
                bytes_size(size),
                reference(1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"], 4)
            );
            prop_assert_eq!(
                human_size(size),
                reference(1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"], 3)
            );
        }
    }

    #[test]
    fn fast_paths_at_their_edges() {
        for (x, text) in [
            (0.005, "0.01"),
            (0.015, "0.01"),
            (0.125, "0.12"),
            (0.375, "0.38"),
            (-0.0, "-0.00"),
            (-0.001, "-0.00"),
            (999_999_999.995, "1000000000.00"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            let mut s = String::new();
            push_fixed2(&mut s, x);
            assert_eq!(s, text, "{x}");
            assert_eq!(s, format!("{x:.2}"), "{x}");
        }
        for (x, p, text) in [
            (9.9996, 4, "10"),
            (999.96, 4, "1000"),
            (999.6, 3, "1e+03"),
            (1.0005, 4, "1"),
            (1.0625, 4, "1.062"),
            (1.05, 3, "1.05"),
            (12.3, 3, "12.3"),
            (1.001, 4, "1.001"),
        ] {
            let mut s = String::new();
            push_go_g(&mut s, x, p);
            assert_eq!(s, text, "{x} {p}");
            assert_eq!(s, go_g(x, p), "{x} {p}");
        }
    }

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
