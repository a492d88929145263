//! The HTTP/1 message grammar (RFC 9112, RFC 9110) that both ends of a connection share: token
//! and field-value characters, where a head ends, its lines, a field line's name and value, and
//! the request line.
//!
//! Everything here only recognises syntax; what a malformed head costs (an error variant, a
//! `400`, closing the connection) is the caller's decision, as are size limits. The client's
//! response parser is [`super::response`]; the simulated daemon and the Prometheus exporter
//! parse their requests with these functions.

/// tchar (RFC 9110 §5.6.2): `"!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
/// "_" / "`" / "|" / "~" / DIGIT / ALPHA`. Methods and field names are tokens: `token =
/// 1*tchar`.
#[inline]
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is a token (RFC 9110 §5.6.2: `token = 1*tchar`).
#[inline]
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Whether `b` may appear in a field value (RFC 9110 §5.5): `field-vchar = VCHAR / obs-text`,
/// with SP and HTAB between them. "Field values containing CR, LF, or NUL characters are
/// invalid and dangerous"; the other controls are not field-vchar either. The same set makes
/// up a reason phrase (RFC 9112 §4: `reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )`).
#[inline]
pub(crate) fn is_field_value_byte(b: u8) -> bool {
    !(b < 0x20 || b == 0x7f) || b == b'\t'
}

/// Searches `buf` for the end of a head (the empty line that ends the fields), starting at
/// `from`, accepting a bare LF as a line end: RFC 9112 §2.2, "a recipient MAY recognize a single
/// LF as a line terminator and ignore any preceding CR". A CR elsewhere is left to the line's
/// own grammar.
///
/// Returns the length of the head including its empty line, or `None` while the empty line is
/// not in `buf`. An empty line at the very start does not end a head (a server skips those
/// before the request line, RFC 9112 §2.2). A caller receiving the head in pieces passes the
/// length it already searched as `from`, so the whole search is linear.
pub(crate) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    // Only the CRLF-only search reports a line-ending error.
    scan(buf, from, false).unwrap_or_default()
}

/// [`head_end`] for a peer held to CRLF: a bare LF, or a CR not followed by LF, is an error as
/// soon as it is seen (RFC 9112 §2.2 allows a recipient to accept them; a client that talks to
/// one kind of server does not, so that no two parsers can disagree about where a line ends).
/// A CR at the end of `buf` is decided by the byte after it.
pub(crate) fn crlf_head_end(buf: &[u8], from: usize) -> Result<Option<usize>, ()> {
    scan(buf, from, true)
}

fn scan(buf: &[u8], from: usize, crlf_only: bool) -> Result<Option<usize>, ()> {
    // Every byte before `from` was looked at by the earlier call, except a CR that ended it:
    // that one is decided by the byte after it.
    let mut i = from.min(buf.len());
    if i > 0 && buf[i - 1] == b'\r' {
        i -= 1;
    }
    while let Some(off) = memchr::memchr2(b'\r', b'\n', &buf[i..]) {
        let at = i + off;
        let lf = if buf[at] == b'\n' {
            // CRLF pairs are stepped over whole, so this LF has no CR before it.
            if crlf_only {
                return Err(());
            }
            at
        } else {
            match buf.get(at + 1) {
                None => break,
                Some(b'\n') => at + 1,
                Some(_) if crlf_only => return Err(()),
                Some(_) => {
                    i = at + 1;
                    continue;
                }
            }
        };
        // The line ending at this LF is empty if the previous line end is right before it.
        if matches!(buf[..lf], [.., b'\n'] | [.., b'\n', b'\r']) {
            return Ok(Some(lf + 1));
        }
        i = lf + 1;
    }
    Ok(None)
}

/// The LF-terminated lines of a head, each without its line end (CRLF, or a bare LF where
/// [`head_end`] accepted one; RFC 9112 §2.2). Bytes after the last LF are not a line. The empty
/// line that ends a head is the last item.
pub(crate) fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    let mut rest = head;
    std::iter::from_fn(move || next_line(&mut rest))
}

