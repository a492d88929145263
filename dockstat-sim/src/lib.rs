//! A simulated Docker daemon: the server that dockstat's tests, benchmarks and demo talk to
//! when there is no real Docker.
//!
//! # What it is
//! An HTTP/1.1 server on a unix socket, plain TCP or TCP with TLS that answers the read-only part of the
//! Docker Engine API a stats client uses, the way Docker 20.10 (API 1.41) on cgroup v1 or v2
//! answers it — headers, framing and JSON shapes copied from captures of a real daemon
//! (`shared/fixtures/docker20-cgv1/`):
//! `/_ping` (GET and HEAD), `/version`, `/containers/json[?all=1]`, `/images/json`, `/events`,
//! and `/containers/{id|prefix|name}/stats` with `stream`, `stream=false` and `one-shot`, each
//! with or without a `/v1.NN` prefix. The real `docker` CLI can run `ps`, `images`, `version`
//! and `stats --no-stream` against it.
//!
//! Containers are synthetic and deterministic from [`SimConfig::seed`]: workloads cycle busy,
//! idle, memhog, writer, forky, net (names `busy-1`, `idle-2`, …) and their counters advance
//! with wall time at realistic rates, so `docker stats` arithmetic on consecutive frames gives
//! sensible numbers (busy ≈ 50 % CPU, writer ≈ 16 MiB/s block writes, …).
//!
//! Everything runs on **one thread** with a nonblocking mio `Poll`, built to hold 10,000
//! concurrent stats streams (see `server/mod.rs` for how).
//!
//! # Lifecycle
//! Containers are created, started, paused, unpaused, stopped, killed and removed, either from
//! the handle ([`Sim::create`], [`Sim::start_container`], [`Sim::stop`], [`Sim::kill`],
//! [`Sim::pause`], [`Sim::unpause`], [`Sim::remove`]) or by [`SimConfig::churn`]. The daemon's
//! behaviour, from the captures, is what clients see:
//! - `/events` subscribers get each change's events (`create`; `network connect`, `start`;
//!   `pause`; `unpause`; `kill` signal 15, `die` exitCode 143, `network disconnect`, `stop`;
//!   kill: `kill` signal 9, `die` 137, `network disconnect`; `destroy`), filtered by `filters`;
//! - `/containers/json` lists the current state ("Created", "Up 2 minutes (Paused)", …);
//! - open stats streams go on with zero frames while their container is stopped, with live
//!   frames again after a start (precpu zeroed first), and after a removal send two more zero
//!   frames and end their body; the connection then takes requests again, and the container's
//!   stats are a 404.
//!
//! # Control routes
//! For a sim in another process (the load bench, the soak), routes outside Docker's API, on exactly
//! these targets (`GET`, no version prefix, no query; anything else is the daemon's 404):
//! - `GET /_sim/counters`: the [`SimCounters`] as a JSON object, one member per field
//!   (`{"frames_sent":…,"frames_skipped":…,"streams_open":…,"connections_accepted":…,
//!   "connections_open":…,"requests":…,"events_sent":…,"containers_running":…,
//!   "faults_injected":…}`); the request
//!   itself counts in `requests`;
//! - `GET /_sim/frames`: frames sent so far per container name, as `frames_sent` counts them
//!   (`{"busy-1":120,"idle-2":118,…}`, sorted by name; [`Sim::frames_sent_for`] in-process);
//! - `GET /_sim/pause`: stats streams stop writing frames (their timers keep ticking, and a tick
//!   without a frame is counted neither as sent nor as skipped); `{"ok":true}`;
//! - `GET /_sim/resume`: frames flow again; `{"ok":true}`. The next frame's precpu is the last
//!   frame the stream sent, as after skipped frames.
//! - `GET /_sim/restart` or `/_sim/restart?down_ms=N`: `{"ok":true}`, then the daemon
//!   restarts in place as [`Sim::restart`] does, down for N ms (default 1000).
//!
//! # Faults
//! For testing clients against a misbehaving daemon (see `fault.rs`): [`SimConfig::faults`]
//! breaks the streams (or the names, or the stats answers) of named containers in a chosen way
//! ([`Fault`]: truncation, reset, stall, slow drip, garbage chunk size, a 100 MB frame, deep
//! nesting, an error status, invalid UTF-8 in a name); [`SimConfig::chaos`] breaks random
//! streams in random ways, for soak runs; [`Sim::drop_events`] and [`Sim::restart`] break
//! the event stream or everything at once. [`Sim::frames_sent_for`] counts the frames sent
//! per container, and [`Sim::pause_frames`] quiets the streams, so that a test can check a
//! client received each of them exactly once; [`SimCounters::faults_injected`] and
//! [`Sim::fault_counts`] count what was injected.
//!
//! # What it is not
//! - Not a container runtime: no `POST`/`DELETE` endpoints (they get the daemon's 404
//!   "page not found", as any unknown route does), no exec, logs, inspect or networks.
//! - `/events` has no history: `since` and `until` are accepted and ignored, a subscriber sees
//!   what happens after it connected. A subscriber with over 1 MiB unread misses events (the
//!   daemon's pubsub drops them too); they are not counted in `events_sent`. `filters` on
//!   `/containers/json` is ignored.
//! - No image, volume, daemon or health events; `docker stop` always succeeds at SIGTERM
//!   (exit 143) rather than waiting out a timeout for SIGKILL.
//! - No authentication beyond TLS client certificates, no HTTP/2 (no ALPN), no request
//!   bodies beyond skipping them.
//!
//! # TLS
//! [`Listen::Tls`] serves everything above over TLS (rustls with the ring provider), with or
//! without client certificates ([`SimTls::client_ca`]); [`certs`] writes a throwaway CA,
//! server and client certificate (and broken ones for negative tests). A failed handshake
//! closes that connection only (logged with [`SimConfig::log_requests`]); plain HTTP sent to
//! the TLS port gets Go's `400 Bad Request` "Client sent an HTTP request to an HTTPS server.",
//! as from dockerd. Counters mean the same as without TLS: a frame is sent once its last
//! byte's TLS record is on the socket.
//!
//! # Module map
//! - `model`: containers, their lifecycle, and their counters as pure functions of time;
//! - `events`: event JSON and `/events` filters;
//! - `frames`: stats frame JSON (cgroup v1 and v2);
//! - `api`: request → answer (routing, JSON bodies, error bodies);
//! - `http`: request head parsing, response heads, chunked framing;
//! - `server`: the mio loop, timers, connection buffers, TLS, shutdown;
//! - `certs`: throwaway certificates (public);
//! - `time`, `json`: formatting helpers;
//! - `fault`: misbehaviours to inject into streams.

