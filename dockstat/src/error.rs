//! The crate's error type: an [`ErrorKind`] that says what went wrong, plus where (a byte
//! offset into the response, or the endpoint) and the underlying I/O error when there is one.
//!
//! Codec errors ([`HeadError`], [`FramingError`], [`ChunkedError`], [`FrameError`]) are small
//! `Copy` enums returned by the sans-io layers; they reach users wrapped in
//! [`ErrorKind::Protocol`]. The CLI maps each kind to an exit code (see `dockstat help`).

#![forbid(unsafe_code)]

use std::{fmt, io};

use crate::chunked::ChunkedError;
use crate::http::{FramingError, HeadError, RequestError};

/// A response that broke HTTP/1.1 or the stats stream format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The status line or header fields.
    Head(HeadError),
    /// The body framing rules.
    Framing(FramingError),
    /// The chunked transfer coding.
    Chunked(ChunkedError),
    /// Splitting the stream into frames.
    Frame(FrameError),
    /// Bytes arrived while no request was outstanding (for example after a 204 or a complete
    /// body): the server and dockstat disagree about where a response ended.
    UnexpectedData,
    /// A response body to be collected whole is larger than the client's limit.
    BodyTooLarge,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Head(e) => e.fmt(f),
            ProtocolError::Framing(e) => e.fmt(f),
            ProtocolError::Chunked(e) => e.fmt(f),
            ProtocolError::Frame(e) => e.fmt(f),
            ProtocolError::UnexpectedData => f.write_str("data after the end of the response"),
            ProtocolError::BodyTooLarge => f.write_str("response body is too large"),
        }
    }
}

/// Why a stats body could not be split into frames (the error of
/// [`FrameSplitter`](crate::stats::FrameSplitter), defined here so that this module needs
/// nothing from the layers above it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame is longer than the limit.
    TooLong {
        /// The limit in bytes.
        max: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { max } => write!(f, "stats frame longer than {max} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Why a JSON document from the daemon (a stats frame, a listing, an event) could not be
/// decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not valid JSON (or not valid UTF-8).
    Syntax,
    /// Nested deeper than the parser's limit.
    TooDeep,
    /// Valid JSON, but not the document expected (an array where an object belongs, a string
    /// where a number belongs, …).
    Shape,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Syntax => "invalid JSON",
            DecodeError::TooDeep => "JSON nested too deeply",
            DecodeError::Shape => "unexpected JSON document shape",
        })
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A `DOCKER_HOST` / `-H` value or an API version could not be understood.
    InvalidEndpoint,
    /// The endpoint uses a scheme dockstat does not speak (`ssh://`, `npipe://`, `fd://`).
    UnsupportedScheme,
    /// The request could not be written (an invalid path).
    InvalidRequest(RequestError),
    /// Connecting failed: no socket at the path, connection refused, permission denied,
    /// unreachable.
    Connect,
    /// Reading or writing an open connection failed.
    Io,
    /// A deadline passed before the exchange finished.
    Timeout,
    /// The server closed the connection without sending a response.
    EmptyReply,
    /// The server closed the connection in the middle of a response.
    Truncated,
    /// The response broke HTTP/1.1 or the stream format.
    Protocol(ProtocolError),
    /// The daemon answered with this error status.
    Status(u16),
    /// A JSON document could not be decoded.
    Decode(DecodeError),
    /// A process limit was reached: open files (`ulimit -n`).
    ResourceLimit,
    /// More containers than the engine may stream at once (`max_streams`); the rest wait.
    StreamLimit,
    /// TLS: a certificate or key file, or the handshake with the daemon.
    Tls(TlsError),
}

/// What went wrong with TLS. The error's context says it in full, naming the host and files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsError {
    /// A CA, certificate or key file could not be used: unreadable, not PEM, no certificate
    /// or key in it, an encrypted key, a key that does not match the certificate.
    Config,
    /// The server's certificate is not signed by a trusted CA.
    UnknownIssuer,
    /// The server's certificate has expired.
    Expired,
    /// The server's certificate is not valid yet.
    NotYetValid,
    /// The server's certificate is not valid for the host name (or IP) connected to.
    WrongHost,
    /// The server's certificate is unacceptable for another reason (encoding, usage,
    /// revocation), or it presented none.
    BadServerCertificate,
    /// The server requires a client certificate and none is configured.
    ClientCertRequired,
    /// The server rejected the client certificate.
    ClientCertRejected,
    /// The handshake failed otherwise: no common version or cipher suite, an alert.
    Handshake,
    /// The peer sent data that is not valid TLS (a plain HTTP port?), or ended a response
    /// delimited by the connection's end without close_notify.
    Protocol,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsError::Config => "cannot use a certificate or key file",
            TlsError::UnknownIssuer => "server certificate not trusted",
            TlsError::Expired => "server certificate expired",
            TlsError::NotYetValid => "server certificate not valid yet",
            TlsError::WrongHost => "server certificate for another name",
            TlsError::BadServerCertificate => "server certificate not acceptable",
            TlsError::ClientCertRequired => "client certificate required",
            TlsError::ClientCertRejected => "client certificate rejected",
            TlsError::Handshake => "handshake failed",
            TlsError::Protocol => "protocol error",
        })
    }
}

