//! One container's stats stream through its life, and the admission of streams: sans-io parts
//! of the engine that take `now` and say what should happen.
//!
//! - [`Stream`]: queued → opening → streaming, back off and reconnect, the staleness watchdog.
//! - [`Admission`]: at most `max_streams` watched; those found beyond wait, in order, for a place.
//! - [`FdGate`]: how many connections the open-files limit leaves room for, and the ceiling
//!   an `EMFILE` sets when descriptors run out earlier than the limit says.
//!
//! What this module does not do: sockets, clocks, or reading frames (the turn in
//! [`super::turn`] does those and tells these parts what happened).

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::event::Container;
use super::reactor::ConnId;
use crate::error::{Error, ErrorKind};
use crate::stats::{Platform, StatsStream};
use crate::sys::FileLimit;

/// Largest error body kept to explain a failed request.
pub(crate) const MAX_ERROR_BODY: usize = 4096;

/// How long a connection must deliver frames before its stream counts as healthy again and
/// its next failure backs off from the start. Without it, a stream that fails right after one
/// good frame would reconnect at the shortest delay forever.
pub(crate) const HEALTHY_AFTER: Duration = Duration::from_secs(5);

/// File descriptors kept for everything but streams.
pub(crate) const FD_RESERVE: u64 = 64;

/// After a connect found no free descriptor (EMFILE), how long the engine opens no more
/// connections than it had then, before it tries one more.
pub(crate) const FD_CEILING_FOR: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamState {
    /// Waiting for a connection slot.
    Queued,
    /// Connect and request sent; no response head yet.
    Opening,
    /// Receiving frames.
    Streaming,
    /// Waiting to reconnect.
    Backoff,
    /// Beyond `max_streams`: not reported, waiting for a place.
    Capped,
}

/// What the watchdog says of a stream at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Watchdog {
    Quiet,
    /// No frame for `stale_after`: report it (once).
    Stale,
    /// Stale for as long again: give up on the connection and reconnect.
    GiveUp {
        silent: Duration,
    },
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) container: Container,
    pub(crate) state: StreamState,
    pub(crate) conn: Option<ConnId>,
    pub(crate) pipeline: StatsStream,
    /// The daemon's platform (from `OSType`), kept across reconnects.
    platform: Platform,
    pub(crate) status: u16,
    /// The body of an error response (kept small), to explain it.
    pub(crate) error_body: Vec<u8>,
    /// When the last frame arrived (or the stream was opened).
    pub(crate) last_frame: Instant,
    pub(crate) stale: bool,
    /// When this connection delivered its first frame (`None` before).
    first_frame: Option<Instant>,
    pub(crate) attempts: u32,
    /// Bumped when the slot is reused, so stale timers are ignored.
    pub(crate) generation: u32,
    /// Asked for by name, not discovered: a 404 is an error.
    pub(crate) named: bool,
    /// Its inspect answered for this connection (see [`super::cgroupfs`]).
    pub(crate) inspected: bool,
    /// The CPU limit its inspect gave, put on the samples of its stats stream.
    pub(crate) cpu_limit: Option<crate::stats::CpuLimit>,
}

impl Stream {
    pub(crate) fn new(
        container: Container,
        named: bool,
        generation: u32,
        capped: bool,
        now: Instant,
    ) -> Stream {
        Stream {
            container,
            state: if capped {
                StreamState::Capped
            } else {
                StreamState::Queued
            },
            conn: None,
            pipeline: StatsStream::new(0),
            platform: Platform::Linux,
            status: 0,
            error_body: Vec::new(),
            last_frame: now,
            stale: false,
            first_frame: None,
            attempts: 0,
            generation,
            named,
            inspected: false,
            cpu_limit: None,
        }
    }

    /// Its connection was opened and the request queued.
    pub(crate) fn opened(&mut self, conn: Option<ConnId>, max_frame_len: usize, now: Instant) {
        self.conn = conn;
        self.state = StreamState::Opening;
        self.status = 0;
        self.error_body = Vec::new();
        self.pipeline = StatsStream::new(max_frame_len);
        self.pipeline.set_platform(self.platform);
        self.pipeline.set_cpu_limit(self.cpu_limit);
        self.last_frame = now;
        self.first_frame = None;
    }

    /// The response head arrived.
    pub(crate) fn on_head(&mut self, code: u16, ostype: Option<&[u8]>, now: Instant) {
        self.status = code;
        if let Some(os) = ostype {
            self.platform = Platform::from_ostype(os);
            self.pipeline.set_platform(self.platform);
        }
        if code == 200 {
            self.state = StreamState::Streaming;
            self.last_frame = now;
        }
    }

