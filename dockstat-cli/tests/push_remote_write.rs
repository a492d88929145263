//! `dockstat push` against a real Prometheus (2.42, `--web.enable-remote-write-receiver`) on
//! 127.0.0.1: every sample the push recorded as sent is in Prometheus with the same labels,
//! value and timestamp, and nothing else is; then with Prometheus stopped (SIGSTOP) for
//! longer than a small buffer holds, nothing within the buffer is lost and the loss beyond it
//! is counted, with one stderr line when delivery fails and one when it resumes.
//!
//! Without a `prometheus` binary these tests say SKIPPED, unless `CI=true` or
//! `DOCKSTAT_REQUIRE_PROM_PARSER=1` (as for tests/serve.rs: Debian's `prometheus` package
//! brings promtool and the server alike), which make them fail.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Labels = BTreeMap<String, String>;
/// Per series: (timestamp ms, value bits).
type Samples = HashMap<Labels, Vec<(i64, u64)>>;

fn prometheus_binary() -> Option<PathBuf> {
    let require = std::env::var("DOCKSTAT_REQUIRE_PROM_PARSER").as_deref() == Ok("1")
        || std::env::var("CI").as_deref() == Ok("true");
    let found = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            !require,
            "a Prometheus server is required (DOCKSTAT_REQUIRE_PROM_PARSER=1 or CI=true) but \
             there is no prometheus binary (apt-get install prometheus)"
        );
        eprintln!(
            "SKIPPED: push was not checked against Prometheus, which is not installed \
             (apt-get install prometheus; required with CI=true)"
        );
    }
    found
}

struct Prometheus {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// The binary and its arguments, to start it again.
    command: (PathBuf, Vec<String>),
    /// The status of `/-/ready` once it is.
    ready: u16,
}

impl Prometheus {
    fn start(binary: &Path, name: &str) -> Prometheus {
        Prometheus::start_with(binary, name, None)
    }

