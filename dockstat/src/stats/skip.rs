//! Skipping a JSON container (`{…}` or `[…]`) without parsing it: the stage-1 idea of simdjson,
//! run only over the parts of a frame the decoder does not need.
//!
//! A stats frame is mostly values nobody reads (the 30-odd cgroup memory counters, seven blkio
//! lists, throttling data). Visiting them token by token costs more than everything else the
//! decoder does, so [`skip_container`] finds the matching close bracket 64 bytes at a time:
//! classify the bytes (quote, backslash, brackets, control, non-ASCII) with SIMD compares, mark
//! escaped characters (simdjson's odd-backslash-run trick), mark string interiors with a
//! prefix XOR over the unescaped quotes, and count the brackets outside strings.
//!
//! The skipped bytes are validated as far as skipping needs and a little more: strings must end,
//! hold no control bytes and only valid escapes; bytes outside strings must be ASCII (control
//! bytes only as whitespace). Non-ASCII bytes inside strings need no check (invalid UTF-8 is
//! U+FFFD to Go's decoder, not an error). The grammar between the strings (colons, commas,
//! scalars) is checked by the caller, which jumps over the strings with the quote positions
//! recorded here (`Cursor::validate` in `cursor.rs`).
//!
//! This file is the only one with `unsafe` in the decoder: the AVX2 loads and the call into the
//! `#[target_feature]` function after runtime detection. [`skip_portable`] is the same
//! algorithm one byte at a time, used where AVX2 is missing and as the oracle in tests.

/// Why a skipped container is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SkipError {
    /// The input ended before the container closed (or inside a string).
    Unterminated,
    /// A control byte inside a string, or one that is not whitespace outside strings.
    Control(usize),
    /// A byte >= 0x80 outside a string.
    NonAscii(usize),
    /// A backslash escape other than `\" \\ \/ \b \f \n \r \t \uXXXX`.
    Escape(usize),
    /// A close bracket of the other kind (`[}` or `{]`).
    Mismatch(usize),
}

/// A skipped container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// The index just past the matching close bracket.
    pub(crate) end: usize,
    /// It holds another container.
    pub(crate) nested: bool,
    /// Some string in it holds a backslash escape.
    pub(crate) escapes: bool,
}

/// Skips the container that opens at `b[open]` (`{` or `[`). (The decoder validates the
/// containers it skips, which [`scan_container`] serves; this is the scan alone.)
#[cfg(test)]
pub(crate) fn skip_container(b: &[u8], open: usize) -> Result<Skipped, SkipError> {
    let mut none = Vec::new();
    dispatch::<false>(b, open, &mut none)
}

/// Like [`skip_container`], and appends the position of every quote that opens or closes a
/// string in it to `quotes`: in a flat object without escapes, quote pairs are then its keys
/// and string values, without reading them byte by byte.
pub(crate) fn scan_container(
    b: &[u8],
    open: usize,
    quotes: &mut Vec<u32>,
) -> Result<Skipped, SkipError> {
    dispatch::<true>(b, open, quotes)
}

/// The ways to scan; [`Scan::best`] picks the fastest the CPU has. (An AVX-512 version
/// classifies a block in fewer instructions but measured no faster, end to end, than AVX2 on
/// the development machine, so it is not kept.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Scan {
    pub(crate) fn best() -> Scan {
        #[cfg(target_arch = "x86_64")]
        {
            // std caches the CPUID answer: this is a load from a static.
            if std::arch::is_x86_feature_detected!("avx2") {
                return Scan::Avx2;
            }
        }
        Scan::Portable
    }

    /// Every implementation this CPU can run (for tests).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Scan> {
        let mut all = vec![Scan::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                all.push(Scan::Avx2);
            }
        }
        all
    }

    pub(crate) fn run<const QUOTES: bool>(
        self,
        b: &[u8],
        open: usize,
        quotes: &mut Vec<u32>,
    ) -> Result<Skipped, SkipError> {
        match self {
            // SAFETY: `best()` and `available()` only return Avx2 when the CPU reports AVX2,
            // the only precondition of the function.
            #[cfg(target_arch = "x86_64")]
            #[allow(unsafe_code)]
            Scan::Avx2 => unsafe { avx2::skip::<QUOTES>(b, open, quotes) },
            Scan::Portable => skip_portable::<QUOTES>(b, open, quotes),
        }
    }
}

