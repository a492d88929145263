//! The cgroupfs source in the engine: per container, its inspect exchange (`State.Pid` and the
//! CPU limit), its [`CgroupReader`], and the sampling pass that reads every reader at once.
//!
//! The turn still learns containers and their lifecycle from the API; for a container whose
//! numbers come from its cgroup ([`SourcePolicy`]), it first asks `GET /containers/{id}/json`
//! on the reactor (the container's slot owns that exchange as it owns a stats stream), hands
//! what arrives to [`Local::on_inspect`], and acts on [`Local::take_inspected`]: open a reader
//! ([`Local::open`]), or the stats stream as before. Readers are read together by
//! [`Local::pass`], once per [`EngineConfig::interval`], aligned to the interval on the wall
//! clock so that every row of a pass (and of every agent with the same interval) shares one
//! moment; the host's CPU counters are read once per pass.
//!
//! What this module does not do: sockets, the clock (the turn passes `now` and the wall
//! time), or the lifecycle of a container (the turn removes and retries what a pass reports).

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use simd_json::prelude::*;

use super::config::{EngineConfig, Mode, SourcePolicy};
use super::endpoint::{Address, Endpoint};
use super::event::Event;
use super::reactor::{ConnEvent, Flow};
use super::stream::{MAX_ERROR_BODY, Stream};
use crate::error::{CgroupError, DecodeError, Error, ErrorKind, Result};
use crate::source::cgroup::{CgroupPaths, CgroupReader, HostCpu, Roots};
use crate::stats::math::derive_in_stream;
use crate::stats::{CpuLimit, Platform, Timestamp};

/// Largest inspect document read (Docker's is a few KiB; many mounts or labels add some).
pub(crate) const MAX_INSPECT_LEN: usize = 1 << 20;

/// How often a cgroup error of one kind is reported, whatever the number of containers it
/// hits: a tree this process may not read fails for every container at every retry.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The CFS period Docker sets with `--cpus` (and the kernel's default), in microseconds.
const DEFAULT_PERIOD_US: u64 = 100_000;

/// What a container's inspect says that the engine needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inspected {
    /// `Id`: the full id (a container asked for by name is known by it from now on).
    pub(crate) id: String,
    /// `Name`, with its leading `/`.
    pub(crate) name: String,
    /// `State.Pid`: the container's init process on the daemon's host; 0 when not running.
    pub(crate) pid: u32,
    pub(crate) limit: Option<CpuLimit>,
}

/// The CPU limit of a container's `HostConfig`: `NanoCpus` (`--cpus`) as a quota per the
/// 100 ms period Docker sets for it, else `CpuQuota` per `CpuPeriod` (a zero period is the
/// kernel's 100 ms); `None` without a limit.
pub(crate) fn cpu_limit(nano_cpus: i64, quota: i64, period: i64) -> Option<CpuLimit> {
    if nano_cpus > 0 {
        let quota_us = (nano_cpus as u128 * u128::from(DEFAULT_PERIOD_US) / 1_000_000_000) as u64;
        return Some(CpuLimit {
            quota_us,
            period_us: DEFAULT_PERIOD_US,
        });
    }
    if quota > 0 {
        let period_us = u64::try_from(period)
            .ok()
            .filter(|&p| p > 0)
            .unwrap_or(DEFAULT_PERIOD_US);
        return Some(CpuLimit {
            quota_us: quota as u64,
            period_us,
        });
    }
    None
}

/// Decodes a `GET /containers/{id}/json` body (the buffer is used as scratch space). A body
/// that is not a JSON object is [`DecodeError::Shape`]; missing fields are zero, as the docker
/// CLI reads them.
pub(crate) fn parse_inspect(body: &mut [u8]) -> Result<Inspected> {
    let doc = crate::api::parse_document(body, "container inspect")?;
    if doc.as_object().is_none() {
        return Err(Error::new(ErrorKind::Decode(DecodeError::Shape)).context("container inspect"));
    }
    let int = |v: Option<&simd_json::BorrowedValue<'_>>, key: &str| {
        v.and_then(|v| v.get(key))
            .and_then(|n| n.as_i64())
            .unwrap_or(0)
    };
    let state = doc.get("State");
    let host = doc.get("HostConfig");
    let pid = u32::try_from(int(state, "Pid")).unwrap_or(0);
    let limit = cpu_limit(
        int(host, "NanoCpus"),
        int(host, "CpuQuota"),
        int(host, "CpuPeriod"),
    );
    let text = |key: &str| {
        (doc.get(key).and_then(|v| v.as_str()))
            .unwrap_or_default()
            .to_string()
    };
    Ok(Inspected {
        id: text("Id"),
        name: text("Name"),
        pid,
        limit,
    })
}

