//! The end of a container's stats stream at its `die` (or `destroy`) event loses no frame.
//!
//! The daemon writes a container's frames and its events on different connections, and
//! counts a frame as sent once it is written. A frame can reach the stream's socket after the
//! engine read that socket in a turn and before the turn applies the `die` that came with it;
//! closing the stream then would throw away a frame the daemon completed. These tests script
//! the daemon from the test's own thread so that exactly this happens, every time: the `die`
//! event and a frame are in the sockets before a turn, and the next frame is written from the
//! handler while the engine delivers that frame, that is after the stream's socket was read
//! and before the event is applied. Every frame written must be delivered, before the
//! container is reported gone, and no error reported for it.
//!
//! The scripted daemon is a unix socket: a thread accepts connections and reads each request
//! head; the test answers them between the engine's turns.
//!
//! The last test holds the simulated daemon to the same count: a huge frame (the sim's
//! [`Fault::HugeFrame`]) under the engine's frame limit is a frame, delivered, and so counted
//! as sent once it is written whole.

use std::io::{BufRead, BufReader, ErrorKind as IoErrorKind, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dockstat::engine::{
    ApiVersion, Control, Endpoint, Engine, EngineConfig, Event, Gone, Selection,
};
use dockstat_sim::{Fault, FaultRule, Listen, Sim, SimConfig};

const ID: &str = "d1e0000000000000000000000000000000000000000000000000000000000001";
const NAME: &str = "doomed";

/// One request the scripted daemon received: its target and the connection to answer on.
struct Request {
    target: String,
    conn: UnixStream,
}

/// The scripted daemon: a socket, and the requests that came in on it.
struct Daemon {
    path: PathBuf,
    requests: mpsc::Receiver<Request>,
}

impl Daemon {
    fn start(name: &str) -> Daemon {
        let path =
            std::env::temp_dir().join(format!("dockstat-die-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, requests) = mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let tx = tx.clone();
                // Each connection carries one request here: its head is read, then the test
                // answers (and the engine asks on a new connection for the next).
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let target = line.split(' ').nth(1).unwrap_or_default().to_string();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                            break;
                        }
                    }
                    let _ = tx.send(Request { target, conn });
                });
            }
        });
        Daemon { path, requests }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A stats frame from a real daemon (`docker-2022-cgv2-seed1.json`), on one line.
fn frame() -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/frames/docker-2022-cgv2-seed1.json"
    );
    let text = std::fs::read(path).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
    let mut line = serde_json::to_vec(&value).unwrap();
    line.push(b'\n');
    line
}

fn chunk(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
    out
}

fn event(action: &str) -> Vec<u8> {
    let doc = format!(
        r#"{{"status":"{action}","id":"{ID}","from":"img","Type":"container","Action":"{action}","Actor":{{"ID":"{ID}","Attributes":{{"image":"img","name":"{NAME}"}}}},"scope":"local","time":1700000000,"timeNano":1700000000000000000}}"#
    );
    chunk(format!("{doc}\n").as_bytes())
}

const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/20.10.17 (linux)\r\nDate: Tue, 06 Sep 2022 10:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n";

fn reply(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nServer: Docker/20.10.17 (linux)\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// What the engine reported about the container, in order.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Sample,
    Gone(Gone),
}

/// Runs the script: the container starts (with `all`, it is created and started), its
/// stream delivers one frame; then `end` (`die`, or `destroy` with `all`) and a frame are
/// written before a turn, and one more frame from the handler while that frame is delivered.
fn script(name: &str, selection: Selection, end: &str) -> (Vec<Seen>, Vec<String>) {
    let daemon = Daemon::start(name);
    let mut config = EngineConfig::new(Endpoint::parse(&daemon.url()).unwrap());
    config.api_version = ApiVersion::parse("1.41");
    config.selection = selection;
    let mut engine = Engine::new(config).unwrap();
    let frame = frame();

    let mut seen = Vec::new();
    let mut errors = Vec::new();
    let mut events: Option<UnixStream> = None;
    let mut stats: Option<UnixStream> = None;
    // Connections answered and left open, as a daemon leaves keep-alive connections.
    let mut kept = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);

    // The container starts, and its stream delivers its first frame.
    while !seen.contains(&Seen::Sample) {
        assert!(
            Instant::now() < deadline,
            "no first frame: {seen:?} {errors:?}"
        );
        engine
            .poll(Some(Duration::from_millis(20)), &mut |e| {
                record(&e, &mut seen, &mut errors);
                Control::Continue
            })
            .unwrap();
        while let Ok(Request { target, mut conn }) = daemon.requests.try_recv() {
            if target.starts_with("/v1.41/events") {
                conn.write_all(STREAM_HEAD).unwrap();
                conn.write_all(&event("create")).unwrap();
                conn.write_all(&event("start")).unwrap();
                events = Some(conn);
            } else if target.starts_with("/v1.41/containers/json") {
                conn.write_all(&reply("[]")).unwrap();
                kept.push(conn);
            } else if target == "/v1.41/info" {
                // The host's CPU count is no part of this script: closed unanswered.
            } else if target.starts_with(&format!("/v1.41/containers/{ID}/stats")) {
                conn.write_all(STREAM_HEAD).unwrap();
                conn.write_all(&chunk(&frame)).unwrap();
                stats = Some(conn);
            } else {
                panic!("unexpected request {target}");
            }
        }
    }
    let (mut events, mut stats) = (events.unwrap(), stats.unwrap());

    // The end event, and a frame after it, both in their sockets before the next turn.
    events.write_all(&event(end)).unwrap();
    stats.write_all(&chunk(&frame)).unwrap();
    let mut written = 2;
    // One more frame once the engine has read the stream's socket in that turn: written while
    // the frame before it is delivered, before the turn applies the event.
    let mut late = Some(stats.try_clone().unwrap());
    while !seen.iter().any(|s| matches!(s, Seen::Gone(_))) {
        assert!(Instant::now() < deadline, "not gone: {seen:?} {errors:?}");
        engine
            .poll(Some(Duration::from_millis(20)), &mut |e| {
                record(&e, &mut seen, &mut errors);
                if matches!(e, Event::Sample { .. }) {
                    if let Some(mut s) = late.take() {
                        s.write_all(&chunk(&frame)).unwrap();
                        written += 1;
                    }
                }
                Control::Continue
            })
            .unwrap();
    }
    assert_eq!(written, 3);
    // The engine has let the stream go: a frame written now cannot be counted as sent.
    let after = stats.write_all(&chunk(&frame));
    assert!(
        matches!(&after, Err(e) if e.kind() == IoErrorKind::BrokenPipe),
        "a write after the stream went: {after:?}"
    );
    drop(kept);
    (seen, errors)
}

