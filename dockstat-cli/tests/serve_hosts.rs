//! `dockstat serve` with several hosts: each host's `dockstat_host_*` series follow it as it
//! goes down and comes back (also without containers), `stats --no-stream --format
//! prometheus` has them too, and a listen address in use is one line and exit 45.
//!
//! Every exposition asserted on is also checked with the real parsers, as in serve.rs:
//! Python's `prometheus_client` (text format and OpenMetrics) and `promtool check metrics`;
//! without them the check says SKIPPED, unless `DOCKSTAT_REQUIRE_PROM_PARSER=1`.

mod common;
use common::real;
use common::serve::Serve;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat_sim::{Listen, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-serve-hosts-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn config(containers: usize) -> SimConfig {
    SimConfig {
        containers,
        interval: Duration::from_millis(100),
        ..SimConfig::default()
    }
}

fn sim_at(path: &Path, containers: usize) -> Sim {
    Sim::start(Listen::Unix(path.to_path_buf()), config(containers)).expect("sim")
}

fn serve(hosts: &[String]) -> Serve {
    let mut cmd = Command::new(BIN);
    for h in hosts {
        cmd.args(["-H", h]);
    }
    cmd.args(["serve", "--listen", "127.0.0.1:0"]);
    Serve::start(cmd)
}

/// The body of `GET /metrics`, in OpenMetrics when `om`.
fn get(addr: SocketAddr, om: bool) -> String {
    let accept = if om {
        "Accept: application/openmetrics-text;version=1.0.0\r\n"
    } else {
        ""
    };
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let (head, body) = buf.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    body.to_string()
}

/// The value of `name{host="url"}`.
fn host_value(body: &str, name: &str, url: &str) -> Option<f64> {
    let prefix = format!("{name}{{host=\"{url}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.parse().ok())
}

fn up(body: &str, url: &str) -> Option<f64> {
    host_value(body, "dockstat_host_up", url)
}

const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families as text
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
t = {f.name: f for f in text(open(sys.argv[1]).read())}
o = {f.name: f for f in om(open(sys.argv[2]).read())}
for fams in (t, o):
    assert fams["dockstat_host_up"].type == "gauge", fams["dockstat_host_up"]
    assert fams["dockstat_host_errors"].type == "counter", fams["dockstat_host_errors"]
    assert fams["dockstat_host_reconnects"].type == "counter"
    assert fams["dockstat_host_last_success_timestamp_seconds"].type == "gauge"
    ups = {s.labels["host"]: s.value for s in fams["dockstat_host_up"].samples}
    assert len(ups) == int(sys.argv[3]), ups
print(len(t), len(o))
"#;

/// Both expositions of one moment pass the real parsers, with `hosts` host_up samples.
fn parse_check(text: &str, om: &str, hosts: usize) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let tp = dir.join(format!("dockstat-hosts-{}-{n}.prom", std::process::id()));
    let op = dir.join(format!("dockstat-hosts-{}-{n}.om", std::process::id()));
    std::fs::write(&tp, text).unwrap();
    std::fs::write(&op, om).unwrap();
    let require = std::env::var("DOCKSTAT_REQUIRE_PROM_PARSER").as_deref() == Ok("1");
    let python = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if python {
        let out = Command::new("python3")
            .args(["-c", PARSE])
            .arg(&tp)
            .arg(&op)
            .arg(hosts.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "prometheus_client rejected the exposition:\n{}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(
            !require,
            "DOCKSTAT_REQUIRE_PROM_PARSER=1 but python3 -c 'import prometheus_client' fails"
        );
        eprintln!("SKIPPED: prometheus_client (pip install prometheus_client)");
    }
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&tp).unwrap())
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool check metrics:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => {
            assert!(
                !require,
                "DOCKSTAT_REQUIRE_PROM_PARSER=1 but there is no promtool"
            );
            eprintln!("SKIPPED: promtool (apt-get install prometheus)");
        }
    }
    let _ = std::fs::remove_file(tp);
    let _ = std::fs::remove_file(op);
}

