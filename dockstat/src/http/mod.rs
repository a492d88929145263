//! HTTP/1.1 message syntax for a client: request heads out, response heads in, body framing;
//! and the grammar rules a server's request parser shares with them ([`grammar`]).
//!
//! Everything here is sans-io and allocation-free: functions take the caller's bytes and return
//! borrowed results. The chunked body decoder is [`crate::chunked`]; the state machine that
//! strings these together for one exchange is [`crate::conn`].

pub mod body;
pub mod grammar;
pub mod request;
pub mod response;

pub use body::{BodyKind, Framing, FramingError, framing, is_interim};
pub use request::{RequestError, USER_AGENT, check_target, write_get};
pub use response::{
    HeadError, Header, Headers, MAX_HEAD_LEN, MAX_HEADERS, ResponseHead, Status, find_head_end,
    parse_response,
};
