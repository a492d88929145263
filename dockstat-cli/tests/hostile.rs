//! Hostile HTTP servers, end to end.
//!
//! A scripted server on a unix socket reads the request and writes exactly the bytes of one
//! case — whole, or in pieces with pauses between them — then closes or stays open; `dockstat
//! get` (the binary) or the library's engine talk to it (the reactor's own cases are unit tests
//! in dockstat/src/engine/reactor/tests.rs). Every case must end with
//! one clear outcome: for `get`, the documented exit code and one line on stderr, with any body
//! received before the error printed on stdout; no panic; and bounded time (`--max-time` is a
//! safety net on every run, and each run must finish well inside it) and memory while the
//! server offers hundreds of megabytes.
//!
//! Memory: every child runs with `RLIMIT_DATA` at 64 MiB, so a client that held on to a flood
//! would fail its allocation and abort (and the test with it); the figures reported are the
//! child's `VmHWM`, sampled from /proc every millisecond while it runs. (`wait4`'s
//! `ru_maxrss` cannot be used: exec records the high-water mark of the memory image it
//! replaces, which for a child forked or vforked from this test process is the test
//! process's own peak, tens of megabytes with the floods of the other tests.)
//!
//! The codec tables in `tests/codec.rs` check the same grammar split at every byte; this file
//! checks that it holds through the socket, the reactor and the CLI's reporting, that the
//! server staying open does not turn an error into a hang (nor EOF into the reported error),
//! and that one hostile stream ends only itself.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dockstat::chunked::ChunkedError;
use dockstat::engine::{
    ApiVersion, Control, Endpoint, Engine, EngineConfig, Event, Gone, Mode, Selection,
};
use dockstat::http::{FramingError, HeadError};
use dockstat::{ErrorKind, ProtocolError};
use dockstat_sim::{Listen, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

/// The bound on the child's memory: its `RLIMIT_DATA` (heap and other private writable
/// mappings), and the bound on its sampled peak RSS.
const MAX_RSS_KIB: u64 = 64 * 1024;

/// What the big cases offer: far more than any buffer dockstat has.
const FLOOD: u64 = 200 << 20;

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

    /// Each part in its own write, `gap` apart, so each arrives in its own read.
    fn pieces(parts: &[&[u8]], gap: Duration, after: After) -> Script {
        let mut steps = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                steps.push(Step::Pause(gap));
            }
            steps.push(Step::Send(p.to_vec()));
        }
        Script { steps, after }
    }

    fn then(mut self, step: Step) -> Script {
        self.steps.push(step);
        self
    }
}

/// What one connection's server side saw.
#[derive(Clone, Debug, Default)]
struct Served {
    request: Vec<u8>,
    /// Bytes written before the script ended or a write failed.
    sent: u64,
    /// The write error that ended the script (the client hung up), if one did.
    write_error: Option<io::ErrorKind>,
}

