//! `dockstat serve`: a Prometheus / OpenMetrics endpoint fed by the engine, and
//! `dockstat stats --no-stream --format prometheus`.
//!
//! The engine runs on this thread; the scrape server (`dockstat::prom::server`) on its own,
//! rendering from a snapshot of the shared table (see `dockstat::prom`).

use std::collections::HashSet;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dockstat::engine::{Endpoint, Engine, EngineConfig, Event, Mode, Selection};
use dockstat::prom::server::{MetricsServer, ServerConfig};
use dockstat::prom::{Exporter, ExporterConfig, ExpositionFormat, render};
use dockstat::{Error, ErrorKind};

use crate::Failure;
use crate::stats::{StatsOpts, engine_config, error_message};
use dockstat::sys::Process;

/// How often the engine's counters and histograms are copied into the shared table.
pub(crate) const PUBLISH_ENGINE: Duration = Duration::from_millis(250);

/// `serve`'s read period unless `--read-period` says otherwise.
pub(crate) const DEFAULT_READ_PERIOD: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub(crate) struct ServeOpts {
    pub(crate) listen: SocketAddr,
    pub(crate) with_image: bool,
    pub(crate) label_allowlist: Vec<String>,
    /// Slow-client timeout.
    pub(crate) timeout: Duration,
    /// Read each stream at most once per this period (the engine's `read_period`).
    pub(crate) read_period: Duration,
    /// Where the numbers come from (`--source` and its options).
    pub(crate) source: crate::args::SourceOpts,
}

impl Default for ServeOpts {
    fn default() -> ServeOpts {
        ServeOpts {
            listen: SocketAddr::from(([127, 0, 0, 1], 9323)),
            with_image: false,
            label_allowlist: Vec::new(),
            timeout: Duration::from_secs(5),
            // A scrape comes every 15 s or so: values up to 5 s old cost it nothing, and
            // reading five frames at once costs a fraction of reading them one by one.
            read_period: DEFAULT_READ_PERIOD,
            source: crate::args::SourceOpts::default(),
        }
    }
}

pub(crate) fn exporter(endpoints: &[Endpoint], with_image: bool, allow: &[String]) -> Exporter {
    Exporter::new(ExporterConfig {
        hosts: endpoints.iter().map(|e| e.url().to_string()).collect(),
        with_image,
        label_allowlist: allow.to_vec(),
    })
}

pub(crate) fn config(endpoints: Vec<Endpoint>, mode: Mode) -> Result<EngineConfig, Failure> {
    let mut config = engine_config(endpoints)?;
    config.selection = Selection::Running;
    config.mode = mode;
    Ok(config)
}

/// `cannot listen on ADDR: REASON`, the reason in the words of the rest of dockstat's
/// messages (lower case, without the OS error number).
fn listen_error(addr: SocketAddr, e: &io::Error) -> String {
    let reason = match e.kind() {
        io::ErrorKind::AddrInUse => "address already in use".to_string(),
        io::ErrorKind::AddrNotAvailable => "address not available on this machine".to_string(),
        io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_lowercase().chain(chars).collect::<String>()
            })
        }
    };
    format!("cannot listen on {addr}: {reason}")
}

/// Prints an engine error once per message.
pub(crate) fn report(reported: &mut HashSet<String>, error: &Error) {
    let message = error_message(error);
    if reported.insert(message.clone()) {
        eprintln!("dockstat: {message}");
    }
}

