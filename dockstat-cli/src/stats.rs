//! `dockstat stats`: the `docker stats` command.
//!
//! - `table` (default), `json` and templates print what `docker stats` prints, column for
//!   column; streaming to a pipe writes one block per refresh, to a terminal it redraws in
//!   place (each line written at its row after clearing it, the rest of the screen cleared,
//!   all in one write), which does not flicker.
//! - `ndjson` writes one line of raw numbers per sample as it arrives, flushed per line.
//! - `--no-stream` asks for one sample per container and prints once.
//!
//! On a terminal the streaming table is a live view (see [`term`](crate::term)): on the
//! alternate screen, cut to the window, with a status line per failing host under the table,
//! and keys that change the order (`c` `m` `n` `b` `p` `s`) or quit (`q`). Rows keep their
//! place: ties of the sort key keep the previous order, and a container that restarts comes
//! back where it was.
//!
//! A daemon that cannot be reached at the start ends the command with its error; failures
//! after it are retried. SIGINT, SIGTERM, `q` and a closed stdout end the command with
//! flushed output and status 0, or 1 when a host (or a stream) is failing at that moment.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use dockstat::engine::Mode;
use dockstat::engine::{
    ApiVersion, Control, Endpoint, Engine, EngineConfig, Event, Selection, SourcePolicy,
};
use dockstat::stats::{Derived, Platform};
use dockstat::{Error, ErrorKind};

use crate::Failure;
use crate::format::{Format, Row};
use crate::term;
use dockstat::sys::Process;

mod json;
mod ndjson;
mod preflight;
mod row;
mod screen;
mod sort;

use ndjson::Ndjson;
use preflight::{missing_named, preflight};
use row::{CpuScale, EXTRA_FIELDS, Extra, PRESSURE_COLUMNS, header, row};
use screen::{Layout, paint};
pub(crate) use sort::SortKey;

const TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
/// With several hosts, the default table says which host each container is on.
const TABLE_HOSTS: &str = "{{.Host}}\t{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
const FIELDS: &[&str] = &[
    "BlockIO",
    "CPULimit",
    "CPULimitPerc",
    "CPUPerc",
    "Container",
    "Host",
    "ID",
    "MemPerc",
    "MemUsage",
    "Name",
    "NetIO",
    "PIDs",
    "PSICPU",
    "PSIIO",
    "PSIMem",
    "Source",
];

/// How often a streaming display is redrawn (docker's ticker).
const REDRAW: Duration = Duration::from_millis(500);

/// `ndjson` text buffered in one turn past which it is written at once (a turn of 10,000
/// samples is about 4 MiB).
const NDJSON_WRITE_AT: usize = 8 << 20;

/// Room for one `--format json` line: docker's fields with full ids and a host fit in one
/// allocation.
const JSON_LINE_CAPACITY: usize = 384;

/// A `--format json` line's usual length (full ids, no host): the room a refresh's block
/// starts with per row.
const JSON_LINE_TYPICAL: usize = 256;

/// How long `--no-stream` waits for the slowest container.
const ONCE_TIMEOUT: Duration = Duration::from_secs(30);

/// The live view reads keys between engine turns this often (the key latency at most).
const KEY_SLICE: Duration = Duration::from_millis(50);

/// Containers that went and may come back (a restart), remembered to give them their row
/// back; the oldest are forgotten past this many.
const DEPARTED_MAX: usize = 10_000;

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
    /// CPU % of the container's own CPU limit (100 % = all it may use); asks the engine for
    /// the limits.
    pub(crate) cpu_limit: bool,
    /// The table shows the pressure columns.
    pub(crate) pressure: bool,
    /// Rows carry the fields beyond docker's (`Source`, the pressure, the CPU limit): set by
    /// [`stats`] when asked for (flags, another source, a template naming one).
    pub(crate) extended: bool,
    /// Order of the rows: cpu, mem, net, block, pids or name (busiest first); none keeps the
    /// daemon's order, as docker does.
    pub(crate) sort: Option<SortKey>,
    /// Show at most this many rows (after sorting).
    pub(crate) limit: Option<usize>,
    /// Stream at most this many containers at once (the engine's `max_streams`).
    pub(crate) max_streams: Option<usize>,
    /// Read each stream at most once per this period (the engine's `read_period`).
    pub(crate) read_period: Duration,
    /// Where the numbers come from (`--source` and its options).
    pub(crate) source: crate::args::SourceOpts,
}

