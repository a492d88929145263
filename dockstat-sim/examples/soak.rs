//! Soak: the engine against a simulated daemon (in a child process) with churn, recurring
//! stream faults and daemon restarts, for as long as asked; prints frames sent vs received,
//! reconnects, errors and RSS once per report period, and a summary at the end.
//!
//! ```sh
//! cargo run --release --example soak -- --minutes 60            # the documented hour
//! cargo run --release --example soak -- --minutes 1 --report-secs 10
//! ```
//!
//! Options (defaults): `--minutes 60`, `--containers 500`, `--interval-ms 250` (four frames
//! per second per container), `--churn-ms 500` (a container replaced every half second),
//! `--faulty-every 10` (every tenth container's streams fail again and again: cut mid-chunk
//! after 40 frames, or a garbage chunk size after 60), `--restart-mins 10` (the daemon is
//! killed and comes back 2 s later on the same socket), `--report-secs 60`, `--chaos-ms 0`
//! (with N > 0, the daemon's chaos mode breaks a random stream every N ms: resets, stalls,
//! garbage, slow drips, 500s; the faults injected are reported).
//!
//! Frames are counted on both sides, per container: the daemon counts a frame once its last
//! byte is written (`GET /_sim/frames`), the engine once it is decoded. A frame cut short by
//! a fault was never complete, so it is in neither count. While the soak runs, `received`
//! trails `sent` by what is in flight; at the end the daemon's writers are paused, the engine
//! reads what is left, and every container must then have received exactly the frames the
//! daemon sent it: any that differ are listed and the soak fails. RSS is printed at each
//! report and must stay flat once the streams are open.
//!
//! `--report DIR` also writes `DIR/index.html`, one self-contained page (inline SVG, no
//! script): sent vs received, in flight, RSS, reconnects and errors over time (recorded at
//! every report line and once a second), the verdict, and everything the soak printed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use dockstat::engine::{Control, Endpoint, Engine, EngineConfig, Event};
use dockstat_sim::svg::{self, Axis, Series, escape};
use dockstat_sim::{Churn, Fault, FaultRule, Listen, SimConfig};

