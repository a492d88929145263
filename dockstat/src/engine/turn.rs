//! The engine: every container of one or more Docker daemons, one stats stream each, on one
//! reactor thread.
//!
//! This file is the turn that drives the sans-io parts: it owns the [`Reactor`] (the only
//! code with sockets) and is the only code of the engine that reads the clock. Each turn
//! reads the clock, waits for I/O or the next timer, hands what each connection delivered to
//! its owner — a host's [`discovery`](super::discovery) or a container's
//! [`stream`](super::stream) (frames go through [`StatsStream`](crate::stats::StatsStream)) —
//! and then does what those parts asked for: open and close connections, add and remove
//! streams, schedule reconnects ([`backoff`](super::backoff)), admit waiting streams, run the
//! staleness watchdog.
//!
//! With the cgroupfs source ([`cgroupfs`](super::cgroupfs)), a container's slot asks for its
//! inspect instead of (or before) its stats, and its numbers come from the source's pass, a
//! timer of this turn; `turn/local.rs` has the turn's side of it, and `turn/hosts.rs` the
//! turn's side of each host's discovery.
//!
//! Per stream, the engine keeps a few hundred bytes (the container's id and name, the
//! connection state) and, only while a frame is split across reads, that frame's start; the
//! read buffer is shared by all streams, and a frame is decoded where it was read.
//!
//! The handler runs on the engine's thread: a slow handler delays every stream. Callers that
//! do real work per sample use [`spawn`](super::spawn), which decouples the two with a bounded
//! queue that drops the oldest updates (and counts them) rather than block the engine.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::backoff::Backoff;
use super::cgroupfs::Local;
use super::config::{EngineConfig, Mode, Selection};
use super::discovery::{Change, EVENTS_PATH, Host, HostConn, HostPhase, HostStep};
use super::event::{Container, Control, Counters, Event, Gone, HostState};
use super::histogram::EngineMetrics;
use super::reactor::{ConnEvent, ConnId, Flow, Reactor};
use super::stream::{Admission, Admit, FdGate, Stream, StreamState, Watchdog};
use crate::error::{Error, ErrorKind, ProtocolError, Result};
use crate::stats::FrameDecoder;
use crate::sys::FileLimit;

/// Stops an [`Engine`] from any thread.
#[derive(Clone, Debug)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
}

impl StopHandle {
    /// Makes [`Engine::run`] return soon (at its next turn).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // A failed wake only delays the stop to the engine's next timer.
        let _ = self.waker.wake();
    }
}

/// Who owns a reactor connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Host(u32, HostConn),
    Stream(u32),
    /// The container's inspect, before its cgroup is read or its stream opened.
    Inspect(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Reconnect stream `slot` if it is still at `generation`.
    Stream { slot: u32, generation: u32 },
    /// Restart host discovery.
    Host(u32),
    /// Only wakes the engine, to open queued streams.
    Pump,
    /// The cgroupfs source's pass over every reader.
    Pass,
}

/// What a stream's connection asked of the engine during a turn.
#[derive(Clone, Copy, Debug)]
enum StreamStep {
    Gone(Gone),
    Retry,
    /// Its connect found no free file descriptor: back to the queue, without an error of
    /// its own (the shortage is reported once, for all streams waiting).
    NoDescriptor,
}

/// The engine. See the [module docs](super).
#[derive(Debug)]
pub struct Engine {
    reactor: Reactor<Owner>,
    core: Core,
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
}

