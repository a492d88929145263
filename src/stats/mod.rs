//! Stats frames: from a decoded `/containers/{id}/stats` body to frames.

pub mod frame;

pub use frame::{DEFAULT_MAX_FRAME_LEN, FrameError, FrameSplitter};
