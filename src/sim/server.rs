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
//! - a frame counts as sent only once its last byte has been written to the socket;
//! - a reader too slow to keep its output buffer under [`MAX_QUEUED`] has frames *skipped*
//!   (counted apart), like the daemon's pubsub drops messages for slow subscribers. Its next
//!   frame's `precpu_stats` is then the last frame it did get, as with the real daemon;
//! - accept runs until `WouldBlock`; when the process is out of file descriptors it backs off
//!   and retries from a timer rather than spinning.
//!
//! Closing follows Go's server: after the last response on a connection the write side is shut
//! and input is drained for up to [`LINGER`], so a client still sending does not get a reset
//! that destroys the response it has not read yet.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Interest, Poll, Registry, Token, Waker};

use super::api::{self, Action, H_DAEMON, H_DAEMON_JSON, Reply, StatsMode};
use super::fault::{self, Fault};
use super::frames::{FrameScratch, push_frame};
use super::http::{self, Framing, Parsed, ResponseHead};
use super::model::{Model, hash2};
use super::time::{self, UnixNanos};
use super::{Listen, SimConfig, SimCounters};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection slot `s` is registered as `Token(s + FIRST_CONN)`.
const FIRST_CONN: usize = 2;
/// Timer-heap slot of the accept retry.
const ACCEPT_SLOT: usize = usize::MAX;

/// Unsent bytes above which a stream's next frame is skipped instead of queued.
pub(crate) const MAX_QUEUED: usize = 32 * 1024;
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
        }
    }
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
}

impl Listener {
    fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            Listener::Tcp(l) => l.accept().map(|(s, _)| {
                // Frames are small and latency matters more than packet count (Go sets this too).
                let _ = s.set_nodelay(true);
                Stream::Tcp(s)
            }),
        }
    }

    fn register(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Listener::Unix(l) => registry.register(l, LISTENER, Interest::READABLE),
            Listener::Tcp(l) => registry.register(l, LISTENER, Interest::READABLE),
        }
    }
}

enum Stream {
    Unix(mio::net::UnixStream),
    Tcp(mio::net::TcpStream),
}

impl Stream {
    fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let both = Interest::READABLE | Interest::WRITABLE;
        match self {
            Stream::Unix(s) => registry.register(s, token, both),
            Stream::Tcp(s) => registry.register(s, token, both),
        }
    }

    fn deregister(&mut self, registry: &Registry) {
        // Closing the fd removes it from epoll anyway; an error here changes nothing.
        let _ = match self {
            Stream::Unix(s) => registry.deregister(s),
            Stream::Tcp(s) => registry.deregister(s),
        };
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            // std writes to unix sockets with write(2), which raises SIGPIPE on a closed peer
            // and would kill a host process that does not ignore it; send(2) can opt out.
            Stream::Unix(s) => send_nosignal(s.as_raw_fd(), buf),
            // std's TcpStream already sends with MSG_NOSIGNAL.
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn shutdown_write(&self) {
        // The peer may be gone already; there is nothing to do about an error.
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
        };
    }
}

