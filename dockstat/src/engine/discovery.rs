//! Discovery for one host: which containers to stream, kept true as they come and go.
//!
//! The host negotiates the API version (`/_ping`), subscribes to `/events` (containers only)
//! *before* listing `/containers/json`, so that no start or stop falls between the two:
//! events that arrive while the list is on its way are held and applied after it. From then
//! on a `start` (and a `create`, with `all`) adds a stream, a `die` removes it (only `destroy`
//! does, with `all`). If `/events` fails, the host lists again after a backoff, and the list
//! is reconciled with what is watched ([`Gone::Vanished`]). Beside it, each time, the host's
//! CPU count is asked for (`/info`, see [`super::info`]); nothing waits for it.
//!
//! Sans-io: [`Host::handle`] takes what a discovery connection delivered and queues
//! [`HostStep`]s; [`Host::apply_list`] and [`Host::apply_event`] turn a listing or an event
//! into [`Change`]s of the watched set. The turn opens the connections, gives streams their
//! slots, and says which slot each container got ([`Host::track`]).

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use super::endpoint::Endpoint;
use super::event::{Container, Gone};
use super::info::HostInfo;
use super::reactor::{ConnEvent, ConnId, Flow};
use super::version::ApiVersion;
use crate::api::{ContainerSummary, DaemonEvent};
use crate::error::{Error, ErrorKind, ProtocolError};
use crate::stats::FrameSplitter;

/// Largest listing accepted (10,000 containers list in about 15 MB).
const MAX_LIST_LEN: usize = 256 << 20;

/// Most events held while a listing is on its way; past it the host lists again (a listing
/// that stalls must not turn into unbounded memory).
const MAX_HELD: usize = 65_536;

/// `/events?filters={"type":["container"]}`.
pub(crate) const EVENTS_PATH: &str = "/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostPhase {
    /// Waiting for a ping (API version) or a backoff.
    Starting,
    Negotiating,
    /// `/events` requested; its head not yet received.
    Subscribing,
    /// `/events` open, the listing on its way; events are held until it arrives.
    Listing,
    /// Listing done; events applied as they come.
    Live,
    /// Nothing more to discover (named containers, or a one-sample listing done).
    Fixed,
    /// Waiting before trying again.
    Backoff,
}

/// Which of a host's discovery connections an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostConn {
    Ping,
    Events,
    List,
    /// `/info`, for the host's CPU count.
    Info,
}

/// What the turn should do for a host, in the order it happened.
#[derive(Debug)]
pub(crate) enum HostStep {
    Negotiated(ApiVersion),
    Subscribed,
    Listed(Vec<u8>),
    Event(DaemonEvent),
    /// `/info` gave the host's CPU count: every stream of the host gets it.
    Cpus(u32),
    Failed(Error),
}

/// A change of the watched set.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Change {
    Add(Container),
    Remove(u32, Gone),
    Rename(u32, String),
}

#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) endpoint: Arc<Endpoint>,
    pub(crate) api: Option<ApiVersion>,
    pub(crate) phase: HostPhase,
    pub(crate) events: Option<ConnId>,
    pub(crate) list: Option<ConnId>,
    pub(crate) ping: Option<ConnId>,
    /// Status of the response being received on `/_ping` or the listing (never at once).
    status: u16,
    /// Status of `/events`, which stays open while the listing comes.
    events_status: u16,
    /// Whether the head of the response being received on `/_ping` or the listing, and of
    /// `/events`, had the daemon's `Api-Version` field.
    api_header: bool,
    events_api_header: bool,
    /// The listing, or an error response's body, being received.
    body: Vec<u8>,
    events_splitter: FrameSplitter,
    /// Events received while the list was on its way.
    held: Vec<DaemonEvent>,
    pub(crate) attempts: u32,
    /// Containers of this host by full id.
    by_id: HashMap<String, u32>,
    steps: VecDeque<HostStep>,
    scratch: Vec<u8>,
    /// Its last listing succeeded and nothing failed since (kept by the turn).
    pub(crate) up: bool,
    /// When it last went down, if it was up before.
    pub(crate) down_at: Option<SystemTime>,
    /// Errors reported for the host and its streams.
    pub(crate) errors: u64,
    /// Discovery restarts and stream reconnects.
    pub(crate) reconnects: u64,
    /// The host's CPU count, from `/info`.
    pub(crate) info: HostInfo,
}

