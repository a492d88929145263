//! One HTTP/1.1 client connection as a state machine, without I/O.
//!
//! A [`Connection`] turns "send this GET" into request bytes ([`Connection::transmit`]) and
//! turns response bytes ([`Connection::handle_input`]) into events: the final response head,
//! body pieces (borrowed from the input, already de-chunked), and the end of the response.
//! Interim (1xx) responses are skipped. After a response ends, the connection is idle and may
//! carry the next request if the server allowed keep-alive ([`Connection::is_reusable`]).
//!
//! Bytes that arrive while no request is outstanding (a second, pipelined response; a body
//! after a 204 or 304; bytes beyond `Content-Length`) are not an error: the response before
//! them is complete and stands, as Go's net/http and curl deliver it. They are handed out as
//! [`ResponseEvent::Excess`] and the connection is closed for good, since nothing says where
//! the server thinks the next response starts.
//!
//! The caller owns the bytes and the socket; this type owns only what must survive between
//! reads: the decoder state and, while a response head is split across reads, the head's
//! bytes so far (released once the head is parsed). Byte offsets in errors count from the
//! start of the response.
//!
//! What this module does not do: sockets, time, or anything with body content.

#![forbid(unsafe_code)]

use crate::chunked::{Chunk, Dechunker};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{
    self, BodyKind, HeadError, MAX_EMPTY_LINES, MAX_HEAD_LEN, RequestError, ResponseHead,
    parse_complete,
};

