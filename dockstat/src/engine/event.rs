//! What the engine tells its caller: the watched [`Container`]s, the [`Event`]s of a turn, why
//! a container is [`Gone`], the engine's [`Counters`] and each host's [`HostState`].

#![forbid(unsafe_code)]

use std::time::SystemTime;

use super::histogram::DecodeErrorCounts;
use crate::error::Error;
use crate::stats::{Derived, Sample};

/// A watched container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Index of its host in [`EngineConfig::hosts`](super::EngineConfig::hosts).
    pub host: usize,
    /// The full id (for [`Selection::Named`](super::Selection::Named), known from the first sample on; until then the
    /// name as given).
    pub id: String,
    /// The name without its leading `/`.
    pub name: String,
    /// The image, when discovery knows it.
    pub image: String,
    /// The container's labels, when discovery knows them.
    pub labels: Vec<(String, String)>,
    /// The name as the caller gave it ([`Selection::Named`](super::Selection::Named)), else the short id.
    pub requested: String,
    /// Stays the same for this container while it is watched (a slot index).
    pub key: u32,
}

impl Container {
    /// A container asked for by name, before its first sample tells its id.
    pub(crate) fn named(host: usize, name: String) -> Container {
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
}

/// Why a container is no longer watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// It stopped (a `die` event, without [`Selection::All`](super::Selection::All)).
    Stopped,
    /// It was removed: a `destroy` event, the daemon ending its stream, or a 404.
    Removed,
    /// Its one sample was delivered ([`Mode::Once`](super::Mode::Once), [`Mode::OneShot`](super::Mode::OneShot)).
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
    /// No frame for [`EngineConfig::stale_after`](super::EngineConfig::stale_after) (reported once; a frame ends it).
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
    /// Stop the engine: [`Engine::run`](super::Engine::run) returns.
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
    /// Containers not watched because of [`EngineConfig::max_streams`](super::EngineConfig::max_streams).
    pub capped: usize,
}

/// One host's state, for alerting on a daemon that is down while the others go on
/// ([`Engine::host_states`](super::Engine::host_states)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostState {
    /// Discovery is working: its last listing succeeded and, when following the daemon, its
    /// `/events` connection is open (for [`Selection::Named`](super::Selection::Named): the
    /// version check answered). False from the host's first failure until it lists again.
    pub up: bool,
    /// Errors reported for this host ([`Event::Error`] with its index): discovery failures
    /// and its containers' stream failures.
    pub errors: u64,
    /// Reconnect attempts: discovery started again after a failure, and its containers'
    /// streams reopened after theirs.
    pub reconnects: u64,
    /// Its containers watched now (not those waiting beyond
    /// [`EngineConfig::max_streams`](super::EngineConfig::max_streams)).
    pub containers: usize,
    /// The last time the host was known up: the time of this call while it is up, else when
    /// it went down; `None` while it has never been up.
    pub last_up: Option<SystemTime>,
    /// The CPU count of the daemon's host (`NCPU` of `GET /info`), which its streams use for
    /// frames that carry none (Podman's); 0 while unknown.
    pub cpus: u32,
}
