//! Table tests for the protocol codecs: response heads, body framing, the chunked decoder, the
//! frame splitter and the connection state machine.
//!
//! Every decoder case runs whole, split in two at every byte (or at a few hundred points for
//! inputs of many KiB), and one byte at a time, and must give the same result in all modes.

mod common;

use common::{
    Dechunked, Mode, OwnedHead, Transcript, dechunk, drive, drive_through, modes, requested,
    split_points,
};
use dockstat::chunked::{Chunk, ChunkedError, Dechunker};
use dockstat::conn::{Connection, ResponseEvent};
use dockstat::http::RequestError;
use dockstat::http::{
    BodyKind, Framing, FramingError, HeadError, ResponseHead, Status, parse_response,
};
use dockstat::stats::{FrameError, FrameSplitter};
use dockstat::{ErrorKind, ProtocolError};

const MAX_HEAD_LEN: usize = ResponseHead::MAX_LEN;
const MAX_HEADERS: usize = ResponseHead::MAX_HEADERS;
const MAX_EMPTY_LINES: usize = ResponseHead::MAX_EMPTY_LINES;
const MAX_SIZE_LINE_LEN: usize = Dechunker::MAX_SIZE_LINE_LEN;
const MAX_TRAILERS_LEN: usize = Dechunker::MAX_TRAILERS_LEN;
const DEFAULT_MAX_FRAME_LEN: usize = FrameSplitter::DEFAULT_MAX_LEN;

