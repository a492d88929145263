//! The event loop: one thread, one nonblocking mio `Poll`, every connection on it.
//!
//! Built to hold 10,000 concurrent stats streams:
//! - no thread per connection; per-connection state is a few buffers and a small enum;
//! - frame deadlines live in one binary heap of `(deadline, timer id, slot)`; a connection has at
//!   most one live timer, and stale heap entries (closed or re-armed connections) are skipped
//!   by id when they surface, so nothing is ever removed from the middle of the heap;
//! - sockets are registered once for READABLE | WRITABLE (edge-triggered): reads drain until
//!   `WouldBlock`, writes go out until `WouldBlock` and the rest waits in the connection's output
//!   buffer for the next WRITABLE event; `Interrupted` is retried everywhere;
//! - a frame (or event) counts as sent only once its last byte has been written to the socket;
//! - an idle connection holds no output buffer: a drained buffer goes back to a small shared
//!   pool, and input is read through one shared 64 KiB buffer (only a partial request head is
//!   kept per connection), so 10,000 quiet streams cost little more than their sockets;
//! - each stream's cadence starts at its own request, so frames are spread over the interval
//!   rather than all written in one burst;
//! - a reader too slow to keep its output buffer under [`MAX_QUEUED`] has frames *skipped*
//!   (counted apart), like the daemon's pubsub drops messages for slow subscribers. Its next
//!   frame's `precpu_stats` is then the last frame it did get, as with the real daemon;
//! - accept runs until `WouldBlock`; when the process is out of file descriptors it backs off
//!   and retries from a timer rather than spinning.
//!
//! Closing follows Go's server: after the last response on a connection the write side is shut
//! and input is drained for up to [`LINGER`], so a client still sending does not get a reset
//! that destroys the response it has not read yet.
//!
//! Faults (`fault.rs`): a stream's fault is applied by [`emit_frame`] in place of its frame. A
//! payload too big to hold (a huge frame's padding) or to be written at once (a dripped frame)
//! goes through the connection's [`Spool`], generated as the socket takes it or one byte per
//! tick. A reset waits until the peer has acknowledged everything before it (`SIOCOUTQ`), so
//! that the RST destroys nothing the sim counted as sent. Chaos ticks and the end of a
//! restart's down time run from the timer heap; a restart closes every connection and the
//! listener, and binds the same address again.
//!
//! Lifecycle: commands from the [`Sim`](super::Sim) handle arrive through a channel and the
//! poll's waker; churn and delayed removals run from the timer heap. Each change is applied to
//! the model, its events are written to every `/events` subscriber whose filter admits them,
//! and stats streams notice the change at their next frame: zero frames once the container is
//! not running, live frames (precpu zeroed first) after a start, and after a removal two more
//! zero frames and the last chunk, after which the connection takes requests again.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dockstat::sys::SocketFd;
use mio::event::Event;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use super::api::{self, Action, Control, H_DAEMON, H_DAEMON_JSON, Reply, StatsMode};
use super::events::{self, Filter, Message};
use super::fault::{self, FAULT_KINDS, Fault};
use super::frames::{FrameScratch, push_frame, push_zero_frame};
use super::http::{self, Framing, Parsed, ResponseHead};
use super::json::push_u64;
use super::model::{Model, Op, hash2};
use super::time::{self, UnixNanos};
use super::{Churn, Listen, SimConfig, SimCounters, SimTls};

/// How the server closes a connection once everything queued is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Close {
    /// Shut the write side (FIN, after close_notify for TLS), then drain input for [`LINGER`].
    Graceful,
    /// Reset: TCP RST (`SO_LINGER` 0 and `close`) once the peer has acknowledged everything
    /// before it; a unix socket is just closed.
    Reset,
}

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection slot `s` is registered as `Token(s + FIRST_CONN)`.
const FIRST_CONN: usize = 2;
/// Timer-heap slot of the accept retry.
const ACCEPT_SLOT: usize = usize::MAX;
/// Timer-heap slot of the churn tick.
const CHURN_SLOT: usize = usize::MAX - 1;
/// Timer-heap slot of the delayed removals of churned containers.
const REMOVE_SLOT: usize = usize::MAX - 2;
/// Timer-heap slot of the chaos tick.
const CHAOS_SLOT: usize = usize::MAX - 3;
/// Timer-heap slot of the end of a restart's down time.
const RESTART_SLOT: usize = usize::MAX - 4;
/// Chaos keys for [`hash2`]: which stream, and which fault.
const CHAOS_STREAM_KEY: u64 = 0xc4a0_5001;
const CHAOS_FAULT_KEY: u64 = 0xc4a0_5002;
/// How often a reset waiting for the peer to acknowledge what precedes it looks again.
const RESET_POLL: Duration = Duration::from_millis(1);
/// How often a restart whose address is not free yet tries to bind again.
const REBIND_RETRY: Duration = Duration::from_millis(50);
/// Bytes of a spooled payload (huge frame padding) put in the output buffer at a time.
const SPOOL_BATCH: usize = 64 * 1024;

/// Unsent bytes above which a stream's next frame is skipped instead of queued.
pub(crate) const MAX_QUEUED: usize = 32 * 1024;
/// Unsent bytes above which an events subscriber misses events, as the daemon's pubsub drops
/// messages for a subscriber that does not keep up.
const MAX_EVENTS_QUEUED: usize = 1024 * 1024;
/// Zero frames a stream still sends after its container is removed, before its last chunk
/// (`docker20-cgv1-doomed-rm-midstream.http`).
const FRAMES_AFTER_REMOVE: u8 = 2;
/// Drained output buffers kept for reuse, and the largest capacity worth keeping.
const POOL_BUFFERS: usize = 64;
const POOL_MAX_CAPACITY: usize = 64 * 1024;
/// Churn key for [`hash2`]: which running container a churn tick stops.
const CHURN_KEY: u64 = 0xc4_0e17;
/// Request bytes buffered while a `stream=false` answer is pending; more closes the connection.
const MAX_PIPELINED: usize = 2 * http::MAX_HEAD;
/// How long a closing connection's input is drained after its write side is shut.
const LINGER: Duration = Duration::from_millis(500);
/// Back-off before accepting again after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The shortest interval the server accepts: a zero interval would fire timers forever
/// without ever returning to `poll`.
const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// The longest: keeps `Instant + interval` far from overflowing.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// Plaintext handed to rustls at once, and its buffer limit: one full TLS record. More is
/// handed only once the last batch's records are all on the socket (see [`flush_tls`]).
const TLS_BATCH: usize = 16 * 1024;
/// What Go's net/http (so dockerd) answers a plain HTTP request on a TLS port with.
const HTTP_TO_HTTPS: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// State shared between the server thread and the [`Sim`](super::Sim) handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    frames_sent: AtomicU64,
    frames_skipped: AtomicU64,
    streams_open: AtomicU64,
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    requests: AtomicU64,
    events_sent: AtomicU64,
    pub(crate) containers_running: AtomicU64,
    /// Faults injected, by kind ([`FAULT_KINDS`]).
    faults: [AtomicU64; FAULT_KINDS.len()],
}

impl Shared {
    pub(crate) fn counters(&self) -> SimCounters {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SimCounters {
            frames_sent: get(&self.frames_sent),
            frames_skipped: get(&self.frames_skipped),
            streams_open: get(&self.streams_open),
            connections_accepted: get(&self.connections_accepted),
            connections_open: get(&self.connections_open),
            requests: get(&self.requests),
            events_sent: get(&self.events_sent),
            containers_running: get(&self.containers_running),
            faults_injected: self.faults.iter().map(get).sum(),
        }
    }

    /// Faults injected so far, by kind, in [`FAULT_KINDS`] order.
    pub(crate) fn fault_counts(&self) -> Vec<(&'static str, u64)> {
        FAULT_KINDS
            .iter()
            .zip(&self.faults)
            .map(|(&k, n)| (k, n.load(Ordering::Relaxed)))
            .collect()
    }

    fn count_fault(&self, fault: &Fault) {
        bump(&self.faults[fault.kind()]);
    }
}

/// A command from the [`Sim`](super::Sim) handle, applied on the server thread; the answer
/// goes back on `reply` once it is done.
#[derive(Debug)]
pub(crate) enum Command {
    /// A lifecycle change; the answer (the container's id) once it is applied and its events
    /// are queued.
    Lifecycle {
        op: Op,
        /// Name, id or id prefix (ignored by `Create`).
        target: String,
        reply: mpsc::SyncSender<io::Result<String>>,
    },
    /// Stats frames sent for containers of this name so far.
    FramesSentFor {
        name: String,
        reply: mpsc::SyncSender<u64>,
    },
    /// Pause or resume stats frames, as `GET /_sim/pause` and `/_sim/resume` do.
    PauseFrames {
        paused: bool,
        reply: mpsc::SyncSender<()>,
    },
    /// Close every `/events` connection (FIN in the middle of the chunked body); the answer
    /// is how many there were.
    DropEvents { reply: mpsc::SyncSender<u64> },
    /// Close every connection and the listener, and listen again after `down`; the answer
    /// once the sockets are closed (the unix socket file removed).
    Restart {
        down: Duration,
        reply: mpsc::SyncSender<io::Result<()>>,
    },
}

