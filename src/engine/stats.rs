//! Stats streams: one `GET /containers/{id}/stats` connection per container on one reactor,
//! turned into decoded samples and the `docker stats` numbers.
//!
//! Each stream's bytes go from the reactor's shared read buffer through the chunked decoder
//! (in [`crate::conn`]), the frame splitter (one copy into a scratch buffer shared by all
//! streams), the frame decoder and the math, to the caller's handler, without allocating per
//! frame. A stream that fails (refused, 404, malformed frame, cut short) reports a typed error
//! and ends; the others go on.
//!
//! What this does not do (yet): follow containers starting and stopping, reconnect, or watch
//! for stale streams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::endpoint::Endpoint;
use super::reactor::{ConnEvent, ConnId, Flow, Reactor};
use super::version::ApiVersion;
use crate::error::{DecodeError, Error, ErrorKind, ProtocolError, Result};
use crate::stats::{Derived, FrameDecoder, FrameSplitter, Platform, Sample, derive};

/// Largest error body kept to explain a failed stream.
const MAX_ERROR_BODY: usize = 4096;

/// How samples are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A stream, about one frame per second per container (`stream=true`).
    Stream,
    /// One sample per container, with a previous reading to compare with (`stream=false`;
    /// the daemon takes about a second to answer).
    Once,
    /// One sample at once, without a previous reading (`one-shot=true`, API >= 1.41): CPU %
    /// then covers the container's whole life.
    OneShot,
}

/// Names a stream of a [`StatsEngine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u32);

/// What a [`StatsEngine`] reports.
#[derive(Debug)]
pub enum StatsEvent<'a> {
    /// A frame arrived and was decoded.
    Sample {
        stream: StreamId,
        /// The container as it was asked for (a name, an id or an id prefix).
        container: &'a str,
        sample: &'a Sample<'a>,
        derived: &'a Derived,
    },
    /// The stream failed and is closed.
    Error {
        stream: StreamId,
        container: &'a str,
        error: Error,
    },
    /// The daemon ended the stream cleanly (the container was removed, or the one sample of
    /// [`Mode::Once`] was delivered).
    Ended {
        stream: StreamId,
        container: &'a str,
    },
}

#[derive(Debug)]
struct Stream {
    container: Box<str>,
    conn: Option<ConnId>,
    splitter: FrameSplitter,
    platform: Platform,
    /// Status of the response (0 before the head).
    status: u16,
    /// The body of an error response, to explain it.
    error_body: Vec<u8>,
}

/// Stats streams for a set of containers on one reactor. See the [module docs](self).
#[derive(Debug)]
pub struct StatsEngine {
    reactor: Reactor<u32>,
    endpoint: Arc<Endpoint>,
    api: ApiVersion,
    mode: Mode,
    streams: Vec<Option<Stream>>,
    scratch: Vec<u8>,
    decoder: FrameDecoder,
    open: usize,
}

impl StatsEngine {
    /// An engine for `endpoint`, using API `api` (see [`super::Client::api_version`]).
    pub fn new(endpoint: Endpoint, api: ApiVersion, mode: Mode) -> Result<StatsEngine> {
        Ok(StatsEngine {
            reactor: Reactor::new(1024).map_err(|e| Error::io(ErrorKind::Io, e))?,
            endpoint: Arc::new(endpoint),
            api,
            mode,
            streams: Vec::new(),
            scratch: Vec::with_capacity(4096),
            decoder: FrameDecoder::new(),
            open: 0,
        })
    }

    /// Number of streams still open.
    pub fn len(&self) -> usize {
        self.open
    }

    /// Whether no stream is open.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// Starts a stream for `container` (name, id or unique id prefix).
    pub fn add(&mut self, container: &str) -> Result<StreamId> {
        let query = match self.mode {
            Mode::Stream => "stream=1",
            Mode::Once => "stream=0",
            Mode::OneShot => "stream=0&one-shot=1",
        };
        let target = self.api.path(&format!(
            "/containers/{}/stats?{query}",
            encode_segment(container)
        ));
        let index = self.streams.len() as u32;
        let conn = self.reactor.open(&self.endpoint, &target, index)?;
        self.streams.push(Some(Stream {
            container: container.into(),
            conn: Some(conn),
            splitter: FrameSplitter::default(),
            platform: Platform::Linux,
            status: 0,
            error_body: Vec::new(),
        }));
        self.open += 1;
        Ok(StreamId(index))
    }

    /// Stops a stream.
    pub fn remove(&mut self, id: StreamId) {
        if let Some(Some(stream)) = self.streams.get_mut(id.0 as usize) {
            if let Some(conn) = stream.conn.take() {
                self.reactor.close(conn);
                self.open -= 1;
            }
        }
    }

