//! dockstat's TLS client against the simulated daemon over TLS (`Listen::Tls` on
//! 127.0.0.1, port 0), through the `dockstat` binary and the library: docker's environment
//! and flags, client certificates in every key form, each way a server certificate or a
//! client's files can be wrong (with its exit code and the words of its message), `--tls`
//! without verification, plain HTTP and TLS crossed, and several hosts with their own
//! settings.
//!
//! The binary runs with a cleared environment: only `PATH`, `HOME` (an empty temp dir, so
//! that `~/.docker` is never the real one) and the `DOCKER_*` variables a test sets. Every
//! run is killed (and the test failed) if it takes longer than [`LIMIT`].

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use dockstat::engine::{Client, Control, Endpoint, Engine, EngineConfig, Event};
use dockstat::tls::{TlsConnector, TlsOptions};
use dockstat::{ErrorKind, TlsError};
use dockstat_sim::certs::{CertKey, Pki, PkiOptions, WRONG_HOST};
use dockstat_sim::{Listen, Sim, SimConfig, SimTls};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

/// The longest any one run of the binary may take.
const LIMIT: Duration = Duration::from_secs(10);

const DAY: Duration = Duration::from_secs(86_400);

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A temp directory, removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dockstat-tls-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Tmp(dir)
    }

    /// A subdirectory, created.
    fn dir(&self, name: &str) -> PathBuf {
        let d = self.0.join(name);
        std::fs::create_dir_all(&d).expect("subdir");
        d
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).expect("write file");
        p
    }

    /// `HOME` for the binary: empty, so there is no `~/.docker`.
    fn home(&self) -> PathBuf {
        self.dir("home")
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh PKI with all its variants in `tmp/pki`.
fn pki(tmp: &Tmp) -> Pki {
    let opts = PkiOptions {
        variants: true,
        ..PkiOptions::default()
    };
    Pki::generate(&tmp.0.join("pki"), &opts).expect("generate PKI")
}

fn config(containers: usize) -> SimConfig {
    SimConfig {
        containers,
        interval: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

fn tls_sim(tls: SimTls, config: SimConfig) -> Sim {
    let listen = Listen::Tls {
        addr: "127.0.0.1:0".parse().expect("addr"),
        tls,
    };
    let sim = Sim::start(listen, config).expect("start TLS sim");
    assert!(sim.url().starts_with("tcp://127.0.0.1:"), "{}", sim.url());
    sim
}

/// The sim serving `server` (certificate and key), asking for client certificates signed by
/// `client_ca` if given.
fn serving(server: &CertKey, client_ca: Option<&Path>, containers: usize) -> Sim {
    tls_sim(
        SimTls {
            cert_chain: server.cert.clone(),
            key: server.key.clone(),
            client_ca: client_ca.map(Path::to_path_buf),
        },
        config(containers),
    )
}

fn unix_sim(tmp: &Tmp, containers: usize) -> Sim {
    Sim::start(Listen::Unix(tmp.0.join("sim.sock")), config(containers)).expect("unix sim")
}

fn variants(pki: &Pki) -> &dockstat_sim::certs::Variants {
    pki.variants.as_ref().expect("variants")
}

fn test_key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dockstat-sim/tests/data/tls")
        .join(name)
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

// ---------------------------------------------------------------------------------------------
// Running the binary

/// The binary with a clean environment: `PATH`, `HOME`, nothing else.
fn dockstat(home: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .stdin(Stdio::null());
    c
}

/// The environment of a docker client set up for TLS (`docker-machine env` style).
fn docker_env(c: &mut Command, sim: &Sim, cert_path: &Path) {
    c.env("DOCKER_HOST", sim.url())
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", cert_path);
}

/// What a run of the binary did.
struct Run {
    args: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dockstat {} -> {:?} in {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.args, self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    })
}

/// Runs `cmd` to its end; fails the test if that takes longer than [`LIMIT`].
fn run(mut cmd: Command) -> Run {
    let args = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dockstat runs");
    let out = read_all(child.stdout.take().expect("stdout"));
    let err = read_all(child.stderr.take().expect("stderr"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let err = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
            panic!("dockstat {args} still running after {LIMIT:?} (killed); stderr: {err}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = |h: std::thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().expect("reader")).into_owned()
    };
    Run {
        args,
        code: status.code(),
        stdout: text(out),
        stderr: text(err),
        elapsed: started.elapsed(),
    }
}

/// `run`, then: exit code `code`, exactly one line on stderr, holding each of `phrases`,
/// and no panic.
fn fails(cmd: Command, code: i32, phrases: &[&str]) -> Run {
    let r = run(cmd);
    assert_eq!(r.code, Some(code), "{r}");
    assert!(r.stderr.starts_with("dockstat: "), "{r}");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {r}");
    for p in phrases {
        assert!(r.stderr.contains(p), "{p:?} missing: {r}");
    }
    assert!(!r.stderr.contains("panicked"), "{r}");
    // The kind is said once (not again in a context that repeats the whole error).
    assert!(r.stderr.matches("TLS: ").count() <= 1, "{r}");
    assert!(r.stderr.matches("daemon answered").count() <= 1, "{r}");
    r
}

/// The lines of `text`, sorted (stats prints containers in the order their samples came).
fn sorted(text: &str) -> Vec<&str> {
    let mut v: Vec<&str> = text.lines().collect();
    v.sort_unstable();
    v
}

/// `run`, then: exit 0 and nothing on stderr.
fn succeeds(cmd: Command) -> Run {
    let r = run(cmd);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stderr, "", "{r}");
    r
}

/// `dockstat get /_ping` with `args` before the command.
fn ping(home: &Path, args: &[&str]) -> Command {
    let mut c = dockstat(home);
    c.args(args).args(["get", "/_ping"]);
    c
}

/// The `--tlsverify` flags for a CA and a client pair.
fn verify_flags<'a>(ca: &'a Path, cert: &'a Path, key: &'a Path) -> Vec<&'a str> {
    vec![
        "--tlsverify",
        "--tlscacert",
        s(ca),
        "--tlscert",
        s(cert),
        "--tlskey",
        s(key),
    ]
}

/// `YYYY-MM-DD` (UTC) of a time, as dockstat's messages print dates.
fn date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let secs = i64::try_from(secs).expect("before the year 292 billion");
    let ((y, m, d), _) = dockstat::stats::Timestamp { secs, nanos: 0 }.civil();
    format!("{y:04}-{m:02}-{d:02}")
}