#[allow(unsafe_code)]
fn send_nosignal(fd: std::os::fd::RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `fd` is the open socket of a live `UnixStream` borrowed by the caller for the
    // duration of the call, and `buf` is a valid slice of `buf.len()` readable bytes.
    let n = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A bound listener and its poll, ready to be moved to the server thread.
pub(crate) struct Bound {
    poll: Poll,
    listener: Listener,
    pub(crate) waker: Arc<Waker>,
    pub(crate) url: String,
    /// The unix socket file to remove on shutdown.
    pub(crate) socket_path: Option<PathBuf>,
}

/// Binds `listen` and prepares the poll. The socket accepts connections from this point on
/// (they wait in the backlog until the loop runs).
pub(crate) fn bind(listen: &Listen) -> io::Result<Bound> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (mut listener, url, socket_path) = match listen {
        Listen::Unix(path) => {
            let path = if path.is_absolute() {
                path.clone()
            } else {
                std::env::current_dir()?.join(path)
            };
            // mio's UnixListener::bind listens with a backlog of -1, which Linux turns into
            // net.core.somaxconn (4096 on current kernels): large enough already.
            let l = bind_unix(&path)?;
            let url = format!("unix://{}", path.display());
            (Listener::Unix(l), url, Some(path))
        }
        Listen::Tcp(addr) => {
            let l = mio::net::TcpListener::bind(*addr)?;
            raise_backlog(&l)?;
            let mut local = l.local_addr()?;
            if local.ip().is_unspecified() {
                local.set_ip(match local {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            (Listener::Tcp(l), format!("tcp://{local}"), None)
        }
    };
    listener.register(poll.registry())?;
    Ok(Bound {
        poll,
        listener,
        waker,
        url,
        socket_path,
    })
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

/// mio's `TcpListener::bind` listens with std's backlog of 128: 10,000 clients connecting at
/// once would see SYNs dropped and one-second retransmits. Calling listen(2) again on a
/// listening socket only updates the backlog (the kernel caps it at somaxconn).
#[allow(unsafe_code)]
fn raise_backlog(l: &mio::net::TcpListener) -> io::Result<()> {
    // SAFETY: listen(2) on a valid, owned, listening socket fd; no memory is involved.
    let rc = unsafe { libc::listen(l.as_raw_fd(), 4096) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Where a connection is in its life.
#[derive(Debug)]
enum ConnState {
    /// Reading (and answering) requests.
    Idle,
    /// A `stream=false` answer is due when the timer fires.
    Waiting { idx: usize, since: UnixNanos },
    /// Streaming stats frames until the client leaves.
    Stats(StatsStream),
    /// Streaming events (none yet) until the client leaves.
    Events,
    /// Sending what is queued, then closing.
    Closing,
    /// Write side shut; draining input until EOF or the linger timer.
    Lingering,
}

/// Per-stream state: kept small, there may be 10,000 of these.
#[derive(Debug)]
struct StatsStream {
    idx: usize,
    /// `read` of the last frame the client got (`None` before the first).
    prev: Option<UnixNanos>,
    /// Deadline of the next frame.
    next: Instant,
    /// Chunked, or raw frames until close (HTTP/1.0).
    framing: Framing,
    /// Frames emitted on this stream (sent or queued).
    emitted: u32,
    /// A fault still to come, and how many good frames precede it.
    fault: Option<(u32, Fault)>,
}

struct Conn {
    stream: Stream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    /// Bytes written to the socket over the connection's life.
    written: u64,
    /// Absolute end offsets (in `written` terms) of frames not yet fully written.
    frame_ends: VecDeque<u64>,
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
}

impl Conn {
    fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            written: 0,
            frame_ends: VecDeque::new(),
            state: ConnState::Idle,
            http11: true,
            keep_alive: true,
            skip_body: 0,
            peer_closed: false,
            timer: None,
            dead: false,
        }
    }

    fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Absolute offset of the end of what is queued now.
    fn queued_end(&self) -> u64 {
        self.written + self.pending() as u64
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
}

impl Ctx {
    /// The time samples and listings describe: the fixed clock, or now.
    fn clock(&self) -> UnixNanos {
        self.config.fixed_clock.unwrap_or_else(time::now)
    }

    fn schedule(&mut self, conn: &mut Conn, slot: usize, at: Instant) {
        self.next_timer += 1;
        conn.timer = Some(self.next_timer);
        self.timers.push(Reverse((at, self.next_timer, slot)));
    }

    fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.config.log_requests {
            eprintln!("dockstat-sim: {what}");
        }
    }
}

/// Runs the loop until the stop flag is set (and the waker woken).
pub(crate) fn serve(bound: Bound, config: SimConfig, shared: Arc<Shared>) -> io::Result<()> {
    let Bound {
        mut poll, listener, ..
    } = bound;
    let model = Model::new(&config, config.fixed_clock.unwrap_or_else(time::now));
    let mut server = Server {
        listener,
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
        },
        accept_paused: false,
    };
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
                WAKER => {} // the loop condition reads the stop flag
                Token(t) => server.conn_event(poll.registry(), t - FIRST_CONN, event),
            }
        }
        server.fire_timers(poll.registry());
    }
    for slot in 0..server.conns.len() {
        server.close(poll.registry(), slot);
    }
    Ok(())
}

struct Server {
    listener: Listener,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    ctx: Ctx,
    /// Accepting is paused (out of fds) until the retry timer fires.
    accept_paused: bool,
}

