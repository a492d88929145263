//! End-to-end tests: a real [`Sim`] on a unix socket (or TCP) in a temp dir, talked to with
//! a raw blocking `UnixStream`, with `curl`, and with the real `docker` CLI. They live inside
//! `sim/` (not `tests/`) so they travel with the module; they use only the public API.
//!
//! Tools that may be missing (`curl`, `docker`, `python3`) make their tests print a message and
//! pass, rather than fail on a machine without them.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::frames::tests::{FIXTURES, python};
use super::{Cgroup, Fault, FaultRule, Listen, Sim, SimConfig};

mod lifecycle;
mod tls;

const INTERVAL: Duration = Duration::from_millis(80);

/// A temp dir holding one socket, removed on drop.
struct TempSock {
    dir: PathBuf,
}

impl TempSock {
    fn new() -> TempSock {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dsim-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempSock { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }
}

impl Drop for TempSock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(containers: usize, stopped: usize) -> SimConfig {
    SimConfig {
        containers,
        stopped,
        interval: INTERVAL,
        ..SimConfig::default()
    }
}

fn start(tmp: &TempSock, config: SimConfig) -> Sim {
    Sim::start(Listen::Unix(tmp.path()), config).expect("start sim")
}

fn connect(path: &Path) -> BufReader<UnixStream> {
    let s = UnixStream::connect(path).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    BufReader::new(s)
}

fn send(conn: &mut BufReader<UnixStream>, request: &str) {
    conn.get_mut()
        .write_all(request.as_bytes())
        .expect("write request");
}

fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: docker\r\n\r\n")
}

#[derive(Debug)]
struct Head {
    status: u16,
    /// (name, value) in wire order.
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }
}

fn read_line(conn: &mut impl BufRead) -> String {
    let mut line = String::new();
    conn.read_line(&mut line).expect("read line");
    line.trim_end_matches(['\r', '\n']).to_owned()
}

fn read_head(conn: &mut impl BufRead) -> Head {
    let status_line = read_line(conn);
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let line = read_line(conn);
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(": ").expect("header line");
        headers.push((n.to_owned(), v.to_owned()));
    }
    Head { status, headers }
}

/// One chunk's payload; `None` for the last chunk.
fn read_chunk(conn: &mut impl BufRead) -> Option<Vec<u8>> {
    let size = usize::from_str_radix(&read_line(conn), 16).expect("chunk size");
    if size == 0 {
        assert_eq!(read_line(conn), "", "no trailers");
        return None;
    }
    let mut buf = vec![0u8; size + 2];
    conn.read_exact(&mut buf).expect("chunk");
    assert!(buf.ends_with(b"\r\n"));
    buf.truncate(size);
    Some(buf)
}

/// A complete non-streaming response.
fn read_response(conn: &mut impl BufRead) -> (Head, Vec<u8>) {
    let head = read_head(conn);
    let mut body = Vec::new();
    if let Some(n) = head.header("Content-Length") {
        body.resize(n.parse().expect("length"), 0);
        conn.read_exact(&mut body).expect("body");
    } else if head.header("Transfer-Encoding") == Some("chunked") {
        while let Some(c) = read_chunk(conn) {
            body.extend_from_slice(&c);
        }
    } else {
        conn.read_to_end(&mut body).expect("body to close");
    }
    (head, body)
}

fn request(path: &Path, target: &str) -> (Head, Vec<u8>) {
    let mut conn = connect(path);
    send(&mut conn, &get(target));
    read_response(&mut conn)
}

fn text(body: &[u8]) -> &str {
    std::str::from_utf8(body).expect("utf-8 body")
}

/// The JSON text of `key`'s object value, e.g. `"cpu_stats"` → `{"cpu_usage":…}` (frames are
/// flat enough that brace counting suffices).
fn object<'a>(json: &'a str, key: &str) -> &'a str {
    let pat = format!("\"{key}\":");
    let start = json.find(&pat).map(|i| i + pat.len()).expect("key present");
    let mut depth = 0;
    for (i, c) in json[start..].char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return &json[start..=start + i];
                }
            }
            _ => {}
        }
    }
    panic!("unterminated {key}");
}