/// A unix socket server that answers every connection with the same script.
struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    served: Arc<Mutex<Vec<Served>>>,
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
        let accepted = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, accepted, served) = (
                Arc::clone(&stop),
                Arc::clone(&accepted),
                Arc::clone(&served),
            );
            thread::spawn(move || {
                let mut conns = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            accepted.fetch_add(1, Ordering::SeqCst);
                            let (script, stop, served) =
                                (script.clone(), Arc::clone(&stop), Arc::clone(&served));
                            conns.push(thread::spawn(move || {
                                let report = serve(s, &script, &stop);
                                served.lock().unwrap().push(report);
                            }));
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
            accepted,
            served,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Lets every connection finish its script (for up to half a second: a script whose
    /// client is gone ends at its next write), then stops the server and returns what each
    /// connection saw.
    fn finish(mut self) -> Vec<Served> {
        let until = Instant::now() + Duration::from_millis(500);
        while self.served.lock().unwrap().len() < self.accepted.load(Ordering::SeqCst)
            && Instant::now() < until
        {
            thread::sleep(Duration::from_millis(1));
        }
        self.shut();
        std::mem::take(&mut *self.served.lock().unwrap())
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

fn serve(mut s: UnixStream, script: &Script, stop: &AtomicBool) -> Served {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // A client that stops reading without closing (a failed test) must not block the server
    // thread, and the test's end with it, forever.
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut report = Served::default();
    let mut buf = [0u8; 4096];
    while !report.request.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return report,
            Ok(n) => report.request.extend_from_slice(&buf[..n]),
        }
    }
    let write = |s: &mut UnixStream, bytes: &[u8], report: &mut Served| match s.write_all(bytes) {
        Ok(()) => {
            report.sent += bytes.len() as u64;
            true
        }
        Err(e) => {
            report.write_error = Some(e.kind());
            false
        }
    };
    for step in &script.steps {
        let ok = match step {
            Step::Send(bytes) => write(&mut s, bytes, &mut report),
            Step::Pause(d) => {
                thread::sleep(*d);
                true
            }
            Step::Trickle(bytes, every) => bytes.iter().all(|b| {
                thread::sleep(*every);
                !stop.load(Ordering::SeqCst) && write(&mut s, &[*b], &mut report)
            }),
            Step::Flood(piece, total) => {
                let repeat = (64 * 1024 / piece.len()).max(1);
                let block = piece.repeat(repeat);
                let mut left = *total;
                let mut ok = true;
                while left > 0 && ok && !stop.load(Ordering::SeqCst) {
                    let n = block.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    ok = write(&mut s, &block[..n], &mut report);
                    left -= n as u64;
                }
                ok
            }
        };
        if !ok || stop.load(Ordering::SeqCst) {
            return report;
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
    report
}

// =============================================================================================
// The client: `dockstat get`, with its exit code, output and peak RSS

/// Every run must end within this (well inside the 5 s `--max-time` safety net).
const RUN_BOUND: Duration = Duration::from_secs(3);

/// How much of stdout a run keeps (the rest is counted).
const KEEP_STDOUT: usize = 1 << 20;

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: Vec<u8>,
    stdout_len: u64,
    stderr: String,
    /// The child's peak RSS (`VmHWM`), sampled while it ran; `None` if it ended before the
    /// first sample.
    peak_kib: Option<u64>,
    elapsed: Duration,
}

/// `dockstat -H URL get OPTS... /x`, with `--max-time 5` unless OPTS set one.
fn get(url: &str, opts: &[&str]) -> Run {
    let mut args = vec!["-H", url, "get"];
    args.extend_from_slice(opts);
    if !opts.contains(&"--max-time") {
        args.extend_from_slice(&["--max-time", "5"]);
    }
    args.push("/x");
    run_bin(&args)
}

/// Runs the binary with its data segment limited to [`MAX_RSS_KIB`], sampling its peak RSS
/// while it runs. A run that outlives 20 s (four times the safety net) is killed and fails
/// the test.
fn run_bin(args: &[&str]) -> Run {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("DOCKER_API_VERSION")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: MAX_RSS_KIB * 1024,
                rlim_max: MAX_RSS_KIB * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("dockstat runs");
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let (mut kept, mut total) = (Vec::new(), 0u64);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match out.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n as u64;
                    let room = KEEP_STDOUT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        (kept, total)
    });
    let err = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });

    let mut status: libc::c_int = 0;
    let kill_at = started + Duration::from_secs(20);
    let mut killed = false;
    let mut peak_kib = None;
    loop {
        if let Some(hwm) = vm_hwm_kib(pid) {
            peak_kib = Some(peak_kib.unwrap_or(0).max(hwm));
        }
        // SAFETY: `pid` is our unreaped child; the pointer is to a live local.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            break;
        }
        assert!(r == 0, "waitpid: {}", io::Error::last_os_error());
        if !killed && Instant::now() > kill_at {
            // Still our unreaped child, so the pid cannot have been reused.
            // SAFETY: plain syscall.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            killed = true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    let elapsed = started.elapsed();
    drop(child); // already reaped: dropping a Child neither waits nor kills
    let (stdout, stdout_len) = out.join().unwrap();
    let stderr = err.join().unwrap();
    assert!(!killed, "dockstat {args:?} hung for 20 s; stderr: {stderr}");
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else {
        (None, Some(libc::WTERMSIG(status)))
    };
    Run {
        code,
        signal,
        stdout,
        stdout_len,
        stderr,
        peak_kib,
        elapsed,
    }
}

/// The peak RSS of process `pid` once it runs dockstat (before the exec, /proc shows the
/// forked copy of this test process).
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim_end() != "dockstat" {
        return None;
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Exit `code`, one line on stderr naming `message`, within [`RUN_BOUND`].
    #[track_caller]
    fn fails(&self, name: &str, code: i32, message: &str) {
        assert_eq!(
            (self.code, self.signal),
            (Some(code), None),
            "{name}: stderr {:?}, stdout {:?}",
            self.stderr,
            self.stdout()
        );
        assert!(!self.stderr.contains("panicked"), "{name}: {}", self.stderr);
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "{name}: one line on stderr: {:?}",
            self.stderr
        );
        assert!(
            self.stderr.starts_with("dockstat: ") && self.stderr.ends_with('\n'),
            "{name}: {:?}",
            self.stderr
        );
        assert!(
            self.stderr.contains(message),
            "{name}: expected {message:?} in {:?}",
            self.stderr
        );
        assert!(self.elapsed < RUN_BOUND, "{name}: took {:?}", self.elapsed);
    }

    /// Exit 0, nothing on stderr, within [`RUN_BOUND`].
    #[track_caller]
    fn succeeds(&self, name: &str) {
        assert_eq!(
            (self.code, self.signal),
            (Some(0), None),
            "{name}: stderr {:?}",
            self.stderr
        );
        assert!(self.stderr.is_empty(), "{name}: {:?}", self.stderr);
        assert!(self.elapsed < RUN_BOUND, "{name}: took {:?}", self.elapsed);
    }
}

/// Runs `get` against one script and returns the run and what the server saw.
fn get_from(script: Script, opts: &[&str]) -> (Run, Vec<Served>) {
    let server = Server::start(script);
    let run = get(&server.url(), opts);
    (run, server.finish())
}

