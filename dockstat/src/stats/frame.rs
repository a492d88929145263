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
//! Lines of only JSON whitespace (empty lines, a lone `\r` of a CRLF) are skipped, as Go's
//! `json.Decoder` (the docker CLI's) skips whitespace between values.
//!
//! What this module does not do: look inside frames (see [`super::parse`]).

use crate::error::FrameError;

/// The default frame length limit. Real frames are about 2 KiB (more with many networks or
/// block devices); this leaves two orders of magnitude of room.
pub const DEFAULT_MAX_FRAME_LEN: usize = 1 << 20;

/// Splits a byte stream at `\n` into frames, with a maximum frame length.
#[derive(Debug)]
pub struct FrameSplitter {
    partial: Vec<u8>,
    max_len: usize,
    /// The last frame handed out was `partial`: release it at the next call.
    delivered_partial: bool,
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
            delivered_partial: false,
        }
    }

    /// Bytes of an unfinished frame held from earlier input.
    pub fn pending(&self) -> usize {
        if self.delivered_partial {
            0
        } else {
            self.partial.len()
        }
    }

    /// Feeds body bytes and calls `on_frame` with each frame they complete, in order.
    ///
    /// On error, the frames before the offending one have been delivered; the splitter must
    /// not be fed again.
    pub fn push(&mut self, data: &[u8], on_frame: &mut dyn FnMut(&[u8])) -> Result<(), FrameError> {
        let mut at = 0;
        while let Some(frame) = self.next_frame(data, &mut at)? {
            on_frame(frame);
        }
        Ok(())
    }

    /// The next frame that `input[*at..]` completes, advancing `*at` past it; `None` once the
    /// input is used up, its unfinished end kept for the next input. The pull form of
    /// [`FrameSplitter::push`]: call it until `None` (or an error) before feeding new input.
    ///
    /// On error the splitter must not be fed again.
    pub fn next_frame<'s>(
        &'s mut self,
        input: &'s [u8],
        at: &mut usize,
    ) -> Result<Option<&'s [u8]>, FrameError> {
        self.release_delivered();
        loop {
            let data = &input[(*at).min(input.len())..];
            let Some(nl) = find_newline(data) else {
                *at = input.len();
                self.keep(data)?;
                return Ok(None);
            };
            *at += nl + 1;
            if !self.partial.is_empty() {
                if self.partial.len() + nl > self.max_len {
                    return Err(FrameError::TooLong { max: self.max_len });
                }
                self.partial.extend_from_slice(&data[..nl]);
                if is_blank(&self.partial) {
                    self.partial = Vec::new();
                    continue;
                }
                self.delivered_partial = true;
                return Ok(Some(&self.partial));
            }
            if nl > self.max_len {
                return Err(FrameError::TooLong { max: self.max_len });
            }
            if !is_blank(&data[..nl]) {
                return Ok(Some(&data[..nl]));
            }
        }
    }

    /// Ends the body: a last frame without a trailing `\n` is delivered.
    ///
    /// Only for a body that ended cleanly; after a truncated body, drop the splitter instead so
    /// that a half frame is never delivered.
    pub fn finish(&mut self, on_frame: &mut dyn FnMut(&[u8])) {
        if let Some(frame) = self.finish_frame() {
            on_frame(frame);
        }
        self.release_delivered();
    }

    /// The pull form of [`FrameSplitter::finish`]: the last frame, if the body ended without
    /// its `\n`.
    pub fn finish_frame(&mut self) -> Option<&[u8]> {
        self.release_delivered();
        if is_blank(&self.partial) {
            self.partial = Vec::new();
            return None;
        }
        self.delivered_partial = true;
        Some(&self.partial)
    }

    /// Frees a frame handed out of the splitter's own buffer: a stream between frames holds
    /// nothing. The pull forms do it at their next call; a caller that stops pulling early
    /// calls it itself.
    pub(crate) fn release_delivered(&mut self) {
        if self.delivered_partial {
            self.partial = Vec::new();
            self.delivered_partial = false;
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

/// Whether a line holds only JSON whitespace (RFC 8259 `ws`): nothing to decode. A frame starts
/// with `{`, so this stops at its first byte.
#[inline]
fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// The one scan over every byte of every frame: vectorised, since a byte-at-a-time loop over
/// 2 KiB frames costs more than everything else the splitter does.
#[inline]
fn find_newline(data: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', data)
}
