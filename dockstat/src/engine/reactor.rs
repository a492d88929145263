//! The reactor: many HTTP connections on one mio `Poll`, driven from one thread.
//!
//! Each connection pairs a nonblocking [`Transport`] with a sans-io [`Connection`] and a
//! caller-chosen state `S`. [`Reactor::poll`] waits for readiness, then for every ready
//! connection writes pending request bytes and reads until the socket is drained, feeding
//! what it read through the connection and handing the resulting events — response head,
//! body pieces borrowed from the shared read buffer, end, failure — to the caller's handler.
//!
//! Reading stops at `WouldBlock`, or at a short read: a read that returns less than the
//! buffer drained the socket's queue, and with edge-triggered readiness any later data raises
//! a new event (tokio relies on the same fact). This saves one `read` syscall per frame. When
//! the peer has also closed its side (`is_read_closed`), reading continues to the end of
//! stream, because no further event would come. It also stops after [`READS_PER_TURN`] full
//! reads; the connection is then read again in the next turn without waiting for an event
//! (that poll does not block), so that one flooding connection cannot hold up the timers and
//! the other connections.
//!
//! One read buffer serves every connection: data is consumed (handed to the handler) before
//! the next connection is read, so per-connection memory is only the connection's own state.
//!
//! **Batched reads.** With a read period ([`Reactor::set_read_period`]), a connection whose
//! handler answers [`Flow::Batch`] (a stats stream, once its head has come) leaves the poll set
//! and is read on a timer instead, once per period: one `read` then returns everything the
//! server wrote since the last one (about one frame per second of the period). No readiness
//! event, no wakeup and no read per frame: the cost per frame falls below one read per frame.
//! The socket's buffer holds what waits (a few KiB for a stats stream over a few seconds, far
//! below a unix or TCP socket's buffer, so the writer never blocks). A peer's close or error
//! is seen at the next read. The timers are a FIFO queue: every connection waits the same
//! period, so the order of due times is the order of insertion.
//!
//! Errors end only the connection they hit: the handler gets [`ConnEvent::Failed`] and the
//! connection is closed. `Interrupted` is retried everywhere.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Poll, Registry, Token};

use super::endpoint::{Address, Endpoint};
use super::transport::{Connect, Transport};
use crate::conn::{self, Connection};
use crate::error::{Error, ErrorKind, Result};
use crate::http::ResponseHead;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("dockstat packs a slot index and generation into a 64-bit mio Token");

/// Size of the read buffer shared by all connections of a reactor.
pub(crate) const READ_BUF_LEN: usize = 64 * 1024;

/// First delay before retrying a connect refused with `EAGAIN` (a full unix listen backlog);
/// it doubles up to [`CONNECT_RETRY_MAX`].
pub(crate) const CONNECT_RETRY_MIN: Duration = Duration::from_millis(1);

/// Longest delay between connect retries.
pub(crate) const CONNECT_RETRY_MAX: Duration = Duration::from_millis(200);

/// Most full reads (of [`READ_BUF_LEN`] bytes) from one connection in one turn of
/// [`Reactor::poll`]; a connection with more to read is read again in the next turn.
///
/// Without a budget, a server that writes faster than its bytes are consumed keeps every read
/// full, and the read loop never returns: timers (deadlines, `--max-time`) cannot fire and the
/// other connections are not served for as long as the flood lasts (seconds, in
/// tests/hostile.rs, before this limit existed).
pub(crate) const READS_PER_TURN: usize = 16;

/// Names one connection of a reactor. Stays unique after the connection is gone (a generation
/// distinguishes reuses of the same slot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ConnId {
    index: u32,
    generation: u32,
}

impl ConnId {
    fn token(self) -> Token {
        Token(((self.generation as usize) << 32) | self.index as usize)
    }

    fn from_token(token: Token) -> ConnId {
        ConnId {
            index: token.0 as u32,
            generation: (token.0 >> 32) as u32,
        }
    }
}

