//! Faults injected into stats streams, for testing how clients survive a misbehaving daemon.
//!
//! A [`FaultRule`] names a container and the frame at which its streams misbehave; the
//! server's frame writer (`server::Conn::emit_frame`) is the one place that consults it. The
//! variants here are the cheap ones; slow-drip writes (one byte at a time) and TCP resets need
//! write pacing and socket options and are not implemented yet.

/// A misbehaviour of one stats stream.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Send the chunk-size line and half of the frame, then close the connection (FIN).
    TruncateMidChunk,
    /// Send a frame whose chunk-size line is not hexadecimal (`zz`), then carry on. Not
    /// counted in `frames_sent`: no client can receive it as a frame.
    GarbageChunkSize,
    /// Send nothing more but keep the connection open.
    Stall,
    /// Send one frame padded to at least this many bytes (a `"sim_padding"` string member, so
    /// it is still a valid frame), then carry on.
    HugeFrame(usize),
    /// Send one "frame" made of this many nested arrays (`[[[...]]]`), then carry on.
    DeepNesting(usize),
}

/// Which streams get a [`Fault`], and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    /// Container name (without the leading `/`) whose stats streams misbehave.
    pub container: String,
    /// Number of good frames each stream sends first.
    pub after_frames: u32,
    /// What happens instead of frame number `after_frames` (0-based).
    pub fault: Fault,
}

/// Appends the faulty "frame" of a one-time fault to `frame` (a good frame plus `\n`), in
/// place. Returns false for the faults that are not a replacement payload.
pub(crate) fn rewrite_payload(fault: &Fault, frame: &mut Vec<u8>) -> bool {
    match *fault {
        Fault::HugeFrame(min) => {
            // Insert `,"sim_padding":"xxx…"` before the closing `}` of the frame.
            let tail = if frame.ends_with(b"}\n") { 2 } else { 0 };
            let at = frame.len() - tail;
            let pad = min.saturating_sub(frame.len() + 17);
            let mut insert = Vec::with_capacity(pad + 17);
            insert.extend_from_slice(b",\"sim_padding\":\"");
            insert.resize(insert.len() + pad, b'x');
            insert.push(b'"');
            frame.splice(at..at, insert);
            true
        }
        Fault::DeepNesting(depth) => {
            frame.clear();
            frame.resize(depth, b'[');
            frame.resize(2 * depth, b']');
            frame.push(b'\n');
            true
        }
        Fault::TruncateMidChunk | Fault::GarbageChunkSize | Fault::Stall => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_frame_stays_a_frame() {
        let mut f = b"{\"read\":\"x\"}\n".to_vec();
        assert!(rewrite_payload(&Fault::HugeFrame(100), &mut f));
        assert!(f.len() >= 100);
        assert!(f.starts_with(b"{\"read\":\"x\",\"sim_padding\":\"xxx"));
        assert!(f.ends_with(b"xx\"}\n"));
    }

    #[test]
    fn deep_nesting() {
        let mut f = b"{}\n".to_vec();
        assert!(rewrite_payload(&Fault::DeepNesting(3), &mut f));
        assert_eq!(f, b"[[[]]]\n");
        assert!(!rewrite_payload(&Fault::Stall, &mut f));
    }
}