/// Scrapes until `ready` holds, for at most `secs`; the last scrape, checked by the parsers
/// in both formats.
fn scrape_until(addr: SocketAddr, secs: u64, what: &str, ready: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        let body = get(addr, false);
        if ready(&body) {
            parse_check(&body, &get(addr, true), 3);
            return body;
        }
        assert!(Instant::now() < until, "{what}: never ready:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn host_series_follow_each_host_down_and_back() {
    let (a_path, empty_path, missing_path) = (socket(), socket(), socket());
    let a = sim_at(&a_path, 2);
    let empty = sim_at(&empty_path, 0);
    let (a_url, empty_url) = (a.url(), empty.url());
    let missing_url = format!("unix://{}", missing_path.display());
    let s = serve(&[a_url.clone(), empty_url.clone(), missing_url.clone()]);

    let body = scrape_until(s.addr, 20, "two up, one down", |b| {
        up(b, &a_url) == Some(1.0)
            && up(b, &empty_url) == Some(1.0)
            && up(b, &missing_url) == Some(0.0)
            && host_value(b, "dockstat_host_containers", &a_url) == Some(2.0)
            && host_value(b, "dockstat_host_errors_total", &missing_url).unwrap_or(0.0) >= 2.0
    });
    // The empty daemon is up with nothing to watch; the missing one was never up.
    assert_eq!(
        host_value(&body, "dockstat_host_containers", &empty_url),
        Some(0.0)
    );
    assert_eq!(
        host_value(&body, "dockstat_host_errors_total", &empty_url),
        Some(0.0)
    );
    assert!(host_value(&body, "dockstat_host_reconnects_total", &missing_url).unwrap() >= 1.0);
    assert!(
        host_value(
            &body,
            "dockstat_host_last_success_timestamp_seconds",
            &a_url
        )
        .is_some()
    );
    assert_eq!(
        host_value(
            &body,
            "dockstat_host_last_success_timestamp_seconds",
            &missing_url
        ),
        None
    );
    assert!(body.contains("# TYPE dockstat_host_up gauge\n"), "{body}");
    assert!(body.contains("# TYPE dockstat_host_reconnects_total counter\n"));
    let errors_before = host_value(&body, "dockstat_host_errors_total", &a_url).unwrap();

    // One daemon goes away: its up goes to 0 within a few seconds, the others stay.
    let went = Instant::now();
    a.shutdown();
    let body = scrape_until(s.addr, 5, "down", |b| up(b, &a_url) == Some(0.0));
    eprintln!("down after {:?}", went.elapsed());
    assert_eq!(up(&body, &empty_url), Some(1.0));
    assert!(host_value(&body, "dockstat_host_errors_total", &a_url).unwrap() > errors_before);
    let down_at = host_value(
        &body,
        "dockstat_host_last_success_timestamp_seconds",
        &a_url,
    )
    .unwrap();

    // Back on the same path, without containers: up again, the reconnects counted.
    std::thread::sleep(Duration::from_millis(500));
    let back = Instant::now();
    let a = sim_at(&a_path, 0);
    let body = scrape_until(s.addr, 15, "up again", |b| {
        up(b, &a_url) == Some(1.0) && host_value(b, "dockstat_host_containers", &a_url) == Some(0.0)
    });
    eprintln!("up again after {:?}", back.elapsed());
    assert!(host_value(&body, "dockstat_host_reconnects_total", &a_url).unwrap() >= 1.0);
    assert!(
        host_value(
            &body,
            "dockstat_host_last_success_timestamp_seconds",
            &a_url
        )
        .unwrap()
            >= down_at
    );
    assert_eq!(up(&body, &missing_url), Some(0.0));
    drop((a, empty));
}

#[test]
fn a_one_off_exposition_has_the_host_series() {
    let (a_path, empty_path, missing_path) = (socket(), socket(), socket());
    let a = sim_at(&a_path, 2);
    let empty = sim_at(&empty_path, 0);
    let missing_url = format!("unix://{}", missing_path.display());
    let out = Command::new(BIN)
        .args(["-H", &a.url(), "-H", &empty.url(), "-H", &missing_url])
        .args(["stats", "--no-stream", "--format", "prometheus"])
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap();
    let body = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    // One host failed: it is reported, the rest printed, and the status says so.
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("dockstat: Cannot connect to the Docker daemon at "),
        "{stderr}"
    );
    assert_eq!(up(&body, &a.url()), Some(1.0), "{body}");
    assert_eq!(up(&body, &empty.url()), Some(1.0));
    assert_eq!(up(&body, &missing_url), Some(0.0));
    assert_eq!(
        host_value(&body, "dockstat_host_containers", &empty.url()),
        Some(0.0)
    );
    assert_eq!(
        host_value(&body, "dockstat_host_errors_total", &missing_url),
        Some(1.0)
    );
    assert_eq!(body.matches("dockstat_container_pids{").count(), 2);
    // The same families in OpenMetrics, from a scrape, for the OpenMetrics parser.
    let s = serve(&[a.url(), empty.url(), missing_url.clone()]);
    let until = Instant::now() + Duration::from_secs(20);
    let om = loop {
        let om = get(s.addr, true);
        if om.matches("dockstat_host_up{").count() == 3 {
            break om;
        }
        assert!(Instant::now() < until, "no host series:\n{om}");
        std::thread::sleep(Duration::from_millis(100));
    };
    parse_check(&body, &om, 3);
}

