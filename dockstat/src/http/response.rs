//! Response head parser: status line and header fields (RFC 9112 §4, §5).
//!
//! Sans-io and borrowed: the caller owns the bytes and gets a [`ResponseHead`] that points into
//! them. Running out of input is [`Status::Partial`], never an error. The head is only parsed
//! once its terminating empty line is present, so a parse is one linear pass; [`ResponseHead::find_end`]
//! lets a caller that receives the head in pieces resume its search where it stopped.
//!
//! Strictness is deliberate: dockstat talks to one kind of server (the Docker daemon, written in
//! Go, which always sends clean CRLF heads), so anything that could make the framing ambiguous is
//! rejected rather than repaired: bare CR or LF, obs-fold, whitespace before a colon, control
//! bytes, status codes outside 100..=599.
//!
//! One leniency is the robustness rule of RFC 9112 §2.2 that llhttp and httparse apply: empty
//! lines (CRLF) before the status line are skipped, at most [`ResponseHead::MAX_EMPTY_LINES`] of them. They
//! cannot make the framing ambiguous: no head starts with one.
//!
//! What this module does not do: decide how the body is framed (see [`super::body`]), or keep
//! any state between calls.

use std::fmt;

use super::grammar;

/// The longest response head accepted, status line and fields and the final empty line
/// included. The Docker daemon sends about 300 bytes; anything near this is not a Docker daemon.
pub(crate) const MAX_HEAD_LEN: usize = 32 * 1024;

/// The most header fields accepted in one response head.
pub(crate) const MAX_HEADERS: usize = 100;

/// The most empty lines (CRLF) skipped before a status line (RFC 9112 §2.2: "a server that is
/// expecting to receive and parse a request-line SHOULD ignore at least one empty line (CRLF)
/// received prior to the request-line"; a client reading a status line does the same, as
/// llhttp does). A server sends one or two by mistake, after a body or a `100 Continue`; more
/// than this is not a response.
pub(crate) const MAX_EMPTY_LINES: usize = 8;

/// The result of a parse that may need more input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// The head is complete.
    Complete(T),
    /// More bytes are needed; nothing in the input so far is invalid.
    Partial,
}

/// Why a response head was rejected. One variant per grammar failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeadError {
    /// The head is longer than [`ResponseHead::MAX_LEN`] bytes.
    TooLarge,
    /// The head has more than [`ResponseHead::MAX_HEADERS`] fields.
    TooManyHeaders,
    /// The status line does not start with `HTTP/1.0 ` or `HTTP/1.1 `.
    Version,
    /// The status code is not three digits in `100..=599` followed by SP or the line end.
    StatusCode,
    /// The reason phrase holds a control byte.
    Reason,
    /// A line ends in a bare LF, or a CR is not followed by LF.
    /// RFC 9112 §2.2 allows a bare LF to be accepted; dockstat does not, so that no two parsers
    /// can disagree about where a line ends.
    LineEnding,
    /// A field line starts with whitespace: obsolete line folding (RFC 9112 §5.2), or
    /// whitespace between the status line and the first field.
    ObsFold,
    /// A field name is empty or holds a byte that is not a token character.
    HeaderName,
    /// A field line has no colon.
    MissingColon,
    /// Whitespace between a field name and its colon; RFC 9112 §5.1: "A server MUST reject …
    /// any received request message that contains whitespace between a header field name and
    /// colon", and a response with it is no less ambiguous.
    WhitespaceBeforeColon,
    /// A field value holds NUL or another control byte other than HTAB.
    HeaderValue,
    /// More than [`ResponseHead::MAX_EMPTY_LINES`] empty lines before the status line.
    EmptyLines,
}

