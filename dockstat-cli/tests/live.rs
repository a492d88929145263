//! The live `dockstat stats` view on a terminal, driven through tmux: a private tmux server
//! (`tmux -L dockstat-test-<pid>-<n>`) runs the binary in a 100x20 pane, `send-keys` types,
//! `capture-pane -p` reads the screen. Against the simulated daemon (in this process, or a
//! `dockstat sim` child that is killed mid-run): the table fits the window with `(N more)`,
//! keys sort, `q` and Ctrl-C restore the screen and the terminal's settings, failures show
//! in a status line and set the exit status, ties and restarted containers keep their rows.
//!
//! tmux is required: without it these tests fail, unless `DOCKSTAT_ALLOW_NO_TMUX=1` (then
//! they say SKIPPED). The tests against a real daemon run when `DOCKSTAT_REAL_DOCKER` names
//! it, as in real_docker.rs.

mod common;
use common::real;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat_sim::{Listen, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");
const ROWS: usize = 20;
const COLS: usize = 100;

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "dockstat-live-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn socket(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}.sock", unique(tag)))
}

fn sim(containers: usize) -> Sim {
    let config = SimConfig {
        containers,
        interval: Duration::from_millis(200),
        ..SimConfig::default()
    };
    Sim::start(Listen::Unix(socket("sim")), config).expect("sim")
}

/// Whether tmux can be used: without it the tests fail, unless DOCKSTAT_ALLOW_NO_TMUX=1.
fn tmux_available() -> bool {
    if Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    if std::env::var("DOCKSTAT_ALLOW_NO_TMUX").as_deref() == Ok("1") {
        eprintln!("SKIPPED: tmux is not installed (DOCKSTAT_ALLOW_NO_TMUX=1)");
        return false;
    }
    panic!(
        "tmux is required for tests/live.rs (apt-get install tmux), or set DOCKSTAT_ALLOW_NO_TMUX=1"
    );
}

/// A private tmux server with one 100x20 pane running `sh -c` around the binary: it prints
/// `BEFORE`, saves the terminal's settings, runs dockstat, prints `EXIT=<status>`, saves the
/// settings again and waits, so that the screen after the exit can be read.
struct Pane {
    /// The private server's name (`tmux -L`).
    socket: String,
    /// Where its socket is, to remove it at the end.
    socket_path: Option<PathBuf>,
    dir: PathBuf,
}

