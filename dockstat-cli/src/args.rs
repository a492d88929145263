//! Command-line parsing. Global options (`-H`, `--sim …`) may come anywhere; a subcommand's
//! options come after its name, as with docker and git.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lexopt::prelude::*;

use dockstat::engine::{EngineConfig, SourcePolicy};
use dockstat_sim::{Cgroup, Churn, Flavor, Listen, SimConfig};

use crate::get::GetOpts;
use crate::hosts::HostOpts;
use crate::list::ListOpts;
use crate::push::PushOpts;
use crate::serve::ServeOpts;
use crate::stats::{SortKey, StatsOpts};

/// Options of the embedded simulated daemon (`--sim N`).
#[derive(Clone, Debug)]
pub(crate) struct SimOpts {
    pub(crate) config: SimConfig,
}

#[derive(Clone, Debug)]
pub(crate) enum Command {
    Get(GetOpts),
    Ps(ListOpts),
    Images(ListOpts),
    Stats(StatsOpts),
    /// A Prometheus / OpenMetrics endpoint.
    Serve(ServeOpts),
    /// Samples sent to a Prometheus remote-write receiver.
    Push(PushOpts),
    /// Run the simulated daemon in the foreground (over TLS with `tls`; then `listen` is TCP).
    Sim {
        listen: Listen,
        tls: Option<SimTlsOpts>,
    },
    /// The help of a command, or the overview (`None`).
    Help(Option<&'static str>),
    /// `--version`: ours only.
    Version,
    /// `dockstat version`: ours, and which daemon answers on the host, as `docker version`.
    DaemonVersion,
}

/// A command line that cannot be run: the message, and the command it names (if any), for
/// the hint at that command's help.
#[derive(Clone, Debug)]
pub(crate) struct UsageError {
    pub(crate) command: Option<String>,
    pub(crate) message: String,
}

impl Command {
    /// The command's name, for the hint under a usage error.
    pub(crate) fn name(&self) -> Option<&'static str> {
        Some(match self {
            Command::Get(_) => "get",
            Command::Ps(_) => "ps",
            Command::Images(_) => "images",
            Command::Stats(_) => "stats",
            Command::Serve(_) => "serve",
            Command::Push(_) => "push",
            Command::Sim { .. } => "sim",
            Command::Help(_) | Command::Version | Command::DaemonVersion => return None,
        })
    }
}

/// `dockstat sim --tls DIR [--tls-verify-client]`.
#[derive(Clone, Debug)]
pub(crate) struct SimTlsOpts {
    /// Where the docker-style certificates are, or are to be generated.
    pub(crate) dir: PathBuf,
    /// Require client certificates signed by the directory's `ca.pem`.
    pub(crate) verify_client: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Cli {
    pub(crate) hosts: HostOpts,
    /// Start the simulated daemon in-process and talk to it.
    pub(crate) sim: Option<SimOpts>,
    pub(crate) command: Command,
}

pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, UsageError> {
    let mut sub = None;
    parse_inner(args, &mut sub).map_err(|e| UsageError {
        command: sub,
        message: e.to_string(),
    })
}

/// The command named `name` as a help topic (`None`: the overview), or `Err` for one that
/// does not exist.
fn help_topic(name: &str) -> Result<Option<&'static str>, ()> {
    match name {
        "help" => Ok(Some("help")),
        "version" => Ok(None),
        _ => crate::help::COMMANDS
            .into_iter()
            .find(|c| *c == name)
            .map(Some)
            .ok_or(()),
    }
}

