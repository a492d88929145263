//! The CPU count of a daemon's host, from `GET /info` (`NCPU`), for stats frames that carry
//! none: no `online_cpus` and no `percpu_usage` (Podman on cgroup v2, some others).
//!
//! The count is the daemon's host's, not this machine's: a socket here may lead to a VM
//! (Podman machine, Docker Desktop, a forwarded socket) with CPUs of its own.
//!
//! Each time a host's discovery starts (when it is first reached, and again after a failure
//! or a daemon restart), the turn asks `/info` beside it ([`ask`]); [`HostInfo::handle`] reads
//! the answer, and every stream of the host gets the count through
//! [`StatsStream::set_host_cpus`] ([`give`], and the turn when it opens a stream). Nothing
//! waits for it: a daemon that does not answer `/info` usefully (an error status, no JSON
//! object, no `NCPU`) leaves the count as it was (unknown, 0, until one answers), without an
//! error, and the streams go on as before. The answer is bounded ([`MAX_INFO_LEN`]) and the
//! whole exchange is timed out like the head of every other request, so a huge or slow
//! `/info` only costs its own connection.
//!
//! [`StatsStream::set_host_cpus`]: crate::stats::StatsStream::set_host_cpus

#![forbid(unsafe_code)]

use std::time::Instant;

use simd_json::prelude::*;

use super::discovery::Host;
use super::reactor::{ConnEvent, ConnId, Flow, Reactor};
use super::stream::Stream;
use super::version::ApiVersion;

/// Largest `/info` answer read (Docker's is about 3 KB; plugins, registries, warnings and
/// labels add little).
pub(crate) const MAX_INFO_LEN: usize = 1 << 20;

/// One host's `/info` exchange and what it learned.
#[derive(Debug, Default)]
pub(crate) struct HostInfo {
    /// The `/info` connection, while one is open.
    pub(crate) conn: Option<ConnId>,
    status: u16,
    body: Vec<u8>,
    /// `NCPU` of the last answer that had one (0: unknown).
    cpus: u32,
}

impl HostInfo {
    /// The host's CPU count as last learned; 0 while unknown.
    pub(crate) fn cpus(&self) -> u32 {
        self.cpus
    }

    /// Bytes of an answer being received.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.body.len()
    }

    /// What the `/info` connection delivered, and the CPU count when the answer just gave
    /// one. Whatever goes wrong only ends this exchange.
    pub(crate) fn handle(&mut self, event: ConnEvent<'_>) -> (Flow, Option<u32>) {
        match event {
            ConnEvent::Head(head) if head.code == 200 => {
                self.status = head.code;
                (Flow::Continue, None)
            }
            ConnEvent::Body(data) if self.status == 200 => {
                if self.body.len() + data.len() > MAX_INFO_LEN {
                    return (self.done(), None);
                }
                self.body.extend_from_slice(data);
                (Flow::Continue, None)
            }
            ConnEvent::End { .. } if self.status == 200 => {
                let mut body = std::mem::take(&mut self.body);
                let flow = self.done();
                match ncpu(&mut body) {
                    Some(cpus) => {
                        self.cpus = cpus;
                        (flow, Some(cpus))
                    }
                    None => (flow, None),
                }
            }
            // An error status (a daemon or proxy without `/info`), a failure, a close before
            // the end, bytes after it: nothing learned.
            _ => (self.done(), None),
        }
    }

    /// Ends the exchange: the connection is closed (or gone already).
    fn done(&mut self) -> Flow {
        self.conn = None;
        self.status = 0;
        self.body = Vec::new();
        Flow::Close
    }
}

/// Asks `host` for `/info` on a connection of its own (owned by `owner`), replacing one still
/// open; the whole exchange must be over by `deadline`. A request that cannot be made is
/// simply not made.
pub(crate) fn ask<S>(
    reactor: &mut Reactor<S>,
    host: &mut Host,
    api: ApiVersion,
    owner: S,
    deadline: Instant,
) {
    if let Some(old) = host.info.conn.take() {
        reactor.close(old);
    }
    host.info.done();
    if let Ok(id) = reactor.open(&host.endpoint, &api.path("/info"), owner) {
        reactor.set_deadline(id, Some(deadline));
        host.info.conn = Some(id);
    }
}

/// Gives the CPU count of host `host` to each of its streams.
pub(crate) fn give(streams: &mut [Option<Stream>], host: usize, cpus: u32) {
    for s in streams.iter_mut().flatten() {
        if s.container.host == host {
            s.pipeline.set_host_cpus(cpus);
        }
    }
}

