//! Against a real Docker daemon: the engine follows containers started, paused, stopped and
//! removed with the docker CLI, and `dockstat stats --no-stream --format json` agrees with
//! `docker stats --no-stream --format json`.
//!
//! Runs when `DOCKSTAT_REAL_DOCKER` names the daemon (`unix:///tmp/dockerd-test/docker.sock`,
//! as `../shared/scripts/real-dockerd.sh start` prints it; `.ci/run` sets it); otherwise each
//! test says it was skipped. Containers are created with the image `bb:latest` that script
//! builds, named `dockstat-rt-<pid>-<n>`, and removed at the end.
//!
//! The TLS tests run when `DOCKSTAT_REAL_DOCKER_TLS` names the daemon's TLS port too
//! (`tcp://127.0.0.1:23760` after `RDD_TLS=1 real-dockerd.sh start`) and
//! `DOCKSTAT_REAL_DOCKER_CERTS` its certificate directory (`ca.pem`, `cert.pem`, `key.pem`).

mod common;
use common::real;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dockstat::engine::{Control, Endpoint, Engine, EngineConfig, Event, Gone, Selection};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

/// The daemon's URL, and the lock that runs these tests one at a time: each changes the
/// daemon's set of containers, which another compares.
fn daemon() -> Option<(String, MutexGuard<'static, ()>)> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let host = real::url()?;
    Some((
        host,
        ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()),
    ))
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

/// Containers of one test, removed when it ends (also when it fails).
struct Containers {
    host: String,
    names: Vec<String>,
}

impl Containers {
    fn new(host: &str) -> Containers {
        Containers {
            host: host.to_string(),
            names: Vec::new(),
        }
    }

    fn name(&mut self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "dockstat-rt-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.names.push(name.clone());
        name
    }

    /// `docker run -d --network none` with these options, image and command.
    fn run(&mut self, options: &[&str], command: &[&str]) -> String {
        let name = self.name();
        let mut args = vec!["run", "-d", "--network", "none", "--name", &name];
        args.extend_from_slice(options);
        args.push("bb:latest");
        args.extend_from_slice(command);
        docker(&self.host, &args);
        name
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if self.names.is_empty() {
            return;
        }
        let _ = Command::new("docker")
            .args(["rm", "-f"])
            .args(&self.names)
            .env("DOCKER_HOST", &self.host)
            .output();
    }
}

/// What the engine reported about the test's own containers.
#[derive(Default, Debug)]
struct Seen {
    added: BTreeSet<String>,
    samples: BTreeMap<String, usize>,
    gone: Vec<(String, Gone)>,
    errors: Vec<String>,
}

/// Polls until `done`, failing after `secs`.
fn until(
    engine: &mut Engine,
    seen: &mut Seen,
    mine: &BTreeSet<String>,
    secs: u64,
    what: &str,
    done: impl Fn(&Seen) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(seen) {
        assert!(Instant::now() < deadline, "{what}: {seen:?}");
        engine
            .poll(Some(Duration::from_millis(100)), &mut |event| {
                match event {
                    Event::Added(c) if mine.contains(&c.name) => {
                        seen.added.insert(c.name.clone());
                    }
                    Event::Sample { container, .. } if mine.contains(&container.name) => {
                        *seen.samples.entry(container.name.clone()).or_default() += 1;
                    }
                    Event::Gone { container, why } if mine.contains(&container.name) => {
                        seen.gone.push((container.name.clone(), why));
                    }
                    Event::Error {
                        container, error, ..
                    } if container.is_none_or(|c| mine.contains(&c.name)) => {
                        seen.errors.push(error.to_string());
                    }
                    _ => {}
                }
                Control::Continue
            })
            .unwrap();
    }
}

fn count(seen: &Seen, name: &str) -> usize {
    seen.samples.get(name).copied().unwrap_or(0)
}

