//! Changes that come from outside a connection: lifecycle commands from the handle, churn,
//! delayed removals, chaos ticks, restarts (going down, listening again), and announcing the
//! resulting events to `/events` subscribers. Not the model's own rules for each change.

use std::io;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mio::Registry;

use super::conn::{Close, Conn, ConnState, Counted, StatsStream, set_state};
use super::stream::push_body;
use super::{
    CHAOS_FAULT_KEY, CHAOS_SLOT, CHAOS_STREAM_KEY, CHURN_KEY, CHURN_SLOT, MAX_EVENTS_QUEUED,
    MAX_INTERVAL, REBIND_RETRY, REMOVE_SLOT, RESTART_SLOT, Server,
};
use crate::events::Message;
use crate::fault::{self, FAULT_KINDS};
use crate::model::{Event, Op, hash2};

impl Server {
    /// Applies a lifecycle change and announces its events; returns the container's id.
    pub(super) fn lifecycle(
        &mut self,
        registry: &Registry,
        op: &Op,
        target: &str,
    ) -> io::Result<String> {
        let now = self.ctx.clock();
        let mut events = Vec::new();
        let result = self
            .ctx
            .model
            .apply(op, target, now, &mut events)
            .map(|idx| {
                self.ctx
                    .model
                    .containers
                    .get(idx)
                    .map(|c| c.id.to_string())
                    .unwrap_or_default()
            });
        match &result {
            Ok(id) => self.ctx.log(format_args!("{op:?} {target} -> {id}")),
            Err(e) => self.ctx.log(format_args!("{op:?} {target} -> {e}")),
        }
        self.announce(registry, &events);
        result
    }

    /// Closes every `/events` connection in the middle of its body (no last chunk): the
    /// subscriber sees the daemon drop it. Returns how many were closed.
    pub(super) fn drop_events(&mut self, registry: &Registry) -> u64 {
        let subscribers = std::mem::take(&mut self.ctx.subscribers);
        let mut dropped = 0;
        for slot in subscribers {
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            if !matches!(conn.state, ConnState::Events { .. }) {
                continue;
            }
            dropped += 1;
            conn.keep_alive = false;
            set_state(conn, ConnState::Closing(Close::Graceful), &self.ctx.shared);
            self.settle(registry, slot);
        }
        self.ctx
            .log(format_args!("dropped {dropped} /events connections"));
        dropped
    }

    /// A restart's first half: every connection and the listener closed, the socket file
    /// removed; [`Server::listen_again`] after `down`. The model stays as it is (containers
    /// run on, as with dockerd's live-restore).
    pub(super) fn go_down(&mut self, registry: &Registry, down: Duration) {
        for slot in 0..self.conns.len() {
            if let Some(Some(conn)) = self.conns.get_mut(slot) {
                conn.stream.finish();
            }
            self.close(registry, slot);
        }
        self.ctx.subscribers.clear();
        if self.listener.take().is_some() {
            if let Some(path) = &self.socket_path {
                let _ = std::fs::remove_file(path);
            }
        }
        self.accept_paused = false;
        self.ctx.log(format_args!("restart: down for {down:?}"));
        self.ctx
            .schedule_slot(RESTART_SLOT, Instant::now() + down.min(MAX_INTERVAL));
    }

    /// A restart's second half: listen again (retrying shortly if the address is not free).
    pub(super) fn listen_again(&mut self, registry: &Registry) {
        if self.listener.is_some() {
            return;
        }
        let bound = self.rebind.bind().and_then(|mut l| {
            l.register(registry)?;
            Ok(l)
        });
        match bound {
            Ok(l) => {
                self.listener = Some(l);
                self.ctx.log(format_args!("restart: listening again"));
                // Connections that came in between the bind and the registration wait in the
                // backlog, and edge-triggered readiness would not report them.
                self.accept(registry);
            }
            Err(e) => {
                self.ctx
                    .log(format_args!("restart: cannot listen yet, retrying: {e}"));
                self.ctx
                    .schedule_slot(RESTART_SLOT, Instant::now() + REBIND_RETRY);
            }
        }
    }

    /// One chaos tick: a fault from [`fault::CHAOS`] for a random open stats stream without
    /// one, at its next frame.
    pub(super) fn chaos_tick(&mut self, due: Instant) {
        let Some(every) = self.chaos else {
            return;
        };
        let now = Instant::now();
        let mut next = due + every;
        if next <= now {
            next = now + every;
        }
        self.ctx.schedule_slot(CHAOS_SLOT, next);
        let round = self.chaos_round;
        self.chaos_round += 1;
        let seed = self.ctx.config.seed;
        let open: Vec<usize> = (0..self.conns.len())
            .filter(|&slot| {
                matches!(
                    self.conns.get(slot),
                    // A stream that halted (stalled) has no tick to take a fault at.
                    Some(Some(Conn {
                        state: ConnState::Stats(StatsStream { fault: None, .. }),
                        spool: None,
                        timer: Some(_),
                        ..
                    }))
                )
            })
            .collect();
        if open.is_empty() {
            return;
        }
        let pick = open[(hash2(seed ^ CHAOS_STREAM_KEY, round) % open.len() as u64) as usize];
        let kind = hash2(seed ^ CHAOS_FAULT_KEY, round) % fault::CHAOS.len() as u64;
        let fault = fault::CHAOS[kind as usize].clone();
        if let Some(Some(Conn {
            state: ConnState::Stats(s),
            ..
        })) = self.conns.get_mut(pick)
        {
            self.ctx.log(format_args!(
                "chaos: {} for a stream of {}",
                FAULT_KINDS[fault.kind()],
                s.target.name
            ));
            // At the stream's next frame.
            s.fault = Some((s.emitted, fault));
        }
    }

