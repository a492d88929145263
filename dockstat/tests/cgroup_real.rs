//! The cgroupfs reader against a real Docker daemon on this host: its samples and the
//! daemon's one-shot stats frames, taken close together, agree.
//!
//! Runs when `DOCKSTAT_REAL_DOCKER` names a daemon on this host (`unix:///tmp/dockerd-test/
//! docker.sock`); otherwise it says it was skipped (and fails if `DOCKSTAT_REQUIRE_REAL_DOCKER`
//! is 1). Containers are created from the image `bb:latest`, named `i16-reader-<pid>-<n>`,
//! and removed at the end; the daemon's `idle-1`, `memhog-1` and `busy-1` are read too when
//! they run.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dockstat::engine::{Client, Endpoint};
use dockstat::source::cgroup::{CgroupPaths, CgroupReader, HostCpu, Roots};
use dockstat::stats::{CpuLimit, FrameDecoder, Platform, Sample, Throttling, Timestamp, derive};

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
    /// Created by this test, so removed by it.
    owned: bool,
}

impl Container {
    fn run(host: &str, suffix: &str, args: &[&str]) -> Container {
        static LOCK: Mutex<()> = Mutex::new(());
        let _one = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let name = format!("i16-reader-{}-{suffix}", std::process::id());
        let mut all = vec!["run", "-d", "--name", &name];
        all.extend_from_slice(args);
        docker(host, &all);
        Container {
            host: host.to_owned(),
            name,
            owned: true,
        }
    }

