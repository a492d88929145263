//! Prometheus and OpenMetrics exposition of the engine's samples and its own metrics.
//!
//! The engine thread feeds an [`Exporter`] from its handler ([`Exporter::on_event`]): each
//! sample's few numbers become a [`Row`] kept aside without a lock, and after each reactor
//! turn [`Exporter::publish`] moves the turn's rows into a [`SharedTable`] under one lock
//! (O(rows changed)). A reader — the scrape [`server`] on its own thread, or a one-off —
//! copies the table out under the lock ([`SharedTable::snapshot`]: a copy of small rows and
//! a reference count per row, about a millisecond for 10,000 containers) and renders outside
//! it ([`render`]), so a scrape never holds up frames for longer than that copy.
//!
//! Per container (labels `host`, `id`, `name`, optionally `image` and `label_<key>`):
//! `dockstat_container_cpu_seconds_total`, `_cpu_percent`, `_memory_used_bytes`,
//! `_memory_limit_bytes`, `_memory_cache_bytes`, `_network_receive_bytes_total`,
//! `_network_transmit_bytes_total`, `_block_read_bytes_total`, `_block_write_bytes_total`,
//! `_pids`; `_cpu_user_seconds_total`, `_cpu_system_seconds_total`; where known, CFS
//! throttling (`_cpu_cfs_periods_total`, `_cpu_cfs_throttled_periods_total`,
//! `_cpu_cfs_throttled_seconds_total`, once a period has been enforced), the CPU limit
//! (`_spec_cpu_quota`, `_spec_cpu_period`, in microseconds) and pressure stall time
//! (`_pressure_{cpu,memory,io}_{waiting,stalled}_seconds_total`: `some` and `full`), named as
//! cAdvisor names them. Counters are the daemon's raw cumulative counters: when a container restarts they
//! go back, which Prometheus treats as a counter reset. A container that is stale or gone is
//! not exposed; a stale one comes back with its next sample.
//!
//! Per host (label `host`): `dockstat_host_up` (1 while its discovery works, else 0),
//! `dockstat_host_containers`, `dockstat_host_errors_total`, `dockstat_host_reconnects_total`
//! and `dockstat_host_last_success_timestamp_seconds`, from [`Engine::host_states`]: a host
//! without containers is there too, so a daemon that is down shows as 0 rather than as nothing.
//!
//! Engine self-metrics: `dockstat_engine_*` gauges of streams by state, counters of frames,
//! bytes, decode errors by kind, stream errors and reconnects, and the histograms of per-frame
//! processing time and daemon-to-delivery lag ([`crate::engine::EngineMetrics`]).

#![forbid(unsafe_code)]

pub mod server;

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::engine::histogram::HISTOGRAM_BUCKETS;
use crate::engine::{Counters, Engine, EngineMetrics, Event, Gone, Histogram, HostState};
use crate::stats::{CpuLimit, Pressure, Pressures, Throttling};

/// Which exposition format to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
}

impl ExpositionFormat {
    /// OpenMetrics when an `Accept` header asks for `application/openmetrics-text`, else the
    /// Prometheus text format.
    pub fn from_accept(accept: Option<&[u8]>) -> ExpositionFormat {
        match accept {
            Some(a) if contains_ignore_case(a, b"application/openmetrics-text") => {
                ExpositionFormat::OpenMetrics
            }
            _ => ExpositionFormat::Text,
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::Text => "text/plain; version=0.0.4; charset=utf-8",
            ExpositionFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
        }
    }
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// What the per-container series carry besides `host`, `id` and `name`.
#[derive(Clone, Debug, Default)]
pub struct ExporterConfig {
    /// The `host` label of each of the engine's hosts, by index (their URLs).
    pub hosts: Vec<String>,
    /// Add an `image` label.
    pub with_image: bool,
    /// Container labels to expose, by key, as `label_<key>` with every character other than
    /// ASCII letters, digits and `_` replaced by `_` (the first of two keys that sanitize
    /// alike wins).
    pub label_allowlist: Vec<String>,
}

/// One container's latest numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The rendered label set (`host="…",id="…",name="…"`), escaped.
    pub labels: Arc<str>,
    /// The same labels as (name, value) pairs, unescaped, in the same order (for encoders
    /// other than the text formats: remote-write).
    pub pairs: Arc<[(String, String)]>,
    /// When the daemon took the reading (the frame's `read`), in milliseconds since the Unix
    /// epoch.
    pub read_ms: i64,
    /// `cpu_stats.cpu_usage.total_usage` in nanoseconds.
    pub cpu_nanos: u64,
    pub cpu_percent: f64,
    pub mem_used: u64,
    pub mem_limit: u64,
    /// `memory_stats.stats.cache` (cgroup v1), else `inactive_file`, when the frame has one.
    pub mem_cache: Option<u64>,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    /// `usage_in_usermode` and `usage_in_kernelmode` in nanoseconds.
    pub cpu_user_nanos: u64,
    pub cpu_system_nanos: u64,
    /// CFS bandwidth enforcement (`throttled_time` in nanoseconds).
    pub throttling: Throttling,
    /// The container's CPU limit, when known.
    pub cpu_limit: Option<CpuLimit>,
    /// Pressure stall information, where known.
    pub pressure: Pressures,
    /// When this container's counters started as the exporter saw them: the reading time
    /// (ms) of its first sample, again after a counter went back (a restart) or after it was
    /// gone (for exports that carry a series' start, such as OTLP's cumulative sums).
    pub start_ms: i64,
    /// Per network interface: name, received and transmitted bytes.
    pub networks: Arc<[(String, u64, u64)]>,
}