/// `{"frames_sent":…,…}` for `GET /_sim/counters`.
fn counters_json(c: &SimCounters) -> Vec<u8> {
    let fields = [
        ("frames_sent", c.frames_sent),
        ("frames_skipped", c.frames_skipped),
        ("streams_open", c.streams_open),
        ("connections_accepted", c.connections_accepted),
        ("connections_open", c.connections_open),
        ("requests", c.requests),
        ("events_sent", c.events_sent),
        ("containers_running", c.containers_running),
        ("faults_injected", c.faults_injected),
    ];
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    for (i, (k, v)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        push_u64(&mut out, v);
    }
    out.extend_from_slice(b"}\n");
    out
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

fn drop_one(a: &AtomicU64) {
    a.fetch_sub(1, Ordering::Relaxed);
}

enum Listener {
    Unix(mio::net::UnixListener),
    Tcp(mio::net::TcpListener),
    Tls(mio::net::TcpListener, Arc<ServerConfig>),
}

impl Listener {
    fn accept(&self) -> io::Result<Stream> {
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

    fn register(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Unix(l) => registry.register(l, LISTENER, Interest::READABLE),
            Listener::Tcp(l) | Listener::Tls(l, _) => {
                registry.register(l, LISTENER, Interest::READABLE)
            }
        }
    }
}

enum Stream {
    Unix(mio::net::UnixStream),
    Tcp(mio::net::TcpStream),
    /// Boxed: rustls's state is a few hundred bytes, and plain connections should not pay for
    /// it.
    Tls(mio::net::TcpStream, Box<TlsConn>),
}

/// A TLS connection's state besides its socket.
struct TlsConn {
    tls: ServerConnection,
    /// Plaintext bytes handed to `tls` whose records are not all on the socket yet (at most
    /// one batch): part of [`Conn::pending`], and not yet counted as sent.
    inflight: usize,
    /// The connection's first bytes, to tell a plain HTTP request from a ClientHello.
    head: [u8; 5],
    head_len: u8,
    /// The handshake or a record failed: nothing more goes through rustls, input is drained.
    failed: bool,
    /// close_notify is queued.
    closing: bool,
}

impl Stream {
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let both = Interest::READABLE | Interest::WRITABLE;
        match self {
            Stream::Unix(s) => registry.register(s, token, both),
            Stream::Tcp(s) | Stream::Tls(s, _) => registry.register(s, token, both),
        }
    }

    fn deregister(&mut self, registry: &Registry) {
        // Closing the fd removes it from epoll anyway; an error here changes nothing.
        let _ = match self {
            Stream::Unix(s) => registry.deregister(s),
            Stream::Tcp(s) | Stream::Tls(s, _) => registry.deregister(s),
        };
    }

    /// Reads raw bytes (for TLS, ciphertext or whatever the peer sends).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) | Stream::Tls(s, _) => s.read(buf),
        }
    }

    /// Writes raw bytes (for TLS, records).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            // std writes to unix sockets with write(2), which raises SIGPIPE on a closed peer
            // and would kill a host process that does not ignore it; send(2) can opt out.
            Stream::Unix(s) => SocketFd(s.as_raw_fd()).send_nosignal(buf),
            // std's TcpStream already sends with MSG_NOSIGNAL.
            Stream::Tcp(s) | Stream::Tls(s, _) => s.write(buf),
        }
    }

    fn shutdown_write(&self) {
        // The peer may be gone already; there is nothing to do about an error.
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tcp(s) | Stream::Tls(s, _) => s.shutdown(Shutdown::Write),
        };
    }

    /// Bytes written to the socket that the peer has not acknowledged yet (TCP's `SIOCOUTQ`);
    /// 0 for a unix socket, whose written bytes are in the peer's queue already.
    fn unacked(&self) -> usize {
        match self {
            Stream::Unix(_) => 0,
            Stream::Tcp(s) | Stream::Tls(s, _) => SocketFd(s.as_raw_fd()).unsent_bytes(),
        }
    }

    /// Makes the coming close a reset: for TCP, `SO_LINGER` with a zero timeout, so that
    /// `close` sends an RST (and drops whatever is unsent). A unix socket has no reset.
    fn arm_reset(&self) {
        match self {
            Stream::Unix(_) => {}
            Stream::Tcp(s) | Stream::Tls(s, _) => SocketFd(s.as_raw_fd()).linger_zero(),
        }
    }

    /// Plaintext handed to TLS and not yet on the socket.
    fn inflight(&self) -> usize {
        match self {
            Stream::Tls(_, t) => t.inflight,
            _ => 0,
        }
    }

    /// Before closing on purpose: a TLS connection sends close_notify. True once there is
    /// nothing more to write (always, without TLS); false while the alert waits for the socket
    /// to take it (the next WRITABLE event finishes it).
    fn finish(&mut self) -> bool {
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
    sock: &'a mut mio::net::TcpStream,
    head: &'a mut [u8; 5],
    head_len: &'a mut u8,
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
fn write_records(sock: &mut mio::net::TcpStream, tls: &mut ServerConnection) -> io::Result<()> {
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
fn looks_like_http(head: &[u8]) -> bool {
    matches!(head, b"GET /" | b"HEAD " | b"POST " | b"PUT /" | b"OPTIO")
}

/// A bound listener and its poll, ready to be moved to the server thread.
pub(crate) struct Bound {
    poll: Poll,
    listener: Listener,
    pub(crate) waker: Arc<Waker>,
    pub(crate) url: String,
    /// The unix socket file to remove on shutdown.
    pub(crate) socket_path: Option<PathBuf>,
    rebind: Rebind,
}

/// What a restart binds again: the address bound first (a port that port 0 picked stays the
/// same), with the same TLS configuration.
#[derive(Clone)]
enum Rebind {
    Unix(PathBuf),
    Tcp(SocketAddr),
    Tls(SocketAddr, Arc<ServerConfig>),
}

impl Rebind {
    fn bind(&self) -> io::Result<Listener> {
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

/// The rustls server configuration of `tls` (ring provider, TLS 1.2 and 1.3).
fn server_config(tls: &SimTls) -> io::Result<Arc<ServerConfig>> {
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

/// Where a connection is in its life.
#[derive(Debug)]
enum ConnState {
    /// Reading (and answering) requests.
    Idle,
    /// A `stream=false` answer is due when the timer fires. `run` is the container's run at
    /// `since` if it was running then (only then is the sample at `since` its precpu).
    Waiting {
        target: Target,
        since: UnixNanos,
        run: Option<u32>,
    },
    /// Streaming stats frames until the client leaves or the container is removed.
    Stats(StatsStream),
    /// Streaming events until the client leaves.
    Events {
        framing: Framing,
        filter: Box<Filter>,
    },
    /// Sending what is queued, then closing (gracefully, or with a reset).
    Closing(Close),
    /// Write side shut; draining input until EOF or the linger timer.
    Lingering,
}

/// The container a request is about: its slot, and its id and name, shared with the model so
/// that a removal (or the slot's reuse) shows, and the last frames can still name it.
#[derive(Debug)]
struct Target {
    idx: usize,
    id: Rc<str>,
    name: Rc<str>,
}

impl Target {
    fn new(model: &Model, idx: usize) -> Option<Target> {
        let c = model.containers.get(idx)?;
        Some(Target {
            idx,
            id: Rc::clone(&c.id),
            name: Rc::clone(&c.name),
        })
    }
}

/// Per-stream state: kept small, there may be 10,000 of these.
#[derive(Debug)]
struct StatsStream {
    target: Target,
    /// `read` of the last live frame the client got (`None` before the first, and after a
    /// zero frame).
    prev: Option<UnixNanos>,
    /// The container's run that `prev` belongs to.
    prev_run: u32,
    /// Deadline of the next frame.
    next: Instant,
    /// Chunked, or raw frames until close (HTTP/1.0).
    framing: Framing,
    /// Frames emitted on this stream (sent or queued).
    emitted: u32,
    /// Zero frames left to send once the container is gone.
    ending: Option<u8>,
    /// A fault still to come, and how many good frames precede it.
    fault: Option<(u32, Fault)>,
}

/// What a byte offset in [`Conn::ends`] marks the end of.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Counted {
    /// A stats frame of the container of this name.
    Frame(Rc<str>),
    Event,
}

/// Output generated as the socket takes it, after what is in [`Conn::out`]: the padding of a
/// huge frame (so the sim never holds it whole), or a frame dripped one byte at a time.
#[derive(Debug)]
struct Spool {
    /// Padding bytes (`x`) still to write before `tail`.
    pad: usize,
    /// What follows the padding, written from `pos` on.
    tail: Vec<u8>,
    pos: usize,
    /// One byte per tick of this period (zero: per turn of the loop), written by the stream's
    /// timer, instead of as fast as the socket takes them.
    drip: Option<Duration>,
    /// The frame the spool ends, counted once its last byte is on the socket (`None`: a fault
    /// payload, not a frame).
    frame: Option<Rc<str>>,
}

impl Spool {
    fn is_empty(&self) -> bool {
        self.pad == 0 && self.pos == self.tail.len()
    }

    /// Appends up to `max` bytes to `out`.
    fn feed(&mut self, out: &mut Vec<u8>, max: usize) {
        let pad = self.pad.min(max);
        out.resize(out.len() + pad, b'x');
        self.pad -= pad;
        let n = (max - pad).min(self.tail.len() - self.pos);
        out.extend_from_slice(&self.tail[self.pos..self.pos + n]);
        self.pos += n;
    }
}

struct Conn {
    stream: Stream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    /// Bytes written to the socket over the connection's life.
    written: u64,
    /// Absolute end offsets (in `written` terms) of frames and events not yet fully written.
    ends: VecDeque<(u64, Counted)>,
    state: ConnState,
    /// Of the request being answered.
    http11: bool,
    keep_alive: bool,
    /// Request body bytes still to skip.
    skip_body: u64,
    peer_closed: bool,
    /// Id of this connection's live timer.
    timer: Option<u64>,
    /// Set when the connection must be dropped now.
    dead: bool,
    /// Output still to be generated after `out` ([`Spool`]).
    spool: Option<Box<Spool>>,
}

impl Conn {
    fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            written: 0,
            ends: VecDeque::new(),
            state: ConnState::Idle,
            http11: true,
            keep_alive: true,
            skip_body: 0,
            peer_closed: false,
            timer: None,
            dead: false,
            spool: None,
        }
    }

    /// Bytes not yet on the socket: queued here, or (TLS) handed to rustls and not yet
    /// written in records.
    fn pending(&self) -> usize {
        self.out.len() - self.out_pos + self.stream.inflight()
    }

    /// Absolute offset of the end of what is queued now.
    fn queued_end(&self) -> u64 {
        self.written + (self.out.len() - self.out_pos) as u64
    }

    /// Marks the end of what is queued now as the end of a frame or event.
    fn mark_end(&mut self, what: Counted) {
        let end = self.queued_end();
        self.ends.push_back((end, what));
    }

    /// Moves up to `max` bytes of the spool to `out`; once it is empty, the frame it ends (if
    /// any) is marked, and the spool is dropped.
    fn feed_spool(&mut self, max: usize) {
        let Some(spool) = &mut self.spool else {
            return;
        };
        spool.feed(&mut self.out, max);
        if spool.is_empty() {
            let frame = spool.frame.take();
            self.spool = None;
            if let Some(name) = frame {
                self.mark_end(Counted::Frame(name));
            }
        }
    }
}

/// Everything but the connections, so a connection and the context can be borrowed at once.
struct Ctx {
    model: Model,
    config: SimConfig,
    interval: Duration,
    shared: Arc<Shared>,
    timers: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    next_timer: u64,
    readbuf: Box<[u8]>,
    frame: Vec<u8>,
    scratch: FrameScratch,
    /// Drained output buffers, lent to connections that have something to write.
    pool: Vec<Vec<u8>>,
    /// Slots of `/events` connections (each at most once; stale ones are dropped lazily).
    subscribers: Vec<usize>,
    /// `GET /_sim/pause` is in force: stream timers tick but write nothing.
    frames_paused: bool,
    /// Frames sent, by container name ([`Sim::frames_sent_for`](super::Sim::frames_sent_for)).
    sent_by_name: HashMap<Rc<str>, u64>,
    /// Containers whose stats requests get an error status ([`Fault::Status`] rules).
    status_rules: Vec<(String, u16)>,
    /// Containers whose next stats request gets an error status (chaos), once.
    status_once: HashMap<Rc<str>, u16>,
    /// Containers whose names are written broken ([`Fault::BadUtf8Name`] rules), and the
    /// frame from which on their frames carry the broken name.
    bad_names: Vec<(String, u32)>,
    /// `GET /_sim/restart` asked for a restart with this down time.
    restart: Option<Duration>,
}

impl Ctx {
    /// The time samples and listings describe: the fixed clock, or now.
    fn clock(&self) -> UnixNanos {
        self.config.fixed_clock.unwrap_or_else(time::now)
    }

    /// The error status the next stats request for container `name` gets, if any (a chaos
    /// status is used up).
    fn status_fault(&mut self, name: &str) -> Option<u16> {
        if let Some(status) = self.status_once.remove(name) {
            return Some(status);
        }
        self.status_rules
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, status)| status)
    }

    /// Writes the broken names of [`Fault::BadUtf8Name`] rules into a listing or event.
    fn break_names(&self, body: &mut [u8]) {
        for (name, _) in &self.bad_names {
            fault::break_name(body, name);
        }
    }

    fn schedule(&mut self, conn: &mut Conn, slot: usize, at: Instant) {
        self.next_timer += 1;
        conn.timer = Some(self.next_timer);
        self.timers.push(Reverse((at, self.next_timer, slot)));
    }

    /// Arms a timer of the server itself (accept retry, churn, removals).
    fn schedule_slot(&mut self, slot: usize, at: Instant) {
        self.next_timer += 1;
        self.timers.push(Reverse((at, self.next_timer, slot)));
    }

    fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.config.log_requests {
            eprintln!("dockstat-sim: {what}");
        }
    }

    /// Gives `conn` a pooled output buffer if it has none, so that writing a frame to an idle
    /// connection does not allocate.
    fn lend_buffer(&mut self, conn: &mut Conn) {
        if conn.out.capacity() == 0
            && let Some(buf) = self.pool.pop()
        {
            conn.out = buf;
        }
    }

    /// Takes back a drained output buffer.
    fn return_buffer(&mut self, conn: &mut Conn) {
        let mut buf = std::mem::take(&mut conn.out);
        conn.out_pos = 0;
        if buf.capacity() > 0
            && buf.capacity() <= POOL_MAX_CAPACITY
            && self.pool.len() < POOL_BUFFERS
        {
            buf.clear();
            self.pool.push(buf);
        }
    }
}