fn record(e: &Event<'_>, seen: &mut Vec<Seen>, errors: &mut Vec<String>) {
    match e {
        Event::Sample { container, .. } if container.name == NAME => seen.push(Seen::Sample),
        Event::Gone { container, why } if container.name == NAME => seen.push(Seen::Gone(*why)),
        Event::Error { error, .. } => errors.push(error.to_string()),
        _ => {}
    }
}

#[test]
fn a_frame_written_after_the_die_event_is_delivered_before_the_stream_goes() {
    let (seen, errors) = script("die", Selection::Running, "die");
    assert_eq!(
        seen,
        [
            Seen::Sample,
            Seen::Sample,
            Seen::Sample,
            Seen::Gone(Gone::Stopped)
        ],
        "every frame written, then gone; errors: {errors:?}"
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_frame_written_after_the_destroy_event_is_delivered_with_all() {
    let (seen, errors) = script("destroy", Selection::All, "destroy");
    assert_eq!(
        seen,
        [
            Seen::Sample,
            Seen::Sample,
            Seen::Sample,
            Seen::Gone(Gone::Removed)
        ],
        "every frame written, then gone; errors: {errors:?}"
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn a_huge_frame_under_the_frame_limit_is_delivered_and_counted_as_sent() {
    const HUGE: usize = 200 << 10;
    let dir = std::env::temp_dir().join(format!("dockstat-die-huge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = SimConfig {
        containers: 2,
        interval: Duration::from_millis(20),
        faults: vec![FaultRule {
            container: "busy-1".to_string(),
            after_frames: 2,
            fault: Fault::HugeFrame(HUGE),
        }],
        ..SimConfig::default()
    };
    let sim = Sim::start(Listen::Unix(dir.join("docker.sock")), config).unwrap();
    let mut engine = Engine::new(EngineConfig::new(Endpoint::parse(&sim.url()).unwrap())).unwrap();
    let (mut samples, mut errors) = (0u64, Vec::new());
    let mut poll = |engine: &mut Engine, samples: &mut u64| {
        engine
            .poll(Some(Duration::from_millis(20)), &mut |e| {
                match e {
                    Event::Sample { container, .. } if container.name == "busy-1" => *samples += 1,
                    Event::Error { error, .. } => errors.push(error.to_string()),
                    _ => {}
                }
                Control::Continue
            })
            .unwrap();
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while samples < 6 {
        assert!(Instant::now() < deadline, "{samples} samples");
        poll(&mut engine, &mut samples);
    }
    // The writers paused, everything written read: as many frames received as sent.
    sim.pause_frames(true).unwrap();
    let sent = sim.frames_sent_for("busy-1").unwrap();
    let settle = Instant::now() + Duration::from_millis(300);
    while Instant::now() < settle || (samples < sent && Instant::now() < deadline) {
        poll(&mut engine, &mut samples);
    }
    let bytes = engine.counters().bytes;
    assert!(
        bytes > HUGE as u64,
        "the huge frame was read: {bytes} bytes"
    );
    let huge = sim.fault_counts().into_iter().find(|(k, _)| *k == "huge");
    assert_eq!(huge, Some(("huge", 1)));
    assert_eq!(samples, sent, "busy-1: received {samples}, sent {sent}");
    assert!(errors.is_empty(), "{errors:?}");
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}