/// What a pass asks the turn to do with a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Its cgroup is gone: the container stopped.
    Vanished,
    /// Its files could not be read (reported, or counted under a report already made).
    Failed,
    /// Its one sample was delivered ([`Mode::Once`], [`Mode::OneShot`]).
    Done,
}

/// What a pass did.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// Samples delivered.
    pub(crate) samples: u64,
    /// Containers the turn must remove or retry, by slot.
    pub(crate) outcomes: Vec<(u32, Outcome)>,
    /// When the next pass is due (`None`: no reader left).
    pub(crate) next: Option<Instant>,
}

#[derive(Debug)]
struct Entry {
    reader: CgroupReader,
    /// Files it keeps open (counted in [`Local::kept`]).
    kept: usize,
    /// Readings taken (a pass, or the first reading at the open for [`Mode::Once`]).
    passes: u32,
    opened: Instant,
}

/// The cgroupfs source of one engine. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Local {
    policy: SourcePolicy,
    cpu_limits: bool,
    mode: Mode,
    interval: Duration,
    roots: Roots,
    /// Readers by stream slot.
    readers: Vec<Option<Entry>>,
    /// Inspect bodies being received, by stream slot, and their status.
    bodies: Vec<Option<(u16, Vec<u8>)>>,
    /// Inspect exchanges that ended this turn.
    inspected: Vec<(u32, Result<Inspected>)>,
    host: Option<HostCpu>,
    /// A pass is scheduled.
    scheduled: bool,
    /// When each kind of cgroup error was last reported.
    reported: Vec<(ErrorKind, Instant)>,
    /// Files the readers keep open, and how many they may: beyond it a reader opens its
    /// files at each pass instead ([`CgroupReader::release_files`]).
    kept: usize,
    keep_at_most: usize,
}

impl Local {
    pub(crate) fn new(config: &EngineConfig) -> Local {
        Local {
            policy: config.source,
            cpu_limits: config.cpu_limits,
            mode: config.mode,
            interval: config.interval.max(Duration::from_millis(1)),
            roots: Roots {
                cgroup: config.cgroup_root.clone(),
                proc: config.proc_root.clone(),
            },
            readers: Vec::new(),
            bodies: Vec::new(),
            inspected: Vec::new(),
            host: None,
            scheduled: false,
            reported: Vec::new(),
            kept: 0,
            keep_at_most: usize::MAX,
        }
    }

    /// Lets the readers keep at most half of the open-files limit `soft` open: the rest is
    /// for the connections (one per API stream and host) and whatever else the process opens.
    pub(crate) fn set_file_limit(&mut self, soft: u64) {
        self.keep_at_most = usize::try_from(soft / 2).unwrap_or(usize::MAX);
    }

    /// Whether the stream's container is inspected before it is sampled: for the cgroupfs
    /// source, or for its CPU limit. Once per (re)connection.
    pub(crate) fn wants_inspect(&self, stream: &Stream) -> bool {
        !stream.inspected && (self.policy != SourcePolicy::Api || self.cpu_limits)
    }

    /// Whether containers of the daemon at `endpoint` are read from their cgroups.
    pub(crate) fn reads_cgroups(&self, endpoint: &Endpoint) -> bool {
        match self.policy {
            SourcePolicy::Api => false,
            SourcePolicy::Cgroupfs => true,
            SourcePolicy::Auto => matches!(endpoint.address(), Address::Unix(_)),
        }
    }

    /// Whether the policy is [`SourcePolicy::Cgroupfs`]: a container without a readable
    /// cgroup is an error, not a stream.
    pub(crate) fn strict(&self) -> bool {
        self.policy == SourcePolicy::Cgroupfs
    }

    /// How much longer than `stale_after` a container may go without a sample: a pass comes
    /// once per interval.
    pub(crate) fn slack(&self) -> Duration {
        if self.policy == SourcePolicy::Api {
            Duration::ZERO
        } else {
            self.interval
        }
    }