fn string_field<'a>(json: &'a str, key: &str) -> &'a str {
    let pat = format!("\"{key}\":\"");
    let start = json.find(&pat).map(|i| i + pat.len()).expect("key present");
    let end = json[start..].find('"').expect("closing quote");
    &json[start..start + end]
}

const ZERO_PRECPU: &str = r#"{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}}"#;

const DAEMON_HEADERS: [&str; 4] = ["Api-Version", "Docker-Experimental", "Ostype", "Server"];

/// Waits up to 3 s for `cond` (counters are bumped by the server thread just after the bytes
/// they count have been written, so a client can see the bytes first).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        eprintln!("{tool} not found: skipping");
    }
    found
}

#[test]
fn ping_get_and_head() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(3, 0));
    let (head, body) = request(&tmp.path(), "/_ping");
    assert_eq!(head.status, 200);
    assert_eq!(body, b"OK");
    assert_eq!(
        head.names(),
        [
            "Api-Version",
            "Cache-Control",
            "Docker-Experimental",
            "Ostype",
            "Pragma",
            "Server",
            "Date",
            "Content-Length",
            "Content-Type"
        ]
    );
    assert_eq!(head.header("Api-Version"), Some("1.41"));
    assert_eq!(head.header("Ostype"), Some("linux"));
    assert_eq!(
        head.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );

    // HEAD: headers only, then the connection is free for the next request.
    let mut conn = connect(&tmp.path());
    send(
        &mut conn,
        "HEAD /v1.41/_ping HTTP/1.1\r\nHost: docker\r\n\r\n",
    );
    let head = read_head(&mut conn);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("0"));
    assert_eq!(head.header("Api-Version"), Some("1.41"));
    send(&mut conn, &get("/_ping"));
    let (_, body) = read_response(&mut conn);
    assert_eq!(body, b"OK");
    assert_eq!(sim.counters().requests, 3);
    sim.shutdown();
    assert!(!tmp.path().exists(), "socket file removed on shutdown");
}

#[test]
fn version_images_and_errors() {
    let tmp = TempSock::new();
    let _sim = start(&tmp, config(3, 0));
    let (head, body) = request(&tmp.path(), "/v1.41/version");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.names(),
        DAEMON_HEADERS[..1]
            .iter()
            .chain(&["Content-Type"])
            .chain(&DAEMON_HEADERS[1..])
            .chain(&["Date", "Content-Length"])
            .copied()
            .collect::<Vec<_>>()
    );
    assert!(text(&body).contains("\"Version\":\"20.10.24-dockstat-sim\""));
    assert!(text(&body).contains("\"ApiVersion\":\"1.41\",\"MinAPIVersion\":\"1.12\""));

    let (head, body) = request(&tmp.path(), "/images/json");
    assert_eq!(head.status, 200);
    let body = text(&body);
    assert!(body.starts_with("[{\"Containers\":-1,\"Created\":"));
    assert!(body.contains("\"RepoTags\":[\"sim/busybox:latest\"]"));
    assert_eq!(body.matches("\"Id\":\"sha256:").count(), 3);

    // Unknown route: only Content-Type, like the daemon's mux.
    let (head, body) = request(&tmp.path(), "/v1.41/nosuch");
    assert_eq!(head.status, 404);
    assert_eq!(head.names(), ["Content-Type", "Date", "Content-Length"]);
    assert_eq!(body, b"{\"message\":\"page not found\"}\n");
    let mut conn = connect(&tmp.path());
    send(
        &mut conn,
        "POST /containers/busy-1/stop HTTP/1.1\r\nHost: docker\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(read_response(&mut conn).0.status, 404);
    // The body was skipped: the connection still works.
    send(&mut conn, &get("/_ping"));
    assert_eq!(read_response(&mut conn).1, b"OK");

    let (head, body) = request(&tmp.path(), "/containers/nosuch/stats");
    assert_eq!(head.status, 404);
    assert_eq!(head.header("Api-Version"), Some("1.41"));
    assert_eq!(body, b"{\"message\":\"No such container: nosuch\"}\n");
    let (head, _) = request(&tmp.path(), "/v1.41/containers/nosuch/stats?stream=false");
    assert_eq!(head.status, 404);

    let (head, body) = request(&tmp.path(), "/v1.99/containers/json");
    assert_eq!(head.status, 400);
    assert_eq!(
        head.names(),
        [
            "Api-Version",
            "Content-Type",
            "Ostype",
            "Server",
            "Date",
            "Content-Length"
        ]
    );
    assert_eq!(
        text(&body),
        "{\"message\":\"client version 1.99 is too new. Maximum supported API version is 1.41\"}\n"
    );
    // The fixture's body, byte for byte.
    if let Ok(raw) = std::fs::read(format!(
        "{FIXTURES}/docker20-cgv1/docker20-400-version-too-new.http"
    )) {
        assert!(raw.ends_with(&body));
    }
}

