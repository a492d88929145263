//! One phase: one client, in its own process, through the same procedure.
//!
//! 1. list the containers (dockstat's `Client`), give the freed listing back to the OS, note
//!    RSS (the baseline: nothing opened yet);
//! 2. open a stream to every container (at once, or spread evenly over `--open-over`) and
//!    wait until each has delivered something;
//! 3. warm up; note RSS (N streams open), CPU time, frames and the latency histogram;
//! 4. run for the measurement window; note CPU time, frames and the histogram again;
//! 5. pause the sim and keep reading until nothing arrives for [`QUIET`] (the drain), so that
//!    the total received can be compared exactly with what the sim sent.
//!
//! The result is one JSON line on stdout. Besides the figures above it holds `series`, CPU
//! time and RSS sampled once a second from the start of step 2 to the end of the drain
//! (`[t_ms, cpu_us_total, rss_kib]`), and `latency_cdf`, the window's latency histogram as
//! `[bucket_upper_us, fraction_at_or_below]` per non-empty bucket (for `--report`).
//!
//! Every step is the same over TLS ([`Target::Tls`]): the listing, pause and drain go to the
//! sim's TLS listener too, whose counters are its own.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::control::Control;
use crate::hist::Histogram;
use crate::streams::Streams;
use crate::sys;
use crate::target::Target;

/// How long the streams may take to open before the phase goes on with those that did.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// Silence that ends the drain after the sim is paused.
const QUIET: Duration = Duration::from_secs(1);
/// Longest drain (a client that keeps receiving after the pause is a bug to report).
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// Step of the loops that watch counters.
const STEP: Duration = Duration::from_millis(20);
/// Period of the CPU and RSS samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// `phase NAME …` arguments.
#[derive(Clone, Debug)]
pub struct PhaseArgs {
    /// The client: `floor`, `floor-latency`, `dockstat`, `bollard`, `cli` or `cli-json`.
    pub name: String,
    pub target: Target,
    pub containers: usize,
    pub warmup: Duration,
    pub seconds: Duration,
    /// Open the streams evenly over this long (zero: all at once).
    pub open_over: Duration,
    /// The `dockstat-period` client's read period.
    pub read_period: Duration,
}

