//! The engine: the only layer with sockets, readiness and clocks.
//!
//! - [`endpoint`]: where the daemon is (`DOCKER_HOST`, `-H`).
//! - [`version`]: API version negotiation.
//! - [`reactor`]: many HTTP connections on one mio `Poll`.
//! - [`client`]: sequential one-off requests on the reactor.
//! - [`watch`]: the engine: discovery, one stream per container, reconnects, staleness.
//! - [`queue`]: the engine on its own thread, a bounded queue to a slow consumer.
//! - [`histogram`]: the engine's timing histograms (frame processing time, delivery lag).

pub mod client;
pub mod endpoint;
pub mod histogram;
pub mod queue;
pub(crate) mod reactor;
pub(crate) mod transport;
pub mod version;
pub mod watch;

pub use client::{Client, Response};
pub use endpoint::Endpoint;
pub use histogram::{DecodeErrorCounts, EngineMetrics, Histogram};
pub use queue::{Spawned, Update, Updates, spawn};
pub use version::ApiVersion;
pub use watch::{
    Container, Control, Counters, Engine, EngineConfig, Event, Gone, Mode, Selection, StopHandle,
};
