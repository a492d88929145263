//! The engine's cgroupfs source end to end: the simulated daemon gives the containers and
//! their lifecycle (its inspect answers `State.Pid`: `SIM_PID_BASE` + index), a fake cgroup
//! v2 and `/proc` tree in a temporary directory gives their numbers (the tests rewrite its
//! files), and the engine's roots (`--cgroup-root`, `--proc-root`) point at it.
//!
//! The last test compares `--source cgroupfs` with `--source api` on a real daemon (cgroup v1
//! here); it runs when `DOCKSTAT_REAL_DOCKER` names the daemon, and otherwise says it was
//! skipped (or fails, with `DOCKSTAT_REQUIRE_REAL_DOCKER=1`).

mod common;
use common::real;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat::engine::{
    Client, Control, Endpoint, Engine, EngineConfig, Event, Gone, Mode, Selection, SourcePolicy,
};
use dockstat::stats::{CpuLimit, Source};
use dockstat_sim::{Listen, SIM_PID_BASE, Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_dockstat");

/// 100 MiB, as every fake container starts.
const MEM: u64 = 104_857_600;

fn unique(what: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-cgfs-{what}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn sim(containers: usize) -> Sim {
    let config = SimConfig {
        containers,
        interval: Duration::from_millis(100),
        nano_cpus: 1_500_000_000,
        ..SimConfig::default()
    };
    Sim::start(Listen::Unix(unique("sock")), config).expect("sim")
}

/// The sim's running containers: (`State.Pid`, id), by pid.
fn containers(sim: &Sim) -> Vec<(u32, String)> {
    let mut client = Client::new(Endpoint::parse(&sim.url()).unwrap()).unwrap();
    let list = client.get_api("/containers/json").unwrap();
    let list: serde_json::Value = serde_json::from_slice(&list.body).unwrap();
    let mut out: Vec<(u32, String)> = (list.as_array().unwrap().iter())
        .map(|c| {
            let id = c["Id"].as_str().unwrap().to_string();
            let inspect = client.get_api(&format!("/containers/{id}/json")).unwrap();
            let inspect: serde_json::Value = serde_json::from_slice(&inspect.body).unwrap();
            (inspect["State"]["Pid"].as_u64().unwrap() as u32, id)
        })
        .collect();
    out.sort();
    out
}

/// A fake host: `cgroup/` (cgroup v2: it has `cgroup.controllers`) and `proc/`. A
/// container's cgroup is `docker/ID`, as Docker's cgroupfs driver names it.
struct Tree {
    root: PathBuf,
    /// pid -> container id.
    ids: BTreeMap<u32, String>,
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

impl Tree {
    /// A host with the cgroups of the sim's first `n` containers (by pid).
    fn new(sim: &Sim, n: u32) -> Tree {
        let mut tree = Tree {
            root: unique("tree"),
            ids: BTreeMap::new(),
        };
        fs::create_dir_all(tree.cgroup().join("docker")).unwrap();
        fs::create_dir_all(tree.proc()).unwrap();
        fs::write(
            tree.cgroup().join("cgroup.controllers"),
            "cpu io memory pids\n",
        )
        .unwrap();
        fs::write(
            tree.proc().join("stat"),
            "cpu  100 0 100 1000 0 0 0 0 0 0\ncpu0 50 0 50 500 0 0 0 0 0 0\n\
             cpu1 50 0 50 500 0 0 0 0 0 0\nintr 0\n",
        )
        .unwrap();
        fs::write(tree.proc().join("meminfo"), "MemTotal:       16384000 kB\n").unwrap();
        for (pid, id) in containers(sim).into_iter().take(n as usize) {
            tree.ids.insert(pid, id);
            tree.add(pid);
        }
        tree
    }

    fn cgroup(&self) -> PathBuf {
        self.root.join("cgroup")
    }

    fn proc(&self) -> PathBuf {
        self.root.join("proc")
    }

    fn dir(&self, pid: u32) -> PathBuf {
        self.cgroup().join("docker").join(&self.ids[&pid])
    }

    fn add(&self, pid: u32) {
        let proc = self.proc().join(pid.to_string());
        fs::create_dir_all(proc.join("net")).unwrap();
        fs::write(
            proc.join("cgroup"),
            format!("0::/docker/{}\n", self.ids[&pid]),
        )
        .unwrap();
        fs::write(
            proc.join("net/dev"),
            "Inter-|   Receive                                                |  Transmit\n \
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
             lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n  \
             eth0:    1296      16    0    0    0     0          0         0      648       8    0    0    0     0       0          0\n",
        )
        .unwrap();
        let dir = self.dir(pid);
        fs::create_dir_all(&dir).unwrap();
        for (file, text) in [
            (
                "cpu.stat",
                "usage_usec 1000000\nuser_usec 600000\nsystem_usec 400000\nnr_periods 0\n\
                 nr_throttled 0\nthrottled_usec 0\n",
            ),
            ("cpu.max", "max 100000\n"),
            ("memory.max", "max\n"),
            ("memory.stat", "anon 0\nfile 0\ninactive_file 4096\n"),
            (
                "io.stat",
                "8:0 rbytes=8192 wbytes=4096 rios=2 wios=1 dbytes=0 dios=0\n",
            ),
            ("pids.current", "3\n"),
            ("pids.max", "max\n"),
            (
                "cpu.pressure",
                "some avg10=1.25 avg60=0.00 avg300=0.00 total=1234\n\
                 full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            ),
        ] {
            fs::write(dir.join(file), text).unwrap();
        }
        self.set_memory(pid, MEM);
    }

    /// Rewrites `memory.current` in place (the reader keeps the file open): a fixed-width
    /// number in one write, so a read sees the old or the new number.
    fn set_memory(&self, pid: u32, bytes: u64) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(self.dir(pid).join("memory.current"))
            .unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(format!("{bytes:012}\n").as_bytes()).unwrap();
    }
}

fn config(sim: &Sim, tree: &Tree, source: SourcePolicy, mode: Mode) -> EngineConfig {
    let mut config = EngineConfig::new(Endpoint::parse(&sim.url()).unwrap());
    config.source = source;
    config.mode = mode;
    config.interval = Duration::from_millis(200);
    config.cgroup_root = tree.cgroup();
    config.proc_root = tree.proc();
    config
}

/// What a test looks at of an event.
#[derive(Clone, Debug)]
enum Seen {
    Sample {
        name: String,
        read: i64,
        source: Source,
        mem: u64,
        pids: u64,
        net_rx: u64,
        block_read: u64,
        warmup: bool,
        interval_nanos: u64,
        cpu_limit: Option<CpuLimit>,
    },
    Gone(String, Gone),
    Error(Option<String>, String),
}

fn seen(event: Event<'_>) -> Option<Seen> {
    Some(match event {
        Event::Sample {
            container,
            sample,
            derived,
        } => Seen::Sample {
            name: container.name.clone(),
            read: sample.read.unix_nanos(),
            source: sample.source,
            mem: sample.memory.usage,
            pids: derived.pids,
            net_rx: derived.net_rx,
            block_read: derived.block_read,
            warmup: derived.warmup,
            interval_nanos: derived.interval_nanos,
            cpu_limit: sample.cpu_limit,
        },
        Event::Gone { container, why } => Seen::Gone(container.name.clone(), why),
        Event::Error {
            container, error, ..
        } => Seen::Error(container.map(|c| c.name.clone()), error.to_string()),
        _ => return None,
    })
}

/// Runs `engine` until `done` says so (or `limit` passes), collecting what it reports.
fn run(
    engine: &mut Engine,
    seen_so_far: &mut Vec<Seen>,
    limit: Duration,
    mut done: impl FnMut(&[Seen]) -> bool,
) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && !done(seen_so_far) && !engine.is_done() {
        engine
            .poll(Some(Duration::from_millis(20)), &mut |e| {
                if let Some(s) = seen(e) {
                    seen_so_far.push(s);
                }
                Control::Continue
            })
            .unwrap();
    }
}

fn samples(seen: &[Seen]) -> impl Iterator<Item = &Seen> {
    seen.iter().filter(|s| matches!(s, Seen::Sample { .. }))
}

/// Samples by `read`, in order.
fn passes(seen: &[Seen]) -> BTreeMap<i64, Vec<&Seen>> {
    let mut out: BTreeMap<i64, Vec<&Seen>> = BTreeMap::new();
    for s in samples(seen) {
        if let Seen::Sample { read, .. } = s {
            out.entry(*read).or_default().push(s);
        }
    }
    out
}

fn errors(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter()
        .filter(|s| matches!(s, Seen::Error(..)))
        .collect()
}

#[test]
fn samples_carry_the_files_numbers_and_a_pass_shares_its_read() {
    let sim = sim(3);
    let tree = Tree::new(&sim, 3);
    let mut engine =
        Engine::new(config(&sim, &tree, SourcePolicy::Cgroupfs, Mode::Stream)).unwrap();
    let mut seen = Vec::new();
    run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
        passes(s).values().filter(|p| p.len() == 3).count() >= 3
    });
    assert!(errors(&seen).is_empty(), "{seen:#?}");
    let full = passes(&seen);
    assert!(full.len() >= 3, "{seen:#?}");
    for (read, pass) in &full {
        // Every row of a pass has the pass's moment, the interval's multiple (a timer wakes
        // a little late, never early).
        assert_eq!(pass.len(), 3, "a pass of {read}: {pass:#?}");
        let past = read.rem_euclid(200_000_000);
        assert!(past < 100_000_000, "{read} is {past} ns past a 200 ms mark");
        let names: BTreeSet<_> = (pass.iter())
            .map(|s| match s {
                Seen::Sample { name, .. } => name.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(names.len(), 3, "{pass:#?}");
    }
    for s in samples(&seen) {
        let Seen::Sample {
            source,
            mem,
            pids,
            net_rx,
            block_read,
            cpu_limit,
            ..
        } = s
        else {
            unreachable!()
        };
        assert_eq!(*source, Source::Cgroupfs);
        assert_eq!((*mem, *pids, *net_rx, *block_read), (MEM, 3, 1296, 8192));
        // The cgroup's cpu.max says none; the reader's word, not the inspect's, counts.
        assert_eq!(*cpu_limit, None);
    }
    // The first sample of each is a warm-up; the next ones measure over one interval.
    let later: Vec<_> = full.values().skip(1).flatten().collect();
    for s in &later {
        let Seen::Sample {
            warmup,
            interval_nanos,
            ..
        } = s
        else {
            unreachable!()
        };
        assert!(!warmup);
        assert!(
            (100_000_000..400_000_000).contains(interval_nanos),
            "{interval_nanos}"
        );
    }
    assert!(engine.counters().frames >= samples(&seen).count() as u64);

    // A file rewritten: the next passes carry its new number.
    for &pid in tree.ids.keys() {
        tree.set_memory(pid, 2 * MEM);
    }
    let before = seen.len();
    run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
        passes(&s[before..]).values().any(|p| {
            p.len() == 3
                && p.iter()
                    .all(|s| matches!(s, Seen::Sample { mem, .. } if *mem == 2 * MEM))
        })
    });
    assert!(
        passes(&seen[before..]).values().any(|p| p.len() == 3
            && p.iter()
                .all(|s| matches!(s, Seen::Sample { mem, .. } if *mem == 2 * MEM))),
        "{:#?}",
        &seen[before..]
    );
    sim.shutdown();
}

