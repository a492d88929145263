//! Docker-compatible daemons that are not Docker: `dockstat stats` against the simulated
//! daemon passing for Podman 4 (`--sim-flavor podman`), whose frames have no precpu, no CPU
//! count, io.stat's operation counts among the block I/O entries and no memory.stat.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dockstat_sim::{Flavor, Listen, Sim, SimConfig};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-podman-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `NAME -> (CPU %, BLOCK I/O)` of a `stats --no-stream` table.
fn table(out: &str) -> Vec<(String, String, String)> {
    out.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line
                .split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect();
            (
                cells[1].to_string(),
                cells[2].to_string(),
                cells[6].to_string(),
            )
        })
        .collect()
}

#[test]
fn no_stream_shows_cpu_and_the_block_io_bytes() {
    let podman = run(&[
        "--sim",
        "3",
        "--sim-flavor",
        "podman",
        "stats",
        "--no-stream",
    ]);
    assert!(podman.status.success(), "{}", text(&podman.stderr));
    assert!(podman.stderr.is_empty(), "{}", text(&podman.stderr));
    // The same containers on Docker's cgroup v2 frames, for the block I/O.
    let docker = run(&["--sim", "3", "--sim-cgroup", "v2", "stats", "--no-stream"]);
    assert!(docker.status.success(), "{}", text(&docker.stderr));
    let (podman, docker) = (table(&text(&podman.stdout)), table(&text(&docker.stdout)));
    assert_eq!(podman.len(), 3, "{podman:?}");
    for ((name, cpu, block), (dname, _, dblock)) in podman.iter().zip(&docker) {
        assert_eq!(name, dname);
        assert_eq!(block, dblock, "{name}");
        assert!(cpu.ends_with('%'), "{cpu}");
    }
    // Podman answers stream=false with one frame without precpu and without a CPU count:
    // with the count of the daemon's host (`NCPU` of /info), Docker's formula over the empty
    // precpu, the average since the start (the docker CLI, which has no count, shows 0.00%).
    let busy = podman.iter().find(|r| r.0 == "busy-1").unwrap();
    let cpu: f64 = busy.1.trim_end_matches('%').parse().unwrap();
    assert!(cpu > 0.0, "{busy:?}");
}

/// The frames `dockstat get -N` prints for `path`, the first `n`.
fn frames(sim: &Sim, path: &str, n: usize) -> Vec<Value> {
    let mut child = Command::new(BIN)
        .args(["-H", &sim.url(), "get", "-N", path])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(n)
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    lines
}

/// Sums of the frame's block I/O entries: (our rule, docker/cli's first-letter rule).
fn block_io(frame: &Value) -> ((u64, u64), (u64, u64)) {
    let (mut ours, mut docker) = ((0, 0), (0, 0));
    for e in frame["blkio_stats"]["io_service_bytes_recursive"]
        .as_array()
        .unwrap()
    {
        let (op, value) = (e["op"].as_str().unwrap(), e["value"].as_u64().unwrap());
        match op {
            "read" => ours.0 += value,
            "write" => ours.1 += value,
            _ => {}
        }
        match op.as_bytes()[0] {
            b'r' => docker.0 += value,
            b'w' => docker.1 += value,
            _ => {}
        }
    }
    (ours, docker)
}

#[test]
fn a_stream_measures_cpu_against_its_previous_frame() {
    let interval = Duration::from_millis(200);
    let config = SimConfig {
        containers: 3,
        flavor: Flavor::Podman,
        interval,
        // Frame k of every stream is read at t + k × interval: the same frames for `get` and
        // for `stats`.
        fixed_clock: Some(1_795_416_926_742_434_502),
        ..SimConfig::default()
    };
    let sim = Sim::start(Listen::Unix(socket()), config).unwrap();
    let raw = frames(&sim, "/containers/busy-1/stats", 2);
    assert_eq!(raw[1]["precpu_stats"]["cpu_usage"]["total_usage"], 0);
    assert!(raw[1]["cpu_stats"].get("online_cpus").is_none());
    let used = raw[1]["cpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap()
        - raw[0]["cpu_stats"]["cpu_usage"]["total_usage"]
            .as_u64()
            .unwrap();
    // The CPU time used between the two frames over the time between them.
    let want_cpu = used as f64 / interval.as_nanos() as f64 * 100.0;
    assert!(want_cpu > 10.0, "{want_cpu}");
    let (bytes, docker_rule) = block_io(&raw[1]);
    assert_ne!(bytes, docker_rule, "the frame has operation counts");

    let mut child = Command::new(BIN)
        .args(["-H", &sim.url(), "stats", "--format", "ndjson", "busy-1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let samples: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(2)
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(samples.len(), 2);
    let (first, next) = (&samples[0], &samples[1]);
    assert_eq!(first["warmup"], true, "{first}");
    assert_eq!(next["warmup"], false, "{next}");
    assert_eq!(next["cpu_percent"].as_f64(), Some(want_cpu), "{next}");
    assert_eq!(
        next["interval_ns"].as_u64(),
        Some(interval.as_nanos() as u64)
    );
    assert_eq!(
        (next["block_read"].as_u64(), next["block_write"].as_u64()),
        (Some(bytes.0), Some(bytes.1))
    );
    // No CPU count in the frame: the daemon's host's (`NCPU` of /info), not this machine's,
    // which a socket forwarded from a VM would make wrong.
    assert_eq!(next["online_cpus"].as_u64(), Some(2), "{next}");
    assert_eq!(
        next["cpu_percent_host"].as_f64(),
        Some(want_cpu / 2.0),
        "{next}"
    );
    // No memory.stat: memory used is the usage.
    assert_eq!(next["mem_used"].as_f64(), next["mem_usage"].as_f64());
}

#[test]
fn the_sim_answers_as_podman_does() {
    let out = run(&[
        "--sim",
        "1",
        "--sim-flavor",
        "podman",
        "get",
        "-i",
        "/_ping",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\r\nServer: Libpod/4.9.3 (linux)\r\n"));
    let out = run(&["--sim", "1", "--sim-flavor", "podman", "get", "/version"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Components"][0]["Name"], "Podman Engine");
}

#[test]
fn an_unknown_flavor_is_a_usage_error() {
    let out = run(&["--sim", "1", "--sim-flavor", "rkt", "stats", "--no-stream"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "dockstat: invalid value \"rkt\" for --sim-flavor: expected docker or podman"
        ),
        "{err}"
    );
}

#[test]
fn version_names_the_daemon_as_docker_version_does() {
    let out = run(&["--sim", "1", "--sim-flavor", "podman", "version"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("dockstat "), "{stdout}");
    assert!(
        lines[1].starts_with("Server: Podman Engine 4.9.3 (API 1.41) at unix://"),
        "{stdout}"
    );
    let out = run(&["--sim", "1", "version"]);
    assert!(
        text(&out.stdout)
            .contains("\nServer: Docker Engine 20.10.24-dockstat-sim (API 1.41) at unix://"),
        "{}",
        text(&out.stdout)
    );
    // No daemon: ours, then the docker CLI's line and exit 7; --version never asks.
    let missing =
        std::env::temp_dir().join(format!("dockstat-podman-none-{}.sock", std::process::id()));
    let host = format!("unix://{}", missing.display());
    let out = run(&["-H", &host, "version"]);
    assert_eq!(out.status.code(), Some(7));
    assert!(text(&out.stdout).starts_with("dockstat "));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("dockstat: Cannot connect to the Docker daemon at unix://"),
        "{err}"
    );
    let out = run(&["-H", &host, "--version"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty());
}
