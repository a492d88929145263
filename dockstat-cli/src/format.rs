//! `--format` for listings, as the docker CLI reads it: `table` (the default columns), `json`
//! (one JSON object per line, keys sorted, string values), `table TEMPLATE` (a header row and
//! aligned columns) or a bare `TEMPLATE` (one line per row).
//!
//! Templates are Go `text/template`s with docker's functions ([`template`]); `\t` and `\n`
//! in the spec are a tab and a newline, as docker reads them. Columns are aligned as Go's
//! `tabwriter` with the docker CLI's settings (minimum width 10, padding 3) aligns them.

mod template;

use std::collections::BTreeMap;
use std::io::{self, Write};

use template::{Scope, Template};

/// One listing row: field name to its rendered value.
pub(crate) type Row = BTreeMap<&'static str, Cell>;

/// A rendered field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    /// Text, written as a JSON string in `json` output.
    Text(String),
    /// A JSON value written as is in `json` output (docker's `null` or an object); templates
    /// print `null` as Go prints a nil pointer, `<nil>`.
    Json(String),
    /// A container's labels for `{{.Label "key"}}`, under the key `Label`; not one of
    /// docker's fields, so never written in `json` output.
    Labels(Vec<(String, String)>),
}

impl Cell {
    /// The labels cell of a `ps` row.
    pub(crate) fn labels(labels: &[(String, String)]) -> (&'static str, Cell) {
        (template::LABELS_KEY, Cell::Labels(labels.to_vec()))
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

/// A parsed `--format`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Format {
    Json,
    /// A template, or the error that parsing it gave (reported by [`Format::check_fields`],
    /// which knows the command's wording).
    Template {
        table: bool,
        template: Result<Template, String>,
    },
}

/// docker's words before a template error: `ps` has its own.
fn error_prefix(fields: &[&str], parse: bool) -> &'static str {
    match (fields.contains(&"Labels"), parse) {
        (true, true) => "failed to parse template: ",
        (true, false) => "failed to execute template: ",
        (false, _) => "template parsing error: ",
    }
}

impl Format {
    /// Parses a `--format` value; `default_table` is the template behind plain `table`.
    pub(crate) fn parse(spec: &str, default_table: &str) -> Result<Format, String> {
        let spec = spec.trim();
        if spec == "json" {
            return Ok(Format::Json);
        }
        // Like docker: any spec starting with "table" is a table; the rest, trimmed of
        // spaces, is its template.
        let (table, template) = if spec == "table" || spec.is_empty() {
            (true, default_table)
        } else if let Some(rest) = spec.strip_prefix("table") {
            (true, rest.trim_matches(' '))
        } else {
            (false, spec)
        };
        let template = template.replace("\\t", "\t").replace("\\n", "\n");
        Ok(Format::Template {
            table,
            template: Template::parse(&template),
        })
    }

    /// Checks the template against the command's fields: it must parse, name only `fields`
    /// (and `.Label` where rows have `Labels`) and run on rows of empty and of non-empty
    /// values, as docker runs it before printing anything.
    pub(crate) fn check_fields(&self, fields: &[&str]) -> Result<(), String> {
        let Format::Template { template, .. } = self else {
            return Ok(());
        };
        let template = template
            .as_ref()
            .map_err(|e| format!("{}{e}", error_prefix(fields, true)))?;
        for probe in ["", "x"] {
            let scope = Scope {
                fields: Some(fields),
                probe: Some(probe),
            };
            template
                .render(&Row::new(), &scope)
                .map_err(|e| format!("{}{e}", error_prefix(fields, false)))?;
        }
        Ok(())
    }

    /// Whether the output uses `field` (docker asks the daemon for sizes only when shown).
    pub(crate) fn uses(&self, field: &str) -> bool {
        match self {
            Format::Json => true,
            Format::Template { template, .. } => template.as_ref().is_ok_and(|t| t.uses(field)),
        }
    }

    /// Whether a template names `field` itself; `json` and `{{json .}}` name none.
    pub(crate) fn names(&self, field: &str) -> bool {
        match self {
            Format::Json => false,
            Format::Template { template, .. } => template.as_ref().is_ok_and(|t| t.names(field)),
        }
    }

    /// Whether every row takes one line (the template writes no line break of its own).
    pub(crate) fn one_line_rows(&self) -> bool {
        match self {
            Format::Json => true,
            Format::Template { template, .. } => {
                template.as_ref().is_ok_and(|t| !t.writes_newlines())
            }
        }
    }