#[test]
fn a_removed_cgroup_is_gone_once() {
    let sim = sim(3);
    let tree = Tree::new(&sim, 3);
    let mut engine =
        Engine::new(config(&sim, &tree, SourcePolicy::Cgroupfs, Mode::Stream)).unwrap();
    let mut seen = Vec::new();
    run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
        passes(s).values().any(|p| p.len() == 3)
    });
    let second = *tree.ids.keys().nth(1).unwrap();
    fs::remove_dir_all(tree.dir(second)).unwrap();
    let gone = |s: &[Seen]| {
        s.iter()
            .filter_map(|s| match s {
                Seen::Gone(name, why) => Some((name.clone(), *why)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
        !gone(s).is_empty()
    });
    let at = seen.len();
    // Three more passes: nothing more of it, and no error.
    run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
        passes(&s[at..]).values().filter(|p| p.len() == 2).count() >= 3
    });
    let went = gone(&seen);
    assert_eq!(went.len(), 1, "{seen:#?}");
    let (name, why) = went[0].clone();
    assert_eq!(why, Gone::Stopped);
    assert!(errors(&seen).is_empty(), "{seen:#?}");
    assert!(
        !samples(&seen[at..]).any(|s| matches!(s, Seen::Sample { name: n, .. } if *n == name)),
        "{seen:#?}"
    );
    // The daemon's own `die` for it, later, is no news.
    sim.stop(&name).unwrap();
    let at = seen.len();
    run(&mut engine, &mut seen, Duration::from_millis(1500), |_| {
        false
    });
    assert!(gone(&seen[at..]).is_empty(), "{:#?}", &seen[at..]);
    assert!(errors(&seen[at..]).is_empty(), "{:#?}", &seen[at..]);
    sim.shutdown();
}

