//! `run`: the sim as a child process, then each phase as a child process, one after another
//! (a fresh process each, so one client's memory does not pollute the next one's RSS), then
//! the table and the ratios against their targets.
//!
//! Frame accounting: the sim's `/_sim/counters` before and after each phase give the frames it
//! sent to that phase (the phase pauses the sim and drains before exiting; the sim is resumed
//! here before the next phase). A sim without the control endpoint (404) leaves "sent" n/a.
//!
//! TLS: a phase named `NAME-tls` runs the client `NAME` against the sim's TLS listener (see
//! `main.rs`). The sim child then serves both (`sim --tls DIR`, certificates generated into
//! DIR, a subdirectory of this run's temporary directory), and the TLS phases' counters,
//! pause and resume go through a second control connection, over TLS, to the TLS listener.
//!
//! With `--report DIR`, everything printed on stdout and each phase's result also go into
//! `DIR/index.html` (see `report.rs`).
//!
//! Plain TCP: a phase named `NAME-tcp` runs `NAME` against a third listener, plain TCP
//! (`sim --tcp 127.0.0.1:0`, which prints `tcp tcp://127.0.0.1:PORT`), with its own counters
//! and control connection, as for TLS.
//!
//! Exits non-zero only when the harness fails (the sim or a phase process), or with
//! `--strict`; missed targets are reported, not failed.

use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::control::{Control, Counters};
use crate::sys;
use crate::target::Target;

