//! Helpers shared by the codec, fixture and property tests: the three feeding modes (whole,
//! split, byte by byte), drivers that run a [`Connection`] or a [`Dechunker`] over pieces and
//! record what came out, and naive reference decoders written independently of the crate.

#![allow(dead_code)]

use dockstat::chunked::{Chunk, ChunkedError, Dechunker};
use dockstat::conn::{Connection, ResponseEvent};
use dockstat::http::{HeadError, ResponseHead};
use dockstat::{ErrorKind, ProtocolError};

const MAX_HEAD_LEN: usize = ResponseHead::MAX_LEN;
const MAX_SIZE_LINE_LEN: usize = Dechunker::MAX_SIZE_LINE_LEN;
const MAX_TRAILERS_LEN: usize = Dechunker::MAX_TRAILERS_LEN;

/// Whether a response with status `code` is interim, skipped by a [`Connection`] while it
/// waits for the final one: 1xx, except 101, which ends HTTP/1.1 on the connection.
pub fn is_interim(code: u16) -> bool {
    (100..200).contains(&code) && code != 101
}

// ---------------------------------------------------------------------------------------------
// Feeding modes

/// One way of cutting an input into pieces, with a name for assertion messages.
#[derive(Clone, Debug)]
pub struct Mode {
    pub name: String,
    /// Offsets at which the input is cut (strictly increasing, inside `1..len`).
    pub cuts: Vec<usize>,
}

impl Mode {
    /// Cuts `input` into the pieces this mode feeds.
    pub fn pieces<'a>(&self, input: &'a [u8]) -> Vec<&'a [u8]> {
        let mut out = Vec::with_capacity(self.cuts.len() + 1);
        let mut start = 0;
        for &c in &self.cuts {
            out.push(&input[start..c]);
            start = c;
        }
        out.push(&input[start..]);
        out
    }
}

/// The offsets to split an input of `len` bytes at: every byte for small inputs; for large ones
/// the first and last 64, those around the crate's limits, and 256 spread over the rest (every
/// byte of a 1 MiB input would take minutes in a debug build).
pub fn split_points(len: usize) -> Vec<usize> {
    if len <= 4096 {
        return (1..len).collect();
    }
    let mut v: Vec<usize> = (1..64).chain(len - 64..len).collect();
    v.extend((1..256).map(|k| k * len / 256));
    for limit in [MAX_HEAD_LEN, MAX_SIZE_LINE_LEN, MAX_TRAILERS_LEN] {
        v.extend(limit.saturating_sub(8)..limit + 8);
    }
    v.retain(|&p| p > 0 && p < len);
    v.sort_unstable();
    v.dedup();
    v
}

/// Whole, split in two at each of [`split_points`], and one byte at a time.
pub fn modes(len: usize) -> Vec<Mode> {
    let mut v = vec![Mode {
        name: "whole".into(),
        cuts: vec![],
    }];
    for k in split_points(len) {
        v.push(Mode {
            name: format!("split at {k}"),
            cuts: vec![k],
        });
    }
    v.push(Mode {
        name: "byte by byte".into(),
        cuts: (1..len).collect(),
    });
    v
}

// ---------------------------------------------------------------------------------------------
// Heads

/// A response head copied out of the buffer it borrowed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedHead {
    pub minor: u8,
    pub code: u16,
    pub reason: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub len: usize,
}

impl OwnedHead {
    pub fn of(h: &ResponseHead<'_>) -> OwnedHead {
        let headers: Vec<_> = h
            .headers()
            .map(|f| (f.name.to_vec(), f.value.to_vec()))
            .collect();
        assert_eq!(headers.len(), h.header_count(), "header_count vs headers()");
        // `len` also counts the empty lines skipped before the status line.
        let skipped = h.len() - h.raw().len();
        assert!(skipped % 2 == 0 && skipped <= 2 * ResponseHead::MAX_EMPTY_LINES);
        OwnedHead {
            minor: h.minor_version,
            code: h.code,
            reason: h.reason.to_vec(),
            headers,
            len: h.len(),
        }
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &v[..])
    }
}

/// The head error inside a connection error, which must carry the offset `offset`.
pub fn head_error(e: &dockstat::Error) -> HeadError {
    match e.kind() {
        ErrorKind::Protocol(ProtocolError::Head(h)) => h,
        k => panic!("expected a head error, got {k:?} ({e})"),
    }
}

// ---------------------------------------------------------------------------------------------
// Connection driver

/// What a [`Connection`] reported while being fed a sequence of pieces.
#[derive(Debug, Default)]
pub struct Transcript {
    /// The final head, and the number of input bytes consumed when it was reported.
    pub head: Option<(OwnedHead, usize)>,
    /// The decoded body, concatenated.
    pub body: Vec<u8>,
    /// Input bytes consumed when `ResponseEvent::End` was reported.
    pub end: Option<usize>,
    /// The error, and the number of input bytes fed (the whole piece that produced it included).
    pub error: Option<(ErrorKind, Option<u64>, usize)>,
    /// Input bytes consumed in total.
    pub consumed: usize,
    /// Number of `ResponseEvent::Body` events.
    pub body_events: usize,
    /// The bytes handed out as `ResponseEvent::Excess`, concatenated (only [`drive_through`]
    /// reads on after the end).
    pub excess: Vec<u8>,
    /// Input bytes consumed before the first `ResponseEvent::Excess`.
    pub excess_at: Option<usize>,
}