/// What happened on a connection.
#[derive(Debug)]
pub(crate) enum ConnEvent<'a> {
    /// The final response head arrived.
    Head(ResponseHead<'a>),
    /// A piece of the decoded body, borrowed from the read buffer.
    Body(&'a [u8]),
    /// The response is complete. If `reusable`, the connection stays open and idle and may
    /// carry another request ([`Reactor::send_get`]); otherwise it is closed after this event
    /// (or after the [`ConnEvent::Excess`] that follows it in the same read).
    End { reusable: bool },
    /// Bytes arrived after the end of the response, with no request outstanding (a pipelined
    /// response, a body after a 204): they are dropped, and the connection is closed after
    /// this event, whatever `End` said. The response itself stands.
    Excess(&'a [u8]),
    /// The server closed an idle connection; it is gone after this event.
    Closed,
    /// The connection failed (connect, I/O, timeout, malformed response); it is gone after
    /// this event.
    Failed(Error),
}

/// What the handler wants done with the connection after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep going.
    Continue,
    /// Keep going, and from now on read the connection once per read period instead of on
    /// readiness (see the [module docs](self)); the same as `Continue` without a read period.
    Batch,
    /// Close the connection now; no more events for it.
    Close,
}

/// Whether a connection is read on readiness or once per read period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Batch {
    /// On readiness.
    Off,
    /// The handler asked for batched reads; the connection leaves the poll set after the
    /// read in progress.
    Wanted,
    /// Out of the poll set, read once per period; `queued` while it has a place in
    /// `Core::batch`.
    Parked { queued: bool },
}

#[derive(Debug)]
enum Phase {
    /// Waiting to try connecting to address `addr` of the endpoint (after `EAGAIN`, or not
    /// tried yet).
    Retry { addr: usize, delay: Duration },
    /// A TCP connect in progress.
    Connecting { transport: Transport, addr: usize },
    /// Connected.
    Open(Transport),
    /// Failed before any I/O event could report it; reported at the next poll.
    Failed(Option<Error>),
}

#[derive(Debug)]
struct Conn<S> {
    endpoint: Arc<Endpoint>,
    phase: Phase,
    http: Connection,
    deadline: Option<Instant>,
    /// The deadline is for the response head only.
    until_head: bool,
    retry_at: Option<Instant>,
    /// Queued in `Core::again` (once), and whether the peer had closed its side.
    read_on: Option<bool>,
    batch: Batch,
    user: S,
}

#[derive(Debug)]
struct Slot<S> {
    generation: u32,
    conn: Option<Conn<S>>,
}

/// The token of the reactor's waker; no connection can have it (its slot index is
/// `u32::MAX`).
const WAKE: Token = Token(usize::MAX);

/// Many connections on one mio `Poll`. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Reactor<S> {
    poll: Poll,
    events: Events,
    waker: Option<Arc<mio::Waker>>,
    core: Core<S>,
}

#[derive(Debug)]
struct Core<S> {
    registry: Registry,
    slots: Vec<Slot<S>>,
    free: Vec<u32>,
    timers: BinaryHeap<Reverse<(Instant, ConnId)>>,
    pending: Vec<ConnId>,
    /// Connections that used up their read budget with data left (each once; see
    /// `Conn::read_on`): read again in the next turn.
    again: Vec<ConnId>,
    read_buf: Box<[u8]>,
    open: usize,
    /// Batched reads: the period, and the parked connections with the time each is read next.
    read_period: Option<Duration>,
    batch: VecDeque<(Instant, ConnId)>,
}

/// What to do with a connection after processing.
enum Step {
    Keep,
    Free,
    /// Keep; the read budget ran out with data left to read.
    Again,
}