// The sim's system calls go through `dockstat::sys`, which keeps its `unsafe` in one place.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

mod api;
pub mod certs;
mod events;
mod fault;
mod frames;
mod http;
mod json;
pub mod limits;
mod model;
mod server;
pub mod svg;
#[cfg(test)]
mod tests;
mod time;

pub use fault::{CHAOS, FAULT_KINDS, Fault, FaultRule};
pub use model::Workload;

/// The cgroup version whose stats frame shape the sim produces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Cgroup {
    /// cgroup v1 (the Docker 20.10 captures): `percpu_usage`, `max_usage`, v1 memory keys.
    #[default]
    V1,
    /// cgroup v2 (the 2022 docs frame): no per-CPU usage, v2 memory keys, lowercase blkio ops.
    V2,
}

/// Which daemon the sim passes for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flavor {
    /// Docker 20.10 (the fixtures).
    #[default]
    Docker,
    /// Podman 4's Docker-compatible API (`pkg/api/handlers/compat/containers_stats_linux.go`):
    /// stats frames without `precpu_stats`, `online_cpus`, `percpu_usage` or
    /// `memory_stats.stats`, with io.stat's `rios`/`wios`/`dbytes`/`dios` among the blkio
    /// entries and Podman's own `cpu` percentage; `stream=false` answers at once with one such
    /// frame; `Server: Libpod/4.9.3 (linux)`; `/version` lists the `Podman Engine` component.
    /// Podman sends a frame every 5 s: set [`SimConfig::interval`] to match. The counters are
    /// cgroup v2's whatever [`SimConfig::cgroup`] says (io.stat's entries are v2's).
    Podman,
}

/// Where the sim listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket at this path. A stale socket file nobody listens on is replaced; the
    /// file is removed on shutdown.
    Unix(PathBuf),
    /// Plain TCP. Port 0 picks a free port ([`Sim::url`] tells which).
    Tcp(SocketAddr),
    /// TCP with TLS (as `dockerd --tlsverify -H tcp://…:2376`). Port 0 picks a free port;
    /// [`Sim::url`] is `tcp://…` all the same: that TLS is used is the client's configuration,
    /// as with `DOCKER_TLS_VERIFY`.
    Tls { addr: SocketAddr, tls: SimTls },
}

