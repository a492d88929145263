//! One stats stream's pipeline: body bytes in, derived samples out (split → decode → derive).
//!
//! [`StatsStream`] is sans-io: the caller pushes the decoded body as it arrives and pulls the
//! samples those bytes complete, each borrowed from its frame; at a clean end of the body,
//! [`StatsStream::finish`] delivers a last frame that lacked its newline. The engine (body and
//! end alike), the tests and the fuzz targets all go through it, so the three steps are
//! written once.
//!
//! The decoder is passed in rather than owned: its buffers serve every stream of an engine,
//! while a stream itself holds only the start of a frame split across reads.
//!
//! What this module does not do: HTTP (the body is already dechunked), or anything about the
//! stream's connection or lifecycle.

use super::cursor::Fail;
use super::frame::FrameSplitter;
use super::math::{Derived, Platform, Previous, derive_in_stream};
use super::model::{CpuLimit, Sample};
use super::parse::FrameDecoder;
use crate::error::FrameError;
use crate::error::{Error, ErrorKind, ProtocolError};

/// The state of one stats stream between reads: an unfinished frame, the daemon's platform,
/// and what the math needs of the previous frame when a frame lacks `precpu_stats` (Podman).
#[derive(Debug)]
pub struct StatsStream {
    splitter: FrameSplitter,
    platform: Platform,
    prev: Option<Previous>,
    host_cpus: u32,
    /// Put on every sample (the container's inspect knows it, a frame does not).
    cpu_limit: Option<CpuLimit>,
}

/// A sample and the `docker stats` numbers derived from it.
#[derive(Debug)]
pub struct Decoded<'a> {
    pub sample: Sample<'a>,
    pub derived: Derived,
}

impl StatsStream {
    /// A stream that rejects frames longer than `max_frame_len` bytes, from a Linux daemon
    /// until [`StatsStream::set_platform`] says otherwise.
    pub fn new(max_frame_len: usize) -> StatsStream {
        StatsStream {
            splitter: FrameSplitter::new(max_frame_len),
            platform: Platform::Linux,
            prev: None,
            host_cpus: 0,
            cpu_limit: None,
        }
    }

    /// The CPU count of the daemon's host, for frames that carry neither `online_cpus` nor
    /// `percpu_usage` (Podman on cgroup v2); 0 (the default) leaves it unknown.
    pub fn set_host_cpus(&mut self, cpus: u32) {
        self.host_cpus = cpus;
    }

    /// The container's CPU limit, for [`Sample::cpu_limit`] of every sample from now on.
    pub(crate) fn set_cpu_limit(&mut self, limit: Option<CpuLimit>) {
        self.cpu_limit = limit;
    }

    /// The daemon's platform (the `OSType` response header), which decides the math.
    pub fn set_platform(&mut self, platform: Platform) {
        self.platform = platform;
    }

    /// Bytes of an unfinished frame held from earlier input.
    pub fn pending(&self) -> usize {
        self.splitter.pending()
    }

    /// Feeds body bytes; pull the samples they complete from the result with
    /// [`Samples::next`] until it gives `None`.
    ///
    /// ```
    /// use dockstat::stats::{FrameDecoder, StatsStream};
    ///
    /// let body = br#"{"name":"/web","memory_stats":{"usage":4096,"limit":8192}}
    /// "#;
    /// let mut decoder = FrameDecoder::new();
    /// let mut stream = StatsStream::new(1 << 20);
    /// let (first, rest) = body.split_at(20);
    /// // A frame split across reads: nothing until its newline arrives.
    /// assert!(stream.push(first, &mut decoder).next().is_none());
    /// let mut samples = stream.push(rest, &mut decoder);
    /// let decoded = samples.next().unwrap().unwrap();
    /// assert_eq!(decoded.sample.name, "/web");
    /// assert_eq!(decoded.derived.mem_percent, 50.0);
    /// assert!(samples.next().is_none());
    /// ```
    pub fn push<'a>(&'a mut self, input: &'a [u8], decoder: &'a mut FrameDecoder) -> Samples<'a> {
        Samples {
            stream: self,
            decoder,
            input,
            at: 0,
            finishing: false,
            failed: false,
        }
    }

    /// Ends a body that ended cleanly: a last frame without its newline is delivered. After a
    /// truncated body, drop the stream instead, so that half a frame is never delivered.
    pub fn finish<'a>(&'a mut self, decoder: &'a mut FrameDecoder) -> Samples<'a> {
        Samples {
            stream: self,
            decoder,
            input: &[],
            at: 0,
            finishing: true,
            failed: false,
        }
    }
}

/// The samples that one [`StatsStream::push`] (or [`StatsStream::finish`]) completes.
#[derive(Debug)]
pub struct Samples<'a> {
    stream: &'a mut StatsStream,
    decoder: &'a mut FrameDecoder,
    input: &'a [u8],
    at: usize,
    finishing: bool,
    /// An error was returned: the stream ends here (and must be dropped, not fed again).
    failed: bool,
}

