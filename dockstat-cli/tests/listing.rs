//! `dockstat ps` and `dockstat images` with docker's listing options (`--filter`, `-n`, `-l`,
//! `-s`, `--digests`, `REPOSITORY[:TAG]`):
//! - against the simulated daemon, through a recording proxy: the request each command line
//!   sends is the one the docker v28 CLI sends, byte for byte, and each option has its effect;
//! - against the simulated daemon and the docker CLI (skipped without `docker` on PATH);
//! - against a real daemon named by `DOCKSTAT_REAL_DOCKER` (as in `real_docker.rs`): with a few
//!   containers of its own, each command line prints what `docker` prints, byte for byte, and
//!   fails with the same line (after `dockstat: `) and the corresponding exit code. Without the
//!   variable the test says SKIPPED, or fails when `DOCKSTAT_REQUIRE_REAL_DOCKER=1`.

mod common;
use common::real;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dockstat_sim::{Listen, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn temp_socket(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "dockstat-listing-{}-{tag}-{n}.sock",
        std::process::id()
    ))
}

/// 6 running containers (busy-1 … net-6) and 2 exited ones (stopped-7, stopped-8).
fn sim() -> Sim {
    let config = SimConfig {
        containers: 6,
        stopped: 2,
        interval: Duration::from_millis(200),
        ..SimConfig::default()
    };
    Sim::start(Listen::Unix(temp_socket("sim")), config).expect("sim starts")
}

fn dockstat(host: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("-H")
        .arg(host)
        .args(args)
        .env_remove("DOCKER_API_VERSION")
        .output()
        .expect("dockstat runs")
}