    /// What the inspect connection of stream `slot` delivered; `url` and `target` name the
    /// request in an error.
    pub(crate) fn on_inspect(
        &mut self,
        slot: u32,
        event: ConnEvent<'_>,
        url: &str,
        target: &str,
    ) -> Flow {
        let i = slot as usize;
        if self.bodies.len() <= i {
            self.bodies.resize_with(i + 1, || None);
        }
        let (status, body) = self.bodies[i].get_or_insert_with(|| (0, Vec::new()));
        match event {
            ConnEvent::Head(head) => {
                *status = head.code;
                Flow::Continue
            }
            ConnEvent::Body(data) => {
                let limit = if *status == 200 {
                    MAX_INSPECT_LEN
                } else {
                    MAX_ERROR_BODY
                };
                if body.len() + data.len() > limit {
                    if *status == 200 {
                        let e = Error::new(ErrorKind::Protocol(
                            crate::error::ProtocolError::BodyTooLarge,
                        ))
                        .context("container inspect");
                        self.finish(slot, Err(e));
                        return Flow::Close;
                    }
                    let room = limit.saturating_sub(body.len());
                    body.extend_from_slice(&data[..room.min(data.len())]);
                } else {
                    body.extend_from_slice(data);
                }
                Flow::Continue
            }
            ConnEvent::End { .. } => {
                let (status, mut body) = self.bodies[i].take().unwrap_or_default();
                let result = if status == 200 {
                    parse_inspect(&mut body)
                } else {
                    Err(crate::error::status_error(status, true, &body, url, target))
                };
                self.finish(slot, result);
                Flow::Close
            }
            ConnEvent::Excess(_) => Flow::Close,
            ConnEvent::Closed => {
                self.finish(slot, Err(Error::new(ErrorKind::EmptyReply)));
                Flow::Close
            }
            ConnEvent::Failed(e) => {
                self.finish(slot, Err(e));
                Flow::Close
            }
        }
    }

    fn finish(&mut self, slot: u32, result: Result<Inspected>) {
        if let Some(b) = self.bodies.get_mut(slot as usize) {
            *b = None;
        }
        self.inspected.push((slot, result));
    }

    /// The inspect exchanges that ended since the last call.
    pub(crate) fn take_inspected(&mut self) -> Vec<(u32, Result<Inspected>)> {
        std::mem::take(&mut self.inspected)
    }

    /// Opens the cgroup reader of the container of stream `slot`, as its inspect describes it,
    /// at `now` (the wall clock at `wall`). `true` when no pass is scheduled yet: the caller
    /// schedules one ([`Local::first_pass`]).
    ///
    /// For [`Mode::Once`] the first reading is taken here, so that the pass an interval later
    /// delivers the second, whenever in between each container's inspect answered.
    ///
    /// With [`SourcePolicy::Auto`], a cgroup whose path does not name the container's id (as
    /// Docker's drivers name it: `/docker/ID`, `docker-ID.scope`) is not taken for the
    /// container's: the pid may be another process's, in another pid namespace than the
    /// daemon's. The container's stream is used instead.
    pub(crate) fn open(
        &mut self,
        slot: u32,
        stream: &Stream,
        inspected: &Inspected,
        now: Instant,
        wall: i64,
    ) -> Result<bool> {
        let pid = inspected.pid;
        if pid == 0 {
            return Err(Error::new(ErrorKind::Cgroup(CgroupError::NotFound))
                .context("the container has no process (not running)"));
        }
        let paths = CgroupPaths::of_pid(&self.roots, pid)?;
        let id = match inspected.id.as_str() {
            "" => stream.container.id.as_str(),
            id => id,
        };
        let name = match inspected.name.as_str() {
            "" => format!("/{}", stream.container.name),
            name => name.to_string(),
        };
        let dir = match &paths {
            CgroupPaths::V1 { memory, .. } => memory,
            CgroupPaths::V2 { dir } => dir,
        };
        if self.policy == SourcePolicy::Auto && !dir.to_string_lossy().contains(id) {
            return Err(
                Error::new(ErrorKind::Cgroup(CgroupError::NotFound)).context(format!(
                    "the cgroup of pid {pid}, {}, is not container {id}'s",
                    dir.display()
                )),
            );
        }
        let mut reader = CgroupReader::open(&self.roots, &paths, pid, id, &name)?;
        let mut passes = 0;
        if self.mode == Mode::Once {
            let host = read_host(&mut self.host, &self.roots)?;
            reader.sample(timestamp(wall), host)?;
            passes = 1;
        }
        let i = slot as usize;
        if self.readers.len() <= i {
            self.readers.resize_with(i + 1, || None);
        }
        self.remove_reader(i);
        let mut kept = reader.kept_files();
        if self.kept + kept > self.keep_at_most {
            reader.release_files();
            kept = 0;
        }
        self.kept += kept;
        self.readers[i] = Some(Entry {
            reader,
            kept,
            passes,
            opened: now,
        });
        Ok(!std::mem::replace(&mut self.scheduled, true))
    }