/// The TLS side of a [`Listen::Tls`] listener: PEM files, read when the sim starts. A
/// generated set is one call away: [`certs::Pki::generate`], then [`certs::Pki::sim_tls`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimTls {
    /// The server's certificate chain, leaf first (docker's `server-cert.pem`).
    pub cert_chain: PathBuf,
    /// The server's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) (`server-key.pem`).
    pub key: PathBuf,
    /// With a CA file (`ca.pem`), every client must present a certificate signed by it, as
    /// with `dockerd --tlsverify --tlscacert`; a handshake without one fails. `None`: no
    /// client certificate is asked for.
    pub client_ca: Option<PathBuf>,
}

/// Automatic container churn (see [`SimConfig::churn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Churn {
    /// Time between churn ticks. Each tick stops one running container (`kill`, `die`,
    /// `network disconnect`, `stop` events) and creates and starts a new one (`create`,
    /// `network connect`, `start`), so the number of running containers stays constant. Which
    /// container is stopped is deterministic from the seed (given the same prior operations).
    /// Clamped to 1 ms ..= 1 day.
    pub every: Duration,
    /// Remove each container churn stopped this long after it stopped (`destroy`), unless it
    /// was started again meanwhile. `None` keeps them, exited, in `all=1` listings.
    pub remove_after: Option<Duration>,
}

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Running containers.
    pub containers: usize,
    /// Exited containers: listed with `all=1`; their stats frames are all zeros.
    pub stopped: usize,
    /// Time between the frames of a stream, and the wait of a `stream=false` request (the
    /// real daemon's collector ticks every second). Clamped to 1 ms ..= 1 day.
    pub interval: Duration,
    /// Frame shape: cgroup v1 (the fixtures) or v2.
    pub cgroup: Cgroup,
    /// The daemon it passes for: Docker, or Podman's compat API (whose frames have their own
    /// shape, whatever [`SimConfig::cgroup`] says).
    pub flavor: Flavor,
    /// Seed of ids and jitter: the same seed gives the same containers and counters.
    pub seed: u64,
    /// Online CPUs of the simulated host (`online_cpus`, `percpu_usage` length).
    pub ncpu: u32,
    /// Host memory in bytes: the `memory_stats.limit` of containers without `-m`.
    pub mem_total: u64,
    /// Send each frame as two chunks split at a pseudo-random point instead of one chunk
    /// per frame, so that clients cannot assume chunk boundaries are frame boundaries.
    pub split_chunks: bool,
    /// Faults to inject into the stats streams of named containers.
    pub faults: Vec<FaultRule>,
    /// Print each request and its status (and accept errors) to stderr.
    pub log_requests: bool,
    /// Sample every counter as if the clock stood at this instant (nanoseconds since the
    /// epoch): `stream=false` describes [t, t + interval], frame k of a stream t + k × interval,
    /// and listings say "Up …" as of t. Two clients then see identical numbers, which is what
    /// a comparison with the docker CLI needs. `None` (the default) follows the wall clock.
    pub fixed_clock: Option<u64>,
    /// Stop and replace running containers periodically. `None` (the default): containers
    /// change only when told to through the [`Sim`] handle.
    pub churn: Option<Churn>,
    /// Chaos for soak runs: this often, one open stats stream without a fault in progress,
    /// picked at random (deterministic from [`SimConfig::seed`], as churn's victims), gets a
    /// fault from [`CHAOS`] (reset mid-chunk or mid-frame, truncation, a stall mid-frame, a
    /// garbage chunk size, a slow drip, an error status) at its next frame. Counted in
    /// [`SimCounters::faults_injected`] and [`Sim::fault_counts`]. Clamped to 1 ms ..= 1 day.
    pub chaos: Option<Duration>,
    /// `State.Pid` of a running (or paused) container in its inspect document: this plus the
    /// container's index in the model (stopped ones answer 0, as the daemon does). The
    /// default, [`SIM_PID_BASE`], is above Linux's largest pid (2^22), so no pid of this
    /// machine is implied; a test that lays out a fake `/proc` uses these numbers.
    pub pid_base: u32,
    /// `HostConfig.NanoCpus`, `CpuQuota` and `CpuPeriod` of every container's inspect
    /// (`docker run --cpus`, `--cpu-quota`, `--cpu-period`), and the limit its frames'
    /// throttling follows; zero by default: each workload's own ([`limits`]: `busy` 0.5 CPUs,
    /// `writer` 1.5, the others none).
    pub nano_cpus: i64,
    pub cpu_quota: i64,
    pub cpu_period: i64,
}