#[test]
fn bad_heads_get_go_replies() {
    let tmp = TempSock::new();
    let _sim = start(&tmp, config(1, 0));
    let mut conn = connect(&tmp.path());
    send(&mut conn, "GET /_ping\r\n\r\n");
    let mut all = String::new();
    conn.read_to_string(&mut all).expect("read to close");
    assert_eq!(
        all,
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
    );
    let mut conn = connect(&tmp.path());
    let huge = format!(
        "GET /_ping HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    // The sim may answer (and shut its side) before it has read everything.
    let _ = conn.get_mut().write_all(huge.as_bytes());
    let mut all = String::new();
    conn.read_to_string(&mut all).expect("read to close");
    assert!(
        all.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{all}"
    );
}

#[test]
fn events_stream_stays_open_and_silent() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(2, 0));
    let mut conn = connect(&tmp.path());
    let filters = "%7B%22type%22%3A%7B%22container%22%3Atrue%7D%7D";
    send(
        &mut conn,
        &get(&format!(
            "/v1.41/events?since=1&until=9999999999&filters={filters}"
        )),
    );
    let head = read_head(&mut conn);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), Some("application/json"));
    assert_eq!(head.header("Transfer-Encoding"), Some("chunked"));
    // No events: nothing arrives, and the connection is not closed either.
    conn.get_ref()
        .set_read_timeout(Some(INTERVAL * 3))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let err = conn.read(&mut byte).expect_err("no data, no EOF");
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    assert_eq!(sim.counters().connections_open, 1);
}

#[test]
fn containers_json_and_framing() {
    let tmp = TempSock::new();
    let _sim = start(&tmp, config(1, 2));
    // Small body: Content-Length.
    let (head, body) = request(&tmp.path(), "/containers/json");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Length"),
        Some(body.len().to_string().as_str())
    );
    let body = text(&body);
    assert_eq!(body.matches("\"Id\":").count(), 1);
    assert!(body.contains("\"Names\":[\"/busy-1\"]"));
    assert!(body.contains("\"State\":\"running\",\"Status\":\"Up "));
    // Over 2048 bytes: chunked, one chunk and the last chunk.
    let mut conn = connect(&tmp.path());
    send(&mut conn, &get("/v1.41/containers/json?all=1"));
    let head = read_head(&mut conn);
    assert_eq!(head.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(head.header("Content-Length"), None);
    let chunk = read_chunk(&mut conn).expect("one chunk");
    assert!(chunk.len() > 2048);
    assert!(read_chunk(&mut conn).is_none());
    let body = text(&chunk);
    assert_eq!(body.matches("\"Id\":").count(), 3);
    assert!(body.contains("\"State\":\"exited\",\"Status\":\"Exited (0) "));
    if let Some(out) = python("import json,sys\nprint(len(json.load(sys.stdin)))", &chunk) {
        assert_eq!(out.trim(), "3");
    }
}

