//! A strict JSON cursor for the parts of a frame the decoder reads.
//!
//! Positions are plain indexes into the frame; every function takes the position where a
//! token starts and returns the position after it, so the decoder reads as a sequence of
//! "at p, expect this". Everything read here is validated to the JSON grammar (RFC 8259):
//! strings (control bytes, escapes), numbers (no leading zeros, digits after `.` and `e`),
//! literals, commas and colons. Containers the decoder does not need are validated to the same
//! grammar without being read ([`Cursor::validate`]), so a frame that is not JSON never gives a
//! number. A container in another form than the daemon's (the memory map with whitespace or
//! escapes, say) is first scanned by [`super::skip`], whose quote positions let the validation
//! jump over its strings.
//!
//! Strings are decoded as Go's `encoding/json` decodes them (the docker CLI's decoder): invalid
//! UTF-8 and lone surrogate escapes are not errors but become U+FFFD ([`decode_go`]).
//!
//! Strings and numbers are scanned eight bytes at a time (SWAR), because per-byte loops over
//! keys and counters are where a stats decoder spends its time.

#![forbid(unsafe_code)]

use super::skip::{SkipError, Skipped, scan_container};
use crate::error::DecodeError;

/// Where and why decoding failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fail {
    /// Offset of the offending byte in the frame.
    pub at: usize,
    pub kind: DecodeError,
}

pub(crate) type R<T> = Result<T, Fail>;

#[inline]
pub(crate) fn syntax(at: usize) -> Fail {
    Fail {
        at,
        kind: DecodeError::Syntax,
    }
}

