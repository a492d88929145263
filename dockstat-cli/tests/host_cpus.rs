//! The CPU count of the daemon's host (`NCPU` of `GET /info`) for frames without one: Podman's
//! frames carry neither `online_cpus` nor `percpu_usage`, and their samples get the count the
//! daemon's `/info` gives. A daemon whose `/info` says nothing useful (an error status,
//! garbage, no `NCPU`, an endless or a silent answer) leaves the count unknown, and nothing
//! else changes: no error, streams unaffected, nothing held up.
//!
//! Hostile `/info` answers come from a proxy in front of the simulated daemon that answers
//! `/info` itself and passes every other request through.
//!
//! The real daemon's count is checked against `docker info --format '{{.NCPU}}'` when
//! `DOCKSTAT_REAL_DOCKER` names it (see tests/real_docker.rs).

mod common;
use common::real;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use dockstat::engine::{Control, Endpoint, Engine, EngineConfig, Event, Mode};
use dockstat_sim::{Flavor, Listen, Sim, SimConfig};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn socket(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-ncpu-{tag}-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn sim(flavor: Flavor, ncpu: u32) -> Sim {
    let config = SimConfig {
        containers: 3,
        flavor,
        ncpu,
        interval: Duration::from_millis(100),
        ..SimConfig::default()
    };
    Sim::start(Listen::Unix(socket("sim")), config).expect("sim")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn dockstat(host: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["-H", host])
        .args(args)
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap()
}

/// The first `n` lines of `dockstat -H host stats --format ndjson`, and what it wrote on
/// stderr by then (it is stopped after them).
fn ndjson_stream(host: &str, n: usize) -> (Vec<Value>, String) {
    let mut child = Command::new(BIN)
        .args(["-H", host, "stats", "--format", "ndjson"])
        .env_remove("DOCKER_API_VERSION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(n)
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    (lines, text(&out.stderr))
}

/// `dockstat -H host stats --no-stream --format ndjson`: the samples, checked to end well.
fn ndjson_once(host: &str) -> Vec<Value> {
    let out = dockstat(host, &["stats", "--no-stream", "--format", "ndjson"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn podman_samples_carry_the_ncpu_of_the_daemons_host() {
    let sim = sim(Flavor::Podman, 6);
    let info: Value =
        serde_json::from_slice(&dockstat(&sim.url(), &["get", "/info"]).stdout).unwrap();
    assert_eq!(info["NCPU"], 6, "{info}");

    let (samples, stderr) = ndjson_stream(&sim.url(), 9);
    assert_eq!(samples.len(), 9, "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    for s in &samples {
        assert_eq!(s["online_cpus"], 6, "{s}");
        let (cpu, host) = (s["cpu_percent"].as_f64(), s["cpu_percent_host"].as_f64());
        // (serde_json reads floats to within an ulp.)
        let (cpu, host) = (cpu.unwrap(), host.unwrap());
        assert!((host - cpu / 6.0).abs() <= cpu * 1e-12, "{s}");
    }
    // The one frame of --no-stream too.
    let once = ndjson_once(&sim.url());
    assert_eq!(once.len(), 3);
    for s in &once {
        assert_eq!(s["online_cpus"], 6, "{s}");
    }
}

#[test]
fn frames_with_their_own_count_keep_it() {
    // Docker's frames have `online_cpus`: the host's count (here one /info makes up) does
    // not replace it.
    let sim = sim(Flavor::Docker, 6);
    let proxy = InfoProxy::start(&sim, Answer::Ncpu(64));
    let once = ndjson_once(&proxy.url());
    assert_eq!(once.len(), 3);
    for s in &once {
        assert_eq!(s["online_cpus"], 6, "{s}");
    }
    assert!(proxy.asked() >= 1);
}

#[test]
fn an_info_without_a_count_leaves_it_unknown_and_the_streams_as_they_were() {
    let sim = sim(Flavor::Podman, 6);
    for answer in [
        Answer::NotFound,
        Answer::Garbage,
        Answer::NoNcpu,
        Answer::Endless,
    ] {
        let proxy = InfoProxy::start(&sim, answer);
        let (samples, stderr) = ndjson_stream(&proxy.url(), 6);
        assert_eq!(samples.len(), 6, "{answer:?}: {stderr}");
        assert!(stderr.is_empty(), "{answer:?}: {stderr}");
        for s in &samples {
            assert_eq!(s["online_cpus"], 0, "{answer:?}: {s}");
            assert_eq!(s["cpu_percent_host"], 0.0, "{answer:?}: {s}");
        }
        let once = ndjson_once(&proxy.url());
        assert_eq!(once.len(), 3, "{answer:?}");
        assert!(once.iter().all(|s| s["online_cpus"] == 0), "{once:?}");
        assert!(proxy.asked() >= 2, "{answer:?}");
        if answer == Answer::Endless {
            // Read up to the bound and no further: the streaming run lasts seconds, in which
            // an unbounded reader takes far more than 8 MiB of the proxy's 64; each exchange
            // closed is under it. (How many close within the wait depends on when each run
            // asked and exited: a CI run once saw one of two.)
            let closed = proxy.wait_closed(proxy.asked(), Duration::from_secs(5));
            assert!(!closed.is_empty(), "asked {}: {closed:?}", proxy.asked());
            assert!(closed.iter().all(|c| c.bytes < 8 << 20), "{closed:?}");
        }
    }
}

/// Runs an engine on `url` until `until` says so or `limit` passes: the samples' CPU counts
/// (by container name) and the errors.
fn run_engine(
    config: EngineConfig,
    limit: Duration,
    mut until: impl FnMut(&Engine, &[(String, u32)]) -> bool,
) -> (Engine, Vec<(String, u32)>, Vec<String>, Duration) {
    let mut engine = Engine::new(config).unwrap();
    let (mut samples, mut errors) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while start.elapsed() < limit && !engine.is_done() && !until(&engine, &samples) {
        engine
            .poll(Some(Duration::from_millis(20)), &mut |event| {
                match event {
                    Event::Sample {
                        container, derived, ..
                    } => samples.push((container.name.clone(), derived.online_cpus)),
                    Event::Error { error, .. } => errors.push(error.to_string()),
                    _ => {}
                }
                Control::Continue
            })
            .unwrap();
    }
    let took = start.elapsed();
    (engine, samples, errors, took)
}

fn config(url: &str, mode: Mode, timeout: Duration) -> EngineConfig {
    let mut config = EngineConfig::new(Endpoint::parse(url).unwrap());
    config.mode = mode;
    config.connect_timeout = timeout;
    config
}

#[test]
fn a_slow_info_holds_up_nothing_and_is_given_up_at_the_deadline() {
    let sim = sim(Flavor::Podman, 6);
    let timeout = Duration::from_millis(500);
    for answer in [Answer::Silent, Answer::Drip] {
        let proxy = InfoProxy::start(&sim, answer);
        // Samples flow at once: nothing waits for /info (given up after 10 s here).
        let (_, samples, errors, took) = run_engine(
            config(&proxy.url(), Mode::Stream, Duration::from_secs(10)),
            Duration::from_secs(10),
            |_, samples| samples.len() >= 6,
        );
        assert!(samples.len() >= 6, "{answer:?}: {samples:?} {errors:?}");
        assert!(
            took < Duration::from_secs(5),
            "{answer:?}: samples after {took:?}"
        );
        assert!(samples.iter().all(|s| s.1 == 0), "{samples:?}");
        assert!(errors.is_empty(), "{answer:?}: {errors:?}");
        // ... and go on while /info is given up at the deadline, without a word.
        let (engine, samples, errors, _) = run_engine(
            config(&proxy.url(), Mode::Stream, timeout),
            timeout * 4,
            |_, _| false,
        );
        assert!(samples.len() >= 12, "{answer:?}: {samples:?}");
        assert!(errors.is_empty(), "{answer:?}: {errors:?}");
        assert_eq!(engine.host_states()[0].cpus, 0);
        drop(engine);
        let closed = proxy.wait_closed(2, Duration::from_secs(2));
        assert_eq!(closed.len(), 2, "{answer:?}");
        // The second engine's /info was closed at its deadline, well before the engine went.
        let by_engine = closed[1].after;
        assert!(
            by_engine >= timeout - Duration::from_millis(50) && by_engine < timeout * 3,
            "{answer:?}: closed after {by_engine:?}"
        );
        // A one-sample run ends when its samples are in, not when /info gives up.
        let (_, samples, errors, took) = run_engine(
            config(&proxy.url(), Mode::OneShot, Duration::from_secs(10)),
            Duration::from_secs(10),
            |_, _| false,
        );
        assert_eq!(samples.len(), 3, "{answer:?}: {errors:?}");
        assert!(errors.is_empty(), "{answer:?}: {errors:?}");
        assert!(took < Duration::from_secs(5), "{answer:?}: {took:?}");
    }
}

#[test]
fn the_count_is_asked_again_when_the_daemon_comes_back() {
    let sim = sim(Flavor::Podman, 6);
    let proxy = InfoProxy::start(&sim, Answer::Ncpu(3));
    let timeout = Duration::from_secs(2);
    let (mut engine, samples, errors, _) = run_engine(
        config(&proxy.url(), Mode::Stream, timeout),
        Duration::from_secs(10),
        |e, samples| e.host_states()[0].cpus == 3 && samples.len() >= 6,
    );
    assert_eq!(engine.host_states()[0].cpus, 3, "{errors:?}");
    let last = samples.last().unwrap();
    assert_eq!(last.1, 3, "{samples:?}");
    assert!(errors.is_empty(), "{errors:?}");

    // The daemon restarts (on a bigger machine, say): its /info is asked again.
    proxy.set(Answer::Ncpu(5));
    sim.restart(Duration::from_millis(300)).unwrap();
    let start = Instant::now();
    let mut after = Vec::new();
    while start.elapsed() < Duration::from_secs(15) && after.iter().filter(|&&c| c == 5).count() < 3
    {
        engine
            .poll(Some(Duration::from_millis(20)), &mut |event| {
                if let Event::Sample { derived, .. } = event {
                    after.push(derived.online_cpus);
                }
                Control::Continue
            })
            .unwrap();
    }
    assert_eq!(engine.host_states()[0].cpus, 5, "{after:?}");
    assert!(after.iter().filter(|&&c| c == 5).count() >= 3, "{after:?}");
    // Once 5, never 3 again.
    let first5 = after.iter().position(|&c| c == 5).unwrap();
    assert!(after[first5..].iter().all(|&c| c == 5), "{after:?}");
    assert!(proxy.asked() >= 2);
}

#[test]
fn the_real_daemons_count_is_what_docker_info_says() {
    let Some(host) = real::url() else {
        return;
    };
    let out = Command::new("docker")
        .args(["info", "--format", "{{.NCPU}}"])
        .env("DOCKER_HOST", &host)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .expect("the docker CLI");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let want: u32 = text(&out.stdout).trim().parse().unwrap();
    assert!(want > 0);
    let (engine, _, errors, _) = run_engine(
        config(&host, Mode::Stream, Duration::from_secs(10)),
        Duration::from_secs(15),
        |e, _| e.host_states()[0].cpus != 0,
    );
    assert_eq!(engine.host_states()[0].cpus, want, "{errors:?}");
    assert!(errors.is_empty(), "{errors:?}");
}

// ---- a proxy that answers /info itself ----------------------------------------------------

/// How the proxy answers `/info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Ncpu(u32),
    /// What a daemon without the route says.
    NotFound,
    /// A 200 with a body that is not JSON (but names NCPU).
    Garbage,
    /// A JSON object without `NCPU`.
    NoNcpu,
    /// A 200 whose chunked body never ends (up to 64 MiB), sent as fast as it is read.
    Endless,
    /// The request is read, and nothing is ever answered.
    Silent,
    /// A 200 head, then one byte of body every 50 ms.
    Drip,
}

/// An `/info` connection the client closed: when (after its request) and how many bytes of
/// body it had taken.
#[derive(Clone, Copy, Debug)]
struct Closed {
    after: Duration,
    bytes: usize,
}

#[derive(Default)]
struct Seen {
    asked: AtomicUsize,
    closed: Mutex<Vec<Closed>>,
}

struct InfoProxy {
    path: PathBuf,
    answer: Arc<Mutex<Answer>>,
    seen: Arc<Seen>,
}

impl InfoProxy {
    fn start(sim: &Sim, answer: Answer) -> InfoProxy {
        let upstream = PathBuf::from(sim.url().trim_start_matches("unix://"));
        let path = socket("proxy");
        let listener = UnixListener::bind(&path).unwrap();
        let answer = Arc::new(Mutex::new(answer));
        let seen = Arc::new(Seen::default());
        let (a, s) = (Arc::clone(&answer), Arc::clone(&seen));
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let (upstream, a, s) = (upstream.clone(), Arc::clone(&a), Arc::clone(&s));
                thread::spawn(move || serve(client, &upstream, &a, &s));
            }
        });
        InfoProxy { path, answer, seen }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    fn set(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn asked(&self) -> usize {
        self.seen.asked.load(Ordering::SeqCst)
    }

    fn closed(&self) -> Vec<Closed> {
        self.seen.closed.lock().unwrap().clone()
    }

    /// The closed `/info` connections once there are `n`, or after `limit`.
    fn wait_closed(&self, n: usize, limit: Duration) -> Vec<Closed> {
        let start = Instant::now();
        while self.closed().len() < n && start.elapsed() < limit {
            thread::sleep(Duration::from_millis(10));
        }
        self.closed()
    }
}

impl Drop for InfoProxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(mut client: UnixStream, upstream: &Path, answer: &Mutex<Answer>, seen: &Seen) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 << 10 {
            return;
        }
    }
    let target = text(&head)
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let path = target.split('?').next().unwrap_or_default();
    let path = match path.strip_prefix("/v") {
        Some(rest) => rest.find('/').map_or(path, |i| &rest[i..]),
        None => path,
    };
    if path == "/info" {
        seen.asked.fetch_add(1, Ordering::SeqCst);
        let answer = *answer.lock().unwrap();
        let start = Instant::now();
        if let Some(bytes) = answer_info(&mut client, answer) {
            seen.closed.lock().unwrap().push(Closed {
                after: start.elapsed(),
                bytes,
            });
        }
        return;
    }
    let Ok(mut daemon) = UnixStream::connect(upstream) else {
        return;
    };
    if daemon.write_all(&head).is_err() {
        return;
    }
    let (Ok(mut from_client), Ok(mut to_daemon)) = (client.try_clone(), daemon.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let _ = std::io::copy(&mut from_client, &mut to_daemon);
        let _ = to_daemon.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut daemon, &mut client);
    let _ = client.shutdown(std::net::Shutdown::Both);
    let _ = daemon.shutdown(std::net::Shutdown::Both);
}

/// Answers `/info`; for the answers that never end, the body bytes written before the client
/// closed the connection.
fn answer_info(client: &mut UnixStream, answer: Answer) -> Option<usize> {
    let whole = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let reply = match answer {
        Answer::Ncpu(n) => whole("200 OK", &format!("{{\"ID\":\"proxy\",\"NCPU\":{n}}}\n")),
        Answer::NotFound => whole("404 Not Found", "{\"message\":\"page not found\"}\n"),
        Answer::Garbage => whole("200 OK", "<html>{\"NCPU\":8 no JSON here</html>\n"),
        Answer::NoNcpu => whole("200 OK", "{\"ID\":\"proxy\",\"Name\":\"x\"}\n"),
        Answer::Endless | Answer::Drip => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                        Transfer-Encoding: chunked\r\n\r\n";
            client.write_all(head.as_bytes()).ok()?;
            let (chunk, pause) = if answer == Answer::Endless {
                (vec![b' '; 64 << 10], Duration::ZERO)
            } else {
                (vec![b' '], Duration::from_millis(50))
            };
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            let mut sent = 0;
            while sent < 64 << 20 {
                if client.write_all(&framed).is_err() {
                    return Some(sent);
                }
                sent += chunk.len();
                thread::sleep(pause);
            }
            return None;
        }
        Answer::Silent => {
            let mut buf = [0u8; 64];
            loop {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => return Some(0),
                    Ok(_) => {}
                }
            }
        }
    };
    let _ = client.write_all(reply.as_bytes());
    None
}