#[test]
fn keep_alive_pipelining_and_close() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(3, 0));
    let mut conn = connect(&tmp.path());
    // A client pings, then lists, on one connection.
    send(&mut conn, "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");
    assert_eq!(read_head(&mut conn).status, 200);
    send(&mut conn, &get("/v1.41/containers/json"));
    let (head, body) = read_response(&mut conn);
    assert_eq!(head.status, 200);
    assert_eq!(text(&body).matches("\"Id\":").count(), 3);
    // Pipelined, including a stream=false answer that waits an interval.
    send(
        &mut conn,
        &format!(
            "{}{}{}",
            get("/containers/idle-2/stats?stream=false"),
            get("/_ping"),
            get("/version")
        ),
    );
    let (head, body) = read_response(&mut conn);
    assert_eq!(head.header("Content-Type"), Some("application/json"));
    assert!(text(&body).contains("\"name\":\"/idle-2\""));
    assert_eq!(read_response(&mut conn).1, b"OK");
    assert_eq!(read_response(&mut conn).0.status, 200);
    // Connection: close is honoured.
    send(
        &mut conn,
        "GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
    );
    let head = read_head(&mut conn);
    assert_eq!(head.header("Connection"), Some("close"));
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).expect("EOF after close");
    assert_eq!(rest, b"OK");
    assert_eq!(sim.counters().connections_accepted, 1);
    // Thousands of pipelined requests in one write (more than a head's worth of bytes).
    let mut conn = connect(&tmp.path());
    send(&mut conn, &get("/_ping").repeat(4000));
    for _ in 0..4000 {
        assert_eq!(read_response(&mut conn).1, b"OK");
    }
    // HTTP/1.0: answered as 1.0, then closed.
    let mut conn = connect(&tmp.path());
    send(&mut conn, "GET /_ping HTTP/1.0\r\n\r\n");
    let mut all = String::new();
    conn.read_to_string(&mut all).expect("EOF");
    assert!(all.starts_with("HTTP/1.0 200 OK\r\n") && all.ends_with("\r\n\r\nOK"));
}

#[test]
fn stream_frames_arrive_each_interval() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(6, 0));
    let mut conn = connect(&tmp.path());
    // Frames go out on the stream's own schedule, from when the request is handled: timed
    // from before the request, the fifth comes no sooner than four intervals later, however
    // late the first one is read.
    let t0 = Instant::now();
    send(&mut conn, &get("/v1.41/containers/busy-1/stats"));
    let head = read_head(&mut conn);
    assert_eq!(head.status, 200);
    // Like the fixture: chunked, and no Content-Type.
    assert_eq!(
        head.names(),
        DAEMON_HEADERS
            .iter()
            .chain(&["Date", "Transfer-Encoding"])
            .copied()
            .collect::<Vec<_>>()
    );
    let mut frames = Vec::new();
    for _ in 0..5 {
        let chunk = read_chunk(&mut conn).expect("frame");
        assert!(chunk.ends_with(b"}\n"));
        frames.push(String::from_utf8(chunk).expect("utf-8"));
    }
    let elapsed = t0.elapsed();
    // Five frames: the first at once, then one per interval.
    assert!(
        elapsed >= INTERVAL * 4 - Duration::from_millis(5),
        "{elapsed:?}"
    );
    assert!(
        elapsed < INTERVAL * 4 + Duration::from_millis(800),
        "{elapsed:?}"
    );
    assert_eq!(string_field(&frames[0], "preread"), "0001-01-01T00:00:00Z");
    assert_eq!(object(&frames[0], "precpu_stats"), ZERO_PRECPU);
    for pair in frames.windows(2) {
        assert_eq!(
            object(&pair[1], "precpu_stats"),
            object(&pair[0], "cpu_stats")
        );
        assert_eq!(
            string_field(&pair[1], "preread"),
            string_field(&pair[0], "read")
        );
        assert!(string_field(&pair[1], "read") > string_field(&pair[0], "read"));
    }
    assert!(frames[4].contains("\"name\":\"/busy-1\""));
    assert_eq!(sim.counters().streams_open, 1);
    eventually("5 frames counted", || sim.counters().frames_sent >= 5);
    drop(conn);
    eventually("the stream to close", || {
        let c = sim.counters();
        c.streams_open == 0 && c.connections_open == 0
    });
}