thread_local! {
    /// What `run` printed on stdout, for the report.
    static PRINTED: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `println!` that also keeps the line for the report: every line this module prints goes
/// through it.
macro_rules! println {
    () => {
        println!("")
    };
    ($($arg:tt)*) => {
        print_and_keep(format!($($arg)*))
    };
}

fn print_and_keep(line: String) {
    std::println!("{line}");
    PRINTED.with_borrow_mut(|p| {
        p.push_str(&line);
        p.push('\n');
    });
}

/// `run` arguments.
#[derive(Clone, Debug)]
pub struct RunArgs {
    pub containers: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub phases: Vec<String>,
    pub interval_ms: u64,
    pub open_over_ms: u64,
    /// The `dockstat-period` phase's read period, in seconds.
    pub read_period: f64,
    pub split_chunks: bool,
    /// Fail (exit 1) when a phase lost or duplicated a frame or had a stream error. The
    /// performance targets never fail the run: on a shared machine they are figures to read.
    pub strict: bool,
    /// Run the list of phases this many times, round after round; the ratios are then
    /// medians (see `print_ratios`).
    pub rounds: usize,
    /// Write the HTML report into this directory.
    pub report: Option<PathBuf>,
}

/// How long the sim may take to answer `/_ping`.
const SIM_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The sim child: killed, and its socket and certificates removed, when dropped (on every
/// path out of `run`).
struct SimProcess {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
    /// The certificate directory (TLS only).
    certs: Option<PathBuf>,
    /// Kept open so that the sim never writes to a closed pipe.
    stdout: Option<BufReader<ChildStdout>>,
}

impl SimProcess {
    /// The URL on the sim's next line, `WORD URL` (`tls …`, `tcp …`): where it listens for
    /// `what`.
    fn announced(&mut self, word: &str, what: &str) -> Result<String, String> {
        let mut line = String::new();
        if let Some(out) = &mut self.stdout {
            out.read_line(&mut line)
                .map_err(|e| format!("reading the sim's {what} address: {e}"))?;
        }
        match line
            .trim()
            .strip_prefix(word)
            .and_then(|l| l.strip_prefix(' '))
        {
            Some(url) => Ok(url.to_owned()),
            None => Err(format!(
                "the sim did not say where it listens for {what} ({:?}, {})",
                line.trim(),
                match self.child.try_wait() {
                    Ok(Some(status)) => format!("it exited: {status}"),
                    _ => "still running".to_owned(),
                }
            )),
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        if let Some(certs) = &self.certs {
            let _ = std::fs::remove_dir_all(certs);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// The sim's listener a phase reads from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Over {
    Unix,
    Tls,
    Tcp,
}

/// A phase name: the client, and its listener (`NAME-tls`, `NAME-tcp`, else the unix socket).
fn client_of(phase: &str) -> (&str, Over) {
    if let Some(client) = phase.strip_suffix("-tls") {
        (client, Over::Tls)
    } else if let Some(client) = phase.strip_suffix("-tcp") {
        (client, Over::Tcp)
    } else {
        (phase, Over::Unix)
    }
}

/// One of the sim's listeners, with its control connection.
struct Listener {
    target: Target,
    control: Control,
    /// The sim there has `/_sim/counters` (frame accounting).
    have_counters: bool,
}

impl Listener {
    /// Waits until the sim answers at `target`, and asks for its counters.
    fn new(sim: &mut SimProcess, target: Target) -> Result<Listener, String> {
        let mut control = wait_for_sim(sim, &target)?;
        let have_counters = control.counters()?.is_some();
        Ok(Listener {
            target,
            control,
            have_counters,
        })
    }
}

/// One phase's outcome.
struct Outcome {
    name: String,
    result: Value,
    /// Frames the sim sent and skipped during the phase (`None`: no control endpoint).
    sent: Option<u64>,
    skipped: Option<u64>,
}

pub fn run(args: &RunArgs) -> Result<ExitCode, String> {
    sys::raise_nofile_limit().map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    if (args.phases.iter()).any(|p| matches!(client_of(p).0, "cli" | "cli-json")) {
        crate::cli_client::dockstat_binary()?;
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("dockstat-loadbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let socket = dir.join("sim.sock");
    let n = args.containers.to_string();
    let tls = args.phases.iter().any(|p| client_of(p).1 == Over::Tls);
    let tcp = args.phases.iter().any(|p| client_of(p).1 == Over::Tcp);
    let certs = tls.then(|| dir.join("certs"));

    let mut sim_cmd = Command::new(&exe);
    sim_cmd.args(["sim", "--containers", &n, "--interval-ms"]);
    sim_cmd
        .arg(args.interval_ms.to_string())
        .arg("--socket")
        .arg(&socket);
    if args.split_chunks {
        sim_cmd.arg("--split-chunks");
    }
    if let Some(certs) = &certs {
        sim_cmd.arg("--tls").arg(certs);
    }
    if tcp {
        sim_cmd.args(["--tcp", "127.0.0.1:0"]);
    }
    let mut child = sim_cmd
        .stdin(Stdio::null())
        .stdout(if tls || tcp {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .spawn()
        .map_err(|e| format!("starting the sim: {e}"))?;
    let stdout = child.stdout.take().map(BufReader::new);
    let mut sim = SimProcess {
        child,
        dir,
        socket: socket.clone(),
        certs: certs.clone(),
        stdout,
    };
    // The sim's first lines say where its TLS and plain TCP listeners are, in that order, once
    // all listen (a sim that fails first closes its stdout).
    let tls_target = match &certs {
        Some(certs) => Some(Target::Tls {
            url: sim.announced("tls", "TLS")?,
            certs: certs.clone(),
        }),
        None => None,
    };
    let tcp_target = if tcp {
        Some(Target::Tcp(sim.announced("tcp", "plain TCP")?))
    } else {
        None
    };
    let mut over_unix = Listener::new(&mut sim, Target::Unix(socket.clone()))?;
    let mut over_tls = tls_target.map(|t| Listener::new(&mut sim, t)).transpose()?;
    let mut over_tcp = tcp_target.map(|t| Listener::new(&mut sim, t)).transpose()?;

    println!(
        "dockstat-loadbench: {} containers, 1 frame / {} ms each, streams opened {}, {} s warm-up, \
         {} s window; sim pid {} ({}); frame accounting: {}",
        args.containers,
        args.interval_ms,
        match args.open_over_ms {
            0 => "at once (frames in bursts)".to_owned(),
            ms => format!("over {ms} ms"),
        },
        args.warmup,
        args.seconds,
        sim.child.id(),
        if args.split_chunks {
            "split chunks"
        } else {
            "one chunk per frame"
        },
        if over_unix.have_counters {
            "/_sim/counters"
        } else {
            "n/a (the sim has no /_sim/counters)"
        },
    );
    if let Some(Listener {
        target: Target::Tls { url, .. },
        have_counters: have_tls_counters,
        ..
    }) = &over_tls
    {
        println!(
            "TLS: {url}, client certificates required, verified against the generated CA \
             (rustls with ring, ECDSA P-256 keys); frame accounting: {}",
            if *have_tls_counters {
                "/_sim/counters"
            } else {
                "n/a"
            }
        );
    }

    let mut outcomes = Vec::new();
    let mut harness_ok = true;
    let schedule = (0..args.rounds.max(1)).flat_map(|_| args.phases.iter());
    for name in schedule {
        let (client, over) = client_of(name);
        let Listener {
            target,
            control,
            have_counters,
        } = match over {
            Over::Unix => &mut over_unix,
            Over::Tls => (over_tls.as_mut()).expect("a -tls phase starts the TLS listener"),
            Over::Tcp => (over_tcp.as_mut()).expect("a -tcp phase starts the TCP listener"),
        };
        let have_counters = *have_counters;
        let before = control.counters()?;
        eprintln!("phase {name} …");
        let started = Instant::now();
        let mut command = Command::new(&exe);
        command.args(["phase", client, "--containers", &n]);
        match target {
            Target::Unix(socket) => command.arg("--socket").arg(socket),
            Target::Tls { url, certs } => command.args(["--url", url]).arg("--tls").arg(certs),
            Target::Tcp(url) => command.args(["--url", url]),
        };
        let output = command
            .args(["--warmup", &args.warmup.to_string()])
            .args(["--seconds", &args.seconds.to_string()])
            .args(["--open-over-ms", &args.open_over_ms.to_string()])
            .args(["--read-period", &args.read_period.to_string()])
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("starting phase {name}: {e}"))?;
        let after = control.counters()?;
        if have_counters {
            control.resume()?;
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let result = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<Value>(l).ok());
        let Some(result) = result.filter(|_| output.status.success()) else {
            eprintln!("phase {name} failed ({}): {stdout}", output.status);
            harness_ok = false;
            continue;
        };
        // The figures; the samples and the distribution are for the report.
        let mut figures = result.clone();
        if let Some(map) = figures.as_object_mut() {
            map.remove("series");
            map.remove("latency_cdf");
        }
        eprintln!(
            "phase {name} done in {:.1} s: {figures}",
            started.elapsed().as_secs_f64()
        );
        let delta = |f: fn(&Counters) -> u64| match (before, after) {
            (Some(b), Some(a)) => Some(f(&a) - f(&b)),
            _ => None,
        };
        outcomes.push(Outcome {
            name: name.clone(),
            result,
            sent: delta(|c| c.frames_sent),
            skipped: delta(|c| c.frames_skipped),
        });
    }

    print_table(&outcomes);
    print_ratios(&outcomes);
    drop(sim);
    if let Some(dir) = &args.report {
        let phases = outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "name": o.name, "sent": o.sent, "skipped": o.skipped, "result": o.result,
                })
            })
            .collect();
        let printed = PRINTED.with_borrow(String::clone);
        crate::report::write(dir, &crate::report::data(&printed, phases))?;
        eprintln!("report: {}", dir.join("index.html").display());
    }
    if args.strict {
        for o in &outcomes {
            let dup = num(&o.result, "duplicates").unwrap_or(0.0);
            let errors = num(&o.result, "errors").unwrap_or(0.0);
            if lost(o).unwrap_or(0) != 0 || dup != 0.0 || errors != 0.0 {
                eprintln!(
                    "--strict: {} lost or duplicated frames, or had errors",
                    o.name
                );
                harness_ok = false;
            }
        }
    }
    Ok(if harness_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Waits until the sim answers `/_ping` at `target` (building 10,000 containers takes it a
/// moment).
fn wait_for_sim(sim: &mut SimProcess, target: &Target) -> Result<Control, String> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = sim.child.try_wait() {
            return Err(format!("the sim exited early ({status})"));
        }
        if !matches!(target, Target::Unix(_)) || sim.socket.exists() {
            let mut control = Control::new(target)?;
            if control.ping() {
                return Ok(control);
            }
        }
        if start.elapsed() > SIM_START_TIMEOUT {
            return Err(format!(
                "the sim did not answer /_ping within {SIM_START_TIMEOUT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// `x` with `digits` decimals, or `n/a`.
fn fmt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "n/a".to_owned(), |x| format!("{x:.digits$}"))
}

fn lost(o: &Outcome) -> Option<i64> {
    Some(o.sent? as i64 - num(&o.result, "frames_total")? as i64)
}

/// The table's columns: title and width.
const COLUMNS: [(&str, usize); 17] = [
    ("phase", 17),
    ("open", 6),
    ("open s", 6),
    ("received", 9),
    ("sent", 9),
    ("lost", 5),
    ("dup", 5),
    ("skip", 5),
    ("CPU µs/f", 8),
    ("sys", 6),
    ("CPU %", 6),
    ("RSS/strm", 9),
    ("p50 µs", 7),
    ("p99 µs", 7),
    ("max µs", 7),
    ("retries", 7),
    ("err", 4),
];

fn print_row(cells: &[String]) {
    let mut line = String::new();
    for (i, (cell, (_, width))) in cells.iter().zip(COLUMNS).enumerate() {
        if i == 0 {
            line.push_str(&format!("{cell:<width$}"));
        } else {
            line.push_str(&format!(" {cell:>width$}"));
        }
    }
    println!("{line}");
}

fn print_table(outcomes: &[Outcome]) {
    println!();
    print_row(&COLUMNS.map(|(title, _)| title.to_owned()));
    for o in outcomes {
        let r = &o.result;
        let per_frame = |key: &str| Some(num(r, key)? / num(r, "frames_window")?);
        print_row(&[
            o.name.clone(),
            fmt(num(r, "opened"), 0),
            fmt(num(r, "open_ms").map(|ms| ms / 1000.0), 1),
            fmt(num(r, "frames_total"), 0),
            fmt(o.sent.map(|s| s as f64), 0),
            lost(o).map_or("n/a".to_owned(), |l| l.to_string()),
            fmt(num(r, "duplicates"), 0),
            fmt(o.skipped.map(|s| s as f64), 0),
            fmt(num(r, "cpu_us_per_frame"), 2),
            fmt(per_frame("cpu_sys_us_window"), 2),
            fmt(num(r, "cpu_percent"), 1),
            num(r, "rss_per_stream_bytes").map_or("n/a".to_owned(), kib),
            fmt(num(r, "p50_us"), 0),
            fmt(num(r, "p99_us"), 0),
            fmt(num(r, "max_us"), 0),
            fmt(num(r, "connect_retries"), 0),
            fmt(num(r, "errors"), 0),
        ]);
    }
    for o in outcomes {
        for key in ["first_error", "first_retry_error"] {
            if let Some(e) = o.result.get(key).and_then(Value::as_str) {
                println!("  {} {key}: {e}", o.name);
            }
        }
        if o.result.get("paused") == Some(&Value::Bool(false)) {
            println!(
                "  {}: the sim could not be paused; no drain, totals are not exact",
                o.name
            );
        }
    }
    println!(
        "(CPU: getrusage user+sys of the phase process over the window ÷ frames in the \
         window, sys: the system part; RSS/strm: (VmRSS open − VmRSS before) ÷ N; latency: delivery − frame's \
         \"read\", bucket midpoints ±3 %; floor latency n/a: it parses nothing)"
    );
}

fn kib(bytes: f64) -> String {
    if bytes.abs() >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

/// `(target …) ok|MISSED` for a unix figure; over TLS, where there is no target, the unix one
/// for reference.
fn target_note(unix: bool, target: &str, ok: bool) -> String {
    match (unix, ok) {
        (true, true) => format!("(target {target}) ok"),
        (true, false) => format!("(target {target}) MISSED"),
        (false, _) => format!("(no target over TCP or TLS; unix: {target})"),
    }
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// With several rounds (`--rounds`), each phase's figure is its median over the rounds, and a
/// ratio is the median of the rounds' ratios: the two phases of a round ran minutes apart at
/// most, so the machine's drift over the run (easily ±50 % on a shared machine) cancels in
/// each, where one run's ratio carries it whole.
fn print_ratios(outcomes: &[Outcome]) {
    let values = |name: &str, key: &str| -> Vec<f64> {
        (outcomes.iter())
            .filter(|o| o.name == name)
            .filter_map(|o| num(&o.result, key))
            .collect()
    };
    let field = |name: &str, key: &str| median(values(name, key));
    let cpu = |name: &str| field(name, "cpu_us_per_frame");
    let ratio = |a: &str, b: &str| -> Option<f64> {
        let (x, y) = (values(a, "cpu_us_per_frame"), values(b, "cpu_us_per_frame"));
        if x.len() == y.len() && !x.is_empty() {
            median(x.iter().zip(&y).map(|(x, y)| x / y).collect())
        } else {
            Some(median(x)? / median(y)?)
        }
    };
    let rounds =
        (outcomes.first()).map_or(0, |f| outcomes.iter().filter(|o| o.name == f.name).count());
    let check = |ok: bool| if ok { "ok" } else { "MISSED" };
    let line = |what: String, value: String, note: String| {
        let text = format!("{what:<42} {value:>10}   {note}");
        println!("{}", text.trim_end());
    };
    println!();
    if rounds > 1 {
        println!("(ratios: median over {rounds} rounds of each round's ratio)");
    }
    // CPU per frame: each client against the floor, TLS against unix, bollard against
    // dockstat. The targets are for the unix socket; over TLS they are only shown beside.
    for (a, b, target, unix) in [
        ("dockstat", "floor", 1.25, true),
        ("dockstat-period", "floor", 0.5, true),
        ("dockstat-tls", "floor-tls", 1.25, false),
        ("dockstat-period-tls", "floor-tls", 0.5, false),
        ("dockstat-tcp", "floor-tcp", 1.25, false),
        ("dockstat-period-tcp", "floor-tcp", 0.5, false),
    ] {
        if let Some(r) = ratio(a, b) {
            line(
                format!("{a} ÷ {b} CPU per frame"),
                format!("{r:.2}"),
                target_note(unix, &format!("≤ {target}"), r <= target),
            );
        }
    }
    // Batched reads against the bare batched reader: what is left of a frame's cost once
    // the read per frame is gone, and how much of it is dockstat's.
    const LEAST: &str = "the least a batched reader can reach here";
    const OWN: &str = "dockstat's own work in batched mode";
    for (a, b, what) in [
        ("floor-period", "floor", LEAST),
        ("dockstat-period", "floor-period", OWN),
        ("floor-period-tls", "floor-tls", LEAST),
        ("dockstat-period-tls", "floor-period-tls", OWN),
        ("floor-period-tcp", "floor-tcp", LEAST),
        ("dockstat-period-tcp", "floor-period-tcp", OWN),
        (
            "floor-tcp",
            "floor",
            "the bare loop over plain TCP against the unix socket",
        ),
        (
            "dockstat-period-tcp",
            "dockstat-period",
            "batched, plain TCP against the unix socket",
        ),
    ] {
        if let (Some(x), Some(y), Some(r)) = (cpu(a), cpu(b), ratio(a, b)) {
            line(
                format!("{a} ÷ {b} CPU per frame"),
                format!("{r:.2}"),
                format!("({what}: {:+.2} µs per frame)", x - y),
            );
        }
    }
    for (client, what) in [
        ("dockstat", "dockstat"),
        ("floor", "rustls alone"),
        ("bollard", "bollard"),
    ] {
        let tls = format!("{client}-tls");
        if let (Some(t), Some(u), Some(r)) = (cpu(&tls), cpu(client), ratio(&tls, client)) {
            line(
                format!("{tls} ÷ {client} CPU per frame"),
                format!("{r:.2}"),
                format!("(TLS: {:+.2} µs per frame, {what})", t - u),
            );
        }
    }
    for (c, d) in [("cli", "dockstat"), ("cli-tls", "dockstat-tls")] {
        if let (Some(x), Some(y), Some(r)) = (cpu(c), cpu(d), ratio(c, d)) {
            line(
                format!("{c} ÷ {d} CPU per frame"),
                format!("{r:.2}"),
                format!("(the CLI writing ndjson: {:+.2} µs per frame)", x - y),
            );
        }
    }
    for (c, d, unix) in [
        ("cli-json", "dockstat", true),
        ("cli-json-tls", "dockstat-tls", false),
    ] {
        if let (Some(x), Some(y), Some(r)) = (cpu(c), cpu(d), ratio(c, d)) {
            line(
                format!("{c} ÷ {d} CPU per frame"),
                format!("{r:.2}"),
                format!(
                    "{} (the CLI writing json: {:+.2} µs per frame)",
                    target_note(unix, "≤ 1.3", r <= 1.3),
                    x - y
                ),
            );
        }
    }
    for (b, d, unix) in [
        ("bollard", "dockstat", true),
        ("bollard-tls", "dockstat-tls", false),
    ] {
        if let Some(r) = ratio(b, d) {
            line(
                format!("{b} ÷ {d} CPU per frame"),
                format!("{r:.2}"),
                target_note(unix, "≥ 6", r >= 6.0),
            );
        }
    }
    for name in [
        "dockstat",
        "dockstat-tls",
        "floor-tls",
        "bollard",
        "bollard-tls",
    ] {
        let Some(rss) = field(name, "rss_per_stream_bytes") else {
            continue;
        };
        let note = match name {
            "dockstat" => format!("(target ≤ 4 KiB) {}", check(rss <= 4096.0)),
            "dockstat-tls" => "(no target: rustls' buffers per session)".to_owned(),
            "floor-tls" => "(a bare rustls session and socket)".to_owned(),
            _ => String::new(),
        };
        line(format!("{name} RSS per stream"), kib(rss), note);
    }
    for (name, unix) in [("dockstat", true), ("dockstat-tls", false)] {
        if let Some(p99) = field(name, "p99_us") {
            line(
                format!("{name} p99 latency"),
                format!("{p99:.0} µs"),
                target_note(unix, "≤ 1 ms", p99 <= 1000.0),
            );
        }
    }
    for o in outcomes {
        let lost = lost(o);
        let dup = num(&o.result, "duplicates").map(|d| d as i64);
        let shown = |x: Option<i64>| x.map_or("n/a".to_owned(), |x| x.to_string());
        let ok = lost.unwrap_or(0) == 0 && dup.unwrap_or(0) == 0;
        line(
            format!("{} frames lost/duplicated", o.name),
            format!("{}/{}", shown(lost), shown(dup)),
            format!("(target 0/0) {}", check(ok)),
        );
    }
}