/// Feeds `pieces` to `conn`, stopping at `ResponseEvent::End` or an error.
pub fn drive(conn: &mut Connection, pieces: &[&[u8]]) -> Transcript {
    feed(conn, pieces, true)
}

/// Feeds all of `pieces` to `conn`, reading on after `ResponseEvent::End` (what follows is
/// `ResponseEvent::Excess`), stopping only at an error.
pub fn drive_through(conn: &mut Connection, pieces: &[&[u8]]) -> Transcript {
    feed(conn, pieces, false)
}

fn feed(conn: &mut Connection, pieces: &[&[u8]], stop_at_end: bool) -> Transcript {
    let mut t = Transcript::default();
    let mut fed = 0;
    for piece in pieces {
        fed += piece.len();
        let mut rest: &[u8] = piece;
        loop {
            match conn.handle_input(rest) {
                Err(e) => {
                    t.error = Some((e.kind(), e.offset(), fed));
                    return t;
                }
                Ok((ev, used)) => {
                    assert!(used <= rest.len(), "consumed more than given");
                    t.consumed += used;
                    match ev {
                        ResponseEvent::Head(h) => {
                            assert!(t.head.is_none(), "two heads");
                            t.head = Some((OwnedHead::of(&h), t.consumed));
                        }
                        ResponseEvent::Body(b) => {
                            assert!(!b.is_empty(), "empty ResponseEvent::Body");
                            assert!(b.len() <= used, "Body event longer than its input");
                            t.body.extend_from_slice(b);
                            t.body_events += 1;
                        }
                        ResponseEvent::End => {
                            assert!(t.end.is_none(), "two ends");
                            t.end = Some(t.consumed);
                            if stop_at_end {
                                return t;
                            }
                        }
                        ResponseEvent::Excess(b) => {
                            assert!(t.end.is_some(), "Excess before the end");
                            assert_eq!(b, rest, "Excess is all of the input");
                            t.excess_at.get_or_insert(t.consumed - used);
                            t.excess.extend_from_slice(b);
                        }
                        ResponseEvent::NeedMore => {
                            assert_eq!(used, rest.len(), "NeedMore left input unconsumed");
                            break;
                        }
                    }
                    rest = &rest[used..];
                }
            }
        }
    }
    t
}

/// A connection that has sent `GET /x` and waits for the response.
pub fn requested() -> Connection {
    let mut c = Connection::new();
    c.send_get("/x", "docker")
        .expect("send_get on a new connection");
    assert!(c.is_busy());
    c
}

// ---------------------------------------------------------------------------------------------
// Dechunker driver

/// How feeding a chunked body stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dechunked {
    /// `Chunk::End` after this many bytes in total.
    End(usize),
    /// All input consumed, the body is not complete.
    NeedMore,
    /// An error at this absolute offset (consumed counts plus the error's count).
    Err(ChunkedError, usize),
}

/// Feeds `pieces` to a fresh decoder, returning the concatenated data and how it stopped.
pub fn dechunk(pieces: &[&[u8]]) -> (Vec<u8>, Dechunked) {
    let mut d = Dechunker::new();
    let mut data = Vec::new();
    let mut consumed = 0;
    for piece in pieces {
        let mut rest: &[u8] = piece;
        loop {
            let (r, used) = d.decode(rest);
            match r {
                Err(e) => return (data, Dechunked::Err(e, consumed + used)),
                Ok(Chunk::Data(b)) => {
                    assert!(!b.is_empty(), "empty Chunk::Data");
                    assert_eq!(
                        b,
                        &rest[used - b.len()..used],
                        "data is a slice of the input"
                    );
                    data.extend_from_slice(b);
                }
                Ok(Chunk::End) => {
                    assert!(d.is_done());
                    return (data, Dechunked::End(consumed + used));
                }
                Ok(Chunk::NeedMore) => {
                    assert_eq!(used, rest.len(), "NeedMore left input unconsumed");
                    assert!(!d.is_done());
                    consumed += used;
                    break;
                }
            }
            consumed += used;
            rest = &rest[used..];
        }
    }
    (data, Dechunked::NeedMore)
}

// ---------------------------------------------------------------------------------------------
// Naive reference decoders

/// What the naive chunked decoder concluded about a whole input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Naive {
    /// A complete body of `len` bytes with this payload.
    Accept(Vec<u8>, usize),
    /// Something in the input is invalid.
    Reject,
    /// Valid so far, not complete.
    Incomplete,
}

