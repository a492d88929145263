//! Request head writer: `GET <target> HTTP/1.1` and the few fields the Docker daemon needs.
//!
//! dockstat only ever sends bodiless GET requests, so there is no body framing here. The
//! request target is checked rather than escaped: a target that is not a plain origin-form path
//! (RFC 9112 §3.2.1) is the caller's mistake, and sending it anyway would either be rejected by
//! the daemon or, worse, split the request line.

#![forbid(unsafe_code)]

use std::fmt;

/// The `User-Agent` sent with every request.
pub(crate) const USER_AGENT: &str = concat!("dockstat/", env!("CARGO_PKG_VERSION"));

/// Why a request could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestError {
    /// The target does not start with `/`, or holds a space, a control byte or a non-ASCII
    /// byte (percent-encode those).
    InvalidTarget,
    /// The `Host` value holds a byte that cannot appear in a field value.
    InvalidHost,
    /// A request was started while the connection was still busy with another exchange.
    Busy,
}

impl RequestError {
    /// A short description for messages.
    pub fn description(self) -> &'static str {
        match self {
            RequestError::InvalidTarget => {
                "request path must start with '/' and hold only printable ASCII without spaces \
                 (percent-encode the rest)"
            }
            RequestError::InvalidHost => "invalid Host value",
            RequestError::Busy => "connection is busy with another exchange",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for RequestError {}

/// Checks that `target` is an origin-form request target dockstat can send verbatim.
pub(crate) fn check_target(target: &str) -> Result<(), RequestError> {
    let ok = target.starts_with('/') && target.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RequestError::InvalidTarget)
    }
}

/// Appends a complete `GET` request head to `out`.
pub(crate) fn write_get(out: &mut Vec<u8>, target: &str, host: &str) -> Result<(), RequestError> {
    check_target(target)?;
    if host.is_empty() || !host.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(RequestError::InvalidHost);
    }
    out.reserve(target.len() + host.len() + 64);
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nUser-Agent: ");
    out.extend_from_slice(USER_AGENT.as_bytes());
    out.extend_from_slice(b"\r\nAccept: */*\r\n\r\n");
    Ok(())
}

/// Appends a `POST` request head for a body of `body_len` bytes (the caller writes the body
/// after it); `fields` are written as given after `Host`, `User-Agent` and `Content-Length`:
/// each name must be a token and each value field-value bytes.
#[cfg(feature = "push")]
pub(crate) fn write_post(
    out: &mut Vec<u8>,
    target: &str,
    host: &str,
    fields: &[(&str, &str)],
    body_len: usize,
) -> Result<(), RequestError> {
    check_target(target)?;
    if host.is_empty() || !host.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(RequestError::InvalidHost);
    }
    let valid = |(n, v): &&(&str, &str)| {
        super::grammar::is_token(n.as_bytes()) && v.bytes().all(super::grammar::is_field_value_byte)
    };
    if fields.iter().any(|f| !valid(&f)) {
        return Err(RequestError::InvalidTarget);
    }
    out.extend_from_slice(b"POST ");
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\nUser-Agent: ");
    out.extend_from_slice(USER_AGENT.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(body_len.to_string().as_bytes());
    for (name, value) in fields {
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(b"\r\n\r\n");
    Ok(())
}

/// Percent-encodes what may not appear in a path segment (container names are
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so this only matters for odd input).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded_beyond_the_unreserved_set() {
        assert_eq!(encode_segment("busy-1_a.b~c"), "busy-1_a.b~c");
        assert_eq!(encode_segment("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(encode_segment("ü"), "%C3%BC");
    }
}
