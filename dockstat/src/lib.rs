//! dockstat: stream Docker container stats for thousands of containers from one thread.
//!
//! Watching a daemon: here a simulated one (from the `dockstat-sim` crate) with three
//! containers, each printing its CPU % until nine samples have come in.
//!
//! ```
//! use std::time::Duration;
//!
//! use dockstat::engine::{Control, Endpoint, Engine, EngineConfig, Event};
//! use dockstat_sim::{Listen, Sim, SimConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let socket = std::env::temp_dir().join(format!("dockstat-doc-{}.sock", std::process::id()));
//! let fast = SimConfig { interval: Duration::from_millis(50), ..SimConfig::default() };
//! let sim = Sim::start(Listen::Unix(socket), fast)?;
//!
//! // Every running container of the daemon, one stats stream each, on this thread.
//! let mut engine = Engine::new(EngineConfig::new(Endpoint::parse(&sim.url())?))?;
//! let mut samples = 0;
//! engine.run(&mut |event| {
//!     if let Event::Sample { container, derived, .. } = event {
//!         println!("{:<10} {:6.2}% CPU", container.name, derived.cpu_percent);
//!         samples += 1;
//!     }
//!     if samples < 9 { Control::Continue } else { Control::Stop }
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! For a real daemon, [`Endpoint::from_env`](engine::Endpoint::from_env) reads `DOCKER_HOST`
//! the way the docker CLI does. [`engine::spawn`] runs the engine on its own thread instead,
//! with a bounded queue to a consumer that may be slow.
//!
//! The Docker Engine API serves `GET /containers/{id}/stats` as a chunked HTTP/1.1 stream of
//! JSON frames, one connection per container. dockstat holds all of those connections on one
//! nonblocking [mio] reactor, with a hand-written HTTP/1.1 client, so that watching every
//! container on a host costs a small fixed amount of memory per container and a few
//! microseconds of CPU per frame.
//!
//! # Layers
//!
//! Each layer only calls the ones below it. Only the engine (and the Prometheus scrape server)
//! touches sockets or clocks; the codecs beneath it are sans-io, and public so that other
//! harnesses (fuzzers, tests, another event loop) can drive them.
//!
//! ```text
//! engine       the Engine (discovery, one stats stream per container, reconnects, staleness),
//!              spawn (the engine on its own thread), a Client for one-off requests,
//!              endpoints (DOCKER_HOST) and API versions; within, crate-internal, the mio
//!              reactor and the transports (unix, tcp, tls)
//!   tls        (feature "tls") rustls sessions for tcp:// endpoints, certificate loading
//!   conn       one request/response exchange as a state machine, no I/O
//!     http       response head parser, body framing rules, and the HTTP/1 grammar (tokens,
//!                head end, field lines, request line) that the servers' RequestHead shares
//!     chunked    chunked transfer coding decoder, payload borrowed from the input
//!   stats      StatsStream: frames out of the body, each decoded into a Sample, and the
//!              docker stats math; Timestamp with the one date and human-duration helper
//!   api        container and image listings, daemon events
//! prom         (feature "prometheus") Prometheus / OpenMetrics exposition of samples and
//!              engine metrics, and a small scrape server on its own thread
//! export       (feature "push") push export: Prometheus remote-write from a sender thread
//!              with a bounded buffer and retries, the same series as prom
//! sys          the C calls: open-files limit, socket options, stop signals, the time zone
//! error        one Error with its ErrorKind, and each codec's own error enum
//! ```
//!
//! # Scope
//!
//! In scope: the Docker Engine API over unix sockets, TCP and TLS, as a client of GET requests.
//! Not in scope: request bodies, HTTP/2, compression, proxies, `ssh://` and `npipe://` hosts.
//!
//! # Robustness
//!
//! Every byte from the network goes through a parser that returns a typed error rather than
//! panicking; limits on head size, header count, chunk lines, trailers and frame length are
//! named constants on the codec they limit. An error ends the exchange it hit and nothing else.

#![deny(unsafe_code, clippy::undocumented_unsafe_blocks)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

pub mod api;
pub mod chunked;
pub mod conn;
pub mod engine;
pub mod error;
#[cfg(feature = "push")]
pub mod export;
pub mod http;
#[cfg(feature = "prometheus")]
pub mod prom;
pub mod source;
pub mod stats;
pub mod sys;

#[cfg(feature = "tls")]
pub mod tls;

pub use error::{CgroupError, DecodeError, Error, ErrorKind, ProtocolError, TlsError};
