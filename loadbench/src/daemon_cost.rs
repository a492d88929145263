//! `daemon-cost`: what watching containers costs the Docker daemon, with the stats stream
//! (`--source api`) against the container's cgroup files (`--source cgroupfs`), on a real
//! daemon.
//!
//! The bench starts N containers (`PREFIX1` … `PREFIXN`, `IMAGE sleep 100000`, `--network
//! none`) with the docker CLI, waits until the daemon's CPU rate has settled, then runs these
//! phases one after another, each for `--secs S`, with `--gap` seconds of nothing between them:
//!
//! - `idle`: nothing watching: the daemon's baseline (it includes every other container the
//!   daemon runs, and whatever else the machine makes it do);
//! - `api`: `dockstat -H HOST stats --source api --no-trunc --format ndjson NAME…` to a file;
//! - `cgroupfs`: the same with `--source cgroupfs`.
//!
//! It measures the CPU time (`utime + stime` of `/proc/PID/stat`, every thread, plus the
//! `cutime + cstime` of children reaped meanwhile, such as a `runc` the shim ran) of the daemon's
//! processes: every `dockerd`, `containerd` and `containerd-shim*` (by `/proc/PID/comm`),
//! sampled every second so that a process that comes or goes during a phase is counted for
//! the time it was seen (the set's changes are printed, with the CPU they took: another
//! container started or stopped on a shared daemon); and the CPU time of the `dockstat`
//! child over the same window, from its threads' `schedstat` (nanoseconds: a light client
//! takes only a few 10 ms ticks in a minute), its ticks printed beside. A watching phase's window starts once every container has
//! delivered a line, after `--warmup` seconds more.
//!
//! Per phase it prints the daemon's CPU in ms per container-second, what watching adds to
//! it (minus the idle baseline), dockstat's own ms per container-second, the total added, and
//! the ratio api ÷ cgroupfs of the totals. A phase whose daemon measured below the baseline
//! added nothing (counted as 0); since the cgroupfs phase's daemon cost is about the
//! baseline's noise, the ratio is printed a second time with that phase's daemon two
//! standard errors of the baseline's median (from its 5 s rates' median absolute deviation)
//! higher. The verdict can fail: a watching phase that does
//! not deliver at least 0.8 × S lines for every one of the N containers exits 1, naming them;
//! with `--strict` a ratio below `--min-ratio` (default 10) exits 1 too.
//!
//! The containers are removed at the end, on an error and on SIGINT/SIGTERM (the children run
//! in process groups of their own, so that Ctrl-C reaches only the bench, which then cleans
//! up). Containers of a previous run with the same names are not touched: the bench refuses
//! to start and names them.
//!
//! `/proc` counts CPU time in clock ticks (10 ms at the usual `CLK_TCK` 100); the daemon's
//! daemon's rate is taken per 5 s, and a phase's figure is the median of its 5 s rates (the
//! mean is printed beside it): on a shared daemon, another client creating or removing a
//! container costs dockerd hundreds of ms at once, which the median leaves out. The 5 s rates
//! and `/proc/loadavg` are printed too.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use dockstat::sys::Process;

/// The phases, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Api,
    Cgroupfs,
}

impl Phase {
    pub fn parse(s: &str) -> Option<Phase> {
        match s {
            "idle" => Some(Phase::Idle),
            "api" => Some(Phase::Api),
            "cgroupfs" => Some(Phase::Cgroupfs),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Api => "api",
            Phase::Cgroupfs => "cgroupfs",
        }
    }
}

/// `daemon-cost` arguments.
#[derive(Clone, Debug)]
pub struct Config {
    /// The daemon: `unix:///path` or `tcp://127.0.0.1:PORT` (no TLS).
    pub host: String,
    pub containers: usize,
    /// Each phase's window.
    pub secs: f64,
    /// After every container delivered its first line, before a watching phase's window.
    pub warmup: f64,
    /// Nothing between two phases, so that the daemon has closed the last one's streams.
    pub gap: f64,
    /// The longest wait for the daemon to settle after the containers started.
    pub settle_max: f64,
    pub prefix: String,
    pub image: String,
    /// The `dockstat` binary (default: beside this one).
    pub dockstat: Option<PathBuf>,
    /// The docker CLI.
    pub docker: PathBuf,
    pub phases: Vec<Phase>,
    pub strict: bool,
    pub min_ratio: f64,
    /// Keep each watching phase's ndjson here (default: a temporary file, removed).
    pub out: Option<PathBuf>,
}