#[derive(Debug, Default)]
struct Table {
    /// By container key.
    rows: Vec<Option<Row>>,
    counters: Counters,
    metrics: Option<EngineMetrics>,
    hosts: Vec<(Arc<str>, HostState)>,
}

/// The table shared between the engine thread (writer) and the readers.
#[derive(Debug, Default)]
pub struct SharedTable {
    table: Mutex<Table>,
}

impl SharedTable {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of everything, taken under the lock (rows are a few dozen bytes each).
    pub fn snapshot(&self) -> Snapshot {
        let table = self.lock();
        Snapshot {
            rows: table.rows.iter().flatten().cloned().collect(),
            counters: table.counters,
            metrics: table.metrics,
            hosts: table.hosts.clone(),
        }
    }
}

/// What [`render`] renders.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub rows: Vec<Row>,
    pub counters: Counters,
    /// `None`: no engine metrics (they are not rendered).
    pub metrics: Option<EngineMetrics>,
    /// Each host's rendered label set (`host="…"`) and state, in the engine's order.
    pub hosts: Vec<(Arc<str>, HostState)>,
}

#[derive(Debug)]
struct Meta {
    id: String,
    name: String,
    labels: Arc<str>,
    pairs: Arc<[(String, String)]>,
    /// [`Row::start_ms`], and the counters of the last sample, to see them go back.
    start_ms: i64,
    last: [u64; 5],
}

/// Turns engine events into rows of a [`SharedTable`]; lives on the engine's thread.
#[derive(Debug)]
pub struct Exporter {
    config: ExporterConfig,
    /// Sanitized label names of `label_allowlist`, in the same order (`None`: a duplicate).
    label_names: Vec<Option<String>>,
    /// By container key: the label set rendered for it.
    meta: Vec<Option<Meta>>,
    /// Rows changed since the last publish (`None`: the row goes).
    pending: Vec<(u32, Option<Row>)>,
    /// By host index: its label set.
    host_labels: Vec<Arc<str>>,
    shared: Arc<SharedTable>,
}

impl Exporter {
    pub fn new(config: ExporterConfig) -> Exporter {
        let mut seen = Vec::new();
        let label_names = config
            .label_allowlist
            .iter()
            .map(|k| {
                let name = format!("label_{}", sanitize_label_name(k));
                (!seen.contains(&name)).then(|| {
                    seen.push(name.clone());
                    name
                })
            })
            .collect();
        let host_labels = (config.hosts.iter())
            .map(|url| {
                let mut s = String::new();
                push_label(&mut s, "host", url);
                s.into()
            })
            .collect();
        Exporter {
            config,
            label_names,
            host_labels,
            meta: Vec::new(),
            pending: Vec::new(),
            shared: Arc::new(SharedTable::default()),
        }
    }

    /// The table the rows are published to.
    pub fn shared(&self) -> Arc<SharedTable> {
        Arc::clone(&self.shared)
    }

