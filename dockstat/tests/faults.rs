//! Faults injected by the simulated daemon, and what a user of the [`Engine`] sees: which
//! stream reports which typed error (or goes stale), that it reconnects when it should and
//! only then, that every other stream keeps delivering, that every frame the daemon completed
//! is delivered exactly once (counted on both sides, per container), and that memory stays
//! bounded.
//!
//! Each test drives the real engine against [`Sim`] over a unix socket (a few over TCP and
//! TLS), with intervals of 20 ms and short stale and backoff settings. Nothing sleeps to let
//! something happen: tests poll the engine until a condition holds, with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat::chunked::ChunkedError;
use dockstat::engine::Mode;
use dockstat::engine::{Client, Control, Endpoint, Engine, EngineConfig, Event, Gone, Selection};
use dockstat::stats::{FrameError, FrameSplitter};
use dockstat::tls::{TlsConnector, TlsOptions};
use dockstat::{DecodeError, ErrorKind, ProtocolError};
use dockstat_sim::certs::{Pki, PkiOptions};
use dockstat_sim::{Cgroup, Fault, FaultRule, Listen, Sim, SimConfig};

/// A temp dir (for a socket or certificates), removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dockstat-faults-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn socket(&self) -> PathBuf {
        self.0.join("docker.sock")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Where the sim listens, and the endpoint the engine uses to reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    Unix,
    Tcp,
    Tls,
}

/// A sim and what it takes to reach it.
struct Daemon {
    sim: Sim,
    endpoint: Endpoint,
    _dir: TempDir,
}

fn start(transport: Transport, config: SimConfig) -> Daemon {
    let dir = TempDir::new();
    let loopback = "127.0.0.1:0".parse().unwrap();
    match transport {
        Transport::Unix => {
            let sim = Sim::start(Listen::Unix(dir.socket()), config).unwrap();
            let endpoint = Endpoint::parse(&sim.url()).unwrap();
            Daemon {
                sim,
                endpoint,
                _dir: dir,
            }
        }
        Transport::Tcp => {
            let sim = Sim::start(Listen::Tcp(loopback), config).unwrap();
            let endpoint = Endpoint::parse(&sim.url()).unwrap();
            Daemon {
                sim,
                endpoint,
                _dir: dir,
            }
        }
        Transport::Tls => {
            let pki = Pki::generate(&dir.0, &PkiOptions::default()).unwrap();
            let listen = Listen::Tls {
                addr: loopback,
                tls: pki.sim_tls(false),
            };
            let sim = Sim::start(listen, config).unwrap();
            let connector = TlsConnector::new(&TlsOptions {
                verify: true,
                ca: Some(pki.ca.cert.clone()),
                ..TlsOptions::default()
            })
            .unwrap();
            let endpoint = Endpoint::parse_tls(&sim.url(), connector).unwrap();
            Daemon {
                sim,
                endpoint,
                _dir: dir,
            }
        }
    }
}

/// `n` running containers (`busy-1`, `idle-2`, `memhog-3`, `writer-4`, …), a frame every
/// 20 ms.
fn quick(n: usize) -> SimConfig {
    SimConfig {
        containers: n,
        interval: Duration::from_millis(20),
        ..SimConfig::default()
    }
}

fn rule(container: &str, after_frames: u32, fault: Fault) -> FaultRule {
    FaultRule {
        container: container.to_owned(),
        after_frames,
        fault,
    }
}

/// What the engine reported, by container name.
#[derive(Default, Debug)]
struct Seen {
    added: BTreeMap<String, usize>,
    samples: BTreeMap<String, u64>,
    stale: BTreeMap<String, usize>,
    gone: Vec<(String, Gone)>,
    /// (container, kind, message); `None` for a host's discovery.
    errors: Vec<(Option<String>, ErrorKind, String)>,
    /// The most the engine held for unfinished frames and bodies after any turn.
    max_buffered: usize,
    /// The most resident memory of this process after any turn, and at the start.
    max_rss: u64,
    start_rss: u64,
}

impl Seen {
    fn samples(&self, name: &str) -> u64 {
        self.samples.get(name).copied().unwrap_or(0)
    }

    fn errors_of(&self, name: &str) -> Vec<ErrorKind> {
        self.errors
            .iter()
            .filter(|e| e.0.as_deref() == Some(name))
            .map(|e| e.1)
            .collect()
    }

    fn host_errors(&self) -> Vec<ErrorKind> {
        self.errors
            .iter()
            .filter(|e| e.0.is_none())
            .map(|e| e.1)
            .collect()
    }

