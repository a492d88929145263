//! The cli phase: the real `dockstat` binary as a child process, `dockstat -H URL stats
//! --format ndjson` (every running container: the sim's N), its stdout a file on disk.
//!
//! The procedure is the other phases' (see `phase.rs`), measured on the child: the bench
//! reads the file as it grows (one line per frame), waits until every container delivered a
//! line, warms up, then takes the child's CPU time (`utime + stime` of `/proc/PID/stat`) and
//! the lines over the window, the child's RSS after the warm-up, pauses the sim and reads
//! until nothing arrives for [`QUIET`]. Per container, a line whose `read` is not later than
//! that container's previous one is a duplicate.
//!
//! `/proc` counts CPU time in clock ticks (10 ms): the figure needs a window with many ticks
//! (10,000 streams for 20 s give the CLI over 100), and reads 0 for a small bench.
//!
//! Latency is n/a: a line is seen when the bench reads the file, not when the CLI wrote it.
//! RSS per stream is the child's whole VmRSS ÷ N (it has no baseline before its streams).
//!
//! The binary is `dockstat` beside the bench's own (`target/release/`): build it with
//! `cargo build --release -p dockstat-cli`.
//!
//! The `cli-json` phase runs `stats --no-trunc --format json` instead: docker's output, every
//! container's line at each 500 ms refresh, with no `read` time to count frames by. Its
//! frames are the sim's: `frames_sent` of `/_sim/counters` over the window (the CLI is the
//! sim's only streaming client during the phase). That cannot hide a loss: a frame the sim
//! counts as sent was written into the CLI's socket, and the engine reads every byte of its
//! streams (what sits unread in the socket buffers at the window's two ends is about the
//! same); a CLI too slow to read makes the sim skip frames, which it counts apart (`skip`).
//! The lines are checked too: each must name one of the sim's containers (`strays`
//! otherwise), and `opened` counts containers whose line shows numbers, not `--`.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dockstat::stats::Timestamp;
use serde_json::json;

use crate::control::Control;
use crate::phase::PhaseArgs;
use crate::target::Target;

const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
const QUIET: Duration = Duration::from_secs(1);
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// How often the file is read.
const STEP: Duration = Duration::from_millis(20);

/// The `dockstat` binary beside this one, or how to build it.
pub fn dockstat_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = exe.with_file_name("dockstat");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the cli phase runs {}, which is not there: build it with \
             `cargo build --release -p dockstat-cli`",
            path.display()
        ))
    }
}

/// The child, killed and its output file removed when dropped.
struct Cli {
    child: Child,
    path: PathBuf,
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What the CLI writes: `--format ndjson` (a line per frame, with its `read` time) or
/// `--format json` (docker's lines, every container's at each refresh).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Ndjson,
    Json,
}

/// What the bench read of the file so far.
struct Reader {
    output: Output,
    file: File,
    /// Bytes read and not yet ending in a newline.
    pending: Vec<u8>,
    buf: Vec<u8>,
    /// Container id to its index in `last_read`.
    index: HashMap<Vec<u8>, usize>,
    /// Per container: the `read` of its last line in ns (`i64::MIN` before the first).
    last_read: Vec<i64>,
    lines: u64,
    opened: u64,
    duplicates: u64,
    /// Lines of containers that are not the sim's first N, or without an id or `read`.
    strays: u64,
}

/// The string value of `"key":"` in a line of the CLI's ndjson (its values carry no quotes
/// that matter here: ids are hex, `read` is RFC 3339).
fn field<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = memchr::memmem::find(line, key)? + key.len();
    let len = memchr::memchr(b'"', &line[at..])?;
    Some(&line[at..at + len])
}

