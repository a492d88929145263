//! End-to-end tests of the lifecycle: events, listings and stats streams across create, start,
//! pause, stop, kill and remove; churn; the `/_sim/*` control routes; and a few thousand
//! streams at once.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;
use crate::Churn;

const ZERO: &str = "0001-01-01T00:00:00Z";
/// `{"type":["container"]}`, URL-encoded, as the engine sends it.
const ONLY_CONTAINERS: &str = "%7B%22type%22%3A%5B%22container%22%5D%7D";

/// Subscribes to `/events` (with `filters` if given) and waits for the response head, after
/// which the subscription is in place.
fn subscribe(path: &Path, filters: Option<&str>) -> BufReader<UnixStream> {
    let mut conn = connect(path);
    let target = match filters {
        Some(f) => format!("/v1.41/events?filters={f}"),
        None => "/v1.41/events".to_owned(),
    };
    send(&mut conn, &get(&target));
    let head = read_head(&mut conn);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Transfer-Encoding"), Some("chunked"));
    conn
}

/// The next event: its raw JSON line and the parsed value.
fn next_event(conn: &mut BufReader<UnixStream>) -> (String, Value) {
    let chunk = read_chunk(conn).expect("an event chunk");
    let raw = String::from_utf8(chunk).expect("utf-8 event");
    assert!(raw.ends_with("}\n"), "{raw}");
    let v: Value = serde_json::from_str(&raw).expect("event JSON");
    (raw, v)
}

/// Reads `want.len()` events and checks their `Type` and `Action`; returns them.
fn expect_events(conn: &mut BufReader<UnixStream>, want: &[(&str, &str)]) -> Vec<(String, Value)> {
    want.iter()
        .map(|&(typ, action)| {
            let (raw, v) = next_event(conn);
            assert_eq!(
                (v["Type"].as_str(), v["Action"].as_str()),
                (Some(typ), Some(action)),
                "{raw}"
            );
            (raw, v)
        })
        .collect()
}

/// Asserts that nothing arrives on `conn` for a little while.
fn quiet(conn: &mut BufReader<UnixStream>) {
    assert!(conn.buffer().is_empty(), "unread data buffered");
    conn.get_ref()
        .set_read_timeout(Some(INTERVAL * 2))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let err = conn.get_mut().read(&mut byte).expect_err("nothing to read");
    assert!(matches!(
        err.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut
    ));
    conn.get_ref()
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
}

fn json_body(path: &Path, target: &str) -> Value {
    let (head, body) = request(path, target);
    assert_eq!(head.status, 200, "{target}: {}", text(&body));
    serde_json::from_slice(&body).expect("JSON body")
}

/// (State, Status) of the container named `name` in the listing, if listed.
fn listed(path: &Path, all: bool, name: &str) -> Option<(String, String)> {
    let target = if all {
        "/containers/json?all=1"
    } else {
        "/containers/json"
    };
    let list = json_body(path, target);
    let want = format!("/{name}");
    list.as_array()?
        .iter()
        .find(|c| c["Names"][0].as_str() == Some(want.as_str()))
        .map(|c| {
            (
                c["State"].as_str().unwrap_or_default().to_owned(),
                c["Status"].as_str().unwrap_or_default().to_owned(),
            )
        })
}

fn running_count(path: &Path) -> usize {
    json_body(path, "/containers/json")
        .as_array()
        .map_or(0, Vec::len)
}

