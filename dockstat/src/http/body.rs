//! Message body framing for responses (RFC 9112 §6.3) and connection persistence (§9.3).
//!
//! Given a parsed [`ResponseHead`], decides how the body ends: not at all (1xx, 204, 304),
//! after `Content-Length` bytes, at the last chunk, or when the server closes. Anything that
//! would let two parsers disagree on where this response ends and the next begins is an error:
//! `Transfer-Encoding` together with `Content-Length`, differing or malformed lengths, and
//! transfer codings other than a final `chunked` (dockstat never asks for compression, and cannot
//! find the end of a body in an unknown coding).
//!
//! What this module does not do: read any body bytes (see [`crate::chunked`] and
//! [`crate::conn`]).

#![forbid(unsafe_code)]

use std::fmt;

use super::grammar::trim_ows;
use super::response::ResponseHead;

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No body: 1xx, 204, 304 (RFC 9112 §6.3 rule 1).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding (RFC 9112 §7.1).
    Chunked,
    /// Everything until the server closes the connection (RFC 9112 §6.3 rule 8).
    UntilClose,
}

/// The framing of one response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Framing {
    pub body: BodyKind,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
}

/// Why a response's framing was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FramingError {
    /// `Content-Length` is not one or more decimal digits (a sign, a space, empty), or does not
    /// fit in 64 bits.
    InvalidContentLength,
    /// Several `Content-Length` values that differ (RFC 9112 §6.3 rule 5).
    ConflictingContentLength,
    /// Both `Transfer-Encoding` and `Content-Length` (RFC 9112 §6.3 rule 3: a sign of request
    /// smuggling; rejected rather than letting one override the other).
    TransferEncodingWithContentLength,
    /// `chunked` is present but not the final transfer coding (for example `chunked, gzip`), or
    /// present twice: the end of the body cannot be found.
    ChunkedNotLast,
    /// A transfer coding dockstat cannot decode (anything but `chunked`), or an empty
    /// `Transfer-Encoding`.
    UnsupportedCoding,
    /// `Transfer-Encoding` in an HTTP/1.0 response, which RFC 9112 §6.1 says to treat as faulty
    /// framing.
    TransferEncodingInHttp10,
    /// `101 Switching Protocols` to a request that asked for no upgrade.
    UnexpectedUpgrade,
}

impl FramingError {
    /// A short description for messages.
    pub fn description(self) -> &'static str {
        match self {
            FramingError::InvalidContentLength => "invalid Content-Length",
            FramingError::ConflictingContentLength => "conflicting Content-Length values",
            FramingError::TransferEncodingWithContentLength => {
                "both Transfer-Encoding and Content-Length"
            }
            FramingError::ChunkedNotLast => "chunked is not the final transfer coding",
            FramingError::UnsupportedCoding => "unsupported transfer coding",
            FramingError::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 response",
            FramingError::UnexpectedUpgrade => "unexpected 101 Switching Protocols",
        }
    }
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for FramingError {}

/// Whether `code` is an interim response to be skipped while waiting for the final one.
/// 101 is not: it ends HTTP/1.1 on the connection, and dockstat never asks for it.
pub(crate) fn is_interim(code: u16) -> bool {
    (100..200).contains(&code) && code != 101
}

impl ResponseHead<'_> {
    /// Decides the body framing and persistence of this final (non-interim) response to a GET.
    pub fn framing(&self) -> Result<Framing, FramingError> {
        framing(self)
    }
}

fn framing(head: &ResponseHead<'_>) -> Result<Framing, FramingError> {
    if head.code == 101 {
        return Err(FramingError::UnexpectedUpgrade);
    }

    let mut content_length: Option<u64> = None;
    // Length errors are kept until the status says whether a body exists at all.
    let mut length_error = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    let mut coding_after_chunked = false;
    let mut unsupported_coding = false;
    let mut close = false;
    let mut keep_alive_token = false;

    for h in head.headers() {
        if h.is("content-length") {
            // Duplicates are allowed when they agree, as a list or as several fields.
            for item in h.value.split(|&b| b == b',') {
                match (parse_decimal(trim_ows(item)), content_length) {
                    (None, _) => length_error = Some(FramingError::InvalidContentLength),
                    (Some(n), Some(prev)) if prev != n => {
                        length_error.get_or_insert(FramingError::ConflictingContentLength);
                    }
                    (Some(n), _) => content_length = Some(n),
                }
            }
        } else if h.is("transfer-encoding") {
            transfer_encoding = true;
            for item in h.value.split(|&b| b == b',') {
                // transfer-coding = token *( OWS ";" OWS transfer-parameter )
                let item = trim_ows(item);
                let coding = trim_ows(item.split(|&b| b == b';').next().unwrap_or(item));
                if coding.is_empty() {
                    continue;
                }
                if chunked {
                    coding_after_chunked = true;
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    chunked = true;
                } else if !chunked {
                    unsupported_coding = true;
                }
            }
        } else if h.is("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = trim_ows(token);
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }

    let keep_alive = !close && (head.minor_version == 1 || keep_alive_token);

    // RFC 9112 §6.3 rule 1: these never have a body, whatever the fields say.
    if head.code < 200 || head.code == 204 || head.code == 304 {
        return Ok(Framing {
            body: BodyKind::Empty,
            keep_alive,
        });
    }
    if transfer_encoding {
        if content_length.is_some() || length_error.is_some() {
            return Err(FramingError::TransferEncodingWithContentLength);
        }
        if head.minor_version == 0 {
            return Err(FramingError::TransferEncodingInHttp10);
        }
        if unsupported_coding {
            return Err(FramingError::UnsupportedCoding);
        }
        if coding_after_chunked {
            return Err(FramingError::ChunkedNotLast);
        }
        if !chunked {
            return Err(FramingError::UnsupportedCoding);
        }
        return Ok(Framing {
            body: BodyKind::Chunked,
            keep_alive,
        });
    }
    if let Some(e) = length_error {
        return Err(e);
    }
    if let Some(n) = content_length {
        return Ok(Framing {
            body: BodyKind::Length(n),
            keep_alive,
        });
    }
    Ok(Framing {
        body: BodyKind::UntilClose,
        keep_alive: false,
    })
}

/// `1*DIGIT` into a u64; `None` for anything else (sign, whitespace, empty, overflow).
fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}