impl HeadError {
    /// A short description for messages.
    pub fn description(self) -> &'static str {
        match self {
            HeadError::TooLarge => "response head is too large",
            HeadError::TooManyHeaders => "too many header fields",
            HeadError::Version => "status line does not start with HTTP/1.x",
            HeadError::StatusCode => "invalid status code",
            HeadError::Reason => "control byte in the reason phrase",
            HeadError::LineEnding => "line in the response head does not end in CRLF",
            HeadError::ObsFold => "folded header line (obs-fold)",
            HeadError::HeaderName => "invalid header field name",
            HeadError::MissingColon => "header line without a colon",
            HeadError::WhitespaceBeforeColon => "whitespace between header name and colon",
            HeadError::HeaderValue => "control byte in a header value",
            HeadError::EmptyLines => "too many empty lines before the status line",
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for HeadError {}

/// A parsed response head, borrowed from the bytes it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHead<'b> {
    /// The minor HTTP version: 0 or 1.
    pub minor_version: u8,
    /// The status code, in `100..=599`.
    pub code: u16,
    /// The reason phrase (may be empty).
    pub reason: &'b [u8],
    /// From the status line to the empty line that ends the head.
    raw: &'b [u8],
    /// Bytes from the start of the input to the end of the head: `raw` and the empty lines
    /// skipped before it.
    len: usize,
    fields: &'b [u8],
    count: usize,
}

impl<'b> ResponseHead<'b> {
    /// The head as received: status line, fields and the final empty line (without the empty
    /// lines skipped before the status line).
    pub fn raw(&self) -> &'b [u8] {
        self.raw
    }

    /// Length of the head in bytes, with the empty lines skipped before it; the body starts at
    /// this offset.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a head holds at least a status line.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Number of header fields.
    pub fn header_count(&self) -> usize {
        self.count
    }

    /// The header fields in the order received.
    pub fn headers(&self) -> impl Iterator<Item = Header<'b>> + Clone + use<'b> {
        Headers { rest: self.fields }
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value)
    }
}

/// One header field. The name is a non-empty token; the value has its surrounding whitespace
/// removed and holds no control bytes but HTAB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<'b> {
    pub name: &'b [u8],
    pub value: &'b [u8],
}

impl Header<'_> {
    /// Whether the field is named `name` (ASCII case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Iterator over the fields of a validated head.
#[derive(Clone, Debug)]
pub(crate) struct Headers<'b> {
    rest: &'b [u8],
}

impl<'b> Iterator for Headers<'b> {
    type Item = Header<'b>;

    fn next(&mut self) -> Option<Header<'b>> {
        // `rest` was validated by `parse_response`: CRLF-terminated `name:value` lines.
        let (name, value) = grammar::split_field(grammar::next_line(&mut self.rest)?)?;
        Some(Header { name, value })
    }
}

/// Searches `buf` for the end of a response head (the empty line), starting at `from`.
///
/// Returns the length of the head including its final CRLF, or `None` when the end is not in
/// `buf` yet. A caller receiving the head in pieces passes the length it already searched as
/// `from`, so the whole search is linear. Every error is reported as soon as it is certain, and
/// depends only on the bytes up to the offending one, so the same input gives the same result
/// however it is split: more than [`MAX_EMPTY_LINES`] empty lines first, a status line not
/// starting with `HTTP/1.0 ` or `HTTP/1.1 `, a bare LF, a CR not followed by LF, and a head
/// (after the empty lines) longer than [`MAX_HEAD_LEN`].
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Result<Option<usize>, HeadError> {
    let Some(start) = skip_empty_lines(buf)? else {
        return Ok(None);
    };
    let (skipped, buf) = buf.split_at(start);
    // Reject a stream that is not HTTP/1.x as early as possible instead of waiting for a head
    // that will never come (a server speaking another protocol, TLS to a plain port, …).
    let n = buf.len().min(9);
    if buf[..n] != b"HTTP/1.1 "[..n] && buf[..n] != b"HTTP/1.0 "[..n] {
        return Err(HeadError::Version);
    }
    // A head that fits ends within the first MAX_HEAD_LEN bytes; nothing after them is looked
    // at, so an error beyond the limit cannot win over `TooLarge` when more input arrived at once.
    let buf = &buf[..buf.len().min(MAX_HEAD_LEN)];
    match grammar::crlf_head_end(buf, from.saturating_sub(skipped.len())) {
        Err(()) => Err(HeadError::LineEnding),
        Ok(Some(end)) => Ok(Some(skipped.len() + end)),
        Ok(None) if buf.len() >= MAX_HEAD_LEN => Err(HeadError::TooLarge),
        Ok(None) => Ok(None),
    }
}

