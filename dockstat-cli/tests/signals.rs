//! SIGINT and SIGTERM: `dockstat sim` exits 0 and removes its socket, as a daemon does;
//! `dockstat get` writes out what arrived, removes the socket of the simulated daemon it runs
//! in-process (`--sim N`) and ends killed by the signal, as curl does; `stats` and `serve` with
//! `--sim` exit 0 and leave no socket behind.
//!
//! The comparison with curl runs against the simulated daemon, and against a real daemon
//! when `DOCKSTAT_REAL_DOCKER` names one (as in tests/real_docker.rs).

mod common;
use common::real;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");
/// How long a stopped process may take to exit.
const EXIT_WITHIN: Duration = Duration::from_secs(2);

fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("dockstat-sig-{}-{tag}-{n}", std::process::id()))
}

/// A child that is killed if a test fails before it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(program: &str, args: &[&str]) -> Proc {
    Proc(
        Command::new(program)
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{program} runs: {e}")),
    )
}

fn signal(p: &Proc, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &p.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {name}");
}

/// Waits up to [`EXIT_WITHIN`] for the child to end; returns its status and the time taken.
fn wait_exit(p: &mut Proc) -> (ExitStatus, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = p.0.try_wait().expect("try_wait") {
            return (status, start.elapsed());
        }
        assert!(
            start.elapsed() < EXIT_WITHIN,
            "still running {EXIT_WITHIN:?} after the signal"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The socket of the simulated daemon that `dockstat --sim N` starts in process `pid`.
fn in_process_socket(pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("dockstat-sim-{pid}.sock"))
}

/// Reads `stdout` on a thread: each complete line as it arrives, then the rest at the end.
fn lines(stdout: ChildStdout) -> (mpsc::Receiver<String>, std::thread::JoinHandle<Vec<u8>>) {
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut r = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    all.extend_from_slice(&line);
                    if line.ends_with(b"\n") {
                        let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                    }
                }
            }
        }
        all
    });
    (rx, reader)
}

fn stderr_of(p: &mut Proc) -> String {
    let mut s = String::new();
    if let Some(mut e) = p.0.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    s
}

/// Every line is a complete JSON document, and there is no partial line at the end.
fn assert_complete_json_lines(out: &[u8], at_least: usize) {
    let text = String::from_utf8_lossy(out);
    assert!(text.ends_with('\n'), "a partial line at the end: {text:?}");
    let n = text.lines().count();
    assert!(n >= at_least, "{n} lines, expected at least {at_least}");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    }
}

