//! Byte transports under a connection: unix sockets, plain TCP and TLS over TCP, always
//! nonblocking.
//!
//! Connecting never blocks. A unix socket connects at once or fails at once; when the
//! daemon's listen backlog is full it fails with `EAGAIN` ([`Connect::Again`]) and the caller
//! retries later. A TCP connect completes on WRITABLE, after which [`Transport::finish_connect`]
//! reads the socket error (`take_error`) and confirms with `peer_addr`, as mio documents.
//!
//! A TLS transport ([`crate::tls`]) is a TCP one with a session on top: the reactor calls
//! [`Transport::flush_pending`] on every event, reads it until `WouldBlock`
//! ([`Transport::reads_until_would_block`]) and asks [`Transport::unclean_eof`] at the end.

#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::Path;

use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

#[cfg(feature = "tls")]
use crate::tls::{TlsConnector, TlsStream};

/// An open (or opening) nonblocking socket.
#[derive(Debug)]
pub(crate) enum Transport {
    Unix(UnixStream),
    Tcp(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

/// The result of starting a connect.
#[derive(Debug)]
pub(crate) enum Connect {
    /// Connected already (unix sockets).
    Done(Transport),
    /// In progress; wait for WRITABLE, then call [`Transport::finish_connect`].
    Pending(Transport),
    /// The peer cannot take the connection now (a full unix listen backlog): retry later.
    Again,
}

impl Transport {
    pub(crate) fn connect_unix(path: &Path) -> io::Result<Connect> {
        match UnixStream::connect(path) {
            Ok(s) => Ok(Connect::Done(Transport::Unix(s))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Connect::Again),
            Err(e) => Err(not_a_socket(path).unwrap_or(e)),
        }
    }

    pub(crate) fn connect_tcp(addr: SocketAddr) -> io::Result<Connect> {
        let s = TcpStream::connect(addr)?;
        // Requests are written in one piece; there is nothing to gain from Nagle.
        s.set_nodelay(true)?;
        Ok(Connect::Pending(Transport::Tcp(s)))
    }

    /// A TCP connect with a TLS session to `host` on top, started once connected.
    #[cfg(feature = "tls")]
    pub(crate) fn connect_tls(
        addr: SocketAddr,
        connector: &TlsConnector,
        host: &str,
    ) -> io::Result<Connect> {
        let s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let tls = TlsStream::new(s, connector, host)?;
        Ok(Connect::Pending(Transport::Tls(Box::new(tls))))
    }

    /// After a WRITABLE (or error) event on a pending connect: `Ok(true)` when connected,
    /// `Ok(false)` when still in progress, the connect error otherwise.
    pub(crate) fn finish_connect(&self) -> io::Result<bool> {
        let s = match self {
            Transport::Unix(_) => return Ok(true),
            Transport::Tcp(s) => s,
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.tcp(),
        };
        if let Some(e) = s.take_error()? {
            return Err(e);
        }
        match s.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes what the transport holds back (TLS records); a no-op for plain sockets.
    pub(crate) fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.flush(),
            _ => Ok(()),
        }
    }

    /// Whether reads must go on until `WouldBlock` even after a short read (TLS: a short
    /// read of plaintext says nothing about what is still in the socket).
    pub(crate) fn reads_until_would_block(&self) -> bool {
        match self {
            #[cfg(feature = "tls")]
            Transport::Tls(_) => true,
            _ => false,
        }
    }

    /// Whether the input ended without TLS close_notify (always `false` for plain sockets).
    pub(crate) fn unclean_eof(&self) -> bool {
        match self {
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.unclean_eof(),
            _ => false,
        }
    }

    /// Shuts the socket's read side before the caller reads what it holds for the last
    /// time. On a unix socket the peer's writes fail from then on (`EPIPE`), so what the
    /// peer wrote before is all there is, and a read at the end of it returns 0; over TCP
    /// the peer is not told.
    pub(crate) fn shutdown_read(&self) -> io::Result<()> {
        let how = std::net::Shutdown::Read;
        match self {
            Transport::Unix(s) => s.shutdown(how),
            Transport::Tcp(s) => s.shutdown(how),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.tcp().shutdown(how),
        }
    }

    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        // Both interests for the connection's whole life: with edge-triggered readiness a
        // WRITABLE edge only comes when the send buffer frees up, so this costs nothing while
        // idle and saves a reregister per request.
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self {
            Transport::Unix(s) => registry.register(s, token, interest),
            Transport::Tcp(s) => registry.register(s, token, interest),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => registry.register(t.tcp_mut(), token, interest),
        }
    }

    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Transport::Unix(s) => registry.deregister(s),
            Transport::Tcp(s) => registry.deregister(s),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => registry.deregister(t.tcp_mut()),
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Unix(s) => s.read(buf),
            Transport::Tcp(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Unix(s) => s.write(buf),
            Transport::Tcp(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Transport::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A refused connect to a path that exists but is no socket (a regular file, a directory):
/// say so, instead of "connection refused".
fn not_a_socket(path: &Path) -> Option<io::Error> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path).ok()?;
    if meta.file_type().is_socket() {
        return None;
    }
    Some(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is not a socket", path.display()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_is_no_socket_says_so() {
        let dir = std::env::temp_dir().join(format!("dockstat-nosock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("file");
        std::fs::write(&file, "").unwrap();
        for path in [&file, &dir] {
            let Err(e) = Transport::connect_unix(path) else {
                panic!("{} connected", path.display());
            };
            assert_eq!(e.to_string(), format!("{} is not a socket", path.display()));
        }
        // A missing path keeps the OS error, which the error's message words as docker does.
        let Err(e) = Transport::connect_unix(&dir.join("missing.sock")) else {
            panic!("connected");
        };
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
