//! `dockstat stats`: the `docker stats` command.
//!
//! - `table` (default), `json` and templates print what `docker stats` prints, column for
//!   column; streaming redraws in place on a terminal (cursor home, each line cleared to its
//!   end, the rest of the screen cleared), which does not flicker.
//! - `ndjson` writes one line of raw numbers per sample as it arrives, flushed per line.
//! - `--no-stream` asks for one sample per container and prints once.
//!
//! SIGINT, SIGTERM and a closed stdout end the command with status 0 and flushed output.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use dockstat::api;
use dockstat::engine::{Client, Endpoint, Mode, StatsEngine, StatsEvent};
use dockstat::stats::{Derived, Platform};
use dockstat::{Error, ErrorKind};

use super::Failure;
use super::format::{Cell, Format, Row, json_string};
use super::signals;
use super::units::{bytes_size, human_size, truncate_id};

const TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const FIELDS: &[&str] = &[
    "BlockIO",
    "CPUPerc",
    "Container",
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
}

enum Output {
    /// One line per sample, raw numbers.
    Ndjson,
    /// docker's formats, one block per refresh.
    Docker(Format),
}

/// The latest state of one container's row.
struct Entry {
    /// As asked for: the name given, or the short id from the listing.
    container: String,
    id: String,
    name: String,
    platform: Platform,
    derived: Option<Derived>,
    error: Option<String>,
    ended: bool,
}

pub(crate) fn stats(endpoint: Endpoint, opts: &StatsOpts) -> Result<i32, Failure> {
    let output = match opts.format.as_deref() {
        Some("ndjson") => Output::Ndjson,
        spec => {
            let format = Format::parse(spec.unwrap_or("table"), TABLE).map_err(Failure::Usage)?;
            format.check_fields(FIELDS).map_err(Failure::Usage)?;
            Output::Docker(format)
        }
    };
    signals::install();

    let mut client = Client::new(endpoint.clone())?;
    client.set_api_version(dockstat::engine::ApiVersion::from_env()?);
    let api = client.api_version()?;

    let mut entries: Vec<Entry> = Vec::new();
    if opts.containers.is_empty() {
        let path = if opts.all {
            "/containers/json?all=1"
        } else {
            "/containers/json"
        };
        let response = client.get_api(path)?;
        if response.code >= 400 {
            return Err(Error::new(ErrorKind::Status(response.code))
                .context(response.error_message())
                .into());
        }
        let mut body = response.body;
        for c in api::parse_containers(&mut body)? {
            entries.push(entry(truncate_id(&c.id).to_string()));
        }
    } else {
        for name in &opts.containers {
            entries.push(entry(name.clone()));
        }
    }

    let mode = match (opts.no_stream, opts.one_shot) {
        (false, _) => Mode::Stream,
        (true, true) if api >= dockstat::engine::ApiVersion::parse("1.41").unwrap_or(api) => {
            Mode::OneShot
        }
        (true, _) => Mode::Once,
    };
    let mut engine = StatsEngine::new(endpoint, api, mode)?;
    for e in &entries {
        engine.add(&e.container)?;
    }

    let stdout = io::stdout();
    let mut st = State {
        entries,
        out: io::BufWriter::with_capacity(64 << 10, stdout.lock()),
        ndjson: matches!(output, Output::Ndjson),
        line: String::with_capacity(512),
        write_error: None,
    };
    let terminal = io::stdout().is_terminal();

    let mut failed = false;
    if opts.no_stream {
        let deadline = Instant::now() + ONCE_TIMEOUT;
        while !engine.is_empty() && !signals::stopped() && st.write_error.is_none() {
            let timeout = deadline.saturating_duration_since(Instant::now());
            if timeout.is_zero() {
                break;
            }
            engine.poll(Some(timeout.min(Duration::from_millis(250))), &mut |ev| {
                st.on_event(ev)
            })?;
        }
        if !engine.is_empty() && !signals::stopped() {
            engine.run_until_done(Some(Instant::now()), &mut |ev| st.on_event(ev))?;
        }
        for e in &st.entries {
            if let Some(err) = &e.error {
                eprintln!("dockstat: {err}");
                failed = true;
            }
        }
        if let Output::Docker(format) = &output {
            let rows: Vec<Row> = st
                .entries
                .iter()
                .filter(|e| e.error.is_none())
                .map(|e| row(e, !opts.no_trunc, opts.cpu_host))
                .collect();
            if let Err(err) = format.write(&mut st.out, &rows, &|f| header(f).to_string()) {
                st.write_error = Some(err);
            }
        }
    } else {
        let mut next_draw = Instant::now() + REDRAW;
        let mut reported = vec![false; st.entries.len()];
        loop {
            if signals::stopped() || st.write_error.is_some() {
                break;
            }
            let wait = next_draw.saturating_duration_since(Instant::now());
            engine.poll(Some(wait), &mut |ev| st.on_event(ev))?;
            if Instant::now() < next_draw {
                continue;
            }
            next_draw += REDRAW;
            // Errors go to stderr once; the row then shows "--" as docker shows it.
            for (i, e) in st.entries.iter().enumerate() {
                if let (Some(err), false) = (&e.error, reported[i]) {
                    eprintln!("dockstat: {err}");
                    reported[i] = true;
                    failed = true;
                }
            }
            if let Output::Docker(format) = &output {
                let rows: Vec<Row> = st
                    .entries
                    .iter()
                    .map(|e| row(e, !opts.no_trunc, opts.cpu_host))
                    .collect();
                let mut block = Vec::with_capacity(4096);
                if format
                    .write(&mut block, &rows, &|f| header(f).to_string())
                    .is_ok()
                {
                    let drawn = if terminal { redraw(&block) } else { block };
                    if let Err(err) = st.out.write_all(&drawn).and_then(|()| st.out.flush()) {
                        st.write_error = Some(err);
                    }
                }
            }
            if engine.is_empty() {
                break;
            }
        }
    }
    match st.write_error.take() {
        Some(e) => return Err(Failure::Output(e)),
        None => st.out.flush().map_err(Failure::Output)?,
    }
    Ok(if failed && opts.no_stream { 1 } else { 0 })
}

