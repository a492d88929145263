//! The reactor against hostile servers: a hostile stream ends only itself, and a flood does
//! not starve the timers or the other streams.
//!
//! A scripted server on a unix socket reads the request and writes exactly the bytes of one
//! case — whole, or in pieces with pauses between them — then closes or stays open.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{ConnEvent, Flow, READS_PER_TURN, Reactor};
use crate::chunked::ChunkedError;
use crate::engine::Endpoint;
use crate::error::{ErrorKind, ProtocolError};
use crate::http::{FramingError, HeadError};

/// What the big cases offer: far more than any buffer dockstat has.
const FLOOD: u64 = 200 << 20;

const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// =============================================================================================
// The scripted server

#[derive(Clone, Debug)]
enum Step {
    /// Write these bytes.
    Send(Vec<u8>),
    /// Wait this long.
    Pause(Duration),
    /// Write these bytes one at a time, this far apart.
    Trickle(Vec<u8>, Duration),
    /// Write this piece over and over, this many bytes in all (the last piece cut short).
    Flood(Vec<u8>, u64),
}

/// What the server does once its steps are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    /// Close the connection.
    Close,
    /// Keep it open until the client closes it: an error must then come from the bytes, not
    /// from the end of the stream.
    StayOpen,
}

#[derive(Clone, Debug)]
struct Script {
    steps: Vec<Step>,
    after: After,
}

impl Script {
    /// All of `bytes` in one write.
    fn whole(bytes: impl Into<Vec<u8>>, after: After) -> Script {
        Script {
            steps: vec![Step::Send(bytes.into())],
            after,
        }
    }

    fn then(mut self, step: Step) -> Script {
        self.steps.push(step);
        self
    }
}

/// A unix socket server that answers every connection with the same script.
struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn temp_socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-hostile-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

