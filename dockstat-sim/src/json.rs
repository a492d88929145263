//! The few JSON writing primitives the sim needs, appending to a `Vec<u8>`.
//!
//! The daemon's output is produced by Go's `encoding/json` with HTML escaping turned off
//! (moby's `httputils.WriteJSON`), so strings escape only `"`, `\`, control characters and
//! U+2028/U+2029, and a `>` in a command line stays a `>` (see the writer's `Command` in
//! `docker20-containers-json-all.http`). There is no parser here: tests check well-formedness
//! with python3.

/// Appends the decimal digits of `v`.
pub(crate) fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends the decimal digits of `v`, with a leading `-` when negative.
pub(crate) fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `s` as a quoted JSON string, escaped like Go's encoder with `SetEscapeHTML(false)`.
pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            // U+2028 / U+2029 are E2 80 A8 / E2 80 A9 in UTF-8; Go escapes them always.
            0xe2 if bytes.get(i + 1) == Some(&0x80)
                && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) =>
            {
                None
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => {
                out.extend_from_slice(e);
                start = i + 1;
            }
            None if b == 0xe2 => {
                let last = bytes.get(i + 2).copied().unwrap_or(0xa8);
                out.extend_from_slice(if last == 0xa8 { b"\\u2028" } else { b"\\u2029" });
                start = i + 3;
            }
            None => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
            }
        }
    }
    // `start` can point past a skipped U+2028 sequence but never past the end.
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
    out.push(b'"');
}

/// Appends `"key":` (keys are trusted literals, never escaped).
pub(crate) fn push_key(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends `"key":value` for an unsigned number, preceded by a comma unless `first`.
pub(crate) fn push_field_u64(out: &mut Vec<u8>, first: bool, key: &str, v: u64) {
    if !first {
        out.push(b',');
    }
    push_key(out, key);
    push_u64(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, v);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, u64::MAX);
        out.push(b' ');
        push_i64(&mut out, -1);
        out.push(b' ');
        push_i64(&mut out, i64::MIN);
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            "0 18446744073709551615 -1 -9223372036854775808"
        );
    }

    #[test]
    fn strings_escape_like_go_without_html_escaping() {
        assert_eq!(s("plain"), "\"plain\"");
        assert_eq!(s("a>b<c&d"), "\"a>b<c&d\"");
        assert_eq!(s("tr \"\\0\" a"), r#""tr \"\\0\" a""#);
        assert_eq!(s("a\nb\tc\u{1}"), r#""a\nb\tc\u0001""#);
        assert_eq!(s("x\u{2028}y\u{2029}"), r#""x\u2028y\u2029""#);
        assert_eq!(s("é—ü"), "\"é—ü\"");
    }
}