/// The peak RSS of a trivial successful `get` that takes long enough to be sampled, for
/// comparison.
fn baseline_rss_kib() -> u64 {
    let (run, _) = get_from(
        Script::pieces(
            &[b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"OK"],
            Duration::from_millis(30),
            After::Close,
        ),
        &[],
    );
    run.succeeds("baseline");
    run.peak_kib.expect("a 30 ms run is sampled")
}

/// The run stayed within its data limit (it did not abort: checked by `fails`/`succeeds`) and
/// its sampled peak RSS is near that of a trivial run: nothing of the flood was held.
#[track_caller]
fn assert_bounded(name: &str, run: &Run, baseline: u64, server_wrote: u64) {
    eprintln!(
        "{name}: peak RSS {} KiB (baseline {baseline} KiB); the server wrote {server_wrote} \
         bytes; {:?}",
        run.peak_kib.map_or("not sampled".into(), |k| k.to_string()),
        run.elapsed
    );
    if let Some(peak) = run.peak_kib {
        assert!(peak < MAX_RSS_KIB, "{name}: peak RSS {peak} KiB");
        assert!(
            peak < baseline + 8 * 1024,
            "{name}: peak RSS {peak} KiB against a baseline of {baseline} KiB"
        );
    }
}

const CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const GAP: Duration = Duration::from_millis(10);

// =============================================================================================
// Chunk lines

/// Each case: a good chunk (`hello`), then the hostile bytes; the server stays open, so the
/// error comes from the bytes. Run whole (one read) and in three pieces (head, good chunk,
/// hostile bytes: three reads), the `hello` received before the error is printed.
#[test]
fn hostile_chunk_lines() {
    let ext_100k = cat(&[b"5;", &vec![b'e'; 100 * 1024], b"\r\nworld\r\n0\r\n\r\n"]);
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "17 hex digits (1ffffffffffffffff)",
            b"1ffffffffffffffff\r\n".to_vec(),
            "hello",
            "chunk size overflows 64 bits",
        ),
        (
            "20 hex digits",
            b"fffffffffffffffffffa\r\n".to_vec(),
            "hello",
            "chunk size overflows 64 bits",
        ),
        (
            "0x10",
            b"0x10\r\n".to_vec(),
            "hello",
            "chunk size is not a hexadecimal number",
        ),
        (
            "+10",
            b"+10\r\n".to_vec(),
            "hello",
            "chunk size is not a hexadecimal number",
        ),
        (
            "-1",
            b"-1\r\n".to_vec(),
            "hello",
            "chunk size is not a hexadecimal number",
        ),
        (
            "empty size line",
            b"\r\nworld\r\n".to_vec(),
            "hello",
            "chunk size is not a hexadecimal number",
        ),
        (
            "bare LF after the size",
            b"5\nworld\r\n".to_vec(),
            "hello",
            "chunk line does not end in CRLF",
        ),
        (
            "bare CR after the size",
            b"5\rworld\r\n".to_vec(),
            "hello",
            "chunk line does not end in CRLF",
        ),
        (
            "bare LF in an extension",
            b"5;a=b\nworld\r\n".to_vec(),
            "hello",
            "chunk line does not end in CRLF",
        ),
        (
            "bare CR in an extension",
            b"5;a\rb\r\nworld\r\n".to_vec(),
            "hello",
            "chunk line does not end in CRLF",
        ),
        (
            "bare LF after chunk data",
            b"5\r\nworld\n0\r\n\r\n".to_vec(),
            // The data is handed out as it arrives; its terminator is checked after it.
            "helloworld",
            "chunk data is not followed by CRLF",
        ),
        (
            "bare LF in a trailer",
            b"0\r\nX: 1\nY: 2\r\n\r\n".to_vec(),
            "hello",
            "chunk line does not end in CRLF",
        ),
        (
            "bare LF as the final line",
            b"0\r\n\n".to_vec(),
            "hello",
            "chunk line does not end in CRLF",
        ),
        (
            "NUL in an extension",
            b"5;a\0\r\nworld\r\n".to_vec(),
            "hello",
            "control byte in a chunk extension",
        ),
        (
            "100 KiB of chunk extensions",
            ext_100k,
            "hello",
            "chunk-size line is too long",
        ),
    ];
    for (name, hostile, printed, message) in &cases {
        let good = b"5\r\nhello\r\n";
        for (how, script) in [
            (
                "whole",
                Script::whole(cat(&[CHUNKED, good, hostile]), After::StayOpen),
            ),
            (
                "in pieces",
                Script::pieces(&[CHUNKED, good, hostile], GAP, After::StayOpen),
            ),
        ] {
            let name = format!("{name} ({how})");
            let (run, _) = get_from(script, &[]);
            run.fails(&name, 8, message);
            assert!(run.stderr.contains("malformed response: "), "{name}");
            assert_eq!(run.stdout(), *printed, "{name}: body before the error");
        }
    }

    // The edge that is fine: more than sixteen digits, all but the last ones leading zeros.
    let (run, _) = get_from(
        Script::whole(
            cat(&[CHUNKED, b"00000000000000000005\r\nhello\r\n0\r\n\r\n"]),
            After::StayOpen,
        ),
        &[],
    );
    run.succeeds("twenty digits with leading zeros");
    assert_eq!(run.stdout(), "hello");
}