    /// A running container of the daemon's own, left as it is.
    fn existing(host: &str, name: &str) -> Option<Container> {
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.State.Running}}", name])
            .env("DOCKER_HOST", host)
            .output()
            .ok()?;
        (String::from_utf8_lossy(&out.stdout).trim() == "true").then(|| Container {
            host: host.to_owned(),
            name: name.to_owned(),
            owned: false,
        })
    }

    fn inspect(&self, format: &str) -> String {
        let out = docker(&self.host, &["inspect", "-f", format, &self.name]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
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
/// The reader's throttling counters at the end.
fn compare(host: &str, c: &Container, expect_limit: Option<CpuLimit>) -> Throttling {
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
        api.cpu.throttling = Throttling {
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
            return after.cpu.throttling;
        }
        last = format!("{:?}\n{:?}", rest(&before), rest(&after));
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("the container's numbers never settled:\n{last}");
}

#[test]
fn reader_agrees_with_the_daemons_frames() {
    let Some(host) = daemon() else { return };
    // A plain container (a network stack of its own, lo only on a daemon without a bridge),
    // and one with limits that writes and reads a file.
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
    // On the host's network: the daemon reports the host's interfaces but lo.
    let hostnet = Container::run(
        &host,
        "hostnet",
        &["--network", "host", "bb:latest", "sleep", "100000"],
    );
    // A busy loop held to a tenth of a CPU: throttled every period.
    let throttled = Container::run(
        &host,
        "throttled",
        &[
            "--cpus",
            "0.1",
            "bb:latest",
            "sh",
            "-c",
            "while :; do :; done",
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let tenth = Some(CpuLimit {
        quota_us: 10_000,
        period_us: 100_000,
    });
    let t = compare(&host, &throttled, tenth);
    assert!(
        t.throttled_periods > 0 && t.throttled_time > 0,
        "a busy loop at 0.1 CPU is throttled: {t:?}"
    );
    // Its CPU % from two passes a second apart, as `docker stats` computes it: about 10 %.
    let pid: u32 = throttled.inspect("{{.State.Pid}}").parse().unwrap();
    let roots = roots();
    let paths = CgroupPaths::of_pid(&roots, pid).unwrap();
    let mut reader = CgroupReader::open(&roots, &paths, pid, "t", "/t").unwrap();
    let mut hostcpu = HostCpu::open(&roots).unwrap();
    reader.sample(now(), &hostcpu).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    hostcpu.read().unwrap();
    let s = reader.sample(now(), &hostcpu).unwrap();
    let d = derive(&s, Platform::Linux);
    assert!(
        (5.0..15.0).contains(&d.cpu_percent),
        "0.1 CPU busy: {}% CPU",
        d.cpu_percent
    );
    eprintln!("{}: {:.2}% CPU", throttled.name, d.cpu_percent);
    // What a pass costs, on an idle container.
    let started = std::time::Instant::now();
    let passes = 2000;
    for _ in 0..passes {
        hostcpu.read().unwrap();
        reader.sample(now(), &hostcpu).unwrap();
    }
    eprintln!(
        "a pass (host's /proc/stat and one container's files): {:.1} us",
        started.elapsed().as_secs_f64() * 1e6 / f64::from(passes)
    );
    drop(throttled);
    compare(&host, &plain, None);
    compare(&host, &hostnet, None);
    // The daemon's own containers, read only: idle, a page-cache hog with a memory limit,
    // a busy loop at half a CPU.
    if let Some(idle) = Container::existing(&host, "idle-1") {
        compare(&host, &idle, None);
    }
    if let Some(memhog) = Container::existing(&host, "memhog-1") {
        compare(&host, &memhog, None);
    }
    if let Some(busy) = Container::existing(&host, "busy-1") {
        let half = Some(CpuLimit {
            quota_us: 50_000,
            period_us: 100_000,
        });
        compare(&host, &busy, half);
    }
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

/// On a hybrid host (cgroup v1 controllers, and the v2 hierarchy mounted beside them at
/// `unified`), a container's v2 directory has the kernel's own `cpu.stat` and pressure files:
/// a v2 tree made of those (and of the v1 memory files) reads them as the kernel writes them.
#[test]
fn the_kernels_own_v2_cpu_stat_and_pressure_files_read() {
    let Some(host) = daemon() else { return };
    let c = Container::run(
        &host,
        "v2files",
        &[
            "--cpus",
            "0.1",
            "bb:latest",
            "sh",
            "-c",
            "while :; do :; done",
        ],
    );
    let id = c.inspect("{{.Id}}");
    let pid: u32 = c.inspect("{{.State.Pid}}").parse().unwrap();
    let cgroup_file = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let Some(v2_path) = cgroup_file.lines().find_map(|l| l.strip_prefix("0::")) else {
        eprintln!("SKIPPED: no cgroup v2 line for the container on this host");
        return;
    };
    let unified = PathBuf::from("/sys/fs/cgroup/unified").join(v2_path.trim_start_matches('/'));
    if !unified.join("cpu.stat").exists() {
        eprintln!("SKIPPED: no v2 hierarchy at /sys/fs/cgroup/unified on this host");
        return;
    }
    std::thread::sleep(Duration::from_millis(1200));
    let memory = PathBuf::from("/sys/fs/cgroup/memory/docker").join(&id);
    let tmp = std::env::temp_dir().join(format!("i16-reader-v2files-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let dir = tmp.join("cgroup/system.slice/x.scope");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(tmp.join(format!("proc/{pid}/net"))).unwrap();
    std::fs::write(tmp.join("cgroup/cgroup.controllers"), "cpu memory pids\n").unwrap();
    std::fs::write(
        tmp.join(format!("proc/{pid}/cgroup")),
        "0::/system.slice/x.scope\n",
    )
    .unwrap();
    let link = |from: PathBuf, to: &std::path::Path| std::os::unix::fs::symlink(from, to).unwrap();
    for f in ["cpu.stat", "cpu.pressure", "memory.pressure", "io.pressure"] {
        link(unified.join(f), &dir.join(f));
    }
    link(
        memory.join("memory.usage_in_bytes"),
        &dir.join("memory.current"),
    );
    link(memory.join("memory.stat"), &dir.join("memory.stat"));
    link(
        PathBuf::from(format!("/proc/{pid}/net/dev")),
        &tmp.join(format!("proc/{pid}/net/dev")),
    );
    link("/proc/stat".into(), &tmp.join("proc/stat"));
    link("/proc/meminfo".into(), &tmp.join("proc/meminfo"));
    let roots = Roots {
        cgroup: tmp.join("cgroup"),
        proc: tmp.join("proc"),
    };
    let paths = CgroupPaths::of_pid(&roots, pid).unwrap();
    assert!(matches!(paths, CgroupPaths::V2 { .. }), "{paths:?}");
    let hostcpu = HostCpu::open(&roots).unwrap();
    let mut reader = CgroupReader::open(&roots, &paths, pid, &id, "/v2files").unwrap();
    let cpuacct = PathBuf::from("/sys/fs/cgroup/cpuacct/docker")
        .join(&id)
        .join("cpuacct.usage");
    let v1_usage = || -> u64 {
        std::fs::read_to_string(&cpuacct)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = v1_usage();
    let s = reader
        .sample(now(), &hostcpu)
        .expect("the kernel's v2 files");
    let after = v1_usage();
    // The same CPU time, counted by v2's rstat in microseconds and v1's cpuacct in ns.
    let v2 = s.cpu.total_usage;
    assert!(
        v2 + 20_000_000 >= before && v2 <= after + 20_000_000,
        "v2 usage {v2} ns against cpuacct {before}..{after}"
    );
    assert!(s.cpu.user_usage + s.cpu.system_usage <= v2 + 1_000);
    let cpu = s.pressure.cpu.expect("cpu.pressure");
    assert!(cpu.full.is_some(), "{cpu:?}");
    // A busy loop at 0.1 CPU waits for the CPU most of the time.
    assert!(cpu.some.total_us > 0, "{cpu:?}");
    assert!(s.pressure.memory.is_some() && s.pressure.io.is_some());
    eprintln!("{}: {:?}", c.name, s.pressure);
    let _ = std::fs::remove_dir_all(&tmp);
}