/// Takes the next LF-terminated line off the front of `rest`, without its line end.
#[inline]
pub(crate) fn next_line<'b>(rest: &mut &'b [u8]) -> Option<&'b [u8]> {
    let lf = memchr::memchr(b'\n', rest)?;
    let line = &rest[..lf];
    *rest = &rest[lf + 1..];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Splits a field line into its name and value (RFC 9112 §5: `field-line = field-name ":" OWS
/// field-value OWS`), the value without the optional whitespace around it. `None` when there
/// is no colon or the name is not a token: that covers whitespace before the colon ("A server
/// MUST reject, with a response status code of 400 (Bad Request), any received request message
/// that contains whitespace between a header field name and colon", §5.1) and obs-fold, a line
/// starting with whitespace (§5.2). The value's characters are not checked here.
pub(crate) fn split_field(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let colon = memchr::memchr(b':', line)?;
    let name = &line[..colon];
    is_token(name).then(|| (name, trim_ows(&line[colon + 1..])))
}

/// Removes optional whitespace (RFC 9110 §5.6.3: `OWS = *( SP / HTAB )`) at both ends.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// A request line (RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestLine<'b> {
    /// A token.
    pub(crate) method: &'b [u8],
    /// Non-empty, visible ASCII only; its form (origin, absolute, …) is the caller's to check.
    pub(crate) target: &'b [u8],
    /// Major and minor version digits: `HTTP-version = HTTP-name "/" DIGIT "." DIGIT`
    /// (§2.3). Any version that matches the grammar is returned, so that a server can tell an
    /// unsupported version (`505`) from a malformed line (`400`).
    pub(crate) version: (u8, u8),
}

/// Parses a request line (without its line end). `None` when it does not follow the grammar:
/// exactly one SP between the parts (a server "SHOULD respond with a 400 (Bad Request)" to an
/// invalid request line rather than guess, §3), a method that is not a token, a target that is
/// empty or holds other than visible ASCII ("A recipient SHOULD NOT attempt to autocorrect and
/// then process the request without a redirect, since the invalid request-line might be
/// deliberately crafted to bypass security filters", §3.2), or a version that is not
/// `HTTP/DIGIT.DIGIT` (`HTTP-name = %s"HTTP"`, case-sensitive).
pub(crate) fn request_line(line: &[u8]) -> Option<RequestLine<'_>> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if !is_token(method) || target.is_empty() || !target.iter().all(u8::is_ascii_graphic) {
        return None;
    }
    let version = match *version {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            (major - b'0', minor - b'0')
        }
        _ => return None,
    };
    Some(RequestLine {
        method,
        target,
        version,
    })
}

/// A request head as a server receives it: the request line parsed, the field lines split as
/// they are read. The simulated daemon and the Prometheus exporter read their requests with
/// it; what a malformed head costs (which status, closing the connection) is theirs to say.
///
/// ```
/// use dockstat::http::grammar::RequestHead;
///
/// let buf = b"GET /metrics HTTP/1.1\r\nAccept: text/plain\r\n\r\nnext";
/// let end = RequestHead::find_end(buf, 0).unwrap();
/// let head = RequestHead::parse(&buf[..end]).unwrap();
/// assert_eq!((head.method, head.target, head.version), (&b"GET"[..], &b"/metrics"[..], (1, 1)));
/// let fields: Vec<_> = head.fields().collect();
/// assert_eq!(fields, [Some((&b"Accept"[..], &b"text/plain"[..]))]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHead<'b> {
    /// A token.
    pub method: &'b [u8],
    /// Non-empty, visible ASCII only; its form (origin, absolute, …) is the caller's to check.
    pub target: &'b [u8],
    /// Major and minor version digits (RFC 9112 §2.3), whatever they are, so that a server
    /// can tell an unsupported version from a malformed line.
    pub version: (u8, u8),
    /// The field lines and the empty line that ends them.
    fields: &'b [u8],
}

impl<'b> RequestHead<'b> {
    /// Where the head that starts `buf` ends: the length through its empty line, or `None`
    /// while that line has not arrived. A bare LF counts as a line end (RFC 9112 §2.2). A
    /// caller receiving the head in pieces passes the length already searched as `from`.
    pub fn find_end(buf: &[u8], from: usize) -> Option<usize> {
        head_end(buf, from)
    }

    /// Whether `b` may begin a request (a method is a token, RFC 9110 §5.6.2): a first byte
    /// that may not (a TLS ClientHello on a plain port) can be refused at once.
    pub fn may_start_with(b: u8) -> bool {
        is_tchar(b)
    }