fn docker(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .expect("the docker CLI")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A unix-socket proxy in front of `upstream` that records the target of every GET.
struct Recorder {
    path: PathBuf,
    targets: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn start(upstream: PathBuf) -> Recorder {
        let path = temp_socket("proxy");
        let listener = UnixListener::bind(&path).expect("proxy binds");
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&targets);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut daemon) = UnixStream::connect(&upstream) else {
                    return;
                };
                let (Ok(mut client_w), Ok(mut daemon_r)) = (client.try_clone(), daemon.try_clone())
                else {
                    return;
                };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    let mut text = Vec::new();
                    while let Ok(n @ 1..) = client.read(&mut buf) {
                        text.extend_from_slice(&buf[..n]);
                        if daemon.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = daemon.shutdown(std::net::Shutdown::Write);
                    let text = String::from_utf8_lossy(&text);
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    for line in text.split("\r\n") {
                        if let Some(target) = line
                            .strip_prefix("GET ")
                            .and_then(|l| l.strip_suffix(" HTTP/1.1"))
                        {
                            seen.push(target.to_string());
                        }
                    }
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut daemon_r, &mut client_w);
                    let _ = client_w.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        Recorder { path, targets }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The targets recorded since the last call, `/_ping` left out. The client's side is
    /// recorded when it closes, so this waits a moment for it.
    fn take(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
            if targets.iter().any(|t| !t.ends_with("/_ping")) || Instant::now() > deadline {
                let got: Vec<String> = targets
                    .drain(..)
                    .filter(|t| !t.ends_with("/_ping"))
                    .collect();
                return got;
            }
            drop(targets);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The requests are docker v28's, recorded from the docker CLI against a real daemon: the
/// query keys in Go's sorted order, `filters` as Go marshals it (keys and values sorted,
/// `<`, `>`, `&` escaped) and `url.QueryEscape`d, `size=1` only when docker asks for sizes.
#[test]
fn sim_requests_are_dockers() {
    let sim = sim();
    let proxy = Recorder::start(sim.url().trim_start_matches("unix://").into());
    let ps = "/v1.41/containers/json";
    let cases: &[(&[&str], String)] = &[
        (&["ps"], ps.to_string()),
        (
            &[
                "ps", "-a", "--filter", "label=a=b", "--filter", "status=running", "-f",
                "name=x", "-n", "3", "-s",
            ],
            format!(
                "{ps}?all=1&filters=%7B%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%2C%22name%22%3A%7B%22x%22%3Atrue%7D%2C%22status%22%3A%7B%22running%22%3Atrue%7D%7D&limit=3&size=1"
            ),
        ),
        (
            &["ps", "--filter", "label=<a&b>"],
            format!("{ps}?filters=%7B%22label%22%3A%7B%22%5Cu003ca%5Cu0026b%5Cu003e%22%3Atrue%7D%7D"),
        ),
        // FilterOpt lowercases and trims the name, trims the value; one key, sorted values.
        (
            &["ps", "-f", " Name = busy ", "-f", "name=a b", "-f", ""],
            format!("{ps}?filters=%7B%22name%22%3A%7B%22a+b%22%3Atrue%2C%22busy%22%3Atrue%7D%7D"),
        ),
        (&["ps", "-l"], format!("{ps}?limit=1")),
        (&["ps", "-n", "2", "-l"], format!("{ps}?limit=2")),
        (&["ps", "-n", "0"], ps.to_string()),
        (&["ps", "-n=-3", "-l"], ps.to_string()),
        (&["ps", "-s"], format!("{ps}?size=1")),
        (&["ps", "--size=false"], ps.to_string()),
        (&["ps", "--format", "{{.Size}}"], format!("{ps}?size=1")),
        (&["ps", "--format", "{{json .}}"], format!("{ps}?size=1")),
        (&["ps", "--format", "table {{.Names}}\\t{{.Size}}"], format!("{ps}?size=1")),
        // docker runs the format text itself as a template: `json` and `table` read no field.
        (&["ps", "--format", "json"], ps.to_string()),
        (&["ps", "--format", "table"], ps.to_string()),
        (&["ps", "--format", "json", "-s"], format!("{ps}?size=1")),
        (&["ps", "--format", "{{.Size}}", "--size=false"], ps.to_string()),
        (&["ps", "--format", "{{.Size}}", "-q"], ps.to_string()),
        (&["images"], "/v1.41/images/json".to_string()),
        (&["images", "--digests", "-q"], "/v1.41/images/json".to_string()),
        (
            &["images", "sim/alpine:3.20", "--filter", "dangling=false", "-a"],
            "/v1.41/images/json?all=1&filters=%7B%22dangling%22%3A%7B%22false%22%3Atrue%7D%2C%22reference%22%3A%7B%22sim%2Falpine%3A3.20%22%3Atrue%7D%7D".to_string(),
        ),
    ];
    for (args, want) in cases {
        let out = dockstat(&proxy.url(), args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(proxy.take(), std::slice::from_ref(want), "{args:?}");
    }
}

fn names(out: &Output) -> Vec<String> {
    stdout(out).lines().map(str::to_string).collect()
}

#[test]
fn sim_options_take_effect() {
    let sim = sim();
    let url = sim.url();
    let run = |args: &[&str]| {
        let out = dockstat(&url, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    };
    let f = ["--format", "{{.Names}}"];
    let ps = |args: &[&str]| names(&run(&[&["ps"][..], args, &f].concat()));
    assert_eq!(
        ps(&["--filter", "status=exited"]),
        ["stopped-8", "stopped-7"]
    );
    assert_eq!(ps(&["--filter", "exited=0"]), Vec::<String>::new());
    assert_eq!(
        ps(&["--filter", "exited=0", "-a"]),
        ["stopped-8", "stopped-7"]
    );
    assert_eq!(ps(&["--filter", "name=^busy"]), ["busy-1"]);
    assert_eq!(ps(&["--filter", "label=sim.workload=idle"]), ["idle-2"]);
    assert_eq!(
        ps(&[
            "--filter",
            "label=sim.workload=idle",
            "-f",
            "label=sim.workload=busy"
        ]),
        Vec::<String>::new()
    );
    assert_eq!(ps(&["--filter", "network=bridge"]), ["net-6"]);
    assert_eq!(ps(&["--filter", "ancestor=sim/busybox"]).len(), 6);
    assert_eq!(ps(&["--filter", "before=memhog-3"]), ["idle-2", "busy-1"]);
    assert_eq!(ps(&["--filter", "since=forky-5"]), ["net-6"]);
    assert_eq!(ps(&["-n", "2"]), ["stopped-8", "stopped-7"]);
    assert_eq!(ps(&["-l"]), ["stopped-8"]);
    assert_eq!(
        ps(&["-n", "3", "--filter", "label=sim.workload=busy"]),
        ["busy-1"]
    );

    // -s adds SIZE last to the default table; sizes only when asked for.
    let table = stdout(&run(&["ps", "-s", "-a"]));
    let header = table.lines().next().unwrap_or_default();
    assert!(header.ends_with("   NAMES       SIZE"), "{table}");
    assert!(
        table.contains("writer-4    16.8MB (virtual 18.9MB)\n"),
        "{table}"
    );
    assert!(
        table.contains("busy-1      0B (virtual 2.15MB)\n"),
        "{table}"
    );
    let json = stdout(&run(&["ps", "--format", "json"]));
    assert_eq!(json.matches("\"Size\":\"0B\"").count(), 6, "{json}");
    let json = stdout(&run(&["ps", "--format", "json", "-s"]));
    assert_eq!(
        json.matches("\"Size\":\"0B (virtual 2.15MB)\"").count(),
        5,
        "{json}"
    );
    let custom = stdout(&run(&["ps", "-s", "--format", "table {{.Names}}"]));
    assert!(!custom.contains("SIZE"), "{custom}");

    let labels = run(&["ps", "--format", "{{.Labels}}", "-l"]);
    // docker sorts the `key=value` strings: `.` sorts before `=`.
    assert_eq!(stdout(&labels), "sim.workload=stopped,sim=1\n");

    // -q with a format: IDs, and docker's warning.
    let quiet = run(&["ps", "-q", "--format", "{{.Names}}"]);
    assert!(stdout(&quiet).lines().all(|l| l.len() == 12));
    assert_eq!(
        stderr(&quiet),
        "WARNING: Ignoring custom format, because both --format and --quiet are set.\n"
    );

    // images: REPOSITORY[:TAG], reference globs, dangling, before/since, --digests.
    let images = |args: &[&str]| {
        names(&run(&[
            &["images"][..],
            args,
            &["--format", "{{.Repository}}:{{.Tag}}"],
        ]
        .concat()))
    };
    assert_eq!(images(&["sim/alpine"]), ["sim/alpine:3.20"]);
    assert_eq!(
        images(&["--filter", "reference=sim/b*"]),
        ["sim/busybox:latest"]
    );
    assert!(images(&["--filter", "dangling=true"]).is_empty());
    assert_eq!(images(&["--filter", "dangling=false"]).len(), 3);
    assert!(images(&["--filter", "label=a"]).is_empty());
    assert_eq!(
        images(&["--filter", "before=sim/alpine:3.20"]),
        ["sim/debian:bookworm-slim"]
    );
    assert_eq!(
        images(&["--filter", "since=sim/alpine:3.20"]),
        ["sim/busybox:latest"]
    );
    // A format naming {{.Digest}} shows the digests of tagged rows, as --digests does.
    let digests = names(&run(&[
        "images",
        "sim/alpine",
        "--format",
        "{{.Tag}} {{.Digest}}",
    ]));
    assert_eq!(digests.len(), 1);
    assert!(digests[0].starts_with("3.20 sha256:"), "{digests:?}");
    let digests = names(&run(&["images", "--format", "{{.Digest}}"]));
    assert_eq!(digests.len(), 3);
    assert_eq!(digests[0], "<none>");
    let table = stdout(&run(&["images", "--digests"]));
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("REPOSITORY    TAG             DIGEST                                                                    IMAGE ID       CREATED"),
        "{table}"
    );
    assert!(
        table.contains("\nsim/busybox   latest          <none>                                                                    "),
        "{table}"
    );
    let json = stdout(&run(&["images", "--format", "json"]));
    // Go's encoder escapes `<` and `>`.
    assert_eq!(
        json.matches("\"Digest\":\"\\u003cnone\\u003e\"").count(),
        3,
        "{json}"
    );
    let json = stdout(&run(&["images", "--format", "json", "--digests"]));
    assert_eq!(json.matches("\"Digest\":\"sha256:").count(), 2, "{json}");
    let custom = stdout(&run(&["images", "--digests", "--format", "table {{.ID}}"]));
    assert!(custom.starts_with("IMAGE ID       DIGEST\n"), "{custom}");
}

#[test]
fn sim_refusals_read_as_dockers() {
    let sim = sim();
    let url = sim.url();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["ps", "--filter", "foo=bar"],
            22,
            "Error response from daemon: Invalid filter 'foo'",
        ),
        (
            &["ps", "--filter", "status=bogus"],
            22,
            "Error response from daemon: Invalid filter 'status=bogus'",
        ),
        (
            &["ps", "--filter", "exited=abc"],
            22,
            "Error response from daemon: strconv.Atoi: parsing \"abc\": invalid syntax",
        ),
        (
            &["images", "--filter", "until=1h"],
            22,
            "Error response from daemon: Invalid filter 'until'",
        ),
        (
            &["images", "--filter", "before=nosuch"],
            22,
            "Error response from daemon: No such image: nosuch:latest",
        ),
        (
            &["ps", "--filter", "foo"],
            2,
            "invalid argument \"foo\" for \"-f, --filter\" flag: bad format of filter (expected name=value)",
        ),
        (
            &["ps", "-n", "x"],
            2,
            "invalid argument \"x\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
        ),
        (
            &["ps", "--size=maybe"],
            2,
            "invalid argument \"maybe\" for \"-s, --size\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax",
        ),
        (
            &["images", "a", "b"],
            2,
            "images takes at most one REPOSITORY[:TAG] (got 2)",
        ),
        (&["ps", "--digests"], 2, "invalid option '--digests'"),
    ];
    for (args, code, line) in cases {
        let out = dockstat(&url, args);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or_default();
        assert_eq!(
            without_help_hint(first),
            format!("dockstat: {line}"),
            "{args:?}"
        );
        if *code == 22 {
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    }
}

/// A command line's result as docker and dockstat are compared: stdout, the exit code as
/// docker's (dockstat's 22 for a daemon refusal is docker's 1, its usage error 2 docker's
/// 125), and the first stderr line without `dockstat: ` for a failure.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    stdout: String,
    code: Option<i32>,
    error: String,
}

/// A usage error's line without its closing `(see 'dockstat COMMAND --help')`.
fn without_help_hint(line: &str) -> &str {
    match line.rfind(" (see 'dockstat ") {
        Some(at) if line.ends_with("--help')") => &line[..at],
        _ => line,
    }
}

fn outcome(out: &Output, ours: bool) -> Outcome {
    let code = match (ours, out.status.code()) {
        (true, Some(22)) => Some(1),
        (true, Some(2)) => Some(125),
        (_, code) => code,
    };
    let err = stderr(out);
    let first = err.lines().next().unwrap_or_default();
    let error = if code == Some(0) {
        String::new()
    } else if ours {
        without_help_hint(first.strip_prefix("dockstat: ").unwrap_or(first)).to_string()
    } else {
        first.to_string()
    };
    Outcome {
        stdout: stdout(out),
        code,
        error,
    }
}

/// Runs each command line with both and compares; a difference gets one retry, since
/// "Up 3 seconds" and "4 seconds ago" tick between two runs.
fn compare(host: &str, cases: &[Vec<String>]) {
    let mut failures = Vec::new();
    for args in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut last = None;
        for _attempt in 0..2 {
            let theirs = outcome(&docker(host, &args), false);
            let ours = outcome(&dockstat(host, &args), true);
            if theirs == ours {
                last = None;
                break;
            }
            last = Some((theirs, ours));
        }
        if let Some((theirs, ours)) = last {
            failures.push(format!(
                "{args:?}\n--- docker\n{theirs:#?}\n--- dockstat\n{ours:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn lines(cases: &[&[&str]]) -> Vec<Vec<String>> {
    cases
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect()
}

#[test]
fn sim_listings_match_the_docker_cli() {
    if Command::new("docker").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no docker CLI on PATH");
        return;
    }
    let sim = sim();
    compare(
        &sim.url(),
        &lines(&[
            &["ps", "--filter", "status=exited"],
            &[
                "ps",
                "--filter",
                "label=sim.workload=idle",
                "--format",
                "json",
            ],
            &["ps", "-n", "3", "-s"],
            &["ps", "-l", "--format", "{{json .}}"],
            &[
                "ps",
                "-a",
                "--format",
                "table {{.Names}}\\t{{.Labels}}\\t{{.Size}}",
            ],
            &["ps", "--filter", "foo=bar"],
            &["images", "--digests"],
            &["images", "--format", "json", "--digests"],
            &["images", "sim/alpine:3.20", "--digests"],
            &["images", "--filter", "since=sim/debian:bookworm-slim"],
            &["images", "--filter", "until=1h"],
        ]),
    );
}

/// Containers of the test, removed (with their anonymous volumes) when it ends.
struct Containers {
    host: String,
    prefix: String,
    names: Vec<String>,
}

impl Containers {
    fn run(&mut self, tag: &str, options: &[&str], command: &[&str]) -> String {
        let name = format!("{}-{tag}", self.prefix);
        self.names.push(name.clone());
        let mut args = vec!["run", "-d", "--network", "none", "--name", &name];
        args.extend_from_slice(options);
        args.push("bb:latest");
        args.extend_from_slice(command);
        let out = docker(&self.host, &args);
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        name
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let _ = Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&self.names)
                .env("DOCKER_HOST", &self.host)
                .output();
        }
    }
}

#[test]
fn real_listings_match_the_docker_cli() {
    let Some(host) = real::url() else { return };
    let prefix = format!("i13-list-{}", std::process::id());
    let mut mine = Containers {
        host: host.clone(),
        prefix: prefix.clone(),
        names: Vec::new(),
    };
    let own = format!("label=i13-list={}", std::process::id());
    let own_label = &own["label=".len()..];
    let labels = [
        "--label", own_label, "--label", "a=b", "--label", "z.y=2", "--label", "a.b=3",
    ];
    mine.run("run", &labels, &["sleep", "100000"]);
    let exited = mine.run("exit", &["--label", own_label], &["sh", "-c", "exit 3"]);
    mine.run(
        "vol",
        &["--label", own_label, "-v", "/i13-data"],
        &["sleep", "100000"],
    );
    let health = mine.run(
        "health",
        &[
            "--label",
            own_label,
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
        ],
        &["sleep", "100000"],
    );
    // Wait for the exit and the first health check.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = |name: &str, what: &str| stdout(&docker(&host, &["inspect", "-f", what, name]));
        if state(&exited, "{{.State.Status}}").trim() == "exited"
            && state(&health, "{{.State.Health.Status}}").trim() == "healthy"
        {
            break;
        }
        assert!(Instant::now() < deadline, "containers did not settle");
        std::thread::sleep(Duration::from_millis(200));
    }
    let name_re = format!("name=^{prefix}");
    let since = format!("since={exited}");
    let before = format!("before={prefix}-vol");
    let cases: Vec<Vec<&str>> = vec![
        vec!["ps", "--filter", "status=exited", "-a"],
        vec!["ps", "--filter", "label=a=b"],
        vec!["ps", "--filter", &own, "-a"],
        vec!["ps", "-n", "2"],
        vec!["ps", "-l"],
        vec!["ps", "-s", "--filter", &own],
        vec!["ps", "--format", "json", "--filter", &own, "-a"],
        vec!["ps", "--format", "json", "-s", "--filter", &own],
        vec!["ps", "--format", "{{.Labels}}", "--filter", &own, "-a"],
        vec!["ps", "--format", "{{json .}}", "--filter", &name_re],
        vec![
            "ps",
            "--format",
            "table {{.Names}}\\t{{.Size}}",
            "--size=false",
            "--filter",
            &own,
        ],
        vec!["ps", "--filter", "exited=3", "-a"],
        vec!["ps", "--filter", "health=healthy", "--filter", &own],
        vec!["ps", "--filter", "volume=/i13-data"],
        vec!["ps", "--filter", &since, "--filter", &own],
        vec!["ps", "--filter", &before, "--filter", &own, "-a"],
        vec![
            "ps",
            "--filter",
            "ancestor=bb",
            "--filter",
            &own,
            "--no-trunc",
        ],
        vec!["ps", "-q", "--filter", &own, "-a"],
        vec!["images", "--filter", "dangling=false"],
        vec!["images", "--filter", "dangling=true"],
        vec!["images", "bb"],
        vec!["images", "bb:latest"],
        vec!["images", "nosuch"],
        vec!["images", "--filter", "reference=b*"],
        vec!["images", "--digests"],
        vec!["images", "--format", "json"],
        vec!["images", "--format", "json", "--digests"],
        vec!["ps", "--filter", "foo=bar"],
        vec!["ps", "--filter", "status=bogus"],
        vec!["ps", "--filter", "foo"],
        vec!["ps", "-n", "x"],
        vec!["images", "--filter", "until=1h"],
        vec!["images", "--filter", "before=nosuch"],
    ];
    let cases: Vec<Vec<String>> = cases
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    compare(&host, &cases);
}