// ---------------------------------------------------------------------------------------------
// 1. Success

#[test]
fn docker_env_with_client_certificate() {
    let tmp = Tmp::new("env");
    let pki = pki(&tmp);
    let sim = tls_sim(pki.sim_tls(true), config(3));
    let home = tmp.home();

    let mut c = ping(&home, &[]);
    docker_env(&mut c, &sim, &pki.dir);
    let r = succeeds(c);
    assert_eq!(r.stdout, "OK", "{r}");

    let mut c = dockstat(&home);
    docker_env(&mut c, &sim, &pki.dir);
    c.args(["stats", "--no-stream"]);
    let r = succeeds(c);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{r}");
    assert!(lines[0].starts_with("CONTAINER ID "), "{r}");
    for name in ["busy-1", "idle-2"] {
        assert!(r.stdout.contains(name), "{name}: {r}");
    }
    // Every request went over TLS with the client certificate: the sim takes nothing else.
    assert!(sim.counters().requests >= 4, "{:?}", sim.counters());

    // Without DOCKER_CERT_PATH the files come from ~/.docker.
    let docker_dir = home.join(".docker");
    std::fs::create_dir_all(&docker_dir).expect("~/.docker");
    for (from, to) in [
        (&pki.ca.cert, "ca.pem"),
        (&pki.client.cert, "cert.pem"),
        (&pki.client.key, "key.pem"),
    ] {
        copy(from, &docker_dir.join(to));
    }
    let mut c = ping(&home, &[]);
    c.env("DOCKER_HOST", sim.url())
        .env("DOCKER_TLS_VERIFY", "1");
    assert_eq!(succeeds(c).stdout, "OK");
}

#[test]
fn flags_without_environment() {
    let tmp = Tmp::new("flags");
    let pki = pki(&tmp);
    let sim = tls_sim(pki.sim_tls(true), config(2));
    let home = tmp.home();
    let url = sim.url();
    let mut args = vec!["-H", &url];
    args.extend(verify_flags(
        &pki.ca.cert,
        &pki.client.cert,
        &pki.client.key,
    ));

    let r = succeeds(ping(&home, &args));
    assert_eq!(r.stdout, "OK", "{r}");

    let mut c = dockstat(&home);
    c.args(&args)
        .args(["stats", "--no-stream", "--format", "{{.Name}}"]);
    let r = succeeds(c);
    assert_eq!(sorted(&r.stdout), ["busy-1", "idle-2"], "{r}");

    // https:// says TLS and verification by itself.
    let https = url.replacen("tcp://", "https://", 1);
    let r = succeeds(ping(
        &home,
        &[
            "-H",
            &https,
            "--tlscacert",
            s(&pki.ca.cert),
            "--tlscert",
            s(&pki.client.cert),
            "--tlskey",
            s(&pki.client.key),
        ],
    ));
    assert_eq!(r.stdout, "OK");
    // The flags alone, without --tlsverify or --tls: plain HTTP, which the TLS port refuses.
    let r = run(ping(
        &home,
        &[
            "-H",
            &url,
            "--tlscacert",
            s(&pki.ca.cert),
            "--tlscert",
            s(&pki.client.cert),
            "--tlskey",
            s(&pki.client.key),
        ],
    ));
    assert_ne!(r.code, Some(0), "{r}");
}