    /// Parses a complete head (as long as [`RequestHead::find_end`] said). `None` when the
    /// request line does not follow RFC 9112 §3: `method SP request-target SP HTTP-version`.
    pub fn parse(head: &'b [u8]) -> Option<RequestHead<'b>> {
        let mut rest = head;
        let line = next_line(&mut rest)?;
        let RequestLine {
            method,
            target,
            version,
        } = request_line(line)?;
        Some(RequestHead {
            method,
            target,
            version,
            fields: rest,
        })
    }

    /// The header fields in order, each split into name and value (OWS trimmed), `None` for
    /// a line that is not a field line (no colon, a name that is not a token, obs-fold); the
    /// iteration ends at the empty line.
    pub fn fields(&self) -> impl Iterator<Item = Option<(&'b [u8], &'b [u8])>> + use<'b> {
        lines(self.fields)
            .take_while(|line| !line.is_empty())
            .map(split_field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_values() {
        assert!(b"!#$%&'*+-.^_`|~09azAZ".iter().all(|&b| is_tchar(b)));
        assert!(
            !b" \t\"(),/:;<=>?@[\\]{}\x7f\x00\x80"
                .iter()
                .any(|&b| is_tchar(b))
        );
        assert!(is_token(b"Content-Length") && !is_token(b"") && !is_token(b"a b"));
        assert!(b"\t !~\x80\xff".iter().all(|&b| is_field_value_byte(b)));
        assert!(!b"\0\r\n\x1f\x7f".iter().any(|&b| is_field_value_byte(b)));
    }

    #[test]
    fn head_end_accepts_bare_lf_and_resumes() {
        let cases: [(&[u8], Option<usize>); 9] = [
            (b"GET / HTTP/1.1\r\nA: b\r\n\r\nBODY", Some(24)),
            (b"GET / HTTP/1.1\nA: b\n\nBODY", Some(21)),
            (b"X\n\r\n", Some(4)),
            (b"X\r\n\n", Some(4)),
            (b"\r\n", None),
            (b"\n", None),
            (b"X\n\r\r\n", None),
            (b"X\r\n\r", None),
            (b"X\rY\r\n\r\n", Some(7)),
        ];
        for (buf, want) in cases {
            assert_eq!(head_end(buf, 0), want, "{:?}", String::from_utf8_lossy(buf));
            // Resumed at every split point: the same answer.
            for k in 0..=buf.len() {
                let got = head_end(&buf[..k], 0).or_else(|| head_end(buf, k));
                assert_eq!(got, want, "{:?} split at {k}", String::from_utf8_lossy(buf));
            }
        }
    }

    #[test]
    fn crlf_head_end_rejects_bare_line_ends() {
        assert_eq!(crlf_head_end(b"A\r\n\r\n", 0), Ok(Some(5)));
        assert_eq!(crlf_head_end(b"A\r\n\r", 0), Ok(None));
        assert_eq!(crlf_head_end(b"A\n", 0), Err(()));
        assert_eq!(crlf_head_end(b"A\rB", 0), Err(()));
        assert_eq!(crlf_head_end(b"A\r\n\r\n", 4), Ok(Some(5)));
    }

    #[test]
    fn lines_and_fields() {
        let got: Vec<&[u8]> = lines(b"GET / HTTP/1.1\r\nA: b\nC:\r\n\r\ntail").collect();
        assert_eq!(got, [&b"GET / HTTP/1.1"[..], b"A: b", b"C:", b""]);
        assert_eq!(
            split_field(b"Host: \t x y \t"),
            Some((&b"Host"[..], &b"x y"[..]))
        );
        assert_eq!(split_field(b"Empty:"), Some((&b"Empty"[..], &b""[..])));
        assert_eq!(split_field(b"a:b:c"), Some((&b"a"[..], &b"b:c"[..])));
        for bad in [
            &b"no colon"[..],
            b": x",
            b"Host : x",
            b" folded: x",
            b"b@d: x",
        ] {
            assert_eq!(split_field(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn request_lines() {
        assert_eq!(
            request_line(b"GET http://docker/_ping?a=%20 HTTP/1.0"),
            Some(RequestLine {
                method: b"GET",
                target: b"http://docker/_ping?a=%20",
                version: (1, 0),
            })
        );
        assert_eq!(
            request_line(b"PRI * HTTP/2.0").map(|r| r.version),
            Some((2, 0))
        );
        for bad in [
            &b""[..],
            b"GET /",
            b"GET  / HTTP/1.1",
            b"GET / HTTP/1.1 ",
            b"G(T / HTTP/1.1",
            b"GET /\x7f HTTP/1.1",
            b"GET / http/1.1",
            b"GET / HTTP/1.10",
            b"GET / FTP/1.0",
        ] {
            assert_eq!(
                request_line(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
