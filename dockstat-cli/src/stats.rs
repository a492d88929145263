//! `dockstat stats`: the `docker stats` command.
//!
//! - `table` (default), `json` and templates print what `docker stats` prints, column for
//!   column; streaming redraws in place on a terminal (cursor home, each line cleared to its
//!   end, the rest of the screen cleared), which does not flicker.
//! - `ndjson` writes one line of raw numbers per sample as it arrives, flushed per line.
//! - `--no-stream` asks for one sample per container and prints once.
//!
//! SIGINT, SIGTERM and a closed stdout end the command with status 0 and flushed output.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use dockstat::engine::Mode;
use dockstat::engine::{ApiVersion, Control, Endpoint, Engine, EngineConfig, Event, Selection};
use dockstat::stats::{Derived, Platform};
use dockstat::{Error, ErrorKind};

use crate::Failure;
use crate::format::{Cell, Format, Row, json_string};
use crate::units::{bytes_size, human_size, truncate_id};
use dockstat::sys::Process;

const TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
/// With several hosts, the default table says which host each container is on.
const TABLE_HOSTS: &str = "{{.Host}}\t{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const FIELDS: &[&str] = &[
    "BlockIO",
    "CPUPerc",
    "Container",
    "Host",
    "ID",
    "MemPerc",
    "MemUsage",
    "Name",
    "NetIO",
    "PIDs",
];

/// How often a streaming display is redrawn (docker's ticker).
const REDRAW: Duration = Duration::from_millis(500);

/// How long `--no-stream` waits for the slowest container.
const ONCE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, Default)]
pub(crate) struct StatsOpts {
    pub(crate) containers: Vec<String>,
    pub(crate) all: bool,
    pub(crate) no_stream: bool,
    pub(crate) one_shot: bool,
    pub(crate) no_trunc: bool,
    pub(crate) format: Option<String>,
    /// CPU % of the whole host (100 % = every CPU busy) instead of docker's (100 % = one CPU).
    pub(crate) cpu_host: bool,
    /// Order of the rows: cpu, mem, net, block, pids or name (busiest first); none keeps the
    /// daemon's order, as docker does.
    pub(crate) sort: Option<SortKey>,
    /// Show at most this many rows (after sorting).
    pub(crate) limit: Option<usize>,
    /// Stream at most this many containers at once (the engine's `max_streams`).
    pub(crate) max_streams: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SortKey {
    Cpu,
    Mem,
    Net,
    Block,
    Pids,
    Name,
}

impl SortKey {
    pub(crate) fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "cpu" => SortKey::Cpu,
            "mem" | "memory" => SortKey::Mem,
            "net" => SortKey::Net,
            "block" | "io" => SortKey::Block,
            "pids" => SortKey::Pids,
            "name" => SortKey::Name,
            _ => return None,
        })
    }
}

enum Output {
    /// One line per sample, raw numbers.
    Ndjson,
    /// docker's formats, one block per refresh.
    Docker(Format),
}

/// The latest state of one container's row.
struct Entry {
    /// Index of the host in the engine's hosts.
    host: usize,
    /// As asked for: the name given, or the short id from the listing.
    container: String,
    id: String,
    name: String,
    platform: Platform,
    derived: Option<Derived>,
    /// A sample is overdue (docker shows "--").
    stale: bool,
    error: Option<String>,
}

/// The engine's configuration for these hosts, with `DOCKER_API_VERSION` applied; the
/// caller sets what to watch and how.
pub(crate) fn engine_config(endpoints: Vec<Endpoint>) -> Result<EngineConfig, Failure> {
    let Some(first) = endpoints.first().cloned() else {
        return Err(Failure::Usage("no host".into()));
    };
    let mut config = EngineConfig::new(first);
    config.hosts = endpoints;
    config.api_version = ApiVersion::from_env()?;
    Ok(config)
}

/// An engine error as the docker CLI words it (the library words a daemon's error status as
/// "Error response from daemon: …" already).
pub(crate) fn error_message(error: &Error) -> String {
    error.to_string()
}