/// A container stopped (its cgroup removed, then the daemon's `die`) and started again
/// (a new cgroup): its samples come back from the cgroup files, with the running ones and
/// with every container (`-a`).
#[test]
fn a_container_started_again_is_read_from_its_new_cgroup() {
    for selection in [Selection::Running, Selection::All] {
        let sim = sim(2);
        let tree = Tree::new(&sim, 2);
        let mut config = config(&sim, &tree, SourcePolicy::Cgroupfs, Mode::Stream);
        config.selection = selection.clone();
        let mut engine = Engine::new(config).unwrap();
        let mut seen = Vec::new();
        run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
            passes(s).values().any(|p| p.len() == 2)
        });
        let pid = *tree.ids.keys().nth(1).unwrap();
        let name = sim_name(&sim, &tree.ids[&pid]);
        fs::remove_dir_all(tree.dir(pid)).unwrap();
        sim.stop(&name).unwrap();
        run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
            s.iter()
                .any(|s| matches!(s, Seen::Gone(n, _) if *n == name))
        });
        tree.add(pid);
        sim.start_container(&name).unwrap();
        let at = seen.len();
        run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
            samples(&s[at..]).any(|s| matches!(s, Seen::Sample { name: n, .. } if *n == name))
        });
        let back: Vec<&Seen> = samples(&seen[at..])
            .filter(|s| matches!(s, Seen::Sample { name: n, .. } if *n == name))
            .collect();
        assert!(
            !back.is_empty(),
            "{selection:?}: {name} not back: {seen:#?}"
        );
        assert!(
            back.iter().all(|s| matches!(
                s,
                Seen::Sample {
                    source: Source::Cgroupfs,
                    ..
                }
            )),
            "{selection:?}: {back:#?}"
        );
        assert!(errors(&seen).is_empty(), "{selection:?}: {seen:#?}");
        sim.shutdown();
    }
}

