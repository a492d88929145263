//! What the engine watches and how: the hosts, the selection of containers, the sampling mode
//! and the limits. Plain data; [`EngineConfig::new`] gives the defaults.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use super::endpoint::Endpoint;
use super::version::ApiVersion;

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

/// Where each container's numbers come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SourcePolicy {
    /// The daemon's stats stream, one connection per container.
    #[default]
    Api,
    /// The container's cgroup files, read by the engine every
    /// [`interval`](EngineConfig::interval) (see [`crate::source`]); a container whose cgroup
    /// cannot be read is reported with an error and not streamed.
    Cgroupfs,
    /// The cgroup files where the daemon is local (a unix socket) and the container's cgroup
    /// is found, else the stats stream, decided per container.
    Auto,
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
    /// connection is given up on and it reconnects ([`Mode::Stream`] only). With a
    /// `read_period`, counted from the end of the period.
    pub stale_after: Duration,
    /// Read each stats stream at most once per this period ([`Mode::Stream`] only; zero, the
    /// default: as frames arrive). One `read` then returns every frame the daemon wrote since
    /// the last, which costs far less per frame than a wakeup and a read for each; samples come
    /// up to this much later, in bursts, each with its own `read` time so rates stay exact. For
    /// consumers that look less often than the period anyway: a scrape every 15 s, an agent
    /// that reports every 10 s. Keep it well under what the daemon's socket buffer holds
    /// (Docker writes a frame of about 2 KiB per second per stream; a unix socket buffers
    /// about 200 KiB): dockerd drops a subscriber whose writes block for 100 ms.
    pub read_period: Duration,
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
    /// (no [`Event::Added`](super::Event::Added)), in the order they were found, and take the place of watched
    /// ones that go; [`Counters::capped`](super::Counters::capped) counts them, and one [`Event::Error`](super::Event::Error) of kind
    /// [`ErrorKind::StreamLimit`](crate::ErrorKind::StreamLimit) says so when capping begins. In the one-sample modes
    /// this bounds how many samples are being taken at once.
    pub max_streams: usize,
    /// Where the numbers come from. With the cgroupfs source, [`Mode::OneShot`] is one pass
    /// (a warm-up sample, as `one-shot=1`) and [`Mode::Once`] two passes an
    /// [`interval`](EngineConfig::interval) apart, the second delivered (as `stream=0` spans
    /// the daemon's one-second tick). A container without a process (stopped) has no cgroup:
    /// its all-zero numbers come from the stats stream whatever the policy.
    pub source: SourcePolicy,
    /// How often the cgroupfs source reads every container's files, all in one pass so that
    /// rows are comparable.
    pub interval: Duration,
    /// Where the host's cgroup hierarchies are mounted (`/sys/fs/cgroup`; for an agent in a
    /// container, where the host's is mounted into it).
    pub cgroup_root: PathBuf,
    /// The host's `/proc` (the containers' network namespaces, their `/proc/PID/cgroup`, the
    /// host's CPU counters).
    pub proc_root: PathBuf,
    /// Ask each container's inspect for its CPU limit, so that samples from the API carry
    /// [`Sample::cpu_limit`](crate::stats::Sample::cpu_limit) (one more request per container
    /// when it is added; the cgroupfs source reads the limit with every sample anyway).
    pub cpu_limits: bool,
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
            read_period: Duration::ZERO,
            max_connecting: 256,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(30),
            max_frame_len: crate::stats::DEFAULT_MAX_FRAME_LEN,
            connect_timeout: Duration::from_secs(10),
            max_streams: usize::MAX,
            source: SourcePolicy::Api,
            interval: Duration::from_secs(1),
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            proc_root: PathBuf::from("/proc"),
            cpu_limits: false,
        }
    }
}