/// A dockstat error.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    /// Where: the endpoint URL, a path, a container.
    context: Option<Box<str>>,
    /// Offset of the offending byte from the start of the response.
    offset: Option<u64>,
    source: Option<io::Error>,
}

impl Error {
    /// An error of `kind` with no further detail.
    pub fn new(kind: ErrorKind) -> Error {
        Error {
            kind,
            context: None,
            offset: None,
            source: None,
        }
    }

    /// An error of `kind` caused by an I/O error.
    pub fn io(kind: ErrorKind, source: io::Error) -> Error {
        Error {
            source: Some(source),
            ..Error::new(kind)
        }
    }

    /// A protocol error at `offset` bytes into the response.
    pub fn protocol(e: impl Into<ProtocolError>, offset: u64) -> Error {
        Error {
            offset: Some(offset),
            ..Error::new(ErrorKind::Protocol(e.into()))
        }
    }

    /// Adds where the error happened (an endpoint, a path), unless already set.
    pub fn context(mut self, context: impl fmt::Display) -> Error {
        if self.context.is_none() {
            self.context = Some(context.to_string().into_boxed_str());
        }
        self
    }

    /// Records the offset of the offending byte.
    pub fn set_offset(&mut self, offset: u64) {
        self.offset = Some(offset);
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Offset of the offending byte in the response, for protocol errors.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The underlying I/O error, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_ref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::InvalidEndpoint => f.write_str("invalid Docker host")?,
            ErrorKind::UnsupportedScheme => f.write_str("unsupported Docker host scheme")?,
            ErrorKind::InvalidRequest(e) => write!(f, "invalid request: {e}")?,
            ErrorKind::Connect => f.write_str("cannot connect to the Docker daemon")?,
            ErrorKind::Io => f.write_str("connection failed")?,
            ErrorKind::Timeout => f.write_str("timed out")?,
            ErrorKind::EmptyReply => f.write_str("empty reply from the daemon")?,
            ErrorKind::Truncated => f.write_str("connection closed in the middle of a response")?,
            ErrorKind::Protocol(e) => write!(f, "malformed response: {e}")?,
            ErrorKind::Status(code) => write!(f, "daemon answered {code}")?,
            ErrorKind::Decode(e) => write!(f, "cannot decode: {e}")?,
            ErrorKind::ResourceLimit => f.write_str("out of file descriptors")?,
            ErrorKind::StreamLimit => f.write_str("stream limit reached")?,
            ErrorKind::Tls(e) => write!(f, "TLS: {e}")?,
        }
        if let Some(offset) = self.offset {
            write!(f, " (at byte {offset})")?;
        }
        if let Some(context) = &self.context {
            write!(f, " [{context}]")?;
        }
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

/// `io::Error` is not `Clone`: a copy keeps the OS error code when there is one, else the
/// kind and the message.
impl Clone for Error {
    fn clone(&self) -> Error {
        Error {
            kind: self.kind,
            context: self.context.clone(),
            offset: self.offset,
            source: self.source.as_ref().map(|e| match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            }),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<HeadError> for ProtocolError {
    fn from(e: HeadError) -> Self {
        ProtocolError::Head(e)
    }
}

impl From<FramingError> for ProtocolError {
    fn from(e: FramingError) -> Self {
        ProtocolError::Framing(e)
    }
}

impl From<ChunkedError> for ProtocolError {
    fn from(e: ChunkedError) -> Self {
        ProtocolError::Chunked(e)
    }
}

impl From<FrameError> for ProtocolError {
    fn from(e: FrameError) -> Self {
        ProtocolError::Frame(e)
    }
}

/// Results with the crate's [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