/// Under an open-files limit too low to keep every container's files open (200 here; 20
/// containers of ten files and more), the containers beyond half the limit open their files
/// at each pass: every row is there, with its numbers, and no error.
#[test]
fn containers_beyond_the_open_files_limit_are_read_with_files_opened_per_pass() {
    let sim = sim(20);
    let tree = Tree::new(&sim, 20);
    let cgroup = tree.cgroup();
    let proc = tree.proc();
    let script = format!(
        "ulimit -n 200 && exec {BIN} -H {} stats --no-stream --format json --source cgroupfs \
         --interval 0.2 --cgroup-root {} --proc-root {}",
        sim.url(),
        cgroup.display(),
        proc.display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    let rows: Vec<serde_json::Value> = (stdout.lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 20, "{stdout}");
    for row in &rows {
        // memory.current of the tree, and its three PIDs.
        assert_ne!(row["MemUsage"], "--", "{row}");
        assert_eq!(row["PIDs"], "3", "{row}");
    }
    sim.shutdown();
}

/// The sim's name of container `id`.
fn sim_name(sim: &Sim, id: &str) -> String {
    let mut client = Client::new(Endpoint::parse(&sim.url()).unwrap()).unwrap();
    let inspect = client.get_api(&format!("/containers/{id}/json")).unwrap();
    let inspect: serde_json::Value = serde_json::from_slice(&inspect.body).unwrap();
    inspect["Name"]
        .as_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string()
}

/// Makes every container's `<proc>/PID/cgroup` a directory: it cannot be read.
fn break_tree(tree: &Tree) {
    for pid in tree.ids.keys() {
        let file = tree.proc().join(pid.to_string()).join("cgroup");
        fs::remove_file(&file).unwrap();
        fs::create_dir(&file).unwrap();
    }
}

#[test]
fn an_unreadable_tree_is_one_error() {
    let sim = sim(3);
    let tree = Tree::new(&sim, 3);
    break_tree(&tree);
    // The engine: one report for every container and every retry.
    let mut engine =
        Engine::new(config(&sim, &tree, SourcePolicy::Cgroupfs, Mode::Stream)).unwrap();
    let mut seen = Vec::new();
    run(&mut engine, &mut seen, Duration::from_millis(2500), |_| {
        false
    });
    let errs = errors(&seen);
    assert_eq!(errs.len(), 1, "{seen:#?}");
    let Seen::Error(Some(_), message) = errs[0] else {
        panic!("{errs:?}")
    };
    assert!(message.contains("cgroup"), "{message}");
    assert!(
        message.contains(&tree.proc().display().to_string()),
        "{message}"
    );
    assert!(
        engine.counters().stream_errors >= 3,
        "{:?}",
        engine.counters()
    );
    assert_eq!(samples(&seen).count(), 0);

    // The CLI: one line on stderr while streaming ...
    let (cgroup, proc) = (tree.cgroup(), tree.proc());
    let roots = [
        "--cgroup-root",
        cgroup.to_str().unwrap(),
        "--proc-root",
        proc.to_str().unwrap(),
    ];
    let child = Command::new(BIN)
        .args([
            "-H",
            &sim.url(),
            "stats",
            "--source",
            "cgroupfs",
            "--format",
            "ndjson",
        ])
        .args(roots)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("dockstat: "), "{stderr}");
    assert!(out.stdout.is_empty());
    // ... and a one-off ends with the code for an unreadable cgroup.
    let out = dockstat(&sim, &["--source", "cgroupfs", "--no-stream"], &roots);
    assert_eq!(out.status.code(), Some(37), "{out:?}");
    sim.shutdown();
}

