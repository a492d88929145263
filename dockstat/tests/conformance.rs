//! The engine against a scripted daemon whose stats response is followed by bytes nobody asked
//! for (a pipelined response after the terminating chunk): the stream ends as a stream that
//! ends cleanly does, with every frame delivered and no error, and its connection is closed.
//!
//! The daemon answers from the captures of a real Docker 20.10 daemon in
//! `../shared/fixtures/docker20-cgv1/` (the ping, and a stats stream that a `docker rm` ended
//! with its zero-length chunk), on a unix socket in the temp dir.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dockstat::chunked::{Chunk, Dechunker};
use dockstat::engine::{Control, Endpoint, Engine, EngineConfig, Event, Gone};

fn fixture(name: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/docker20-cgv1");
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The frames in a captured chunked stats response (head and body).
fn frames_in(capture: &[u8]) -> usize {
    let start = capture.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut input = &capture[start..];
    let mut dechunker = Dechunker::new();
    let mut body = Vec::new();
    while !dechunker.is_done() {
        let (chunk, used) = dechunker.decode(input);
        if let Chunk::Data(data) = chunk.expect("a valid capture") {
            body.extend_from_slice(data);
        }
        input = &input[used..];
    }
    assert!(input.is_empty(), "the capture ends with its body");
    body.iter().filter(|&&b| b == b'\n').count()
}

/// The scripted daemon: `/_ping`, an `/events` stream that stays quiet, a listing of
/// `containers`, and for each container's stats the response its function gives.
struct Daemon {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    /// Stats requests per container name.
    stats_requests: Arc<Mutex<BTreeMap<String, usize>>>,
    thread: Option<JoinHandle<()>>,
}

type Stats = Arc<dyn Fn(&str) -> Vec<u8> + Send + Sync>;

impl Daemon {
    fn start(names: &[&str], stats: Stats) -> Daemon {
        let path = std::env::temp_dir().join(format!(
            "dockstat-conformance-engine-{}.sock",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let list: Vec<String> = names
            .iter()
            .map(|n| {
                format!(
                    r#"{{"Id":"{n}-0123456789abcdef","Names":["/{n}"],"Image":"bb","State":"running","Status":"Up 1 second"}}"#
                )
            })
            .collect();
        let list = format!("[{}]\n", list.join(","));
        let stop = Arc::new(AtomicBool::new(false));
        let stats_requests = Arc::new(Mutex::new(BTreeMap::new()));
        let thread = {
            let (stop, requests) = (Arc::clone(&stop), Arc::clone(&stats_requests));
            thread::spawn(move || {
                let mut served = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let (stop, requests) = (Arc::clone(&stop), Arc::clone(&requests));
                            let (list, stats) = (list.clone(), Arc::clone(&stats));
                            served.push(thread::spawn(move || {
                                serve(s, &list, &*stats, &requests, &stop)
                            }));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
                for t in served {
                    t.join().unwrap();
                }
            })
        };
        Daemon {
            path,
            stop,
            stats_requests,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::parse(&format!("unix://{}", self.path.display())).unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(
    mut s: UnixStream,
    list: &str,
    stats: &(dyn Fn(&str) -> Vec<u8> + Send + Sync),
    requests: &Mutex<BTreeMap<String, usize>>,
    stop: &AtomicBool,
) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
            Err(_) => continue,
        }
        let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&request[..end]).into_owned();
        request.drain(..end + 4);
        let target = head.split(' ').nth(1).unwrap_or("").to_string();
        let path = target.split('?').next().unwrap_or("");
        let response = if path == "/_ping" {
            fixture("docker20-ping.http")
        } else if path.ends_with("/events") {
            b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
        } else if path.ends_with("/containers/json") {
            format!(
                "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{list}",
                list.len()
            )
            .into_bytes()
        } else if let Some(id) = path
            .strip_suffix("/stats")
            .and_then(|p| p.rsplit('/').next())
        {
            let name = id.split('-').next().unwrap_or("").to_string();
            *requests.lock().unwrap().entry(name.clone()).or_default() += 1;
            stats(&name)
        } else {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec()
        };
        if s.write_all(&response).is_err() {
            return;
        }
    }
}

/// What the engine reported, by container name.
#[derive(Debug, Default)]
struct Seen {
    samples: BTreeMap<String, usize>,
    gone: BTreeMap<String, Vec<Gone>>,
    errors: Vec<String>,
}

#[test]
fn a_stats_stream_with_data_after_its_end_ends_as_a_clean_one_does() {
    let capture = fixture("docker20-cgv1-doomed-rm-midstream.http");
    let frames = frames_in(&capture);
    assert!(frames >= 2, "{frames} frames in the capture");
    let pipelined = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n";
    let stats: Stats = Arc::new(move |name| {
        let mut response = capture.clone();
        if name == "trailing" {
            // In the same write as the last frames and the zero-length chunk.
            response.extend_from_slice(pipelined);
        }
        response
    });
    let daemon = Daemon::start(&["clean", "trailing"], stats);
    let mut config = EngineConfig::new(daemon.endpoint());
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(100);
    let mut engine = Engine::new(config).unwrap();

    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    let done = |s: &Seen| s.gone.len() == 2;
    while Instant::now() < deadline && !done(&seen) {
        engine
            .poll(Some(Duration::from_millis(50)), &mut |event| {
                match event {
                    Event::Sample { container, .. } => {
                        *seen.samples.entry(container.name.clone()).or_default() += 1;
                    }
                    Event::Gone { container, why } => seen
                        .gone
                        .entry(container.name.clone())
                        .or_default()
                        .push(why),
                    Event::Error { error, .. } => seen.errors.push(error.to_string()),
                    _ => {}
                }
                Control::Continue
            })
            .unwrap();
    }
    // A little longer: nothing else is to come of either stream.
    let quiet = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet {
        engine
            .poll(Some(Duration::from_millis(50)), &mut |event| {
                if let Event::Error { error, .. } = event {
                    seen.errors.push(error.to_string());
                }
                Control::Continue
            })
            .unwrap();
    }
    assert!(seen.errors.is_empty(), "{seen:?}");
    // Every frame the daemon completed, for both.
    assert_eq!(seen.samples.get("clean"), Some(&frames), "{seen:?}");
    assert_eq!(seen.samples.get("trailing"), Some(&frames), "{seen:?}");
    // Both ended as a stream ends after `docker rm`, each once.
    assert_eq!(
        seen.gone.get("clean"),
        Some(&vec![Gone::Removed]),
        "{seen:?}"
    );
    assert_eq!(
        seen.gone.get("trailing"),
        seen.gone.get("clean"),
        "{seen:?}"
    );
    let requests = daemon.stats_requests.lock().unwrap().clone();
    assert_eq!(
        requests.get("trailing"),
        requests.get("clean"),
        "{requests:?}"
    );
}