    /// Takes in one engine event (no lock, no allocation per sample unless the container's
    /// id or name changed).
    pub fn on_event(&mut self, event: &Event<'_>) {
        match *event {
            Event::Sample {
                container,
                sample,
                derived,
            } => {
                let key = container.key as usize;
                if self.meta.len() <= key {
                    self.meta.resize_with(key + 1, || None);
                }
                let id = if sample.id.is_empty() {
                    container.id.as_str()
                } else {
                    sample.id
                };
                let name = match sample.name.strip_prefix('/').unwrap_or(sample.name) {
                    "" => container.name.as_str(),
                    n => n,
                };
                let fresh = matches!(&self.meta[key], Some(m) if m.id == id && m.name == name);
                if !fresh {
                    let pairs = self.label_pairs(container, id, name);
                    let mut labels = String::with_capacity(128);
                    for (name, value) in &pairs {
                        push_label(&mut labels, name, value);
                    }
                    self.meta[key] = Some(Meta {
                        id: id.to_string(),
                        name: name.to_string(),
                        labels: labels.into(),
                        pairs: pairs.into(),
                        start_ms: i64::MIN,
                        last: [0; 5],
                    });
                }
                let Some(meta) = &mut self.meta[key] else {
                    return;
                };
                // Windows frames count CPU in 100 ns units.
                let cpu_unit = if sample.num_procs > 0 { 100 } else { 1 };
                let read = sample.read;
                let read_ms = read.secs.saturating_mul(1000) + i64::from(read.nanos / 1_000_000);
                let counters = [
                    sample.cpu.total_usage,
                    derived.net_rx,
                    derived.net_tx,
                    derived.block_read,
                    derived.block_write,
                ];
                if meta.start_ms == i64::MIN || counters.iter().zip(&meta.last).any(|(n, l)| n < l)
                {
                    meta.start_ms = read_ms;
                }
                meta.last = counters;
                let networks: Arc<[(String, u64, u64)]> = (sample.networks.iter())
                    .map(|n| (n.name.to_string(), n.rx_bytes, n.tx_bytes))
                    .collect();
                let row = Row {
                    labels: Arc::clone(&meta.labels),
                    pairs: Arc::clone(&meta.pairs),
                    read_ms,
                    cpu_nanos: sample.cpu.total_usage.saturating_mul(cpu_unit),
                    cpu_percent: derived.cpu_percent,
                    mem_used: derived.mem_used as u64,
                    mem_limit: derived.mem_limit as u64,
                    mem_cache: sample.memory.cache.or(sample.memory.inactive_file),
                    net_rx: derived.net_rx,
                    net_tx: derived.net_tx,
                    block_read: derived.block_read,
                    block_write: derived.block_write,
                    pids: derived.pids,
                    cpu_user_nanos: sample.cpu.user_usage.saturating_mul(cpu_unit),
                    cpu_system_nanos: sample.cpu.system_usage.saturating_mul(cpu_unit),
                    throttling: sample.cpu.throttling,
                    cpu_limit: sample.cpu_limit,
                    pressure: sample.pressure,
                    start_ms: meta.start_ms,
                    networks,
                };
                self.pending.push((container.key, Some(row)));
            }
            Event::Stale(c) => self.pending.push((c.key, None)),
            // A one-off's containers go once sampled: their rows stay, to be printed.
            Event::Gone {
                why: Gone::Done, ..
            } => {}
            Event::Gone { container, .. } => {
                if let Some(m) = self.meta.get_mut(container.key as usize) {
                    *m = None;
                }
                self.pending.push((container.key, None));
            }
            Event::Added(_) | Event::Error { .. } => {}
        }
    }

    /// Publishes the rows changed since the last call, under one lock; with an engine, its
    /// counters, histograms and host states too ([`Engine::counters`] and
    /// [`Engine::host_states`] walk every stream: call it with an engine a few times a
    /// second, not every turn).
    pub fn publish(&mut self, engine: Option<&Engine>) {
        let counters = engine.map(|e| (e.counters(), *e.metrics(), self.host_rows(e)));
        if self.pending.is_empty() && counters.is_none() {
            return;
        }
        let mut table = self.shared.lock();
        for (key, row) in self.pending.drain(..) {
            let key = key as usize;
            if table.rows.len() <= key {
                table.rows.resize_with(key + 1, || None);
            }
            table.rows[key] = row;
        }
        if let Some((counters, metrics, hosts)) = counters {
            table.counters = counters;
            table.metrics = Some(metrics);
            table.hosts = hosts;
        }
    }