#[test]
fn auto_falls_back_to_the_stream_for_a_container_without_a_cgroup() {
    let sim = sim(3);
    // No cgroup for the third container; its pid is another process's here (another pid
    // namespace), in the first container's cgroup: not to be taken for the third's.
    let tree = Tree::new(&sim, 2);
    let (first, third) = (*tree.ids.keys().next().unwrap(), SIM_PID_BASE + 2);
    assert!(!tree.ids.contains_key(&third));
    let stranger = tree.proc().join(third.to_string());
    fs::create_dir_all(stranger.join("net")).unwrap();
    fs::copy(
        tree.proc().join(format!("{first}/cgroup")),
        stranger.join("cgroup"),
    )
    .unwrap();
    fs::copy(
        tree.proc().join(format!("{first}/net/dev")),
        stranger.join("net/dev"),
    )
    .unwrap();
    let mut engine = Engine::new(config(&sim, &tree, SourcePolicy::Auto, Mode::Stream)).unwrap();
    let mut seen = Vec::new();
    let by_source = |s: &[Seen]| {
        let mut m: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
        for s in samples(s) {
            if let Seen::Sample { name, source, .. } = s {
                m.entry(name.clone()).or_default().insert(source.as_str());
            }
        }
        m
    };
    run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
        let counts = samples(s).fold(BTreeMap::<String, usize>::new(), |mut m, s| {
            if let Seen::Sample { name, .. } = s {
                *m.entry(name.clone()).or_default() += 1;
            }
            m
        });
        counts.len() == 3 && counts.values().all(|&n| n >= 3)
    });
    assert!(errors(&seen).is_empty(), "{seen:#?}");
    let sources = by_source(&seen);
    let cgroupfs = sources
        .values()
        .filter(|s| **s == BTreeSet::from(["cgroupfs"]))
        .count();
    let api = sources
        .values()
        .filter(|s| **s == BTreeSet::from(["api"]))
        .count();
    assert_eq!((cgroupfs, api), (2, 1), "{sources:?}");
    // The API stream's samples carry the inspect's CPU limit too (--cpus 1.5).
    for s in samples(&seen) {
        if let Seen::Sample {
            source: Source::Api,
            cpu_limit,
            ..
        } = s
        {
            assert_eq!(
                *cpu_limit,
                Some(CpuLimit {
                    quota_us: 150_000,
                    period_us: 100_000
                })
            );
        }
    }

    // `Cgroupfs` instead (which takes the pid's cgroup at its word: no stranger now): an
    // error for the third, the others sampled all the same.
    fs::remove_dir_all(&stranger).unwrap();
    let mut engine =
        Engine::new(config(&sim, &tree, SourcePolicy::Cgroupfs, Mode::Stream)).unwrap();
    let mut seen = Vec::new();
    run(&mut engine, &mut seen, Duration::from_secs(10), |s| {
        !errors(s).is_empty() && passes(s).values().filter(|p| p.len() == 2).count() >= 2
    });
    let errs = errors(&seen);
    assert!(
        matches!(errs.as_slice(), [Seen::Error(Some(_), _)]),
        "{seen:#?}"
    );
    assert!(samples(&seen).all(|s| matches!(
        s,
        Seen::Sample {
            source: Source::Cgroupfs,
            ..
        }
    )));
    sim.shutdown();
}