/// The default [`SimConfig::pid_base`]: above `PID_MAX_LIMIT` (4,194,304), so never a real pid.
pub const SIM_PID_BASE: u32 = 5_000_000;

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            containers: 3,
            stopped: 0,
            interval: Duration::from_secs(1),
            cgroup: Cgroup::V1,
            flavor: Flavor::Docker,
            seed: 1,
            ncpu: 2,
            // The fixtures' host: 23.5 GiB.
            mem_total: 25_276_502_016,
            split_chunks: false,
            faults: Vec::new(),
            log_requests: false,
            fixed_clock: None,
            churn: None,
            chaos: None,
            pid_base: SIM_PID_BASE,
            nano_cpus: 0,
            cpu_quota: 0,
            cpu_period: 0,
        }
    }
}

/// A snapshot of the sim's activity counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Stats frames whose last byte has been written to a socket (streams and single-frame
    /// answers alike). A fault's payload is not a frame (see [`SimCounters::faults_injected`]).
    pub frames_sent: u64,
    /// Stream frames not sent because the client was not reading fast enough.
    pub frames_skipped: u64,
    /// Stats streams currently open.
    pub streams_open: u64,
    /// Connections accepted since the start.
    pub connections_accepted: u64,
    /// Connections currently open.
    pub connections_open: u64,
    /// Requests parsed (including ones answered with an error).
    pub requests: u64,
    /// Events whose last byte has been written to an `/events` subscriber (an event sent to
    /// two subscribers counts twice).
    pub events_sent: u64,
    /// Containers running or paused now (what `/containers/json` lists without `all`).
    pub containers_running: u64,
    /// Faults injected ([`SimConfig::faults`] and chaos), each time one was applied: a stream
    /// fault once per stream it hit, an error status once per request answered with it, a
    /// broken name once per frame carrying it. [`Sim::fault_counts`] has them by kind.
    pub faults_injected: u64,
}

/// A running sim, serving on a background thread until [`Sim::shutdown`] or drop.
pub struct Sim {
    shared: Arc<server::Shared>,
    waker: Arc<mio::Waker>,
    commands: mpsc::Sender<server::Command>,
    thread: Option<JoinHandle<io::Result<()>>>,
    url: String,
    socket_path: Option<PathBuf>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// Binds `listen`, then starts serving on a new thread. Returns once the socket is
    /// listening, so a client may connect right away.
    ///
    /// # Errors
    /// Binding fails (the address is in use, by a live socket or a file that is not a socket;
    /// the path is too long for a unix socket; permissions), or the thread cannot be spawned.
    pub fn start(listen: Listen, config: SimConfig) -> io::Result<Sim> {
        let bound = server::bind(&listen)?;
        let shared = Arc::new(server::Shared::default());
        // Right from the start, before the server thread has built its model.
        shared
            .containers_running
            .store(config.containers as u64, Ordering::Relaxed);
        let waker = Arc::clone(&bound.waker);
        let url = bound.url.clone();
        let socket_path = bound.socket_path.clone();
        let thread_shared = Arc::clone(&shared);
        let (commands, receiver) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("dockstat-sim".to_owned())
            .spawn(move || server::serve(bound, config, thread_shared, Some(receiver)));
        let thread = match spawned {
            Ok(t) => t,
            Err(e) => {
                if let Some(p) = &socket_path {
                    let _ = std::fs::remove_file(p);
                }
                return Err(e);
            }
        };
        Ok(Sim {
            shared,
            waker,
            commands,
            thread: Some(thread),
            url,
            socket_path,
        })
    }

