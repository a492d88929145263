//! The fields beyond docker's — where a sample came from, the CPU user/system split, CFS
//! throttling, the CPU limit and pressure — in each output: `ndjson`, `--format json`, the
//! table's `--pressure` columns, `--cpu-limit`, templates and `serve`. Against the simulated
//! daemon (whose `busy` containers run under `--cpus 0.5` and `writer` under `--cpus 1.5`,
//! see `dockstat_sim::limits`), against hand-built expositions for the families the sim cannot
//! show (pressure), and against a real daemon when `DOCKSTAT_REAL_DOCKER` names one.

mod common;
use common::real;
use common::serve::Serve;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat::prom::{ExpositionFormat, Row, Snapshot, render};
use dockstat::stats::{CpuLimit, Pressure, Pressures, StallLine, Throttling};
use dockstat_sim::{Listen, Sim, SimConfig};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

/// docker's `{{json .}}` keys for `docker stats`.
const DOCKER_KEYS: [&str; 9] = [
    "BlockIO",
    "CPUPerc",
    "Container",
    "ID",
    "MemPerc",
    "MemUsage",
    "Name",
    "NetIO",
    "PIDs",
];

const EXTRA_KEYS: [&str; 6] = [
    "CPULimit",
    "CPULimitPerc",
    "PSICPU",
    "PSIIO",
    "PSIMem",
    "Source",
];

