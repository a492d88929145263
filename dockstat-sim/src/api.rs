//! Routing: a parsed request head → what to answer. Pure (time is passed in), no I/O.
//!
//! Answers are shaped after Docker 20.10 (API 1.41, minimum 1.12), header set for header set:
//! - every route accepts an optional `/v{version}` prefix (`[0-9.]+`, like the daemon's mux);
//!   a version above 1.41 or below 1.12 on a *known* route gets the daemon's 400;
//! - unknown routes, and known routes with another method, get `404 {"message":"page not
//!   found"}` with only a `Content-Type` header: the daemon's mux answers those before its
//!   middleware adds `Api-Version`/`Server` (`docker20-404-route.http`). Lifecycle changes are
//!   driven from the [`Sim`](super::Sim) handle and by churn, not through the API, so every
//!   `POST`/`DELETE` lands there too;
//! - `HEAD /_ping` is answered like the daemon's ping handler does it (`Content-Length: 0`);
//! - `/events` honours `filters` (see `events.rs`; a bad one gets the daemon's 400) and accepts
//!   `since` and `until` but ignores them: there is no event history to replay;
//! - `/containers/{name}/json` answers the inspect fields tools read to resolve a name.
//! - `/info` answers as the daemon's (or Podman's compat) `GET /info`, with the simulated
//!   host's `NCPU` and `MemTotal` and the containers' counts;
//! - `/containers/json` honours `all`, `limit`, `size` and `filters`, `/images/json` its
//!   `filters` (see `api/listing.rs`; a bad one gets the daemon's 400);
//! - the sim's own control routes, `GET /_sim/counters`, `/_sim/frames`, `/_sim/pause`, `/_sim/resume` and
//!   `/_sim/restart[?down_ms=N]`, are recognised on exactly those targets (no version prefix,
//!   no other query, GET only); anything else under `/_sim` is an unknown route.

use std::borrow::Cow;

mod listing;

use listing::{Args, ContainerQuery, IMAGE_KEYS, ImageRow, PS_KEYS};

use super::Flavor;
use super::events::Filter;
use super::http::percent_decode;
use super::json::{push_i64, push_key, push_str, push_u64};
use super::model::{Lookup, Model, State};
use super::time::{SECOND, UnixNanos, since};

/// The API version the sim speaks (the fixtures' daemon).
pub(crate) const API_VERSION: &str = "1.41";
/// The oldest API version it accepts.
pub(crate) const MIN_API_VERSION: &str = "1.12";
/// The engine version: Docker 20.10.24, recognisably simulated.
pub(crate) const ENGINE_VERSION: &str = "20.10.24-dockstat-sim";

const SERVER: &str = "Docker/20.10.24-dockstat-sim (linux)";

/// Headers of daemon answers without a body type (stats streams).
pub(crate) const H_DAEMON: &[(&str, &str)] = &[
    ("Api-Version", API_VERSION),
    ("Docker-Experimental", "false"),
    ("Ostype", "linux"),
    ("Server", SERVER),
];
/// Headers of daemon answers with a JSON body.
pub(crate) const H_DAEMON_JSON: &[(&str, &str)] = &[
    ("Api-Version", API_VERSION),
    ("Content-Type", "application/json"),
    ("Docker-Experimental", "false"),
    ("Ostype", "linux"),
    ("Server", SERVER),
];
/// The version middleware's 400 is written before `Docker-Experimental` is added.
const H_VERSION_ERROR: &[(&str, &str)] = &[
    ("Api-Version", API_VERSION),
    ("Content-Type", "application/json"),
    ("Ostype", "linux"),
    ("Server", SERVER),
];
/// The mux's not-found handler sets only this.
const H_NOT_FOUND: &[(&str, &str)] = &[("Content-Type", "application/json")];
const H_PING: &[(&str, &str)] = &[
    ("Api-Version", API_VERSION),
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Docker-Experimental", "false"),
    ("Ostype", "linux"),
    ("Pragma", "no-cache"),
    ("Server", SERVER),
];
/// For HEAD the ping handler sets the length and type itself, so they sort in with the rest.
const H_PING_HEAD: &[(&str, &str)] = &[
    ("Api-Version", API_VERSION),
    ("Cache-Control", "no-cache, no-store, must-revalidate"),
    ("Content-Length", "0"),
    ("Content-Type", "text/plain; charset=utf-8"),
    ("Docker-Experimental", "false"),
    ("Ostype", "linux"),
    ("Pragma", "no-cache"),
    ("Server", SERVER),
];

/// A complete answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: &'static [(&'static str, &'static str)],
    /// The `Content-Type` Go's server sniffs when the handler set none.
    pub(crate) sniffed_type: Option<&'static str>,
    pub(crate) body: Vec<u8>,
    /// The handler declared the length in `headers` (HEAD /_ping): no framing to add.
    pub(crate) preset_length: bool,
}

