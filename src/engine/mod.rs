//! The engine: the only layer with sockets, readiness and clocks.
//!
//! - [`endpoint`]: where the daemon is (`DOCKER_HOST`, `-H`).
//! - [`version`]: API version negotiation.
//! - [`reactor`]: many HTTP connections on one mio `Poll`.
//! - [`client`]: sequential one-off requests on the reactor.
//! - [`stats`]: one stats stream per container, decoded into samples.

pub mod client;
pub mod endpoint;
pub mod reactor;
pub mod stats;
pub(crate) mod transport;
pub mod version;

pub use client::{Client, Response};
pub use endpoint::{Address, DEFAULT_HOST, Endpoint};
pub use reactor::{ConnEvent, ConnId, Flow, Reactor};
pub use stats::{Mode, StatsEngine, StatsEvent, StreamId};
pub use version::ApiVersion;