    /// When the first pass is due, for a reader opened at `now` with the wall clock at
    /// `wall` (ns since the epoch): at the next multiple of the interval when streaming, an
    /// interval later for [`Mode::Once`], at once for [`Mode::OneShot`].
    pub(crate) fn first_pass(&self, now: Instant, wall: i64) -> Instant {
        match self.mode {
            Mode::Stream => self.aligned(now, wall),
            Mode::Once => now + self.interval,
            Mode::OneShot => now,
        }
    }

    fn aligned(&self, now: Instant, wall: i64) -> Instant {
        let every = self.interval.as_nanos().max(1);
        let wall = u128::try_from(wall).unwrap_or(0);
        now + Duration::from_nanos((every - wall % every) as u64)
    }

    /// Forgets stream `slot`'s reader and inspect (the container went, or is retried).
    pub(crate) fn remove(&mut self, slot: u32) {
        let i = slot as usize;
        self.remove_reader(i);
        if let Some(b) = self.bodies.get_mut(i) {
            *b = None;
        }
        self.inspected.retain(|(s, _)| *s != slot);
    }

    fn remove_reader(&mut self, i: usize) {
        if let Some(entry) = self.readers.get_mut(i).and_then(Option::take) {
            self.kept -= entry.kept;
        }
    }

    /// Reports a cgroup error for `stream`, unless one of its kind was reported less than
    /// [`REPORT_EVERY`] ago (a tree this process may not read fails the same way for every
    /// container). Whether it was reported.
    pub(crate) fn report(
        &mut self,
        stream: &Stream,
        error: &Error,
        now: Instant,
        emit: &mut dyn FnMut(Event<'_>),
    ) -> bool {
        let kind = error.kind();
        if let ErrorKind::Cgroup(_) = kind {
            match self.reported.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, at)) if now.saturating_duration_since(*at) < REPORT_EVERY => {
                    return false;
                }
                Some((_, at)) => *at = now,
                None => self.reported.push((kind, now)),
            }
        }
        emit(Event::Error {
            host: stream.container.host,
            container: Some(&stream.container),
            error,
        });
        true
    }

    /// One pass at `now` (the wall clock at `wall`): the host's CPU counters once, then every
    /// reader, each sample delivered with the docker math's numbers.
    pub(crate) fn pass(
        &mut self,
        streams: &mut [Option<Stream>],
        now: Instant,
        wall: i64,
        emit: &mut dyn FnMut(Event<'_>),
    ) -> Pass {
        let mut pass = Pass::default();
        let read = timestamp(wall);
        let host = read_host(&mut self.host, &self.roots);
        let mut reports = Vec::new();
        // Mode::Once: a container opened less than half an interval ago waits for the next
        // pass, so that its sample spans half an interval at least.
        let due = now.checked_sub(self.interval / 2);
        for (slot, entry) in self.readers.iter_mut().enumerate() {
            let Some(entry) = entry else { continue };
            if self.mode == Mode::Once && due.is_some_and(|due| entry.opened > due) {
                continue;
            }
            let Some(Some(stream)) = streams.get_mut(slot) else {
                continue;
            };
            let slot = slot as u32;
            let sample = match &host {
                Ok(host) => entry
                    .reader
                    .sample(read, host)
                    .map(|s| (s, host.online_cpus)),
                Err(e) => Err(Error::new(e.kind()).context(e)),
            };
            let (sample, cpus) = match sample {
                Ok(s) => s,
                Err(e) if e.kind() == ErrorKind::Cgroup(CgroupError::Vanished) => {
                    pass.outcomes.push((slot, Outcome::Vanished));
                    continue;
                }
                Err(e) => {
                    pass.outcomes.push((slot, Outcome::Failed));
                    reports.push((slot, e));
                    continue;
                }
            };
            entry.passes += 1;
            let deliver = match self.mode {
                Mode::Stream | Mode::OneShot => true,
                // The reading at the open is the previous reading of this one, as
                // `stream=false` spans the daemon's one-second tick.
                Mode::Once => entry.passes >= 2,
            };
            if !deliver {
                continue;
            }
            let derived = derive_in_stream(&sample, Platform::Linux, None, cpus);
            emit(Event::Sample {
                container: &stream.container,
                sample: &sample,
                derived: &derived,
            });
            pass.samples += 1;
            stream.on_frames(now);
            if self.mode != Mode::Stream {
                pass.outcomes.push((slot, Outcome::Done));
            }
        }
        for (slot, error) in reports {
            if let Some(Some(stream)) = streams.get(slot as usize) {
                self.report(stream, &error, now, emit);
            }
        }
        for &(slot, _) in &pass.outcomes {
            self.remove(slot);
        }
        self.scheduled = self.readers.iter().any(Option::is_some);
        pass.next = self.scheduled.then(|| match self.mode {
            Mode::Stream => self.aligned(now, wall),
            Mode::Once | Mode::OneShot => now + self.interval,
        });
        pass
    }
}