impl Host {
    pub(crate) fn new(endpoint: Endpoint, api: Option<ApiVersion>) -> Host {
        Host {
            endpoint: Arc::new(endpoint),
            api,
            phase: HostPhase::Starting,
            events: None,
            list: None,
            ping: None,
            status: 0,
            events_status: 0,
            api_header: false,
            events_api_header: false,
            body: Vec::new(),
            events_splitter: FrameSplitter::default(),
            held: Vec::new(),
            attempts: 0,
            by_id: HashMap::new(),
            steps: VecDeque::new(),
            scratch: Vec::new(),
            up: false,
            down_at: None,
            errors: 0,
            reconnects: 0,
            info: HostInfo::default(),
        }
    }

    /// Bytes held for what has not arrived whole: a listing or an unfinished event.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.body.len() + self.events_splitter.pending() + self.info.buffered_bytes()
    }

    /// A new response is expected on a discovery connection.
    pub(crate) fn expect_response(&mut self) {
        self.status = 0;
        self.body = Vec::new();
    }

    /// `/events` is being subscribed to: nothing held from an earlier subscription.
    pub(crate) fn subscribing(&mut self) {
        self.phase = HostPhase::Subscribing;
        self.events_status = 0;
        self.events_splitter = FrameSplitter::default();
        self.held.clear();
    }

    /// The next step for the turn, in order.
    pub(crate) fn poll_step(&mut self) -> Option<HostStep> {
        self.steps.pop_front()
    }

    /// Closes nothing itself: returns the discovery connections to close after a failure,
    /// and counts the attempt. `retry` decides between backing off and giving up.
    pub(crate) fn failed(&mut self, retry: bool) -> impl Iterator<Item = ConnId> + use<> {
        self.attempts = self.attempts.saturating_add(1);
        self.phase = if retry {
            HostPhase::Backoff
        } else {
            HostPhase::Fixed
        };
        // An `/info` on its way is asked again when discovery starts again.
        let info = self.info.conn.take();
        [self.events.take(), self.list.take(), self.ping.take(), info]
            .into_iter()
            .flatten()
    }

    /// The container `id` of this host streams in `slot`.
    pub(crate) fn track(&mut self, id: &str, slot: u32) {
        self.by_id.insert(id.to_string(), slot);
    }

    /// The stream in `slot` is gone: forget it if it is still `id`'s.
    pub(crate) fn untrack(&mut self, id: &str, slot: u32) {
        if self.by_id.get(id) == Some(&slot) {
            self.by_id.remove(id);
        }
    }

    /// What a discovery connection delivered.
    pub(crate) fn handle(&mut self, conn: HostConn, event: ConnEvent<'_>) -> Flow {
        if conn == HostConn::Info {
            // Never a failure of the host: no answer leaves the count as it was.
            let (flow, cpus) = self.info.handle(event);
            self.steps.extend(cpus.map(HostStep::Cpus));
            return flow;
        }
        match event {
            ConnEvent::Head(head) if conn == HostConn::Events => {
                self.events_status = head.code;
                self.events_api_header = head.header("api-version").is_some();
                if head.code == 200 {
                    self.steps.push_back(HostStep::Subscribed);
                }
                Flow::Continue
            }
            ConnEvent::Head(head) => {
                self.status = head.code;
                self.api_header = head.header("api-version").is_some();
                if conn == HostConn::Ping {
                    if head.code >= 400 {
                        // The body says why (a TLS port answering plain HTTP, a proxy): it is
                        // collected below and the failure reported at its end.
                        return Flow::Continue;
                    }
                    self.ping = None;
                    let api = ApiVersion::negotiate(head.header("api-version"));
                    self.steps.push_back(HostStep::Negotiated(api));
                    return Flow::Close;
                }
                Flow::Continue
            }
            ConnEvent::Body(data) if conn == HostConn::Events && self.events_status == 200 => {
                let mut bad = None;
                let (steps, scratch) = (&mut self.steps, &mut self.scratch);
                let pushed = self.events_splitter.push(data, &mut |doc| {
                    // simd-json parses in place: a copy of the event (a few hundred bytes).
                    scratch.clear();
                    scratch.extend_from_slice(doc);
                    match DaemonEvent::parse(scratch) {
                        Ok(e) => steps.push_back(HostStep::Event(e)),
                        Err(e) => bad = Some(e),
                    }
                });
                match (pushed, bad) {
                    (Err(e), _) => self.fail(conn, Error::protocol(e, 0).context("/events")),
                    (_, Some(e)) => self.fail(conn, e.context("/events")),
                    _ => Flow::Continue,
                }
            }
            ConnEvent::Body(data) => {
                let limit = if self.status_of(conn) >= 400 {
                    super::stream::MAX_ERROR_BODY
                } else {
                    MAX_LIST_LEN
                };
                if self.body.len() + data.len() > limit {
                    let e = Error::new(ErrorKind::Protocol(ProtocolError::BodyTooLarge));
                    return self.fail(conn, e);
                }
                self.body.extend_from_slice(data);
                Flow::Continue
            }
            ConnEvent::End { .. } | ConnEvent::Closed => {
                let body = std::mem::take(&mut self.body);
                let status = self.status_of(conn);
                let target = match conn {
                    HostConn::Ping => "/_ping",
                    HostConn::Events => "/events",
                    HostConn::List => "/containers/json",
                    HostConn::Info => "/info",
                };
                if status == 0 {
                    return self.fail(conn, Error::new(ErrorKind::EmptyReply).context(target));
                }
                if status >= 400 {
                    let api_header = match conn {
                        HostConn::Events => self.events_api_header,
                        HostConn::Ping | HostConn::List | HostConn::Info => self.api_header,
                    };
                    let url = self.endpoint.url();
                    let e = crate::error::status_error(status, api_header, &body, url, target);
                    return self.fail(conn, e);
                }
                match conn {
                    HostConn::List => {
                        self.list = None;
                        self.steps.push_back(HostStep::Listed(body));
                        Flow::Close
                    }
                    // The daemon ended the event stream (shutting down): list again later.
                    _ => self.fail(
                        conn,
                        Error::new(ErrorKind::Truncated).context("/events ended"),
                    ),
                }
            }
            // Only after `End`, which had the connection closed and its response applied.
            ConnEvent::Excess(_) => Flow::Close,
            ConnEvent::Failed(e) => self.fail(conn, e),
        }
    }

    fn status_of(&self, conn: HostConn) -> u16 {
        match conn {
            HostConn::Events => self.events_status,
            HostConn::Ping | HostConn::List | HostConn::Info => self.status,
        }
    }

    fn fail(&mut self, conn: HostConn, e: Error) -> Flow {
        match conn {
            HostConn::Ping => self.ping = None,
            HostConn::Events => self.events = None,
            HostConn::List => self.list = None,
            HostConn::Info => self.info.conn = None,
        }
        self.steps.push_back(HostStep::Failed(e));
        Flow::Close
    }

    /// A listing arrived: the containers it adds (the turn adds them, then calls
    /// [`Host::track`]) and the slots no longer listed ([`Gone::Vanished`]). The events held
    /// while it was on its way are then taken with [`Host::take_held`].
    pub(crate) fn apply_list(
        &mut self,
        host: usize,
        mut body: Vec<u8>,
    ) -> Result<(Vec<Container>, Vec<u32>), Error> {
        let list =
            ContainerSummary::parse_list(&mut body).map_err(|e| e.context("container list"))?;
        let mut listed = HashSet::with_capacity(list.len());
        let mut added = Vec::new();
        for c in list {
            // A listing that names an id twice adds it once.
            if !listed.insert(c.id.clone()) || self.by_id.contains_key(&c.id) {
                continue;
            }
            added.push(Container {
                host,
                name: c.name().to_string(),
                requested: short_id(&c.id).to_string(),
                id: c.id,
                image: c.image,
                labels: c.labels,
                key: 0,
            });
        }
        let vanished = (self.by_id.iter())
            .filter(|(id, _)| !listed.contains(*id))
            .map(|(_, &slot)| slot)
            .collect();
        self.attempts = 0;
        self.phase = if self.events.is_some() {
            HostPhase::Live
        } else {
            HostPhase::Fixed
        };
        Ok((added, vanished))
    }

    /// The events that came while the list was on its way, in order.
    pub(crate) fn take_held(&mut self) -> Vec<DaemonEvent> {
        std::mem::take(&mut self.held)
    }

    /// An event to hold (the list is on its way) or to apply now.
    pub(crate) fn holds_events(&self) -> bool {
        matches!(self.phase, HostPhase::Subscribing | HostPhase::Listing)
    }

    /// Holds an event until the listing is applied; false (and nothing held) when too many
    /// are held already.
    pub(crate) fn hold(&mut self, e: DaemonEvent) -> bool {
        if self.held.len() >= MAX_HELD {
            return false;
        }
        self.held.push(e);
        true
    }

    /// Whether a listing is expected now (a late one, after the host failed, is not applied).
    pub(crate) fn is_listing(&self) -> bool {
        self.phase == HostPhase::Listing
    }

    /// What an event changes. `all`: stopped containers are watched too ([`Selection::All`]).
    ///
    /// [`Selection::All`]: super::Selection::All
    pub(crate) fn apply_event(&self, host: usize, e: DaemonEvent, all: bool) -> Option<Change> {
        if e.kind != "container" {
            return None;
        }
        let tracked = self.by_id.get(&e.id).copied();
        match (e.action.as_str(), tracked) {
            ("start", None) | ("create", None) if e.action == "start" || all => {
                let name = e.attribute("name").unwrap_or_default().to_string();
                let image = e.attribute("image").unwrap_or_default().to_string();
                let labels = (e.attributes.iter())
                    .filter(|(k, _)| !matches!(k.as_str(), "name" | "image"))
                    .cloned()
                    .collect();
                Some(Change::Add(Container {
                    host,
                    requested: short_id(&e.id).to_string(),
                    id: e.id,
                    name,
                    image,
                    labels,
                    key: 0,
                }))
            }
            ("die", Some(slot)) if !all => Some(Change::Remove(slot, Gone::Stopped)),
            ("destroy", Some(slot)) => Some(Change::Remove(slot, Gone::Removed)),
            ("rename", Some(slot)) => e
                .attribute("name")
                .map(|name| Change::Rename(slot, name.trim_start_matches('/').to_string())),
            _ => None,
        }
    }
}