fn parse_inner(
    args: impl IntoIterator<Item = OsString>,
    sub: &mut Option<String>,
) -> Result<Cli, lexopt::Error> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut hosts = HostOpts::default();
    let mut sim_containers: Option<usize> = None;
    let mut sim = SimConfig::default();
    let mut interval_given = false;
    let mut positionals: Vec<String> = Vec::new();
    let mut get = GetOpts::default();
    let mut list = ListOpts::default();
    let mut stats = StatsOpts::default();
    let mut serve = ServeOpts::default();
    let mut push = PushOpts::default();
    let mut socket: Option<PathBuf> = None;
    let mut listen: Option<SocketAddr> = None;
    let mut tls_dir: Option<PathBuf> = None;
    let mut tls_verify_client = false;

    while let Some(arg) = parser.next()? {
        note_option(&arg);
        match arg {
            Short('H') | Long("host") => hosts.hosts.push(parser.value()?.string()?),
            Long("hosts-file") => hosts.file = Some(parser.value()?.into()),
            // After `sim`, `--tls` is the sim's own `--tls DIR`, not the client's flag.
            Long("tls") if sub.as_deref() == Some("sim") => tls_dir = Some(parser.value()?.into()),
            Long("tls") => hosts.tls.tls = true,
            Long("tlsverify") => {
                hosts.tls.tlsverify = Some(match parser.optional_value() {
                    None => true,
                    Some(v) => match v.string()?.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        other => return Err(bad_value(other, "expected true or false")),
                    },
                })
            }
            Long("tlscacert") => hosts.tls.cacert = Some(parser.value()?.into()),
            Long("tlscert") => hosts.tls.cert = Some(parser.value()?.into()),
            Long("tlskey") => hosts.tls.key = Some(parser.value()?.into()),
            Long("sim") => sim_containers = Some(number(&mut parser)?),
            Long("sim-cgroup") | Long("cgroup") => sim.cgroup = cgroup(&parser.value()?.string()?)?,
            Long("sim-flavor") | Long("flavor") => sim.flavor = flavor(&parser.value()?.string()?)?,
            // After `stats`, `serve` and `push`, `--interval` is the cgroupfs source's.
            Long("interval") if matches!(sub.as_deref(), Some("stats" | "serve" | "push")) => {
                let interval = interval(&mut parser)?;
                stats.source.interval = interval;
                serve.source.interval = interval;
                push.source.interval = interval;
            }
            Long("sim-interval") | Long("interval") => {
                sim.interval = seconds(&mut parser)?;
                interval_given = true;
            }
            Long("sim-stopped") | Long("stopped") => sim.stopped = number(&mut parser)?,
            Long("sim-seed") | Long("seed") => sim.seed = number(&mut parser)?,
            Long("sim-churn") | Long("churn") => {
                sim.churn = Some(Churn {
                    every: seconds(&mut parser)?,
                    remove_after: Some(Duration::from_secs(10)),
                })
            }
            Long("sim-split") | Long("split") => sim.split_chunks = true,
            Long("sim-chaos") | Long("chaos") => sim.chaos = Some(seconds(&mut parser)?),
            // After a command, its own help (`dockstat stats --help`); `help --help` too.
            Short('h') | Long("help") => {
                let topic = match sub.as_deref() {
                    Some(name) => {
                        help_topic(name).map_err(|()| format!("unknown command {name:?}"))?
                    }
                    None => None,
                };
                return Ok(Cli {
                    hosts,
                    sim: None,
                    command: Command::Help(topic),
                });
            }
            Long("version") => {
                return Ok(Cli {
                    hosts,
                    sim: None,
                    command: Command::Version,
                });
            }
            Value(v) if sub.is_none() => *sub = Some(v.string()?),
            Value(v) => positionals.push(v.string()?),
            other => match (sub.as_deref(), other) {
                (Some("get"), Short('i') | Long("include")) => get.include = true,
                (Some("get"), Short('N') | Long("no-buffer")) => get.no_buffer = true,
                (Some("get"), Short('m') | Long("max-time")) => {
                    get.max_time = Some(seconds(&mut parser)?)
                }
                (Some("ps" | "images"), Short('a') | Long("all")) => list.all = true,
                (Some("ps" | "images"), Short('q') | Long("quiet")) => list.quiet = true,
                (Some("ps" | "images"), Long("no-trunc")) => list.no_trunc = true,
                (Some("ps" | "images"), Long("format")) => {
                    list.format = Some(parser.value()?.string()?)
                }
                (Some("ps" | "images"), Short('f') | Long("filter")) => {
                    list.add_filter(&parser.value()?.string()?)?
                }
                (Some("ps"), Short('n') | Long("last")) => {
                    list.last = Some(list_flag(&parser.value()?.string()?, "-n, --last", go_int)?)
                }
                (Some("ps"), Short('l') | Long("latest")) => list.latest = true,
                (Some("ps"), Short('s')) => list.set_size(true),
                (Some("ps"), Long("size")) => {
                    let size = match parser.optional_value() {
                        None => true,
                        Some(v) => list_flag(&v.string()?, "-s, --size", go_bool)?,
                    };
                    list.set_size(size)
                }
                (Some("images"), Long("digests")) => list.digests = true,
                (Some("stats"), Short('a') | Long("all")) => stats.all = true,
                (Some("stats"), Long("no-stream")) => stats.no_stream = true,
                (Some("stats"), Long("one-shot")) => {
                    stats.no_stream = true;
                    stats.one_shot = true;
                }
                (Some("stats"), Long("no-trunc")) => stats.no_trunc = true,
                (Some("stats"), Long("cpu-host")) => stats.cpu_host = true,
                (Some("stats"), Long("cpu-limit")) => stats.cpu_limit = true,
                (Some("stats"), Long("pressure")) => stats.pressure = true,
                (Some("stats"), Long("sort")) => {
                    let key = parser.value()?.string()?;
                    stats.sort = Some(SortKey::parse(&key).ok_or_else(|| {
                        format!("--sort takes cpu, mem, net, block, pids or name, not {key:?}")
                    })?);
                }
                (Some("stats"), Long("limit")) => stats.limit = Some(number(&mut parser)?),
                (Some("stats"), Long("max-streams")) => {
                    stats.max_streams = Some(number(&mut parser)?)
                }
                (Some("stats"), Long("format")) => stats.format = Some(parser.value()?.string()?),
                (Some("serve"), Long("listen")) => serve.listen = number(&mut parser)?,
                (Some("serve"), Long("with-image")) => serve.with_image = true,
                (Some("serve"), Long("label-allowlist")) => {
                    let list = parser.value()?.string()?;
                    serve.label_allowlist.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|k| !k.is_empty())
                            .map(String::from),
                    );
                }
                (Some("serve"), Long("timeout")) => serve.timeout = seconds(&mut parser)?,
                (Some("serve"), Long("read-period")) => serve.read_period = period(&mut parser)?,
                (Some("stats"), Long("read-period")) => stats.read_period = period(&mut parser)?,
                (Some("stats" | "serve" | "push"), Long("source")) => {
                    let policy = source(&parser.value()?.string()?)?;
                    stats.source.policy = policy;
                    serve.source.policy = policy;
                    push.source.policy = policy;
                }
                (Some("stats" | "serve" | "push"), Long("cgroup-root")) => {
                    let dir = directory(&mut parser)?;
                    stats.source.cgroup_root = Some(dir.clone());
                    serve.source.cgroup_root = Some(dir.clone());
                    push.source.cgroup_root = Some(dir);
                }
                (Some("stats" | "serve" | "push"), Long("proc-root")) => {
                    let dir = directory(&mut parser)?;
                    stats.source.proc_root = Some(dir.clone());
                    serve.source.proc_root = Some(dir.clone());
                    push.source.proc_root = Some(dir);
                }
                (Some("push"), Long("remote-write")) => {
                    push.remote_write = Some(parser.value()?.string()?)
                }
                (Some("push"), Long("otlp")) => push.otlp = Some(parser.value()?.string()?),
                (Some("push"), Long("otlp-gzip")) => push.otlp_gzip = true,
                (Some("push"), Long("every")) => push.every = period(&mut parser)?,
                (Some("push"), Long("header")) => push
                    .headers
                    .push(crate::push::header(&parser.value()?.string()?)?),
                (Some("push"), Long("label")) => push
                    .labels
                    .push(crate::push::label(&parser.value()?.string()?)?),
                (Some("push"), Long("timeout")) => push.timeout = seconds(&mut parser)?,
                (Some("push"), Long("buffer")) => {
                    push.buffer = number(&mut parser)?;
                    if push.buffer == 0 {
                        return Err(bad_value("0", "expected at least 1 batch"));
                    }
                }
                (Some("push"), Long("record")) => push.record = Some(parser.value()?.into()),
                (Some("push"), Long("with-image")) => push.with_image = true,
                (Some("push"), Long("label-allowlist")) => {
                    let list = parser.value()?.string()?;
                    push.label_allowlist.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|k| !k.is_empty())
                            .map(String::from),
                    );
                }
                (Some("push"), Long("push-tlscacert")) => {
                    push.cacert = Some(parser.value()?.into())
                }
                (Some("push"), Long("push-tlscert")) => push.cert = Some(parser.value()?.into()),
                (Some("push"), Long("push-tlskey")) => push.key = Some(parser.value()?.into()),
                (Some("sim"), Long("socket")) => socket = Some(parser.value()?.into()),
                (Some("sim"), Long("listen")) => listen = Some(number(&mut parser)?),
                (Some("sim"), Long("tls-verify-client")) => tls_verify_client = true,
                (Some("sim"), Short('n') | Long("containers")) => {
                    sim_containers = Some(number(&mut parser)?)
                }
                (_, other) => return Err(other.unexpected()),
            },
        }
    }

    let command = match sub.as_deref() {
        None => Command::Help(None),
        Some("get") => {
            let [path] = positionals.as_slice() else {
                return Err("get takes exactly one PATH (like /containers/json)".into());
            };
            get.path = path.clone();
            Command::Get(get)
        }
        Some(cmd @ ("ps" | "images")) => {
            // `docker images [REPOSITORY[:TAG]]`: the one argument is a `reference` filter.
            if cmd == "images" && positionals.len() == 1 {
                list.reference = positionals.pop();
            }
            if let Some(extra) = positionals.first() {
                return Err(match cmd {
                    "ps" => format!("ps takes no arguments (got {extra:?})"),
                    _ => format!(
                        "images takes at most one REPOSITORY[:TAG] (got {})",
                        positionals.len()
                    ),
                }
                .into());
            }
            if cmd == "ps" {
                Command::Ps(list)
            } else {
                Command::Images(list)
            }
        }
        Some("stats") => {
            stats.containers = positionals;
            Command::Stats(stats)
        }
        Some("serve") => {
            if let Some(extra) = positionals.first() {
                return Err(format!("serve takes no arguments (got {extra:?})").into());
            }
            Command::Serve(serve)
        }
        Some("push") => {
            if let Some(extra) = positionals.first() {
                return Err(format!("push takes no arguments (got {extra:?})").into());
            }
            if push.remote_write.is_none() && push.otlp.is_none() {
                return Err("push needs --remote-write URL or --otlp URL (like \
                            http://127.0.0.1:4318/v1/metrics)"
                    .into());
            }
            if push.otlp_gzip && push.otlp.is_none() {
                return Err("--otlp-gzip needs --otlp URL".into());
            }
            Command::Push(push)
        }
        Some("sim") => {
            sim_containers.get_or_insert(3);
            let listen = match (socket, listen) {
                (Some(_), Some(_)) => return Err("sim takes --socket or --listen, not both".into()),
                (Some(path), None) => Listen::Unix(path),
                (None, Some(addr)) => Listen::Tcp(addr),
                (None, None) => Listen::Unix(PathBuf::from("/tmp/dockstat-sim.sock")),
            };
            let tls = match tls_dir {
                Some(_) if !matches!(listen, Listen::Tcp(_)) => {
                    return Err("sim --tls needs --listen ADDR (TLS is over TCP)".into());
                }
                Some(dir) => Some(SimTlsOpts {
                    dir,
                    verify_client: tls_verify_client,
                }),
                None if tls_verify_client => {
                    return Err("sim --tls-verify-client needs --tls DIR".into());
                }
                None => None,
            };
            Command::Sim { listen, tls }
        }
        Some("help") => match positionals.as_slice() {
            [] => Command::Help(None),
            [topic] => Command::Help(
                help_topic(topic).map_err(|()| format!("unknown help topic: {topic}"))?,
            ),
            [_, extra, ..] => return Err(format!("help takes one COMMAND (got {extra:?})").into()),
        },
        Some("version") => Command::DaemonVersion,
        Some(other) => return Err(format!("unknown command {other:?}").into()),
    };
    if sim.flavor == Flavor::Podman && !interval_given {
        // Podman's stats endpoint sends a frame every 5 s.
        sim.interval = Duration::from_secs(5);
    }
    let sim = sim_containers.map(|n| {
        sim.containers = n;
        SimOpts { config: sim }
    });
    Ok(Cli {
        hosts,
        sim,
        command,
    })
}

