//! dockstat's load bench: N containers streaming stats at one frame per interval from the
//! simulated daemon in a separate process, received by three clients, each in a fresh
//! process, one after another:
//!
//! - `floor`: a bare mio loop that only reads and counts frames (the least any client does);
//! - `dockstat`: dockstat's `Engine` on one thread, inline callback;
//! - `bollard`: bollard 0.21, one tokio task per container;
//! - `dockstat-period` (not in the default list): the engine with a read period
//!   (`--read-period S`, default 5): each stream read once per period, so one `read` returns
//!   about S frames. Its target is half the floor's CPU per frame. Its latency is, by design,
//!   up to the period.
//! - `floor-period` (not in the default list): the floor with the same read period, reading
//!   on a timer as the engine does (see `floor.rs`): the least a batched reader can cost on
//!   this transport, so `dockstat-period ÷ floor-period` is dockstat's own work in that mode.
//! - `cli`: the `dockstat` binary beside this one (`cargo build --release -p dockstat-cli`)
//!   as a child, `dockstat -H URL stats --format ndjson` to a file, its CPU and RSS read from
//!   `/proc` (see `cli_client.rs`); not in the default phases.
//! - `cli-json`: the same binary with `stats --format json` (docker's lines at each 500 ms
//!   refresh), its frames the sim's count of frames sent (see `cli_client.rs`); not in the
//!   default phases.
//!
//! Each also runs over TLS as `floor-tls`, `dockstat-tls`, `bollard-tls`, `cli-tls` (and
//! `floor-latency-tls`): the same sim, streams and procedure, but on a TLS listener at
//! `tcp://127.0.0.1:PORT` that requires a client certificate (`dockerd --tlsverify`), with
//! throwaway certificates (`dockstat_sim::certs`); each client verifies the server against
//! `ca.pem` and presents `cert.pem`/`key.pem`, all rustls with ring.
//!
//! ```text
//! dockstat-loadbench [run] --containers N --seconds S [--warmup S] [--phases floor,dockstat,bollard,cli]
//!                          [--interval-ms 1000] [--open-over-ms 0] [--split-chunks] [--tls]
//!                          [--read-period 5] [--rounds N] [--strict] [--report DIR]
//! dockstat-loadbench report --from RESULT.json --report DIR
//! dockstat-loadbench sim --socket PATH --containers N --interval-ms MS [--split-chunks]
//!                        [--tls DIR [--listen 127.0.0.1:0]] [--tcp 127.0.0.1:0]
//! dockstat-loadbench phase floor|floor-latency|floor-period|dockstat|dockstat-period|bollard|cli|cli-json
//!                          (--socket PATH | --url tcp://HOST:PORT [--tls DIR]) --containers N
//!                          --warmup S --seconds S [--open-over-ms MS]
//! ```
//!
//! `--rounds N` runs the list of phases N times, round after round, and prints each phase's
//! median and, for each ratio, the median of the rounds' ratios: two phases of one round run
//! close together in time, so the machine's drift over a long run cancels out of each ratio.
//!
//! `floor-latency` is the floor plus a search for each frame's `"read"` timestamp: a reference
//! latency (the plain floor reports latency n/a). `--open-over-ms` spreads the opening of the
//! streams, and with it their frames, evenly over that time (default: all at once, so each
//! interval's frames arrive as one burst). `--strict` exits 1 if any client lost or
//! duplicated a frame or had a stream error (CI runs a small bench with it).
//!
//! `--tls` makes the default phases `floor,dockstat,bollard,floor-tls,dockstat-tls,bollard-tls`
//! and adds the TLS ratios (TLS against unix for dockstat, bollard against dockstat over TLS);
//! naming a `-tls` phase in `--phases` is enough to set up TLS too. `sim --tls DIR` serves the
//! unix socket and, from a second sim with the same containers, the TLS listener (client
//! certificates required), using the certificates in DIR or generating them there if DIR has
//! none; it prints `tls tcp://127.0.0.1:PORT` on stdout once both listen.
//!
//! Each also runs over plain TCP as `NAME-tcp` (`floor-tcp`, `floor-period-tcp`,
//! `dockstat-period-tcp`, …; as `dockerd -H tcp://…:2375`): `sim --tcp ADDR` starts one more
//! sim with the same containers on a plain TCP listener and prints `tcp tcp://127.0.0.1:PORT`
//! (after the `tls` line, if any). Over TCP a socket's queued frames are not one message
//! each as on a unix socket: the kernel joins segments that arrive while nobody reads, which is
//! what batched reads there are measured for.
//!
//! `daemon-cost` is another bench, against a real Docker daemon: what watching N containers
//! costs the daemon (its own CPU time) with `dockstat stats --source api` against `--source
//! cgroupfs`, beside an idle baseline (see `daemon_cost.rs`):
//!
//! ```text
//! dockstat-loadbench daemon-cost [--host unix:///var/run/docker.sock] [--containers 40] [--secs 60]
//!                                [--phases idle,api,cgroupfs] [--strict] [--min-ratio 10] …
//! ```
//!
//! `run` starts `sim` and each `phase` as child processes (see `run.rs`); `phase` prints one
//! JSON line (see `phase.rs`). `--report DIR` also writes `DIR/index.html`, the run drawn as
//! one self-contained page (see `report.rs`), and `DIR/result.json`, from which `report`
//! draws it again.