    /// With `web`: a `--web.config.file` (TLS); then any answer to plain HTTP means ready.
    fn start_with(binary: &Path, name: &str, web: Option<&dyn Fn(&Path) -> String>) -> Prometheus {
        let dir = std::env::temp_dir().join(format!("dockstat-push-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // Scrapes nothing (no scrape_configs); only what is pushed.
        std::fs::write(dir.join("minimal.yml"), "global:\n  scrape_interval: 1h\n").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut args = Vec::new();
        if let Some(web) = web {
            std::fs::write(dir.join("web.yml"), web(&dir)).unwrap();
            args.push(format!(
                "--web.config.file={}",
                dir.join("web.yml").display()
            ));
        }
        args.extend([
            "--web.enable-remote-write-receiver".to_string(),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            format!("--config.file={}", dir.join("minimal.yml").display()),
        ]);
        let command = (binary.to_path_buf(), args);
        let mut p = Prometheus {
            child: launch(&command, &dir),
            port,
            dir,
            command,
            ready: if web.is_some() { 400 } else { 200 },
        };
        p.wait_ready();
        p
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(self.port, "/-/ready").map(|(c, _)| c) != Some(self.ready) {
            assert!(
                Instant::now() < deadline && self.child.try_wait().unwrap().is_none(),
                "Prometheus did not get ready: {}",
                std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops it (SIGTERM, as a service manager would), waits `down`, and starts it again on
    /// the same port and storage.
    fn restart(&mut self, down: Duration) {
        self.signal(libc::SIGTERM);
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.child = launch(&self.command, &self.dir);
        self.wait_ready();
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0);
    }

    /// Every raw sample of every series named `name` within the last hour.
    fn samples(&self, name: &str, into: &mut Samples) {
        let (code, body) =
            http_get(self.port, &format!("/api/v1/query?query={name}%5B1h%5D")).expect("query");
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for series in doc["data"]["result"].as_array().unwrap() {
            let labels: Labels = (series["metric"].as_object().unwrap().iter())
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let values = (series["values"].as_array().unwrap().iter())
                .map(|pair| {
                    let t = pair[0].as_f64().unwrap();
                    let v: f64 = pair[1].as_str().unwrap().parse().unwrap();
                    ((t * 1000.0).round() as i64, v.to_bits())
                })
                .collect();
            into.insert(labels, values);
        }
    }
}

/// Starts Prometheus, its log appended to `dir/prometheus.log`.
fn launch((binary, args): &(PathBuf, Vec<String>), dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("prometheus.log"))
        .unwrap();
    Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bodiless GET on 127.0.0.1 (Connection: close): the status and body.
fn http_get(port: u16, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut all = Vec::new();
    s.read_to_end(&mut all).ok()?;
    let end = all.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&all[..end]).to_string();
    let code = head.split(' ').nth(1)?.parse().ok()?;
    Some((code, all[end + 4..].to_vec()))
}

/// Parses `name{a="b",…} value ts` (values escaped as the exposition escapes them).
fn parse_line(line: &str) -> (Labels, i64, u64) {
    let open = line.find('{').unwrap();
    let mut labels = Labels::new();
    labels.insert("__name__".into(), line[..open].to_string());
    let mut chars = line[open + 1..].chars().peekable();
    loop {
        if chars.peek() == Some(&'}') {
            chars.next();
            break;
        }
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => panic!("{line}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name, value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    let rest: String = chars.collect();
    let mut fields = rest.split_whitespace();
    let value: f64 = fields.next().unwrap().parse().unwrap();
    let ts: i64 = fields.next().unwrap().parse().unwrap();
    (labels, ts, value.to_bits())
}

/// The record: per outcome, the batch count; and every sent container sample.
fn read_record(path: &Path) -> (HashMap<String, u64>, Samples) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut outcomes = HashMap::new();
    let mut sent = Samples::new();
    let mut outcome = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# batch ") {
            outcome = rest.split(' ').nth(1).unwrap().to_string();
            *outcomes.entry(outcome.clone()).or_insert(0) += 1;
            continue;
        }
        // Staleness markers end a series; a query does not return them.
        if outcome == "sent"
            && line.starts_with("dockstat_container_")
            && !line.contains(" StaleNaN ")
        {
            let (labels, ts, v) = parse_line(line);
            sent.entry(labels).or_default().push((ts, v));
        }
    }
    (outcomes, sent)
}

/// The families every container of the sim has.
const CONTAINER_FAMILIES: [&str; 12] = [
    "dockstat_container_cpu_seconds_total",
    "dockstat_container_cpu_user_seconds_total",
    "dockstat_container_cpu_system_seconds_total",
    "dockstat_container_cpu_percent",
    "dockstat_container_memory_used_bytes",
    "dockstat_container_memory_limit_bytes",
    "dockstat_container_memory_cache_bytes",
    "dockstat_container_network_receive_bytes_total",
    "dockstat_container_network_transmit_bytes_total",
    "dockstat_container_block_read_bytes_total",
    "dockstat_container_block_write_bytes_total",
    "dockstat_container_pids",
];

/// The families only a container with a CPU limit has (the sim's busy and writer; the
/// pressure families need the cgroupfs source on cgroup v2, so the sim has none).
const LIMIT_FAMILIES: [&str; 5] = [
    "dockstat_container_cpu_cfs_periods_total",
    "dockstat_container_cpu_cfs_throttled_periods_total",
    "dockstat_container_cpu_cfs_throttled_seconds_total",
    "dockstat_container_spec_cpu_quota",
    "dockstat_container_spec_cpu_period",
];

fn push(prom: &Prometheus, sim: usize, extra: &[&str], record: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dockstat"))
        .args(["--sim", &sim.to_string(), "--sim-interval", "0.5", "push"])
        .args(["--remote-write", &prom.url(), "--every", "1", "--record"])
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

fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every sample recorded as sent is in Prometheus, and Prometheus has no other.
fn assert_prometheus_has_exactly(prom: &Prometheus, sent: &Samples) {
    let mut stored = Samples::new();
    for name in CONTAINER_FAMILIES.iter().chain(&LIMIT_FAMILIES) {
        prom.samples(name, &mut stored);
    }
    assert_eq!(
        stored.len(),
        sent.len(),
        "series in Prometheus {:?}\nseries sent {:?}",
        stored.keys().collect::<Vec<_>>(),
        sent.keys().collect::<Vec<_>>()
    );
    let mut checked = 0;
    for (labels, samples) in sent {
        let mut want = samples.clone();
        want.sort();
        want.dedup();
        let mut got = stored
            .get(labels)
            .unwrap_or_else(|| panic!("{labels:?} is not in Prometheus"))
            .clone();
        got.sort();
        assert_eq!(got, want, "{labels:?}");
        checked += want.len();
    }
    eprintln!(
        "{checked} samples of {} series found in Prometheus as sent",
        sent.len()
    );
}

#[test]
fn pushed_series_land_in_prometheus_with_the_values_sent() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let prom = Prometheus::start(&binary, "exact");
    let record = prom.dir.join("record.txt");
    let child = push(
        &prom,
        4,
        &["--label", "dc=eu-1", "--label", "job=agents"],
        &record,
    );
    wait_for("four sent batches", 30, || {
        read_record(&record).0.get("sent").copied().unwrap_or(0) >= 4
    });
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("push to"), "no failure expected: {stderr}");
    let (outcomes, sent) = read_record(&record);
    assert_eq!(outcomes.get("dropped"), None, "{outcomes:?}");
    assert_eq!(outcomes.get("failed"), None, "{outcomes:?}");
    // Every container, every family (the sim's cgroup v1 frames have a page cache).
    let names: std::collections::HashSet<&str> = sent.keys().map(|l| l["name"].as_str()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for family in CONTAINER_FAMILIES {
        let with = sent.keys().filter(|l| l["__name__"] == family).count();
        assert_eq!(with, 4, "{family}");
    }
    // busy-1 runs under a CPU limit: its throttling and limit series went too.
    for family in LIMIT_FAMILIES {
        assert!(
            sent.keys()
                .any(|l| l["__name__"] == family && l["name"] == "busy-1"),
            "{family}"
        );
    }
    // A reading per batch: several timestamps per series.
    assert!(sent.values().all(|s| s.len() >= 3), "{sent:?}");
    // What a scrape would add, and --label: on every series (`job` replaced).
    let machine = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for labels in sent.keys() {
        assert_eq!(
            labels.get("instance").map(String::as_str),
            Some(machine.trim())
        );
        assert_eq!(labels.get("job").map(String::as_str), Some("agents"));
        assert_eq!(labels.get("dc").map(String::as_str), Some("eu-1"));
    }
    assert_prometheus_has_exactly(&prom, &sent);
    // The sender's own series and the engine's arrived too.
    let mut own = Samples::new();
    prom.samples("dockstat_push_sent_batches_total", &mut own);
    prom.samples("dockstat_engine_frames_total", &mut own);
    prom.samples("dockstat_host_up", &mut own);
    assert_eq!(own.len(), 3, "{own:?}");
    // The engine's histograms, as serve exposes them: 24 buckets and +Inf, sum and count.
    let mut hist = Samples::new();
    prom.samples("dockstat_engine_delivery_lag_seconds_bucket", &mut hist);
    assert_eq!(hist.len(), 25, "{:?}", hist.keys().collect::<Vec<_>>());
    assert!(hist.keys().any(|l| l["le"] == "+Inf"));
    let mut count = Samples::new();
    prom.samples("dockstat_engine_delivery_lag_seconds_count", &mut count);
    let frames = (count.values().flatten())
        .map(|&(_, v)| f64::from_bits(v))
        .fold(0.0, f64::max);
    assert!(frames > 0.0, "{count:?}");
}

#[test]
fn a_paused_receiver_loses_only_what_the_buffer_cannot_hold() {
    // Paused: connections are accepted by the kernel and never answered (timeouts).
    outage("paused", 2..=8, |prom| {
        prom.signal(libc::SIGSTOP);
        std::thread::sleep(Duration::from_secs(8));
        prom.signal(libc::SIGCONT);
    });
}

#[test]
fn a_stopped_and_restarted_receiver_loses_only_what_the_buffer_cannot_hold() {
    // Stopped: connections are refused; started again on the same storage, it has what it
    // stored before and takes the buffered batches.
    // Down for 7 s and its start-up (a few seconds more on a loaded machine).
    outage("restarted", 2..=20, |prom| {
        prom.restart(Duration::from_secs(7))
    });
}

/// Pushes a batch a second with a buffer of three, takes the receiver away with `down` for
/// some seconds, and checks what arrived and what was counted: batches dropped within
/// `expected` (a batch a second while it is away, less the three kept).
fn outage(name: &str, expected: std::ops::RangeInclusive<u64>, down: impl FnOnce(&mut Prometheus)) {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let mut prom = Prometheus::start(&binary, &format!("outage-{name}"));
    let record = prom.dir.join("record.txt");
    let child = push(&prom, 3, &["--buffer", "3", "--timeout", "1"], &record);
    wait_for("two sent batches", 30, || {
        read_record(&record).0.get("sent").copied().unwrap_or(0) >= 2
    });
    down(&mut prom);
    wait_for("the buffered batches to be sent", 60, || {
        let (outcomes, _) = read_record(&record);
        outcomes.get("dropped").copied().unwrap_or(0) > 0
            && outcomes.get("sent").copied().unwrap_or(0) >= 2 + 3 + 2
    });
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    let (outcomes, sent) = read_record(&record);
    let dropped = outcomes.get("dropped").copied().unwrap_or(0);
    eprintln!("outcomes {outcomes:?}\n{stderr}");
    assert!(expected.contains(&dropped), "{outcomes:?}");
    let lines: Vec<&str> = stderr.lines().collect();
    let failing = lines.iter().filter(|l| l.contains("; retrying")).count();
    let again = lines
        .iter()
        .filter(|l| l.contains("delivering again"))
        .count();
    assert!(
        // One reason, or two (a restarting Prometheus refuses, then may answer 503 while
        // it starts), or three (refused again between them).
        (1..=3).contains(&failing),
        "one line per failure state, not per retry:\n{stderr}"
    );
    assert_eq!(again, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("{dropped} dropped")),
        "the exit line counts the dropped batches:\n{stderr}"
    );
    // Nothing within the buffer was lost, and nothing of the dropped batches arrived.
    assert_prometheus_has_exactly(&prom, &sent);
    // The loss is counted in the pushed self-metrics too.
    let mut own = Samples::new();
    prom.samples("dockstat_push_dropped_batches_total", &mut own);
    let max = own
        .values()
        .flatten()
        .map(|&(_, v)| f64::from_bits(v))
        .fold(0.0, f64::max);
    assert!(max >= 1.0, "{own:?}");
}

#[test]
fn push_over_tls_presents_the_client_certificate_the_receiver_requires() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let web = |dir: &Path| {
        let pki =
            dockstat_sim::certs::Pki::generate(&dir.join("pki"), &Default::default()).unwrap();
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  \
             client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            pki.server.cert.display(),
            pki.server.key.display(),
            pki.ca.cert.display()
        )
    };
    let prom = Prometheus::start_with(&binary, "tls", Some(&web));
    let pki = prom.dir.join("pki");
    let url = format!("https://127.0.0.1:{}/api/v1/write", prom.port);
    let run = |extra: &[&str], record: &Path| {
        Command::new(env!("CARGO_BIN_EXE_dockstat"))
            .args(["--sim", "2", "--sim-interval", "0.5", "push"])
            .args([
                "--remote-write",
                &url,
                "--every",
                "1",
                "--timeout",
                "2",
                "--record",
            ])
            .arg(record)
            .args(["--push-tlscacert", pki.join("ca.pem").to_str().unwrap()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let record = prom.dir.join("record.txt");
    let child = run(
        &[
            "--push-tlscert",
            pki.join("cert.pem").to_str().unwrap(),
            "--push-tlskey",
            pki.join("key.pem").to_str().unwrap(),
        ],
        &record,
    );
    wait_for("two batches over TLS", 30, || {
        read_record(&record).0.get("sent").copied().unwrap_or(0) >= 2
    });
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("push to"), "{stderr}");
    // Without the client certificate: refused in the handshake, said once.
    let record = prom.dir.join("record-nocert.txt");
    let child = run(&[], &record);
    std::thread::sleep(Duration::from_secs(4));
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    let failing: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("; retrying"))
        .collect();
    assert_eq!(failing.len(), 1, "{stderr}");
    assert!(
        failing[0].contains("requires a client certificate"),
        "{stderr}"
    );
    assert!(failing[0].contains("--push-tlscert"), "{stderr}");
    assert_eq!(read_record(&record).0.get("sent"), None);
}

