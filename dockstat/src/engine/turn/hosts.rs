//! The turn's side of each host's discovery ([`discovery`](super::super::discovery)):
//! starting it, its listing and `/events` connections, its failures, and the containers its
//! listings and events add and remove.

#![forbid(unsafe_code)]

use super::*;

impl Core {
    pub(super) fn start_host(
        &mut self,
        reactor: &mut Reactor<Owner>,
        h: u32,
        now: Instant,
        emit: &mut Emit<'_>,
    ) {
        let host = &mut self.hosts[h as usize];
        host.expect_response();
        if host.api.is_some() {
            self.discover(reactor, h, now, emit);
            return;
        }
        host.phase = HostPhase::Negotiating;
        match self.open(reactor, h, "/_ping", Owner::Host(h, HostConn::Ping), now) {
            Ok(id) => self.hosts[h as usize].ping = Some(id),
            Err(e) => self.host_failed(reactor, h, e, now, emit),
        }
    }

    /// With the API version known: subscribe to events, or list, or add named containers.
    pub(super) fn discover(
        &mut self,
        reactor: &mut Reactor<Owner>,
        h: u32,
        now: Instant,
        emit: &mut Emit<'_>,
    ) {
        let follow = self.config.mode == Mode::Stream
            && !matches!(self.config.selection, Selection::Named(_));
        let host = &mut self.hosts[h as usize];
        let Some(api) = host.api else { return };
        let deadline = now + self.config.connect_timeout;
        super::super::info::ask(reactor, host, api, Owner::Host(h, HostConn::Info), deadline);
        if let Selection::Named(names) = &self.config.selection {
            host.phase = HostPhase::Fixed;
            host.up = true;
            for name in names.clone() {
                self.add_stream(Container::named(h as usize, name), true, now, emit);
            }
            return;
        }
        let result = if follow {
            host.subscribing();
            let owner = Owner::Host(h, HostConn::Events);
            self.open(reactor, h, &api.path(EVENTS_PATH), owner, now)
                .map(|id| self.hosts[h as usize].events = Some(id))
        } else {
            host.phase = HostPhase::Listing;
            self.open_list(reactor, h, now)
        };
        if let Err(e) = result {
            self.host_failed(reactor, h, e, now, emit);
        }
    }

    pub(super) fn open_list(
        &mut self,
        reactor: &mut Reactor<Owner>,
        h: u32,
        now: Instant,
    ) -> Result<()> {
        let host = &mut self.hosts[h as usize];
        let Some(api) = host.api else { return Ok(()) };
        let query = if self.config.selection == Selection::All {
            "/containers/json?all=1"
        } else {
            "/containers/json"
        };
        host.expect_response();
        let id = self.open(
            reactor,
            h,
            &api.path(query),
            Owner::Host(h, HostConn::List),
            now,
        )?;
        self.hosts[h as usize].list = Some(id);
        Ok(())
    }

    pub(super) fn host_failed(
        &mut self,
        reactor: &mut Reactor<Owner>,
        h: u32,
        error: Error,
        now: Instant,
        emit: &mut Emit<'_>,
    ) {
        let delay = self.backoff.delay(self.hosts[h as usize].attempts);
        // A one-sample engine gives up on the host (the others finish without it); a
        // streaming one tries again after a backoff.
        let retry = self.config.mode == Mode::Stream;
        let host = &mut self.hosts[h as usize];
        for id in host.failed(retry) {
            reactor.close(id);
        }
        host.errors += 1;
        if host.up {
            host.up = false;
            host.down_at = Some(SystemTime::now());
        }
        let error = error.context(host.endpoint.url());
        let held = host.take_held();
        emit(Event::Error {
            host: h as usize,
            container: None,
            error: &error,
        });
        // Events held for a listing that did not come are applied now, in order, before any
        // that follow: none is lost, and a relisting reconciles the rest.
        for event in held {
            self.apply_event(reactor, h, event, now, emit);
        }
        if retry {
            self.timers.push(Reverse((now + delay, Timer::Host(h))));
        }
    }

    /// Applies a listing: adds what is new, drops what is no longer there, then the events
    /// held while it was on its way.
    pub(super) fn apply_list(
        &mut self,
        reactor: &mut Reactor<Owner>,
        h: u32,
        body: Vec<u8>,
        now: Instant,
        emit: &mut Emit<'_>,
    ) {
        let (added, vanished) = match self.hosts[h as usize].apply_list(h as usize, body) {
            Ok(changes) => changes,
            Err(e) => return self.host_failed(reactor, h, e, now, emit),
        };
        self.hosts[h as usize].up = true;
        for container in added {
            self.add_stream(container, false, now, emit);
        }
        for slot in vanished {
            self.remove_stream(reactor, slot, Gone::Vanished, emit);
        }
        for event in self.hosts[h as usize].take_held() {
            self.apply_event(reactor, h, event, now, emit);
        }
    }

    pub(super) fn apply_event(
        &mut self,
        reactor: &mut Reactor<Owner>,
        h: u32,
        event: crate::api::DaemonEvent,
        now: Instant,
        emit: &mut Emit<'_>,
    ) {
        let all = self.config.selection == Selection::All;
        match self.hosts[h as usize].apply_event(h as usize, event, all) {
            Some(Change::Add(container)) => self.add_stream(container, false, now, emit),
            Some(Change::Remove(slot, why)) => self.remove_stream(reactor, slot, why, emit),
            Some(Change::Rename(slot, name)) => {
                if let Some(Some(s)) = self.streams.get_mut(slot as usize) {
                    s.container.name = name;
                }
            }
            None => {}
        }
    }
}