    /// Keeps the start of an error response's body, to explain it.
    pub(crate) fn keep_error_body(&mut self, data: &[u8]) {
        let room = MAX_ERROR_BODY.saturating_sub(self.error_body.len());
        self.error_body
            .extend_from_slice(&data[..data.len().min(room)]);
    }

    /// Frames arrived: the stream is fresh; once its connection has delivered frames for
    /// [`HEALTHY_AFTER`], its next failure backs off from the start.
    pub(crate) fn on_frames(&mut self, now: Instant) {
        self.last_frame = now;
        self.stale = false;
        let since = *self.first_frame.get_or_insert(now);
        if now.saturating_duration_since(since) >= HEALTHY_AFTER {
            self.attempts = 0;
        }
    }

    /// The connection failed or was given up on: wait `delay` before reconnecting.
    pub(crate) fn back_off(&mut self) {
        self.attempts = self.attempts.saturating_add(1);
        self.state = StreamState::Backoff;
        self.conn = None;
        self.first_frame = None;
        // The next connection asks again: the container may have restarted with a new pid.
        self.inspected = false;
        // Nothing of the old connection is read again: a stream that waits holds no frame.
        self.pipeline = StatsStream::new(0);
    }

    /// The staleness watchdog at `now`.
    pub(crate) fn watchdog(&mut self, now: Instant, stale_after: Duration) -> Watchdog {
        let waiting = matches!(self.state, StreamState::Streaming | StreamState::Opening);
        let silent = now.saturating_duration_since(self.last_frame);
        if waiting && !self.stale && silent >= stale_after {
            self.stale = true;
            Watchdog::Stale
        } else if self.state == StreamState::Streaming && self.stale && silent >= stale_after * 2 {
            // Stale for as long again: without giving up, a daemon that stalls a stream (or
            // a peer gone without a reset) would hold it forever. It stays stale until a
            // frame comes.
            Watchdog::GiveUp { silent }
        } else {
            Watchdog::Quiet
        }
    }
}

/// At most `max_streams` streams are watched; containers found beyond wait unreported, in the
/// order they were found, and take the place of watched ones that go.
#[derive(Debug)]
pub(crate) struct Admission {
    max_streams: usize,
    /// Streams watched (not capped).
    pub(crate) active: usize,
    /// Capped streams in the order they were found (entries whose stream has since gone or
    /// been admitted are skipped by the caller).
    capped: VecDeque<u32>,
    /// Capping was reported (once, until no container waits any more).
    reported: bool,
}

/// Whether a new stream is watched or waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Watched,
    /// It waits; `report` is true the first time capping begins.
    Capped {
        report: bool,
    },
}

impl Admission {
    pub(crate) fn new(max_streams: usize) -> Admission {
        Admission {
            max_streams,
            active: 0,
            capped: VecDeque::new(),
            reported: false,
        }
    }

    /// A stream was found in `slot`.
    pub(crate) fn add(&mut self, slot: u32) -> Admit {
        if self.active >= self.max_streams {
            self.capped.push_back(slot);
            let report = !self.reported;
            self.reported = true;
            return Admit::Capped { report };
        }
        self.active += 1;
        Admit::Watched
    }

    /// A watched stream went.
    pub(crate) fn remove(&mut self) {
        self.active -= 1;
    }

    /// The next waiting slot to admit while there is room (the caller checks that the slot
    /// still holds a capped stream, and calls [`Admission::admitted`] if so).
    pub(crate) fn next_waiting(&mut self) -> Option<u32> {
        if self.active >= self.max_streams {
            return None;
        }
        let next = self.capped.pop_front();
        if next.is_none() {
            self.reported = false;
        }
        next
    }

    pub(crate) fn admitted(&mut self) {
        self.active += 1;
    }

    pub(crate) fn error(&self) -> Error {
        Error::new(ErrorKind::StreamLimit).context(format!(
            "more containers than max_streams ({}): the rest wait for a place",
            self.max_streams
        ))
    }
}

/// How many connections the open-files limit leaves room for.
#[derive(Debug)]
pub(crate) struct FdGate {
    pub(crate) files: FileLimit,
    /// A connect failed with EMFILE while this many connections were open (descriptors used
    /// elsewhere in the process count against the limit too): no more than that are opened
    /// until the time given, when one more is tried.
    ceiling: Option<(usize, Instant)>,
    /// The shortage was reported (once, until streams fit again).
    reported: bool,
}

impl FdGate {
    pub(crate) fn new(files: FileLimit) -> FdGate {
        FdGate {
            files,
            ceiling: None,
            reported: false,
        }
    }