/// Everything but the reactor, so that the reactor's handler can borrow it whole.
#[derive(Debug)]
struct Core {
    config: EngineConfig,
    hosts: Vec<Host>,
    streams: Vec<Option<Stream>>,
    free: Vec<u32>,
    queued: VecDeque<u32>,
    /// Streams whose connection is being established (counted against `max_connecting`).
    establishing: Vec<(u32, ConnId)>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// What stream connections asked for during the turn, done after it.
    steps: Vec<(u32, StreamStep)>,
    decoder: FrameDecoder,
    /// The cgroupfs source: inspects, readers, passes.
    local: Local,
    counters: Counters,
    metrics: EngineMetrics,
    fds: FdGate,
    admission: Admission,
    backoff: Backoff,
    next_sweep: Instant,
    /// Discovery has begun (at the first poll).
    started: bool,
    /// Containers given to [`Engine::watch`], added once their host's API version is known.
    to_watch: Vec<(usize, String)>,
    /// This turn's time, read at the first event that needs it: one clock read per turn.
    turn: Option<Instant>,
    /// The wall clock (ns since the epoch) at `turn`, read at the turn's first frame.
    wall: Option<i64>,
    /// When the last frame of this turn was delivered (one clock read per frame).
    last_frame_end: Option<Instant>,
}

type Emit<'e> = dyn FnMut(Event<'_>) + 'e;

mod hosts;
mod local;