impl<S> Reactor<S> {
    /// A reactor with room for `events_capacity` readiness events per poll.
    pub(crate) fn new(events_capacity: usize) -> io::Result<Reactor<S>> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Reactor {
            poll,
            events: Events::with_capacity(events_capacity.max(16)),
            waker: None,
            core: Core {
                registry,
                slots: Vec::new(),
                free: Vec::new(),
                timers: BinaryHeap::new(),
                pending: Vec::new(),
                again: Vec::new(),
                read_buf: vec![0; READ_BUF_LEN].into_boxed_slice(),
                open: 0,
                read_period: None,
                batch: VecDeque::new(),
            },
        })
    }

    /// A waker that makes a [`Reactor::poll`] in progress (or the next one) return at once,
    /// from any thread.
    pub(crate) fn waker(&mut self) -> io::Result<Arc<mio::Waker>> {
        if let Some(w) = &self.waker {
            return Ok(Arc::clone(w));
        }
        let waker = Arc::new(mio::Waker::new(self.poll.registry(), WAKE)?);
        self.waker = Some(Arc::clone(&waker));
        Ok(waker)
    }

    /// Reads connections that ask for it ([`Flow::Batch`]) once per `period` instead of on
    /// readiness; `None` (or zero) reads every connection on readiness. Applies to connections
    /// that ask from now on.
    pub(crate) fn set_read_period(&mut self, period: Option<Duration>) {
        self.core.read_period = period.filter(|p| !p.is_zero());
    }

    /// Number of connections (opening, open or idle).
    pub(crate) fn len(&self) -> usize {
        self.core.open
    }

    /// Opens a connection to `endpoint` and queues `GET target` on it.
    ///
    /// Never blocks. Connect failures are reported as [`ConnEvent::Failed`] from a later
    /// [`Reactor::poll`]; only an invalid `target` fails here.
    pub(crate) fn open(
        &mut self,
        endpoint: &Arc<Endpoint>,
        target: &str,
        user: S,
    ) -> Result<ConnId> {
        let mut http = Connection::new();
        http.send_get(target, endpoint.host_header())?;
        let id = self.core.alloc(Conn {
            endpoint: Arc::clone(endpoint),
            phase: Phase::Retry {
                addr: 0,
                delay: CONNECT_RETRY_MIN,
            },
            http,
            deadline: None,
            until_head: false,
            retry_at: None,
            read_on: None,
            batch: Batch::Off,
            user,
        });
        self.core.connect(id);
        Ok(id)
    }

    /// Sends `GET target` on an idle connection (after [`ConnEvent::End`] with `reusable`).
    ///
    /// A connection the server has closed since, or written to (a late pipelined response, a
    /// body after a 204 that came in a later packet), is closed instead, and this fails: its
    /// bytes would otherwise be read as the response to `target`. Go's net/http watches idle
    /// connections for the same reason.
    pub(crate) fn send_get(&mut self, id: ConnId, target: &str) -> Result<()> {
        let core = &mut self.core;
        let gone = || Error::new(ErrorKind::Io).context("connection is closed");
        let conn = core.get_mut(id).ok_or_else(gone)?;
        if let Phase::Open(transport) = &mut conn.phase {
            let mut probe = [0u8; 256];
            let stale = loop {
                match transport.read(&mut probe) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    // The end of the stream, an error, or bytes no request asked for.
                    _ => break true,
                }
            };
            if stale {
                core.free(id);
                return Err(gone());
            }
        }
        conn.http.send_get(target, conn.endpoint.host_header())?;
        if let Phase::Open(transport) = &mut conn.phase {
            if let Err(e) = flush(transport, &mut conn.http) {
                conn.phase = Phase::Failed(Some(io_error(e)));
                core.pending.push(id);
            }
        }
        Ok(())
    }

    /// Sets (or clears) the time by which the connection must have finished its exchange;
    /// past it, the connection fails with [`ErrorKind::Timeout`].
    pub(crate) fn set_deadline(&mut self, id: ConnId, deadline: Option<Instant>) {
        if let Some(conn) = self.core.get_mut(id) {
            conn.deadline = deadline;
            if let Some(at) = deadline {
                self.core.timers.push(Reverse((at, id)));
            }
        }
    }

    /// Whether the connection is established and its request written: from then on it no
    /// longer waits in the server's listen backlog. `false` for a closed connection.
    pub(crate) fn is_sent(&self, id: ConnId) -> bool {
        self.core
            .get(id)
            .is_some_and(|c| matches!(c.phase, Phase::Open(_)) && c.http.transmit().is_empty())
    }

    /// Like [`Reactor::set_deadline`], for the response head only: once the head has arrived
    /// the deadline is lifted (a stream then lasts as long as it likes).
    pub(crate) fn set_head_deadline(&mut self, id: ConnId, deadline: Instant) {
        self.set_deadline(id, Some(deadline));
        if let Some(conn) = self.core.get_mut(id) {
            conn.until_head = true;
        }
    }

    /// Reads what the connection's socket holds now (its read side shut first, see
    /// [`Transport::shutdown_read`]), hands it to `handler` as [`Reactor::poll`] does, and
    /// closes the connection; `None` if it was already gone. For a response the caller ends
    /// before the server does (a container's stats stream at its `die` event): the server
    /// completed what is in the socket, and closing without reading it would throw it away.
    /// The end of input is no event here (the caller is ending the exchange), and a
    /// connection still flooding stops after [`READS_PER_TURN`] full reads.
    pub(crate) fn drain_and_close<F>(&mut self, id: ConnId, handler: &mut F) -> Option<S>
    where
        F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
    {
        let core = &mut self.core;
        if let Some(conn) = lookup(&mut core.slots, id) {
            drain(id, conn, &mut core.read_buf, handler);
        }
        core.free(id)
    }

    /// Closes a connection and returns its state; `None` if it was already gone.
    pub(crate) fn close(&mut self, id: ConnId) -> Option<S> {
        self.core.free(id)
    }

    /// Waits up to `timeout` (forever with `None`) for I/O or a timer, then processes
    /// everything that is ready, calling `handler` for each event. A connection with more
    /// than [`READS_PER_TURN`] full reads waiting is read on in the next call, which then
    /// does not wait.
    pub(crate) fn poll<F>(&mut self, timeout: Option<Duration>, handler: &mut F) -> io::Result<()>
    where
        F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
    {
        let mut timeout = timeout;
        if !self.core.pending.is_empty() || !self.core.again.is_empty() {
            timeout = Some(Duration::ZERO);
        }
        let next_timer = self.core.timers.peek().map(|Reverse((at, _))| *at);
        let slack = self.core.batch_slack();
        let next_batch =
            (self.core.batch.front()).map(|(at, _)| at.checked_sub(slack).unwrap_or(*at));
        if let Some(at) = next_timer.into_iter().chain(next_batch).min() {
            let until = at.saturating_duration_since(Instant::now());
            timeout = Some(timeout.map_or(until, |t| t.min(until)));
        }
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        // Connections left with data to read by the previous turn; those that use up their
        // budget again in this turn wait for the next.
        let again = std::mem::take(&mut self.core.again);
        for event in self.events.iter() {
            self.core.ready(event, handler);
        }
        self.core.read_again(again, handler);
        let now = Instant::now();
        self.core.read_batched(now, handler);
        self.core.report_pending(handler);
        self.core.fire_timers(now, handler);
        self.core.report_pending(handler);
        Ok(())
    }
}

