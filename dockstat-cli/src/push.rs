//! `dockstat push`: the engine's samples sent to a Prometheus remote-write receiver, an
//! OTLP/HTTP metrics receiver, or both (a sender each, with its own buffer and counters).
//!
//! The engine runs on this thread and feeds the same exporter as `serve`; every `--every`
//! seconds the rows that got a new sample since the last batch, the hosts' states and the
//! engine's counters go to the library's sender (`dockstat::export`) as one batch, which a
//! thread of its own delivers, buffers and retries. This thread never waits for the network.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dockstat::engine::{Control, Endpoint, Engine, Event, Mode};
use dockstat::export::{Format, Note, Otlp, Outcome, PushConfig, RemoteWrite, Sender, Target};
use dockstat::prom::{Row, Snapshot};
use dockstat::tls::{TlsConnector, TlsOptions};
use dockstat::{Error, ErrorKind};

use crate::Failure;
use crate::serve::{DEFAULT_READ_PERIOD, PUBLISH_ENGINE, config, exporter, report};
use dockstat::sys::Process;

#[derive(Clone, Debug)]
pub(crate) struct PushOpts {
    pub(crate) remote_write: Option<String>,
    /// An OTLP/HTTP metrics receiver's full URL (`…/v1/metrics`).
    pub(crate) otlp: Option<String>,
    pub(crate) otlp_gzip: bool,
    pub(crate) every: Duration,
    pub(crate) headers: Vec<(String, String)>,
    /// `--label NAME=VALUE`: added to every remote-write series (after the defaults,
    /// `instance` = this machine's name and `job` = `dockstat`; an empty value removes one).
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) timeout: Duration,
    pub(crate) buffer: usize,
    pub(crate) with_image: bool,
    pub(crate) label_allowlist: Vec<String>,
    /// Append what each batch carried (or that it was dropped) to this file.
    pub(crate) record: Option<PathBuf>,
    pub(crate) cacert: Option<PathBuf>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    /// Where the numbers come from (`--source` and its options, as `serve` has them).
    pub(crate) source: crate::args::SourceOpts,
}

impl Default for PushOpts {
    fn default() -> PushOpts {
        PushOpts {
            remote_write: None,
            otlp: None,
            otlp_gzip: false,
            every: Duration::from_secs(15),
            headers: Vec::new(),
            labels: Vec::new(),
            timeout: Duration::from_secs(10),
            buffer: 60,
            with_image: false,
            label_allowlist: Vec::new(),
            record: None,
            cacert: None,
            cert: None,
            key: None,
            source: crate::args::SourceOpts::default(),
        }
    }
}

/// `--label NAME=VALUE` as a (name, value) pair: a Prometheus label name that is not
/// reserved (`__…`); the value may be empty (it then removes the label).
pub(crate) fn label(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("--label {text:?}: expected NAME=VALUE"))?;
    let mut bytes = name.bytes();
    let start = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !start || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "--label {text:?}: {name:?} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "--label {text:?}: names that start with __ are Prometheus' own"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

/// `--header 'Name: value'` as a (name, value) pair.
pub(crate) fn header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("--header {text:?}: expected 'Name: value'"))?;
    let name = name.trim();
    let value = value.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(format!("--header {text:?}: {name:?} is not a header name"));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(format!(
            "--header {text:?}: the value holds a control character"
        ));
    }
    const OURS: [&str; 7] = [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "content-type",
        "content-encoding",
        "x-prometheus-remote-write-version",
    ];
    if OURS.iter().any(|o| name.eq_ignore_ascii_case(o)) {
        return Err(format!("--header {text:?}: dockstat sets {name} itself"));
    }
    Ok((name.to_string(), value.to_string()))
}

fn target(opts: &PushOpts, url: &str) -> Result<Target, Failure> {
    let https = url
        .trim()
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if !https {
        if opts.cacert.is_some() || opts.cert.is_some() || opts.key.is_some() {
            return Err(Failure::Usage(
                "--push-tlscacert, --push-tlscert and --push-tlskey need an https:// URL".into(),
            ));
        }
        return Ok(Target::parse(url)?);
    }
    let connector = TlsConnector::new(&TlsOptions {
        verify: true,
        ca: opts.cacert.clone(),
        cert: opts.cert.clone(),
        key: opts.key.clone(),
        cert_path: None,
    })?;
    Ok(Target::parse_tls(url, connector)?)
}

