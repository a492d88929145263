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
    /// unreachable, a path that is not a socket. Worded as the docker CLI words it (`Cannot
    /// connect to the Docker daemon at URL. Is the docker daemon running?`).
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
    /// The daemon answered with this error status. The error reads as the docker CLI words
    /// it (`Error response from daemon: No such container: web`), or names a server without
    /// the daemon's `Api-Version` field as possibly not a Docker daemon.
    Status(u16),
    /// A JSON document could not be decoded.
    Decode(DecodeError),
    /// A process limit was reached: open files (`ulimit -n`).
    ResourceLimit,
    /// More containers than the engine may stream at once (`max_streams`); the rest wait.
    StreamLimit,
    /// TLS: a certificate or key file, or the handshake with the daemon.
    Tls(TlsError),
    /// The cgroupfs source could not read a container's cgroup (the context names the file).
    Cgroup(CgroupError),
}

/// Why the cgroupfs source could not read a container's cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CgroupError {
    /// The cgroup (or the container's process) is gone: the container stopped.
    Vanished,
    /// This process may not read the file (not root, or a mount without the host's cgroups).
    Permission,
    /// The container's cgroup was not found under the cgroup root (not mounted there, a
    /// cgroup driver or layout not understood, a daemon on another host).
    NotFound,
    /// The file could not be read otherwise.
    Unreadable,
    /// The file's content is not what the kernel writes.
    Malformed,
}

impl fmt::Display for CgroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CgroupError::Vanished => "cgroup is gone",
            CgroupError::Permission => "permission denied reading cgroup",
            CgroupError::NotFound => "cgroup not found",
            CgroupError::Unreadable => "cannot read cgroup file",
            CgroupError::Malformed => "malformed cgroup file",
        })
    }
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
        // A daemon's error status: the context is the whole sentence (see `status_error`).
        if let (ErrorKind::Status(_), Some(message)) = (self.kind, &self.context) {
            return f.write_str(message);
        }
        // An invalid host or setting: the context says it in full, naming the setting.
        if let (ErrorKind::InvalidEndpoint, Some(message)) = (self.kind, &self.context) {
            f.write_str(message)?;
            if let Some(source) = &self.source {
                write!(f, ": {source}")?;
            }
            return Ok(());
        }
        if self.kind == ErrorKind::Connect {
            if let Some(at) = &self.context {
                return connect_message(f, at, self.source.as_ref());
            }
        }
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
            ErrorKind::Status(code) => {
                write!(f, "daemon answered {code}")?;
                if !reason(code).is_empty() {
                    write!(f, " {}", reason(code))?;
                }
            }
            ErrorKind::Decode(e) => write!(f, "cannot decode: {e}")?,
            ErrorKind::ResourceLimit => f.write_str("out of file descriptors")?,
            ErrorKind::StreamLimit => f.write_str("stream limit reached")?,
            ErrorKind::Tls(e) => write!(f, "TLS: {e}")?,
            ErrorKind::Cgroup(e) => write!(f, "{e}")?,
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
        if self.kind == ErrorKind::Cgroup(CgroupError::Permission) {
            // The remedy is the user's: say it where the error is seen.
            f.write_str(
                " (reading containers' cgroups needs root, or the host's /sys/fs/cgroup and \
                 /proc mounted readable and named as the cgroup and proc roots)",
            )?;
        }
        Ok(())
    }
}

/// A connect failure to `at` (an endpoint URL) in the docker CLI's words where it has them.
fn connect_message(
    f: &mut fmt::Formatter<'_>,
    at: &str,
    source: Option<&io::Error>,
) -> fmt::Result {
    let Some(source) = source else {
        return write!(f, "cannot connect to the Docker daemon: {at}");
    };
    match source.raw_os_error() {
        // What the CLI says for a missing socket and for a closed port alike.
        Some(libc::ENOENT | libc::ECONNREFUSED) => write!(
            f,
            "Cannot connect to the Docker daemon at {at}. Is the docker daemon running?"
        ),
        Some(libc::EACCES | libc::EPERM) => write!(
            f,
            "permission denied while trying to connect to the Docker daemon socket at {at}"
        ),
        Some(_) => write!(f, "cannot connect to the Docker daemon at {at}: {source}"),
        // A message of dockstat's own, such as "/tmp/x is not a socket".
        None => write!(f, "{at}: {source}"),
    }
}

