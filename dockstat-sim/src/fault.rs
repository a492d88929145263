//! Faults injected into stats streams, for testing how clients survive a misbehaving daemon.
//!
//! A [`FaultRule`] names a container and the frame at which its streams misbehave; the server's
//! frame writer (`server::stream::emit_frame`) is the one place that consults it for stream faults,
//! the request router for [`Fault::Status`], and every writer of a name (listings, events, frames)
//! for [`Fault::BadUtf8Name`]. [`SimConfig::chaos`](super::SimConfig::chaos) injects faults from
//! [`CHAOS`] into random open streams.
//!
//! Every fault works over each listener (unix, TCP, TLS). What differs is the transport's
//! idea of a reset: TCP (and TLS) connections are reset with `SO_LINGER` 0 and `close`, which
//! sends an RST; a unix socket has no reset, so it is closed (the client reads EOF).
//!
//! A fault's payload (the garbage chunk, the deeply nested document, a frame with a
//! broken name, the half frame before a cut) is not a frame: it is counted in
//! [`SimCounters::faults_injected`](super::SimCounters::faults_injected), not in
//! `frames_sent`. A frame sent slowly ([`Fault::Drip`]) is a frame, counted once its last byte
//! is on the socket, and so is a huge one ([`Fault::HugeFrame`], a valid frame, also counted as a
//! fault). After a fault no client can read past ([`Fault::GarbageChunkSize`],
//! [`Fault::DeepNesting`]) the stream carries on, but its frames are not counted: a client
//! rightly ends the stream at the fault, and whether a frame written before it hangs up is
//! then a matter of timing, not of the client.

use std::time::Duration;

/// A misbehaviour of one stats stream (or, for [`Fault::Status`] and [`Fault::BadUtf8Name`],
/// of one container).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Send the chunk-size line and half of the frame, then close the connection (FIN; for
    /// TLS, with close_notify).
    TruncateMidChunk,
    /// Send a frame whose chunk-size line is not hexadecimal (`zz`), then carry on. Neither it
    /// nor the frames after it on that connection are counted in `frames_sent`: no client can
    /// read past it.
    GarbageChunkSize,
    /// Send nothing more but keep the connection open (with `after_frames` 0: the response
    /// head, then nothing).
    Stall,
    /// Send the chunk-size line and half of the frame, then nothing more; the connection stays
    /// open.
    StallMidFrame,
    /// Send one frame padded to at least this many bytes (a `"sim_padding"` string member, so
    /// it is still a valid frame), then carry on. The padding is generated as the socket takes
    /// it: the sim never holds more than 64 KiB of it. Counted as a fault, and as a frame once
    /// its last byte is written: a client that takes frames this big receives it, one that
    /// refuses it at its limit hangs up long before (a size within a socket buffer of the
    /// client's limit makes that a race; tests keep far from it).
    HugeFrame(usize),
    /// Send one "frame" made of this many nested arrays (`[[[...]]]`), then carry on; the
    /// frames after it on that connection are not counted (a client ends the stream here).
    DeepNesting(usize),
    /// Send one frame with a member holding this many nested arrays
    /// (`{"sim_nested":[[[...]]],"read":…}`), then carry on. It is still a valid frame, and
    /// counted as one.
    DeepMember(usize),
    /// Send the chunk-size line and half of the frame, then reset the connection once the
    /// client has everything before the reset (TCP: RST; unix: close).
    ResetMidChunk,
    /// Send the first half of the frame as a complete chunk (the stream is cut between two
    /// chunks of one frame), then reset as [`Fault::ResetMidChunk`] does.
    ResetMidFrame,
    /// Send the frame one byte per write, a byte every this long (zero: one byte per turn of
    /// the sim's loop), then carry on. No other frame is written meanwhile (ticks are neither
    /// sent nor skipped); the frame counts as sent once its last byte is written.
    Drip(Duration),
    /// Answer the container's stats requests (streams and single samples) with this status and
    /// a JSON message as the daemon words it (404: `No such container: NAME`; other statuses:
    /// a containerd error). `after_frames` does not apply. Injected by chaos into an open
    /// stream: the connection is closed at a frame boundary and the container's next stats
    /// request gets the status.
    Status(u16),
    /// Write the container's name with a byte that is not UTF-8 (its last byte replaced by
    /// 0xff) in `/containers/json` and `/events` always, and in its stats frames from frame
    /// `after_frames` on.
    BadUtf8Name,
}

