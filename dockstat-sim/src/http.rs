//! The server side of HTTP/1.1, as little of it as the sim needs (RFC 9112): parse a request
//! head, write a response head, frame a body with `Content-Length` or chunked coding.
//!
//! Behaviour follows Go's `net/http` server, since that is what the real daemon runs:
//! - the head ends at the first empty line; `\n` alone is accepted as a line end and empty
//!   lines before the request line are skipped (RFC 9112 §2.2);
//! - a head larger than [`MAX_HEAD`] gets `431`, a malformed one `400`, a version other than
//!   1.0/1.1 `505`, each as Go writes them (no `Content-Length`, `Connection: close`); a
//!   request whose first byte cannot begin a method (TLS to the plain port) gets its `400`
//!   at once, where Go would wait for a line end;
//! - HTTP/1.1 connections persist unless the request says `Connection: close`; HTTP/1.0
//!   connections always close after one response (simpler than 1.0 keep-alive, and allowed:
//!   a server may close whenever it likes);
//! - response header order is Go's: the handler's headers sorted, then `Date`, then
//!   `Content-Length`, a sniffed `Content-Type`, `Connection`, `Transfer-Encoding`.
//!
//! Not here: request bodies beyond their length (the caller skips them), trailers, pipelining
//! policy, any I/O.

use std::borrow::Cow;

use dockstat::http::grammar;

use super::time::{UnixNanos, push_http_date};

/// Largest request head accepted. Go's default is 1 MiB; Docker clients send a few hundred
/// bytes, and 10,000 connections × 1 MiB of buffered garbage would be too much to hold.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// Go's reply to an oversized head.
pub(crate) const REPLY_431: &[u8] = b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large";
/// Go's reply to a malformed head.
pub(crate) const REPLY_400: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request";
/// Go's reply to an unsupported HTTP version.
pub(crate) const REPLY_505: &[u8] = b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n505 HTTP Version Not Supported";

/// Why a request head was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// No end of head within [`MAX_HEAD`] bytes: 431.
    TooLarge,
    /// Request line or header field does not follow the grammar: 400.
    Malformed,
    /// `HTTP/x.y` other than 1.0 and 1.1: 505.
    Version,
}

impl HeadError {
    /// The complete reply Go sends for this error.
    pub(crate) fn reply(self) -> &'static [u8] {
        match self {
            HeadError::TooLarge => REPLY_431,
            HeadError::Malformed => REPLY_400,
            HeadError::Version => REPLY_505,
        }
    }
}

/// A parsed request head, borrowing the connection's input buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestHead<'a> {
    pub(crate) method: &'a str,
    /// Path and query, e.g. `/v1.41/containers/json?all=1` (absolute-form is reduced to this).
    pub(crate) target: &'a str,
    /// HTTP/1.1 (else 1.0).
    pub(crate) http11: bool,
    /// Whether the connection may carry another request after this one.
    pub(crate) keep_alive: bool,
    /// Body length to skip before the next request.
    pub(crate) content_length: u64,
    /// The body is chunked: the sim does not decode request bodies, so the connection closes
    /// after the response.
    pub(crate) chunked: bool,
}

/// Result of [`parse_head`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// More bytes are needed.
    Partial,
    /// A head, and how many bytes of the buffer it used.
    Done(RequestHead<'a>, usize),
    Error(HeadError),
}

/// Whether a comma-separated header value contains `token` (case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses one request head from the start of `buf`.
pub(crate) fn parse_head(buf: &[u8]) -> Parsed<'_> {
    // Skip empty lines before the request line (leftovers of a previous body, telnet users).
    let mut start = 0;
    while let Some(rest) = buf.get(start..) {
        if rest.starts_with(b"\r\n") {
            start += 2;
        } else if rest.starts_with(b"\n") {
            start += 1;
        } else {
            break;
        }
    }
    // A first byte that cannot begin a method (a TLS ClientHello on the plain port) is
    // refused at once: Go refuses it when a line end arrives, which a ClientHello may never
    // send, and the client would wait for an answer as long as the sim waits for more.
    if buf
        .get(start)
        .is_some_and(|&b| !grammar::RequestHead::may_start_with(b) && b != b'\r')
    {
        return Parsed::Error(HeadError::Malformed);
    }
    let Some(end) = grammar::RequestHead::find_end(&buf[start..], 0) else {
        return if buf.len() > MAX_HEAD {
            Parsed::Error(HeadError::TooLarge)
        } else {
            Parsed::Partial
        };
    };
    if end > MAX_HEAD {
        return Parsed::Error(HeadError::TooLarge);
    }
    let head = &buf[start..start + end];
    match parse_complete(head) {
        Ok(h) => Parsed::Done(h, start + end),
        Err(e) => Parsed::Error(e),
    }
}

