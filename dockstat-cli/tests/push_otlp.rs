//! `dockstat push --otlp` against a test receiver on 127.0.0.1 that records every request,
//! each body decoded by the official protobuf definitions (python3 with the PyPI package
//! `opentelemetry-proto`): names, units, descriptions, attributes, temporality,
//! monotonicity, start times and values, against push's record of what it sent, with and
//! without gzip; a container restarted starts a new series; arbitrary attribute strings
//! decode as written.
//!
//! Without `opentelemetry-proto` these tests say SKIPPED, unless `CI=true` or
//! `DOCKSTAT_REQUIRE_OTLP_DECODER=1`, which make them fail.

mod common;
use common::real;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dockstat::export::{Batch, Format, Otlp, PushStats};
use dockstat::prom::{Row, Snapshot};
use dockstat_sim::{Listen, Sim, SimConfig};
use proptest::prelude::*;
use serde_json::Value;

/// A point's value as a double, exactly (`bits`: its IEEE 754 bits; JSON numbers are not
/// parsed exactly), or its integer.
fn value(p: &Value) -> f64 {
    if p["kind"] == "as_double" {
        f64::from_bits(p["bits"].as_u64().unwrap())
    } else {
        p["value"].as_f64().unwrap()
    }
}

/// Decodes each `ENCODING:PATH` argument as an `ExportMetricsServiceRequest` and prints one
/// JSON object per request: its resource metrics in order, every field the test checks, and
/// whether the official serializer writes the same bytes back.
const DECODE: &str = r#"
import sys, json, gzip, struct
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
def anyv(v):
    k = v.WhichOneof("value")
    return getattr(v, k) if k else None
def attrs(kvs):
    return [[kv.key, anyv(kv.value)] for kv in kvs]
for arg in sys.argv[1:]:
    enc, path = arg.split(":", 1)
    raw = open(path, "rb").read()
    data = gzip.decompress(raw) if enc == "gzip" else raw
    req = ExportMetricsServiceRequest()
    req.ParseFromString(data)
    out = []
    for rm in req.resource_metrics:
        scopes = []
        for sm in rm.scope_metrics:
            metrics = []
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                d = getattr(m, kind)
                points = []
                for p in d.data_points:
                    vk = p.WhichOneof("value")
                    points.append({"attrs": attrs(p.attributes), "start": p.start_time_unix_nano,
                                   "time": p.time_unix_nano, "kind": vk, "value": getattr(p, vk),
                                   "bits": int.from_bytes(struct.pack("<d", p.as_double), "little")})
                metrics.append({"name": m.name, "unit": m.unit, "description": m.description,
                                "kind": kind, "temporality": d.aggregation_temporality,
                                "monotonic": d.is_monotonic, "points": points})
            scopes.append({"name": sm.scope.name, "version": sm.scope.version, "metrics": metrics})
        out.append({"resource": attrs(rm.resource.attributes), "scopes": scopes})
    print(json.dumps({"resource_metrics": out, "canonical": req.SerializeToString() == data}))
"#;

/// Whether the decoder is there; SKIPPED (loudly) or a failure in CI when not.
fn decoder() -> bool {
    let require = std::env::var("DOCKSTAT_REQUIRE_OTLP_DECODER").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true");
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !require,
            "the OTLP decoder is required (DOCKSTAT_REQUIRE_OTLP_DECODER=1 or CI=true) but \
             python3 cannot import opentelemetry.proto (pip install opentelemetry-proto)"
        );
        eprintln!(
            "SKIPPED: OTLP requests were not decoded: python3 cannot import opentelemetry.proto \
             (pip install opentelemetry-proto; required with CI=true)"
        );
    }
    ok
}

