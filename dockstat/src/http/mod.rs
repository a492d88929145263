//! HTTP/1.1 message syntax for a client: request heads out, response heads in, body framing;
//! and the grammar rules a server's request parser shares with them ([`grammar`]).
//!
//! Everything here is sans-io and allocation-free: functions take the caller's bytes and return
//! borrowed results. The chunked body decoder is [`crate::chunked`]; the state machine that
//! strings these together for one exchange is [`crate::conn`].
//!
//! # Parsing a response head
//!
//! [`parse_response`] takes the bytes received so far: [`Status::Partial`] until the head's
//! empty line is there, then a [`ResponseHead`] borrowed from them, whose length says where
//! the body starts. [`ResponseHead::framing`] applies the body framing rules.
//!
//! ```
//! use dockstat::http::{BodyKind, HeadError, Status, parse_response};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let received = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
//! assert_eq!(parse_response(&received[..20])?, Status::Partial);
//!
//! let Status::Complete(head) = parse_response(received)? else {
//!     unreachable!("the empty line is there");
//! };
//! assert_eq!((head.code, head.reason), (200, &b"OK"[..]));
//! assert_eq!(head.header("api-version"), Some(&b"1.41"[..]));
//! assert_eq!(&received[head.len()..], b"5\r\n"); // the body starts here
//!
//! let framing = head.framing()?;
//! assert_eq!(framing.body, BodyKind::Chunked);
//! assert!(framing.keep_alive);
//!
//! // Anything that could make the end of the head ambiguous is an error.
//! assert_eq!(parse_response(b"HTTP/1.1 200 OK\nX: 1\n\n"), Err(HeadError::LineEnding));
//!
//! // Empty lines before the status line are skipped (RFC 9112 §2.2), and counted in `len`.
//! let Status::Complete(head) = parse_response(b"\r\nHTTP/1.1 204 No Content\r\n\r\n")? else {
//!     unreachable!("the empty line is there");
//! };
//! assert_eq!((head.code, head.len()), (204, 29));
//! assert!(head.raw().starts_with(b"HTTP/1.1 204"));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod body;
pub mod grammar;
// The request writer is the connection's business; its one public type is re-exported below.
mod request;
pub mod response;

pub(crate) use body::is_interim;
pub use body::{BodyKind, Framing, FramingError};
pub use request::RequestError;
pub(crate) use request::encode_segment;
pub(crate) use request::write_get;
#[cfg(feature = "push")]
pub(crate) use request::write_post;
pub use response::{HeadError, Header, ResponseHead, Status, parse_response};
pub(crate) use response::{
    MAX_EMPTY_LINES, MAX_HEAD_LEN, MAX_HEADERS, find_head_end, parse_complete,
};

impl ResponseHead<'_> {
    /// The longest head (status line and header fields) [`parse_response`] accepts; a longer
    /// one is [`HeadError::TooLarge`].
    pub const MAX_LEN: usize = MAX_HEAD_LEN;

    /// The most header fields [`parse_response`] accepts; more are
    /// [`HeadError::TooManyHeaders`].
    pub const MAX_HEADERS: usize = MAX_HEADERS;

    /// The most empty lines (CRLF) [`parse_response`] skips before the status line (RFC 9112
    /// §2.2); one more is [`HeadError::EmptyLines`].
    pub const MAX_EMPTY_LINES: usize = MAX_EMPTY_LINES;

    /// Finds the end of the response head at the start of `buf`: its length including the
    /// final CRLF, or `None` when the end is not in `buf` yet.
    ///
    /// A caller receiving the head in pieces passes the length it already searched as `from`,
    /// so the whole search is linear. Every error is reported as soon as it is certain, and
    /// depends only on the bytes up to the offending one, so the same input gives the same
    /// result however it is split: more than [`ResponseHead::MAX_EMPTY_LINES`] empty lines
    /// first, a status line not starting with `HTTP/1.0 ` or `HTTP/1.1 `, a bare LF, a CR not
    /// followed by LF, and a head longer than [`ResponseHead::MAX_LEN`] (the empty lines
    /// skipped before it not counted). Everything else is left to [`parse_response`].
    pub fn find_end(buf: &[u8], from: usize) -> Result<Option<usize>, HeadError> {
        find_head_end(buf, from)
    }
}