/// Why the bench stopped early.
enum Fail {
    /// SIGINT or SIGTERM: clean up, then end as killed by it.
    Signal(i32),
    Msg(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail::Msg(s)
    }
}

/// Returns `Fail::Signal` once SIGINT or SIGTERM arrived.
fn check_stop() -> Result<(), Fail> {
    match Process::stop_signal() {
        Some(signal) => Err(Fail::Signal(signal)),
        None => Ok(()),
    }
}

/// Sleeps `d`, waking for a stop signal.
fn sleep(d: Duration) -> Result<(), Fail> {
    let until = Instant::now() + d;
    loop {
        check_stop()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(100)));
    }
}

/// The bench's containers, removed (`docker rm -f`) when dropped: at the end, on an error, on
/// a signal. A name is recorded before its `docker run`, so that a half-made one goes too.
struct Fleet {
    docker: PathBuf,
    host: String,
    names: Vec<String>,
    ids: Vec<String>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if self.names.is_empty() {
            return;
        }
        eprintln!(
            "daemon-cost: removing the {} containers {}…",
            self.names.len(),
            self.names[0]
        );
        let out = Command::new(&self.docker)
            .arg("-H")
            .arg(&self.host)
            .args(["rm", "-f"])
            .args(&self.names)
            .stdin(Stdio::null())
            .process_group(0)
            .output();
        // A name whose `docker run` never got as far as creating it is "No such container".
        if let Ok(out) = &out {
            let text = String::from_utf8_lossy(&out.stderr);
            for line in text.lines().filter(|l| !l.contains("No such container")) {
                eprintln!("daemon-cost: docker rm: {line}");
            }
        }
    }
}

fn docker_command(config: &Config) -> Command {
    let mut c = Command::new(&config.docker);
    c.arg("-H")
        .arg(&config.host)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .stdin(Stdio::null())
        .process_group(0);
    c
}

/// Runs the docker CLI to its end; its stdout, or its stderr's first line as the error.
fn docker(config: &Config, args: &[&str]) -> Result<String, String> {
    let out = docker_command(config)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", config.docker.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "docker {}: {}",
            args.first().copied().unwrap_or(""),
            err.lines().next().unwrap_or("failed")
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// One process's CPU counters, in clock ticks.
#[derive(Clone, Copy, Debug)]
struct Ticks {
    /// Field 22: when it started (tells a reused pid from the same process).
    start: u64,
    /// utime + stime: every thread, the exited ones included.
    own: u64,
    /// cutime + cstime: children it reaped.
    children: u64,
}

/// `/proc/PID/stat`'s counters.
fn ticks(pid: u32) -> Option<Ticks> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses (which may hold spaces and parentheses): state is
    // field 3, utime 14, stime 15, cutime 16, cstime 17, starttime 22.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    let at = |field: usize| f.get(field - 3).copied();
    Some(Ticks {
        start: at(22)?,
        own: at(14)? + at(15)?,
        children: at(16)? + at(17)?,
    })
}

/// CPU time of every thread of a process in ns, from `/proc/PID/task/*/schedstat` (its first
/// field: time on a CPU): exact where `utime + stime` counts 10 ms ticks, and a light client
/// takes only a few ticks in a minute. `None` where the kernel has no schedstat, or the
/// process is gone.
fn run_ns(pid: u32) -> Option<u64> {
    let mut sum = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        sum += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(sum)
}

/// Whether a process name is one of the daemon's.
fn is_daemon(comm: &str) -> bool {
    comm == "dockerd" || comm == "containerd" || comm.starts_with("containerd-shim")
}

/// The daemon's processes now: pid → (name, counters).
fn daemon_processes() -> HashMap<u32, (String, Ticks)> {
    let mut found = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        let comm = comm.trim_end();
        if !is_daemon(comm) {
            continue;
        }
        if let Some(t) = ticks(pid) {
            found.insert(pid, (comm.to_owned(), t));
        }
    }
    found
}

/// The daemon's CPU over a window, from a snapshot every second: each process counted from the
/// first to the last snapshot it was in (one that started in between from 0).
struct DaemonMeter {
    last: HashMap<u32, (String, Ticks)>,
    /// Ticks since the start.
    total: u64,
    /// Of which processes that were not there at the start (another container started).
    transient: u64,
    first: std::collections::HashSet<u32>,
    /// Processes that came or went: "+containerd-shim 1234".
    changes: Vec<String>,
}

