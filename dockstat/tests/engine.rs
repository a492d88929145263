//! The engine against the simulated daemon: discovery, named containers, one-sample mode,
//! stopping from another thread, staleness, reconnects after a dropped stream, many streams
//! through a small connect cap, and `max_streams`. The open-files limit, which needs a
//! process of its own under `ulimit`, is tested through the CLI (dockstat-cli/tests/limits.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dockstat::ErrorKind;
use dockstat::engine::Mode;
use dockstat::engine::{
    Client, Control, Endpoint, Engine, EngineConfig, Event, Gone, HostState, Selection, Update,
};
use dockstat_sim::{Fault, FaultRule, Listen, Sim, SimConfig};

fn socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-engine-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

fn sim(config: SimConfig) -> Sim {
    Sim::start(Listen::Unix(socket()), config).expect("sim")
}

fn quick(containers: usize) -> SimConfig {
    SimConfig {
        containers,
        stopped: 1,
        interval: Duration::from_millis(50),
        ..SimConfig::default()
    }
}

fn engine(sim: &Sim, f: impl FnOnce(&mut EngineConfig)) -> Engine {
    let mut config = EngineConfig::new(Endpoint::parse(&sim.url()).unwrap());
    config.stale_after = Duration::from_millis(400);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    f(&mut config);
    Engine::new(config).unwrap()
}

/// What a run saw, by container name.
#[derive(Default, Debug, Clone)]
struct Seen {
    added: BTreeSet<String>,
    samples: BTreeMap<String, usize>,
    stale: BTreeSet<String>,
    gone: Vec<(String, Gone)>,
    errors: Vec<(Option<String>, ErrorKind, String)>,
}

/// Runs the engine until `done(&seen)` or the deadline.
fn run(engine: &mut Engine, secs: f64, mut done: impl FnMut(&Seen) -> bool) -> Seen {
    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < deadline && !done(&seen) && !engine.is_done() {
        engine
            .poll(Some(Duration::from_millis(50)), &mut |event| {
                match event {
                    Event::Added(c) => {
                        seen.added.insert(c.name.clone());
                    }
                    Event::Sample { container, .. } => {
                        *seen.samples.entry(container.name.clone()).or_default() += 1;
                    }
                    Event::Stale(c) => {
                        seen.stale.insert(c.name.clone());
                    }
                    Event::Gone { container, why } => seen.gone.push((container.name.clone(), why)),
                    Event::Error {
                        container, error, ..
                    } => seen.errors.push((
                        container.map(|c| c.name.clone()),
                        error.kind(),
                        error.to_string(),
                    )),
                }
                Control::Continue
            })
            .unwrap();
    }
    seen
}

#[test]
fn discovers_running_containers_and_streams_them() {
    let sim = sim(quick(5));
    let mut engine = engine(&sim, |_| {});
    let seen = run(&mut engine, 5.0, |s| {
        s.samples.len() == 5 && s.samples.values().all(|&n| n >= 3)
    });
    assert_eq!(seen.added.len(), 5, "{seen:?}");
    assert!(!seen.added.contains("stopped-6"));
    assert!(seen.samples.values().all(|&n| n >= 3), "{seen:?}");
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    let c = engine.counters();
    assert_eq!((c.streams, c.open), (5, 5));
    assert!(c.frames >= 15 && c.bytes > c.frames * 1000);
}

#[test]
fn all_includes_stopped_containers() {
    let sim = sim(quick(3));
    let mut engine = engine(&sim, |c| c.selection = Selection::All);
    let seen = run(&mut engine, 5.0, |s| s.samples.len() == 4);
    assert_eq!(seen.added.len(), 4, "{seen:?}");
    assert!(seen.samples.contains_key("stopped-4"), "{seen:?}");
}