/// Fault kinds as counted: names for reports, in [`Fault::kind`] order.
pub const FAULT_KINDS: [&str; 12] = [
    "truncate",
    "garbage",
    "stall",
    "stall_mid_frame",
    "huge",
    "deep",
    "reset_mid_chunk",
    "reset_mid_frame",
    "drip",
    "status",
    "bad_utf8_name",
    "deep_member",
];

impl Fault {
    /// Index of the fault's kind in [`FAULT_KINDS`].
    pub fn kind(&self) -> usize {
        match self {
            Fault::TruncateMidChunk => 0,
            Fault::GarbageChunkSize => 1,
            Fault::Stall => 2,
            Fault::StallMidFrame => 3,
            Fault::HugeFrame(_) => 4,
            Fault::DeepNesting(_) => 5,
            Fault::ResetMidChunk => 6,
            Fault::ResetMidFrame => 7,
            Fault::Drip(_) => 8,
            Fault::Status(_) => 9,
            Fault::BadUtf8Name => 10,
            Fault::DeepMember(_) => 11,
        }
    }
}

/// The faults chaos mode picks from, each as likely: reset (mid-chunk, mid-frame), truncate,
/// stall (mid-frame), garbage chunk size, slow drip (1 ms a byte) and an error status.
pub const CHAOS: [Fault; 7] = [
    Fault::ResetMidChunk,
    Fault::ResetMidFrame,
    Fault::TruncateMidChunk,
    Fault::StallMidFrame,
    Fault::GarbageChunkSize,
    Fault::Drip(Duration::from_millis(1)),
    Fault::Status(500),
];

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

/// The error body of a [`Fault::Status`] answer for container `name`.
pub(crate) fn status_message(status: u16, name: &str) -> String {
    match status {
        404 => format!("No such container: {name}"),
        // What a daemon whose container lost its cgroup under it answers.
        _ => "cgroups: cgroup deleted: unknown".to_owned(),
    }
}