/// Runs the loop until the stop flag is set (and the waker woken). Lifecycle commands come in
/// on `commands`, with a wake of the poll's waker.
pub(crate) fn serve(
    bound: Bound,
    config: SimConfig,
    shared: Arc<Shared>,
    commands: Option<mpsc::Receiver<Command>>,
) -> io::Result<()> {
    let Bound {
        mut poll,
        listener,
        socket_path,
        rebind,
        ..
    } = bound;
    let model = Model::new(&config, config.fixed_clock.unwrap_or_else(time::now));
    shared
        .containers_running
        .store(model.up() as u64, Ordering::Relaxed);
    let churn = config.churn.map(|c| Churn {
        every: c.every.clamp(MIN_INTERVAL, MAX_INTERVAL),
        remove_after: c.remove_after.map(|d| d.min(MAX_INTERVAL)),
    });
    let chaos = config.chaos.map(|d| d.clamp(MIN_INTERVAL, MAX_INTERVAL));
    let mut status_rules = Vec::new();
    let mut bad_names = Vec::new();
    for rule in &config.faults {
        match rule.fault {
            Fault::Status(status) => status_rules.push((rule.container.clone(), status)),
            Fault::BadUtf8Name => bad_names.push((rule.container.clone(), rule.after_frames)),
            _ => {}
        }
    }
    let mut server = Server {
        listener: Some(listener),
        rebind,
        socket_path,
        conns: Vec::new(),
        free: Vec::new(),
        ctx: Ctx {
            model,
            interval: config.interval.clamp(MIN_INTERVAL, MAX_INTERVAL),
            config,
            shared,
            timers: BinaryHeap::new(),
            next_timer: 0,
            readbuf: vec![0u8; 64 * 1024].into_boxed_slice(),
            frame: Vec::with_capacity(4096),
            scratch: FrameScratch::default(),
            pool: Vec::new(),
            subscribers: Vec::new(),
            frames_paused: false,
            sent_by_name: HashMap::new(),
            status_rules,
            status_once: HashMap::new(),
            bad_names,
            restart: None,
        },
        accept_paused: false,
        commands,
        churn,
        churn_round: 0,
        removals: VecDeque::new(),
        chaos,
        chaos_round: 0,
    };
    if let Some(c) = churn {
        server
            .ctx
            .schedule_slot(CHURN_SLOT, Instant::now() + c.every);
    }
    if let Some(every) = chaos {
        server.ctx.schedule_slot(CHAOS_SLOT, Instant::now() + every);
    }
    let mut events = Events::with_capacity(1024);
    while !server.ctx.shared.stop.load(Ordering::Acquire) {
        let timeout = server
            .ctx
            .timers
            .peek()
            .map(|Reverse((at, _, _))| at.saturating_duration_since(Instant::now()));
        match poll.poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => server.accept(poll.registry()),
                // The loop condition reads the stop flag; commands wait in their channel.
                WAKER => server.run_commands(poll.registry()),
                Token(t) => server.conn_event(poll.registry(), t - FIRST_CONN, event),
            }
        }
        if let Some(down) = server.ctx.restart.take() {
            // After the event that asked for it: its answer has been written.
            server.go_down(poll.registry(), down);
        }
        server.fire_timers(poll.registry());
    }
    for slot in 0..server.conns.len() {
        if let Some(Some(conn)) = server.conns.get_mut(slot) {
            // TLS clients get their close_notify if the socket takes it now.
            conn.stream.finish();
        }
        server.close(poll.registry(), slot);
    }
    Ok(())
}