enum Output {
    /// One line per sample, raw numbers.
    Ndjson,
    /// docker's formats, one block per refresh.
    Docker(Format),
}

/// Engine container keys (small slot indexes, see `Container::key`) to rows: a lookup per
/// sample is an index, not a hash.
#[derive(Default)]
struct Keys(Vec<Option<u64>>);

impl Keys {
    fn insert(&mut self, key: u32, seq: u64) {
        let key = key as usize;
        if self.0.len() <= key {
            self.0.resize(key + 1, None);
        }
        self.0[key] = Some(seq);
    }

    fn get(&self, key: &u32) -> Option<&u64> {
        self.0.get(*key as usize)?.as_ref()
    }

    fn remove(&mut self, key: &u32) -> Option<u64> {
        self.0.get_mut(*key as usize)?.take()
    }
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
    /// The latest sample's source, pressure and CPU limit.
    extra: Extra,
    /// A sample is overdue (docker shows "--").
    stale: bool,
    error: Option<String>,
    /// The row as `--format json` writes it, kept until the entry changes (then emptied,
    /// its buffer kept for the next): a refresh renders only the rows that changed since
    /// the last one.
    json: String,
    /// The parts of the json line that change only with `container`, `id` or `name`, escaped
    /// once: emptied when one of them changes.
    fixed: json::Fixed,
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
            let table = if opts.pressure {
                format!("{table}{PRESSURE_COLUMNS}")
            } else {
                table.to_string()
            };
            let format = Format::parse(spec.unwrap_or("table"), &table).map_err(Failure::Usage)?;
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
    let names = |fields: &[&str]| match &output {
        Output::Docker(format) => fields.iter().any(|f| format.names(f)),
        Output::Ndjson => false,
    };
    // The limits cost the daemon an inspect per container: only when they are shown.
    config.cpu_limits = opts.cpu_limit || names(&["CPULimit", "CPULimitPerc"]);
    config.read_period = opts.read_period;
    opts.source.apply(&mut config);
    if let (false, Selection::Named(names)) = (multi, &config.selection) {
        // `docker stats NAME...` shows nothing when a named container does not exist.
        if let Some(missing) = missing_named(&config, names) {
            eprintln!("dockstat: {missing}");
            return Ok(1);
        }
    }
    if !opts.no_stream && !multi {
        // A stream retries a host that fails; one that fails from the start ends the command
        // instead, as `docker stats` does (the one-off modes already end with the error).
        preflight(&mut config)?;
    }
    // A host is taken as recovered when it has said nothing for longer than the engine's
    // longest retry delay (jittered up to 1.5 times) and a connect timeout.
    let recovered_after =
        config.reconnect_max.mul_f64(1.5) + config.connect_timeout + Duration::from_secs(5);
    let extended = opts.pressure
        || opts.cpu_limit
        || config.source != SourcePolicy::Api
        || names(EXTRA_FIELDS);
    let opts = &StatsOpts {
        extended,
        ..opts.clone()
    };
    let mut engine = Engine::new(config)?;

    let stdout = io::stdout();
    let terminal = stdout.is_terminal();
    // The live view: a docker table (or json, template) streamed to a terminal.
    let view = terminal && !opts.no_stream && matches!(output, Output::Docker(_));
    let host_field = match &output {
        Output::Docker(format) => multi || format.names("Host"),
        Output::Ndjson => true,
    };
    let mut st = State {
        troubles: (0..hosts.len()).map(|_| None).collect(),
        rows: BTreeMap::new(),
        keys: Keys::default(),
        departed: Departed::default(),
        ranks: HashMap::new(),
        next_seq: 0,
        out: io::BufWriter::with_capacity(256 << 10, stdout.lock()),
        ndjson: matches!(output, Output::Ndjson),
        nd: Ndjson::new(&hosts),
        live: Vec::new(),
        row_errors: 0,
        once: opts.no_stream,
        view,
        line: String::new(),
        write_error: None,
        reported: HashSet::new(),
        failed: false,
        cgroup_error: None,
        fatal: None,
        notice: None,
        host_field,
        hosts,
    };