/// Replaces the last byte of every JSON string `"NAME"` or `"/NAME"` in `buf` with 0xff, which
/// no UTF-8 text contains ([`Fault::BadUtf8Name`]). Returns whether anything was replaced.
pub(crate) fn break_name(buf: &mut [u8], name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let mut quoted = Vec::with_capacity(name.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(name.as_bytes());
    quoted.push(b'"');
    let hits: Vec<usize> = memchr::memmem::find_iter(buf, &quoted).collect();
    let mut slashed = Vec::with_capacity(name.len() + 3);
    slashed.extend_from_slice(b"\"/");
    slashed.extend_from_slice(&quoted[1..]);
    let slash_hits: Vec<usize> = memchr::memmem::find_iter(buf, &slashed).collect();
    for &at in &hits {
        buf[at + name.len()] = 0xff;
    }
    for &at in &slash_hits {
        buf[at + 1 + name.len()] = 0xff;
    }
    !(hits.is_empty() && slash_hits.is_empty())
}

/// What a one-time payload fault makes of `frame` (a good frame plus `\n`).
pub(crate) enum Payload {
    /// `frame` was replaced in place (deep nesting): not a frame any more.
    Replaced,
    /// `frame` was changed in place and is still a frame (a deep member).
    Frame,
    /// The frame stays as it is, with this many padding bytes (`x`) to go in before its last
    /// `tail` bytes (`"}\n` closing the padding string and the frame): the huge frame, whose
    /// padding the writer generates as it goes.
    Padded { pad: usize, tail: usize },
}

/// Turns `frame` into the payload of a one-time fault, in place. `None` for the faults that
/// are not a replacement payload.
pub(crate) fn rewrite_payload(fault: &Fault, frame: &mut Vec<u8>) -> Option<Payload> {
    match *fault {
        Fault::HugeFrame(min) => {
            // Insert `,"sim_padding":"xxx…"` before the closing `}` of the frame: the key now,
            // the padding by the writer.
            let tail = if frame.ends_with(b"}\n") { 2 } else { 0 };
            let at = frame.len() - tail;
            const KEY: &[u8] = b",\"sim_padding\":\"";
            let pad = min.saturating_sub(frame.len() + KEY.len() + 1);
            frame.splice(at..at, KEY.iter().copied());
            frame.insert(frame.len() - tail, b'"');
            Some(Payload::Padded {
                pad,
                tail: tail + 1,
            })
        }
        Fault::DeepNesting(depth) => {
            frame.clear();
            frame.resize(depth, b'[');
            frame.resize(2 * depth, b']');
            frame.push(b'\n');
            Some(Payload::Replaced)
        }
        Fault::DeepMember(depth) => {
            let mut member = Vec::with_capacity(2 * depth + 16);
            member.extend_from_slice(b"\"sim_nested\":");
            member.resize(member.len() + depth, b'[');
            member.resize(member.len() + depth, b']');
            member.push(b',');
            // After the opening brace.
            frame.splice(1..1, member);
            Some(Payload::Frame)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn padded(f: &[u8], min: usize) -> Vec<u8> {
        let mut f = f.to_vec();
        let Some(Payload::Padded { pad, tail }) = rewrite_payload(&Fault::HugeFrame(min), &mut f)
        else {
            panic!("not padded");
        };
        let at = f.len() - tail;
        f.splice(at..at, std::iter::repeat_n(b'x', pad));
        f
    }

    #[test]
    fn huge_frame_stays_a_frame() {
        let f = padded(b"{\"read\":\"x\"}\n", 100);
        assert_eq!(f.len(), 100);
        assert!(f.starts_with(b"{\"read\":\"x\",\"sim_padding\":\"xxx"));
        assert!(f.ends_with(b"xx\"}\n"));
        // Smaller than the frame already: an empty padding string.
        assert_eq!(
            padded(b"{\"read\":\"x\"}\n", 3),
            b"{\"read\":\"x\",\"sim_padding\":\"\"}\n"
        );
    }

    #[test]
    fn deep_nesting() {
        let mut f = b"{}\n".to_vec();
        assert!(matches!(
            rewrite_payload(&Fault::DeepNesting(3), &mut f),
            Some(Payload::Replaced)
        ));
        assert_eq!(f, b"[[[]]]\n");
        assert!(rewrite_payload(&Fault::Stall, &mut f).is_none());
        let mut f = b"{\"read\":1}\n".to_vec();
        assert!(matches!(
            rewrite_payload(&Fault::DeepMember(2), &mut f),
            Some(Payload::Frame)
        ));
        assert_eq!(f, b"{\"sim_nested\":[[]],\"read\":1}\n");
    }

    #[test]
    fn broken_names() {
        let mut b =
            br#"{"Names":["/busy-1"],"x":"busy-10","name":"busy-1","n":"/busy-1x"}"#.to_vec();
        assert!(break_name(&mut b, "busy-1"));
        assert_eq!(
            b,
            b"{\"Names\":[\"/busy-\xff\"],\"x\":\"busy-10\",\"name\":\"busy-\xff\",\"n\":\"/busy-1x\"}"
        );
        assert!(std::str::from_utf8(&b).is_err());
        assert!(!break_name(&mut b, "idle-2"));
    }

    #[test]
    fn kinds_have_names() {
        for f in CHAOS {
            assert!(f.kind() < FAULT_KINDS.len());
        }
        assert_eq!(FAULT_KINDS[Fault::BadUtf8Name.kind()], "bad_utf8_name");
        assert_eq!(FAULT_KINDS[Fault::Drip(Duration::ZERO).kind()], "drip");
    }
}