    fn gone_of(&self, name: &str) -> Vec<Gone> {
        self.gone
            .iter()
            .filter(|g| g.0 == name)
            .map(|g| g.1)
            .collect()
    }
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split(' ').nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// An engine and what it reported so far.
struct Watch {
    engine: Engine,
    seen: Seen,
}

impl Watch {
    /// An engine for `endpoint`: stale after 300 ms, reconnects after 10..100 ms.
    fn new(endpoint: &Endpoint, f: impl FnOnce(&mut EngineConfig)) -> Watch {
        let mut config = EngineConfig::new(endpoint.clone());
        config.stale_after = Duration::from_millis(300);
        config.reconnect_min = Duration::from_millis(10);
        config.reconnect_max = Duration::from_millis(100);
        config.connect_timeout = Duration::from_secs(2);
        f(&mut config);
        let start_rss = rss();
        Watch {
            engine: Engine::new(config).unwrap(),
            seen: Seen {
                start_rss,
                max_rss: start_rss,
                ..Seen::default()
            },
        }
    }

    /// One turn of the engine (at most `wait`).
    fn turn(&mut self, wait: Duration) {
        let seen = &mut self.seen;
        self.engine
            .poll(Some(wait), &mut |event| {
                match event {
                    Event::Added(c) => *seen.added.entry(c.name.clone()).or_default() += 1,
                    Event::Sample { container, .. } => {
                        *seen.samples.entry(container.name.clone()).or_default() += 1;
                    }
                    Event::Stale(c) => *seen.stale.entry(c.name.clone()).or_default() += 1,
                    Event::Gone { container, why } => {
                        seen.gone.push((container.name.clone(), why));
                    }
                    Event::Error {
                        container, error, ..
                    } => seen.errors.push((
                        container.map(|c| c.name.clone()),
                        error.kind(),
                        error.to_string(),
                    )),
                }
                Control::Continue
            })
            .unwrap();
        seen.max_buffered = seen.max_buffered.max(self.engine.buffered_bytes());
        seen.max_rss = seen.max_rss.max(rss());
    }

    /// Polls until `done` holds; fails the test after `secs`.
    fn until(&mut self, what: &str, secs: f64, mut done: impl FnMut(&Seen) -> bool) {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        while !done(&self.seen) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:#?}",
                self.seen
            );
            self.turn(Duration::from_millis(10));
        }
    }

    /// Polls for `d`, whatever happens.
    fn poll_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.turn(Duration::from_millis(10));
        }
    }
}

/// Pauses the sim's frames, then waits until the engine has delivered, for each container,
/// exactly the frames the sim sent for it (sim name, engine name): more would be a duplicate,
/// fewer a loss. Then checks that nothing more arrives. Returns the counts.
fn settle_exact(sim: &Sim, w: &mut Watch, names: &[(&str, &str)]) -> Vec<u64> {
    sim.pause_frames(true).unwrap();
    let sent = |name: &str| sim.frames_sent_for(name).unwrap();
    w.until("every frame sent delivered exactly once", 4.0, |s| {
        names
            .iter()
            .all(|&(ours, theirs)| s.samples(theirs) == sent(ours))
    });
    w.poll_for(Duration::from_millis(100));
    names
        .iter()
        .map(|&(ours, theirs)| {
            let n = sent(ours);
            assert_eq!(w.seen.samples(theirs), n, "{theirs}: {:#?}", w.seen);
            n
        })
        .collect()
}

/// [`settle_exact`] for containers whose names the engine sees unchanged.
fn settle(sim: &Sim, w: &mut Watch, names: &[&str]) -> Vec<u64> {
    let pairs: Vec<(&str, &str)> = names.iter().map(|&n| (n, n)).collect();
    settle_exact(sim, w, &pairs)
}

fn fault_count(sim: &Sim, kind: &str) -> u64 {
    sim.fault_counts()
        .into_iter()
        .find(|(k, _)| *k == kind)
        .map_or_else(|| panic!("no fault kind {kind}"), |(_, n)| n)
}

/// Each container was added once, and none went.
fn no_churn(seen: &Seen, names: &[&str]) {
    for n in names {
        assert_eq!(seen.added.get(*n), Some(&1), "{n} added once: {seen:#?}");
    }
    assert!(seen.gone.is_empty(), "{:?}", seen.gone);
}

// ---- 1. connection resets ----------------------------------------------------------------