#[test]
fn ndjson_streams_over_tls() {
    let tmp = Tmp::new("ndjson");
    let pki = pki(&tmp);
    let sim = tls_sim(
        pki.sim_tls(true),
        SimConfig {
            interval: Duration::from_millis(20),
            ..config(2)
        },
    );
    let home = tmp.home();
    let mut c = dockstat(&home);
    docker_env(&mut c, &sim, &pki.dir);
    let mut child: Child = c
        .args(["stats", "--format", "ndjson"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dockstat runs");
    let stderr = read_all(child.stderr.take().expect("stderr"));
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut lines = Vec::new();
    while lines.len() < 20 {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(line) => lines.push(line),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
                panic!("{} lines, then {e:?}; stderr: {err}", lines.len());
            }
        }
    }
    let elapsed = started.elapsed();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + LIMIT;
    let exit = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dockstat did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let err = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    assert_eq!(exit.code(), Some(0), "{err}");
    assert_eq!(err, "");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let host = format!("{{\"host\":\"{}\"", sim.url());
    for name in ["busy-1", "idle-2"] {
        let n = lines
            .iter()
            .filter(|l| l.starts_with(&host) && l.contains(&format!("\"name\":\"{name}\"")))
            .count();
        assert!(n >= 5, "{name}: {n} of {lines:#?}");
    }
}