/// Top-level keys in document order (events are flat enough for a scan of `,"key":`).
fn top_keys(raw: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(raw).expect("JSON");
    let mut keys: Vec<(usize, String)> = v
        .as_object()
        .expect("object")
        .keys()
        .map(|k| {
            let at = raw.find(&format!("\"{k}\":")).expect("key in raw");
            (at, k.clone())
        })
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

/// The fixture's events: (raw JSON) per chunk.
fn fixture_events() -> Option<Vec<String>> {
    let raw = std::fs::read(format!("{FIXTURES}/docker20-cgv1/docker20-events.http")).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    Some(
        text.lines()
            .filter(|l| l.starts_with('{'))
            .map(str::to_owned)
            .collect(),
    )
}

#[test]
fn lifecycle_events_and_listings() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(3, 0));
    let path = tmp.path();
    let mut every = subscribe(&path, None);
    let mut containers = subscribe(&path, Some(ONLY_CONTAINERS));

    // create: the next number, workload of the cycle (4 → writer).
    let id = sim.create(None).expect("create");
    assert_eq!(id.len(), 64);
    let created = expect_events(&mut every, &[("container", "create")]);
    expect_events(&mut containers, &[("container", "create")]);
    let (raw, v) = &created[0];
    assert!(
        raw.starts_with(&format!(
            "{{\"status\":\"create\",\"id\":\"{id}\",\"from\":\"sim/busybox:latest\",\"Type\":\"container\",\"Action\":\"create\",\"Actor\":{{\"ID\":\"{id}\",\"Attributes\":{{"
        )),
        "{raw}"
    );
    assert_eq!(v["Actor"]["Attributes"]["name"], "writer-4");
    assert_eq!(v["Actor"]["Attributes"]["image"], "sim/busybox:latest");
    assert_eq!(v["scope"], "local");
    let nanos = v["timeNano"].as_u64().expect("timeNano");
    assert_eq!(v["time"].as_u64(), Some(nanos / 1_000_000_000));
    // The fixture's key order, for container and network events alike.
    if let Some(fixture) = fixture_events() {
        assert_eq!(top_keys(raw), top_keys(&fixture[0]));
    }
    assert_eq!(
        listed(&path, true, "writer-4"),
        Some(("created".to_owned(), "Created".to_owned()))
    );
    assert_eq!(listed(&path, false, "writer-4"), None);

    // start: network connect, start (the filtered subscriber sees no network event).
    sim.start_container("writer-4").expect("start");
    let started = expect_events(
        &mut every,
        &[("network", "connect"), ("container", "start")],
    );
    expect_events(&mut containers, &[("container", "start")]);
    let (raw, v) = &started[0];
    assert_eq!(v["Actor"]["Attributes"]["container"], id.as_str());
    assert_eq!(v["Actor"]["Attributes"]["name"], "none");
    assert_eq!(v["Actor"]["Attributes"]["type"], "null");
    assert!(v.get("status").is_none() && v.get("from").is_none());
    if let Some(fixture) = fixture_events() {
        assert_eq!(top_keys(raw), top_keys(&fixture[1]));
    }
    let (state, status) = listed(&path, false, "writer-4").expect("listed running");
    assert_eq!(state, "running");
    assert!(status.starts_with("Up "), "{status}");

    // pause / unpause.
    sim.pause(&id[..12]).expect("pause");
    expect_events(&mut every, &[("container", "pause")]);
    expect_events(&mut containers, &[("container", "pause")]);
    let (state, status) = listed(&path, false, "writer-4").expect("paused is listed");
    assert_eq!(state, "paused");
    assert!(
        status.starts_with("Up ") && status.ends_with(" (Paused)"),
        "{status}"
    );
    sim.unpause("writer-4").expect("unpause");
    expect_events(&mut every, &[("container", "unpause")]);
    expect_events(&mut containers, &[("container", "unpause")]);
    assert_eq!(
        listed(&path, false, "writer-4").map(|s| s.0),
        Some("running".to_owned())
    );

    // stop: kill 15, die, network disconnect, stop.
    sim.stop("writer-4").expect("stop");
    let stopped = expect_events(
        &mut every,
        &[
            ("container", "kill"),
            ("container", "die"),
            ("network", "disconnect"),
            ("container", "stop"),
        ],
    );
    expect_events(
        &mut containers,
        &[
            ("container", "kill"),
            ("container", "die"),
            ("container", "stop"),
        ],
    );
    assert_eq!(stopped[0].1["Actor"]["Attributes"]["signal"], "15");
    assert_eq!(stopped[1].1["Actor"]["Attributes"]["exitCode"], "143");
    // Attributes are sorted like Go's map encoding, labels included.
    assert!(stopped[0].0.contains(
        "\"Attributes\":{\"image\":\"sim/busybox:latest\",\"name\":\"writer-4\",\"signal\":\"15\",\"sim\":\"1\",\"sim.workload\":\"writer\"}"
    ));
    assert!(
        stopped[1]
            .0
            .contains("\"Attributes\":{\"exitCode\":\"143\",\"image\":")
    );
    if let Some(fixture) = fixture_events() {
        assert_eq!(top_keys(&stopped[1].0), top_keys(&fixture[5]));
    }
    let (state, status) = listed(&path, true, "writer-4").expect("listed exited");
    assert_eq!(state, "exited");
    assert!(status.starts_with("Exited (143) "), "{status}");
    assert_eq!(listed(&path, false, "writer-4"), None);
    assert_eq!(sim.counters().containers_running, 3);

    // kill after a restart: kill 9, die 137, network disconnect, and no stop.
    sim.start_container(&id).expect("restart");
    expect_events(
        &mut every,
        &[("network", "connect"), ("container", "start")],
    );
    sim.kill("writer-4").expect("kill");
    let killed = expect_events(
        &mut every,
        &[
            ("container", "kill"),
            ("container", "die"),
            ("network", "disconnect"),
        ],
    );
    assert_eq!(killed[0].1["Actor"]["Attributes"]["signal"], "9");
    assert_eq!(killed[1].1["Actor"]["Attributes"]["exitCode"], "137");

    // remove: destroy; gone from every listing.
    sim.remove("writer-4", false).expect("remove");
    expect_events(&mut every, &[("container", "destroy")]);
    assert_eq!(listed(&path, true, "writer-4"), None);
    let (head, _) = request(&path, &format!("/containers/{id}/stats?stream=false"));
    assert_eq!(head.status, 404);

    // rm -f of a running container: kill 9, die, disconnect, destroy; net is on the bridge.
    sim.remove("net-6", true)
        .expect_err("no net-6 with 3 containers");
    sim.remove("idle-2", true).expect("force remove");
    expect_events(
        &mut every,
        &[
            ("container", "kill"),
            ("container", "die"),
            ("network", "disconnect"),
            ("container", "destroy"),
        ],
    );
    expect_events(
        &mut containers,
        &[
            ("container", "start"),
            ("container", "kill"),
            ("container", "die"),
            ("container", "destroy"),
            ("container", "kill"),
            ("container", "die"),
            ("container", "destroy"),
        ],
    );
    assert_eq!(running_count(&path), 2);
    assert_eq!(sim.counters().containers_running, 2);
    quiet(&mut every);
    quiet(&mut containers);
    // 1+2+1+1+4+2+3+1+4 = 19 events to one subscriber, 1+1+1+1+3+1+2+1+3 = 14 to the other.
    eventually("events counted", || sim.counters().events_sent == 19 + 14);
}