/// Decodes bodies (`gzip`: compressed) with the official definitions.
fn decode(dir: &Path, bodies: &[(bool, &[u8])]) -> Vec<Value> {
    let mut args = Vec::new();
    for (i, (gzip, body)) in bodies.iter().enumerate() {
        let path = dir.join(format!("body-{i}.bin"));
        std::fs::write(&path, body).unwrap();
        let enc = if *gzip { "gzip" } else { "plain" };
        args.push(format!("{enc}:{}", path.display()));
    }
    let out = Command::new("python3")
        .args(["-c", DECODE])
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "opentelemetry-proto rejected a request:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = (String::from_utf8(out.stdout).unwrap().lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), bodies.len());
    for doc in &docs {
        assert_eq!(
            doc["canonical"], true,
            "the official serializer writes other bytes"
        );
    }
    docs
}

/// One request as the receiver got it.
#[derive(Clone, Debug)]
struct Request {
    head: String,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        (self.head.lines().skip(1))
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// A receiver on 127.0.0.1 that records every request and answers 200 with an empty
/// `ExportMetricsServiceResponse`.
struct Receiver {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let log = Arc::clone(&log);
                std::thread::spawn(move || serve(stream, &log));
            }
        });
        Receiver { port, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/metrics", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, log: &Mutex<Vec<Request>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let req = Request {
            head,
            body: Vec::new(),
        };
        let len: usize = req
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap().push(Request { body, ..req });
        let reply = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                     Content-Length: 0\r\n\r\n";
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// One data point: (metric, attributes as `k="v",…`) → (value, time ms, start ms).
type Point = (String, String, f64, i64, i64);

/// The points of the batches the record says were sent.
fn read_record(path: &Path) -> Vec<Point> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    let mut sent = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# otlp batch ") {
            sent = rest.split(' ').nth(1) == Some("sent");
            continue;
        }
        if !sent {
            continue;
        }
        let (name, rest) = line.split_once('{').unwrap();
        let (attrs, nums) = rest.rsplit_once("} ").unwrap();
        let n: Vec<&str> = nums.split(' ').collect();
        out.push((
            name.to_string(),
            attrs.to_string(),
            n[0].parse().unwrap(),
            n[1].parse().unwrap(),
            n[2].parse().unwrap(),
        ));
    }
    out
}

/// As the record writes attributes.
fn label_set(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push(',');
        }
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        out.push_str(&format!("{k}=\"{v}\""));
    }
    out
}

