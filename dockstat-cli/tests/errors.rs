//! Every failure a user meets says what is wrong in exactly one line on stderr, with its exit
//! code; where the docker CLI has a message for the same situation, dockstat's line carries it.
//!
//! Everything here is loopback or unix sockets: a closed port (bound, then freed), a missing
//! socket path, a regular file and a directory where a socket belongs, a small HTTP server
//! that is not Docker (it answers like `python3 -m http.server`), and a scripted daemon on a
//! unix socket that answers as dockerd 20.10 does.
//!
//! `real_daemon_messages_match_docker` compares with the docker CLI on a real daemon when
//! `DOCKSTAT_REAL_DOCKER` names one; without it the test says it was skipped, or fails when
//! `DOCKSTAT_REQUIRE_REAL_DOCKER=1`.

mod common;
use common::real;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

/// A container of the scripted daemon whose name holds JSON escapes: a backslash, a quote,
/// an escaped slash and a `\u` escape. Decoded: `we\ird"/né`.
const ESCAPED_NAME: &str = r#"we\\ird\"\/n\u00e9"#;
const DECODED_NAME: &str = "we\\ird\"/né";
const ID: &str = "75853b432878f156b4336d519c1b9f223a28c5f54755e67fa0a8ce43a30c96cc";

/// A directory removed at the end.
struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Tmp {
        let dir =
            std::env::temp_dir().join(format!("dockstat-errors-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Reads one request head; returns its target, or `None` at the end of the connection.
fn read_request(s: &mut impl Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
        if head.len() > 64 << 10 {
            return None;
        }
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_string();
    line.split(' ').nth(1).map(str::to_string)
}

/// An HTTP server that is not Docker: every request gets the 404 page of Python's
/// `http.server` (no `Api-Version`, an HTML body of 13 lines).
fn not_docker() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            thread::spawn(move || {
                if read_request(&mut s).is_none() {
                    return;
                }
                let body = "<!DOCTYPE HTML>\n<html lang=\"en\">\n    <head>\n        \
                    <meta charset=\"utf-8\">\n        <title>Error response</title>\n    \
                    </head>\n    <body>\n        <h1>Error response</h1>\n        \
                    <p>Error code: 404</p>\n        <p>Message: File not found.</p>\n        \
                    <p>Error code explanation: 404 - Nothing matches the given URI.</p>\n    \
                    </body>\n</html>\n";
                let _ = write!(
                    s,
                    "HTTP/1.0 404 File not found\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\n\
                     Connection: close\r\nContent-Type: text/html;charset=utf-8\r\n\
                     Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// One stats frame of the scripted daemon's container, `n` seconds in.
fn frame(n: u64) -> String {
    let cpu = |n: u64| {
        format!(
            "{{\"cpu_usage\":{{\"total_usage\":{},\"usage_in_kernelmode\":0,\
             \"usage_in_usermode\":0}},\"system_cpu_usage\":{},\"online_cpus\":2,\
             \"throttling_data\":{{\"periods\":0,\"throttled_periods\":0,\"throttled_time\":0}}}}",
            n * 500_000_000,
            n * 2_000_000_000
        )
    };
    format!(
        "{{\"read\":\"2026-01-01T00:00:{:02}Z\",\"preread\":\"2026-01-01T00:00:{:02}Z\",\
         \"pids_stats\":{{\"current\":1}},\"blkio_stats\":{{}},\"num_procs\":0,\
         \"storage_stats\":{{}},\"cpu_stats\":{},\"precpu_stats\":{},\
         \"memory_stats\":{{\"usage\":1048576,\"stats\":{{}},\"limit\":1073741824}},\
         \"name\":\"/{ESCAPED_NAME}\",\"id\":\"{ID}\",\"networks\":{{\"eth0\":{{\"rx_bytes\":0,\
         \"rx_packets\":0,\"rx_errors\":0,\"rx_dropped\":0,\"tx_bytes\":0,\"tx_packets\":0,\
         \"tx_errors\":0,\"tx_dropped\":0}}}}}}\n",
        n + 1,
        n,
        cpu(n + 1),
        cpu(n)
    )
}

/// What dockerd 20.10 answers to `target`: the head's fields after the status line, and the
/// body. `None`: an endless stream (events, stats), written by the caller.
fn daemon_answer(target: &str) -> Option<(&'static str, String)> {
    let path = target.split('?').next().unwrap_or("");
    let json = |status: &'static str, body: String| Some((status, body));
    if path == "/_ping" {
        return json("200 OK", "OK".into());
    }
    if path.starts_with("/v9.99/") {
        return json(
            "400 Bad Request",
            "{\"message\":\"client version 9.99 is too new. Maximum supported API version is \
             1.41\"}\n"
                .into(),
        );
    }
    let rest = path.strip_prefix("/v1.41").unwrap_or(path);
    match rest {
        "/containers/json" => json(
            "200 OK",
            format!(
                "[{{\"Id\":\"{ID}\",\"Names\":[\"/{ESCAPED_NAME}\"],\"Image\":\"bb\",\
                 \"ImageID\":\"sha256:00\",\"Command\":\"sleep 1\",\"Created\":1795416924,\
                 \"Ports\":[],\"Labels\":{{}},\"State\":\"running\",\"Status\":\"Up 1 second\",\
                 \"HostConfig\":{{\"NetworkMode\":\"none\"}},\
                 \"NetworkSettings\":{{\"Networks\":{{}}}},\"Mounts\":[]}}]\n"
            ),
        ),
        "/events" => None,
        p if p == format!("/containers/{ID}/stats") => None,
        p if p.starts_with("/containers/") => {
            let name = p.trim_start_matches("/containers/");
            let name = name.split('/').next().unwrap_or("");
            json(
                "404 Not Found",
                format!("{{\"message\":\"No such container: {name}\"}}\n"),
            )
        }
        _ => None,
    }
}

/// The scripted daemon on a unix socket.
fn daemon(socket: &Path) {
    let listener = UnixListener::bind(socket).unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(s) = conn else { continue };
            thread::spawn(move || serve_daemon(s));
        }
    });
}

fn serve_daemon(mut s: UnixStream) {
    while let Some(target) = read_request(&mut s) {
        let head = "Api-Version: 1.41\r\nContent-Type: application/json\r\nOstype: linux\r\n\
                    Server: Docker/20.10.24+dfsg1 (linux)\r\n";
        match daemon_answer(&target) {
            Some((status, body)) => {
                let reply = format!(
                    "HTTP/1.1 {status}\r\n{head}Content-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                if s.write_all(reply.as_bytes()).is_err() {
                    return;
                }
            }
            None => {
                let known = target.contains("/events") || target.contains("/stats");
                if !known {
                    let body = "{\"message\":\"page not found\"}";
                    let _ = write!(
                        s,
                        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    continue;
                }
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\n{head}Transfer-Encoding: chunked\r\n\r\n"
                );
                if target.contains("/stats") && target.contains("stream=0") {
                    // One sample with its previous reading, and the end of the body.
                    let f = frame(1);
                    if write!(s, "{:x}\r\n{f}\r\n0\r\n\r\n", f.len()).is_err() {
                        return;
                    }
                    continue;
                }
                if target.contains("/stats") {
                    for n in 0..50 {
                        let f = frame(n);
                        if write!(s, "{:x}\r\n{f}\r\n", f.len()).is_err() {
                            return;
                        }
                        thread::sleep(Duration::from_millis(50));
                    }
                }
                // Stay open, as the daemon does, until the client goes.
                let mut sink = [0u8; 64];
                while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
                return;
            }
        }
    }
}

/// `dockstat` with `args` and `env`, nothing of the caller's Docker environment, and HOME
/// in `home` (no ~/.docker).
fn dockstat(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new("timeout");
    c.args(["20", BIN]).args(args);
    for var in [
        "DOCKER_HOST",
        "DOCKER_TLS",
        "DOCKER_TLS_VERIFY",
        "DOCKER_CERT_PATH",
        "DOCKER_API_VERSION",
        "DOCKER_CONTEXT",
    ] {
        c.env_remove(var);
    }
    c.env("HOME", home).envs(env.iter().copied());
    c.output().unwrap()
}

/// What a case expects on stderr.
enum Line {
    /// Exactly this line (without `dockstat: ` and the newline).
    Is(String),
    /// A line with each of these.
    Has(Vec<String>),
    /// A usage error: this message, then where its help is (`(see 'dockstat [COMMAND] --help')`).
    Usage(String),
}

struct Case {
    what: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
    code: i32,
    line: Line,
}

fn case(what: &'static str, args: &[&str], code: i32, line: Line) -> Case {
    Case {
        what,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        code,
        line,
    }
}

fn is(s: impl Into<String>) -> Line {
    Line::Is(s.into())
}

fn has(parts: &[&str]) -> Line {
    Line::Has(parts.iter().map(|p| p.to_string()).collect())
}

/// Runs `c` and checks its exit code and its one stderr line; returns the output.
fn check(home: &Path, c: &Case) -> Output {
    let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = c.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = dockstat(home, &args, &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = format!(
        "{}: dockstat {:?} {:?} -> {:?}\n--- stderr:\n{stderr}",
        c.what,
        c.env,
        c.args,
        out.status.code()
    );
    assert_eq!(out.status.code(), Some(c.code), "{shown}");
    assert_eq!(stderr.lines().count(), 1, "one line: {shown}");
    assert!(stderr.ends_with('\n'), "{shown}");
    let line = stderr.trim_end_matches('\n');
    let Some(message) = line.strip_prefix("dockstat: ") else {
        panic!("no 'dockstat: ' prefix: {shown}");
    };
    assert!(!line.contains("panicked") && !line.contains('<'), "{shown}");
    assert!(line.chars().count() < 400, "too long: {shown}");
    match &c.line {
        Line::Is(expected) => assert_eq!(message, expected, "{shown}"),
        Line::Usage(expected) => {
            let hint = message.strip_prefix(expected.as_str()).unwrap_or_default();
            assert!(
                hint.starts_with(" (see 'dockstat ") && hint.ends_with("--help')"),
                "{expected:?} and its help: {shown}"
            );
        }
        Line::Has(parts) => {
            for p in parts {
                assert!(message.contains(p.as_str()), "{p:?} missing: {shown}");
            }
        }
    }
    out
}

#[test]
fn each_failure_is_one_line_with_its_exit_code() {
    let tmp = Tmp::new("table");
    let home = tmp.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let file = tmp.path("regular-file");
    std::fs::write(&file, "").unwrap();
    let dir = tmp.path("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    let missing = tmp.path("missing.sock");
    let socket = tmp.path("docker.sock");
    daemon(&socket);
    let d = format!("unix://{}", socket.display());
    let port = closed_port();
    let closed = format!("tcp://127.0.0.1:{port}");
    let web = format!("tcp://127.0.0.1:{}", not_docker());
    let nonexist = tmp.path("nonexist");
    let hosts = tmp.path("hosts");
    std::fs::write(&hosts, format!("{closed} certpath=nonexist\n")).unwrap();

    let s = |p: &Path| p.display().to_string();
    let at = |url: &str| {
        format!("Cannot connect to the Docker daemon at {url}. Is the docker daemon running?")
    };
    let not_socket = |p: &Path| format!("unix://{}: {} is not a socket", p.display(), p.display());
    let web_line = format!(
        "{web} answered 404 Not Found to /_ping without an Api-Version header: it may not \
         be a Docker daemon"
    );
    let no_ca = format!(
        "open {}: no such file or directory",
        nonexist.join("ca.pem").display()
    );
    let usage = |m: &str| Line::Usage(m.into());

    let mut cases = vec![
        // 1. A mistyped certificate directory: the file, before any connection.
        Case {
            env: vec![
                ("DOCKER_HOST", closed.clone()),
                ("DOCKER_TLS_VERIFY", "1".into()),
                ("DOCKER_CERT_PATH", s(&nonexist)),
            ],
            ..case(
                "DOCKER_CERT_PATH names no directory",
                &["ps"],
                58,
                has(&[&no_ca]),
            )
        },
        Case {
            env: vec![
                ("DOCKER_HOST", closed.clone()),
                ("DOCKER_TLS", "1".into()),
                ("DOCKER_CERT_PATH", s(&nonexist)),
            ],
            ..case(
                "DOCKER_CERT_PATH names no directory, --tls",
                &["ps"],
                58,
                has(&[&format!(
                    "open {}: no such file",
                    nonexist.join("cert.pem").display()
                )]),
            )
        },
        case(
            "hosts file certpath= names no directory",
            &["--hosts-file", &s(&hosts), "stats", "--no-stream"],
            58,
            has(&[&no_ca]),
        ),
        // 2. Where the socket should be.
        case(
            "a regular file as the socket",
            &["-H", &format!("unix://{}", s(&file)), "ps"],
            7,
            is(not_socket(&file)),
        ),
        case(
            "a directory as the socket",
            &["-H", &format!("unix://{}", s(&dir)), "get", "/_ping"],
            7,
            is(not_socket(&dir)),
        ),
        case(
            "a missing socket, ps",
            &["-H", &format!("unix://{}", s(&missing)), "ps"],
            7,
            is(at(&format!("unix://{}", s(&missing)))),
        ),
        case(
            "a missing socket, get",
            &["-H", &format!("unix://{}", s(&missing)), "get", "/_ping"],
            7,
            is(at(&format!("unix://{}", s(&missing)))),
        ),
        case(
            "a missing socket, stats",
            &[
                "-H",
                &format!("unix://{}", s(&missing)),
                "stats",
                "--no-stream",
            ],
            7,
            is(at(&format!("unix://{}", s(&missing)))),
        ),
        case("a closed port", &["-H", &closed, "ps"], 7, is(at(&closed))),
        // 3. A web server that is not Docker: no HTML on stderr.
        case(
            "not Docker, ps",
            &["-H", &web, "ps"],
            22,
            is(web_line.clone()),
        ),
        case(
            "not Docker, stats",
            &["-H", &web, "stats", "--no-stream"],
            22,
            is(web_line.clone()),
        ),
        case(
            "not Docker, get",
            &["-H", &web, "get", "/containers/json"],
            22,
            is(
                "/containers/json: the daemon answered 404 File not found without an \
                Api-Version header: it may not be a Docker daemon",
            ),
        ),
        // 4. get names the status, as curl -f does.
        case(
            "get of a missing container",
            &["-H", &d, "get", "/containers/nope/json"],
            22,
            is("/containers/nope/json: the daemon answered 404 Not Found"),
        ),
        // The daemon's own 404 for an unknown route has no Api-Version, but is the daemon's.
        case(
            "get of an unknown route",
            &["-H", &d, "get", "/nope"],
            22,
            is("/nope: the daemon answered 404 Not Found"),
        ),
        // 5. The daemon's message in docker's words.
        case(
            "stats of a missing container",
            &["-H", &d, "stats", "--no-stream", "nope"],
            1,
            is("Error response from daemon: No such container: nope"),
        ),
        Case {
            env: vec![("DOCKER_API_VERSION", "9.99".into())],
            ..case(
                "ps with a version the daemon refuses",
                &["-H", &d, "ps"],
                22,
                is(
                    "Error response from daemon: client version 9.99 is too new. Maximum \
                    supported API version is 1.41",
                ),
            )
        },
        // 7. Option values name their option.
        case(
            "--limit x",
            &["-H", &d, "stats", "--limit", "x"],
            2,
            usage("invalid value \"x\" for --limit: expected a whole number, like 10"),
        ),
        case(
            "--max-streams -1",
            &["stats", "--max-streams=-1"],
            2,
            usage("invalid value \"-1\" for --max-streams: expected a whole number, like 10"),
        ),
        case(
            "get -m soon",
            &["get", "-m", "soon", "/_ping"],
            2,
            usage("invalid value \"soon\" for -m: expected a number of seconds, like 5 or 0.25"),
        ),
        case(
            "--sim x",
            &["--sim", "x", "ps"],
            2,
            usage("invalid value \"x\" for --sim: expected a whole number, like 10"),
        ),
        case(
            "serve --listen nowhere",
            &["serve", "--listen", "nowhere"],
            2,
            has(&["invalid value \"nowhere\" for --listen: "]),
        ),
        // 8. DOCKER_API_VERSION is not a host.
        Case {
            env: vec![("DOCKER_API_VERSION", "abc".into())],
            ..case(
                "DOCKER_API_VERSION=abc",
                &["-H", &d, "ps"],
                3,
                is("invalid DOCKER_API_VERSION \"abc\": expected a version like 1.41"),
            )
        },
        // 9. More wrong inputs.
        case(
            "--tlsverify=maybe",
            &["--tlsverify=maybe", "ps"],
            2,
            usage("invalid value \"maybe\" for --tlsverify: expected true or false"),
        ),
        case(
            "--sim-cgroup v3",
            &["--sim", "1", "--sim-cgroup", "v3", "ps"],
            2,
            usage("invalid value \"v3\" for --sim-cgroup: expected v1 or v2"),
        ),
        case(
            "an empty host",
            &["-H", "", "ps"],
            3,
            is("invalid Docker host: the URL is empty"),
        ),
        case(
            "a port out of range",
            &["-H", "tcp://127.0.0.1:99999", "ps"],
            3,
            is("invalid Docker host tcp://127.0.0.1:99999: bad host:port"),
        ),
        case(
            "an unknown command",
            &["stat"],
            2,
            usage("unknown command \"stat\""),
        ),
        case(
            "an unknown option",
            &["ps", "--bogus"],
            2,
            usage("invalid option '--bogus'"),
        ),
        case(
            "a missing value",
            &["stats", "--limit"],
            2,
            usage("missing argument for option '--limit'"),
        ),
        case(
            "a missing hosts file",
            &["--hosts-file", &s(&tmp.path("no-hosts")), "ps"],
            3,
            has(&["cannot read hosts file", "No such file"]),
        ),
    ];
    // The environment's DOCKER_HOST, as the docker CLI reads it.
    cases.push(Case {
        env: vec![("DOCKER_HOST", format!("unix://{}", s(&missing)))],
        ..case(
            "DOCKER_HOST a missing socket",
            &["ps"],
            7,
            is(at(&format!("unix://{}", s(&missing)))),
        )
    });
    for c in &cases {
        let out = check(&home, c);
        if c.what == "get of a missing container" {
            // The body still goes to stdout, before the line.
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "{\"message\":\"No such container: nope\"}\n"
            );
        }
    }
}

#[test]
fn names_with_json_escapes_are_shown_decoded_everywhere() {
    let tmp = Tmp::new("names");
    let socket = tmp.path("docker.sock");
    daemon(&socket);
    let d = format!("unix://{}", socket.display());
    let run = |args: &[&str]| {
        let mut all = vec!["-H", &d];
        all.extend_from_slice(args);
        let out = dockstat(&tmp.0, &all, &[]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} -> {:?}: {text}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    // As text: decoded.
    let table = run(&["stats", "--no-stream"]);
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with(&format!("75853b432878   {DECODED_NAME}   ")),
        "{table}"
    );
    assert_eq!(
        run(&["stats", "--no-stream", "--format", "{{.Name}}"]),
        format!("{DECODED_NAME}\n")
    );
    assert_eq!(
        run(&["ps", "--format", "{{.Names}}"]),
        format!("{DECODED_NAME}\n")
    );
    let ps = run(&["ps"]);
    assert!(
        ps.lines()
            .nth(1)
            .unwrap_or_default()
            .ends_with(DECODED_NAME),
        "{ps}"
    );
    // As JSON: the decoded name, escaped once as JSON needs (\\ and \", not \\\\ or \/).
    let once = "we\\\\ird\\\"/né";
    let json = run(&["stats", "--no-stream", "--format", "json"]);
    assert!(json.contains(&format!("\"Name\":\"{once}\"")), "{json}");
    let ndjson = run(&["stats", "--no-stream", "--format", "ndjson"]);
    let first = ndjson.lines().next().unwrap_or_default();
    assert!(first.contains(&format!("\"name\":\"{once}\"")), "{ndjson}");
    let ps = run(&["ps", "--format", "json"]);
    assert!(ps.contains(&format!("\"Names\":\"{once}\"")), "{ps}");
    // As a Prometheus label: the text format's escapes (\\ and \"), nothing else.
    let prom = run(&["stats", "--no-stream", "--format", "prometheus"]);
    let label = format!("name=\"{once}\"");
    assert!(
        prom.lines()
            .any(|l| l.starts_with("dockstat_container_cpu_percent{") && l.contains(&label)),
        "{prom}"
    );
}

/// The first line of the docker CLI's stderr, without the wrapping it adds before the
/// message itself.
fn docker_message(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().next().unwrap_or_default();
    line.trim_start_matches("Failed to initialize: ")
        .trim_start_matches("unable to resolve docker endpoint: ")
        .to_string()
}

/// What, DOCKER_HOST, more environment, docker's arguments, dockstat's, and dockstat's code.
type RealCase<'a> = (
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<&'a str>,
    Vec<&'a str>,
    i32,
);

#[test]
fn real_daemon_messages_match_docker() {
    let Some(host) = real::url() else {
        return;
    };
    let tmp = Tmp::new("real");
    let missing = format!("unix://{}", tmp.path("missing.sock").display());
    let closed = format!("tcp://127.0.0.1:{}", closed_port());
    let nonexist = tmp.path("nonexist").display().to_string();
    let name = format!("i13-errs-nope-{}", std::process::id());
    let cases: Vec<RealCase<'_>> = vec![
        (
            "no such container",
            host.as_str(),
            vec![],
            vec!["stats", "--no-stream", name.as_str()],
            vec!["stats", "--no-stream", name.as_str()],
            1,
        ),
        (
            "version too new",
            host.as_str(),
            vec![("DOCKER_API_VERSION", "9.99")],
            vec!["ps"],
            vec!["ps"],
            22,
        ),
        (
            "missing socket",
            missing.as_str(),
            vec![],
            vec!["ps"],
            vec!["ps"],
            7,
        ),
        (
            "closed port",
            closed.as_str(),
            vec![],
            vec!["ps"],
            vec!["ps"],
            7,
        ),
        (
            "certificate directory",
            closed.as_str(),
            vec![
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", nonexist.as_str()),
            ],
            vec!["ps"],
            vec!["ps"],
            58,
        ),
    ];
    for (what, url, env, docker_args, args, code) in cases {
        let mut env = env;
        env.push(("DOCKER_HOST", url));
        let docker = Command::new("docker")
            .args(&docker_args)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CERT_PATH")
            .envs(env.iter().copied())
            .env("HOME", &tmp.0)
            .output()
            .expect("the docker CLI");
        assert!(!docker.status.success(), "{what}: docker succeeded");
        let expected = docker_message(&docker.stderr);
        assert!(!expected.is_empty(), "{what}: docker said nothing");
        let out = dockstat(&tmp.0, &args, &env);
        let line = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{what}: {line}");
        assert_eq!(line.lines().count(), 1, "{what}: {line}");
        assert!(
            line.starts_with("dockstat: ") && line.contains(&expected),
            "{what}: docker says {expected:?}, dockstat {line:?}"
        );
    }
}
