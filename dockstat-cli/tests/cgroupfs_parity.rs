//! Against a real Docker daemon: `dockstat stats --source cgroupfs` (the container's cgroup
//! files) gives the numbers `--source api` (the daemon's stats stream) gives, on the same
//! containers at the same moments, and the `docker stats` texts the docker CLI prints.
//!
//! Three containers of the test's own, idle once they are ready:
//! - `mem`: `--memory 64m`, 8 MB written to a file (page cache: `mem_usage` ≠ `mem_used`);
//! - `cpu`: `--cpus 0.1`, a busy loop first (CPU time and throttling), then traffic on its
//!   own loopback (which docker does not count: NET I/O stays `0B / 0B`);
//! - `io`: 4 MB written with fsync, with a (generous) write and read limit on the daemon's data
//!   disk, so that the kernel accounts its block I/O (cgroup v1 counts a cgroup's bios in
//!   `blkio.throttle.*` only where a limit is set on the device on recent kernels).
//!
//! Memory usage, limit and cache, PIDs, block I/O and network counters must be identical;
//! counters of CPU time within what the sampling moments explain (the range the API's
//! samples span over the same seconds, plus one 10 ms tick).
//!
//! Runs when `DOCKSTAT_REAL_DOCKER` names the daemon (`unix:///tmp/dockerd-test/docker.sock`);
//! otherwise says it was skipped, or fails when `DOCKSTAT_REQUIRE_REAL_DOCKER=1`. The local
//! source reads this machine's `/sys/fs/cgroup` and `/proc`, so the daemon must be local.

mod common;
use common::real;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

/// The daemon's URL, and the lock that runs these tests one at a time.
fn daemon() -> Option<(String, MutexGuard<'static, ()>)> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let host = real::url()?;
    Some((
        host,
        ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()),
    ))
}

fn docker_command(host: &str) -> Command {
    let mut c = Command::new("docker");
    c.env("DOCKER_HOST", host)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_API_VERSION");
    c
}

fn docker(host: &str, args: &[&str]) -> Output {
    let out = docker_command(host)
        .args(args)
        .output()
        .expect("the docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The disk under the daemon's data root (`/dev/vda`), for a block I/O limit on it.
fn data_disk(host: &str) -> Option<String> {
    let root = text(&docker(host, &["info", "--format", "{{.DockerRootDir}}"]).stdout);
    let dev = std::fs::metadata(root.trim()).ok()?.dev();
    let (major, minor) = (
        ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff),
        (dev & 0xff) | ((dev >> 12) & !0xff),
    );
    let sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    // A partition's disk is the directory above it.
    let disk = if sys.join("partition").exists() {
        sys.parent()?.to_path_buf()
    } else {
        sys
    };
    let name = disk.file_name()?.to_str()?.to_owned();
    let path = format!("/dev/{name}");
    std::path::Path::new(&path).exists().then_some(path)
}

/// The test's containers, removed when it ends (also when it fails).
struct Mine {
    host: String,
    names: Vec<String>,
    /// Whether the `io` container's block I/O is accounted (a disk to limit was found).
    block_io: bool,
}

impl Drop for Mine {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let _ = docker_command(&self.host)
                .args(["rm", "-f"])
                .args(&self.names)
                .output();
        }
    }
}