/// The library: an engine streaming over TLS receives every frame the sim sent, exactly.
#[test]
fn engine_streams_over_tls_and_counts_every_frame() {
    let tmp = Tmp::new("engine");
    let pki = pki(&tmp);
    let sim = tls_sim(
        pki.sim_tls(true),
        SimConfig {
            interval: Duration::from_millis(20),
            ..config(3)
        },
    );
    let connector = TlsConnector::new(&TlsOptions {
        verify: true,
        ca: Some(pki.ca.cert.clone()),
        cert: Some(pki.client.cert.clone()),
        key: Some(pki.client.key.clone()),
        cert_path: None,
    })
    .expect("connector");
    assert!(connector.verifies() && connector.has_client_cert());
    let endpoint = Endpoint::parse_tls(&sim.url(), connector).expect("endpoint");
    assert!(endpoint.tls().is_some());
    let mut engine = Engine::new(EngineConfig::new(endpoint.clone())).expect("engine");
    let mut samples = std::collections::BTreeMap::<String, u64>::new();
    let mut errors = Vec::new();
    let mut turn = |engine: &mut Engine, samples: &mut std::collections::BTreeMap<String, u64>| {
        engine
            .poll(Some(Duration::from_millis(20)), &mut |event| {
                match event {
                    Event::Sample { container, .. } => {
                        *samples.entry(container.name.clone()).or_default() += 1;
                    }
                    Event::Error { error, .. } => errors.push(error.to_string()),
                    _ => {}
                }
                Control::Continue
            })
            .expect("poll");
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !(samples.len() == 3 && samples.values().all(|&n| n >= 10)) {
        turn(&mut engine, &mut samples);
    }
    assert_eq!(samples.len(), 3, "{samples:?}");
    assert!(samples.values().all(|&n| n >= 10), "{samples:?}");
    let c = engine.counters();
    assert_eq!((c.streams, c.open), (3, 3), "{c:?}");

    // Pause the sim's frames (a second TLS connection, through the library's client), then
    // read on until quiet: the engine has every frame the sim wrote, no more, no fewer.
    let mut client = Client::new(endpoint).expect("client");
    client.set_timeout(Some(Duration::from_secs(5)));
    let paused = client.get("/_sim/pause").expect("pause");
    assert_eq!(
        (paused.code, paused.body.as_slice()),
        (200, b"{\"ok\":true}\n".as_slice())
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = (engine.counters().frames, Instant::now());
    while Instant::now() < deadline && last.1.elapsed() < Duration::from_millis(300) {
        turn(&mut engine, &mut samples);
        let frames = engine.counters().frames;
        if frames != last.0 {
            last = (frames, Instant::now());
        }
    }
    let (frames, sim_counters) = (engine.counters().frames, sim.counters());
    assert_eq!(frames, samples.values().sum::<u64>());
    assert_eq!(frames, sim_counters.frames_sent, "{sim_counters:?}");
    assert_eq!(sim_counters.frames_skipped, 0, "{sim_counters:?}");
    assert!(errors.is_empty(), "{errors:?}");
    // One connection per stream, one for discovery's ping, listing and events, one for the
    // pause, all of them TLS with the client certificate (the sim takes nothing else).
    assert!(sim_counters.connections_accepted >= 5, "{sim_counters:?}");
}

// ---------------------------------------------------------------------------------------------
// 2–3. Client certificates

#[test]
fn server_requires_a_client_certificate_we_do_not_have() {
    let tmp = Tmp::new("nocert");
    let pki = pki(&tmp);
    let sim = tls_sim(pki.sim_tls(true), config(1));
    let home = tmp.home();
    // A certificate directory with the CA only.
    let certs = tmp.dir("certs");
    copy(&pki.ca.cert, &certs.join("ca.pem"));

    let mut c = ping(&home, &[]);
    docker_env(&mut c, &sim, &certs);
    fails(
        c,
        35,
        &[
            "TLS: client certificate required",
            "127.0.0.1 requires a client certificate and none is set",
            &format!("no cert.pem and key.pem in {}", certs.display()),
            "--tlscert and --tlskey",
        ],
    );

    // stats says the same and exits the same.
    let mut c = dockstat(&home);
    docker_env(&mut c, &sim, &certs);
    c.args(["stats", "--no-stream"]);
    fails(
        c,
        35,
        &[
            "client certificate required",
            "requires a client certificate",
        ],
    );

    // The library's kind.
    let connector = TlsConnector::new(&TlsOptions {
        verify: true,
        ca: Some(pki.ca.cert.clone()),
        ..TlsOptions::default()
    })
    .expect("connector");
    let mut client =
        Client::new(Endpoint::parse_tls(&sim.url(), connector).expect("endpoint")).expect("client");
    client.set_timeout(Some(Duration::from_secs(5)));
    let e = client.get("/_ping").expect_err("refused");
    assert_eq!(
        e.kind(),
        ErrorKind::Tls(TlsError::ClientCertRequired),
        "{e}"
    );
}

#[test]
fn client_certificate_of_another_ca_is_rejected() {
    let tmp = Tmp::new("otherclient");
    let pki = pki(&tmp);
    let v = variants(&pki);
    let sim = tls_sim(pki.sim_tls(true), config(1));
    let home = tmp.home();
    let url = sim.url();
    let mut args = vec!["-H", &url];
    args.extend(verify_flags(
        &pki.ca.cert,
        &v.other_client.cert,
        &v.other_client.key,
    ));
    fails(
        ping(&home, &args),
        35,
        &[
            "TLS: client certificate rejected",
            &format!(
                "127.0.0.1 rejected the client certificate {}",
                v.other_client.cert.display()
            ),
        ],
    );
    // The server saw the handshake and no request.
    assert_eq!(sim.counters().requests, 0);
}

// ---------------------------------------------------------------------------------------------
// 4–6. Server certificates

#[test]
fn server_certificate_of_an_unknown_ca_is_not_trusted() {
    let tmp = Tmp::new("unknownca");
    let pki = pki(&tmp);
    let sim = serving(&variants(&pki).other_server, None, 1);
    let home = tmp.home();
    let mut c = ping(&home, &[]);
    docker_env(&mut c, &sim, &pki.dir);
    fails(
        c,
        60,
        &[
            "TLS: server certificate not trusted",
            &format!(
                "the certificate of 127.0.0.1 is not signed by the CA file {}",
                pki.ca.cert.display()
            ),
        ],
    );
    // Without a CA file, the public roots do not know it either.
    let url = sim.url();
    fails(
        ping(&home, &["-H", &url, "--tlsverify"]),
        60,
        &["not trusted", "not signed by the public CA roots"],
    );
    // Trusting the other CA, it works: the test fails for the right reason.
    let r = succeeds(ping(
        &home,
        &[
            "-H",
            &url,
            "--tlsverify",
            "--tlscacert",
            s(&variants(&pki).other_ca.cert),
        ],
    ));
    assert_eq!(r.stdout, "OK");
    assert_eq!(sim.counters().requests, 1);
}

#[test]
fn expired_server_certificate() {
    let tmp = Tmp::new("expired");
    let before = SystemTime::now();
    let pki = pki(&tmp);
    let sim = serving(&variants(&pki).expired_server, None, 1);
    let home = tmp.home();
    let mut c = ping(&home, &[]);
    docker_env(&mut c, &sim, &pki.dir);
    let r = fails(
        c,
        60,
        &[
            "TLS: server certificate expired",
            "the certificate of 127.0.0.1 expired on ",
        ],
    );
    // Yesterday (by the clock of either end of the generation).
    let days = [date(before - DAY), date(SystemTime::now() - DAY)];
    assert!(
        days.iter()
            .any(|d| r.stderr.contains(&format!("expired on {d}"))),
        "{days:?}: {r}"
    );
}

/// A CA and a server certificate (for 127.0.0.1) valid from `from` to `to`, written to
/// `dir`: (the CA file, the server's pair).
fn own_server_cert(dir: &Path, from: SystemTime, to: SystemTime) -> (PathBuf, CertKey) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };
    let at = |t: SystemTime| {
        rcgen::date_time_ymd(1970, 1, 1)
            + Duration::from_secs(
                t.duration_since(SystemTime::UNIX_EPOCH)
                    .expect("after 1970")
                    .as_secs(),
            )
    };
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "dockstat tls test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = at(SystemTime::now() - DAY);
    ca.not_after = at(SystemTime::now() + 30 * DAY);
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_pem = ca.self_signed(&ca_key).expect("CA").pem();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name
        .push(DnType::CommonName, "dockstat tls test server");
    leaf.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = at(from);
    leaf.not_after = at(to);
    let key = KeyPair::generate().expect("server key");
    let cert = leaf.signed_by(&key, &issuer).expect("server certificate");
    let ca_file = dir.join("own-ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write CA");
    let pair = CertKey {
        cert: dir.join("own-server-cert.pem"),
        key: dir.join("own-server-key.pem"),
    };
    std::fs::write(&pair.cert, cert.pem()).expect("write certificate");
    std::fs::write(&pair.key, key.serialize_pem()).expect("write key");
    (ca_file, pair)
}