impl DaemonMeter {
    fn start() -> DaemonMeter {
        let last = daemon_processes();
        DaemonMeter {
            first: last.keys().copied().collect(),
            last,
            total: 0,
            transient: 0,
            changes: Vec::new(),
        }
    }

    fn step(&mut self) {
        let now = daemon_processes();
        for (pid, (comm, t)) in &now {
            let ticks = match self.last.get(pid) {
                Some((_, before)) if before.start == t.start => {
                    t.own.saturating_sub(before.own) + t.children.saturating_sub(before.children)
                }
                _ => {
                    // Started since the last snapshot: all its time is in the window.
                    self.changes.push(format!("+{comm} {pid}"));
                    t.own + t.children
                }
            };
            self.total += ticks;
            if !self.first.contains(pid) {
                self.transient += ticks;
            }
        }
        for (pid, (comm, before)) in &self.last {
            if now.get(pid).is_none_or(|(_, t)| t.start != before.start) {
                self.changes.push(format!("-{comm} {pid}"));
            }
        }
        self.last = now;
    }
}

/// The `dockstat` child of a watching phase, killed when dropped.
struct Watcher {
    child: Child,
    path: PathBuf,
    keep: bool,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Lines per container id of a growing ndjson file.
struct LineCounter {
    file: File,
    pending: Vec<u8>,
    buf: Vec<u8>,
    index: HashMap<Vec<u8>, usize>,
    counts: Vec<u64>,
    /// Lines of other containers or without an id.
    strays: u64,
}

impl LineCounter {
    /// Counts the lines of `ids`, known by id or, where a line's `id` is not one, by name.
    fn new(file: File, ids: &[String], names: &[String]) -> LineCounter {
        LineCounter {
            file,
            pending: Vec::new(),
            buf: vec![0; 1 << 16],
            index: (ids.iter().enumerate())
                .chain(names.iter().enumerate())
                .map(|(i, key)| (key.as_bytes().to_vec(), i))
                .collect(),
            counts: vec![0; ids.len()],
            strays: 0,
        }
    }

    fn read(&mut self) -> Result<(), String> {
        loop {
            let n = (self.file.read(&mut self.buf))
                .map_err(|e| format!("reading dockstat's output: {e}"))?;
            if n == 0 {
                return Ok(());
            }
            self.pending.extend_from_slice(&self.buf[..n]);
            let Some(end) = memchr::memrchr(b'\n', &self.pending) else {
                continue;
            };
            let complete: Vec<u8> = self.pending.drain(..=end).collect();
            for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let field = |key: &[u8]| {
                    let at = memchr::memmem::find(line, key)? + key.len();
                    let len = memchr::memchr(b'"', &line[at..])?;
                    self.index.get(&line[at..at + len])
                };
                match field(b"\"id\":\"").or_else(|| field(b"\"name\":\"")) {
                    Some(&i) => self.counts[i] += 1,
                    None => self.strays += 1,
                }
            }
        }
    }

    fn all_seen(&self) -> bool {
        self.counts.iter().all(|&c| c > 0)
    }
}

/// The daemon's rate is taken over windows this long: the median of a phase's windows is
/// what the phase costs, robust to another client's burst on a shared daemon (a container
/// created or removed meanwhile costs dockerd hundreds of ms).
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// The median of `xs` (0 when empty).
fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        k if k % 2 == 1 => v[k / 2],
        k => (v[k / 2 - 1] + v[k / 2]) / 2.0,
    }
}

/// One phase's figures.
struct Outcome {
    phase: Phase,
    window_s: f64,
    daemon_ticks: u64,
    /// Per 5 s of the window: the daemon's ms of CPU per second.
    rates: Vec<f64>,
    changes: Vec<String>,
    /// Of `daemon_ticks`, processes that came during the window.
    transient_ticks: u64,
    /// dockstat's CPU in the window in ms (watching phases), and its ticks.
    dockstat_ms: Option<f64>,
    dockstat_ticks: Option<u64>,
    /// Lines per container in the window (watching phases).
    lines: Option<Vec<u64>>,
    strays: u64,
    loadavg: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "?".into())
}

/// Microseconds per clock tick of `/proc/PID/stat`.
fn tick_ms() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&hz| hz > 0)
        .map_or(10.0, |hz| 1000.0 / hz as f64)
}