fn dispatch<const QUOTES: bool>(
    b: &[u8],
    open: usize,
    quotes: &mut Vec<u32>,
) -> Result<Skipped, SkipError> {
    Scan::best().run::<QUOTES>(b, open, quotes)
}

/// The same as [`scan_container`], one byte at a time.
pub(crate) fn skip_portable<const QUOTES: bool>(
    b: &[u8],
    open: usize,
    quotes: &mut Vec<u32>,
) -> Result<Skipped, SkipError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut nested = false;
    let mut escapes = false;
    let mut i = open;
    while i < b.len() {
        let c = b[i];
        if in_string {
            match c {
                b'"' => {
                    in_string = false;
                    if QUOTES {
                        quotes.push(i as u32);
                    }
                }
                b'\\' => {
                    escapes = true;
                    i = check_escape(b, i)?;
                    continue;
                }
                0..=0x1f => return Err(SkipError::Control(i)),
                _ => {}
            }
        } else {
            match c {
                b'"' => {
                    in_string = true;
                    if QUOTES {
                        quotes.push(i as u32);
                    }
                }
                b'{' | b'[' => {
                    nested |= depth > 0;
                    depth += 1;
                }
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        // Only the outermost pair is checked for kind: skipping needs the
                        // count of brackets, not their pairing (as in the AVX2 path).
                        if (b[open] == b'{') != (c == b'}') {
                            return Err(SkipError::Mismatch(i));
                        }
                        return Ok(Skipped {
                            end: i + 1,
                            nested,
                            escapes,
                        });
                    }
                }
                b' ' | b'\t' | b'\n' | b'\r' => {}
                0..=0x1f => return Err(SkipError::Control(i)),
                0x80.. => return Err(SkipError::NonAscii(i)),
                // An escape outside a string is not JSON.
                b'\\' => return Err(SkipError::Escape(i)),
                _ => {}
            }
        }
        i += 1;
    }
    Err(SkipError::Unterminated)
}

/// Checks the escape whose backslash is at `b[i]`; returns the index after it.
fn check_escape(b: &[u8], i: usize) -> Result<usize, SkipError> {
    match b.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') => match b.get(i + 2..i + 6) {
            Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => Ok(i + 6),
            Some(_) => Err(SkipError::Escape(i)),
            None => Err(SkipError::Unterminated),
        },
        Some(_) => Err(SkipError::Escape(i)),
        None => Err(SkipError::Unterminated),
    }
}

/// Bit i set: byte i is inside a string (opening quote included, closing quote excluded),
/// given the unescaped quotes of a block.
#[inline(always)]
fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// Characters escaped by a backslash in this block, given the block's backslashes and whether
/// the block's first byte is escaped (updated for the next block). simdjson's
/// `find_escaped_branchless`: a run of backslashes escapes the byte after it when its length
/// is odd; runs are told apart by whether they start on an odd or an even bit.
#[inline(always)]
fn find_escaped(backslash: u64, prev_escaped: &mut u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let backslash = backslash & !*prev_escaped;
    let follows_escape = (backslash << 1) | *prev_escaped;
    let odd_starts = backslash & !EVEN & !follows_escape;
    let (even_runs, overflow) = odd_starts.overflowing_add(backslash);
    *prev_escaped = u64::from(overflow);
    let invert = even_runs << 1;
    (EVEN ^ invert) & follows_escape
}

/// What one 64-byte block holds, as bit masks (bit i = byte i of the block).
#[derive(Clone, Copy, Default)]
struct Block {
    quote: u64,
    backslash: u64,
    open: u64,
    close: u64,
    /// Bytes < 0x20 or >= 0x80: rare in stats frames, so told apart only when present.
    unusual: u64,
}

/// State carried from block to block.
struct Carry {
    in_string: u64,
    escaped: u64,
    depth: usize,
    opens: usize,
    escapes: bool,
}

