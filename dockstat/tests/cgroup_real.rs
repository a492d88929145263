//! The cgroupfs reader against a real Docker daemon on this host: its samples and the
//! daemon's one-shot stats frames, taken close together, agree.
//!
//! Runs when `DOCKSTAT_REAL_DOCKER` names a daemon on this host (`unix:///tmp/dockerd-test/
//! docker.sock`); otherwise it says it was skipped (and fails if `DOCKSTAT_REQUIRE_REAL_DOCKER`
//! is 1). Containers are created from the image `bb:latest`, named `dockstat-cg-<pid>-<n>`,
//! and removed at the end.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dockstat::engine::{Client, Endpoint};
use dockstat::source::cgroup::{CgroupPaths, CgroupReader, HostCpu, Roots};
use dockstat::stats::{CpuLimit, FrameDecoder, Platform, Sample, Timestamp, derive};

fn daemon() -> Option<String> {
    match std::env::var("DOCKSTAT_REAL_DOCKER") {
        Ok(host) if !host.is_empty() => Some(host),
        _ => {
            assert!(
                std::env::var_os("DOCKSTAT_REQUIRE_REAL_DOCKER").is_none_or(|v| v != "1"),
                "DOCKSTAT_REQUIRE_REAL_DOCKER=1 but DOCKSTAT_REAL_DOCKER is not set"
            );
            eprintln!("SKIPPED: set DOCKSTAT_REAL_DOCKER to a real daemon's URL");
            None
        }
    }
}