impl Reader {
    fn new(file: File, ids: &[String], output: Output) -> Reader {
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_bytes().to_vec(), i))
            .collect();
        Reader {
            output,
            file,
            pending: Vec::new(),
            buf: vec![0; 1 << 20],
            index,
            last_read: vec![i64::MIN; ids.len()],
            lines: 0,
            opened: 0,
            duplicates: 0,
            strays: 0,
        }
    }

    /// Reads what the file has grown by.
    fn read(&mut self) -> Result<(), String> {
        loop {
            let n = self
                .file
                .read(&mut self.buf)
                .map_err(|e| format!("reading the CLI's output: {e}"))?;
            if n == 0 {
                return Ok(());
            }
            self.pending.extend_from_slice(&self.buf[..n]);
            let Some(end) = memchr::memrchr(b'\n', &self.pending) else {
                continue;
            };
            let complete: Vec<u8> = self.pending.drain(..=end).collect();
            for line in complete.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                self.line(line);
            }
        }
    }

    fn line(&mut self, line: &[u8]) {
        self.lines += 1;
        if self.output == Output::Json {
            return self.json_line(line);
        }
        let container = field(line, b"\"id\":\"").and_then(|id| self.index.get(id).copied());
        let read = field(line, b"\"read\":\"")
            .and_then(Timestamp::parse)
            .map(Timestamp::unix_nanos);
        let (Some(i), Some(read)) = (container, read) else {
            self.strays += 1;
            return;
        };
        let last = &mut self.last_read[i];
        if *last == i64::MIN {
            self.opened += 1;
        } else if read <= *last {
            self.duplicates += 1;
        }
        *last = read;
    }

    /// A line of `--format json`: a known container (`--no-trunc`: its full id), opened once
    /// its line shows a CPU figure.
    fn json_line(&mut self, line: &[u8]) {
        let Some(i) = field(line, b"\"ID\":\"").and_then(|id| self.index.get(id).copied()) else {
            self.strays += 1;
            return;
        };
        let shown = field(line, b"\"CPUPerc\":\"").is_some_and(|cpu| cpu != b"--");
        if shown && self.last_read[i] == i64::MIN {
            self.opened += 1;
            self.last_read[i] = 0;
        }
    }

    /// Reads for `d`.
    fn pump(&mut self, d: Duration) -> Result<(), String> {
        let until = Instant::now() + d;
        loop {
            self.read()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep(STEP.min(until - now));
        }
    }
}

/// `(user, system)` CPU time of a process in µs, from `/proc/PID/stat`.
fn cpu_time_us(pid: u32, tick_us: u64) -> Result<(u64, u64), String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    // After the command name in parentheses (which may hold spaces): state is field 3,
    // utime and stime fields 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| format!("{path}: no field {}", i + 3))
    };
    Ok((ticks(11)? * tick_us, ticks(12)? * tick_us))
}

/// `VmRSS` of a process in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Microseconds per clock tick of `/proc/PID/stat` (`getconf CLK_TCK`; USER_HZ is 100 on
/// Linux when that cannot be asked).
fn tick_us() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&hz| hz > 0)
        .map_or(10_000, |hz| 1_000_000 / hz)
}

