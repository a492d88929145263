//! Stats frames: from a decoded `/containers/{id}/stats` body to typed samples.
//!
//! - [`FrameSplitter`]: newline-delimited frames out of the body.
//! - [`FrameDecoder`]: one frame into a [`Sample`] borrowed from it, reading the fields it needs
//!   and skipping the rest with a SIMD scan.
//! - [`Sample`] and the types of its fields.
//! - [`derive()`]: the numbers `docker stats` shows, computed as docker/cli computes them.

mod cursor;
// The default frame limit is public as `FrameSplitter::DEFAULT_MAX_LEN`, beside the type it
// limits, rather than as the module's free constant.
#[forbid(unsafe_code)]
#[allow(unreachable_pub)]
mod frame;
mod math;
mod model;
mod parse;
mod skip;

pub use cursor::Fail;
pub(crate) use frame::DEFAULT_MAX_FRAME_LEN;
pub use frame::{FrameError, FrameSplitter};
pub use math::{Derived, Platform, derive};
pub use model::{
    BlkioStats, CpuStats, MemoryStats, NetworkStats, Networks, PidsStats, Sample, StorageStats,
    Timestamp,
};
pub use parse::FrameDecoder;

impl FrameSplitter {
    /// The longest frame a [`FrameSplitter::default`] accepts, and the engine's default
    /// [`max_frame_len`](crate::engine::EngineConfig::max_frame_len); a longer one is
    /// [`FrameError::TooLong`].
    pub const DEFAULT_MAX_LEN: usize = DEFAULT_MAX_FRAME_LEN;
}