/// Where the status line starts in `buf`: after at most [`MAX_EMPTY_LINES`] empty lines
/// (CRLF), or `None` while `buf` ends inside them. A bare LF, or a CR not followed by LF, is a
/// [`HeadError::LineEnding`] as anywhere in a head; one empty line too many is
/// [`HeadError::EmptyLines`], reported at its CR (nothing can make it right).
fn skip_empty_lines(buf: &[u8]) -> Result<Option<usize>, HeadError> {
    let mut at = 0;
    loop {
        match buf[at..] {
            [b'\r', ..] if at == 2 * MAX_EMPTY_LINES => return Err(HeadError::EmptyLines),
            [b'\r', b'\n', ..] => at += 2,
            [b'\r'] => return Ok(None),
            [b'\r', ..] | [b'\n', ..] => return Err(HeadError::LineEnding),
            _ => return Ok(Some(at)),
        }
    }
}

/// Parses a response head from the start of `buf`.
///
/// `Ok(Status::Partial)` means the head is not complete yet; nothing is wrong so far.
pub fn parse_response(buf: &[u8]) -> Result<Status<ResponseHead<'_>>, HeadError> {
    match find_head_end(buf, 0)? {
        None => Ok(Status::Partial),
        Some(len) => parse_complete(&buf[..len]).map(Status::Complete),
    }
}

/// Parses a head known to be complete: `head` ends with the empty line and holds nothing else.
pub(crate) fn parse_complete(head: &[u8]) -> Result<ResponseHead<'_>, HeadError> {
    let len = head.len();
    let start = skip_empty_lines(head)?.ok_or(HeadError::LineEnding)?;
    let head = &head[start..];
    // `find_head_end` established that every LF follows a CR.
    let mut rest = head;
    let status_line = grammar::next_line(&mut rest).ok_or(HeadError::LineEnding)?;
    let (minor_version, code, reason) = parse_status_line(status_line)?;

    // Everything between the status line and the final empty line.
    let fields = &rest[..rest.len() - 2];
    let mut count = 0;
    for line in grammar::lines(fields) {
        check_field_line(line)?;
        count += 1;
        if count > MAX_HEADERS {
            return Err(HeadError::TooManyHeaders);
        }
    }
    Ok(ResponseHead {
        minor_version,
        code,
        reason,
        raw: head,
        len,
        fields,
        count,
    })
}

fn parse_status_line(line: &[u8]) -> Result<(u8, u16, &[u8]), HeadError> {
    // status-line = HTTP-version SP status-code SP [ reason-phrase ]
    let minor = match line.get(..9) {
        Some(b"HTTP/1.1 ") => 1,
        Some(b"HTTP/1.0 ") => 0,
        _ => return Err(HeadError::Version),
    };
    let digits = line.get(9..12).ok_or(HeadError::StatusCode)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::StatusCode);
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&code) {
        return Err(HeadError::StatusCode);
    }
    // Go and many servers send "HTTP/1.1 200 OK"; a missing reason (and its SP) is tolerated
    // because it cannot affect framing.
    let reason = match line.get(12) {
        None => &line[12..],
        Some(b' ') => &line[13..],
        Some(_) => return Err(HeadError::StatusCode),
    };
    if !reason.iter().all(|&b| grammar::is_field_value_byte(b)) {
        return Err(HeadError::Reason);
    }
    Ok((minor, code, reason))
}