/// Runs one phase and returns its JSON result.
pub fn run(args: &PhaseArgs) -> Result<serde_json::Value, String> {
    let nofile = sys::raise_nofile_limit().map_err(|e| format!("RLIMIT_NOFILE: {e}"))?;
    let n = args.containers;
    let mut control = Control::new(&args.target)?;
    let api = control.api()?;
    let ids = control.container_ids(n)?;
    sys::trim_heap();

    let mut streams: Box<dyn Streams> = match args.name.as_str() {
        "floor" => Box::new(crate::floor::Floor::new(&args.target, api, n, false, None)?),
        "floor-period" => Box::new(crate::floor::Floor::new(
            &args.target,
            api,
            n,
            false,
            Some(args.read_period),
        )?),
        "floor-latency" => Box::new(crate::floor::Floor::new(&args.target, api, n, true, None)?),
        "dockstat" => Box::new(crate::dockstat_client::Dockstat::new(
            &args.target,
            api,
            n,
            Duration::ZERO,
        )?),
        "dockstat-period" => Box::new(crate::dockstat_client::Dockstat::new(
            &args.target,
            api,
            n,
            args.read_period,
        )?),
        "bollard" => Box::new(crate::bollard_client::Bollard::new(&args.target)?),
        // The CLI is a child process, measured from outside: its own procedure.
        "cli" | "cli-json" => return crate::cli_client::run(args, &mut control, &ids, nofile),
        other => return Err(format!("unknown phase {other:?}")),
    };
    let rss_before = sys::rss_kib();

    // Open.
    let t0 = Instant::now();
    let mut sampler = Sampler::new(t0);
    // With `open_over`, stream i opens at t0 + i × open_over / N. The sim paces each stream
    // from its own start, so this decides whether each interval's frames come as one burst
    // (all opened at once: the client batches many frames per wakeup, and frames queue behind
    // each other) or evenly spread (about one frame per wakeup).
    for (i, id) in ids.iter().enumerate() {
        let at = t0 + args.open_over.mul_f64(i as f64 / n as f64);
        if at > Instant::now() {
            sampler.pump(&mut *streams, at)?;
        }
        streams.open(id)?;
    }
    while (streams.tally().opened as usize) < n && t0.elapsed() < OPEN_TIMEOUT {
        sampler.pump(&mut *streams, Instant::now() + STEP)?;
    }
    let open_ms = t0.elapsed().as_millis() as u64;
    let opened = streams.tally().opened;
    if opened < n as u64 {
        eprintln!(
            "{}: only {opened} of {n} streams delivered a frame within {OPEN_TIMEOUT:?}",
            args.name
        );
    }

    // Warm up, then the measurement window.
    sampler.pump(&mut *streams, Instant::now() + args.warmup)?;
    let rss_open = sys::rss_kib();
    let (cpu0, frames0, hist0, w0) = (
        sys::cpu_time_us(),
        streams.tally().frames,
        streams.latency(),
        Instant::now(),
    );
    sampler.pump(&mut *streams, w0 + args.seconds)?;
    let (cpu1, frames1, hist1, window) = (
        sys::cpu_time_us(),
        streams.tally().frames,
        streams.latency(),
        w0.elapsed(),
    );

    // Drain: nothing is sent while the sim is paused; what was sent is still arriving.
    let paused = control.pause()?;
    let drain_start = Instant::now();
    // A client that reads once per period has frames waiting for up to that long.
    let quiet = if args.name.starts_with("dockstat-period") || args.name.starts_with("floor-period")
    {
        QUIET + args.read_period
    } else {
        QUIET
    };
    if paused {
        let (mut last, mut last_change) = (streams.tally().frames, Instant::now());
        while last_change.elapsed() < quiet && drain_start.elapsed() < DRAIN_MAX {
            sampler.pump(&mut *streams, Instant::now() + STEP)?;
            let now = streams.tally().frames;
            if now != last {
                (last, last_change) = (now, Instant::now());
            }
        }
    }
    let drain_ms = drain_start.elapsed().as_millis() as u64;
    sampler.sample();
    let tally = streams.tally();

    let frames_window = frames1 - frames0;
    let (user_us, sys_us) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let cpu_us = user_us + sys_us;
    let latency = match (&hist0, &hist1) {
        (Some(h0), Some(h1)) => Some(h1.since(h0)),
        _ => None,
    };
    let q = |p: f64| latency.as_ref().and_then(|h| h.quantile_us(p));
    Ok(json!({
        "phase": args.name,
        "tls": args.target.is_tls(),
        "containers": n,
        "nofile": nofile,
        "opened": tally.opened,
        "open_over_ms": args.open_over.as_millis() as u64,
        "open_ms": open_ms,
        "window_s": window.as_secs_f64(),
        "frames_window": frames_window,
        "frames_total": tally.frames,
        "paused": paused,
        "drain_ms": drain_ms,
        "duplicates": tally.duplicates,
        "errors": tally.errors,
        "ended": tally.ended,
        "connect_retries": tally.connect_retries,
        "first_error": tally.first_error,
        "first_retry_error": tally.first_retry_error,
        "cpu_us_window": cpu_us,
        "cpu_user_us_window": user_us,
        "cpu_sys_us_window": sys_us,
        "cpu_us_per_frame": (frames_window > 0).then(|| cpu_us as f64 / frames_window as f64),
        "cpu_percent": cpu_us as f64 / window.as_micros() as f64 * 100.0,
        "rss_before_kib": rss_before,
        "rss_open_kib": rss_open,
        "rss_per_stream_bytes": (rss_open as f64 - rss_before as f64) * 1024.0 / n as f64,
        "latency_count": latency.as_ref().map(Histogram::count),
        "p50_us": q(0.50),
        "p99_us": q(0.99),
        "p999_us": q(0.999),
        "max_us": latency.as_ref().and_then(Histogram::max_us),
        "latency_cdf": latency.as_ref().map(Histogram::cdf),
        "series": sampler.samples,
    }))
}

/// CPU time and RSS once a second, taken between the client's turns.
struct Sampler {
    start: Instant,
    next: Instant,
    /// `[ms since start, user+sys CPU µs of the process, VmRSS KiB]`.
    samples: Vec<[u64; 3]>,
}

impl Sampler {
    fn new(start: Instant) -> Sampler {
        let mut sampler = Sampler {
            start,
            next: start,
            samples: Vec::new(),
        };
        sampler.sample();
        sampler
    }

    fn sample(&mut self) {
        let now = Instant::now();
        let (user, system) = sys::cpu_time_us();
        self.samples.push([
            (now - self.start).as_millis() as u64,
            user + system,
            sys::rss_kib(),
        ]);
        while self.next <= now {
            self.next += SAMPLE_EVERY;
        }
    }

    /// `streams.pump(until)`, stopping on the way for each sample that falls due.
    fn pump(&mut self, streams: &mut dyn Streams, until: Instant) -> Result<(), String> {
        loop {
            streams.pump(until.min(self.next))?;
            let now = Instant::now();
            if now >= self.next {
                self.sample();
            }
            if now >= until {
                return Ok(());
            }
        }
    }
}