    /// One churn tick: stop a running container, create and start a new one.
    pub(super) fn churn_tick(&mut self, registry: &Registry, due: Instant) {
        let Some(churn) = self.churn else {
            return;
        };
        let now_instant = Instant::now();
        let mut next = due + churn.every;
        if next <= now_instant {
            next = now_instant + churn.every;
        }
        self.ctx.schedule_slot(CHURN_SLOT, next);
        let round = self.churn_round;
        self.churn_round += 1;
        let now = self.ctx.clock();
        let pick = hash2(self.ctx.config.seed ^ CHURN_KEY, round);
        let model = &mut self.ctx.model;
        // Only when something runs: the number of running containers stays what it was.
        let Some(victim) = model.nth_running(pick) else {
            return;
        };
        let mut events = Vec::new();
        let victim_id = model.containers[victim].id.to_string();
        let stopped = model.apply(&Op::Stop, &victim_id, now, &mut events);
        if stopped.is_ok()
            && let Some(after) = churn.remove_after
        {
            let id = Rc::clone(&model.containers[victim].id);
            self.removals.push_back((now_instant + after, victim, id));
            self.ctx.schedule_slot(REMOVE_SLOT, now_instant + after);
        }
        let model = &mut self.ctx.model;
        match model.create(None, now, &mut events) {
            Ok(idx) => {
                let id = model.containers[idx].id.to_string();
                if let Err(e) = model.apply(&Op::Start, &id, now, &mut events) {
                    self.ctx.log(format_args!("churn: start failed: {e}"));
                }
            }
            Err(e) => self.ctx.log(format_args!("churn: create failed: {e}")),
        }
        self.announce(registry, &events);
    }

    /// Removes the churned containers whose time has come, if they are still exited.
    pub(super) fn run_removals(&mut self, registry: &Registry) {
        let now_instant = Instant::now();
        let mut events = Vec::new();
        while let Some((at, idx, id)) = self.removals.front() {
            if *at > now_instant {
                break;
            }
            let (idx, id) = (*idx, Rc::clone(id));
            self.removals.pop_front();
            let now = self.ctx.clock();
            let model = &mut self.ctx.model;
            // Restarted meanwhile (or removed already): leave it alone.
            let exited = model.current(idx, &id).is_some_and(|c| !c.running());
            if exited {
                if let Err(e) = model.apply(&Op::Remove { force: false }, &id, now, &mut events) {
                    self.ctx.log(format_args!("churn: remove failed: {e}"));
                }
            }
        }
        self.announce(registry, &events);
    }

    /// After a lifecycle change: update the gauge and send `events` to every subscriber whose
    /// filter admits them.
    fn announce(&mut self, registry: &Registry, events: &[Event]) {
        self.ctx
            .shared
            .containers_running
            .store(self.ctx.model.up() as u64, Ordering::Relaxed);
        if events.is_empty() || self.ctx.subscribers.is_empty() {
            return;
        }
        let messages: Vec<Message> = events
            .iter()
            .map(|e| {
                let mut m = Message::new(e, &self.ctx.model);
                self.ctx.break_names(&mut m.json);
                m
            })
            .collect();
        let mut subscribers = std::mem::take(&mut self.ctx.subscribers);
        subscribers.retain(|&slot| {
            matches!(
                self.conns.get(slot),
                Some(Some(Conn {
                    state: ConnState::Events { .. },
                    ..
                }))
            )
        });
        for &slot in &subscribers {
            let Some(Some(conn)) = self.conns.get_mut(slot) else {
                continue;
            };
            let ConnState::Events { framing, filter } = &conn.state else {
                continue;
            };
            let framing = *framing;
            let wanted: Vec<&Message> = messages.iter().filter(|m| filter.matches(m)).collect();
            if wanted.is_empty() {
                continue;
            }
            self.ctx.lend_buffer(conn);
            for m in wanted {
                if conn.pending() > MAX_EVENTS_QUEUED {
                    continue;
                }
                push_body(&mut conn.out, framing, &m.json, None);
                conn.mark_end(Counted::Event);
            }
            self.settle(registry, slot);
        }
        self.ctx.subscribers = subscribers;
    }
}