#[test]
fn server_certificate_not_valid_yet() {
    let tmp = Tmp::new("notyet");
    let from = SystemTime::now() + 10 * DAY;
    let (ca, server) = own_server_cert(&tmp.0, from, from + 10 * DAY);
    let sim = serving(&server, None, 1);
    let home = tmp.home();
    let url = sim.url();
    fails(
        ping(&home, &["-H", &url, "--tlsverify", "--tlscacert", s(&ca)]),
        60,
        &[
            "TLS: server certificate not valid yet",
            &format!(
                "the certificate of 127.0.0.1 is not valid until {}",
                date(from)
            ),
        ],
    );
    // The same CA with a certificate valid now works: only the dates differ.
    let now = SystemTime::now();
    let (ca, server) = own_server_cert(&tmp.dir("now"), now - DAY, now + DAY);
    let sim = serving(&server, None, 1);
    let url = sim.url();
    let r = succeeds(ping(
        &home,
        &["-H", &url, "--tlsverify", "--tlscacert", s(&ca)],
    ));
    assert_eq!(r.stdout, "OK");
}

#[test]
fn server_certificate_for_another_name() {
    let tmp = Tmp::new("wronghost");
    let pki = pki(&tmp);
    let sim = serving(&variants(&pki).wrong_host_server, None, 1);
    let home = tmp.home();
    let mut c = ping(&home, &[]);
    docker_env(&mut c, &sim, &pki.dir);
    fails(
        c,
        60,
        &[
            "TLS: server certificate for another name",
            &format!(
                "the certificate of 127.0.0.1 is not valid for the name 127.0.0.1 \
                 (it is for {WRONG_HOST})]"
            ),
        ],
    );
    // By name, too.
    let port = sim.url().rsplit(':').next().expect("port").to_string();
    let mut c = ping(&home, &[]);
    docker_env(&mut c, &sim, &pki.dir);
    c.env("DOCKER_HOST", format!("tcp://localhost:{port}"));
    let r = run(c);
    // localhost may resolve to ::1 first, where nothing listens; then 127.0.0.1.
    assert_eq!(r.code, Some(60), "{r}");
    assert!(
        r.stderr
            .contains("the certificate of localhost is not valid for the name localhost"),
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7–8. Client key forms and bad files

#[test]
fn client_keys_in_pkcs1_sec1_and_pkcs8() {
    let tmp = Tmp::new("keyforms");
    let pki = pki(&tmp);
    let sim = tls_sim(pki.sim_tls(true), config(1));
    let home = tmp.home();
    let url = sim.url();
    for (file, stem) in [
        ("rsa-pkcs1.pem", "rsa-pkcs1"),
        ("ec-sec1.pem", "ec-sec1"),
        ("rsa-pkcs8.pem", "rsa-pkcs8"),
        ("ec-pkcs8.pem", "ec-pkcs8"),
    ] {
        let key = test_key(file);
        let cert = pki.issue_client_cert(&key, stem).expect(stem);
        let mut args = vec!["-H", &url];
        args.extend(verify_flags(&pki.ca.cert, &cert, &key));
        let r = succeeds(ping(&home, &args));
        assert_eq!(r.stdout, "OK", "{stem}: {r}");
        // And as a docker cert directory.
        let dir = tmp.dir(stem);
        copy(&pki.ca.cert, &dir.join("ca.pem"));
        copy(&cert, &dir.join("cert.pem"));
        copy(&key, &dir.join("key.pem"));
        let mut c = ping(&home, &[]);
        docker_env(&mut c, &sim, &dir);
        assert_eq!(succeeds(c).stdout, "OK", "{stem}");
    }
    let first_line = |f: &str| {
        std::fs::read_to_string(test_key(f))
            .expect("key")
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        first_line("rsa-pkcs1.pem"),
        "-----BEGIN RSA PRIVATE KEY-----"
    );
    assert_eq!(first_line("ec-sec1.pem"), "-----BEGIN EC PRIVATE KEY-----");
    assert_eq!(sim.counters().requests, 8);
}

#[test]
fn unusable_files_exit_58_naming_the_file() {
    let tmp = Tmp::new("badfiles");
    let pki = pki(&tmp);
    let v = variants(&pki);
    let sim = tls_sim(pki.sim_tls(true), config(1));
    let home = tmp.home();
    let url = sim.url();
    let empty = tmp.file("empty.pem", "");
    let missing = tmp.0.join("missing.pem");
    let a_directory = tmp.dir("a-directory.pem");
    let encrypted = tmp.file(
        "encrypted-key.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n\
         MIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIAAAAAAAAAAACAggA\n\
         -----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let (ca, cert, key) = (&pki.ca.cert, &pki.client.cert, &pki.client.key);
    let cases: Vec<(&str, [&Path; 3], Vec<String>)> = vec![
        (
            "mismatched key",
            [ca, cert, &v.other_client.key],
            vec![format!(
                "client key {} does not belong to the certificate {}",
                v.other_client.key.display(),
                cert.display()
            )],
        ),
        (
            "a certificate as the key",
            [ca, cert, cert],
            vec![format!(
                "client key {} holds a certificate, not a private key",
                cert.display()
            )],
        ),
        (
            "the key as the certificate",
            [ca, key, key],
            vec![format!(
                "client certificate {} holds no certificate (it holds a private key",
                key.display()
            )],
        ),
        (
            "encrypted key",
            [ca, cert, &encrypted],
            vec![format!(
                "client key {} is encrypted with a passphrase",
                encrypted.display()
            )],
        ),
        (
            "missing certificate",
            [ca, &missing, key],
            vec![
                format!("open {}: no such file or directory", missing.display()),
                "client certificate".into(),
            ],
        ),
        (
            "unreadable certificate (a directory)",
            [ca, &a_directory, key],
            vec![format!(
                "cannot read client certificate {}",
                a_directory.display()
            )],
        ),
        (
            "empty certificate",
            [ca, &empty, key],
            vec![format!(
                "client certificate {} holds no certificate (expected a PEM block",
                empty.display()
            )],
        ),
        (
            "empty key",
            [ca, cert, &empty],
            vec![format!("client key {} is not PEM", empty.display())],
        ),
        (
            "empty CA",
            [&empty, cert, key],
            vec![format!("CA file {} holds no certificate", empty.display())],
        ),
        (
            "missing CA",
            [&missing, cert, key],
            vec![format!(
                "open {}: no such file or directory (the CA file)",
                missing.display()
            )],
        ),
    ];
    for (what, [ca, cert, key], phrases) in &cases {
        let mut args = vec!["-H", &url];
        args.extend(verify_flags(ca, cert, key));
        let mut phrases: Vec<&str> = phrases.iter().map(String::as_str).collect();
        phrases.push("TLS: cannot use a certificate or key file");
        let r = run(ping(&home, &args));
        assert_eq!(r.code, Some(58), "{what}: {r}");
        assert_eq!(r.stderr.lines().count(), 1, "{what}: {r}");
        for p in phrases {
            assert!(r.stderr.contains(p), "{what}: {p:?} missing: {r}");
        }
    }
    // A certificate without its key (none in the certificate directory either).
    fails(
        ping(&home, &["-H", &url, "--tlsverify", "--tlscert", s(cert)]),
        58,
        &[&format!(
            "client certificate {} given without its key",
            cert.display()
        )],
    );
    // The same errors from stats, and from the environment's directory.
    let dir = tmp.dir("swapped");
    copy(ca, &dir.join("ca.pem"));
    copy(key, &dir.join("cert.pem"));
    copy(cert, &dir.join("key.pem"));
    let mut c = dockstat(&home);
    docker_env(&mut c, &sim, &dir);
    c.args(["stats", "--no-stream"]);
    fails(
        c,
        58,
        &[&format!(
            "client certificate {} holds no certificate",
            dir.join("cert.pem").display()
        )],
    );
    // Nothing was tried on the network.
    assert_eq!(sim.counters().connections_accepted, 0);
}

// ---------------------------------------------------------------------------------------------
// 9. --tls without verification

#[test]
fn tls_without_verify_works_and_warns() {
    let tmp = Tmp::new("noverify");
    let pki = pki(&tmp);
    let v = variants(&pki);
    // A server nobody here trusts, which wants the client certificate of ca.pem.
    let sim = serving(&v.other_server, Some(&pki.ca.cert), 2);
    let home = tmp.home();
    let url = sim.url();
    let warning =
        format!("dockstat: warning: TLS to {url} without verifying the server's certificate");
    let check = |c: Command| {
        let r = run(c);
        assert_eq!(r.code, Some(0), "{r}");
        assert_eq!(r.stdout, "OK", "{r}");
        assert_eq!(r.stderr.lines().count(), 1, "{r}");
        assert!(r.stderr.starts_with(&warning), "{r}");
        assert!(r.stderr.contains("not to a known party"), "{r}");
    };

    // --tls: the client files of DOCKER_CERT_PATH are presented, the CA is not checked.
    let mut c = ping(&home, &["--tls"]);
    c.env("DOCKER_HOST", &url).env("DOCKER_CERT_PATH", &pki.dir);
    check(c);
    // --tlsverify=false beats DOCKER_TLS_VERIFY.
    let mut c = ping(&home, &["--tlsverify=false"]);
    docker_env(&mut c, &sim, &pki.dir);
    check(c);
    // DOCKER_TLS=1 alone.
    let mut c = ping(&home, &[]);
    c.env("DOCKER_HOST", &url)
        .env("DOCKER_TLS", "1")
        .env("DOCKER_CERT_PATH", &pki.dir);
    check(c);
    // Flags only.
    check(ping(
        &home,
        &[
            "-H",
            &url,
            "--tls",
            "--tlscert",
            s(&pki.client.cert),
            "--tlskey",
            s(&pki.client.key),
        ],
    ));
    // stats, too: the warning comes once, before the table.
    let mut c = dockstat(&home);
    c.env("DOCKER_HOST", &url).env("DOCKER_CERT_PATH", &pki.dir);
    c.args(["--tls", "stats", "--no-stream", "--format", "{{.Name}}"]);
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(sorted(&r.stdout), ["busy-1", "idle-2"], "{r}");
    assert_eq!(r.stderr.matches("warning:").count(), 1, "{r}");
    // Verifying, the same server is refused: the warning is about a real difference.
    let mut c = ping(&home, &[]);
    docker_env(&mut c, &sim, &pki.dir);
    fails(c, 60, &["not trusted"]);
}

// ---------------------------------------------------------------------------------------------
// 10. Plain and TLS crossed

#[test]
fn plain_http_to_the_tls_port() {
    let tmp = Tmp::new("plain2tls");
    let pki = pki(&tmp);
    let sim = tls_sim(pki.sim_tls(true), config(1));
    let home = tmp.home();
    let mut c = dockstat(&home);
    c.env("DOCKER_HOST", sim.url()).args(["ps"]);
    let r = fails(
        c,
        22,
        &["400", "Client sent an HTTP request to an HTTPS server"],
    );
    assert!(r.elapsed < Duration::from_secs(5), "{r}");
    // stats (its engine negotiates with /_ping) says why, too.
    let mut c = dockstat(&home);
    c.env("DOCKER_HOST", sim.url())
        .args(["stats", "--no-stream"]);
    fails(
        c,
        22,
        &[
            "400 Bad Request",
            "(Client sent an HTTP request to an HTTPS server.)",
        ],
    );
    // get prints the body, as curl does, and exits 22.
    let mut c = ping(&home, &[]);
    c.env("DOCKER_HOST", sim.url());
    let r = run(c);
    assert_eq!(r.code, Some(22), "{r}");
    assert!(
        r.stdout
            .contains("Client sent an HTTP request to an HTTPS server"),
        "{r}"
    );
    assert!(!r.stderr.contains("panicked"), "{r}");
}

#[test]
fn tls_to_a_plain_port() {
    let tmp = Tmp::new("tls2plain");
    let pki = pki(&tmp);
    let sim = Sim::start(Listen::Tcp("127.0.0.1:0".parse().expect("addr")), config(1))
        .expect("plain TCP sim");
    let home = tmp.home();
    for args in [&["get", "/_ping"][..], &["ps"], &["stats", "--no-stream"]] {
        let mut c = dockstat(&home);
        docker_env(&mut c, &sim, &pki.dir);
        c.args(args);
        let r = fails(
            c,
            35,
            &[
                "TLS: protocol error",
                "127.0.0.1 sent invalid TLS data (is it a TLS port?)",
            ],
        );
        assert!(r.elapsed < Duration::from_secs(5), "{r}");
    }
    // A server that accepts and never answers: the handshake is bounded by --max-time.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", silent.local_addr().expect("addr"));
    let mut c = dockstat(&home);
    docker_env(&mut c, &sim, &pki.dir);
    c.env("DOCKER_HOST", &url)
        .args(["get", "--max-time", "0.5", "/_ping"]);
    let r = fails(c, 28, &["timed out"]);
    assert!(r.elapsed < Duration::from_secs(5), "{r}");
    drop(silent);
}

// ---------------------------------------------------------------------------------------------
// 11. Several hosts

#[test]
fn a_tls_host_and_a_unix_socket_host() {
    let tmp = Tmp::new("multi");
    let pki = pki(&tmp);
    let tls = tls_sim(pki.sim_tls(true), config(3));
    let unix = unix_sim(&tmp, 2);
    let home = tmp.home();
    let (tls_url, unix_url) = (tls.url(), unix.url());
    let mut args = vec!["-H", &tls_url, "-H", &unix_url];
    args.extend(verify_flags(
        &pki.ca.cert,
        &pki.client.cert,
        &pki.client.key,
    ));

    let mut c = dockstat(&home);
    c.args(&args).args(["stats", "--no-stream"]);
    let r = succeeds(c);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("HOST "), "{r}");
    assert_eq!(lines.len(), 1 + 3 + 2, "{r}");
    let rows = |host: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("{host} ")))
            .count()
    };
    assert_eq!((rows(&tls_url), rows(&unix_url)), (3, 2), "{r}");

    // The same from the environment for TLS: DOCKER_TLS_VERIFY applies to the tcp host only.
    let mut c = dockstat(&home);
    docker_env(&mut c, &tls, &pki.dir);
    c.args(["-H", &tls_url, "-H", &unix_url]).args([
        "stats",
        "--no-stream",
        "--format",
        "{{.Host}} {{.Name}}",
    ]);
    let r = succeeds(c);
    let mut got: Vec<&str> = r.stdout.lines().collect();
    got.sort_unstable();
    let mut want = vec![
        format!("{tls_url} busy-1"),
        format!("{tls_url} idle-2"),
        format!("{tls_url} memhog-3"),
        format!("{unix_url} busy-1"),
        format!("{unix_url} idle-2"),
    ];
    want.sort_unstable();
    assert_eq!(got, want, "{r}");

    // One TLS host failing does not stop the other: reported, exit 1.
    let other = serving(&variants(&pki).other_server, None, 1);
    let other_url = other.url();
    let mut c = dockstat(&home);
    docker_env(&mut c, &tls, &pki.dir);
    c.args(["-H", &other_url, "-H", &unix_url]).args([
        "stats",
        "--no-stream",
        "--format",
        "{{.Host}} {{.Name}}",
    ]);
    let r = run(c);
    assert_eq!(r.code, Some(1), "{r}");
    assert_eq!(r.stdout.lines().count(), 2, "{r}");
    assert!(r.stdout.lines().all(|l| l.starts_with(&unix_url)), "{r}");
    assert!(r.stderr.contains("server certificate not trusted"), "{r}");
}