/// What the event handler updates.
struct State<W: Write> {
    entries: Vec<Entry>,
    out: W,
    ndjson: bool,
    line: String,
    write_error: Option<io::Error>,
}

impl<W: Write> State<W> {
    fn on_event(&mut self, event: StatsEvent<'_>) {
        let stream = match &event {
            StatsEvent::Sample { stream, .. }
            | StatsEvent::Error { stream, .. }
            | StatsEvent::Ended { stream, .. } => *stream,
        };
        let Some(e) = self.entries.get_mut(stream.0 as usize) else {
            return;
        };
        match event {
            StatsEvent::Sample {
                sample, derived, ..
            } => {
                if e.id != sample.id {
                    e.id = sample.id.to_string();
                }
                let name = sample.name.strip_prefix('/').unwrap_or(sample.name);
                if e.name != name {
                    e.name = name.to_string();
                }
                e.derived = Some(*derived);
                if self.ndjson && self.write_error.is_none() {
                    self.line.clear();
                    ndjson_line(
                        &mut self.line,
                        sample.id,
                        name,
                        &sample.read.to_string(),
                        derived,
                    );
                    let written = self
                        .out
                        .write_all(self.line.as_bytes())
                        .and_then(|()| self.out.flush());
                    if let Err(err) = written {
                        self.write_error = Some(err);
                    }
                }
            }
            StatsEvent::Error { error, .. } => {
                e.error = Some(match error.kind() {
                    ErrorKind::Status(_) => format!("Error response from daemon: {error}"),
                    _ => error.to_string(),
                });
            }
            StatsEvent::Ended { .. } => e.ended = true,
        }
    }
}

fn entry(container: String) -> Entry {
    Entry {
        container,
        id: String::new(),
        name: String::new(),
        platform: Platform::Linux,
        derived: None,
        error: None,
        ended: false,
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
fn row(e: &Entry, trunc: bool, cpu_host: bool) -> Row {
    let mut row = Row::new();
    let text = |s: String| Cell::Text(s);
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
        (Some(d), None) => {
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
fn ndjson_line(out: &mut String, id: &str, name: &str, read: &str, d: &Derived) {
    use std::fmt::Write as _;
    out.push_str("{\"id\":");
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