impl<S> Core<S> {
    fn alloc(&mut self, conn: Conn<S>) -> ConnId {
        self.open += 1;
        match self.free.pop() {
            Some(index) => {
                let slot = &mut self.slots[index as usize];
                slot.conn = Some(conn);
                ConnId {
                    index,
                    generation: slot.generation,
                }
            }
            None => {
                let index = self.slots.len() as u32;
                self.slots.push(Slot {
                    generation: 0,
                    conn: Some(conn),
                });
                ConnId {
                    index,
                    generation: 0,
                }
            }
        }
    }

    fn get(&self, id: ConnId) -> Option<&Conn<S>> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_ref()
    }

    fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn<S>> {
        lookup(&mut self.slots, id)
    }

    fn free(&mut self, id: ConnId) -> Option<S> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let mut conn = slot.conn.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.open -= 1;
        if let Phase::Open(t) | Phase::Connecting { transport: t, .. } = &mut conn.phase {
            // Closing the socket removes it from epoll anyway; deregistering first keeps mio's
            // bookkeeping exact. Failure here cannot leak anything, so it is ignored.
            let _ = t.deregister(&self.registry);
        }
        Some(conn.user)
    }

    /// Tries to connect `id` (in phase `Retry`): on success registers it and writes the
    /// request; on `EAGAIN` schedules a retry; on failure tries the next address or queues
    /// the failure for reporting.
    fn connect(&mut self, id: ConnId) {
        let token = id.token();
        let Some(conn) = lookup(&mut self.slots, id) else {
            return;
        };
        let Phase::Retry { addr, delay } = conn.phase else {
            return;
        };
        conn.retry_at = None;
        let endpoint = Arc::clone(&conn.endpoint);
        let mut addr = addr;
        let result = loop {
            let attempt = match endpoint.address() {
                Address::Unix(path) => Transport::connect_unix(path),
                Address::Tcp { addrs, host, .. } => match addrs.get(addr) {
                    Some(a) => connect_tcp(&endpoint, *a, host),
                    None => Err(io::Error::from(io::ErrorKind::AddrNotAvailable)),
                },
            };
            match attempt {
                Err(_) if has_next_addr(&endpoint, addr) => addr += 1,
                other => break other,
            }
        };
        let registry = &self.registry;
        let phase = match result {
            Ok(Connect::Done(mut t)) => match t.register(registry, token) {
                Ok(()) => match flush(&mut t, &mut conn.http) {
                    Ok(()) => Phase::Open(t),
                    Err(e) => Phase::Failed(Some(io_error(e))),
                },
                Err(e) => Phase::Failed(Some(Error::io(ErrorKind::Connect, e))),
            },
            Ok(Connect::Pending(mut t)) => match t.register(registry, token) {
                Ok(()) => Phase::Connecting { transport: t, addr },
                Err(e) => Phase::Failed(Some(Error::io(ErrorKind::Connect, e))),
            },
            Ok(Connect::Again) => {
                let at = Instant::now() + delay;
                conn.retry_at = Some(at);
                self.timers.push(Reverse((at, id)));
                Phase::Retry {
                    addr,
                    delay: (delay * 2).min(CONNECT_RETRY_MAX),
                }
            }
            Err(e) => Phase::Failed(Some(connect_error(e))),
        };
        if matches!(phase, Phase::Failed(_)) {
            self.pending.push(id);
        }
        conn.phase = phase;
    }

    /// Handles one readiness event.
    fn ready<F>(&mut self, event: &Event, handler: &mut F)
    where
        F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
    {
        let id = ConnId::from_token(event.token());
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return; // an event for a connection closed earlier in this batch
        }
        let Some(conn) = slot.conn.as_mut() else {
            return;
        };

        if let Phase::Connecting { transport, addr } = &mut conn.phase {
            match transport.finish_connect() {
                Ok(true) => {
                    let Phase::Connecting { transport, .. } =
                        std::mem::replace(&mut conn.phase, Phase::Failed(None))
                    else {
                        return;
                    };
                    conn.phase = Phase::Open(transport);
                }
                Ok(false) => return,
                Err(e) => {
                    let next = *addr + 1;
                    if has_next_addr(&conn.endpoint, *addr) {
                        let _ = transport.deregister(&self.registry);
                        conn.phase = Phase::Retry {
                            addr: next,
                            delay: CONNECT_RETRY_MIN,
                        };
                        self.connect(id);
                    } else {
                        let err = Error::io(ErrorKind::Connect, e);
                        self.fail(id, err, handler);
                    }
                    return;
                }
            }
        }

        let step = match &mut conn.phase {
            Phase::Open(transport) => {
                let mut step = Step::Keep;
                // TLS records held back (the rest of a handshake) go out first.
                let flushed = transport.flush_pending().and_then(|()| {
                    if conn.http.transmit().is_empty() {
                        Ok(())
                    } else {
                        flush(transport, &mut conn.http)
                    }
                });
                if let Err(e) = flushed {
                    step = deliver(id, conn, ConnEvent::Failed(io_error(e)), handler);
                }
                if matches!(step, Step::Keep)
                    && (event.is_readable() || event.is_read_closed() || event.is_error())
                {
                    step = read_all(
                        id,
                        conn,
                        &mut self.read_buf,
                        event.is_read_closed(),
                        handler,
                    );
                }
                step
            }
            _ => Step::Keep,
        };
        self.settle(id, step, event.is_read_closed(), None);
    }

    /// What follows a read: the connection freed, queued to be read on in the next turn
    /// (its budget ran out), or kept, and then parked for batched reads if it asked.
    fn settle(&mut self, id: ConnId, step: Step, read_closed: bool, now: Option<Instant>) {
        if matches!(step, Step::Keep) && self.read_period.is_none() {
            return; // the usual case, once per readiness event
        }
        let Some(conn) = lookup(&mut self.slots, id) else {
            return;
        };
        match step {
            Step::Free => {
                self.free(id);
            }
            Step::Again => read_on(&mut self.again, id, conn, read_closed),
            Step::Keep => {
                let Some(period) = self.read_period else {
                    return;
                };
                match conn.batch {
                    Batch::Off | Batch::Parked { queued: true } => return,
                    Batch::Wanted => {
                        if let Phase::Open(transport) = &mut conn.phase {
                            // If this fails the connection stays in the poll set: read on
                            // readiness as well as on the timer, which loses nothing.
                            let _ = transport.deregister(&self.registry);
                        }
                    }
                    Batch::Parked { queued: false } => {}
                }
                conn.batch = Batch::Parked { queued: true };
                let now = now.unwrap_or_else(Instant::now);
                self.batch.push_back((now + period, id));
            }
        }
    }

    /// How early a parked connection may be read: a hundredth of the period, at most 50 ms.
    fn batch_slack(&self) -> Duration {
        self.read_period
            .map_or(Duration::ZERO, |p| (p / 100).min(Duration::from_millis(50)))
    }

    /// Reads the parked connections whose period is up (see the [module docs](self)).
    fn read_batched<F>(&mut self, now: Instant, handler: &mut F)
    where
        F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
    {
        // Connections due a little later are read now too: one wakeup serves those that came
        // due close together, at most one per slack rather than one per connection.
        let until = now + self.batch_slack();
        while let Some(&(at, id)) = self.batch.front() {
            if at > until {
                break;
            }
            self.batch.pop_front();
            let Some(conn) = lookup(&mut self.slots, id) else {
                continue; // closed since
            };
            conn.batch = Batch::Parked { queued: false };
            let step = match &mut conn.phase {
                Phase::Open(transport) => {
                    // TLS records held back (a reply the session owes) go out first.
                    match transport.flush_pending() {
                        Ok(()) => read_all(id, conn, &mut self.read_buf, false, handler),
                        Err(e) => deliver(id, conn, ConnEvent::Failed(io_error(e)), handler),
                    }
                }
                _ => Step::Keep,
            };
            self.settle(id, step, false, Some(now));
        }
    }

    /// Reads the connections whose read budget ran out in the previous turn.
    fn read_again<F>(&mut self, again: Vec<ConnId>, handler: &mut F)
    where
        F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
    {
        for id in again {
            // Gone since (closed by the handler, failed): its id no longer matches.
            let Some(conn) = lookup(&mut self.slots, id) else {
                continue;
            };
            let Some(read_closed) = conn.read_on.take() else {
                continue;
            };
            let step = read_all(id, conn, &mut self.read_buf, read_closed, handler);
            self.settle(id, step, read_closed, None);
        }
    }

    fn fail<F>(&mut self, id: ConnId, err: Error, handler: &mut F)
    where
        F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
    {
        if let Some(conn) = self.get_mut(id) {
            deliver(id, conn, ConnEvent::Failed(err), handler);
            self.free(id);
        }
    }

    fn report_pending<F>(&mut self, handler: &mut F)
    where
        F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
    {
        while let Some(id) = self.pending.pop() {
            let Some(conn) = self.get_mut(id) else {
                continue;
            };
            if let Phase::Failed(err) = &mut conn.phase {
                let err = err.take().unwrap_or_else(|| Error::new(ErrorKind::Io));
                self.fail(id, err, handler);
            }
        }
    }

    fn fire_timers<F>(&mut self, now: Instant, handler: &mut F)
    where
        F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
    {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(conn) = self.get_mut(id) else {
                continue;
            };
            if conn.deadline.is_some_and(|d| d <= now) {
                self.fail(id, Error::new(ErrorKind::Timeout), handler);
            } else if conn.retry_at.is_some_and(|r| r <= now) {
                self.connect(id);
            }
        }
    }
}

