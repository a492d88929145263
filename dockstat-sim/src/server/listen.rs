//! The listening socket: binding a unix socket or a TCP address (TLS or not), accepting from
//! it, and binding the same address again after a restart. Not the connections it accepts.

use std::io::{self};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dockstat::sys::SocketFd;
use mio::{Interest, Poll, Registry, Token, Waker};
use rustls::{ServerConfig, ServerConnection};

use super::transport::{Stream, TLS_BATCH, TlsConn, server_config};
use crate::Listen;

pub(super) enum Listener {
    Unix(mio::net::UnixListener),
    Tcp(mio::net::TcpListener),
    Tls(mio::net::TcpListener, Arc<ServerConfig>),
}

impl Listener {
    pub(super) fn accept(&self) -> io::Result<Stream> {
        let tcp = |l: &mio::net::TcpListener| {
            l.accept().map(|(s, _)| {
                // Frames are small and latency matters more than packet count (Go sets this too).
                let _ = s.set_nodelay(true);
                s
            })
        };
        match self {
            Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Listener::Tcp(l) => tcp(l).map(Stream::Tcp),
            Listener::Tls(l, config) => {
                let s = tcp(l)?;
                // Fails only for a config no handshake could use: drop this connection.
                let mut tls = ServerConnection::new(Arc::clone(config))
                    .map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e))?;
                tls.set_buffer_limit(Some(TLS_BATCH));
                Ok(Stream::Tls(
                    s,
                    Box::new(TlsConn {
                        tls,
                        inflight: 0,
                        head: [0; 5],
                        head_len: 0,
                        failed: false,
                        closing: false,
                    }),
                ))
            }
        }
    }

    pub(super) fn register(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Unix(l) => registry.register(l, LISTENER, Interest::READABLE),
            Listener::Tcp(l) | Listener::Tls(l, _) => {
                registry.register(l, LISTENER, Interest::READABLE)
            }
        }
    }
}

/// A bound listener and its poll, ready to be moved to the server thread.
pub(crate) struct Bound {
    pub(super) poll: Poll,
    pub(super) listener: Listener,
    pub(crate) waker: Arc<Waker>,
    pub(crate) url: String,
    /// The unix socket file to remove on shutdown.
    pub(crate) socket_path: Option<PathBuf>,
    pub(super) rebind: Rebind,
}

/// What a restart binds again: the address bound first (a port that port 0 picked stays the
/// same), with the same TLS configuration.
#[derive(Clone)]
pub(super) enum Rebind {
    Unix(PathBuf),
    Tcp(SocketAddr),
    Tls(SocketAddr, Arc<ServerConfig>),
}

impl Rebind {
    pub(super) fn bind(&self) -> io::Result<Listener> {
        Ok(match self {
            Rebind::Unix(path) => Listener::Unix(bind_unix(path)?),
            Rebind::Tcp(addr) => Listener::Tcp(bind_tcp(*addr)?.0),
            Rebind::Tls(addr, config) => Listener::Tls(bind_tcp(*addr)?.0, Arc::clone(config)),
        })
    }
}

/// Binds `listen` and prepares the poll. The socket accepts connections from this point on
/// (they wait in the backlog until the loop runs).
pub(crate) fn bind(listen: &Listen) -> io::Result<Bound> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (mut listener, url, socket_path, rebind) = match listen {
        Listen::Tls { addr, tls } => {
            let config = server_config(tls)?;
            let (l, url) = bind_tcp(*addr)?;
            let again = Rebind::Tls(l.local_addr()?, Arc::clone(&config));
            (Listener::Tls(l, config), url, None, again)
        }
        Listen::Unix(path) => {
            let path = if path.is_absolute() {
                path.clone()
            } else {
                std::env::current_dir()?.join(path)
            };
            // mio's UnixListener::bind listens with a backlog of -1, which Linux turns into
            // net.core.somaxconn (4096 since 5.4; `ss -xl` shows it): the largest the kernel
            // allows, so a listen(2) with 4096 as for TCP could only lower it on a host tuned
            // higher. Checked with 10,000 clients connecting in one burst.
            let l = bind_unix(&path)?;
            let url = format!("unix://{}", path.display());
            (
                Listener::Unix(l),
                url,
                Some(path.clone()),
                Rebind::Unix(path),
            )
        }
        Listen::Tcp(addr) => {
            let (l, url) = bind_tcp(*addr)?;
            let again = Rebind::Tcp(l.local_addr()?);
            (Listener::Tcp(l), url, None, again)
        }
    };
    listener.register(poll.registry())?;
    Ok(Bound {
        poll,
        listener,
        waker,
        url,
        socket_path,
        rebind,
    })
}

/// Binds a TCP listener; returns it and its `tcp://` URL (a loopback address for an
/// unspecified one).
fn bind_tcp(addr: SocketAddr) -> io::Result<(mio::net::TcpListener, String)> {
    let l = mio::net::TcpListener::bind(addr)?;
    // mio's `TcpListener::bind` listens with std's backlog of 128: 10,000 clients connecting
    // at once would see SYNs dropped and one-second retransmits.
    SocketFd(l.as_raw_fd()).listen(4096)?;
    let mut local = l.local_addr()?;
    if local.ip().is_unspecified() {
        local.set_ip(match local {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok((l, format!("tcp://{local}")))
}

/// Binds a unix socket, replacing a stale socket file that nobody listens on any more (a
/// previous run that was killed), but never a live socket or a non-socket file.
fn bind_unix(path: &Path) -> io::Result<mio::net::UnixListener> {
    use std::os::unix::fs::FileTypeExt as _;
    match mio::net::UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let is_socket = std::fs::symlink_metadata(path)?.file_type().is_socket();
            let refused = matches!(
                std::os::unix::net::UnixStream::connect(path),
                Err(ref c) if c.kind() == io::ErrorKind::ConnectionRefused
            );
            if !(is_socket && refused) {
                return Err(e);
            }
            std::fs::remove_file(path)?;
            mio::net::UnixListener::bind(path)
        }
        other => other,
    }
}

pub(super) const LISTENER: Token = Token(0);
pub(super) const WAKER: Token = Token(1);