/// A chunk-size line that never ends: 200 MB of extension bytes. The client stops at
/// `MAX_SIZE_LINE_LEN` (4 KiB) and hangs up; the server's writes then fail.
#[test]
fn endless_chunk_extension_is_bounded() {
    let baseline = baseline_rss_kib();
    let script = Script::whole(cat(&[CHUNKED, b"5\r\nhello\r\n5;"]), After::StayOpen)
        .then(Step::Flood(b"a=b;".to_vec(), FLOOD));
    let (run, served) = get_from(script, &[]);
    run.fails("endless extension", 8, "chunk-size line is too long");
    assert_eq!(run.stdout(), "hello");
    let s = &served[0];
    assert!(s.write_error.is_some() && s.sent < FLOOD / 10, "{s:?}");
    eprintln!(
        "endless extension: server offered {FLOOD} bytes, wrote {} before the client hung up",
        s.sent
    );
    assert_bounded("endless extension", &run, baseline, s.sent);
}

/// Legal but heavy: a 64 MB body in chunks of 4 KiB data, each with 4 KiB of extensions (the
/// most a size line may hold), so half of it is extension bytes that must be skipped, and
/// nothing of it may be held. Streamed through with constant memory. (64 MB, not 200, keeps
/// the test quick: the debug build steps through extension bytes one at a time.)
#[test]
fn big_body_with_heavy_extensions_streams_in_constant_memory() {
    let baseline = baseline_rss_kib();
    let mut chunk = b"1000;".to_vec();
    chunk.resize(dockstat::chunked::Dechunker::MAX_SIZE_LINE_LEN, b'x');
    chunk.extend_from_slice(b"\r\n");
    chunk.extend(std::iter::repeat_n(b'd', 0x1000));
    chunk.extend_from_slice(b"\r\n");
    // About 32 MB of chunk lines and 32 MB of data.
    let count = (64 << 20) / chunk.len() as u64;
    let script = Script::whole(CHUNKED, After::StayOpen)
        .then(Step::Flood(chunk.clone(), count * chunk.len() as u64))
        .then(Step::Send(b"0\r\n\r\n".to_vec()));
    let (run, served) = get_from(script, &[]);
    run.succeeds("heavy extensions");
    assert_eq!(run.stdout_len, count * 0x1000);
    assert!(run.stdout.iter().all(|&b| b == b'd'));
    assert_bounded("heavy extensions", &run, baseline, served[0].sent);
}

// =============================================================================================
// Framing

#[test]
fn hostile_framing() {
    let chunked_body: &[u8] = b"5\r\nhello\r\n0\r\n\r\n";
    // name, response, exit code, stdout, message (for failures)
    let cases: Vec<(&str, Vec<u8>, i32, &str, &str)> = vec![
        (
            "Transfer-Encoding with Content-Length",
            cat(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
                chunked_body,
            ]),
            8,
            "",
            "both Transfer-Encoding and Content-Length",
        ),
        (
            "Content-Length before Transfer-Encoding",
            cat(&[
                b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\nTransfer-Encoding: chunked\r\n\r\n",
                chunked_body,
            ]),
            8,
            "",
            "both Transfer-Encoding and Content-Length",
        ),
        (
            "differing duplicate Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!".to_vec(),
            8,
            "",
            "conflicting Content-Length values",
        ),
        (
            "differing Content-Length list",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello!".to_vec(),
            8,
            "",
            "conflicting Content-Length values",
        ),
        (
            "Content-Length +5",
            b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello".to_vec(),
            8,
            "",
            "invalid Content-Length",
        ),
        (
            "Content-Length overflowing 64 bits",
            b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\nhello".to_vec(),
            8,
            "",
            "invalid Content-Length",
        ),
        // RFC 9110 §8.6 lets a recipient accept duplicates that agree; dockstat does (body.rs:
        // "Duplicates are allowed when they agree"; README: only differing ones are rejected).
        (
            "identical duplicate Content-Length",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            0,
            "hello",
            "",
        ),
        (
            "identical Content-Length list",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello".to_vec(),
            0,
            "hello",
            "",
        ),
        // RFC 9112 §6.3 rule 4 would read such a body until close; dockstat cannot decode gzip
        // and refuses the response instead (README "Limits": "transfer codings other than a
        // final chunked" are rejected). The body is not printed, chunked or otherwise.
        (
            "Transfer-Encoding: chunked, gzip",
            cat(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                chunked_body,
            ]),
            8,
            "",
            "chunked is not the final transfer coding",
        ),
        (
            "Transfer-Encoding: chunked twice",
            cat(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                chunked_body,
            ]),
            8,
            "",
            "chunked is not the final transfer coding",
        ),
        (
            "Transfer-Encoding: gzip, chunked",
            cat(&[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                chunked_body,
            ]),
            8,
            "",
            "unsupported transfer coding",
        ),
        (
            "Transfer-Encoding in HTTP/1.0",
            cat(&[
                b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                chunked_body,
            ]),
            8,
            "",
            "Transfer-Encoding in an HTTP/1.0 response",
        ),
        // Trailers never change the framing: the body ends at the last chunk, and the
        // connection staying open does not matter.
        (
            "framing headers in the trailer section",
            cat(&[
                CHUNKED,
                b"5\r\nhello\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: gzip\r\n\r\n",
            ]),
            0,
            "hello",
            "",
        ),
        (
            "trailer section over 16 KiB",
            cat(&[
                CHUNKED,
                b"5\r\nhello\r\n0\r\nContent-Length: 99\r\nX: ",
                &vec![b't'; 20_000],
                b"\r\n\r\n",
            ]),
            8,
            "hello",
            "chunked trailer section is too large",
        ),
        (
            "101 Switching Protocols",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\nPRI".to_vec(),
            8,
            "",
            "unexpected 101 Switching Protocols",
        ),
    ];
    for (name, response, code, printed, message) in &cases {
        let (run, _) = get_from(Script::whole(response.clone(), After::StayOpen), &[]);
        if *code == 0 {
            run.succeeds(name);
        } else {
            run.fails(name, *code, message);
        }
        assert_eq!(run.stdout(), *printed, "{name}");
    }

    // `chunked, gzip` with a server that then closes, as RFC 9112 would have the body read:
    // still refused, nothing printed.
    let (run, _) = get_from(
        Script::whole(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nsome gzip bytes".to_vec(),
            After::Close,
        ),
        &[],
    );
    run.fails(
        "chunked, gzip then close",
        8,
        "chunked is not the final transfer coding",
    );
    assert_eq!(run.stdout(), "");
}