/// How a stats request wants its frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StatsMode {
    /// `stream=1` (the default): a frame every interval, forever.
    Stream,
    /// `stream=0`: one frame, one interval later, with precpu from the request time.
    Once,
    /// `stream=0&one-shot=1`: one frame now, precpu zeroed.
    OneShot,
}

/// A control route of the sim itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    /// `GET /_sim/counters`: the [`SimCounters`](super::SimCounters) as JSON.
    Counters,
    /// `GET /_sim/frames`: frames sent per container name, as JSON.
    Frames,
    /// `GET /_sim/pause`: stop writing stats frames.
    Pause,
    /// `GET /_sim/resume`: write them again.
    Resume,
    /// `GET /_sim/restart` or `/_sim/restart?down_ms=N`: the daemon restarts in place
    /// ([`Sim::restart`](super::Sim::restart)), down for N ms (default 1000).
    Restart { down_ms: u64 },
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Reply(Reply),
    Stats { idx: usize, mode: StatsMode },
    Events(Box<Filter>),
    Control(Control),
}

/// Decoded query parameters.
struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Query<'a> {
    fn parse(q: &'a str) -> Query<'a> {
        Query(
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k, true), percent_decode(v, true))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_ref())
    }

    /// moby's `httputils.BoolValue`: anything but "", 0, no, false, none is true.
    fn bool(&self, key: &str) -> bool {
        self.get(key).is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
        })
    }

    /// moby's `httputils.BoolValueOrDefault`.
    fn bool_or(&self, key: &str, default: bool) -> bool {
        if self.get(key).is_some() {
            self.bool(key)
        } else {
            default
        }
    }
}

/// Compares dotted versions numerically, missing parts counting as 0 (moby's `versions`).
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (p, q) => {
                let p: u64 = p.and_then(|s| s.parse().ok()).unwrap_or(0);
                let q: u64 = q.and_then(|s| s.parse().ok()).unwrap_or(0);
                if p != q {
                    return p.cmp(&q);
                }
            }
        }
    }
}

/// Splits `/v1.41/rest` into `(Some("1.41"), "/rest")`.
fn split_version(path: &str) -> (Option<&str>, &str) {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        let version = &rest[..end];
        if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return (Some(version), &rest[end..]);
        }
    }
    (None, path)
}

fn json_message(status: u16, headers: &'static [(&'static str, &'static str)], msg: &str) -> Reply {
    let mut body = Vec::with_capacity(msg.len() + 16);
    body.extend_from_slice(b"{\"message\":");
    push_str(&mut body, msg);
    body.extend_from_slice(b"}\n");
    Reply {
        status,
        headers,
        sniffed_type: None,
        body,
        preset_length: false,
    }
}

/// The daemon's answer to an unknown route.
pub(crate) fn page_not_found() -> Reply {
    json_message(404, H_NOT_FOUND, "page not found")
}

fn json_ok(body: Vec<u8>) -> Reply {
    Reply {
        status: 200,
        headers: H_DAEMON_JSON,
        sniffed_type: None,
        body,
        preset_length: false,
    }
}

/// A daemon error answer: `status` with `{"message":…}`, as the stats handler's errors are
/// written (the daemon's headers, a JSON body).
pub(crate) fn error_reply(status: u16, message: &str) -> Reply {
    json_message(status, H_DAEMON_JSON, message)
}

/// A JSON body for `stream=false` stats (`body` is one frame plus `\n`).
pub(crate) fn stats_reply(body: Vec<u8>) -> Reply {
    json_ok(body)
}

/// A JSON body for the control routes.
pub(crate) fn control_reply(body: Vec<u8>) -> Reply {
    json_ok(body)
}