#[test]
fn cpu_limits_from_the_inspect_on_api_samples() {
    let sim = sim(2);
    let tree = Tree::new(&sim, 0);
    let mut config = config(&sim, &tree, SourcePolicy::Api, Mode::OneShot);
    config.cpu_limits = true;
    let mut engine = Engine::new(config).unwrap();
    let mut seen = Vec::new();
    run(&mut engine, &mut seen, Duration::from_secs(10), |_| false);
    assert!(engine.is_done());
    assert_eq!(samples(&seen).count(), 2, "{seen:#?}");
    for s in samples(&seen) {
        assert!(
            matches!(s, Seen::Sample { source: Source::Api, cpu_limit: Some(l), .. } if l.quota_us == 150_000 && l.period_us == 100_000),
            "{s:?}"
        );
    }
    sim.shutdown();
}

#[test]
fn once_is_two_passes_an_interval_apart_and_one_shot_is_one() {
    let sim = sim(3);
    let tree = Tree::new(&sim, 3);
    for (mode, warmup) in [(Mode::Once, false), (Mode::OneShot, true)] {
        let mut engine = Engine::new(config(&sim, &tree, SourcePolicy::Cgroupfs, mode)).unwrap();
        let mut seen = Vec::new();
        let start = Instant::now();
        run(&mut engine, &mut seen, Duration::from_secs(10), |_| false);
        let took = start.elapsed();
        assert!(engine.is_done(), "{mode:?} {seen:#?}");
        assert!(errors(&seen).is_empty(), "{seen:#?}");
        assert_eq!(samples(&seen).count(), 3, "{mode:?} {seen:#?}");
        let done = (seen.iter())
            .filter(|s| matches!(s, Seen::Gone(_, Gone::Done)))
            .count();
        assert_eq!(done, 3, "{seen:#?}");
        for s in samples(&seen) {
            let Seen::Sample {
                warmup: w,
                interval_nanos,
                source,
                ..
            } = s
            else {
                unreachable!()
            };
            assert_eq!((*w, *source), (warmup, Source::Cgroupfs), "{mode:?} {s:?}");
            if mode == Mode::Once {
                assert!(
                    (150_000_000..600_000_000).contains(interval_nanos),
                    "{interval_nanos}"
                );
            }
        }
        match mode {
            Mode::Once => assert!(took >= Duration::from_millis(200), "{took:?}"),
            _ => assert!(took < Duration::from_millis(1500), "{took:?}"),
        }
    }
    // The CLI's `--no-stream`: the rows, from the files (100 MiB less 4 KiB of inactive file).
    let (cgroup, proc) = (tree.cgroup(), tree.proc());
    let roots = [
        "--cgroup-root",
        cgroup.to_str().unwrap(),
        "--proc-root",
        proc.to_str().unwrap(),
    ];
    let out = dockstat(
        &sim,
        &["--source", "cgroupfs", "--no-stream", "--interval", "0.3"],
        &roots,
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<_> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    for row in rows {
        assert!(row.contains("100MiB / 15.62GiB"), "{row}");
        assert!(row.contains("1.3kB / 648B"), "{row}");
        assert!(row.contains("8.19kB / 4.1kB"), "{row}");
    }
    sim.shutdown();
}

#[test]
fn source_flags_are_checked() {
    for (args, says) in [
        (
            &["stats", "--source", "disk"][..],
            "invalid value \"disk\" for --source",
        ),
        (
            &["serve", "--interval", "0"],
            "invalid value \"0\" for --interval",
        ),
        (
            &["stats", "--interval", "x"],
            "invalid value \"x\" for --interval",
        ),
        (
            &["stats", "--cgroup-root", "/nonexistent/dockstat"],
            "not a directory",
        ),
        (
            &["serve", "--proc-root", "/nonexistent/dockstat"],
            "not a directory",
        ),
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("dockstat: ") && stderr.contains(says),
            "{stderr}"
        );
    }
}