#[test]
fn named_containers_and_a_missing_one() {
    let sim = sim(quick(3));
    let mut engine = engine(&sim, |c| {
        c.selection = Selection::Named(vec!["busy-1".into(), "nosuch".into()]);
    });
    let seen = run(&mut engine, 5.0, |s| {
        s.samples.get("busy-1").copied().unwrap_or(0) >= 2 && !s.gone.is_empty()
    });
    assert_eq!(
        seen.gone,
        [("nosuch".to_string(), Gone::Removed)],
        "{seen:?}"
    );
    assert!(seen.samples["busy-1"] >= 2);
    assert_eq!(seen.samples.len(), 1);
    // Asked for by name, a missing container is an error, as with `docker stats nosuch`.
    assert_eq!(seen.errors.len(), 1, "{seen:?}");
    let (who, kind, message) = &seen.errors[0];
    assert_eq!(who.as_deref(), Some("nosuch"));
    assert_eq!(*kind, ErrorKind::Status(404));
    assert!(message.contains("No such container: nosuch"), "{message}");
}

#[test]
fn once_mode_samples_each_container_once_and_finishes() {
    let sim = sim(quick(4));
    let mut engine = engine(&sim, |c| {
        c.mode = Mode::Once;
        c.selection = Selection::All;
    });
    let seen = run(&mut engine, 10.0, |_| false);
    assert!(engine.is_done(), "{seen:?}");
    assert_eq!(seen.samples.len(), 5);
    assert!(seen.samples.values().all(|&n| n == 1), "{seen:?}");
    assert_eq!(seen.gone.len(), 5);
    assert!(seen.gone.iter().all(|(_, why)| *why == Gone::Done));
}

#[test]
fn stop_handle_stops_run_from_another_thread() {
    let sim = sim(quick(2));
    let mut engine = engine(&sim, |_| {});
    let stop = engine.stop_handle();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(400));
        stop.stop();
    });
    let started = Instant::now();
    let mut samples = 0;
    engine
        .run(&mut |e| {
            if let Event::Sample { .. } = e {
                samples += 1;
            }
            Control::Continue
        })
        .unwrap();
    stopper.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(samples > 0);

    // And from the handler.
    let mut count = 0;
    engine
        .run(&mut |e| {
            if let Event::Sample { .. } = e {
                count += 1;
            }
            if count == 3 {
                Control::Stop
            } else {
                Control::Continue
            }
        })
        .ok();
}

#[test]
fn a_stalled_stream_is_reported_stale_and_the_others_go_on() {
    let mut config = quick(3);
    config.faults = vec![FaultRule {
        container: "idle-2".into(),
        after_frames: 2,
        fault: Fault::Stall,
    }];
    let sim = sim(config);
    let mut engine = engine(&sim, |_| {});
    // Until the report: a stale stream still silent after as long again is reconnected (see
    // tests/faults.rs), which a later sweep does, never the one that reports it.
    let seen = run(&mut engine, 6.0, |s| s.stale.contains("idle-2"));
    assert_eq!(
        seen.stale,
        BTreeSet::from(["idle-2".to_string()]),
        "{seen:?}"
    );
    assert_eq!(seen.samples["idle-2"], 2);
    // 400 ms without a frame, at a frame every 50 ms.
    assert!(seen.samples["busy-1"] > 5, "{seen:?}");
    assert_eq!(engine.counters().stale, 1);
}

#[test]
fn a_dropped_stream_reports_the_error_and_reconnects() {
    let mut config = quick(2);
    config.faults = vec![FaultRule {
        container: "busy-1".into(),
        after_frames: 2,
        fault: Fault::TruncateMidChunk,
    }];
    let sim = sim(config);
    let mut engine = engine(&sim, |_| {});
    let seen = run(&mut engine, 6.0, |s| {
        s.samples.get("busy-1").copied().unwrap_or(0) >= 6
    });
    // Each connection of busy-1 delivers two frames, then is cut mid-chunk.
    let busy_errors: Vec<_> = seen
        .errors
        .iter()
        .filter(|e| e.0.as_deref() == Some("busy-1"))
        .collect();
    assert!(!busy_errors.is_empty(), "{seen:?}");
    assert!(
        busy_errors.iter().all(|e| e.1 == ErrorKind::Truncated),
        "{busy_errors:?}"
    );
    assert!(seen.samples["busy-1"] >= 6, "reconnected: {seen:?}");
    assert_eq!(seen.added.len(), 2, "reconnecting is not re-adding");
    assert!(seen.gone.is_empty());
    assert!(engine.counters().reconnects >= 2);
}