    /// Writes `rows`; `header` names the column of a field in a table header.
    pub(crate) fn write(
        &self,
        out: &mut dyn Write,
        rows: &[Row],
        header: &dyn Fn(&str) -> String,
    ) -> io::Result<()> {
        match self {
            Format::Json => {
                for row in rows {
                    let mut line = json_object(row);
                    line.push('\n');
                    out.write_all(line.as_bytes())?;
                }
                Ok(())
            }
            Format::Template { table, template } => {
                let template = template.as_ref().map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidInput, format!("template: {e}"))
                })?;
                let scope = Scope::default();
                let mut text = String::new();
                if *table {
                    text.push_str(&template.render_header(&scope, header));
                    text.push('\n');
                }
                // Like docker, nothing is written when a row fails.
                for row in rows {
                    let line = template.render(row, &scope).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("failed to execute template: {e}"),
                        )
                    })?;
                    text.push_str(&line);
                    text.push('\n');
                }
                // Only tables go through tabwriter; a bare template is printed as written.
                if *table {
                    text = align(&text);
                }
                out.write_all(text.as_bytes())
            }
        }
    }
}

/// Aligns tab-separated cells as `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)` does: every cell
/// followed by a tab is padded to its column's width (the widest cell plus 3, at least 10);
/// the text after a line's last tab is written as is.
pub(crate) fn align(text: &str) -> String {
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    let mut out = String::with_capacity(text.len() * 2);
    // tabwriter aligns a column over a block of consecutive lines that all have that cell.
    let mut i = 0;
    while i < lines.len() {
        if lines[i].len() <= 1 {
            out.push_str(lines[i].first().copied().unwrap_or(""));
            out.push('\n');
            i += 1;
            continue;
        }
        let mut j = i;
        while j < lines.len() && lines[j].len() > 1 {
            j += 1;
        }
        let block = &lines[i..j];
        let columns = block.iter().map(Vec::len).max().unwrap_or(1) - 1;
        let mut widths = vec![0usize; columns];
        for (c, w) in widths.iter_mut().enumerate() {
            // Column c spans the lines of the block that have a tab after cell c; tabwriter
            // restarts a column at a line without it, which docker's uniform rows never have.
            *w = block
                .iter()
                .filter(|l| l.len() > c + 1)
                .map(|l| l[c].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(10);
        }
        for line in block {
            for (c, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if c + 1 < line.len() {
                    let pad = widths[c].saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        i = j;
    }
    out
}

/// A row as a JSON object with sorted keys, as Go's `json.Marshal` writes a `map[string]any`.
pub(crate) fn json_object(row: &Row) -> String {
    let mut s = String::from("{");
    let fields = row.iter().filter(|(_, v)| !matches!(v, Cell::Labels(_)));
    for (i, (k, v)) in fields.enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_string(&mut s, k);
        s.push(':');
        match v {
            Cell::Text(t) => json_string(&mut s, t),
            Cell::Json(raw) => s.push_str(raw),
            Cell::Labels(_) => {}
        }
    }
    s.push('}');
    s
}

/// Appends `v` as a JSON string escaped as Go's encoding/json does (HTML-safe: `<`, `>`, `&`
/// as `\u003c` …, and U+2028/U+2029 escaped).
pub(crate) fn json_string(out: &mut String, v: &str) {
    json_string_as(out, v, true);
}

/// What a byte needs in a JSON string: nothing (0), an escape (1: control characters, `"`,
/// `\\`), an escape when HTML-safe (2: `<`, `>`, `&`), or a look at the next two bytes (3: the
/// lead byte of U+2028 and U+2029, `E2 80 A8` and `E2 80 A9`).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[b'"' as usize] = 1;
    t[b'\\' as usize] = 1;
    t[b'<' as usize] = 2;
    t[b'>' as usize] = 2;
    t[b'&' as usize] = 2;
    t[0xE2] = 3;
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether any of the eight bytes of `word` is one [`ESCAPE`] marks (`<`, `>`, `&` only
/// when `html`): a control character, `"`, `\\` or `0xE2`. Never a false "no"; a rare false
/// "yes" only sends the bytes through the byte loop.
fn needs_look(word: u64, html: bool) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte below `n` (n ≤ 128), and a zero byte, as in "Bit Twiddling Hacks".
    let below = |n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS != 0;
    let has = |c: u8| {
        let x = word ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x & HIGHS != 0
    };
    below(0x20)
        || has(b'"')
        || has(b'\\')
        || has(0xE2)
        || (html && (has(b'<') || has(b'>') || has(b'&')))
}

/// [`json_string`], with `<`, `>`, `&` escaped only when `html` (docker's `json` template
/// function turns HTML escaping off). Runs of bytes that need no escape are copied whole.
fn json_string_as(out: &mut String, v: &str, html: bool) {
    out.push('"');
    let bytes = v.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        // Eight bytes at a time while none of them needs a look (ids, names: all of them).
        while let Some(word) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            if needs_look(word, html) {
                break;
            }
            i += 8;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        let escape: &str = match ESCAPE[b as usize] {
            0 => {
                i += 1;
                continue;
            }
            2 if !html => {
                i += 1;
                continue;
            }
            3 => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(0x80), Some(0xA8)) => "\\u2028",
                (Some(0x80), Some(0xA9)) => "\\u2029",
                _ => {
                    i += 1;
                    continue;
                }
            },
            _ => match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                b'<' => "\\u003c",
                b'>' => "\\u003e",
                b'&' => "\\u0026",
                _ => "",
            },
        };
        // `i` is at an ASCII byte or a lead byte: a character boundary.
        out.push_str(&v[start..i]);
        if escape.is_empty() {
            // Another control character: \u00XX.
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 15)]));
            i += 1;
        } else {
            out.push_str(escape);
            i += if ESCAPE[b as usize] == 3 { 3 } else { 1 };
        }
        start = i;
    }
    out.push_str(&v[start..]);
    out.push('"');
}