#[test]
fn the_engine_follows_containers_started_paused_stopped_and_removed() {
    let Some((host, _one)) = daemon() else {
        return;
    };
    let mut cs = Containers::new(&host);
    let a = cs.run(&[], &["sleep", "600"]);
    let mut engine = Engine::new(EngineConfig::new(Endpoint::parse(&host).unwrap())).unwrap();
    let b = cs.name();
    let mine: BTreeSet<String> = [a.clone(), b.clone()].into();
    let mut seen = Seen::default();

    // A running container is found by the listing.
    until(&mut engine, &mut seen, &mine, 15, "listed", |s| {
        count(s, &a) >= 2
    });

    // One started now arrives through /events.
    docker(
        &host,
        &[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            &b,
            "bb:latest",
            "sleep",
            "600",
        ],
    );
    until(&mut engine, &mut seen, &mine, 15, "started", |s| {
        count(s, &b) >= 2
    });

    // Paused, it keeps its stream.
    docker(&host, &["pause", &a]);
    let before = count(&seen, &a);
    until(&mut engine, &mut seen, &mine, 15, "paused", |s| {
        count(s, &a) >= before + 2
    });
    docker(&host, &["unpause", &a]);
    assert!(seen.gone.is_empty(), "{seen:?}");

    // Stopped: gone.
    docker(&host, &["stop", "-t", "0", &a]);
    until(&mut engine, &mut seen, &mine, 15, "stopped", |s| {
        s.gone.contains(&(a.clone(), Gone::Stopped))
    });

    // Removed while running: it dies, then is destroyed; gone once.
    docker(&host, &["rm", "-f", &b]);
    until(&mut engine, &mut seen, &mine, 15, "removed", |s| {
        s.gone.iter().any(|(n, _)| *n == b)
    });

    // Started again: back.
    docker(&host, &["start", &a]);
    let before = count(&seen, &a);
    until(&mut engine, &mut seen, &mine, 15, "restarted", |s| {
        count(s, &a) >= before + 2
    });

    assert_eq!(seen.gone.len(), 2, "{seen:?}");
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let watched: BTreeSet<String> = engine
        .containers()
        .map(|c| c.name.clone())
        .filter(|n| mine.contains(n))
        .collect();
    assert_eq!(watched, BTreeSet::from([a]));
}

#[test]
fn a_named_stream_ends_cleanly_when_its_container_is_removed() {
    let Some((host, _one)) = daemon() else {
        return;
    };
    let mut cs = Containers::new(&host);
    let a = cs.run(&[], &["sleep", "600"]);
    let mut config = EngineConfig::new(Endpoint::parse(&host).unwrap());
    config.selection = Selection::Named(vec![a.clone()]);
    let mut engine = Engine::new(config).unwrap();
    let mine = BTreeSet::from([a.clone()]);
    let mut seen = Seen::default();
    until(&mut engine, &mut seen, &mine, 15, "streaming", |s| {
        count(s, &a) >= 2
    });
    docker(&host, &["rm", "-f", &a]);
    until(&mut engine, &mut seen, &mine, 15, "ended", |s| {
        !s.gone.is_empty()
    });
    assert_eq!(seen.gone, [(a, Gone::Removed)], "{seen:?}");
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
}

/// One `--format json` line per container, by name.
fn by_name(stdout: &[u8]) -> BTreeMap<String, BTreeMap<String, String>> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| {
            let fields: BTreeMap<String, String> =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            (fields["Name"].clone(), fields)
        })
        .collect()
}