thread_local! {
    /// The option being parsed (`--limit`), for messages about its value.
    static OPTION: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

fn note_option(arg: &lexopt::Arg<'_>) {
    let name = match arg {
        Short(c) => format!("-{c}"),
        Long(name) => format!("--{name}"),
        Value(_) => return,
    };
    OPTION.with(|o| *o.borrow_mut() = name);
}

/// `invalid value "x" for --limit: why`: what was wrong, naming the option.
fn bad_value(value: &str, why: impl std::fmt::Display) -> lexopt::Error {
    let option = OPTION.with(|o| o.borrow().clone());
    format!("invalid value {value:?} for {option}: {why}").into()
}

/// The next value parsed as `T` (a count, a seed, an address).
fn number<T: FromStr>(parser: &mut lexopt::Parser) -> Result<T, lexopt::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let text = parser.value()?.string()?;
    text.parse().map_err(|e: T::Err| {
        let why = e.to_string();
        if why.contains("digit") || why.contains("empty string") {
            bad_value(&text, "expected a whole number, like 10")
        } else {
            bad_value(&text, why)
        }
    })
}

/// A flag value parsed as pflag parses it, with pflag's message when it is not one:
/// `invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing "x": invalid syntax`.
fn list_flag<T>(
    text: &str,
    flag: &str,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, lexopt::Error> {
    parse(text).map_err(|e| format!("invalid argument {text:?} for {flag:?} flag: {e}").into())
}

/// Go's `strconv.ParseInt(s, 0, 64)` for the decimal numbers a count is given as.
fn go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"));
    }
    s.parse()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// Seconds as a decimal number: `5`, `0.25`.