/// A reference chunked decoder that looks at the whole input at once, written from RFC 9112
/// §7.1 plus the rules dockstat applies on purpose (each is stricter than or a deliberate
/// tolerance beyond the RFC, and is encoded here so that the two can be compared):
///
/// - lines end in CRLF only; a bare CR or LF anywhere outside chunk data rejects;
/// - a size line is `1*HEXDIG [ *(SP / HTAB) ";" *(SP / HTAB) tchar ext ]`: whitespace after
///   the size only before a `;` (BWS), a `;` only before a name; the rest of the extension is
///   not parsed, only checked for control bytes (HTAB allowed);
/// - the size must fit in 64 bits (any number of leading zeros is fine);
/// - a size line holds at most `MAX_SIZE_LINE_LEN` bytes, CRLF excluded;
/// - trailer lines are not parsed, only checked for control bytes (HTAB allowed), and the
///   trailer section (CRLFs included, final CRLF excluded) holds at most `MAX_TRAILERS_LEN` bytes.
///
/// Truncated input is `Incomplete` as long as what is there is a valid prefix.
pub fn naive_dechunk(b: &[u8]) -> Naive {
    let mut p = 0;
    let mut payload = Vec::new();
    // Chunks.
    loop {
        let line_end = b[p..].iter().position(|&c| c == b'\r' || c == b'\n');
        let line = &b[p..line_end.map_or(b.len(), |e| p + e)];
        if line.len() > MAX_SIZE_LINE_LEN {
            return Naive::Reject;
        }
        let size = match size_line(line, line_end.is_some()) {
            Err(()) => return Naive::Reject,
            Ok(size) => size,
        };
        let Some(e) = line_end else {
            return Naive::Incomplete;
        };
        let cr = p + e;
        if b[cr] == b'\n' || line.is_empty() {
            return Naive::Reject;
        }
        match b.get(cr + 1) {
            None => return Naive::Incomplete,
            Some(b'\n') => {}
            Some(_) => return Naive::Reject,
        }
        p = cr + 2;
        let size = size.expect("a non-empty valid line has a size");
        if size == 0 {
            break;
        }
        let available = (b.len() - p) as u64;
        if available < size {
            return Naive::Incomplete;
        }
        payload.extend_from_slice(&b[p..p + size as usize]);
        p += size as usize;
        match b.get(p) {
            None => return Naive::Incomplete,
            Some(b'\r') => {}
            Some(_) => return Naive::Reject,
        }
        match b.get(p + 1) {
            None => return Naive::Incomplete,
            Some(b'\n') => {}
            Some(_) => return Naive::Reject,
        }
        p += 2;
    }
    // Trailer section and the final CRLF.
    let mut trailers = 0usize;
    loop {
        let line_end = b[p..].iter().position(|&c| c == b'\r' || c == b'\n');
        let line = &b[p..line_end.map_or(b.len(), |e| p + e)];
        if line.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f) {
            return Naive::Reject;
        }
        let Some(e) = line_end else {
            return if trailers + line.len() > MAX_TRAILERS_LEN {
                Naive::Reject
            } else {
                Naive::Incomplete
            };
        };
        let cr = p + e;
        if b[cr] == b'\n' {
            return Naive::Reject;
        }
        if !line.is_empty() {
            // The line and its CR, then its LF, count towards the trailer section.
            trailers += line.len() + 1;
            if trailers > MAX_TRAILERS_LEN {
                return Naive::Reject;
            }
        }
        match b.get(cr + 1) {
            None => return Naive::Incomplete,
            Some(b'\n') => {}
            Some(_) => return Naive::Reject,
        }
        p = cr + 2;
        if line.is_empty() {
            return Naive::Accept(payload, p);
        }
        trailers += 1;
        if trailers > MAX_TRAILERS_LEN {
            return Naive::Reject;
        }
    }
}

/// Checks a size line, `complete` when its end (a CR) follows, else a prefix of one; returns
/// the size once the line has at least a digit.
fn size_line(line: &[u8], complete: bool) -> Result<Option<u64>, ()> {
    let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if digits == 0 {
        return if line.is_empty() { Ok(None) } else { Err(()) };
    }
    let mut size: u64 = 0;
    for &c in &line[..digits] {
        let d = (c as char).to_digit(16).unwrap() as u64;
        size = size.checked_mul(16).ok_or(())?.checked_add(d).ok_or(())?;
    }
    let rest = &line[digits..];
    let ws = rest
        .iter()
        .take_while(|&&c| c == b' ' || c == b'\t')
        .count();
    let rest = &rest[ws..];
    let bws = |s: &[u8]| s.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    let tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    match rest.split_first() {
        // Whitespace that no `;` follows.
        None if ws > 0 && complete => return Err(()),
        None => {}
        Some((b';', _)) if rest.iter().any(|&c| (c < 0x20 && c != b'\t') || c == 0x7f) => {
            return Err(());
        }
        Some((b';', ext)) => match ext.get(bws(ext)) {
            None if complete => return Err(()),
            None => {}
            Some(&c) if tchar(c) => {}
            Some(_) => return Err(()),
        },
        Some(_) => return Err(()),
    }
    Ok(Some(size))
}

/// Chunked encoding of `chunks` with plain lowercase sizes and no extensions or trailers.
pub fn encode_chunked(chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}