#[test]
fn stats_no_stream_json_agrees_with_docker_stats() {
    let Some((host, _one)) = daemon() else {
        return;
    };
    let mut cs = Containers::new(&host);
    let limited = cs.run(&["-m", "96m"], &["sleep", "600"]);
    let busy = cs.run(&["--cpus", "0.2"], &["sh", "-c", "yes > /dev/null"]);
    let forks = cs.run(&[], &["sh", "-c", "sleep 600 & sleep 600 & wait"]);

    let theirs = docker(&host, &["stats", "--no-stream", "--format", "json"]);
    let ours = Command::new(BIN)
        .args(["-H", &host, "stats", "--no-stream", "--format", "json"])
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap();
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let theirs = by_name(&theirs.stdout);
    let ours = by_name(&ours.stdout);

    // The same containers, the same fields.
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for name in [&limited, &busy, &forks] {
        assert!(ours.contains_key(name), "{name} missing");
    }
    for (name, t) in &theirs {
        let o = &ours[name];
        assert_eq!(
            o.keys().collect::<Vec<_>>(),
            t.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for field in ["ID", "Container", "Name", "PIDs"] {
            assert_eq!(o[field], t[field], "{name}: {field}");
        }
        // The limit half of MEM USAGE / LIMIT; usage moves between the two readings.
        let limit =
            |f: &BTreeMap<String, String>| f["MemUsage"].split(" / ").nth(1).map(String::from);
        assert_eq!(limit(o), limit(t), "{name}: memory limit");
    }
    assert_eq!(
        ours[&limited]["MemUsage"].split(" / ").nth(1),
        Some("96MiB")
    );
    assert_eq!(ours[&forks]["PIDs"], "3");
    // A container held to a fifth of a CPU shows about that (docker stats: 100 % = one CPU).
    // One reading spans about a second, and the daemon reads the container's counter and
    // /proc/stat at moments that drift apart by tens of milliseconds on a loaded machine; CFS
    // also lets a period's quota land on either side of the window's edges. A CI run saw 31 %,
    // so the bound is wide; an unlimited `yes` loop still shows about 100 %, far outside it.
    let cpu: f64 = ours[&busy]["CPUPerc"]
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!((5.0..=50.0).contains(&cpu), "{cpu}");
}

/// The daemon's TLS URL and certificate directory, with the lock.
fn tls_daemon() -> Option<(String, String, String, MutexGuard<'static, ()>)> {
    let (host, guard) = daemon()?;
    let (tls, certs) = real::tls()?;
    Some((host, tls, certs, guard))
}

/// `dockstat ARGS` with docker's TLS environment (`DOCKER_TLS_VERIFY=1`, `DOCKER_CERT_PATH`),
/// and a HOME without a `.docker`.
fn dockstat_tls(tls_host: &str, cert_path: &str, args: &[&str]) -> Output {
    let home = std::env::temp_dir().join(format!("dockstat-rt-home-{}", std::process::id()));
    Command::new(BIN)
        .args(args)
        .env("DOCKER_HOST", tls_host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", cert_path)
        .env("HOME", home)
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_TLS")
        .output()
        .expect("dockstat")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn stats_and_get_over_tls_with_client_certificates() {
    let Some((host, tls, certs, _one)) = tls_daemon() else {
        return;
    };
    let mut cs = Containers::new(&host);
    let a = cs.run(&[], &["sleep", "600"]);

    let out = dockstat_tls(&tls, &certs, &["stats", "--no-stream", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ours = by_name(&out.stdout);
    assert!(ours.contains_key(&a), "{a} missing from {ours:?}");
    // The same containers as over the unix socket.
    let theirs = by_name(&docker(&host, &["stats", "--no-stream", "--format", "json"]).stdout);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );

    let out = dockstat_tls(&tls, &certs, &["get", "/images/json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let images: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON body");
    let tags: Vec<&str> = images
        .as_array()
        .expect("an array")
        .iter()
        .flat_map(|i| i["RepoTags"].as_array().into_iter().flatten())
        .filter_map(|t| t.as_str())
        .collect();
    assert!(tags.contains(&"bb:latest"), "{tags:?}");
}

#[test]
fn tls_without_a_client_certificate_fails_clearly() {
    let Some((_host, tls, certs, _one)) = tls_daemon() else {
        return;
    };
    // Only the CA: the server is verified, but we have no certificate to show it.
    let dir = std::env::temp_dir().join(format!("dockstat-rt-ca-only-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(format!("{certs}/ca.pem"), dir.join("ca.pem")).unwrap();
    let out = dockstat_tls(&tls, dir.to_str().unwrap(), &["get", "/_ping"]);
    let err = text(&out.stderr);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(35), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("client certificate"), "{err}");

    // A CA that did not sign the server's certificate: not trusted.
    let other = std::env::temp_dir().join(format!("dockstat-rt-other-ca-{}", std::process::id()));
    dockstat_sim::certs::Pki::generate(&other, &Default::default()).expect("a throwaway PKI");
    let out = Command::new(BIN)
        .args(["-H", &tls, "--tlsverify", "--tlscacert"])
        .arg(other.join("ca.pem"))
        .args(["--tlscert", &format!("{certs}/cert.pem")])
        .args(["--tlskey", &format!("{certs}/key.pem")])
        .args(["stats", "--no-stream"])
        .env("HOME", &other)
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_TLS_VERIFY")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&other).ok();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(60), "{err}");
    assert!(err.contains("not trusted"), "{err}");
}