/// `00` to `99`: two digits per division.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends `v` in decimal (no `format!` machinery).
pub(crate) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    // ASCII digits: always UTF-8.
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or("0"));
}

/// Appends `x` as Rust's `{}` writes it (the shortest text that reads back the same value,
/// never an exponent); integral values below 10^15 without the float formatter. Other values
/// keep Rust's formatter: ryu's shortest digits differ from it on ties
/// (`0.000000029802322387695312` for Rust's `…313`).
pub(crate) fn push_f64(out: &mut String, x: f64) {
    if x.fract() == 0.0 && x.abs() < 1e15 && !(x == 0.0 && x.is_sign_negative()) {
        if x < 0.0 {
            out.push('-');
        }
        push_u64(out, x.abs() as u64);
    } else {
        use std::fmt::Write as _;
        // Writing into a String cannot fail.
        let _ = write!(out, "{x}");
    }
}

/// Appends `t` as its `Display` writes it (RFC 3339 with nanoseconds, trailing zeros
/// trimmed, UTC), remembering the text of the last second seen: the frames of one turn are
/// mostly stamped within the same second.
#[derive(Debug, Default)]
pub(crate) struct TimestampText {
    /// The second, and `YYYY-MM-DDTHH:MM:SS` for it.
    last: Option<(i64, String)>,
}