#![forbid(unsafe_code)]

mod bollard_client;
mod cli_client;
mod control;
mod daemon_cost;
mod dockstat_client;
mod floor;
mod hist;
mod phase;
mod report;
mod run;
mod streams;
mod sys;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use dockstat_sim::certs::{Pki, PkiOptions};
use target::Target;

const USAGE: &str = "\
usage: dockstat-loadbench [run] --containers N --seconds S [--warmup S]
                          [--phases floor,floor-latency,dockstat,bollard,cli[,NAME-tls…]]
                          [--interval-ms 1000] [--open-over-ms 0] [--split-chunks] [--tls]
                          [--read-period 5] [--rounds N] [--strict] [--report DIR]
       dockstat-loadbench report --from RESULT.json --report DIR
       dockstat-loadbench daemon-cost [--host URL] [--containers 40] [--secs 60] [--warmup 5]
                          [--gap 5] [--settle-max 60] [--prefix dscost-] [--image bb:latest]
                          [--phases idle,api,cgroupfs] [--dockstat PATH] [--docker PATH]
                          [--strict] [--min-ratio 10] [--out DIR]
       dockstat-loadbench sim --socket PATH --containers N --interval-ms MS [--split-chunks]
                          [--tls DIR [--listen 127.0.0.1:0]] [--tcp 127.0.0.1:0]
       dockstat-loadbench phase floor|floor-latency|floor-period|dockstat|dockstat-period|bollard|cli|cli-json
                          (--socket PATH | --url tcp://HOST:PORT [--tls DIR])
                          --containers N --warmup S --seconds S [--open-over-ms MS]
                          [--read-period S]";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        Some("sim" | "phase" | "run" | "report" | "daemon-cost") => args.remove(0),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => "run".to_owned(),
    };
    let result = match command.as_str() {
        "sim" => sim(&mut Args(args)),
        "phase" => phase(&mut Args(args)),
        "report" => report(&mut Args(args)),
        "daemon-cost" => daemon_cost(&mut Args(args)),
        _ => run(&mut Args(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dockstat-loadbench {command}: {e}");
            ExitCode::from(2)
        }
    }
}

/// `sim`: the simulated daemon in the foreground, until killed.
fn sim(args: &mut Args) -> Result<ExitCode, String> {
    let socket: PathBuf = args.value("--socket")?.into();
    let containers = args.number("--containers", None)?;
    let interval = Duration::from_millis(args.number("--interval-ms", Some(1000))?);
    let split_chunks = args.flag("--split-chunks");
    let tls_dir: Option<PathBuf> = args.optional("--tls")?.map(PathBuf::from);
    let listen = args.optional("--listen")?;
    let tcp = args.optional("--tcp")?;
    args.done()?;
    if listen.is_some() && tls_dir.is_none() {
        return Err(format!("--listen goes with --tls\n{USAGE}"));
    }
    sys::raise_nofile_limit().map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    let config = dockstat_sim::SimConfig {
        containers: containers as usize,
        interval,
        split_chunks,
        ..dockstat_sim::SimConfig::default()
    };
    if tls_dir.is_none() && tcp.is_none() {
        dockstat_sim::run(dockstat_sim::Listen::Unix(socket), config)
            .map_err(|e| format!("sim: {e}"))?;
        return Ok(ExitCode::SUCCESS);
    }
    // One sim per listener, all with the same seed, so the same containers; each has its own
    // thread and counters (a sim has one listener). The ones not in use are idle.
    let unix = dockstat_sim::Sim::start(dockstat_sim::Listen::Unix(socket), config.clone())
        .map_err(|e| format!("sim: {e}"))?;
    let mut keep = vec![unix];
    if let Some(dir) = tls_dir {
        let addr = listen.as_deref().unwrap_or("127.0.0.1:0");
        let addr = addr.parse().map_err(|e| format!("--listen {addr}: {e}"))?;
        let pki = match Pki::open(&dir).map_err(|e| e.to_string())? {
            Some(pki) => pki,
            None => Pki::generate(&dir, &PkiOptions::default())
                .map_err(|e| format!("certificates in {}: {e}", dir.display()))?,
        };
        let tls = dockstat_sim::Sim::start(
            dockstat_sim::Listen::Tls {
                addr,
                tls: pki.sim_tls(true),
            },
            config.clone(),
        )
        .map_err(|e| format!("sim over TLS: {e}"))?;
        println!("tls {}", tls.url());
        keep.push(tls);
    }
    if let Some(addr) = tcp {
        let addr = addr.parse().map_err(|e| format!("--tcp {addr}: {e}"))?;
        let tcp = dockstat_sim::Sim::start(dockstat_sim::Listen::Tcp(addr), config)
            .map_err(|e| format!("sim over TCP: {e}"))?;
        println!("tcp {}", tcp.url());
        keep.push(tcp);
    }
    // Serve until killed.
    let _keep = keep;
    loop {
        std::thread::park();
    }
}