/// The reason phrase of a status code (RFC 9110), or `""` for one without.
pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// `text` as one line for a message: trimmed, control characters escaped (`\n`, `\x1b`),
/// cut to `max` characters with `…`.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.trim().chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// The error for a response with an error status `code` to `target` from `url`, worded as the
/// docker CLI words it: the daemon's `{"message":…}` after "Error response from daemon: ".
/// A reply that is not a Docker error document and has no `Api-Version` field (which the
/// daemon sets on every API response) is said to come from something else, without its body
/// (an HTML page, say) beyond one short line.
pub(crate) fn status_error(
    code: u16,
    api_version: bool,
    body: &[u8],
    url: &str,
    target: &str,
) -> Error {
    let status = format!("{code} {}", reason(code));
    let status = status.trim_end();
    let message = match crate::api::json_message(body) {
        Some(m) if !m.trim().is_empty() => {
            format!("Error response from daemon: {}", one_line(&m, 300))
        }
        Some(_) => format!(
            "Error response from daemon: API returned a {status} but provided no error-message"
        ),
        None => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if !api_version {
                // A short plain-text line says why (a TLS port answering plain HTTP); a page
                // of HTML says nothing in one line.
                let why = if !text.is_empty() && !text.starts_with('<') && !text.contains('\n') {
                    format!(" ({})", one_line(text, 120))
                } else {
                    String::new()
                };
                format!(
                    "{url} answered {status} to {target} without an Api-Version header: it may \
                     not be a Docker daemon{why}"
                )
            } else if text.is_empty() {
                format!(
                    "Error response from daemon: request returned {status} for API route and \
                     version {target}, check if the server supports the requested API version"
                )
            } else {
                format!("Error response from daemon: {}", one_line(text, 300))
            }
        }
    };
    Error::new(ErrorKind::Status(code)).context(message)
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

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "tcp://127.0.0.1:2375";

    #[test]
    fn a_daemon_error_reads_as_the_docker_cli_says_it() {
        let body = b"{\"message\":\"No such container: nope\"}\n";
        let e = status_error(404, true, body, URL, "/v1.41/containers/nope/json");
        assert_eq!(e.kind(), ErrorKind::Status(404));
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such container: nope"
        );
        // A later context does not change it.
        assert_eq!(
            e.context("/x").to_string(),
            "Error response from daemon: No such container: nope"
        );
        // The daemon's own 404 for an unknown route has no Api-Version, but is its document.
        let e = status_error(404, false, b"{\"message\":\"page not found\"}", URL, "/x");
        assert_eq!(e.to_string(), "Error response from daemon: page not found");
        let e = status_error(500, true, b"{}", URL, "/x");
        assert_eq!(
            e.to_string(),
            "Error response from daemon: API returned a 500 Internal Server Error but provided \
             no error-message"
        );
        let e = status_error(404, true, b"", URL, "/v1.41/x");
        assert!(e.to_string().starts_with(
            "Error response from daemon: request returned 404 Not Found for API route and \
             version /v1.41/x"
        ));
    }

    #[test]
    fn a_server_that_is_not_docker_is_named_in_one_line() {
        let html = b"<!DOCTYPE HTML>\n<html>\n<body>\n<h1>Error response</h1>\n</body>\n</html>\n";
        let e = status_error(404, false, html, URL, "/_ping");
        assert_eq!(
            e.to_string(),
            "tcp://127.0.0.1:2375 answered 404 Not Found to /_ping without an Api-Version \
             header: it may not be a Docker daemon"
        );
        // A short plain line says why.
        let e = status_error(
            400,
            false,
            b"Client sent an HTTP request to an HTTPS server.\n",
            URL,
            "/_ping",
        );
        assert!(
            e.to_string().ends_with(
                "it may not be a Docker daemon (Client sent an HTTP request to an HTTPS server.)"
            ),
            "{e}"
        );
        // Text from a daemon (Api-Version present) is shown on one line, escaped and cut.
        let long = format!("line one\r\n\x1b[31mred\x1b[0m\t{}", "x".repeat(1000));
        let e = status_error(500, true, long.as_bytes(), URL, "/x");
        let shown = e.to_string();
        assert!(
            shown.starts_with("Error response from daemon: line one\\r\\n\\u{1b}[31mred"),
            "{shown}"
        );
        assert!(!shown.contains('\n') && !shown.contains('\x1b'), "{shown}");
        assert!(
            shown.ends_with('…') && shown.chars().count() < 400,
            "{shown}"
        );
    }

    #[test]
    fn connect_errors_in_the_docker_cli_words() {
        let at = |e: io::Error| {
            Error::io(ErrorKind::Connect, e)
                .context("unix:///x.sock")
                .to_string()
        };
        let docker =
            "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?";
        assert_eq!(at(io::Error::from_raw_os_error(libc::ENOENT)), docker);
        assert_eq!(at(io::Error::from_raw_os_error(libc::ECONNREFUSED)), docker);
        assert_eq!(
            at(io::Error::from_raw_os_error(libc::EACCES)),
            "permission denied while trying to connect to the Docker daemon socket at unix:///x.sock"
        );
        assert_eq!(
            at(io::Error::new(
                io::ErrorKind::InvalidInput,
                "/x.sock is not a socket"
            )),
            "unix:///x.sock: /x.sock is not a socket"
        );
        assert!(
            at(io::Error::from_raw_os_error(libc::ENETUNREACH))
                .starts_with("cannot connect to the Docker daemon at unix:///x.sock: ")
        );
    }

    #[test]
    fn a_status_without_a_message_names_the_status() {
        assert_eq!(
            Error::new(ErrorKind::Status(502)).to_string(),
            "daemon answered 502 Bad Gateway"
        );
        assert_eq!(
            Error::new(ErrorKind::Status(599)).to_string(),
            "daemon answered 599"
        );
    }
}