/// Starts a TCP connect to one of the endpoint's addresses, with TLS when it has TLS.
fn connect_tcp(endpoint: &Endpoint, addr: std::net::SocketAddr, host: &str) -> io::Result<Connect> {
    #[cfg(feature = "tls")]
    if let Some(tls) = endpoint.tls() {
        return Transport::connect_tls(addr, tls, host);
    }
    let _ = (endpoint, host);
    Transport::connect_tcp(addr)
}

/// An I/O failure on an open connection: a TLS failure keeps its classified kind.
fn io_error(e: io::Error) -> Error {
    #[cfg(feature = "tls")]
    if let Some(tls) = crate::tls::from_io(&e) {
        return tls;
    }
    Error::io(ErrorKind::Io, e)
}

/// A connect failure as an error: out of file descriptors is its own kind, because the
/// remedy (a higher `ulimit -n`) is not the daemon's.
fn connect_error(e: io::Error) -> Error {
    #[cfg(feature = "tls")]
    if let Some(tls) = crate::tls::from_io(&e) {
        return tls;
    }
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => Error::io(ErrorKind::ResourceLimit, e),
        _ => Error::io(ErrorKind::Connect, e),
    }
}

/// Queues a connection whose read budget ran out to be read on in the next turn (once, however
/// often it ran out in this one).
fn read_on<S>(again: &mut Vec<ConnId>, id: ConnId, conn: &mut Conn<S>, read_closed: bool) {
    match &mut conn.read_on {
        Some(closed) => *closed |= read_closed,
        None => {
            conn.read_on = Some(read_closed);
            again.push(id);
        }
    }
}