impl Pane {
    fn start(args: &[&str]) -> Pane {
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "dockstat-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(unique("pane"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("tmux.conf");
        // No status bar: the pane is the whole 100x20 window.
        std::fs::write(
            &conf,
            "set -g status off\nset -g remain-on-exit on\nset -g default-shell /bin/sh\n",
        )
        .unwrap();
        let quoted: Vec<String> = std::iter::once(BIN)
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        // SIGINT and SIGTSTP are trapped by the shell (a trap is reset in the child), so
        // Ctrl-C and Ctrl-Z reach only dockstat and the shell goes on to print its status.
        let script = format!(
            "trap : INT TSTP; echo BEFORE; stty -g > {d}/stty.before; {cmd} 2>{d}/stderr; \
             echo EXIT=$?; cat {d}/stderr; stty -g > {d}/stty.after; sleep 600",
            d = dir.display(),
            cmd = quoted.join(" "),
        );
        let mut pane = Pane {
            socket,
            socket_path: None,
            dir,
        };
        let out = pane
            .tmux()
            .args(["-f", conf.to_str().unwrap(), "new-session", "-d", "-s", "t"])
            .args(["-x", &COLS.to_string(), "-y", &ROWS.to_string()])
            .arg(script)
            .env_remove("DOCKER_API_VERSION")
            .output()
            .expect("tmux");
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
        let path = pane.display("#{socket_path}");
        pane.socket_path = (!path.is_empty()).then(|| PathBuf::from(path));
        pane
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn capture(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        text(&out.stdout)
    }

    /// The screen's lines, without the empty ones at the bottom.
    fn lines(&self) -> Vec<String> {
        let screen = self.capture();
        let mut lines: Vec<String> = screen.lines().map(str::to_string).collect();
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        lines
    }

    fn display(&self, format: &str) -> String {
        let out = self
            .tmux()
            .args(["display-message", "-p", "-t", "t", format])
            .output()
            .unwrap();
        text(&out.stdout).trim().to_string()
    }

    fn send(&self, keys: &str) {
        let out = self
            .tmux()
            .args(["send-keys", "-t", "t", keys])
            .output()
            .unwrap();
        assert!(out.status.success(), "send-keys: {}", text(&out.stderr));
    }

    /// Waits until the screen's lines satisfy `ok`; panics with the screen after `secs`.
    fn wait_for(&self, what: &str, secs: f64, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let lines = self.lines();
            if ok(&lines) {
                return lines;
            }
            if Instant::now() > deadline {
                panic!("{what}: not within {secs}s; screen:\n{}", lines.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Waits for dockstat's end; its exit status.
    fn exit_status(&self, secs: f64) -> i32 {
        let lines = self.wait_for("the exit", secs, |l| {
            l.iter().any(|l| l.starts_with("EXIT="))
        });
        let line = lines.iter().find(|l| l.starts_with("EXIT=")).unwrap();
        line["EXIT=".len()..].trim().parse().unwrap()
    }

    /// After dockstat's end: the normal screen is back (with what was on it before), the
    /// cursor shows, the terminal's settings are those from before.
    fn assert_restored(&self) {
        self.wait_for("the settings saved after the exit", 5.0, |_| {
            self.dir.join("stty.after").exists()
                && std::fs::metadata(self.dir.join("stty.after")).is_ok_and(|m| m.len() > 0)
        });
        let lines = self.lines();
        assert_eq!(
            lines.first().map(String::as_str),
            Some("BEFORE"),
            "{lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains("CONTAINER ID")),
            "{lines:#?}"
        );
        assert_eq!(self.display("#{alternate_on} #{cursor_flag}"), "0 1");
        let before = std::fs::read_to_string(self.dir.join("stty.before")).unwrap();
        let after = std::fs::read_to_string(self.dir.join("stty.after")).unwrap();
        assert_eq!(before, after, "the terminal's settings are restored");
    }

    /// dockstat's stderr, once it has ended.
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The table's rows on a screen: the lines after the header that start with an id.
fn rows(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .skip_while(|l| !l.starts_with("CONTAINER ID"))
        .skip(1)
        .take_while(|l| l.len() > 12 && l[..12].bytes().all(|b| b.is_ascii_hexdigit()))
        .collect()
}

/// The NAME column of the rows.
fn names(lines: &[String]) -> Vec<String> {
    rows(lines)
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect()
}

/// Bytes in a size as docker writes it ("200.8MiB", "328KiB", "0B").
fn size(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024f64.powi(3),
        other => panic!("unit {other:?} in {s:?}"),
    };
    n.parse::<f64>().unwrap() * scale
}

#[test]
fn sixty_containers_fit_a_twenty_line_window_and_q_restores_the_screen() {
    if !tmux_available() {
        return;
    }
    let pane = Pane::start(&["--sim", "60", "--sim-interval", "0.2", "stats"]);
    let lines = pane.wait_for("a full screen", 15.0, |l| {
        l.last().is_some_and(|l| l == "(42 more)") && rows(l).len() == 18
    });
    // Header, 18 rows and "(42 more)": exactly the 20 lines of the window, none wider.
    assert_eq!(lines.len(), ROWS, "{lines:#?}");
    assert!(lines[0].starts_with("CONTAINER ID   NAME"), "{lines:#?}");
    assert!(
        lines.iter().all(|l| l.chars().count() <= COLS),
        "{lines:#?}"
    );
    // The header is 104 columns wide: cut at the window's edge, not wrapped.
    assert_eq!(lines[0].chars().count(), COLS, "{lines:#?}");
    assert_eq!(pane.display("#{alternate_on} #{cursor_flag}"), "1 0");

    // A smaller window: redrawn to fit it, at once (not at the next half-second tick).
    let resize = pane
        .tmux()
        .args(["resize-window", "-t", "t", "-x", "60", "-y", "10"])
        .output()
        .unwrap();
    assert!(resize.status.success(), "{}", text(&resize.stderr));
    let resized = Instant::now();
    let lines = pane.wait_for("the smaller window filled", 5.0, |l| {
        l.len() == 10 && l.last().is_some_and(|l| l == "(52 more)")
    });
    eprintln!("resize to a screen that fits: {:?}", resized.elapsed());
    assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:#?}");

    pane.send("q");
    assert_eq!(pane.exit_status(5.0), 0);
    pane.assert_restored();
    assert_eq!(pane.stderr(), "");
}

#[test]
fn keys_sort_by_memory_and_by_name_within_the_key_latency() {
    if !tmux_available() {
        return;
    }
    let pane = Pane::start(&["--sim", "12", "--sim-interval", "0.2", "stats"]);
    pane.wait_for("12 rows with numbers", 15.0, |l| {
        rows(l).len() == 12 && rows(l).iter().all(|r| r.contains('%') && !r.contains("--"))
    });
    let by_memory = |l: &[String]| {
        let mem: Vec<f64> = rows(l)
            .iter()
            .map(|r| size(r.split_whitespace().nth(3).unwrap()))
            .collect();
        mem.len() == 12 && mem.windows(2).all(|w| w[0] >= w[1])
    };
    assert!(
        !by_memory(&pane.lines()),
        "the daemon's order is not by memory"
    );

    // A key redraws at once: within a redraw period (500 ms) even on a loaded machine.
    let pressed = Instant::now();
    pane.send("m");
    let lines = pane.wait_for("sorted by memory", 5.0, by_memory);
    let latency = pressed.elapsed();
    eprintln!("m to a screen sorted by memory: {latency:?}");
    assert!(latency < Duration::from_millis(450), "{latency:?}");
    assert!(names(&lines)[0].starts_with("memhog-"), "{lines:#?}");

    pane.send("s");
    pane.wait_for("sorted by name", 5.0, |l| {
        let n = names(l);
        n.len() == 12 && n.windows(2).all(|w| w[0] < w[1])
    });
    // The same key again turns the order around.
    pane.send("s");
    pane.wait_for("sorted by name, Z to A", 5.0, |l| {
        let n = names(l);
        n.len() == 12 && n.windows(2).all(|w| w[0] > w[1])
    });

    pane.send("C-c");
    assert_eq!(pane.exit_status(5.0), 0);
    pane.assert_restored();
}

impl Pane {
    /// dockstat's process id: the pane runs sh, and sh runs dockstat.
    fn dockstat_pid(&self) -> String {
        let shell = self.display("#{pane_pid}");
        let out = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
        let pid = text(&out.stdout).trim().to_string();
        assert!(pid.parse::<u32>().is_ok(), "dockstat's pid: {pid:?}");
        pid
    }

    fn wait_for_state(&self, want: &str, secs: f64) {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        let state = || self.display("#{alternate_on} #{cursor_flag}");
        while state() != want {
            assert!(Instant::now() < deadline, "{want:?}: {}", state());
            std::thread::sleep(Duration::from_millis(30));
        }
    }
}

#[test]
fn sigterm_restores_the_terminal_too() {
    if !tmux_available() {
        return;
    }
    let pane = Pane::start(&["--sim", "3", "stats"]);
    pane.wait_for("three rows", 15.0, |l| rows(l).len() == 3);
    let kill = Command::new("kill")
        .args(["-TERM", &pane.dockstat_pid()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(pane.exit_status(5.0), 0);
    pane.assert_restored();
}

#[test]
fn ctrl_z_gives_the_terminal_back_until_the_process_continues() {
    if !tmux_available() {
        return;
    }
    let pane = Pane::start(&["--sim", "3", "stats"]);
    pane.wait_for("three rows", 15.0, |l| rows(l).len() == 3);
    let pid = pane.dockstat_pid();
    pane.send("C-z");
    // Stopped, with the normal screen and the cursor back.
    pane.wait_for_state("0 1", 5.0);
    pane.wait_for("the screen from before", 5.0, |l| {
        l.first().is_some_and(|l| l == "BEFORE")
    });
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert!(stat.contains(") T "), "stopped: {stat}");
    // Continued: the view again, redrawn at once, and keys still work.
    let cont = Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    assert!(cont.success());
    pane.wait_for_state("1 0", 5.0);
    pane.wait_for("three rows again", 5.0, |l| rows(l).len() == 3);
    pane.send("q");
    assert_eq!(pane.exit_status(5.0), 0);
    pane.assert_restored();
}

#[test]
fn no_daemon_ends_at_once_with_one_line_and_its_exit_code() {
    if !tmux_available() {
        return;
    }
    let missing = socket("missing");
    let host = format!("unix://{}", missing.display());
    let started = Instant::now();
    let pane = Pane::start(&["-H", &host, "stats"]);
    assert_eq!(pane.exit_status(5.0), 7);
    assert!(started.elapsed() < Duration::from_secs(3));
    let stderr = pane.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("dockstat: ") && stderr.contains(&host),
        "{stderr}"
    );
    // Nothing was drawn: the terminal was never taken over.
    pane.assert_restored();
}

/// A closed loopback port and a server that is not Docker end the stream at once too, with
/// the one-off's exit codes; so do pipes.
#[test]
fn wrong_port_and_a_server_that_is_not_docker_end_at_once() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let run = |host: &str, args: &[&str]| -> Output {
        Command::new("timeout")
            .args(["10", BIN, "-H", host, "stats"])
            .args(args)
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap()
    };
    for args in [&[][..], &["--format", "ndjson"]] {
        let out = run(&format!("tcp://127.0.0.1:{closed}"), args);
        assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr).lines().count(),
            1,
            "{}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty());
    }

    // Answers 200 with a body that is not JSON to every request.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in server.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        }
    });
    let out = run(&format!("tcp://127.0.0.1:{port}"), &[]);
    assert_eq!(out.status.code(), Some(8), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("container list"), "{stderr}");
}

/// `dockstat sim --socket` as a child process, to be killed.
struct SimChild {
    child: Child,
}

impl SimChild {
    fn start(path: &Path) -> SimChild {
        let _ = std::fs::remove_file(path);
        let child = Command::new(BIN)
            .args(["sim", "--socket", path.to_str().unwrap(), "-n", "3"])
            .args(["--interval", "0.2"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(path).is_err() {
            assert!(
                Instant::now() < deadline,
                "the simulated daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        SimChild { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SimChild {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn a_daemon_that_dies_shows_a_status_line_until_it_is_back_and_ctrl_c_exits_1() {
    if !tmux_available() {
        return;
    }
    let path = socket("child");
    let host = format!("unix://{}", path.display());
    let mut daemon = SimChild::start(&path);
    let pane = Pane::start(&["-H", &host, "stats"]);
    let three = |l: &[String]| rows(l).len() == 3 && rows(l).iter().all(|r| !r.contains("--"));
    pane.wait_for("three rows", 15.0, three);

    // Killed: the rows stay (without numbers) and a status line under them says why.
    daemon.kill();
    // The error (cut to the window's width: the socket's path is long) and the count.
    let failing = |l: &[String]| {
        l.last().is_some_and(|s| {
            s.starts_with("Cannot connect to the Docker daemon") && s.contains(", retrying (")
        })
    };
    let lines = pane.wait_for("the status line", 10.0, failing);
    assert!(rows(&lines).iter().all(|r| r.contains("--")), "{lines:#?}");

    // Back: the status line goes.
    let mut daemon = SimChild::start(&path);
    pane.wait_for("the host back", 15.0, |l| three(l) && !failing(l));

    daemon.kill();
    pane.wait_for("the status line again", 10.0, failing);
    pane.send("C-c");
    assert_eq!(pane.exit_status(5.0), 1);
    pane.assert_restored();
    // Said once on stderr after the screen is restored.
    let stderr = pane.stderr();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("dockstat: ") && stderr.contains(&host),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn ties_keep_their_order_across_redraws() {
    if !tmux_available() {
        return;
    }
    // Many containers at 0.00% CPU (idle, memhog, net): ties for --sort cpu.
    let pane = Pane::start(&[
        "--sim",
        "18",
        "--sim-interval",
        "0.1",
        "stats",
        "--sort",
        "cpu",
    ]);
    pane.wait_for("18 rows with numbers", 15.0, |l| {
        rows(l).len() == 18 && rows(l).iter().all(|r| !r.contains("--"))
    });
    let idle = |lines: &[String]| -> Vec<String> {
        rows(lines)
            .iter()
            .filter(|r| r.split_whitespace().nth(2) == Some("0.00%"))
            .map(|r| r.split_whitespace().nth(1).unwrap().to_string())
            .collect()
    };
    let first = idle(&pane.lines());
    assert!(first.len() >= 6, "{first:?}");
    // Six redraws later (frames every 100 ms change the numbers), the same order.
    for _ in 0..6 {
        std::thread::sleep(Duration::from_millis(500));
        let now = idle(&pane.lines());
        let common: Vec<&String> = first.iter().filter(|n| now.contains(n)).collect();
        let kept: Vec<&String> = now.iter().filter(|n| first.contains(n)).collect();
        assert_eq!(common, kept, "ties reordered: {first:?} then {now:?}");
        assert!(common.len() >= first.len() - 1, "{first:?} then {now:?}");
    }
    pane.send("q");
    assert_eq!(pane.exit_status(5.0), 0);
}

#[test]
fn a_restarted_container_keeps_its_row() {
    if !tmux_available() {
        return;
    }
    let sim = sim(6);
    let pane = Pane::start(&["-H", &sim.url(), "stats"]);
    let lines = pane.wait_for("six rows", 15.0, |l| names(l).len() == 6);
    let before = names(&lines);
    let name = before[2].clone();
    sim.stop(&name).unwrap();
    pane.wait_for("the stopped container gone", 10.0, |l| {
        let n = names(l);
        n.len() == 5 && !n.contains(&name)
    });
    sim.start_container(&name).unwrap();
    let lines = pane.wait_for("the container back", 10.0, |l| names(l).len() == 6);
    assert_eq!(names(&lines), before, "{lines:#?}");
    pane.send("q");
    assert_eq!(pane.exit_status(5.0), 0);
}

#[test]
fn no_stream_limit_prints_the_footer() {
    let sim = sim(6);
    let out = Command::new(BIN)
        .args(["-H", &sim.url(), "stats", "--no-stream", "--limit", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[3], "(2 of 6 containers)");
    // No footer when every row is shown, nor under a bare template.
    for args in [
        &["--limit", "6"][..],
        &["--limit", "2", "--format", "{{.Name}}"],
    ] {
        let out = Command::new(BIN)
            .args(["-H", &sim.url(), "stats", "--no-stream"])
            .args(args)
            .output()
            .unwrap();
        assert!(!text(&out.stdout).contains(" containers)"), "{args:?}");
    }
}

#[test]
fn json_template_has_a_host_field_only_with_several_hosts() {
    let (a, b) = (sim(2), sim(2));
    let run = |hosts: &[&Sim], format: &str| -> String {
        let mut c = Command::new(BIN);
        for h in hosts {
            c.args(["-H", &h.url()]);
        }
        let out = c
            .args(["stats", "--no-stream", "--format", format])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let one = run(&[&a], "{{json .}}");
    assert_eq!(one.lines().count(), 2, "{one}");
    assert!(
        one.lines().all(|l| l.starts_with("{\"BlockIO\":\"")),
        "{one}"
    );
    assert!(!one.contains("\"Host\""), "{one}");
    // Named in a template, it is there with one host too.
    assert_eq!(
        run(&[&a], "{{.Host}}").trim_end(),
        format!("{}\n{}", a.url(), a.url())
    );
    let two = run(&[&a, &b], "{{json .}}");
    assert_eq!(two.lines().count(), 4, "{two}");
    assert!(
        two.lines().all(|l| l.contains("\"Host\":\"unix://")),
        "{two}"
    );
}

fn docker(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_API_VERSION")
        .output()
        .expect("docker CLI")
}

/// `{{json .}}` has docker v28's keys; a missing daemon ends both at once with one line.
#[test]
fn real_docker_json_template_keys_and_no_daemon_match_docker() {
    let Some(host) = real::url() else { return };
    let keys = |out: &Output| -> Vec<String> {
        let line = text(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let v: serde_json::Value = serde_json::from_str(&line).expect(&line);
        v.as_object().unwrap().keys().cloned().collect()
    };
    let theirs = docker(&host, &["stats", "--no-stream", "--format", "{{json .}}"]);
    assert!(theirs.status.success(), "{}", text(&theirs.stderr));
    let ours = Command::new(BIN)
        .args([
            "-H",
            &host,
            "stats",
            "--no-stream",
            "--format",
            "{{json .}}",
        ])
        .output()
        .unwrap();
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours.stderr));
    assert_eq!(keys(&ours), keys(&theirs));

    let missing = format!("unix://{}", socket("missing").display());
    for (what, mut c) in [
        ("docker", Command::new("docker")),
        ("dockstat", Command::new(BIN)),
    ] {
        if what == "docker" {
            c.env("DOCKER_HOST", &missing).arg("stats");
        } else {
            c.args(["-H", &missing, "stats"]);
        }
        let started = Instant::now();
        let out = Command::new("timeout")
            .arg("10")
            .arg(c.get_program())
            .args(c.get_args())
            .envs(c.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .output()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{what}");
        // docker exits 1; dockstat with its code for "cannot connect", 7.
        let want = if what == "docker" { 1 } else { 7 };
        assert_eq!(
            out.status.code(),
            Some(want),
            "{what}: {}",
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stderr).lines().count(),
            1,
            "{what}: {}",
            text(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{what}");
    }
}

/// A container restarted with the docker CLI keeps its row in the live view.
#[test]
fn real_docker_restarted_container_keeps_its_row() {
    let Some(host) = real::url() else { return };
    if !tmux_available() {
        return;
    }
    let name = format!("i13-live-{}", std::process::id());
    let run = docker(
        &host,
        &["run", "-d", "--name", &name, "bb:latest", "sleep", "100000"],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    struct Remove<'a>(&'a str, &'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = docker(self.0, &["rm", "-f", self.1]);
        }
    }
    let _remove = Remove(&host, &name);
    let pane = Pane::start(&["-H", &host, "stats"]);
    let lines = pane.wait_for("our container", 20.0, |l| {
        names(l).contains(&name) && rows(l).iter().all(|r| !r.contains("--"))
    });
    let before = names(&lines);
    // Stopped (its row goes), then started again: back in its place.
    let stop = docker(&host, &["stop", "-t", "0", &name]);
    assert!(stop.status.success(), "{}", text(&stop.stderr));
    pane.wait_for("our container gone", 20.0, |l| !names(l).contains(&name));
    let start = docker(&host, &["start", &name]);
    assert!(start.status.success(), "{}", text(&start.stderr));
    let lines = pane.wait_for("our container back", 20.0, |l| {
        names(l).len() == before.len() && rows(l).iter().all(|r| !r.contains("--"))
    });
    assert_eq!(names(&lines), before, "{lines:#?}");
    pane.send("q");
    assert_eq!(pane.exit_status(5.0), 0);
    pane.assert_restored();
}