/// The record file: `# batch SEQ OUTCOME SAMPLES` then the batch's series.
fn recorder(path: &PathBuf) -> Result<BufWriter<File>, Failure> {
    File::create(path).map(BufWriter::new).map_err(|e| {
        Failure::Engine(
            Error::io(ErrorKind::Io, e).context(format!("cannot create {}", path.display())),
        )
    })
}

/// Keeps the rows with a reading newer than the one last sent for them; returns the last
/// rows sent of the containers that are gone from the table (gone, or stale).
fn fresh_rows(snap: &mut Snapshot, sent: &mut HashMap<Arc<str>, Row>) -> Vec<Row> {
    let mut now = HashMap::with_capacity(snap.rows.len());
    snap.rows.retain(|row| {
        let last = sent.remove(&row.labels);
        let newer = last.as_ref().is_none_or(|l| row.read_ms > l.read_ms);
        now.insert(Arc::clone(&row.labels), row.clone());
        newer
    });
    let ended = std::mem::take(sent).into_values().collect();
    *sent = now;
    ended
}

/// The `host.name` of a daemon's containers: the host of a `tcp://`/`http(s)://` URL, the
/// machine's own name for a unix socket (the daemon runs here).
fn host_name(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return machine_name();
    };
    if scheme.eq_ignore_ascii_case("unix") || scheme.eq_ignore_ascii_case("npipe") {
        return machine_name();
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        machine_name()
    } else {
        host.to_string()
    }
}

/// The kernel's host name (`uname -n`).
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