pub(crate) fn serve(endpoints: Vec<Endpoint>, opts: &ServeOpts) -> Result<i32, Failure> {
    let mut exporter = exporter(&endpoints, opts.with_image, &opts.label_allowlist);
    let mut config = config(endpoints, Mode::Stream)?;
    config.read_period = opts.read_period;
    // dockstat_container_spec_cpu_quota/_period, as cAdvisor has them: one inspect per
    // container when it comes (the cgroupfs source reads the limit with its files).
    config.cpu_limits = true;
    opts.source.apply(&mut config);
    let mut engine = Engine::new(config)?;
    Process::install_stop_signals();
    let listener = std::net::TcpListener::bind(opts.listen)
        .map_err(|e| Failure::Listen(listen_error(opts.listen, &e)))?;
    let shared = exporter.shared();
    let server = MetricsServer::start(
        listener,
        ServerConfig {
            timeout: opts.timeout,
            ..ServerConfig::default()
        },
        Box::new(move |format, out| render(&shared.snapshot(), format, out)),
    )
    .map_err(|e| Error::io(ErrorKind::Io, e).context("metrics server"))?;
    eprintln!(
        "dockstat: serving metrics on http://{}/metrics",
        server.local_addr()
    );
    let mut reported = HashSet::new();
    let mut next_publish = Instant::now();
    while !Process::stop_signal_received() {
        engine.poll(Some(PUBLISH_ENGINE), &mut |event| {
            if let Event::Error { error, .. } = &event {
                report(&mut reported, error);
            }
            exporter.on_event(&event);
            dockstat::engine::Control::Continue
        })?;
        // The turn's samples under one lock; the engine's counters (which walk every stream)
        // a few times a second.
        let now = Instant::now();
        if now >= next_publish {
            next_publish = now + PUBLISH_ENGINE;
            exporter.publish(Some(&engine));
        } else {
            exporter.publish(None);
        }
    }
    drop(server);
    Ok(0)
}

/// `stats --no-stream --format prometheus`: one sample per container, one exposition.
pub(crate) fn once(endpoints: Vec<Endpoint>, opts: &StatsOpts) -> Result<i32, Failure> {
    if !opts.no_stream {
        return Err(Failure::Usage(
            "--format prometheus needs --no-stream (dockstat serve exposes a stream)".into(),
        ));
    }
    let mut exporter = exporter(&endpoints, false, &[]);
    let mode = if opts.one_shot {
        Mode::OneShot
    } else {
        Mode::Once
    };
    let single = endpoints.len() == 1;
    let mut config = config(endpoints, mode)?;
    if !opts.containers.is_empty() {
        config.selection = Selection::Named(opts.containers.clone());
    } else if opts.all {
        config.selection = Selection::All;
    }
    if let Some(max) = opts.max_streams {
        config.max_streams = max;
    }
    config.cpu_limits = opts.cpu_limit;
    opts.source.apply(&mut config);
    let mut engine = Engine::new(config)?;
    Process::install_stop_signals();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut reported = HashSet::new();
    let mut failed = false;
    let mut fatal = None;
    let mut sampled = 0usize;
    while !engine.is_done() && !Process::stop_signal_received() && Instant::now() < deadline {
        engine.poll(Some(Duration::from_millis(250)), &mut |event| {
            match &event {
                Event::Sample { .. } => sampled += 1,
                Event::Error {
                    container, error, ..
                } if !matches!(
                    error.kind(),
                    ErrorKind::ResourceLimit | ErrorKind::StreamLimit
                ) =>
                {
                    failed = true;
                    if container.is_none() && single && sampled == 0 {
                        fatal = Some((*error).clone());
                    } else {
                        report(&mut reported, error);
                    }
                }
                _ => {}
            }
            exporter.on_event(&event);
            dockstat::engine::Control::Continue
        })?;
        if let Some(e) = fatal.take() {
            return Err(Failure::Engine(e));
        }
    }
    exporter.publish(Some(&engine));
    let mut body = Vec::new();
    render(
        &exporter.shared().snapshot(),
        ExpositionFormat::Text,
        &mut body,
    );
    let stdout = io::stdout();
    let mut out = stdout.lock();
    out.write_all(&body)
        .and_then(|()| out.flush())
        .map_err(Failure::Output)?;
    Ok(if failed { 1 } else { 0 })
}
