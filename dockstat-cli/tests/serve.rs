//! `dockstat serve` and `stats --format prometheus`, end to end against the simulated daemon.
//!
//! The exposition is checked with real parsers when they are installed: Python's
//! `prometheus_client` (text format and OpenMetrics) and `promtool check metrics`. Without
//! them the parser test says SKIPPED, unless `DOCKSTAT_REQUIRE_PROM_PARSER=1` or `CI=true`,
//! which make a missing parser a failure: in CI the check cannot pass by not running.

mod common;
use common::serve::Serve;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat_sim::{Listen, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-serve-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn sim(config: SimConfig) -> Sim {
    Sim::start(Listen::Unix(socket()), config).expect("sim")
}

fn serve(sim: &Sim, args: &[&str]) -> Serve {
    let mut cmd = Command::new(BIN);
    cmd.args(["-H", &sim.url(), "serve", "--listen", "127.0.0.1:0"]);
    cmd.args(args);
    Serve::start(cmd)
}

struct Response {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

/// Sends raw bytes and reads the response until the server closes.
fn raw(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> Response {
    let text = String::from_utf8_lossy(buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

fn get(addr: SocketAddr, accept: Option<&str>) -> Response {
    let accept = accept.map_or(String::new(), |a| format!("Accept: {a}\r\n"));
    raw(
        addr,
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n").as_bytes(),
    )
}

/// The value of the first sample line starting with `prefix`.
fn value(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Scrapes until `ready` holds, for at most 20 s.
fn scrape_until(addr: SocketAddr, ready: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let r = get(addr, None);
        if r.status == 200 && ready(&r.body) {
            return r.body;
        }
        assert!(Instant::now() < until, "never ready:\n{}", r.body);
        std::thread::sleep(Duration::from_millis(100));
    }
}

const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families as text
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
t = list(text(open(sys.argv[1]).read()))
o = list(om(open(sys.argv[2]).read()))
types = {f.name: f.type for f in o}
assert types["dockstat_container_cpu_seconds"] == "counter", types
assert types["dockstat_container_pids"] == "gauge", types
assert types["dockstat_container_cpu_cfs_throttled_seconds"] == "counter", types
assert types["dockstat_container_cpu_user_seconds"] == "counter", types
assert types["dockstat_container_spec_cpu_quota"] == "gauge", types
assert types["dockstat_container_pressure_memory_stalled_seconds"] == "counter", types
units = {f.name: f.unit for f in o}
assert units["dockstat_container_cpu_cfs_throttled_seconds"] == "seconds", units
assert units["dockstat_container_memory_used_bytes"] == "bytes", units
assert units["dockstat_container_cpu_cfs_periods"] == "", units
assert types["dockstat_engine_frame_processing_seconds"] == "histogram", types
assert types["dockstat_engine_delivery_lag_seconds"] == "histogram", types
print(len(t), len(o), sum(len(f.samples) for f in o))
"#;

#[test]
fn exposition_parses_with_prometheus_parsers() {
    let sim = sim(SimConfig {
        containers: 4,
        interval: Duration::from_millis(100),
        ..SimConfig::default()
    });
    let s = serve(
        &sim,
        &["--with-image", "--label-allowlist", "sim.workload,sim"],
    );
    let text = scrape_until(s.addr, |b| {
        b.matches("dockstat_container_pids{").count() == 4
            && value(b, "dockstat_engine_delivery_lag_seconds_count").unwrap_or(0.0) > 0.0
    });
    assert!(
        text.contains(r#"image="sim/busybox:latest",label_sim_workload="busy",label_sim="1"}"#)
    );
    let r = get(s.addr, None);
    assert_eq!(
        r.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let om = get(
        s.addr,
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert_eq!(om.status, 200);
    assert_eq!(
        om.headers["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.body.ends_with("# EOF\n"));
    assert!(
        om.body
            .contains("# TYPE dockstat_container_cpu_seconds counter\n")
    );
    assert!(
        r.body
            .contains("# TYPE dockstat_container_cpu_seconds_total counter\n")
    );

    let dir = std::env::temp_dir();
    let (tp, op) = (
        dir.join(format!("dockstat-{}.prom", std::process::id())),
        dir.join(format!("dockstat-{}.om", std::process::id())),
    );
    std::fs::write(&tp, &r.body).unwrap();
    std::fs::write(&op, &om.body).unwrap();
    let require = std::env::var("DOCKSTAT_REQUIRE_PROM_PARSER").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true");
    let python = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if python {
        let out = Command::new("python3")
            .args(["-c", PARSE])
            .arg(&tp)
            .arg(&op)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "prometheus_client rejected the exposition:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "prometheus_client: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    } else {
        assert!(
            !require,
            "a Prometheus parser is required (DOCKSTAT_REQUIRE_PROM_PARSER=1 or CI=true) but \
             python3 -c 'import prometheus_client' fails (pip install prometheus_client)"
        );
        eprintln!(
            "SKIPPED: the exposition was not checked with prometheus_client, which is not \
             installed (pip install prometheus_client; required with CI=true)"
        );
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
                "a Prometheus parser is required (DOCKSTAT_REQUIRE_PROM_PARSER=1 or CI=true) but \
                 there is no promtool (apt-get install prometheus)"
            );
            eprintln!(
                "SKIPPED: the exposition was not checked with promtool, which is not installed \
                 (apt-get install prometheus; required with CI=true)"
            );
        }
    }
    let _ = std::fs::remove_file(tp);
    let _ = std::fs::remove_file(op);
}

#[test]
fn values_equal_the_ndjson_samples() {
    // A fresh simulated daemon per run, same seed, on a fixed clock: both runs get the same
    // frames (one daemon answering twice may have moved on).
    let run = |format: &str| {
        let sim = sim(SimConfig {
            containers: 6,
            interval: Duration::from_millis(100),
            fixed_clock: Some(1_795_416_926_742_434_502),
            ..SimConfig::default()
        });
        let out = Command::new(BIN)
            .args(["-H", &sim.url(), "stats", "--no-stream", "--format", format])
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .replace(&sim.url(), "SIM")
    };
    let ndjson = run("ndjson");
    let prom = run("prometheus");
    let lines: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let mut compared = 0;
    for l in &lines {
        let id = l["id"].as_str().unwrap();
        let labels = format!(
            "{{host=\"{}\",id=\"{id}\",name=\"{}\"}} ",
            l["host"].as_str().unwrap(),
            l["name"].as_str().unwrap()
        );
        for (family, field) in [
            ("dockstat_container_cpu_percent", "cpu_percent"),
            ("dockstat_container_memory_used_bytes", "mem_used"),
            ("dockstat_container_memory_limit_bytes", "mem_limit"),
            ("dockstat_container_network_receive_bytes_total", "net_rx"),
            ("dockstat_container_network_transmit_bytes_total", "net_tx"),
            ("dockstat_container_block_read_bytes_total", "block_read"),
            ("dockstat_container_block_write_bytes_total", "block_write"),
            ("dockstat_container_pids", "pids"),
        ] {
            let got = value(&prom, &format!("{family}{labels}"))
                .unwrap_or_else(|| panic!("no {family}{labels} in\n{prom}"));
            // The number as written (serde_json's default float parsing is not exact).
            let want: f64 = raw_field(&ndjson, id, field).parse().unwrap();
            assert_eq!(got, want, "{family} of {id}");
            compared += 1;
        }
        assert!(
            value(
                &prom,
                &format!("dockstat_container_cpu_seconds_total{labels}")
            )
            .is_some()
        );
    }
    assert_eq!(compared, 48);
    // Some numbers are not zero, or the comparison proves little.
    assert!(
        lines
            .iter()
            .any(|l| l["cpu_percent"].as_f64().unwrap() > 1.0)
    );
    assert!(lines.iter().any(|l| l["net_rx"].as_u64().unwrap() > 0));
}

/// The text of `field` in the ndjson line of container `id`.
fn raw_field<'a>(ndjson: &'a str, id: &str, field: &str) -> &'a str {
    let line = ndjson
        .lines()
        .find(|l| l.contains(&format!("\"id\":\"{id}\"")))
        .unwrap();
    let key = format!("\"{field}\":");
    let start = line.find(&key).unwrap() + key.len();
    let rest = &line[start..];
    &rest[..rest.find([',', '}']).unwrap()]
}

#[test]
fn bad_requests_get_http_errors_and_frames_keep_flowing() {
    let sim = sim(SimConfig {
        containers: 3,
        interval: Duration::from_millis(100),
        ..SimConfig::default()
    });
    // Frames read as they come (not once per the default read period), so that the
    // engine is seen to move between two scrapes a fraction of a second apart.
    let s = serve(&sim, &["--timeout", "1", "--read-period", "0"]);
    // A slow client: half a request, then nothing.
    let started = Instant::now();
    let mut slow = TcpStream::connect(s.addr).unwrap();
    slow.write_all(b"GET /metr").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    let first = scrape_until(s.addr, |b| {
        value(b, "dockstat_engine_frames_total").unwrap_or(0.0) > 0.0
    });
    let frames = value(&first, "dockstat_engine_frames_total").unwrap();

    assert_eq!(
        raw(s.addr, b"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n").status,
        404
    );
    let r = raw(
        s.addr,
        b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_eq!(r.headers["allow"], "GET, HEAD");
    assert_eq!(
        raw(
            s.addr,
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"
        )
        .status,
        400
    );
    assert_eq!(raw(s.addr, b"hello there\r\n\r\n").status, 400);
    let huge = format!(
        "GET /metrics HTTP/1.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(16 << 10)
    );
    assert_eq!(raw(s.addr, huge.as_bytes()).status, 431);
    let head = raw(
        s.addr,
        b"HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    // Keep-alive: two requests on one connection.
    let two = raw(
        s.addr,
        b"GET /metrics HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(two.status, 200);
    assert_eq!(two.body.matches("HTTP/1.1 200 OK").count(), 1);

    // Scrapes are served while the slow client waits, and the engine keeps going.
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let later = get(s.addr, None);
    assert_eq!(later.status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    let frames_later = value(&later.body, "dockstat_engine_frames_total").unwrap();
    assert!(frames_later > frames, "{frames} -> {frames_later}");

    // The slow client is told and closed after its timeout.
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    assert_eq!(parse_response(&buf).status, 408);
}

#[test]
fn stopped_containers_disappear() {
    let sim = sim(SimConfig {
        containers: 3,
        interval: Duration::from_millis(100),
        ..SimConfig::default()
    });
    let s = serve(&sim, &[]);
    scrape_until(s.addr, |b| {
        b.contains("name=\"busy-1\"} ") && b.contains("name=\"idle-2\"} ")
    });
    sim.stop("busy-1").unwrap();
    let body = scrape_until(s.addr, |b| !b.contains("name=\"busy-1\""));
    assert!(body.contains("name=\"idle-2\"} "));
}