// =============================================================================================
// Heads

#[test]
fn hostile_heads() {
    let many = |n: usize, line: &dyn Fn(usize) -> String| -> Vec<u8> {
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..n {
            h.extend_from_slice(line(i).as_bytes());
        }
        h.extend_from_slice(b"Content-Length: 2\r\n\r\nOK");
        h
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            // 10,000 fields are far more than MAX_HEADERS, but also (at 11+ bytes each)
            // more than MAX_HEAD_LEN: the size limit is hit first.
            "10,000 headers",
            many(10_000, &|i| format!("X-{i}: v\r\n")),
            "response head is too large",
        ),
        (
            // 100 generated and Content-Length: 101 short fields fit in MAX_HEAD_LEN, so the
            // count limit is hit.
            "101 headers",
            many(100, &|i| format!("X-{i}: v\r\n")),
            "too many header fields",
        ),
        (
            "1 MiB of headers",
            many(1024, &|i| format!("X-{i:04}: {}\r\n", "v".repeat(1012))),
            "response head is too large",
        ),
        (
            "NUL in a header value",
            b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nOK".to_vec(),
            "control byte in a header value",
        ),
        (
            "NUL in the reason phrase",
            b"HTTP/1.1 200 O\0K\r\nContent-Length: 2\r\n\r\nOK".to_vec(),
            "control byte in the reason phrase",
        ),
        (
            "NUL in the status code",
            b"HTTP/1.1 2\x0000 OK\r\nContent-Length: 2\r\n\r\nOK".to_vec(),
            "invalid status code",
        ),
        (
            "NUL in the version",
            b"HTTP/1.\x001 200 OK\r\nContent-Length: 2\r\n\r\nOK".to_vec(),
            "status line does not start with HTTP/1.x",
        ),
        (
            "NUL as a header name",
            b"HTTP/1.1 200 OK\r\n\0: x\r\nContent-Length: 2\r\n\r\nOK".to_vec(),
            "invalid header field name",
        ),
        (
            "bare LF in the head",
            b"HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nOK".to_vec(),
            "line in the response head does not end in CRLF",
        ),
    ];
    for (name, response, message) in &cases {
        for (how, script) in [
            ("whole", Script::whole(response.clone(), After::StayOpen)),
            (
                "in pieces",
                Script::pieces(
                    &[
                        &response[..response.len() / 2],
                        &response[response.len() / 2..],
                    ],
                    GAP,
                    After::StayOpen,
                ),
            ),
        ] {
            let name = format!("{name} ({how})");
            let (run, _) = get_from(script, &["-i"]);
            run.fails(&name, 8, message);
            assert!(run.stderr.contains("(at byte 0)"), "{name}: {}", run.stderr);
            // Neither the rejected head (-i) nor the body is printed.
            assert_eq!(run.stdout(), "", "{name}");
        }
    }

    // 100 fields is the limit, not over it.
    let (run, _) = get_from(
        Script::whole(many(99, &|i| format!("X-{i}: v\r\n")), After::StayOpen),
        &[],
    );
    run.succeeds("100 headers");
    assert_eq!(run.stdout(), "OK");
}