fn dockstat(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dockstat"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_push_arguments_get_one_line_and_their_exit_code() {
    for (args, code, words) in [
        (
            &["--sim", "1", "push"][..],
            2,
            "push needs --remote-write URL",
        ),
        (
            &["--sim", "1", "push", "--remote-write", "ftp://127.0.0.1/w"],
            3,
            "invalid push URL ftp://127.0.0.1/w: the scheme must be http:// or https://",
        ),
        (
            &[
                "--sim",
                "1",
                "push",
                "--remote-write",
                "http://127.0.0.1:99999/w",
            ],
            3,
            "the port must be a number",
        ),
        (
            &[
                "--sim",
                "1",
                "push",
                "--remote-write",
                "http://127.0.0.1/w",
                "--header",
                "X",
            ],
            2,
            "expected 'Name: value'",
        ),
        (
            &[
                "--sim",
                "1",
                "push",
                "--remote-write",
                "http://127.0.0.1/w",
                "--header",
                "Content-Type: text/plain",
            ],
            2,
            "dockstat sets Content-Type itself",
        ),
        (
            &[
                "--sim",
                "1",
                "push",
                "--remote-write",
                "http://127.0.0.1/w",
                "--buffer",
                "0",
            ],
            2,
            "at least 1 batch",
        ),
        (
            &[
                "--sim",
                "1",
                "push",
                "--remote-write",
                "http://127.0.0.1/w",
                "--push-tlscacert",
                "/nonexistent/ca.pem",
            ],
            2,
            "need an https:// URL",
        ),
        (
            &[
                "--sim",
                "1",
                "push",
                "--remote-write",
                "https://127.0.0.1/w",
                "--push-tlscacert",
                "/nonexistent/ca.pem",
            ],
            58,
            "no such file or directory",
        ),
    ] {
        let (got, stderr) = dockstat(args);
        assert_eq!(got, code, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("dockstat: ") && stderr.contains(words),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn an_unreachable_receiver_is_one_line_and_ctrl_c_still_exits_0() {
    // A closed loopback port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let child = Command::new(env!("CARGO_BIN_EXE_dockstat"))
        .args([
            "--sim",
            "2",
            "--sim-interval",
            "0.5",
            "push",
            "--remote-write",
            &url,
        ])
        .args(["--every", "0.5", "--timeout", "1", "--buffer", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let started = Instant::now();
    let (code, stderr) = stop(child);
    assert_eq!(code, 0, "{stderr}");
    // Ctrl-C gives up within --timeout.
    assert!(started.elapsed() < Duration::from_secs(5), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(
        lines[0],
        format!(
            "dockstat: push to {url}: cannot connect: connection refused; retrying, keeping up \
             to 2 batches meanwhile"
        )
    );
    assert!(lines[1].contains("batches not delivered"), "{stderr}");
}

#[test]
fn containers_that_go_end_with_a_staleness_marker() {
    let Some(binary) = prometheus_binary() else {
        return;
    };
    let prom = Prometheus::start(&binary, "churn");
    // A container stopped (and a new one started) every 2 s.
    let churn = Command::new(env!("CARGO_BIN_EXE_dockstat"))
        .args([
            "--sim",
            "3",
            "--sim-interval",
            "0.5",
            "--sim-churn",
            "2",
            "push",
        ])
        .args(["--remote-write", &prom.url(), "--every", "1", "--record"])
        .arg(prom.dir.join("churn.txt"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(7));
    let (code, stderr) = stop(churn);
    assert_eq!(code, 0, "{stderr}");
    // Per pids series of the churning run: is its last entry a value or a marker?
    let text = std::fs::read_to_string(prom.dir.join("churn.txt")).unwrap();
    let mut last: HashMap<String, (i64, bool)> = HashMap::new();
    let mut markers = 0;
    for line in text
        .lines()
        .filter(|l| l.starts_with("dockstat_container_pids{"))
    {
        let stale = line.contains(" StaleNaN ");
        markers += usize::from(stale);
        let (labels, ts, _) = parse_line(&line.replace(" StaleNaN ", " 0 "));
        let id = labels["id"].clone();
        if last.get(&id).is_none_or(|&(t, _)| ts > t) {
            last.insert(id, (ts, stale));
        }
    }
    assert!(markers >= 2, "{markers} markers");
    let mut live: Vec<String> = (last.iter())
        .filter(|(_, (_, stale))| !stale)
        .map(|(id, _)| id.clone())
        .collect();
    live.sort();
    // An instant query (5 minutes' lookback) finds only those: the others ended.
    let (status, body) =
        http_get(prom.port, "/api/v1/query?query=dockstat_container_pids").unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let mut found: Vec<String> = (doc["data"]["result"].as_array().unwrap().iter())
        .map(|r| r["metric"]["id"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    assert_eq!(found, live);
    assert!(
        last.len() > live.len(),
        "{} series, {} live",
        last.len(),
        live.len()
    );
}