struct Server {
    /// `None` while a restart is down.
    listener: Option<Listener>,
    /// What a restart binds again.
    rebind: Rebind,
    /// The unix socket file, removed while a restart is down.
    socket_path: Option<PathBuf>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    ctx: Ctx,
    /// Accepting is paused (out of fds) until the retry timer fires.
    accept_paused: bool,
    commands: Option<mpsc::Receiver<Command>>,
    /// [`SimConfig::churn`], clamped.
    churn: Option<Churn>,
    /// Churn ticks so far (the seed of the next victim).
    churn_round: u64,
    /// Churned containers to remove: when, and which (slot and id, in case the slot was
    /// reused or the container restarted meanwhile).
    removals: VecDeque<(Instant, usize, Rc<str>)>,
    /// [`SimConfig::chaos`], clamped.
    chaos: Option<Duration>,
    /// Chaos ticks so far (the seed of the next stream and fault).
    chaos_round: u64,
}

impl Server {
    fn accept(&mut self, registry: &Registry) {
        if self.accept_paused {
            return;
        }
        let Some(listener) = &self.listener else {
            return;
        };
        loop {
            match listener.accept() {
                Ok(mut stream) => {
                    let slot = self.free.pop().unwrap_or(self.conns.len());
                    if let Err(e) = stream.register(registry, Token(slot + FIRST_CONN)) {
                        self.ctx.log(format_args!("register failed: {e}"));
                        self.free.push(slot);
                        continue;
                    }
                    let conn = Some(Conn::new(stream));
                    if slot == self.conns.len() {
                        self.conns.push(conn);
                    } else {
                        self.conns[slot] = conn;
                    }
                    bump(&self.ctx.shared.connections_accepted);
                    bump(&self.ctx.shared.connections_open);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The client gave up before we got to it.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM: the pending connections stay in the
                    // backlog; with edge-triggered readiness nothing will wake us for them,
                    // so a timer does.
                    self.ctx
                        .log(format_args!("accept failed, retrying shortly: {e}"));
                    self.accept_paused = true;
                    self.ctx
                        .schedule_slot(ACCEPT_SLOT, Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn conn_event(&mut self, registry: &Registry, slot: usize, event: &Event) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            flush(conn, &mut self.ctx);
        }
        if !conn.dead && (event.is_readable() || event.is_read_closed() || event.is_error()) {
            read(conn, slot, &mut self.ctx);
        }
        self.settle(registry, slot);
    }

    fn fire_timers(&mut self, registry: &Registry) {
        let now = Instant::now();
        while let Some(&Reverse((at, id, slot))) = self.ctx.timers.peek() {
            if at > now {
                break;
            }
            self.ctx.timers.pop();
            match slot {
                ACCEPT_SLOT => {
                    self.accept_paused = false;
                    self.accept(registry);
                    continue;
                }
                CHURN_SLOT => {
                    self.churn_tick(registry, at);
                    continue;
                }
                REMOVE_SLOT => {
                    self.run_removals(registry);
                    continue;
                }
                CHAOS_SLOT => {
                    self.chaos_tick(at);
                    continue;
                }
                RESTART_SLOT => {
                    self.listen_again(registry);
                    continue;
                }
                _ => {}
            }
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            if conn.timer != Some(id) {
                continue; // stale: the connection was closed, or re-armed since
            }
            conn.timer = None;
            on_timer(conn, slot, at, &mut self.ctx);
            self.settle(registry, slot);
        }
    }

    /// Applies the commands waiting in the channel, in order.
    fn run_commands(&mut self, registry: &Registry) {
        let Some(rx) = &self.commands else {
            return;
        };
        let waiting: Vec<Command> = rx.try_iter().collect();
        // The caller may have given up waiting (its thread ended): nothing to do then, so
        // failed replies are ignored.
        for cmd in waiting {
            match cmd {
                Command::Lifecycle { op, target, reply } => {
                    let result = self.lifecycle(registry, &op, &target);
                    let _ = reply.send(result);
                }
                Command::FramesSentFor { name, reply } => {
                    let n = self.ctx.sent_by_name.get(name.as_str()).copied();
                    let _ = reply.send(n.unwrap_or(0));
                }
                Command::PauseFrames { paused, reply } => {
                    self.ctx.frames_paused = paused;
                    self.ctx.log(format_args!("stats frames paused: {paused}"));
                    let _ = reply.send(());
                }
                Command::DropEvents { reply } => {
                    let n = self.drop_events(registry);
                    let _ = reply.send(n);
                }
                Command::Restart { down, reply } => {
                    self.go_down(registry, down);
                    let _ = reply.send(Ok(()));
                }
            }
        }
    }

    /// Applies a lifecycle change and announces its events; returns the container's id.
    fn lifecycle(&mut self, registry: &Registry, op: &Op, target: &str) -> io::Result<String> {
        let now = self.ctx.clock();
        let mut events = Vec::new();
        let result = self
            .ctx
            .model
            .apply(op, target, now, &mut events)
            .map(|idx| {
                self.ctx
                    .model
                    .containers
                    .get(idx)
                    .map(|c| c.id.to_string())
                    .unwrap_or_default()
            });
        match &result {
            Ok(id) => self.ctx.log(format_args!("{op:?} {target} -> {id}")),
            Err(e) => self.ctx.log(format_args!("{op:?} {target} -> {e}")),
        }
        self.announce(registry, &events);
        result
    }

    /// Closes every `/events` connection in the middle of its body (no last chunk): the
    /// subscriber sees the daemon drop it. Returns how many were closed.
    fn drop_events(&mut self, registry: &Registry) -> u64 {
        let subscribers = std::mem::take(&mut self.ctx.subscribers);
        let mut dropped = 0;
        for slot in subscribers {
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            if !matches!(conn.state, ConnState::Events { .. }) {
                continue;
            }
            dropped += 1;
            conn.keep_alive = false;
            set_state(conn, ConnState::Closing(Close::Graceful), &self.ctx.shared);
            self.settle(registry, slot);
        }
        self.ctx
            .log(format_args!("dropped {dropped} /events connections"));
        dropped
    }

    /// A restart's first half: every connection and the listener closed, the socket file
    /// removed; [`Server::listen_again`] after `down`. The model stays as it is (containers
    /// run on, as with dockerd's live-restore).
    fn go_down(&mut self, registry: &Registry, down: Duration) {
        for slot in 0..self.conns.len() {
            if let Some(Some(conn)) = self.conns.get_mut(slot) {
                conn.stream.finish();
            }
            self.close(registry, slot);
        }
        self.ctx.subscribers.clear();
        if self.listener.take().is_some() {
            if let Some(path) = &self.socket_path {
                let _ = std::fs::remove_file(path);
            }
        }
        self.accept_paused = false;
        self.ctx.log(format_args!("restart: down for {down:?}"));
        self.ctx
            .schedule_slot(RESTART_SLOT, Instant::now() + down.min(MAX_INTERVAL));
    }

    /// A restart's second half: listen again (retrying shortly if the address is not free).
    fn listen_again(&mut self, registry: &Registry) {
        if self.listener.is_some() {
            return;
        }
        let bound = self.rebind.bind().and_then(|mut l| {
            l.register(registry)?;
            Ok(l)
        });
        match bound {
            Ok(l) => {
                self.listener = Some(l);
                self.ctx.log(format_args!("restart: listening again"));
                // Connections that came in between the bind and the registration wait in the
                // backlog, and edge-triggered readiness would not report them.
                self.accept(registry);
            }
            Err(e) => {
                self.ctx
                    .log(format_args!("restart: cannot listen yet, retrying: {e}"));
                self.ctx
                    .schedule_slot(RESTART_SLOT, Instant::now() + REBIND_RETRY);
            }
        }
    }

    /// One chaos tick: a fault from [`fault::CHAOS`] for a random open stats stream without
    /// one, at its next frame.
    fn chaos_tick(&mut self, due: Instant) {
        let Some(every) = self.chaos else {
            return;
        };
        let now = Instant::now();
        let mut next = due + every;
        if next <= now {
            next = now + every;
        }
        self.ctx.schedule_slot(CHAOS_SLOT, next);
        let round = self.chaos_round;
        self.chaos_round += 1;
        let seed = self.ctx.config.seed;
        let open: Vec<usize> = (0..self.conns.len())
            .filter(|&slot| {
                matches!(
                    self.conns.get(slot),
                    // A stream that halted (stalled) has no tick to take a fault at.
                    Some(Some(Conn {
                        state: ConnState::Stats(StatsStream { fault: None, .. }),
                        spool: None,
                        timer: Some(_),
                        ..
                    }))
                )
            })
            .collect();
        if open.is_empty() {
            return;
        }
        let pick = open[(hash2(seed ^ CHAOS_STREAM_KEY, round) % open.len() as u64) as usize];
        let kind = hash2(seed ^ CHAOS_FAULT_KEY, round) % fault::CHAOS.len() as u64;
        let fault = fault::CHAOS[kind as usize].clone();
        if let Some(Some(Conn {
            state: ConnState::Stats(s),
            ..
        })) = self.conns.get_mut(pick)
        {
            self.ctx.log(format_args!(
                "chaos: {} for a stream of {}",
                FAULT_KINDS[fault.kind()],
                s.target.name
            ));
            // At the stream's next frame.
            s.fault = Some((s.emitted, fault));
        }
    }

    /// One churn tick: stop a running container, create and start a new one.
    fn churn_tick(&mut self, registry: &Registry, due: Instant) {
        let Some(churn) = self.churn else {
            return;
        };
        let now_instant = Instant::now();
        let mut next = due + churn.every;
        if next <= now_instant {
            next = now_instant + churn.every;
        }
        self.ctx.schedule_slot(CHURN_SLOT, next);
        let round = self.churn_round;
        self.churn_round += 1;
        let now = self.ctx.clock();
        let pick = hash2(self.ctx.config.seed ^ CHURN_KEY, round);
        let model = &mut self.ctx.model;
        // Only when something runs: the number of running containers stays what it was.
        let Some(victim) = model.nth_running(pick) else {
            return;
        };
        let mut events = Vec::new();
        let victim_id = model.containers[victim].id.to_string();
        let stopped = model.apply(&Op::Stop, &victim_id, now, &mut events);
        if stopped.is_ok()
            && let Some(after) = churn.remove_after
        {
            let id = Rc::clone(&model.containers[victim].id);
            self.removals.push_back((now_instant + after, victim, id));
            self.ctx.schedule_slot(REMOVE_SLOT, now_instant + after);
        }
        let model = &mut self.ctx.model;
        match model.create(None, now, &mut events) {
            Ok(idx) => {
                let id = model.containers[idx].id.to_string();
                if let Err(e) = model.apply(&Op::Start, &id, now, &mut events) {
                    self.ctx.log(format_args!("churn: start failed: {e}"));
                }
            }
            Err(e) => self.ctx.log(format_args!("churn: create failed: {e}")),
        }
        self.announce(registry, &events);
    }

    /// Removes the churned containers whose time has come, if they are still exited.
    fn run_removals(&mut self, registry: &Registry) {
        let now_instant = Instant::now();
        let mut events = Vec::new();
        while let Some((at, idx, id)) = self.removals.front() {
            if *at > now_instant {
                break;
            }
            let (idx, id) = (*idx, Rc::clone(id));
            self.removals.pop_front();
            let now = self.ctx.clock();
            let model = &mut self.ctx.model;
            // Restarted meanwhile (or removed already): leave it alone.
            let exited = model.current(idx, &id).is_some_and(|c| !c.running());
            if exited {
                if let Err(e) = model.apply(&Op::Remove { force: false }, &id, now, &mut events) {
                    self.ctx.log(format_args!("churn: remove failed: {e}"));
                }
            }
        }
        self.announce(registry, &events);
    }

    /// After a lifecycle change: update the gauge and send `events` to every subscriber whose
    /// filter admits them.
    fn announce(&mut self, registry: &Registry, events: &[events::Event]) {
        self.ctx
            .shared
            .containers_running
            .store(self.ctx.model.up() as u64, Ordering::Relaxed);
        if events.is_empty() || self.ctx.subscribers.is_empty() {
            return;
        }
        let messages: Vec<Message> = events
            .iter()
            .map(|e| {
                let mut m = Message::new(e, &self.ctx.model);
                self.ctx.break_names(&mut m.json);
                m
            })
            .collect();
        let mut subscribers = std::mem::take(&mut self.ctx.subscribers);
        subscribers.retain(|&slot| {
            matches!(
                self.conns.get(slot),
                Some(Some(Conn {
                    state: ConnState::Events { .. },
                    ..
                }))
            )
        });
        for &slot in &subscribers {
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            let ConnState::Events { framing, filter } = &conn.state else {
                continue;
            };
            let framing = *framing;
            let wanted: Vec<&Message> = messages.iter().filter(|m| filter.matches(m)).collect();
            if wanted.is_empty() {
                continue;
            }
            self.ctx.lend_buffer(conn);
            for m in wanted {
                if conn.pending() > MAX_EVENTS_QUEUED {
                    continue;
                }
                push_body(&mut conn.out, framing, &m.json, None);
                conn.mark_end(Counted::Event);
            }
            self.settle(registry, slot);
        }
        self.ctx.subscribers = subscribers;
    }

    /// After any activity: write what can be written, and close the connection if it is done.
    fn settle(&mut self, registry: &Registry, slot: usize) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        if !conn.dead {
            flush(conn, &mut self.ctx);
        }
        let done_writing = conn.pending() == 0 && conn.spool.is_none();
        match conn.state {
            ConnState::Closing(Close::Graceful)
                if !conn.dead && done_writing && conn.stream.finish() =>
            {
                if conn.peer_closed {
                    conn.dead = true;
                } else {
                    conn.stream.shutdown_write();
                    set_state(conn, ConnState::Lingering, &self.ctx.shared);
                    self.ctx.schedule(conn, slot, Instant::now() + LINGER);
                }
            }
            // No close_notify: a reset is not a close the peer is told about.
            ConnState::Closing(Close::Reset) if !conn.dead && done_writing => {
                if conn.stream.unacked() == 0 {
                    conn.stream.arm_reset();
                    conn.dead = true;
                } else if conn.timer.is_none() {
                    // What precedes the reset is still on its way (an RST would destroy it):
                    // look again shortly.
                    self.ctx.schedule(conn, slot, Instant::now() + RESET_POLL);
                }
            }
            _ => {}
        }
        if conn.dead {
            self.close(registry, slot);
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        let Some(entry) = self.conns.get_mut(slot) else {
            return;
        };
        if let Some(mut conn) = entry.take() {
            conn.stream.deregister(registry);
            set_state(
                &mut conn,
                ConnState::Closing(Close::Graceful),
                &self.ctx.shared,
            );
            drop_one(&self.ctx.shared.connections_open);
            self.free.push(slot);
        }
    }
}

/// Changes state, keeping the `streams_open` gauge right.
fn set_state(conn: &mut Conn, state: ConnState, shared: &Shared) {
    if matches!(conn.state, ConnState::Stats(_)) {
        drop_one(&shared.streams_open);
    }
    if matches!(state, ConnState::Stats(_)) {
        bump(&shared.streams_open);
    }
    conn.state = state;
}

/// Writes queued output until done or `WouldBlock`, and counts the frames and events that
/// made it.
fn flush(conn: &mut Conn, ctx: &mut Ctx) {
    let sent = loop {
        let sent = write_out(conn);
        // A spooled payload follows once the socket has taken all of `out`, a batch at a
        // time (a dripping one goes by its timer instead).
        let refill = !conn.dead
            && conn.out_pos == conn.out.len()
            && conn.spool.as_ref().is_some_and(|s| s.drip.is_none());
        if !refill {
            break sent;
        }
        conn.out.clear();
        conn.out_pos = 0;
        conn.feed_spool(SPOOL_BATCH);
    };
    while let Some((end, _)) = conn.ends.front() {
        if *end > sent {
            break;
        }
        let Some((_, what)) = conn.ends.pop_front() else {
            break;
        };
        match what {
            Counted::Frame(name) => {
                bump(&ctx.shared.frames_sent);
                *ctx.sent_by_name.entry(name).or_default() += 1;
            }
            Counted::Event => bump(&ctx.shared.events_sent),
        }
    }
    if conn.out_pos == conn.out.len() {
        // Nothing left to send: the buffer goes back to the pool (or is freed, if it grew big
        // for a large listing), so an idle connection holds none.
        ctx.return_buffer(conn);
    } else if conn.out_pos >= 64 * 1024 && conn.out_pos * 2 >= conn.out.len() {
        conn.out.drain(..conn.out_pos);
        conn.out_pos = 0;
    }
}

/// Writes `out` (through TLS or not); returns the offset (in `written` terms) up to which bytes
/// are on the socket.
fn write_out(conn: &mut Conn) -> u64 {
    if let Stream::Tls(sock, tls) = &mut conn.stream {
        let out = Out {
            buf: &conn.out,
            pos: &mut conn.out_pos,
            written: &mut conn.written,
        };
        let (sent, dead) = flush_tls(sock, tls, out);
        conn.dead |= dead;
        sent
    } else {
        flush_plain(conn)
    }
}

/// Writes from `out` until done or `WouldBlock`; returns the offset (in `written` terms) up to
/// which bytes are on the socket.
fn flush_plain(conn: &mut Conn) -> u64 {
    while conn.out_pos < conn.out.len() {
        match conn.stream.write(&conn.out[conn.out_pos..]) {
            Ok(0) => {
                conn.dead = true;
                break;
            }
            Ok(n) => {
                conn.out_pos += n;
                conn.written += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // EPIPE, ECONNRESET: the client is gone.
                conn.dead = true;
                break;
            }
        }
    }
    conn.written
}

/// The TLS path of [`flush`]: writes rustls's pending records, and whenever there are none
/// left hands it the next batch of `out` (at most [`TLS_BATCH`] bytes, one record), until
/// `out` is empty or the socket is full. Returns the offset (in `written` terms, plaintext)
/// up to which bytes are on the socket.
///
/// One batch at a time is what keeps the accounting exact and the memory bounded: when rustls
/// has no records pending, every plaintext byte handed to it so far is on the socket (so the
/// frames ending there are sent), and rustls never holds more than one batch (so a slow
/// reader's backlog stays in `out`, where [`Conn::pending`] sees it and frames are skipped).
/// `written` counts plaintext handed to rustls; `inflight`, the part of it not yet known to
/// be on the socket. Also returns whether the socket broke.
fn flush_tls(sock: &mut mio::net::TcpStream, t: &mut TlsConn, out: Out<'_>) -> (u64, bool) {
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
struct Out<'a> {
    buf: &'a [u8],
    pos: &'a mut usize,
    written: &'a mut u64,
}

/// Reads until `WouldBlock` or EOF, then acts on what arrived.
fn read(conn: &mut Conn, slot: usize, ctx: &mut Ctx) {
    loop {
        match recv(&mut conn.stream, &mut ctx.readbuf) {
            Got::Eof => {
                conn.peer_closed = true;
                break;
            }
            Got::Failed(e) => {
                tls_failed(conn, ctx, &e);
                // Go on draining (raw, now) until WouldBlock: readiness is edge-triggered.
                continue;
            }
            Got::Bytes(n) => match conn.state {
                ConnState::Idle => {
                    conn.inbuf.extend_from_slice(&ctx.readbuf[..n]);
                    // Answer as we go, so that a client sending a lot at once (many
                    // pipelined requests, or an endless head) never makes the buffer grow
                    // past one head: the parser rejects heads over MAX_HEAD.
                    if conn.inbuf.len() > http::MAX_HEAD {
                        process_requests(conn, slot, ctx);
                    }
                }
                ConnState::Waiting { .. } => {
                    conn.inbuf.extend_from_slice(&ctx.readbuf[..n]);
                    if conn.inbuf.len() > MAX_PIPELINED {
                        conn.dead = true;
                        return;
                    }
                }
                // A stats stream can end (its container removed) and the connection then
                // takes requests again, so what a client sends meanwhile is kept, like Go keeps
                // it in its reader. Past the limit the input is dropped, and since the request
                // stream is then broken the connection closes when the stream ends.
                ConnState::Stats(_) => {
                    if conn.keep_alive && conn.inbuf.len() + n <= MAX_PIPELINED {
                        conn.inbuf.extend_from_slice(&ctx.readbuf[..n]);
                    } else {
                        conn.keep_alive = false;
                        conn.inbuf = Vec::new();
                    }
                }
                // Event streams and closing connections take no more requests: discard.
                ConnState::Events { .. } | ConnState::Closing(_) | ConnState::Lingering => {}
            },
            Got::Blocked => break,
            Got::Gone => {
                conn.dead = true;
                return;
            }
        }
    }
    if matches!(conn.state, ConnState::Idle) {
        process_requests(conn, slot, ctx);
    }
    if conn.peer_closed {
        match conn.state {
            // Answer what was asked before the EOF, then close.
            ConnState::Idle => set_state(conn, ConnState::Closing(Close::Graceful), &ctx.shared),
            ConnState::Closing(_) => {}
            // The client left (Go cancels the request context): stop streaming.
            ConnState::Waiting { .. }
            | ConnState::Stats(_)
            | ConnState::Events { .. }
            | ConnState::Lingering => conn.dead = true,
        }
    }
}

/// What one read of a connection's input gave.
enum Got {
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
fn recv(stream: &mut Stream, buf: &mut [u8]) -> Got {
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

/// A TLS connection failed (no or a bad client certificate, a protocol error, garbage, plain
/// HTTP): it alone is closed. The peer gets rustls's alert — or, if it spoke HTTP, Go's plain
/// text 400 — then the write side is shut and input drained, as for any closing connection.
/// What was queued and not yet sent is dropped (and not counted).
fn tls_failed(conn: &mut Conn, ctx: &mut Ctx, e: &rustls::Error) {
    let Stream::Tls(sock, t) = &mut conn.stream else {
        return;
    };
    if ctx.config.log_requests {
        let peer = sock
            .peer_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        let phase = if t.tls.is_handshaking() {
            "handshake"
        } else {
            "connection"
        };
        ctx.log(format_args!("TLS {phase} with {peer} failed: {e}"));
    }
    t.failed = true;
    t.inflight = 0;
    if looks_like_http(&t.head[..usize::from(t.head_len)]) {
        // A short write is as good as it gets: the socket's buffer is empty at this point.
        let _ = sock.write(HTTP_TO_HTTPS);
        // rustls's alert would follow as garbage: it goes nowhere.
        while t.tls.wants_write() {
            if !matches!(t.tls.write_tls(&mut io::sink()), Ok(n) if n > 0) {
                break;
            }
        }
    } else {
        // The alert; a full socket or a gone peer leaves nothing else to do.
        let _ = write_records(sock, &mut t.tls);
    }
    ctx.return_buffer(conn);
    conn.ends.clear();
    conn.spool = None;
    conn.inbuf = Vec::new();
    conn.keep_alive = false;
    set_state(conn, ConnState::Closing(Close::Graceful), &ctx.shared);
}

/// Answers the complete requests in the input buffer, in order, while the connection is idle.
fn process_requests(conn: &mut Conn, slot: usize, ctx: &mut Ctx) {
    if conn.inbuf.is_empty() {
        return;
    }
    ctx.lend_buffer(conn);
    answer_requests(conn, slot, ctx);
    // Requests are a few hundred bytes: keeping their buffer between them is not worth a
    // buffer per idle connection.
    if conn.inbuf.is_empty() {
        conn.inbuf = Vec::new();
    }
}

fn answer_requests(conn: &mut Conn, slot: usize, ctx: &mut Ctx) {
    while matches!(conn.state, ConnState::Idle) && !conn.dead {
        if conn.skip_body > 0 {
            let n = conn
                .inbuf
                .len()
                .min(usize::try_from(conn.skip_body).unwrap_or(usize::MAX));
            conn.inbuf.drain(..n);
            conn.skip_body -= n as u64;
            if conn.skip_body > 0 {
                return;
            }
        }
        let (action, used) = match http::parse_head(&conn.inbuf) {
            Parsed::Partial => return,
            Parsed::Error(e) => {
                ctx.log(format_args!("bad request head: {e:?}"));
                conn.out.extend_from_slice(e.reply());
                conn.inbuf.clear();
                set_state(conn, ConnState::Closing(Close::Graceful), &ctx.shared);
                return;
            }
            Parsed::Done(head, used) => {
                bump(&ctx.shared.requests);
                conn.http11 = head.http11;
                conn.keep_alive = head.keep_alive;
                conn.skip_body = head.content_length;
                let action = api::route(head.method, head.target, &ctx.model, ctx.clock());
                if ctx.config.log_requests {
                    let status = match &action {
                        Action::Reply(r) => r.status,
                        _ => 200,
                    };
                    ctx.log(format_args!("{} {} -> {status}", head.method, head.target));
                }
                (action, used)
            }
        };
        conn.inbuf.drain(..used);
        apply(conn, slot, action, ctx);
    }
}

/// Appends a complete reply with Go's framing rule.
fn push_reply(conn: &mut Conn, reply: &Reply) {
    let framing = if reply.preset_length {
        Framing::Preset
    } else {
        http::go_framing(reply.body.len(), conn.http11)
    };
    let close = !conn.keep_alive || framing == Framing::Close;
    http::push_head(
        &mut conn.out,
        &ResponseHead {
            http11: conn.http11,
            status: reply.status,
            headers: reply.headers,
            date: time::now(),
            framing,
            sniffed_type: reply.sniffed_type,
            close,
        },
    );
    if framing == Framing::Chunked {
        http::push_chunk(&mut conn.out, &reply.body);
        http::push_last_chunk(&mut conn.out);
    } else {
        conn.out.extend_from_slice(&reply.body);
    }
    if close {
        conn.keep_alive = false;
    }
}

/// After a complete response: next request, or close.
fn after_reply(conn: &mut Conn, ctx: &Ctx) {
    let next = if conn.keep_alive {
        ConnState::Idle
    } else {
        ConnState::Closing(Close::Graceful)
    };
    set_state(conn, next, &ctx.shared);
}

fn apply(conn: &mut Conn, slot: usize, action: Action, ctx: &mut Ctx) {
    match action {
        Action::Reply(mut reply) => {
            // A listing names containers: broken names are broken there too.
            ctx.break_names(&mut reply.body);
            push_reply(conn, &reply);
            after_reply(conn, ctx);
        }
        Action::Control(control) => {
            let body = match control {
                Control::Counters => counters_json(&ctx.shared.counters()),
                Control::Pause | Control::Resume => {
                    ctx.frames_paused = control == Control::Pause;
                    ctx.log(format_args!("stats frames paused: {}", ctx.frames_paused));
                    b"{\"ok\":true}\n".to_vec()
                }
                Control::Restart { down_ms } => {
                    // The server restarts once this answer is on its way (see `serve`).
                    ctx.restart = Some(Duration::from_millis(down_ms));
                    b"{\"ok\":true}\n".to_vec()
                }
            };
            push_reply(conn, &api::control_reply(body));
            after_reply(conn, ctx);
        }
        Action::Events(filter) => {
            let framing = push_stream_head(conn, H_DAEMON_JSON);
            set_state(conn, ConnState::Events { framing, filter }, &ctx.shared);
            if !ctx.subscribers.contains(&slot) {
                ctx.subscribers.push(slot);
            }
        }
        Action::Stats { idx, mode } => {
            let Some(target) = Target::new(&ctx.model, idx) else {
                // The router found the container in this very model: cannot happen.
                push_reply(conn, &api::page_not_found());
                after_reply(conn, ctx);
                return;
            };
            if let Some(status) = ctx.status_fault(&target.name) {
                ctx.shared.count_fault(&Fault::Status(status));
                let message = fault::status_message(status, &target.name);
                push_reply(conn, &api::error_reply(status, &message));
                after_reply(conn, ctx);
                return;
            }
            match mode {
                StatsMode::OneShot => {
                    reply_frame(conn, ctx, &target, None);
                    after_reply(conn, ctx);
                }
                StatsMode::Once => {
                    // The daemon needs two samples a collector tick apart: answer one interval
                    // later with precpu from now.
                    let since = ctx.clock();
                    let run = ctx
                        .model
                        .current(idx, &target.id)
                        .filter(|c| c.running())
                        .map(|c| c.runs);
                    set_state(conn, ConnState::Waiting { target, since, run }, &ctx.shared);
                    let at = Instant::now() + ctx.interval;
                    ctx.schedule(conn, slot, at);
                }
                StatsMode::Stream => {
                    let framing = push_stream_head(conn, H_DAEMON);
                    // Status and name faults are not the stream's: they are applied above, and
                    // where names are written.
                    let fault = ctx
                        .config
                        .faults
                        .iter()
                        .filter(|r| !matches!(r.fault, Fault::Status(_) | Fault::BadUtf8Name))
                        .find(|r| r.container.as_str() == &*target.name)
                        .map(|r| (r.after_frames, r.fault.clone()));
                    let now = Instant::now();
                    let stream = StatsStream {
                        target,
                        prev: None,
                        prev_run: 0,
                        next: now,
                        framing,
                        emitted: 0,
                        ending: None,
                        fault,
                    };
                    set_state(conn, ConnState::Stats(stream), &ctx.shared);
                    // The first frame goes out at once; the timer takes over from there.
                    on_timer(conn, slot, now, ctx);
                }
            }
        }
    }
}

/// Writes the head of a never-ending response; returns the body framing.
fn push_stream_head(conn: &mut Conn, headers: &'static [(&'static str, &'static str)]) -> Framing {
    let framing = if conn.http11 {
        Framing::Chunked
    } else {
        Framing::Close
    };
    http::push_head(
        &mut conn.out,
        &ResponseHead {
            http11: conn.http11,
            status: 200,
            headers,
            date: time::now(),
            framing,
            sniffed_type: None,
            close: !conn.keep_alive,
        },
    );
    framing
}

/// A one-frame `stream=false` answer (Content-Length or chunked by size, like Go). `pre` is
/// the previous sample's time, given only if it is of the container's current run.
fn reply_frame(conn: &mut Conn, ctx: &mut Ctx, target: &Target, pre: Option<UnixNanos>) {
    let mut body = Vec::with_capacity(2560);
    let read = match (ctx.config.fixed_clock, pre) {
        (Some(t), Some(_)) => t + ctx.interval.as_nanos() as u64,
        (Some(t), None) => t,
        (None, _) => time::now(),
    };
    if ctx.model.current(target.idx, &target.id).is_some() {
        push_frame(
            &mut body,
            &ctx.model,
            target.idx,
            read,
            pre,
            &mut ctx.scratch,
        );
    } else {
        // Removed while the answer was pending: what it was is all there is to say.
        push_zero_frame(&mut body, &target.name, &target.id);
    }
    // A broken name is broken in single samples from the first.
    let broken = ctx.bad_names.iter().any(|(n, _)| **n == *target.name);
    if broken {
        fault::break_name(&mut body, &target.name);
        ctx.shared.count_fault(&Fault::BadUtf8Name);
    }
    push_reply(conn, &api::stats_reply(body));
    if !broken {
        conn.mark_end(Counted::Frame(Rc::clone(&target.name)));
    }
}

fn on_timer(conn: &mut Conn, slot: usize, due: Instant, ctx: &mut Ctx) {
    ctx.lend_buffer(conn);
    match &conn.state {
        ConnState::Waiting { target, since, run } => {
            let current = ctx.model.current(target.idx, &target.id);
            let pre = (run.is_some() && current.map(|c| c.runs) == *run).then_some(*since);
            let ConnState::Waiting { target, .. } =
                std::mem::replace(&mut conn.state, ConnState::Idle)
            else {
                return;
            };
            reply_frame(conn, ctx, &target, pre);
            after_reply(conn, ctx);
            // Requests pipelined behind the stats request have waited in the buffer.
            process_requests(conn, slot, ctx);
        }
        ConnState::Stats(_) => match tick_stream(conn, ctx) {
            Emitted::More => {
                // A dripping frame goes by its own pace, a byte a tick.
                let drip = conn.spool.as_ref().and_then(|s| s.drip);
                let interval = drip.unwrap_or(ctx.interval);
                let now = Instant::now();
                if let ConnState::Stats(s) = &mut conn.state {
                    // Keep the cadence of the original deadline, unless we fell a whole
                    // interval behind (then the missed frames are simply not sent).
                    s.next = due + interval;
                    if s.next <= now {
                        s.next = now + interval;
                    }
                    let next = s.next;
                    ctx.schedule(conn, slot, next);
                }
            }
            Emitted::Halt => {}
            Emitted::End => {
                after_reply(conn, ctx);
                // Whatever the client sent during the stream is its next request.
                process_requests(conn, slot, ctx);
            }
        },
        ConnState::Lingering => conn.dead = true,
        ConnState::Idle | ConnState::Events { .. } | ConnState::Closing(_) => {}
    }
}

/// A stats stream's tick: a byte of a dripping frame, nothing while a spooled payload is being
/// written (neither sent nor skipped), else the next frame.
fn tick_stream(conn: &mut Conn, ctx: &mut Ctx) -> Emitted {
    match &conn.spool {
        Some(spool) if spool.drip.is_some() => {
            conn.feed_spool(1);
            Emitted::More
        }
        Some(_) => Emitted::More,
        None => emit_frame(conn, ctx),
    }
}

/// What became of a stats stream at a tick.
enum Emitted {
    /// It goes on: arm the next tick.
    More,
    /// A fault ended it (stall or truncation): no more ticks.
    Halt,
    /// Its container is gone and its body is complete: the connection is free again.
    End,
}

/// Emits (or skips) the next frame of a stats stream.
fn emit_frame(conn: &mut Conn, ctx: &mut Ctx) -> Emitted {
    let pending = conn.pending();
    let ConnState::Stats(s) = &mut conn.state else {
        return Emitted::Halt;
    };
    if ctx.frames_paused {
        // Neither sent nor skipped: the control endpoint asked for silence.
        return Emitted::More;
    }
    if pending > MAX_QUEUED {
        bump(&ctx.shared.frames_skipped);
        return Emitted::More;
    }
    let read = match ctx.config.fixed_clock {
        Some(t) => t + u64::from(s.emitted) * ctx.interval.as_nanos() as u64,
        None => time::now(),
    };
    ctx.frame.clear();
    s.emitted = s.emitted.saturating_add(1);
    let framing = s.framing;
    let Some(c) = ctx.model.current(s.target.idx, &s.target.id) else {
        // Removed: a couple more zero frames, then the end of the body (the daemon's stats
        // publisher closes when the container is destroyed).
        let left = s.ending.get_or_insert(FRAMES_AFTER_REMOVE);
        *left = left.saturating_sub(1);
        let last = *left == 0;
        push_zero_frame(&mut ctx.frame, &s.target.name, &s.target.id);
        let name = Rc::clone(&s.target.name);
        push_body(&mut conn.out, framing, &ctx.frame, None);
        conn.mark_end(Counted::Frame(name));
        if !last {
            return Emitted::More;
        }
        if framing == Framing::Chunked {
            http::push_last_chunk(&mut conn.out);
        } else {
            // A body delimited by the connection: closing it is the end.
            conn.keep_alive = false;
        }
        return Emitted::End;
    };
    // A previous sample of an earlier run is no precpu for this one.
    let pre = s.prev.filter(|_| s.prev_run == c.runs);
    let (running, runs) = (c.running(), c.runs);
    push_frame(
        &mut ctx.frame,
        &ctx.model,
        s.target.idx,
        read,
        pre,
        &mut ctx.scratch,
    );
    let fault = match &s.fault {
        Some((after, f)) if *after == s.emitted - 1 => {
            let f = f.clone();
            s.fault = None;
            Some(f)
        }
        _ => None,
    };
    let name = Rc::clone(&s.target.name);
    let broken_name = ctx
        .bad_names
        .iter()
        .any(|(n, after)| **n == *name && s.emitted > *after);
    let split = ctx.config.split_chunks;
    let split_key = hash2(s.target.idx as u64, u64::from(s.emitted - 1));
    // After a zero frame the next precpu is zero too: the daemon's precpu is the previous
    // frame's cpu.
    s.prev = running.then_some(read);
    s.prev_run = runs;
    if let Some(f) = &fault {
        // A status injected into a stream counts when a request gets it.
        if !matches!(f, Fault::Status(_)) {
            ctx.shared.count_fault(f);
        }
        ctx.log(format_args!(
            "fault {} on a stream of {name}",
            FAULT_KINDS[f.kind()]
        ));
    }
    let chunked = framing == Framing::Chunked;
    let frame = &mut ctx.frame;
    let out = &mut conn.out;
    match fault {
        Some(Fault::Stall) => return Emitted::Halt,
        Some(Fault::StallMidFrame) => {
            push_half(out, chunked, frame);
            return Emitted::Halt;
        }
        Some(f @ (Fault::TruncateMidChunk | Fault::ResetMidChunk)) => {
            push_half(out, chunked, frame);
            let how = if f == Fault::ResetMidChunk {
                Close::Reset
            } else {
                Close::Graceful
            };
            set_state(conn, ConnState::Closing(how), &ctx.shared);
            return Emitted::Halt;
        }
        Some(Fault::ResetMidFrame) => {
            // The first half as a whole chunk: the cut falls between two chunks of a frame.
            push_body(out, framing, &frame[..frame.len() / 2], None);
            set_state(conn, ConnState::Closing(Close::Reset), &ctx.shared);
            return Emitted::Halt;
        }
        Some(Fault::Status(status)) => {
            // Injected into an open stream (chaos): cut it between frames; the stats request
            // that follows gets the status.
            ctx.status_once.insert(name, status);
            set_state(conn, ConnState::Closing(Close::Graceful), &ctx.shared);
            return Emitted::Halt;
        }
        Some(Fault::GarbageChunkSize) => {
            out.extend_from_slice(b"zz\r\n");
            out.extend_from_slice(frame);
            out.extend_from_slice(b"\r\n");
            // Not a frame any client can receive: not counted as sent.
            return Emitted::More;
        }
        Some(Fault::Drip(every)) => {
            // The whole frame, chunk framing included, goes out a byte per tick; the caller
            // arms the first.
            let mut bytes = Vec::with_capacity(frame.len() + 16);
            push_body(&mut bytes, framing, frame, None);
            conn.spool = Some(Box::new(Spool {
                pad: 0,
                tail: bytes,
                pos: 0,
                drip: Some(every),
                frame: Some(name),
            }));
            return Emitted::More;
        }
        Some(f) => match fault::rewrite_payload(&f, frame) {
            Some(fault::Payload::Padded { pad, tail }) => {
                // The frame up to its padding now; the padding and the rest as the socket
                // takes them.
                let body = frame.len() - tail;
                if chunked {
                    http::push_chunk_size(out, frame.len() + pad);
                }
                out.extend_from_slice(&frame[..body]);
                let mut rest = frame[body..].to_vec();
                if chunked {
                    rest.extend_from_slice(b"\r\n");
                }
                conn.spool = Some(Box::new(Spool {
                    pad,
                    tail: rest,
                    pos: 0,
                    drip: None,
                    frame: None,
                }));
                return Emitted::More;
            }
            Some(fault::Payload::Replaced) => {
                push_body(out, framing, frame, None);
                return Emitted::More;
            }
            Some(fault::Payload::Frame) => push_body(out, framing, frame, None),
            // A container's fault (status, name) never reaches its streams: a good frame.
            None => push_body(out, framing, frame, None),
        },
        None if broken_name => {
            fault::break_name(frame, &name);
            ctx.shared.count_fault(&Fault::BadUtf8Name);
            push_body(out, framing, frame, None);
            return Emitted::More;
        }
        None => {
            let at = (split && frame.len() > 1)
                .then(|| 1 + (split_key % (frame.len() as u64 - 1)) as usize);
            push_body(out, framing, frame, at);
        }
    }
    conn.mark_end(Counted::Frame(name));
    Emitted::More
}

/// Appends the chunk-size line of `frame` (when chunked) and its first half.
fn push_half(out: &mut Vec<u8>, chunked: bool, frame: &[u8]) {
    if chunked {
        http::push_chunk_size(out, frame.len());
    }
    out.extend_from_slice(&frame[..frame.len() / 2]);
}

/// Appends stream payload: one chunk, two chunks split at `split`, or raw bytes.
fn push_body(out: &mut Vec<u8>, framing: Framing, payload: &[u8], split: Option<usize>) {
    match (framing, split) {
        (Framing::Chunked, Some(at)) if at < payload.len() => {
            http::push_chunk(out, &payload[..at]);
            http::push_chunk(out, &payload[at..]);
        }
        (Framing::Chunked, _) => http::push_chunk(out, payload),
        _ => out.extend_from_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At 10,000 streams the state of a connection is what scales: a few hundred bytes plus
    /// its socket, with no buffer held while it has nothing to send.
    #[test]
    fn connection_state_stays_small() {
        assert!(
            std::mem::size_of::<Conn>() <= 320,
            "{}",
            std::mem::size_of::<Conn>()
        );
        assert!(std::mem::size_of::<ConnState>() <= 128);
    }

    #[test]
    fn counters_json_has_every_counter() {
        let c = SimCounters {
            frames_sent: 1,
            frames_skipped: 2,
            streams_open: 3,
            connections_accepted: 4,
            connections_open: 5,
            requests: 6,
            events_sent: 7,
            containers_running: 8,
            faults_injected: 9,
        };
        assert_eq!(
            String::from_utf8_lossy(&counters_json(&c)),
            "{\"frames_sent\":1,\"frames_skipped\":2,\"streams_open\":3,\"connections_accepted\":4,\"connections_open\":5,\"requests\":6,\"events_sent\":7,\"containers_running\":8,\"faults_injected\":9}\n"
        );
    }
}