/// A head that never ends: a status line, then one header value of 200 MB. The client stops at
/// `MAX_HEAD_LEN`; its memory does not follow the flood.
#[test]
fn endless_header_is_bounded() {
    let baseline = baseline_rss_kib();
    // Small pieces: the head is gathered across many reads.
    let mut trickled = Script::whole(&b"HTTP/1.1 200 OK\r\nX-Endless: "[..], After::StayOpen);
    for _ in 0..400 {
        trickled = trickled
            .then(Step::Send(vec![b'b'; 100]))
            .then(Step::Pause(Duration::from_micros(200)));
    }
    for (name, script) in [
        (
            "one endless header value",
            Script::whole(&b"HTTP/1.1 200 OK\r\nX-Endless: "[..], After::StayOpen)
                .then(Step::Flood(b"a".to_vec(), FLOOD)),
        ),
        (
            "endless header lines",
            Script::whole(&b"HTTP/1.1 200 OK\r\n"[..], After::StayOpen)
                .then(Step::Flood(b"X-Again: and again\r\n".to_vec(), FLOOD)),
        ),
        ("endless header in 100-byte writes", trickled),
    ] {
        let (run, served) = get_from(script, &[]);
        run.fails(name, 8, "response head is too large");
        assert_eq!(run.stdout(), "", "{name}");
        let s = &served[0];
        eprintln!(
            "{name}: server wrote {} bytes before the client hung up ({:?})",
            s.sent, s.write_error
        );
        assert!(s.sent < FLOOD / 10, "{name}: {s:?}");
        assert_bounded(name, &run, baseline, s.sent);
    }
}

// =============================================================================================
// Interim responses

#[test]
fn interim_responses_are_skipped() {
    let final_response: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
    let early_hints: &[u8] = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nLink: </script.js>; rel=preload; as=script\r\n\r\n";
    let cases: Vec<(&str, Script)> = vec![
        (
            "100 Continue",
            Script::whole(
                cat(&[b"HTTP/1.1 100 Continue\r\n\r\n", final_response]),
                After::StayOpen,
            ),
        ),
        (
            "103 Early Hints with headers",
            Script::whole(cat(&[early_hints, final_response]), After::StayOpen),
        ),
        (
            "100, 102 and 103, each in pieces",
            Script::pieces(
                &[
                    b"HTTP/1.1 100 Cont",
                    b"inue\r\n\r\nHTTP/1.1 102 Processing\r\n\r",
                    b"\n",
                    early_hints,
                    final_response,
                ],
                GAP,
                After::StayOpen,
            ),
        ),
        (
            "1xx then a response delimited by close",
            Script::whole(
                cat(&[early_hints, b"HTTP/1.1 200 OK\r\n\r\nhello"]),
                After::Close,
            ),
        ),
    ];
    for (name, script) in cases {
        let (run, _) = get_from(script.clone(), &[]);
        run.succeeds(name);
        assert_eq!(run.stdout(), "hello", "{name}");
        // -i prints the final head only.
        let (run, _) = get_from(script, &["-i"]);
        run.succeeds(name);
        let text = run.stdout();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{name}: {text:?}");
        assert!(text.ends_with("\r\n\r\nhello"), "{name}: {text:?}");
    }
}

/// Floods cost time, not memory, and `--max-time` bounds them: 32 MB of interim responses
/// (each a 10 KB head) then a final response succeed; endless interim responses, and a body
/// that never ends, are ended by `--max-time` on time, however fast the server writes.
#[test]
fn interim_flood_is_bounded() {
    let baseline = baseline_rss_kib();
    let mut interim = b"HTTP/1.1 103 Early Hints\r\n".to_vec();
    for i in 0..40 {
        interim.extend_from_slice(
            format!(
                "Link: </asset-{i:02}>; rel=preload; {}\r\n",
                "x".repeat(220)
            )
            .as_bytes(),
        );
    }
    interim.extend_from_slice(b"\r\n");
    let total = (32u64 << 20) / interim.len() as u64 * interim.len() as u64;
    let script = Script::whole(Vec::new(), After::StayOpen)
        .then(Step::Flood(interim.clone(), total))
        .then(Step::Send(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        ));
    let (run, served) = get_from(script, &[]);
    run.succeeds("32 MB of 103s, then 200");
    assert_eq!(run.stdout(), "hello");
    assert_bounded("32 MB of 103s", &run, baseline, served[0].sent);

    let script = Script::whole(Vec::new(), After::StayOpen).then(Step::Flood(interim, FLOOD));
    let (run, served) = get_from(script, &["--max-time", "0.3"]);
    run.fails("endless 103s", 28, "timed out");
    assert_eq!(run.stdout(), "");
    assert!(run.elapsed < Duration::from_secs(1), "{:?}", run.elapsed);
    assert_bounded("endless 103s", &run, baseline, served[0].sent);

    let script = Script::whole(
        &b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n"[..],
        After::StayOpen,
    )
    .then(Step::Flood(b"d".to_vec(), 4 << 30));
    let (run, served) = get_from(script, &["--max-time", "0.3"]);
    run.fails("endless body", 28, "timed out");
    assert!(run.stdout_len > 0 && run.stdout.iter().all(|&b| b == b'd'));
    assert!(run.elapsed < Duration::from_secs(1), "{:?}", run.elapsed);
    eprintln!("endless body: {} bytes printed", run.stdout_len);
    assert_bounded("endless body", &run, baseline, served[0].sent);
}