#[test]
fn stopped_container_streams_zero_frames() {
    let tmp = TempSock::new();
    let _sim = start(&tmp, config(1, 1));
    let mut conn = connect(&tmp.path());
    send(&mut conn, &get("/containers/stopped-2/stats"));
    assert_eq!(read_head(&mut conn).status, 200);
    let fixture = std::fs::read(format!(
        "{FIXTURES}/docker20-cgv1/docker20-cgv1-stopped-stream.http"
    ));
    for _ in 0..3 {
        let frame = String::from_utf8(read_chunk(&mut conn).expect("frame")).expect("utf-8");
        assert!(frame.starts_with("{\"read\":\"0001-01-01T00:00:00Z\",\"preread\":\"0001-01-01T00:00:00Z\",\"pids_stats\":{},"));
        assert!(frame.contains("\"memory_stats\":{},\"name\":\"/stopped-2\""));
        if let Ok(raw) = &fixture {
            // Same length as the fixture's frame for the same name length: 0x31c for "/stopped".
            let expected = 0x31c + "stopped-2".len() - "stopped".len();
            assert_eq!(frame.len(), expected);
            assert!(String::from_utf8_lossy(raw).contains(&frame[..400]));
        }
    }
}

#[test]
fn stream_false_and_one_shot() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(6, 0));
    for (name, chunked) in [("net-6", false), ("idle-2", false), ("writer-4", true)] {
        let mut conn = connect(&tmp.path());
        let t0 = Instant::now();
        send(
            &mut conn,
            &get(&format!("/containers/{name}/stats?stream=false")),
        );
        let head = read_head(&mut conn);
        let waited = t0.elapsed();
        assert!(
            waited >= INTERVAL - Duration::from_millis(5),
            "{name} answered after {waited:?}"
        );
        assert_eq!(head.header("Content-Type"), Some("application/json"));
        let body = if chunked {
            assert_eq!(head.header("Transfer-Encoding"), Some("chunked"), "{name}");
            let b = read_chunk(&mut conn).expect("body chunk");
            assert!(read_chunk(&mut conn).is_none(), "0-chunk after the frame");
            assert!(b.len() > 2048);
            b
        } else {
            let n: usize = head
                .header("Content-Length")
                .expect("length")
                .parse()
                .expect("number");
            assert!(n <= 2048, "{name}: {n}");
            let mut b = vec![0; n];
            conn.read_exact(&mut b).expect("body");
            b
        };
        let frame = text(&body);
        assert!(frame.ends_with("}\n"));
        // precpu is a real sample from one interval earlier.
        assert_ne!(object(frame, "precpu_stats"), ZERO_PRECPU);
        assert!(object(frame, "precpu_stats").contains("\"system_cpu_usage\":"));
        assert!(string_field(frame, "preread") < string_field(frame, "read"));
        assert!(!string_field(frame, "preread").starts_with("0001"));
    }
    // one-shot: immediate, precpu zeroed.
    let t0 = Instant::now();
    let (head, body) = request(
        &tmp.path(),
        "/v1.41/containers/busy-1/stats?stream=0&one-shot=1",
    );
    assert!(t0.elapsed() < INTERVAL);
    assert_eq!(head.status, 200);
    assert_eq!(object(text(&body), "precpu_stats"), ZERO_PRECPU);
    assert_eq!(string_field(text(&body), "preread"), "0001-01-01T00:00:00Z");
    eventually("4 frames counted", || sim.counters().frames_sent == 4);
}

#[test]
fn two_hundred_concurrent_streams() {
    let tmp = TempSock::new();
    let sim = start(
        &tmp,
        SimConfig {
            interval: Duration::from_millis(50),
            ..config(50, 0)
        },
    );
    let mut conns: Vec<_> = (0..200)
        .map(|i| {
            let mut c = connect(&tmp.path());
            send(
                &mut c,
                &get(&format!("/containers/{}/stats", sim_name(i % 50))),
            );
            c
        })
        .collect();
    for (i, c) in conns.iter_mut().enumerate() {
        assert_eq!(read_head(c).status, 200);
        for _ in 0..3 {
            let frame = read_chunk(c).expect("frame");
            let want = format!("\"name\":\"/{}\"", sim_name(i % 50));
            assert!(text(&frame).contains(&want));
        }
    }
    let counters = sim.counters();
    assert_eq!(counters.streams_open, 200);
    assert_eq!(counters.connections_accepted, 200);
    eventually("600 frames counted", || sim.counters().frames_sent >= 600);
    drop(conns);
    eventually("all streams to close", || {
        let c = sim.counters();
        c.streams_open == 0 && c.connections_open == 0
    });
}

/// Name of container `i` (0-based) in the default cycle.
fn sim_name(i: usize) -> String {
    let w = super::Workload::CYCLE[i % super::Workload::CYCLE.len()];
    format!("{}-{}", w.name(), i + 1)
}

