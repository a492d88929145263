//! End to end: the `dockstat` binary against the simulated daemon (unix socket and TCP), and
//! against hostile servers that send one malformed response each.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat_sim::{Listen, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn temp_socket(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "dockstat-cli-{}-{tag}-{n}.sock",
        std::process::id()
    ))
}

fn sim(containers: usize) -> Sim {
    let config = SimConfig {
        containers,
        stopped: 1,
        interval: Duration::from_millis(50),
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn get_streams_stats_frames_line_by_line() {
    let sim = sim(3);
    let mut child = Command::new(BIN)
        .args(["-H", &sim.url(), "get", "-N", "/containers/busy-1/stats"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut frames = Vec::new();
    for _ in 0..4 {
        frames.push(lines.next().expect("a frame").unwrap());
    }
    // Four frames at 50 ms intervals arrive one by one, long before any buffer would fill.
    assert!(started.elapsed() < Duration::from_secs(5));
    child.kill().unwrap();
    child.wait().unwrap();
    for f in &frames {
        assert!(f.starts_with("{\"read\":\"") && f.ends_with('}'), "{f}");
        assert!(f.contains("\"name\":\"/busy-1\""), "{f}");
    }
    assert!(frames[0].contains("\"preread\":\"0001-01-01T00:00:00Z\""));
    assert!(!frames[1].contains("\"preread\":\"0001-01-01T00:00:00Z\""));
}

#[test]
fn get_closed_pipe_ends_cleanly() {
    let sim = sim(1);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{BIN} -H {} get -N /containers/busy-1/stats | head -n 2 >/dev/null; exit ${{PIPESTATUS[0]}}",
            sim.url()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn get_include_prints_the_head_as_received() {
    let sim = sim(1);
    let out = dockstat(&sim.url(), &["get", "-i", "/_ping"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nOK"), "{text:?}");

    let out = dockstat(&sim.url(), &["get", "/_ping"]);
    assert_eq!(stdout(&out), "OK");
}

#[test]
fn get_collects_listings_and_one_shot_stats() {
    let sim = sim(2);
    let out = dockstat(&sim.url(), &["get", "/containers/json?all=1"]);
    assert!(out.status.success());
    let mut body = out.stdout.clone();
    let list = dockstat::api::ContainerSummary::parse_list(&mut body).unwrap();
    assert_eq!(list.len(), 3);

    let out = dockstat(
        &sim.url(),
        &["get", "/v1.41/containers/idle-2/stats?stream=false"],
    );
    assert!(out.status.success());
    let text = stdout(&out);
    assert_eq!(text.matches("\"read\"").count(), 1, "{text}");
    assert!(text.ends_with("}\n"));
}

#[test]
fn get_error_status_prints_the_body_and_exits_22() {
    let sim = sim(1);
    let out = dockstat(&sim.url(), &["get", "/containers/nosuch/stats"]);
    assert_eq!(out.status.code(), Some(22));
    assert_eq!(
        stdout(&out),
        "{\"message\":\"No such container: nosuch\"}\n"
    );
    let out = dockstat(&sim.url(), &["get", "/v1.99/version"]);
    assert_eq!(out.status.code(), Some(22));
    assert!(stdout(&out).contains("is too new"));
}

#[test]
fn get_over_tcp() {
    let config = SimConfig {
        containers: 1,
        ..SimConfig::default()
    };
    let sim = Sim::start(Listen::Tcp("127.0.0.1:0".parse().unwrap()), config).unwrap();
    assert!(sim.url().starts_with("tcp://127.0.0.1:"));
    let out = dockstat(&sim.url(), &["get", "/_ping"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "OK");
}

#[test]
fn get_times_out_with_28() {
    let sim = sim(1);
    let started = Instant::now();
    let out = dockstat(
        &sim.url(),
        &["get", "--max-time", "0.3", "/containers/busy-1/stats"],
    );
    assert_eq!(out.status.code(), Some(28), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stderr(&out).contains("timed out"));
    // What arrived before the deadline was printed.
    assert!(stdout(&out).starts_with("{\"read\""));
}

#[test]
fn connection_and_usage_errors_have_their_own_codes() {
    let missing = temp_socket("missing");
    let out = dockstat(&format!("unix://{}", missing.display()), &["get", "/_ping"]);
    assert_eq!(out.status.code(), Some(7));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("Cannot connect to the Docker daemon at unix://"),
        "{err}"
    );

    // A refused TCP connection: bind a port, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = dockstat(&format!("tcp://127.0.0.1:{port}"), &["get", "/_ping"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));

    let out = dockstat("ssh://me@example.invalid", &["get", "/_ping"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("ssh:// is not supported"));
    let out = dockstat("npipe:////./pipe/docker_engine", &["ps"]);
    assert_eq!(out.status.code(), Some(1));

    let sim = sim(1);
    let out = dockstat(&sim.url(), &["get", "no-slash"]);
    assert_eq!(out.status.code(), Some(3));
    let out = dockstat(&sim.url(), &["get"]);
    assert_eq!(out.status.code(), Some(2));
    let out = dockstat(&sim.url(), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn hostile_responses_get_one_clear_line_and_no_panic() {
    let cases: &[(&str, &[u8], i32, &str)] = &[
        (
            "bad chunk size",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            8,
            "chunk size is not a hexadecimal number",
        ),
        (
            "chunk size overflow",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            8,
            "overflows",
        ),
        (
            "TE with CL",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            8,
            "both Transfer-Encoding and Content-Length",
        ),
        (
            "differing lengths",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            8,
            "conflicting Content-Length",
        ),
        (
            "chunked, gzip",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            8,
            "chunked is not the final transfer coding",
        ),
        (
            "NUL in header",
            b"HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
            8,
            "control byte in a header value",
        ),
        (
            "obs-fold",
            b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
            8,
            "obs-fold",
        ),
        ("not http", b"SSH-2.0-OpenSSH_9.2\r\n", 8, "HTTP/1.x"),
        (
            "truncated body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
            18,
            "closed in the middle",
        ),
        (
            "truncated chunk",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc",
            18,
            "closed in the middle",
        ),
        ("empty reply", b"", 52, "empty reply"),
        (
            "stray bytes after 204",
            b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
            0,
            "warning: data after the end of the response",
        ),
    ];
    for &(name, response, code, message) in cases {
        let path = temp_socket("hostile");
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(response);
            }
        });
        let out = dockstat(&format!("unix://{}", path.display()), &["get", "/x"]);
        server.join().unwrap();
        let _ = std::fs::remove_file(&path);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{name}: {err}");
        if code != 0 {
            assert_eq!(err.lines().count(), 1, "{name}: one line: {err}");
            assert!(err.contains(message), "{name}: {err}");
        }
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn ps_and_images_tables() {
    let sim = sim(3);
    let out = dockstat(&sim.url(), &["ps"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("CONTAINER ID   IMAGE "), "{text}");
    assert!(lines[0].ends_with("   NAMES"));
    assert!(text.contains("busy-1") && !text.contains("stopped-4"));

    let out = dockstat(&sim.url(), &["ps", "-a", "-q"]);
    assert_eq!(stdout(&out).lines().count(), 4);
    assert!(stdout(&out).lines().all(|l| l.len() == 12));

    let out = dockstat(&sim.url(), &["ps", "-a", "--format", "json"]);
    for line in stdout(&out).lines() {
        let mut bytes = line.as_bytes().to_vec();
        simd_json::to_borrowed_value(&mut bytes).expect("one JSON object per line");
    }
    let out = dockstat(&sim.url(), &["images"]);
    assert!(stdout(&out).starts_with("REPOSITORY "), "{}", stdout(&out));
}

#[test]
fn ps_negotiates_once_and_reuses_the_connection() {
    let sim = sim(2);
    let out = dockstat(&sim.url(), &["ps"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let counters = sim.counters();
    // /_ping then /v1.41/containers/json, on one kept-alive connection.
    assert_eq!(counters.requests, 2, "{counters:?}");
    assert_eq!(counters.connections_accepted, 1, "{counters:?}");
}

#[test]
fn docker_api_version_overrides_negotiation() {
    let sim = sim(1);
    let run = |version: &str| {
        Command::new(BIN)
            .args(["-H", &sim.url(), "ps"])
            .env("DOCKER_API_VERSION", version)
            .output()
            .unwrap()
    };
    // No ping: the daemon sees /v1.99/… and refuses it, as the real one does.
    let out = run("1.99");
    assert_eq!(out.status.code(), Some(22), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("client version 1.99 is too new"),
        "{}",
        stderr(&out)
    );
    let out = run("1.40");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run("one.forty");
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("DOCKER_API_VERSION"));
    let out = dockstat(&sim.url(), &["ps", "--format", "{{.Nope}}"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The docker CLI (v28) and dockstat against the same simulated daemon print the same
/// listings. Go prints label maps in random order, so labels are compared as sets.
#[test]
fn ps_and_images_match_the_docker_cli() {
    if Command::new("docker").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no docker CLI on PATH");
        return;
    }
    let sim = sim(6);
    let normalise = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                let mut fields: Vec<String> =
                    l.split("\"Labels\":\"").map(str::to_string).collect();
                if fields.len() == 2 {
                    let (labels, rest) = fields[1].split_once('"').unwrap();
                    let mut labels: Vec<&str> = labels.split(',').collect();
                    labels.sort();
                    fields[1] = format!("{}\"{rest}", labels.join(","));
                }
                fields.join("\"Labels\":\"")
            })
            .collect()
    };
    for args in [
        &["ps"][..],
        &["ps", "-a", "--no-trunc"],
        &["ps", "-a", "--format", "json"],
        &["ps", "--format", "table {{.ID}}\t{{.Names}}\t{{.Size}}"],
        &["images"],
        &["images", "-a", "--format", "json"],
        &["images", "-q"],
    ] {
        let docker = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", sim.url())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap();
        assert!(
            docker.status.success(),
            "docker {args:?}: {}",
            stderr(&docker)
        );
        let ours = dockstat(&sim.url(), args);
        assert!(
            ours.status.success(),
            "dockstat {args:?}: {}",
            stderr(&ours)
        );
        assert_eq!(
            normalise(&stdout(&ours)),
            normalise(&stdout(&docker)),
            "dockstat {args:?} differs from docker"
        );
    }
}