impl Samples<'_> {
    /// The next sample, or the error that ends the stream (a frame too long:
    /// [`ProtocolError::Frame`]; a frame that does not decode: [`ErrorKind::Decode`], with
    /// the offset in the frame). After an error, or at `None`, the pushed bytes are used up.
    #[allow(clippy::should_implement_trait)] // a lending iterator: each sample borrows `self`
    pub fn next(&mut self) -> Option<Result<Decoded<'_>, Error>> {
        if self.failed {
            return None;
        }
        let frame = if self.finishing {
            self.finishing = false;
            self.stream.splitter.finish_frame()?
        } else {
            match self.stream.splitter.next_frame(self.input, &mut self.at) {
                Ok(frame) => frame?,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(frame_error(e)));
                }
            }
        };
        match self.decoder.decode(frame) {
            Ok(mut sample) => {
                if self.stream.cpu_limit.is_some() {
                    sample.cpu_limit = self.stream.cpu_limit;
                }
                let derived = derive_in_stream(
                    &sample,
                    self.stream.platform,
                    self.stream.prev.as_ref(),
                    self.stream.host_cpus,
                );
                self.stream.prev = Some(Previous::of(&sample));
                Some(Ok(Decoded { sample, derived }))
            }
            Err(fail) => {
                self.failed = true;
                Some(Err(decode_error(fail)))
            }
        }
    }
}

impl Drop for Samples<'_> {
    fn drop(&mut self) {
        // Whether the samples were all taken or an error stopped them, a frame completed in
        // the splitter's buffer is not kept past this push.
        self.stream.splitter.release_delivered();
    }
}

fn frame_error(e: FrameError) -> Error {
    Error::new(ErrorKind::Protocol(ProtocolError::Frame(e)))
}

fn decode_error(fail: Fail) -> Error {
    let mut e = Error::new(ErrorKind::Decode(fail.kind));
    e.set_offset(fail.at as u64);
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DecodeError;

    const FRAME: &[u8] = br#"{"read":"2024-01-02T03:04:05.000000006Z","preread":"2024-01-02T03:04:04.000000006Z","id":"abc","name":"/web","cpu_stats":{"cpu_usage":{"total_usage":2000000000},"system_cpu_usage":20000000000,"online_cpus":2},"precpu_stats":{"cpu_usage":{"total_usage":1000000000},"system_cpu_usage":10000000000,"online_cpus":2},"memory_stats":{"usage":1000,"limit":4000}}"#;

    fn names(stream: &mut StatsStream, decoder: &mut FrameDecoder, input: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        let mut samples = stream.push(input, decoder);
        while let Some(s) = samples.next() {
            out.push(s.unwrap().sample.name.to_string());
        }
        out
    }

    #[test]
    fn frames_split_anywhere_come_out_whole_and_once() {
        let mut body = Vec::new();
        for _ in 0..3 {
            body.extend_from_slice(FRAME);
            body.push(b'\n');
        }
        for cut in 0..body.len() {
            let mut d = FrameDecoder::new();
            let mut s = StatsStream::new(1 << 20);
            let mut seen = names(&mut s, &mut d, &body[..cut]);
            seen.extend(names(&mut s, &mut d, &body[cut..]));
            assert_eq!(seen, ["/web", "/web", "/web"], "cut at {cut}");
            assert_eq!(s.pending(), 0);
        }
    }

    #[test]
    fn finish_delivers_a_last_frame_without_its_newline() {
        let mut d = FrameDecoder::new();
        let mut s = StatsStream::new(1 << 20);
        assert!(names(&mut s, &mut d, FRAME).is_empty());
        assert_eq!(s.pending(), FRAME.len());
        let mut end = s.finish(&mut d);
        let decoded = end.next().unwrap().unwrap();
        assert_eq!(decoded.sample.id, "abc");
        assert!((decoded.derived.cpu_percent - 20.0).abs() < 1e-9);
        assert!(end.next().is_none());
        drop(end);
        assert!(s.finish(&mut d).next().is_none());
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn a_bad_frame_ends_the_stream_after_the_good_ones() {
        let mut body = FRAME.to_vec();
        body.extend_from_slice(b"\n{\"read\":12x}\n");
        body.extend_from_slice(FRAME);
        body.push(b'\n');
        let mut d = FrameDecoder::new();
        let mut s = StatsStream::new(1 << 20);
        let mut samples = s.push(&body, &mut d);
        assert!(samples.next().unwrap().is_ok());
        let e = samples.next().unwrap().unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Decode(DecodeError::Shape)),
            "{e}"
        );
        assert!(samples.next().is_none());
    }

    #[test]
    fn a_frame_over_the_limit_is_a_protocol_error() {
        let mut d = FrameDecoder::new();
        let mut s = StatsStream::new(64);
        let e = s.push(FRAME, &mut d).next().unwrap().unwrap_err();
        assert!(matches!(
            e.kind(),
            ErrorKind::Protocol(ProtocolError::Frame(FrameError::TooLong { max: 64 }))
        ));
    }
}