/// Measures the daemon for `secs` (and `child`'s CPU, if any), counting `counter`'s lines.
fn window(
    phase: Phase,
    secs: f64,
    tick_ms: f64,
    mut watch: Option<(&mut Watcher, &mut LineCounter)>,
) -> Result<Outcome, Fail> {
    let pid = watch.as_ref().map(|(w, _)| w.child.id());
    let own0 = match pid {
        Some(pid) => Some((
            ticks(pid).ok_or("dockstat exited".to_owned())?.own,
            run_ns(pid),
        )),
        None => None,
    };
    let lines0 = watch.as_ref().map(|(_, c)| c.counts.clone());
    let strays0 = watch.as_ref().map_or(0, |(_, c)| c.strays);
    let mut meter = DaemonMeter::start();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    let mut rates = Vec::new();
    let (mut sub_t, mut sub_ticks) = (t0, 0);
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        sleep((end - now).min(Duration::from_secs(1)))?;
        meter.step();
        if let Some((w, c)) = &mut watch {
            c.read()?;
            if let Ok(Some(status)) = w.child.try_wait() {
                return Err(Fail::Msg(format!(
                    "{}: dockstat exited during the window ({status})",
                    phase.name()
                )));
            }
        }
        if sub_t.elapsed() >= RATE_WINDOW || Instant::now() >= end {
            let s = sub_t.elapsed().as_secs_f64();
            if s >= RATE_WINDOW.as_secs_f64() / 2.0 {
                rates.push((meter.total - sub_ticks) as f64 * tick_ms / s);
            }
            (sub_t, sub_ticks) = (Instant::now(), meter.total);
        }
    }
    let window_s = t0.elapsed().as_secs_f64();
    let (dockstat_ticks, dockstat_ms) = match (pid, own0) {
        (Some(pid), Some((ticks0, ns0))) => {
            let ticks1 = ticks(pid).ok_or("dockstat exited".to_owned())?.own;
            let ms = match (ns0, run_ns(pid)) {
                (Some(a), Some(b)) if b >= a => (b - a) as f64 / 1e6,
                _ => (ticks1 - ticks0) as f64 * tick_ms,
            };
            (Some(ticks1 - ticks0), Some(ms))
        }
        _ => (None, None),
    };
    let lines = match (&watch, lines0) {
        (Some((_, c)), Some(l0)) => Some(c.counts.iter().zip(l0).map(|(a, b)| a - b).collect()),
        _ => None,
    };
    Ok(Outcome {
        phase,
        window_s,
        daemon_ticks: meter.total,
        transient_ticks: meter.transient,
        rates,
        changes: meter.changes,
        dockstat_ticks,
        dockstat_ms,
        lines,
        strays: watch.as_ref().map_or(0, |(_, c)| c.strays) - strays0,
        loadavg: loadavg(),
    })
}

/// A watching phase: dockstat started, every container's first line, the warm-up, the window.
fn watching(
    config: &Config,
    phase: Phase,
    binary: &Path,
    fleet: &Fleet,
    tick_ms: f64,
) -> Result<Outcome, Fail> {
    let (dir, keep) = match &config.out {
        Some(dir) => (dir.clone(), true),
        None => (std::env::temp_dir(), false),
    };
    let path = dir.join(format!(
        "daemon-cost-{}-{}.ndjson",
        phase.name(),
        std::process::id()
    ));
    let out = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut command = Command::new(binary);
    command
        .arg("-H")
        .arg(&config.host)
        .args(["stats", "--source", phase.name()])
        .args(["--no-trunc", "--format", "ndjson"])
        .args(&fleet.names)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::inherit())
        .process_group(0);
    let child = (command.spawn()).map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let mut watcher = Watcher { child, path, keep };
    let file = File::open(&watcher.path).map_err(|e| format!("{}: {e}", watcher.path.display()))?;
    let mut counter = LineCounter::new(file, &fleet.ids, &fleet.names);
    let t0 = Instant::now();
    while !counter.all_seen() {
        if let Ok(Some(status)) = watcher.child.try_wait() {
            return Err(Fail::Msg(format!(
                "{}: `{} stats --source {}` exited ({status})",
                phase.name(),
                binary.display(),
                phase.name()
            )));
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let missing = counter.counts.iter().filter(|&&c| c == 0).count();
            return Err(Fail::Msg(format!(
                "{}: {missing} of {} containers delivered no line within 60 s",
                phase.name(),
                fleet.ids.len()
            )));
        }
        sleep(Duration::from_millis(50))?;
        counter.read()?;
    }
    let open_s = t0.elapsed().as_secs_f64();
    sleep(Duration::from_secs_f64(config.warmup))?;
    counter.read()?;
    let outcome = window(
        phase,
        config.secs,
        tick_ms,
        Some((&mut watcher, &mut counter)),
    )?;
    eprintln!(
        "daemon-cost: {}: every container's first line after {open_s:.1} s",
        phase.name()
    );
    if keep {
        eprintln!("daemon-cost: kept {}", watcher.path.display());
    }
    Ok(outcome)
}