#[test]
fn a_thousand_streams_through_a_small_connect_cap() {
    let mut config = quick(1000);
    config.interval = Duration::from_millis(500);
    config.stopped = 0;
    let sim = sim(config);
    let mut engine = engine(&sim, |c| c.max_connecting = 16);
    let seen = run(&mut engine, 30.0, |s| s.samples.len() == 1000);
    assert_eq!(seen.added.len(), 1000);
    assert_eq!(seen.samples.len(), 1000, "every stream delivered");
    assert!(
        seen.errors.is_empty(),
        "{:?}",
        &seen.errors[..seen.errors.len().min(5)]
    );
}

#[test]
fn max_streams_caps_and_the_rest_take_the_place_of_those_that_go() {
    let sim = sim(quick(6));
    let mut engine = engine(&sim, |c| c.max_streams = 3);
    let first = run(&mut engine, 5.0, |s| {
        s.added.len() == 3 && s.added.iter().all(|n| s.samples.get(n) >= Some(&2))
    });
    assert_eq!(first.added.len(), 3, "{first:?}");
    // Samples only from the watched ones.
    assert!(
        first.samples.keys().all(|n| first.added.contains(n)),
        "{first:?}"
    );
    assert_eq!(first.errors.len(), 1, "{first:?}");
    assert_eq!(first.errors[0].1, ErrorKind::StreamLimit);
    assert!(first.errors[0].2.contains("max_streams (3)"), "{first:?}");
    let c = engine.counters();
    assert_eq!((c.streams, c.capped), (3, 3), "{c:?}");
    assert_eq!(engine.containers().count(), 3);

    // One watched container stops: the first one waiting takes its place.
    let stopped = first.added.iter().next().unwrap().clone();
    sim.stop(&stopped).unwrap();
    let second = run(&mut engine, 5.0, |s| {
        s.added.len() == 1 && s.added.iter().all(|n| s.samples.get(n) >= Some(&2))
    });
    assert_eq!(
        second.gone,
        [(stopped.clone(), Gone::Stopped)],
        "{second:?}"
    );
    assert_eq!(second.added.len(), 1, "{second:?}");
    assert!(!first.added.contains(second.added.iter().next().unwrap()));
    let c = engine.counters();
    assert_eq!((c.streams, c.capped), (3, 2), "{c:?}");

    // A waiting container that stops goes without a word.
    let waiting: Vec<String> = running_names(&sim)
        .into_iter()
        .filter(|n| !first.added.contains(n) && !second.added.contains(n))
        .collect();
    assert_eq!(waiting.len(), 2, "{waiting:?}");
    sim.stop(&waiting[0]).unwrap();
    let third = run(&mut engine, 0.5, |_| false);
    assert!(third.gone.is_empty() && third.added.is_empty(), "{third:?}");
    assert_eq!(engine.counters().capped, 1);
}

/// The names of the sim's running containers.
fn running_names(sim: &Sim) -> Vec<String> {
    let mut client = Client::new(Endpoint::parse(&sim.url()).unwrap()).unwrap();
    let body = client.get("/containers/json").unwrap().body;
    let list: serde_json::Value = serde_json::from_slice(&body).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["Names"][0]
                .as_str()
                .unwrap()
                .trim_start_matches('/')
                .to_string()
        })
        .collect()
}

/// Polls until `done` holds for what was seen since the last call, or fails after 5 s.
fn until(engine: &mut Engine, seen: &mut Seen, what: &str, mut done: impl FnMut(&Seen) -> bool) {
    let more = run(engine, 5.0, |s| done(&merge(seen, s)));
    *seen = merge(seen, &more);
    assert!(done(seen), "{what}: {seen:?}");
}

fn merge(a: &Seen, b: &Seen) -> Seen {
    let mut m = Seen {
        added: a.added.union(&b.added).cloned().collect(),
        samples: a.samples.clone(),
        stale: a.stale.union(&b.stale).cloned().collect(),
        gone: a.gone.iter().chain(&b.gone).cloned().collect(),
        errors: a.errors.iter().chain(&b.errors).cloned().collect(),
    };
    for (k, n) in &b.samples {
        *m.samples.entry(k.clone()).or_default() += n;
    }
    m
}

