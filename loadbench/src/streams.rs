//! What every client under test is to a phase: a set of streams it opens and pumps, and the
//! [`Tally`] of what it received. The floor, dockstat and bollard each implement [`Streams`];
//! the phase drives them without knowing which.

use std::time::Instant;

use crate::hist::Histogram;

/// What a client has counted so far (since it started).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Stats frames delivered.
    pub frames: u64,
    /// Streams that delivered at least one frame.
    pub opened: u64,
    /// Frames whose `read` is not later than the previous frame's on the same stream
    /// (`None`: the client does not look).
    pub duplicates: Option<u64>,
    /// Streams that failed.
    pub errors: u64,
    /// Streams the daemon ended.
    pub ended: u64,
    /// Connection attempts retried (EAGAIN from a full listen backlog, or any connect error
    /// for bollard); `None` if the client does not say (dockstat retries inside its reactor).
    pub connect_retries: Option<u64>,
    /// The first stream error, and the first error that caused a connect retry.
    pub first_error: Option<String>,
    pub first_retry_error: Option<String>,
}

/// A client under test.
pub trait Streams {
    /// Starts a stream for a container. Must not wait for it: connecting, retrying and
    /// receiving happen in `pump`.
    fn open(&mut self, id: &str) -> Result<(), String>;
    /// Receives (and connects, retries, …) until `until`.
    fn pump(&mut self, until: Instant) -> Result<(), String>;
    fn tally(&self) -> Tally;
    /// The latency histogram so far; `None` if this client does not measure latency.
    fn latency(&self) -> Option<Histogram>;
}