fn sim_stops_cleanly(sig: &str) {
    let dir = temp_path("sim");
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("s.sock");
    let mut sim = spawn(BIN, &["sim", "--socket", sock.to_str().unwrap(), "-n", "2"]);
    // Listening, not only bound: the file appears at bind(), a moment before listen().
    wait_for("the sim's socket", || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    // A client with a stream open: the stop closes it too.
    let mut client = spawn(
        BIN,
        &[
            "-H",
            &format!("unix://{}", sock.display()),
            "get",
            "-N",
            "/containers/busy-1/stats",
        ],
    );
    let (rx, reader) = lines(client.0.stdout.take().unwrap());
    rx.recv_timeout(Duration::from_secs(10))
        .expect("a first frame");
    signal(&sim, sig);
    let (status, took) = wait_exit(&mut sim);
    let err = stderr_of(&mut sim);
    assert_eq!(status.code(), Some(0), "sim on SIG{sig}: {status:?} {err}");
    assert!(!sock.exists(), "the socket is left behind");
    assert!(took < EXIT_WITHIN);
    // The client sees the daemon go: the stream is cut short (curl's 18).
    let (status, _) = wait_exit(&mut client);
    assert_eq!(status.code(), Some(18), "{}", stderr_of(&mut client));
    let _ = reader.join();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sim_exits_0_on_sigint_and_removes_its_socket() {
    sim_stops_cleanly("INT");
}

#[test]
fn sim_exits_0_on_sigterm_and_removes_its_socket() {
    sim_stops_cleanly("TERM");
}

#[test]
fn sim_with_tls_exits_0_on_sigterm() {
    let dir = temp_path("tls");
    let mut sim = spawn(
        BIN,
        &[
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--tls",
            dir.to_str().unwrap(),
        ],
    );
    wait_for("the certificates", || dir.join("key.pem").exists());
    std::thread::sleep(Duration::from_millis(200));
    signal(&sim, "TERM");
    let (status, _) = wait_exit(&mut sim);
    assert_eq!(status.code(), Some(0), "{}", stderr_of(&mut sim));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `dockstat --sim 2 ARGS` until `ready` lines arrived (or `wait` passed when 0), then the
/// signal: the process must end killed by it, with its sim's socket gone; returns stdout.
fn get_until_signal(args: &[&str], ready: usize, wait: Duration, sig: &str) -> Vec<u8> {
    let mut all = vec!["--sim", "2", "--sim-interval", "0.1"];
    all.extend_from_slice(args);
    let mut p = spawn(BIN, &all);
    let sock = in_process_socket(p.0.id());
    let (rx, reader) = lines(p.0.stdout.take().unwrap());
    wait_for("the in-process sim's socket", || sock.exists());
    for _ in 0..ready {
        rx.recv_timeout(Duration::from_secs(10)).expect("a line");
    }
    std::thread::sleep(wait);
    signal(&p, sig);
    let (status, _) = wait_exit(&mut p);
    let err = stderr_of(&mut p);
    let number = if sig == "INT" {
        libc::SIGINT
    } else {
        libc::SIGTERM
    };
    assert_eq!(
        status.signal(),
        Some(number),
        "get on SIG{sig} ends as curl does, killed by it: {status:?} {err}"
    );
    assert!(err.is_empty(), "nothing on stderr: {err}");
    assert!(!sock.exists(), "the in-process sim's socket is left behind");
    reader.join().unwrap()
}

#[test]
fn get_no_buffer_stream_on_sigint_keeps_every_frame_and_removes_the_socket() {
    let out = get_until_signal(
        &["get", "-N", "/containers/busy-1/stats"],
        3,
        Duration::ZERO,
        "INT",
    );
    assert_complete_json_lines(&out, 3);
}

#[test]
fn get_buffered_stream_on_sigterm_writes_out_what_arrived() {
    // Without -N the frames wait in a 64 KiB buffer: none is out before the signal, and
    // every one that arrived is out after it.
    let out = get_until_signal(
        &["get", "/containers/busy-1/stats"],
        0,
        Duration::from_millis(1500),
        "TERM",
    );
    assert_complete_json_lines(&out, 5);
}

#[test]
fn get_of_a_quiet_stream_stops_on_sigint() {
    // /events says nothing until a container changes: the stop must not wait for data.
    let out = get_until_signal(&["get", "/events"], 0, Duration::from_millis(300), "INT");
    assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
}

#[test]
fn get_with_include_on_sigterm_keeps_the_head() {
    let out = get_until_signal(
        &["get", "-i", "-N", "/containers/busy-1/stats"],
        2,
        Duration::ZERO,
        "TERM",
    );
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
}

fn stops_with_status_0(args: &[&str], ready: impl Fn(&str) -> bool, sig: &str) {
    let mut all = vec!["--sim", "2", "--sim-interval", "0.1"];
    all.extend_from_slice(args);
    let mut p = spawn(BIN, &all);
    let sock = in_process_socket(p.0.id());
    let (rx, reader) = lines(p.0.stdout.take().unwrap());
    wait_for("the in-process sim's socket", || sock.exists());
    let start = Instant::now();
    while !rx
        .recv_timeout(Duration::from_secs(10))
        .is_ok_and(|line| ready(&line))
    {
        assert!(start.elapsed() < Duration::from_secs(10), "no ready line");
    }
    signal(&p, sig);
    let (status, _) = wait_exit(&mut p);
    let err = stderr_of(&mut p);
    assert_eq!(status.code(), Some(0), "{args:?} on SIG{sig}: {err}");
    assert!(
        !sock.exists(),
        "{args:?}: the in-process sim's socket is left behind"
    );
    let out = reader.join().unwrap();
    assert!(
        out.is_empty() || out.ends_with(b"\n"),
        "{args:?}: a partial line"
    );
}

#[test]
fn stats_with_sim_exits_0_on_sigint_and_leaves_no_socket() {
    stops_with_status_0(
        &["stats", "--format", "ndjson"],
        |l| l.contains("busy-1"),
        "INT",
    );
}

#[test]
fn serve_with_sim_exits_0_on_sigterm_and_leaves_no_socket() {
    // serve prints nothing on stdout: the signal comes once the sim's socket is there.
    let mut p = spawn(BIN, &["--sim", "2", "serve", "--listen", "127.0.0.1:0"]);
    let sock = in_process_socket(p.0.id());
    wait_for("the in-process sim's socket", || sock.exists());
    std::thread::sleep(Duration::from_millis(300));
    signal(&p, "TERM");
    let (status, _) = wait_exit(&mut p);
    let err = stderr_of(&mut p);
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains("serving metrics on http://127.0.0.1:"),
        "{err}"
    );
    assert!(!sock.exists(), "the in-process sim's socket is left behind");
}

/// curl and dockstat get, each streaming `path` from `url` (a unix socket), both stopped by
/// SIGINT after two frames: both end killed by SIGINT, and dockstat's lines are all whole.
fn compare_with_curl(socket: &Path, path: &str) {
    let curl = Command::new("curl").arg("--version").output();
    if curl.is_err() {
        eprintln!("SKIPPED: no curl to compare with");
        return;
    }
    let url = format!("unix://{}", socket.display());
    let mut ours = spawn(BIN, &["-H", &url, "get", "-N", path]);
    let mut theirs = spawn(
        "curl",
        &[
            "-sN",
            "--unix-socket",
            socket.to_str().unwrap(),
            &format!("http://docker{path}"),
        ],
    );
    let (ours_rx, ours_reader) = lines(ours.0.stdout.take().unwrap());
    let (theirs_rx, theirs_reader) = lines(theirs.0.stdout.take().unwrap());
    for rx in [&ours_rx, &theirs_rx] {
        for _ in 0..2 {
            rx.recv_timeout(Duration::from_secs(10)).expect("a frame");
        }
    }
    signal(&ours, "INT");
    signal(&theirs, "INT");
    let (ours_status, _) = wait_exit(&mut ours);
    let (theirs_status, _) = wait_exit(&mut theirs);
    assert_eq!(theirs_status.signal(), Some(libc::SIGINT), "curl");
    assert_eq!(
        ours_status.signal(),
        theirs_status.signal(),
        "dockstat: {ours_status:?} {}",
        stderr_of(&mut ours)
    );
    assert_complete_json_lines(&ours_reader.join().unwrap(), 2);
    let _ = theirs_reader.join();
}

#[test]
fn get_ends_on_sigint_as_curl_does_against_the_sim() {
    let dir = temp_path("curl");
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("s.sock");
    let mut sim = spawn(
        BIN,
        &[
            "sim",
            "--socket",
            sock.to_str().unwrap(),
            "-n",
            "1",
            "--interval",
            "0.1",
        ],
    );
    // Listening, not only bound: the file appears at bind(), a moment before listen().
    wait_for("the sim's socket", || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    compare_with_curl(&sock, "/containers/busy-1/stats");
    signal(&sim, "TERM");
    assert_eq!(wait_exit(&mut sim).0.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn get_ends_on_sigint_as_curl_does_against_a_real_daemon() {
    let Some(socket) = real::socket() else {
        return;
    };
    let host = format!("unix://{socket}");
    // The first running container's stats stream (the daemon sends a frame a second).
    let out = Command::new(BIN)
        .args(["-H", &host, "ps", "-q"])
        .output()
        .expect("dockstat ps");
    let ids = String::from_utf8_lossy(&out.stdout).into_owned();
    let Some(id) = ids.lines().next() else {
        panic!("no running container on {host}");
    };
    compare_with_curl(Path::new(&socket), &format!("/containers/{id}/stats"));
}