/// Runs the cli phase: `ids` are the sim's first N containers, `control` its control
/// connection.
pub fn run(
    args: &PhaseArgs,
    control: &mut Control,
    ids: &[String],
    nofile: u64,
) -> Result<serde_json::Value, String> {
    let n = args.containers;
    let binary = dockstat_binary()?;
    let tick_us = tick_us();
    let output = if args.name == "cli-json" {
        Output::Json
    } else {
        Output::Ndjson
    };
    let format = match output {
        Output::Ndjson => "ndjson",
        Output::Json => "json",
    };
    let path = std::env::temp_dir().join(format!(
        "dockstat-loadbench-cli-{}.{format}",
        std::process::id()
    ));
    let out = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut command = Command::new(&binary);
    match &args.target {
        Target::Unix(socket) => {
            command
                .arg("-H")
                .arg(format!("unix://{}", socket.display()));
        }
        Target::Tcp(url) => {
            command.args(["-H", url]);
        }
        Target::Tls { url, certs } => {
            let (ca, cert, key) = Target::tls_files(certs);
            command
                .args(["-H", url, "--tlsverify", "--tlscacert"])
                .arg(ca)
                .arg("--tlscert")
                .arg(cert)
                .arg("--tlskey")
                .arg(key);
        }
    }
    command
        .args(["stats", "--no-trunc", "--format", format])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::inherit());
    let t0 = Instant::now();
    let child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let pid = child.id();
    let mut cli = Cli {
        child,
        path: path.clone(),
    };
    let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut reader = Reader::new(file, ids, output);
    let exited = |cli: &mut Cli| -> Result<(), String> {
        match cli.child.try_wait() {
            Ok(Some(status)) => Err(format!("{} exited early ({status})", binary.display())),
            _ => Ok(()),
        }
    };

    // Open: every container has a line.
    while (reader.opened as usize) < n && t0.elapsed() < OPEN_TIMEOUT {
        reader.pump(STEP)?;
        exited(&mut cli)?;
    }
    let open_ms = t0.elapsed().as_millis() as u64;
    if (reader.opened as usize) < n {
        eprintln!(
            "cli: only {} of {n} containers delivered a line within {OPEN_TIMEOUT:?}",
            reader.opened
        );
    }

    // Warm up, then the window.
    reader.pump(args.warmup)?;
    exited(&mut cli)?;
    let rss_open = rss_kib(pid);
    // json: the sim's frames sent over the window (see the module's doc).
    let sent = |control: &mut Control| -> Result<Option<u64>, String> {
        if output == Output::Ndjson {
            return Ok(None);
        }
        let counters = control.counters()?;
        let counters = counters.ok_or("cli-json counts the sim's frames: no /_sim/counters")?;
        Ok(Some(counters.frames_sent))
    };
    let sent0 = sent(control)?;
    let (cpu0, lines0, w0) = (cpu_time_us(pid, tick_us)?, reader.lines, Instant::now());
    reader.pump(args.seconds)?;
    let (cpu1, lines1, window) = (cpu_time_us(pid, tick_us)?, reader.lines, w0.elapsed());
    let sent1 = sent(control)?;
    exited(&mut cli)?;

    // Drain.
    let paused = control.pause()?;
    let drain_start = Instant::now();
    // json goes on printing every row at each refresh: nothing to drain.
    if paused && output == Output::Ndjson {
        let (mut last, mut last_change) = (reader.lines, Instant::now());
        while last_change.elapsed() < QUIET && drain_start.elapsed() < DRAIN_MAX {
            reader.pump(STEP)?;
            if reader.lines != last {
                (last, last_change) = (reader.lines, Instant::now());
            }
        }
    }
    let drain_ms = drain_start.elapsed().as_millis() as u64;
    drop(cli);
    reader.read()?;

    let lines_window = lines1 - lines0;
    let frames_window = match (sent0, sent1) {
        (Some(a), Some(b)) => b - a,
        _ => lines_window,
    };
    // json lines are not frames: the phase's total is not known (lost n/a).
    let frames_total = (output == Output::Ndjson).then_some(reader.lines);
    let (user_us, sys_us) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let cpu_us = user_us + sys_us;
    Ok(json!({
        "phase": args.name,
        "tls": args.target.is_tls(),
        "containers": n,
        "nofile": nofile,
        "opened": reader.opened,
        "open_over_ms": 0,
        "open_ms": open_ms,
        "window_s": window.as_secs_f64(),
        "frames_window": frames_window,
        "frames_total": frames_total,
        "lines_window": lines_window,
        "paused": paused,
        "drain_ms": drain_ms,
        "duplicates": reader.duplicates,
        "strays": reader.strays,
        "errors": 0,
        "ended": 0,
        "connect_retries": null,
        "first_error": (reader.strays > 0).then(|| match output {
            Output::Ndjson => format!(
                "{} lines of unknown containers or without a read time", reader.strays
            ),
            Output::Json => format!("{} lines of unknown containers", reader.strays),
        }),
        "first_retry_error": null,
        "cpu_us_window": cpu_us,
        "cpu_user_us_window": user_us,
        "cpu_sys_us_window": sys_us,
        "cpu_us_per_frame": (frames_window > 0).then(|| cpu_us as f64 / frames_window as f64),
        "cpu_percent": cpu_us as f64 / window.as_micros() as f64 * 100.0,
        "rss_before_kib": null,
        "rss_open_kib": rss_open,
        "rss_per_stream_bytes": rss_open as f64 * 1024.0 / n as f64,
        "latency_count": null,
        "p50_us": null,
        "p99_us": null,
        "p999_us": null,
        "max_us": null,
    }))
}