/// The first 12 characters of an id, as the docker CLI shows it.
pub(crate) fn short_id(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host::new(Endpoint::parse("unix:///nonexistent.sock").unwrap(), None)
    }

    fn event(action: &str, id: &str, name: &str) -> DaemonEvent {
        let mut doc = format!(
            r#"{{"Type":"container","Action":"{action}","Actor":{{"ID":"{id}","Attributes":{{"name":"{name}","image":"busybox"}}}}}}"#
        )
        .into_bytes();
        DaemonEvent::parse(&mut doc).unwrap()
    }

    fn list(ids: &[(&str, &str)]) -> Vec<u8> {
        let items: Vec<String> = ids
            .iter()
            .map(|(id, name)| {
                format!(r#"{{"Id":"{id}","Names":["/{name}"],"Image":"busybox","Labels":{{}}}}"#)
            })
            .collect();
        format!("[{}]", items.join(",")).into_bytes()
    }

    /// Plays the turn: every change applied, slots given in order.
    fn apply(h: &mut Host, changes: Vec<Change>, slots: &mut u32, log: &mut Vec<String>) {
        for c in changes {
            match c {
                Change::Add(c) => {
                    h.track(&c.id, *slots);
                    log.push(format!("add {} as {}", c.name, *slots));
                    *slots += 1;
                }
                Change::Remove(slot, why) => log.push(format!("remove {slot} {why:?}")),
                Change::Rename(slot, name) => log.push(format!("rename {slot} {name}")),
            }
        }
    }

    #[test]
    fn events_held_during_the_listing_apply_after_it() {
        let mut h = host();
        h.subscribing();
        h.phase = HostPhase::Listing;
        assert!(h.holds_events());
        // A container starts and another stops while the list is on its way.
        h.hold(event("start", "c3", "new"));
        h.hold(event("die", "c1", "old"));
        let (added, vanished) = h
            .apply_list(0, list(&[("c1", "old"), ("c2", "web")]))
            .unwrap();
        assert!(vanished.is_empty());
        let (mut slots, mut log) = (0, Vec::new());
        apply(
            &mut h,
            added.into_iter().map(Change::Add).collect(),
            &mut slots,
            &mut log,
        );
        for e in h.take_held() {
            let change = h.apply_event(0, e, false);
            apply(&mut h, change.into_iter().collect(), &mut slots, &mut log);
        }
        assert_eq!(
            log,
            [
                "add old as 0",
                "add web as 1",
                "add new as 2",
                "remove 0 Stopped"
            ]
        );
        // No listing yet had an /events connection here: the host is fixed.
        assert_eq!(h.phase, HostPhase::Fixed);
        assert!(h.take_held().is_empty());
    }

    fn head(code: u16) -> Vec<u8> {
        format!("HTTP/1.1 {code} X\r\nApi-Version: 1.41\r\n\r\n").into_bytes()
    }

    fn deliver(h: &mut Host, conn: HostConn, head_bytes: Option<&[u8]>, body: &[u8]) -> Flow {
        use crate::http::{Status, parse_response};
        if let Some(bytes) = head_bytes {
            let Ok(Status::Complete(head)) = parse_response(bytes) else {
                panic!("head")
            };
            h.handle(conn, ConnEvent::Head(head));
        }
        h.handle(conn, ConnEvent::Body(body))
    }

    #[test]
    fn events_that_come_before_the_listings_head_are_held_not_mixed_into_it() {
        let mut h = host();
        h.api = Some(ApiVersion::negotiate(Some(b"1.41")));
        h.subscribing();
        deliver(&mut h, HostConn::Events, Some(&head(200)), b"");
        assert!(matches!(h.poll_step(), Some(HostStep::Subscribed)));
        // The turn opens the listing; the daemon builds it before sending its head, and an
        // event comes in the meantime.
        h.phase = HostPhase::Listing;
        h.expect_response();
        let die =
            br#"{"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"name":"a"}}}"#;
        let mut line = die.to_vec();
        line.push(b'\n');
        assert_eq!(
            deliver(&mut h, HostConn::Events, None, &line),
            Flow::Continue
        );
        let Some(HostStep::Event(e)) = h.poll_step() else {
            panic!("the event is parsed, not taken for the listing")
        };
        assert!(h.holds_events());
        assert!(h.hold(e));
        deliver(
            &mut h,
            HostConn::List,
            Some(&head(200)),
            &list(&[("c1", "a")]),
        );
        h.handle(HostConn::List, ConnEvent::End { reusable: false });
        let Some(HostStep::Listed(body)) = h.poll_step() else {
            panic!("listed")
        };
        assert!(h.is_listing());
        let (added, _) = h.apply_list(0, body).unwrap();
        let (mut slots, mut log) = (0, Vec::new());
        apply(
            &mut h,
            added.into_iter().map(Change::Add).collect(),
            &mut slots,
            &mut log,
        );
        for e in h.take_held() {
            let change = h.apply_event(0, e, false);
            apply(&mut h, change.into_iter().collect(), &mut slots, &mut log);
        }
        assert_eq!(log, ["add a as 0", "remove 0 Stopped"]);
    }

    #[test]
    fn a_listing_that_names_an_id_twice_adds_it_once() {
        let mut h = host();
        let (added, _) = h
            .apply_list(0, list(&[("c1", "a"), ("c1", "a"), ("", "x"), ("", "y")]))
            .unwrap();
        let names: Vec<&str> = added.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "x"]);
    }

    #[test]
    fn held_events_are_bounded() {
        let mut h = host();
        h.subscribing();
        for _ in 0..MAX_HELD {
            assert!(h.hold(event("start", "c1", "a")));
        }
        assert!(!h.hold(event("start", "c1", "a")));
    }

    #[test]
    fn a_relist_after_resubscribing_reconciles() {
        let mut h = host();
        let (added, _) = h.apply_list(0, list(&[("c1", "a"), ("c2", "b")])).unwrap();
        let (mut slots, mut log) = (0, Vec::new());
        apply(
            &mut h,
            added.into_iter().map(Change::Add).collect(),
            &mut slots,
            &mut log,
        );
        // /events broke; meanwhile c1 went and c3 came.
        let (added, vanished) = h.apply_list(0, list(&[("c2", "b"), ("c3", "c")])).unwrap();
        assert_eq!(vanished, [0]);
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].name, "c");
        assert_eq!(added[0].requested, "c3");
    }

    #[test]
    fn a_die_racing_the_listing_is_applied_after_it() {
        // The die event is received before the listing that still shows the container: it
        // must not be lost, or the stopped container would be watched forever.
        let mut h = host();
        h.subscribing();
        h.hold(event("die", "c1", "a"));
        let (added, _) = h.apply_list(0, list(&[("c1", "a")])).unwrap();
        let (mut slots, mut log) = (0, Vec::new());
        apply(
            &mut h,
            added.into_iter().map(Change::Add).collect(),
            &mut slots,
            &mut log,
        );
        let changes: Vec<Change> = (h.take_held().into_iter())
            .filter_map(|e| h.apply_event(0, e, false))
            .collect();
        assert_eq!(changes, [Change::Remove(0, Gone::Stopped)]);
    }

    #[test]
    fn events_by_selection() {
        let mut h = host();
        h.track("c1", 4);
        // Running only: a die stops it, a create is nothing.
        assert_eq!(
            h.apply_event(0, event("die", "c1", "a"), false),
            Some(Change::Remove(4, Gone::Stopped))
        );
        assert_eq!(h.apply_event(0, event("create", "c9", "z"), false), None);
        // All: a die keeps it, a create adds, a destroy removes.
        assert_eq!(h.apply_event(0, event("die", "c1", "a"), true), None);
        assert!(matches!(
            h.apply_event(0, event("create", "c9", "z"), true),
            Some(Change::Add(_))
        ));
        assert_eq!(
            h.apply_event(0, event("destroy", "c1", "a"), true),
            Some(Change::Remove(4, Gone::Removed))
        );
        assert_eq!(
            h.apply_event(0, event("rename", "c1", "/b"), false),
            Some(Change::Rename(4, "b".into()))
        );
        // A start of a watched container is nothing new.
        assert_eq!(h.apply_event(0, event("start", "c1", "a"), false), None);
        h.untrack("c1", 3);
        assert!(
            h.apply_event(0, event("die", "c1", "a"), false).is_some(),
            "slot 3 is not c1's"
        );
        h.untrack("c1", 4);
        assert_eq!(h.apply_event(0, event("die", "c1", "a"), false), None);
    }

    #[test]
    fn a_bad_listing_is_an_error_naming_it() {
        let mut h = host();
        let e = h.apply_list(0, b"[{".to_vec()).unwrap_err();
        assert!(e.to_string().contains("container list"), "{e}");
    }
}