#[test]
fn invalid_transitions_are_errors() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(2, 1));
    let kind = |r: std::io::Result<()>| r.err().map(|e| e.kind());
    assert_eq!(kind(sim.stop("nosuch")), Some(ErrorKind::NotFound));
    let err = sim.start_container("nosuch").expect_err("unknown");
    assert_eq!(err.to_string(), "No such container: nosuch");
    assert_eq!(
        kind(sim.start_container("busy-1")),
        Some(ErrorKind::InvalidInput)
    );
    let err = sim.remove("busy-1", false).expect_err("running");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .contains("cannot remove a running container"),
        "{err}"
    );
    assert_eq!(kind(sim.unpause("busy-1")), Some(ErrorKind::InvalidInput));
    assert_eq!(kind(sim.pause("stopped-3")), Some(ErrorKind::InvalidInput));
    assert_eq!(kind(sim.stop("stopped-3")), Some(ErrorKind::InvalidInput));
    assert_eq!(kind(sim.kill("stopped-3")), Some(ErrorKind::InvalidInput));
    sim.pause("busy-1").expect("pause");
    assert_eq!(kind(sim.pause("busy-1")), Some(ErrorKind::InvalidInput));
    assert_eq!(
        kind(sim.remove("busy-1", false)),
        Some(ErrorKind::InvalidInput)
    );
    assert_eq!(
        sim.create(Some("idle-2")).map_err(|e| e.kind()),
        Err(ErrorKind::AlreadyExists)
    );
    assert_eq!(
        sim.create(Some("a b")).map_err(|e| e.kind()),
        Err(ErrorKind::InvalidInput)
    );
    let id = sim.create(Some("mine")).expect("create");
    assert_eq!(kind(sim.stop(&id)), Some(ErrorKind::InvalidInput));
    assert!(sim.remove("mine", false).is_ok());
    assert_eq!(kind(sim.remove("mine", false)), Some(ErrorKind::NotFound));
    // Nothing above changed what runs.
    assert_eq!(sim.counters().containers_running, 2);
    assert_eq!(running_count(&tmp.path()), 2);
}

