//! Frame splitter: newline-delimited JSON documents out of a decoded body.
//!
//! The daemon writes one JSON document and `\n` per chunk, but nothing guarantees that a read,
//! or a chunk, holds exactly one frame: a frame may span chunks, and a chunk may hold several.
//! The splitter hands each complete frame to the caller as a `&[u8]`:
//!
//! - a frame that lies whole in the input is handed over where it is, without a copy (with
//!   the reactor, in its shared read buffer);
//! - the start of a frame that the input does not finish is kept in the splitter's own buffer,
//!   which is completed there and released once the frame is delivered, so an idle stream
//!   holds no frame memory.
//!
//! A frame longer than the limit given to [`FrameSplitter::new`] is an error that ends the
//! stream; without a limit, a peer that never sends `\n` could take all memory.
//! Empty lines are skipped.
//!
//! What this module does not do: look inside frames (see [`super::parse`]).

use std::fmt;

/// The default frame length limit. Real frames are about 2 KiB (more with many networks or
/// block devices); this leaves two orders of magnitude of room.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// Why a body could not be split into frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame is longer than the limit.
    TooLong {
        /// The limit in bytes.
        max: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { max } => write!(f, "stats frame longer than {max} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Splits a byte stream at `\n` into frames, with a maximum frame length.
#[derive(Debug)]
pub struct FrameSplitter {
    partial: Vec<u8>,
    max_len: usize,
}

impl Default for FrameSplitter {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LEN)
    }
}

impl FrameSplitter {
    /// A splitter that rejects frames longer than `max_len` bytes (the `\n` not counted).
    pub fn new(max_len: usize) -> FrameSplitter {
        FrameSplitter {
            partial: Vec::new(),
            max_len,
        }
    }

    /// Bytes of an unfinished frame held from earlier input.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Feeds body bytes and calls `on_frame` with each frame they complete, in order.
    ///
    /// On error, the frames before the offending one have been delivered; the splitter must
    /// not be fed again.
    pub fn push(
        &mut self,
        mut data: &[u8],
        on_frame: &mut dyn FnMut(&[u8]),
    ) -> Result<(), FrameError> {
        if !self.partial.is_empty() {
            match find_newline(data) {
                None => return self.keep(data),
                Some(nl) => {
                    if self.partial.len() + nl > self.max_len {
                        return Err(FrameError::TooLong { max: self.max_len });
                    }
                    self.partial.extend_from_slice(&data[..nl]);
                    on_frame(&self.partial);
                    // Release the memory: a stream between frames holds nothing.
                    self.partial = Vec::new();
                    data = &data[nl + 1..];
                }
            }
        }
        while let Some(nl) = find_newline(data) {
            if nl > self.max_len {
                return Err(FrameError::TooLong { max: self.max_len });
            }
            if nl > 0 {
                on_frame(&data[..nl]);
            }
            data = &data[nl + 1..];
        }
        self.keep(data)
    }

    /// Ends the body: a last frame without a trailing `\n` is delivered.
    ///
    /// Only for a body that ended cleanly; after a truncated body, drop the splitter instead so
    /// that a half frame is never delivered.
    pub fn finish(&mut self, on_frame: &mut dyn FnMut(&[u8])) {
        if !self.partial.is_empty() {
            on_frame(&self.partial);
            self.partial = Vec::new();
        }
    }

    fn keep(&mut self, rest: &[u8]) -> Result<(), FrameError> {
        if self.partial.len() + rest.len() > self.max_len {
            return Err(FrameError::TooLong { max: self.max_len });
        }
        self.partial.extend_from_slice(rest);
        Ok(())
    }
}

/// The one scan over every byte of every frame: vectorised, since a byte-at-a-time loop over
/// 2 KiB frames costs more than everything else the splitter does.
#[inline]
fn find_newline(data: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', data)
}
