//! `--read-period`: each stream read at most once per period, every frame still delivered
//! exactly once, in bursts.
//!
//! - On the simulated daemon: the frames the sim sent per container equal the ndjson lines
//!   received, with the period and without, and with the period they come in about one burst
//!   per period (without it, as they are written).
//! - On a real dockerd (`DOCKSTAT_REAL_DOCKER`, as `tests/real_docker.rs`): over 60 s the same
//!   frames (by their `read` time) arrive with `--read-period 5` as without, so the daemon did
//!   not give up on the stream that waited (dockerd drops a subscriber whose write blocks for
//!   100 ms; five frames waiting in a socket buffer never block it).

mod common;
use common::real;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use dockstat_sim::{Listen, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

fn socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-period-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// One ndjson line as received: when, and the fields the checks use.
#[derive(Clone, Debug)]
struct Line {
    at: Instant,
    id: String,
    name: String,
    read: String,
}

/// `dockstat -H HOST stats --format ndjson ARGS…` with its lines collected as they come; killed
/// when dropped.
struct Watch {
    child: Child,
    lines: Arc<Mutex<Vec<Line>>>,
}

impl Watch {
    fn start(host: &str, args: &[&str]) -> Watch {
        let mut child = Command::new(BIN)
            .args(["-H", host, "stats", "--format", "ndjson"])
            .args(args)
            .env_remove("DOCKER_API_VERSION")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dockstat");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&lines);
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let at = Instant::now();
                let v: serde_json::Value = serde_json::from_str(&line).expect("ndjson line");
                let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                sink.lock().unwrap().push(Line {
                    at,
                    id: field("id"),
                    name: field("name"),
                    read: field("read"),
                });
            }
        });
        Watch { child, lines }
    }

    fn lines(&self) -> Vec<Line> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Moments at which lines came, grouped: lines less than 100 ms after the previous one belong
/// to its burst.
fn bursts(lines: &[Line]) -> usize {
    let mut at: Vec<Instant> = lines.iter().map(|l| l.at).collect();
    at.sort();
    1 + at
        .windows(2)
        .filter(|w| w[1] - w[0] > Duration::from_millis(100))
        .count()
}

fn per_name(lines: &[Line]) -> BTreeMap<String, u64> {
    let mut n = BTreeMap::new();
    for l in lines {
        *n.entry(l.name.clone()).or_default() += 1;
    }
    n
}

#[test]
fn every_frame_arrives_once_in_a_burst_per_period() {
    let sim = Sim::start(
        Listen::Unix(socket()),
        SimConfig {
            containers: 4,
            interval: Duration::from_millis(200),
            ..SimConfig::default()
        },
    )
    .expect("sim");
    let eager = Watch::start(&sim.url(), &[]);
    let batched = Watch::start(&sim.url(), &["--read-period", "1"]);
    thread::sleep(Duration::from_millis(4200));
    sim.pause_frames(true).unwrap();
    // Everything sent is in the sockets; the batched reader takes it at its next read.
    thread::sleep(Duration::from_millis(1800));
    let (eager, batched) = (eager.lines(), batched.lines());
    let names: Vec<String> = per_name(&eager).into_keys().collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let sent: BTreeMap<String, u64> = names
        .iter()
        .map(|n| (n.clone(), sim.frames_sent_for(n).unwrap()))
        .collect();
    eprintln!(
        "sent {sent:?}; eager: {} lines in {} bursts; batched: {} lines in {} bursts",
        eager.len(),
        bursts(&eager),
        batched.len(),
        bursts(&batched)
    );
    // The sim counts the frames of both streams of each container.
    let (e, b) = (per_name(&eager), per_name(&batched));
    let received: BTreeMap<String, u64> = names.iter().map(|n| (n.clone(), e[n] + b[n])).collect();
    assert_eq!(received, sent, "eager {e:?}, batched {b:?}");
    assert!(b.values().all(|&n| n >= 15), "{b:?}");
    // Written every 200 ms (each stream from its own start): read as they come, many
    // separate moments; once per second, about one burst per second of the 4.2 s (and one
    // for the first frames, read as they come).
    assert!(bursts(&eager) >= 15, "{}", bursts(&eager));
    assert!(bursts(&batched) <= 8, "{}", bursts(&batched));
}

/// Per container, the set of `read` times, as text that sorts in time order (Go drops a
/// fraction's trailing zeros: `…:41.1Z` is before `…:41.15Z`; padded to nine digits they sort).
fn reads(lines: &[Line]) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in lines {
        let t = l.read.trim_end_matches('Z');
        let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
        let key = format!("{secs}.{frac:0<9}Z");
        m.entry(l.id.clone()).or_default().insert(key);
    }
    m
}

#[test]
fn real_dockerd_sends_the_same_frames_to_a_stream_read_every_five_seconds() {
    let Some(host) = real::url() else { return };
    let seconds = std::env::var("DOCKSTAT_READ_PERIOD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60u64);
    let eager = Watch::start(&host, &[]);
    let batched = Watch::start(&host, &["--read-period", "5"]);
    let started = Instant::now();
    thread::sleep(Duration::from_secs(seconds));
    let (eager, batched) = (reads(&eager.lines()), reads(&batched.lines()));
    let elapsed = started.elapsed();
    assert!(!eager.is_empty(), "no frames from the real daemon");
    let mut compared = 0usize;
    for (id, e) in &eager {
        let b = batched
            .get(id)
            .unwrap_or_else(|| panic!("{id}: no frames read every 5 s"));
        // Both readers were subscribed from the later first frame to the earlier last one
        // (the batched one stops with up to 5 s of frames still in its socket).
        let from = e.first().max(b.first()).unwrap();
        let to = e.last().min(b.last()).unwrap();
        let window = |s: &BTreeSet<String>| -> BTreeSet<String> {
            s.range(from.clone()..=to.clone()).cloned().collect()
        };
        let (we, wb) = (window(e), window(b));
        let only_eager: Vec<_> = we.difference(&wb).collect();
        let only_batched: Vec<_> = wb.difference(&we).collect();
        eprintln!(
            "{}: {} frames read as they came, {} every 5 s; {} in both over {from} .. {to}",
            &id[..12],
            e.len(),
            b.len(),
            we.len()
        );
        assert!(
            only_eager.is_empty() && only_batched.is_empty(),
            "{id}: only as they came {only_eager:?}, only every 5 s {only_batched:?}"
        );
        // A real comparison: most of the minute, at one frame a second.
        let expected = elapsed.as_secs().saturating_sub(10) as usize;
        assert!(we.len() >= expected, "{id}: {} frames compared", we.len());
        compared += 1;
    }
    assert!(compared >= 1);
}