impl Server {
    fn start(script: Script) -> Server {
        let path = temp_socket();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind the test socket");
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut conns = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (script, stop) = (script.clone(), Arc::clone(&stop));
                            conns.push(thread::spawn(move || serve(s, &script, &stop)));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(1));
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
                for c in conns {
                    c.join().unwrap();
                }
            })
        };
        Server {
            path,
            stop,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> Arc<Endpoint> {
        Arc::new(Endpoint::unix(&self.path))
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

fn serve(mut s: UnixStream, script: &Script, stop: &AtomicBool) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // A client that stops reading without closing (a failed test) must not block the server
    // thread, and the test's end with it, forever.
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    for step in &script.steps {
        let ok = match step {
            Step::Send(bytes) => s.write_all(bytes).is_ok(),
            Step::Pause(d) => {
                thread::sleep(*d);
                true
            }
            Step::Trickle(bytes, every) => bytes.iter().all(|b| {
                thread::sleep(*every);
                !stop.load(Ordering::SeqCst) && s.write_all(&[*b]).is_ok()
            }),
            Step::Flood(piece, total) => {
                let repeat = (64 * 1024 / piece.len()).max(1);
                let block = piece.repeat(repeat);
                let mut left = *total;
                let mut ok = true;
                while left > 0 && ok && !stop.load(Ordering::SeqCst) {
                    let n = block.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    ok = s.write_all(&block[..n]).is_ok();
                    left -= n as u64;
                }
                ok
            }
        };
        if !ok || stop.load(Ordering::SeqCst) {
            return;
        }
    }
    if script.after == After::StayOpen {
        // Until the client closes (or the test ends): reads see EOF once the client is gone.
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        while !stop.load(Ordering::SeqCst) {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
    }
}

// =============================================================================================
// A hostile stream ends only itself

/// A well-behaved stream: `tick NN\n` every 20 ms for two seconds, as chunks.
fn ticking_script() -> Script {
    let mut s = Script::whole(CHUNKED, After::StayOpen);
    for i in 0..100 {
        s = s
            .then(Step::Send(format!("8\r\ntick {i:02}\n\r\n").into_bytes()))
            .then(Step::Pause(Duration::from_millis(20)));
    }
    s
}

/// One reactor: a ticking stream and several hostile ones, at once. Each hostile one fails
/// with its own error, after the body it had delivered, and nothing follows the failure; the
/// ticking one delivers before, during and after.
#[test]
fn reactor_hostile_streams_end_only_themselves() {
    let good = Server::start(ticking_script());
    let head_then = |bytes: &[u8]| cat(&[CHUNKED, b"5\r\nhello\r\n", bytes]);
    // name, script, error, body delivered before it
    let hostile: Vec<(&str, Script, ErrorKind, &[u8])> = vec![
        (
            "chunk size overflow",
            Script::whole(head_then(b"1ffffffffffffffff\r\n"), After::StayOpen),
            ErrorKind::Protocol(ProtocolError::Chunked(ChunkedError::SizeOverflow)),
            b"hello",
        ),
        (
            "200 MB of extensions",
            Script::whole(head_then(b"5;"), After::StayOpen)
                .then(Step::Flood(b"a=b;".to_vec(), FLOOD)),
            ErrorKind::Protocol(ProtocolError::Chunked(ChunkedError::SizeLineTooLong)),
            b"hello",
        ),
        (
            "endless header",
            Script::whole(&b"HTTP/1.1 200 OK\r\nX: "[..], After::StayOpen)
                .then(Step::Flood(b"a".to_vec(), FLOOD)),
            ErrorKind::Protocol(ProtocolError::Head(HeadError::TooLarge)),
            b"",
        ),
        (
            "Transfer-Encoding with Content-Length",
            Script::whole(
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"[..],
                After::StayOpen,
            ),
            ErrorKind::Protocol(ProtocolError::Framing(
                FramingError::TransferEncodingWithContentLength,
            )),
            b"",
        ),
        (
            "cut short",
            Script::whole(head_then(b"10\r\nabc"), After::Close),
            ErrorKind::Truncated,
            b"helloabc",
        ),
        (
            "trickle past its deadline",
            Script::whole(CHUNKED, After::StayOpen).then(Step::Trickle(
                b"1\r\na\r\n".repeat(100),
                Duration::from_millis(10),
            )),
            ErrorKind::Timeout,
            b"a", // or more of them
        ),
    ];
    let servers: Vec<Server> = hostile
        .iter()
        .map(|(_, script, _, _)| Server::start(script.clone()))
        .collect();

    #[derive(Debug, Default)]
    struct Seen {
        body: Vec<u8>,
        failed: Option<(ErrorKind, String)>,
        events_after_failure: usize,
    }
    const GOOD: usize = usize::MAX;
    let mut reactor: Reactor<usize> = Reactor::new(64).unwrap();
    let good_id = reactor.open(&good.endpoint(), "/good", GOOD).unwrap();
    for (i, server) in servers.iter().enumerate() {
        let id = reactor.open(&server.endpoint(), "/bad", i).unwrap();
        if hostile[i].2 == ErrorKind::Timeout {
            reactor.set_deadline(id, Some(Instant::now() + Duration::from_millis(200)));
        }
    }
    let mut seen: Vec<Seen> = (0..hostile.len()).map(|_| Seen::default()).collect();
    let mut ticks: Vec<Instant> = Vec::new();
    let started = Instant::now();
    let mut last_failure = None;
    while started.elapsed() < Duration::from_secs(3) {
        reactor
            .poll(Some(Duration::from_millis(20)), &mut |id, who, event| {
                if *who == GOOD {
                    assert_eq!(id, good_id);
                    match event {
                        ConnEvent::Body(data) => ticks
                            .extend(data.iter().filter(|&&b| b == b'\n').map(|_| Instant::now())),
                        ConnEvent::Head(h) => assert_eq!(h.code, 200),
                        other => panic!("the good stream got {other:?}"),
                    }
                    return Flow::Continue;
                }
                let s = &mut seen[*who];
                if s.failed.is_some() {
                    s.events_after_failure += 1;
                }
                match event {
                    ConnEvent::Body(data) => s.body.extend_from_slice(data),
                    ConnEvent::Failed(e) => s.failed = Some((e.kind(), e.to_string())),
                    ConnEvent::Head(_) => {}
                    other => panic!("{}: {other:?}", hostile[*who].0),
                }
                Flow::Continue
            })
            .unwrap();
        if last_failure.is_none() && seen.iter().all(|s| s.failed.is_some()) {
            last_failure = Some(Instant::now());
        }
        // Go on for a while after the last hostile stream ended.
        if last_failure.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
            break;
        }
    }
    for (i, (name, _, kind, body)) in hostile.iter().enumerate() {
        let s = &seen[i];
        let (got, message) = s
            .failed
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no failure"));
        assert_eq!(got, kind, "{name}: {message}");
        assert!(!message.contains('\n'), "{name}: {message:?}");
        assert_eq!(s.events_after_failure, 0, "{name}");
        if *kind == ErrorKind::Timeout {
            assert!(
                !s.body.is_empty() && s.body.iter().all(|&b| b == b'a'),
                "{name}"
            );
        } else {
            assert_eq!(
                String::from_utf8_lossy(&s.body),
                String::from_utf8_lossy(body),
                "{name}"
            );
        }
    }
    let last = last_failure.expect("every hostile stream failed");
    let after = ticks.iter().filter(|&&t| t > last).count();
    let before = ticks.iter().filter(|&&t| t <= last).count();
    assert!(
        before >= 1 && after >= 5,
        "ticks before {before}, after {after}"
    );
    // Only the good stream is left.
    assert_eq!(reactor.len(), 1);
    assert!(reactor.close(good_id).is_some());
}

/// Data after a complete response (a 204 followed by a pipelined response, in one write) is
/// no failure: the response ends as usual, the data comes as `Excess`, and the connection is
/// closed rather than kept for another request. Data that comes later, while the connection is
/// idle, keeps it from carrying the next request.
#[test]
fn data_after_the_end_closes_the_connection() {
    let trailing = &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"[..];
    let server = Server::start(Script::whole(
        cat(&[b"HTTP/1.1 204 No Content\r\n\r\n", trailing]),
        After::StayOpen,
    ));
    let mut reactor: Reactor<()> = Reactor::new(4).unwrap();
    let id = reactor.open(&server.endpoint(), "/x", ()).unwrap();
    let mut events = Vec::new();
    let started = Instant::now();
    while reactor.len() > 0 && started.elapsed() < Duration::from_secs(3) {
        reactor
            .poll(Some(Duration::from_millis(20)), &mut |_, _, event| {
                events.push(match event {
                    ConnEvent::Head(h) => format!("head {}", h.code),
                    ConnEvent::End { reusable } => format!("end {reusable}"),
                    ConnEvent::Excess(data) => format!("excess {}", data.escape_ascii()),
                    other => format!("{other:?}"),
                });
                Flow::Continue
            })
            .unwrap();
    }
    assert_eq!(
        events,
        [
            "head 204".to_string(),
            "end true".to_string(),
            format!("excess {}", trailing.escape_ascii()),
        ]
    );
    assert!(reactor.close(id).is_none(), "closed after the excess");

    // The same bytes 50 ms after the response: the idle connection is not reused.
    let server = Server::start(
        Script::whole(&b"HTTP/1.1 204 No Content\r\n\r\n"[..], After::StayOpen)
            .then(Step::Pause(Duration::from_millis(50)))
            .then(Step::Send(trailing.to_vec())),
    );
    let id = reactor.open(&server.endpoint(), "/x", ()).unwrap();
    let mut ended = None;
    while ended.is_none() {
        reactor
            .poll(Some(Duration::from_millis(20)), &mut |_, _, event| {
                if let ConnEvent::End { reusable } = event {
                    ended = Some(reusable);
                }
                Flow::Continue
            })
            .unwrap();
    }
    assert_eq!(ended, Some(true));
    thread::sleep(Duration::from_millis(300));
    let e = reactor.send_get(id, "/y").expect_err("a stale connection");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(reactor.len(), 0);
}

/// A server that writes faster than its handler consumes (here a legal body that never ends,
/// and a handler taking 1 ms per piece) must not hold the reactor: the other stream keeps
/// ticking and the flood's own deadline fires on time. Before `READS_PER_TURN`, every read of
/// the flood came back full and one call to `poll` lasted seconds (the ticks stopped, and the
/// deadline fired only when the kernel happened to return a short read).
#[test]
fn reactor_flood_does_not_starve_timers_or_other_streams() {
    let good = Server::start(ticking_script());
    let flood = Server::start(
        Script::whole(
            &b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n"[..],
            After::StayOpen,
        )
        .then(Step::Flood(b"d".to_vec(), 4 << 30)),
    );
    let mut reactor: Reactor<bool> = Reactor::new(64).unwrap();
    reactor.open(&good.endpoint(), "/good", false).unwrap();
    let id = reactor.open(&flood.endpoint(), "/flood", true).unwrap();
    let started = Instant::now();
    let deadline = Duration::from_millis(300);
    reactor.set_deadline(id, Some(started + deadline));
    let mut ticks = Vec::new();
    let mut flooded = 0u64;
    let mut failed = None;
    let mut longest_poll = Duration::ZERO;
    let mut most_pieces = 0;
    while started.elapsed() < Duration::from_millis(700) {
        let turn = Instant::now();
        let mut pieces = 0;
        reactor
            .poll(Some(Duration::from_millis(20)), &mut |_, flood, event| {
                match (*flood, event) {
                    (false, ConnEvent::Body(_)) => ticks.push(Instant::now()),
                    (true, ConnEvent::Body(data)) => {
                        flooded += data.len() as u64;
                        pieces += 1;
                        let t = Instant::now();
                        while t.elapsed() < Duration::from_millis(1) {
                            std::hint::spin_loop();
                        }
                    }
                    (true, ConnEvent::Failed(e)) => failed = Some((e.kind(), started.elapsed())),
                    (_, ConnEvent::Head(_)) => {}
                    (_, other) => panic!("{other:?}"),
                }
                Flow::Continue
            })
            .unwrap();
        longest_poll = longest_poll.max(turn.elapsed());
        most_pieces = most_pieces.max(pieces);
    }
    let (kind, at) = failed.expect("the flood's deadline fired");
    let gaps = ticks
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    eprintln!(
        "flood: {flooded} bytes consumed, deadline fired at {at:?}, longest poll \
         {longest_poll:?} (at most {most_pieces} reads of the flood in one), longest gap \
         between ticks {gaps:?}, {} ticks",
        ticks.len()
    );
    assert_eq!(kind, ErrorKind::Timeout);
    assert!(flooded > 1 << 20, "{flooded}");
    // One read budget from the event, one carried over from the previous turn.
    assert!(
        most_pieces <= 2 * READS_PER_TURN,
        "{most_pieces} reads in one poll"
    );
    // Generous, for a loaded machine: without the budget these were seconds.
    assert!(at < deadline + Duration::from_millis(500), "{at:?}");
    assert!(
        longest_poll < Duration::from_millis(500),
        "{longest_poll:?}"
    );
    assert!(gaps < Duration::from_millis(500), "{gaps:?}");
    assert!(ticks.len() >= 15, "{} ticks", ticks.len());
}

// =============================================================================================
// Batched reads

/// With a read period, a connection that asks for [`Flow::Batch`] is read once per period:
/// every tick arrives, in a few bursts instead of one read per tick, and a stream beside it
/// that does not ask is still read as its bytes come.
#[test]
fn batched_connection_is_read_once_per_period_and_loses_nothing() {
    const PERIOD: Duration = Duration::from_millis(400);
    let batched = Server::start(ticking_script());
    let eager = Server::start(ticking_script());
    let mut reactor: Reactor<bool> = Reactor::new(64).unwrap();
    reactor.set_read_period(Some(PERIOD));
    reactor.open(&batched.endpoint(), "/batched", true).unwrap();
    reactor.open(&eager.endpoint(), "/eager", false).unwrap();
    // Per stream: the moments body bytes came, and the ticks.
    let mut reads: [Vec<Instant>; 2] = [Vec::new(), Vec::new()];
    let mut ticks = [0usize; 2];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) && ticks != [100, 100] {
        reactor
            .poll(Some(Duration::from_millis(50)), &mut |_, batch, event| {
                let i = usize::from(*batch);
                match event {
                    ConnEvent::Head(h) => {
                        assert_eq!(h.code, 200);
                        return if *batch { Flow::Batch } else { Flow::Continue };
                    }
                    ConnEvent::Body(data) => {
                        ticks[i] += data.iter().filter(|&&b| b == b'\n').count();
                        let now = Instant::now();
                        // Pieces of one read come at the same moment.
                        if reads[i]
                            .last()
                            .is_none_or(|t| now - *t > Duration::from_millis(5))
                        {
                            reads[i].push(now);
                        }
                    }
                    other => panic!("{other:?}"),
                }
                Flow::Continue
            })
            .unwrap();
    }
    let [eager_reads, batched_reads] = &reads;
    eprintln!(
        "ticks {ticks:?}; reads: eager {}, batched {}",
        eager_reads.len(),
        batched_reads.len()
    );
    assert_eq!(ticks, [100, 100], "every tick arrives in both modes");
    // 100 ticks 20 ms apart over 2 s: read one by one, the eager stream sees many reads; the
    // batched one about 2 s / 400 ms, plus the read that brought the head.
    assert!(eager_reads.len() >= 30, "{}", eager_reads.len());
    assert!(
        batched_reads.len() <= 9,
        "{} reads: {batched_reads:?}",
        batched_reads.len()
    );
    // After the head's read, reads are a period apart (or more, on a loaded machine).
    for w in batched_reads[1..].windows(2) {
        assert!(
            w[1] - w[0] >= PERIOD - Duration::from_millis(20),
            "{:?}",
            w[1] - w[0]
        );
    }
}