#[test]
fn slow_reader_gets_frames_skipped() {
    let tmp = TempSock::new();
    let sim = start(
        &tmp,
        SimConfig {
            interval: Duration::from_millis(1),
            ..config(1, 0)
        },
    );
    let mut conn = connect(&tmp.path());
    send(&mut conn, &get("/containers/busy-1/stats"));
    // Do not read: the socket buffers fill, then the sim's bounded queue.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.counters().frames_skipped < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = sim.counters();
    assert!(c.frames_skipped >= 20, "{c:?}");
    // The stream is intact: everything queued is whole frames.
    assert_eq!(read_head(&mut conn).status, 200);
    for _ in 0..50 {
        let f = read_chunk(&mut conn).expect("frame");
        assert!(f.starts_with(b"{\"read\":") && f.ends_with(b"}\n"));
    }
}

#[test]
fn split_chunks_and_faults() {
    let tmp = TempSock::new();
    let _sim = start(
        &tmp,
        SimConfig {
            split_chunks: true,
            faults: vec![
                FaultRule {
                    container: "idle-2".to_owned(),
                    after_frames: 2,
                    fault: Fault::TruncateMidChunk,
                },
                FaultRule {
                    container: "memhog-3".to_owned(),
                    after_frames: 1,
                    fault: Fault::GarbageChunkSize,
                },
            ],
            ..config(3, 0)
        },
    );
    // Frames arrive in two chunks each, which reassemble into whole frames.
    let mut conn = connect(&tmp.path());
    send(&mut conn, &get("/containers/busy-1/stats"));
    read_head(&mut conn);
    for _ in 0..3 {
        let a = read_chunk(&mut conn).expect("first part");
        let b = read_chunk(&mut conn).expect("second part");
        assert!(!a.ends_with(b"\n"));
        let frame = [a, b].concat();
        assert!(frame.starts_with(b"{\"read\":") && frame.ends_with(b"}\n"));
    }
    // Truncation: two good frames (split in two chunks each), then half a chunk and EOF.
    let mut conn = connect(&tmp.path());
    send(&mut conn, &get("/containers/idle-2/stats"));
    read_head(&mut conn);
    for _ in 0..4 {
        read_chunk(&mut conn).expect("good part");
    }
    let size = usize::from_str_radix(&read_line(&mut conn), 16).expect("size");
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).expect("EOF");
    assert_eq!(rest.len(), size / 2);
    // Garbage chunk size after one good frame.
    let mut conn = connect(&tmp.path());
    send(&mut conn, &get("/containers/memhog-3/stats"));
    read_head(&mut conn);
    read_chunk(&mut conn).expect("good part");
    read_chunk(&mut conn).expect("good part");
    assert_eq!(read_line(&mut conn), "zz");
}

#[test]
fn tcp_listener_and_stale_socket() {
    let sim = Sim::start(
        Listen::Tcp("127.0.0.1:0".parse().expect("addr")),
        config(1, 0),
    )
    .expect("tcp sim");
    let url = sim.url();
    let addr = url.strip_prefix("tcp://").expect("tcp url");
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{url}"
    );
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut all = String::new();
    s.read_to_string(&mut all).expect("read");
    assert!(all.ends_with("\r\n\r\nOK"));
    sim.shutdown();

    // A socket file left behind by a dead process is replaced; a live one is not.
    let tmp = TempSock::new();
    drop(std::os::unix::net::UnixListener::bind(tmp.path()).expect("stale socket"));
    let sim = start(&tmp, config(1, 0));
    assert_eq!(sim.url(), format!("unix://{}", tmp.path().display()));
    let err = Sim::start(Listen::Unix(tmp.path()), config(1, 0)).expect_err("in use");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert_eq!(request(&tmp.path(), "/_ping").1, b"OK");
}

#[test]
fn cgroup_v2_frames() {
    let tmp = TempSock::new();
    let _sim = start(
        &tmp,
        SimConfig {
            cgroup: Cgroup::V2,
            ..config(4, 0)
        },
    );
    let (_, body) = request(&tmp.path(), "/containers/writer-4/stats?stream=false");
    let frame = text(&body);
    assert!(!frame.contains("percpu_usage"));
    assert!(frame.contains("\"op\":\"write\""));
    assert!(frame.contains("\"limit\":18446744073709551615"));
    assert!(object(frame, "memory_stats").contains("\"anon\":"));
}