#[test]
fn a_listen_address_in_use_is_one_line_and_exit_45() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = Command::new(BIN)
        .args(["--sim", "1", "serve", "--listen", &addr.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(45));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("dockstat: cannot listen on {addr}: address already in use\n")
    );
    assert!(out.stdout.is_empty());
}

fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .output()
        .expect("the docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Scrapes until `dockstat_host_containers` equals `docker ps -q | wc -l` of the same
/// moment (other clients may start and stop containers meanwhile) and `ready` holds.
fn agree_with_docker_ps(addr: SocketAddr, host: &str, ready: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let before = docker(host, &["ps", "-q"]).lines().count();
        let body = get(addr, false);
        let after = docker(host, &["ps", "-q"]).lines().count();
        let watched = host_value(&body, "dockstat_host_containers", host);
        if before == after && watched == Some(before as f64) && ready(&body) {
            parse_check(&body, &get(addr, true), 2);
            return body;
        }
        assert!(
            Instant::now() < until,
            "docker ps has {before}..{after} running, dockstat watches {watched:?}:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Removes the container (host, name) when dropped, also when the test fails.
struct Removed(String, String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.1])
            .env("DOCKER_HOST", &self.0)
            .output();
    }
}

#[test]
fn the_real_daemon_is_up_and_its_containers_agree_with_docker_ps() {
    let Some(host) = real::url() else { return };
    let missing_url = format!("unix://{}", socket().display());
    let s = serve(&[host.clone(), missing_url.clone()]);
    let body = agree_with_docker_ps(s.addr, &host, |b| up(b, &host) == Some(1.0));
    assert_eq!(up(&body, &missing_url), Some(0.0));
    assert_eq!(
        host_value(&body, "dockstat_host_errors_total", &host),
        Some(0.0)
    );

    let name = format!("i13-serve-{}", std::process::id());
    docker(
        &host,
        &["run", "-d", "--name", &name, "bb:latest", "sleep", "100000"],
    );
    let removed = Removed(host.clone(), name.clone());
    let series = format!("name=\"{name}\"}}");
    let seen = agree_with_docker_ps(s.addr, &host, |b| b.contains(&series));
    drop(removed);
    assert_eq!(up(&seen, &host), Some(1.0));
    let gone = agree_with_docker_ps(s.addr, &host, |b| !b.contains(&series));
    assert_eq!(up(&gone, &host), Some(1.0));
}
