//! `dockstat stats` end to end, against the simulated daemon.
//!
//! The comparison with the docker CLI runs the simulated daemon on a fixed clock, so that
//! `docker stats --no-stream` and `dockstat stats --no-stream`, asking at different moments,
//! get the same frames and must print the same lines.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat_sim::{Cgroup, Listen, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-stats-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn sim(cgroup: Cgroup, fixed: bool) -> Sim {
    let config = SimConfig {
        containers: 6,
        stopped: 1,
        cgroup,
        interval: Duration::from_millis(100),
        fixed_clock: fixed.then_some(1_795_416_926_742_434_502),
        ..SimConfig::default()
    };
    Sim::start(Listen::Unix(socket()), config).expect("sim")
}

fn dockstat(sim: &Sim, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["-H", &sim.url(), "stats"])
        .args(args)
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn no_stream_matches_the_docker_cli_v1_and_v2() {
    if Command::new("docker").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no docker CLI on PATH");
        return;
    }
    for cgroup in [Cgroup::V1, Cgroup::V2] {
        let sim = sim(cgroup, true);
        for args in [
            &["--no-stream", "--format", "json"][..],
            &["--no-stream", "-a", "--format", "json"],
            &["--no-stream"],
            &["--no-stream", "-a", "--no-trunc"],
            &[
                "--no-stream",
                "--format",
                "json",
                "busy-1",
                "memhog-3",
                "net-6",
            ],
            &[
                "--no-stream",
                "--format",
                "table {{.Name}}\t{{.CPUPerc}}\t{{.PIDs}}",
            ],
        ] {
            let docker = Command::new("docker")
                .arg("stats")
                .args(args)
                .env("DOCKER_HOST", sim.url())
                .env_remove("DOCKER_CONTEXT")
                .env_remove("DOCKER_API_VERSION")
                .output()
                .unwrap();
            assert!(
                docker.status.success(),
                "docker {args:?}: {}",
                text(&docker.stderr)
            );
            let ours = dockstat(&sim, args);
            assert!(
                ours.status.success(),
                "dockstat {args:?}: {}",
                text(&ours.stderr)
            );
            assert!(!text(&docker.stdout).is_empty());
            assert_eq!(
                text(&ours.stdout),
                text(&docker.stdout),
                "{cgroup:?} stats {args:?}"
            );
        }
    }
}

#[test]
fn no_stream_reads_content_length_and_chunked_bodies() {
    // The daemon answers stream=false with Content-Length up to 2048 bytes, chunked above:
    // stopped and idle containers get the former, busy and writer the latter.
    let sim = sim(Cgroup::V1, false);
    let out = dockstat(&sim, &["--no-stream", "-a", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 7, "{lines:?}");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "BlockIO",
                "CPUPerc",
                "Container",
                "ID",
                "MemPerc",
                "MemUsage",
                "Name",
                "NetIO",
                "PIDs"
            ]
        );
    }
    assert!(text(&out.stdout).contains("\"Name\":\"writer-4\""));
    assert!(text(&out.stdout).contains("\"Name\":\"stopped-7\""));
}