impl TimestampText {
    pub(crate) fn push(&mut self, out: &mut String, t: dockstat::stats::Timestamp) {
        if t.nanos >= 1_000_000_000 {
            use std::fmt::Write as _;
            let _ = write!(out, "{t}");
            return;
        }
        let text = match &self.last {
            Some((secs, text)) if *secs == t.secs => text,
            _ => {
                let ((y, mo, d), (h, mi, s)) = t.civil();
                let mut text = String::with_capacity(20);
                if (0..=9999).contains(&y) {
                    let two = |text: &mut String, v: u32| {
                        text.push(char::from(b'0' + (v / 10 % 10) as u8));
                        text.push(char::from(b'0' + (v % 10) as u8));
                    };
                    let y = y as u32;
                    two(&mut text, y / 100);
                    two(&mut text, y % 100);
                    for (sep, v) in [('-', mo), ('-', d), ('T', h), (':', mi), (':', s)] {
                        text.push(sep);
                        two(&mut text, v);
                    }
                } else {
                    use std::fmt::Write as _;
                    let _ = write!(text, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
                }
                &self.last.insert((t.secs, text)).1
            }
        };
        out.push_str(text);
        if t.nanos != 0 {
            let mut digits = [0u8; 9];
            let mut n = t.nanos;
            for d in digits.iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
            let end = digits.iter().rposition(|&d| d != b'0').map_or(0, |p| p + 1);
            out.push('.');
            for &d in &digits[..end] {
                out.push(char::from(d));
            }
        }
        out.push('Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The escaper as it was first written, character by character: the reference.
    fn json_string_as_reference(out: &mut String, v: &str, html: bool) {
        out.push('"');
        for c in v.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '<' | '>' | '&' if !html => out.push(c),
                '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                }
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn escaped(v: &str, html: bool) -> (String, String) {
        let (mut new, mut old) = (String::from("x"), String::from("x"));
        json_string_as(&mut new, v, html);
        json_string_as_reference(&mut old, v, html);
        (new, old)
    }

    /// Every exponent, random mantissas, and the edges: 200,000 values.
    #[test]
    fn floats_as_display_over_every_exponent() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let check = |x: f64| {
            if x.is_finite() {
                let mut s = String::new();
                push_f64(&mut s, x);
                assert_eq!(s, format!("{x}"), "{:#x}", x.to_bits());
            }
        };
        for bits in [0, 1, 2, (1u64 << 52) - 1, 1 << 52, 0x7fef_ffff_ffff_ffff] {
            check(f64::from_bits(bits));
            check(-f64::from_bits(bits));
        }
        for exponent in 0u64..2047 {
            for _ in 0..100 {
                let mantissa = next() & ((1 << 52) - 1);
                let mantissa = match next() % 8 {
                    0 => 0,
                    1 => mantissa & 0xff,
                    2 => mantissa | 0xf_ffff_ffff_ff00,
                    _ => mantissa,
                };
                check(f64::from_bits(
                    exponent << 52 | mantissa | (next() & 1) << 63,
                ));
            }
        }
        for x in [
            0.1,
            0.2,
            0.3,
            1.5,
            12.345,
            99.99,
            100.0 / 3.0,
            1e15,
            1e16,
            1e21,
            1e-7,
        ] {
            check(x);
            check(-x);
        }
    }

    #[test]
    fn escapes_as_the_reference_on_the_hard_cases() {
        for v in [
            "",
            "plain",
            "\u{2028}\u{2029}\u{2027}\u{202a}\u{e2}\u{20ac}",
            "a\u{0}b\u{1f}\u{7f}\u{8}\u{c}\n\r\t\"\\<>&",
            "é日本語🙂\u{2028}x",
            "\u{2028}",
            "<",
        ] {
            for html in [true, false] {
                let (new, old) = escaped(v, html);
                assert_eq!(new, old, "{v:?}");
            }
        }
    }

    /// Strings mostly of the characters that need escapes, and their neighbours.
    fn tricky() -> impl Strategy<Value = String> {
        let chars = prop::sample::select(vec![
            'a', 'Z', '0', ' ', '"', '\\', '/', '<', '>', '&', '\n', '\r', '\t', '\u{0}', '\u{8}',
            '\u{b}', '\u{c}', '\u{1f}', '\u{7f}', '\u{80}', 'é', '\u{2028}', '\u{2029}',
            '\u{2026}', '\u{202f}', '\u{20ac}', '\u{e2}', '\u{fffd}', '🙂',
        ]);
        prop::collection::vec(chars, 0..40).prop_map(|v| v.into_iter().collect())
    }

    /// Each character that needs a look, at every place of a long string: in the eight-byte
    /// words and in the tail.
    #[test]
    fn escapes_at_every_place_of_a_word() {
        for c in [
            '"', '\\', '\n', '\u{1f}', '<', '>', '&', '\u{2028}', '\u{2029}', '\u{2027}',
        ] {
            for at in 0..27 {
                let mut v: String = "0123456789abcdef0123456789".chars().take(at).collect();
                v.push(c);
                v.push_str("tail");
                for html in [true, false] {
                    let (new, old) = escaped(&v, html);
                    assert_eq!(new, old, "{v:?} {html}");
                }
            }
        }
        assert!(!needs_look(u64::from_le_bytes(*b"0123abcz"), true));
        assert!(needs_look(u64::from_le_bytes(*b"0123abc<"), true));
        assert!(!needs_look(u64::from_le_bytes(*b"0123abc<"), false));
        assert!(needs_look(
            u64::from_le_bytes(*b"\x7f\x80\xff\x00abcd"),
            false
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn escapes_as_the_reference(v in any::<String>(), t in tricky(), html in any::<bool>()) {
            let (new, old) = escaped(&v, html);
            prop_assert_eq!(new, old);
            let (new, old) = escaped(&t, html);
            prop_assert_eq!(new, old);
        }

        #[test]
        fn integers_as_display(v in any::<u64>(), small in 0u64..100_000) {
            for v in [v, small, u64::MAX, 0] {
                let mut s = String::from("x");
                push_u64(&mut s, v);
                prop_assert_eq!(s, format!("x{v}"));
            }
        }

        #[test]
        fn floats_as_display(
            bits in any::<u64>(),
            x in any::<f64>(),
            int in -2_000_000_000_000_000i64..2_000_000_000_000_000,
            hundredths in 0u64..10_000_000,
        ) {
            let values = [
                f64::from_bits(bits),
                x,
                int as f64,
                int as f64 / 100.0,
                hundredths as f64 / 100.0,
                hundredths as f64 * 0.01,
                (int as f64).abs() / 1e6,
            ];
            for x in values.into_iter().filter(|x| x.is_finite()) {
                let mut s = String::new();
                push_f64(&mut s, x);
                prop_assert_eq!(s, format!("{x}"));
            }
        }

        #[test]
        fn floats_near_percentages_as_display(
            a in 0u64..1 << 53, b in 1u64..1 << 53, scale in -30i32..30,
        ) {
            // Ratios as CPU and memory percentages are computed, at many scales.
            for x in [
                a as f64 / b as f64 * 100.0,
                (a as f64 / b as f64) * 10f64.powi(scale),
                -(a as f64) / b as f64,
            ] {
                let mut s = String::new();
                push_f64(&mut s, x);
                prop_assert_eq!(s, format!("{x}"));
            }
        }

        #[test]
        fn timestamps_as_display(
            secs in any::<i64>(),
            near in -5_000_000_000i64..500_000_000_000,
            nanos in any::<u32>(),
            round in 0u32..1000,
            steps in prop::collection::vec(0i64..3, 1..8),
        ) {
            use dockstat::stats::Timestamp;
            // secs far out (years beyond 9999 and before 0) and near now; nanos with trailing
            // zeros, and out of range.
            let mut text = TimestampText::default();
            for base in [secs / 1000, near] {
                for (i, step) in steps.iter().enumerate() {
                    for nanos in [nanos % 1_000_000_000, round * 1_000_000, round, 0, nanos] {
                        let t = Timestamp { secs: base.saturating_add(*step + i as i64 / 3), nanos };
                        let mut s = String::from("x");
                        text.push(&mut s, t);
                        prop_assert_eq!(s, format!("x{t}"));
                    }
                }
            }
        }
    }

    #[test]
    fn named_fields_and_line_breaks() {
        let f = |spec: &str| Format::parse(spec, "").unwrap();
        assert!(f("{{.Host}} {{.Name}}").names("Host"));
        assert!(f("{{if .Host}}x{{end}}").names("Host"));
        assert!(!f("{{json .}}").names("Host"));
        assert!(f("{{json .}}").uses("Host"));
        assert!(!Format::Json.names("Host"));
        assert!(f("{{.Name}}\t{{.ID}}").one_line_rows());
        assert!(!f("{{.Name}}\n{{.ID}}").one_line_rows());
        assert!(!f("{{println .Name}}").one_line_rows());
    }

    #[test]
    fn tabwriter_alignment() {
        let text = "CONTAINER ID\tIMAGE\tNAMES\nb3fe0c9afa00\tbb\tpaused\n";
        assert_eq!(
            align(text),
            "CONTAINER ID   IMAGE     NAMES\nb3fe0c9afa00   bb        paused\n"
        );
    }

    #[test]
    fn templates() {
        let f = Format::parse("table {{.ID}}\\t{{ .Names }}", "").unwrap();
        let mut row = Row::new();
        row.insert("ID", "abc".into());
        row.insert("Names", "x".into());
        let mut bare = Vec::new();
        Format::parse("{{.ID}}\\t{{.Names}}", "")
            .unwrap()
            .write(&mut bare, &[row.clone()], &|f| f.into())
            .unwrap();
        assert_eq!(String::from_utf8(bare).unwrap(), "abc\tx\n");
        let mut out = Vec::new();
        f.write(&mut out, &[row.clone()], &|f| f.to_uppercase())
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ID        NAMES\nabc       x\n"
        );
        assert!(f.check_fields(&["ID"]).is_err());
        let mut out = Vec::new();
        Format::Json.write(&mut out, &[row], &|f| f.into()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"x\"}\n"
        );
        let mut s = String::new();
        json_string(&mut s, "<a&b>\u{1}");
        assert_eq!(s, "\"\\u003ca\\u0026b\\u003e\\u0001\"");
    }

    const PS: &[&str] = &["ID", "Labels", "Names", "Platform", "State"];

    /// A `ps` row as docker v28 saw container i13-tmpl-a.
    fn container() -> Row {
        let mut row = Row::new();
        row.insert("ID", "f7f0987fe4fb".into());
        row.insert("Names", "i13-tmpl-a".into());
        row.insert("State", "running".into());
        row.insert("Labels", "a=b,com.example.ver=1.2,h=<a&b>".into());
        row.insert("Platform", Cell::Json("null".into()));
        let labels = [("a", "b"), ("com.example.ver", "1.2"), ("h", "<a&b>")];
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        row.extend([Cell::labels(&labels)]);
        row
    }

    fn ps_header(f: &str) -> String {
        match f {
            "ID" => "CONTAINER ID".into(),
            f => f.to_uppercase(),
        }
    }

    /// What `spec` prints for the row, or the message it fails with.
    fn render(spec: &str) -> Result<String, String> {
        let f = Format::parse(spec, "{{.ID}}")?;
        f.check_fields(PS)?;
        let mut out = Vec::new();
        f.write(&mut out, &[container()], &ps_header)
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn template_functions_print_what_docker_prints() {
        // Each expected string is what `docker ps --format SPEC` (v28.2) printed for the
        // same container.
        let cases: &[(&str, &str)] = &[
            ("{{upper .Names}}", "I13-TMPL-A\n"),
            ("{{.Names | upper}}", "I13-TMPL-A\n"),
            ("{{lower \"AbC\"}}", "abc\n"),
            (
                "{{title \"hello wORLD-foo bar_baz\"}}",
                "Hello WORLD-Foo Bar_baz\n",
            ),
            ("{{.Label \"a\"}}|{{.Label \"nope\"}}|", "b||\n"),
            ("{{.Label \"h\"}}", "<a&b>\n"),
            ("{{json .Labels}}", "\"a=b,com.example.ver=1.2,h=<a&b>\"\n"),
            ("{{json (.Label \"x\")}}", "\"\"\n"),
            ("{{json .Platform}}|{{.Platform}}", "null|<nil>\n"),
            ("{{split .Names \"-\"}}", "[i13 tmpl a]\n"),
            (
                "{{json (split .Names \"-\")}}",
                "[\"i13\",\"tmpl\",\"a\"]\n",
            ),
            ("{{join (split .Names \"-\") \"+\"}}", "i13+tmpl+a\n"),
            (
                "{{range split .Names \"-\"}}[{{.}}]{{end}}",
                "[i13][tmpl][a]\n",
            ),
            (
                "{{range $x := split .Names \"-\"}}{{$x}}{{end}}",
                "i13tmpla\n",
            ),
            (
                "{{truncate .Names 3}}|{{truncate .Names 99}}",
                "i13|i13-tmpl-a\n",
            ),
            (
                "{{pad .Names 2 3}}|{{pad \"\" 2 3}}|",
                "  i13-tmpl-a   ||\n",
            ),
            ("{{println .Names}}", "i13-tmpl-a\n\n"),
            (
                "{{print 1 2 \"a\" \"b\" 3}}|{{println 1 \"a\"}}|",
                "1 2ab3|1 a\n|\n",
            ),
            (
                "{{printf \"%-12s|%12s|%.3s\" .Names .Names .Names}}",
                "i13-tmpl-a  |  i13-tmpl-a|i13\n",
            ),
            ("{{printf \"%d %s\"}}", "%!d(MISSING) %!s(MISSING)\n"),
            ("{{printf \"%d\" .Names}}", "%!d(string=i13-tmpl-a)\n"),
            (
                "{{printf \"%q|%v\" (split .Names \"-\") (len .Names)}}",
                "[\"i13\" \"tmpl\" \"a\"]|10\n",
            ),
            ("{{.Names | printf \"%s!\" | upper}}", "I13-TMPL-A!\n"),
            ("{{if eq .State \"running\"}}R{{else}}S{{end}}", "R\n"),
            (
                "{{if and (eq .State \"created\") (ne .Names \"x\")}}C{{else if eq .State \"running\"}}R{{else}}O{{end}}",
                "R\n",
            ),
            (
                "{{len (split .Names \"-\")}} {{not .Names}} {{or \"\" .Names}} {{and .Names 0}}",
                "3 false i13-tmpl-a 0\n",
            ),
            ("{{with .Label \"a\"}}a={{.}}{{else}}none{{end}}", "a=b\n"),
            (
                "{{- \" a \" -}} {{/* c */}} | {{ .ID -}}  x",
                " a  | f7f0987fe4fbx\n",
            ),
            ("{{.ID}}\\t{{.Names}}", "f7f0987fe4fb\ti13-tmpl-a\n"),
            ("{{\"q\\\"\\u00e9\"}}", "q\"\u{e9}\n"),
            // A table's header runs the template over the column names, text functions
            // left out; .Label's header is the key's last part.
            ("table {{upper .Names}}", "NAMES\nI13-TMPL-A\n"),
            (
                "table {{.Label \"com.example.ver\"}}\\t{{.Names}}",
                "ver       NAMES\n1.2       i13-tmpl-a\n",
            ),
            ("table {{.Label \"x-y_z\"}}", "x y z\n\n"),
            (
                "table {{pad .Names 2 3}}|",
                "  NAMES   |\n  i13-tmpl-a   |\n",
            ),
            (
                "table {{printf \"%-20s\" .Names}}|{{.ID}}",
                "NAMES               |CONTAINER ID\ni13-tmpl-a          |f7f0987fe4fb\n",
            ),
            (
                "table {{if eq .State \"running\"}}R{{else}}S{{end}} {{.Names}}",
                "S NAMES\nR i13-tmpl-a\n",
            ),
            ("table{{.Names}}", "NAMES\ni13-tmpl-a\n"),
            (
                "{{printf \"%5.1f|%x|%X|%o|%c|%e|%g|%08d|% d|%+.2f\" 3.0 255 255 8 65 12345.678 0.000012 -42 7 -1.005}}",
                "  3.0|ff|FF|10|A|1.234568e+04|1.2e-05|-0000042| 7|-1.00\n",
            ),
            (
                "{{1e3}} {{1.0}} {{truncate .Names 3.0}} {{printf \"%v %d\" 1e3 1e3}}",
                "1000 1 i13 1000 %!d(float64=1000)\n",
            ),
            (
                "{{printf \"%*d|%-*d|%.*s\" 5 1 4 2 2 \"abc\"}}",
                "    1|2   |ab\n",
            ),
            (
                "{{printf \"%v|%s|%q|%-6t|%5v\" true .State \"a\\\"b\" false 12}}",
                "true|running|\"a\\\"b\"|false |   12\n",
            ),
            (
                "{{json \"a<b>&\"}} {{json 1.5}} {{json true}}",
                "\"a<b>&\" 1.5 true\n",
            ),
            (
                "{{$n := .Names}}{{$n}} {{with $x := .State}}{{$x}}{{end}} {{$.ID}}",
                "i13-tmpl-a running f7f0987fe4fb\n",
            ),
            (
                "{{range split \"\" \",\"}}[{{.}}]{{end}} {{split \"abc\" \"\"}} {{range 3}}{{.}}{{end}}",
                "[] [a b c] 012\n",
            ),
            (
                "table {{json .Names}}\\t{{truncate .Names 3}}\\t{{len .Names}}",
                "NAMES          NAMES     5\n\"i13-tmpl-a\"   i13       10\n",
            ),
            (
                "table {{.ID}} {{range split .Names \"-\"}}{{.}} {{end}}",
                "CONTAINER ID \nf7f0987fe4fb i13 tmpl a \n",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(render(spec).as_deref(), Ok(*want), "{spec}");
        }
        // `{{json .}}` and `--format json`: docker's keys only, HTML-escaped as docker's
        // marshaller escapes them.
        let json = "{\"ID\":\"f7f0987fe4fb\",\"Labels\":\"a=b,com.example.ver=1.2,h=\\u003ca\\u0026b\\u003e\",\"Names\":\"i13-tmpl-a\",\"Platform\":null,\"State\":\"running\"}\n";
        assert_eq!(render("{{json .}}").as_deref(), Ok(json));
        assert_eq!(render("json").as_deref(), Ok(json));
    }

    #[test]
    fn bad_templates_fail_as_docker_words_it() {
        let cases: &[(&str, &str)] = &[
            (
                "{{.Names",
                "failed to parse template: template: :1: unclosed action",
            ),
            (
                "{{foo .Names}}",
                "failed to parse template: template: :1: function \"foo\" not defined",
            ),
            (
                "{{if .Names}}x",
                "failed to parse template: template: :1: unexpected EOF",
            ),
            (
                "{{end}}",
                "failed to parse template: template: :1: unexpected {{end}}",
            ),
            (
                "{{else}}",
                "failed to parse template: template: :1: unexpected {{else}}",
            ),
            (
                "{{ \"abc }}",
                "failed to parse template: template: :1: unterminated quoted string",
            ),
            (
                "{{}}",
                "failed to parse template: template: :1: missing value for command",
            ),
            (
                "{{.Names )}}",
                "failed to parse template: template: :1: unexpected right paren",
            ),
            (
                "{{(.Names}}",
                "failed to parse template: template: :1: unclosed left paren",
            ),
            (
                "{{$x}}",
                "failed to parse template: template: :1: undefined variable \"$x\"",
            ),
            (
                "{{ .Names @ }}",
                "failed to parse template: template: :1: unexpected \"@\" in operand",
            ),
            (
                "{{truncate .Names -1}}",
                "failed to execute template: template: :1:2: executing \"\" at <truncate .Names -1>: error calling truncate: runtime error: slice bounds out of range [:-1]",
            ),
            (
                "{{join .Names \",\"}}",
                "failed to execute template: template: :1:7: executing \"\" at <.Names>: wrong type for value; expected []string; got string",
            ),
            (
                "{{.Names | join \",\"}}",
                "failed to execute template: template: :1:16: executing \"\" at <\",\">: can't handle \",\" for arg of type []string",
            ),
            (
                "{{.Names.Foo}}",
                "failed to execute template: template: :1:8: executing \"\" at <.Names.Foo>: can't evaluate field Foo in type string",
            ),
            (
                "{{.Label}}",
                "failed to execute template: template: :1:2: executing \"\" at <.Label>: wrong number of args for Label: want 1 got 0",
            ),
            (
                "{{.ID 1}}",
                "failed to execute template: template: :1:2: executing \"\" at <.ID>: wrong number of args for ID: want 0 got 1",
            ),
            (
                "{{upper}}",
                "failed to execute template: template: :1:2: executing \"\" at <upper>: wrong number of args for upper: want 1 got 0",
            ),
            (
                "{{upper 3}}",
                "failed to execute template: template: :1:8: executing \"\" at <3>: expected string; found 3",
            ),
            (
                "{{truncate .Names \"a\"}}",
                "failed to execute template: template: :1:18: executing \"\" at <\"a\">: expected integer; found \"a\"",
            ),
            (
                "{{len 3}}",
                "failed to execute template: template: :1:2: executing \"\" at <len 3>: error calling len: len of type int",
            ),
            (
                "{{eq .Names 1}}",
                "failed to execute template: template: :1:2: executing \"\" at <eq .Names 1>: error calling eq: incompatible types for comparison",
            ),
            (
                "{{lt (split .Names \"-\") 2}}",
                "failed to execute template: template: :1:2: executing \"\" at <lt (split .Names \"-\") 2>: error calling lt: invalid type for comparison",
            ),
            (
                "{{pad .Names -1 0}}",
                "failed to execute template: template: :1:2: executing \"\" at <pad .Names -1 0>: error calling pad: strings: negative Repeat count",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(render(spec), Err(want.to_string()), "{spec}");
        }
        // An unknown field names the fields there are (docker names its Go type).
        assert_eq!(
            render("{{.Foo}}"),
            Err("failed to execute template: template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo (fields: ID, Labels, Names, Platform, State)".into())
        );
        // Outside `ps`, docker's other wording, and no `.Label`.
        let stats = Format::parse("{{.Label \"a\"}}", "").unwrap();
        assert!(
            stats
                .check_fields(&["ID", "Name"])
                .unwrap_err()
                .starts_with("template parsing error: template: :1:2: executing \"\" at <.Label>: can't evaluate field Label")
        );
    }
}