/// A stats frame as JSON, and whether it is a zero (not running) frame.
fn frame(conn: &mut BufReader<UnixStream>) -> Value {
    let chunk = read_chunk(conn).expect("a frame");
    serde_json::from_slice(&chunk).expect("frame JSON")
}

fn is_zero(f: &Value) -> bool {
    f["read"] == ZERO
}

fn zero_precpu() -> Value {
    serde_json::from_str(ZERO_PRECPU).expect("zero precpu")
}

#[test]
fn stats_stream_across_stop_start_and_remove() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(2, 0));
    let path = tmp.path();
    let mut conn = connect(&path);
    send(&mut conn, &get("/v1.41/containers/busy-1/stats"));
    assert_eq!(read_head(&mut conn).status, 200);
    let mut frames = 0u64;
    let mut next = |conn: &mut BufReader<UnixStream>| {
        frames += 1;
        frame(conn)
    };
    let first = next(&mut conn);
    assert_eq!(first["precpu_stats"], zero_precpu());
    let mut last = next(&mut conn);
    assert!(!is_zero(&last));

    // Stop: frames keep coming, zeroed; the first still carries the last live cpu.
    sim.stop("busy-1").expect("stop");
    let mut f = next(&mut conn);
    while !is_zero(&f) {
        last = f;
        f = next(&mut conn);
    }
    assert_eq!(f["preread"], last["read"]);
    assert_eq!(f["precpu_stats"], last["cpu_stats"]);
    assert_eq!(f["memory_stats"], serde_json::json!({}));
    assert_eq!(f["pids_stats"], serde_json::json!({}));
    assert_eq!(f["name"], "/busy-1");
    for _ in 0..2 {
        let f = next(&mut conn);
        assert!(is_zero(&f));
        assert_eq!(f["preread"], ZERO);
        assert_eq!(f["precpu_stats"], zero_precpu());
    }

    // Start: live again, the first live frame like any first frame.
    sim.start_container("busy-1").expect("start");
    let mut f = next(&mut conn);
    while is_zero(&f) {
        f = next(&mut conn);
    }
    assert_eq!(f["preread"], ZERO);
    assert_eq!(f["precpu_stats"], zero_precpu());
    let g = next(&mut conn);
    assert_eq!(g["preread"], f["read"]);
    assert_eq!(g["precpu_stats"], f["cpu_stats"]);
    // A new run: CPU time starts over.
    let total = |f: &Value| f["cpu_stats"]["cpu_usage"]["total_usage"].as_u64();
    assert!(total(&g) < total(&last), "{g} vs {last}");

    // Remove (forced): exactly two zero frames, then the last chunk.
    sim.remove("busy-1", true).expect("remove");
    let mut f = next(&mut conn);
    while !is_zero(&f) {
        f = next(&mut conn);
    }
    assert_eq!(f["preread"], ZERO);
    assert!(is_zero(&next(&mut conn)));
    assert!(
        read_chunk(&mut conn).is_none(),
        "0-chunk after two zero frames"
    );
    assert_eq!(sim.counters().streams_open, 0);

    // The connection is still good: the container is now a 404, other routes work.
    send(&mut conn, &get("/v1.41/containers/busy-1/stats"));
    let (head, body) = read_response(&mut conn);
    assert_eq!(head.status, 404);
    assert_eq!(body, b"{\"message\":\"No such container: busy-1\"}\n");
    send(&mut conn, &get("/_ping"));
    assert_eq!(read_response(&mut conn).1, b"OK");
    assert_eq!(sim.counters().connections_accepted, 1);
    // Every frame read was counted, and nothing else.
    eventually("frames counted", || sim.counters().frames_sent == frames);
    assert_eq!(sim.counters().frames_sent, frames);
}

