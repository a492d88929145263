//! The event loop: one thread, one nonblocking mio `Poll`, every connection on it. This file
//! holds the loop itself, its timers and the shared counters; `listen.rs` the listening socket,
//! `transport.rs` a connection's plain or TLS byte stream, `conn.rs` a connection's requests,
//! `stream.rs` the frames of a stats stream and their faults, `lifecycle.rs` the changes that
//! come from the handle, churn, chaos and restarts.
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
//! - a reader too slow to keep its output buffer under [`MAX_QUEUED`](stream::MAX_QUEUED) has
//!   frames *skipped* (counted apart), like the daemon's pubsub drops messages for slow
//!   subscribers. Its next frame's `precpu_stats` is then the last frame it did get, as with
//!   the real daemon;
//! - accept runs until `WouldBlock`; when the process is out of file descriptors it backs off
//!   and retries from a timer rather than spinning.
//!
//! Closing follows Go's server: after the last response on a connection the write side is shut
//! and input is drained for up to [`LINGER`], so a client still sending does not get a reset
//! that destroys the response it has not read yet.
//!
//! Faults (`fault.rs`): a stream's fault is applied by [`emit_frame`](stream::emit_frame) in
//! place of its frame. A payload too big to hold (a huge frame's padding) or to be written at
//! once (a dripped frame) goes through the connection's [`Spool`](conn::Spool), generated as the
//! socket takes it or one byte per tick. A reset waits until the peer has acknowledged everything before it (`SIOCOUTQ`), so
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
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Registry, Token};

use super::fault::{self, FAULT_KINDS, Fault};
use super::frames::FrameScratch;
use super::http::{self};
use super::json::push_u64;
use super::model::{Model, Op};
use super::time::{self, UnixNanos};
use super::{Churn, SimConfig, SimCounters};

mod conn;
mod lifecycle;
mod listen;
mod stream;
mod transport;

use conn::{Conn, ConnState, flush, read, set_state};
pub(crate) use listen::{Bound, bind};
use listen::{Listener, Rebind};
use stream::on_timer;

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

#[cfg(test)]
mod tests {
    use super::*;

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