impl Mine {
    /// Starts `mem`, `cpu` and `io` and waits until each has done its work.
    fn start(host: &str, test: &str) -> Mine {
        let mut mine = Mine {
            host: host.to_owned(),
            names: Vec::new(),
            block_io: false,
        };
        let prefix = format!("i16-bench-{test}-{}", std::process::id());
        let disk = data_disk(host);
        let limits: Vec<String> = match &disk {
            Some(d) => vec![
                "--device-write-bps".into(),
                format!("{d}:1gb"),
                "--device-read-bps".into(),
                format!("{d}:1gb"),
            ],
            None => {
                eprintln!("no disk under the daemon's data root: block I/O stays 0");
                Vec::new()
            }
        };
        mine.block_io = disk.is_some();
        let specs: [(&str, Vec<String>, &str); 3] = [
            (
                "mem",
                vec!["--memory".into(), "64m".into()],
                "head -c 8000000 /dev/zero > /tmp/cache",
            ),
            (
                "cpu",
                // A tenth of a CPU (10 ms per 100 ms period): the loop's 0.1 s of CPU runs into
                // it even when other work leaves the container a small share of a core.
                vec!["--cpus".into(), "0.1".into()],
                "i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done; \
                 ping -c 3 -i 0.2 127.0.0.1 > /dev/null",
            ),
            (
                "io",
                limits,
                "dd if=/dev/zero of=/written bs=1M count=4 conv=fsync 2> /dev/null",
            ),
        ];
        for (role, options, work) in specs {
            let name = format!("{prefix}-{role}");
            mine.names.push(name.clone());
            let script = format!("{work}; echo ready; exec sleep 100000");
            let mut args = vec!["run", "-d", "--network", "none", "--name", &name];
            args.extend(options.iter().map(String::as_str));
            args.extend(["bb:latest", "sh", "-c", &script]);
            docker(host, &args);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for name in &mine.names {
            loop {
                let logs = text(&docker(host, &["logs", name]).stdout);
                if logs.contains("ready") {
                    break;
                }
                assert!(Instant::now() < deadline, "{name} did not get ready");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        // Let the last writes land in the counters.
        std::thread::sleep(Duration::from_secs(2));
        mine
    }
}

/// `dockstat stats --source SOURCE ARGS… NAMES…` as a child, stdout piped.
fn dockstat(host: &str, source: &str, args: &[&str], names: &[String]) -> Child {
    Command::new(BIN)
        .args(["-H", host, "stats", "--source", source])
        .args(args)
        .args(names)
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dockstat")
}

/// Stops a streaming child with SIGTERM (as Ctrl-C would) and returns what it printed.
fn stop(mut child: Child) -> (String, String) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    (out, err)
}

/// ndjson lines by container name.
fn by_name(ndjson: &str) -> BTreeMap<String, Vec<Value>> {
    let mut lines: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in ndjson.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let name = v["name"].as_str().expect("a name").to_owned();
        lines.entry(name).or_default().push(v);
    }
    lines
}

/// Fields that must be identical: the daemon computes them from the same files.
const EXACT: &[&str] = &[
    "online_cpus",
    "mem_usage",
    "mem_used",
    "mem_limit",
    "mem_percent",
    "net_rx",
    "net_tx",
    "block_read",
    "block_write",
    "pids",
];

/// Fields of one sample's moment, not of the container.
const MOMENT: &[&str] = &[
    "host",
    "id",
    "name",
    "cpu_percent_of_limit",
    "read",
    "warmup",
    "stopped",
    "interval_ns",
    "source",
    "cpu_percent",
    "cpu_percent_host",
];

/// Whether a field is a cumulative CPU counter (compared within the sampling moments).
fn cpu_counter(key: &str) -> bool {
    !EXACT.contains(&key)
        && !["limit", "quota", "period_us"]
            .iter()
            .any(|k| key.contains(k))
        && !MOMENT.contains(&key)
        && ["cpu", "usage", "user", "system", "throttl", "periods"]
            .iter()
            .any(|k| key.contains(k))
}

/// One field's value in the JSON object, flattened with `.` for nested objects.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned(), v.clone());
        }
    }
}

#[test]
fn cgroupfs_and_api_ndjson_agree_on_memory_pids_block_io_network_and_cpu() {
    let Some((host, _one)) = daemon() else {
        return;
    };
    let mine = Mine::start(&host, "nd");
    let args = ["--no-trunc", "--format", "ndjson"];
    // Both at once, so that their samples are of the same seconds.
    let api = dockstat(&host, "api", &args, &mine.names);
    let cgroupfs = dockstat(&host, "cgroupfs", &args, &mine.names);
    std::thread::sleep(Duration::from_millis(4500));
    let (api_out, api_err) = stop(api);
    let (cg_out, cg_err) = stop(cgroupfs);
    assert!(api_err.is_empty(), "--source api: {api_err}");
    assert!(cg_err.is_empty(), "--source cgroupfs: {cg_err}");
    let (api, cg) = (by_name(&api_out), by_name(&cg_out));

    for name in &mine.names {
        let a = api.get(name).map_or(&[][..], Vec::as_slice);
        let c = cg.get(name).map_or(&[][..], Vec::as_slice);
        assert!(a.len() >= 2, "{name}: {} api lines:\n{api_out}", a.len());
        assert!(
            c.len() >= 2,
            "{name}: {} cgroupfs lines:\n{cg_out}",
            c.len()
        );
        // Flattened, so that nested objects the outputs may carry compare field by field.
        let flat = |v: &Value| {
            let mut m = BTreeMap::new();
            flatten("", v, &mut m);
            m
        };
        let (a_last, c_last) = (flat(&a[a.len() - 1]), flat(&c[c.len() - 1]));
        for (v, source) in [(&a_last, "api"), (&c_last, "cgroupfs")] {
            if let Some(s) = v.get("source") {
                assert_eq!(s, source, "{name}: the line's source");
            }
        }
        // The same value in both series (memory counters move a little from moment to
        // moment: the kernel folds its per-CPU statistics in lazily).
        assert_eq!(c_last["id"], a_last["id"], "{name}: the container's id");
        for key in EXACT {
            assert!(a_last.contains_key(*key), "{name}: api has no {key}");
            let sa: Vec<&Value> = a.iter().map(|l| &l[key]).collect();
            let sc: Vec<&Value> = c.iter().map(|l| &l[key]).collect();
            assert!(
                sc.iter().any(|v| sa.contains(v)),
                "{name}: {key}\napi:      {sa:?}\ncgroupfs: {sc:?}"
            );
        }
        // Every other field both carry: CPU counters within the API's range over the same
        // seconds (one tick of slack each side), anything else identical.
        for (key, a_value) in &a_last {
            if MOMENT.contains(&key.as_str()) || EXACT.contains(&key.as_str()) {
                continue;
            }
            // A field one source cannot fill (the API has no pressure on cgroup v1) is null.
            let Some(c_value) = c_last
                .get(key)
                .filter(|v| !v.is_null() && !a_value.is_null())
            else {
                continue;
            };
            if !cpu_counter(key) {
                assert_eq!(a_value, c_value, "{name}: {key}");
                continue;
            }
            let series = |lines: &[Value]| -> Vec<f64> {
                lines
                    .iter()
                    .filter_map(|l| flat(l).get(key).and_then(Value::as_f64))
                    .collect()
            };
            let (sa, sc) = (series(a), series(c));
            let lo = sa.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = sa.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            // 10 ms in ns for times, one period for period counts.
            let slack = if key.contains("period") { 1.0 } else { 1e7 };
            for x in &sc {
                assert!(
                    *x >= lo - slack && *x <= hi + slack,
                    "{name}: {key}: cgroupfs {sc:?} outside api's {sa:?}"
                );
            }
        }
        // Idle now: both say so.
        for (lines, source) in [(a, "api"), (c, "cgroupfs")] {
            let last = &lines[lines.len() - 1];
            let cpu = last["cpu_percent"].as_f64().expect("cpu_percent");
            assert!(cpu < 5.0, "{name}: {source}: cpu_percent {cpu}");
        }
    }

    // The containers did what they were made for, so the equalities above are not of zeros.
    let last = |name: &str, key: &str| api[name].last().unwrap()[key].as_u64().unwrap();
    let (mem, cpu, io) = (&mine.names[0], &mine.names[1], &mine.names[2]);
    assert_eq!(last(mem, "mem_limit"), 64 << 20);
    assert!(last(mem, "mem_usage") > last(mem, "mem_used"), "page cache");
    assert_eq!(
        (last(cpu, "net_rx"), last(cpu, "net_tx")),
        (0, 0),
        "loopback"
    );
    // The busy loop ran into the half-CPU limit: the throttling counters compared are not 0.
    let cpu_line = api[cpu].last().unwrap();
    if let Some(t) = cpu_line.get("throttling") {
        assert!(t["throttled_periods"].as_u64() > Some(0), "{cpu_line}");
    }
    if mine.block_io {
        assert!(last(io, "block_write") >= 4 << 20, "the fsynced 4 MB");
    }
}