#[test]
fn removal_ends_http10_streams_and_pending_answers() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(2, 1));
    let path = tmp.path();
    // HTTP/1.0: raw frames until close; the removal closes the connection after two frames.
    let mut old = connect(&path);
    send(&mut old, "GET /containers/stopped-3/stats HTTP/1.0\r\n\r\n");
    assert_eq!(read_head(&mut old).status, 200);
    let mut line = String::new();
    old.read_line(&mut line).expect("a frame");
    assert!(line.starts_with("{\"read\":\"0001-01-01T00:00:00Z\""));
    // A stream=false answer pending while its container goes away: a zero frame.
    let mut once = connect(&path);
    send(&mut once, &get("/containers/idle-2/stats?stream=false"));
    sim.remove("stopped-3", false).expect("remove");
    sim.remove("idle-2", true).expect("remove");
    let mut rest = String::new();
    old.read_to_string(&mut rest).expect("EOF");
    let after: Vec<&str> = rest.lines().collect();
    assert!((2..=5).contains(&after.len()), "{rest}");
    assert!(after.iter().all(|l| l.contains("\"name\":\"/stopped-3\"")));
    let (head, body) = read_response(&mut once);
    assert_eq!(head.status, 200);
    assert!(
        text(&body)
            .starts_with("{\"read\":\"0001-01-01T00:00:00Z\",\"preread\":\"0001-01-01T00:00:00Z\"")
    );
    assert!(text(&body).contains("\"name\":\"/idle-2\""));
}

#[test]
fn pause_keeps_frames_flowing_with_frozen_counters() {
    let tmp = TempSock::new();
    let sim = start(&tmp, config(1, 0));
    let mut conn = connect(&tmp.path());
    send(&mut conn, &get("/containers/busy-1/stats"));
    assert_eq!(read_head(&mut conn).status, 200);
    frame(&mut conn);
    sim.pause("busy-1").expect("pause");
    // Up to two frames may have been written before the pause.
    frame(&mut conn);
    frame(&mut conn);
    let total = |f: &Value| f["cpu_stats"]["cpu_usage"]["total_usage"].as_u64();
    let system = |f: &Value| f["cpu_stats"]["system_cpu_usage"].as_u64();
    let paused: Vec<Value> = (0..3).map(|_| frame(&mut conn)).collect();
    for pair in paused.windows(2) {
        assert!(!is_zero(&pair[1]));
        assert_eq!(total(&pair[1]), total(&pair[0]));
        assert!(system(&pair[1]) > system(&pair[0]));
        assert_eq!(pair[1]["precpu_stats"], pair[0]["cpu_stats"]);
        assert_eq!(pair[1]["memory_stats"], pair[0]["memory_stats"]);
    }
    sim.unpause("busy-1").expect("unpause");
    frame(&mut conn);
    frame(&mut conn);
    let a = frame(&mut conn);
    let b = frame(&mut conn);
    assert!(total(&b) > total(&a) && total(&a) > total(&paused[2]));
}

#[test]
fn churn_keeps_the_running_count_and_announces_it() {
    let tmp = TempSock::new();
    let churn = Churn {
        every: Duration::from_millis(100),
        remove_after: Some(Duration::from_millis(150)),
    };
    let sim = start(
        &tmp,
        SimConfig {
            churn: Some(churn),
            ..config(6, 0)
        },
    );
    let path = tmp.path();
    let mut events = subscribe(&path, None);
    let mut seen: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(1200);
    while Instant::now() < deadline {
        assert_eq!(running_count(&path), 6);
        assert_eq!(sim.counters().containers_running, 6);
        // Removals of earlier victims come on their own timer, between ticks; a tick's events
        // are written together.
        let (_, mut v) = next_event(&mut events);
        while v["Action"] == "destroy" {
            seen.push(v);
            v = next_event(&mut events).1;
        }
        assert_eq!(
            (&v["Type"], &v["Action"]),
            (&"container".into(), &"kill".into()),
            "{v}"
        );
        seen.push(v);
        let tick = expect_events(
            &mut events,
            &[
                ("container", "die"),
                ("network", "disconnect"),
                ("container", "stop"),
                ("container", "create"),
                ("network", "connect"),
                ("container", "start"),
            ],
        );
        seen.extend(tick.into_iter().map(|(_, v)| v));
    }
    let ids_of = |action: &str| -> Vec<(String, u64)> {
        seen.iter()
            .filter(|v| v["Type"] == "container" && v["Action"] == action)
            .map(|v| {
                (
                    v["id"].as_str().unwrap_or_default().to_owned(),
                    v["timeNano"].as_u64().unwrap_or_default(),
                )
            })
            .collect()
    };
    let stops = ids_of("stop");
    let starts = ids_of("start");
    let destroys = ids_of("destroy");
    assert!(stops.len() >= 8, "{} ticks", stops.len());
    assert_eq!(starts.len(), stops.len());
    assert!(destroys.len() >= stops.len() - 3, "{destroys:?}");
    // Each destroyed container was stopped by churn at least remove_after earlier.
    for (id, t) in &destroys {
        let stopped = stops.iter().find(|(s, _)| s == id).expect("stopped first");
        assert!(*t >= stopped.1 + 150_000_000, "{id}: removed too early");
    }
    // Started containers are new ones, numbered on from the initial six.
    let names: Vec<&str> = seen
        .iter()
        .filter(|v| v["Action"] == "create")
        .filter_map(|v| v["Actor"]["Attributes"]["name"].as_str())
        .collect();
    assert_eq!(names.first().copied(), Some("busy-7"));
    assert_eq!(names.get(1).copied(), Some("idle-8"));
    let all = json_body(&path, "/containers/json?all=1");
    let listed = all.as_array().map_or(0, Vec::len);
    // Six running, plus the victims of the last tick or two awaiting removal.
    assert!((6..=9).contains(&listed), "{listed}");

    // The same seed picks the same victims.
    let again = TempSock::new();
    let twin = start(
        &again,
        SimConfig {
            churn: Some(churn),
            ..config(6, 0)
        },
    );
    let mut events = subscribe(&again.path(), Some(ONLY_CONTAINERS));
    let first = expect_events(&mut events, &[("container", "kill")]);
    let victim = &first[0].1["Actor"]["Attributes"]["name"];
    let original = seen
        .iter()
        .find(|v| v["Action"] == "kill")
        .map(|v| &v["Actor"]["Attributes"]["name"]);
    assert_eq!(Some(victim), original);
    drop(twin);
}