/// The host's CPU counters of this moment: opened at the first call, read again at the next.
fn read_host<'h>(host: &'h mut Option<HostCpu>, roots: &Roots) -> Result<&'h HostCpu> {
    let host = match host {
        Some(h) => h.read().map(|()| &*h),
        None => HostCpu::open(roots).map(|h| &*host.insert(h)),
    };
    host.map_err(|e| e.context(roots.proc.join("stat").display()))
}

/// A wall-clock time (ns since the epoch) as a sample's `read`.
fn timestamp(wall: i64) -> Timestamp {
    Timestamp {
        secs: wall.div_euclid(1_000_000_000),
        nanos: wall.rem_euclid(1_000_000_000) as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_limits_as_docker_sets_them() {
        let l = |q, p| {
            Some(CpuLimit {
                quota_us: q,
                period_us: p,
            })
        };
        // --cpus 1.5
        assert_eq!(cpu_limit(1_500_000_000, 0, 0), l(150_000, 100_000));
        // --cpus wins over a quota (the daemon refuses both, but if both came)
        assert_eq!(cpu_limit(500_000_000, 20_000, 50_000), l(50_000, 100_000));
        assert_eq!(cpu_limit(0, 20_000, 50_000), l(20_000, 50_000));
        assert_eq!(cpu_limit(0, 20_000, 0), l(20_000, 100_000));
        assert_eq!(cpu_limit(0, 0, 50_000), None);
        assert_eq!(cpu_limit(0, -1, 0), None);
        assert_eq!(cpu_limit(0, 0, 0), None);
    }

    #[test]
    fn inspect_documents() {
        let mut doc = br#"{"Id":"abc","State":{"Status":"running","Pid":4242},"HostConfig":{"NanoCpus":2000000000,"CpuQuota":0,"CpuPeriod":0}}"#.to_vec();
        let i = parse_inspect(&mut doc).unwrap();
        assert_eq!((i.id.as_str(), i.name.as_str(), i.pid), ("abc", "", 4242));
        assert_eq!(i.limit.map(|l| l.quota_us), Some(200_000));
        let mut stopped = br#"{"State":{"Pid":0},"HostConfig":null}"#.to_vec();
        assert_eq!(parse_inspect(&mut stopped).unwrap(), Inspected::default());
        let mut odd = br#"{"State":{"Pid":-3}}"#.to_vec();
        assert_eq!(parse_inspect(&mut odd).unwrap().pid, 0);
        for bad in [&b"[1,2]"[..], b"{\"State\":", b"42"] {
            let e = parse_inspect(&mut bad.to_vec()).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::Decode(_)), "{e}");
        }
    }

    #[test]
    fn a_permission_error_names_the_file_and_the_remedy() {
        let e = Error::io(
            ErrorKind::Cgroup(CgroupError::Permission),
            std::io::Error::from_raw_os_error(libc::EACCES),
        )
        .context("/sys/fs/cgroup/memory/docker/abc/memory.stat");
        let text = e.to_string();
        assert!(
            text.contains("/sys/fs/cgroup/memory/docker/abc/memory.stat"),
            "{text}"
        );
        assert!(text.contains("needs root"), "{text}");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn passes_align_to_the_interval() {
        let mut config = EngineConfig::new(Endpoint::unix("/nonexistent"));
        config.interval = Duration::from_secs(2);
        let local = Local::new(&config);
        let now = Instant::now();
        let at = local.first_pass(now, 7_250_000_000);
        assert_eq!(at - now, Duration::from_millis(750));
        let at = local.first_pass(now, 8_000_000_000);
        assert_eq!(at - now, Duration::from_secs(2));
        config.mode = Mode::OneShot;
        assert_eq!(Local::new(&config).first_pass(now, 7), now);
        config.mode = Mode::Once;
        let at = Local::new(&config).first_pass(now, 7);
        assert_eq!(at - now, Duration::from_secs(2));
    }
}