/// busy-1 is reset in the middle of a chunk after 3 frames, idle-2 between the two chunks of
/// a frame after 2, on every connection; memhog-3 is healthy.
fn resets(transport: Transport, expected: ErrorKind) {
    let mut config = quick(3);
    config.faults = vec![
        rule("busy-1", 3, Fault::ResetMidChunk),
        rule("idle-2", 2, Fault::ResetMidFrame),
    ];
    let d = start(transport, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("three resets each", 4.0, |s| {
        s.errors_of("busy-1").len() >= 3
            && s.errors_of("idle-2").len() >= 3
            && s.samples("memhog-3") >= 20
    });
    let counts = settle(&d.sim, &mut w, &["busy-1", "idle-2", "memhog-3"]);
    // Each fault the sim injected was reported once, as the transport reports a reset.
    w.until("every reset reported", 2.0, |s| {
        s.errors_of("busy-1").len() as u64 == fault_count(&d.sim, "reset_mid_chunk")
            && s.errors_of("idle-2").len() as u64 == fault_count(&d.sim, "reset_mid_frame")
    });
    let seen = &w.seen;
    for name in ["busy-1", "idle-2"] {
        let kinds = seen.errors_of(name);
        assert!(kinds.iter().all(|&k| k == expected), "{name}: {kinds:?}");
    }
    assert!(seen.errors_of("memhog-3").is_empty(), "{:?}", seen.errors);
    assert!(seen.host_errors().is_empty(), "{:?}", seen.errors);
    // Every connection delivered its good frames before the cut: 3 and 2 per connection.
    assert!(counts[0] >= 9 && counts[1] >= 6, "{counts:?}");
    no_churn(seen, &["busy-1", "idle-2", "memhog-3"]);
    assert!(w.engine.counters().reconnects >= 6);
}

#[test]
fn a_reset_on_a_unix_socket_is_a_truncated_stream_that_reconnects() {
    // A unix socket has no RST: the daemon's close is an EOF in the middle of the body.
    resets(Transport::Unix, ErrorKind::Truncated);
}

#[test]
fn a_tcp_reset_mid_chunk_or_mid_frame_is_an_io_error_that_reconnects() {
    resets(Transport::Tcp, ErrorKind::Io);
}

#[test]
fn a_tcp_reset_under_tls_is_an_io_error_that_reconnects() {
    resets(Transport::Tls, ErrorKind::Io);
}

#[test]
fn a_truncated_tls_stream_reconnects_and_loses_no_frame() {
    let mut config = quick(2);
    config.faults = vec![rule("busy-1", 2, Fault::TruncateMidChunk)];
    let d = start(Transport::Tls, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("three truncations", 4.0, |s| {
        s.errors_of("busy-1").len() >= 3
    });
    settle(&d.sim, &mut w, &["busy-1", "idle-2"]);
    // close_notify came, so the TLS layer is happy: the cut is in the HTTP body.
    let kinds = w.seen.errors_of("busy-1");
    assert!(
        kinds.iter().all(|&k| k == ErrorKind::Truncated),
        "{kinds:?}"
    );
    assert!(w.seen.errors_of("idle-2").is_empty());
    no_churn(&w.seen, &["busy-1", "idle-2"]);
}

// ---- 2. stalls ----------------------------------------------------------------------------

#[test]
fn stalled_streams_go_stale_then_reconnect() {
    let mut config = quick(3);
    config.faults = vec![
        // The response head, then nothing.
        rule("busy-1", 0, Fault::Stall),
        // Two frames and half of the third, then nothing.
        rule("idle-2", 2, Fault::StallMidFrame),
    ];
    let d = start(Transport::Unix, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("both stale, then reconnected", 4.0, |s| {
        s.errors_of("busy-1").len() >= 2
            && s.stale.get("idle-2").copied().unwrap_or(0) >= 2
            && s.samples("idle-2") >= 4
    });
    settle(&d.sim, &mut w, &["busy-1", "idle-2", "memhog-3"]);
    let seen = &w.seen;
    assert_eq!(seen.samples("busy-1"), 0);
    // Stale once, until a frame comes (none does: it stays stale through its reconnects);
    // idle-2 gets its two frames on each connection, and goes stale again.
    assert_eq!(seen.stale.get("busy-1"), Some(&1));
    assert_eq!(w.engine.counters().stale, 2);
    // A stream given up on after a silence says so, as a timeout.
    for name in ["busy-1", "idle-2"] {
        let kinds = seen.errors_of(name);
        assert!(!kinds.is_empty(), "{name}: {seen:#?}");
        assert!(
            kinds.iter().all(|&k| k == ErrorKind::Timeout),
            "{name}: {kinds:?}"
        );
    }
    assert!(seen.errors_of("memhog-3").is_empty(), "{:?}", seen.errors);
    assert!(!seen.stale.contains_key("memhog-3"), "{:?}", seen.stale);
    assert!(seen.samples("memhog-3") >= 30);
    no_churn(seen, &["busy-1", "idle-2", "memhog-3"]);
    // Half a frame is all an idle-2 stream holds while it stalls.
    assert!(seen.max_buffered < 4096, "{}", seen.max_buffered);
}

// ---- 3. slow drip ---------------------------------------------------------------------------

#[test]
fn a_frame_dripped_a_byte_at_a_time_arrives_whole_and_once() {
    let mut config = quick(3);
    // cgroup v2 frames are the shorter ones: about a second and a half a frame at 1 ms a byte.
    config.cgroup = Cgroup::V2;
    config.faults = vec![
        // A byte per turn of the sim's loop.
        rule("busy-1", 1, Fault::Drip(Duration::ZERO)),
        // A byte every millisecond.
        rule("idle-2", 1, Fault::Drip(Duration::from_millis(1))),
    ];
    let d = start(Transport::Unix, config);
    let mut w = Watch::new(&d.endpoint, |c| c.stale_after = Duration::from_secs(5));
    let started = Instant::now();
    w.until("the dripped frames and more", 4.5, |s| {
        s.samples("busy-1") >= 5 && s.samples("idle-2") >= 3
    });
    let took = started.elapsed();
    settle(&d.sim, &mut w, &["busy-1", "idle-2", "memhog-3"]);
    let seen = &w.seen;
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(fault_count(&d.sim, "drip"), 2);
    // The engine held part of a frame between reads (and no more than a frame).
    assert!(
        (100..4096).contains(&seen.max_buffered),
        "{}",
        seen.max_buffered
    );
    // A byte a millisecond: the frame took as many milliseconds as it has bytes.
    assert!(took >= Duration::from_millis(800), "{took:?}");
    no_churn(seen, &["busy-1", "idle-2", "memhog-3"]);
    assert_eq!(w.engine.counters().reconnects, 0);
}

#[test]
fn a_dripped_frame_over_tls_arrives_whole_and_once() {
    let mut config = quick(2);
    config.faults = vec![rule("busy-1", 2, Fault::Drip(Duration::ZERO))];
    let d = start(Transport::Tls, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("past the dripped frame", 4.0, |s| s.samples("busy-1") >= 6);
    settle(&d.sim, &mut w, &["busy-1", "idle-2"]);
    assert!(w.seen.errors.is_empty(), "{:?}", w.seen.errors);
    assert_eq!(fault_count(&d.sim, "drip"), 1);
    no_churn(&w.seen, &["busy-1", "idle-2"]);
}

// ---- 4. the daemon restarting ---------------------------------------------------------------

/// The daemon restarts in place (through the handle, or its control route): down for
/// 400 ms, then back at the same address.
fn restart_in_place(transport: Transport, via_route: bool) {
    let d = start(transport, quick(3));
    let names = ["busy-1", "idle-2", "memhog-3"];
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("first samples", 3.0, |s| {
        names.iter().all(|n| s.samples(n) >= 3)
    });
    let before: Vec<u64> = names.iter().map(|n| w.seen.samples(n)).collect();
    if via_route {
        // The answer, then the daemon closes every connection: the client must not take the
        // close that follows the answer in the same read for an empty reply.
        let mut client = Client::new(d.endpoint.clone()).unwrap();
        let response = client.get("/_sim/restart?down_ms=400").unwrap();
        assert_eq!(response.body, b"{\"ok\":true}\n");
    } else {
        d.sim.restart(Duration::from_millis(400)).unwrap();
    }
    // While it is down there is no socket (or nothing listens on the port): reconnects fail
    // to connect.
    w.until("the socket gone", 2.0, |s| {
        s.errors.iter().any(|e| e.1 == ErrorKind::Connect)
    });
    w.until("streaming again", 4.0, |s| {
        names
            .iter()
            .zip(&before)
            .all(|(n, &b)| s.samples(n) >= b + 3)
    });
    // The sim's counters carry on across its restart: exact over both lives.
    settle(&d.sim, &mut w, &names);
    let seen = &w.seen;
    for n in names {
        let kinds = seen.errors_of(n);
        assert!(
            kinds
                .iter()
                .all(|k| matches!(k, ErrorKind::Truncated | ErrorKind::Connect)),
            "{n}: {kinds:?}"
        );
        assert_eq!(kinds.first(), Some(&ErrorKind::Truncated), "{n}: {kinds:?}");
    }
    assert!(!seen.host_errors().is_empty());
    no_churn(seen, &names);
    assert_eq!(w.engine.counters().streams, 3);
}

#[test]
fn a_daemon_restarted_in_place_is_found_again_without_duplicates() {
    restart_in_place(Transport::Unix, false);
}

#[test]
fn a_tcp_daemon_restarted_through_its_control_route_is_found_again() {
    restart_in_place(Transport::Tcp, true);
}

#[test]
fn a_tls_daemon_restarted_in_place_is_found_again_without_duplicates() {
    restart_in_place(Transport::Tls, false);
}

#[test]
fn a_daemon_replaced_on_the_same_socket_is_found_again_without_duplicates() {
    let dir = TempDir::new();
    let path = dir.socket();
    let names = ["busy-1", "idle-2"];
    let sim = Sim::start(Listen::Unix(path.clone()), quick(2)).unwrap();
    let endpoint = Endpoint::parse(&sim.url()).unwrap();
    let mut w = Watch::new(&endpoint, |_| {});
    w.until("first samples", 3.0, |s| {
        names.iter().all(|n| s.samples(n) >= 3)
    });
    let first = settle(&sim, &mut w, &names);
    sim.shutdown();
    w.until("the socket gone", 2.0, |s| {
        s.errors.iter().any(|e| e.1 == ErrorKind::Connect)
    });
    // The same seed: the same containers, with the same ids.
    let sim = Sim::start(Listen::Unix(path), quick(2)).unwrap();
    w.until("streaming again", 4.0, |s| {
        names
            .iter()
            .zip(&first)
            .all(|(n, &b)| s.samples(n) >= b + 3)
    });
    sim.pause_frames(true).unwrap();
    w.until("everything sent by both daemons delivered once", 3.0, |s| {
        names
            .iter()
            .zip(&first)
            .all(|(n, &b)| s.samples(n) == b + sim.frames_sent_for(n).unwrap())
    });
    no_churn(&w.seen, &names);
}

// ---- 5. a container removed mid-stream --------------------------------------------------------

#[test]
fn a_container_removed_mid_stream_goes_once_and_is_not_reconnected() {
    let d = start(Transport::Unix, quick(3));
    let mut w = Watch::new(&d.endpoint, |c| c.selection = Selection::All);
    w.until("first samples", 3.0, |s| s.samples.len() == 3);
    // Quiet, so that what idle-2 got before its removal is known exactly.
    let before = settle(&d.sim, &mut w, &["busy-1", "idle-2", "memhog-3"]);
    d.sim.remove("idle-2", true).unwrap();
    w.until("gone", 2.0, |s| !s.gone.is_empty());
    d.sim.pause_frames(false).unwrap();
    w.until("the others go on", 3.0, |s| {
        s.samples("busy-1") >= before[0] + 10 && s.samples("memhog-3") >= before[2] + 10
    });
    // Its stream was closed at the destroy event: the zero frames the daemon writes after a
    // removal found no reader, and nothing asked for it again (no 404).
    settle(&d.sim, &mut w, &["busy-1", "idle-2", "memhog-3"]);
    let seen = &w.seen;
    assert_eq!(seen.gone, [("idle-2".to_string(), Gone::Removed)]);
    assert_eq!(seen.samples("idle-2"), before[1]);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(w.engine.counters().reconnects, 0);
    let watched: BTreeSet<&str> = w.engine.containers().map(|c| c.name.as_str()).collect();
    assert_eq!(watched, BTreeSet::from(["busy-1", "memhog-3"]));
}

#[test]
fn a_named_container_removed_mid_stream_gets_its_last_zero_frames() {
    let d = start(Transport::Unix, quick(2));
    let mut w = Watch::new(&d.endpoint, |c| {
        c.selection = Selection::Named(vec!["busy-1".into()]);
    });
    w.until("first samples", 3.0, |s| s.samples("busy-1") >= 3);
    d.sim.remove("busy-1", true).unwrap();
    w.until("gone", 2.0, |s| !s.gone.is_empty());
    // The two zero frames after the removal, then the end of the body: all delivered.
    settle(&d.sim, &mut w, &["busy-1"]);
    assert_eq!(w.seen.gone, [("busy-1".to_string(), Gone::Removed)]);
    assert!(w.seen.errors.is_empty(), "{:?}", w.seen.errors);
    assert_eq!(w.engine.counters().reconnects, 0);
}

// ---- 6. error statuses --------------------------------------------------------------------------

#[test]
fn a_500_for_one_container_is_retried_with_backoff_and_a_404_means_gone() {
    let mut config = quick(3);
    config.faults = vec![
        rule("busy-1", 0, Fault::Status(500)),
        rule("idle-2", 0, Fault::Status(404)),
    ];
    let d = start(Transport::Unix, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("retries of the 500", 4.0, |s| {
        s.errors_of("busy-1").len() >= 4 && s.samples("memhog-3") >= 20
    });
    settle(&d.sim, &mut w, &["busy-1", "idle-2", "memhog-3"]);
    let seen = &w.seen;
    assert_eq!(seen.samples("busy-1"), 0);
    assert!(
        seen.errors_of("busy-1")
            .iter()
            .all(|&k| k == ErrorKind::Status(500)),
        "{:?}",
        seen.errors
    );
    let message = &seen
        .errors
        .iter()
        .find(|e| e.0.as_deref() == Some("busy-1"))
        .unwrap()
        .2;
    assert!(message.contains("cgroups: cgroup deleted"), "{message}");
    // A discovered container that is not found went between the listing and the request:
    // it is gone, without an error, and not asked for again.
    assert_eq!(seen.gone_of("idle-2"), [Gone::Removed]);
    assert!(seen.errors_of("idle-2").is_empty(), "{:?}", seen.errors);
    assert!(seen.errors_of("memhog-3").is_empty(), "{:?}", seen.errors);
    assert_eq!(seen.added.len(), 3);
    // Every request for busy-1 and the one for idle-2 got the status; each was reported
    // (busy-1 goes on retrying: wait for a moment when its reports have caught up).
    w.until("each status reported", 2.0, |s| {
        fault_count(&d.sim, "status") == s.errors_of("busy-1").len() as u64 + 1
    });
}

#[test]
fn a_500_for_a_one_off_sample_is_reported_once_and_not_retried() {
    let mut config = quick(3);
    config.faults = vec![
        rule("busy-1", 0, Fault::Status(500)),
        rule("idle-2", 0, Fault::Status(404)),
    ];
    let d = start(Transport::Unix, config);
    let mut w = Watch::new(&d.endpoint, |c| c.mode = Mode::Once);
    let deadline = Instant::now() + Duration::from_secs(4);
    while !w.engine.is_done() {
        assert!(Instant::now() < deadline, "{:#?}", w.seen);
        w.turn(Duration::from_millis(10));
    }
    let seen = &w.seen;
    assert_eq!(seen.errors_of("busy-1"), [ErrorKind::Status(500)]);
    assert_eq!(seen.gone_of("busy-1"), [Gone::Done]);
    assert_eq!(seen.gone_of("idle-2"), [Gone::Removed]);
    assert_eq!(seen.samples("memhog-3"), 1);
    assert_eq!(seen.gone_of("memhog-3"), [Gone::Done]);
    assert_eq!(fault_count(&d.sim, "status"), 2, "no retry");
    assert_eq!(w.engine.counters().reconnects, 0);
}

// ---- 7. garbage for a chunk size ---------------------------------------------------------------

#[test]
fn garbage_for_a_chunk_size_is_a_protocol_error_that_reconnects() {
    let mut config = quick(3);
    config.split_chunks = true;
    config.faults = vec![rule("busy-1", 2, Fault::GarbageChunkSize)];
    let d = start(Transport::Unix, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("three failures", 4.0, |s| s.errors_of("busy-1").len() >= 3);
    settle(&d.sim, &mut w, &["busy-1", "idle-2", "memhog-3"]);
    w.until("one error per fault", 2.0, |s| {
        s.errors_of("busy-1").len() as u64 == fault_count(&d.sim, "garbage")
    });
    let kinds = w.seen.errors_of("busy-1");
    let garbage = ErrorKind::Protocol(ProtocolError::Chunked(ChunkedError::InvalidSize));
    assert!(kinds.iter().all(|&k| k == garbage), "{kinds:?}");
    assert!(w.seen.errors_of("idle-2").is_empty());
    no_churn(&w.seen, &["busy-1", "idle-2", "memhog-3"]);
}

// ---- 8. a frame of 100 MB ----------------------------------------------------------------------

const HUNDRED_MB: usize = 100 << 20;

fn huge_frame(transport: Transport) {
    let mut config = quick(2);
    config.faults = vec![rule("busy-1", 2, Fault::HugeFrame(HUNDRED_MB))];
    let d = start(transport, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("two huge frames refused", 4.5, |s| {
        s.errors_of("busy-1").len() >= 2 && s.samples("idle-2") >= 20
    });
    settle(&d.sim, &mut w, &["busy-1", "idle-2"]);
    let seen = &w.seen;
    let limit = FrameSplitter::DEFAULT_MAX_LEN;
    let too_long = ErrorKind::Protocol(ProtocolError::Frame(FrameError::TooLong { max: limit }));
    let kinds = seen.errors_of("busy-1");
    assert!(kinds.iter().all(|&k| k == too_long), "{kinds:?}");
    assert!(seen.errors_of("idle-2").is_empty());
    // The engine held at most a frame's limit, and stopped reading each huge frame soon after
    // it passed the limit rather than taking in 100 MB.
    assert!(
        seen.max_buffered > limit / 2 && seen.max_buffered <= limit,
        "{}",
        seen.max_buffered
    );
    let bytes = w.engine.counters().bytes;
    let faults = kinds.len() as u64;
    assert!(
        bytes < faults * 4 * limit as u64,
        "{bytes} bytes for {faults} huge frames"
    );
    // Resident memory grew by far less than one huge frame (the sim spools its padding).
    let grew = seen.max_rss.saturating_sub(seen.start_rss);
    assert!(grew < 48 << 20, "RSS grew by {} MiB", grew >> 20);
    eprintln!(
        "huge frame over {transport:?}: max buffered {} KiB, RSS +{} MiB, {} KiB read for {faults} huge frames",
        seen.max_buffered >> 10,
        grew >> 20,
        bytes >> 10
    );
    no_churn(seen, &["busy-1", "idle-2"]);
}

#[test]
fn a_100_mb_frame_is_refused_at_the_frame_limit_with_bounded_memory() {
    huge_frame(Transport::Unix);
}

#[test]
fn a_100_mb_frame_over_tls_is_refused_at_the_frame_limit_with_bounded_memory() {
    huge_frame(Transport::Tls);
}

// ---- 9. 100,000-deep nesting -------------------------------------------------------------------

#[test]
fn json_nested_100_000_deep_is_refused_as_a_frame_and_as_a_member() {
    let mut config = quick(2);
    config.faults = vec![
        // `[[[…]]]` for a frame: not a stats frame; the stream reconnects.
        rule("busy-1", 2, Fault::DeepNesting(100_000)),
        // A frame with a member nested 100,000 deep: refused past Go's 10,000 levels (without
        // recursion), as the docker CLI refuses it; the stream reconnects.
        rule("idle-2", 2, Fault::DeepMember(100_000)),
    ];
    let d = start(Transport::Unix, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("three failures", 4.0, |s| {
        s.errors_of("busy-1").len() >= 3 && s.samples("idle-2") >= 5
    });
    // The frames refused were sent (one per connection, after its second frame), and one
    // after each may have been on its connection.
    d.sim.pause_frames(true).unwrap();
    let sent = |name: &str| d.sim.frames_sent_for(name).unwrap();
    w.until("every other frame sent delivered", 4.0, |s| {
        let refused = fault_count(&d.sim, "deep_member");
        let lost = sent("idle-2").saturating_sub(s.samples("idle-2"));
        s.samples("busy-1") == sent("busy-1") && (refused..=2 * refused).contains(&lost)
    });
    w.until("one error per fault", 2.0, |s| {
        s.errors_of("busy-1").len() as u64 == fault_count(&d.sim, "deep")
            && s.errors_of("idle-2").len() as u64 == fault_count(&d.sim, "deep_member")
    });
    let kinds = w.seen.errors_of("busy-1");
    assert!(
        kinds
            .iter()
            .all(|&k| k == ErrorKind::Decode(DecodeError::Shape)),
        "{kinds:?}"
    );
    let deep = w.seen.errors_of("idle-2");
    assert!(
        !deep.is_empty()
            && deep
                .iter()
                .all(|&k| k == ErrorKind::Decode(DecodeError::TooDeep)),
        "{deep:?}"
    );
    assert!(
        w.seen.max_buffered <= 200_001 + 2048,
        "{}",
        w.seen.max_buffered
    );
    no_churn(&w.seen, &["busy-1", "idle-2"]);
}

// ---- 10. invalid UTF-8 in container names ------------------------------------------------------

#[test]
fn invalid_utf8_in_a_name_is_u_fffd_as_in_go() {
    let mut config = quick(3);
    config.faults = vec![
        rule("busy-1", 2, Fault::BadUtf8Name),
        rule("late-1", 0, Fault::BadUtf8Name),
    ];
    let d = start(Transport::Unix, config);
    let mut w = Watch::new(&d.endpoint, |_| {});
    // The listing names busy-1 with a byte that is not UTF-8: read as U+FFFD, the rest of
    // the listing is fine. Its frames, with the same name, are decoded as Go's decoder (the
    // docker CLI's) decodes them, U+FFFD for the byte: it streams as the others do.
    let busy = "busy-\u{fffd}";
    w.until("listed and streaming", 4.0, |s| {
        s.samples(busy) >= 5 && s.samples("idle-2") >= 10
    });
    // An event with a broken name: the container is added and followed all the same.
    d.sim.create(Some("late-1")).unwrap();
    d.sim.start_container("late-1").unwrap();
    let late = "late-\u{fffd}";
    w.until("late-1 added and streaming", 3.0, |s| {
        s.added.contains_key(late) && s.samples(late) > 0
    });
    // (The sim counts no frame with a broken name as sent.)
    settle_exact(
        &d.sim,
        &mut w,
        &[("idle-2", "idle-2"), ("memhog-3", "memhog-3")],
    );
    let seen = &w.seen;
    assert!(seen.samples(busy) > d.sim.frames_sent_for("busy-1").unwrap());
    let decode = |k: &ErrorKind| matches!(k, ErrorKind::Decode(_));
    assert!(
        !seen.errors.iter().any(|e| decode(&e.1)),
        "{:?}",
        seen.errors
    );
    assert!(seen.errors_of("idle-2").is_empty());
    no_churn(seen, &[busy, "idle-2", "memhog-3", late]);
}

// ---- 11. /events dropping --------------------------------------------------------------------

#[test]
fn a_dropped_events_stream_is_resubscribed_and_relisted_without_duplicates() {
    let d = start(Transport::Unix, quick(3));
    let mut w = Watch::new(&d.endpoint, |_| {});
    w.until("first samples", 3.0, |s| s.samples.len() == 3);
    assert_eq!(d.sim.drop_events().unwrap(), 1);
    // What happens before the engine resubscribes is known only from the new listing.
    d.sim.create(Some("late")).unwrap();
    d.sim.start_container("late").unwrap();
    d.sim.stop("idle-2").unwrap();
    w.until("relisted", 3.0, |s| {
        s.samples("late") >= 3 && !s.gone_of("idle-2").is_empty()
    });
    let seen = &w.seen;
    assert_eq!(
        seen.host_errors(),
        [ErrorKind::Truncated],
        "{:?}",
        seen.errors
    );
    assert_eq!(seen.gone_of("idle-2"), [Gone::Vanished]);
    // The new subscription works: a stop is seen as an event.
    d.sim.stop("busy-1").unwrap();
    w.until("stopped", 2.0, |s| !s.gone_of("busy-1").is_empty());
    let counts = settle(&d.sim, &mut w, &["busy-1", "memhog-3", "late"]);
    let seen = &w.seen;
    assert!(counts.iter().all(|&n| n >= 3));
    assert_eq!(seen.gone_of("busy-1"), [Gone::Stopped]);
    for name in ["busy-1", "idle-2", "memhog-3", "late"] {
        assert_eq!(seen.added.get(name), Some(&1), "{name}: {seen:#?}");
    }
    // idle-2's stream was closed at the listing; frames in flight then found no reader.
    assert!(seen.samples("idle-2") <= d.sim.frames_sent_for("idle-2").unwrap());
    let errors: Vec<_> = seen.errors.iter().filter(|e| e.0.is_some()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let watched: BTreeSet<&str> = w.engine.containers().map(|c| c.name.as_str()).collect();
    assert_eq!(watched, BTreeSet::from(["late", "memhog-3"]));
}

// ---- chaos -------------------------------------------------------------------------------------

#[test]
fn chaos_breaks_streams_at_random_and_every_stream_recovers() {
    let names = [
        "busy-1", "idle-2", "memhog-3", "writer-4", "forky-5", "net-6",
    ];
    let config = SimConfig {
        chaos: Some(Duration::from_millis(50)),
        ..quick(names.len())
    };
    let d = start(Transport::Unix, config);
    // Stalled streams come back after 2 × 200 ms.
    let mut w = Watch::new(&d.endpoint, |c| c.stale_after = Duration::from_millis(200));
    w.until("a soak's worth of faults", 4.5, |_| {
        d.sim.counters().faults_injected >= 40
    });
    // Chaos goes on while frames are paused, but finds nothing to break: streams with no
    // frame to send take no fault.
    let counts = settle(&d.sim, &mut w, &names);
    let seen = &w.seen;
    let c = d.sim.counters();
    let by_kind: BTreeMap<&str, u64> = d
        .sim
        .fault_counts()
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
    eprintln!(
        "chaos: {by_kind:?}, frames {counts:?}, engine {:?}",
        w.engine.counters()
    );
    assert!(by_kind.len() >= 5, "{by_kind:?}");
    assert_eq!(by_kind.values().sum::<u64>(), c.faults_injected);
    // Whatever broke, every container was streamed throughout (no gone, no re-add) and
    // every frame sent was delivered once.
    no_churn(seen, &names);
    assert!(counts.iter().all(|&n| n >= 5), "{counts:?}");
    for (who, kind, message) in &seen.errors {
        assert!(who.is_some(), "a stream's, not discovery's: {message}");
        assert!(
            matches!(
                kind,
                ErrorKind::Truncated
                    | ErrorKind::Timeout
                    | ErrorKind::Status(500)
                    | ErrorKind::Protocol(ProtocolError::Chunked(_))
            ),
            "{kind:?}: {message}"
        );
    }
    assert!(seen.max_buffered < 8192, "{}", seen.max_buffered);
}

#[test]
fn chaos_mode_counts_its_faults() {
    let daemon = start(
        Transport::Unix,
        SimConfig {
            containers: 3,
            interval: Duration::from_millis(20),
            chaos: Some(Duration::from_millis(30)),
            ..SimConfig::default()
        },
    );
    let endpoint = daemon.endpoint.clone();
    let mut w = Watch::new(&endpoint, |_| {});
    let mut client = Client::new(endpoint).unwrap();
    let mut injected = 0;
    let deadline = Instant::now() + Duration::from_secs(4);
    while injected < 10 {
        assert!(
            Instant::now() < deadline,
            "{injected} faults: {:#?}",
            w.seen
        );
        w.poll_for(Duration::from_millis(50));
        let response = client.get("/_sim/counters").unwrap();
        let counters: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        injected = counters["faults_injected"].as_u64().unwrap();
    }
    assert!(!w.seen.errors.is_empty());
    assert_eq!(w.seen.added.len(), 3);
}