    /// Connections that may be open at `now`.
    pub(crate) fn capacity(&mut self, now: Instant) -> usize {
        let limit = self.files.streams(FD_RESERVE) as usize;
        match self.ceiling {
            Some((_, until)) if now >= until => {
                self.ceiling = None;
                limit
            }
            Some((ceiling, _)) => limit.min(ceiling),
            None => limit,
        }
    }

    /// A connect found no free descriptor with `open` connections open: returns when to try
    /// again. Many streams hitting it in one turn set one ceiling.
    pub(crate) fn exhausted(&mut self, open: usize, now: Instant) -> Instant {
        if self.ceiling.is_none() {
            // Report anew, now with the cause.
            self.reported = false;
        }
        let until = now + FD_CEILING_FOR;
        self.ceiling = Some((open, until));
        until
    }

    /// `waiting` streams cannot be opened for want of descriptors: the error to report, once
    /// until they fit again.
    pub(crate) fn shortage(&mut self, waiting: usize) -> Option<Error> {
        if waiting == 0 {
            self.reported = false;
            return None;
        }
        if self.reported {
            return None;
        }
        self.reported = true;
        Some(Error::new(ErrorKind::ResourceLimit).context(match self.ceiling {
            Some((ceiling, _)) => format!(
                "{waiting} streams cannot be opened yet: out of file descriptors (EMFILE) with \
                 {ceiling} connections open, under an open-files limit of {} (hard limit {}); \
                 the open streams go on and the rest are retried",
                self.files.soft, self.files.hard
            ),
            None => format!(
                "{waiting} streams cannot be opened: the open-files limit is {} (hard limit {}); \
                 raise it with ulimit -n",
                self.files.soft, self.files.hard
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> Container {
        Container {
            host: 0,
            id: "abc".into(),
            name: "web".into(),
            image: String::new(),
            labels: Vec::new(),
            requested: "abc".into(),
            key: 0,
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn stale_after_n_seconds_then_given_up_after_as_long_again() {
        let t0 = Instant::now();
        let mut s = Stream::new(container(), false, 1, false, t0);
        s.opened(None, 1 << 20, t0);
        s.on_head(200, Some(b"linux"), t0 + secs(0.5));
        s.on_frames(t0 + secs(1.0));
        let stale = secs(5.0);
        assert_eq!(s.watchdog(t0 + secs(5.9), stale), Watchdog::Quiet);
        assert_eq!(s.watchdog(t0 + secs(6.0), stale), Watchdog::Stale);
        // Reported once.
        assert_eq!(s.watchdog(t0 + secs(8.0), stale), Watchdog::Quiet);
        assert_eq!(
            s.watchdog(t0 + secs(11.0), stale),
            Watchdog::GiveUp { silent: secs(10.0) }
        );
        // A frame ends it.
        s.on_frames(t0 + secs(11.5));
        assert!(!s.stale);
        assert_eq!(s.watchdog(t0 + secs(16.0), stale), Watchdog::Quiet);
    }

    #[test]
    fn a_stream_without_a_head_is_stale_but_never_given_up_by_the_watchdog() {
        // Until its head arrives, the reactor's head deadline covers it.
        let t0 = Instant::now();
        let mut s = Stream::new(container(), false, 1, false, t0);
        s.opened(None, 1 << 20, t0);
        assert_eq!(s.watchdog(t0 + secs(5.0), secs(5.0)), Watchdog::Stale);
        assert_eq!(s.watchdog(t0 + secs(60.0), secs(5.0)), Watchdog::Quiet);
    }

    #[test]
    fn queued_and_backing_off_streams_are_never_stale() {
        let t0 = Instant::now();
        let mut s = Stream::new(container(), false, 1, false, t0);
        assert_eq!(s.watchdog(t0 + secs(60.0), secs(5.0)), Watchdog::Quiet);
        s.back_off();
        assert_eq!(s.attempts, 1);
        assert_eq!(s.watchdog(t0 + secs(60.0), secs(5.0)), Watchdog::Quiet);
    }

    #[test]
    fn frames_for_a_while_reset_the_attempts() {
        let t0 = Instant::now();
        let mut s = Stream::new(container(), false, 1, false, t0);
        for _ in 0..5 {
            s.back_off();
        }
        assert_eq!(s.attempts, 5);
        s.opened(None, 1 << 20, t0);
        s.on_head(200, None, t0);
        s.on_frames(t0);
        assert_eq!(s.attempts, 5, "one frame is not health");
        s.on_frames(t0 + HEALTHY_AFTER - secs(0.001));
        assert_eq!(s.attempts, 5);
        s.on_frames(t0 + HEALTHY_AFTER);
        assert_eq!(s.attempts, 0);
    }

    #[test]
    fn a_stream_that_fails_after_one_good_frame_backs_off_further_each_time() {
        // The turn's retry: the delay for `attempts`, then back_off. A good frame per
        // connection must not bring the delay back to the minimum.
        let mut backoff = crate::engine::backoff::Backoff::new(secs(0.1), secs(30.0), 3);
        let t0 = Instant::now();
        let mut now = t0;
        let mut s = Stream::new(container(), false, 1, false, t0);
        let mut delays = Vec::new();
        for _ in 0..12 {
            s.opened(None, 1 << 20, now);
            s.on_head(200, None, now);
            s.on_frames(now + secs(0.01));
            let delay = backoff.delay(s.attempts);
            s.back_off();
            delays.push(delay);
            now += secs(0.02) + delay;
        }
        // 0.1 s × 2^n with jitter in [0.5, 1.5): after twelve failures, the cap.
        assert!(delays[11] >= secs(15.0), "{delays:?}");
        let total: Duration = delays.iter().sum();
        assert!(
            total > secs(60.0),
            "{total:?}: about ten reconnects a second"
        );
        // A connection that then stays up for a while starts the schedule over.
        s.opened(None, 1 << 20, now);
        s.on_head(200, None, now);
        s.on_frames(now + secs(1.0));
        s.on_frames(now + secs(6.0));
        assert_eq!(s.attempts, 0);
        // ...and a reconnect after one good frame does not count as up for a while.
        s.back_off();
        s.opened(None, 1 << 20, now + secs(7.0));
        s.on_frames(now + secs(7.5));
        assert_eq!(s.attempts, 1);
    }

    #[test]
    fn the_head_sets_the_platform_and_an_error_status_keeps_a_bounded_body() {
        let t0 = Instant::now();
        let mut s = Stream::new(container(), false, 1, false, t0);
        s.opened(None, 1 << 20, t0);
        s.on_head(500, Some(b"windows"), t0);
        assert_eq!(s.state, StreamState::Opening);
        for _ in 0..100 {
            s.keep_error_body(&[b'x'; 100]);
        }
        assert_eq!(s.error_body.len(), MAX_ERROR_BODY);
    }

    #[test]
    fn admission_caps_in_order_reports_once_and_refills() {
        let mut a = Admission::new(2);
        assert_eq!(a.add(0), Admit::Watched);
        assert_eq!(a.add(1), Admit::Watched);
        assert_eq!(a.add(2), Admit::Capped { report: true });
        assert_eq!(a.add(3), Admit::Capped { report: false });
        assert!(a.error().to_string().contains("max_streams (2)"));
        assert_eq!(a.next_waiting(), None, "no room yet");
        a.remove();
        assert_eq!(a.next_waiting(), Some(2));
        a.admitted();
        a.remove();
        assert_eq!(a.next_waiting(), Some(3));
        a.admitted();
        a.remove();
        assert_eq!(a.next_waiting(), None);
        // Nobody waits any more: capping is reported again when it begins again.
        a.admitted();
        assert_eq!(a.add(4), Admit::Capped { report: true });
    }

    #[test]
    fn an_emfile_storm_sets_one_ceiling_and_one_report_until_it_expires() {
        let t0 = Instant::now();
        let mut g = FdGate::new(FileLimit {
            soft: 1064,
            hard: 4096,
        });
        assert_eq!(g.capacity(t0), 1000);
        assert!(g.shortage(0).is_none());
        // 300 connects in one turn find no descriptor with 600 open.
        let mut until = t0;
        for _ in 0..300 {
            until = g.exhausted(600, t0);
        }
        assert_eq!(until, t0 + FD_CEILING_FOR);
        assert_eq!(g.capacity(t0 + secs(1.0)), 600);
        let report = g.shortage(300).expect("one report");
        assert_eq!(report.kind(), ErrorKind::ResourceLimit);
        let text = report.to_string();
        assert!(text.contains("300 streams cannot be opened yet"), "{text}");
        assert!(
            text.contains("EMFILE") && text.contains("600 connections open"),
            "{text}"
        );
        for _ in 0..10 {
            assert!(g.shortage(300).is_none(), "reported once");
        }
        // After the ceiling's time, one more is tried: the limit is back.
        assert_eq!(g.capacity(until), 1000);
        // Streams fit again: a later shortage is reported again.
        assert!(g.shortage(0).is_none());
        let again = g.shortage(5).expect("reported again");
        assert!(again.to_string().contains("ulimit -n"), "{again}");
    }
}
