//! One connection's state and output: what it is doing (idle, waiting, streaming stats or
//! events, closing), its queued bytes and spool, writing them out, and the context the loop
//! lends every connection handler (model, timers, buffer pool, counters shared with the
//! handle). Not how requests are read and answered (`request.rs`), the frames of a stream
//! (`stream.rs`), nor the socket underneath (`transport.rs`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::transport::{Out, Stream, flush_tls};
use crate::api::Reply;
use crate::events::Filter;
use crate::fault::{self, FAULT_KINDS, Fault};
use crate::frames::FrameScratch;
use crate::http::{self, Framing, ResponseHead};
use crate::json::push_u64;
use crate::model::Model;
use crate::time::{self, UnixNanos};
use crate::{SimConfig, SimCounters};

/// Where a connection is in its life.
#[derive(Debug)]
pub(super) enum ConnState {
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
pub(super) struct Target {
    pub(super) idx: usize,
    pub(super) id: Rc<str>,
    pub(super) name: Rc<str>,
}

impl Target {
    pub(super) fn new(model: &Model, idx: usize) -> Option<Target> {
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
pub(super) struct StatsStream {
    pub(super) target: Target,
    /// `read` of the last live frame the client got (`None` before the first, and after a
    /// zero frame).
    pub(super) prev: Option<UnixNanos>,
    /// The container's run that `prev` belongs to.
    pub(super) prev_run: u32,
    /// Deadline of the next frame.
    pub(super) next: Instant,
    /// Chunked, or raw frames until close (HTTP/1.0).
    pub(super) framing: Framing,
    /// Frames emitted on this stream (sent or queued).
    pub(super) emitted: u32,
    /// Zero frames left to send once the container is gone.
    pub(super) ending: Option<u8>,
    /// A fault still to come, and how many good frames precede it.
    pub(super) fault: Option<(u32, Fault)>,
    /// A fault no client can read past went out on this stream (a garbage chunk size, a
    /// document that is not a stats frame): a client rightly ends the stream there, so the
    /// frames that follow it are still written but not counted as sent.
    pub(super) unreadable: bool,
}

/// What a byte offset in [`Conn::ends`] marks the end of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Counted {
    /// A stats frame of the container of this name.
    Frame(Rc<str>),
    Event,
}

/// Bytes of a spooled payload (huge frame padding) put in the output buffer at a time.
const SPOOL_BATCH: usize = 64 * 1024;

/// Output generated as the socket takes it, after what is in [`Conn::out`]: the padding of a
/// huge frame (so the sim never holds it whole), or a frame dripped one byte at a time.
#[derive(Debug)]
pub(super) struct Spool {
    /// Padding bytes (`x`) still to write before `tail`.
    pub(super) pad: usize,
    /// What follows the padding, written from `pos` on.
    pub(super) tail: Vec<u8>,
    pub(super) pos: usize,
    /// One byte per tick of this period (zero: per turn of the loop), written by the stream's
    /// timer, instead of as fast as the socket takes them.
    pub(super) drip: Option<Duration>,
    /// The frame the spool ends, counted once its last byte is on the socket (`None`: a fault
    /// payload, not a frame).
    pub(super) frame: Option<Rc<str>>,
}

impl Spool {
    pub(super) fn is_empty(&self) -> bool {
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

pub(super) struct Conn {
    pub(super) stream: Stream,
    pub(super) inbuf: Vec<u8>,
    pub(super) out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    /// Bytes written to the socket over the connection's life.
    pub(super) written: u64,
    /// Absolute end offsets (in `written` terms) of frames and events not yet fully written.
    pub(super) ends: VecDeque<(u64, Counted)>,
    pub(super) state: ConnState,
    /// Of the request being answered.
    pub(super) http11: bool,
    pub(super) keep_alive: bool,
    /// Request body bytes still to skip.
    pub(super) skip_body: u64,
    pub(super) peer_closed: bool,
    /// Id of this connection's live timer.
    pub(super) timer: Option<u64>,
    /// Set when the connection must be dropped now.
    pub(super) dead: bool,
    /// Output still to be generated after `out` ([`Spool`]).
    pub(super) spool: Option<Box<Spool>>,
    /// The `Server` header when the sim passes for another daemon than Docker.
    pub(super) server: Option<&'static str>,
}

impl Conn {
    pub(super) fn new(stream: Stream) -> Conn {
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
            server: None,
        }
    }

    /// Bytes not yet on the socket: queued here, or (TLS) handed to rustls and not yet
    /// written in records.
    pub(super) fn pending(&self) -> usize {
        self.out.len() - self.out_pos + self.stream.inflight()
    }

    /// Absolute offset of the end of what is queued now.
    fn queued_end(&self) -> u64 {
        self.written + (self.out.len() - self.out_pos) as u64
    }

    /// Marks the end of what is queued now as the end of a frame or event.
    pub(super) fn mark_end(&mut self, what: Counted) {
        let end = self.queued_end();
        self.ends.push_back((end, what));
    }

    /// Moves up to `max` bytes of the spool to `out`; once it is empty, the frame it ends (if
    /// any) is marked, and the spool is dropped.
    pub(super) fn feed_spool(&mut self, max: usize) {
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

/// How the server closes a connection once everything queued is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Close {
    /// Shut the write side (FIN, after close_notify for TLS), then drain input for
    /// [`LINGER`](super::LINGER).
    Graceful,
    /// Reset: TCP RST (`SO_LINGER` 0 and `close`) once the peer has acknowledged everything
    /// before it; a unix socket is just closed.
    Reset,
}

/// Drained output buffers kept for reuse, and the largest capacity worth keeping.
const POOL_BUFFERS: usize = 64;
const POOL_MAX_CAPACITY: usize = 64 * 1024;
/// State shared between the server thread and the [`Sim`](crate::Sim) handle.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    frames_sent: AtomicU64,
    pub(super) frames_skipped: AtomicU64,
    streams_open: AtomicU64,
    pub(super) connections_accepted: AtomicU64,
    pub(super) connections_open: AtomicU64,
    pub(super) requests: AtomicU64,
    events_sent: AtomicU64,
    pub(crate) containers_running: AtomicU64,
    /// Faults injected, by kind ([`FAULT_KINDS`]).
    pub(super) faults: [AtomicU64; FAULT_KINDS.len()],
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

    pub(super) fn count_fault(&self, fault: &Fault) {
        bump(&self.faults[fault.kind()]);
    }
}

/// `{"frames_sent":…,…}` for `GET /_sim/counters`.
pub(super) fn counters_json(c: &SimCounters) -> Vec<u8> {
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

/// `{"NAME":N,…}` for `GET /_sim/frames`: frames sent per container name (as
/// `frames_sent` counts them), sorted by name, so that a client in another process can check
/// its count per container exactly.
pub(super) fn frames_json(by_name: &HashMap<Rc<str>, u64>) -> Vec<u8> {
    let mut names: Vec<(&Rc<str>, &u64)> = by_name.iter().collect();
    names.sort_unstable();
    let mut out = Vec::with_capacity(16 + 24 * names.len());
    out.push(b'{');
    for (i, (name, n)) in names.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        crate::json::push_str(&mut out, name);
        out.push(b':');
        push_u64(&mut out, *n);
    }
    out.extend_from_slice(b"}\n");
    out
}

pub(super) fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

pub(super) fn drop_one(a: &AtomicU64) {
    a.fetch_sub(1, Ordering::Relaxed);
}

/// Everything but the connections, so a connection and the context can be borrowed at once.
pub(super) struct Ctx {
    pub(super) model: Model,
    pub(super) config: SimConfig,
    pub(super) interval: Duration,
    pub(super) shared: Arc<Shared>,
    pub(super) timers: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    pub(super) next_timer: u64,
    pub(super) readbuf: Box<[u8]>,
    pub(super) frame: Vec<u8>,
    pub(super) scratch: FrameScratch,
    /// Drained output buffers, lent to connections that have something to write.
    pub(super) pool: Vec<Vec<u8>>,
    /// Slots of `/events` connections (each at most once; stale ones are dropped lazily).
    pub(super) subscribers: Vec<usize>,
    /// `GET /_sim/pause` is in force: stream timers tick but write nothing.
    pub(super) frames_paused: bool,
    /// Frames sent, by container name ([`Sim::frames_sent_for`](crate::Sim::frames_sent_for)).
    pub(super) sent_by_name: HashMap<Rc<str>, u64>,
    /// Containers whose stats requests get an error status ([`Fault::Status`] rules).
    pub(super) status_rules: Vec<(String, u16)>,
    /// Containers whose next stats request gets an error status (chaos), once.
    pub(super) status_once: HashMap<Rc<str>, u16>,
    /// Containers whose names are written broken ([`Fault::BadUtf8Name`] rules), and the
    /// frame from which on their frames carry the broken name.
    pub(super) bad_names: Vec<(String, u32)>,
    /// `GET /_sim/restart` asked for a restart with this down time.
    pub(super) restart: Option<Duration>,
}

impl Ctx {
    /// The time samples and listings describe: the fixed clock, or now.
    pub(super) fn clock(&self) -> UnixNanos {
        self.config.fixed_clock.unwrap_or_else(time::now)
    }