    if opts.no_stream {
        let deadline = Instant::now() + ONCE_TIMEOUT;
        while !engine.is_done() && !Process::stop_signal_received() && st.write_error.is_none() {
            if Instant::now() >= deadline {
                for e in st.rows.values_mut().filter(|e| e.derived.is_none()) {
                    e.json.clear();
                    e.error = Some(
                        Error::new(ErrorKind::Timeout)
                            .context(&e.container)
                            .to_string(),
                    );
                }
                break;
            }
            engine.poll(Some(Duration::from_millis(250)), &mut |ev| st.on_event(ev))?;
            st.write_lines();
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
            let order = st.order(opts.sort, false, CpuScale::of(opts), |e| e.error.is_none());
            let rows = st.display_rows(&order, opts);
            let shown = rows.len();
            let mut result = format.write(&mut st.out, &rows, &|f| header(f).to_string());
            if is_table(format) {
                if let Some(footer) = footer(opts, shown, order.len(), 0) {
                    result = result.and_then(|()| st.out.write_all(footer.as_bytes()));
                }
            }
            if let Err(err) = result {
                st.write_error = Some(err);
            }
        }
        match st.write_error.take() {
            Some(e) => return Err(Failure::Output(e)),
            None => st.out.flush().map_err(Failure::Output)?,
        }
        return Ok(match (st.failed, st.cgroup_error) {
            (false, _) => 0,
            (true, Some(kind)) => crate::exit_code(kind),
            (true, None) => 1,
        });
    }

    // On a terminal: the alternate screen, and keys when stdin is a terminal too; restored
    // when `screen` is dropped, on every way out of this function (and by a panic hook).
    let mut screen = view.then(|| term::Screen::enter(io::stdin().is_terminal()));
    let mut sort = opts.sort;
    let mut reverse = false;
    // The view shows its header at once; a pipe's first block waits a period for rows.
    let mut next_draw = Instant::now() + if view { Duration::ZERO } else { REDRAW };
    loop {
        if Process::stop_signal_received() || st.write_error.is_some() {
            break;
        }
        let mut wait = next_draw.saturating_duration_since(Instant::now());
        if screen.is_some() {
            wait = wait.min(KEY_SLICE);
        }
        engine.poll(Some(wait), &mut |ev| st.on_event(ev))?;
        if let Some(fatal) = st.fatal.take() {
            return Err(Failure::Engine(fatal));
        }
        // Samples delivered in one turn arrived together: one write and flush per turn.
        if st.ndjson {
            st.write_lines();
            if st.write_error.is_none() {
                if let Err(err) = st.out.flush() {
                    st.write_error = Some(err);
                }
            }
        }
        let now = Instant::now();
        st.forget_recovered(now, recovered_after);
        let mut draw_now = false;
        if let Some(screen) = &mut screen {
            let mut quit = false;
            for key in screen.keys() {
                match key {
                    b'q' | b'Q' => quit = true,
                    // Back from Ctrl-Z (the screen is blank), or a new window size.
                    0 => draw_now = true,
                    _ => {
                        if let Some(key) = SortKey::from_key(key) {
                            // The same key again turns the order around.
                            reverse = sort == Some(key) && !reverse;
                            sort = Some(key);
                            draw_now = true;
                        }
                    }
                }
            }
            if quit {
                break;
            }
        }
        if now < next_draw && !draw_now {
            continue;
        }
        if now >= next_draw {
            next_draw += REDRAW;
            if next_draw <= now {
                // Late (a long turn): the next redraw a full period from now, not a burst.
                next_draw = now + REDRAW;
            }
        }
        let Output::Docker(format) = &output else {
            continue;
        };
        let order = st.order(sort, reverse, CpuScale::of(opts), |_| true);
        // The places a --sort keeps between equal rows (no --sort: none to keep).
        if sort.is_some() {
            st.ranks = order.iter().enumerate().map(|(i, &seq)| (seq, i)).collect();
        }
        let shown = opts.limit.unwrap_or(usize::MAX).min(order.len());
        // The view renders no more rows than the window has lines (thousands of rows would
        // be formatted only to be cut), when each row is one line.
        let size = if view { term::size() } else { None };
        let rendered = match size {
            Some((height, _)) if format.one_line_rows() => shown.min(height),
            _ => shown,
        };
        let mut block = Vec::with_capacity(4096);
        if matches!(format, Format::Json) {
            st.json_rows(&order[..rendered], opts, &mut block);
        } else {
            let rows = st.display_rows(&order[..rendered], opts);
            if format
                .write(&mut block, &rows, &|f| header(f).to_string())
                .is_err()
            {
                continue;
            }
        }
        let table = is_table(format);
        let capped = engine.counters().capped;
        let foot = footer(opts, shown, order.len(), capped).filter(|_| table);
        let drawn = if view {
            let waiting = engine.counters().waiting_for_fds > 0;
            let status = st.status_lines(waiting);
            let layout = Layout {
                block: &String::from_utf8_lossy(&block),
                header: table,
                rendered,
                total: shown,
                footer: foot.as_deref(),
                status: &status,
            };
            paint(&layout.lines(size), size.map(|(rows, _)| rows))
        } else {
            if let Some(footer) = foot {
                block.extend_from_slice(footer.as_bytes());
            }
            block
        };
        if let Err(err) = st.out.write_all(&drawn).and_then(|()| st.out.flush()) {
            st.write_error = Some(err);
        }
    }
    let failing = st.failing();
    // Back to the normal screen before anything is said on stderr.
    drop(screen);
    if view && failing {
        for (error, count) in st.status_lines(false) {
            eprintln!("dockstat: {error}{count}");
        }
    }
    match st.write_error.take() {
        Some(e) => return Err(Failure::Output(e)),
        None => st.out.flush().map_err(Failure::Output)?,
    }
    Ok(if failing { 1 } else { 0 })
}