#[inline]
pub(crate) fn shape(at: usize) -> Fail {
    Fail {
        at,
        kind: DecodeError::Shape,
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit of each byte of `w` that equals `b`.
#[inline(always)]
fn eq_bytes(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// High bit of each byte of `w` that is below `n` (n <= 0x80). Bytes >= 0x80 never match.
#[inline(always)]
fn lt_bytes(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// A number token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Num {
    /// A non-negative integer that fits in 64 bits.
    U64(u64),
    /// Any other valid JSON number (negative, fractional, exponent, or too large).
    Other,
}

/// A string token: the bytes between the quotes, as they are in the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Str {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Holds backslash escapes or invalid UTF-8: the raw bytes are not the value (see
    /// [`decode_go`]).
    pub(crate) escaped: bool,
}

/// Go's `encoding/json` nesting limit (`maxNestingDepth`): deeper is an error there too.
pub(crate) const MAX_DEPTH: usize = 10_000;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'f> {
    pub(crate) b: &'f [u8],
}

impl<'f> Cursor<'f> {
    #[inline(always)]
    pub(crate) fn at(&self, p: usize) -> u8 {
        // Past the end reads as 0, which no grammar rule accepts.
        self.b.get(p).copied().unwrap_or(0)
    }

    /// Skips whitespace.
    #[inline(always)]
    pub(crate) fn ws(&self, p: usize) -> usize {
        // The daemon writes no whitespace; only look further when there is some.
        if self.at(p) > b' ' {
            p
        } else {
            self.ws_slow(p)
        }
    }

    #[cold]
    fn ws_slow(&self, mut p: usize) -> usize {
        while matches!(self.at(p), b' ' | b'\t' | b'\n' | b'\r') {
            p += 1;
        }
        p
    }

    #[inline(always)]
    fn load8(&self, p: usize) -> Option<u64> {
        self.b
            .get(p..p + 8)
            .map(|s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
    }

    /// The string whose opening quote is at `p`; returns it and the position after it.
    #[inline(always)]
    pub(crate) fn string(&self, p: usize) -> R<(Str, usize)> {
        if self.at(p) != b'"' {
            return Err(shape(p));
        }
        let start = p + 1;
        let mut i = start;
        // Fast path: plain ASCII up to the closing quote, eight bytes at a time.
        while let Some(w) = self.load8(i) {
            let special = eq_bytes(w, b'"') | eq_bytes(w, b'\\') | lt_bytes(w, 0x20) | (w & HIGHS);
            if special == 0 {
                i += 8;
                continue;
            }
            i += (special.trailing_zeros() / 8) as usize;
            if self.at(i) == b'"' {
                return Ok((
                    Str {
                        start,
                        end: i,
                        escaped: false,
                    },
                    i + 1,
                ));
            }
            break;
        }
        self.string_slow(start, i)
    }

    /// Escapes, non-ASCII bytes, control bytes, or the last 8 bytes of the frame.
    #[cold]
    fn string_slow(&self, start: usize, mut i: usize) -> R<(Str, usize)> {
        let mut escaped = false;
        let mut non_ascii = false;
        loop {
            match self.at(i) {
                b'"' if i < self.b.len() => break,
                b'\\' => {
                    escaped = true;
                    i = match self.b.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i + 2,
                        Some(b'u') => match self.b.get(i + 2..i + 6) {
                            Some(h) if h.iter().all(u8::is_ascii_hexdigit) => i + 6,
                            _ => return Err(syntax(i)),
                        },
                        _ => return Err(syntax(i)),
                    };
                }
                0..=0x1f => return Err(syntax(i)),
                0x80.. => {
                    non_ascii = true;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        // Invalid UTF-8 is not an error in Go's decoder: each bad byte becomes U+FFFD.
        if non_ascii && std::str::from_utf8(&self.b[start..i]).is_err() {
            escaped = true;
        }
        Ok((
            Str {
                start,
                end: i,
                escaped,
            },
            i + 1,
        ))
    }

    /// `Some(position after it)` if the bytes at `p` are exactly `text` (a constant at every
    /// call site, so the comparison compiles to a few wide loads).
    #[inline(always)]
    pub(crate) fn lit(&self, p: usize, text: &'static [u8]) -> Option<usize> {
        (self.b.get(p..p + text.len()) == Some(text)).then_some(p + text.len())
    }

    /// `Some(position after it)` if the bytes at `p` are exactly `text`, whose length is
    /// known only at run time: compared eight bytes at a time (the last word overlapping the
    /// one before), without a call to `memcmp`.
    #[inline(always)]
    pub(crate) fn same(&self, p: usize, text: &[u8]) -> Option<usize> {
        let n = text.len();
        let have = self.b.get(p..p + n)?;
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or_default());
        if n < 8 {
            return (have == text).then_some(p + n);
        }
        let mut diff = word(&have[n - 8..]) ^ word(&text[n - 8..]);
        for (x, y) in have.chunks_exact(8).zip(text.chunks_exact(8)) {
            diff |= word(x) ^ word(y);
        }
        (diff == 0).then_some(p + n)
    }

    /// A plain unsigned integer at `p` (what the daemon writes for every counter): the value
    /// and the position after it. `None` for anything else (the caller's general path then
    /// reads it and reports what is wrong).
    #[inline(always)]
    pub(crate) fn plain_u64(&self, p: usize) -> Option<(u64, usize)> {
        if !self.at(p).is_ascii_digit() {
            return None;
        }
        match self.number(p) {
            Ok((Num::U64(v), next)) => Some((v, next)),
            _ => None,
        }
    }

    /// Passes a plain unsigned integer at `p` without computing it (a counter nobody needs):
    /// the position after it. `None` for anything else (a leading zero, a sign, a fraction,
    /// no digits), which the caller's general path then reads properly.
    #[inline(always)]
    pub(crate) fn skip_digits(&self, p: usize) -> Option<usize> {
        let first = self.at(p);
        if !first.is_ascii_digit() {
            return None;
        }
        let mut i = p;
        loop {
            let w = self.load8(i)?;
            let d = w.wrapping_sub(ONES * u64::from(b'0'));
            let non_digit = (d | d.wrapping_add(ONES * 0x76)) & HIGHS;
            if non_digit != 0 {
                i += (non_digit.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        // JSON forbids leading zeros; a fraction or exponent is not a counter.
        if (first == b'0' && i > p + 1) || matches!(self.at(i), b'.' | b'e' | b'E') {
            return None;
        }
        Some(i)
    }

    /// [`Cursor::skip_digits`] for a caller that checks the byte after the digits itself (it
    /// must be one that ends a value, so a fraction or exponent fails there): one digit test
    /// fewer per counter.
    #[inline(always)]
    pub(crate) fn skip_digits_to(&self, p: usize) -> Option<usize> {
        let w = self.load8(p)?;
        let first_zero = w as u8 == b'0';
        let mut d = w.wrapping_sub(ONES * u64::from(b'0'));
        let mut i = p;
        loop {
            let non_digit = (d | d.wrapping_add(ONES * 0x76)) & HIGHS;
            if non_digit != 0 {
                i += (non_digit.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
            d = self.load8(i)?.wrapping_sub(ONES * u64::from(b'0'));
        }
        // No digits, or a leading zero (JSON forbids them).
        if i == p || (first_zero && i > p + 1) {
            return None;
        }
        Some(i)
    }

    /// A key of plain printable ASCII (no escapes, no control or non-ASCII bytes) whose
    /// opening quote is at `p`: the span between the quotes. `None` for anything else, which
    /// the caller then reads with the general path.
    #[inline(always)]
    pub(crate) fn plain_key(&self, p: usize) -> Option<(usize, usize)> {
        if self.at(p) != b'"' {
            return None;
        }
        let mut i = p + 1;
        loop {
            let w = self.load8(i)?;
            let special = eq_bytes(w, b'"') | eq_bytes(w, b'\\') | lt_bytes(w, 0x20) | (w & HIGHS);
            if special == 0 {
                i += 8;
                continue;
            }
            i += (special.trailing_zeros() / 8) as usize;
            return (self.at(i) == b'"').then_some((p + 1, i));
        }
    }

    /// The number at `p` and the position after it.
    #[inline(always)]
    pub(crate) fn number(&self, p: usize) -> R<(Num, usize)> {
        // Counters have at most 20 digits and usually fewer than 17: two words of up to eight
        // digits each cannot overflow, so the common case needs no checked arithmetic.
        let (Some(w0), Some(w1)) = (self.load8(p), self.load8(p + 8)) else {
            return self.number_slow(p);
        };
        let d0 = w0.wrapping_sub(ONES * u64::from(b'0'));
        let n0 = digit_run(d0);
        let (value, end) = if n0 < 8 {
            (swar_digits(d0, n0.max(1)), p + n0)
        } else {
            let d1 = w1.wrapping_sub(ONES * u64::from(b'0'));
            let n1 = digit_run(d1);
            if n1 == 8 {
                return self.number_slow(p); // 16 digits or more
            }
            let high = swar_digits(d0, 8);
            if n1 == 0 {
                (high, p + 8)
            } else {
                (high * POW10[n1] + swar_digits(d1, n1), p + 8 + n1)
            }
        };
        let digits = end - p;
        if digits == 0
            || (digits > 1 && self.at(p) == b'0')
            || matches!(self.at(end), b'.' | b'e' | b'E')
        {
            // A sign, a fraction, an exponent, a leading zero, or no digits at all.
            return self.number_slow(p);
        }
        Ok((Num::U64(value), end))
    }

    /// The full JSON number grammar, one byte at a time.
    #[cold]
    fn number_slow(&self, p: usize) -> R<(Num, usize)> {
        let mut i = p;
        let negative = self.at(i) == b'-';
        if negative {
            i += 1;
        }
        let int_start = i;
        while self.at(i).is_ascii_digit() {
            i += 1;
        }
        let int_digits = i - int_start;
        if int_digits == 0 || (int_digits > 1 && self.at(int_start) == b'0') {
            return Err(syntax(p));
        }
        let mut integer = !negative;
        if self.at(i) == b'.' {
            integer = false;
            i += 1;
            let s = i;
            while self.at(i).is_ascii_digit() {
                i += 1;
            }
            if i == s {
                return Err(syntax(i));
            }
        }
        if matches!(self.at(i), b'e' | b'E') {
            integer = false;
            i += 1;
            if matches!(self.at(i), b'+' | b'-') {
                i += 1;
            }
            let s = i;
            while self.at(i).is_ascii_digit() {
                i += 1;
            }
            if i == s {
                return Err(syntax(i));
            }
        }
        if !integer {
            return Ok((Num::Other, i));
        }
        let value = self.b[int_start..i].iter().try_fold(0u64, |v, &c| {
            v.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        });
        Ok((value.map_or(Num::Other, Num::U64), i))
    }

    /// A counter: a non-negative integer, or `null` (`None`). Anything else is a shape error.
    #[inline(always)]
    pub(crate) fn counter(&self, p: usize) -> R<(Option<u64>, usize)> {
        match self.at(p) {
            b'0'..=b'9' => match self.number(p)? {
                (Num::U64(v), next) => Ok((Some(v), next)),
                (Num::Other, _) => Err(shape(p)),
            },
            b'n' => Ok((None, self.literal(p, b"null")?)),
            b'-' => {
                self.number(p)?;
                Err(shape(p))
            }
            _ => Err(shape(p)),
        }
    }

    fn literal(&self, p: usize, word: &[u8]) -> R<usize> {
        if self.b.get(p..p + word.len()) == Some(word) {
            Ok(p + word.len())
        } else {
            Err(syntax(p))
        }
    }

    /// Skips any value; returns the position after it.
    #[inline(always)]
    pub(crate) fn skip(&self, p: usize) -> R<usize> {
        // Counters are most of what gets skipped: keep that path inline.
        if self.at(p).is_ascii_digit() {
            return Ok(self.number(p)?.1);
        }
        self.skip_other(p)
    }

    fn skip_other(&self, p: usize) -> R<usize> {
        match self.at(p) {
            b'"' => Ok(self.string(p)?.1),
            b'{' | b'[' => self.skip_container(p),
            b't' => self.literal(p, b"true"),
            b'f' => self.literal(p, b"false"),
            b'n' => self.literal(p, b"null"),
            b'-' | b'0'..=b'9' => Ok(self.number(p)?.1),
            _ => Err(syntax(p)),
        }
    }

    /// Skips the container at `p` without reading it, validating it to the JSON grammar.
    pub(crate) fn skip_container(&self, p: usize) -> R<usize> {
        // Empty containers are common ("storage_stats":{}, blkio lists []).
        if matches!(self.b.get(p..p + 2), Some(b"{}" | b"[]")) {
            return Ok(p + 2);
        }
        self.validate(p, None)
    }

    /// Skips the container at `p`, recording its string quotes (see
    /// [`super::skip::scan_container`]) and validating it to the JSON grammar.
    pub(crate) fn scan_container(&self, p: usize, quotes: &mut Vec<u32>) -> R<Skipped> {
        quotes.clear();
        let k = self.checked(scan_container(self.b, p, quotes))?;
        // The scan checks strings and counts brackets; the grammar between them (colons,
        // commas, scalars) is checked here, jumping over the strings it found.
        if k.nested || self.at(p) != b'{' {
            self.validate(p, Some(quotes))?;
        } else {
            self.validate_flat(p, k.end, quotes)?;
        }
        Ok(k)
    }

    /// [`Cursor::validate`] for an object without containers inside (as the memory map is),
    /// `end` just after its `}`: entry after entry, jumping over the strings at `quotes`.
    fn validate_flat(&self, open: usize, end: usize, quotes: &[u32]) -> R<()> {
        let mut i = self.ws(open + 1);
        if self.at(i) == b'}' {
            return if i + 1 == end { Ok(()) } else { Err(syntax(i)) };
        }
        let mut q = 0;
        loop {
            if self.at(i) != b'"' {
                return Err(syntax(i));
            }
            i = self.ws(self.pass_string(i, Some(quotes), &mut q)?);
            if self.at(i) != b':' {
                return Err(syntax(i));
            }
            i = self.ws(i + 1);
            i = match self.at(i) {
                b'0'..=b'9' | b'-' => self.pass_number(i)?,
                b'"' => self.pass_string(i, Some(quotes), &mut q)?,
                b't' => self.literal(i, b"true")?,
                b'f' => self.literal(i, b"false")?,
                b'n' => self.literal(i, b"null")?,
                _ => return Err(syntax(i)),
            };
            i = self.ws(i);
            match self.at(i) {
                b',' => i = self.ws(i + 1),
                b'}' if i + 1 == end => return Ok(()),
                _ => return Err(syntax(i)),
            }
        }
    }

    /// Passes the number at `p`: the position after it.
    #[inline(always)]
    fn pass_number(&self, p: usize) -> R<usize> {
        // A plain counter without computing it; anything else through the full grammar.
        match self.skip_digits(p) {
            Some(end) => Ok(end),
            None => Ok(self.number(p)?.1),
        }
    }

    /// Whether `skip_container` agrees with the SIMD scan (tests).
    #[cfg(test)]
    pub(crate) fn simd_skip(&self, p: usize) -> R<usize> {
        self.checked(super::skip::skip_container(self.b, p))
            .map(|k| k.end)
    }

    /// Validates the container (`{` or `[`) at `p` to the JSON grammar without reading it;
    /// returns the position after it.
    ///
    /// With `quotes` (the string quotes of the container, as [`scan_container`] records them
    /// after checking the strings), strings are jumped over; without, each is checked here.
    /// Deeper than [`MAX_DEPTH`] is [`DecodeError::TooDeep`], as in Go.
    pub(crate) fn validate(&self, p: usize, quotes: Option<&[u32]>) -> R<usize> {
        // The kind of each open container, one bit per level (1 = object): a word for the
        // usual depths, more only for deep ones.
        let mut low = 0u64;
        let mut high: Vec<u64> = Vec::new();
        let mut depth = 0usize;
        let mut q = 0usize;
        let mut i = p;
        let mut state = State::Value;
        loop {
            i = self.ws(i);
            let c = self.at(i);
            match state {
                State::Value | State::FirstValue => {
                    if state == State::FirstValue && c == b']' {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                        i += 1;
                        state = State::After;
                        continue;
                    }
                    state = State::After;
                    match c {
                        b'{' | b'[' => {
                            if depth == MAX_DEPTH {
                                return Err(Fail {
                                    at: i,
                                    kind: DecodeError::TooDeep,
                                });
                            }
                            let object = c == b'{';
                            if depth < 64 {
                                low = (low & !(1 << depth)) | (u64::from(object) << depth);
                            } else {
                                let (w, bit) = ((depth - 64) / 64, (depth - 64) % 64);
                                if w == high.len() {
                                    high.push(0);
                                }
                                high[w] = (high[w] & !(1 << bit)) | (u64::from(object) << bit);
                            }
                            depth += 1;
                            i += 1;
                            state = if object {
                                State::FirstKey
                            } else {
                                State::FirstValue
                            };
                        }
                        b'"' => i = self.pass_string(i, quotes, &mut q)?,
                        b'-' | b'0'..=b'9' => i = self.pass_number(i)?,
                        b't' => i = self.literal(i, b"true")?,
                        b'f' => i = self.literal(i, b"false")?,
                        b'n' => i = self.literal(i, b"null")?,
                        _ => return Err(syntax(i)),
                    }
                }
                State::Key | State::FirstKey => {
                    if state == State::FirstKey && c == b'}' {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                        i += 1;
                        state = State::After;
                        continue;
                    }
                    if c != b'"' {
                        return Err(syntax(i));
                    }
                    i = self.ws(self.pass_string(i, quotes, &mut q)?);
                    if self.at(i) != b':' {
                        return Err(syntax(i));
                    }
                    i += 1;
                    state = State::Value;
                }
                State::After => {
                    let top = depth - 1;
                    let object = if top < 64 {
                        low >> top & 1 == 1
                    } else {
                        high[(top - 64) / 64] >> ((top - 64) % 64) & 1 == 1
                    };
                    match c {
                        b',' => {
                            i += 1;
                            state = if object { State::Key } else { State::Value };
                        }
                        b'}' if object => {}
                        b']' if !object => {}
                        _ => return Err(syntax(i)),
                    }
                    if c != b',' {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(i + 1);
                        }
                        i += 1;
                    }
                }
            }
        }
    }

    /// Passes the string whose opening quote is at `p`: the position after it.
    #[inline(always)]
    fn pass_string(&self, p: usize, quotes: Option<&[u32]>, q: &mut usize) -> R<usize> {
        match quotes {
            None => Ok(self.string(p)?.1),
            Some(quotes) => match quotes.get(*q..*q + 2) {
                Some(&[open, close]) if open as usize == p => {
                    *q += 2;
                    Ok(close as usize + 1)
                }
                _ => Err(syntax(p)),
            },
        }
    }

    fn checked(&self, skipped: Result<Skipped, SkipError>) -> R<Skipped> {
        // Non-ASCII bytes in strings need no check: invalid UTF-8 is U+FFFD to Go's decoder.
        match skipped {
            Ok(k) => Ok(k),
            Err(SkipError::Unterminated) => Err(syntax(self.b.len())),
            Err(
                SkipError::Control(at)
                | SkipError::NonAscii(at)
                | SkipError::Escape(at)
                | SkipError::Mismatch(at),
            ) => Err(syntax(at)),
        }
    }

    /// At an object's value position: `{` gives the position after it, `null` gives `None`.
    #[inline(always)]
    pub(crate) fn object(&self, p: usize) -> R<Option<usize>> {
        match self.at(p) {
            b'{' => Ok(Some(p + 1)),
            b'n' => self.literal(p, b"null").map(|_| None),
            _ => Err(shape(p)),
        }
    }

    /// At an array's value position: `[` gives the position after it, `null` gives `None`.
    #[inline(always)]
    pub(crate) fn array(&self, p: usize) -> R<Option<usize>> {
        match self.at(p) {
            b'[' => Ok(Some(p + 1)),
            b'n' => self.literal(p, b"null").map(|_| None),
            _ => Err(shape(p)),
        }
    }

    /// The next entry of an object: `p` is just after `{` (with `first`) or just after a
    /// value. Returns the key and the position of its value, or `None` after the closing `}`
    /// (with `*p` just after it).
    #[inline(always)]
    pub(crate) fn next_key(&self, p: &mut usize, first: &mut bool) -> R<Option<(Str, usize)>> {
        let mut i = self.ws(*p);
        match self.at(i) {
            b'}' => {
                *p = i + 1;
                return Ok(None);
            }
            b',' if !*first => i = self.ws(i + 1),
            b'"' if *first => {}
            _ => return Err(syntax(i)),
        }
        *first = false;
        let (key, after) = self.string(i)?;
        let colon = self.ws(after);
        if self.at(colon) != b':' {
            return Err(syntax(colon));
        }
        let value = self.ws(colon + 1);
        *p = value;
        Ok(Some((key, value)))
    }

    /// The next element of an array: like [`Cursor::next_key`], returning the element's
    /// position.
    #[inline(always)]
    pub(crate) fn next_element(&self, p: &mut usize, first: &mut bool) -> R<Option<usize>> {
        let mut i = self.ws(*p);
        match self.at(i) {
            b']' => {
                *p = i + 1;
                return Ok(None);
            }
            b',' if !*first => i = self.ws(i + 1),
            _ if *first => {}
            _ => return Err(syntax(i)),
        }
        *first = false;
        Ok(Some(i))
    }

    /// The raw bytes of a string (its value if not `escaped`).
    #[inline(always)]
    pub(crate) fn raw(&self, s: Str) -> &'f [u8] {
        &self.b[s.start..s.end]
    }
}

/// Where [`Cursor::validate`] is in the grammar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// A value.
    Value,
    /// A value or `]`, just after `[`.
    FirstValue,
    /// A key.
    Key,
    /// A key or `}`, just after `{`.
    FirstKey,
    /// After a value: `,` or the close of the container.
    After,
}

/// The keys of an object as the daemon writes them, in its order, for
/// [`Cursor::field`]. Each key is kept as up to four masked 8-byte words of `key"`, so that
/// checking "is the next key the one expected" is a few word compares, not a scan.
#[derive(Debug)]
pub(crate) struct Schema {
    keys: &'static [&'static [u8]],
    pats: [[(u64, u64); 4]; 16],
}

impl Schema {
    /// Keys of at most 31 bytes, at most 16 of them.
    pub(crate) const fn new(keys: &'static [&'static [u8]]) -> Schema {
        assert!(keys.len() <= 16);
        let mut pats = [[(0u64, 0u64); 4]; 16];
        let mut k = 0;
        while k < keys.len() {
            let key = keys[k];
            assert!(key.len() < 32);
            // The pattern is the key followed by its closing quote.
            let mut i = 0;
            while i <= key.len() {
                let byte = if i < key.len() { key[i] } else { b'"' };
                let (word, shift) = (i / 8, (i % 8) * 8);
                pats[k][word].0 |= (byte as u64) << shift;
                pats[k][word].1 |= 0xffu64 << shift;
                i += 1;
            }
            k += 1;
        }
        Schema { keys, pats }
    }

    /// Whether the bytes after an opening quote at `b[at]` are key `k` and its closing quote.
    #[inline(always)]
    fn matches(&self, c: &Cursor<'_>, at: usize, k: usize) -> bool {
        // Past the last key there is nothing to expect (the unused patterns are all-zero and
        // would match anything).
        if k >= self.keys.len() {
            return false;
        }
        let pat = &self.pats[k];
        let mut ok = true;
        for (w, &(word, mask)) in pat.iter().enumerate() {
            if mask == 0 {
                break;
            }
            match c.load8(at + 1 + w * 8) {
                Some(x) => ok &= (x & mask) == word,
                None => return false,
            }
        }
        ok
    }

    /// The index of `key`: as written, else matched as Go's `encoding/json` matches a
    /// struct field's name, without regard to case.
    fn position(&self, key: &[u8]) -> Option<usize> {
        (self.keys.iter().position(|k| *k == key))
            .or_else(|| self.keys.iter().position(|k| go_fold_eq(k, key)))
    }

    fn len(&self, k: usize) -> usize {
        self.keys[k].len()
    }
}

impl Cursor<'_> {
    /// The next entry of an object, resolved against `schema`: like [`Cursor::next_key`], but
    /// returning the key's index in the schema (`None` for a key it does not list).
    ///
    /// `hint` is the index expected next (the one after the previous key); when the daemon's
    /// order holds, the key is recognised by word compares without scanning it.
    #[inline(always)]
    pub(crate) fn field(
        &self,
        p: &mut usize,
        first: &mut bool,
        schema: &Schema,
        hint: &mut usize,
    ) -> R<Option<(Option<usize>, usize)>> {
        let mut i = self.ws(*p);
        match self.at(i) {
            b'}' => {
                *p = i + 1;
                return Ok(None);
            }
            b',' if !*first => i = self.ws(i + 1),
            b'"' if *first => {}
            _ => return Err(syntax(i)),
        }
        *first = false;
        if self.at(i) != b'"' {
            return Err(syntax(i));
        }
        let (index, after) = if schema.matches(self, i, *hint) {
            // The pattern covers the key and its closing quote, which (being plain printable
            // ASCII without backslashes) is a complete, valid string.
            (Some(*hint), i + schema.len(*hint) + 2)
        } else {
            let (k, after) = self.string(i)?;
            let index = if k.escaped {
                let mut buf = [0u8; 64];
                decode_go_into(self.raw(k), &mut buf).and_then(|n| schema.position(&buf[..n]))
            } else {
                schema.position(self.raw(k))
            };
            (index, after)
        };
        if let Some(k) = index {
            *hint = k + 1;
        }
        let colon = self.ws(after);
        if self.at(colon) != b':' {
            return Err(syntax(colon));
        }
        let value = self.ws(colon + 1);
        *p = value;
        Ok(Some((index, value)))
    }
}

/// Whether `key` names the field `name` (ASCII) to Go's decoder, which compares names folded
/// (`appendFoldedName`: ASCII letters to upper case, any other rune `r` to
/// `unicode.ToUpper(unicode.ToLower(r))`). The runes that fold to an ASCII letter that way are
/// `ſ` (to `S`), `ı` and `İ` (to `I`) and the Kelvin sign `K` (to `K`).
fn go_fold_eq(name: &[u8], key: &[u8]) -> bool {
    let mut j = 0;
    for &n in name {
        let n = n.to_ascii_uppercase();
        match key.get(j) {
            Some(&b) if b < 0x80 && b.to_ascii_uppercase() == n => j += 1,
            Some(0xc5) if n == b'S' && key.get(j + 1) == Some(&0xbf) => j += 2,
            Some(0xc4) if n == b'I' && matches!(key.get(j + 1), Some(0xb0 | 0xb1)) => j += 2,
            Some(0xe2) if n == b'K' && key.get(j + 1..j + 3) == Some(&[0x84, 0xaa]) => j += 3,
            _ => return false,
        }
    }
    j == key.len()
}

const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Number of leading digits of a word of bytes minus `'0'` (a byte is a digit iff it is now
/// below 10: no borrow into bit 7 either way).
#[inline(always)]
fn digit_run(d: u64) -> usize {
    let non_digit = (d | d.wrapping_add(ONES * 0x76)) & HIGHS;
    (non_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (1..=8) digits of `d` (bytes already minus `'0'`, little endian).
#[inline(always)]
fn swar_digits(d: u64, n: usize) -> u64 {
    // Align the n digits to the top of the word (the rest become leading zeros), then combine
    // pairs, quads and octets with the usual multiply-and-shift steps.
    // The first digit is the lowest byte, so each step multiplies the lower (more
    // significant) half by the base and adds the upper half: simdjson's
    // parse_eight_digits_unrolled (2561, 6553601, 42949672960001).
    let x = d << (8 * (8 - n));
    let x = x.wrapping_mul(10).wrapping_add(x >> 8);
    let x =
        ((x & 0x00ff_00ff_00ff_00ff).wrapping_mul(1 + (100 << 16)) >> 16) & 0x0000_ffff_0000_ffff;
    x.wrapping_mul(1 + (10_000 << 32)) >> 32
}

/// The escape whose backslash is at `raw[i]`: the char it stands for and the bytes it takes
/// (a surrogate pair `\uD83D\uDE00` is one char in twelve bytes, a lone surrogate U+FFFD in
/// six, as Go decodes them).
fn decode_escape(raw: &[u8], i: usize) -> Option<(char, usize)> {
    let simple = match raw.get(i + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return decode_u_escape(raw, i),
        _ => return None,
    };
    Some((simple, 2))
}

/// `\uXXXX` (or a surrogate pair) at `raw[i]`: the char and bytes used.
fn decode_u_escape(raw: &[u8], i: usize) -> Option<(char, usize)> {
    let hex = |s: &[u8]| -> Option<u32> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
    };
    let high = hex(raw.get(i + 2..i + 6)?)?;
    if (0xd800..0xe000).contains(&high) {
        // Go's unquote: a high surrogate and a low one after it are a pair; any other
        // surrogate is U+FFFD, and what follows it is read on its own.
        let low = (raw.get(i + 6..i + 8) == Some(b"\\u"))
            .then(|| raw.get(i + 8..i + 12).and_then(hex))
            .flatten();
        if let Some(low) = low.filter(|l| high < 0xdc00 && (0xdc00..0xe000).contains(l)) {
            let c = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
            return Some((char::from_u32(c)?, 12));
        }
        return Some(('\u{fffd}', 6));
    }
    Some((char::from_u32(high)?, 6))
}

/// Appends the value of the string `raw` (the bytes between its quotes, validated by the
/// cursor) to `out`, as Go's `encoding/json` decodes it: escapes decoded, a lone surrogate
/// and each byte of invalid UTF-8 replaced by U+FFFD.
pub(crate) fn decode_go(raw: &[u8], out: &mut Vec<u8>) {
    go_pieces(raw, |piece| {
        out.extend_from_slice(piece);
        true
    });
}

/// [`decode_go`] into a fixed buffer (keys, timestamps, blkio ops): the value's length, or
/// `None` if it does not fit (no key the decoder knows is that long).
pub(crate) fn decode_go_into(raw: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut n = 0;
    let fits = go_pieces(raw, |piece| match out.get_mut(n..n + piece.len()) {
        Some(to) => {
            to.copy_from_slice(piece);
            n += piece.len();
            true
        }
        None => false,
    });
    fits.then_some(n)
}

/// The one rule for a string's value, Go's: hands the UTF-8 of the value of `raw` to `emit`
/// piece by piece, until it returns false (then false).
fn go_pieces(raw: &[u8], mut emit: impl FnMut(&[u8]) -> bool) -> bool {
    let mut utf8 = [0u8; 4];
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let ok = if b == b'\\' {
            let (c, used) = decode_escape(raw, i).unwrap_or(('\u{fffd}', 2));
            i += used;
            emit(c.encode_utf8(&mut utf8).as_bytes())
        } else if b < 0x80 {
            // A run of ASCII at once.
            let run = raw[i..]
                .iter()
                .position(|&c| c == b'\\' || c >= 0x80)
                .unwrap_or(raw.len() - i);
            i += run;
            emit(&raw[i - run..i])
        } else {
            // utf8.DecodeRune: a valid sequence, or one byte as RuneError.
            let len = match b {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => 0,
            };
            match raw
                .get(i..i + len)
                .filter(|s| len > 0 && std::str::from_utf8(s).is_ok())
            {
                Some(s) => {
                    i += len;
                    emit(s)
                }
                None => {
                    i += 1;
                    emit("\u{fffd}".as_bytes())
                }
            }
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cursor<'_> {
        Cursor { b: s.as_bytes() }
    }

    #[test]
    fn numbers() {
        for (text, expect) in [
            ("0,", Num::U64(0)),
            ("7}", Num::U64(7)),
            ("12345678,", Num::U64(12_345_678)),
            ("123456789,", Num::U64(123_456_789)),
            ("1234567812345678,", Num::U64(1_234_567_812_345_678)),
            ("18446744073709551615,", Num::U64(u64::MAX)),
            ("18446744073709551616,", Num::Other),
            ("99999999999999999999999,", Num::Other),
            ("-1,", Num::Other),
            ("1.5,", Num::Other),
            ("1e3,", Num::Other),
            ("0.0,", Num::Other),
            ("-0,", Num::Other),
        ] {
            let (n, next) = c(text).number(0).unwrap();
            assert_eq!(n, expect, "{text}");
            assert_eq!(next, text.len() - 1, "{text}");
        }
        // At the very end of the input (no eight-byte window).
        assert_eq!(c("42").number(0).unwrap(), (Num::U64(42), 2));
        for bad in ["01,", "-,", "1.,", "1e,", ".5,", "-01,", "1.e5,"] {
            assert!(c(bad).number(0).is_err(), "{bad}");
        }
    }

    #[test]
    fn strings() {
        let s = r#""hello world, long enough","#;
        let (st, next) = c(s).string(0).unwrap();
        assert_eq!(&s[st.start..st.end], "hello world, long enough");
        assert!(!st.escaped);
        assert_eq!(next, s.len() - 1);
        let s = r#""a\"b\\c\u00e9\ud83d\ude00","#;
        let (st, _) = c(s).string(0).unwrap();
        assert!(st.escaped);
        let mut buf = [0u8; 32];
        let n = decode_go_into(&s.as_bytes()[st.start..st.end], &mut buf).unwrap();
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "a\"b\\cé😀");
        assert_eq!(
            decode_go_into(&s.as_bytes()[st.start..st.end], &mut [0u8; 8]),
            None
        );
        let mut go = Vec::new();
        decode_go(&s.as_bytes()[st.start..st.end], &mut go);
        assert_eq!(std::str::from_utf8(&go).unwrap(), "a\"b\\cé😀");
        assert!(c("\"é\"").string(0).is_ok());
        for bad in ["\"abc", "\"a\u{1}b\"", r#""\q""#, r#""\u12""#, "\"\\"] {
            assert!(c(bad).string(0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn strings_decode_as_go_decodes_them() {
        // Invalid UTF-8 is no error, but the raw bytes are not the value.
        let (st, _) = Cursor {
            b: b"\"a\xff\xfe\"",
        }
        .string(0)
        .unwrap();
        assert!(st.escaped);
        let go = |raw: &[u8]| {
            let mut out = Vec::new();
            decode_go(raw, &mut out);
            String::from_utf8(out).unwrap()
        };
        // Each bad byte is one U+FFFD (utf8.DecodeRune), a truncated sequence too.
        assert_eq!(go(b"a\xff\xfeb"), "a\u{fffd}\u{fffd}b");
        assert_eq!(go(b"\xe2\x82x"), "\u{fffd}\u{fffd}x");
        assert_eq!(
            go(b"\xed\xa0\x80"),
            "\u{fffd}\u{fffd}\u{fffd}",
            "UTF-8 of a surrogate"
        );
        assert_eq!(go("é€😀".as_bytes()), "é€😀");
        // Lone surrogates are U+FFFD, and what follows is read on its own.
        assert_eq!(go(br"\ud83d"), "\u{fffd}");
        assert_eq!(go(br"\ude00x"), "\u{fffd}x");
        assert_eq!(go(br"\ud83d\u0041"), "\u{fffd}A");
        assert_eq!(go(br"\ud83d\ud83d\ude00"), "\u{fffd}😀");
        let mut buf = [0u8; 8];
        assert_eq!(decode_go_into(br"\ud83d", &mut buf), Some(3));
        // The same rule into a fixed buffer: invalid UTF-8 is U+FFFD there too.
        let n = decode_go_into(b"a\xffb", &mut buf).unwrap();
        assert_eq!(&buf[..n], "a\u{fffd}b".as_bytes());
    }

    #[test]
    fn keys_match_fields_as_go_does() {
        assert!(go_fold_eq(b"cpu_stats", b"CPU_Stats"));
        assert!(go_fold_eq(b"pids_stats", "pıds_ſtats".as_bytes()));
        assert!(!go_fold_eq(b"pids_stats", b"pids_stat"));
        assert!(!go_fold_eq(b"pids_stats", b"pids_statss"));
        // ToUpper(ToLower(r)): the Kelvin sign is K, İ is I; other non-ASCII letters are not.
        assert!(go_fold_eq(b"blkio_stats", "bl\u{212a}io_stats".as_bytes()));
        assert!(go_fold_eq(b"pids_stats", "p\u{130}ds_stats".as_bytes()));
        assert!(!go_fold_eq(b"pids_stats", "p\u{ef}ds_stats".as_bytes()));
        assert!(!go_fold_eq(b"k", "\u{212a}\u{212a}".as_bytes()));
    }

    #[test]
    fn validation_of_skipped_containers() {
        for good in [
            "{}",
            "[]",
            r#"{"a":1,"b":[true,false,null,-1.5e3,"x",{}],"c":{"d":[]}}"#,
            "[ 1 , [ ] , { \"k\" : \"v\" } ]",
        ] {
            let cur = c(good);
            assert_eq!(cur.skip_container(0), Ok(good.len()), "{good}");
            let mut quotes = Vec::new();
            assert_eq!(
                cur.scan_container(0, &mut quotes).map(|k| k.end),
                Ok(good.len())
            );
            assert_eq!(cur.simd_skip(0), Ok(good.len()));
        }
        for bad in [
            r#"{"a"1}"#,
            r#"{"a":1"b":2}"#,
            r#"{"a":1,}"#,
            r#"[1,]"#,
            r#"[1 2]"#,
            r#"{"a":}"#,
            r#"{"a":01}"#,
            r#"{"a":tru}"#,
            r#"{"a":1]"#,
            r#"[{"a":1]}"#,
            r#"{1:2}"#,
            r#"{"a":"b":"c"}"#,
            r#"{,}"#,
            r#"{"a":+1}"#,
        ] {
            let cur = c(bad);
            assert!(cur.skip_container(0).is_err(), "{bad}");
            let mut quotes = Vec::new();
            assert!(cur.scan_container(0, &mut quotes).is_err(), "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(c(&deep).skip_container(0), Ok(deep.len()));
        let deeper = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            c(&deeper).skip_container(0).unwrap_err().kind,
            DecodeError::TooDeep
        );
    }

    #[test]
    fn swar_digits_match_parse() {
        for n in 1..=8 {
            for v in [0u64, 1, 9, 10, 99, 12345678, 87654321, 10000000, 99999999] {
                let s = format!("{:0width$}", v % POW10[n], width = n);
                let mut w = [b'x'; 8];
                w[..n].copy_from_slice(s.as_bytes());
                let d = u64::from_le_bytes(w).wrapping_sub(ONES * u64::from(b'0'));
                assert_eq!(swar_digits(d, n), v % POW10[n], "{s}");
            }
        }
    }
}