/// Waits until the daemon's CPU rate over 5 s differs from the 5 s before by at most a
/// quarter (or 2 ms/s), at most `max` seconds; returns the last rates.
fn settle(max: f64, tick_ms: f64) -> Result<(bool, Vec<f64>), Fail> {
    let t0 = Instant::now();
    let mut rates = Vec::new();
    loop {
        let mut meter = DaemonMeter::start();
        for _ in 0..5 {
            sleep(Duration::from_secs(1))?;
            meter.step();
        }
        let rate = meter.total as f64 * tick_ms / 5.0;
        rates.push(rate);
        if let [.., a, b] = rates[..] {
            if (a - b).abs() <= (0.25 * a.max(b)).max(2.0) {
                return Ok((true, rates));
            }
        }
        if t0.elapsed().as_secs_f64() >= max {
            return Ok((false, rates));
        }
    }
}

pub fn run(config: &Config) -> Result<ExitCode, String> {
    Process::install_stop_signals();
    let mut fleet = Fleet {
        docker: config.docker.clone(),
        host: config.host.clone(),
        names: Vec::new(),
        ids: Vec::new(),
    };
    let result = bench(config, &mut fleet);
    drop(fleet);
    match result {
        Ok(code) => Ok(code),
        Err(Fail::Msg(m)) => Err(m),
        Err(Fail::Signal(signal)) => {
            eprintln!("daemon-cost: stopped by signal {signal}; the containers are removed");
            Process::exit_by_signal(signal)
        }
    }
}