#[test]
fn follows_containers_that_start_pause_stop_and_go() {
    let sim = sim(quick(3));
    let mut engine = engine(&sim, |_| {});
    let mut seen = Seen::default();
    until(&mut engine, &mut seen, "first samples", |s| {
        s.samples.len() == 3
    });

    sim.create(Some("late")).unwrap();
    sim.start_container("late").unwrap();
    until(
        &mut engine,
        &mut seen,
        "a started container is added",
        |s| s.samples.get("late").copied().unwrap_or(0) >= 2,
    );

    // A paused container keeps its stream (its numbers stand still).
    sim.pause("busy-1").unwrap();
    let before = seen.samples["busy-1"];
    until(&mut engine, &mut seen, "paused still streams", |s| {
        s.samples["busy-1"] >= before + 3
    });
    sim.unpause("busy-1").unwrap();

    sim.stop("idle-2").unwrap();
    until(&mut engine, &mut seen, "a stopped container goes", |s| {
        s.gone.contains(&("idle-2".to_string(), Gone::Stopped))
    });

    sim.remove("memhog-3", true).unwrap();
    until(&mut engine, &mut seen, "a removed container goes", |s| {
        s.gone.iter().any(|(n, _)| n == "memhog-3")
    });

    // Started again after a stop: watched again.
    sim.start_container("idle-2").unwrap();
    let before = seen.samples["idle-2"];
    until(&mut engine, &mut seen, "restarted", |s| {
        s.samples["idle-2"] >= before + 2
    });

    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert!(seen.stale.is_empty(), "{:?}", seen.stale);
    let watched: BTreeSet<String> = engine.containers().map(|c| c.name.clone()).collect();
    assert_eq!(
        watched,
        BTreeSet::from(["busy-1".into(), "idle-2".into(), "late".into()])
    );
}

#[test]
fn with_all_a_stopped_container_stays_until_it_is_removed() {
    let sim = sim(quick(2));
    let mut engine = engine(&sim, |c| c.selection = Selection::All);
    let mut seen = Seen::default();
    until(&mut engine, &mut seen, "first samples", |s| {
        s.samples.len() == 3
    });
    sim.create(Some("fresh")).unwrap();
    until(
        &mut engine,
        &mut seen,
        "a created container is added",
        |s| s.added.contains("fresh"),
    );
    sim.stop("busy-1").unwrap();
    let before = seen.samples["busy-1"];
    until(&mut engine, &mut seen, "stopped, still streamed", |s| {
        s.samples["busy-1"] >= before + 3
    });
    assert!(seen.gone.is_empty(), "{seen:?}");
    sim.remove("busy-1", false).unwrap();
    until(&mut engine, &mut seen, "removed", |s| {
        s.gone.contains(&("busy-1".to_string(), Gone::Removed))
    });
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
}

#[test]
fn a_named_container_removed_midstream_ends_cleanly() {
    let sim = sim(quick(2));
    let mut engine = engine(&sim, |c| {
        c.selection = Selection::Named(vec!["busy-1".into()]);
    });
    let mut seen = Seen::default();
    until(&mut engine, &mut seen, "first samples", |s| {
        s.samples.get("busy-1").copied().unwrap_or(0) >= 2
    });
    // The daemon sends zero frames, then ends the body with the zero-length chunk.
    sim.remove("busy-1", true).unwrap();
    until(&mut engine, &mut seen, "ended", |s| !s.gone.is_empty());
    assert_eq!(seen.gone, [("busy-1".to_string(), Gone::Removed)]);
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(engine.containers().count(), 0);
}