fn sim(containers: usize) -> Sim {
    static N: AtomicUsize = AtomicUsize::new(0);
    let socket = std::env::temp_dir().join(format!(
        "dockstat-outputs16-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let config = SimConfig {
        containers,
        interval: Duration::from_millis(200),
        ..SimConfig::default()
    };
    Sim::start(Listen::Unix(socket), config).expect("sim")
}

fn dockstat(host: &str, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(["-H", host])
        .args(args)
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dockstat {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn by_name<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["name"] == name || l["Name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn ndjson_has_the_sims_throttling_split_and_limits() {
    let sim = sim(6);
    let out = dockstat(&sim.url(), &["stats", "--no-stream", "--format", "ndjson"]);
    let all = lines(&out);
    assert_eq!(all.len(), 6);
    for l in &all {
        assert_eq!(l["source"], "api", "{l}");
        // cpuacct.stat counts whole ticks: one part may still be 0, not both.
        let split = l["cpu_user_ns"].as_u64().unwrap() + l["cpu_system_ns"].as_u64().unwrap();
        assert!(split > 0, "{l}");
        // Not asked for: no limits, and never a pressure over the API.
        for absent in ["cpu_limit", "cpu_percent_of_limit", "pressure"] {
            assert!(l.get(absent).is_none(), "{absent}: {l}");
        }
    }
    let busy = &by_name(&all, "busy-1")["throttling"];
    let periods = busy["periods"].as_u64().unwrap();
    let throttled = busy["throttled_periods"].as_u64().unwrap();
    assert!(periods > 100 && throttled > periods * 9 / 10, "{busy}");
    assert!(busy["throttled_time_ns"].as_u64().unwrap() > 0, "{busy}");
    let writer = &by_name(&all, "writer-4")["throttling"];
    assert!(writer["periods"].as_u64().unwrap() > 0, "{writer}");
    assert_eq!(writer["throttled_periods"], 0, "{writer}");
    assert_eq!(
        by_name(&all, "idle-2")["throttling"],
        serde_json::json!({"periods": 0, "throttled_periods": 0, "throttled_time_ns": 0})
    );

    // --cpu-limit: the inspect's limit on the samples that have one.
    let out = dockstat(
        &sim.url(),
        &["stats", "--no-stream", "--format", "ndjson", "--cpu-limit"],
    );
    let all = lines(&out);
    let busy = by_name(&all, "busy-1");
    assert_eq!(busy["cpu_limit"], 0.5, "{busy}");
    // Half a core used of half a core allowed.
    let of_limit = busy["cpu_percent_of_limit"].as_f64().unwrap();
    assert!((80.0..120.0).contains(&of_limit), "{busy}");
    assert_eq!(by_name(&all, "writer-4")["cpu_limit"], 1.5);
    let idle = by_name(&all, "idle-2");
    assert!(idle.get("cpu_limit").is_none(), "{idle}");
    assert!(idle.get("cpu_percent_of_limit").is_none(), "{idle}");
    sim.shutdown();
}

#[test]
fn json_is_dockers_unless_asked_for_more() {
    let sim = sim(6);
    let plain = lines(&dockstat(
        &sim.url(),
        &["stats", "--no-stream", "--format", "json"],
    ));
    for l in &plain {
        assert_eq!(keys(l), DOCKER_KEYS.iter().map(|k| k.to_string()).collect());
    }
    // {{json .}} as well.
    let templated = lines(&dockstat(
        &sim.url(),
        &["stats", "--no-stream", "--format", "{{json .}}"],
    ));
    for l in &templated {
        assert_eq!(keys(l).len(), DOCKER_KEYS.len(), "{l}");
    }
    for flag in ["--pressure", "--cpu-limit"] {
        let more = lines(&dockstat(
            &sim.url(),
            &["stats", "--no-stream", "--format", "json", flag],
        ));
        assert_eq!(more.len(), 6);
        for l in &more {
            let want: BTreeSet<String> = DOCKER_KEYS
                .iter()
                .chain(&EXTRA_KEYS)
                .map(|k| k.to_string())
                .collect();
            assert_eq!(keys(l), want, "{flag}");
            assert_eq!(l["Source"], "api");
            for psi in ["PSICPU", "PSIMem", "PSIIO"] {
                assert_eq!(l[psi], "--", "{l}");
            }
        }
        let busy = by_name(&more, "busy-1");
        if flag == "--cpu-limit" {
            assert_eq!(busy["CPULimit"], "0.5");
            // CPU % is of the limit: about 100 % for a container using all of its half core.
            assert_eq!(busy["CPUPerc"], busy["CPULimitPerc"]);
            let perc: f64 = busy["CPUPerc"]
                .as_str()
                .unwrap()
                .trim_end_matches('%')
                .parse()
                .unwrap();
            assert!((80.0..120.0).contains(&perc), "{busy}");
            assert_eq!(by_name(&more, "idle-2")["CPULimit"], "--");
        } else {
            // The limit is not asked for the daemon: not known.
            assert_eq!(busy["CPULimit"], "--");
        }
    }
    sim.shutdown();
}

#[test]
fn the_tables_pressure_columns_and_template_fields() {
    let sim = sim(3);
    let out = dockstat(&sim.url(), &["stats", "--no-stream", "--pressure"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rows = text.lines();
    assert_eq!(
        rows.next().unwrap(),
        "CONTAINER ID   NAME       CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS      CPU PSI   MEM PSI   IO PSI"
    );
    for row in rows {
        assert!(row.ends_with("--        --        --"), "{row}");
    }
    // Without the flag, docker's columns only.
    let out = dockstat(&sim.url(), &["stats", "--no-stream"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "CONTAINER ID   NAME       CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS"
    );
    // Templates name the new fields without a flag; naming the limit asks for it.
    let out = dockstat(
        &sim.url(),
        &[
            "stats",
            "--no-stream",
            "--format",
            "table {{.Name}}\t{{.Source}}\t{{.CPULimit}}\t{{.PSIMem}}",
        ],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), "NAME       SOURCE    CPU LIMIT   MEM PSI");
    lines.sort();
    assert_eq!(
        lines,
        [
            "busy-1     api       0.5         --",
            "idle-2     api       --          --",
            "memhog-3   api       --          --",
        ]
    );
    sim.shutdown();
}

fn serve(sim: &Sim) -> Serve {
    let mut cmd = Command::new(BIN);
    cmd.args(["-H", &sim.url(), "serve", "--listen", "127.0.0.1:0"]);
    cmd.args(["--read-period", "0"]);
    Serve::start(cmd)
}

fn scrape(addr: SocketAddr, accept: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// The value of `family`'s series for the container named `name`.
fn value(text: &str, family: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{family}{{")) && l.contains(&format!("name=\"{name}\"")))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn serve_exposes_the_sims_throttling_split_and_limits() {
    let sim = sim(6);
    let s = serve(&sim);
    let until = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape(s.addr, "text/plain");
        let ready = text.matches("dockstat_container_pids{").count() == 6
            && value(&text, "dockstat_container_spec_cpu_quota", "writer-4").is_some()
            && value(&text, "dockstat_container_spec_cpu_quota", "busy-1").is_some();
        if ready {
            break text;
        }
        assert!(Instant::now() < until, "never ready:\n{text}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let v = |family: &str, name: &str| value(&text, family, name);
    assert!(
        v(
            "dockstat_container_cpu_cfs_throttled_periods_total",
            "busy-1"
        )
        .unwrap()
            > 100.0
    );
    assert!(
        v(
            "dockstat_container_cpu_cfs_throttled_seconds_total",
            "busy-1"
        )
        .unwrap()
            > 1.0
    );
    assert!(v("dockstat_container_cpu_cfs_periods_total", "writer-4").unwrap() > 0.0);
    assert_eq!(
        v(
            "dockstat_container_cpu_cfs_throttled_periods_total",
            "writer-4"
        ),
        Some(0.0)
    );
    assert_eq!(
        v("dockstat_container_spec_cpu_quota", "busy-1"),
        Some(50_000.0)
    );
    assert_eq!(
        v("dockstat_container_spec_cpu_period", "busy-1"),
        Some(100_000.0)
    );
    assert_eq!(
        v("dockstat_container_spec_cpu_quota", "writer-4"),
        Some(150_000.0)
    );
    for name in ["busy-1", "idle-2", "memhog-3", "forky-5", "net-6"] {
        let user = v("dockstat_container_cpu_user_seconds_total", name).unwrap();
        let system = v("dockstat_container_cpu_system_seconds_total", name).unwrap();
        let total = v("dockstat_container_cpu_seconds_total", name).unwrap();
        assert!(
            user + system > 0.0 && user + system <= total * 1.01,
            "{name}"
        );
    }
    // No limit, no CFS periods: absent, not zero; no pressure over the API.
    for family in [
        "dockstat_container_cpu_cfs_periods_total",
        "dockstat_container_spec_cpu_quota",
    ] {
        assert_eq!(v(family, "idle-2"), None, "{family}");
    }
    assert!(!text.contains("dockstat_container_pressure_cpu_waiting_seconds_total{"));
    assert!(text.contains("# TYPE dockstat_container_pressure_io_stalled_seconds_total counter\n"));
    let om = scrape(s.addr, "application/openmetrics-text");
    check_with_parsers(&text, &om, false);
    drop(s);
    sim.shutdown();
}

fn row(labels: &str, pressure: Pressures, limit: Option<CpuLimit>, periods: u64) -> Row {
    Row {
        labels: Arc::from(labels),
        pairs: Arc::from(Vec::new()),
        read_ms: 0,
        cpu_nanos: 3_000_000_000,
        cpu_percent: 12.5,
        mem_used: 1 << 20,
        mem_limit: 1 << 30,
        mem_cache: Some(4096),
        net_rx: 1,
        net_tx: 2,
        block_read: 3,
        block_write: 4,
        pids: 5,
        cpu_user_nanos: 2_000_000_000,
        cpu_system_nanos: 1_000_000_000,
        throttling: Throttling {
            periods,
            throttled_periods: periods / 2,
            throttled_time: periods * 40_000_000,
        },
        cpu_limit: limit,
        pressure,
        start_ms: 0,
        networks: Arc::from([]),
    }
}

/// Every new family with samples (the cgroupfs source's pressure included), through
/// promtool and prometheus_client.
#[test]
fn every_new_family_parses_with_prometheus_parsers() {
    let line = |avg10, total_us| StallLine { avg10, total_us };
    let full = Pressure {
        some: line(1234, 5_000_000),
        full: Some(line(100, 1_000_000)),
    };
    let snap = Snapshot {
        rows: vec![
            row(
                r#"host="unix:///s",id="a",name="a""#,
                Pressures {
                    cpu: Some(full),
                    memory: Some(full),
                    io: Some(full),
                },
                Some(CpuLimit {
                    quota_us: 50_000,
                    period_us: 100_000,
                }),
                445,
            ),
            row(
                r#"host="unix:///s",id="b",name="b""#,
                Pressures {
                    cpu: Some(Pressure {
                        some: line(0, 7),
                        full: None,
                    }),
                    memory: None,
                    io: None,
                },
                None,
                0,
            ),
        ],
        ..Snapshot::default()
    };
    let mut text = Vec::new();
    render(&snap, ExpositionFormat::Text, &mut text);
    let mut om = Vec::new();
    render(&snap, ExpositionFormat::OpenMetrics, &mut om);
    let (text, om) = (
        String::from_utf8(text).unwrap(),
        String::from_utf8(om).unwrap(),
    );
    for (family, name, want) in [
        (
            "dockstat_container_pressure_cpu_waiting_seconds_total",
            "a",
            5.0,
        ),
        (
            "dockstat_container_pressure_cpu_stalled_seconds_total",
            "a",
            1.0,
        ),
        (
            "dockstat_container_pressure_memory_stalled_seconds_total",
            "a",
            1.0,
        ),
        (
            "dockstat_container_pressure_io_waiting_seconds_total",
            "a",
            5.0,
        ),
        (
            "dockstat_container_pressure_cpu_waiting_seconds_total",
            "b",
            0.000007,
        ),
        (
            "dockstat_container_cpu_cfs_throttled_seconds_total",
            "a",
            17.8,
        ),
        ("dockstat_container_spec_cpu_quota", "a", 50_000.0),
    ] {
        assert_eq!(value(&text, family, name), Some(want), "{family} {name}");
    }
    assert_eq!(
        value(
            &text,
            "dockstat_container_pressure_cpu_stalled_seconds_total",
            "b"
        ),
        None
    );
    assert_eq!(
        value(&text, "dockstat_container_spec_cpu_period", "b"),
        None
    );
    check_with_parsers(&text, &om, true);
}

/// What the parsers must say of the new families: their types, and OpenMetrics units.
const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families as text
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
t = {f.name: f for f in text(open(sys.argv[1]).read())}
o = {f.name: f for f in om(open(sys.argv[2]).read())}
pressure = sys.argv[3] == "1"
counters = ["dockstat_container_cpu_user_seconds", "dockstat_container_cpu_system_seconds",
            "dockstat_container_cpu_cfs_periods", "dockstat_container_cpu_cfs_throttled_periods",
            "dockstat_container_cpu_cfs_throttled_seconds"]
for r in ["cpu", "memory", "io"]:
    for k in ["waiting", "stalled"]:
        counters.append("dockstat_container_pressure_%s_%s_seconds" % (r, k))
for name in counters:
    assert o[name].type == "counter", (name, o[name].type)
    assert t[name].type == "counter", (name, t[name].type)
    assert o[name].unit == ("seconds" if name.endswith("_seconds") else ""), (name, o[name].unit)
for name in ["dockstat_container_spec_cpu_quota", "dockstat_container_spec_cpu_period"]:
    assert o[name].type == "gauge", name
    assert o[name].unit == "", name
samples = {s.name for f in o.values() for s in f.samples}
assert "dockstat_container_cpu_cfs_throttled_seconds_total" in samples, samples
assert "dockstat_container_spec_cpu_quota" in samples, samples
if pressure:
    assert "dockstat_container_pressure_io_stalled_seconds_total" in samples, samples
print("ok", len(o))
"#;

/// Runs `prometheus_client` (both formats) and `promtool check metrics` on the texts; a
/// missing parser is SKIPPED, or a failure with `DOCKSTAT_REQUIRE_PROM_PARSER=1` or `CI=true`.
fn check_with_parsers(text: &str, om: &str, pressure: bool) {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let file = |ext: &str| -> PathBuf {
        dir.join(format!(
            "dockstat-outputs16-{}-{n}.{ext}",
            std::process::id()
        ))
    };
    let (tp, op) = (file("prom"), file("om"));
    std::fs::write(&tp, text).unwrap();
    std::fs::write(&op, om).unwrap();
    let require = std::env::var("DOCKSTAT_REQUIRE_PROM_PARSER").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true");
    let python = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .output();
    if python.is_ok_and(|o| o.status.success()) {
        let out = Command::new("python3")
            .args(["-c", PARSE])
            .arg(&tp)
            .arg(&op)
            .arg(if pressure { "1" } else { "0" })
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "prometheus_client rejected the exposition:\n{}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        assert!(!require, "python3 -c 'import prometheus_client' fails");
        eprintln!("SKIPPED: prometheus_client is not installed (pip install prometheus_client)");
    }
    match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(mut child) => {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            // promtool's lint only advises (e.g. on counters without _total in some
            // versions); a parse error is a failure.
            let said = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() || !said.contains("error while linting"),
                "promtool check metrics:\n{said}"
            );
            for name in ["cfs", "pressure", "spec_cpu", "user_seconds"] {
                assert!(
                    !said.lines().any(|l| l.contains(name)),
                    "promtool on {name}:\n{said}"
                );
            }
        }
        Err(_) => {
            assert!(!require, "there is no promtool");
            eprintln!("SKIPPED: promtool is not installed (apt-get install prometheus)");
        }
    }
    let _ = std::fs::remove_file(&tp);
    let _ = std::fs::remove_file(&op);
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

/// A container of this test, removed when dropped (also when the test fails).
struct Container {
    host: String,
    name: String,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&self.host, &["rm", "-f", &self.name]);
    }
}

#[test]
fn real_daemon_cpu_limit_of_a_container_started_with_cpus() {
    let Some(host) = real::url() else { return };
    let c = Container {
        host: host.clone(),
        name: format!("i16-outputs-lim-{}", std::process::id()),
    };
    let run = docker(
        &host,
        &[
            "run",
            "-d",
            "--name",
            &c.name,
            "--cpus",
            "0.5",
            "bb:latest",
            "sh",
            "-c",
            "yes > /dev/null",
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Long enough for CFS to have throttled it.
    std::thread::sleep(Duration::from_secs(2));
    let out = dockstat(
        &host,
        &[
            "stats",
            "--no-stream",
            "--format",
            "ndjson",
            "--cpu-limit",
            &c.name,
        ],
    );
    let all = lines(&out);
    assert_eq!(all.len(), 1, "{all:?}");
    let l = &all[0];
    assert_eq!(l["cpu_limit"], 0.5, "{l}");
    let of_limit = l["cpu_percent_of_limit"].as_f64().unwrap();
    assert!((70.0..130.0).contains(&of_limit), "{l}");
    assert!(
        l["throttling"]["throttled_periods"].as_u64().unwrap() > 0,
        "{l}"
    );
    assert!(l["cpu_user_ns"].as_u64().unwrap() > 0, "{l}");
    assert_eq!(l["source"], "api");

    // docker's json (no flag): the same keys as the docker CLI's, which knows no limit column.
    let ours = lines(&dockstat(
        &host,
        &["stats", "--no-stream", "--format", "json", &c.name],
    ));
    let theirs = docker(
        &host,
        &["stats", "--no-stream", "--format", "{{json .}}", &c.name],
    );
    let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
    assert_eq!(keys(&ours[0]), keys(&theirs));
    for k in ["Container", "ID", "Name", "PIDs"] {
        assert_eq!(ours[0][k], theirs[k], "{k}");
    }
    // With --cpu-limit: the limit, and CPU % of it.
    let more = lines(&dockstat(
        &host,
        &[
            "stats",
            "--no-stream",
            "--format",
            "json",
            "--cpu-limit",
            &c.name,
        ],
    ));
    assert_eq!(more[0]["CPULimit"], "0.5");
    assert_eq!(more[0]["CPUPerc"], more[0]["CPULimitPerc"]);
}
