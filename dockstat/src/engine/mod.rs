//! The engine: the only layer with sockets, readiness and clocks, around sans-io parts.
//!
//! - [`endpoint`]: where the daemon is (`DOCKER_HOST`, `-H`).
//! - [`version`]: API version negotiation.
//! - `reactor`: many HTTP connections on one mio `Poll` (with `transport`: unix, TCP, TLS).
//! - [`client`]: sequential one-off requests on the reactor.
//! - The engine, [`Engine`]: one stats stream per container of one or more hosts. Its turn
//!   (`turn`) owns the reactor and the clock and drives sans-io parts that take `now` and
//!   say what should happen: `discovery` (per host: events before the listing, relisting),
//!   `stream` (per container: connect, backoff, staleness; admission under `max_streams`
//!   and the open-files limit), `backoff` (capped exponential delays with jitter), `info`
//!   (per host: its CPU count from `/info`, for frames without one), `cgroupfs` (per
//!   container: its inspect and cgroup reader; the pass that reads every reader at once, for
//!   [`SourcePolicy::Cgroupfs`] and `Auto`). What it watches is
//!   [`EngineConfig`] (`config`); what it reports is [`Event`] (`event`).
//! - [`queue`]: the engine on its own thread, a bounded queue to a slow consumer.
//! - [`histogram`]: the engine's timing histograms (frame processing time, delivery lag).

#![forbid(unsafe_code)]

pub(crate) mod backoff;
mod cgroupfs;
pub mod client;
mod config;
mod discovery;
pub mod endpoint;
mod event;
pub mod histogram;
mod info;
pub mod queue;
pub(crate) mod reactor;
mod stream;
pub(crate) mod transport;
mod turn;
pub mod version;

pub use client::{Client, Response};
pub use config::{EngineConfig, Mode, Selection, SourcePolicy};
pub use endpoint::Endpoint;
pub use event::{Container, Control, Counters, Event, Gone, HostState};
pub use histogram::{DecodeErrorCounts, EngineMetrics, Histogram};
pub use queue::{Spawned, Update, Updates, spawn};
pub use turn::{Engine, StopHandle};
pub use version::ApiVersion;
