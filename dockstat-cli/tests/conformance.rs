//! `dockstat get -i` against a scripted server, one response vector per row, for the kinds of
//! HTTP/1.1 response that parsers handle differently (vectors after llhttp's, http-parser's and
//! picohttpparser's test suites):
//!
//! - a complete response followed by more bytes (a pipelined response, a body after a 204 or
//!   a 304, bytes beyond `Content-Length`): the response is printed, exit 0, one warning line
//!   on stderr, and the connection is closed and never reused (as Go's net/http and curl do);
//! - empty lines before a status line, at the start or after a `100 Continue`: skipped, at most
//!   `ResponseHead::MAX_EMPTY_LINES` of them (RFC 9112 §2.2, as llhttp does);
//! - chunk-size lines outside RFC 9112 §7.1's grammar (whitespace after the size that no
//!   extension follows, a `;` without an extension name): a protocol error, exit 8, one line.
//!
//! The server listens on a unix socket in the temp dir (one row on 127.0.0.1), reads each
//! request and writes its response in the pieces given, a little apart, so that rows also run
//! split across reads.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

/// The most empty lines skipped before a status line (`ResponseHead::MAX_EMPTY_LINES`).
const MAX_EMPTY_LINES: usize = 8;

// =============================================================================================
// The scripted server

trait Stream: Read + Write + Send {
    fn set_timeouts(&self, d: Duration);
}

impl Stream for std::os::unix::net::UnixStream {
    fn set_timeouts(&self, d: Duration) {
        self.set_read_timeout(Some(d)).unwrap();
        self.set_write_timeout(Some(d)).unwrap();
    }
}

impl Stream for std::net::TcpStream {
    fn set_timeouts(&self, d: Duration) {
        self.set_read_timeout(Some(d)).unwrap();
        self.set_write_timeout(Some(d)).unwrap();
    }
}

/// What the server answers to a request target: the response in pieces, written 20 ms apart.
type Respond = dyn Fn(&str) -> Vec<Vec<u8>> + Send + Sync;

/// What one connection carried.
#[derive(Clone, Debug, Default)]
struct Conn {
    /// The request targets, in order.
    targets: Vec<String>,
    /// The client closed it (the server saw the end of the stream, or a write failed).
    closed_by_client: bool,
}

struct Server {
    url: String,
    path: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<Conn>>>,
    thread: Option<JoinHandle<()>>,
}

fn temp_socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-conformance-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

impl Server {
    fn unix(respond: impl Fn(&str) -> Vec<Vec<u8>> + Send + Sync + 'static) -> Server {
        let path = temp_socket();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind the test socket");
        listener.set_nonblocking(true).unwrap();
        let url = format!("unix://{}", path.display());
        Server::run(url, Some(path), Arc::new(respond), move || {
            listener.accept().map(|(s, _)| {
                s.set_nonblocking(false).unwrap();
                Box::new(s) as Box<dyn Stream>
            })
        })
    }

    fn loopback(respond: impl Fn(&str) -> Vec<Vec<u8>> + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).unwrap();
        let url = format!("tcp://{}", listener.local_addr().unwrap());
        Server::run(url, None, Arc::new(respond), move || {
            listener.accept().map(|(s, _)| {
                s.set_nonblocking(false).unwrap();
                Box::new(s) as Box<dyn Stream>
            })
        })
    }

    fn run(
        url: String,
        path: Option<PathBuf>,
        respond: Arc<Respond>,
        accept: impl Fn() -> std::io::Result<Box<dyn Stream>> + Send + 'static,
    ) -> Server {
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, conns) = (Arc::clone(&stop), Arc::clone(&conns));
            thread::spawn(move || {
                let mut served = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match accept() {
                        Ok(s) => {
                            let index = {
                                let mut c = conns.lock().unwrap();
                                c.push(Conn::default());
                                c.len() - 1
                            };
                            let (respond, conns) = (Arc::clone(&respond), Arc::clone(&conns));
                            served.push(thread::spawn(move || serve(s, &*respond, &conns, index)));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
                for t in served {
                    t.join().unwrap();
                }
            })
        };
        Server {
            url,
            path,
            stop,
            conns,
            thread: Some(thread),
        }
    }

    /// Stops accepting, waits for the connections to end, and says what they carried.
    fn finish(mut self) -> Vec<Conn> {
        self.shut();
        self.conns.lock().unwrap().clone()
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Answers the requests on one connection until the client closes it (or 5 s pass).
fn serve(mut s: Box<dyn Stream>, respond: &Respond, conns: &Mutex<Vec<Conn>>, index: usize) {
    s.set_timeouts(Duration::from_secs(5));
    let mut buf = [0u8; 4096];
    let mut request = Vec::new();
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => {
                conns.lock().unwrap()[index].closed_by_client = true;
                return;
            }
            Ok(n) => n,
            Err(_) => return,
        };
        request.extend_from_slice(&buf[..n]);
        while let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = request.drain(..end + 4).collect();
            let line = String::from_utf8_lossy(&head);
            let target = line.split(' ').nth(1).unwrap_or("").to_string();
            conns.lock().unwrap()[index].targets.push(target.clone());
            for (i, piece) in respond(&target).iter().enumerate() {
                if i > 0 {
                    thread::sleep(Duration::from_millis(20));
                }
                if s.write_all(piece).is_err() {
                    conns.lock().unwrap()[index].closed_by_client = true;
                    return;
                }
            }
        }
    }
}

