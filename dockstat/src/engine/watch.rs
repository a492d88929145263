//! The engine: every container of one or more Docker daemons, one stats stream each, on one
//! reactor thread.
//!
//! For each host, discovery subscribes to `/events` (containers only) *before* listing
//! `/containers/json`, so that no start or stop falls between the two: events that arrive
//! while the list is on its way are kept and applied after it. From then on a `start` (and a
//! `create`, with [`Selection::All`]) adds a stream, a `die` removes it (only `destroy` does,
//! with `All`), and a stream the daemon ends cleanly (the zero-length chunk after `docker rm`)
//! is gone. If `/events` fails, the host is listed again after a backoff and the streams are
//! reconciled with the list.
//!
//! Each stream reads frames, decodes them and runs the `docker stats` math without allocating;
//! the caller's handler gets each [`Sample`] borrowed from its frame, plus lifecycle events
//! ([`Event`]). A stream that fails reports the typed error and reconnects after a capped
//! exponential backoff with jitter; a 404 means the container is gone. A watchdog reports a
//! stream that has had no frame for [`EngineConfig::stale_after`] (once; the next frame ends
//! it), and reconnects one still silent after as long again (an [`ErrorKind::Timeout`]
//! error): a stalled connection would otherwise hold its stream forever. At most [`EngineConfig::max_connecting`] connections are being opened at once, so
//! that 10,000 streams start without overrunning the daemon's listen backlog (connects that
//! still get `EAGAIN` are retried by the reactor). The soft open-files limit is raised to the
//! hard one at start; a stream that still finds no descriptor reports
//! [`ErrorKind::ResourceLimit`] naming the limit, and retries.
//!
//! Per stream, the engine keeps a few hundred bytes (the container's id and name, the
//! connection state) and, only while a frame is split across reads, that frame's start; the
//! read buffer is shared by all streams, and a frame is decoded where it was read.
//!
//! The handler runs on the engine's thread: a slow handler delays every stream. Callers that
//! do real work per sample use [`super::queue::spawn`], which decouples the two with a bounded queue
//! that drops the oldest updates (and counts them) rather than block the engine.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::endpoint::Endpoint;
use super::histogram::{DecodeErrorCounts, EngineMetrics};
use super::reactor::{ConnEvent, ConnId, Flow, Reactor};
use super::version::ApiVersion;
use crate::api;
use crate::error::{Error, ErrorKind, ProtocolError, Result};
use crate::stats::{Derived, FrameDecoder, FrameSplitter, Platform, Sample, derive};
use crate::sys::FileLimit;

/// Which containers to watch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Running containers, following starts and stops (`docker stats`).
    Running,
    /// All containers, stopped ones included, following creation and removal
    /// (`docker stats -a`).
    All,
    /// These containers (names, ids or id prefixes), without following events
    /// (`docker stats NAME…`).
    Named(Vec<String>),
}

/// How samples are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A stream, about one frame per second per container (`stream=true`).
    Stream,
    /// One sample per container, with a previous reading (`stream=false`; the daemon takes
    /// about a second to answer). The engine finishes when every container has answered.
    Once,
    /// One sample per container at once, without a previous reading (`one-shot=true`).
    OneShot,
}

/// What the engine watches and how. [`EngineConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The daemons: every one gets its own discovery and streams on the same reactor.
    pub hosts: Vec<Endpoint>,
    /// The API version to use; `None` negotiates with each host's `/_ping`.
    pub api_version: Option<ApiVersion>,
    pub selection: Selection,
    pub mode: Mode,
    /// A stream without a frame for this long is reported stale; after twice this long its
    /// connection is given up on and it reconnects ([`Mode::Stream`] only).
    pub stale_after: Duration,
    /// How many connections may be being established (connect sent, request not yet
    /// written) at once.
    pub max_connecting: usize,
    /// First reconnect delay; it doubles per failed attempt, up to `reconnect_max`, and each
    /// delay is multiplied by a random factor in [0.5, 1.5) so that streams that failed
    /// together do not come back together.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Longest frame accepted.
    pub max_frame_len: usize,
    /// Time allowed for a connection to deliver its response head.
    pub connect_timeout: Duration,
    /// Most containers streamed at once. Containers found beyond it wait, unreported
    /// (no [`Event::Added`]), in the order they were found, and take the place of watched
    /// ones that go; [`Counters::capped`] counts them, and one [`Event::Error`] of kind
    /// [`ErrorKind::StreamLimit`] says so when capping begins. In the one-sample modes
    /// this bounds how many samples are being taken at once.
    pub max_streams: usize,
}

impl EngineConfig {
    /// Running containers of one host, streamed, with the default limits.
    pub fn new(endpoint: Endpoint) -> EngineConfig {
        EngineConfig {
            hosts: vec![endpoint],
            api_version: None,
            selection: Selection::Running,
            mode: Mode::Stream,
            stale_after: Duration::from_secs(5),
            max_connecting: 256,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(30),
            max_frame_len: crate::stats::DEFAULT_MAX_FRAME_LEN,
            connect_timeout: Duration::from_secs(10),
            max_streams: usize::MAX,
        }
    }
}

/// A watched container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Index of its host in [`EngineConfig::hosts`].
    pub host: usize,
    /// The full id (for [`Selection::Named`], known from the first sample on; until then the
    /// name as given).
    pub id: String,
    /// The name without its leading `/`.
    pub name: String,
    /// The image, when discovery knows it.
    pub image: String,
    /// The container's labels, when discovery knows them.
    pub labels: Vec<(String, String)>,
    /// The name as the caller gave it ([`Selection::Named`]), else the short id.
    pub requested: String,
    /// Stays the same for this container while it is watched (a slot index).
    pub key: u32,
}