    /// Waits up to `timeout` for frames and delivers what arrived to `handler`.
    pub fn poll<F>(&mut self, timeout: Option<Duration>, handler: &mut F) -> Result<()>
    where
        F: FnMut(StatsEvent<'_>),
    {
        let StatsEngine {
            reactor,
            streams,
            scratch,
            decoder,
            open,
            ..
        } = self;
        reactor
            .poll(timeout, &mut |_conn, index, event| {
                let Some(Some(stream)) = streams.get_mut(*index as usize) else {
                    return Flow::Close;
                };
                let id = StreamId(*index);
                let flow = on_event(id, stream, event, scratch, decoder, handler);
                if flow == Flow::Close && stream.conn.take().is_some() {
                    *open -= 1;
                }
                flow
            })
            .map_err(|e| Error::io(ErrorKind::Io, e))
    }

    /// Polls until every stream has ended or `deadline` passes (then the rest fail with
    /// [`ErrorKind::Timeout`]).
    pub fn run_until_done<F>(&mut self, deadline: Option<Instant>, handler: &mut F) -> Result<()>
    where
        F: FnMut(StatsEvent<'_>),
    {
        while !self.is_empty() {
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if timeout == Some(Duration::ZERO) {
                for index in 0..self.streams.len() {
                    let Some(stream) = self.streams[index].as_mut() else {
                        continue;
                    };
                    if let Some(conn) = stream.conn.take() {
                        self.reactor.close(conn);
                        self.open -= 1;
                        handler(StatsEvent::Error {
                            stream: StreamId(index as u32),
                            container: &stream.container,
                            error: Error::new(ErrorKind::Timeout).context(&stream.container),
                        });
                    }
                }
                break;
            }
            self.poll(timeout, handler)?;
        }
        Ok(())
    }
}

/// One reactor event of one stream.
fn on_event<F>(
    id: StreamId,
    stream: &mut Stream,
    event: ConnEvent<'_>,
    scratch: &mut Vec<u8>,
    decoder: &mut FrameDecoder,
    handler: &mut F,
) -> Flow
where
    F: FnMut(StatsEvent<'_>),
{
    let container = &*stream.container;
    match event {
        ConnEvent::Head(head) => {
            stream.status = head.code;
            if let Some(os) = head.header("ostype") {
                stream.platform = Platform::from_ostype(os);
            }
            Flow::Continue
        }
        ConnEvent::Body(data) if stream.status >= 400 => {
            let room = MAX_ERROR_BODY.saturating_sub(stream.error_body.len());
            stream
                .error_body
                .extend_from_slice(&data[..data.len().min(room)]);
            Flow::Continue
        }
        ConnEvent::Body(data) => {
            let platform = stream.platform;
            let mut failure = None;
            let pushed = stream.splitter.push(data, scratch, &mut |frame| {
                if failure.is_some() {
                    return;
                }
                match decoder.decode(frame) {
                    Ok(sample) => {
                        let derived = derive(&sample, platform);
                        handler(StatsEvent::Sample {
                            stream: id,
                            container,
                            sample: &sample,
                            derived: &derived,
                        });
                    }
                    Err(fail) => failure = Some(fail),
                }
            });
            let error = match (pushed, failure) {
                (Err(e), _) => Some(Error::new(ErrorKind::Protocol(ProtocolError::Frame(e)))),
                (_, Some(fail)) => {
                    let mut e = Error::new(ErrorKind::Decode(fail.kind));
                    e.set_offset(fail.at as u64);
                    Some(e)
                }
                _ => None,
            };
            match error {
                Some(error) => {
                    handler(StatsEvent::Error {
                        stream: id,
                        container,
                        error: error.context(format!("stats frame of {container}")),
                    });
                    Flow::Close
                }
                None => Flow::Continue,
            }
        }
        ConnEvent::End { .. } | ConnEvent::Closed => {
            if stream.status >= 400 {
                let message = daemon_message(&stream.error_body);
                handler(StatsEvent::Error {
                    stream: id,
                    container,
                    error: Error::new(ErrorKind::Status(stream.status)).context(message),
                });
                return Flow::Close;
            }
            // A body ended cleanly: a last frame without its newline counts.
            let mut failure: Option<DecodeError> = None;
            stream
                .splitter
                .finish(&mut |frame| match decoder.decode(frame) {
                    Ok(sample) => {
                        let derived = derive(&sample, stream.platform);
                        handler(StatsEvent::Sample {
                            stream: id,
                            container,
                            sample: &sample,
                            derived: &derived,
                        });
                    }
                    Err(fail) => failure = Some(fail.kind),
                });
            match failure {
                Some(kind) => handler(StatsEvent::Error {
                    stream: id,
                    container,
                    error: Error::new(ErrorKind::Decode(kind)).context(container),
                }),
                None => handler(StatsEvent::Ended {
                    stream: id,
                    container,
                }),
            }
            Flow::Close
        }
        ConnEvent::Failed(error) => {
            handler(StatsEvent::Error {
                stream: id,
                container,
                error: error.context(container),
            });
            Flow::Close
        }
    }
}

/// The daemon's error message from a `{"message":"…"}` body, or the body itself.
pub(crate) fn daemon_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if let Some(rest) = text.strip_prefix("{\"message\":\"") {
        if let Some(msg) = rest.strip_suffix("\"}") {
            return msg.replace("\\\"", "\"");
        }
    }
    text.to_string()
}

/// Percent-encodes what may not appear in a path segment (container names are
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so this only matters for odd input).
fn encode_segment(s: &str) -> String {
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