fn docker(host: &str, args: &[&str]) -> Output {
    let out = Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .expect("the docker CLI");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A container of this test, removed when dropped.
struct Container {
    host: String,
    name: String,
}

impl Container {
    fn run(host: &str, suffix: &str, args: &[&str]) -> Container {
        static LOCK: Mutex<()> = Mutex::new(());
        let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let name = format!("dockstat-cg-{}-{suffix}", std::process::id());
        let mut all = vec!["run", "-d", "--name", &name];
        all.extend_from_slice(args);
        docker(host, &all);
        Container {
            host: host.to_owned(),
            name,
        }
    }

    fn inspect(&self, format: &str) -> String {
        let out = docker(&self.host, &["inspect", "-f", format, &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.name])
            .env("DOCKER_HOST", &self.host)
            .output();
    }
}

fn roots() -> Roots {
    Roots {
        cgroup: PathBuf::from("/sys/fs/cgroup"),
        proc: PathBuf::from("/proc"),
    }
}

fn now() -> Timestamp {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    Timestamp {
        secs: d.as_secs() as i64,
        nanos: d.subsec_nanos(),
    }
}

/// What a sample holds, owned.
#[derive(Clone, Debug, PartialEq)]
struct Owned {
    cpu: dockstat::stats::CpuStats,
    memory: dockstat::stats::MemoryStats,
    pids: dockstat::stats::PidsStats,
    blkio: dockstat::stats::BlkioStats,
    networks: Vec<(String, [u64; 8])>,
    mem_used: f64,
    mem_limit: f64,
    mem_percent: f64,
}

fn owned(s: &Sample<'_>) -> Owned {
    let d = derive(s, Platform::Linux);
    Owned {
        cpu: s.cpu,
        memory: s.memory,
        pids: s.pids,
        blkio: s.blkio,
        networks: s
            .networks
            .iter()
            .map(|n| {
                (
                    n.name.to_owned(),
                    [
                        n.rx_bytes,
                        n.rx_packets,
                        n.rx_errors,
                        n.rx_dropped,
                        n.tx_bytes,
                        n.tx_packets,
                        n.tx_errors,
                        n.tx_dropped,
                    ],
                )
            })
            .collect(),
        mem_used: d.mem_used,
        mem_limit: d.mem_limit,
        mem_percent: d.mem_percent,
    }
}

/// Reader sample, API frame, reader sample; retried until the two reader samples agree on
/// everything but CPU (an idle container's memory settles quickly).
fn compare(host: &str, c: &Container, expect_limit: Option<CpuLimit>) {
    let id = c.inspect("{{.Id}}");
    let pid: u32 = c.inspect("{{.State.Pid}}").parse().unwrap();
    let roots = roots();
    let paths = CgroupPaths::of_pid(&roots, pid).expect("the container's cgroups");
    assert!(
        matches!(paths, CgroupPaths::V1 { .. }),
        "this host is cgroup v1: {paths:?}"
    );
    let name = format!("/{}", c.name);
    let mut reader = CgroupReader::open(&roots, &paths, pid, &id, &name).expect("open");
    let mut hostcpu = HostCpu::open(&roots).expect("host cpu");
    let mut client = Client::new(Endpoint::parse(host).unwrap()).unwrap();
    let mut decoder = FrameDecoder::new();
    let mut last = String::new();
    for attempt in 0..8 {
        hostcpu.read().unwrap();
        let s = reader.sample(now(), &hostcpu).expect("sample");
        assert_eq!(s.id, id);
        assert_eq!(s.name, name);
        assert_eq!(s.source, dockstat::stats::Source::Cgroupfs);
        assert_eq!(s.cpu_limit, expect_limit);
        assert_eq!(s.pressure, Default::default(), "no PSI on cgroup v1");
        let before = owned(&s);
        let resp = client
            .get_api(&format!("/containers/{id}/stats?stream=false"))
            .expect("one-shot stats");
        assert_eq!(resp.code, 200, "{}", String::from_utf8_lossy(&resp.body));
        hostcpu.read().unwrap();
        let after = owned(&reader.sample(now(), &hostcpu).expect("sample"));
        let frame = decoder.decode(&resp.body).expect("the daemon's frame");
        let mut api = owned(&frame);
        // User and kernel time and throttling, from the JSON itself (whatever the decoder
        // keeps of them).
        let json: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        let cpu = &json["cpu_stats"];
        let n = |v: &serde_json::Value| v.as_u64().expect("a number");
        api.cpu.user_usage = n(&cpu["cpu_usage"]["usage_in_usermode"]);
        api.cpu.system_usage = n(&cpu["cpu_usage"]["usage_in_kernelmode"]);
        api.cpu.throttling = dockstat::stats::Throttling {
            periods: n(&cpu["throttling_data"]["periods"]),
            throttled_periods: n(&cpu["throttling_data"]["throttled_periods"]),
            throttled_time: n(&cpu["throttling_data"]["throttled_time"]),
        };
        // CPU: counters that only grow, the frame's between the two passes.
        let between = |what: &str, a: u64, f: u64, b: u64| {
            assert!(
                a <= f && f <= b,
                "{what}: reader {a}, daemon {f}, reader {b}"
            );
        };
        between(
            "total_usage",
            before.cpu.total_usage,
            api.cpu.total_usage,
            after.cpu.total_usage,
        );
        between(
            "user",
            before.cpu.user_usage,
            api.cpu.user_usage,
            after.cpu.user_usage,
        );
        between(
            "system",
            before.cpu.system_usage,
            api.cpu.system_usage,
            after.cpu.system_usage,
        );
        between(
            "system_cpu_usage",
            before.cpu.system_cpu_usage,
            api.cpu.system_cpu_usage,
            after.cpu.system_cpu_usage,
        );
        let t = |o: &Owned| o.cpu.throttling;
        between(
            "periods",
            t(&before).periods,
            t(&api).periods,
            t(&after).periods,
        );
        between(
            "throttled_periods",
            t(&before).throttled_periods,
            t(&api).throttled_periods,
            t(&after).throttled_periods,
        );
        between(
            "throttled_time",
            t(&before).throttled_time,
            t(&api).throttled_time,
            t(&after).throttled_time,
        );
        assert_eq!(api.cpu.percpu_count, before.cpu.percpu_count);
        assert_eq!(api.cpu.online_cpus, before.cpu.online_cpus);
        // The rest: identical.
        let rest = |o: &Owned| {
            let mut o = o.clone();
            o.cpu = Default::default();
            o
        };
        if rest(&before) == rest(&after) {
            assert_eq!(rest(&api), rest(&before), "daemon vs reader");
            eprintln!(
                "{}: agreed on attempt {attempt}: {:?}",
                c.name,
                rest(&before)
            );
            return;
        }
        last = format!("{:?}\n{:?}", rest(&before), rest(&after));
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the container's numbers never settled:\n{last}");
}

#[test]
fn reader_agrees_with_the_daemons_frames() {
    let Some(host) = daemon() else { return };
    // A plain container, one with limits that reads and writes a file, and one with a
    // network stack of its own (lo only on a daemon without a bridge).
    let plain = Container::run(&host, "plain", &["bb:latest", "sleep", "100000"]);
    let limited = Container::run(
        &host,
        "limited",
        &[
            "--memory",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "bb:latest",
            "sh",
            "-c",
            "dd if=/dev/zero of=/f bs=4k count=256 2>/dev/null; sync; cat /f >/dev/null; sleep 100000",
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    compare(&host, &plain, None);
    compare(
        &host,
        &limited,
        Some(CpuLimit {
            quota_us: 50_000,
            period_us: 100_000,
        }),
    );
}

#[test]
fn a_stopped_containers_reader_says_vanished() {
    let Some(host) = daemon() else { return };
    let c = Container::run(&host, "stops", &["bb:latest", "sleep", "100000"]);
    let id = c.inspect("{{.Id}}");
    let pid: u32 = c.inspect("{{.State.Pid}}").parse().unwrap();
    let roots = roots();
    let paths = CgroupPaths::of_pid(&roots, pid).unwrap();
    let mut reader = CgroupReader::open(&roots, &paths, pid, &id, "/x").unwrap();
    let host_cpu = HostCpu::open(&roots).unwrap();
    reader.sample(now(), &host_cpu).expect("running");
    docker(&host, &["kill", &c.name]);
    let mut err = None;
    for _ in 0..50 {
        match reader.sample(now(), &host_cpu) {
            Ok(_) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("the reader notices the cgroup is gone");
    assert_eq!(
        err.kind(),
        dockstat::ErrorKind::Cgroup(dockstat::CgroupError::Vanished),
        "{err}"
    );
    // And the process's cgroups can no longer be looked up.
    let e = CgroupPaths::of_pid(&roots, pid).unwrap_err();
    assert_eq!(
        e.kind(),
        dockstat::ErrorKind::Cgroup(dockstat::CgroupError::Vanished),
        "{e}"
    );
}
