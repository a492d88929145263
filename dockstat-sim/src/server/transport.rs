//! A connection's byte stream, plain (TCP or unix socket) or TLS: the rustls server
//! configuration, reading and writing records, telling a plain HTTP request on the TLS port
//! from a handshake, and closing with or without close_notify. Not what the bytes mean.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use dockstat::sys::SocketFd;
use mio::{Interest, Registry, Token};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use crate::SimTls;

/// Plaintext handed to rustls at once, and its buffer limit: one full TLS record. More is
/// handed only once the last batch's records are all on the socket (see [`flush_tls`]).
pub(super) const TLS_BATCH: usize = 16 * 1024;
/// What Go's net/http (so dockerd) answers a plain HTTP request on a TLS port with.
pub(super) const HTTP_TO_HTTPS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

pub(super) enum Stream {
    Unix(mio::net::UnixStream),
    Tcp(mio::net::TcpStream),
    /// Boxed: rustls's state is a few hundred bytes, and plain connections should not pay for
    /// it.
    Tls(mio::net::TcpStream, Box<TlsConn>),
}

/// A TLS connection's state besides its socket.
pub(super) struct TlsConn {
    pub(super) tls: ServerConnection,
    /// Plaintext bytes handed to `tls` whose records are not all on the socket yet (at most
    /// one batch): part of `Conn::pending`, and not yet counted as sent.
    pub(super) inflight: usize,
    /// The connection's first bytes, to tell a plain HTTP request from a ClientHello.
    pub(super) head: [u8; 5],
    pub(super) head_len: u8,
    /// The handshake or a record failed: nothing more goes through rustls, input is drained.
    pub(super) failed: bool,
    /// close_notify is queued.
    pub(super) closing: bool,
}

impl Stream {
    pub(super) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let both = Interest::READABLE | Interest::WRITABLE;
        match self {
            Stream::Unix(s) => registry.register(s, token, both),
            Stream::Tcp(s) | Stream::Tls(s, _) => registry.register(s, token, both),
        }
    }

    pub(super) fn deregister(&mut self, registry: &Registry) {
        // Closing the fd removes it from epoll anyway; an error here changes nothing.
        let _ = match self {
            Stream::Unix(s) => registry.deregister(s),
            Stream::Tcp(s) | Stream::Tls(s, _) => registry.deregister(s),
        };
    }

    /// Reads raw bytes (for TLS, ciphertext or whatever the peer sends).
    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) | Stream::Tls(s, _) => s.read(buf),
        }
    }

    /// Writes raw bytes (for TLS, records).
    pub(super) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            // std writes to unix sockets with write(2), which raises SIGPIPE on a closed peer
            // and would kill a host process that does not ignore it; send(2) can opt out.
            Stream::Unix(s) => SocketFd(s.as_raw_fd()).send_nosignal(buf),
            // std's TcpStream already sends with MSG_NOSIGNAL.
            Stream::Tcp(s) | Stream::Tls(s, _) => s.write(buf),
        }
    }

    pub(super) fn shutdown_write(&self) {
        // The peer may be gone already; there is nothing to do about an error.
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tcp(s) | Stream::Tls(s, _) => s.shutdown(Shutdown::Write),
        };
    }

    /// Bytes written to the socket that the peer has not acknowledged yet (TCP's `SIOCOUTQ`);
    /// 0 for a unix socket, whose written bytes are in the peer's queue already.
    pub(super) fn unacked(&self) -> usize {
        match self {
            Stream::Unix(_) => 0,
            Stream::Tcp(s) | Stream::Tls(s, _) => SocketFd(s.as_raw_fd()).unsent_bytes(),
        }
    }

    /// Makes the coming close a reset: for TCP, `SO_LINGER` with a zero timeout, so that
    /// `close` sends an RST (and drops whatever is unsent). A unix socket has no reset.
    pub(super) fn arm_reset(&self) {
        match self {
            Stream::Unix(_) => {}
            Stream::Tcp(s) | Stream::Tls(s, _) => SocketFd(s.as_raw_fd()).linger_zero(),
        }
    }

    /// Plaintext handed to TLS and not yet on the socket.
    pub(super) fn inflight(&self) -> usize {
        match self {
            Stream::Tls(_, t) => t.inflight,
            _ => 0,
        }
    }

    /// Before closing on purpose: a TLS connection sends close_notify. True once there is
    /// nothing more to write (always, without TLS); false while the alert waits for the socket
    /// to take it (the next WRITABLE event finishes it).
    pub(super) fn finish(&mut self) -> bool {
        let Stream::Tls(s, t) = self else {
            return true;
        };
        if t.failed {
            return true;
        }
        if !t.closing {
            t.closing = true;
            t.tls.send_close_notify();
        }
        match write_records(s, &mut t.tls) {
            Ok(()) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }
}