    fn host_rows(&self, engine: &Engine) -> Vec<(Arc<str>, HostState)> {
        let states = engine.host_states();
        (states.into_iter().enumerate())
            .map(|(i, state)| {
                let labels = self.host_labels.get(i).cloned();
                (
                    labels.unwrap_or_else(|| format!("host=\"{i}\"").into()),
                    state,
                )
            })
            .collect()
    }

    /// A container's labels, in the order of the exposition: `host`, `id`, `name`, `image`,
    /// then the allowlisted `label_<key>`s.
    fn label_pairs(
        &self,
        c: &crate::engine::Container,
        id: &str,
        name: &str,
    ) -> Vec<(String, String)> {
        let host = self.config.hosts.get(c.host).map_or("", String::as_str);
        let mut pairs = vec![
            ("host".to_string(), host.to_string()),
            ("id".to_string(), id.to_string()),
            ("name".to_string(), name.to_string()),
        ];
        if self.config.with_image {
            pairs.push(("image".to_string(), c.image.clone()));
        }
        for (key, label) in self.config.label_allowlist.iter().zip(&self.label_names) {
            let Some(label) = label else { continue };
            if let Some((_, v)) = c.labels.iter().find(|(k, _)| k == key) {
                pairs.push((label.clone(), v.clone()));
            }
        }
        pairs
    }
}

/// A label key as a Prometheus label name: every character other than `[A-Za-z0-9_]` is `_`.
pub fn sanitize_label_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Appends `name="value"` (with a leading comma unless first), the value escaped as both
/// formats require: backslash, double quote and newline.
pub(crate) fn push_label(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A metric family's type.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
}

/// A sample's value: integers print without a fraction in the text formats.
pub(crate) enum Value {
    Int(u64),
    Float(f64),
}

impl Value {
    /// The value as a float, as Prometheus stores every sample.
    #[cfg(feature = "push")]
    pub(crate) fn as_f64(&self) -> f64 {
        match *self {
            Value::Int(n) => n as f64,
            Value::Float(x) => x,
        }
    }
}

/// Container families: name (counters with `_total`), kind, help, value.
pub(crate) type Family = (&'static str, Kind, &'static str, fn(&Row) -> Option<Value>);