/// Processes one block starting at `base` (bytes past the input are spaces): returns the
/// container's end if it closes in this block.
#[inline(always)]
fn step<const QUOTES: bool>(
    b: &[u8],
    open: usize,
    base: usize,
    m: Block,
    carry: &mut Carry,
    out: &mut Vec<u32>,
) -> Result<Option<usize>, SkipError> {
    let escaped = if m.backslash | carry.escaped == 0 {
        0
    } else {
        find_escaped(m.backslash, &mut carry.escaped)
    };
    let quotes = m.quote & !escaped;
    let inside = prefix_xor(quotes) ^ carry.in_string;
    carry.in_string = ((inside as i64) >> 63) as u64;
    let mut opens = m.open & !inside;
    let mut closes = m.close & !inside;
    let all_opens = opens;

    // Where this block's part of the container ends: the whole block, or the matching close.
    let mut limit = u64::MAX;
    let mut end = None;
    // The container can only close in this block if it has at least as many closes as the
    // depth it starts at; otherwise just count.
    if closes != 0 && closes.count_ones() as usize >= carry.depth {
        // The close may be here: walk the brackets in order.
        let mut depth = carry.depth;
        while opens | closes != 0 {
            let o = opens.trailing_zeros();
            let c = closes.trailing_zeros();
            if o < c {
                depth += 1;
                opens &= opens - 1;
            } else {
                depth -= 1;
                closes &= closes - 1;
                if depth == 0 {
                    end = Some(base + c as usize + 1);
                    limit = if c == 63 { u64::MAX } else { (2u64 << c) - 1 };
                    break;
                }
            }
        }
        carry.depth = depth;
    } else {
        carry.depth = carry.depth + opens.count_ones() as usize - closes.count_ones() as usize;
    }

    carry.opens += (all_opens & limit).count_ones() as usize;
    carry.escapes |= escaped & limit != 0;
    if QUOTES {
        // Room for the block's quotes at once, then pushes that never grow the vector (an
        // append from a local array was a `memcpy` call per block).
        let mut q = quotes & limit;
        if q != 0 {
            out.reserve(q.count_ones() as usize);
            while q != 0 {
                out.push((base + q.trailing_zeros() as usize) as u32);
                q &= q - 1;
            }
        }
    }

    // Validate the bytes of this block that belong to the container.
    let stray = m.backslash & !inside & limit;
    if stray != 0 {
        // An escape outside a string is not JSON.
        return Err(SkipError::Escape(base + stray.trailing_zeros() as usize));
    }
    if m.unusual & limit != 0 {
        check_unusual(b, base, m.unusual & limit, inside)?;
    }
    if escaped & limit != 0 {
        check_escapes(b, base, escaped & limit)?;
    }
    if let Some(end) = end {
        if (b[open] == b'{') != (b[end - 1] == b'}') {
            return Err(SkipError::Mismatch(end - 1));
        }
    }
    Ok(end)
}

/// Control bytes are errors inside strings and allowed outside only as whitespace; bytes
/// >= 0x80 are allowed only inside strings (any bytes: invalid UTF-8 is U+FFFD to Go).
#[cold]
fn check_unusual(b: &[u8], base: usize, mut bits: u64, inside: u64) -> Result<(), SkipError> {
    while bits != 0 {
        let bit = bits.trailing_zeros();
        let i = base + bit as usize;
        let in_string = inside >> bit & 1 == 1;
        match b.get(i).copied().unwrap_or(b' ') {
            0x80.. if in_string => {}
            0x80.. => return Err(SkipError::NonAscii(i)),
            b'\t' | b'\n' | b'\r' if !in_string => {}
            _ => return Err(SkipError::Control(i)),
        }
        bits &= bits - 1;
    }
    Ok(())
}

#[cold]
fn check_escapes(b: &[u8], base: usize, mut escaped: u64) -> Result<(), SkipError> {
    while escaped != 0 {
        let i = base + escaped.trailing_zeros() as usize;
        // `i` is the escaped character; its backslash is just before it.
        check_escape(b, i - 1)?;
        escaped &= escaped - 1;
    }
    Ok(())
}