#[test]
fn curl_client() {
    if !have("curl") {
        return;
    }
    let tmp = TempSock::new();
    let _sim = start(&tmp, config(6, 1));
    let sock = tmp.path();
    let curl = |args: &[&str]| -> String {
        let out = Command::new("curl")
            .args(["-s", "--unix-socket"])
            .arg(&sock)
            .args(args)
            .output()
            .expect("run curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&["http://docker/_ping"]), "OK");
    assert!(curl(&["-I", "http://docker/_ping"]).contains("Api-Version: 1.41"));
    assert!(curl(&["http://docker/containers/json?all=1"]).contains("/stopped-7"));
    // The seed article's usage: a stream piped through -N, cut off by --max-time.
    let max_time = format!("{}", INTERVAL.as_secs_f64() * 3.5);
    let stream = curl(&[
        "-N",
        "--max-time",
        &max_time,
        "http://docker/containers/net-6/stats",
    ]);
    let frames: Vec<&str> = stream.lines().collect();
    assert!((3..=5).contains(&frames.len()), "{} frames", frames.len());
    assert!(frames.iter().all(|f| f.contains("\"networks\":{\"eth0\":")));
    if let Some(out) = python(
        "import json,sys\nprint(sum(1 for l in sys.stdin if json.loads(l)['name']=='/net-6'))",
        stream.as_bytes(),
    ) {
        assert_eq!(out.trim(), frames.len().to_string());
    }
}

fn docker(sim: &Sim, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", sim.url())
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env(
            "DOCKER_CONFIG",
            std::env::temp_dir().join("dockstat-sim-docker-config"),
        )
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn docker_cli_ps_and_images() {
    if !have("docker") {
        return;
    }
    let tmp = TempSock::new();
    let sim = start(&tmp, config(6, 1));
    let ps = docker(&sim, &["ps", "--format", "json"]);
    assert_eq!(ps.lines().count(), 6);
    assert!(ps.contains("\"Names\":\"busy-1\"") && ps.contains("\"State\":\"running\""));
    let all = docker(&sim, &["ps", "-a", "--format", "json"]);
    assert_eq!(all.lines().count(), 7);
    assert!(all.contains("\"Status\":\"Exited (0) "));
    if let Some(out) = python(
        "import json,sys\nprint(sorted(json.loads(l)['Names'] for l in sys.stdin)[0])",
        all.as_bytes(),
    ) {
        assert_eq!(out.trim(), "busy-1");
    }
    assert!(docker(&sim, &["images"]).contains("sim/busybox"));
    assert!(docker(&sim, &["version", "--format", "{{.Server.Version}}"]).contains("dockstat-sim"));
}

#[test]
fn docker_cli_stats_no_stream() {
    if !have("docker") {
        return;
    }
    let tmp = TempSock::new();
    let sim = start(&tmp, config(6, 0));
    let out = docker(&sim, &["stats", "--no-stream", "--format", "json"]);
    assert_eq!(out.lines().count(), 6, "{out}");
    let script = r#"
import json, sys
rows = {r["Name"]: r for r in map(json.loads, sys.stdin)}
cpu = lambda n: float(rows[n]["CPUPerc"].rstrip("%"))
assert 40 <= cpu("busy-1") <= 60, rows["busy-1"]
assert cpu("idle-2") < 1
assert rows["memhog-3"]["MemUsage"].endswith("/ 512MiB"), rows["memhog-3"]
assert rows["forky-5"]["PIDs"] in ("1", "11")
assert rows["net-6"]["NetIO"] != "0B / 0B"
assert rows["writer-4"]["BlockIO"].startswith("0B / ") and rows["writer-4"]["BlockIO"] != "0B / 0B"
print("ok")
"#;
    if let Some(res) = python(script, out.as_bytes()) {
        assert_eq!(res.trim(), "ok");
    }
    eventually("6 frames counted", || sim.counters().frames_sent >= 6);
}