fn dockstat(sim: &Sim, args: &[&str], roots: &[&str]) -> Output {
    Command::new(BIN)
        .args(["-H", &sim.url(), "stats"])
        .args(args)
        .args(roots)
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap()
}

// ---- a real daemon (cgroup v1) -------------------------------------------------------------

/// `NAME -> MEM USAGE / LIMIT, PIDS, BLOCK I/O, NET I/O` of `stats --no-stream`.
fn rows(host: &str, source: &str) -> BTreeMap<String, String> {
    let out = Command::new(BIN)
        .args([
            "-H",
            host,
            "stats",
            "--no-stream",
            "--source",
            source,
            "--format",
        ])
        .arg("{{.Name}}\t{{.MemUsage}}\t{{.PIDs}}\t{{.BlockIO}}\t{{.NetIO}}")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .unwrap();
    assert!(out.status.success(), "--source {source}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(name, rest)| (name.to_string(), rest.to_string()))
        .collect()
}

#[test]
fn real_daemon_cgroupfs_agrees_with_the_api_for_idle_containers() {
    let Some(host) = real::url() else { return };
    if !host.starts_with("unix://") {
        eprintln!("SKIPPED: the cgroupfs source needs the daemon's unix socket, not {host}");
        return;
    }
    let name = format!("i16-engine-cgfs-{}", std::process::id());
    let run = Command::new("docker")
        .args(["run", "-d", "--name", &name, "--label", "a=b", "bb:latest"])
        .args(["sleep", "100000"])
        .env("DOCKER_HOST", &host)
        .output()
        .expect("the docker CLI");
    assert!(run.status.success(), "{run:?}");
    // Let its start settle (the page cache of the exec, the first pids).
    std::thread::sleep(Duration::from_millis(500));
    let mut result = Ok(());
    for _ in 0..3 {
        let api = rows(&host, "api");
        let cgroupfs = rows(&host, "cgroupfs");
        // Others may start and remove containers meanwhile: the same list, or try again.
        let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<BTreeSet<_>>();
        if names(&api) != names(&cgroupfs) {
            result = Err(vec![format!("api lists {api:?}, cgroupfs {cgroupfs:?}")]);
            continue;
        }
        let idle = (api.keys())
            .filter(|n| n.starts_with("idle-") || **n == name)
            .cloned()
            .collect::<Vec<_>>();
        assert!(idle.len() >= 2, "{api:?}");
        let differ: Vec<_> = (idle.iter())
            .filter(|n| api[*n] != cgroupfs[*n])
            .map(|n| format!("{n}: api {:?}, cgroupfs {:?}", api[n], cgroupfs[n]))
            .collect();
        result = if differ.is_empty() {
            Ok(())
        } else {
            Err(differ)
        };
        if result.is_ok() {
            break;
        }
    }
    let _ = Command::new("docker")
        .args(["rm", "-f", &name])
        .env("DOCKER_HOST", &host)
        .output();
    if let Err(differ) = result {
        panic!("the two sources differ:\n{}", differ.join("\n"));
    }
}