/// `phase NAME`: one client; one JSON line on stdout.
fn phase(args: &mut Args) -> Result<ExitCode, String> {
    let target = match (
        args.optional("--socket")?,
        args.optional("--url")?,
        args.optional("--tls")?,
    ) {
        (Some(socket), None, None) => Target::Unix(socket.into()),
        (None, Some(url), None) => Target::Tcp(url),
        (None, Some(url), Some(certs)) => Target::Tls {
            url,
            certs: certs.into(),
        },
        _ => return Err(format!("--socket, or --url [--tls DIR]\n{USAGE}")),
    };
    let containers = args.number("--containers", None)? as usize;
    let warmup = Duration::from_secs_f64(args.seconds("--warmup", Some(3.0))?);
    let seconds = Duration::from_secs_f64(args.seconds("--seconds", Some(10.0))?);
    let open_over = Duration::from_millis(args.number("--open-over-ms", Some(0))?);
    let read_period = Duration::from_secs_f64(args.seconds("--read-period", Some(5.0))?);
    let name = args.positional().ok_or("phase: which one?")?;
    let phase_args = phase::PhaseArgs {
        name,
        target,
        containers,
        warmup,
        seconds,
        open_over,
        read_period,
    };
    args.done()?;
    let result = phase::run(&phase_args)?;
    println!("{result}");
    Ok(ExitCode::SUCCESS)
}

/// `run`: the whole bench.
fn run(args: &mut Args) -> Result<ExitCode, String> {
    let tls = args.flag("--tls");
    let default_phases = if tls {
        "floor,dockstat,bollard,floor-tls,dockstat-tls,bollard-tls"
    } else {
        "floor,dockstat,bollard"
    };
    let config = run::RunArgs {
        containers: args.number("--containers", Some(1000))? as usize,
        seconds: args.seconds("--seconds", Some(10.0))?,
        warmup: args.seconds("--warmup", Some(3.0))?,
        phases: args
            .optional("--phases")?
            .unwrap_or_else(|| default_phases.to_owned())
            .split(',')
            .map(str::to_owned)
            .collect(),
        interval_ms: args.number("--interval-ms", Some(1000))?,
        open_over_ms: args.number("--open-over-ms", Some(0))?,
        read_period: args.seconds("--read-period", Some(5.0))?,
        split_chunks: args.flag("--split-chunks"),
        strict: args.flag("--strict"),
        rounds: args.number("--rounds", Some(1))? as usize,
        report: args.optional("--report")?.map(PathBuf::from),
    };
    args.done()?;
    if tls && !config.phases.iter().any(|p| p.ends_with("-tls")) {
        return Err(format!(
            "--tls: --phases names no TLS phase (floor-tls, dockstat-tls, bollard-tls)\n{USAGE}"
        ));
    }
    // A report directory that cannot be made fails now, not after the run.
    if let Some(dir) = &config.report {
        std::fs::create_dir_all(dir).map_err(|e| format!("--report {}: {e}", dir.display()))?;
    }
    run::run(&config)
}