/// The socket as rustls writes to it: through `write` only, which std does with
/// `send(MSG_NOSIGNAL)`. (std's `write_vectored` is `writev(2)`, which raises SIGPIPE on a
/// closed peer.)
struct NoSigPipe<'a>(&'a mut mio::net::TcpStream);

impl Write for NoSigPipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The socket as rustls reads from it, keeping the connection's first bytes aside.
struct Tap<'a> {
    pub(super) sock: &'a mut mio::net::TcpStream,
    pub(super) head: &'a mut [u8; 5],
    pub(super) head_len: &'a mut u8,
}

impl Read for Tap<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.sock.read(buf)?;
        let have = usize::from(*self.head_len);
        let take = (self.head.len() - have).min(n);
        self.head[have..have + take].copy_from_slice(&buf[..take]);
        *self.head_len += take as u8;
        Ok(n)
    }
}

/// Writes rustls's pending records until there are none (`Ok`) or the socket is full
/// (`WouldBlock`) or broken (any other error).
pub(super) fn write_records(
    sock: &mut mio::net::TcpStream,
    tls: &mut ServerConnection,
) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(&mut NoSigPipe(sock)) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether a TLS connection's first five bytes are an HTTP request's (Go's test).
pub(super) fn looks_like_http(head: &[u8]) -> bool {
    matches!(head, b"GET /" | b"HEAD " | b"POST " | b"PUT /" | b"OPTIO")
}

/// The rustls server configuration of `tls` (ring provider, TLS 1.2 and 1.3).
pub(super) fn server_config(tls: &SimTls) -> io::Result<Arc<ServerConfig>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let pem_error = |path: &Path, what: &str, e: rustls::pki_types::pem::Error| match e {
        rustls::pki_types::pem::Error::Io(e) => io::Error::new(
            e.kind(),
            format!("reading the {what} {}: {e}", path.display()),
        ),
        e => io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the {what} {}: {e}", path.display()),
        ),
    };
    let certs = |path: &Path, what: &str| -> io::Result<Vec<CertificateDer<'static>>> {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| pem_error(path, what, e))?;
        if certs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the {what} {} holds no certificate", path.display()),
            ));
        }
        Ok(certs)
    };
    let chain = certs(&tls.cert_chain, "server certificate chain")?;
    let key =
        PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| pem_error(&tls.key, "server key", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(format!("TLS versions: {e}")))?;
    let builder = match &tls.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certs(ca, "client CA")? {
                roots
                    .add(cert)
                    .map_err(|e| invalid(format!("the client CA {}: {e}", ca.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(format!("the client CA {}: {e}", ca.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| {
        invalid(format!(
            "the server certificate {} and key {}: {e}",
            tls.cert_chain.display(),
            tls.key.display()
        ))
    })?;
    Ok(Arc::new(config))
}

/// The TLS path of `conn::flush`: writes rustls's pending records, and whenever there are none
/// left hands it the next batch of `out` (at most [`TLS_BATCH`] bytes, one record), until
/// `out` is empty or the socket is full. Returns the offset (in `written` terms, plaintext)
/// up to which bytes are on the socket.
///
/// One batch at a time is what keeps the accounting exact and the memory bounded: when rustls
/// has no records pending, every plaintext byte handed to it so far is on the socket (so the
/// frames ending there are sent), and rustls never holds more than one batch (so a slow
/// reader's backlog stays in `out`, where `Conn::pending` sees it and frames are skipped).
/// `written` counts plaintext handed to rustls; `inflight`, the part of it not yet known to
/// be on the socket. Also returns whether the socket broke.
pub(super) fn flush_tls(
    sock: &mut mio::net::TcpStream,
    t: &mut TlsConn,
    out: Out<'_>,
) -> (u64, bool) {
    loop {
        match write_records(sock, &mut t.tls) {
            Ok(()) => t.inflight = 0,
            Err(e) => {
                let broken = e.kind() != io::ErrorKind::WouldBlock;
                return (*out.written - t.inflight as u64, broken);
            }
        }
        // Nothing goes in before the handshake is done (no request can have been read), after
        // a failure, or after close_notify.
        if t.tls.is_handshaking() || t.failed || t.closing || *out.pos == out.buf.len() {
            return (*out.written, false);
        }
        let end = out.buf.len().min(*out.pos + TLS_BATCH);
        match t.tls.writer().write(&out.buf[*out.pos..end]) {
            Ok(n) if n > 0 => {
                *out.pos += n;
                *out.written += n as u64;
                t.inflight = n;
            }
            // With no records pending the limit leaves room: cannot happen.
            _ => return (*out.written, false),
        }
    }
}

/// A connection's output fields, borrowed apart from its stream.
pub(super) struct Out<'a> {
    pub(super) buf: &'a [u8],
    pub(super) pos: &'a mut usize,
    pub(super) written: &'a mut u64,
}

/// What one read of a connection's input gave.
pub(super) enum Got {
    /// Bytes (plaintext, for TLS) in the read buffer.
    Bytes(usize),
    /// The peer closed its side (for TLS, with or without close_notify).
    Eof,
    /// Nothing more until the next readable event.
    Blocked,
    /// The connection is broken.
    Gone,
    /// The TLS handshake or a record failed; rustls has queued an alert.
    Failed(rustls::Error),
}

/// Reads once (retrying `Interrupted`): raw bytes, or for TLS, plaintext from rustls, fed with
/// records from the socket as needed.
pub(super) fn recv(stream: &mut Stream, buf: &mut [u8]) -> Got {
    loop {
        let r = match &mut *stream {
            Stream::Tls(sock, t) if !t.failed => return recv_tls(sock, t, buf),
            s => s.read(buf),
        };
        return match r {
            Ok(0) => Got::Eof,
            Ok(n) => Got::Bytes(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Got::Blocked,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => Got::Gone,
        };
    }
}

/// [`recv`] for TLS: plaintext rustls has decrypted; else reads records from the socket and
/// processes them (the handshake too), until there is plaintext, EOF or `WouldBlock`.
fn recv_tls(sock: &mut mio::net::TcpStream, t: &mut TlsConn, buf: &mut [u8]) -> Got {
    loop {
        match t.tls.reader().read(buf) {
            // close_notify, and everything before it read.
            Ok(0) => return Got::Eof,
            Ok(n) => return Got::Bytes(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // A TCP EOF without close_notify: HTTP clients do that, and a request is complete
            // or not by its own framing, so it is an EOF like any other.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Got::Eof,
            Err(_) => return Got::Gone,
        }
        let mut tap = Tap {
            sock,
            head: &mut t.head,
            head_len: &mut t.head_len,
        };
        match t.tls.read_tls(&mut tap) {
            // Ok(0) is EOF: rustls notes it, and its reader reports it once the records
            // before it are processed.
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Got::Blocked,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Also a handshake message over rustls's 64 KiB limit (InvalidData).
            Err(_) => return Got::Gone,
        }
        if let Err(e) = t.tls.process_new_packets() {
            return Got::Failed(e);
        }
    }
}
