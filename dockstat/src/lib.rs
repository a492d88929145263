//! dockstat: stream Docker container stats for thousands of containers from one thread.
//!
//! The Docker Engine API serves `GET /containers/{id}/stats` as a chunked HTTP/1.1 stream of
//! JSON frames, one connection per container. dockstat holds all of those connections on one
//! nonblocking [mio] reactor, with a hand-written HTTP/1.1 client, so that watching every
//! container on a host costs a small fixed amount of memory per container and a few
//! microseconds of CPU per frame.
//!
//! # Layers
//!
//! Each layer only calls the ones below it; only [`engine`] touches sockets or clocks.
//!
//! ```text
//! engine     mio reactor, transports (unix, tcp, tls), endpoints (DOCKER_HOST), a small
//!            client, the engine: discovery and a stats stream per container
//! tls        (feature "tls") rustls sessions for tcp:// endpoints, certificate loading
//!   conn     one request/response exchange as a state machine, no I/O
//!     http     response head parser, body framing rules, request writer, and the HTTP/1
//!              grammar (tokens, head end, fields, request line) servers share with it
//!     chunked  chunked transfer coding decoder, payload borrowed from the input
//!   stats    frames out of the body, each decoded into a Sample, and the docker stats math
//! api        typed container and image listings, and the human durations of their text
//! prom       Prometheus / OpenMetrics exposition of samples and engine metrics, and a
//!            small scrape server on its own thread
//! sim        (feature "sim") a simulated Docker daemon for tests, benchmarks and demos
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
//! named constants. An error ends the exchange it hit and nothing else.

#![deny(unsafe_code)]
#![warn(missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

pub mod api;
pub mod chunked;
pub mod conn;
pub mod engine;
pub mod error;
pub mod http;
#[cfg(feature = "prometheus")]
pub mod prom;
pub mod stats;
pub mod sys;

#[cfg(feature = "tls")]
pub mod tls;

pub use error::{DecodeError, Error, ErrorKind, ProtocolError, Result, TlsError};