/// `report`: draws a run's `result.json` again.
fn report(args: &mut Args) -> Result<ExitCode, String> {
    let from = args.value("--from")?;
    let dir: PathBuf = args.value("--report")?.into();
    args.done()?;
    let text = std::fs::read_to_string(&from).map_err(|e| format!("{from}: {e}"))?;
    let data = serde_json::from_str(&text).map_err(|e| format!("{from}: {e}"))?;
    report::write(&dir, &data)?;
    Ok(ExitCode::SUCCESS)
}

/// `daemon-cost`: the daemon's CPU with nothing, the stats API and the cgroup files watching.
fn daemon_cost(args: &mut Args) -> Result<ExitCode, String> {
    let host = match args.optional("--host")? {
        Some(h) => h,
        None => std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned()),
    };
    let phases = args
        .optional("--phases")?
        .unwrap_or_else(|| "idle,api,cgroupfs".to_owned());
    let phases = phases
        .split(',')
        .map(|p| {
            daemon_cost::Phase::parse(p)
                .ok_or_else(|| format!("--phases: {p:?} is not idle, api or cgroupfs"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let docker = args.optional("--docker")?.map_or_else(
        || {
            let usual = PathBuf::from("/usr/local/bin/docker");
            if usual.is_file() {
                usual
            } else {
                PathBuf::from("docker")
            }
        },
        PathBuf::from,
    );
    let config = daemon_cost::Config {
        host,
        containers: args.number("--containers", Some(40))? as usize,
        secs: args.seconds("--secs", Some(60.0))?,
        warmup: args.seconds("--warmup", Some(5.0))?,
        gap: args.seconds("--gap", Some(5.0))?,
        settle_max: args.seconds("--settle-max", Some(60.0))?,
        prefix: args
            .optional("--prefix")?
            .unwrap_or_else(|| "dscost-".to_owned()),
        image: args
            .optional("--image")?
            .unwrap_or_else(|| "bb:latest".to_owned()),
        dockstat: args.optional("--dockstat")?.map(PathBuf::from),
        docker,
        phases,
        strict: args.flag("--strict"),
        min_ratio: match args.optional("--min-ratio")? {
            None => 10.0,
            Some(v) => match v.parse::<f64>() {
                Ok(r) if r >= 0.0 && r.is_finite() => r,
                _ => return Err(format!("--min-ratio {v}: not a number")),
            },
        },
        out: args.optional("--out")?.map(PathBuf::from),
    };
    args.done()?;
    if config.containers == 0 || config.secs < 1.0 {
        return Err(format!(
            "--containers must be at least 1 and --secs at least 1\n{USAGE}"
        ));
    }
    if let Some(socket) = config.host.strip_prefix("unix://") {
        if !std::path::Path::new(socket).exists() {
            return Err(format!("--host {}: no such socket", config.host));
        }
    }
    daemon_cost::run(&config)
}

/// A minimal `--name value` parser: the bench has a handful of options.
struct Args(Vec<String>);

impl Args {
    fn optional(&mut self, name: &str) -> Result<Option<String>, String> {
        let Some(i) = self.0.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.0.len() {
            return Err(format!("{name} needs a value\n{USAGE}"));
        }
        let value = self.0.remove(i + 1);
        self.0.remove(i);
        Ok(Some(value))
    }

    fn value(&mut self, name: &str) -> Result<String, String> {
        self.optional(name)?
            .ok_or_else(|| format!("{name} is required\n{USAGE}"))
    }

    fn number(&mut self, name: &str, default: Option<u64>) -> Result<u64, String> {
        match self.optional(name)? {
            Some(v) => v.parse().map_err(|_| format!("{name} {v}: not a number")),
            None => default.ok_or_else(|| format!("{name} is required\n{USAGE}")),
        }
    }

    fn seconds(&mut self, name: &str, default: Option<f64>) -> Result<f64, String> {
        match self.optional(name)? {
            Some(v) => match v.parse::<f64>() {
                Ok(s) if s >= 0.0 && s.is_finite() => Ok(s),
                _ => Err(format!("{name} {v}: not a number of seconds")),
            },
            None => default.ok_or_else(|| format!("{name} is required\n{USAGE}")),
        }
    }

    fn flag(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|a| a != name);
        self.0.len() != before
    }

    fn positional(&mut self) -> Option<String> {
        let i = self.0.iter().position(|a| !a.starts_with("--"))?;
        Some(self.0.remove(i))
    }

    fn done(&self) -> Result<(), String> {
        match self.0.first() {
            Some(extra) => Err(format!("unexpected argument {extra:?}\n{USAGE}")),
            None => Ok(()),
        }
    }
}