pub(crate) fn stats(endpoints: Vec<Endpoint>, opts: &StatsOpts) -> Result<i32, Failure> {
    let multi = endpoints.len() > 1;
    let hosts: Vec<String> = endpoints.iter().map(|e| e.url().to_string()).collect();
    let output = match opts.format.as_deref() {
        Some("ndjson") => Output::Ndjson,
        spec => {
            let table = if multi { TABLE_HOSTS } else { TABLE };
            let format = Format::parse(spec.unwrap_or("table"), table).map_err(Failure::Usage)?;
            format.check_fields(FIELDS).map_err(Failure::Usage)?;
            Output::Docker(format)
        }
    };
    Process::install_stop_signals();

    let mut config = engine_config(endpoints)?;
    config.selection = if !opts.containers.is_empty() {
        Selection::Named(opts.containers.clone())
    } else if opts.all {
        Selection::All
    } else {
        Selection::Running
    };
    config.mode = match (opts.no_stream, opts.one_shot) {
        (false, _) => Mode::Stream,
        (true, true) => Mode::OneShot,
        (true, false) => Mode::Once,
    };
    if let Some(max) = opts.max_streams {
        config.max_streams = max;
    }
    let mut engine = Engine::new(config)?;

    let stdout = io::stdout();
    let mut st = State {
        rows: BTreeMap::new(),
        keys: HashMap::new(),
        next_seq: 0,
        out: io::BufWriter::with_capacity(256 << 10, stdout.lock()),
        ndjson: matches!(output, Output::Ndjson),
        once: opts.no_stream,
        line: String::with_capacity(512),
        write_error: None,
        reported: HashSet::new(),
        failed: false,
        fatal: None,
        json: matches!(output, Output::Docker(Format::Json)),
        multi,
        hosts,
    };
    let terminal = io::stdout().is_terminal();

    if opts.no_stream {
        let deadline = Instant::now() + ONCE_TIMEOUT;
        while !engine.is_done() && !Process::stop_signal_received() && st.write_error.is_none() {
            if Instant::now() >= deadline {
                for e in st.rows.values_mut().filter(|e| e.derived.is_none()) {
                    e.error = Some(
                        Error::new(ErrorKind::Timeout)
                            .context(&e.container)
                            .to_string(),
                    );
                }
                break;
            }
            engine.poll(Some(Duration::from_millis(250)), &mut |ev| st.on_event(ev))?;
            if let Some(fatal) = st.fatal.take() {
                return Err(Failure::Engine(fatal));
            }
        }
        for e in st.rows.values() {
            if let Some(err) = &e.error {
                eprintln!("dockstat: {err}");
                st.failed = true;
            }
        }
        if let Output::Docker(format) = &output {
            let rows = st.display_rows(opts, |e| e.error.is_none());
            if let Err(err) = format.write(&mut st.out, &rows, &|f| header(f).to_string()) {
                st.write_error = Some(err);
            }
        }
    } else {
        let mut next_draw = Instant::now() + REDRAW;
        loop {
            if Process::stop_signal_received() || st.write_error.is_some() {
                break;
            }
            let wait = next_draw.saturating_duration_since(Instant::now());
            engine.poll(Some(wait), &mut |ev| st.on_event(ev))?;
            if let Some(fatal) = st.fatal.take() {
                return Err(Failure::Engine(fatal));
            }
            // Samples delivered in one turn arrived together: one flush per turn.
            if st.ndjson && st.write_error.is_none() {
                if let Err(err) = st.out.flush() {
                    st.write_error = Some(err);
                }
            }
            if Instant::now() < next_draw {
                continue;
            }
            next_draw += REDRAW;
            if let Output::Docker(format) = &output {
                let rows = st.display_rows(opts, |_| true);
                let mut block = Vec::with_capacity(4096);
                if format
                    .write(&mut block, &rows, &|f| header(f).to_string())
                    .is_ok()
                {
                    let table = matches!(format, Format::Template { table: true, .. });
                    let capped = engine.counters().capped;
                    if let Some(footer) = st.footer(opts, rows.len(), capped).filter(|_| table) {
                        block.extend_from_slice(footer.as_bytes());
                    }
                    let drawn = if terminal { redraw(&block) } else { block };
                    if let Err(err) = st.out.write_all(&drawn).and_then(|()| st.out.flush()) {
                        st.write_error = Some(err);
                    }
                }
            }
        }
    }
    match st.write_error.take() {
        Some(e) => return Err(Failure::Output(e)),
        None => st.out.flush().map_err(Failure::Output)?,
    }
    Ok(if st.failed && opts.no_stream { 1 } else { 0 })
}

/// What the event handler updates.
struct State<W: Write> {
    /// The hosts' URLs, by index.
    hosts: Vec<String>,
    /// More than one host: rows say which.
    multi: bool,
    /// `--format json`: docker's keys exactly (no Host with one host).
    json: bool,
    /// Rows in the order containers were added (the daemon's listing order, then arrivals).
    rows: BTreeMap<u64, Entry>,
    /// Engine container key to row.
    keys: HashMap<u32, u64>,
    next_seq: u64,
    out: W,
    ndjson: bool,
    once: bool,
    line: String,
    write_error: Option<io::Error>,
    /// Error messages already printed (a host failing for every stream prints once).
    reported: HashSet<String>,
    failed: bool,
    /// An error that ends the command (the daemon cannot be reached at all for a one-off).
    fatal: Option<Error>,
}