/// The scalar classification of a block, for the portable lane of the AVX2 path (the tail).
fn classify_scalar(bytes: &[u8; 64]) -> Block {
    let mut m = Block::default();
    for (i, &c) in bytes.iter().enumerate() {
        let bit = 1u64 << i;
        match c {
            b'"' => m.quote |= bit,
            b'\\' => m.backslash |= bit,
            b'{' | b'[' => m.open |= bit,
            b'}' | b']' => m.close |= bit,
            0..=0x1f | 0x80.. => m.unusual |= bit,
            _ => {}
        }
    }
    m
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use core::arch::x86_64::*;

    use super::{Block, Carry, SkipError, Skipped, classify_scalar, step};

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn skip<const QUOTES: bool>(
        b: &[u8],
        open: usize,
        out: &mut Vec<u32>,
    ) -> Result<Skipped, SkipError> {
        let mut carry = Carry {
            in_string: 0,
            escaped: 0,
            depth: 0,
            opens: 0,
            escapes: false,
        };
        let done = |end: usize, carry: &Carry| Skipped {
            end,
            // The container's own opening bracket is one of the opens.
            nested: carry.opens > 1,
            escapes: carry.escapes,
        };
        let mut base = open;
        while base + 64 <= b.len() {
            // SAFETY: `base + 64 <= b.len()`, so both 32-byte loads read inside `b`.
            let m = unsafe { classify(b.as_ptr().add(base)) };
            if let Some(end) = step::<QUOTES>(b, open, base, m, &mut carry, out)? {
                return Ok(done(end, &carry));
            }
            base += 64;
        }
        if base < b.len() {
            let mut tail = [b' '; 64];
            tail[..b.len() - base].copy_from_slice(&b[base..]);
            let m = classify_scalar(&tail);
            if let Some(end) = step::<QUOTES>(b, open, base, m, &mut carry, out)? {
                return Ok(done(end, &carry));
            }
        }
        Err(SkipError::Unterminated)
    }

    /// Classifies the 64 bytes at `p`.
    ///
    /// # Safety
    /// `p` must be valid for reading 64 bytes, and the CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn classify(p: *const u8) -> Block {
        // SAFETY: the caller guarantees 64 readable bytes at `p`.
        let (lo, hi) = unsafe {
            (
                half(_mm256_loadu_si256(p.cast())),
                half(_mm256_loadu_si256(p.add(32).cast())),
            )
        };
        let join = |a: u32, b: u32| u64::from(a) | (u64::from(b) << 32);
        Block {
            quote: join(lo.0, hi.0),
            backslash: join(lo.1, hi.1),
            open: join(lo.2, hi.2),
            close: join(lo.3, hi.3),
            unusual: join(lo.4, hi.4),
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    fn eq(x: __m256i, c: u8) -> u32 {
        _mm256_movemask_epi8(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(c as i8))) as u32
    }

    // No closures here: a closure does not inherit `target_feature`, and its intrinsics would
    // become calls.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn half(v: __m256i) -> (u32, u32, u32, u32, u32) {
        // '{' 0x7B and '[' 0x5B, '}' 0x7D and ']' 0x5D differ only in bit 5.
        let folded = _mm256_or_si256(v, _mm256_set1_epi8(0x20));
        let limit = _mm256_set1_epi8(0x1f);
        let control = _mm256_cmpeq_epi8(_mm256_max_epu8(v, limit), limit);
        // Control bytes, and bytes >= 0x80 (their sign bit), in one mask.
        let unusual = _mm256_or_si256(control, v);
        (
            eq(v, b'"'),
            eq(v, b'\\'),
            eq(folded, 0x7b),
            eq(folded, 0x7d),
            _mm256_movemask_epi8(unusual) as u32,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs every implementation the CPU has against the byte loop: success, the end, the
    /// quote positions and the flags must agree (errors may be reported at different bytes,
    /// since the SIMD paths validate a block at a time).
    fn both(input: &[u8], open: usize) -> Result<Skipped, SkipError> {
        let mut slow_quotes = Vec::new();
        let slow = skip_portable::<true>(input, open, &mut slow_quotes);
        for scan in Scan::available() {
            let mut quotes = Vec::new();
            let fast = scan.run::<true>(input, open, &mut quotes);
            match (&fast, &slow) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "{scan:?} on {:?}", String::from_utf8_lossy(input));
                    assert_eq!(
                        quotes,
                        slow_quotes,
                        "{scan:?} on {:?}",
                        String::from_utf8_lossy(input)
                    );
                }
                (Err(_), Err(_)) => {}
                _ => panic!(
                    "{scan:?} disagrees on {:?}: {fast:?} vs {slow:?}",
                    String::from_utf8_lossy(input)
                ),
            }
        }
        slow
    }

    #[test]
    fn ends_and_errors() {
        let end = |s: &str| both(s.as_bytes(), 0).map(|k| k.end);
        assert_eq!(end("{}"), Ok(2));
        assert_eq!(end("[] tail"), Ok(2));
        assert_eq!(end(r#"{"a":[1,{"b":"}]"}],"c":"\"{"}x"#), Ok(30));
        assert_eq!(end(r#"["\\",{"x":"\\\"]"}]"#), Ok(20));
        assert_eq!(end(r#"{"k":"\u00e9 \/"}"#), Ok(17));
        assert_eq!(end("{\n\t\"a\" : 1 }"), Ok(12));
        assert_eq!(end("{"), Err(SkipError::Unterminated));
        assert_eq!(end(r#"{"a":"}"#), Err(SkipError::Unterminated));
        assert!(matches!(end("{\"a\u{1}\":1}"), Err(SkipError::Control(_))));
        assert!(matches!(end("{\"a\":1\u{1}}"), Err(SkipError::Control(_))));
        assert!(matches!(end(r#"{"a\q":1}"#), Err(SkipError::Escape(_))));
        assert!(matches!(end(r#"{"a\u12g4":1}"#), Err(SkipError::Escape(_))));
        assert!(matches!(end("[1}"), Err(SkipError::Mismatch(_))));
        assert_eq!(both("{\"é\":1}".as_bytes(), 0).map(|k| k.end), Ok(8));
        assert!(matches!(
            both(b"{\"a\":1\xff}", 0),
            Err(SkipError::NonAscii(_))
        ));
    }

    #[test]
    fn long_inputs_cross_blocks() {
        // Strings, escapes and brackets straddling 64-byte block boundaries at every offset.
        for pad in 0..140 {
            let mut s = String::from("[");
            s.push_str(&"1,".repeat(pad));
            s.push_str(r#"{"k\\\"":"a]}\"[{","n":[[[]]],"e":"\\"},"#);
            s.push_str(&"\"x\",".repeat(pad % 7));
            s.push_str("0] after");
            let expect = s.len() - " after".len();
            assert_eq!(
                both(s.as_bytes(), 0).map(|k| k.end),
                Ok(expect),
                "pad {pad}"
            );
            let deep = format!("{}{}", "[".repeat(pad + 1), "]".repeat(pad + 1));
            assert_eq!(both(deep.as_bytes(), 0).map(|k| k.end), Ok(deep.len()));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        /// The AVX2 scan and the byte loop agree on any mix of the characters that matter,
        /// across block boundaries.
        #[test]
        fn simd_agrees_with_the_byte_loop(parts in proptest::collection::vec(0usize..14, 0..300), square: bool) {
            const ALPHABET: [&str; 14] =
                ["{", "}", "[", "]", "\"", "\\", "a", ",", ":", " ", "\u{1}", "é", "0", "\\u00e9"];
            let mut text = String::from(if square { "[" } else { "{" });
            for p in parts {
                text.push_str(ALPHABET[p]);
            }
            // `both` asserts that every implementation agrees with the byte loop.
            let _ = both(text.as_bytes(), 0);
        }
    }

    #[test]
    fn deep_nesting_is_iterative() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            skip_container(deep.as_bytes(), 0).map(|k| k.end),
            Ok(200_000)
        );
    }
}