thread_local! {
    /// What the soak printed on stdout, for the report.
    static PRINTED: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `println!` that also keeps the line for the report.
macro_rules! println {
    ($($arg:tt)*) => {{
        let line = format!($($arg)*);
        std::println!("{line}");
        PRINTED.with_borrow_mut(|p| {
            p.push_str(&line);
            p.push('\n');
        });
    }};
}

struct Opts {
    minutes: f64,
    containers: usize,
    interval_ms: u64,
    churn_ms: u64,
    faulty_every: usize,
    restart_mins: f64,
    report_secs: f64,
    chaos_ms: u64,
    /// Write the HTML report into this directory.
    report: Option<PathBuf>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("__sim") {
        return child_sim(&args[1..]);
    }
    let mut o = Opts {
        minutes: 60.0,
        containers: 500,
        interval_ms: 250,
        churn_ms: 500,
        faulty_every: 10,
        restart_mins: 10.0,
        report_secs: 60.0,
        chaos_ms: 0,
        report: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--minutes" => o.minutes = value.parse()?,
            "--containers" => o.containers = value.parse()?,
            "--interval-ms" => o.interval_ms = value.parse()?,
            "--churn-ms" => o.churn_ms = value.parse()?,
            "--faulty-every" => o.faulty_every = value.parse()?,
            "--restart-mins" => o.restart_mins = value.parse()?,
            "--report-secs" => o.report_secs = value.parse()?,
            "--chaos-ms" => o.chaos_ms = value.parse()?,
            "--report" => o.report = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    if let Some(dir) = &o.report {
        // A directory that cannot be made fails now, not at the end of the soak.
        std::fs::create_dir_all(dir).map_err(|e| format!("--report {}: {e}", dir.display()))?;
    }
    run(&o)
}

/// The daemon, in the child: `__sim SOCKET CONTAINERS INTERVAL_MS CHURN_MS FAULTY_EVERY
/// CHAOS_MS`.
fn child_sim(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [socket, n, interval, churn, every, chaos] = args else {
        return Err("__sim SOCKET N INTERVAL_MS CHURN_MS FAULTY_EVERY CHAOS_MS".into());
    };
    let chaos: u64 = chaos.parse()?;
    let n: usize = n.parse()?;
    let every: usize = every.parse()?;
    let churn: u64 = churn.parse()?;
    // Names are `{workload}-{i}`, the workloads cycling in this order (sim::model).
    const CYCLE: [&str; 6] = ["busy", "idle", "memhog", "writer", "forky", "net"];
    let faults = (1..=n)
        .filter(|i| every > 0 && i % every == 0)
        .map(|i| FaultRule {
            container: format!("{}-{i}", CYCLE[(i - 1) % 6]),
            after_frames: if i % (2 * every) == 0 { 40 } else { 60 },
            fault: if i % (2 * every) == 0 {
                Fault::TruncateMidChunk
            } else {
                Fault::GarbageChunkSize
            },
        })
        .collect();
    let config = SimConfig {
        containers: n,
        stopped: 0,
        interval: Duration::from_millis(interval.parse()?),
        split_chunks: true,
        faults,
        churn: (churn > 0).then(|| Churn {
            every: Duration::from_millis(churn),
            remove_after: Some(Duration::from_secs(5)),
        }),
        chaos: (chaos > 0).then(|| Duration::from_millis(chaos)),
        ..SimConfig::default()
    };
    dockstat_sim::run(Listen::Unix(PathBuf::from(socket)), config)?;
    Ok(())
}

struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    fn start(o: &Opts, socket: &Path) -> Result<Daemon, Box<dyn std::error::Error>> {
        let _ = std::fs::remove_file(socket);
        let child = Command::new(std::env::current_exe()?)
            .arg("__sim")
            .arg(socket)
            .args([
                o.containers.to_string(),
                o.interval_ms.to_string(),
                o.churn_ms.to_string(),
                o.faulty_every.to_string(),
                o.chaos_ms.to_string(),
            ])
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while sim_counter(socket, "frames_sent").is_none() {
            if Instant::now() > deadline {
                return Err("the simulated daemon did not come up".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Daemon {
            child,
            socket: socket.to_path_buf(),
        })
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// `GET path` from the daemon's control API; the whole response, or `None`.
fn sim_get(socket: &Path, path: &str) -> Option<String> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").as_bytes())
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// One of the daemon's counters (`GET /_sim/counters`), or `None` if it does not answer.
fn sim_counter(socket: &Path, name: &str) -> Option<u64> {
    let body = sim_get(socket, "/_sim/counters")?;
    let key = format!("\"{name}\":");
    let at = body.find(&key)? + key.len();
    body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// Frames the daemon sent per container name (`GET /_sim/frames`), or `None` if it does not
/// answer.
fn sim_frames(socket: &Path) -> Option<BTreeMap<String, u64>> {
    let response = sim_get(socket, "/_sim/frames")?;
    let (_, body) = response.split_once("\r\n\r\n")?;
    let body = body.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut frames = BTreeMap::new();
    // `"name":N,…`; the soak's names (`busy-12`) need no escapes.
    for member in body.split(',').filter(|m| !m.is_empty()) {
        let (name, n) = member.rsplit_once(':')?;
        let name = name.strip_prefix('"')?.strip_suffix('"')?;
        frames.insert(name.to_string(), n.parse().ok()?);
    }
    Some(frames)
}

/// Adds one daemon life's per-container counts into `into`.
fn add_frames(into: &mut BTreeMap<String, u64>, frames: BTreeMap<String, u64>) {
    for (name, n) in frames {
        *into.entry(name).or_default() += n;
    }
}

/// VmRSS and VmHWM of this process, KiB.
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What the engine reported, by kind.
#[derive(Default)]
struct Tally {
    received: u64,
    /// Frames received per container name.
    by_name: BTreeMap<String, u64>,
    added: u64,
    gone: u64,
    errors: u64,
    stale: u64,
}

impl Tally {
    /// One engine turn, counting what it reports.
    fn poll(&mut self, engine: &mut Engine, timeout: Duration) -> Result<(), dockstat::Error> {
        engine.poll(Some(timeout), &mut |event| {
            match event {
                Event::Sample { container, .. } => {
                    self.received += 1;
                    // One lookup per frame; an allocation only for a container's first.
                    match self.by_name.get_mut(container.name.as_str()) {
                        Some(n) => *n += 1,
                        None => {
                            self.by_name.insert(container.name.clone(), 1);
                        }
                    }
                }
                Event::Added(_) => self.added += 1,
                Event::Gone { .. } => self.gone += 1,
                Event::Error { .. } => self.errors += 1,
                Event::Stale(_) => self.stale += 1,
            }
            Control::Continue
        })
    }
}

fn run(o: &Opts) -> Result<(), Box<dyn std::error::Error>> {
    let socket = std::env::temp_dir().join(format!("dockstat-soak-{}.sock", std::process::id()));
    let mut daemon = Some(Daemon::start(o, &socket)?);
    let mut config = EngineConfig::new(Endpoint::parse(&format!("unix://{}", socket.display()))?);
    config.stale_after = Duration::from_secs(5);
    config.reconnect_max = Duration::from_secs(5);
    let mut engine = Engine::new(config)?;

    let start = Instant::now();
    let end = start + Duration::from_secs_f64(o.minutes * 60.0);
    let report_every = Duration::from_secs_f64(o.report_secs);
    let restart_every = Duration::from_secs_f64(o.restart_mins * 60.0);
    let mut next_report = start + report_every;
    let mut next_restart = (o.restart_mins > 0.0).then(|| start + restart_every);
    let mut restarts = 0u32;
    // Frames the daemon sent in its earlier lives, per container (each restart starts its
    // counts at zero).
    let mut sent_before: BTreeMap<String, u64> = BTreeMap::new();
    let sent_earlier = |before: &BTreeMap<String, u64>| before.values().sum::<u64>();
    // Likewise the faults it injected.
    let mut faults_before = 0u64;
    let mut tally = Tally::default();
    let mut rss_series: Vec<(f64, u64)> = Vec::new();
    // For the report: a point at every report line and once a second.
    let mut points: Vec<Point> = Vec::new();
    let mut next_point = start;

    println!(
        "soak: {} containers, a frame every {} ms each, churn every {} ms, every {}th \
         container faulty, daemon restart every {} min, for {} min",
        o.containers, o.interval_ms, o.churn_ms, o.faulty_every, o.restart_mins, o.minutes
    );
    println!(
        "{:>6} {:>12} {:>12} {:>9} {:>8} {:>7} {:>7} {:>7} {:>6} {:>9} {:>9}",
        "min",
        "sent",
        "received",
        "in-flight",
        "streams",
        "reconn",
        "errors",
        "decode",
        "stale",
        "RSS KiB",
        "HWM KiB"
    );
    while Instant::now() < end {
        tally.poll(&mut engine, Duration::from_millis(100))?;
        let now = Instant::now();
        if next_restart.is_some_and(|at| now >= at) {
            next_restart = Some(now + restart_every);
            if let Some(d) = daemon.take() {
                // Its writers paused first, so that its last counts are final; then gone
                // (the frames it wrote are still in the sockets for the engine to read).
                sim_get(&socket, "/_sim/pause");
                let frames = sim_frames(&socket).ok_or("the daemon did not give its counts")?;
                add_frames(&mut sent_before, frames);
                faults_before += sim_counter(&socket, "faults_injected").unwrap_or(0);
                d.stop();
            }
            restarts += 1;
            // Down for two seconds while the engine keeps polling.
            let back = Instant::now() + Duration::from_secs(2);
            while Instant::now() < back {
                tally.poll(&mut engine, Duration::from_millis(100))?;
            }
            daemon = Some(Daemon::start(o, &socket)?);
        }
        let report_due = now >= next_report;
        if report_due || (o.report.is_some() && now >= next_point) {
            while next_point <= now {
                next_point += Duration::from_secs(1);
            }
            let sent =
                sent_earlier(&sent_before) + sim_counter(&socket, "frames_sent").unwrap_or(0);
            points.push(Point::new(start, sent, tally.received, &engine));
        }
        if report_due {
            next_report += report_every;
            let sent =
                sent_earlier(&sent_before) + sim_counter(&socket, "frames_sent").unwrap_or(0);
            let c = engine.counters();
            let (rss, hwm) = rss_kib();
            let minutes = start.elapsed().as_secs_f64() / 60.0;
            rss_series.push((minutes, rss));
            println!(
                "{:>6.1} {:>12} {:>12} {:>9} {:>8} {:>7} {:>7} {:>7} {:>6} {:>9} {:>9}",
                minutes,
                sent,
                tally.received,
                sent as i64 - tally.received as i64,
                c.streams,
                c.reconnects,
                c.stream_errors,
                c.decode_errors,
                c.stale,
                rss,
                hwm
            );
        }
    }
    // The end: the writers paused, then the engine reads what they wrote until it has as
    // many frames as were sent (or nothing more comes for a while), then the final counts.
    sim_get(&socket, "/_sim/pause");
    let mut sent_by_name = sent_before;
    add_frames(
        &mut sent_by_name,
        sim_frames(&socket).ok_or("the daemon did not give its counts")?,
    );
    let sent = sent_earlier(&sent_by_name);
    let drain_start = Instant::now();
    let mut last_change = (drain_start, tally.received);
    while tally.received < sent {
        tally.poll(&mut engine, Duration::from_millis(50))?;
        let now = Instant::now();
        if tally.received != last_change.1 {
            last_change = (now, tally.received);
        }
        if now - last_change.0 > Duration::from_secs(3)
            || now - drain_start > Duration::from_secs(15)
        {
            break;
        }
    }
    // A last moment for anything beyond the count (which would be a frame received twice).
    let quiet = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet {
        tally.poll(&mut engine, Duration::from_millis(50))?;
    }
    let drained_in = drain_start.elapsed();
    let faults = faults_before + sim_counter(&socket, "faults_injected").unwrap_or(0);
    points.push(Point::new(start, sent, tally.received, &engine));
    let c = engine.counters();
    let Tally {
        received,
        by_name: received_by_name,
        added,
        gone,
        errors,
        stale,
    } = tally;
    if let Some(d) = daemon.take() {
        d.stop();
    }
    let (rss, hwm) = rss_kib();
    println!(
        "summary: {:.1} min, {restarts} daemon restarts, {added} added, {gone} gone, {errors} \
         stream/host errors, {stale} stale reports, {} reconnects, {faults} faults injected",
        start.elapsed().as_secs_f64() / 60.0,
        c.reconnects
    );
    // Every container the daemon sent frames for or the engine received frames from.
    let mut differ: Vec<(&str, u64, u64)> = Vec::new();
    let names: std::collections::BTreeSet<&String> =
        sent_by_name.keys().chain(received_by_name.keys()).collect();
    for name in &names {
        let s = sent_by_name.get(*name).copied().unwrap_or(0);
        let r = received_by_name.get(*name).copied().unwrap_or(0);
        if s != r {
            differ.push((name.as_str(), s, r));
        }
    }
    let exact = received == sent && differ.is_empty();
    println!(
        "frames: sent {sent}, received {received} ({:+}) over {} containers after pausing the \
         writers and draining for {:.1}s: {}",
        received as i64 - sent as i64,
        names.len(),
        drained_in.as_secs_f64(),
        if exact {
            "exact, every container"
        } else {
            "NOT EXACT"
        }
    );
    for (name, s, r) in differ.iter().take(50) {
        println!(
            "  {name}: sent {s}, received {r} ({:+})",
            *r as i64 - *s as i64
        );
    }
    if differ.len() > 50 {
        println!("  … and {} more containers", differ.len() - 50);
    }
    // Growth after the streams settled: RSS at the first report past 5 minutes (or the
    // first report) against the largest after it.
    let settle = rss_series
        .iter()
        .find(|(m, _)| *m >= 5.0)
        .or(rss_series.first())
        .copied();
    if let Some((at, base)) = settle {
        let peak = rss_series
            .iter()
            .filter(|(m, _)| *m >= at)
            .map(|&(_, r)| r)
            .max()
            .unwrap_or(base);
        println!(
            "memory: RSS {base} KiB at {at:.1} min, at most {peak} KiB after ({:+.1}%), {rss} \
             KiB at the end, high-water mark {hwm} KiB",
            (peak as f64 / base.max(1) as f64 - 1.0) * 100.0
        );
    }
    let verdict = if received == 0 {
        Err("no frame was received".to_owned())
    } else if !exact {
        Err(format!(
            "frames received differ from frames sent for {} containers (sent {sent}, received \
             {received})",
            differ.len()
        ))
    } else {
        Ok(())
    };
    if let Some(dir) = &o.report {
        write_report(dir, &points, &verdict)?;
        eprintln!("report: {}", dir.join("index.html").display());
    }
    Ok(verdict?)
}

/// The soak at one moment, for the report.
struct Point {
    minutes: f64,
    sent: f64,
    received: f64,
    streams: f64,
    reconnects: f64,
    stream_errors: f64,
    decode_errors: f64,
    rss_mib: f64,
}

impl Point {
    fn new(start: Instant, sent: u64, received: u64, engine: &Engine) -> Point {
        let c = engine.counters();
        Point {
            minutes: start.elapsed().as_secs_f64() / 60.0,
            sent: sent as f64,
            received: received as f64,
            streams: c.streams as f64,
            reconnects: c.reconnects as f64,
            stream_errors: c.stream_errors as f64,
            decode_errors: c.decode_errors as f64,
            rss_mib: rss_kib().0 as f64 / 1024.0,
        }
    }
}

/// `dir/index.html`: the soak's charts, its verdict and what it printed.
fn write_report(dir: &Path, points: &[Point], verdict: &Result<(), String>) -> std::io::Result<()> {
    let series = |name: &str, colour: usize, f: fn(&Point) -> f64| Series {
        name: name.to_owned(),
        colour: svg::colour(colour),
        // Received lies on sent most of the time.
        dashed: name == "received",
        points: points.iter().map(|p| (p.minutes, f(p))).collect(),
    };
    let x = || Axis::linear("minutes", points.iter().map(|p| p.minutes));
    let chart = |id: &str, title: &str, y_title: &str, lines: &[Series]| {
        let y = Axis::linear(
            y_title,
            lines.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        );
        format!(
            "<figure id=\"{id}\">\n{}</figure>\n",
            svg::line_chart(title, &x(), &y, lines, 1200.0)
        )
    };
    let mut body = String::new();
    let (class, text) = match verdict {
        Ok(()) => (
            "ok",
            "PASS: every container received exactly the frames the daemon sent it".to_owned(),
        ),
        Err(e) => ("fail", format!("FAIL: {e}")),
    };
    let command: Vec<String> = std::env::args().collect();
    let _ = writeln!(
        body,
        "<p><code>{}</code></p>\n<p id=\"verdict\" class=\"{class}\">{}</p>",
        escape(&command.join(" ")),
        escape(&text)
    );
    body.push_str(&chart(
        "frames",
        "Frames sent (daemon) and received (engine)",
        "frames",
        &[
            series("sent", 0, |p| p.sent),
            series("received", 1, |p| p.received),
        ],
    ));
    body.push_str(&chart(
        "in-flight",
        "In flight: sent − received",
        "frames",
        &[series("in flight", 2, |p| p.sent - p.received)],
    ));
    body.push_str(&chart(
        "rss",
        "RSS of the soak process (engine and bookkeeping)",
        "MiB",
        &[series("RSS", 3, |p| p.rss_mib)],
    ));
    body.push_str(&chart(
        "errors",
        "Reconnects and errors (cumulative) and open streams",
        "count",
        &[
            series("reconnects", 4, |p| p.reconnects),
            series("stream errors", 1, |p| p.stream_errors),
            series("decode errors", 6, |p| p.decode_errors),
            series("streams", 0, |p| p.streams),
        ],
    ));
    let printed = PRINTED.with_borrow(String::clone);
    let _ = writeln!(
        body,
        "<h2>What the soak printed</h2>\n<pre>{}</pre>",
        escape(&printed)
    );
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("index.html"), svg::page("dockstat soak", &body))
}