/// Why a container is no longer watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// It stopped (a `die` event, without [`Selection::All`]).
    Stopped,
    /// It was removed: a `destroy` event, the daemon ending its stream, or a 404.
    Removed,
    /// Its one sample was delivered ([`Mode::Once`], [`Mode::OneShot`]).
    Done,
    /// A new listing (after `/events` was reconnected) no longer has it.
    Vanished,
}

/// What the engine reports to its handler.
#[derive(Debug)]
pub enum Event<'a> {
    /// A container is watched from now on.
    Added(&'a Container),
    /// A frame arrived and was decoded.
    Sample {
        container: &'a Container,
        sample: &'a Sample<'a>,
        derived: &'a Derived,
    },
    /// No frame for [`EngineConfig::stale_after`] (reported once; a frame ends it).
    Stale(&'a Container),
    /// The container is no longer watched.
    Gone { container: &'a Container, why: Gone },
    /// Something failed: a stream (`container` is set; it reconnects after a backoff unless
    /// the error says the container is gone) or a host's discovery (it is retried).
    Error {
        host: usize,
        container: Option<&'a Container>,
        error: &'a Error,
    },
}

/// What the handler wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop the engine: [`Engine::run`] returns.
    Stop,
}

/// Counters of the engine's work, for self-monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Containers watched.
    pub streams: usize,
    /// Streams with a connection delivering frames.
    pub open: usize,
    /// Streams whose connection is being opened.
    pub connecting: usize,
    /// Streams waiting to reconnect.
    pub reconnecting: usize,
    /// Streams reported stale and without a frame since.
    pub stale: usize,
    pub frames: u64,
    /// Body bytes received on stats streams.
    pub bytes: u64,
    pub decode_errors: u64,
    /// [`Counters::decode_errors`] by kind.
    pub decode_errors_by_kind: DecodeErrorCounts,
    pub stream_errors: u64,
    pub reconnects: u64,
    /// Connect attempts that found no free file descriptor.
    pub fd_exhausted: u64,
    /// Streams waiting because the open-files limit leaves no descriptor for them.
    pub waiting_for_fds: usize,
    /// Containers not watched because of [`EngineConfig::max_streams`].
    pub capped: usize,
}

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
    Ping(u32),
    Events(u32),
    List(u32),
    Stream(u32),
}

#[derive(Debug, PartialEq, Eq)]
enum HostPhase {
    /// Waiting for a ping (API version) or a backoff.
    Starting,
    Negotiating,
    /// `/events` requested; its head not yet received.
    Subscribing,
    /// `/events` open, the listing on its way; events are kept until it arrives.
    Listing,
    /// Listing done; events applied as they come.
    Live,
    /// Nothing more to discover (named containers, or a one-sample listing done).
    Fixed,
    /// Waiting before trying again.
    Backoff,
}

#[derive(Debug)]
struct Host {
    endpoint: Arc<Endpoint>,
    api: Option<ApiVersion>,
    phase: HostPhase,
    events: Option<ConnId>,
    list: Option<ConnId>,
    ping: Option<ConnId>,
    /// Status of the response being received on the discovery connection.
    status: u16,
    body: Vec<u8>,
    events_splitter: FrameSplitter,
    /// Events received while the list was on its way.
    held: Vec<api::Event>,
    attempts: u32,
    /// Containers of this host by full id.
    by_id: HashMap<String, u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamState {
    /// Waiting for a connection slot.
    Queued,
    /// Connect and request sent; no response head yet.
    Opening,
    /// Receiving frames.
    Streaming,
    /// Waiting to reconnect.
    Backoff,
    /// Beyond [`EngineConfig::max_streams`]: not reported, waiting for a place.
    Capped,
}

#[derive(Debug)]
struct Stream {
    container: Container,
    state: StreamState,
    conn: Option<ConnId>,
    splitter: FrameSplitter,
    platform: Platform,
    status: u16,
    /// The body of an error response (kept small), to explain it.
    error_body: Vec<u8>,
    /// When the last frame arrived (or the stream was opened).
    last_frame: Instant,
    stale: bool,
    attempts: u32,
    /// Bumped when the slot is reused, so stale timers are ignored.
    generation: u32,
    /// Asked for by name ([`Selection::Named`], [`Engine::watch`]), not discovered: a 404
    /// is an error.
    named: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Reconnect stream `slot` if it is still at `generation`.
    Stream { slot: u32, generation: u32 },
    /// Restart host discovery.
    Host(u32),
    /// Only wakes the engine, to open queued streams.
    Pump,
}

/// Largest error body kept to explain a failed request.
const MAX_ERROR_BODY: usize = 4096;

/// Largest listing accepted (10,000 containers list in about 15 MB).
const MAX_LIST_LEN: usize = 256 << 20;

/// File descriptors kept for everything but streams.
const FD_RESERVE: u64 = 64;

/// After a connect found no free descriptor (EMFILE), how long the engine opens no more
/// connections than it had then, before it tries one more.
const FD_CEILING_FOR: Duration = Duration::from_secs(2);

/// The engine. See the [module docs](self).
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    reactor: Reactor<Owner>,
    hosts: Vec<Host>,
    streams: Vec<Option<Stream>>,
    free: Vec<u32>,
    queued: VecDeque<u32>,
    /// Streams whose connection is being established (counted against `max_connecting`).
    establishing: Vec<(u32, ConnId)>,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    scratch: Vec<u8>,
    decoder: FrameDecoder,
    counters: Counters,
    metrics: EngineMetrics,
    files: FileLimit,
    stop: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
    next_sweep: Instant,
    rng: u64,
    /// The open-files limit was reported as too low (once, until streams fit again).
    fd_limit_reported: bool,
    /// A connect failed with EMFILE while this many connections were open (descriptors used
    /// elsewhere in the process count against the limit too): no more than that are opened
    /// until the time given, when one more is tried.
    fd_ceiling: Option<(usize, Instant)>,
    /// Streams not in [`StreamState::Capped`].
    active: usize,
    /// Capped streams in the order they were found (entries whose stream has since gone or
    /// been admitted are skipped).
    capped: VecDeque<u32>,
    /// Capping was reported (once, until no container waits any more).
    cap_reported: bool,
    /// Discovery has begun (at the first poll).
    started: bool,
    /// Containers given to [`Engine::watch`], added once their host's API version is known.
    to_watch: Vec<(usize, String)>,
}