impl Engine {
    /// An engine for `config`. Raises the open-files limit; nothing is connected until the
    /// first [`Engine::poll`].
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let mut reactor = Reactor::new(4096).map_err(|e| Error::io(ErrorKind::Io, e))?;
        if config.mode == Mode::Stream {
            reactor.set_read_period(Some(config.read_period));
        }
        let waker = reactor.waker().map_err(|e| Error::io(ErrorKind::Io, e))?;
        let files = FileLimit::raise().unwrap_or(FileLimit {
            soft: 1024,
            hard: 1024,
        });
        let hosts = (config.hosts.iter())
            .map(|e| Host::new(e.clone(), config.api_version))
            .collect();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        let core = Core {
            hosts,
            streams: Vec::new(),
            free: Vec::new(),
            queued: VecDeque::new(),
            establishing: Vec::new(),
            timers: BinaryHeap::new(),
            steps: Vec::new(),
            decoder: FrameDecoder::new(),
            local: {
                let mut local = Local::new(&config);
                local.set_file_limit(files.soft);
                local
            },
            counters: Counters::default(),
            metrics: EngineMetrics::default(),
            fds: FdGate::new(files),
            admission: Admission::new(config.max_streams),
            backoff: Backoff::new(config.reconnect_min, config.reconnect_max, seed),
            next_sweep: Instant::now(),
            started: false,
            to_watch: Vec::new(),
            turn: None,
            wall: None,
            last_frame_end: None,
            config,
        };
        Ok(Engine {
            reactor,
            core,
            stop: Arc::new(AtomicBool::new(false)),
            waker,
        })
    }

    /// A handle that stops the engine from any thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stop: Arc::clone(&self.stop),
            waker: Arc::clone(&self.waker),
        }
    }

    /// The open-files limit in force.
    pub fn file_limit(&self) -> FileLimit {
        self.core.fds.files
    }

    /// The engine's counters.
    pub fn counters(&self) -> Counters {
        let mut c = self.core.counters;
        c.streams = self.core.admission.active;
        c.open = 0;
        c.connecting = 0;
        c.reconnecting = 0;
        c.stale = 0;
        for s in self.core.streams.iter().flatten() {
            match s.state {
                StreamState::Streaming => c.open += 1,
                StreamState::Opening | StreamState::Queued => c.connecting += 1,
                StreamState::Backoff => c.reconnecting += 1,
                StreamState::Capped => c.capped += 1,
            }
            c.stale += usize::from(s.stale);
        }
        c
    }

    /// Each host's state, by its index in [`EngineConfig::hosts`]: up or down, its errors,
    /// reconnects and containers. Walks every stream once, as [`Engine::counters`] does.
    pub fn host_states(&self) -> Vec<HostState> {
        let now = SystemTime::now();
        let mut states: Vec<HostState> = (self.core.hosts.iter())
            .map(|h| HostState {
                up: h.up,
                errors: h.errors,
                reconnects: h.reconnects,
                containers: 0,
                last_up: if h.up { Some(now) } else { h.down_at },
                cpus: h.info.cpus(),
            })
            .collect();
        for s in self.core.streams.iter().flatten() {
            if s.state != StreamState::Capped {
                if let Some(state) = states.get_mut(s.container.host) {
                    state.containers += 1;
                }
            }
        }
        states
    }

    /// The engine's timing histograms: per-frame processing time and daemon-to-delivery lag.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.core.metrics
    }

    /// The containers watched now (not those waiting beyond [`EngineConfig::max_streams`]).
    pub fn containers(&self) -> impl Iterator<Item = &Container> {
        (self.core.streams.iter().flatten())
            .filter(|s| s.state != StreamState::Capped)
            .map(|s| &s.container)
    }

    /// Bytes held for what has not arrived whole yet: each stream's unfinished frame (at most
    /// [`EngineConfig::max_frame_len`]) and error body, each host's listing or unfinished
    /// event. The shared read buffer is not counted. For checking that memory stays bounded.
    pub fn buffered_bytes(&self) -> usize {
        let streams: usize = (self.core.streams.iter().flatten())
            .map(|s| s.pipeline.pending() + s.error_body.len())
            .sum();
        let hosts: usize = self.core.hosts.iter().map(Host::buffered_bytes).sum();
        streams + hosts
    }

    /// Whether a one-sample engine ([`Mode::Once`], [`Mode::OneShot`]) has finished: every
    /// host listed and every stream answered.
    pub fn is_done(&self) -> bool {
        self.core.config.mode != Mode::Stream
            && self.core.started
            && self.core.hosts.iter().all(|h| h.phase == HostPhase::Fixed)
            && self.core.streams.iter().all(Option::is_none)
    }

    /// Streams this container (a name, id or id prefix) of host `host` (an index into
    /// [`EngineConfig::hosts`]) from the next poll on, whatever the selection, as
    /// [`Selection::Named`] does: it is not followed through `/events`, and a 404 is reported
    /// as an error before it is [`Gone::Removed`]. Watching a container twice streams it
    /// twice.
    pub fn watch(&mut self, host: usize, container: &str) {
        self.core.to_watch.push((host, container.to_string()));
    }

    /// Whether the stop handle was used.
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Runs until the handler returns [`Control::Stop`], the stop handle is used, or (for the
    /// one-sample modes) every container has answered.
    pub fn run<F>(&mut self, handler: &mut F) -> Result<()>
    where
        F: FnMut(Event<'_>) -> Control,
    {
        while !self.is_stopped() && !self.is_done() {
            self.poll(None, handler)?;
        }
        Ok(())
    }

    /// One turn: waits for I/O or the next timer (at most `timeout`) and delivers what
    /// happened.
    pub fn poll<F>(&mut self, timeout: Option<Duration>, handler: &mut F) -> Result<()>
    where
        F: FnMut(Event<'_>) -> Control,
    {
        let mut control = Control::Continue;
        let mut emit = |event: Event<'_>| {
            if handler(event) == Control::Stop {
                control = Control::Stop;
            }
        };
        let Engine { reactor, core, .. } = self;
        let now = Instant::now();
        if !core.started {
            core.started = true;
            for h in 0..core.hosts.len() {
                core.start_host(reactor, h as u32, now, &mut emit);
            }
        }
        if !core.to_watch.is_empty() {
            core.add_watched(now, &mut emit);
        }
        let wait = core.wait(now, timeout);
        core.turn = None;
        core.wall = None;
        core.last_frame_end = None;
        reactor
            .poll(wait, &mut |_, owner, event| {
                core.on_conn(*owner, event, &mut emit)
            })
            .map_err(|e| Error::io(ErrorKind::Io, e))?;
        // Timers and the watchdog judge by the time the turn's events came; what is scheduled
        // from now on (deadlines, backoffs) starts from a fresh reading, since a long turn
        // (many frames, a slow handler) would otherwise shorten it.
        let turn = core.turn.unwrap_or_else(Instant::now);
        let now = Instant::now();
        core.after_turn(reactor, now, &mut emit);
        core.fire_timers(reactor, turn, &mut emit);
        core.sweep(reactor, turn, &mut emit);
        core.pump(reactor, now, &mut emit);
        if control == Control::Stop {
            self.stop.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl Core {
    /// How long the turn may wait: until the watchdog's next sweep (streams only), the next
    /// timer, or the caller's timeout.
    fn wait(&self, now: Instant, timeout: Option<Duration>) -> Option<Duration> {
        let sweep = (self.config.mode == Mode::Stream).then_some(self.next_sweep);
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        [sweep, timer]
            .into_iter()
            .flatten()
            .map(|at| at.saturating_duration_since(now))
            .chain(timeout)
            .min()
    }

    fn add_watched(&mut self, now: Instant, emit: &mut Emit<'_>) {
        let mut waiting = std::mem::take(&mut self.to_watch);
        waiting.retain(|(host, name)| match self.hosts.get(*host) {
            Some(h) if h.api.is_some() => {
                self.add_stream(Container::named(*host, name.clone()), true, now, emit);
                false
            }
            Some(_) => true,
            None => {
                let error = Error::new(ErrorKind::InvalidEndpoint)
                    .context(format!("no host {host} for container {name}"));
                emit(Event::Error {
                    host: *host,
                    container: None,
                    error: &error,
                });
                false
            }
        });
        self.to_watch.append(&mut waiting);
    }

    // ---- hosts -------------------------------------------------------------------------

    /// Opens a discovery connection with the head deadline every request gets.
    fn open(
        &self,
        reactor: &mut Reactor<Owner>,
        h: u32,
        target: &str,
        owner: Owner,
        now: Instant,
    ) -> Result<ConnId> {
        let id = reactor.open(&self.hosts[h as usize].endpoint, target, owner)?;
        reactor.set_head_deadline(id, now + self.config.connect_timeout);
        Ok(id)
    }

    // ---- streams -----------------------------------------------------------------------

    fn add_stream(
        &mut self,
        mut container: Container,
        named: bool,
        now: Instant,
        emit: &mut Emit<'_>,
    ) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.streams.push(None);
                (self.streams.len() - 1) as u32
            }
        };
        container.key = slot;
        if !named {
            self.hosts[container.host].track(&container.id, slot);
        }
        let generation = self.backoff.generation(slot);
        let admit = self.admission.add(slot);
        let capped = admit != Admit::Watched;
        let stream = Stream::new(container, named, generation, capped, now);
        if let Admit::Capped { report } = admit {
            let host = stream.container.host;
            self.streams[slot as usize] = Some(stream);
            if report {
                let error = self.admission.error();
                emit(Event::Error {
                    host,
                    container: None,
                    error: &error,
                });
            }
            return;
        }
        emit(Event::Added(&stream.container));
        self.streams[slot as usize] = Some(stream);
        self.queued.push_back(slot);
    }

    /// A watched stream went: the first capped containers (if any) take its place.
    fn admit_capped(&mut self, emit: &mut Emit<'_>) {
        while let Some(slot) = self.admission.next_waiting() {
            let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
                continue;
            };
            if stream.state != StreamState::Capped {
                continue;
            }
            stream.state = StreamState::Queued;
            self.admission.admitted();
            emit(Event::Added(&stream.container));
            self.queued.push_back(slot);
        }
    }

    fn remove_stream(
        &mut self,
        reactor: &mut Reactor<Owner>,
        slot: u32,
        why: Gone,
        emit: &mut Emit<'_>,
    ) {
        let Some(Some(stream)) = self.streams.get(slot as usize) else {
            return;
        };
        if let Some(conn) = stream.conn {
            // The daemon wrote the container's last frames before (or just after) the event
            // that ends the stream, and counted them as sent: they are delivered before it
            // goes, not closed away in its socket. What the stream would ask for meanwhile
            // (an end, a retry) is moot once it is gone.
            // Frames only: what the last bytes say about the stream itself (a cut frame, a
            // reset) is no news about a container that is going, and is not reported.
            let mark = self.steps.len();
            let mut frames_only = |event: Event<'_>| {
                if !matches!(event, Event::Error { .. }) {
                    emit(event);
                }
            };
            reactor.drain_and_close(conn, &mut |_, owner, event| {
                self.on_conn(*owner, event, &mut frames_only)
            });
            let asked = self.steps.split_off(mark);
            (self.steps).extend(asked.into_iter().filter(|&(s, _)| s != slot));
        }
        let Some(stream) = self.streams.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.local.remove(slot);
        if let Some(host) = self.hosts.get_mut(stream.container.host) {
            host.untrack(&stream.container.id, slot);
        }
        self.free.push(slot);
        if stream.state == StreamState::Capped {
            // Never reported as added: it goes as quietly as it came.
            return;
        }
        self.admission.remove();
        emit(Event::Gone {
            container: &stream.container,
            why,
        });
        self.admit_capped(emit);
    }

    /// Opens queued streams while fewer than `max_connecting` connections are being
    /// established and the open-files limit leaves descriptors for them. O(1) when nothing
    /// is queued, which is every turn of an engine in its steady state.
    fn pump(&mut self, reactor: &mut Reactor<Owner>, now: Instant, emit: &mut Emit<'_>) {
        if self.queued.is_empty() {
            self.counters.waiting_for_fds = 0;
            self.fds.shortage(0);
            return;
        }
        // A connection stops counting once its request is written: it has left the
        // daemon's listen backlog (the response head may take a second, until the first
        // frame).
        let streams = &self.streams;
        self.establishing.retain(|&(slot, conn)| {
            matches!(streams.get(slot as usize), Some(Some(s)) if s.conn == Some(conn))
                && !reactor.is_sent(conn)
        });
        let mut opening = self.establishing.len();
        let mut in_use = reactor.len();
        let capacity = self.fds.capacity(now);
        let waiting = (self.queued.iter())
            .filter(|&&slot| matches!(self.streams.get(slot as usize), Some(Some(s)) if s.state == StreamState::Queued))
            .count();
        self.counters.waiting_for_fds = waiting.saturating_sub(capacity.saturating_sub(in_use));
        if let Some(error) = self.fds.shortage(self.counters.waiting_for_fds) {
            // Keep what is open, say why the rest waits, and open it as descriptors free up.
            emit(Event::Error {
                host: 0,
                container: None,
                error: &error,
            });
        }
        while opening < self.config.max_connecting && in_use < capacity {
            let Some(slot) = self.queued.pop_front() else {
                break;
            };
            let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
                continue;
            };
            if stream.state != StreamState::Queued {
                continue;
            }
            let host = &self.hosts[stream.container.host];
            let Some(api) = host.api else {
                continue;
            };
            let (query, owner) = match self.config.mode {
                _ if self.local.wants_inspect(stream) => ("json", Owner::Inspect(slot)),
                Mode::Stream => ("stats?stream=1", Owner::Stream(slot)),
                Mode::Once => ("stats?stream=0", Owner::Stream(slot)),
                Mode::OneShot => ("stats?stream=0&one-shot=1", Owner::Stream(slot)),
            };
            let id = crate::http::encode_segment(&stream.container.id);
            let target = api.path(&format!("/containers/{id}/{query}"));
            match reactor.open(&host.endpoint, &target, owner) {
                Ok(conn) => {
                    reactor.set_head_deadline(conn, now + self.config.connect_timeout);
                    stream.opened(Some(conn), self.config.max_frame_len, now);
                    stream.pipeline.set_host_cpus(host.info.cpus());
                    self.establishing.push((slot, conn));
                    opening += 1;
                    in_use += 1;
                }
                // Only an invalid target fails here: the container cannot be asked for.
                Err(_) => stream.state = StreamState::Backoff,
            }
        }
    }

    /// Does what the turn's connections asked for.
    fn after_turn(&mut self, reactor: &mut Reactor<Owner>, now: Instant, emit: &mut Emit<'_>) {
        for h in 0..self.hosts.len() as u32 {
            while let Some(step) = self.hosts[h as usize].poll_step() {
                match step {
                    HostStep::Negotiated(api) => {
                        self.hosts[h as usize].api = Some(api);
                        self.discover(reactor, h, now, emit);
                    }
                    HostStep::Subscribed => {
                        self.hosts[h as usize].phase = HostPhase::Listing;
                        if let Err(e) = self.open_list(reactor, h, now) {
                            self.host_failed(reactor, h, e, now, emit);
                        }
                    }
                    HostStep::Listed(body) if self.hosts[h as usize].is_listing() => {
                        self.apply_list(reactor, h, body, now, emit);
                    }
                    // The host failed after its listing arrived: it lists again anyway.
                    HostStep::Listed(_) => {}
                    HostStep::Event(event) if self.hosts[h as usize].holds_events() => {
                        if !self.hosts[h as usize].hold(event) {
                            let e = Error::new(ErrorKind::Protocol(ProtocolError::BodyTooLarge))
                                .context("too many events while the container list was on its way");
                            self.host_failed(reactor, h, e, now, emit);
                        }
                    }
                    HostStep::Event(event) => self.apply_event(reactor, h, event, now, emit),
                    HostStep::Cpus(cpus) => super::info::give(&mut self.streams, h as usize, cpus),
                    HostStep::Failed(error) => self.host_failed(reactor, h, error, now, emit),
                }
            }
        }
        for (slot, result) in self.local.take_inspected() {
            self.inspected(slot, result, now, emit);
        }
        self.apply_steps(reactor, now, emit);
    }

    /// Does what streams asked for.
    fn apply_steps(&mut self, reactor: &mut Reactor<Owner>, now: Instant, emit: &mut Emit<'_>) {
        let steps = std::mem::take(&mut self.steps);
        for &(slot, step) in &steps {
            match step {
                StreamStep::Gone(why) => self.remove_stream(reactor, slot, why, emit),
                StreamStep::NoDescriptor => {
                    let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
                        continue;
                    };
                    stream.state = StreamState::Queued;
                    self.queued.push_front(slot);
                    let until = self.fds.exhausted(reactor.len(), now);
                    self.timers.push(Reverse((until, Timer::Pump)));
                }
                StreamStep::Retry => self.retry(slot, now),
            }
        }
        self.steps = steps;
        self.steps.clear();
    }

    fn retry(&mut self, slot: u32, now: Instant) {
        let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
            return;
        };
        self.local.remove(slot);
        let delay = self.backoff.delay(stream.attempts);
        stream.back_off();
        let generation = stream.generation;
        self.timers
            .push(Reverse((now + delay, Timer::Stream { slot, generation })));
    }

    fn fire_timers(&mut self, reactor: &mut Reactor<Owner>, now: Instant, emit: &mut Emit<'_>) {
        while let Some(&Reverse((at, timer))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::Stream { slot, generation } => {
                    if let Some(Some(s)) = self.streams.get_mut(slot as usize) {
                        if s.generation == generation && s.state == StreamState::Backoff {
                            s.state = StreamState::Queued;
                            self.counters.reconnects += 1;
                            if let Some(host) = self.hosts.get_mut(s.container.host) {
                                host.reconnects += 1;
                            }
                            self.queued.push_back(slot);
                        }
                    }
                }
                Timer::Host(h) => {
                    if self.hosts[h as usize].phase == HostPhase::Backoff {
                        self.hosts[h as usize].reconnects += 1;
                        self.start_host(reactor, h, now, emit);
                    }
                }
                Timer::Pump => {}
                Timer::Pass => self.pass(reactor, now, emit),
            }
        }
    }

    /// The staleness watchdog, twice per `stale_after` at most (once per read period with one).
    fn sweep(&mut self, reactor: &mut Reactor<Owner>, now: Instant, emit: &mut Emit<'_>) {
        if now < self.next_sweep || self.config.mode != Mode::Stream {
            return;
        }
        // With a read period, frames come once per period anyway: sweeping once per period
        // (not each second) reports staleness at most a period late, for a pass over every
        // stream that many times less often.
        let every = (self.config.stale_after / 2)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
            .max(self.config.read_period);
        self.next_sweep = now + every;
        let mut given_up = Vec::new();
        for (slot, s) in self.streams.iter_mut().enumerate() {
            let Some(s) = s else { continue };
            // With batched reads a stream delivers once per period: silence up to the
            // period is their nature, and staleness counts from its end.
            let quiet = self.config.stale_after + self.config.read_period + self.local.slack();
            match s.watchdog(now, quiet) {
                Watchdog::Quiet => {}
                Watchdog::Stale => emit(Event::Stale(&s.container)),
                Watchdog::GiveUp { silent } => {
                    if let Some(conn) = s.conn.take() {
                        reactor.close(conn);
                    }
                    self.counters.stream_errors += 1;
                    if let Some(host) = self.hosts.get_mut(s.container.host) {
                        host.errors += 1;
                    }
                    let error = Error::new(ErrorKind::Timeout).context(format!(
                        "no stats frame for {:.1}s: reconnecting",
                        silent.as_secs_f64()
                    ));
                    emit(Event::Error {
                        host: s.container.host,
                        container: Some(&s.container),
                        error: &error,
                    });
                    given_up.push(slot as u32);
                }
            }
        }
        for slot in given_up {
            self.retry(slot, now);
        }
    }

    // ---- what connections deliver ------------------------------------------------------

    fn on_conn(&mut self, owner: Owner, event: ConnEvent<'_>, emit: &mut Emit<'_>) -> Flow {
        match owner {
            Owner::Stream(slot) => self.on_stream(slot, event, emit),
            Owner::Inspect(slot) => self.on_inspect(slot, event),
            Owner::Host(h, conn) => match self.hosts.get_mut(h as usize) {
                Some(host) => host.handle(conn, event),
                None => Flow::Close,
            },
        }
    }

    /// This turn's time: the clock is read at the first event that needs it.
    fn turn_now(&mut self) -> Instant {
        *self.turn.get_or_insert_with(Instant::now)
    }

    fn on_stream(&mut self, slot: u32, event: ConnEvent<'_>, emit: &mut Emit<'_>) -> Flow {
        let now = self.turn_now();
        let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
            return Flow::Close;
        };
        match event {
            ConnEvent::Head(head) => {
                stream.on_head(head.code, head.header("ostype"), now);
                Flow::Continue
            }
            ConnEvent::Body(data) if stream.status >= 400 => {
                stream.keep_error_body(data);
                Flow::Continue
            }
            ConnEvent::Body(data) => {
                self.counters.bytes += data.len() as u64;
                let mut last = self.last_frame_end.unwrap_or(now);
                let mut frames = 0u64;
                let mut failure = None;
                let (metrics, wall) = (&mut self.metrics, &mut self.wall);
                let mut samples = stream.pipeline.push(data, &mut self.decoder);
                while let Some(next) = samples.next() {
                    // Borrowed where it lies: a sample is a few hundred bytes, not to be moved.
                    let decoded = match &next {
                        Ok(decoded) => decoded,
                        Err(_) => {
                            failure = next.err();
                            break;
                        }
                    };
                    frames += 1;
                    emit(Event::Sample {
                        container: &stream.container,
                        sample: &decoded.sample,
                        derived: &decoded.derived,
                    });
                    // One clock read per frame, a few integer operations per histogram; the
                    // wall clock is read once per turn.
                    let end = Instant::now();
                    metrics
                        .frame_time
                        .record(end.saturating_duration_since(last).as_nanos() as u64);
                    last = end;
                    if !decoded.sample.read.is_zero() {
                        let at = *wall.get_or_insert_with(wall_nanos)
                            + end.saturating_duration_since(now).as_nanos() as i64;
                        let lag = at.saturating_sub(decoded.sample.read.unix_nanos());
                        metrics.lag.record(lag.max(0) as u64);
                    }
                }
                drop(samples);
                if frames > 0 {
                    self.last_frame_end = Some(last);
                    self.counters.frames += frames;
                    stream.on_frames(now);
                }
                match failure {
                    Some(error) => {
                        if let ErrorKind::Decode(kind) = error.kind() {
                            self.counters.decode_errors += 1;
                            self.counters.decode_errors_by_kind.add(kind);
                        }
                        self.stream_failed(slot, error, emit)
                    }
                    // Once a stream has delivered, its frames can wait in its socket for the
                    // read period (the reactor ignores this without one). Not before: the
                    // first sample shows the container at once, and an error body is read
                    // as it comes.
                    None if frames > 0 => Flow::Batch,
                    None => Flow::Continue,
                }
            }
            ConnEvent::End { .. } | ConnEvent::Closed => {
                let status = stream.status;
                if status == 404 {
                    // Asked for by name: say so, as `docker stats nosuch` does. Discovered:
                    // it went between the listing and the request, which is no error.
                    if stream.named {
                        self.counters.stream_errors += 1;
                        if let Some(host) = self.hosts.get_mut(stream.container.host) {
                            host.errors += 1;
                        }
                        let url = (self.hosts.get(stream.container.host))
                            .map_or("", |h| h.endpoint.url());
                        let target = format!("/containers/{}/stats", stream.container.id);
                        let e =
                            crate::error::status_error(404, true, &stream.error_body, url, &target);
                        emit(Event::Error {
                            host: stream.container.host,
                            container: Some(&stream.container),
                            error: &e,
                        });
                    }
                    self.steps.push((slot, StreamStep::Gone(Gone::Removed)));
                    return Flow::Close;
                }
                if status >= 400 || status == 0 {
                    let e = if status == 0 {
                        Error::new(ErrorKind::EmptyReply)
                    } else {
                        // The host answered its discovery as a daemon does.
                        let url = (self.hosts.get(stream.container.host))
                            .map_or("", |h| h.endpoint.url());
                        let target = format!("/containers/{}/stats", stream.container.id);
                        crate::error::status_error(status, true, &stream.error_body, url, &target)
                    };
                    return self.stream_failed(slot, e, emit);
                }
                // A body that ended cleanly: a last frame without its newline counts.
                let mut end = stream.pipeline.finish(&mut self.decoder);
                while let Some(next) = end.next() {
                    match next {
                        Ok(decoded) => emit(Event::Sample {
                            container: &stream.container,
                            sample: &decoded.sample,
                            derived: &decoded.derived,
                        }),
                        Err(error) => {
                            if let Some(host) = self.hosts.get_mut(stream.container.host) {
                                host.errors += 1;
                            }
                            emit(Event::Error {
                                host: stream.container.host,
                                container: Some(&stream.container),
                                error: &error,
                            })
                        }
                    }
                }
                stream.conn = None;
                let why = if self.config.mode == Mode::Stream {
                    // The zero-length chunk after `docker rm`.
                    Gone::Removed
                } else {
                    Gone::Done
                };
                self.steps.push((slot, StreamStep::Gone(why)));
                Flow::Close
            }
            // Only after `End`, which closed the connection and ended the stream as usual.
            ConnEvent::Excess(_) => Flow::Close,
            ConnEvent::Failed(e) => self.stream_failed(slot, e, emit),
        }
    }

    /// Reports a stream's failure and schedules what follows: a retry when streaming, the end
    /// for the one-sample modes.
    fn stream_failed(&mut self, slot: u32, error: Error, emit: &mut Emit<'_>) -> Flow {
        let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
            return Flow::Close;
        };
        stream.conn = None;
        if error.kind() == ErrorKind::ResourceLimit {
            // Out of descriptors is the process's state, not this stream's: it waits in the
            // queue, and the engine opens no more than it has until some time has passed.
            self.counters.fd_exhausted += 1;
            self.steps.push((slot, StreamStep::NoDescriptor));
            return Flow::Close;
        }
        self.counters.stream_errors += 1;
        if let Some(host) = self.hosts.get_mut(stream.container.host) {
            host.errors += 1;
        }
        emit(Event::Error {
            host: stream.container.host,
            container: Some(&stream.container),
            error: &error,
        });
        let step = if self.config.mode == Mode::Stream {
            StreamStep::Retry
        } else {
            StreamStep::Gone(Gone::Done)
        };
        self.steps.push((slot, step));
        Flow::Close
    }
}

/// The wall clock in nanoseconds since the Unix epoch.
fn wall_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