fn parse_complete(head: &[u8]) -> Result<RequestHead<'_>, HeadError> {
    let request = grammar::RequestHead::parse(head).ok_or(HeadError::Malformed)?;
    let http11 = match request.version {
        (1, 1) => true,
        (1, 0) => false,
        _ => return Err(HeadError::Version),
    };
    let mut close = false;
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for field in request.fields() {
        // obs-fold (a continuation line) is rejected, as RFC 9112 §5.2 allows, and so is a
        // line without a colon or with a name that is not a token.
        let (name, value) = field.ok_or(HeadError::Malformed)?;
        // Go's textproto trims CR and LF as well as OWS around a value.
        let value = value.trim_ascii();
        if name.eq_ignore_ascii_case(b"connection") {
            // `keep-alive` is not looked for: HTTP/1.0 connections close (see the module docs).
            close |= has_token(value, "close");
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(HeadError::Malformed)?;
            if content_length.is_some_and(|old| old != n) {
                return Err(HeadError::Malformed);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = true;
        }
    }
    let method = std::str::from_utf8(request.method).map_err(|_| HeadError::Malformed)?;
    let target = std::str::from_utf8(request.target).map_err(|_| HeadError::Malformed)?;
    Ok(RequestHead {
        method,
        target: origin_form(target),
        http11,
        keep_alive: http11 && !close && !chunked,
        content_length: if chunked {
            0
        } else {
            content_length.unwrap_or(0)
        },
        chunked,
    })
}

/// Reduces an absolute-form target (`http://docker/_ping`) to its path and query.
fn origin_form(target: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if let Some(rest) = target.strip_prefix(scheme) {
            return rest.find('/').map_or("/", |i| &rest[i..]);
        }
    }
    target
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` is set, as in query strings). Invalid
/// escapes are kept verbatim, like Go's lenient path handling; invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str, plus: bool) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || (plus && b == b'+')) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b,
            bytes.get(i + 1).and_then(|&c| hex(c)),
            bytes.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) if plus => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length: n`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection closes (HTTP/1.0 streams).
    Close,
    /// The handler put `Content-Length` among its own headers (HEAD /_ping): add nothing.
    Preset,
}

/// How much of a handler's output Go's server buffers before it commits to chunked coding
/// (`bufferBeforeChunkingSize`): a body that fits gets a `Content-Length` instead. The fixtures
/// show both sides of it (busy-nostream 2349 bytes chunked, netidle-nostream 1838 not).
pub(crate) const GO_CHUNKING_THRESHOLD: usize = 2048;

/// Go's framing for a body written in one go by a handler that set no length: HTTP/1.0 cannot
/// chunk, so a large body there is delimited by closing the connection.
pub(crate) fn go_framing(len: usize, http11: bool) -> Framing {
    if len <= GO_CHUNKING_THRESHOLD {
        Framing::Length(len)
    } else if http11 {
        Framing::Chunked
    } else {
        Framing::Close
    }
}

/// A response head to write.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResponseHead<'a> {
    pub(crate) http11: bool,
    pub(crate) status: u16,
    /// Headers the handler set, already in Go's (sorted) order.
    pub(crate) headers: &'a [(&'a str, &'a str)],
    pub(crate) date: UnixNanos,
    pub(crate) framing: Framing,
    /// A `Content-Type` that Go's server sniffed (written after `Content-Length`).
    pub(crate) sniffed_type: Option<&'a str>,
    /// Add `Connection: close` (HTTP/1.1 only, as Go does).
    pub(crate) close: bool,
    /// The `Server` header's value instead of the handler's (another daemon's).
    pub(crate) server: Option<&'a str>,
}

/// The reason phrase Go uses for the statuses the sim sends.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