/// The per-container series every exporter writes (the text formats here, remote-write in
/// `crate::export`).
pub(crate) const CONTAINER_FAMILIES: &[Family] = &[
    (
        "dockstat_container_cpu_seconds_total",
        Kind::Counter,
        "CPU time used by the container (cpu_stats.cpu_usage.total_usage).",
        |r| Some(Value::Float(r.cpu_nanos as f64 / 1e9)),
    ),
    (
        "dockstat_container_cpu_percent",
        Kind::Gauge,
        "CPU percent as docker stats shows it (100 = one CPU).",
        |r| Some(Value::Float(r.cpu_percent)),
    ),
    (
        "dockstat_container_memory_used_bytes",
        Kind::Gauge,
        "Memory used without the page cache, as docker stats shows it.",
        |r| Some(Value::Int(r.mem_used)),
    ),
    (
        "dockstat_container_memory_limit_bytes",
        Kind::Gauge,
        "Memory limit.",
        |r| Some(Value::Int(r.mem_limit)),
    ),
    (
        "dockstat_container_memory_cache_bytes",
        Kind::Gauge,
        "Page cache (memory_stats.stats.cache, else inactive_file).",
        |r| r.mem_cache.map(Value::Int),
    ),
    (
        "dockstat_container_network_receive_bytes_total",
        Kind::Counter,
        "Bytes received over all interfaces.",
        |r| Some(Value::Int(r.net_rx)),
    ),
    (
        "dockstat_container_network_transmit_bytes_total",
        Kind::Counter,
        "Bytes sent over all interfaces.",
        |r| Some(Value::Int(r.net_tx)),
    ),
    (
        "dockstat_container_block_read_bytes_total",
        Kind::Counter,
        "Bytes read from block devices.",
        |r| Some(Value::Int(r.block_read)),
    ),
    (
        "dockstat_container_block_write_bytes_total",
        Kind::Counter,
        "Bytes written to block devices.",
        |r| Some(Value::Int(r.block_write)),
    ),
    (
        "dockstat_container_pids",
        Kind::Gauge,
        "Processes and threads in the container.",
        |r| Some(Value::Int(r.pids)),
    ),
    (
        "dockstat_container_cpu_user_seconds_total",
        Kind::Counter,
        "CPU time used in user mode (cpu_stats.cpu_usage.usage_in_usermode).",
        |r| Some(Value::Float(r.cpu_user_nanos as f64 / 1e9)),
    ),
    (
        "dockstat_container_cpu_system_seconds_total",
        Kind::Counter,
        "CPU time used in kernel mode (cpu_stats.cpu_usage.usage_in_kernelmode).",
        |r| Some(Value::Float(r.cpu_system_nanos as f64 / 1e9)),
    ),
    (
        "dockstat_container_cpu_cfs_periods_total",
        Kind::Counter,
        "CFS enforcement periods that have elapsed (present once one has).",
        |r| cfs(r).map(|t| Value::Int(t.periods)),
    ),
    (
        "dockstat_container_cpu_cfs_throttled_periods_total",
        Kind::Counter,
        "CFS enforcement periods in which the container was throttled.",
        |r| cfs(r).map(|t| Value::Int(t.throttled_periods)),
    ),
    (
        "dockstat_container_cpu_cfs_throttled_seconds_total",
        Kind::Counter,
        "Time the container was throttled by its CPU limit.",
        |r| cfs(r).map(|t| Value::Float(t.throttled_time as f64 / 1e9)),
    ),
    (
        "dockstat_container_spec_cpu_quota",
        Kind::Gauge,
        "CPU quota of the container's limit, in microseconds per period.",
        |r| r.cpu_limit.map(|l| Value::Int(l.quota_us)),
    ),
    (
        "dockstat_container_spec_cpu_period",
        Kind::Gauge,
        "CPU period of the container's limit, in microseconds.",
        |r| r.cpu_limit.map(|l| Value::Int(l.period_us)),
    ),
    (
        "dockstat_container_pressure_cpu_waiting_seconds_total",
        Kind::Counter,
        "Time some task of the container waited for CPU (cpu.pressure some).",
        |r| some_total(r.pressure.cpu),
    ),
    (
        "dockstat_container_pressure_cpu_stalled_seconds_total",
        Kind::Counter,
        "Time every task of the container was stalled on CPU (cpu.pressure full).",
        |r| full_total(r.pressure.cpu),
    ),
    (
        "dockstat_container_pressure_memory_waiting_seconds_total",
        Kind::Counter,
        "Time some task of the container waited for memory (memory.pressure some).",
        |r| some_total(r.pressure.memory),
    ),
    (
        "dockstat_container_pressure_memory_stalled_seconds_total",
        Kind::Counter,
        "Time every task of the container was stalled on memory (memory.pressure full).",
        |r| full_total(r.pressure.memory),
    ),
    (
        "dockstat_container_pressure_io_waiting_seconds_total",
        Kind::Counter,
        "Time some task of the container waited for I/O (io.pressure some).",
        |r| some_total(r.pressure.io),
    ),
    (
        "dockstat_container_pressure_io_stalled_seconds_total",
        Kind::Counter,
        "Time every task of the container was stalled on I/O (io.pressure full).",
        |r| full_total(r.pressure.io),
    ),
];

/// Throttling once CFS has enforced a period: without a limit the counters stay zero, and
/// cAdvisor leaves those series out too.
fn cfs(r: &Row) -> Option<Throttling> {
    (r.throttling.periods > 0).then_some(r.throttling)
}

fn some_total(p: Option<Pressure>) -> Option<Value> {
    p.map(|p| Value::Float(p.some.total_us as f64 / 1e6))
}

fn full_total(p: Option<Pressure>) -> Option<Value> {
    p.and_then(|p| p.full)
        .map(|f| Value::Float(f.total_us as f64 / 1e6))
}

/// Renders a snapshot in `format`, appending to `out`.
pub fn render(snap: &Snapshot, format: ExpositionFormat, out: &mut Vec<u8>) {
    let mut s = String::with_capacity(snap.rows.len() * 1200 + 8192);
    let om = format == ExpositionFormat::OpenMetrics;
    for &(name, kind, help, value) in CONTAINER_FAMILIES {
        header(&mut s, om, name, kind, help);
        for row in &snap.rows {
            let Some(v) = value(row) else { continue };
            s.push_str(name);
            s.push('{');
            s.push_str(&row.labels);
            s.push_str("} ");
            push_value(&mut s, v);
            s.push('\n');
        }
    }
    render_hosts(&mut s, om, &snap.hosts);
    if let Some(metrics) = &snap.metrics {
        render_engine(&mut s, om, &snap.counters, metrics, snap.rows.len());
    }
    if om {
        s.push_str("# EOF\n");
    }
    out.extend_from_slice(s.as_bytes());
}