    /// The address in `DOCKER_HOST` form: `unix:///abs/path` or `tcp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> SimCounters {
        self.shared.counters()
    }

    /// Faults injected so far by kind (names from [`FAULT_KINDS`], in that order, zeros
    /// included).
    pub fn fault_counts(&self) -> Vec<(&'static str, u64)> {
        self.shared.fault_counts()
    }

    /// Stats frames sent so far for containers named `name` (streams and single samples, as
    /// [`SimCounters::frames_sent`] counts them: once their last byte is on the socket; fault
    /// payloads are not frames). For checking a client's count per container exactly.
    ///
    /// # Errors
    /// The sim has shut down.
    pub fn frames_sent_for(&self, name: &str) -> io::Result<u64> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(server::Command::FramesSentFor {
            name: name.to_owned(),
            reply,
        })?;
        answer.recv().map_err(|_| gone())
    }

    /// Pauses stats frames (`true`) or resumes them, as `GET /_sim/pause` and `/_sim/resume`
    /// do: while paused, stream ticks write nothing (a frame being dripped is finished).
    ///
    /// # Errors
    /// The sim has shut down.
    pub fn pause_frames(&self, paused: bool) -> io::Result<()> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(server::Command::PauseFrames { paused, reply })?;
        answer.recv().map_err(|_| gone())
    }

    /// Drops every `/events` subscription: their connections are closed in the middle of the
    /// chunked body, as when the daemon's event stream breaks. Returns how many there were.
    ///
    /// # Errors
    /// The sim has shut down.
    pub fn drop_events(&self) -> io::Result<u64> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(server::Command::DropEvents { reply })?;
        answer.recv().map_err(|_| gone())
    }

    /// Restarts the daemon in place: every connection is closed and the listener too (a unix
    /// socket file is removed, so clients find no socket; TCP clients are refused); after
    /// `down` it listens again at the same address (the same port, if port 0 picked one).
    /// Returns once the sockets are closed; the down time runs on the server thread, so the
    /// caller can watch a client meanwhile. Containers and counters carry on as they were
    /// (as with dockerd's live-restore); faults of [`SimConfig::faults`] apply to new streams
    /// as before.
    ///
    /// # Errors
    /// The sim has shut down.
    pub fn restart(&self, down: Duration) -> io::Result<()> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(server::Command::Restart { down, reply })?;
        answer.recv().map_err(|_| gone())?
    }

    /// Creates a container named `name`, or `WORKLOAD-N` continuing the numbering (the
    /// workload follows the cycle, the id comes from the seed). It is listed with `all=1` as
    /// "Created"; subscribers get a `create` event. Returns its id.
    ///
    /// # Errors
    /// `AlreadyExists` if the name is taken, `InvalidInput` if it is not a valid container
    /// name, or an error if the sim has shut down.
    pub fn create(&self, name: Option<&str>) -> io::Result<String> {
        self.command(model::Op::Create(name.map(str::to_owned)), "")
    }

    /// Starts a created or exited container (`docker start`): `network connect` and `start`
    /// events; its stats frames become live again. Named `start_container` because
    /// [`Sim::start`] starts the sim.
    ///
    /// `container` is a name, an id or a unique id prefix, here and in the methods below.
    ///
    /// # Errors
    /// `NotFound` for an unknown container, `InvalidInput` if it is already running (or the
    /// prefix is ambiguous), or an error if the sim has shut down.
    pub fn start_container(&self, container: &str) -> io::Result<()> {
        self.command(model::Op::Start, container).map(drop)
    }

    /// Stops a running or paused container (`docker stop`): `kill` (signal 15), `die`
    /// (exitCode 143), `network disconnect`, `stop`. Its open stats streams go on with zero
    /// frames.
    ///
    /// # Errors
    /// `NotFound` for an unknown container, `InvalidInput` if it is not running.
    pub fn stop(&self, container: &str) -> io::Result<()> {
        self.command(model::Op::Stop, container).map(drop)
    }

    /// Kills a running or paused container (`docker kill`): `kill` (signal 9), `die`
    /// (exitCode 137), `network disconnect`.
    ///
    /// # Errors
    /// `NotFound` for an unknown container, `InvalidInput` if it is not running.
    pub fn kill(&self, container: &str) -> io::Result<()> {
        self.command(model::Op::Kill, container).map(drop)
    }

    /// Pauses a running container (`docker pause`): a `pause` event; frames keep coming, with
    /// the container's counters frozen; listed as "Up … (Paused)".
    ///
    /// # Errors
    /// `NotFound` for an unknown container, `InvalidInput` if it is not running or already
    /// paused.
    pub fn pause(&self, container: &str) -> io::Result<()> {
        self.command(model::Op::Pause, container).map(drop)
    }

    /// Unpauses a paused container: an `unpause` event.
    ///
    /// # Errors
    /// `NotFound` for an unknown container, `InvalidInput` if it is not paused.
    pub fn unpause(&self, container: &str) -> io::Result<()> {
        self.command(model::Op::Unpause, container).map(drop)
    }

    /// Removes a created or exited container (`docker rm`), or with `force` a running or
    /// paused one too (`docker rm -f`: `kill` signal 9, `die` 137, `network disconnect`
    /// first): a `destroy` event. Open stats streams send two more zero frames and end;
    /// new stats requests get a 404.
    ///
    /// # Errors
    /// `NotFound` for an unknown container, `InvalidInput` if it runs and `force` is false.
    pub fn remove(&self, container: &str, force: bool) -> io::Result<()> {
        self.command(model::Op::Remove { force }, container)
            .map(drop)
    }

    /// Sends a lifecycle command to the server thread and waits for it to be applied.
    fn command(&self, op: model::Op, target: &str) -> io::Result<String> {
        let (reply, answer) = mpsc::sync_channel(1);
        self.send(server::Command::Lifecycle {
            op,
            target: target.to_owned(),
            reply,
        })?;
        answer.recv().map_err(|_| gone())?
    }

    /// Hands a command to the server thread.
    fn send(&self, command: server::Command) -> io::Result<()> {
        self.commands.send(command).map_err(|_| gone())?;
        self.waker.wake()
    }

    /// Stops the server thread, closes every socket and removes the unix socket file.
    pub fn shutdown(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        // If waking fails the loop still sees the flag at its next timer or event.
        let _ = self.waker.wake();
        // A panic on the server thread would be a sim bug; shutting down is all that is left.
        let _ = thread.join();
        if let Some(p) = &self.socket_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the sim has shut down")
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.halt();
    }
}