/// Appends a response head, through the empty line.
pub(crate) fn push_head(out: &mut Vec<u8>, h: &ResponseHead<'_>) {
    out.extend_from_slice(if h.http11 { b"HTTP/1.1 " } else { b"HTTP/1.0 " });
    super::json::push_u64(out, u64::from(h.status));
    out.push(b' ');
    out.extend_from_slice(reason(h.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in h.headers {
        let value = match h.server {
            Some(server) if *name == "Server" => server,
            _ => value,
        };
        push_header(out, name, value.as_bytes());
    }
    out.extend_from_slice(b"Date: ");
    push_http_date(out, h.date);
    out.extend_from_slice(b"\r\n");
    if let Framing::Length(n) = h.framing {
        out.extend_from_slice(b"Content-Length: ");
        super::json::push_u64(out, n as u64);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(t) = h.sniffed_type {
        push_header(out, "Content-Type", t.as_bytes());
    }
    if h.close && h.http11 {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if h.framing == Framing::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `payload` as one chunk (lowercase hex size, like Go). An empty payload writes
/// nothing: a zero-size chunk would end the body.
pub(crate) fn push_chunk(out: &mut Vec<u8>, payload: &[u8]) {
    if payload.is_empty() {
        return;
    }
    push_chunk_size(out, payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Appends a chunk-size line.
pub(crate) fn push_chunk_size(out: &mut Vec<u8>, n: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = HEX[v & 0xf];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Appends the last chunk (no trailers): the end of a chunked body.
pub(crate) fn push_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(buf: &[u8]) -> (RequestHead<'_>, usize) {
        match parse_head(buf) {
            Parsed::Done(h, n) => (h, n),
            other => panic!("expected a head, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_docker_cli_request() {
        let req = b"GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: Docker-Client/28.2.2 (linux)\r\n\r\nNEXT";
        let (h, n) = done(req);
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/v1.41/containers/json?all=1");
        assert!(h.http11 && h.keep_alive && !h.chunked);
        assert_eq!(&req[n..], b"NEXT");
    }

    #[test]
    fn every_prefix_is_partial() {
        let req = b"HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n";
        for i in 0..req.len() {
            assert_eq!(parse_head(&req[..i]), Parsed::Partial, "prefix {i}");
        }
        assert!(matches!(parse_head(req), Parsed::Done(_, n) if n == req.len()));
    }

    #[test]
    fn bare_lf_leading_empty_lines_and_absolute_form() {
        let req = b"\r\n\nGET http://docker/_ping HTTP/1.0\nHost: x\n\n";
        let (h, n) = done(req);
        assert_eq!(h.target, "/_ping");
        assert!(!h.http11 && !h.keep_alive);
        assert_eq!(n, req.len());
    }

    #[test]
    fn connection_and_length_headers() {
        let (h, _) = done(b"GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n");
        assert!(!h.keep_alive);
        let (h, _) = done(b"POST / HTTP/1.1\r\ncontent-length: 12\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(h.content_length, 12);
        assert!(h.keep_alive);
        let (h, _) = done(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(h.chunked && !h.keep_alive);
    }

    #[test]
    fn errors() {
        let cases: [(&[u8], HeadError); 8] = [
            (b"GET /\r\n\r\n", HeadError::Malformed),
            (b"GET  / HTTP/1.1\r\n\r\n", HeadError::Malformed),
            (b"GET / HTTP/2.0\r\n\r\n", HeadError::Version),
            (b"GET / FTP/1.0\r\n\r\n", HeadError::Malformed),
            (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", HeadError::Malformed),
            (
                b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
                HeadError::Malformed,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                HeadError::Malformed,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                HeadError::Malformed,
            ),
        ];
        for (req, want) in cases {
            assert_eq!(
                parse_head(req),
                Parsed::Error(want),
                "{}",
                String::from_utf8_lossy(req)
            );
        }
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 1, b'a');
        assert_eq!(parse_head(&big), Parsed::Error(HeadError::TooLarge));
        big.truncate(MAX_HEAD - 10);
        assert_eq!(parse_head(&big), Parsed::Partial);
        // A TLS ClientHello (no line end in it) is refused without waiting for one; a lone
        // CR may be the start of a blank line.
        let hello = [
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ];
        assert_eq!(parse_head(&hello), Parsed::Error(HeadError::Malformed));
        assert_eq!(parse_head(b"\r"), Parsed::Partial);
        assert_eq!(
            parse_head(b"\r\n\x16\x03"),
            Parsed::Error(HeadError::Malformed)
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", true), "a b c");
        assert_eq!(percent_decode("a%20b+c", false), "a b+c");
        assert_eq!(percent_decode("%7B%22x%22%3A1%7D", true), "{\"x\":1}");
        assert_eq!(percent_decode("bad%zz%4", true), "bad%zz%4");
    }

    #[test]
    fn head_order_like_go() {
        let mut out = Vec::new();
        push_head(
            &mut out,
            &ResponseHead {
                http11: true,
                status: 200,
                headers: &[("Api-Version", "1.41"), ("Server", "x")],
                date: 1_795_416_953_000_000_000,
                framing: Framing::Length(2),
                sniffed_type: Some("text/plain; charset=utf-8"),
                close: true,
                server: None,
            },
        );
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nServer: x\r\nDate: Mon, 23 Nov 2026 06:55:53 GMT\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn go_framing_threshold() {
        assert_eq!(go_framing(2048, true), Framing::Length(2048));
        assert_eq!(go_framing(2049, true), Framing::Chunked);
        assert_eq!(go_framing(2049, false), Framing::Close);
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        push_chunk(&mut out, &[b'x'; 2209]);
        push_chunk(&mut out, b"");
        push_last_chunk(&mut out);
        assert!(out.starts_with(b"8a1\r\nxx"));
        assert!(out.ends_with(b"xx\r\n0\r\n\r\n"));
        assert_eq!(out.len(), 5 + 2209 + 2 + 5);
    }
}
