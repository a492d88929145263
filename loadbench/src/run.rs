//! `run`: the sim as a child process, then each phase as a child process, one after another
//! (a fresh process each, so one client's memory does not pollute the next one's RSS), then
//! the table and the ratios against their targets.
//!
//! Frame accounting: the sim's `/_sim/counters` before and after each phase give the frames it
//! sent to that phase (the phase pauses the sim and drains before exiting; the sim is resumed
//! here before the next phase). A sim without the control endpoint (404) leaves "sent" n/a.
//!
//! Exits non-zero only when the harness fails (the sim or a phase process); missed targets are
//! reported, not failed.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::control::{Control, Counters};
use crate::sys;

/// `run` arguments.
#[derive(Clone, Debug)]
pub struct RunArgs {
    pub containers: usize,
    pub seconds: f64,
    pub warmup: f64,
    pub phases: Vec<String>,
    pub interval_ms: u64,
    pub open_over_ms: u64,
    pub split_chunks: bool,
    /// Fail (exit 1) when a phase lost or duplicated a frame or had a stream error. The
    /// performance targets never fail the run: on a shared machine they are figures to read.
    pub strict: bool,
}

/// How long the sim may take to answer `/_ping`.
const SIM_START_TIMEOUT: Duration = Duration::from_secs(60);

/// The sim child: killed, and its socket removed, when dropped (on every path out of `run`).
struct SimProcess {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
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
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("dockstat-loadbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let socket = dir.join("sim.sock");
    let n = args.containers.to_string();

    let mut sim_cmd = Command::new(&exe);
    sim_cmd.args(["sim", "--containers", &n, "--interval-ms"]);
    sim_cmd
        .arg(args.interval_ms.to_string())
        .arg("--socket")
        .arg(&socket);
    if args.split_chunks {
        sim_cmd.arg("--split-chunks");
    }
    let child = sim_cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the sim: {e}"))?;
    let mut sim = SimProcess {
        child,
        dir,
        socket: socket.clone(),
    };
    let mut control = wait_for_sim(&mut sim)?;
    let have_counters = control.counters()?.is_some();

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
        if have_counters {
            "/_sim/counters"
        } else {
            "n/a (the sim has no /_sim/counters)"
        },
    );

    let mut outcomes = Vec::new();
    let mut harness_ok = true;
    for name in &args.phases {
        let before = control.counters()?;
        eprintln!("phase {name} …");
        let started = Instant::now();
        let output = Command::new(&exe)
            .args(["phase", name, "--containers", &n, "--socket"])
            .arg(&socket)
            .args(["--warmup", &args.warmup.to_string()])
            .args(["--seconds", &args.seconds.to_string()])
            .args(["--open-over-ms", &args.open_over_ms.to_string()])
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
        eprintln!(
            "phase {name} done in {:.1} s: {result}",
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

/// Waits until the sim answers `/_ping` (building 10,000 containers takes it a moment).
fn wait_for_sim(sim: &mut SimProcess) -> Result<Control, String> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = sim.child.try_wait() {
            return Err(format!("the sim exited early ({status})"));
        }
        if sim.socket.exists() {
            let mut control = Control::new(&sim.socket)?;
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
    ("phase", 14),
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

fn print_ratios(outcomes: &[Outcome]) {
    let get = |name: &str| outcomes.iter().find(|o| o.name == name);
    let cpu = |name: &str| get(name).and_then(|o| num(&o.result, "cpu_us_per_frame"));
    let check = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!();
    if let (Some(d), Some(f)) = (cpu("dockstat"), cpu("floor")) {
        let r = d / f;
        println!(
            "dockstat ÷ floor   CPU per frame  {r:>7.2}   (target ≤ 1.25) {}",
            check(r <= 1.25)
        );
    }
    if let (Some(b), Some(d)) = (cpu("bollard"), cpu("dockstat")) {
        let r = b / d;
        println!(
            "bollard ÷ dockstat CPU per frame  {r:>7.2}   (target ≥ 6)    {}",
            check(r >= 6.0)
        );
    }
    if let Some(rss) = get("dockstat").and_then(|o| num(&o.result, "rss_per_stream_bytes")) {
        println!(
            "dockstat RSS per stream     {:>12}   (target ≤ 4 KiB) {}",
            kib(rss),
            check(rss <= 4096.0)
        );
    }
    if let Some(rss) = get("bollard").and_then(|o| num(&o.result, "rss_per_stream_bytes")) {
        println!("bollard  RSS per stream     {:>12}", kib(rss));
    }
    if let Some(p99) = get("dockstat").and_then(|o| num(&o.result, "p99_us")) {
        println!(
            "dockstat p99 latency        {:>9.0} µs   (target ≤ 1 ms) {}",
            p99,
            check(p99 <= 1000.0)
        );
    }
    for o in outcomes {
        let lost = lost(o);
        let dup = num(&o.result, "duplicates").map(|d| d as i64);
        let shown = |x: Option<i64>| x.map_or("n/a".to_owned(), |x| x.to_string());
        let ok = lost.unwrap_or(0) == 0 && dup.unwrap_or(0) == 0;
        println!(
            "{:<14} frames lost/duplicated {}/{}   (target 0/0) {}",
            o.name,
            shown(lost),
            shown(dup),
            check(ok)
        );
    }
}
