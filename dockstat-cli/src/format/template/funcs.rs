//! Go's `fmt` verbs and the text functions templates call (`json`, `title`, `upper`, ...),
//! each printing exactly what Go prints.

use std::fmt::Write as _;

use super::*;

/// docker's `json` function: Go's encoder without HTML escaping; a whole row is written by
/// its own marshaller (which escapes).
pub(super) fn to_json(v: &Value<'_>) -> String {
    let mut out = String::new();
    match v {
        Value::Str(s) => json_string_as(&mut out, s, false),
        Value::Raw(r) => out.push_str(r),
        Value::List(l) => {
            out.push('[');
            for (i, s) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string_as(&mut out, s, false);
            }
            out.push(']');
        }
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::Bool(b) => out.push_str(&b.to_string()),
        Value::Nil => out.push_str("null"),
        Value::Row(r) => out.push_str(&json_object(r)),
        Value::Header => out.push_str("{}"),
    }
    out
}

pub(super) fn json_float(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        // Go writes e-07 as e-07 and e+21 as e+21.
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`).
pub(super) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

pub(super) fn map_chars(s: &str, f: impl Fn(char) -> Option<char>) -> String {
    s.chars().map(|c| f(c).unwrap_or(c)).collect()
}

/// `strings.ToUpper`: a character's single-character upper case (Go keeps `ß`).
pub(super) fn go_upper(s: &str) -> String {
    map_chars(s, |c| {
        let mut u = c.to_uppercase();
        match (u.next(), u.next()) {
            (Some(x), None) => Some(x),
            _ => None,
        }
    })
}

pub(super) fn go_lower(s: &str) -> String {
    map_chars(s, |c| c.to_lowercase().next())
}

/// `strings.Title`: the first letter of every word in title case; a word starts after a
/// character that is neither a letter, a digit nor `_`.
pub(super) fn go_title(s: &str) -> String {
    let sep = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if sep(prev) {
                let mut u = c.to_uppercase();
                match (u.next(), u.next()) {
                    (Some(x), None) => x,
                    _ => c,
                }
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

/// Go's `fmt.Sprintf` for the verbs format strings use: `%s %q %v %d %x %X %f %e %g %t %c
/// %%`, flags `-+ 0#`, width and precision (also `*`).
pub(super) fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space, mut sharp) =
            (false, false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, next: &mut usize| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let v = match args.get(*next) {
                    Some(Value::Int(i)) => Some(*i),
                    _ => None,
                };
                *next += 1;
                return v.map(|v| v.unsigned_abs() as usize);
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(
                    n.unwrap_or(0)
                        .saturating_mul(10)
                        .saturating_add(d as usize)
                        .min(1 << 16),
                );
                chars.next();
            }
            n
        };
        let width = num(&mut chars, &mut next);
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            Some(num(&mut chars, &mut next).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        next += 1;
        let spec = Spec {
            minus,
            plus,
            zero,
            space,
            sharp,
            width,
            prec,
        };
        out.push_str(&format_one(verb, arg, &spec));
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, a) in args[next..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{}={}", a.type_name(), a.to_text());
        }
        out.push(')');
    }
    out
}

pub(super) struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    /// Pads to the width (counted in characters, as Go counts runes).
    fn pad(&self, s: String, numeric: bool) -> String {
        let Some(w) = self.width else { return s };
        let n = s.chars().count();
        if n >= w {
            return s;
        }
        let fill = w - n;
        if self.minus {
            return s + &" ".repeat(fill);
        }
        if self.zero && numeric {
            let (sign, digits) = match s.strip_prefix(['-', '+', ' ']) {
                Some(d) => (&s[..1], d),
                None => ("", s.as_str()),
            };
            return format!("{sign}{}{digits}", "0".repeat(fill));
        }
        if self.zero && !numeric {
            return "0".repeat(fill) + &s;
        }
        " ".repeat(fill) + &s
    }

    fn sign(&self, neg: bool, body: String) -> String {
        if neg {
            format!("-{body}")
        } else if self.plus {
            format!("+{body}")
        } else if self.space {
            format!(" {body}")
        } else {
            body
        }
    }
}

pub(super) fn bad_verb(verb: char, arg: &Value<'_>) -> String {
    match arg {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", arg.type_name(), arg.to_text()),
    }
}

pub(super) fn format_one(verb: char, arg: &Value<'_>, spec: &Spec) -> String {
    if let Value::List(l) = arg {
        // Go formats a slice's elements one by one inside brackets.
        let items: Vec<String> = l
            .iter()
            .map(|s| {
                format_one(
                    verb,
                    &Value::Str(s.clone()),
                    &Spec {
                        width: spec.width,
                        prec: spec.prec,
                        ..*spec
                    },
                )
            })
            .collect();
        return format!("[{}]", items.join(" "));
    }
    match (verb, arg) {
        ('v', Value::Str(_) | Value::Raw(_) | Value::Bool(_) | Value::Nil | Value::Row(_)) => {
            spec.pad(arg.to_text(), false)
        }
        ('v' | 'd', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, i.unsigned_abs().to_string()), true)
        }
        ('v', Value::Float(f)) => spec.pad(spec.sign(*f < 0.0, go_float(f.abs())), true),
        ('s', Value::Str(s) | Value::Raw(s)) => {
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            };
            spec.pad(s, false)
        }
        ('q', Value::Str(s) | Value::Raw(s)) => {
            let q = if spec.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            };
            spec.pad(q, false)
        }
        ('x' | 'X', Value::Str(s) | Value::Raw(s)) => {
            let mut h = String::new();
            for b in s.bytes() {
                let _ = if verb == 'x' {
                    write!(h, "{b:02x}")
                } else {
                    write!(h, "{b:02X}")
                };
            }
            spec.pad(h, false)
        }
        ('x', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, format!("{:x}", i.unsigned_abs())), true)
        }
        ('X', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, format!("{:X}", i.unsigned_abs())), true)
        }
        ('o', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, format!("{:o}", i.unsigned_abs())), true)
        }
        ('b', Value::Int(i)) => {
            spec.pad(spec.sign(*i < 0, format!("{:b}", i.unsigned_abs())), true)
        }
        ('c', Value::Int(i)) => spec.pad(
            char::from_u32(*i as u32).unwrap_or('\u{fffd}').to_string(),
            false,
        ),
        ('f' | 'F', Value::Float(f)) => {
            let p = spec.prec.unwrap_or(6);
            spec.pad(
                spec.sign(
                    f.is_sign_negative() && *f != 0.0,
                    format!("{:.p$}", f.abs()),
                ),
                true,
            )
        }
        ('e', Value::Float(f)) => {
            let p = spec.prec.unwrap_or(6);
            let s = format!("{:.p$e}", f.abs());
            let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            spec.pad(spec.sign(*f < 0.0, format!("{m}e{sign}{digits:0>2}")), true)
        }
        ('g', Value::Float(f)) => spec.pad(spec.sign(*f < 0.0, go_float(f.abs())), true),
        ('t', Value::Bool(b)) => spec.pad(b.to_string(), false),
        _ => bad_verb(verb, arg),
    }
}