#[test]
fn hosts_file_with_per_line_tls_settings() {
    let tmp = Tmp::new("hostsfile");
    let pki_a = pki(&tmp);
    // A second, unrelated PKI beside the hosts file, named by relative paths.
    let b_dir = tmp.0.join("b");
    let pki_b = Pki::generate(&b_dir, &PkiOptions::default()).expect("PKI b");
    let a = tls_sim(pki_a.sim_tls(true), config(1));
    let b = tls_sim(pki_b.sim_tls(true), config(2));
    // Served with a certificate nobody trusts: `tls` only.
    let c_sim = serving(&variants(&pki_a).other_server, None, 1);
    let unix = unix_sim(&tmp, 3);
    let home = tmp.home();
    let hosts = tmp.file(
        "hosts",
        &format!(
            "# hosts, with their own TLS settings\n\
             {a}  certpath={a_dir}\n\
             \n\
             {b} tlsverify tlscacert=b/ca.pem tlscert=b/cert.pem tlskey=b/key.pem  # relative\n\
             {c} tls\n\
             {unix}\n",
            a = a.url(),
            a_dir = pki_a.dir.display(),
            b = b.url(),
            c = c_sim.url(),
            unix = unix.url(),
        ),
    );
    let mut c = dockstat(&home);
    c.args(["--hosts-file", s(&hosts)]).args([
        "stats",
        "--no-stream",
        "--format",
        "{{.Host}} {{.Name}}",
    ]);
    let r = run(c);
    assert_eq!(r.code, Some(0), "{r}");
    let count = |url: &str| {
        r.stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{url} ")))
            .count()
    };
    assert_eq!(
        [
            count(&a.url()),
            count(&b.url()),
            count(&c_sim.url()),
            count(&unix.url())
        ],
        [1, 2, 1, 3],
        "{r}"
    );
    // One warning, for the unverified host.
    assert_eq!(r.stderr.lines().count(), 1, "{r}");
    assert!(
        r.stderr.contains(&format!(
            "warning: TLS to {} without verifying",
            c_sim.url()
        )),
        "{r}"
    );

    // Swap b's CA for a's on its line: b's server is no longer trusted.
    let wrong = tmp.file(
        "hosts-wrong",
        &format!(
            "{b} tlsverify tlscacert=pki/ca.pem tlscert=b/cert.pem tlskey=b/key.pem\n",
            b = b.url()
        ),
    );
    // (Both PKIs' CAs have the same name: webpki finds a's CA as the issuer and reports a
    // bad signature, which must read as "not trusted" all the same.)
    let mut c = dockstat(&home);
    c.args(["--hosts-file", s(&wrong), "stats", "--no-stream"]);
    fails(
        c,
        60,
        &[
            "TLS: server certificate not trusted",
            &format!("not signed by the CA file {}", pki_a.ca.cert.display()),
            "a different CA of the same name",
        ],
    );
    // A line's bad file is named.
    let bad = tmp.file(
        "hosts-bad",
        &format!("{b} tlsverify tlscacert=b/nope.pem\n", b = b.url()),
    );
    let mut c = dockstat(&home);
    c.args(["--hosts-file", s(&bad), "stats", "--no-stream"]);
    fails(
        c,
        58,
        &[&format!(
            "open {}: no such file or directory (the CA file)",
            tmp.0.join("b/nope.pem").display()
        )],
    );
    // An unknown setting is a usage error naming the line.
    let typo = tmp.file(
        "hosts-typo",
        &format!("{a}\n{b} tlsverfy\n", a = a.url(), b = b.url()),
    );
    let mut c = dockstat(&home);
    c.args(["--hosts-file", s(&typo), "stats", "--no-stream"]);
    let r = run(c);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(
        r.stderr.contains("line 2: unknown setting \"tlsverfy\""),
        "{r}"
    );
}