pub(crate) fn push(endpoints: Vec<Endpoint>, opts: &PushOpts) -> Result<i32, Failure> {
    if opts.remote_write.is_none() && opts.otlp.is_none() {
        return Err(Failure::Usage(
            "push needs --remote-write URL or --otlp URL (like http://127.0.0.1:4318/v1/metrics)"
                .into(),
        ));
    }
    if opts.every.is_zero() {
        return Err(Failure::Usage("--every must be more than 0 seconds".into()));
    }
    let hosts: Vec<String> = endpoints.iter().map(|e| e.url().to_string()).collect();
    let mut outputs: Vec<(&str, Target, Box<dyn Format>, &'static str)> = Vec::new();
    if let Some(url) = opts.remote_write.as_deref() {
        // What a scrape of `serve` would add: the series of many machines stay apart.
        let mut labels = vec![
            ("instance".to_string(), machine_name()),
            ("job".to_string(), "dockstat".to_string()),
        ];
        labels.extend(opts.labels.iter().cloned());
        let format = Box::new(RemoteWrite::new(hosts.clone()).with_labels(labels));
        outputs.push((url, target(opts, url)?, format, "# batch"));
    }
    if let Some(url) = opts.otlp.as_deref() {
        let names = (hosts.iter()).map(|h| (h.clone(), host_name(h))).collect();
        let format = Box::new(Otlp::new(names, opts.otlp_gzip));
        outputs.push((url, target(opts, url)?, format, "# otlp batch"));
    }
    // OTLP's resource has the image (container.image.name), so the exporter adds it.
    let with_image = opts.with_image || opts.otlp.is_some();
    let mut exporter = exporter(&endpoints, with_image, &opts.label_allowlist);
    let mut config = config(endpoints, Mode::Stream)?;
    // A batch takes each container's latest sample: reading more often than half the
    // interval would only be discarded.
    config.read_period = DEFAULT_READ_PERIOD.min(opts.every / 2);
    // The CPU limit series, as `serve` has them (the cgroupfs source reads it with its files).
    config.cpu_limits = true;
    opts.source.apply(&mut config);
    let mut engine = Engine::new(config)?;
    Process::install_stop_signals();

    let record = Arc::new(Mutex::new(opts.record.as_ref().map(recorder).transpose()?));
    let mut senders = Vec::new();
    for (url, target, format, tag) in outputs {
        let record = Arc::clone(&record);
        let observer = Box::new(move |note: &Note<'_>| match note {
            // The TLS messages name the daemon's options; the receiver's are these.
            Note::State(line) => eprintln!(
                "dockstat: {}",
                line.replace("--tlscert and --tlskey", "--push-tlscert and --push-tlskey")
            ),
            Note::Settled {
                seq,
                outcome,
                samples,
                series,
            } => {
                let mut record = record.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(out) = &mut *record {
                    let outcome = match outcome {
                        Outcome::Sent => "sent",
                        Outcome::Failed => "failed",
                        Outcome::Dropped => "dropped",
                    };
                    let _ = writeln!(out, "{tag} {seq} {outcome} {samples}");
                    let _ = out.write_all(series.unwrap_or_default().as_bytes());
                    let _ = out.flush();
                }
            }
        });
        let config = PushConfig {
            timeout: opts.timeout,
            buffer: opts.buffer,
            headers: opts.headers.clone(),
            record: opts.record.is_some(),
            ..PushConfig::default()
        };
        senders.push((url, Sender::start(target, config, format, observer)?));
    }
    let shared = exporter.shared();
    let mut reported = HashSet::new();
    let mut sent = HashMap::new();
    let mut next_publish = Instant::now();
    let mut next_batch = Instant::now() + opts.every;
    let batch = |senders: &mut Vec<(&str, Sender)>, sent: &mut HashMap<_, _>| {
        let mut snap = shared.snapshot();
        let ended = fresh_rows(&mut snap, sent);
        if let Some(((_, last), others)) = senders.split_last_mut() {
            for (_, s) in others {
                s.push(snap.clone(), ended.clone());
            }
            last.push(snap, ended);
        }
    };
    while !Process::stop_signal_received() {
        let now = Instant::now();
        let wait = PUBLISH_ENGINE.min(next_batch.saturating_duration_since(now));
        engine.poll(Some(wait), &mut |event| {
            if let Event::Error { error, .. } = &event {
                report(&mut reported, error);
            }
            exporter.on_event(&event);
            Control::Continue
        })?;
        let now = Instant::now();
        if now >= next_batch {
            exporter.publish(Some(&engine));
            next_publish = now + PUBLISH_ENGINE;
            batch(&mut senders, &mut sent);
            next_batch += opts.every;
            if next_batch <= now {
                next_batch = now + opts.every;
            }
        } else if now >= next_publish {
            next_publish = now + PUBLISH_ENGINE;
            exporter.publish(Some(&engine));
        } else {
            exporter.publish(None);
        }
    }
    // Ctrl-C: the rows since the last batch too, then what the timeout allows.
    exporter.publish(Some(&engine));
    batch(&mut senders, &mut sent);
    // Each sender gets the whole --timeout, at the same time.
    let closed: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (senders.into_iter())
            .map(|(url, s)| (url, scope.spawn(move || s.close(opts.timeout))))
            .collect();
        (handles.into_iter())
            .map(|(url, h)| (url, h.join().unwrap_or_default()))
            .collect()
    });
    for (url, stats) in closed {
        let lost = stats.dropped_batches + stats.failed_batches;
        if lost > 0 {
            eprintln!(
                "dockstat: push to {url}: {} of {} batches not delivered ({} dropped, {} refused)",
                lost,
                lost + stats.sent_batches,
                stats.dropped_batches,
                stats.failed_batches
            );
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            header("X-Scope-OrgID:  team-a "),
            Ok(("X-Scope-OrgID".into(), "team-a".into()))
        );
        assert_eq!(
            header("Authorization: Bearer a:b"),
            Ok(("Authorization".into(), "Bearer a:b".into()))
        );
        for bad in ["no colon", ": v", "a b: c", "Content-Type: x", "X: a\u{1}"] {
            assert!(header(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(label("dc=eu-1"), Ok(("dc".into(), "eu-1".into())));
        assert_eq!(label("instance="), Ok(("instance".into(), String::new())));
        assert_eq!(label("_a1=x=y"), Ok(("_a1".into(), "x=y".into())));
        for bad in ["dc", "=x", "1a=x", "a-b=x", "__name__=x", "é=x"] {
            assert!(label(bad).is_err(), "{bad}");
        }
    }
}