fn pairs(v: &Value) -> Vec<(String, String)> {
    (v.as_array().unwrap().iter())
        .map(|kv| {
            (
                kv[0].as_str().unwrap().to_string(),
                kv[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// (unit, description, value kind, point attribute keys) per metric, from the semantic
/// conventions (model/container/metrics.yaml).
fn convention(
    name: &str,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
) {
    match name {
        "container.cpu.time" => ("s", "Total CPU time consumed", "as_double", &["cpu.mode"]),
        "container.memory.usage" => ("By", "Memory usage of the container.", "as_int", &[]),
        "container.network.io" => (
            "By",
            "Network bytes for the container.",
            "as_int",
            &["network.io.direction", "network.interface.name"],
        ),
        "container.disk.io" => (
            "By",
            "Disk bytes for the container.",
            "as_int",
            &["disk.io.direction"],
        ),
        other => panic!("unexpected metric {other}"),
    }
}

/// Checks the shape of every decoded request and returns its points as the record writes
/// them.
/// `network`: the names of the containers with a network interface.
fn check_shape(docs: &[Value], host_name: &str, network: &[&str]) -> Vec<Point> {
    let mut points = Vec::new();
    for doc in docs {
        for rm in doc["resource_metrics"].as_array().unwrap() {
            let resource = pairs(&rm["resource"]);
            let keys: Vec<&str> = resource.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                keys,
                [
                    "container.id",
                    "container.name",
                    "container.image.name",
                    "host.name"
                ]
            );
            assert_eq!(resource[3].1, host_name);
            assert_eq!(resource[0].1.len(), 64, "{resource:?}");
            let scopes = rm["scopes"].as_array().unwrap();
            assert_eq!(scopes.len(), 1);
            assert_eq!(scopes[0]["name"], "dockstat");
            assert_eq!(scopes[0]["version"], env!("CARGO_PKG_VERSION"));
            let mut names = Vec::new();
            for m in scopes[0]["metrics"].as_array().unwrap() {
                let name = m["name"].as_str().unwrap();
                names.push(name.to_string());
                let (unit, description, kind, attr_keys) = convention(name);
                assert_eq!(m["unit"], unit, "{name}");
                assert_eq!(m["description"], description, "{name}");
                assert_eq!(m["kind"], "sum", "{name}");
                assert_eq!(m["temporality"], 2, "{name}: cumulative");
                assert_eq!(m["monotonic"], true, "{name}");
                for p in m["points"].as_array().unwrap() {
                    assert_eq!(p["kind"], kind, "{name}");
                    let attrs = pairs(&p["attrs"]);
                    let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
                    assert_eq!(keys, attr_keys, "{name}");
                    let (start, time) = (p["start"].as_u64().unwrap(), p["time"].as_u64().unwrap());
                    assert!(start <= time && start > 0, "{name}: {start} {time}");
                    assert_eq!(time % 1_000_000, 0);
                    let all: Vec<(String, String)> =
                        resource.iter().cloned().chain(attrs).collect();
                    points.push((
                        name.to_string(),
                        label_set(&all),
                        value(p),
                        (time / 1_000_000) as i64,
                        (start / 1_000_000) as i64,
                    ));
                }
            }
            // A container without a network has no container.network.io.
            let mut want = vec![
                "container.cpu.time",
                "container.memory.usage",
                "container.network.io",
                "container.disk.io",
            ];
            if !network.contains(&resource[1].1.as_str()) {
                want.remove(2);
            }
            assert_eq!(names, want, "{resource:?}");
        }
    }
    points
}

fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

fn spawn_push(target: &[&str], url: &str, extra: &[&str], record: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dockstat"))
        .args(target)
        .args(["push", "--otlp", url, "--every", "1", "--record"])
        .arg(record)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGINT, then the exit status and stderr.
fn stop(mut child: Child) -> (i32, String) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "push did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dockstat-otlp-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sorts points for comparing as multisets.
fn sorted(mut v: Vec<Point>) -> Vec<Point> {
    v.sort_by(|a, b| {
        (&a.0, &a.1, a.3, a.4)
            .cmp(&(&b.0, &b.1, b.3, b.4))
            .then(a.2.total_cmp(&b.2))
    });
    v
}

/// Per series (metric, attributes): its points (time ms, start ms, value) in time order.
type Series = HashMap<(String, String), Vec<(i64, i64, f64)>>;

fn series(points: &[Point]) -> Series {
    let mut out: HashMap<_, Vec<_>> = HashMap::new();
    for (name, attrs, v, t, s) in points {
        out.entry((name.clone(), attrs.clone()))
            .or_default()
            .push((*t, *s, *v));
    }
    for v in out.values_mut() {
        v.sort_by_key(|p| p.0);
    }
    out
}

#[test]
fn pushed_requests_decode_as_the_semantic_conventions_say_with_the_values_sent() {
    if !decoder() {
        return;
    }
    for gzip in [false, true] {
        let dir = temp_dir(if gzip { "gzip" } else { "plain" });
        let receiver = Receiver::start();
        let record = dir.join("record.txt");
        let extra: &[&str] = if gzip { &["--otlp-gzip"] } else { &[] };
        let child = spawn_push(
            &["--sim", "6", "--sim-interval", "0.5"],
            &receiver.url(),
            extra,
            &record,
        );
        std::thread::sleep(Duration::from_millis(4500));
        let (code, stderr) = stop(child);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(stderr, "", "no failure to report");
        let requests = receiver.requests();
        assert!(requests.len() >= 3, "{} requests", requests.len());
        for r in &requests {
            assert!(
                r.head.starts_with("POST /v1/metrics HTTP/1.1\r\n"),
                "{}",
                r.head
            );
            assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
            let encoding = r.header("content-encoding");
            assert_eq!(encoding, gzip.then_some("gzip"), "{}", r.head);
            let agent = r.header("user-agent").unwrap_or_default();
            assert!(agent.starts_with("dockstat/"), "{agent}");
            if gzip {
                assert_eq!(&r.body[..2], [0x1f, 0x8b]);
            }
        }
        let bodies: Vec<(bool, &[u8])> = requests.iter().map(|r| (gzip, &r.body[..])).collect();
        let docs = decode(&dir, &bodies);
        // The sim's net-N containers have an eth0; the others no network.
        let got = check_shape(&docs, &machine_name(), &["net-6"]);
        let sent = read_record(&record);
        assert!(!sent.is_empty());
        // What the receiver decoded is what push recorded as sent, point for point.
        let (got, sent) = (sorted(got), sorted(sent));
        assert_eq!(got.len(), sent.len());
        for (g, s) in got.iter().zip(&sent) {
            assert_eq!((&g.0, &g.1, g.3, g.4), (&s.0, &s.1, s.3, s.4));
            assert_eq!(g.2, s.2, "{g:?}");
        }
        // Six containers; each series' points later and never lower,
        // all from one start (no restart here), the first sample's time or earlier.
        let all = series(&got);
        let ids: std::collections::HashSet<&str> = (all.keys())
            .map(|(_, a)| a.split(',').next().unwrap())
            .collect();
        assert_eq!(ids.len(), 6, "{ids:?}");
        assert!(
            all.keys()
                .any(|(_, a)| a.ends_with("network.interface.name=\"eth0\""))
        );
        let mut rising = 0;
        for ((name, attrs), points) in &all {
            let start = points[0].1;
            assert!(start <= points[0].0, "{name}{{{attrs}}}");
            for w in points.windows(2) {
                assert!(w[1].0 > w[0].0, "{name}{{{attrs}}}: times {points:?}");
                assert_eq!(w[1].1, start, "{name}{{{attrs}}}: one start {points:?}");
                if name != "container.memory.usage" {
                    assert!(w[1].2 >= w[0].2, "{name}{{{attrs}}}: monotonic {points:?}");
                }
            }
            rising += usize::from(points.last().unwrap().2 > points[0].2);
        }
        assert!(rising > 0, "some counter advanced");
        eprintln!(
            "gzip={gzip}: {} requests, {} points in {} series decoded as sent",
            requests.len(),
            got.len(),
            all.len()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `docker stop` then `docker start` of a container: its counters begin again, and so does
/// its series, with a new start time; the other container's series goes on.
#[test]
fn a_restarted_container_starts_a_new_series() {
    if !decoder() {
        return;
    }
    let dir = temp_dir("restart");
    let sock = dir.join("sim.sock");
    let sim = Sim::start(
        Listen::Unix(sock.clone()),
        SimConfig {
            containers: 2,
            interval: Duration::from_millis(500),
            ..SimConfig::default()
        },
    )
    .unwrap();
    let receiver = Receiver::start();
    let record = dir.join("record.txt");
    let host = format!("unix://{}", sock.display());
    let child = spawn_push(&["-H", &host], &receiver.url(), &["--otlp-gzip"], &record);
    std::thread::sleep(Duration::from_secs(3));
    sim.stop("busy-1").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sim.start_container("busy-1").unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    let requests = receiver.requests();
    let bodies: Vec<(bool, &[u8])> = requests.iter().map(|r| (true, &r.body[..])).collect();
    let docs = decode(&dir, &bodies);
    let got = check_shape(&docs, &machine_name(), &[]);
    let all = series(&got);
    let key = |name: &str| {
        (all.iter())
            .find(|((n, a), _)| {
                n == "container.cpu.time"
                    && a.contains("container.name=\"busy-1\"")
                    && a.ends_with(&format!("cpu.mode=\"{name}\""))
            })
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let user = key("user");
    let mut starts: Vec<i64> = user.iter().map(|p| p.1).collect();
    starts.dedup();
    assert_eq!(starts.len(), 2, "two series of busy-1: {user:?}");
    // The second series starts after the first series' last point, at or before its own
    // first point (a batch carries a row's latest reading: on a busy machine the first one
    // after the restart may already be the second), and its value starts again lower.
    let second = user.iter().position(|p| p.1 == starts[1]).unwrap();
    assert!(user[second].0 >= starts[1], "{user:?}");
    assert!(starts[1] > user[second - 1].0, "{user:?}");
    assert!(user[second].2 < user[second - 1].2, "{user:?}");
    // The other container goes on, one series.
    let idle: Vec<_> = (all.iter())
        .filter(|((n, a), _)| n == "container.disk.io" && !a.contains("busy-1"))
        .collect();
    assert!(!idle.is_empty());
    for (_, points) in idle {
        assert!(points.windows(2).all(|w| w[0].1 == w[1].1), "{points:?}");
    }
    sim.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// OTLP's `as_int` is an `int64`: a counter beyond it is sent as its largest value.
fn int(v: u64) -> u64 {
    v.min(i64::MAX as u64)
}

fn row(id: &str, name: &str, image: &str, host: &str, ifaces: &[String], n: u64) -> Row {
    let mut pairs = vec![
        ("host".to_string(), host.to_string()),
        ("id".to_string(), id.to_string()),
        ("name".to_string(), name.to_string()),
    ];
    if !image.is_empty() {
        pairs.push(("image".to_string(), image.to_string()));
    }
    Row {
        labels: Arc::from(format!("id={id:?}")),
        pairs: pairs.into(),
        read_ms: 1_700_000_000_000 + (n >> 40) as i64,
        cpu_nanos: n,
        cpu_percent: 0.0,
        mem_used: n,
        mem_limit: 0,
        mem_cache: None,
        net_rx: 0,
        net_tx: 0,
        block_read: n.wrapping_mul(7),
        block_write: u64::MAX - n,
        pids: 0,
        cpu_user_nanos: n / 2,
        cpu_system_nanos: n,
        throttling: Default::default(),
        cpu_limit: None,
        pressure: Default::default(),
        start_ms: 1_600_000_000_000,
        networks: (ifaces.iter())
            .enumerate()
            .map(|(i, f)| (f.clone(), i as u64, u64::MAX - i as u64))
            .collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Arbitrary ids, names, images, host names and interface names (any Unicode, quotes,
    /// newlines, long ones) decode with the official definitions as written, gzip or not.
    #[test]
    fn arbitrary_attribute_strings_decode_as_written(
        rows in proptest::collection::vec(
            (".{1,20}", ".{0,20}", prop_oneof![".{0,10}", ".{130,200}"],
             proptest::collection::btree_set(".{0,12}", 0..3), any::<u64>()),
            1..4,
        ),
        host_name in ".{1,40}",
        gzip in any::<bool>(),
    ) {
        if !decoder() {
            return Ok(());
        }
        let rows: Vec<Row> = (rows.iter())
            .map(|(id, name, image, ifaces, n)| {
                // Interface names are a map's keys in a frame: distinct.
                let ifaces: Vec<String> = ifaces.iter().cloned().collect();
                row(id, name, image, "tcp://h:1", &ifaces, *n)
            })
            .collect();
        let batch = Batch {
            seq: 1,
            taken_ms: 0,
            snapshot: Snapshot { rows: rows.clone(), ..Snapshot::default() },
            ended: Vec::new(),
        };
        let mut otlp = Otlp::new(vec![("tcp://h:1".into(), host_name.clone())], gzip);
        let mut body = Vec::new();
        let n = otlp.encode(&batch, &PushStats::default(), 0, &mut body);
        let dir = temp_dir("prop");
        let docs = decode(&dir, &[(gzip, &body)]);
        let rms = docs[0]["resource_metrics"].as_array().unwrap();
        prop_assert_eq!(rms.len(), rows.len());
        let mut points = 0;
        for (rm, row) in rms.iter().zip(&rows) {
            let resource = pairs(&rm["resource"]);
            let find = |k: &str| (row.pairs.iter()).find(|p| p.0 == k).map(|p| p.1.clone());
            let mut want = vec![("container.id".to_string(), find("id").unwrap())];
            for (key, value) in [
                ("container.name", find("name").unwrap_or_default()),
                ("container.image.name", find("image").unwrap_or_default()),
                ("host.name", host_name.clone()),
            ] {
                if !value.is_empty() {
                    want.push((key.to_string(), value));
                }
            }
            prop_assert_eq!(resource, want);
            for m in rm["scopes"][0]["metrics"].as_array().unwrap() {
                for p in m["points"].as_array().unwrap() {
                    points += 1;
                    prop_assert_eq!(p["start"].as_u64(), Some(1_600_000_000_000 * 1_000_000));
                    prop_assert_eq!(p["time"].as_u64(), Some(row.read_ms as u64 * 1_000_000));
                    let value = &p["value"];
                    let double = self::value(p);
                    let attrs = pairs(&p["attrs"]);
                    match m["name"].as_str().unwrap() {
                        "container.cpu.time" => {
                            let ns = if attrs[0].1 == "user" { row.cpu_user_nanos } else { row.cpu_system_nanos };
                            prop_assert_eq!(double.to_bits(), (ns as f64 / 1e9).to_bits());
                        }
                        "container.memory.usage" => prop_assert_eq!(value.as_u64(), Some(int(row.mem_used))),
                        "container.disk.io" => {
                            let v = if attrs[0].1 == "read" { row.block_read } else { row.block_write };
                            prop_assert_eq!(value.as_u64(), Some(int(v)));
                        }
                        "container.network.io" => {
                            let iface = (row.networks.iter()).find(|f| f.0 == attrs[1].1).unwrap();
                            let v = if attrs[0].1 == "receive" { iface.1 } else { iface.2 };
                            prop_assert_eq!(value.as_u64(), Some(int(v)));
                        }
                        other => prop_assert!(false, "{}", other),
                    }
                }
            }
        }
        prop_assert_eq!(points, n);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn bad_otlp_arguments_get_one_line_and_their_exit_code() {
    let url = "http://127.0.0.1:1/v1/metrics";
    for (args, code, words) in [
        (
            &["--sim", "1", "push", "--remote-write", url, "--otlp-gzip"][..],
            2,
            "--otlp-gzip needs --otlp URL",
        ),
        (
            &["--sim", "1", "push", "--otlp", "ftp://127.0.0.1/v1/metrics"],
            3,
            "invalid push URL ftp://127.0.0.1/v1/metrics: the scheme must be http:// or https://",
        ),
        (
            &[
                "--sim",
                "1",
                "push",
                "--otlp",
                url,
                "--header",
                "Content-Encoding: gzip",
            ],
            2,
            "dockstat sets Content-Encoding itself",
        ),
        (
            &["--sim", "1", "push", "--otlp", url, "--push-tlscert", "/x"],
            2,
            "need an https:// URL",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dockstat"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("dockstat: ") && stderr.contains(words),
            "{args:?}: {stderr}"
        );
    }
}

/// `--remote-write` to a closed loopback port and `--otlp` to the receiver: OTLP gets every
/// batch while remote-write retries and drops, each with its own buffer and counters.
#[test]
fn with_both_receivers_one_down_does_not_hold_up_the_other() {
    let receiver = Receiver::start();
    let dir = temp_dir("both");
    let record = dir.join("record.txt");
    let down = format!("http://127.0.0.1:{}/api/v1/write", closed_port());
    let child = spawn_push(
        &["--sim", "2", "--sim-interval", "0.5"],
        &receiver.url(),
        &["--remote-write", &down, "--buffer", "2", "--timeout", "1"],
        &record,
    );
    std::thread::sleep(Duration::from_millis(5500));
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with(&format!("dockstat: push to {down}: cannot connect")),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with(&format!("dockstat: push to {down}: ")),
        "{stderr}"
    );
    assert!(lines[1].contains("batches not delivered"), "{stderr}");
    let text = std::fs::read_to_string(&record).unwrap();
    let otlp_sent = text.matches("# otlp batch ").count();
    let otlp_ok = (text.lines())
        .filter(|l| l.starts_with("# otlp batch ") && l.contains(" sent "))
        .count();
    let rw_dropped = (text.lines())
        .filter(|l| l.starts_with("# batch ") && l.contains(" dropped "))
        .count();
    assert!(otlp_sent >= 5, "{text}");
    assert_eq!(otlp_ok, otlp_sent, "every OTLP batch delivered");
    assert_eq!(receiver.requests().len(), otlp_ok);
    assert!(
        rw_dropped >= 3,
        "remote-write's dropped batches: {rw_dropped}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Against the real daemon (`DOCKSTAT_REAL_DOCKER`): a container of ours gets the resource
/// attributes docker v28 shows for it (`docker run`'s id, `docker ps`'s Names and Image),
/// no network points only where `docker stats` shows no network I/O, and the memory
/// `docker stats --no-stream` shows.
#[test]
fn a_real_daemons_container_has_the_id_name_image_and_memory_docker_shows() {
    let Some(host) = real::url() else {
        return;
    };
    if !decoder() {
        return;
    }
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", &host)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .output()
            .expect("the docker CLI");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let name = format!("i17-otlp-{}", std::process::id());
    /// Removes the container also when the test fails.
    struct Remove<'a>(&'a dyn Fn(&[&str]) -> String, &'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            (self.0)(&["rm", "-f", self.1]);
        }
    }
    let id = docker(&["run", "-d", "--name", &name, "bb:latest", "sleep", "100000"]);
    let _remove = Remove(&docker, &name);
    assert_eq!(id.len(), 64, "docker run: {id:?}");
    let receiver = Receiver::start();
    let dir = temp_dir("real");
    let record = dir.join("record.txt");
    let child = spawn_push(&["-H", &host], &receiver.url(), &[], &record);
    std::thread::sleep(Duration::from_secs(5));
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    let requests = receiver.requests();
    let bodies: Vec<(bool, &[u8])> = requests.iter().map(|r| (false, &r.body[..])).collect();
    let docs = decode(&dir, &bodies);
    let points = check_shape(&docs, &host_name_of(&host), &[]);
    let ours: Vec<&Point> = (points.iter())
        .filter(|p| p.1.starts_with(&format!("container.id=\"{id}\",")))
        .collect();
    assert!(!ours.is_empty(), "no point of {name}");
    let image = docker(&[
        "ps",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.Image}}",
    ]);
    let resource = format!(
        "container.id=\"{id}\",container.name=\"{name}\",container.image.name=\"{image}\",host.name="
    );
    assert!(
        ours.iter().all(|p| p.1.starts_with(&resource)),
        "{:?}",
        ours[0]
    );
    // Network points when the frames have interfaces; without, docker shows none either
    // (this daemon's bridge gives its containers no interface but lo).
    let net_io = docker(&["stats", "--no-stream", "--format", "{{.NetIO}}", &name]);
    if !(ours.iter()).any(|p| p.0 == "container.network.io") {
        assert_eq!(net_io, "0B / 0B");
    }
    // docker stats rounds (`428KiB`, `1.2MiB`): within its last digit, or 5 %.
    let shown = docker(&["stats", "--no-stream", "--format", "{{.MemUsage}}", &name]);
    let used = shown.split(" / ").next().unwrap();
    let (num, unit) = used.split_at(used.find(|c: char| c.is_ascii_alphabetic()).unwrap());
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("{other}"),
    };
    let docker_bytes: f64 = num.parse::<f64>().unwrap() * scale;
    let pushed = (ours.iter())
        .filter(|p| p.0 == "container.memory.usage")
        .max_by_key(|p| p.3)
        .unwrap()
        .2;
    let slack = (docker_bytes * 0.05).max(scale * 0.1);
    assert!(
        (pushed - docker_bytes).abs() <= slack,
        "container.memory.usage {pushed}, docker stats {shown}"
    );
    eprintln!("{name}: memory {pushed} B pushed, docker stats {shown}; image {image}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// What push sends as `host.name` for the daemon at `url`.
fn host_name_of(url: &str) -> String {
    if url.starts_with("unix://") {
        return machine_name();
    }
    let rest = url.split_once("://").unwrap().1;
    rest.split(['/', ':']).next().unwrap().to_string()
}