/// A batched connection's end, and a hostile byte, are found at its next read: the end is an
/// `End` after every frame before it, the hostile chunk a failure after the frames before it.
#[test]
fn batched_connection_end_and_error_come_at_the_next_read() {
    const PERIOD: Duration = Duration::from_millis(200);
    let ends = Server::start(
        Script::whole(CHUNKED, After::StayOpen)
            .then(Step::Send(b"6\r\nframe\n\r\n".to_vec()))
            .then(Step::Pause(Duration::from_millis(50)))
            .then(Step::Send(b"6\r\nframe\n\r\n0\r\n\r\n".to_vec())),
    );
    let breaks = Server::start(
        Script::whole(CHUNKED, After::StayOpen)
            .then(Step::Send(b"6\r\nframe\n\r\n".to_vec()))
            .then(Step::Pause(Duration::from_millis(50)))
            .then(Step::Send(b"6\r\nframe\n\r\nzz\r\n".to_vec())),
    );
    let mut reactor: Reactor<usize> = Reactor::new(64).unwrap();
    reactor.set_read_period(Some(PERIOD));
    reactor.open(&ends.endpoint(), "/ends", 0).unwrap();
    reactor.open(&breaks.endpoint(), "/breaks", 1).unwrap();
    let mut body = [Vec::new(), Vec::new()];
    let mut last: [Option<String>; 2] = [None, None];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) && last.iter().any(Option::is_none) {
        reactor
            .poll(Some(Duration::from_millis(50)), &mut |_, who, event| {
                match event {
                    ConnEvent::Head(_) => return Flow::Batch,
                    ConnEvent::Body(data) => body[*who].extend_from_slice(data),
                    ConnEvent::End { reusable } => last[*who] = Some(format!("end {reusable}")),
                    ConnEvent::Failed(e) => last[*who] = Some(format!("{:?}", e.kind())),
                    other => panic!("{other:?}"),
                }
                Flow::Continue
            })
            .unwrap();
    }
    assert_eq!(body[0], b"frame\nframe\n");
    assert_eq!(last[0].as_deref(), Some("end true"));
    assert_eq!(body[1], b"frame\nframe\n");
    assert!(
        last[1].as_deref().is_some_and(|k| k.contains("Chunked")),
        "{:?}",
        last[1]
    );
    assert_eq!(
        reactor.len(),
        1,
        "the ended stream stays idle, the broken one is gone"
    );
}