/// `NCPU` of an `/info` document, when it is a positive integer that fits a `u32`.
///
/// Field names match as Go's decoder matches them: the exact name first, else one equal to it
/// without regard to case (for `NCPU`, ASCII case is all Go's folding can differ in). A
/// document with invalid UTF-8 is read as Go would have written it (U+FFFD).
fn ncpu(body: &mut Vec<u8>) -> Option<u32> {
    if std::str::from_utf8(body).is_err() {
        *body = String::from_utf8_lossy(body).into_owned().into_bytes();
    }
    let doc = simd_json::to_borrowed_value(body).ok()?;
    let object = doc.as_object()?;
    let value = object.get("NCPU").or_else(|| {
        (object.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case("NCPU"))
            .map(|(_, v)| v)
    })?;
    u32::try_from(value.as_u64()?).ok().filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::endpoint::Endpoint;
    use crate::error::{Error, ErrorKind};
    use crate::http::{Status, parse_response};

    fn cpus(doc: &str) -> Option<u32> {
        ncpu(&mut doc.as_bytes().to_vec())
    }

    #[test]
    fn ncpu_of_docker_and_podman_documents() {
        assert_eq!(
            cpus(r#"{"ID":"x","Containers":4,"NCPU":2,"MemTotal":1}"#),
            Some(2)
        );
        assert_eq!(cpus(r#"{"ncpu":12}"#), Some(12));
        assert_eq!(cpus(r#"{"ncpu":3,"NCPU":8}"#), Some(8));
        let mut invalid = br#"{"Name":"h"#.to_vec();
        invalid.extend_from_slice(b"\xff\"");
        invalid.extend_from_slice(br#","NCPU":4}"#);
        assert_eq!(ncpu(&mut invalid), Some(4));
    }

    #[test]
    fn no_usable_ncpu_is_unknown() {
        for doc in [
            "",
            "garbage",
            "[1,2]",
            "{}",
            r#"{"NCPU":0}"#,
            r#"{"NCPU":-1}"#,
            r#"{"NCPU":2.5}"#,
            r#"{"NCPU":"2"}"#,
            r#"{"NCPU":null}"#,
            r#"{"NCPU":4294967296}"#,
            r#"{"NCPU":2"#,
            r#"{"message":"page not found"}"#,
        ] {
            assert_eq!(cpus(doc), None, "{doc}");
        }
    }

    fn host() -> Host {
        Host::new(Endpoint::parse("unix:///nonexistent.sock").unwrap(), None)
    }

    /// Delivers a response to `info` as the reactor would, in pieces of `piece` bytes.
    fn answer(info: &mut HostInfo, head: &str, body: &[u8], piece: usize) -> Vec<(Flow, u32)> {
        let bytes = head.as_bytes();
        let Ok(Status::Complete(head)) = parse_response(bytes) else {
            panic!("head")
        };
        let mut out = Vec::new();
        let mut push = |(flow, cpus): (Flow, Option<u32>)| {
            out.push((flow, cpus.unwrap_or(0)));
            flow == Flow::Close
        };
        if push(info.handle(ConnEvent::Head(head))) {
            return out;
        }
        for chunk in body.chunks(piece.max(1)) {
            if push(info.handle(ConnEvent::Body(chunk))) {
                return out;
            }
        }
        push(info.handle(ConnEvent::End { reusable: false }));
        out
    }

    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";

    #[test]
    fn an_answer_in_pieces_gives_the_count_once_at_its_end() {
        let mut h = host();
        let body = br#"{"ID":"a","NCPU":6,"MemTotal":1}"#;
        for piece in [1, 3, body.len()] {
            let got = answer(&mut h.info, OK, body, piece);
            let (last, rest) = got.split_last().unwrap();
            assert_eq!(*last, (Flow::Close, 6), "{piece}");
            assert!(rest.iter().all(|&r| r == (Flow::Continue, 0)), "{got:?}");
            assert_eq!(h.info.cpus(), 6);
            assert_eq!(h.info.buffered_bytes(), 0);
        }
    }

    #[test]
    fn what_gives_no_count_closes_and_keeps_what_was_known() {
        let mut h = host();
        answer(&mut h.info, OK, br#"{"NCPU":4}"#, 64);
        let not_found = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\r\n";
        let got = answer(
            &mut h.info,
            not_found,
            br#"{"message":"page not found"}"#,
            64,
        );
        assert_eq!(got, [(Flow::Close, 0)], "an error status is not read");
        for body in [&b"garbage"[..], b"{}", br#"{"NCPU":"many"}"#] {
            assert_eq!(
                answer(&mut h.info, OK, body, 64).last(),
                Some(&(Flow::Close, 0))
            );
        }
        assert_eq!(h.info.cpus(), 4);
        // Too large: closed as soon as it is, nothing kept.
        let huge = vec![b' '; MAX_INFO_LEN + 1];
        let got = answer(&mut h.info, OK, &huge, 64 * 1024);
        assert_eq!(got.last(), Some(&(Flow::Close, 0)));
        assert!(got.len() <= MAX_INFO_LEN / (64 * 1024) + 2, "{}", got.len());
        assert_eq!(h.info.buffered_bytes(), 0);
        // A failure midway (the deadline), or a close before the end.
        for last in [
            ConnEvent::Failed(Error::new(ErrorKind::Timeout)),
            ConnEvent::Closed,
        ] {
            let Ok(Status::Complete(head)) = parse_response(OK.as_bytes()) else {
                panic!("head")
            };
            h.info.handle(ConnEvent::Head(head));
            h.info.handle(ConnEvent::Body(br#"{"NCPU":8"#));
            assert_eq!(h.info.handle(last), (Flow::Close, None));
            assert_eq!((h.info.cpus(), h.info.buffered_bytes()), (4, 0));
        }
    }
}