impl<W: Write> State<W> {
    fn on_event(&mut self, event: Event<'_>) -> Control {
        match event {
            Event::Added(c) => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.keys.insert(c.key, seq);
                self.rows.insert(
                    seq,
                    Entry {
                        host: c.host,
                        container: c.requested.clone(),
                        id: c.id.clone(),
                        name: c.name.clone(),
                        platform: Platform::Linux,
                        derived: None,
                        stale: false,
                        error: None,
                    },
                );
            }
            Event::Sample {
                container,
                sample,
                derived,
            } => {
                let Some(e) = self
                    .keys
                    .get(&container.key)
                    .and_then(|s| self.rows.get_mut(s))
                else {
                    return Control::Continue;
                };
                if e.id != sample.id && !sample.id.is_empty() {
                    e.id = sample.id.to_string();
                }
                let name = sample.name.strip_prefix('/').unwrap_or(sample.name);
                if e.name != name && !name.is_empty() {
                    e.name = name.to_string();
                }
                e.derived = Some(*derived);
                e.stale = false;
                e.error = None;
                if self.ndjson && self.write_error.is_none() {
                    self.line.clear();
                    ndjson_line(
                        &mut self.line,
                        &self.hosts[container.host],
                        sample.id,
                        name,
                        &sample.read.to_string(),
                        derived,
                    );
                    if let Err(err) = self.out.write_all(self.line.as_bytes()) {
                        self.write_error = Some(err);
                    }
                }
            }
            Event::Stale(c) => {
                if let Some(e) = self.keys.get(&c.key).and_then(|s| self.rows.get_mut(s)) {
                    e.stale = true;
                }
            }
            Event::Gone { container, .. } => {
                // A one-off keeps its rows to print them; a stream drops containers that went.
                if let Some(seq) = self.keys.remove(&container.key) {
                    if !self.once {
                        self.rows.remove(&seq);
                    }
                }
            }
            Event::Error {
                container, error, ..
            } => {
                let message = error_message(error);
                match container
                    .and_then(|c| self.keys.get(&c.key))
                    .and_then(|s| self.rows.get_mut(s))
                {
                    Some(e) => {
                        e.error = Some(message.clone());
                        if !self.once && self.reported.insert(strip_context(&message)) {
                            eprintln!("dockstat: {message}");
                            self.failed = true;
                        }
                    }
                    None => {
                        // Short of descriptors or capped, a one-off still samples every
                        // container, a few at a time: a notice, not a failure.
                        let waits = matches!(
                            error.kind(),
                            ErrorKind::ResourceLimit | ErrorKind::StreamLimit
                        );
                        // A host's discovery failed: fatal for a one-off of one host that
                        // has nothing yet; with several hosts the others go on.
                        if self.once && !self.multi && self.rows.is_empty() && !waits {
                            // The error as it is: wrapping its text as the context of a
                            // new error of the same kind printed the kind twice.
                            self.fatal = Some(error.clone());
                        } else {
                            if self.once && !waits {
                                self.failed = true;
                            }
                            if self.reported.insert(message.clone()) {
                                eprintln!("dockstat: {message}");
                            }
                        }
                    }
                }
            }
        }
        Control::Continue
    }

    fn display_rows(&self, opts: &StatsOpts, keep: impl Fn(&Entry) -> bool) -> Vec<Row> {
        let mut entries: Vec<&Entry> = self.rows.values().filter(|e| keep(e)).collect();
        if let Some(key) = opts.sort {
            let metric = |e: &Entry| -> f64 {
                let Some(d) = e.derived else { return f64::MIN };
                match key {
                    SortKey::Cpu => d.cpu_percent,
                    SortKey::Mem => d.mem_used,
                    SortKey::Net => (d.net_rx + d.net_tx) as f64,
                    SortKey::Block => (d.block_read + d.block_write) as f64,
                    SortKey::Pids => d.pids as f64,
                    SortKey::Name => 0.0,
                }
            };
            if key == SortKey::Name {
                entries.sort_by(|a, b| a.name.cmp(&b.name));
            } else {
                entries.sort_by(|a, b| metric(b).total_cmp(&metric(a)));
            }
        }
        if let Some(limit) = opts.limit {
            entries.truncate(limit);
        }
        entries
            .into_iter()
            .map(|e| {
                // docker's json has no Host; with several hosts it must say which.
                let host = (self.multi || !self.json).then(|| self.hosts[e.host].as_str());
                row(e, host, !opts.no_trunc, opts.cpu_host)
            })
            .collect()
    }

    /// Under a limited table: how many containers there are in all, and how many are not
    /// watched because of `--max-streams`.
    fn footer(&self, opts: &StatsOpts, shown: usize, capped: usize) -> Option<String> {
        let total = self.rows.len();
        let mut footer = String::new();
        if opts.limit.is_some() && total > shown {
            footer = format!("({shown} of {total} containers)\n");
        }
        if capped > 0 {
            footer.push_str(&format!(
                "({capped} more containers not watched: --max-streams {})\n",
                opts.max_streams.unwrap_or_default()
            ));
        }
        (!footer.is_empty()).then_some(footer)
    }
}