    /// The error status the next stats request for container `name` gets, if any (a chaos
    /// status is used up).
    pub(super) fn status_fault(&mut self, name: &str) -> Option<u16> {
        if let Some(status) = self.status_once.remove(name) {
            return Some(status);
        }
        self.status_rules
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, status)| status)
    }

    /// Writes the broken names of [`Fault::BadUtf8Name`] rules into a listing or event.
    pub(super) fn break_names(&self, body: &mut [u8]) {
        for (name, _) in &self.bad_names {
            fault::break_name(body, name);
        }
    }

    pub(super) fn schedule(&mut self, conn: &mut Conn, slot: usize, at: Instant) {
        self.next_timer += 1;
        conn.timer = Some(self.next_timer);
        self.timers.push(Reverse((at, self.next_timer, slot)));
    }

    /// Arms a timer of the server itself (accept retry, churn, removals).
    pub(super) fn schedule_slot(&mut self, slot: usize, at: Instant) {
        self.next_timer += 1;
        self.timers.push(Reverse((at, self.next_timer, slot)));
    }

    pub(super) fn log(&self, what: std::fmt::Arguments<'_>) {
        if self.config.log_requests {
            eprintln!("dockstat-sim: {what}");
        }
    }

    /// Gives `conn` a pooled output buffer if it has none, so that writing a frame to an idle
    /// connection does not allocate.
    pub(super) fn lend_buffer(&mut self, conn: &mut Conn) {
        if conn.out.capacity() == 0
            && let Some(buf) = self.pool.pop()
        {
            conn.out = buf;
        }
    }

    /// Takes back a drained output buffer.
    pub(super) fn return_buffer(&mut self, conn: &mut Conn) {
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

/// Changes state, keeping the `streams_open` gauge right.
pub(super) fn set_state(conn: &mut Conn, state: ConnState, shared: &Shared) {
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
pub(super) fn flush(conn: &mut Conn, ctx: &mut Ctx) {
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

/// Appends a complete reply with Go's framing rule.
pub(super) fn push_reply(conn: &mut Conn, reply: &Reply) {
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
            server: conn.server,
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
pub(super) fn after_reply(conn: &mut Conn, ctx: &Ctx) {
    let next = if conn.keep_alive {
        ConnState::Idle
    } else {
        ConnState::Closing(Close::Graceful)
    };
    set_state(conn, next, &ctx.shared);
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