// =============================================================================================
// No body: 204 and 304

#[test]
fn no_content_with_stray_bytes() {
    // Stray bytes in the same read as the head: the response stands (exit 0, an empty body),
    // one line warns that they were discarded, and the connection is closed with them.
    for (name, response) in [
        (
            "204 then stray bytes",
            &b"HTTP/1.1 204 No Content\r\n\r\ngarbage"[..],
        ),
        (
            "204 with Content-Length and its 'body'",
            &b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"[..],
        ),
        (
            "304 with Transfer-Encoding and a chunked 'body'",
            &b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..],
        ),
    ] {
        let (run, _) = get_from(Script::whole(response, After::StayOpen), &[]);
        assert_eq!((run.code, run.signal), (Some(0), None), "{name}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{name}: {}", run.stderr);
        assert!(
            (run.stderr).starts_with("dockstat: warning: data after the end of the response"),
            "{name}: {}",
            run.stderr
        );
        assert_eq!(run.stdout(), "", "{name}: the body of a 204/304 is never read");
    }

    // Stray bytes that arrive after the response ended: `get` is done by then and exits 0
    // with an empty body; the bytes are never read (the connection is dropped with them).
    for (name, head) in [
        (
            "204, stray bytes later",
            &b"HTTP/1.1 204 No Content\r\n\r\n"[..],
        ),
        (
            "304 with Content-Length, its 'body' later",
            &b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"[..],
        ),
    ] {
        let script = Script::pieces(
            &[head, b"hello"],
            Duration::from_millis(200),
            After::StayOpen,
        );
        let (run, served) = get_from(script.clone(), &[]);
        run.succeeds(name);
        assert_eq!(run.stdout(), "", "{name}");
        assert!(
            run.elapsed < Duration::from_millis(200),
            "{name}: {:?}",
            run.elapsed
        );
        // The client was gone before the stray bytes came.
        assert_eq!(served[0].sent, head.len() as u64, "{name}");
        assert_eq!(
            served[0].write_error,
            Some(io::ErrorKind::BrokenPipe),
            "{name}"
        );
        let (run, _) = get_from(script, &["-i"]);
        run.succeeds(name);
        assert_eq!(
            run.stdout().as_bytes(),
            head,
            "{name}: -i prints the head only"
        );
    }
}

// =============================================================================================
// Slow servers

#[test]
fn trickled_body_is_bounded_by_max_time() {
    let body: Vec<u8> = (0..1000).map(|i| b'a' + (i % 26) as u8).collect();
    let script = Script::whole(
        &b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"[..],
        After::StayOpen,
    )
    .then(Step::Trickle(body.clone(), Duration::from_millis(10)));
    for opts in [&["--max-time", "0.3"][..], &["-N", "--max-time", "0.3"]] {
        let (run, served) = get_from(script.clone(), opts);
        run.fails("trickle", 28, "timed out");
        assert!(
            run.elapsed >= Duration::from_millis(300) && run.elapsed < Duration::from_millis(1500),
            "{:?}",
            run.elapsed
        );
        // What arrived before the deadline is printed, and it is what was sent.
        let got = run.stdout.len();
        assert!((5..=40).contains(&got), "{opts:?}: {got} bytes printed");
        assert_eq!(run.stdout[..], body[..got], "{opts:?}");
        assert!(served[0].sent < 41 + 1000, "{:?}", served[0].sent);
    }

    // A trickled chunked body: the same, through the decoder.
    let mut chunks = Vec::new();
    for i in 0..100 {
        chunks.extend_from_slice(format!("1\r\n{}\r\n", (b'a' + i % 26) as char).as_bytes());
    }
    let script = Script::whole(CHUNKED, After::StayOpen)
        .then(Step::Trickle(chunks, Duration::from_millis(2)));
    let (run, _) = get_from(script, &["--max-time", "0.3"]);
    run.fails("trickled chunks", 28, "timed out");
    assert!(!run.stdout.is_empty() && run.stdout.starts_with(b"abc"));
}

#[test]
fn trickled_head_is_bounded_by_max_time() {
    let script = Script::whole(Vec::new(), After::StayOpen).then(Step::Trickle(
        b"HTTP/1.1 200 OK\r\nServer: very slow\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
        Duration::from_millis(10),
    ));
    let (run, _) = get_from(script, &["-i", "--max-time", "0.3"]);
    run.fails("trickled head", 28, "timed out");
    assert_eq!(run.stdout(), "");
    assert!(
        run.elapsed < Duration::from_millis(1500),
        "{:?}",
        run.elapsed
    );
}

// =============================================================================================
// The library: a hostile stream ends only itself

