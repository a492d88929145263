//! The event loop: one thread, one nonblocking mio `Poll`, every connection on it. This file
//! holds the loop itself and its timers; `transport.rs` a connection's plain or TLS byte
//! stream, `listen.rs` the listening socket, `conn.rs` a connection's state and output and the
//! context shared by connections, `stream.rs` the frames of a stats stream and their faults,
//! `request.rs` reading and answering requests, `lifecycle.rs` the changes that come from the
//! handle, churn, chaos and restarts. Each of those imports only files named before it (and
//! `lifecycle.rs` this one, which imports none of it back).
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
//! - a reader too slow to keep its output buffer under `MAX_QUEUED` (`stream.rs`) has
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
//! Faults (`fault.rs`): a stream's fault is applied by `emit_frame` (`stream.rs`) in place of its
//! frame. A payload too big to hold (a huge frame's padding) or to be written at once (a dripped
//! frame) goes through the connection's [`Spool`](conn::Spool), generated as the socket takes it or
//! one byte per tick. A reset waits until the peer has acknowledged everything before it
//! (`SIOCOUTQ`), so that the RST destroys nothing the sim counted as sent. Chaos ticks and the end
//! of a restart's down time run from the timer heap; a restart closes every connection and the
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
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Registry, Token};

use crate::Flavor;

use super::fault::Fault;
use super::frames::FrameScratch;
use super::model::{Model, Op};
use super::time;
use super::{Churn, SimConfig};

mod conn;
mod lifecycle;
mod listen;
mod request;
mod stream;
mod transport;

pub(crate) use conn::Shared;
use conn::{Close, Conn, ConnState, Ctx, bump, drop_one, flush, set_state};
pub(crate) use listen::{Bound, bind};
use listen::{LISTENER, Listener, Rebind, WAKER};
use request::{process_requests, read};
use stream::on_timer;

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
/// Chaos keys for [`hash2`](crate::model::hash2): which stream, and which fault.
const CHAOS_STREAM_KEY: u64 = 0xc4a0_5001;
const CHAOS_FAULT_KEY: u64 = 0xc4a0_5002;
/// How often a reset waiting for the peer to acknowledge what precedes it looks again.
const RESET_POLL: Duration = Duration::from_millis(1);
/// How often a restart whose address is not free yet tries to bind again.
const REBIND_RETRY: Duration = Duration::from_millis(50);
/// Unsent bytes above which an events subscriber misses events, as the daemon's pubsub drops
/// messages for a subscriber that does not keep up.
const MAX_EVENTS_QUEUED: usize = 1024 * 1024;
/// Churn key for [`hash2`](crate::model::hash2): which running container a churn tick stops.
const CHURN_KEY: u64 = 0xc4_0e17;
/// How long a closing connection's input is drained after its write side is shut.
const LINGER: Duration = Duration::from_millis(500);
/// Back-off before accepting again after running out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// The shortest interval the server accepts: a zero interval would fire timers forever
/// without ever returning to `poll`.
const MIN_INTERVAL: Duration = Duration::from_millis(1);
/// The longest: keeps `Instant + interval` far from overflowing.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
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
                    let mut conn = Conn::new(stream);
                    if self.ctx.config.flavor == Flavor::Podman {
                        conn.server = Some(crate::api::PODMAN_SERVER);
                    }
                    let conn = Some(conn);
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
            if on_timer(conn, slot, at, &mut self.ctx) {
                process_requests(conn, slot, &mut self.ctx);
            }
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