fn is_table(format: &Format) -> bool {
    matches!(format, Format::Template { table: true, .. })
}

/// Under a table: how many containers there are in all when `--limit` shows fewer, and how
/// many are not watched because of `--max-streams`.
fn footer(opts: &StatsOpts, shown: usize, total: usize, capped: usize) -> Option<String> {
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

/// What the event handler updates.
struct State<W: Write> {
    /// The hosts' URLs, by index.
    hosts: Vec<String>,
    /// Rows carry a `Host` field: with several hosts, or when the template names it (docker's
    /// json, and `{{json .}}`, have no Host).
    host_field: bool,
    /// Per host: failing since it last answered, and how.
    troubles: Vec<Option<Trouble>>,
    /// Rows in the order containers were added (the daemon's listing order, then arrivals);
    /// a container that comes back gets its old place.
    rows: BTreeMap<u64, Entry>,
    /// Engine container key to row.
    keys: Keys,
    /// The places of containers that went.
    departed: Departed,
    /// Each row's place in the last drawn order: ties of the sort key keep it.
    ranks: HashMap<u64, usize>,
    next_seq: u64,
    out: W,
    ndjson: bool,
    /// Renders `ndjson` lines.
    nd: Ndjson,
    /// By engine container key: whether it has a row (a sample of one without is not shown).
    live: Vec<bool>,
    /// Rows with an error (a stream ndjson streams does not look its row up without one).
    row_errors: usize,
    once: bool,
    /// The live view on a terminal: failures are shown on the screen, not on stderr.
    view: bool,
    /// `ndjson` lines of this turn, written in one go by [`State::write_lines`].
    line: String,
    write_error: Option<io::Error>,
    /// Error messages already printed (a host failing for every stream prints once).
    reported: HashSet<String>,
    failed: bool,
    /// A row failed reading its cgroup: a one-off exits with that kind's code.
    cgroup_error: Option<ErrorKind>,
    /// An error that ends the command (the daemon cannot be reached at all for a one-off).
    fatal: Option<Error>,
    /// Why streams wait (out of file descriptors), for the live view's status.
    notice: Option<String>,
}

/// A host failing: its latest error, how many times it failed since it last answered.
struct Trouble {
    message: String,
    attempts: u32,
    last: Instant,
}

/// Where the containers that went were, by id and by name, so that one that comes back (a
/// restart: stopped, then started again) takes its old row. Bounded: the oldest are
/// forgotten first.
#[derive(Default)]
struct Departed {
    by_id: HashMap<(usize, String), u64>,
    by_name: HashMap<(usize, String), u64>,
    order: VecDeque<(usize, String, String, u64)>,
}

impl Departed {
    fn remember(&mut self, host: usize, id: &str, name: &str, seq: u64) {
        if !id.is_empty() {
            self.by_id.insert((host, id.to_string()), seq);
        }
        if !name.is_empty() {
            self.by_name.insert((host, name.to_string()), seq);
        }
        self.order
            .push_back((host, id.to_string(), name.to_string(), seq));
        while self.order.len() > DEPARTED_MAX {
            let Some((host, id, name, seq)) = self.order.pop_front() else {
                break;
            };
            let (id, name) = ((host, id), (host, name));
            if self.by_id.get(&id) == Some(&seq) {
                self.by_id.remove(&id);
            }
            if self.by_name.get(&name) == Some(&seq) {
                self.by_name.remove(&name);
            }
        }
    }

    /// The place of a container that went with this id, else this name.
    fn take(&mut self, host: usize, id: &str, name: &str) -> Option<u64> {
        if self.by_id.is_empty() && self.by_name.is_empty() {
            return None;
        }
        let (id, name) = ((host, id.to_string()), (host, name.to_string()));
        let seq = *self.by_id.get(&id).or_else(|| self.by_name.get(&name))?;
        self.by_id.retain(|_, s| *s != seq);
        self.by_name.retain(|_, s| *s != seq);
        Some(seq)
    }
}

impl<W: Write> State<W> {
    fn on_event(&mut self, event: Event<'_>) -> Control {
        match event {
            Event::Added(c) => {
                // The host answers (a listing or an event came).
                self.troubles[c.host] = None;
                let seq = self
                    .departed
                    .take(c.host, &c.id, &c.name)
                    .filter(|seq| !self.rows.contains_key(seq))
                    .unwrap_or_else(|| {
                        self.next_seq += 1;
                        self.next_seq - 1
                    });
                self.keys.insert(c.key, seq);
                self.set_live(c.key, true);
                self.rows.insert(
                    seq,
                    Entry {
                        host: c.host,
                        container: c.requested.clone(),
                        id: c.id.clone(),
                        name: c.name.clone(),
                        platform: Platform::Linux,
                        derived: None,
                        extra: Extra::default(),
                        stale: false,
                        error: None,
                        json: String::new(),
                        fixed: json::Fixed::default(),
                    },
                );
            }
            Event::Sample {
                container,
                sample,
                derived,
            } => {
                if self.troubles[container.host].is_some() {
                    self.troubles[container.host] = None;
                }
                if self.ndjson && !self.once {
                    // Streaming ndjson shows no table: the row only keeps the stream's error
                    // (for the exit status), which a sample clears.
                    return self.ndjson_sample(container, sample, derived);
                }
                let Some(e) = self
                    .keys
                    .get(&container.key)
                    .and_then(|s| self.rows.get_mut(s))
                else {
                    return Control::Continue;
                };
                // A stream's container keeps its id: the first sample brings it (a container
                // asked for by name has none before); later ones need no compare.
                if e.derived.is_none() && e.id != sample.id && !sample.id.is_empty() {
                    e.id = sample.id.to_string();
                    e.fixed.clear();
                }
                let name = sample.name.strip_prefix('/').unwrap_or(sample.name);
                if e.name != name && !name.is_empty() {
                    e.name = name.to_string();
                    e.fixed.clear();
                }
                e.derived = Some(*derived);
                e.extra = Extra::of(sample);
                e.json.clear();
                e.stale = false;
                if e.error.take().is_some() {
                    self.row_errors -= 1;
                }
                if self.ndjson && self.write_error.is_none() {
                    let (line, nd) = (&mut self.line, &mut self.nd);
                    nd.line(line, container.host, sample, name, derived);
                }
            }
            Event::Stale(c) => {
                if let Some(e) = self.keys.get(&c.key).and_then(|s| self.rows.get_mut(s)) {
                    e.stale = true;
                    e.json.clear();
                }
            }
            Event::Gone { container, .. } => {
                // A one-off keeps its rows to print them; a stream drops containers that went,
                // remembering their place.
                if let Some(seq) = self.keys.remove(&container.key) {
                    self.set_live(container.key, false);
                    if !self.once {
                        if let Some(e) = self.rows.remove(&seq) {
                            if e.error.is_some() {
                                self.row_errors -= 1;
                            }
                            self.departed.remember(e.host, &e.id, &e.name, seq);
                        }
                    }
                }
            }
            Event::Error {
                host,
                container,
                error,
            } => {
                let message = error_message(error);
                match container
                    .and_then(|c| self.keys.get(&c.key))
                    .and_then(|s| self.rows.get_mut(s))
                {
                    Some(e) => {
                        if e.error.is_none() {
                            self.row_errors += 1;
                        }
                        if let ErrorKind::Cgroup(_) = error.kind() {
                            self.cgroup_error = Some(error.kind());
                        }
                        e.error = Some(message.clone());
                        e.json.clear();
                        if !self.once && !self.view && self.reported.insert(strip_context(&message))
                        {
                            eprintln!("dockstat: {message}");
                        }
                    }
                    None => {
                        // Short of descriptors or capped, a one-off still samples every
                        // container, a few at a time: a notice, not a failure.
                        let waits = matches!(
                            error.kind(),
                            ErrorKind::ResourceLimit | ErrorKind::StreamLimit
                        );
                        let multi = self.hosts.len() > 1;
                        // A host's discovery failed: fatal for a one-off of one host that
                        // has nothing yet; with several hosts the others go on.
                        if self.once && !multi && self.rows.is_empty() && !waits {
                            // The error as it is: wrapping its text as the context of a
                            // new error of the same kind printed the kind twice.
                            self.fatal = Some(error.clone());
                            return Control::Continue;
                        }
                        if self.once && !waits {
                            self.failed = true;
                        }
                        // A host's own failure (not a stream's whose row is gone).
                        if !self.once && !waits && container.is_none() {
                            if let Some(t) = self.troubles.get_mut(host) {
                                let attempts = t.as_ref().map_or(0, |t| t.attempts) + 1;
                                *t = Some(Trouble {
                                    message: message.clone(),
                                    attempts,
                                    last: Instant::now(),
                                });
                            }
                        }
                        if self.view {
                            if error.kind() == ErrorKind::ResourceLimit {
                                self.notice = Some(message);
                            }
                        } else if self.reported.insert(message.clone()) {
                            eprintln!("dockstat: {message}");
                        }
                    }
                }
            }
        }
        Control::Continue
    }

    /// A sample of a streaming `ndjson`: its line, and its row's error cleared if it has one.
    fn ndjson_sample(
        &mut self,
        container: &dockstat::engine::Container,
        sample: &dockstat::stats::Sample<'_>,
        derived: &Derived,
    ) -> Control {
        if !self
            .live
            .get(container.key as usize)
            .copied()
            .unwrap_or(false)
        {
            return Control::Continue;
        }
        if self.row_errors > 0 {
            let row = self
                .keys
                .get(&container.key)
                .and_then(|s| self.rows.get_mut(s));
            if let Some(e) = row {
                e.stale = false;
                if e.error.take().is_some() {
                    self.row_errors -= 1;
                }
            }
        }
        if self.write_error.is_none() {
            let name = sample.name.strip_prefix('/').unwrap_or(sample.name);
            let (line, nd) = (&mut self.line, &mut self.nd);
            nd.line(line, container.host, sample, name, derived);
            if self.line.len() >= NDJSON_WRITE_AT {
                self.write_lines();
            }
        }
        Control::Continue
    }

    fn set_live(&mut self, key: u32, live: bool) {
        let key = key as usize;
        if self.live.len() <= key {
            self.live.resize(key + 1, false);
        }
        self.live[key] = live;
    }

    /// Writes the `ndjson` lines buffered so far, in one write.
    fn write_lines(&mut self) {
        if self.line.is_empty() {
            return;
        }
        if self.write_error.is_none() {
            if let Err(err) = self.out.write_all(self.line.as_bytes()) {
                self.write_error = Some(err);
            }
        }
        self.line.clear();
    }

    /// A host that has not failed for `after` answered its last retry: no longer failing (a
    /// host without containers gives no other sign).
    fn forget_recovered(&mut self, now: Instant, after: Duration) {
        for t in &mut self.troubles {
            if t.as_ref()
                .is_some_and(|t| now.saturating_duration_since(t.last) > after)
            {
                *t = None;
            }
        }
    }

    /// A host is failing, or a stream is (the exit status at the end says so).
    fn failing(&self) -> bool {
        self.troubles.iter().any(Option::is_some) || self.rows.values().any(|e| e.error.is_some())
    }

    /// The live view's lines under the table: one per failing host (its error, or its
    /// failing streams'), then why streams wait when they do. Each is the error and what
    /// follows it, apart, so that a narrow window cuts the error and keeps the count.
    fn status_lines(&self, waiting: bool) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        for (h, url) in self.hosts.iter().enumerate() {
            if let Some(t) = &self.troubles[h] {
                let s = if t.attempts == 1 { "" } else { "s" };
                lines.push((
                    with_host(url, &t.message),
                    format!(", retrying ({} attempt{s})", t.attempts),
                ));
                continue;
            }
            let (mut streams, mut failing, mut last) = (0, 0, None);
            for e in self.rows.values().filter(|e| e.host == h) {
                streams += 1;
                if let Some(error) = &e.error {
                    failing += 1;
                    last = Some(error);
                }
            }
            if let Some(error) = last {
                lines.push((
                    with_host(url, error),
                    format!(", retrying ({failing} of {streams} streams)"),
                ));
            }
        }
        if waiting {
            lines.extend(self.notice.clone().map(|n| (n, String::new())));
        }
        lines
    }

    /// The rows to show (those `keep` keeps), in order: by `sort` (busiest first; names
    /// A to Z), turned around with `reverse`; ties keep their last place, then go by name.
    /// Without `sort`, the order the containers were added in (the daemon's).
    fn order(
        &self,
        sort: Option<SortKey>,
        reverse: bool,
        cpu: CpuScale,
        keep: impl Fn(&Entry) -> bool,
    ) -> Vec<u64> {
        let mut entries: Vec<(u64, &Entry)> = (self.rows.iter())
            .filter(|(_, e)| keep(e))
            .map(|(&seq, e)| (seq, e))
            .collect();
        if let Some(key) = sort {
            let rank = |seq: u64| self.ranks.get(&seq).copied().unwrap_or(usize::MAX);
            entries.sort_by(|&(sa, a), &(sb, b)| {
                key.compare(a, b, cpu, reverse)
                    .then_with(|| rank(sa).cmp(&rank(sb)))
                    .then_with(|| a.name.cmp(&b.name))
                    .then(sa.cmp(&sb))
            });
        }
        entries.into_iter().map(|(seq, _)| seq).collect()
    }

    /// What `--format json` writes for [`State::display_rows`]: each row rendered once and
    /// kept until its entry changes, then copied into `out`. In the rows' own order (no
    /// `--sort`: docker's) the rows are walked in step with `order`, not looked up one by one.
    fn json_rows(&mut self, order: &[u64], opts: &StatsOpts, out: &mut Vec<u8>) {
        let (hosts, host_field) = (&self.hosts, self.host_field);
        let order = &order[..order.len().min(opts.limit.unwrap_or(usize::MAX))];
        // Most lines fit: one allocation, not a doubling as lines come.
        out.reserve(order.len() * JSON_LINE_TYPICAL);
        let mut push = |e: &mut Entry| {
            // A rendered line is never empty.
            if e.json.is_empty() {
                let host = host_field.then(|| hosts[e.host].as_str());
                // Written straight from the entry: the text of `json_object(&row(..))`.
                let mut line = std::mem::take(&mut e.json);
                let mut fixed = std::mem::take(&mut e.fixed);
                line.reserve(JSON_LINE_CAPACITY);
                json::push_line_cached(&mut line, e, &mut fixed, host, opts);
                line.push('\n');
                e.json = line;
                e.fixed = fixed;
            }
            out.extend_from_slice(e.json.as_bytes());
        };
        if order.is_sorted() {
            let mut wanted = order.iter().peekable();
            for (seq, e) in self.rows.range_mut(order.first().copied().unwrap_or(0)..) {
                let Some(&&next) = wanted.peek() else {
                    break;
                };
                if *seq == next {
                    push(e);
                    wanted.next();
                }
                while wanted.peek().is_some_and(|&&s| s <= *seq) {
                    wanted.next();
                }
            }
        } else {
            for seq in order {
                if let Some(e) = self.rows.get_mut(seq) {
                    push(e);
                }
            }
        }
    }

    /// The first `--limit` rows of `order`, rendered.
    fn display_rows(&self, order: &[u64], opts: &StatsOpts) -> Vec<Row> {
        (order.iter())
            .take(opts.limit.unwrap_or(usize::MAX))
            .filter_map(|seq| self.rows.get(seq))
            .map(|e| {
                let host = self.host_field.then(|| self.hosts[e.host].as_str());
                row(e, host, opts)
            })
            .collect()
    }
}

/// An error as a status line: the host first, unless the message names it already.
fn with_host(url: &str, message: &str) -> String {
    if message.contains(url) {
        message.to_string()
    } else {
        format!("{url}: {message}")
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

#[cfg(test)]
mod tests;