fn header(s: &mut String, om: bool, name: &str, kind: Kind, help: &str) {
    // OpenMetrics names the counter family without `_total`.
    let family = match kind {
        Kind::Counter if om => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    };
    let kind = match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
    };
    let _ = writeln!(s, "# HELP {family} {help}\n# TYPE {family} {kind}");
    // OpenMetrics states the unit a family's name ends with.
    if om {
        if let Some(unit) = ["seconds", "bytes"]
            .into_iter()
            .find(|u| family.strip_suffix(u).is_some_and(|f| f.ends_with('_')))
        {
            let _ = writeln!(s, "# UNIT {family} {unit}");
        }
    }
}

fn push_value(s: &mut String, v: Value) {
    match v {
        Value::Int(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Float(x) => push_float(s, x),
    }
}

fn push_float(s: &mut String, x: f64) {
    if x.is_nan() {
        s.push_str("NaN");
    } else if x.is_infinite() {
        s.push_str(if x > 0.0 { "+Inf" } else { "-Inf" });
    } else if x == x.trunc() && x.abs() < 1e15 {
        // `1.0`, not `1`: the same float either way, and unambiguous.
        let _ = write!(s, "{x:.1}");
    } else {
        let _ = write!(s, "{x}");
    }
}

/// Host families: name, kind, help, value (`None`: no sample).
pub(crate) type HostFamily = (
    &'static str,
    Kind,
    &'static str,
    fn(&HostState) -> Option<Value>,
);

/// The per-host series every exporter writes.
pub(crate) const HOST_FAMILIES: &[HostFamily] = &[
    (
        "dockstat_host_up",
        Kind::Gauge,
        "1 when the host's discovery works (its last container listing succeeded and its \
         /events connection is open), 0 while it cannot be reached or answers errors.",
        |h| Some(Value::Int(u64::from(h.up))),
    ),
    (
        "dockstat_host_containers",
        Kind::Gauge,
        "Containers of the host watched now.",
        |h| Some(Value::Int(h.containers as u64)),
    ),
    (
        "dockstat_host_errors_total",
        Kind::Counter,
        "Errors reported for the host: its discovery and its containers' stats streams.",
        |h| Some(Value::Int(h.errors)),
    ),
    (
        "dockstat_host_reconnects_total",
        Kind::Counter,
        "Reconnect attempts to the host: its discovery and its containers' stats streams.",
        |h| Some(Value::Int(h.reconnects)),
    ),
    (
        "dockstat_host_last_success_timestamp_seconds",
        Kind::Gauge,
        "Last time the host was up (while it is up: the last update, else when it went \
         down), in seconds since the Unix epoch; absent until it is first up.",
        |h| {
            let t = h.last_up?.duration_since(std::time::UNIX_EPOCH).ok()?;
            Some(Value::Float(t.as_millis() as f64 / 1e3))
        },
    ),
];

fn render_hosts(s: &mut String, om: bool, hosts: &[(Arc<str>, HostState)]) {
    if hosts.is_empty() {
        return;
    }
    for &(name, kind, help, value) in HOST_FAMILIES {
        header(s, om, name, kind, help);
        for (labels, state) in hosts {
            let Some(v) = value(state) else { continue };
            let _ = write!(s, "{name}{{{labels}}} ");
            push_value(s, v);
            s.push('\n');
        }
    }
}

/// The engine's gauges (name, help, value); `rows`: the containers exposed.
pub(crate) fn engine_gauges(c: &Counters, rows: usize) -> [(&'static str, &'static str, usize); 7] {
    [
        ("dockstat_engine_streams", "Containers watched.", c.streams),
        (
            "dockstat_engine_streams_open",
            "Streams with a connection delivering frames.",
            c.open,
        ),
        (
            "dockstat_engine_streams_connecting",
            "Streams whose connection is being opened.",
            c.connecting,
        ),
        (
            "dockstat_engine_streams_reconnecting",
            "Streams waiting to reconnect.",
            c.reconnecting,
        ),
        (
            "dockstat_engine_streams_stale",
            "Streams without a frame for the stale timeout.",
            c.stale,
        ),
        (
            "dockstat_engine_streams_capped",
            "Containers not watched because of max_streams.",
            c.capped,
        ),
        (
            "dockstat_exporter_containers",
            "Containers in this exposition.",
            rows,
        ),
    ]
}

/// The engine's counters (name, help, value).
pub(crate) fn engine_counters(c: &Counters) -> [(&'static str, &'static str, u64); 4] {
    [
        (
            "dockstat_engine_frames_total",
            "Stats frames decoded.",
            c.frames,
        ),
        (
            "dockstat_engine_received_bytes_total",
            "Body bytes received on stats streams.",
            c.bytes,
        ),
        (
            "dockstat_engine_stream_errors_total",
            "Stream failures (each is followed by a reconnect).",
            c.stream_errors,
        ),
        (
            "dockstat_engine_reconnects_total",
            "Stream reconnect attempts.",
            c.reconnects,
        ),
    ]
}

/// `dockstat_engine_decode_errors_total`: its help and its series by `kind`.
pub(crate) const DECODE_ERRORS: (&str, &str) = (
    "dockstat_engine_decode_errors_total",
    "Frames that did not decode, by kind.",
);

/// The values of [`DECODE_ERRORS`] by their `kind` label.
pub(crate) fn decode_errors(c: &Counters) -> [(&'static str, u64); 3] {
    let k = &c.decode_errors_by_kind;
    [
        ("syntax", k.syntax),
        ("too_deep", k.too_deep),
        ("shape", k.shape),
    ]
}

fn render_engine(s: &mut String, om: bool, c: &Counters, m: &EngineMetrics, rows: usize) {
    for (name, help, v) in engine_gauges(c, rows) {
        header(s, om, name, Kind::Gauge, help);
        let _ = writeln!(s, "{name} {v}");
    }
    for (name, help, v) in engine_counters(c) {
        header(s, om, name, Kind::Counter, help);
        let _ = writeln!(s, "{name} {v}");
    }
    let (name, help) = DECODE_ERRORS;
    header(s, om, name, Kind::Counter, help);
    for (kind, v) in decode_errors(c) {
        let _ = writeln!(s, "{name}{{kind=\"{kind}\"}} {v}");
    }
    for (name, help, of) in ENGINE_HISTOGRAMS {
        histogram(s, name, help, of(m));
    }
}

/// The engine's histograms: name, help, and which of [`EngineMetrics`].
pub(crate) type HistogramOf = fn(&EngineMetrics) -> &Histogram;
pub(crate) const ENGINE_HISTOGRAMS: [(&str, &str, HistogramOf); 2] = [
    (
        "dockstat_engine_frame_processing_seconds",
        "Time to read, dechunk, decode, derive and deliver one frame.",
        |m| &m.frame_time,
    ),
    (
        "dockstat_engine_delivery_lag_seconds",
        "Time from a frame's read timestamp (daemon clock) to its delivery.",
        |m| &m.lag,
    ),
];

/// A histogram's classic Prometheus series: `f(le, cumulative count)` per bucket (`le` as
/// the exposition writes it, `+Inf` last), then the sum in seconds.
pub(crate) fn histogram_points(h: &Histogram, f: &mut dyn FnMut(&str, u64)) -> f64 {
    let mut cumulative = 0u64;
    let mut le = String::with_capacity(16);
    for (i, &c) in h.counts().iter().enumerate() {
        cumulative += c;
        le.clear();
        if i == HISTOGRAM_BUCKETS {
            le.push_str("+Inf");
        } else {
            let _ = write!(le, "{:e}", h.bound_nanos(i) as f64 / 1e9);
        }
        f(&le, cumulative);
    }
    h.sum_nanos() as f64 / 1e9
}

fn histogram(s: &mut String, name: &str, help: &str, h: &Histogram) {
    let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} histogram");
    let mut count = 0;
    let sum = histogram_points(h, &mut |le, cumulative| {
        let _ = writeln!(s, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
        count = cumulative;
    });
    let _ = write!(s, "{name}_sum ");
    push_float(s, sum);
    let _ = writeln!(s, "\n{name}_count {count}");
}

#[cfg(test)]
mod tests;