// =============================================================================================
// Running `dockstat get -i`

fn dockstat(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("-H")
        .arg(url)
        .args(args)
        .env_remove("DOCKER_API_VERSION")
        .output()
        .expect("dockstat runs")
}

/// What a row expects.
#[derive(Clone, Debug)]
enum Expect {
    /// Exit 0, this on stdout, nothing on stderr.
    Ok(Vec<u8>),
    /// Exit 0, this on stdout, and one warning line on stderr showing the start of these
    /// bytes, the ones after the response.
    Warn(Vec<u8>, Vec<u8>),
    /// This exit code, this on stdout, one line on stderr holding the message.
    Fail(i32, Vec<u8>, &'static str),
}

struct Row {
    name: String,
    pieces: Vec<Vec<u8>>,
    expect: Expect,
}

fn row(name: impl Into<String>, pieces: &[&[u8]], expect: Expect) -> Row {
    Row {
        name: name.into(),
        pieces: pieces.iter().map(|p| p.to_vec()).collect(),
        expect,
    }
}

/// Runs `get -i /x` against a server answering `row`, and checks the outcome; returns what the
/// connections carried.
fn check(row: &Row, loopback: bool) -> Vec<Conn> {
    let pieces = row.pieces.clone();
    let respond = move |_: &str| pieces.clone();
    let server = if loopback {
        Server::loopback(respond)
    } else {
        Server::unix(respond)
    };
    let started = Instant::now();
    let out = dockstat(&server.url, &["get", "-i", "--max-time", "5", "/x"]);
    let elapsed = started.elapsed();
    let conns = server.finish();
    let name = &row.name;
    let (code, stdout, stderr) = (
        out.status.code(),
        out.stdout.escape_ascii().to_string(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    assert!(elapsed < Duration::from_secs(4), "{name}: took {elapsed:?}");
    match &row.expect {
        Expect::Ok(want) => {
            assert_eq!(code, Some(0), "{name}: {stderr}");
            assert_eq!(stdout, want.escape_ascii().to_string(), "{name}: stdout");
            assert_eq!(stderr, "", "{name}: stderr");
        }
        Expect::Warn(want, excess) => {
            // Its first 32 bytes, escaped, and `…` when there are more.
            let more = if excess.len() > 32 { "…" } else { "" };
            let shown = format!("{}\"{more}", excess[..excess.len().min(32)].escape_ascii());
            assert_eq!(code, Some(0), "{name}: {stderr}");
            assert_eq!(stdout, want.escape_ascii().to_string(), "{name}: stdout");
            assert_eq!(
                stderr,
                format!(
                    "dockstat: warning: data after the end of the response (\"{shown}) was \
                     discarded and the connection closed\n"
                ),
                "{name}: stderr"
            );
        }
        Expect::Fail(want_code, want, message) => {
            assert_eq!(code, Some(*want_code), "{name}: {stderr}");
            assert_eq!(stdout, want.escape_ascii().to_string(), "{name}: stdout");
            assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
            assert!(
                stderr.starts_with("dockstat: ") && stderr.contains(message),
                "{name}: expected {message:?} in {stderr:?}"
            );
        }
    }
    assert_eq!(conns.len(), 1, "{name}: one connection");
    assert_eq!(conns[0].targets, ["/x"], "{name}: one request");
    assert!(conns[0].closed_by_client, "{name}: the client closed");
    conns
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const HEAD_CL2: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
const HEAD_CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
const NO_CONTENT: &[u8] = b"HTTP/1.1 204 No Content\r\n\r\n";
const NOT_MODIFIED: &[u8] = b"HTTP/1.1 304 Not Modified\r\n\r\n";
const PIPELINED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo";

// =============================================================================================
// A complete response followed by more bytes

#[test]
fn data_after_a_complete_response_is_a_warning() {
    let rows = [
        row(
            "204 then a pipelined response",
            &[&cat(&[NO_CONTENT, PIPELINED])],
            Expect::Warn(
                NO_CONTENT.to_vec(),
                PIPELINED.to_vec(),
            ),
        ),
        row(
            "204 with Content-Length and its 'body'",
            &[b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"],
            Expect::Warn(
                b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n".to_vec(),
                b"hello".to_vec(),
            ),
        ),
        row(
            "304 then bytes",
            &[&cat(&[NOT_MODIFIED, b"garbage"])],
            Expect::Warn(NOT_MODIFIED.to_vec(), b"garbage".to_vec()),
        ),
        row(
            "304 with Transfer-Encoding and a chunked 'body'",
            &[b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
            Expect::Warn(
                b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
                b"5\r\nhello\r\n0\r\n\r\n".to_vec(),
            ),
        ),
        row(
            "bytes beyond Content-Length",
            &[&cat(&[HEAD_CL2, b"hi, and more"])],
            Expect::Warn(cat(&[HEAD_CL2, b"hi"]), b", and more".to_vec()),
        ),
        row(
            "Content-Length, then a pipelined response, the body in a later read",
            &[HEAD_CL2, &cat(&[b"hi", PIPELINED])],
            Expect::Warn(
                cat(&[HEAD_CL2, b"hi"]),
                PIPELINED.to_vec(),
            ),
        ),
        row(
            "chunked, then a pipelined response",
            &[HEAD_CHUNKED, &cat(&[b"2\r\nhi\r\n0\r\n\r\n", PIPELINED])],
            Expect::Warn(
                cat(&[HEAD_CHUNKED, b"hi"]),
                PIPELINED.to_vec(),
            ),
        ),
        row(
            "chunked, then an empty line",
            &[&cat(&[HEAD_CHUNKED, b"2\r\nhi\r\n0\r\n\r\n\r\n"])],
            Expect::Warn(cat(&[HEAD_CHUNKED, b"hi"]), b"\r\n".to_vec()),
        ),
        row(
            "Connection: close, then more",
            &[b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi!"],
            Expect::Warn(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
                b"!".to_vec(),
            ),
        ),
        row(
            "HTTP/1.0, then more",
            &[b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi\x1b[31m"],
            Expect::Warn(
                b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
                b"\x1b[31m".to_vec(),
            ),
        ),
        row(
            "100 Continue, 204, then bytes",
            &[&cat(&[b"HTTP/1.1 100 Continue\r\n\r\n", NO_CONTENT, b"x"])],
            Expect::Warn(NO_CONTENT.to_vec(), b"x".to_vec()),
        ),
        // The bytes come after `get` is done: nothing is read, nothing to warn about.
        row(
            "204, bytes 20 ms later",
            &[NO_CONTENT, b"garbage"],
            Expect::Ok(NO_CONTENT.to_vec()),
        ),
    ];
    for r in &rows {
        check(r, false);
    }
    // Over TCP on the loopback interface alike.
    check(&rows[0], true);
}

/// The connection a response with data after it came on carries no other request: `ps` asks
/// `/_ping` and then the listing, which comes on a new connection.
#[test]
fn a_connection_with_data_after_its_response_is_not_reused() {
    let server = Server::unix(|target| {
        let (head, body): (&[u8], &[u8]) = if target == "/_ping" {
            (
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\n",
                b"OKHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
            )
        } else {
            (
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n",
                b"[]",
            )
        };
        vec![cat(&[head, body])]
    });
    let out = dockstat(&server.url, &["ps"]);
    let conns = server.finish();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("CONTAINER ID"),
        "{out:?}"
    );
    let targets: Vec<&[String]> = conns.iter().map(|c| &c.targets[..]).collect();
    assert_eq!(targets.len(), 2, "{conns:?}");
    assert_eq!(targets[0], ["/_ping"]);
    assert_eq!(targets[1].len(), 1);
    assert!(targets[1][0].ends_with("/containers/json"), "{conns:?}");
}

// =============================================================================================
// Empty lines before a status line

#[test]
fn empty_lines_before_a_status_line_are_skipped() {
    let ok = cat(&[HEAD_CL2, b"ok"]);
    let continue_ = &b"HTTP/1.1 100 Continue\r\n\r\n"[..];
    let max = b"\r\n".repeat(MAX_EMPTY_LINES);
    let too_many = b"\r\n".repeat(MAX_EMPTY_LINES + 1);
    let rows = [
        row(
            "one empty line first",
            &[&cat(&[b"\r\n", &ok])],
            Expect::Ok(ok.clone()),
        ),
        row(
            "an empty line first, in pieces",
            &[
                b"\r",
                b"\n",
                b"\r\nHTTP/1.1 200 OK\r\n",
                b"Content-Length: 2\r\n\r\nok",
            ],
            Expect::Ok(ok.clone()),
        ),
        row(
            "MAX_EMPTY_LINES empty lines first",
            &[&cat(&[&max, &ok])],
            Expect::Ok(ok.clone()),
        ),
        row(
            "100 Continue, then an empty line",
            &[&cat(&[continue_, b"\r\n", &ok])],
            Expect::Ok(ok.clone()),
        ),
        row(
            "empty lines before 100 Continue and after it, in pieces",
            &[b"\r\n", continue_, b"\r\n\r\n", &ok],
            Expect::Ok(ok.clone()),
        ),
        row(
            "an empty line before a chunked stream",
            &[b"\r\n", HEAD_CHUNKED, b"2\r\nhi\r\n0\r\n\r\n"],
            Expect::Ok(cat(&[HEAD_CHUNKED, b"hi"])),
        ),
        row(
            "MAX_EMPTY_LINES + 1 empty lines first",
            &[&cat(&[&too_many, &ok])],
            Expect::Fail(8, Vec::new(), "too many empty lines before the status line"),
        ),
        row(
            "MAX_EMPTY_LINES + 1 empty lines after 100 Continue",
            &[&cat(&[continue_, &too_many, &ok])],
            Expect::Fail(8, Vec::new(), "too many empty lines before the status line"),
        ),
        row(
            "a bare LF first",
            &[&cat(&[b"\n", &ok])],
            Expect::Fail(8, Vec::new(), "does not end in CRLF"),
        ),
    ];
    for r in &rows {
        check(r, false);
    }
}

// =============================================================================================
// Chunk-size lines

#[test]
fn chunk_size_lines_follow_the_grammar() {
    let body = |size_line: &[u8]| cat(&[size_line, b"\r\nhello\r\n0\r\n\r\n"]);
    let hello = cat(&[HEAD_CHUNKED, b"hello"]);
    let rows = [
        // BWS before `;` (RFC 9112 §7.1.1) and extensions with and without values.
        row(
            "BWS before ;",
            &[HEAD_CHUNKED, &body(b"5 ;a=b")],
            Expect::Ok(hello.clone()),
        ),
        row(
            "HTAB, ; and BWS",
            &[HEAD_CHUNKED, &body(b"5\t; a = b")],
            Expect::Ok(hello.clone()),
        ),
        row(
            "extension name only",
            &[HEAD_CHUNKED, &body(b"5;a")],
            Expect::Ok(hello.clone()),
        ),
        row(
            "SP after the size",
            &[HEAD_CHUNKED, &body(b"5 ")],
            Expect::Fail(
                8,
                HEAD_CHUNKED.to_vec(),
                "whitespace after the chunk size (at byte 49)",
            ),
        ),
        row(
            "HTAB after the size, in pieces",
            &[HEAD_CHUNKED, b"5\t", b"\r\nhello\r\n0\r\n\r\n"],
            Expect::Fail(
                8,
                HEAD_CHUNKED.to_vec(),
                "whitespace after the chunk size (at byte 49)",
            ),
        ),
        row(
            "SP after the last chunk's size",
            &[HEAD_CHUNKED, b"5\r\nhello\r\n0 \r\n\r\n"],
            Expect::Fail(
                8,
                hello.clone(),
                "whitespace after the chunk size (at byte 59)",
            ),
        ),
        row(
            "; without a name",
            &[HEAD_CHUNKED, &body(b"5;")],
            Expect::Fail(
                8,
                HEAD_CHUNKED.to_vec(),
                "chunk extension without a name (at byte 49)",
            ),
        ),
        row(
            "; then BWS and no name",
            &[HEAD_CHUNKED, &body(b"5; ")],
            Expect::Fail(
                8,
                HEAD_CHUNKED.to_vec(),
                "chunk extension without a name (at byte 50)",
            ),
        ),
        row(
            "; then =",
            &[HEAD_CHUNKED, &body(b"5;=x")],
            Expect::Fail(
                8,
                HEAD_CHUNKED.to_vec(),
                "chunk extension without a name (at byte 49)",
            ),
        ),
    ];
    for r in &rows {
        check(r, false);
    }
}