/// Serves in the foreground until SIGINT or SIGTERM (or an I/O error of the poll itself), then
/// closes every connection, removes the unix socket file and returns `Ok`: a daemon's clean
/// stop, for the `dockstat sim` subcommand. Installs the process's stop signal handlers
/// ([`Process::install_stop_signals`](dockstat::sys::Process::install_stop_signals)).
///
/// # Errors
/// Binding fails (see [`Sim::start`]), or `epoll_wait` itself fails.
pub fn run(listen: Listen, config: SimConfig) -> io::Result<()> {
    run_notify(listen, config, |_| {})
}

/// [`run`], calling `listening` with the URL (as [`Sim::url`]) once the socket listens: the
/// port that port 0 picked, for the `dockstat sim` banner.
///
/// # Errors
/// As [`run`].
pub fn run_notify(
    listen: Listen,
    config: SimConfig,
    listening: impl FnOnce(&str),
) -> io::Result<()> {
    use dockstat::sys::Process;
    use std::sync::atomic::AtomicBool;

    /// How often the watcher looks at the signal flag: the latest a stop can be noticed.
    const SIGNAL_CHECK: Duration = Duration::from_millis(20);

    let bound = server::bind(&listen)?;
    let socket_path = bound.socket_path.clone();
    Process::install_stop_signals();
    // The serving loop waits in `epoll_wait`, which a signal interrupts only on the thread it
    // is delivered to, and which could have been entered just after the signal: a watcher
    // turns the signal into the loop's own stop flag and wakes it.
    let shared = Arc::new(server::Shared::default());
    let served = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (shared, served, waker) = (
            Arc::clone(&shared),
            Arc::clone(&served),
            Arc::clone(&bound.waker),
        );
        std::thread::Builder::new()
            .name("dockstat-sim-signals".to_owned())
            .spawn(move || {
                while !served.load(Ordering::Acquire) {
                    if Process::stop_signal_received() {
                        shared.stop.store(true, Ordering::Release);
                        // A failed wake leaves the stop to the loop's next timer or event.
                        let _ = waker.wake();
                        return;
                    }
                    std::thread::sleep(SIGNAL_CHECK);
                }
            })
    };
    let result = match watcher {
        Ok(watcher) => {
            listening(&bound.url);
            let result = server::serve(bound, config, shared, None);
            served.store(true, Ordering::Release);
            let _ = watcher.join();
            result
        }
        Err(e) => Err(e),
    };
    if let Some(p) = socket_path {
        let _ = std::fs::remove_file(p);
    }
    result
}