fn check_field_line(line: &[u8]) -> Result<(), HeadError> {
    match line.first() {
        Some(b' ' | b'\t') => return Err(HeadError::ObsFold),
        // `parse_complete` only passes lines before the final empty line, but an empty field
        // line cannot occur there: it would have ended the head.
        None => return Err(HeadError::MissingColon),
        _ => {}
    }
    let colon = match line.iter().position(|&b| b == b':') {
        Some(c) => c,
        None => {
            return Err(if line.iter().all(|&b| grammar::is_tchar(b)) {
                HeadError::MissingColon
            } else {
                HeadError::HeaderName
            });
        }
    };
    let name = &line[..colon];
    if name.is_empty() {
        return Err(HeadError::HeaderName);
    }
    if let Some(pos) = name.iter().position(|&b| !grammar::is_tchar(b)) {
        return Err(if name[pos..].iter().all(|&b| b == b' ' || b == b'\t') {
            HeadError::WhitespaceBeforeColon
        } else {
            HeadError::HeaderName
        });
    }
    if !line[colon + 1..]
        .iter()
        .all(|&b| grammar::is_field_value_byte(b))
    {
        return Err(HeadError::HeaderValue);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head's status code and length, or the error; `None` while incomplete.
    type Found = Option<Result<(u16, usize), HeadError>>;

    /// `find_head_end` on `buf` fed in the given prefix lengths, resuming each time, then the
    /// parse of the head it found.
    fn head(buf: &[u8], cuts: &[usize]) -> Found {
        let mut from = 0;
        for &end in cuts.iter().chain([buf.len()].iter()) {
            match find_head_end(&buf[..end], from) {
                Ok(None) => from = end,
                Err(e) => return Some(Err(e)),
                Ok(Some(len)) => {
                    return Some(parse_complete(&buf[..len]).map(|h| (h.code, h.len())));
                }
            }
        }
        None
    }

    /// Empty lines before a status line (RFC 9112 §2.2): whole, split at every byte, and byte
    /// by byte.
    #[test]
    fn empty_lines_before_the_status_line() {
        let status = b"HTTP/1.1 204 No Content\r\n\r\n";
        let before = |n: usize| [&b"\r\n".repeat(n)[..], status].concat();
        let cases: Vec<(Vec<u8>, Found)> = vec![
            (before(0), Some(Ok((204, 27)))),
            (before(1), Some(Ok((204, 29)))),
            (
                before(MAX_EMPTY_LINES),
                Some(Ok((204, 27 + 2 * MAX_EMPTY_LINES))),
            ),
            (
                before(MAX_EMPTY_LINES + 1),
                Some(Err(HeadError::EmptyLines)),
            ),
            (b"\r\n".repeat(MAX_EMPTY_LINES), None),
            (b"\r\n\r".to_vec(), None),
            (
                [&b"\n"[..], status].concat(),
                Some(Err(HeadError::LineEnding)),
            ),
            (
                [&b"\r\r\n"[..], status].concat(),
                Some(Err(HeadError::LineEnding)),
            ),
            (
                [&b"\r\n \r\n"[..], status].concat(),
                Some(Err(HeadError::Version)),
            ),
        ];
        for (buf, want) in cases {
            let name = buf.escape_ascii().to_string();
            assert_eq!(head(&buf, &[]), want, "{name}");
            for k in 0..=buf.len() {
                assert_eq!(head(&buf, &[k]), want, "{name} split at {k}");
            }
            let bytewise: Vec<usize> = (0..buf.len()).collect();
            assert_eq!(head(&buf, &bytewise), want, "{name} byte by byte");
            if let Some(Ok((_, len))) = want {
                let Ok(Status::Complete(h)) = parse_response(&buf) else {
                    panic!("{name}: parse_response");
                };
                assert_eq!((h.len(), h.raw()), (len, &status[..]), "{name}");
            }
        }
    }
}
