use super::*;
use crate::SimConfig;
use crate::frames::tests::{T0, python};

fn model() -> Model {
    let config = SimConfig {
        containers: 6,
        stopped: 2,
        ..SimConfig::default()
    };
    Model::new(&config, T0)
}

fn reply(a: Action) -> Reply {
    match a {
        Action::Reply(r) => r,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn versions() {
    use std::cmp::Ordering::*;
    assert_eq!(compare_versions("1.41", "1.41"), Equal);
    assert_eq!(compare_versions("1.9", "1.41"), Less);
    assert_eq!(compare_versions("1.99", "1.41"), Greater);
    assert_eq!(compare_versions("1.41.0", "1.41"), Equal);
    assert_eq!(compare_versions("2", "1.41"), Greater);
    assert_eq!(split_version("/v1.41/_ping"), (Some("1.41"), "/_ping"));
    assert_eq!(split_version("/version"), (None, "/version"));
    assert_eq!(split_version("/v1.24"), (Some("1.24"), ""));
}

#[test]
fn info_has_the_hosts_cpus_and_the_containers_counts() {
    let mut config = SimConfig {
        containers: 6,
        stopped: 2,
        ncpu: 12,
        ..SimConfig::default()
    };
    let docker = Model::new(&config, T0);
    let info = reply(route("GET", "/v1.41/info", &docker, T0));
    assert_eq!((info.status, info.headers), (200, H_DAEMON_JSON));
    let doc: serde_json::Value = serde_json::from_slice(&info.body).unwrap();
    assert_eq!(doc["NCPU"], 12);
    assert_eq!(doc["MemTotal"], config.mem_total);
    assert_eq!(
        (
            &doc["Containers"],
            &doc["ContainersRunning"],
            &doc["ContainersStopped"]
        ),
        (&8.into(), &6.into(), &2.into())
    );
    assert_eq!(doc["ServerVersion"], ENGINE_VERSION);
    assert_eq!(doc["CgroupVersion"], "1");
    assert_eq!(doc["SystemTime"].as_str().map(str::len), Some(30), "{doc}");
    config.flavor = Flavor::Podman;
    let podman = Model::new(&config, T0);
    let doc: serde_json::Value =
        serde_json::from_slice(&reply(route("GET", "/info", &podman, T0)).body).unwrap();
    assert_eq!(doc["NCPU"], 12);
    assert_eq!(doc["ServerVersion"], PODMAN_VERSION);
    assert_eq!(doc["CgroupVersion"], "v2");
    assert_eq!(reply(route("POST", "/info", &podman, T0)), page_not_found());
}

#[test]
fn routes() {
    let m = model();
    let r = |method: &str, t: &str| route(method, t, &m, T0);
    assert_eq!(reply(r("GET", "/_ping")).body, b"OK");
    assert_eq!(reply(r("HEAD", "/v1.41/_ping")).headers, H_PING_HEAD);
    assert_eq!(reply(r("GET", "/nosuch")), page_not_found());
    assert_eq!(reply(r("POST", "/containers/json")), page_not_found());
    assert_eq!(reply(r("GET", "/v1.99/nosuch")), page_not_found());
    let too_new = reply(r("GET", "/v1.99/containers/json"));
    assert_eq!(too_new.status, 400);
    assert_eq!(
        too_new.body,
        b"{\"message\":\"client version 1.99 is too new. Maximum supported API version is 1.41\"}\n"
    );
    assert_eq!(reply(r("GET", "/v1.11/version")).status, 400);
    assert_eq!(reply(r("GET", "/v1.12/version")).status, 200);
    let inspect = reply(r("GET", "/v1.41/containers/busy-1/json"));
    assert_eq!(inspect.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&inspect.body).unwrap();
    assert_eq!(doc["Name"], "/busy-1");
    assert_eq!(doc["State"]["Status"], "running");
    assert_eq!(doc["Config"]["Labels"]["sim.workload"], "busy");
    let idx = match m.lookup("busy-1") {
        Lookup::Found(idx) => idx,
        other => panic!("{other:?}"),
    };
    assert_eq!(doc["State"]["Pid"], crate::SIM_PID_BASE as usize + idx);
    // busy runs with --cpus 0.5 (crate::limits), as its frames' throttling says.
    assert_eq!(doc["HostConfig"]["NanoCpus"], 500_000_000);
    assert_eq!(doc["HostConfig"]["CpuQuota"], 0);
    assert_eq!(doc["HostConfig"]["CpuQuota"], 0);
    assert_eq!(doc["HostConfig"]["CpuPeriod"], 0);
    assert_eq!(reply(r("GET", "/containers/nosuch/json")).status, 404);
    let missing = reply(r("GET", "/containers/nosuch/stats?stream=false"));
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.body,
        b"{\"message\":\"No such container: nosuch\"}\n"
    );
    assert_eq!(missing.headers, H_DAEMON_JSON);
    let stats = |q: &str| r("GET", &format!("/v1.41/containers/busy-1/stats{q}"));
    assert_eq!(
        stats(""),
        Action::Stats {
            idx: 0,
            mode: StatsMode::Stream
        }
    );
    assert_eq!(
        stats("?stream=1"),
        Action::Stats {
            idx: 0,
            mode: StatsMode::Stream
        }
    );
    assert_eq!(
        stats("?stream=false"),
        Action::Stats {
            idx: 0,
            mode: StatsMode::Once
        }
    );
    assert_eq!(
        stats("?stream=0&one-shot=true"),
        Action::Stats {
            idx: 0,
            mode: StatsMode::OneShot
        }
    );
    assert_eq!(
        stats("?one-shot=1"),
        Action::Stats {
            idx: 0,
            mode: StatsMode::Stream
        }
    );
    assert_eq!(
        r("GET", "/events?since=1&filters=%7B%7D"),
        Action::Events(Box::default())
    );
    let id = m.containers[3].id.clone();
    assert_eq!(
        r("GET", &format!("/containers/{}/stats", &id[..10])),
        Action::Stats {
            idx: 3,
            mode: StatsMode::Stream
        }
    );
    assert_eq!(
        r("GET", "/containers/%2Fwriter-4/stats"),
        Action::Stats {
            idx: 3,
            mode: StatsMode::Stream
        }
    );
}

#[test]
fn control_routes_only_on_exact_targets() {
    let m = model();
    let r = |method: &str, t: &str| route(method, t, &m, T0);
    assert_eq!(
        r("GET", "/_sim/counters"),
        Action::Control(Control::Counters)
    );
    assert_eq!(r("GET", "/_sim/frames"), Action::Control(Control::Frames));
    assert_eq!(r("GET", "/_sim/pause"), Action::Control(Control::Pause));
    assert_eq!(r("GET", "/_sim/resume"), Action::Control(Control::Resume));
    assert_eq!(
        r("GET", "/_sim/restart"),
        Action::Control(Control::Restart { down_ms: 1000 })
    );
    assert_eq!(
        r("GET", "/_sim/restart?down_ms=250"),
        Action::Control(Control::Restart { down_ms: 250 })
    );
    for (method, target) in [
        ("POST", "/_sim/pause"),
        ("HEAD", "/_sim/counters"),
        ("GET", "/v1.41/_sim/counters"),
        ("GET", "/_sim/counters?x=1"),
        ("GET", "/_sim/counters/"),
        ("GET", "/_sim/%63ounters"),
        ("GET", "/_sim"),
        ("GET", "/_sim/stop"),
        ("POST", "/_sim/restart"),
        ("GET", "/_sim/restart?down_ms="),
        ("GET", "/_sim/restart?down_ms=-1"),
        ("GET", "/_sim/restart?down_ms=1&x=2"),
        ("GET", "/_sim/restart?down=1"),
        ("GET", "/_sim/restart?down_ms=99999999999"),
    ] {
        assert_eq!(
            reply(r(method, target)),
            page_not_found(),
            "{method} {target}"
        );
    }
}

#[test]
fn events_filters_parse_or_400() {
    let m = model();
    let r = |t: &str| route("GET", t, &m, T0);
    // What the engine sends: filters={"type":["container"]}, URL-encoded.
    let Action::Events(f) = r("/v1.41/events?filters=%7B%22type%22%3A%5B%22container%22%5D%7D")
    else {
        panic!("not an events action");
    };
    assert_eq!(
        *f,
        Filter::parse(r#"{"type":["container"]}"#).unwrap_or_default()
    );
    assert_ne!(*f, Filter::default());
    let bad = reply(r("/events?filters=%7B%22nope%22%3A%5B%5D%7D"));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body, b"{\"message\":\"invalid filter 'nope'\"}\n");
    assert_eq!(reply(r("/events?filters=%7B")).status, 400);
}

#[test]
fn listing_queries() {
    let m = model();
    let body = |t: &str| {
        let r = reply(route("GET", t, &m, T0 + SECOND));
        (r.status, String::from_utf8(r.body).unwrap_or_default())
    };
    // What `docker ps --filter foo=bar` sends, and the daemon's answer.
    assert_eq!(
        body("/v1.41/containers/json?filters=%7B%22foo%22%3A%7B%22bar%22%3Atrue%7D%7D"),
        (400, "{\"message\":\"Invalid filter 'foo'\"}\n".to_owned())
    );
    assert_eq!(
        body("/containers/json?limit=abc"),
        (
            400,
            "{\"message\":\"strconv.Atoi: parsing \\\"abc\\\": invalid syntax\"}\n".to_owned()
        )
    );
    let (status, exited) =
        body("/v1.41/containers/json?filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D");
    assert_eq!(status, 200);
    assert_eq!(exited.matches("\"Id\":").count(), 2);
    let (_, sized) = body("/containers/json?size=1&limit=6");
    assert_eq!(sized.matches("\"SizeRootFs\":2148488,").count(), 5);
    assert_eq!(
        sized
            .matches("\"SizeRw\":16777216,\"SizeRootFs\":18925704,")
            .count(),
        1
    );
    assert!(!body("/containers/json").1.contains("Size"));
    let (_, alpine) =
        body("/images/json?filters=%7B%22reference%22%3A%7B%22sim%2Falpine%3A3.20%22%3Atrue%7D%7D");
    assert!(alpine.contains("\"RepoDigests\":null,\"RepoTags\":[\"sim/alpine:3.20\"]"));
    assert_eq!(alpine.matches("\"Id\":").count(), 1);
    assert_eq!(
        body("/images/json?filters=%7B%22until%22%3A%7B%221h%22%3Atrue%7D%7D"),
        (400, "{\"message\":\"Invalid filter 'until'\"}\n".to_owned())
    );
}

#[test]
fn listing_follows_the_lifecycle() {
    use crate::model::Op;
    let mut m = model();
    let now = T0 + 10 * SECOND;
    let mut ev = Vec::new();
    let apply = |m: &mut Model, op: Op, c: &str, ev: &mut Vec<_>| {
        m.apply(&op, c, now, ev)
            .map(drop)
            .unwrap_or_else(|e| panic!("{c}: {e}"));
    };
    apply(&mut m, Op::Create(Some("fresh".to_owned())), "", &mut ev);
    apply(&mut m, Op::Pause, "busy-1", &mut ev);
    apply(&mut m, Op::Stop, "net-6", &mut ev);
    apply(&mut m, Op::Remove { force: true }, "idle-2", &mut ev);
    let all = String::from_utf8(containers_json(&m, now + SECOND, true, None)).unwrap_or_default();
    let running =
        String::from_utf8(containers_json(&m, now + SECOND, false, None)).unwrap_or_default();
    // 6 + 2 + 1 created - 1 removed; without all: 6 - 1 stopped - 1 removed.
    assert_eq!(all.matches("\"Id\":").count(), 8);
    assert_eq!(running.matches("\"Id\":").count(), 4);
    assert!(all.starts_with("[{\"Id\":"));
    assert!(all.contains("\"Names\":[\"/fresh\"]"));
    assert!(all.contains("\"State\":\"created\",\"Status\":\"Created\""));
    assert!(!running.contains("/fresh"));
    assert!(running.contains("\"State\":\"paused\",\"Status\":\"Up "));
    assert!(running.contains(" minutes (Paused)\""));
    assert!(all.contains("\"State\":\"exited\",\"Status\":\"Exited (143) 1 second ago\""));
    assert!(!all.contains("/idle-2"));
    // The stopped net container keeps its network, without an endpoint or address.
    assert!(!all.contains("172.17.0.2"));
    assert!(all.contains("\"NetworkMode\":\"default\""));
    let fresh_first = all.find("/fresh").unwrap_or(usize::MAX);
    assert!(
        all[..fresh_first].matches("\"Id\":").count() == 1,
        "newest first"
    );
}

#[test]
fn container_listing() {
    let m = model();
    let now = T0 + 10 * SECOND;
    let running = String::from_utf8(containers_json(&m, now, false, None)).unwrap_or_default();
    let all = String::from_utf8(containers_json(&m, now, true, None)).unwrap_or_default();
    assert_eq!(running.matches("\"Id\":").count(), 6);
    assert_eq!(all.matches("\"Id\":").count(), 8);
    assert!(all.starts_with("[{\"Id\":"));
    assert!(all.contains("\"State\":\"exited\",\"Status\":\"Exited (0) "));
    assert!(running.contains("\"Labels\":{\"sim\":\"1\",\"sim.workload\":\"busy\"},\"State\":\"running\",\"Status\":\"Up "));
    assert!(
        running.contains(
            "\"NetworkMode\":\"default\"},\"NetworkSettings\":{\"Networks\":{\"bridge\":"
        )
    );
    assert!(running.contains("\"IPAddress\":\"172.17.0.2\""));
    let one = String::from_utf8(containers_json(&m, now, false, Some(1))).unwrap_or_default();
    assert_eq!(one.matches("\"Id\":").count(), 1);
    let py = "import json,sys\nv=json.load(sys.stdin)\nprint(len(v), list(v[0].keys()))";
    if let Some(out) = python(py, all.as_bytes()) {
        assert_eq!(
            out.trim(),
            "8 ['Id', 'Names', 'Image', 'ImageID', 'Command', 'Created', 'Ports', 'Labels', 'State', 'Status', 'HostConfig', 'NetworkSettings', 'Mounts']"
        );
    }
    let images = images_json(&m);
    let py = "import json,sys\nv=json.load(sys.stdin)\nprint(len(v), sorted(v[0].keys()) == list(v[0].keys()), v[0]['RepoTags'])";
    if let Some(out) = python(py, &images) {
        assert_eq!(out.trim(), "3 True ['sim/busybox:latest']");
    }
    if let Some(out) = python(
        "import json,sys\nprint(json.load(sys.stdin)['Version'])",
        &version_json(),
    ) {
        assert_eq!(out.trim(), ENGINE_VERSION);
    }
}