fn lookup<S>(slots: &mut [Slot<S>], id: ConnId) -> Option<&mut Conn<S>> {
    let slot = slots.get_mut(id.index as usize)?;
    if slot.generation != id.generation {
        return None;
    }
    slot.conn.as_mut()
}

fn has_next_addr(endpoint: &Endpoint, addr: usize) -> bool {
    matches!(endpoint.address(), Address::Tcp { addrs, .. } if addr + 1 < addrs.len())
}

/// Writes pending request bytes until done or `WouldBlock`.
fn flush(transport: &mut Transport, http: &mut Connection) -> io::Result<()> {
    while !http.transmit().is_empty() {
        match transport.write(http.transmit()) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => http.advance_transmit(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Calls the handler; a failure event always frees the connection.
fn deliver<S, F>(id: ConnId, conn: &mut Conn<S>, event: ConnEvent<'_>, handler: &mut F) -> Step
where
    F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
{
    let terminal = matches!(
        event,
        ConnEvent::Failed(_)
            | ConnEvent::Closed
            | ConnEvent::End { reusable: false }
            | ConnEvent::Excess(_)
    );
    let event = match event {
        ConnEvent::Failed(e) => ConnEvent::Failed(e.context(conn.endpoint.url())),
        other => other,
    };
    let flow = handler(id, &mut conn.user, event);
    if terminal || flow == Flow::Close {
        Step::Free
    } else {
        want_batch(conn, flow);
        Step::Keep
    }
}

/// Reads until the socket is drained, feeding the connection.
fn read_all<S, F>(
    id: ConnId,
    conn: &mut Conn<S>,
    buf: &mut [u8],
    read_closed: bool,
    handler: &mut F,
) -> Step
where
    F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
{
    for _ in 0..READS_PER_TURN {
        let Phase::Open(transport) = &mut conn.phase else {
            return Step::Keep;
        };
        let drain = transport.reads_until_would_block();
        let n = match transport.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Keep,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return deliver(id, conn, ConnEvent::Failed(io_error(e)), handler),
        };
        if n == 0 {
            let unclean = transport.unclean_eof();
            return match conn.http.handle_eof() {
                // A body that ends with the connection is complete only if TLS says so.
                Ok(Some(_)) if unclean => {
                    let e = Error::new(ErrorKind::Tls(crate::error::TlsError::Protocol)).context(
                        "the connection ended without TLS close_notify: the body may be cut short",
                    );
                    deliver(id, conn, ConnEvent::Failed(e), handler)
                }
                Ok(Some(_)) => deliver(id, conn, ConnEvent::End { reusable: false }, handler),
                Ok(None) => deliver(id, conn, ConnEvent::Closed, handler),
                Err(e) => deliver(id, conn, ConnEvent::Failed(e), handler),
            };
        }
        if let Step::Free = feed(id, conn, &buf[..n], handler) {
            return Step::Free;
        }
        if n < buf.len() && !read_closed && !drain {
            return Step::Keep;
        }
    }
    Step::Again
}

/// Reads until the socket is empty (or its end, or an error), feeding the connection; see
/// [`Reactor::drain_and_close`].
fn drain<S, F>(id: ConnId, conn: &mut Conn<S>, buf: &mut [u8], handler: &mut F)
where
    F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
{
    let Phase::Open(transport) = &mut conn.phase else {
        return;
    };
    // A shutdown that fails (the peer is gone already) leaves what was received readable.
    let _ = transport.shutdown_read();
    for _ in 0..READS_PER_TURN {
        let Phase::Open(transport) = &mut conn.phase else {
            return;
        };
        let n = match transport.read(buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if let Step::Free = feed(id, conn, &buf[..n], handler) {
            return;
        }
    }
}

/// Runs received bytes through the connection and hands the events to the handler.
fn feed<S, F>(id: ConnId, conn: &mut Conn<S>, mut input: &[u8], handler: &mut F) -> Step
where
    F: FnMut(ConnId, &mut S, ConnEvent<'_>) -> Flow,
{
    loop {
        let (event, used) = match conn.http.handle_input(input) {
            Ok(r) => r,
            Err(e) => {
                let e = e.context(conn.endpoint.url());
                handler(id, &mut conn.user, ConnEvent::Failed(e));
                return Step::Free;
            }
        };
        input = &input[used..];
        let (event, terminal) = match event {
            conn::ResponseEvent::NeedMore => return Step::Keep,
            conn::ResponseEvent::Head(head) => {
                if conn.until_head {
                    conn.until_head = false;
                    conn.deadline = None;
                }
                (ConnEvent::Head(head), false)
            }
            conn::ResponseEvent::Body(data) => (ConnEvent::Body(data), false),
            conn::ResponseEvent::End => {
                let reusable = conn.http.is_reusable();
                // Bytes after a response the server said it would close with are looked at
                // too: they come as `Excess` before the connection goes.
                (ConnEvent::End { reusable }, !reusable && input.is_empty())
            }
            // The connection is closed now: bytes no request asked for are not read as the
            // response to the next one.
            conn::ResponseEvent::Excess(data) => (ConnEvent::Excess(data), true),
        };
        let flow = handler(id, &mut conn.user, event);
        if flow == Flow::Close || terminal {
            return Step::Free;
        }
        want_batch(conn, flow);
    }
}

/// Notes a handler's [`Flow::Batch`]; the reactor parks the connection after the read.
fn want_batch<S>(conn: &mut Conn<S>, flow: Flow) {
    if flow == Flow::Batch && conn.batch == Batch::Off {
        conn.batch = Batch::Wanted;
    }
}

#[cfg(test)]
mod tests;