/// Routes one request. `now` is used for `Status` ("Up 5 minutes").
pub(crate) fn route(method: &str, target: &str, model: &Model, now: UnixNanos) -> Action {
    // Exact targets only, before any decoding, so that nothing Docker could send reaches them
    // by accident.
    match (method, target) {
        ("GET", "/_sim/counters") => return Action::Control(Control::Counters),
        ("GET", "/_sim/frames") => return Action::Control(Control::Frames),
        ("GET", "/_sim/pause") => return Action::Control(Control::Pause),
        ("GET", "/_sim/resume") => return Action::Control(Control::Resume),
        ("GET", "/_sim/restart") => {
            return Action::Control(Control::Restart { down_ms: 1000 });
        }
        ("GET", t) => {
            // The one control route with a query: exactly `down_ms=` and decimal digits.
            let ms = t.strip_prefix("/_sim/restart?down_ms=");
            if let Some(down_ms) = ms
                .filter(|ms| !ms.is_empty() && ms.len() <= 9)
                .filter(|ms| ms.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|ms| ms.parse().ok())
            {
                return Action::Control(Control::Restart { down_ms });
            }
        }
        _ => {}
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (version, path) = split_version(path);
    let segments: Vec<Cow<'_, str>> = path
        .strip_prefix('/')
        .unwrap_or(path)
        .split('/')
        .map(|s| percent_decode(s, false))
        .collect();
    let segs: Vec<&str> = segments.iter().map(AsRef::as_ref).collect();
    let get = method == "GET";
    enum Route<'s> {
        Ping { head: bool },
        Version,
        Info,
        Containers,
        Inspect(&'s str),
        Stats(&'s str),
        Images,
        Events,
    }
    let route = match (method, segs.as_slice()) {
        ("GET" | "HEAD", ["_ping"]) => Route::Ping { head: !get },
        ("GET", ["version"]) => Route::Version,
        ("GET", ["info"]) => Route::Info,
        ("GET", ["containers", "json"]) => Route::Containers,
        ("GET", ["containers", name, "stats"]) if !name.is_empty() => Route::Stats(name),
        ("GET", ["containers", name, "json"]) if !name.is_empty() => Route::Inspect(name),
        ("GET", ["images", "json"]) => Route::Images,
        ("GET", ["events"]) => Route::Events,
        _ => return Action::Reply(page_not_found()),
    };
    if let Some(v) = version {
        if compare_versions(v, API_VERSION).is_gt() {
            let msg = format!(
                "client version {v} is too new. Maximum supported API version is {API_VERSION}"
            );
            return Action::Reply(json_message(400, H_VERSION_ERROR, &msg));
        }
        if compare_versions(v, MIN_API_VERSION).is_lt() {
            let msg = format!(
                "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
            );
            return Action::Reply(json_message(400, H_VERSION_ERROR, &msg));
        }
    }
    let query = Query::parse(query);
    match route {
        Route::Ping { head: false } => Action::Reply(Reply {
            status: 200,
            headers: H_PING,
            sniffed_type: Some("text/plain; charset=utf-8"),
            body: b"OK".to_vec(),
            preset_length: false,
        }),
        Route::Ping { head: true } => Action::Reply(Reply {
            status: 200,
            headers: H_PING_HEAD,
            sniffed_type: None,
            body: Vec::new(),
            preset_length: true,
        }),
        Route::Version if model.flavor == Flavor::Podman => {
            Action::Reply(json_ok(podman_version_json()))
        }
        Route::Version => Action::Reply(json_ok(version_json())),
        Route::Info => Action::Reply(json_ok(info_json(model, now))),
        Route::Containers => {
            let selected = container_query(&query).and_then(|q| Ok((q.select(model)?, q.size)));
            match selected {
                Ok((listed, size)) => Action::Reply(json_ok(render_containers(
                    model,
                    now,
                    listed.into_iter(),
                    size,
                ))),
                Err((status, msg)) => Action::Reply(json_message(status, H_DAEMON_JSON, &msg)),
            }
        }
        Route::Images => {
            let rows = Args::parse(query.get("filters").unwrap_or_default(), &IMAGE_KEYS)
                .and_then(|filters| listing::select_images(model, &filters));
            match rows {
                Ok(rows) => Action::Reply(json_ok(render_images(&rows))),
                Err((status, msg)) => Action::Reply(json_message(status, H_DAEMON_JSON, &msg)),
            }
        }
        Route::Events => match Filter::parse(query.get("filters").unwrap_or_default()) {
            Ok(filter) => Action::Events(Box::new(filter)),
            Err(msg) => Action::Reply(json_message(400, H_DAEMON_JSON, &msg)),
        },
        Route::Inspect(name) => match model.lookup(name) {
            Lookup::Found(idx) => Action::Reply(json_ok(render_inspect(model, idx))),
            Lookup::NotFound => Action::Reply(json_message(
                404,
                H_DAEMON_JSON,
                &format!("No such container: {name}"),
            )),
            Lookup::Ambiguous => Action::Reply(json_message(
                500,
                H_DAEMON_JSON,
                &format!("multiple IDs found with provided prefix: {name}"),
            )),
        },
        Route::Stats(name) => match model.lookup(name) {
            Lookup::Found(idx) => {
                let mode = if query.bool_or("stream", true) {
                    StatsMode::Stream
                } else if query.bool("one-shot") {
                    StatsMode::OneShot
                } else {
                    StatsMode::Once
                };
                Action::Stats { idx, mode }
            }
            Lookup::NotFound => Action::Reply(json_message(
                404,
                H_DAEMON_JSON,
                &format!("No such container: {name}"),
            )),
            Lookup::Ambiguous => Action::Reply(json_message(
                500,
                H_DAEMON_JSON,
                &format!("multiple IDs found with provided prefix: {name}"),
            )),
        },
    }
}

/// Go's `runtime.GOARCH` for the machine the sim runs on.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `GET /version`, shaped like `docker20-version.http`.
pub(crate) fn version_json() -> Vec<u8> {
    const BUILD_TIME: &str = "2026-05-07T21:09:36.000000000+00:00";
    const GIT_COMMIT: &str = "5d6db84";
    const GO_VERSION: &str = "go1.19.8";
    const KERNEL: &str = "6.1.0-dockstat-sim";
    let arch = go_arch();
    format!(
        concat!(
            r#"{{"Platform":{{"Name":"dockstat-sim"}},"Components":[{{"Name":"Engine","Version":"{v}","#,
            r#""Details":{{"ApiVersion":"{api}","Arch":"{arch}","BuildTime":"{bt}","Experimental":"false","#,
            r#""GitCommit":"{gc}","GoVersion":"{go}","KernelVersion":"{k}","MinAPIVersion":"{min}","Os":"linux"}}}},"#,
            r#"{{"Name":"containerd","Version":"1.6.20~ds1","Details":{{"GitCommit":"1.6.20~ds1-1+deb12u3"}}}},"#,
            r#"{{"Name":"runc","Version":"1.1.5+ds1","Details":{{"GitCommit":"1.1.5+ds1-1+deb12u1"}}}},"#,
            r#"{{"Name":"docker-init","Version":"0.19.0","Details":{{"GitCommit":""}}}}],"#,
            r#""Version":"{v}","ApiVersion":"{api}","MinAPIVersion":"{min}","GitCommit":"{gc}","#,
            r#""GoVersion":"{go}","Os":"linux","Arch":"{arch}","KernelVersion":"{k}","BuildTime":"{bt}"}}"#,
            "\n"
        ),
        v = ENGINE_VERSION,
        api = API_VERSION,
        min = MIN_API_VERSION,
        arch = arch,
        bt = BUILD_TIME,
        gc = GIT_COMMIT,
        go = GO_VERSION,
        k = KERNEL,
    )
    .into_bytes()
}

/// `GET /info`, shaped like Docker 20.10's answer (or, for [`Flavor::Podman`], like Podman 4's
/// compat handler's, `pkg/api/handlers/compat/info.go`: Docker's fields, then Podman's own),
/// with the simulated host's CPUs and memory and the containers' counts as of `now`.
pub(crate) fn info_json(model: &Model, now: UnixNanos) -> Vec<u8> {
    let podman = model.flavor == Flavor::Podman;
    let (mut all, mut running, mut paused) = (0u64, 0u64, 0u64);
    for c in &model.containers {
        match c.state {
            State::Removed => continue,
            State::Running => running += 1,
            State::Paused => paused += 1,
            State::Created | State::Exited { .. } => {}
        }
        all += 1;
    }
    let mut out = Vec::with_capacity(4096);
    let field = |out: &mut Vec<u8>, key: &str, raw: &str| {
        out.push(if out.is_empty() { b'{' } else { b',' });
        push_key(out, key);
        out.extend_from_slice(raw.as_bytes());
    };
    let string = |s: &str| {
        let mut v = Vec::new();
        push_str(&mut v, s);
        String::from_utf8(v).unwrap_or_default()
    };
    let id = if podman {
        "podman".to_string()
    } else {
        "SIMD:OCKS:TATS:IMUL:ATED:DAEM:ONXX:XXXX:XXXX:XXXX:XXXX:XXXX".to_string()
    };
    field(&mut out, "ID", &string(&id));
    field(&mut out, "Containers", &all.to_string());
    field(&mut out, "ContainersRunning", &running.to_string());
    field(&mut out, "ContainersPaused", &paused.to_string());
    field(
        &mut out,
        "ContainersStopped",
        &(all - running - paused).to_string(),
    );
    field(&mut out, "Images", &model.images.len().to_string());
    if podman {
        field(&mut out, "Driver", r#""overlay""#);
        field(
            &mut out,
            "DriverStatus",
            r#"[["Backing Filesystem","extfs"],["Native Overlay Diff","true"],["Supports d_type","true"],["Supports shifting","false"],["Supports volatile","true"],["Using metacopy","false"]]"#,
        );
        field(
            &mut out,
            "Plugins",
            r#"{"Volume":["local"],"Network":["bridge","macvlan","ipvlan"],"Authorization":null,"Log":["k8s-file","none","passthrough","journald"]}"#,
        );
    } else {
        field(&mut out, "Driver", r#""overlay2""#);
        field(
            &mut out,
            "DriverStatus",
            r#"[["Backing Filesystem","extfs"],["Supports d_type","true"],["Native Overlay Diff","true"],["userxattr","false"]]"#,
        );
        field(
            &mut out,
            "Plugins",
            r#"{"Volume":["local"],"Network":["bridge","host","ipvlan","macvlan","null","overlay"],"Authorization":null,"Log":["awslogs","fluentd","gcplogs","gelf","journald","json-file","local","logentries","splunk","syslog"]}"#,
        );
    }
    let v1 = model.cgroup == crate::Cgroup::V1;
    for (key, value) in [
        ("MemoryLimit", true),
        ("SwapLimit", true),
        ("KernelMemory", v1),
        ("KernelMemoryTCP", v1),
        ("CpuCfsPeriod", true),
        ("CpuCfsQuota", true),
        ("CPUShares", true),
        ("CPUSet", true),
        ("PidsLimit", true),
        ("IPv4Forwarding", true),
        ("BridgeNfIptables", true),
        ("BridgeNfIp6tables", true),
        ("Debug", false),
    ] {
        field(&mut out, key, if value { "true" } else { "false" });
    }
    field(&mut out, "NFd", "45");
    field(&mut out, "OomKillDisable", "true");
    field(&mut out, "NGoroutines", "56");
    let mut time = vec![b'"'];
    crate::time::push_rfc3339_nano(&mut time, now);
    time.push(b'"');
    field(&mut out, "SystemTime", &String::from_utf8_lossy(&time));
    let (logging, driver) = match (podman, v1) {
        (true, _) => ("", "systemd"),
        (false, true) => ("json-file", "cgroupfs"),
        (false, false) => ("json-file", "systemd"),
    };
    field(&mut out, "LoggingDriver", &string(logging));
    field(&mut out, "CgroupDriver", &string(driver));
    if !podman {
        field(
            &mut out,
            "CgroupVersion",
            if v1 { r#""1""# } else { r#""2""# },
        );
    }
    field(&mut out, "NEventsListener", "0");
    field(&mut out, "KernelVersion", r#""6.1.0-dockstat-sim""#);
    let (os, arch) = if podman {
        (r#""debian""#, go_arch())
    } else {
        (
            r#""Debian GNU/Linux 12 (bookworm)""#,
            std::env::consts::ARCH,
        )
    };
    field(&mut out, "OperatingSystem", os);
    field(&mut out, "OSVersion", r#""12""#);
    field(&mut out, "OSType", r#""linux""#);
    field(&mut out, "Architecture", &string(arch));
    let index = if podman {
        ""
    } else {
        "https://index.docker.io/v1/"
    };
    field(&mut out, "IndexServerAddress", &string(index));
    field(
        &mut out,
        "RegistryConfig",
        r#"{"AllowNondistributableArtifactsCIDRs":[],"AllowNondistributableArtifactsHostnames":[],"InsecureRegistryCIDRs":["127.0.0.0/8"],"IndexConfigs":{"docker.io":{"Name":"docker.io","Mirrors":[],"Secure":true,"Official":true}},"Mirrors":[]}"#,
    );
    field(&mut out, "NCPU", &model.host.ncpu.to_string());
    field(&mut out, "MemTotal", &model.host.mem_total.to_string());
    field(&mut out, "GenericResources", "null");
    let root = if podman {
        "/var/lib/containers/storage"
    } else {
        "/var/lib/docker"
    };
    field(&mut out, "DockerRootDir", &string(root));
    for key in ["HttpProxy", "HttpsProxy", "NoProxy"] {
        field(&mut out, key, r#""""#);
    }
    field(&mut out, "Name", r#""dockstat-sim""#);
    field(&mut out, "Labels", if podman { "null" } else { "[]" });
    field(
        &mut out,
        "ExperimentalBuild",
        if podman { "true" } else { "false" },
    );
    if podman {
        field(&mut out, "ServerVersion", &string(PODMAN_VERSION));
        field(&mut out, "Runtimes", r#"{"crun":{"path":"/usr/bin/crun"}}"#);
        field(&mut out, "DefaultRuntime", r#""crun""#);
    } else {
        field(&mut out, "ServerVersion", &string(ENGINE_VERSION));
        field(
            &mut out,
            "Runtimes",
            r#"{"io.containerd.runc.v2":{"path":"runc"},"io.containerd.runtime.v1.linux":{"path":"runc"},"runc":{"path":"runc"}}"#,
        );
        field(&mut out, "DefaultRuntime", r#""runc""#);
    }
    field(
        &mut out,
        "Swarm",
        r#"{"NodeID":"","NodeAddr":"","LocalNodeState":"inactive","ControlAvailable":false,"Error":"","RemoteManagers":null}"#,
    );
    field(&mut out, "LiveRestoreEnabled", "false");
    field(&mut out, "Isolation", r#""""#);
    if podman {
        field(&mut out, "InitBinary", r#""""#);
        for key in ["ContainerdCommit", "RuncCommit", "InitCommit"] {
            field(&mut out, key, r#"{"ID":"","Expected":""}"#);
        }
        field(
            &mut out,
            "SecurityOptions",
            r#"["name=seccomp,profile=default"]"#,
        );
        field(&mut out, "ProductLicense", r#""Apache-2.0""#);
        field(&mut out, "Warnings", "[]");
        field(&mut out, "BuildahVersion", r#""1.33.7""#);
        field(&mut out, "CPURealtimePeriod", "false");
        field(&mut out, "CPURealtimeRuntime", "false");
        field(&mut out, "CgroupVersion", r#""v2""#);
        field(&mut out, "Rootless", "false");
        field(&mut out, "SwapFree", "0");
        field(&mut out, "SwapTotal", "0");
        let up = now.saturating_sub(model.host.boot) / SECOND;
        let uptime = format!("{}h {}m {}.00s", up / 3600, up / 60 % 60, up % 60);
        field(&mut out, "Uptime", &string(&uptime));
    } else {
        field(&mut out, "InitBinary", r#""docker-init""#);
        field(
            &mut out,
            "ContainerdCommit",
            r#"{"ID":"1.6.20~ds1-1+deb12u3","Expected":"1.6.20~ds1-1+deb12u3"}"#,
        );
        field(
            &mut out,
            "RuncCommit",
            r#"{"ID":"1.1.5+ds1-1+deb12u1","Expected":"1.1.5+ds1-1+deb12u1"}"#,
        );
        field(&mut out, "InitCommit", r#"{"ID":"","Expected":""}"#);
        field(
            &mut out,
            "SecurityOptions",
            r#"["name=seccomp,profile=default"]"#,
        );
        field(&mut out, "Warnings", "null");
    }
    out.extend_from_slice(b"}\n");
    out
}

/// The Podman version the [`Flavor::Podman`] sim passes for.
pub(crate) const PODMAN_VERSION: &str = "4.9.3";

/// The `Server` header of Podman's API (`Libpod/VERSION (OS)`).
pub(crate) const PODMAN_SERVER: &str = "Libpod/4.9.3 (linux)";

/// `GET /version` as Podman's compat handler answers it (`pkg/api/handlers/compat/version.go`):
/// the components `Podman Engine`, `Conmon` and `OCI Runtime (crun)`, the compat API version.
pub(crate) fn podman_version_json() -> Vec<u8> {
    const BUILD_TIME: &str = "2026-05-07T21:09:36Z";
    const GO_VERSION: &str = "go1.21.6";
    const KERNEL: &str = "6.1.0-dockstat-sim";
    let arch = go_arch();
    format!(
        concat!(
            r#"{{"Platform":{{"Name":"linux/{arch}/dockstat-sim-12"}},"Components":[{{"Name":"Podman Engine","#,
            r#""Version":"{v}","Details":{{"APIVersion":"{v}","Arch":"{arch}","BuildTime":"{bt}","#,
            r#""Experimental":"false","GitCommit":"","GoVersion":"{go}","KernelVersion":"{k}","#,
            r#""MinAPIVersion":"4.0.0","Os":"linux"}}}},{{"Name":"Conmon","Version":"conmon version 2.1.10, commit: unknown","#,
            r#""Details":{{"Package":"conmon_2.1.10+ds1-1_amd64"}}}},{{"Name":"OCI Runtime (crun)","#,
            r#""Version":"crun version 1.14.1","Details":{{"Package":"crun_1.14.1-1_amd64"}}}}],"#,
            r#""Version":"{v}","ApiVersion":"{api}","MinAPIVersion":"{min}","GitCommit":"","#,
            r#""GoVersion":"{go}","Os":"linux","Arch":"{arch}","KernelVersion":"{k}","BuildTime":"{bt}"}}"#,
            "\n"
        ),
        v = PODMAN_VERSION,
        api = API_VERSION,
        min = MIN_API_VERSION,
        arch = arch,
        bt = BUILD_TIME,
        go = GO_VERSION,
        k = KERNEL,
    )
    .into_bytes()
}

/// `all`, `limit` (the daemon's `strconv.Atoi` refusal when it is not a number), `size` and
/// `filters` of `GET /containers/json`.
fn container_query(query: &Query<'_>) -> Result<ContainerQuery, listing::Refusal> {
    let limit = match query.get("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| (400, format!("strconv.Atoi: parsing {l:?}: invalid syntax")))?,
    };
    Ok(ContainerQuery {
        all: query.bool("all"),
        limit: usize::try_from(limit).unwrap_or(0),
        size: query.bool("size"),
        filters: Args::parse(query.get("filters").unwrap_or_default(), &PS_KEYS)?,
    })
}

/// `GET /containers/json` without filters (`limit` implies `all`, as `docker ps -n` relies on).
#[cfg(test)]
pub(crate) fn containers_json(
    model: &Model,
    now: UnixNanos,
    all: bool,
    limit: Option<usize>,
) -> Vec<u8> {
    let query = ContainerQuery {
        all,
        limit: limit.unwrap_or(0),
        ..ContainerQuery::default()
    };
    let listed = query.select(model).unwrap_or_default();
    render_containers(model, now, listed.into_iter(), false)
}

/// The containers at `listed`, shaped like `docker20-containers-json*.http`; with `size`, the
/// `SizeRw` (left out when 0, as the daemon's `omitempty`) and `SizeRootFs` of `size=1`.
fn render_containers(
    model: &Model,
    now: UnixNanos,
    listed: impl ExactSizeIterator<Item = usize>,
    size: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + listed.len() * 900);
    out.push(b'[');
    let image_size = model.images.first().map_or(0, |i| i.size);
    let listed = listed.filter_map(|i| model.containers.get(i));
    for (n, c) in listed.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"Id\":");
        push_str(&mut out, &c.id);
        out.extend_from_slice(b",\"Names\":[");
        push_str(&mut out, &format!("/{}", c.name));
        out.extend_from_slice(b"],\"Image\":");
        push_str(&mut out, super::model::IMAGE_NAME);
        out.extend_from_slice(b",\"ImageID\":");
        push_str(&mut out, model.container_image_id());
        out.extend_from_slice(b",\"Command\":");
        push_str(&mut out, c.command);
        out.extend_from_slice(b",\"Created\":");
        push_u64(&mut out, c.created / SECOND);
        out.extend_from_slice(b",\"Ports\":[]");
        if size {
            // What the writer leaves in its container layer; the others write nothing.
            let rw = if c.workload == super::model::Workload::Writer {
                16 << 20
            } else {
                0
            };
            if rw > 0 {
                out.extend_from_slice(b",\"SizeRw\":");
                push_u64(&mut out, rw);
            }
            out.extend_from_slice(b",\"SizeRootFs\":");
            push_u64(&mut out, image_size + rw);
        }
        out.extend_from_slice(b",\"Labels\":{\"sim\":\"1\",\"sim.workload\":");
        push_str(&mut out, c.label);
        out.extend_from_slice(b"},\"State\":");
        let up = || since(now, c.started);
        let (state, status) = match c.state {
            State::Created => ("created", "Created".to_owned()),
            State::Running => ("running", format!("Up {}", up())),
            State::Paused => ("paused", format!("Up {} (Paused)", up())),
            State::Exited { code, finished } => (
                "exited",
                format!("Exited ({code}) {} ago", since(now, finished)),
            ),
            // Not in the listing; written for completeness.
            State::Removed => ("removing", "Removal In Progress".to_owned()),
        };
        push_str(&mut out, state);
        out.extend_from_slice(b",\"Status\":");
        push_str(&mut out, &status);
        let bridge = c.bridge_index;
        // Only a running container has an endpoint and addresses on its network.
        let attached = bridge.filter(|_| c.running());
        out.extend_from_slice(b",\"HostConfig\":{\"NetworkMode\":");
        out.extend_from_slice(if bridge.is_some() {
            b"\"default\""
        } else {
            b"\"none\""
        });
        out.extend_from_slice(b"},\"NetworkSettings\":{\"Networks\":{");
        push_key(&mut out, if bridge.is_some() { "bridge" } else { "none" });
        out.extend_from_slice(
            b"{\"IPAMConfig\":null,\"Links\":null,\"Aliases\":null,\"NetworkID\":",
        );
        push_str(
            &mut out,
            if bridge.is_some() {
                &model.bridge_net_id
            } else {
                &model.none_net_id
            },
        );
        out.extend_from_slice(b",\"EndpointID\":");
        push_str(&mut out, if c.running() { &c.endpoint_id } else { "" });
        match attached {
            Some(k) => {
                // 172.17.0.1 is the gateway; containers count up from .2.
                let host = k + 1;
                let (hi, lo) = ((host >> 8) & 0xff, host & 0xff);
                out.extend_from_slice(b",\"Gateway\":\"172.17.0.1\",\"IPAddress\":");
                push_str(&mut out, &format!("172.17.{hi}.{lo}"));
                out.extend_from_slice(b",\"IPPrefixLen\":16,\"IPv6Gateway\":\"\",\"GlobalIPv6Address\":\"\",\"GlobalIPv6PrefixLen\":0,\"MacAddress\":");
                push_str(&mut out, &format!("02:42:ac:11:{hi:02x}:{lo:02x}"));
            }
            None => out.extend_from_slice(b",\"Gateway\":\"\",\"IPAddress\":\"\",\"IPPrefixLen\":0,\"IPv6Gateway\":\"\",\"GlobalIPv6Address\":\"\",\"GlobalIPv6PrefixLen\":0,\"MacAddress\":\"\""),
        }
        out.extend_from_slice(b",\"DriverOpts\":null}}},\"Mounts\":[]}");
    }
    out.extend_from_slice(b"]\n");
    out
}

/// `GET /containers/{name}/json`: the part of the daemon's inspect document that tools read
/// to resolve a name (`Id`, `Name`, `Created`, `State`, `Image`, `Config.Image`, labels), and
/// what a cgroupfs reader needs: `State.Pid` ([`SimConfig::pid_base`](crate::SimConfig::pid_base)
/// plus the container's index while it runs, else 0) and `HostConfig`'s CPU limit.
fn render_inspect(model: &Model, idx: usize) -> Vec<u8> {
    let Some(c) = model.containers.get(idx) else {
        return b"{}\n".to_vec();
    };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"Id\":");
    push_str(&mut out, &c.id);
    out.extend_from_slice(b",\"Created\":\"");
    crate::time::push_rfc3339_nano(&mut out, c.created);
    out.extend_from_slice(b"\",\"Name\":");
    push_str(&mut out, &format!("/{}", c.name));
    let (status, exit_code) = match c.state {
        State::Created => ("created", 0),
        State::Running => ("running", 0),
        State::Paused => ("paused", 0),
        State::Exited { code, .. } => ("exited", code),
        State::Removed => ("removing", 0),
    };
    out.extend_from_slice(b",\"State\":{\"Status\":");
    push_str(&mut out, status);
    let up = matches!(c.state, State::Running | State::Paused);
    let pid = if up {
        u64::from(model.pid_base) + idx as u64
    } else {
        0
    };
    out.extend_from_slice(format!(
        ",\"Running\":{},\"Paused\":{},\"Restarting\":false,\"OOMKilled\":false,\"Dead\":false,\"Pid\":{pid},\"ExitCode\":{exit_code}}}",
        c.running(),
        matches!(c.state, State::Paused),
    ).as_bytes());
    let limit = crate::limits::container_limit(model.cpu_limit, c.workload).unwrap_or_default();
    let (nano_cpus, quota, period) = (limit.nano_cpus, limit.cpu_quota, limit.cpu_period);
    out.extend_from_slice(
        format!(",\"HostConfig\":{{\"NanoCpus\":{nano_cpus},\"CpuQuota\":{quota},\"CpuPeriod\":{period}}}")
            .as_bytes(),
    );
    out.extend_from_slice(b",\"Image\":");
    push_str(&mut out, model.container_image_id());
    out.extend_from_slice(b",\"Config\":{\"Image\":");
    push_str(&mut out, super::model::IMAGE_NAME);
    out.extend_from_slice(b",\"Labels\":{\"sim\":\"1\",\"sim.workload\":");
    push_str(&mut out, c.label);
    out.extend_from_slice(b"}}}\n");
    out
}

/// `GET /images/json` without filters.
#[cfg(test)]
pub(crate) fn images_json(model: &Model) -> Vec<u8> {
    let rows = listing::select_images(model, &Args::default()).unwrap_or_default();
    render_images(&rows)
}

/// Images shaped like the 2022 article's output, with the references the filters left.
fn render_images(rows: &[ImageRow<'_>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 * rows.len());
    out.push(b'[');
    for (n, row) in rows.iter().enumerate() {
        let img = row.image;
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"Containers\":-1,\"Created\":");
        push_u64(&mut out, img.created_secs);
        out.extend_from_slice(b",\"Id\":");
        push_str(&mut out, &img.id);
        out.extend_from_slice(b",\"Labels\":null,\"ParentId\":\"\",\"RepoDigests\":");
        push_list(&mut out, &row.digests);
        out.extend_from_slice(b",\"RepoTags\":");
        push_list(&mut out, &row.tags);
        out.extend_from_slice(b",\"SharedSize\":-1,\"Size\":");
        push_u64(&mut out, img.size);
        out.extend_from_slice(b",\"VirtualSize\":");
        push_i64(&mut out, i64::try_from(img.size).unwrap_or(i64::MAX));
        out.push(b'}');
    }
    out.extend_from_slice(b"]\n");
    out
}

/// A list of strings, `null` when empty (a nil Go slice).
fn push_list(out: &mut Vec<u8>, items: &[&str]) {
    if items.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, item);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
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
        let (_, alpine) = body(
            "/images/json?filters=%7B%22reference%22%3A%7B%22sim%2Falpine%3A3.20%22%3Atrue%7D%7D",
        );
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
        let all =
            String::from_utf8(containers_json(&m, now + SECOND, true, None)).unwrap_or_default();
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
        assert!(running.contains(
            "\"NetworkMode\":\"default\"},\"NetworkSettings\":{\"Networks\":{\"bridge\":"
        ));
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
}