/// An error message without its bracketed context, so that one cause for many streams is
/// printed once.
fn strip_context(message: &str) -> String {
    match message.find(" [") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A display block rewritten in place: cursor home, every line cleared to its end, and the
/// rest of the screen cleared (a shorter block leaves nothing behind).
fn redraw(block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.len() + 256);
    out.extend_from_slice(b"\x1b[H");
    for line in block.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\x1b[K\n");
    }
    out.extend_from_slice(b"\x1b[J");
    out
}

/// One container's `docker stats` fields, rendered as docker renders them.
fn row(e: &Entry, host: Option<&str>, trunc: bool, cpu_host: bool) -> Row {
    let mut row = Row::new();
    let text = |s: String| Cell::Text(s);
    if let Some(host) = host {
        row.insert("Host", text(host.to_string()));
    }
    row.insert("Container", text(e.container.clone()));
    let id = if e.id.is_empty() {
        e.container.clone()
    } else if trunc {
        truncate_id(&e.id).to_string()
    } else {
        e.id.clone()
    };
    row.insert("ID", text(id));
    let name = if e.name.is_empty() {
        "--".to_string()
    } else {
        e.name.clone()
    };
    row.insert("Name", text(name));
    let windows = e.platform == Platform::Windows;
    match (&e.derived, &e.error) {
        (Some(d), None) if !e.stale => {
            let cpu = if cpu_host {
                d.cpu_percent_host
            } else {
                d.cpu_percent
            };
            row.insert("CPUPerc", text(format!("{cpu:.2}%")));
            let mem = if windows {
                bytes_size(d.mem_used)
            } else {
                format!("{} / {}", bytes_size(d.mem_used), bytes_size(d.mem_limit))
            };
            row.insert("MemUsage", text(mem));
            let mem_percent = if windows {
                "--".to_string()
            } else {
                format!("{:.2}%", d.mem_percent)
            };
            row.insert("MemPerc", text(mem_percent));
            row.insert(
                "NetIO",
                text(format!(
                    "{} / {}",
                    human_size(d.net_rx as f64),
                    human_size(d.net_tx as f64)
                )),
            );
            row.insert(
                "BlockIO",
                text(format!(
                    "{} / {}",
                    human_size(d.block_read as f64),
                    human_size(d.block_write as f64)
                )),
            );
            let pids = if windows {
                "--".to_string()
            } else {
                d.pids.to_string()
            };
            row.insert("PIDs", text(pids));
        }
        _ => {
            // No sample yet, or the stream failed: docker's "invalid" row.
            row.insert("CPUPerc", text("--".into()));
            row.insert("MemUsage", text("-- / --".into()));
            row.insert("MemPerc", text("--".into()));
            row.insert("NetIO", text("--".into()));
            row.insert("BlockIO", text("--".into()));
            row.insert("PIDs", text("--".into()));
        }
    }
    row
}

fn header(field: &str) -> &str {
    match field {
        "Container" => "CONTAINER",
        "Host" => "HOST",
        "ID" => "CONTAINER ID",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        other => other,
    }
}

/// One `ndjson` line: raw numbers for machines.
fn ndjson_line(out: &mut String, host: &str, id: &str, name: &str, read: &str, d: &Derived) {
    use std::fmt::Write as _;
    out.push_str("{\"host\":");
    json_string(out, host);
    out.push_str(",\"id\":");
    json_string(out, id);
    out.push_str(",\"name\":");
    json_string(out, name);
    out.push_str(",\"read\":");
    json_string(out, read);
    // Writing into a String cannot fail.
    let _ = writeln!(
        out,
        ",\"warmup\":{},\"stopped\":{},\"cpu_percent\":{},\"cpu_percent_host\":{},\
         \"online_cpus\":{},\"mem_usage\":{},\"mem_used\":{},\"mem_limit\":{},\
         \"mem_percent\":{},\"net_rx\":{},\"net_tx\":{},\"block_read\":{},\
         \"block_write\":{},\"pids\":{},\"interval_ns\":{}}}",
        d.warmup,
        d.stopped,
        json_number(d.cpu_percent),
        json_number(d.cpu_percent_host),
        d.online_cpus,
        d.mem_usage,
        d.mem_used as u64,
        d.mem_limit as u64,
        json_number(d.mem_percent),
        d.net_rx,
        d.net_tx,
        d.block_read,
        d.block_write,
        d.pids,
        d.interval_nanos,
    );
}

/// A finite float as JSON (the shortest text that reads back the same value).
fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "0".into()
    }
}