#[test]
fn control_routes_count_and_pause_frames() {
    let tmp = TempSock::new();
    let sim = start(
        &tmp,
        SimConfig {
            interval: Duration::from_millis(50),
            ..config(2, 0)
        },
    );
    let path = tmp.path();
    let mut stream = connect(&path);
    send(&mut stream, &get("/containers/busy-1/stats"));
    assert_eq!(read_head(&mut stream).status, 200);
    read_chunk(&mut stream).expect("frame");
    read_chunk(&mut stream).expect("frame");

    let (head, body) = request(&path, "/_sim/counters");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Type"), Some("application/json"));
    let c: Value = serde_json::from_slice(&body).expect("counters JSON");
    let keys: Vec<&str> = c
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut want = [
        "frames_sent",
        "frames_skipped",
        "streams_open",
        "connections_accepted",
        "connections_open",
        "requests",
        "events_sent",
        "containers_running",
        "faults_injected",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert!(text(&body).starts_with("{\"frames_sent\":"));
    assert!(c["frames_sent"].as_u64() >= Some(2));
    assert_eq!(c["streams_open"], 1);
    assert_eq!(c["connections_open"], 2);
    assert_eq!(c["containers_running"], 2);
    assert_eq!(c["requests"], 2);

    let (_, body) = request(&path, "/_sim/pause");
    assert_eq!(body, b"{\"ok\":true}\n");
    // A frame in flight when the pause arrived still counts; then nothing.
    std::thread::sleep(Duration::from_millis(100));
    let paused = sim.counters();
    std::thread::sleep(Duration::from_millis(300));
    let later = sim.counters();
    assert_eq!(later.frames_sent, paused.frames_sent);
    assert_eq!(later.frames_skipped, paused.frames_skipped);
    assert_eq!(later.streams_open, 1);
    let (_, body) = request(&path, "/_sim/resume");
    assert_eq!(body, b"{\"ok\":true}\n");
    eventually("frames flowing again", || {
        sim.counters().frames_sent >= later.frames_sent + 3
    });
    // The stream is intact: whole frames, precpu continuing from the last one sent.
    let mut prev = frame(&mut stream);
    for _ in 0..3 {
        let f = frame(&mut stream);
        assert_eq!(f["preread"], prev["read"]);
        prev = f;
    }

    // Only the exact targets.
    for target in [
        "/v1.41/_sim/counters",
        "/_sim/counters?all=1",
        "/_sim/",
        "/_sim/stop",
    ] {
        let (head, body) = request(&path, target);
        assert_eq!(head.status, 404, "{target}");
        assert_eq!(body, b"{\"message\":\"page not found\"}\n");
    }
    let mut conn = connect(&path);
    send(
        &mut conn,
        "POST /_sim/pause HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(read_response(&mut conn).0.status, 404);
}

#[test]
fn bad_event_filters_get_400() {
    let tmp = TempSock::new();
    let _sim = start(&tmp, config(1, 0));
    let (head, body) = request(
        &tmp.path(),
        "/events?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
    );
    assert_eq!(head.status, 400);
    assert_eq!(body, b"{\"message\":\"invalid filter 'colour'\"}\n");
}

/// Resident memory of this process, in KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// 2,000 streams over one unix socket, read by one client thread through nonblocking
/// sockets: frames flow on all of them, the sim's memory stays small, and the streams'
/// cadences are spread over the interval rather than aligned.
#[test]
fn two_thousand_streams_on_one_thread() {
    const STREAMS: usize = 2000;
    const FRAMES: usize = 3;
    let interval = Duration::from_millis(100);
    let tmp = TempSock::new();
    let sim = start(
        &tmp,
        SimConfig {
            interval,
            ..config(STREAMS, 0)
        },
    );
    let before = rss_kib();
    let t0 = Instant::now();
    let mut socks: Vec<UnixStream> = Vec::with_capacity(STREAMS);
    for i in 0..STREAMS {
        let mut s = UnixStream::connect(tmp.path()).expect("connect");
        s.write_all(get(&format!("/containers/{}/stats", sim_name(i))).as_bytes())
            .expect("request");
        s.set_nonblocking(true).expect("nonblocking");
        socks.push(s);
        // Spread the requests over about one interval.
        if i % 200 == 199 {
            std::thread::sleep(interval / 10);
        }
    }
    let connect_time = t0.elapsed();
    // Read until every stream has its head and FRAMES frames (counted by their `}\n` ends;
    // the frames themselves contain no newline).
    let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); STREAMS];
    let mut done = vec![false; STREAMS];
    let mut left = STREAMS;
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    while left > 0 {
        assert!(Instant::now() < deadline, "{left} streams short of frames");
        let mut idle = true;
        for (i, s) in socks.iter_mut().enumerate() {
            if done[i] {
                continue;
            }
            match s.read(&mut chunk) {
                Ok(0) => panic!("stream {i} closed"),
                Ok(n) => {
                    idle = false;
                    bufs[i].extend_from_slice(&chunk[..n]);
                    if bufs[i].windows(2).filter(|w| w == b"}\n").count() >= FRAMES {
                        done[i] = true;
                        left -= 1;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("stream {i}: {e}"),
            }
        }
        if idle {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let during = rss_kib();
    let c = sim.counters();
    assert_eq!(c.streams_open, STREAMS as u64);
    assert!(c.frames_sent >= (STREAMS * FRAMES) as u64, "{c:?}");
    // Phase of each stream's first frame within the interval: spread, not one burst.
    let interval_ns = interval.as_nanos() as u64;
    let mut buckets = [0usize; 10];
    for (i, b) in bufs.iter().enumerate() {
        let text = String::from_utf8_lossy(b);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let first = body
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_default();
        assert!(
            first.contains(&format!("\"name\":\"/{}\"", sim_name(i))),
            "{first}"
        );
        let read = string_field(first, "read");
        // "…HH:MM:SS.fffffffffZ": the fraction of the second.
        let frac = read
            .rsplit_once('.')
            .map_or("0", |(_, f)| f.trim_end_matches('Z'));
        let ns: u64 = format!("{frac:0<9}").parse().unwrap_or(0);
        buckets[(ns % interval_ns * 10 / interval_ns) as usize] += 1;
    }
    let max = buckets.iter().copied().max().unwrap_or(0);
    assert!(max < STREAMS / 2, "stream phases bunched: {buckets:?}");
    if let (Some(a), Some(b)) = (before, during) {
        let per_stream = (b.saturating_sub(a)) * 1024 / STREAMS as u64;
        eprintln!(
            "{STREAMS} streams: connected in {connect_time:?}, RSS +{} KiB (~{per_stream} B per stream, client included), phases {buckets:?}",
            b.saturating_sub(a)
        );
        // Client buffers included; the sim's own share is a few hundred bytes per stream.
        assert!(b.saturating_sub(a) < 64 * 1024, "RSS grew by {} KiB", b - a);
    }
    drop(socks);
    eventually("all streams to close", || sim.counters().streams_open == 0);
}