fn seconds(parser: &mut lexopt::Parser) -> Result<Duration, lexopt::Error> {
    let text = parser.value()?.string()?;
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| bad_value(&text, "expected a number of seconds, like 5 or 0.25"))
}

/// A read period: seconds, at most an hour (frames wait in the daemon's socket meanwhile).
fn period(parser: &mut lexopt::Parser) -> Result<Duration, lexopt::Error> {
    let d = seconds(parser)?;
    if d > Duration::from_secs(3600) {
        return Err(bad_value(
            &format!("{}", d.as_secs_f64()),
            "expected at most 3600 seconds",
        ));
    }
    Ok(d)
}

/// Where `stats` and `serve` take each container's numbers from (`--source`, `--interval`,
/// `--cgroup-root`, `--proc-root`).
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceOpts {
    pub(crate) policy: SourcePolicy,
    /// The cgroupfs pass's period (zero: the engine's default, 1 s).
    pub(crate) interval: Duration,
    pub(crate) cgroup_root: Option<PathBuf>,
    pub(crate) proc_root: Option<PathBuf>,
}

impl SourceOpts {
    /// Sets these on the engine's configuration.
    pub(crate) fn apply(&self, config: &mut EngineConfig) {
        config.source = self.policy;
        if !self.interval.is_zero() {
            config.interval = self.interval;
        }
        if let Some(dir) = &self.cgroup_root {
            config.cgroup_root = dir.clone();
        }
        if let Some(dir) = &self.proc_root {
            config.proc_root = dir.clone();
        }
    }
}

