//! Stats frames: from a decoded `/containers/{id}/stats` body to typed samples.
//!
//! - [`FrameSplitter`]: newline-delimited frames out of the body. A frame may span reads and
//!   a read may hold several; each is handed over whole, without a copy when it lies whole in
//!   the input, and one longer than the splitter's limit ends the stream.
//! - [`parse`]: one frame into a [`Sample`] borrowed from it, with a [`FrameDecoder`] that reads
//!   the fields it needs and skips the rest with a SIMD scan.
//! - [`model`]: the sample's types.
//! - [`math`]: the numbers `docker stats` shows, computed as docker/cli computes them.
//! - [`stream`]: the three together for one stream: push body bytes, pull derived samples.

mod cursor;
// The default frame limit is public as `FrameSplitter::DEFAULT_MAX_LEN`, beside the type it
// limits, rather than as the module's free constant.
#[forbid(unsafe_code)]
#[allow(unreachable_pub)]
mod frame;
pub mod math;
pub mod model;
pub mod parse;
mod skip;
pub mod stream;

pub use crate::error::FrameError;
pub use cursor::Fail;
pub(crate) use frame::DEFAULT_MAX_FRAME_LEN;
pub use frame::FrameSplitter;
pub use math::{Derived, Platform, derive};
pub use model::{
    BlkioStats, CpuLimit, CpuStats, MemoryStats, NetworkStats, Networks, PidsStats, Pressure,
    Pressures, Sample, Source, StallLine, StorageStats, Throttling, Timestamp,
};
pub use parse::FrameDecoder;
pub use stream::{Decoded, Samples, StatsStream};

impl FrameSplitter {
    /// The longest frame a [`FrameSplitter::default`] accepts, and the engine's default
    /// [`max_frame_len`](crate::engine::EngineConfig::max_frame_len); a longer one is
    /// [`FrameError::TooLong`].
    pub const DEFAULT_MAX_LEN: usize = DEFAULT_MAX_FRAME_LEN;
}
