//! What the model records when a container changes state: the event itself (time, action,
//! container, network), for `events.rs` to render and filter. Not the JSON nor the filters.

use std::rc::Rc;

use crate::time::UnixNanos;

/// The network a container joins or leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    /// `--network=none` (the driver the daemon calls `null`).
    None,
    /// The default bridge.
    Bridge,
}

/// One event, as the model produces it (rendered later by `events::Message::new`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) time: UnixNanos,
    /// `create`, `start`, `kill`, … for containers; `connect`/`disconnect` for networks.
    pub(crate) action: &'static str,
    /// The action's own attribute: `("signal", "15")`, `("exitCode", "143")`.
    pub(crate) extra: Option<(&'static str, &'static str)>,
    /// Set for network events: the network joined or left.
    pub(crate) network: Option<Net>,
    pub(crate) container: Rc<str>,
    pub(crate) name: Rc<str>,
    /// The container's `sim.workload` label.
    pub(crate) label: &'static str,
}