#[test]
fn ndjson_flows_line_by_line_and_stops_cleanly_on_signals() {
    for signal in ["INT", "TERM"] {
        let sim = sim(Cgroup::V2, false);
        let mut child = Command::new(BIN)
            .args(["-H", &sim.url(), "stats", "--format", "ndjson"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let started = Instant::now();
        let mut seen = Vec::new();
        // Six containers at 10 frames a second: each line arrives as its frame does.
        while seen.len() < 18 {
            let line = lines.next().expect("a line").unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            for key in [
                "id",
                "name",
                "read",
                "warmup",
                "cpu_percent",
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
            ] {
                assert!(v.get(key).is_some(), "{key} missing: {line}");
            }
            seen.push(v);
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(seen.iter().any(|v| v["warmup"] == true));
        assert!(seen.iter().any(|v| v["warmup"] == false));
        let busy = seen
            .iter()
            .filter(|v| v["name"] == "busy-1" && v["warmup"] == false);
        for v in busy {
            let cpu = v["cpu_percent"].as_f64().unwrap();
            assert!((35.0..65.0).contains(&cpu), "busy-1 at {cpu}%");
        }
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert_eq!(exit.code(), Some(0), "SIG{signal}");
        // Whatever was written before the signal is complete lines.
        for line in lines.map_while(Result::ok) {
            serde_json::from_str::<serde_json::Value>(&line).unwrap();
        }
    }
}

#[test]
fn cpu_host_divides_by_the_cpus() {
    let sim = sim(Cgroup::V1, true);
    let per_cpu = dockstat(&sim, &["--no-stream", "--format", "{{.CPUPerc}}", "busy-1"]);
    let host = dockstat(
        &sim,
        &[
            "--no-stream",
            "--cpu-host",
            "--format",
            "{{.CPUPerc}}",
            "busy-1",
        ],
    );
    let value = |o: &Output| {
        text(&o.stdout)
            .trim()
            .trim_end_matches('%')
            .parse::<f64>()
            .unwrap()
    };
    // Two simulated CPUs; busy-1 uses half of one.
    assert!(
        (value(&per_cpu) - 50.0).abs() < 5.0,
        "{}",
        text(&per_cpu.stdout)
    );
    assert!((value(&host) - value(&per_cpu) / 2.0).abs() < 0.02);
}

#[test]
fn a_closed_pipe_ends_cleanly() {
    let sim = sim(Cgroup::V1, false);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{BIN} -H {} stats --format ndjson | head -n 3 >/dev/null; exit ${{PIPESTATUS[0]}}",
            sim.url()
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn missing_containers_fail_like_docker() {
    let sim = sim(Cgroup::V1, false);
    let out = dockstat(&sim, &["--no-stream", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Error response from daemon")
            && text(&out.stderr).contains("No such container: nosuch"),
        "{}",
        text(&out.stderr)
    );
    // As docker: one missing name and nothing is shown, streaming or not.
    for stream in [false, true] {
        let mut args = vec!["--format", "{{.Name}}", "busy-1", "nosuch"];
        if !stream {
            args.insert(0, "--no-stream");
        }
        let out = dockstat(&sim, &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
        assert_eq!(
            text(&out.stderr),
            "dockstat: Error response from daemon: No such container: nosuch\n",
            "{args:?}"
        );
    }
    // Names are one path segment each: a slash or a space cannot reach another route.
    let out = dockstat(&sim, &["--no-stream", "busy-1/../../_ping"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("No such container"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn streaming_table_redraws_in_place_on_a_terminal_only() {
    // Not a terminal here: plain blocks, no escape sequences, one per refresh.
    let sim = sim(Cgroup::V1, false);
    let out = Command::new("timeout")
        .args([
            "--preserve-status",
            "-s",
            "INT",
            "1.7",
            BIN,
            "-H",
            &sim.url(),
            "stats",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    let headers = stdout.matches("CONTAINER ID").count();
    assert!(
        (2..=4).contains(&headers),
        "{headers} refreshes in 1.7 s: {stdout}"
    );
}

#[test]
fn sort_and_limit_keep_thousands_of_rows_readable() {
    let config = SimConfig {
        containers: 1500,
        interval: Duration::from_millis(200),
        ..SimConfig::default()
    };
    let sim = Sim::start(Listen::Unix(socket()), config).expect("sim");
    let out = dockstat(
        &sim,
        &[
            "--no-stream",
            "--one-shot",
            "--sort",
            "mem",
            "--limit",
            "5",
            "--format",
            "{{.Name}}\t{{.MemUsage}}",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");

    let used = |line: &str| {
        size(
            line.split('\t')
                .nth(1)
                .unwrap()
                .split(" / ")
                .next()
                .unwrap(),
        )
    };
    let top: Vec<f64> = lines.iter().map(|l| used(l)).collect();
    assert!(top.windows(2).all(|w| w[0] >= w[1]), "{stdout}");

    // The same, unlimited and unsorted: no other container uses more.
    let all = dockstat(
        &sim,
        &[
            "--no-stream",
            "--one-shot",
            "--format",
            "{{.Name}}\t{{.MemUsage}}",
        ],
    );
    let all = text(&all.stdout);
    assert_eq!(all.lines().count(), 1500);
    // Memory moves between the two samples: compare with what the others used then.
    let mut names: Vec<&str> = all.lines().map(|l| l.split('\t').next().unwrap()).collect();
    let rest_max = all
        .lines()
        .filter(|l| {
            !lines
                .iter()
                .any(|t| t.split('\t').next() == l.split('\t').next())
        })
        .map(used)
        .fold(0.0, f64::max);
    assert!(rest_max <= top[0] * 1.5, "{rest_max} vs {top:?}");
    names.sort_unstable();
    let out = dockstat(
        &sim,
        &[
            "--no-stream",
            "--one-shot",
            "--sort",
            "name",
            "--limit",
            "3",
            "--format",
            "{{.Name}}",
        ],
    );
    assert_eq!(text(&out.stdout), format!("{}\n", names[..3].join("\n")));

    // Streaming: a limited table says how many there are in all.
    let out = Command::new("timeout")
        .args([
            "--preserve-status",
            "-s",
            "INT",
            "1.5",
            BIN,
            "-H",
            &sim.url(),
        ])
        .args(["stats", "--sort", "cpu", "--limit", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let block = stdout.split("CONTAINER ID").last().unwrap();
    assert_eq!(block.lines().count(), 1 + 10 + 1, "{block}");
    assert!(block.ends_with("(10 of 1500 containers)\n"), "{block}");
    let cpus: Vec<f64> = block
        .lines()
        .skip(1)
        .take(10)
        .map(|l| {
            let cpu = l.split_whitespace().nth(2).unwrap();
            cpu.trim_end_matches('%').parse().unwrap()
        })
        .collect();
    assert!(cpus.windows(2).all(|w| w[0] >= w[1]), "{cpus:?}");
}

/// Bytes in a `docker stats` size ("1.5MiB", "328KiB", "0B").
fn size(s: &str) -> f64 {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024f64.powi(4),
        other => panic!("unit {other:?} in {s:?}"),
    };
    n.parse::<f64>().unwrap() * scale
}

#[test]
fn several_hosts_on_one_reactor_and_one_of_them_down() {
    let (a, b) = (sim(Cgroup::V1, false), sim(Cgroup::V2, false));
    let down = format!("unix://{}", socket().display());
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(["-H", &a.url(), "-H", &b.url(), "-H", &down, "stats"])
            .args(args)
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap()
    };
    // One sample each: both live hosts' containers, the dead host reported, exit 1.
    let out = run(&["--no-stream", "--format", "{{.Host}} {{.Name}}"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for (host, n) in [(a.url(), 6), (b.url(), 6)] {
        let rows = stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{host} ")))
            .count();
        assert_eq!(rows, n, "{host}: {stdout}");
    }
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Cannot connect") && stderr.contains(&down),
        "{stderr}"
    );

    // The default table gains a HOST column; json gains "Host".
    let out = run(&["--no-stream"]);
    assert!(
        text(&out.stdout).starts_with("HOST "),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["--no-stream", "--format", "json"]);
    assert!(
        text(&out.stdout)
            .lines()
            .all(|l| l.contains("\"Host\":\"unix://"))
    );

    // Streaming: both hosts flow while the third is retried in the background.
    let out = Command::new("timeout")
        .args(["--preserve-status", "-s", "INT", "1.5", BIN])
        .args(["-H", &a.url(), "-H", &b.url(), "-H", &down])
        .args(["stats", "--format", "ndjson"])
        .output()
        .unwrap();
    // Stopped while a host is failing: status 1.
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for host in [a.url(), b.url()] {
        let lines = stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{{\"host\":\"{host}\"")))
            .count();
        assert!(lines >= 12, "{host}: {lines} lines");
    }
    assert_eq!(
        text(&out.stderr).matches("Cannot connect").count(),
        1,
        "the down host is reported once: {}",
        text(&out.stderr)
    );
}