/// Pauses the sim's stream writers, then polls until nothing more arrives.
fn drain(sim: &Sim, engine: &mut Engine, handler: &mut dyn FnMut(Event<'_>)) {
    let mut client = Client::new(Endpoint::parse(&sim.url()).unwrap()).unwrap();
    let response = client.get("/_sim/pause").unwrap();
    assert_eq!(response.code, 200);
    let mut quiet_since = Instant::now();
    let mut last = engine.counters().frames;
    while quiet_since.elapsed() < Duration::from_millis(300) {
        engine
            .poll(Some(Duration::from_millis(20)), &mut |e| {
                handler(e);
                Control::Continue
            })
            .unwrap();
        let now = engine.counters().frames;
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
}

#[test]
fn every_frame_sent_is_received_once_even_split_at_random_points() {
    let config = SimConfig {
        containers: 200,
        interval: Duration::from_millis(20),
        split_chunks: true,
        ..SimConfig::default()
    };
    let sim = sim(config);
    // 10,000 frames a second of a debug build on a loaded machine can leave a stream silent
    // for a second; one silent for twice `stale_after` is reconnected, losing its frames in
    // flight, which is not what this test is about.
    let mut engine = engine(&sim, |c| c.stale_after = Duration::from_secs(5));
    // Per container, the last reading: each new one must be later (no frame twice).
    let mut last: BTreeMap<u32, dockstat::stats::Timestamp> = BTreeMap::new();
    let mut received = 0u64;
    let mut duplicates = 0u64;
    let mut errors = Vec::new();
    let mut handler = |e: Event<'_>| match e {
        Event::Sample {
            container, sample, ..
        } => {
            received += 1;
            let prev = last.insert(container.key, sample.read);
            if prev.is_some_and(|p| p >= sample.read) {
                duplicates += 1;
            }
        }
        Event::Error { error, .. } => errors.push(error.to_string()),
        _ => {}
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        engine
            .poll(Some(Duration::from_millis(50)), &mut |e| {
                handler(e);
                Control::Continue
            })
            .unwrap();
    }
    drain(&sim, &mut engine, &mut handler);
    let sent = sim.counters();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(received > 10_000, "{received}");
    assert_eq!(sent.frames_skipped, 0);
    assert_eq!(received, sent.frames_sent, "lost or extra frames");
    assert_eq!(duplicates, 0);
    assert_eq!(engine.counters().frames, received);
}

#[test]
fn a_slow_consumer_of_the_queue_loses_old_samples_not_streams() {
    let config = SimConfig {
        containers: 100,
        interval: Duration::from_millis(20),
        ..SimConfig::default()
    };
    let sim = sim(config);
    let config = EngineConfig::new(Endpoint::parse(&sim.url()).unwrap());
    let spawned = dockstat::engine::spawn(config, 100).unwrap();
    let mut added = 0;
    let mut samples = 0u64;
    let started = Instant::now();
    // 5,000 samples a second arrive; this consumer takes 2 ms per sample.
    while started.elapsed() < Duration::from_millis(1500) {
        match spawned.updates().recv_timeout(Duration::from_millis(50)) {
            Ok(Update::Added(_)) => added += 1,
            Ok(Update::Sample { .. }) => {
                samples += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            Ok(Update::Error { error, .. }) => panic!("{error}"),
            _ => {}
        }
    }
    spawned.stop();
    let rest: Vec<Update> = spawned.updates().collect();
    samples += rest
        .iter()
        .filter(|u| matches!(u, Update::Sample { .. }))
        .count() as u64;
    let stats = spawned.updates().stats();
    let counters = spawned.join().unwrap();
    assert_eq!(added, 100, "lifecycle updates are never dropped");
    assert!(stats.dropped > 1000, "{stats:?}");
    assert!(samples < 1500, "{samples}");
    assert_eq!(samples + stats.dropped, counters.frames, "{stats:?}");
    // The engine kept up with the daemon regardless.
    let sent = sim.counters();
    assert!(
        counters.frames + 200 >= sent.frames_sent,
        "{counters:?} {sent:?}"
    );
    assert_eq!(sent.frames_skipped, 0);
}

#[test]
fn a_stream_outlives_the_connect_timeout() {
    // The timeout is for the response head: a stream that delivers goes on past it.
    let sim = sim(quick(2));
    let mut engine = engine(&sim, |c| c.connect_timeout = Duration::from_millis(300));
    let seen = run(&mut engine, 5.0, |s| {
        s.samples.len() == 2 && s.samples.values().all(|&n| n >= 20)
    });
    assert!(seen.samples.values().all(|&n| n >= 20), "{seen:?}");
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    assert_eq!(engine.counters().reconnects, 0);
}

/// CPU time of the calling thread (user + system): other tests run beside it.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|f| f.parse().unwrap())
        .collect();
    let ticks = fields[0] + fields[1];
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

#[test]
fn waiting_for_a_one_off_sample_does_not_spin() {
    // stream=false answers after one interval; the engine has nothing to do meanwhile.
    let config = SimConfig {
        containers: 3,
        interval: Duration::from_millis(800),
        ..SimConfig::default()
    };
    let sim = sim(config);
    let mut engine = engine(&sim, |c| c.mode = Mode::Once);
    let (wall, cpu) = (Instant::now(), cpu_time());
    let seen = run(&mut engine, 10.0, |_| false);
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
    assert_eq!(seen.samples.len(), 3, "{seen:?}");
    assert!(wall >= Duration::from_millis(700), "{wall:?}");
    assert!(cpu < wall / 4, "{cpu:?} of CPU in {wall:?}");
}

#[test]
fn containers_can_be_watched_after_the_start() {
    let sim = sim(quick(3));
    let mut engine = engine(&sim, |c| c.selection = Selection::Named(Vec::new()));
    let mut seen = Seen::default();
    until(&mut engine, &mut seen, "idle", |_| true);
    engine.watch(0, "idle-2");
    until(&mut engine, &mut seen, "watched", |s| {
        s.samples.get("idle-2").copied().unwrap_or(0) >= 2
    });
    engine.watch(0, "nosuch");
    engine.watch(7, "busy-1");
    until(&mut engine, &mut seen, "a missing one", |s| {
        !s.gone.is_empty()
    });
    assert_eq!(seen.gone, [("nosuch".to_string(), Gone::Removed)]);
    let kinds: Vec<ErrorKind> = seen.errors.iter().map(|e| e.1).collect();
    assert_eq!(kinds, [ErrorKind::InvalidEndpoint, ErrorKind::Status(404)]);
    assert_eq!(seen.samples.len(), 1, "{seen:?}");
}

/// Polls until `done` holds for the engine's host states, or fails after 10 s.
fn until_hosts(engine: &mut Engine, what: &str, done: impl Fn(&[HostState]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&engine.host_states()) {
        assert!(
            Instant::now() < deadline,
            "{what}: {:?}",
            engine.host_states()
        );
        engine
            .poll(Some(Duration::from_millis(50)), &mut |_| Control::Continue)
            .unwrap();
    }
}

#[test]
fn host_states_follow_daemons_that_go_and_come_back() {
    // Two daemons, one without containers, and a socket path nothing listens on.
    let busy = sim(quick(2));
    let empty = sim(quick(0));
    let missing = socket();
    let path = busy.url().strip_prefix("unix://").unwrap().to_string();
    let mut engine = engine(&busy, |c| {
        c.hosts.push(Endpoint::parse(&empty.url()).unwrap());
        c.hosts
            .push(Endpoint::parse(&format!("unix://{}", missing.display())).unwrap());
    });
    let before = std::time::SystemTime::now();
    until_hosts(&mut engine, "two up, one down", |h| {
        h[0].up && h[0].containers == 2 && h[1].up && !h[2].up && h[2].errors >= 2
    });
    let h = engine.host_states();
    assert_eq!(h[1].containers, 0);
    assert_eq!((h[0].errors, h[1].errors), (0, 0), "{h:?}");
    assert_eq!(h[2].containers, 0);
    assert!(h[2].reconnects >= 1, "{h:?}");
    assert!(h[0].last_up.is_some_and(|t| t >= before));
    assert_eq!(h[2].last_up, None, "never up");

    // The daemon with containers goes away: discovery and both streams fail.
    busy.shutdown();
    until_hosts(&mut engine, "down", |h| !h[0].up);
    let down = engine.host_states();
    assert!(down[0].errors >= 1, "{down:?}");
    let went_down = down[0].last_up.expect("it was up");
    assert!(down[1].up && down[1].errors == 0, "{down:?}");

    // Back on the same path, without containers this time: up again, having reconnected.
    let back = Sim::start(Listen::Unix(path.into()), quick(0)).unwrap();
    until_hosts(&mut engine, "up again", |h| h[0].up && h[0].containers == 0);
    let h = engine.host_states();
    assert!(h[0].reconnects >= 1, "{h:?}");
    assert!(h[0].errors >= down[0].errors);
    assert!(h[0].last_up.unwrap() >= went_down);
    assert!(!h[2].up, "{h:?}");
    drop(back);
}