fn engine_config(sim: &Sim, hostile: &Server, mode: Mode) -> EngineConfig {
    let mut config = EngineConfig::new(Endpoint::parse(&sim.url()).unwrap());
    config.hosts.push(Endpoint::unix(&hostile.path));
    config.api_version = ApiVersion::parse("1.41");
    config.selection = Selection::Named(vec!["busy-1".into()]);
    config.mode = mode;
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(100);
    config
}

fn sim() -> Sim {
    let config = SimConfig {
        containers: 2,
        interval: Duration::from_millis(50),
        ..SimConfig::default()
    };
    Sim::start(Listen::Unix(temp_socket()), config).expect("sim")
}

/// The engine, streaming `busy-1` from two hosts: the simulated daemon, and a hostile one
/// whose every stats response goes wrong in the chunk after the first. The hostile stream
/// reports its error and reconnects with backoff, again and again; the other keeps
/// delivering samples all the while.
#[test]
fn engine_hostile_host_ends_only_its_stream() {
    let sim = sim();
    let hostile = Server::start(Script::whole(
        cat(&[CHUNKED, b"5\r\nhello\r\n0x10\r\n"]),
        After::StayOpen,
    ));
    let mut engine = Engine::new(engine_config(&sim, &hostile, Mode::Stream)).unwrap();
    let mut samples: Vec<(usize, Instant)> = Vec::new();
    let mut errors: Vec<(usize, ErrorKind, String, Instant)> = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(800) {
        engine
            .poll(Some(Duration::from_millis(20)), &mut |event| {
                match event {
                    Event::Sample { container, .. } => {
                        samples.push((container.host, Instant::now()))
                    }
                    Event::Error { host, error, .. } => {
                        errors.push((host, error.kind(), error.to_string(), Instant::now()))
                    }
                    Event::Gone { container, why } => {
                        panic!("{container:?} gone: {why:?}")
                    }
                    Event::Added(_) | Event::Stale(_) => {}
                }
                Control::Continue
            })
            .unwrap();
    }
    let c = engine.counters();
    drop(engine);
    let served = hostile.finish();
    assert!(errors.len() >= 3, "the hostile stream retried: {errors:?}");
    for (host, kind, message, _) in &errors {
        assert_eq!(*host, 1, "{message}");
        assert_eq!(
            *kind,
            ErrorKind::Protocol(ProtocolError::Chunked(ChunkedError::InvalidSize)),
            "{message}"
        );
    }
    // Each error was one connection, each asking for the stream again (besides the host's
    // /info, which the same script answers, unheard).
    assert!(served.len() > errors.len(), "{} connections", served.len());
    for s in served
        .iter()
        .filter(|s| !s.request.starts_with(b"GET /v1.41/info "))
    {
        assert!(
            s.request
                .starts_with(b"GET /v1.41/containers/busy-1/stats?stream=1 HTTP/1.1\r\n"),
            "{}",
            String::from_utf8_lossy(&s.request)
        );
    }
    assert!(samples.iter().all(|(h, _)| *h == 0));
    let first_error = errors[0].3;
    let after = samples.iter().filter(|(_, t)| *t > first_error).count();
    assert!(after >= 5, "{after} samples after the first error");
    assert_eq!(c.stream_errors as usize, errors.len(), "{c:?}");
}

/// One-shot samples from the same two hosts: the engine finishes, with the good host's
/// sample and the hostile host's error, each stream done.
#[test]
fn engine_one_shot_finishes_despite_a_hostile_host() {
    let sim = sim();
    for (name, script, kind) in [
        (
            "endless header",
            Script::whole(&b"HTTP/1.1 200 OK\r\nX: "[..], After::StayOpen)
                .then(Step::Flood(b"a".to_vec(), FLOOD)),
            ErrorKind::Protocol(ProtocolError::Head(HeadError::TooLarge)),
        ),
        (
            "chunked, gzip",
            Script::whole(
                &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"[..],
                After::StayOpen,
            ),
            ErrorKind::Protocol(ProtocolError::Framing(FramingError::ChunkedNotLast)),
        ),
    ] {
        let hostile = Server::start(script);
        let mut engine = Engine::new(engine_config(&sim, &hostile, Mode::OneShot)).unwrap();
        let mut samples = Vec::new();
        let mut errors = Vec::new();
        let mut gone = Vec::new();
        let started = Instant::now();
        while !engine.is_done() && started.elapsed() < Duration::from_secs(2) {
            engine
                .poll(Some(Duration::from_millis(20)), &mut |event| {
                    match event {
                        Event::Sample { container, .. } => samples.push(container.host),
                        Event::Error { host, error, .. } => errors.push((host, error.kind())),
                        Event::Gone { container, why } => gone.push((container.host, why)),
                        Event::Added(_) | Event::Stale(_) => {}
                    }
                    Control::Continue
                })
                .unwrap();
        }
        assert!(
            engine.is_done(),
            "{name}: not done after {:?}",
            started.elapsed()
        );
        assert_eq!(samples, [0], "{name}");
        assert_eq!(errors, [(1, kind)], "{name}");
        gone.sort_by_key(|g| g.0);
        assert_eq!(gone, [(0, Gone::Done), (1, Gone::Done)], "{name}");
    }
}