impl Engine {
    /// An engine for `config`. Raises the open-files limit; nothing is connected until the
    /// first [`Engine::poll`].
    pub fn new(config: EngineConfig) -> Result<Engine> {
        let mut reactor = Reactor::new(4096).map_err(|e| Error::io(ErrorKind::Io, e))?;
        let waker = reactor.waker().map_err(|e| Error::io(ErrorKind::Io, e))?;
        let files = FileLimit::raise().unwrap_or(FileLimit {
            soft: 1024,
            hard: 1024,
        });
        let hosts = config
            .hosts
            .iter()
            .map(|e| Host {
                endpoint: Arc::new(e.clone()),
                api: config.api_version,
                phase: HostPhase::Starting,
                events: None,
                list: None,
                ping: None,
                status: 0,
                body: Vec::new(),
                events_splitter: FrameSplitter::default(),
                held: Vec::new(),
                attempts: 0,
                by_id: HashMap::new(),
            })
            .collect();
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        Ok(Engine {
            config,
            reactor,
            hosts,
            streams: Vec::new(),
            free: Vec::new(),
            queued: VecDeque::new(),
            establishing: Vec::new(),
            timers: BinaryHeap::new(),
            scratch: Vec::with_capacity(8192),
            decoder: FrameDecoder::new(),
            counters: Counters::default(),
            metrics: EngineMetrics::default(),
            files,
            stop: Arc::new(AtomicBool::new(false)),
            waker,
            next_sweep: Instant::now(),
            rng: seed | 1,
            fd_limit_reported: false,
            fd_ceiling: None,
            active: 0,
            capped: VecDeque::new(),
            cap_reported: false,
            started: false,
            to_watch: Vec::new(),
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
        self.files
    }

    /// The engine's counters.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.streams = self.active;
        c.open = 0;
        c.connecting = 0;
        c.reconnecting = 0;
        c.stale = 0;
        for s in self.streams.iter().flatten() {
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

    /// The engine's timing histograms: per-frame processing time and daemon-to-delivery lag.
    pub fn metrics(&self) -> &EngineMetrics {
        &self.metrics
    }

    /// The containers watched now (not those waiting beyond [`EngineConfig::max_streams`]).
    pub fn containers(&self) -> impl Iterator<Item = &Container> {
        self.streams
            .iter()
            .flatten()
            .filter(|s| s.state != StreamState::Capped)
            .map(|s| &s.container)
    }

    /// Bytes held for what has not arrived whole yet: each stream's unfinished frame (at most
    /// [`EngineConfig::max_frame_len`]) and error body, each host's listing or unfinished
    /// event. The shared read buffer is not counted. For checking that memory stays bounded.
    pub fn buffered_bytes(&self) -> usize {
        let streams: usize = (self.streams.iter().flatten())
            .map(|s| s.splitter.pending() + s.error_body.len())
            .sum();
        let hosts: usize = (self.hosts.iter())
            .map(|h| h.body.len() + h.events_splitter.pending())
            .sum();
        streams + hosts
    }

    /// Whether a one-sample engine ([`Mode::Once`], [`Mode::OneShot`]) has finished: every
    /// host listed and every stream answered.
    pub fn is_done(&self) -> bool {
        self.config.mode != Mode::Stream
            && self.started
            && self.hosts.iter().all(|h| h.phase == HostPhase::Fixed)
            && self.streams.iter().all(Option::is_none)
    }

    /// Streams this container (a name, id or id prefix) of host `host` (an index into
    /// [`EngineConfig::hosts`]) from the next poll on, whatever the selection, as
    /// [`Selection::Named`] does: it is not followed through `/events`, and a 404 is reported
    /// as an error before it is [`Gone::Removed`]. Watching a container twice streams it
    /// twice.
    pub fn watch(&mut self, host: usize, container: &str) {
        self.to_watch.push((host, container.to_string()));
    }

    /// Adds the containers given to [`Engine::watch`] whose host has its API version.
    fn add_watched(&mut self, emit: &mut dyn FnMut(Event<'_>)) {
        let mut waiting = std::mem::take(&mut self.to_watch);
        waiting.retain(|(host, name)| match self.hosts.get(*host) {
            Some(h) if h.api.is_some() => {
                self.add_stream(named_container(*host, name.clone()), true, emit);
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
        if !self.started {
            self.started = true;
            for h in 0..self.hosts.len() {
                self.start_host(h as u32, &mut emit);
            }
        }
        if !self.to_watch.is_empty() {
            self.add_watched(&mut emit);
        }
        let mut now = Instant::now();
        // The watchdog's next sweep (streams only), the next timer, the caller's timeout.
        let sweep = (self.config.mode == Mode::Stream).then_some(self.next_sweep);
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        let wait = [sweep, timer]
            .into_iter()
            .flatten()
            .map(|at| at.saturating_duration_since(now))
            .chain(timeout)
            .min();

        // The reactor callback sees the streams and hosts through `Parts`; work that needs
        // the reactor itself (opening connections) is queued and done after the turn.
        let mut later = Later::default();
        {
            let Engine {
                reactor,
                hosts,
                streams,
                scratch,
                decoder,
                counters,
                metrics,
                config,
                ..
            } = self;
            let mut parts = Parts {
                hosts,
                streams,
                scratch,
                decoder,
                counters,
                metrics,
                config,
                later: &mut later,
                now: None,
                wall: None,
                last_frame_end: None,
            };
            reactor
                .poll(wait, &mut |conn, owner, event| {
                    parts.on_conn(conn, *owner, event, &mut emit)
                })
                .map_err(|e| Error::io(ErrorKind::Io, e))?;
            now = parts.now.unwrap_or_else(Instant::now);
        }
        self.after_turn(later, &mut emit);
        self.fire_timers(now, &mut emit);
        self.sweep(now, &mut emit);
        self.pump(&mut emit);
        if control == Control::Stop {
            self.stop.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    // ---- hosts -------------------------------------------------------------------------

    fn start_host(&mut self, h: u32, emit: &mut dyn FnMut(Event<'_>)) {
        let host = &mut self.hosts[h as usize];
        host.status = 0;
        host.body = Vec::new();
        let result = match host.api {
            None => {
                host.phase = HostPhase::Negotiating;
                let head_by = Instant::now() + self.config.connect_timeout;
                self.reactor
                    .open(&host.endpoint, "/_ping", Owner::Ping(h))
                    .map(|id| {
                        self.reactor.set_head_deadline(id, head_by);
                        host.ping = Some(id);
                    })
            }
            Some(_) => {
                self.discover(h, emit);
                Ok(())
            }
        };
        if let Err(e) = result {
            self.host_failed(h, e, emit);
        }
    }

    /// With the API version known: subscribe to events, or list, or add named containers.
    fn discover(&mut self, h: u32, emit: &mut dyn FnMut(Event<'_>)) {
        let follow = self.config.mode == Mode::Stream
            && !matches!(self.config.selection, Selection::Named(_));
        let host = &mut self.hosts[h as usize];
        let Some(api) = host.api else { return };
        if let Selection::Named(names) = &self.config.selection {
            host.phase = HostPhase::Fixed;
            let names = names.clone();
            for name in names {
                self.add_stream(named_container(h as usize, name), true, emit);
            }
            return;
        }
        let result = if follow {
            host.phase = HostPhase::Subscribing;
            host.events_splitter = FrameSplitter::default();
            host.held.clear();
            // filters={"type":["container"]}
            let target = api.path("/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D");
            let head_by = Instant::now() + self.config.connect_timeout;
            self.reactor
                .open(&host.endpoint, &target, Owner::Events(h))
                .map(|id| {
                    self.reactor.set_head_deadline(id, head_by);
                    host.events = Some(id);
                })
        } else {
            host.phase = HostPhase::Listing;
            self.open_list(h)
        };
        if let Err(e) = result {
            self.host_failed(h, e, emit);
        }
    }

    fn open_list(&mut self, h: u32) -> Result<()> {
        let host = &mut self.hosts[h as usize];
        let Some(api) = host.api else { return Ok(()) };
        let query = if self.config.selection == Selection::All {
            "/containers/json?all=1"
        } else {
            "/containers/json"
        };
        host.status = 0;
        host.body = Vec::new();
        let id = self
            .reactor
            .open(&host.endpoint, &api.path(query), Owner::List(h))?;
        self.reactor
            .set_head_deadline(id, Instant::now() + self.config.connect_timeout);
        host.list = Some(id);
        Ok(())
    }

    fn host_failed(&mut self, h: u32, error: Error, emit: &mut dyn FnMut(Event<'_>)) {
        let delay = self.backoff_delay(self.hosts[h as usize].attempts);
        let host = &mut self.hosts[h as usize];
        for id in [host.events.take(), host.list.take(), host.ping.take()]
            .into_iter()
            .flatten()
        {
            self.reactor.close(id);
        }
        host.attempts = host.attempts.saturating_add(1);
        // A one-sample engine gives up on the host (the others finish without it); a
        // streaming one tries again after a backoff.
        let retry = self.config.mode == Mode::Stream;
        host.phase = if retry {
            HostPhase::Backoff
        } else {
            HostPhase::Fixed
        };
        let error = error.context(host.endpoint.url());
        emit(Event::Error {
            host: h as usize,
            container: None,
            error: &error,
        });
        if retry {
            self.timers
                .push(Reverse((Instant::now() + delay, Timer::Host(h))));
        }
    }

    /// Applies a listing: adds what is new, drops what is no longer there.
    fn apply_list(&mut self, h: u32, mut body: Vec<u8>, emit: &mut dyn FnMut(Event<'_>)) {
        let list = match api::parse_containers(&mut body) {
            Ok(list) => list,
            Err(e) => {
                self.host_failed(h, e.context("container list"), emit);
                return;
            }
        };
        let mut listed = std::collections::HashSet::with_capacity(list.len());
        for c in list {
            listed.insert(c.id.clone());
            if self.hosts[h as usize].by_id.contains_key(&c.id) {
                continue;
            }
            let container = Container {
                host: h as usize,
                name: c.name().to_string(),
                requested: short_id(&c.id).to_string(),
                id: c.id,
                image: c.image,
                labels: c.labels,
                key: 0,
            };
            self.add_stream(container, false, emit);
        }
        let missing: Vec<u32> = self.hosts[h as usize]
            .by_id
            .iter()
            .filter(|(id, _)| !listed.contains(*id))
            .map(|(_, &slot)| slot)
            .collect();
        for slot in missing {
            self.remove_stream(slot, Gone::Vanished, emit);
        }
        let held = std::mem::take(&mut self.hosts[h as usize].held);
        let host = &mut self.hosts[h as usize];
        host.attempts = 0;
        host.phase = if host.events.is_some() {
            HostPhase::Live
        } else {
            HostPhase::Fixed
        };
        for event in held {
            self.apply_event(h, event, emit);
        }
    }

    fn apply_event(&mut self, h: u32, e: api::Event, emit: &mut dyn FnMut(Event<'_>)) {
        if e.kind != "container" {
            return;
        }
        let all = self.config.selection == Selection::All;
        let tracked = self.hosts[h as usize].by_id.get(&e.id).copied();
        match (e.action.as_str(), tracked) {
            ("start", None) | ("create", None) if e.action == "start" || all => {
                let name = e.attribute("name").unwrap_or_default().to_string();
                let image = e.attribute("image").unwrap_or_default().to_string();
                let labels = e
                    .attributes
                    .iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "name" | "image"))
                    .cloned()
                    .collect();
                let container = Container {
                    host: h as usize,
                    requested: short_id(&e.id).to_string(),
                    id: e.id,
                    name,
                    image,
                    labels,
                    key: 0,
                };
                self.add_stream(container, false, emit);
            }
            ("die", Some(slot)) if !all => self.remove_stream(slot, Gone::Stopped, emit),
            ("destroy", Some(slot)) => self.remove_stream(slot, Gone::Removed, emit),
            ("rename", Some(slot)) => {
                if let (Some(Some(s)), Some(name)) =
                    (self.streams.get_mut(slot as usize), e.attribute("name"))
                {
                    s.container.name = name.trim_start_matches('/').to_string();
                }
            }
            _ => {}
        }
    }

    // ---- streams -----------------------------------------------------------------------

    fn add_stream(
        &mut self,
        mut container: Container,
        named: bool,
        emit: &mut dyn FnMut(Event<'_>),
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
            self.hosts[container.host]
                .by_id
                .insert(container.id.clone(), slot);
        }
        let generation = self.next_generation(slot);
        let capped = self.active >= self.config.max_streams;
        let stream = Stream {
            container,
            state: if capped {
                StreamState::Capped
            } else {
                StreamState::Queued
            },
            conn: None,
            splitter: FrameSplitter::new(self.config.max_frame_len),
            platform: Platform::Linux,
            status: 0,
            error_body: Vec::new(),
            last_frame: Instant::now(),
            stale: false,
            attempts: 0,
            generation,
            named,
        };
        if capped {
            self.streams[slot as usize] = Some(stream);
            self.capped.push_back(slot);
            if !self.cap_reported {
                self.cap_reported = true;
                let error = Error::new(ErrorKind::StreamLimit).context(format!(
                    "more containers than max_streams ({}): the rest wait for a place",
                    self.config.max_streams
                ));
                emit(Event::Error {
                    host: self.streams[slot as usize]
                        .as_ref()
                        .map_or(0, |s| s.container.host),
                    container: None,
                    error: &error,
                });
            }
            return;
        }
        self.active += 1;
        emit(Event::Added(&stream.container));
        self.streams[slot as usize] = Some(stream);
        self.queued.push_back(slot);
    }

    /// A watched stream went: the first capped container (if any) takes its place.
    fn admit_capped(&mut self, emit: &mut dyn FnMut(Event<'_>)) {
        while self.active < self.config.max_streams {
            let Some(slot) = self.capped.pop_front() else {
                self.cap_reported = false;
                return;
            };
            let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
                continue;
            };
            if stream.state != StreamState::Capped {
                continue;
            }
            stream.state = StreamState::Queued;
            self.active += 1;
            emit(Event::Added(&stream.container));
            self.queued.push_back(slot);
        }
    }

    fn next_generation(&mut self, slot: u32) -> u32 {
        // Generations only have to differ from the previous occupant's.
        self.rng = xorshift(self.rng);
        (self.rng as u32) ^ slot
    }

    fn remove_stream(&mut self, slot: u32, why: Gone, emit: &mut dyn FnMut(Event<'_>)) {
        let Some(stream) = self.streams.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        if let Some(conn) = stream.conn {
            self.reactor.close(conn);
        }
        if let Some(host) = self.hosts.get_mut(stream.container.host) {
            if host.by_id.get(&stream.container.id) == Some(&slot) {
                host.by_id.remove(&stream.container.id);
            }
        }
        self.free.push(slot);
        if stream.state == StreamState::Capped {
            // Never reported as added: it goes as quietly as it came.
            return;
        }
        self.active -= 1;
        emit(Event::Gone {
            container: &stream.container,
            why,
        });
        self.admit_capped(emit);
    }

    /// Opens queued streams while fewer than `max_connecting` connections are being
    /// established and the open-files limit leaves descriptors for them. O(1) when nothing
    /// is queued, which is every turn of an engine in its steady state.
    fn pump(&mut self, emit: &mut dyn FnMut(Event<'_>)) {
        if self.queued.is_empty() {
            self.counters.waiting_for_fds = 0;
            self.fd_limit_reported = false;
            return;
        }
        // A connection stops counting once its request is written: it has left the
        // daemon's listen backlog (the response head may take a second, until the first
        // frame).
        let (reactor, streams) = (&self.reactor, &self.streams);
        self.establishing.retain(|&(slot, conn)| {
            matches!(streams.get(slot as usize), Some(Some(s)) if s.conn == Some(conn))
                && !reactor.is_sent(conn)
        });
        let mut opening = self.establishing.len();
        let mut in_use = self.reactor.len();
        let mut capacity = self.files.streams(FD_RESERVE) as usize;
        match self.fd_ceiling {
            Some((_, until)) if Instant::now() >= until => self.fd_ceiling = None,
            Some((ceiling, _)) => capacity = capacity.min(ceiling),
            None => {}
        }
        let waiting = self
            .queued
            .iter()
            .filter(|&&slot| matches!(self.streams.get(slot as usize), Some(Some(s)) if s.state == StreamState::Queued))
            .count();
        self.counters.waiting_for_fds = waiting.saturating_sub(capacity.saturating_sub(in_use));
        if self.counters.waiting_for_fds > 0 && !self.fd_limit_reported {
            // Keep what is open, say why the rest waits, and open it as descriptors free up.
            self.fd_limit_reported = true;
            let error = Error::new(ErrorKind::ResourceLimit).context(match self.fd_ceiling {
                Some((ceiling, _)) => format!(
                    "{} streams cannot be opened yet: out of file descriptors (EMFILE) with \
                     {ceiling} connections open, under an open-files limit of {} (hard \
                     limit {}); the open streams go on and the rest are retried",
                    self.counters.waiting_for_fds, self.files.soft, self.files.hard
                ),
                None => format!(
                    "{} streams cannot be opened: the open-files limit is {} (hard limit {}); \
                     raise it with ulimit -n",
                    self.counters.waiting_for_fds, self.files.soft, self.files.hard
                ),
            });
            emit(Event::Error {
                host: 0,
                container: None,
                error: &error,
            });
        } else if self.counters.waiting_for_fds == 0 {
            self.fd_limit_reported = false;
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
            let query = match self.config.mode {
                Mode::Stream => "stream=1",
                Mode::Once => "stream=0",
                Mode::OneShot => "stream=0&one-shot=1",
            };
            let target = api.path(&format!(
                "/containers/{}/stats?{query}",
                encode_segment(&stream.container.id)
            ));
            match self
                .reactor
                .open(&host.endpoint, &target, Owner::Stream(slot))
            {
                Ok(conn) => {
                    self.reactor
                        .set_head_deadline(conn, Instant::now() + self.config.connect_timeout);
                    stream.conn = Some(conn);
                    self.establishing.push((slot, conn));
                    stream.state = StreamState::Opening;
                    stream.status = 0;
                    stream.error_body = Vec::new();
                    stream.splitter = FrameSplitter::new(self.config.max_frame_len);
                    stream.last_frame = Instant::now();
                    opening += 1;
                    in_use += 1;
                }
                // Only an invalid target fails here: the container cannot be asked for.
                Err(_) => {
                    stream.state = StreamState::Backoff;
                }
            }
        }
    }

    fn backoff_delay(&mut self, attempts: u32) -> Duration {
        let base = self
            .config
            .reconnect_min
            .saturating_mul(1u32 << attempts.min(16))
            .min(self.config.reconnect_max);
        self.rng = xorshift(self.rng);
        // A factor in [0.5, 1.5).
        let jitter = 0.5 + (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64(jitter)
    }

    fn after_turn(&mut self, later: Later, emit: &mut dyn FnMut(Event<'_>)) {
        for (h, step) in later.hosts {
            match step {
                HostStep::Negotiated(api) => {
                    self.hosts[h as usize].api = Some(api);
                    self.discover(h, emit);
                }
                HostStep::Subscribed => {
                    self.hosts[h as usize].phase = HostPhase::Listing;
                    if let Err(e) = self.open_list(h) {
                        self.host_failed(h, e, emit);
                    }
                }
                HostStep::Listed(body) => self.apply_list(h, body, emit),
                HostStep::Event(event) => self.apply_event(h, event, emit),
                HostStep::Failed(error) => self.host_failed(h, error, emit),
            }
        }
        for (slot, step) in later.streams {
            match step {
                StreamStep::Gone(why) => self.remove_stream(slot, why, emit),
                StreamStep::NoDescriptor => {
                    let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
                        continue;
                    };
                    stream.state = StreamState::Queued;
                    self.queued.push_front(slot);
                    let until = Instant::now() + FD_CEILING_FOR;
                    if self.fd_ceiling.is_none() {
                        // Report anew, now with the cause.
                        self.fd_limit_reported = false;
                    }
                    self.fd_ceiling = Some((self.reactor.len(), until));
                    self.timers.push(Reverse((until, Timer::Pump)));
                }
                StreamStep::Retry => {
                    let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
                        continue;
                    };
                    let attempts = stream.attempts;
                    let generation = stream.generation;
                    let delay = self.backoff_delay(attempts);
                    if let Some(Some(stream)) = self.streams.get_mut(slot as usize) {
                        stream.attempts = attempts.saturating_add(1);
                        stream.state = StreamState::Backoff;
                        stream.conn = None;
                    }
                    self.timers.push(Reverse((
                        Instant::now() + delay,
                        Timer::Stream { slot, generation },
                    )));
                }
            }
        }
    }

    fn fire_timers(&mut self, now: Instant, emit: &mut dyn FnMut(Event<'_>)) {
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
                            self.queued.push_back(slot);
                        }
                    }
                }
                Timer::Host(h) => {
                    if self.hosts[h as usize].phase == HostPhase::Backoff {
                        self.start_host(h, emit);
                    }
                }
                Timer::Pump => {}
            }
        }
    }

    /// The staleness watchdog, twice per `stale_after` at most.
    fn sweep(&mut self, now: Instant, emit: &mut dyn FnMut(Event<'_>)) {
        if now < self.next_sweep || self.config.mode != Mode::Stream {
            return;
        }
        let every =
            (self.config.stale_after / 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
        self.next_sweep = now + every;
        let mut given_up = Later::default();
        for (slot, s) in self.streams.iter_mut().enumerate() {
            let Some(s) = s else { continue };
            let waiting = matches!(s.state, StreamState::Streaming | StreamState::Opening);
            let silent = now.duration_since(s.last_frame);
            if waiting && !s.stale && silent >= self.config.stale_after {
                s.stale = true;
                emit(Event::Stale(&s.container));
            } else if s.state == StreamState::Streaming
                && s.stale
                && silent >= self.config.stale_after * 2
            {
                // Stale for as long again: the connection is given up on and the stream
                // reconnects (staying stale until a frame comes). Without this a daemon that
                // stalls a stream (or a peer gone without a reset) would hold it forever.
                if let Some(conn) = s.conn.take() {
                    self.reactor.close(conn);
                }
                self.counters.stream_errors += 1;
                let error = Error::new(ErrorKind::Timeout).context(format!(
                    "no stats frame for {:.1}s: reconnecting",
                    silent.as_secs_f64()
                ));
                emit(Event::Error {
                    host: s.container.host,
                    container: Some(&s.container),
                    error: &error,
                });
                given_up.streams.push((slot as u32, StreamStep::Retry));
            }
        }
        self.after_turn(given_up, emit);
    }
}

/// What happened during a reactor turn that needs the engine itself.
#[derive(Default)]
struct Later {
    hosts: Vec<(u32, HostStep)>,
    streams: Vec<(u32, StreamStep)>,
}

enum HostStep {
    Negotiated(ApiVersion),
    Subscribed,
    Listed(Vec<u8>),
    Event(api::Event),
    Failed(Error),
}

enum StreamStep {
    Gone(Gone),
    Retry,
    /// Its connect found no free file descriptor: back to the queue, without an error of
    /// its own (the shortage is reported once, for all streams waiting).
    NoDescriptor,
}

/// The parts of the engine a reactor callback may touch.
struct Parts<'e> {
    hosts: &'e mut Vec<Host>,
    streams: &'e mut Vec<Option<Stream>>,
    scratch: &'e mut Vec<u8>,
    decoder: &'e mut FrameDecoder,
    counters: &'e mut Counters,
    metrics: &'e mut EngineMetrics,
    config: &'e EngineConfig,
    later: &'e mut Later,
    /// The time of this turn's events, read at the first that needs it: one clock read per
    /// turn, not per event.
    now: Option<Instant>,
    /// The wall clock (ns since the epoch) at `now`, read at the turn's first frame.
    wall: Option<i64>,
    /// When the last frame of this turn was delivered (one clock read per frame).
    last_frame_end: Option<Instant>,
}

impl Parts<'_> {
    fn on_conn(
        &mut self,
        _conn: ConnId,
        owner: Owner,
        event: ConnEvent<'_>,
        emit: &mut dyn FnMut(Event<'_>),
    ) -> Flow {
        match owner {
            Owner::Stream(slot) => self.on_stream(slot, event, emit),
            Owner::Ping(h) | Owner::Events(h) | Owner::List(h) => self.on_host(h, owner, event),
        }
    }

    fn on_host(&mut self, h: u32, owner: Owner, event: ConnEvent<'_>) -> Flow {
        let Some(host) = self.hosts.get_mut(h as usize) else {
            return Flow::Close;
        };
        let fail = |host: &mut Host, later: &mut Later, e: Error| {
            match owner {
                Owner::Ping(_) => host.ping = None,
                Owner::Events(_) => host.events = None,
                _ => host.list = None,
            }
            later.hosts.push((h, HostStep::Failed(e)));
            Flow::Close
        };
        match event {
            ConnEvent::Head(head) => {
                host.status = head.code;
                if owner == Owner::Ping(h) {
                    if head.code >= 400 {
                        // The body says why (a TLS port answering plain HTTP, a proxy): it is
                        // collected below and the failure reported at its end.
                        return Flow::Continue;
                    }
                    host.ping = None;
                    let api = ApiVersion::negotiate(head.header("api-version"));
                    self.later.hosts.push((h, HostStep::Negotiated(api)));
                    return Flow::Close;
                }
                if owner == Owner::Events(h) && head.code == 200 {
                    self.later.hosts.push((h, HostStep::Subscribed));
                }
                Flow::Continue
            }
            ConnEvent::Body(data) => match owner {
                Owner::Events(_) if host.status == 200 => {
                    let mut bad = None;
                    let held = &mut self.later.hosts;
                    let scratch = &mut *self.scratch;
                    let pushed = host.events_splitter.push(data, &mut |doc| {
                        // simd-json parses in place: a copy of the event (a few hundred bytes).
                        scratch.clear();
                        scratch.extend_from_slice(doc);
                        match api::parse_event(scratch) {
                            Ok(e) => held.push((h, HostStep::Event(e))),
                            Err(e) => bad = Some(e),
                        }
                    });
                    match (pushed, bad) {
                        (Err(e), _) => {
                            fail(host, self.later, Error::protocol(e, 0).context("/events"))
                        }
                        (_, Some(e)) => fail(host, self.later, e.context("/events")),
                        _ => Flow::Continue,
                    }
                }
                _ => {
                    let limit = if host.status >= 400 {
                        MAX_ERROR_BODY
                    } else {
                        MAX_LIST_LEN
                    };
                    if host.body.len() + data.len() > limit {
                        let e = Error::new(ErrorKind::Protocol(ProtocolError::BodyTooLarge));
                        return fail(host, self.later, e);
                    }
                    host.body.extend_from_slice(data);
                    Flow::Continue
                }
            },
            ConnEvent::End { .. } | ConnEvent::Closed => {
                let body = std::mem::take(&mut host.body);
                if host.status >= 400 || host.status == 0 {
                    let mut message = crate::api::daemon_message(&body);
                    if message.is_empty() {
                        message = match owner {
                            Owner::Ping(_) => "/_ping",
                            Owner::Events(_) => "/events",
                            _ => "/containers/json",
                        }
                        .to_string();
                    }
                    let e = Error::new(ErrorKind::Status(host.status)).context(message);
                    return fail(host, self.later, e);
                }
                match owner {
                    Owner::List(_) => {
                        host.list = None;
                        self.later.hosts.push((h, HostStep::Listed(body)));
                        Flow::Close
                    }
                    // The daemon ended the event stream (shutting down): list again later.
                    _ => fail(
                        host,
                        self.later,
                        Error::new(ErrorKind::Truncated).context("/events ended"),
                    ),
                }
            }
            ConnEvent::Failed(e) => fail(host, self.later, e),
        }
    }

    fn on_stream(
        &mut self,
        slot: u32,
        event: ConnEvent<'_>,
        emit: &mut dyn FnMut(Event<'_>),
    ) -> Flow {
        let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
            return Flow::Close;
        };
        match event {
            ConnEvent::Head(head) => {
                stream.status = head.code;
                if let Some(os) = head.header("ostype") {
                    stream.platform = Platform::from_ostype(os);
                }
                if head.code == 200 {
                    stream.state = StreamState::Streaming;
                    stream.last_frame = *self.now.get_or_insert_with(Instant::now);
                }
                Flow::Continue
            }
            ConnEvent::Body(data) if stream.status >= 400 => {
                let room = MAX_ERROR_BODY.saturating_sub(stream.error_body.len());
                stream
                    .error_body
                    .extend_from_slice(&data[..data.len().min(room)]);
                Flow::Continue
            }
            ConnEvent::Body(data) => {
                self.counters.bytes += data.len() as u64;
                let turn = *self.now.get_or_insert_with(Instant::now);
                let platform = stream.platform;
                let container = &stream.container;
                let decoder = &mut *self.decoder;
                let counters = &mut *self.counters;
                let metrics = &mut *self.metrics;
                let wall = &mut self.wall;
                let mut last = self.last_frame_end.unwrap_or(turn);
                let mut failure = None;
                let mut frames = 0u64;
                let pushed = stream.splitter.push(data, &mut |frame| {
                    if failure.is_some() {
                        return;
                    }
                    match decoder.decode(frame) {
                        Ok(sample) => {
                            frames += 1;
                            let derived = derive(&sample, platform);
                            emit(Event::Sample {
                                container,
                                sample: &sample,
                                derived: &derived,
                            });
                            // One clock read per frame, a few integer operations per
                            // histogram; the wall clock is read once per turn.
                            let end = Instant::now();
                            metrics
                                .frame_time
                                .record(end.saturating_duration_since(last).as_nanos() as u64);
                            last = end;
                            if !sample.read.is_zero() {
                                let at = *wall.get_or_insert_with(wall_nanos)
                                    + end.saturating_duration_since(turn).as_nanos() as i64;
                                let lag = at.saturating_sub(sample.read.unix_nanos());
                                metrics.lag.record(lag.max(0) as u64);
                            }
                        }
                        Err(fail) => failure = Some(fail),
                    }
                });
                if frames > 0 {
                    self.last_frame_end = Some(last);
                }
                counters.frames += frames;
                if frames > 0 {
                    stream.last_frame = turn;
                    stream.stale = false;
                    stream.attempts = 0;
                }
                let error = match (pushed, failure) {
                    (Err(e), _) => Some(Error::new(ErrorKind::Protocol(ProtocolError::Frame(e)))),
                    (_, Some(fail)) => {
                        counters.decode_errors += 1;
                        counters.decode_errors_by_kind.add(fail.kind);
                        let mut e = Error::new(ErrorKind::Decode(fail.kind));
                        e.set_offset(fail.at as u64);
                        Some(e)
                    }
                    _ => None,
                };
                match error {
                    Some(error) => self.stream_failed(slot, error, emit),
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
                        let message = crate::api::daemon_message(&stream.error_body);
                        let e = Error::new(ErrorKind::Status(404)).context(message);
                        emit(Event::Error {
                            host: stream.container.host,
                            container: Some(&stream.container),
                            error: &e,
                        });
                    }
                    self.later
                        .streams
                        .push((slot, StreamStep::Gone(Gone::Removed)));
                    return Flow::Close;
                }
                if status >= 400 || status == 0 {
                    let message = crate::api::daemon_message(&stream.error_body);
                    let e = Error::new(ErrorKind::Status(status)).context(message);
                    return self.stream_failed(slot, e, emit);
                }
                // A body that ended cleanly: a last frame without its newline counts.
                let platform = stream.platform;
                let container = &stream.container;
                let decoder = &mut *self.decoder;
                let mut failure = None;
                stream
                    .splitter
                    .finish(&mut |frame| match decoder.decode(frame) {
                        Ok(sample) => {
                            let derived = derive(&sample, platform);
                            emit(Event::Sample {
                                container,
                                sample: &sample,
                                derived: &derived,
                            });
                        }
                        Err(fail) => failure = Some(fail),
                    });
                if let Some(fail) = failure {
                    let mut e = Error::new(ErrorKind::Decode(fail.kind));
                    e.set_offset(fail.at as u64);
                    emit(Event::Error {
                        host: container.host,
                        container: Some(container),
                        error: &e,
                    });
                }
                stream.conn = None;
                let why = if self.config.mode == Mode::Stream {
                    // The zero-length chunk after `docker rm`.
                    Gone::Removed
                } else {
                    Gone::Done
                };
                self.later.streams.push((slot, StreamStep::Gone(why)));
                Flow::Close
            }
            ConnEvent::Failed(e) => self.stream_failed(slot, e, emit),
        }
    }

    /// Reports a stream's failure and schedules what follows: a retry when streaming, the end
    /// for the one-sample modes.
    fn stream_failed(&mut self, slot: u32, error: Error, emit: &mut dyn FnMut(Event<'_>)) -> Flow {
        if !matches!(self.streams.get(slot as usize), Some(Some(_))) {
            return Flow::Close;
        }
        let stream = match self.streams.get_mut(slot as usize) {
            Some(Some(s)) => s,
            _ => return Flow::Close,
        };
        stream.conn = None;
        if error.kind() == ErrorKind::ResourceLimit {
            // Out of descriptors is the process's state, not this stream's: it waits in the
            // queue, and the engine opens no more than it has until some time has passed.
            self.counters.fd_exhausted += 1;
            self.later.streams.push((slot, StreamStep::NoDescriptor));
            return Flow::Close;
        }
        self.counters.stream_errors += 1;
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
        self.later.streams.push((slot, step));
        Flow::Close
    }
}

/// The wall clock in nanoseconds since the Unix epoch.
fn wall_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A container asked for by name, before its first sample tells its id.
fn named_container(host: usize, name: String) -> Container {
    Container {
        host,
        id: name.clone(),
        name: name.clone(),
        image: String::new(),
        labels: Vec::new(),
        requested: name,
        key: 0,
    }
}

/// The first 12 characters of an id, as the docker CLI shows it.
pub(crate) fn short_id(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Percent-encodes what may not appear in a path segment (container names are
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so this only matters for odd input).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