/// What [`Connection::handle_input`] found.
#[derive(Debug)]
pub enum ResponseEvent<'a> {
    /// The head of the final response (interim 1xx responses are skipped).
    Head(ResponseHead<'a>),
    /// A piece of the decoded body (never empty).
    Body(&'a [u8]),
    /// The response is complete. See [`Connection::is_reusable`] for what may follow.
    End,
    /// Bytes that arrived while no request was outstanding, all of the input given. The
    /// connection is closed from then on ([`Connection::is_reusable`] is false): the caller
    /// should close its socket, and may warn. The response before them was complete.
    Excess(&'a [u8]),
    /// All input was consumed; nothing more until more bytes arrive.
    NeedMore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// No exchange in progress; a request may be sent.
    Idle,
    /// A request was sent; waiting for the final response head.
    Head,
    /// Reading the body of the final response.
    Body,
    /// The connection cannot carry another exchange (the server will close, or closed).
    Closed,
}

#[derive(Debug)]
enum Body {
    None,
    Length(u64),
    Chunked(Dechunker),
    UntilClose,
}

/// The state of one client connection. See the [module docs](self).
///
/// The caller writes [`Connection::transmit`] to its socket and feeds what it reads to
/// [`Connection::handle_input`]; here the reads are canned.
///
/// ```
/// use dockstat::conn::{Connection, ResponseEvent};
///
/// # fn main() -> Result<(), dockstat::Error> {
/// let mut conn = Connection::new();
/// conn.send_get("/containers/web/stats", "docker")?;
/// assert!(conn.transmit().starts_with(b"GET /containers/web/stats HTTP/1.1\r\n"));
/// let written = conn.transmit().len();
/// conn.advance_transmit(written);
///
/// // A chunked response, cut where the reads happened to cut it.
/// let reads: [&[u8]; 3] = [
///     b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
///     b"\r\n8\r\n{\"a\":1}\n\r\n",
///     b"0\r\n\r\n",
/// ];
/// let mut body = Vec::new();
/// let mut ended = false;
/// for read in reads {
///     let mut input = read;
///     loop {
///         let (event, used) = conn.handle_input(input)?;
///         match event {
///             ResponseEvent::Head(head) => assert_eq!(head.code, 200),
///             ResponseEvent::Body(piece) => body.extend_from_slice(piece),
///             ResponseEvent::End => ended = true,
///             // Bytes nobody asked for (none here): the caller closes its socket.
///             ResponseEvent::Excess(_) => break,
///             ResponseEvent::NeedMore => break,
///         }
///         input = &input[used..];
///     }
/// }
/// assert!(ended);
/// assert_eq!(body, b"{\"a\":1}\n");
/// assert!(conn.is_reusable()); // ready for the next request
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Connection {
    state: State,
    /// A response head split across inputs, gathered until it is complete.
    head: Vec<u8>,
    /// How much of `head` was already searched for the end of the head.
    head_scanned: usize,
    /// `head` holds a head handed out by the previous call; clear it before the next use.
    head_handed_out: bool,
    body: Body,
    keep_alive: bool,
    /// Request bytes not yet written.
    out: Vec<u8>,
    out_pos: usize,
    /// Bytes of the current response consumed so far.
    offset: u64,
}

impl Default for Connection {
    fn default() -> Self {
        Self::new()
    }
}

impl Connection {
    /// A new idle connection.
    pub fn new() -> Connection {
        Connection {
            state: State::Idle,
            head: Vec::new(),
            head_scanned: 0,
            head_handed_out: false,
            body: Body::None,
            keep_alive: true,
            out: Vec::new(),
            out_pos: 0,
            offset: 0,
        }
    }

    /// Whether a request may be sent now.
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle
    }

    /// Whether the connection can carry another exchange after the current one.
    pub fn is_reusable(&self) -> bool {
        self.state == State::Idle
    }

    /// Whether a response is being received (a request was sent and its response has not
    /// ended).
    pub fn is_busy(&self) -> bool {
        matches!(self.state, State::Head | State::Body)
    }

    /// Bytes held for an unfinished response head.
    pub fn buffered(&self) -> usize {
        self.head.len()
    }

    /// Starts a `GET target` exchange; the request bytes are then available from
    /// [`Connection::transmit`].
    pub fn send_get(&mut self, target: &str, host: &str) -> Result<()> {
        self.start_exchange(target, |out| http::write_get(out, target, host))
    }

    /// Starts an exchange whose request `write` puts into the (cleared) output buffer, if the
    /// connection is idle.
    fn start_exchange(
        &mut self,
        target: &str,
        write: impl FnOnce(&mut Vec<u8>) -> std::result::Result<(), RequestError>,
    ) -> Result<()> {
        match self.state {
            State::Idle => {}
            State::Closed => {
                return Err(Error::new(ErrorKind::Io).context("connection is closed"));
            }
            State::Head | State::Body => {
                return Err(Error::new(ErrorKind::InvalidRequest(RequestError::Busy)));
            }
        }
        self.out.clear();
        self.out_pos = 0;
        write(&mut self.out)
            .map_err(|e| Error::new(ErrorKind::InvalidRequest(e)).context(target))?;
        self.state = State::Head;
        self.offset = 0;
        self.head.clear();
        self.head_scanned = 0;
        self.head_handed_out = false;
        Ok(())
    }

    /// Starts a `POST target` exchange with a body of `body_len` bytes: the request head is
    /// then available from [`Connection::transmit`], and the caller writes the body after it.
    #[cfg(feature = "push")]
    pub(crate) fn send_post(
        &mut self,
        target: &str,
        host: &str,
        fields: &[(&str, &str)],
        body_len: usize,
    ) -> Result<()> {
        self.start_exchange(target, |out| {
            http::write_post(out, target, host, fields, body_len)
        })
    }

    /// Request bytes still to be written to the socket.
    pub fn transmit(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    /// Records that `n` bytes of [`Connection::transmit`] were written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.out_pos = (self.out_pos + n).min(self.out.len());
        if self.out_pos == self.out.len() {
            // The request is small; release it rather than hold it for a long stream.
            self.out = Vec::new();
            self.out_pos = 0;
        }
    }

    /// Processes received bytes, stopping at the first event.
    ///
    /// Returns the event and how many bytes of `input` were consumed. Call again with the
    /// rest, *including an empty rest*, until [`ResponseEvent::NeedMore`]: the end of a
    /// response is reported on the call after its last body bytes. After an error or
    /// [`ResponseEvent::Excess`] the connection must be closed.
    pub fn handle_input<'a>(&'a mut self, input: &'a [u8]) -> Result<(ResponseEvent<'a>, usize)> {
        if self.head_handed_out {
            self.head_handed_out = false;
            // The head was parsed; a long-lived stream keeps no copy of it.
            self.head = Vec::new();
            self.head_scanned = 0;
        }
        match self.state {
            State::Head => self.read_head(input),
            State::Body => self.read_body(input),
            State::Idle | State::Closed if input.is_empty() => Ok((ResponseEvent::NeedMore, 0)),
            State::Idle | State::Closed => {
                // No request is outstanding: whatever the server meant by these bytes, the
                // two ends disagree about where responses start, and the connection must not
                // carry another exchange.
                self.state = State::Closed;
                self.body = Body::None;
                Ok((ResponseEvent::Excess(input), input.len()))
            }
        }
    }

    /// Processes the end of the input stream (the server closed its side).
    ///
    /// Returns `Ok(Some(ResponseEvent::End))` when that ended a response delimited by close,
    /// `Ok(None)` when no response was in progress, and an error when a response was cut
    /// short.
    pub fn handle_eof(&mut self) -> Result<Option<ResponseEvent<'static>>> {
        let was = self.state;
        self.state = State::Closed;
        match was {
            State::Idle | State::Closed => Ok(None),
            State::Head if self.offset == 0 && self.head.is_empty() => {
                Err(Error::new(ErrorKind::EmptyReply))
            }
            State::Head => Err(Error::new(ErrorKind::Truncated)),
            State::Body => match self.body {
                Body::UntilClose => {
                    self.body = Body::None;
                    Ok(Some(ResponseEvent::End))
                }
                // An unfinished Content-Length or chunked body (a zero-length body ends
                // before any EOF can be seen).
                _ => Err(Error::new(ErrorKind::Truncated)),
            },
        }
    }

    fn read_head<'a>(&'a mut self, input: &'a [u8]) -> Result<(ResponseEvent<'a>, usize)> {
        // A head split across inputs is gathered up to its limit, the empty lines that may
        // precede it included.
        const GATHER_MAX: usize = MAX_HEAD_LEN + 2 * MAX_EMPTY_LINES + 1;
        let mut used = 0;
        loop {
            let rest = &input[used..];
            let head_start = self.offset.saturating_sub(self.head.len() as u64);
            let bad_head = |e: HeadError| Error::protocol(e, head_start);

            // Locate a complete head: directly in the input when it starts here, else gathered
            // in `self.head` (bounded by MAX_HEAD_LEN).
            let (in_buf, len, take) = if self.head.is_empty() {
                match http::find_head_end(rest, 0).map_err(bad_head)? {
                    Some(len) => (false, len, len),
                    None => {
                        self.head.extend_from_slice(rest);
                        self.head_scanned = rest.len();
                        self.offset += rest.len() as u64;
                        return Ok((ResponseEvent::NeedMore, input.len()));
                    }
                }
            } else {
                let old = self.head.len();
                let room = GATHER_MAX.saturating_sub(old);
                let take = rest.len().min(room);
                self.head.extend_from_slice(&rest[..take]);
                match http::find_head_end(&self.head, self.head_scanned).map_err(bad_head)? {
                    Some(len) => {
                        self.head.truncate(len);
                        (true, len, len - old)
                    }
                    None => {
                        // Not found with all of `rest` taken (had `take` been cut short, the
                        // head would have exceeded the limit and failed above).
                        self.head_scanned = self.head.len();
                        self.offset += take as u64;
                        return Ok((ResponseEvent::NeedMore, used + take));
                    }
                }
            };

            let bytes = if in_buf { &self.head[..] } else { &rest[..len] };
            // Validate and decide framing first; the head itself is handed out below, once no
            // more changes to `self` are needed.
            let (code, framing) = {
                let head = parse_complete(bytes).map_err(bad_head)?;
                let framing = if http::is_interim(head.code) {
                    None
                } else {
                    Some(head.framing().map_err(|e| Error::protocol(e, head_start))?)
                };
                (head.code, framing)
            };
            used += take;
            self.offset += take as u64;

            let Some(framing) = framing else {
                // An interim response (100 Continue, 103 Early Hints): skip it.
                debug_assert!(http::is_interim(code));
                self.head.clear();
                self.head_scanned = 0;
                if used == input.len() {
                    return Ok((ResponseEvent::NeedMore, used));
                }
                continue;
            };

            self.keep_alive = framing.keep_alive;
            self.body = match framing.body {
                BodyKind::Empty | BodyKind::Length(0) => Body::None,
                BodyKind::Length(n) => Body::Length(n),
                BodyKind::Chunked => Body::Chunked(Dechunker::new()),
                BodyKind::UntilClose => Body::UntilClose,
            };
            self.state = State::Body;
            self.head_handed_out = in_buf;
            let head = if in_buf {
                parse_complete(&self.head)
            } else {
                parse_complete(&input[used - len..used])
            }
            .map_err(bad_head)?;
            return Ok((ResponseEvent::Head(head), used));
        }
    }

    fn read_body<'a>(&'a mut self, input: &'a [u8]) -> Result<(ResponseEvent<'a>, usize)> {
        let (event, used) = match &mut self.body {
            Body::None => {
                self.finish();
                return Ok((ResponseEvent::End, 0));
            }
            Body::Length(remaining) => {
                let n = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                if n == 0 {
                    return Ok((ResponseEvent::NeedMore, 0));
                }
                *remaining -= n as u64;
                if *remaining == 0 {
                    self.body = Body::None;
                }
                (ResponseEvent::Body(&input[..n]), n)
            }
            Body::Chunked(decoder) => match decoder.decode(input) {
                (Ok(Chunk::Data(data)), used) => (ResponseEvent::Body(data), used),
                (Ok(Chunk::NeedMore), used) => (ResponseEvent::NeedMore, used),
                (Ok(Chunk::End), used) => {
                    self.offset += used as u64;
                    self.finish();
                    return Ok((ResponseEvent::End, used));
                }
                (Err(e), at) => return Err(Error::protocol(e, self.offset + at as u64)),
            },
            Body::UntilClose if input.is_empty() => (ResponseEvent::NeedMore, 0),
            Body::UntilClose => (ResponseEvent::Body(input), input.len()),
        };
        self.offset += used as u64;
        Ok((event, used))
    }

    fn finish(&mut self) {
        self.body = Body::None;
        self.state = if self.keep_alive {
            State::Idle
        } else {
            State::Closed
        };
    }
}