fn source(s: &str) -> Result<SourcePolicy, lexopt::Error> {
    match s {
        "api" => Ok(SourcePolicy::Api),
        "cgroupfs" => Ok(SourcePolicy::Cgroupfs),
        "auto" => Ok(SourcePolicy::Auto),
        _ => Err(bad_value(s, "expected api, cgroupfs or auto")),
    }
}

/// The cgroupfs pass's period: more than zero, at most an hour.
fn interval(parser: &mut lexopt::Parser) -> Result<Duration, lexopt::Error> {
    let d = seconds(parser)?;
    if d < Duration::from_millis(10) || d > Duration::from_secs(3600) {
        let text = format!("{}", d.as_secs_f64());
        return Err(bad_value(&text, "expected 0.01 to 3600 seconds"));
    }
    Ok(d)
}

/// A directory that exists (`--cgroup-root`, `--proc-root`).
fn directory(parser: &mut lexopt::Parser) -> Result<PathBuf, lexopt::Error> {
    let dir = PathBuf::from(parser.value()?);
    if !dir.is_dir() {
        return Err(bad_value(&dir.display().to_string(), "not a directory"));
    }
    Ok(dir)
}

fn flavor(s: &str) -> Result<Flavor, lexopt::Error> {
    match s {
        "docker" => Ok(Flavor::Docker),
        "podman" => Ok(Flavor::Podman),
        _ => Err(bad_value(s, "expected docker or podman")),
    }
}

fn cgroup(s: &str) -> Result<Cgroup, lexopt::Error> {
    match s {
        "1" | "v1" => Ok(Cgroup::V1),
        "2" | "v2" => Ok(Cgroup::V2),
        _ => Err(bad_value(s, "expected v1 or v2")),
    }
}
