//! The turn's side of the cgroupfs source ([`cgroupfs`](super::super::cgroupfs)): what
//! follows a container's inspect, and the pass over every reader. The turn calls these; the
//! state they work on (inspects, readers, the pass) is the cgroupfs module's.

#![forbid(unsafe_code)]

use std::cmp::Reverse;
use std::time::Instant;

use super::super::cgroupfs::{Inspected, Outcome};
use super::super::config::Mode;
use super::super::event::{Event, Gone};
use super::super::reactor::{ConnEvent, Flow, Reactor};
use super::super::stream::StreamState;
use super::{Core, Emit, Owner, StreamStep, Timer, wall_nanos};
use crate::error::{CgroupError, ErrorKind, Result};

impl Core {
    /// What a container's inspect connection delivered.
    pub(super) fn on_inspect(&mut self, slot: u32, event: ConnEvent<'_>) -> Flow {
        let Some(Some(s)) = self.streams.get(slot as usize) else {
            return Flow::Close;
        };
        let url = (self.hosts.get(s.container.host)).map_or("", |h| h.endpoint.url());
        let target = format!("/containers/{}/json", s.container.id);
        self.local.on_inspect(slot, event, url, &target)
    }

    /// A container's inspect answered: read its cgroup from now on, or open its stats stream
    /// (the API source, a container without a process, `Auto` without its cgroup).
    pub(super) fn inspected(
        &mut self,
        slot: u32,
        result: Result<Inspected>,
        now: Instant,
        emit: &mut Emit<'_>,
    ) {
        let Some(Some(stream)) = self.streams.get_mut(slot as usize) else {
            return;
        };
        stream.conn = None;
        stream.inspected = true;
        let host = stream.container.host;
        let error = match result {
            Ok(i) => {
                stream.cpu_limit = i.limit;
                let reads =
                    (self.hosts.get(host)).is_some_and(|h| self.local.reads_cgroups(&h.endpoint));
                let open = (reads && i.pid != 0).then(|| self.local.open(slot, stream, i.pid));
                match open {
                    None => None,
                    Some(Ok(first)) => {
                        stream.on_head(200, None, now);
                        if first {
                            let at = self.local.first_pass(now, wall_nanos());
                            self.timers.push(Reverse((at, Timer::Pass)));
                        }
                        return;
                    }
                    Some(Err(e)) => Some(e),
                }
            }
            Err(e) if e.kind() == ErrorKind::Status(404) => {
                // As the stats request's 404: gone between the listing and the request, an
                // error only for a container asked for by name.
                if stream.named {
                    self.counters.stream_errors += 1;
                    emit(Event::Error {
                        host,
                        container: Some(&stream.container),
                        error: &e,
                    });
                }
                self.steps.push((slot, StreamStep::Gone(Gone::Removed)));
                return;
            }
            Err(e) => Some(e),
        };
        if let Some(e) = error {
            if self.local.strict() {
                self.counters.stream_errors += 1;
                if let Some(h) = self.hosts.get_mut(host) {
                    h.errors += 1;
                }
                self.local.report(stream, &e, now, emit);
                let step = match self.config.mode {
                    Mode::Stream => StreamStep::Retry,
                    Mode::Once | Mode::OneShot => StreamStep::Gone(Gone::Done),
                };
                self.steps.push((slot, step));
                return;
            }
            // `Auto` takes the stream instead, and says why only when the remedy is the
            // user's (a cgroup tree this process may not read).
            if e.kind() == ErrorKind::Cgroup(CgroupError::Permission) {
                self.local.report(stream, &e, now, emit);
            }
        }
        stream.state = StreamState::Queued;
        self.queued.push_back(slot);
    }

    /// The cgroupfs pass: every reader read at one moment, then what it found done.
    pub(super) fn pass(&mut self, reactor: &mut Reactor<Owner>, now: Instant, emit: &mut Emit<'_>) {
        let pass = self.local.pass(&mut self.streams, now, wall_nanos(), emit);
        self.counters.frames += pass.samples;
        for (slot, outcome) in pass.outcomes {
            let step = match outcome {
                Outcome::Vanished => StreamStep::Gone(Gone::Stopped),
                Outcome::Done => StreamStep::Gone(Gone::Done),
                Outcome::Failed if self.config.mode == Mode::Stream => StreamStep::Retry,
                Outcome::Failed => StreamStep::Gone(Gone::Done),
            };
            if outcome == Outcome::Failed {
                self.counters.stream_errors += 1;
                let host = (self.streams.get(slot as usize))
                    .and_then(|s| s.as_ref())
                    .map(|s| s.container.host);
                if let Some(h) = host.and_then(|h| self.hosts.get_mut(h)) {
                    h.errors += 1;
                }
            }
            self.steps.push((slot, step));
        }
        if let Some(at) = pass.next {
            self.timers.push(Reverse((at, Timer::Pass)));
        }
        self.apply_steps(reactor, now, emit);
    }
}