fn find_head_end(buf: &[u8], from: usize) -> Result<Option<usize>, HeadError> {
    ResponseHead::find_end(buf, from)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The offset just past the first occurrence of `marker` in `bytes`.
fn upto(bytes: &[u8], marker: &[u8]) -> usize {
    find(bytes, marker).unwrap_or_else(|| panic!("marker {marker:?} not in case")) + marker.len()
}

// =============================================================================================
// Response heads

struct HeadCase {
    name: String,
    bytes: Vec<u8>,
    expect: Result<OwnedHead, HeadError>,
    /// How many bytes, fed one at a time, it takes to decide the result: the head length for a
    /// good head, the offending byte (inclusive) for an error that is certain early.
    at: usize,
}

impl HeadCase {
    /// The error is certain once the byte ending the first `marker` has arrived.
    fn at_end_of(mut self, marker: &[u8]) -> HeadCase {
        self.at = upto(&self.bytes, marker);
        self
    }

    fn at(mut self, at: usize) -> HeadCase {
        self.at = at;
        self
    }
}

/// A good head: `bytes` holds the head (ending at the first empty line) and maybe body bytes.
fn ok(
    name: impl Into<String>,
    bytes: impl Into<Vec<u8>>,
    minor: u8,
    code: u16,
    reason: &[u8],
    headers: &[(&str, &[u8])],
) -> HeadCase {
    let bytes = bytes.into();
    let len = upto(&bytes, b"\r\n\r\n");
    HeadCase {
        name: name.into(),
        expect: Ok(OwnedHead {
            minor,
            code,
            reason: reason.to_vec(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
                .collect(),
            len,
        }),
        at: len,
        bytes,
    }
}

/// A bad head, certain only once all of `bytes` has arrived (see [`HeadCase::at_end_of`]).
fn bad(name: impl Into<String>, bytes: impl Into<Vec<u8>>, e: HeadError) -> HeadCase {
    let bytes = bytes.into();
    HeadCase {
        name: name.into(),
        at: bytes.len(),
        bytes,
        expect: Err(e),
    }
}

/// `case` with `n` empty lines (CRLF) before it: a good head is as long again, an error is
/// certain as many bytes later.
fn after_empty_lines(n: usize, mut case: HeadCase) -> HeadCase {
    case.name = format!("{} ({n} empty lines first)", case.name);
    case.bytes = [&b"\r\n".repeat(n)[..], &case.bytes].concat();
    case.at += 2 * n;
    if let Ok(head) = &mut case.expect {
        head.len += 2 * n;
    }
    case
}

/// `HTTP/1.1 200 OK`, the given field lines, and the empty line.
fn head_with(fields: &[&[u8]]) -> Vec<u8> {
    let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
    for f in fields {
        v.extend_from_slice(f);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"\r\n");
    v
}

/// A head with `n` fields `h<i>: v`.
fn many_headers(n: usize) -> Vec<u8> {
    let fields: Vec<Vec<u8>> = (0..n).map(|i| format!("h{i}: v").into_bytes()).collect();
    let refs: Vec<&[u8]> = fields.iter().map(|f| &f[..]).collect();
    head_with(&refs)
}

/// A head of exactly `len` bytes: one `X: aaa…` field padded to fit.
fn head_of_len(len: usize) -> Vec<u8> {
    let fixed = b"HTTP/1.1 200 OK\r\nX: \r\n\r\n".len();
    let value = vec![b'a'; len - fixed];
    let mut field = b"X: ".to_vec();
    field.extend_from_slice(&value);
    let h = head_with(&[&field]);
    assert_eq!(h.len(), len);
    h
}

const DOCKER_STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
Api-Version: 1.41\r\n\
Docker-Experimental: false\r\n\
Ostype: linux\r\n\
Server: Docker/20.10.24+dfsg1 (linux)\r\n\
Date: Mon, 23 Nov 2026 06:55:26 GMT\r\n\
Transfer-Encoding: chunked\r\n\
\r\n";

const DOCKER_PING: &[u8] = b"HTTP/1.1 200 OK\r\n\
Api-Version: 1.41\r\n\
Cache-Control: no-cache, no-store, must-revalidate\r\n\
Docker-Experimental: false\r\n\
Ostype: linux\r\n\
Pragma: no-cache\r\n\
Server: Docker/20.10.24+dfsg1 (linux)\r\n\
Date: Mon, 23 Nov 2026 06:55:53 GMT\r\n\
Content-Length: 2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
OK";

const DOCKER_404_ROUTE: &[u8] = b"HTTP/1.1 404 Not Found\r\n\
Content-Type: application/json\r\n\
Date: Mon, 23 Nov 2026 06:56:04 GMT\r\n\
Content-Length: 29\r\n\
\r\n\
{\"message\":\"page not found\"}\n";

fn head_cases() -> Vec<HeadCase> {
    use HeadError::*;
    let mb = 1 << 20;
    let mut one_mib_field = b"X: ".to_vec();
    one_mib_field.resize(mb, b'a');
    let mut one_mib_then_lf = head_with(&[&one_mib_field]);
    one_mib_then_lf[MAX_HEAD_LEN + 100] = b'\n';

    #[rustfmt::skip]
    let cases = vec![
        // --- good heads
        ok(
            "docker stats stream",
            DOCKER_STREAM_HEAD,
            1,
            200,
            b"OK",
            &[
                ("Api-Version", b"1.41"),
                ("Docker-Experimental", b"false"),
                ("Ostype", b"linux"),
                ("Server", b"Docker/20.10.24+dfsg1 (linux)"),
                ("Date", b"Mon, 23 Nov 2026 06:55:26 GMT"),
                ("Transfer-Encoding", b"chunked"),
            ],
        ),
        ok(
            "docker ping, body after the head",
            DOCKER_PING,
            1,
            200,
            b"OK",
            &[
                ("Api-Version", b"1.41"),
                ("Cache-Control", b"no-cache, no-store, must-revalidate"),
                ("Docker-Experimental", b"false"),
                ("Ostype", b"linux"),
                ("Pragma", b"no-cache"),
                ("Server", b"Docker/20.10.24+dfsg1 (linux)"),
                ("Date", b"Mon, 23 Nov 2026 06:55:53 GMT"),
                ("Content-Length", b"2"),
                ("Content-Type", b"text/plain; charset=utf-8"),
            ],
        ),
        ok(
            "docker 404 route",
            DOCKER_404_ROUTE,
            1,
            404,
            b"Not Found",
            &[
                ("Content-Type", b"application/json"),
                ("Date", b"Mon, 23 Nov 2026 06:56:04 GMT"),
                ("Content-Length", b"29"),
            ],
        ),
        ok("HTTP/1.0", &b"HTTP/1.0 200 OK\r\n\r\n"[..], 0, 200, b"OK", &[]),
        ok("empty reason", &b"HTTP/1.1 200 \r\n\r\n"[..], 1, 200, b"", &[]),
        ok("missing reason", &b"HTTP/1.1 200\r\n\r\n"[..], 1, 200, b"", &[]),
        ok(
            "reason with SP, HTAB and obs-text",
            &b"HTTP/1.1 404 Not \tFound \xe9\xff\r\n\r\n"[..],
            1,
            404,
            b"Not \tFound \xe9\xff",
            &[],
        ),
        ok("lowest code", &b"HTTP/1.1 100 Continue\r\n\r\n"[..], 1, 100, b"Continue", &[]),
        ok("highest code", &b"HTTP/1.1 599 x\r\n\r\n"[..], 1, 599, b"x", &[]),
        ok(
            "several fields, duplicates kept in order",
            &b"HTTP/1.1 200 OK\r\nA: 1\r\nb: 2\r\nA: 3\r\n\r\n"[..],
            1,
            200,
            b"OK",
            &[("A", b"1"), ("b", b"2"), ("A", b"3")],
        ),
        ok(
            "OWS trimmed around values, kept inside",
            &b"HTTP/1.1 200 OK\r\nX:  a \t b \t\r\nY:\t\r\nZ:v\r\nW: \r\n\r\n"[..],
            1,
            200,
            b"OK",
            &[("X", b"a \t b"), ("Y", b""), ("Z", b"v"), ("W", b"")],
        ),
        ok(
            "obs-text in values",
            &b"HTTP/1.1 200 OK\r\nX: caf\xc3\xa9 \xff\x80\r\n\r\n"[..],
            1,
            200,
            b"OK",
            &[("X", b"caf\xc3\xa9 \xff\x80")],
        ),
        ok(
            "colon and DEL-free punctuation in value",
            &b"HTTP/1.1 301 Moved\r\nLocation: http://a:1/b?c=d;e\r\n\r\n"[..],
            1,
            301,
            b"Moved",
            &[("Location", b"http://a:1/b?c=d;e")],
        ),
        ok(
            "every tchar in a name",
            &b"HTTP/1.1 200 OK\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n"[..],
            1,
            200,
            b"OK",
            &[("!#$%&'*+-.^_`|~09azAZ", b"v")],
        ),
        {
            let names: Vec<String> = (0..MAX_HEADERS).map(|i| format!("h{i}")).collect();
            let fields: Vec<(&str, &[u8])> = names.iter().map(|n| (&n[..], &b"v"[..])).collect();
            ok(
                "exactly MAX_HEADERS fields",
                many_headers(MAX_HEADERS),
                1,
                200,
                b"OK",
                &fields,
            )
        },
        {
            let h = head_of_len(MAX_HEAD_LEN);
            let value = h[b"HTTP/1.1 200 OK\r\nX: ".len()..h.len() - 4].to_vec();
            let mut c = ok("exactly MAX_HEAD_LEN bytes", h, 1, 200, b"OK", &[]);
            if let Ok(head) = &mut c.expect {
                head.headers = vec![(b"X".to_vec(), value)];
            }
            c
        },
        // --- empty lines before the status line are skipped (RFC 9112 §2.2), up to a limit
        after_empty_lines(1, ok("one empty line first", &b"HTTP/1.1 204 No Content\r\n\r\n"[..], 1, 204, b"No Content", &[])),
        after_empty_lines(2, ok(
            "two empty lines first, body after the head",
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..],
            1, 200, b"OK", &[("Content-Length", b"2")],
        )),
        after_empty_lines(MAX_EMPTY_LINES, ok("MAX_EMPTY_LINES empty lines first", &b"HTTP/1.0 200 OK\r\n\r\n"[..], 0, 200, b"OK", &[])),
        after_empty_lines(MAX_EMPTY_LINES, {
            // The size limit is the head's own, without the empty lines before it.
            let h = head_of_len(MAX_HEAD_LEN);
            let value = h[20..h.len() - 4].to_vec();
            let mut c = ok("MAX_EMPTY_LINES empty lines, then MAX_HEAD_LEN bytes", h, 1, 200, b"OK", &[]);
            if let Ok(head) = &mut c.expect {
                head.headers = vec![(b"X".to_vec(), value)];
            }
            c
        }),
        bad(
            "MAX_EMPTY_LINES + 1 empty lines first",
            [&b"\r\n".repeat(MAX_EMPTY_LINES + 1)[..], b"HTTP/1.1 200 OK\r\n\r\n"].concat(),
            EmptyLines,
        ).at(2 * MAX_EMPTY_LINES + 1),
        bad("nothing but empty lines", b"\r\n".repeat(100), EmptyLines).at(2 * MAX_EMPTY_LINES + 1),
        bad("bare LF as an empty line first", &b"\nHTTP/1.1 200 OK\r\n\r\n"[..], LineEnding).at(1),
        bad("CRLF then a bare LF first", &b"\r\n\nHTTP/1.1 200 OK\r\n\r\n"[..], LineEnding).at(3),
        bad("bare CR first", &b"\rHTTP/1.1 200 OK\r\n\r\n"[..], LineEnding).at(2),
        bad("a space line first", &b"\r\n \r\nHTTP/1.1 200 OK\r\n\r\n"[..], Version).at(3),
        // --- too large: certain once MAX_HEAD_LEN bytes arrived without the empty line
        bad("MAX_HEAD_LEN + 1 bytes", head_of_len(MAX_HEAD_LEN + 1), TooLarge).at(MAX_HEAD_LEN),
        bad("1 MiB header field", head_with(&[&one_mib_field]), TooLarge).at(MAX_HEAD_LEN),
        bad(
            "1 MiB field with a bare LF past the limit: the limit comes first",
            one_mib_then_lf,
            TooLarge,
        ).at(MAX_HEAD_LEN),
        bad("no end in sight", b"HTTP/1.1 200 OK\r\n".repeat(4000), TooLarge).at(MAX_HEAD_LEN),
        // 10,000 fields cannot fit in MAX_HEAD_LEN bytes, so the size limit decides first.
        bad("10,000 fields", many_headers(10_000), TooLarge).at(MAX_HEAD_LEN),
        // --- too many fields
        bad("MAX_HEADERS + 1 fields", many_headers(MAX_HEADERS + 1), TooManyHeaders),
        // --- version: certain at the first byte that is not `HTTP/1.0 ` or `HTTP/1.1 `
        bad("HTTP/2.0", &b"HTTP/2.0 200 OK\r\n\r\n"[..], Version).at(6),
        bad("HTTP/1.2", &b"HTTP/1.2 200 OK\r\n\r\n"[..], Version).at(8),
        bad("HTTPS/1.1", &b"HTTPS/1.1 200 OK\r\n\r\n"[..], Version).at(5),
        bad("lowercase http", &b"http/1.1 200 OK\r\n\r\n"[..], Version).at(1),
        bad("garbage", &b"hello, world\r\n\r\n"[..], Version).at(1),
        bad("TLS ServerHello", &b"\x16\x03\x03\x00\x5d\x02\x00\x00\x59\x03\x03"[..], Version).at(1),
        bad("no SP after version", &b"HTTP/1.1\r\n\r\n"[..], Version).at(9),
        bad("HTAB after version", &b"HTTP/1.1\t200 OK\r\n\r\n"[..], Version).at(9),
        // --- status code: decided when the head is complete
        bad("code 99", &b"HTTP/1.1 99 OK\r\n\r\n"[..], StatusCode),
        bad("code 099", &b"HTTP/1.1 099 OK\r\n\r\n"[..], StatusCode),
        bad("code 600", &b"HTTP/1.1 600 OK\r\n\r\n"[..], StatusCode),
        bad("code 2000", &b"HTTP/1.1 2000 OK\r\n\r\n"[..], StatusCode),
        bad("code 20x", &b"HTTP/1.1 20x OK\r\n\r\n"[..], StatusCode),
        bad("code missing", &b"HTTP/1.1 OK\r\n\r\n"[..], StatusCode),
        bad("code and reason missing", &b"HTTP/1.1 \r\n\r\n"[..], StatusCode),
        bad("two SP before code", &b"HTTP/1.1  200 OK\r\n\r\n"[..], StatusCode),
        bad("reason glued to code", &b"HTTP/1.1 200OK\r\n\r\n"[..], StatusCode),
        // --- reason phrase
        bad("NUL in reason", &b"HTTP/1.1 200 O\0K\r\n\r\n"[..], Reason),
        bad("ESC in reason", &b"HTTP/1.1 200 O\x1bK\r\n\r\n"[..], Reason),
        bad("DEL in reason", &b"HTTP/1.1 200 O\x7fK\r\n\r\n"[..], Reason),
        // --- line endings: certain at the bare LF, or at the byte after a bare CR
        bad("bare LF ends the status line", &b"HTTP/1.1 200 OK\nX: y\r\n\r\n"[..], LineEnding)
            .at_end_of(b"OK\n"),
        bad("LF-only head", &b"HTTP/1.1 200 OK\n\n"[..], LineEnding).at_end_of(b"OK\n"),
        bad("bare LF ends a field", &b"HTTP/1.1 200 OK\r\nX: y\nZ: w\r\n\r\n"[..], LineEnding)
            .at_end_of(b"y\n"),
        bad("bare LF as the empty line", &b"HTTP/1.1 200 OK\r\nX: y\r\n\n"[..], LineEnding),
        bad("bare CR in the reason", &b"HTTP/1.1 200 O\rK\r\n\r\n"[..], LineEnding)
            .at_end_of(b"O\rK"),
        bad("CR CR LF", &b"HTTP/1.1 200 OK\r\r\n\r\n"[..], LineEnding).at_end_of(b"OK\r\r"),
        bad("bare CR in a value", &b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"[..], LineEnding)
            .at_end_of(b"a\rb"),
        bad("bare CR as the empty line", &b"HTTP/1.1 200 OK\r\nX: a\r\n\rX\r\n\r\n"[..], LineEnding)
            .at_end_of(b"\r\n\rX"),
        // --- obs-fold and whitespace before the first field
        bad("obs-fold with SP", &b"HTTP/1.1 200 OK\r\nX: a\r\n  b\r\n\r\n"[..], ObsFold),
        bad("obs-fold with HTAB", &b"HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n"[..], ObsFold),
        bad("SP before the first field", &b"HTTP/1.1 200 OK\r\n X: a\r\n\r\n"[..], ObsFold),
        bad("whitespace-only line", &b"HTTP/1.1 200 OK\r\n \r\n\r\n"[..], ObsFold),
        // --- field names
        bad("empty name", &b"HTTP/1.1 200 OK\r\n: v\r\n\r\n"[..], HeaderName),
        bad("@ in name", &b"HTTP/1.1 200 OK\r\nX@Y: v\r\n\r\n"[..], HeaderName),
        bad("quote in name", &b"HTTP/1.1 200 OK\r\nX\"Y: v\r\n\r\n"[..], HeaderName),
        bad("parens in name", &b"HTTP/1.1 200 OK\r\nX(Y): v\r\n\r\n"[..], HeaderName),
        bad("obs-text in name", &b"HTTP/1.1 200 OK\r\n\xe9: v\r\n\r\n"[..], HeaderName),
        bad("NUL in name", &b"HTTP/1.1 200 OK\r\nX\0: v\r\n\r\n"[..], HeaderName),
        bad("SP inside name", &b"HTTP/1.1 200 OK\r\nX Y: v\r\n\r\n"[..], HeaderName),
        bad("SP inside a colon-less line", &b"HTTP/1.1 200 OK\r\nX Y\r\n\r\n"[..], HeaderName),
        // --- colon
        bad("missing colon", &b"HTTP/1.1 200 OK\r\nXY\r\n\r\n"[..], MissingColon),
        bad(
            "missing colon after good fields",
            &b"HTTP/1.1 200 OK\r\nA: b\r\nXY\r\n\r\n"[..],
            MissingColon,
        ),
        bad("SP before colon", &b"HTTP/1.1 200 OK\r\nX : v\r\n\r\n"[..], WhitespaceBeforeColon),
        bad("HTAB before colon", &b"HTTP/1.1 200 OK\r\nX\t: v\r\n\r\n"[..], WhitespaceBeforeColon),
        // --- values
        bad("NUL in value", &b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"[..], HeaderValue),
        bad("SOH in value", &b"HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n"[..], HeaderValue),
        bad("US in value", &b"HTTP/1.1 200 OK\r\nX: a\x1f\r\n\r\n"[..], HeaderValue),
        bad("DEL in value", &b"HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n"[..], HeaderValue),
        bad("VT in value", &b"HTTP/1.1 200 OK\r\nX: a\x0bb\r\n\r\n"[..], HeaderValue),
    ];
    cases
}

/// The whole-input result: `parse_response` on everything.
fn head_whole(bytes: &[u8]) -> Option<Result<OwnedHead, HeadError>> {
    match parse_response(bytes) {
        Ok(Status::Complete(h)) => Some(Ok(OwnedHead::of(&h))),
        Ok(Status::Partial) => None,
        Err(e) => Some(Err(e)),
    }
}

/// `find_head_end` fed growing prefixes ending at `cuts` and then at the end, resuming each
/// time where the previous call stopped; then `parse_response` on the head it found. Returns
/// the result and the prefix length at which it was decided.
fn head_resumed(bytes: &[u8], cuts: &[usize]) -> (Option<Result<OwnedHead, HeadError>>, usize) {
    let mut from = 0;
    for &end in cuts.iter().chain([bytes.len()].iter()) {
        match find_head_end(&bytes[..end], from) {
            Ok(None) => from = end,
            Err(e) => return (Some(Err(e)), end),
            Ok(Some(len)) => {
                assert!(len <= end);
                let r = head_whole(&bytes[..len]).expect("a found head is complete");
                return (Some(r), end);
            }
        }
    }
    (None, bytes.len())
}

#[test]
fn head_table() {
    let cases = head_cases();
    let mut seen = std::collections::HashSet::new();
    for c in &cases {
        assert!(
            seen.insert(c.name.clone()),
            "duplicate case name {}",
            c.name
        );
        run_head_case(c);
    }
    // Every error variant is covered.
    use HeadError::*;
    for e in [
        TooLarge,
        TooManyHeaders,
        Version,
        StatusCode,
        Reason,
        LineEnding,
        ObsFold,
        HeaderName,
        MissingColon,
        WhitespaceBeforeColon,
        HeaderValue,
        EmptyLines,
    ] {
        assert!(
            cases.iter().any(|c| c.expect == Err(e)),
            "no case for HeadError::{e:?}"
        );
    }
}

fn run_head_case(c: &HeadCase) {
    let (name, b) = (&c.name, &c.bytes[..]);

    // (a) whole
    let whole = head_whole(b);
    assert_eq!(
        whole.as_ref(),
        Some(&c.expect),
        "{name}: whole parse_response"
    );

    // (b) find_head_end resumed at every split point, then byte by byte
    for k in split_points(b.len()) {
        let (r, _) = head_resumed(b, &[k]);
        assert_eq!(
            r.as_ref(),
            Some(&c.expect),
            "{name}: find_head_end split at {k}"
        );
    }
    let bytewise: Vec<usize> = (1..b.len()).collect();
    let (r, decided) = head_resumed(b, &bytewise);
    assert_eq!(
        r.as_ref(),
        Some(&c.expect),
        "{name}: find_head_end byte by byte"
    );
    assert_eq!(
        decided, c.at,
        "{name}: byte by byte decided after this many bytes"
    );

    // Running out of input is never an error: every prefix before the decision is Partial.
    for k in split_points(c.at) {
        assert_eq!(
            parse_response(&b[..k]),
            Ok(Status::Partial),
            "{name}: prefix of {k} bytes"
        );
    }

    // (c) through Connection::handle_input, in every mode. Interim heads are skipped by the
    // connection, so only final heads are checked there.
    if matches!(&c.expect, Ok(h) if common::is_interim(h.code)) {
        return;
    }
    for mode in modes(b.len()) {
        let mut conn = requested();
        let t = drive(&mut conn, &mode.pieces(b));
        check_conn_head(name, &mode, &t, &c.expect, c.at);
    }
}

fn check_conn_head(
    name: &str,
    mode: &Mode,
    t: &Transcript,
    expect: &Result<OwnedHead, HeadError>,
    at: usize,
) {
    let m = &mode.name;
    match expect {
        Ok(h) => {
            assert!(t.error.is_none(), "{name} ({m}): error {:?}", t.error);
            let (got, consumed) = t
                .head
                .as_ref()
                .unwrap_or_else(|| panic!("{name} ({m}): no head event"));
            assert_eq!(got, h, "{name} ({m}): connection head");
            assert_eq!(*consumed, h.len, "{name} ({m}): bytes consumed by the head");
        }
        Err(e) => {
            let (kind, offset, fed) = t
                .error
                .unwrap_or_else(|| panic!("{name} ({m}): no error, got {t:?}"));
            assert_eq!(
                kind,
                ErrorKind::Protocol(ProtocolError::Head(*e)),
                "{name} ({m}): connection error"
            );
            assert_eq!(offset, Some(0), "{name} ({m}): error offset");
            assert!(t.head.is_none());
            // Reported with the piece holding the deciding byte, not later.
            let piece_end = mode
                .cuts
                .iter()
                .copied()
                .find(|&cut| cut >= at)
                .unwrap_or(usize::MAX);
            assert!(
                fed <= piece_end,
                "{name} ({m}): error reported after {fed} bytes, certain after {at}"
            );
        }
    }
}

#[test]
fn head_lookup_is_case_insensitive() {
    let Ok(Status::Complete(h)) = parse_response(DOCKER_PING) else {
        panic!("ping head");
    };
    assert_eq!(h.header("content-length"), Some(&b"2"[..]));
    assert_eq!(
        h.header("CONTENT-TYPE"),
        Some(&b"text/plain; charset=utf-8"[..])
    );
    assert_eq!(h.header("Transfer-Encoding"), None);
    assert!(
        h.headers()
            .any(|f| f.is("api-version") && f.value == b"1.41")
    );
    assert_eq!(h.raw(), &DOCKER_PING[..DOCKER_PING.len() - 2]);
    assert!(!h.is_empty());
}

#[test]
fn find_head_end_resumes_after_a_trailing_cr() {
    // The CR is the last byte searched; the byte after it decides whether it was bare.
    let good = b"HTTP/1.1 200 OK\r\n\r\n";
    let bad = b"HTTP/1.1 200 OK\rX\r\n\r\n";
    assert_eq!(find_head_end(&good[..16], 0), Ok(None));
    assert_eq!(find_head_end(&good[..], 16), Ok(Some(19)));
    assert_eq!(find_head_end(&bad[..16], 0), Ok(None));
    assert_eq!(find_head_end(&bad[..17], 16), Err(HeadError::LineEnding));
    // The empty line's CR at the end of the searched part.
    assert_eq!(find_head_end(&good[..18], 17), Ok(None));
    assert_eq!(find_head_end(&good[..], 18), Ok(Some(19)));
}

// =============================================================================================
// Body framing

fn parse_head(bytes: &[u8]) -> dockstat::http::ResponseHead<'_> {
    match parse_response(bytes) {
        Ok(Status::Complete(h)) => h,
        r => panic!(
            "test head {:?} did not parse: {r:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

fn http(version: &str, status: &str, fields: &[&str]) -> Vec<u8> {
    let mut v = format!("HTTP/{version} {status}\r\n");
    for f in fields {
        v.push_str(f);
        v.push_str("\r\n");
    }
    v.push_str("\r\n");
    v.into_bytes()
}

fn body(body: BodyKind, keep_alive: bool) -> Result<Framing, FramingError> {
    Ok(Framing { body, keep_alive })
}

#[test]
fn framing_table() {
    use BodyKind::*;
    use FramingError::*;
    let h11 = |status: &str, fields: &[&str]| http("1.1", status, fields);
    let h10 = |status: &str, fields: &[&str]| http("1.0", status, fields);
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, Result<Framing, FramingError>)> = vec![
        // No body, whatever the fields say.
        ("100 has no body", h11("100 Continue", &[]), body(Empty, true)),
        ("103 has no body", h11("103 Early Hints", &["Link: </a>"]), body(Empty, true)),
        ("204", h11("204 No Content", &[]), body(Empty, true)),
        (
            "204 with Content-Length",
            h11("204 No Content", &["Content-Length: 5"]),
            body(Empty, true),
        ),
        (
            "204 with Transfer-Encoding",
            h11("204 No Content", &["Transfer-Encoding: chunked"]),
            body(Empty, true),
        ),
        ("204 with a bad Content-Length", h11("204 x", &["Content-Length: -1"]), body(Empty, true)),
        (
            "304 with Content-Length",
            h11("304 Not Modified", &["Content-Length: 5"]),
            body(Empty, true),
        ),
        (
            "304 with TE and CL",
            h11("304 x", &["Transfer-Encoding: chunked", "Content-Length: 5"]),
            body(Empty, true),
        ),
        ("204 HTTP/1.0 closes", h10("204 x", &[]), body(Empty, false)),
        ("101", h11("101 Switching Protocols", &["Upgrade: h2c"]), Err(UnexpectedUpgrade)),
        // Transfer-Encoding.
        ("chunked", h11("200 OK", &["Transfer-Encoding: chunked"]), body(Chunked, true)),
        ("CHUNKED", h11("200 OK", &["transfer-encoding: CHUNKED"]), body(Chunked, true)),
        (
            "empty list items",
            h11("200 OK", &["Transfer-Encoding: , chunked ,"]),
            body(Chunked, true),
        ),
        (
            "gzip, chunked",
            h11("200 OK", &["Transfer-Encoding: gzip, chunked"]),
            Err(UnsupportedCoding),
        ),
        (
            "gzip then chunked in two fields",
            h11("200 OK", &["Transfer-Encoding: gzip", "Transfer-Encoding: chunked"]),
            Err(UnsupportedCoding),
        ),
        (
            "chunked, gzip",
            h11("200 OK", &["Transfer-Encoding: chunked, gzip"]),
            Err(ChunkedNotLast),
        ),
        (
            "chunked, chunked",
            h11("200 OK", &["Transfer-Encoding: chunked, chunked"]),
            Err(ChunkedNotLast),
        ),
        (
            "chunked in two fields",
            h11("200 OK", &["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"]),
            Err(ChunkedNotLast),
        ),
        ("gzip", h11("200 OK", &["Transfer-Encoding: gzip"]), Err(UnsupportedCoding)),
        ("identity", h11("200 OK", &["Transfer-Encoding: identity"]), Err(UnsupportedCoding)),
        ("empty", h11("200 OK", &["Transfer-Encoding:"]), Err(UnsupportedCoding)),
        ("only commas", h11("200 OK", &["Transfer-Encoding: ,"]), Err(UnsupportedCoding)),
        (
            "TE + CL",
            h11("200 OK", &["Transfer-Encoding: chunked", "Content-Length: 5"]),
            Err(TransferEncodingWithContentLength),
        ),
        (
            "CL + TE",
            h11("200 OK", &["Content-Length: 5", "Transfer-Encoding: chunked"]),
            Err(TransferEncodingWithContentLength),
        ),
        (
            "TE + bad CL",
            h11("200 OK", &["Transfer-Encoding: chunked", "Content-Length: x"]),
            Err(TransferEncodingWithContentLength),
        ),
        (
            "TE in HTTP/1.0",
            h10("200 OK", &["Transfer-Encoding: chunked"]),
            Err(TransferEncodingInHttp10),
        ),
        // Content-Length.
        ("CL 5", h11("200 OK", &["Content-Length: 5"]), body(Length(5), true)),
        ("CL 0", h11("200 OK", &["Content-Length: 0"]), body(Length(0), true)),
        ("CL leading zeros", h11("200 OK", &["Content-Length: 005"]), body(Length(5), true)),
        (
            "CL u64::MAX",
            h11("200 OK", &["Content-Length: 18446744073709551615"]),
            body(Length(u64::MAX), true),
        ),
        ("CL +5", h11("200 OK", &["Content-Length: +5"]), Err(InvalidContentLength)),
        ("CL -1", h11("200 OK", &["Content-Length: -1"]), Err(InvalidContentLength)),
        ("CL space", h11("200 OK", &["Content-Length:  "]), Err(InvalidContentLength)),
        ("CL empty", h11("200 OK", &["Content-Length:"]), Err(InvalidContentLength)),
        ("CL 5 5", h11("200 OK", &["Content-Length: 5 5"]), Err(InvalidContentLength)),
        ("CL 0x5", h11("200 OK", &["Content-Length: 0x5"]), Err(InvalidContentLength)),
        ("CL 5.0", h11("200 OK", &["Content-Length: 5.0"]), Err(InvalidContentLength)),
        (
            "CL overflow",
            h11("200 OK", &["Content-Length: 18446744073709551616"]),
            Err(InvalidContentLength),
        ),
        ("CL trailing comma", h11("200 OK", &["Content-Length: 5,"]), Err(InvalidContentLength)),
        ("CL list 5, 5", h11("200 OK", &["Content-Length: 5, 5"]), body(Length(5), true)),
        (
            "CL two fields 5 and 5",
            h11("200 OK", &["Content-Length: 5", "Content-Length: 5"]),
            body(Length(5), true),
        ),
        ("CL list 5, 6", h11("200 OK", &["Content-Length: 5, 6"]), Err(ConflictingContentLength)),
        (
            "CL two fields 5 and 6",
            h11("200 OK", &["Content-Length: 5", "content-length: 6"]),
            Err(ConflictingContentLength),
        ),
        // No length: until close, and the connection cannot be reused.
        ("no length", h11("200 OK", &[]), body(UntilClose, false)),
        (
            "no length, keep-alive asked",
            h11("200 OK", &["Connection: keep-alive"]),
            body(UntilClose, false),
        ),
        ("no length HTTP/1.0", h10("200 OK", &[]), body(UntilClose, false)),
        // Persistence.
        ("1.1 default keep-alive", h11("200 OK", &["Content-Length: 1"]), body(Length(1), true)),
        (
            "1.1 close",
            h11("200 OK", &["Connection: close", "Content-Length: 1"]),
            body(Length(1), false),
        ),
        (
            "1.1 CLOSE",
            h11("200 OK", &["connection: CLOSE", "Content-Length: 1"]),
            body(Length(1), false),
        ),
        (
            "1.1 close in a list",
            h11("200 OK", &["Connection: upgrade, close", "Content-Length: 1"]),
            body(Length(1), false),
        ),
        (
            "1.1 close in a second field",
            h11("200 OK", &["Connection: upgrade", "Connection: close", "Content-Length: 1"]),
            body(Length(1), false),
        ),
        (
            "1.1 other tokens",
            h11("200 OK", &["Connection: upgrade, x-close", "Content-Length: 1"]),
            body(Length(1), true),
        ),
        ("1.0 default close", h10("200 OK", &["Content-Length: 1"]), body(Length(1), false)),
        (
            "1.0 keep-alive",
            h10("200 OK", &["Connection: keep-alive", "Content-Length: 1"]),
            body(Length(1), true),
        ),
        (
            "1.0 Keep-Alive in a list",
            h10("200 OK", &["Connection: foo, Keep-Alive", "Content-Length: 1"]),
            body(Length(1), true),
        ),
        (
            "1.0 keep-alive and close",
            h10("200 OK", &["Connection: keep-alive, close", "Content-Length: 1"]),
            body(Length(1), false),
        ),
        (
            "1.1 chunked close",
            h11("200 OK", &["Transfer-Encoding: chunked", "Connection: close"]),
            body(Chunked, false),
        ),
    ];
    for (name, bytes, expect) in &cases {
        let head = parse_head(bytes);
        assert_eq!(head.framing(), *expect, "{name}");
    }
}

#[test]
fn interim_responses_are_skipped() {
    let final_ = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("100 Continue", b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        (
            "103 with headers",
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nLink: </a.js>\r\n\r\n"
                .to_vec(),
        ),
        (
            "100, 102 and 103",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 x\r\nA: b\r\n\r\n"
                .to_vec(),
        ),
        // Empty lines before a status line are skipped (RFC 9112 §2.2), after an interim
        // response as at the start.
        ("100 then an empty line", b"HTTP/1.1 100 Continue\r\n\r\n\r\n".to_vec()),
        (
            "empty lines first, 100, then MAX_EMPTY_LINES empty lines",
            [
                &b"\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n"[..],
                &b"\r\n".repeat(MAX_EMPTY_LINES),
            ]
            .concat(),
        ),
        (
            "empty lines before each of 100 and 103",
            b"\r\nHTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 103 x\r\nA: b\r\n\r\n\r\n".to_vec(),
        ),
    ];
    for (name, interim) in cases {
        let mut input = interim.clone();
        input.extend_from_slice(final_);
        for mode in modes(input.len()) {
            let m = &mode.name;
            let mut conn = requested();
            let t = drive(&mut conn, &mode.pieces(&input));
            assert!(t.error.is_none(), "{name} ({m}): {:?}", t.error);
            let (head, consumed) = t.head.as_ref().expect("head");
            assert_eq!(head.code, 200, "{name} ({m})");
            assert_eq!(*consumed, input.len() - b"hello".len(), "{name} ({m})");
            assert_eq!(t.body, b"hello", "{name} ({m})");
            assert_eq!(t.end, Some(input.len()), "{name} ({m})");
            assert!(conn.is_reusable());
        }
    }
}

#[test]
fn upgrade_and_errors_after_interim_responses() {
    // 101 ends the exchange with a framing error at the start of the response.
    let input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n";
    for mode in modes(input.len()) {
        let t = drive(&mut requested(), &mode.pieces(input));
        assert_eq!(
            t.error.map(|e| (e.0, e.1)),
            Some((
                ErrorKind::Protocol(ProtocolError::Framing(FramingError::UnexpectedUpgrade)),
                Some(0)
            )),
            "101 ({})",
            mode.name
        );
    }
    // A bad final head after an interim one: the offset is where the final head starts.
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let too_many_empty_lines = [
        &b"\r\n".repeat(MAX_EMPTY_LINES + 1)[..],
        b"HTTP/1.1 200 OK\r\n\r\n",
    ]
    .concat();
    for (name, final_, e) in [
        (
            "framing",
            &b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"[..],
            ProtocolError::Framing(FramingError::InvalidContentLength),
        ),
        (
            "empty lines",
            &too_many_empty_lines[..],
            ProtocolError::Head(HeadError::EmptyLines),
        ),
        (
            "head",
            &b"HTTP/1.1 200 OK\r\nX : y\r\n\r\n"[..],
            ProtocolError::Head(HeadError::WhitespaceBeforeColon),
        ),
        (
            "version",
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            ProtocolError::Head(HeadError::Version),
        ),
    ] {
        let input = [&interim[..], final_].concat();
        for mode in modes(input.len()) {
            let t = drive(&mut requested(), &mode.pieces(&input));
            assert_eq!(
                t.error.map(|e| (e.0, e.1)),
                Some((ErrorKind::Protocol(e), Some(interim.len() as u64))),
                "{name} after 100 ({})",
                mode.name
            );
        }
    }
}

// =============================================================================================
// Chunked decoder

struct ChunkedCase {
    name: String,
    bytes: Vec<u8>,
    /// The payload, or the error and its absolute offset.
    expect: Result<Vec<u8>, (ChunkedError, usize)>,
}

fn good(
    name: impl Into<String>,
    bytes: impl Into<Vec<u8>>,
    payload: impl Into<Vec<u8>>,
) -> ChunkedCase {
    ChunkedCase {
        name: name.into(),
        bytes: bytes.into(),
        expect: Ok(payload.into()),
    }
}

fn fails(
    name: impl Into<String>,
    bytes: impl Into<Vec<u8>>,
    e: ChunkedError,
    at: usize,
) -> ChunkedCase {
    ChunkedCase {
        name: name.into(),
        bytes: bytes.into(),
        expect: Err((e, at)),
    }
}

fn chunked_cases() -> Vec<ChunkedCase> {
    use ChunkedError::*;
    let cat = |parts: &[&[u8]]| parts.concat();
    let hex427: Vec<u8> = (0..0x1ab).map(|i| (i % 251) as u8).collect();
    let max_line_ext = vec![b'e'; MAX_SIZE_LINE_LEN - 2];
    let big_ext = vec![b'e'; 100 * 1024];
    // One trailer line making the trailer section exactly MAX_TRAILERS_LEN bytes (CRLF included).
    let max_trailer = {
        let mut t = b"X: ".to_vec();
        t.resize(MAX_TRAILERS_LEN - 2, b't');
        t
    };
    let big_trailer = {
        let mut t = b"X: ".to_vec();
        t.resize(20_000, b't');
        t
    };
    let many_trailers: Vec<u8> = (0..2000)
        .flat_map(|i| format!("T{i}: v\r\n").into_bytes())
        .collect();

    #[rustfmt::skip]
    let cases = vec![
        // --- good bodies
        good("single chunk", &b"5\r\nhello\r\n0\r\n\r\n"[..], &b"hello"[..]),
        good(
            "several chunks",
            &b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"[..],
            &b"hello world"[..],
        ),
        good("uppercase hex", &b"A\r\n0123456789\r\n0\r\n\r\n"[..], &b"0123456789"[..]),
        good("lowercase hex", &b"a\r\n0123456789\r\n0\r\n\r\n"[..], &b"0123456789"[..]),
        good("mixed-case hex 1aB", cat(&[b"1aB\r\n", &hex427, b"\r\n0\r\n\r\n"]), hex427.clone()),
        good("leading zeros", &b"0005\r\nhello\r\n000\r\n\r\n"[..], &b"hello"[..]),
        good(
            "more than sixteen digits, leading zeros",
            &b"0000000000000000000000005\r\nhello\r\n0\r\n\r\n"[..],
            &b"hello"[..],
        ),
        good("empty body", &b"0\r\n\r\n"[..], &b""[..]),
        good("extension without value", &b"5;name\r\nhello\r\n0;last\r\n\r\n"[..], &b"hello"[..]),
        good(
            "extensions with values",
            &b"5;a=b;c=\"q v\"\r\nhello\r\n0;x=1\r\n\r\n"[..],
            &b"hello"[..],
        ),
        good("BWS before ;", &b"5 ;a=b\r\nhello\r\n0\t;z\r\n\r\n"[..], &b"hello"[..]),
        good("BWS inside extension", &b"5\t; a = b \t\r\nhello\r\n0\r\n\r\n"[..], &b"hello"[..]),
        good("obs-text in extension", &b"5;a=\xe9\xff\r\nhello\r\n0\r\n\r\n"[..], &b"hello"[..]),
        good("a token character starts the name", &b"5;!x\r\nhello\r\n0; \t~\r\n\r\n"[..], &b"hello"[..]),
        good("trailers", &b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\nY:\t2\r\n\r\n"[..], &b"hello"[..]),
        good(
            "Content-Length and Transfer-Encoding trailers are ignored",
            &b"5\r\nhello\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: gzip\r\n\r\n"[..],
            &b"hello"[..],
        ),
        good(
            "data holding CR, LF and CRLF",
            &b"6\r\n\r\n\r\n\r\n\r\n3\r\n\n\r0\r\n0\r\n\r\n"[..],
            &b"\r\n\r\n\r\n\n\r0"[..],
        ),
        good(
            "data holding a fake last chunk",
            &b"5\r\n0\r\n\r\n\r\n0\r\n\r\n"[..],
            &b"0\r\n\r\n"[..],
        ),
        good(
            "size line of exactly MAX_SIZE_LINE_LEN bytes",
            cat(&[b"5;", &max_line_ext, b"\r\nhello\r\n0\r\n\r\n"]),
            &b"hello"[..],
        ),
        good(
            "trailer section of exactly MAX_TRAILERS_LEN bytes",
            cat(&[b"5\r\nhello\r\n0\r\n", &max_trailer, b"\r\n\r\n"]),
            &b"hello"[..],
        ),
        good("docker stats frame", &b"3\r\n{}\n\r\n0\r\n\r\n"[..], &b"{}\n"[..]),
        // --- bad sizes
        fails("size overflows 64 bits", &b"10000000000000000\r\n"[..], SizeOverflow, 16),
        fails("size overflows with ffff…f0", &b"ffffffffffffffff0\r\n"[..], SizeOverflow, 16),
        fails("0x5", &b"0x5\r\nhello\r\n0\r\n\r\n"[..], InvalidSize, 1),
        fails("+5", &b"+5\r\nhello\r\n0\r\n\r\n"[..], InvalidSize, 0),
        fails("-5", &b"-5\r\nhello\r\n0\r\n\r\n"[..], InvalidSize, 0),
        fails("empty size", &b"\r\nhello\r\n0\r\n\r\n"[..], InvalidSize, 0),
        fails("leading SP", &b" 5\r\nhello\r\n0\r\n\r\n"[..], InvalidSize, 0),
        fails("extension without size", &b";a\r\n"[..], InvalidSize, 0),
        fails("5 5", &b"5 5\r\nhello\r\n0\r\n\r\n"[..], InvalidSize, 2),
        fails("g", &b"g\r\n"[..], InvalidSize, 0),
        fails("bad size of the second chunk", &b"5\r\nhello\r\nz\r\n"[..], InvalidSize, 10),
        fails("bare LF as an empty size line", &b"\n"[..], InvalidSize, 0),
        // --- line endings in size lines
        fails("bare LF after size", &b"5\nhello\r\n0\r\n\r\n"[..], LineEnding, 1),
        fails("bare LF after size and SP", &b"5 \nhello\r\n0\r\n\r\n"[..], LineEnding, 2),
        fails("bare CR after size", &b"5\rhello\r\n0\r\n\r\n"[..], LineEnding, 2),
        fails("CR CR LF after size", &b"5\r\r\nhello\r\n0\r\n\r\n"[..], LineEnding, 2),
        fails("bare LF after last-chunk size", &b"5\r\nhello\r\n0\n\r\n"[..], LineEnding, 11),
        fails("bare CR in extension", &b"5;a\rb\r\nhello\r\n"[..], LineEnding, 4),
        fails("bare LF in extension", &b"5;a\nb\r\nhello\r\n"[..], LineEnding, 3),
        fails("bare LF after ;", &b"5;\nhello\r\n"[..], LineEnding, 2),
        // --- the size line's grammar (RFC 9112 §7.1): `chunk-size [ chunk-ext ] CRLF`, with
        // `chunk-ext = *( BWS ";" BWS chunk-ext-name … )`
        fails("trailing whitespace after size", &b"5  \r\nhello\r\n0\r\n\r\n"[..], WhitespaceAfterSize, 3),
        fails("HTAB after size", &b"5\t\r\nhello\r\n0\r\n\r\n"[..], WhitespaceAfterSize, 2),
        fails("trailing SP after the last chunk's size", &b"5\r\nhello\r\n0 \r\n\r\n"[..], WhitespaceAfterSize, 12),
        fails("; without a name", &b"5;\r\nhello\r\n0\r\n\r\n"[..], MissingExtensionName, 2),
        fails("BWS, ; and no name", &b"5 ;\r\nhello\r\n0\r\n\r\n"[..], MissingExtensionName, 3),
        fails("; and BWS only", &b"5; \t\r\nhello\r\n0\r\n\r\n"[..], MissingExtensionName, 4),
        fails("two ;", &b"5;;a\r\nhello\r\n0\r\n\r\n"[..], MissingExtensionName, 2),
        fails("; then =", &b"5;=b\r\nhello\r\n0\r\n\r\n"[..], MissingExtensionName, 2),
        fails("; then a quote", &b"5;\"a\"\r\nhello\r\n0\r\n\r\n"[..], MissingExtensionName, 2),
        fails("last chunk, ; without a name", &b"0;\r\n\r\n"[..], MissingExtensionName, 2),
        // --- after data
        fails("bare LF after data", &b"5\r\nhello\nX"[..], DataNotTerminated, 8),
        fails("bare CR after data", &b"5\r\nhello\rX"[..], DataNotTerminated, 9),
        fails("no CRLF after data", &b"5\r\nhello0\r\n\r\n"[..], DataNotTerminated, 8),
        fails("data longer than its size", &b"4\r\nhello\r\n0\r\n\r\n"[..], DataNotTerminated, 7),
        // --- trailers and the final CRLF
        fails("bare LF in trailer", &b"0\r\nX: 1\n\r\n"[..], LineEnding, 7),
        fails("bare CR in trailer", &b"0\r\nX: 1\rY\r\n\r\n"[..], LineEnding, 8),
        fails("bare LF as final line", &b"0\r\nX: 1\r\n\n"[..], LineEnding, 9),
        fails("bare LF right after last chunk", &b"0\r\n\n"[..], LineEnding, 3),
        fails("bare CR as final line", &b"0\r\n\rX"[..], LineEnding, 4),
        fails("NUL in trailer", &b"0\r\nX: a\0\r\n\r\n"[..], InvalidTrailer, 7),
        fails("NUL starting a trailer", &b"0\r\n\0\r\n\r\n"[..], InvalidTrailer, 3),
        fails("DEL in trailer", &b"0\r\nX: \x7f\r\n\r\n"[..], InvalidTrailer, 6),
        fails("ESC in trailer", &b"5\r\nhello\r\n0\r\nX: \x1b\r\n\r\n"[..], InvalidTrailer, 16),
        // --- extensions
        fails("NUL in extension", &b"5;a\0b\r\nhello\r\n"[..], InvalidExtension, 3),
        fails("DEL in extension", &b"5;\x7f\r\nhello\r\n"[..], InvalidExtension, 2),
        fails("ESC in extension", &b"5 ;a=\x1b\r\nhello\r\n"[..], InvalidExtension, 5),
        // --- limits
        fails(
            "size line of MAX_SIZE_LINE_LEN + 1 bytes",
            cat(&[b"5;", &max_line_ext, b"e\r\nhello\r\n0\r\n\r\n"]),
            SizeLineTooLong,
            MAX_SIZE_LINE_LEN,
        ),
        fails(
            "100 KiB of extensions",
            cat(&[b"5;", &big_ext, b"\r\nhello\r\n0\r\n\r\n"]),
            SizeLineTooLong,
            MAX_SIZE_LINE_LEN,
        ),
        fails(
            "zeros past the size line limit",
            cat(&[&vec![b'0'; MAX_SIZE_LINE_LEN + 10], b"5\r\n"]),
            SizeLineTooLong,
            MAX_SIZE_LINE_LEN,
        ),
        fails(
            "trailer section of MAX_TRAILERS_LEN + 1 bytes",
            cat(&[b"0\r\n", &max_trailer, b"t\r\n\r\n"]),
            TrailersTooLarge,
            3 + MAX_TRAILERS_LEN,
        ),
        fails(
            "one 20 KB trailer",
            cat(&[b"0\r\n", &big_trailer, b"\r\n\r\n"]),
            TrailersTooLarge,
            3 + MAX_TRAILERS_LEN,
        ),
        fails(
            "2000 short trailers",
            cat(&[b"0\r\n", &many_trailers, b"\r\n"]),
            TrailersTooLarge,
            3 + MAX_TRAILERS_LEN,
        ),
    ];
    cases
}

#[test]
fn chunked_table() {
    let cases = chunked_cases();
    for c in &cases {
        run_chunked_case(c);
    }
    use ChunkedError::*;
    for e in [
        InvalidSize,
        SizeOverflow,
        SizeLineTooLong,
        InvalidExtension,
        MissingExtensionName,
        WhitespaceAfterSize,
        LineEnding,
        DataNotTerminated,
        TrailersTooLarge,
        InvalidTrailer,
    ] {
        assert!(
            cases
                .iter()
                .any(|c| matches!(c.expect, Err((x, _)) if x == e)),
            "no case for ChunkedError::{e:?}"
        );
    }
}

fn run_chunked_case(c: &ChunkedCase) {
    let (name, b) = (&c.name, &c.bytes[..]);
    let (whole_data, whole_end) = dechunk(&[b]);
    match &c.expect {
        Ok(payload) => {
            assert_eq!(whole_end, Dechunked::End(b.len()), "{name}: whole");
            assert_eq!(&whole_data, payload, "{name}: whole payload");
        }
        Err((e, at)) => {
            assert_eq!(whole_end, Dechunked::Err(*e, *at), "{name}: whole");
        }
    }
    for mode in modes(b.len()) {
        let (data, end) = dechunk(&mode.pieces(b));
        assert_eq!(end, whole_end, "{name}: result ({})", mode.name);
        assert!(data == whole_data, "{name}: data differs ({})", mode.name);
    }
}

#[test]
fn chunked_stops_at_the_end() {
    let body = b"5\r\nhello\r\n0\r\nT: 1\r\n\r\n";
    let mut input = body.to_vec();
    input.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
    for mode in modes(input.len()) {
        let (data, end) = dechunk(&mode.pieces(&input));
        assert_eq!(data, b"hello", "{}", mode.name);
        assert_eq!(end, Dechunked::End(body.len()), "{}", mode.name);
    }
    // Once done, the decoder consumes nothing more.
    let mut d = Dechunker::new();
    let mut rest = &input[..];
    loop {
        let (r, used) = d.decode(rest);
        rest = &rest[used..];
        if r == Ok(Chunk::End) {
            break;
        }
    }
    assert!(d.is_done());
    assert_eq!(d.decode(rest), (Ok(Chunk::End), 0));
    assert_eq!(d.decode(b""), (Ok(Chunk::End), 0));
}

#[test]
fn chunked_huge_size_streams_data() {
    // The largest size that fits is accepted; its data is handed out as it arrives.
    let mut d = Dechunker::new();
    let input = b"ffffffffffffffff\r\nabc";
    assert_eq!(d.decode(input), (Ok(Chunk::Data(&b"abc"[..])), input.len()));
    assert_eq!(d.decode(b"defg"), (Ok(Chunk::Data(&b"defg"[..])), 4));
    assert_eq!(d.decode(b""), (Ok(Chunk::NeedMore), 0));
    assert!(!d.is_done());
}

// =============================================================================================
// Frame splitter

/// Pushes `pieces` through a splitter, returning the frames and the first error.
fn split_frames(max: usize, pieces: &[&[u8]]) -> (Vec<Vec<u8>>, Option<FrameError>, FrameSplitter) {
    let mut s = FrameSplitter::new(max);
    let mut frames = Vec::new();
    for p in pieces {
        if let Err(e) = s.push(p, &mut |f: &[u8]| frames.push(f.to_vec())) {
            return (frames, Some(e), s);
        }
    }
    (frames, None, s)
}

#[test]
fn frames_in_every_mode() {
    let input = b"{\"a\":1}\n\n{\"b\":22}\n{}\n\n\n{\"c\":333}\n";
    let expect: Vec<Vec<u8>> = vec![
        b"{\"a\":1}".to_vec(),
        b"{\"b\":22}".to_vec(),
        b"{}".to_vec(),
        b"{\"c\":333}".to_vec(),
    ];
    for mode in modes(input.len()) {
        let (frames, err, s) = split_frames(64, &mode.pieces(input));
        assert_eq!(frames, expect, "{}", mode.name);
        assert_eq!(err, None);
        assert_eq!(
            s.pending(),
            0,
            "{}: memory held after the last frame",
            mode.name
        );
    }
}

#[test]
fn frame_spanning_pushes_then_released() {
    let mut s = FrameSplitter::new(64);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let push = |s: &mut FrameSplitter, data: &[u8], frames: &mut Vec<Vec<u8>>| {
        s.push(data, &mut |f: &[u8]| frames.push(f.to_vec()))
    };
    push(&mut s, b"{\"a\":", &mut frames).unwrap();
    assert_eq!(s.pending(), 5);
    push(&mut s, b"1", &mut frames).unwrap();
    assert_eq!(s.pending(), 6);
    assert!(frames.is_empty());
    push(&mut s, b"}\n{\"b\":2}\n{\"c\"", &mut frames).unwrap();
    assert_eq!(frames, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
    assert_eq!(s.pending(), 4);
    push(&mut s, b":3}\n", &mut frames).unwrap();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[2], b"{\"c\":3}");
    assert_eq!(s.pending(), 0, "a completed frame releases its memory");
}

#[test]
fn frame_length_limit() {
    let max = 16;
    let at_limit = vec![b'x'; max];
    let over = vec![b'x'; max + 1];
    let nl = |v: &[u8]| [v, b"\n"].concat();
    let err = Some(FrameError::TooLong { max });

    // Exactly at the limit: fine in one push and across pushes.
    let input = nl(&at_limit);
    for mode in modes(input.len()) {
        let (frames, e, _) = split_frames(max, &mode.pieces(&input));
        assert_eq!(
            (frames, e),
            (vec![at_limit.clone()], None),
            "at limit ({})",
            mode.name
        );
    }
    // One byte over: rejected in one push, across pushes, and before the newline arrives.
    let input = [&b"{}\n"[..], &nl(&over)].concat();
    for mode in modes(input.len()) {
        let (frames, e, _) = split_frames(max, &mode.pieces(&input));
        assert_eq!(frames, vec![b"{}".to_vec()], "over limit ({})", mode.name);
        assert_eq!(e, err, "over limit ({})", mode.name);
    }
    let (_, e, _) = split_frames(max, &[&over]);
    assert_eq!(e, err, "no newline yet, one push");
    let (_, e, _) = split_frames(max, &[&at_limit, b"x"]);
    assert_eq!(e, err, "no newline yet, accumulated");
    // The default limit is used by Default.
    assert_eq!(FrameSplitter::default().pending(), 0);
    let big = vec![b'x'; DEFAULT_MAX_FRAME_LEN + 1];
    let mut s = FrameSplitter::default();
    assert_eq!(
        s.push(&big, &mut |_: &[u8]| {}),
        Err(FrameError::TooLong {
            max: DEFAULT_MAX_FRAME_LEN
        })
    );
}

#[test]
fn frame_finish_delivers_the_unterminated_last_frame() {
    let (mut frames, e, mut s) = split_frames(64, &[b"{\"a\":1}\n{\"b\"", b":2}"]);
    assert_eq!(e, None);
    assert_eq!(s.pending(), 7);
    s.finish(&mut |f: &[u8]| frames.push(f.to_vec()));
    assert_eq!(frames, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
    assert_eq!(s.pending(), 0);
    // Nothing pending: finish delivers nothing.
    let mut n = 0;
    s.finish(&mut |_: &[u8]| n += 1);
    assert_eq!(n, 0);
}

#[test]
fn frames_lying_whole_in_the_input_are_not_copied() {
    let mut s = FrameSplitter::new(64);
    let input = b"ab\ncd".to_vec();
    let range = input.as_ptr_range();
    let mut seen = Vec::new();
    s.push(&input, &mut |f: &[u8]| {
        seen.push((f.to_vec(), range.contains(&f.as_ptr())));
    })
    .unwrap();
    // The second frame spans two pushes: it is assembled in the splitter's buffer.
    s.push(b"\n", &mut |f: &[u8]| {
        seen.push((f.to_vec(), range.contains(&f.as_ptr())));
    })
    .unwrap();
    assert_eq!(seen, vec![(b"ab".to_vec(), true), (b"cd".to_vec(), false)]);
}

// =============================================================================================
// Connection

fn check_exchange(name: &str, input: &[u8], body: &[u8], reusable: bool) {
    for mode in modes(input.len()) {
        let m = &mode.name;
        let mut conn = requested();
        let t = drive(&mut conn, &mode.pieces(input));
        assert!(t.error.is_none(), "{name} ({m}): {:?}", t.error);
        assert!(t.head.is_some(), "{name} ({m}): no head");
        assert_eq!(t.body, body, "{name} ({m}): body");
        assert_eq!(t.end, Some(input.len()), "{name} ({m}): end");
        assert_eq!(conn.is_reusable(), reusable, "{name} ({m}): reusable");
        assert!(!conn.is_busy(), "{name} ({m}): busy after the end");
        assert_eq!(conn.buffered(), 0, "{name} ({m}): head memory held");
        assert!(
            conn.handle_eof().unwrap().is_none(),
            "{name} ({m}): eof after the end"
        );
    }
}

#[test]
fn exchange_content_length() {
    check_exchange(
        "content-length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
        b"hello world",
        true,
    );
    check_exchange(
        "content-length 0",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"",
        true,
    );
    check_exchange(
        "HTTP/1.0 content-length",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        b"hi",
        false,
    );
    check_exchange("204", b"HTTP/1.1 204 No Content\r\n\r\n", b"", true);
    check_exchange(
        "Connection: close",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
        b"hi",
        false,
    );
}

#[test]
fn exchange_chunked() {
    check_exchange(
        "chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"hello world",
        true,
    );
    check_exchange(
        "chunked with trailers",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX: y\r\n\r\n",
        b"hi",
        true,
    );
}

#[test]
fn exchange_until_close() {
    let input = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome bytes\r\n\r\n0\r\n\r\n";
    let body = &input[upto(input, b"\r\n\r\n")..];
    for mode in modes(input.len()) {
        let m = &mode.name;
        let mut conn = requested();
        let t = drive(&mut conn, &mode.pieces(input));
        assert!(t.error.is_none() && t.end.is_none(), "{m}: {t:?}");
        assert_eq!(t.body, body, "{m}");
        assert_eq!(t.consumed, input.len());
        assert!(
            matches!(conn.handle_eof(), Ok(Some(ResponseEvent::End))),
            "{m}"
        );
        assert!(!conn.is_reusable() && !conn.is_busy(), "{m}");
        assert!(
            conn.send_get("/x", "docker").is_err(),
            "{m}: request on a closed connection"
        );
    }
}

#[test]
fn keep_alive_reuse() {
    let first = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none".to_vec();
    let second =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n".to_vec();
    let input = [&first[..], &second[..]].concat();
    for mode in modes(input.len()) {
        let m = &mode.name;
        let pieces = mode.pieces(&input);

        // The second response arrives while no request is outstanding: the first stands, the
        // second is excess and closes the connection.
        let mut conn = requested();
        let t = drive_through(&mut conn, &pieces);
        assert!(t.error.is_none(), "{m}: {:?}", t.error);
        assert_eq!(t.body, b"one", "{m}");
        assert_eq!(t.end, Some(first.len()), "{m}");
        assert_eq!(
            (t.excess_at, &t.excess[..]),
            (Some(first.len()), &second[..]),
            "{m}"
        );
        assert!(!conn.is_reusable() && !conn.is_busy(), "{m}: closed");

        // With the next request sent as soon as the first ends, both responses are read.
        let mut conn = requested();
        let mut responses = vec![Transcript::default()];
        for p in &pieces {
            let mut rest: &[u8] = p;
            loop {
                let t = drive(&mut conn, &[rest]);
                let done = t.end.is_some();
                let used = t.consumed;
                let cur = responses.last_mut().unwrap();
                assert!(t.error.is_none(), "{m}: {:?}", t.error);
                if let Some(h) = t.head {
                    cur.head = Some(h);
                }
                cur.body.extend_from_slice(&t.body);
                rest = &rest[used..];
                if done {
                    cur.end = Some(0);
                    assert!(conn.is_reusable(), "{m}");
                    conn.send_get("/y", "docker").expect("second request");
                    responses.push(Transcript::default());
                } else {
                    assert!(rest.is_empty());
                    break;
                }
            }
        }
        assert_eq!(responses.len(), 3, "{m}: two responses completed");
        assert_eq!(responses[0].body, b"one", "{m}");
        assert_eq!(responses[1].body, b"two", "{m}");
    }
}

#[test]
fn error_offsets_count_from_the_response_start() {
    // A chunked error on the second response of a connection.
    let first = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx".to_vec();
    let second_head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let second = [&second_head[..], b"3\r\nabc\r\n3\r\nabcX"].concat();
    let bad_at = second.len() - 1;
    for mode in modes(second.len()) {
        let mut conn = requested();
        let t = drive(&mut conn, &[&first]);
        assert!(t.end.is_some());
        conn.send_get("/y", "docker").unwrap();
        let t = drive(&mut conn, &mode.pieces(&second));
        assert_eq!(t.body, b"abcabc", "{}", mode.name);
        assert_eq!(
            t.error.map(|e| (e.0, e.1)),
            Some((
                ErrorKind::Protocol(ProtocolError::Chunked(ChunkedError::DataNotTerminated)),
                Some(bad_at as u64)
            )),
            "{}",
            mode.name
        );
        let e = conn_error_display(&second);
        assert!(e.contains(&format!("at byte {bad_at}")), "{e}");
    }
}

fn conn_error_display(input: &[u8]) -> String {
    let mut conn = requested();
    let mut rest = input;
    loop {
        match conn.handle_input(rest) {
            Err(e) => return e.to_string(),
            Ok((ResponseEvent::NeedMore, _)) => panic!("no error"),
            Ok((_, used)) => rest = &rest[used..],
        }
    }
}

#[test]
fn send_get_while_busy_fails() {
    let mut conn = Connection::new();
    assert!(conn.is_idle());
    conn.send_get("/a", "docker").unwrap();
    let busy = conn.send_get("/b", "docker").unwrap_err();
    assert!(matches!(
        busy.kind(),
        ErrorKind::InvalidRequest(RequestError::Busy)
    ));
    // Still busy while the body is read.
    let t = drive(
        &mut conn,
        &[b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab"],
    );
    assert!(t.head.is_some() && t.end.is_none());
    assert!(conn.is_busy());
    assert!(conn.send_get("/b", "docker").is_err());
    let t = drive(&mut conn, &[b"cd", b""]);
    assert_eq!(t.body, b"cd");
    assert!(t.end.is_some());
    conn.send_get("/b", "docker").unwrap();
    assert!(
        conn.transmit()
            .starts_with(b"GET /b HTTP/1.1\r\nHost: docker\r\n")
    );
    // Bad targets are refused without changing state.
    let mut fresh = Connection::new();
    assert!(matches!(
        fresh.send_get("no-slash", "docker").unwrap_err().kind(),
        ErrorKind::InvalidRequest(RequestError::InvalidTarget)
    ));
    assert!(fresh.is_idle());
}

#[test]
fn transmit_and_advance() {
    let mut conn = Connection::new();
    assert!(conn.transmit().is_empty());
    conn.send_get("/containers/abc/stats?stream=1", "docker")
        .unwrap();
    let req = conn.transmit().to_vec();
    assert!(req.starts_with(b"GET /containers/abc/stats?stream=1 HTTP/1.1\r\nHost: docker\r\n"));
    assert!(req.ends_with(b"\r\n\r\n"));
    conn.advance_transmit(4);
    assert_eq!(conn.transmit(), &req[4..]);
    conn.advance_transmit(usize::MAX / 2);
    assert!(conn.transmit().is_empty());
}

/// A complete response followed by more bytes, while no request is outstanding: the response
/// is delivered whole, the bytes come as `Excess` (all of them, from where the response ended),
/// and the connection is closed, as Go's net/http and curl do.
#[test]
fn data_after_the_end_is_excess_and_closes_the_connection() {
    let pipelined = &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo"[..];
    // (name, the response, its body, what follows it)
    type Case<'a> = (&'a str, Vec<u8>, &'a [u8], &'a [u8]);
    let cases: Vec<Case> = vec![
        (
            "204 then a byte",
            b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            b"",
            b"X",
        ),
        (
            "204 with Content-Length and its 'body'",
            b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n".to_vec(),
            b"",
            b"hello",
        ),
        (
            "304 then a byte",
            b"HTTP/1.1 304 Not Modified\r\n\r\n".to_vec(),
            b"",
            b"X",
        ),
        (
            "304 then a pipelined response",
            b"HTTP/1.1 304 Not Modified\r\n\r\n".to_vec(),
            b"",
            pipelined,
        ),
        (
            "body longer than Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na".to_vec(),
            b"a",
            b"b",
        ),
        (
            "Content-Length 0 then a pipelined response",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec(),
            b"",
            pipelined,
        ),
        (
            "chunked then a pipelined response",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\n".to_vec(),
            b"one",
            pipelined,
        ),
        (
            "chunked then an empty line",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\n".to_vec(),
            b"one",
            b"\r\n",
        ),
        (
            "Connection: close then more",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
            b"hi",
            b"more",
        ),
        (
            "HTTP/1.0 then more",
            b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
            b"hi",
            pipelined,
        ),
        (
            "100 Continue, 204, then a byte",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            b"",
            b"X",
        ),
    ];
    for (name, response, body, after) in cases {
        let input = [&response[..], after].concat();
        for mode in modes(input.len()) {
            let m = &mode.name;
            let mut conn = requested();
            let t = drive_through(&mut conn, &mode.pieces(&input));
            assert!(t.error.is_none(), "{name} ({m}): {:?}", t.error);
            assert!(t.head.is_some(), "{name} ({m}): no head");
            assert_eq!(t.body, body, "{name} ({m}): body");
            assert_eq!(t.end, Some(response.len()), "{name} ({m}): end");
            assert_eq!(t.excess_at, Some(response.len()), "{name} ({m}): excess at");
            assert_eq!(t.excess, after, "{name} ({m}): excess");
            assert_eq!(t.consumed, input.len(), "{name} ({m}): consumed");
            assert!(
                !conn.is_reusable() && !conn.is_busy(),
                "{name} ({m}): closed"
            );
            assert!(
                conn.send_get("/y", "docker").is_err(),
                "{name} ({m}): reused"
            );
            assert!(
                conn.handle_eof().unwrap().is_none(),
                "{name} ({m}): eof after"
            );
        }
    }
    // Bytes on a connection that never sent a request are excess too.
    let mut conn = Connection::new();
    assert!(matches!(
        conn.handle_input(b"HTTP/1.1 200 OK\r\n\r\n"),
        Ok((ResponseEvent::Excess(b"HTTP/1.1 200 OK\r\n\r\n"), 19))
    ));
    assert!(!conn.is_reusable());
}

#[test]
fn eof_before_anything_is_an_empty_reply() {
    let mut conn = requested();
    assert_eq!(conn.handle_eof().unwrap_err().kind(), ErrorKind::EmptyReply);
    // Empty reads do not count as bytes.
    let mut conn = requested();
    assert!(matches!(
        conn.handle_input(b""),
        Ok((ResponseEvent::NeedMore, 0))
    ));
    assert_eq!(conn.handle_eof().unwrap_err().kind(), ErrorKind::EmptyReply);
    // No request, no error.
    assert!(Connection::new().handle_eof().unwrap().is_none());
}

#[test]
fn eof_mid_response_is_truncated() {
    let responses: [(&str, &[u8]); 4] = [
        (
            "content-length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        ),
        (
            "chunked",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: 1\r\n\r\n",
        ),
        (
            "interim then final",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        ),
        ("204", b"HTTP/1.1 204 No Content\r\n\r\n"),
    ];
    for (name, input) in responses {
        // Every proper prefix: EOF there is Truncated, whether mid-head, mid-body or mid-chunk.
        for k in 1..input.len() {
            let mut conn = requested();
            let t = drive(&mut conn, &[&input[..k]]);
            assert!(t.error.is_none() && t.end.is_none(), "{name} at {k}: {t:?}");
            let e = conn.handle_eof().expect_err("truncated");
            assert_eq!(
                e.kind(),
                ErrorKind::Truncated,
                "{name}: EOF after {k} bytes"
            );
            assert!(!conn.is_reusable());
        }
        // The complete response: EOF afterwards is fine.
        let mut conn = requested();
        let t = drive(&mut conn, &[input]);
        assert_eq!(t.end, Some(input.len()), "{name}");
        assert!(conn.handle_eof().unwrap().is_none(), "{name}");
    }
}

#[test]
fn head_memory_is_released() {
    let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
    let mut conn = requested();
    let split = 20;
    let t = drive(&mut conn, &[&input[..split]]);
    assert!(t.head.is_none());
    assert_eq!(conn.buffered(), split);
    let t = drive(&mut conn, &[&input[split..]]);
    assert!(t.head.is_some());
    assert_eq!(t.body, b"abc");
    assert_eq!(
        conn.buffered(),
        0,
        "the head copy is dropped after the head was handed out"
    );
}