impl Server {
    fn accept(&mut self, registry: &Registry) {
        if self.accept_paused {
            return;
        }
        loop {
            match self.listener.accept() {
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
                    self.ctx.next_timer += 1;
                    let at = Instant::now() + ACCEPT_BACKOFF;
                    self.ctx
                        .timers
                        .push(Reverse((at, self.ctx.next_timer, ACCEPT_SLOT)));
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
            flush(conn, &self.ctx);
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
            if slot == ACCEPT_SLOT {
                self.accept_paused = false;
                self.accept(registry);
                continue;
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

    /// After any activity: write what can be written, and close the connection if it is done.
    fn settle(&mut self, registry: &Registry, slot: usize) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else {
            return;
        };
        if !conn.dead {
            flush(conn, &self.ctx);
        }
        if !conn.dead && matches!(conn.state, ConnState::Closing) && conn.pending() == 0 {
            if conn.peer_closed {
                conn.dead = true;
            } else {
                conn.stream.shutdown_write();
                set_state(conn, ConnState::Lingering, &self.ctx.shared);
                self.ctx.schedule(conn, slot, Instant::now() + LINGER);
            }
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
            set_state(&mut conn, ConnState::Closing, &self.ctx.shared);
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

/// Writes queued output until done or `WouldBlock`, and counts the frames that made it.
fn flush(conn: &mut Conn, ctx: &Ctx) {
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
    while conn
        .frame_ends
        .front()
        .is_some_and(|&end| end <= conn.written)
    {
        conn.frame_ends.pop_front();
        bump(&ctx.shared.frames_sent);
    }
    if conn.out_pos == conn.out.len() {
        conn.out.clear();
        conn.out_pos = 0;
        // A big listing answered once should not pin its buffer for the connection's life.
        if conn.out.capacity() > 256 * 1024 {
            conn.out.shrink_to(16 * 1024);
        }
    } else if conn.out_pos >= 64 * 1024 && conn.out_pos * 2 >= conn.out.len() {
        conn.out.drain(..conn.out_pos);
        conn.out_pos = 0;
    }
}

/// Reads until `WouldBlock` or EOF, then acts on what arrived.
fn read(conn: &mut Conn, slot: usize, ctx: &mut Ctx) {
    loop {
        match conn.stream.read(&mut ctx.readbuf) {
            Ok(0) => {
                conn.peer_closed = true;
                break;
            }
            Ok(n) => match conn.state {
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
                // Streams and closing connections take no more requests: discard.
                _ => {}
            },
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
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
            ConnState::Idle => set_state(conn, ConnState::Closing, &ctx.shared),
            ConnState::Closing => {}
            // The client left (Go cancels the request context): stop streaming.
            ConnState::Waiting { .. }
            | ConnState::Stats(_)
            | ConnState::Events
            | ConnState::Lingering => conn.dead = true,
        }
    }
}

/// Answers the complete requests in the input buffer, in order, while the connection is idle.
fn process_requests(conn: &mut Conn, slot: usize, ctx: &mut Ctx) {
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
                set_state(conn, ConnState::Closing, &ctx.shared);
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
        ConnState::Closing
    };
    set_state(conn, next, &ctx.shared);
}

fn apply(conn: &mut Conn, slot: usize, action: Action, ctx: &mut Ctx) {
    match action {
        Action::Reply(reply) => {
            push_reply(conn, &reply);
            after_reply(conn, ctx);
        }
        Action::Events => {
            push_stream_head(conn, H_DAEMON_JSON);
            set_state(conn, ConnState::Events, &ctx.shared);
        }
        Action::Stats { idx, mode } => match mode {
            StatsMode::OneShot => {
                reply_frame(conn, ctx, idx, None);
                after_reply(conn, ctx);
            }
            StatsMode::Once => {
                // The daemon needs two samples a collector tick apart: answer one interval
                // later with precpu from now.
                let since = ctx.clock();
                set_state(conn, ConnState::Waiting { idx, since }, &ctx.shared);
                let at = Instant::now() + ctx.interval;
                ctx.schedule(conn, slot, at);
            }
            StatsMode::Stream => {
                let framing = push_stream_head(conn, H_DAEMON);
                let name = ctx.model.containers.get(idx).map(|c| c.name.as_str());
                let fault = ctx
                    .config
                    .faults
                    .iter()
                    .find(|r| Some(r.container.as_str()) == name)
                    .map(|r| (r.after_frames, r.fault.clone()));
                let now = Instant::now();
                let stream = StatsStream {
                    idx,
                    prev: None,
                    next: now,
                    framing,
                    emitted: 0,
                    fault,
                };
                set_state(conn, ConnState::Stats(stream), &ctx.shared);
                // The first frame goes out at once; the timer takes over from there.
                on_timer(conn, slot, now, ctx);
            }
        },
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

/// A one-frame `stream=false` answer (Content-Length or chunked by size, like Go).
fn reply_frame(conn: &mut Conn, ctx: &mut Ctx, idx: usize, pre: Option<UnixNanos>) {
    let mut body = Vec::with_capacity(2560);
    let read = match (ctx.config.fixed_clock, pre) {
        (Some(t), Some(_)) => t + ctx.interval.as_nanos() as u64,
        (Some(t), None) => t,
        (None, _) => time::now(),
    };
    push_frame(&mut body, &ctx.model, idx, read, pre, &mut ctx.scratch);
    push_reply(conn, &api::stats_reply(body));
    conn.frame_ends.push_back(conn.queued_end());
}

fn on_timer(conn: &mut Conn, slot: usize, due: Instant, ctx: &mut Ctx) {
    match conn.state {
        ConnState::Waiting { idx, since } => {
            reply_frame(conn, ctx, idx, Some(since));
            after_reply(conn, ctx);
            // Requests pipelined behind the stats request have waited in the buffer.
            process_requests(conn, slot, ctx);
        }
        ConnState::Stats(_) => {
            if emit_frame(conn, ctx) {
                let interval = ctx.interval;
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
        }
        ConnState::Lingering => conn.dead = true,
        ConnState::Idle | ConnState::Events | ConnState::Closing => {}
    }
}

/// Emits (or skips) the next frame of a stats stream. Returns whether the stream goes on
/// (false after a terminal fault).
fn emit_frame(conn: &mut Conn, ctx: &mut Ctx) -> bool {
    let pending = conn.pending();
    let queued_end = conn.queued_end();
    let ConnState::Stats(s) = &mut conn.state else {
        return false;
    };
    if pending > MAX_QUEUED {
        bump(&ctx.shared.frames_skipped);
        return true;
    }
    let read = match ctx.config.fixed_clock {
        Some(t) => t + u64::from(s.emitted) * ctx.interval.as_nanos() as u64,
        None => time::now(),
    };
    ctx.frame.clear();
    push_frame(
        &mut ctx.frame,
        &ctx.model,
        s.idx,
        read,
        s.prev,
        &mut ctx.scratch,
    );
    let fault = match &s.fault {
        Some((after, f)) if *after == s.emitted => {
            let f = f.clone();
            s.fault = None;
            Some(f)
        }
        _ => None,
    };
    let split = ctx.config.split_chunks;
    let split_key = hash2(s.idx as u64, u64::from(s.emitted));
    s.prev = Some(read);
    s.emitted = s.emitted.saturating_add(1);
    let framing = s.framing;
    let out = &mut conn.out;
    match fault {
        Some(Fault::Stall) => return false,
        Some(Fault::TruncateMidChunk) => {
            let half = ctx.frame.len() / 2;
            http::push_chunk_size(out, ctx.frame.len());
            out.extend_from_slice(&ctx.frame[..half]);
            set_state(conn, ConnState::Closing, &ctx.shared);
            return false;
        }
        Some(Fault::GarbageChunkSize) => {
            out.extend_from_slice(b"zz\r\n");
            out.extend_from_slice(&ctx.frame);
            out.extend_from_slice(b"\r\n");
        }
        Some(f) => {
            fault::rewrite_payload(&f, &mut ctx.frame);
            push_body(out, framing, &ctx.frame, None);
        }
        None => {
            let at = (split && ctx.frame.len() > 1)
                .then(|| 1 + (split_key % (ctx.frame.len() as u64 - 1)) as usize);
            push_body(out, framing, &ctx.frame, at);
        }
    }
    let end = queued_end + (conn.out.len() - conn.out_pos - pending) as u64;
    conn.frame_ends.push_back(end);
    true
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
