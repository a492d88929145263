//! A simulated Docker daemon: the server that dockstat's tests, benchmarks and demo talk to
//! when there is no real Docker.
//!
//! # What it is
//! An HTTP/1.1 server on a unix socket or plain TCP that answers the read-only part of the
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
//! concurrent stats streams (see `server.rs` for how).
//!
//! # What it is not
//! - Not a container runtime: no `POST`/`DELETE` endpoints (they get the daemon's 404
//!   "page not found", as any unknown route does), no exec, logs, inspect or networks.
//! - Containers do not change state yet, so `/events` stays silent (its `since`, `until` and
//!   `filters` parameters are accepted and ignored), and `filters` on `/containers/json` is
//!   ignored too.
//! - No TLS, no authentication, no HTTP/2, no request bodies beyond skipping them.
//!
//! # Module map
//! - `model`: containers and their counters as pure functions of time;
//! - `frames`: stats frame JSON (cgroup v1 and v2);
//! - `api`: request → answer (routing, JSON bodies, error bodies);
//! - `http`: request head parsing, response heads, chunked framing;
//! - `server`: the mio loop, timers, connection buffers, shutdown;
//! - `time`, `json`: formatting helpers;
//! - `fault`: misbehaviours to inject into streams.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

mod api;
mod fault;
mod frames;
mod http;
mod json;
mod model;
mod server;
#[cfg(test)]
mod tests;
mod time;

pub use fault::{Fault, FaultRule};
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

/// Where the sim listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// A unix socket at this path. A stale socket file nobody listens on is replaced; the
    /// file is removed on shutdown.
    Unix(PathBuf),
    /// Plain TCP. Port 0 picks a free port ([`Sim::url`] tells which).
    Tcp(SocketAddr),
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
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            containers: 3,
            stopped: 0,
            interval: Duration::from_secs(1),
            cgroup: Cgroup::V1,
            seed: 1,
            ncpu: 2,
            // The fixtures' host: 23.5 GiB.
            mem_total: 25_276_502_016,
            split_chunks: false,
            faults: Vec::new(),
            log_requests: false,
            fixed_clock: None,
        }
    }
}

/// A snapshot of the sim's activity counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimCounters {
    /// Stats frames whose last byte has been written to a socket (streams and single-frame
    /// answers alike).
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
}

/// A running sim, serving on a background thread until [`Sim::shutdown`] or drop.
pub struct Sim {
    shared: Arc<server::Shared>,
    waker: Arc<mio::Waker>,
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
        let waker = Arc::clone(&bound.waker);
        let url = bound.url.clone();
        let socket_path = bound.socket_path.clone();
        let thread_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("dockstat-sim".to_owned())
            .spawn(move || server::serve(bound, config, thread_shared));
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

    /// Stops the server thread, closes every socket and removes the unix socket file.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
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

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves in the foreground, forever (or until an I/O error of the poll itself). For the
/// `dockstat sim` subcommand, which handles signals itself.
///
/// # Errors
/// Binding fails (see [`Sim::start`]), or `epoll_wait` itself fails.
pub fn run(listen: Listen, config: SimConfig) -> io::Result<()> {
    let bound = server::bind(&listen)?;
    let socket_path = bound.socket_path.clone();
    let result = server::serve(bound, config, Arc::new(server::Shared::default()));
    if let Some(p) = socket_path {
        let _ = std::fs::remove_file(p);
    }
    result
}