fn bench(config: &Config, fleet: &mut Fleet) -> Result<ExitCode, Fail> {
    let watching_phases = config.phases.iter().any(|p| *p != Phase::Idle);
    let binary = match (&config.dockstat, watching_phases) {
        (Some(path), _) => Some(path.clone()),
        (None, true) => Some(crate::cli_client::dockstat_binary()?),
        (None, false) => None,
    };
    if let Some(dir) = &config.out {
        std::fs::create_dir_all(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
    }
    let tick_ms = tick_ms();
    let version = docker(config, &["version", "--format", "{{.Server.Version}}"])?;
    let names: Vec<String> = (1..=config.containers)
        .map(|i| format!("{}{i}", config.prefix))
        .collect();
    // Leftovers of another run are not ours to remove.
    let existing = docker(config, &["ps", "-a", "--format", "{{.Names}}"])?;
    let taken: Vec<&str> = existing
        .lines()
        .filter(|n| names.iter().any(|m| m == n))
        .collect();
    if !taken.is_empty() {
        return Err(Fail::Msg(format!(
            "{} containers named like the bench's exist already ({}{}); remove them \
             (docker rm -f) or choose another --prefix",
            taken.len(),
            taken[..taken.len().min(3)].join(", "),
            if taken.len() > 3 { ", …" } else { "" }
        )));
    }

    println!(
        "daemon-cost: {} containers ({}1…{}, {} sleep 100000, --network none) on {} \
         (Docker {}), {} s per phase, phases {}",
        config.containers,
        config.prefix,
        names.last().map_or("", String::as_str),
        config.image,
        config.host,
        version.trim(),
        config.secs,
        (config.phases.iter().map(|p| p.name()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(b) = &binary {
        println!("dockstat: {}", b.display());
    }
    println!("load at start: {}", loadavg());

    // Start the containers, four `docker run` at a time.
    let t0 = Instant::now();
    for batch in names.chunks(4) {
        check_stop()?;
        let mut children = Vec::new();
        for name in batch {
            fleet.names.push(name.clone());
            let child = docker_command(config)
                .args(["run", "-d", "--network", "none", "--name", name])
                .args(["--label", "dockstat.bench=daemon-cost"])
                .args([config.image.as_str(), "sleep", "100000"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("{}: {e}", config.docker.display()))?;
            children.push((name, child));
        }
        for (name, child) in children {
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                return Err(Fail::Msg(format!(
                    "docker run {name}: {}",
                    err.lines().next().unwrap_or("failed")
                )));
            }
        }
    }
    let mut inspect = vec!["inspect", "--format", "{{.Id}} {{.State.Running}}"];
    inspect.extend(names.iter().map(String::as_str));
    let listed = docker(config, &inspect)?;
    for line in listed.lines() {
        match line.split_once(' ') {
            Some((id, "true")) => fleet.ids.push(id.to_owned()),
            _ => return Err(Fail::Msg(format!("a container is not running: {line}"))),
        }
    }
    if fleet.ids.len() != names.len() {
        return Err(Fail::Msg(format!(
            "docker inspect listed {} of {} containers",
            fleet.ids.len(),
            names.len()
        )));
    }
    println!(
        "started {} containers in {:.1} s",
        names.len(),
        t0.elapsed().as_secs_f64()
    );
    let (settled, rates) = settle(config.settle_max, tick_ms)?;
    println!(
        "{} after {:.0} s: daemon CPU per 5 s, ms/s: {}",
        if settled { "settled" } else { "NOT settled" },
        t0.elapsed().as_secs_f64(),
        rates
            .iter()
            .map(|r| format!("{r:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut procs: Vec<(u32, String)> = (daemon_processes().into_iter())
        .map(|(pid, (comm, _))| (pid, comm))
        .collect();
    procs.sort();
    let shims: Vec<String> = (procs.iter())
        .filter(|(_, c)| c.starts_with("containerd-shim"))
        .map(|(p, _)| p.to_string())
        .collect();
    let others: Vec<String> = (procs.iter())
        .filter(|(_, c)| !c.starts_with("containerd-shim"))
        .map(|(p, c)| format!("{c} {p}"))
        .collect();
    println!(
        "daemon processes counted: {}; {} containerd-shim* ({})",
        others.join(", "),
        shims.len(),
        shims.join(" ")
    );

    let mut outcomes = Vec::new();
    for (i, &phase) in config.phases.iter().enumerate() {
        if i > 0 {
            sleep(Duration::from_secs_f64(config.gap))?;
        }
        let outcome = match (phase, &binary) {
            (Phase::Idle, _) | (_, None) => window(phase, config.secs, tick_ms, None)?,
            (_, Some(binary)) => watching(config, phase, binary, fleet, tick_ms)?,
        };
        outcomes.push(outcome);
    }
    Ok(report(config, fleet, &outcomes, tick_ms))
}

/// The standard error of the median of `xs`, from their median absolute deviation (robust
/// to the bursts the median leaves out): 1.4826 × MAD estimates the spread of normal noise,
/// and the median's error is √(π/2) ≈ 1.2533 times the mean's.
fn median_error(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = median(xs);
    let deviations: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    1.2533 * 1.4826 * median(&deviations) / (xs.len() as f64).sqrt()
}

/// Prints the table, the ratio and the verdict.
fn report(config: &Config, fleet: &Fleet, outcomes: &[Outcome], tick_ms: f64) -> ExitCode {
    let n = config.containers as f64;
    let mean_cs = |o: &Outcome| o.daemon_ticks as f64 * tick_ms / (n * o.window_s);
    let median_cs = |o: &Outcome| median(&o.rates) / n;
    let idle = outcomes.iter().find(|o| o.phase == Phase::Idle);
    let idle_rate = idle.map(median_cs);
    // How well the baseline is known: the standard error of its median, per container.
    let idle_error = idle.map_or(0.0, |o| median_error(&o.rates) / n);
    let need = (config.secs * 0.8).floor() as u64;

    println!();
    println!(
        "ms of CPU per container-second ({} containers; daemon: utime+stime, 1 tick = {tick_ms} \
         ms, the median of 5 s rates, the mean beside; dockstat: its threads' schedstat)",
        config.containers
    );
    println!(
        "{:<9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}  load at end",
        "phase", "window", "daemon", "(mean)", "added", "dockstat", "total", "daemon", "lines/ctr",
    );
    println!(
        "{:<9} {:>6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "", "s", "ms/ctr-s", "ms/ctr-s", "ms/ctr-s", "ms/ctr-s", "ms/ctr-s", "ms/s", "min..max"
    );
    // Per watching phase: (total added, daemon added, dockstat's own).
    let mut totals: HashMap<&str, (f64, f64, f64)> = HashMap::new();
    let mut failures = Vec::new();
    for o in outcomes {
        let daemon = median_cs(o);
        let added = idle_rate.map(|base| daemon - base);
        let own = o.dockstat_ms.map(|ms| ms / (n * o.window_s));
        let total = match (o.phase, added, own) {
            (Phase::Idle, _, _) => None,
            // Below the baseline is noise, counted as nothing added.
            (_, Some(added), Some(own)) => Some(added.max(0.0) + own),
            _ => None,
        };
        if let (Some(t), Some(a), Some(own)) = (total, added, own) {
            totals.insert(o.phase.name(), (t, a, own));
        }
        let lines = o.lines.as_ref().map(|l| {
            let min = l.iter().min().copied().unwrap_or(0);
            let max = l.iter().max().copied().unwrap_or(0);
            let short: Vec<String> = (l.iter().enumerate())
                .filter(|&(_, &c)| c < need)
                .map(|(i, c)| format!("{} ({c})", fleet.names[i]))
                .collect();
            if !short.is_empty() {
                failures.push(format!(
                    "{}: {} of {} containers delivered fewer than {need} lines in {:.0} s: {}{}",
                    o.phase.name(),
                    short.len(),
                    l.len(),
                    o.window_s,
                    short[..short.len().min(5)].join(", "),
                    if short.len() > 5 { ", …" } else { "" }
                ));
            }
            format!("{min}..{max}")
        });
        let opt = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.4}"));
        println!(
            "{:<9} {:>6.1} {:>9.4} {:>9.4} {:>9} {:>9} {:>9} {:>8.1} {:>9}  {}",
            o.phase.name(),
            o.window_s,
            daemon,
            mean_cs(o),
            if o.phase == Phase::Idle {
                format!("±{idle_error:.4}")
            } else {
                opt(added)
            },
            opt(own),
            opt(total),
            daemon * n,
            lines.unwrap_or_else(|| "-".into()),
            o.loadavg
        );
    }
    println!();
    for o in outcomes {
        let rates: Vec<String> = o.rates.iter().map(|r| format!("{r:.0}")).collect();
        print!(
            "{}: daemon ms/s per 5 s: {}",
            o.phase.name(),
            rates.join(" ")
        );
        if let Some(ticks) = o.dockstat_ticks {
            print!("; dockstat {ticks} ticks");
        }
        if !o.changes.is_empty() {
            print!(
                "; daemon processes came or went ({:.1} ms/s of the daemon's): {}",
                o.transient_ticks as f64 * tick_ms / o.window_s,
                o.changes.join(", ")
            );
        }
        if o.strays > 0 {
            print!("; {} lines of other containers", o.strays);
        }
        println!();
    }

    let mut ok = failures.is_empty();
    match (totals.get("api"), totals.get("cgroupfs")) {
        (Some(&(api, _, _)), Some(&(cg, cg_added, cg_own))) => {
            let ratio = api / cg;
            // Were the cgroupfs phase's daemon two standard errors of the baseline above what
            // was measured (or above the baseline, when it measured below).
            let cautious = api / (cg_added.max(0.0) + 2.0 * idle_error + cg_own);
            let below = ratio < config.min_ratio;
            println!(
                "ratio api ÷ cgroupfs (total added per container-second): {ratio:.1} \
                 (target ≥ {}{}); {cautious:.1} with the cgroupfs phase's daemon 2 standard \
                 errors of the baseline higher{}",
                config.min_ratio,
                if below { ": BELOW" } else { "" },
                if cg_added < 0.0 {
                    format!(
                        "; its daemon measured {:.4} ms/ctr-s under the idle baseline, counted \
                         as 0 added",
                        -cg_added
                    )
                } else {
                    String::new()
                }
            );
            if below && config.strict {
                failures.push(format!(
                    "--strict: the ratio {ratio:.1} is below --min-ratio {}",
                    config.min_ratio
                ));
                ok = false;
            }
        }
        _ => println!("ratio api ÷ cgroupfs: n/a (needs the phases idle, api and cgroupfs)"),
    }
    println!("load at end: {}", loadavg());
    if ok {
        println!("verdict: ok");
        ExitCode::SUCCESS
    } else {
        for f in &failures {
            println!("verdict: FAILED: {f}");
        }
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests;