/// `{"Name": {"Field": "text"}}` of `stats --format json` lines.
fn texts(out: &[u8]) -> BTreeMap<String, BTreeMap<String, String>> {
    text(out)
        .lines()
        .map(|line| {
            let v: BTreeMap<String, String> =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            (v["Name"].clone(), v)
        })
        .collect()
}

#[test]
fn cgroupfs_no_stream_texts_agree_with_the_api_and_docker_stats() {
    let Some((host, _one)) = daemon() else {
        return;
    };
    let mine = Mine::start(&host, "ns");
    let args = ["--no-stream", "--format", "json"];
    let mut theirs = vec!["stats", "--no-stream", "--format", "json"];
    theirs.extend(mine.names.iter().map(String::as_str));
    // The kernel's memory counters move a little from one moment to the next (its per-CPU
    // statistics are folded in lazily), so the three run at once, and a round where they
    // disagree is tried again, five times at most: a systematic difference fails every round.
    let mut diffs = Vec::new();
    for round in 0..5 {
        let cg = dockstat(&host, "cgroupfs", &args, &mine.names);
        let api = dockstat(&host, "api", &args, &mine.names);
        let docker_out = docker_command(&host).args(&theirs).output().unwrap();
        let done = |child: Child, source: &str| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "--source {source}: {}",
                text(&out.stderr)
            );
            texts(&out.stdout)
        };
        let (cg, api) = (done(cg, "cgroupfs"), done(api, "api"));
        assert!(docker_out.status.success(), "{}", text(&docker_out.stderr));
        let docker_texts = texts(&docker_out.stdout);
        diffs.clear();
        for name in &mine.names {
            let (c, a, d) = (&cg[name], &api[name], &docker_texts[name]);
            for field in ["MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs", "ID"] {
                if c[field] != d[field] || a[field] != d[field] {
                    diffs.push(format!(
                        "{name}: {field}: cgroupfs {:?}, api {:?}, docker {:?}",
                        c[field], a[field], d[field]
                    ));
                }
            }
            for (source, t) in [("cgroupfs", c), ("api", a), ("docker", d)] {
                let cpu: f64 = t["CPUPerc"].trim_end_matches('%').parse().unwrap();
                assert!(cpu < 5.0, "{name}: {source}: CPUPerc {}", t["CPUPerc"]);
            }
        }
        if diffs.is_empty() {
            eprintln!("agreed in round {}", round + 1);
            return;
        }
        eprintln!("round {}: {diffs:#?}", round + 1);
    }
    panic!("five rounds disagreed, the last: {diffs:#?}");
}
