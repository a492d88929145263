//! Stats frames: from a decoded `/containers/{id}/stats` body to typed samples.
//!
//! - [`frame`]: newline-delimited frames out of the body.
//! - [`parse`]: one frame into a [`Sample`] borrowed from it (with [`cursor`] for the parts it
//!   reads and `skip` for the parts it does not).
//! - [`model`]: the sample's types.
//! - [`math`]: the numbers `docker stats` shows, computed as docker/cli computes them.

mod cursor;
#[forbid(unsafe_code)]
pub mod frame;
pub mod math;
pub mod model;
pub mod parse;
mod skip;

pub use cursor::Fail;
pub use frame::{DEFAULT_MAX_FRAME_LEN, FrameError, FrameSplitter};
pub use math::{Derived, Platform, derive};
pub use model::{
    BlkioStats, CpuStats, MemoryStats, NetworkStats, Networks, PidsStats, Sample, StorageStats,
    Timestamp,
};
pub use parse::FrameDecoder;
