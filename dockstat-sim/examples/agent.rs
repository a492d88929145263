//! A monitoring agent on the engine: every container of a daemon, followed as they come and
//! go, two ways.
//!
//! ```sh
//! cargo run --release --example agent              # a simulated daemon with churning containers
//! cargo run --release --example agent -- docker    # the daemon of $DOCKER_HOST
//! ```
//!
//! 1. **Callback** ([`Engine::run`]): the handler gets every sample borrowed from its frame,
//!    on the engine's thread, without an allocation. Another thread stops the engine with a
//!    [`StopHandle`](dockstat::engine::StopHandle).
//! 2. **Queue** ([`engine::spawn`]): the engine on its own thread, the updates owned, read by a
//!    consumer that is deliberately too slow: the engine keeps up with every stream anyway,
//!    and the queue drops the oldest samples and counts them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use dockstat::engine::{self, Control, Endpoint, Engine, EngineConfig, Event, Update};
use dockstat_sim::{Churn, Listen, Sim, SimConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let real = std::env::args().nth(1).as_deref() == Some("docker");
    // Without arguments, a simulated daemon in this process: 200 containers, one frame per
    // 100 ms each, one container replaced every 200 ms.
    let sim = if real {
        None
    } else {
        let path = std::env::temp_dir().join(format!("dockstat-agent-{}.sock", std::process::id()));
        let config = SimConfig {
            containers: 200,
            interval: Duration::from_millis(100),
            churn: Some(Churn {
                every: Duration::from_millis(200),
                remove_after: Some(Duration::from_millis(500)),
            }),
            ..SimConfig::default()
        };
        Some(Sim::start(Listen::Unix(path), config)?)
    };
    let endpoint = match &sim {
        Some(sim) => Endpoint::parse(&sim.url())?,
        None => Endpoint::from_env()?,
    };

    callback(EngineConfig::new(endpoint.clone()))?;
    queue(EngineConfig::new(endpoint))?;
    Ok(())
}

/// The handler runs on the engine's thread: keep it short. Here it keeps the highest CPU %
/// per container and counts what happened.
fn callback(config: EngineConfig) -> Result<(), Box<dyn std::error::Error>> {
    let mut engine = Engine::new(config)?;
    let stop = engine.stop_handle();
    let timer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        stop.stop();
    });

    let mut peak: HashMap<u32, (String, f64)> = HashMap::new();
    let (mut samples, mut added, mut gone, mut errors) = (0u64, 0u64, 0u64, 0u64);
    engine.run(&mut |event| {
        match event {
            Event::Added(c) => {
                added += 1;
                peak.insert(c.key, (c.name.clone(), 0.0));
            }
            Event::Sample {
                container, derived, ..
            } => {
                samples += 1;
                if let Some((_, cpu)) = peak.get_mut(&container.key) {
                    *cpu = cpu.max(derived.cpu_percent);
                }
            }
            Event::Stale(c) => eprintln!("{}: no frame for a while", c.name),
            Event::Gone { container, .. } => {
                gone += 1;
                peak.remove(&container.key);
            }
            Event::Error { error, .. } => {
                errors += 1;
                eprintln!("error: {error}");
            }
        }
        Control::Continue
    })?;
    timer.join().expect("timer thread");

    let counters = engine.counters();
    let busiest = peak
        .values()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, cpu)| format!("{name} at {cpu:.2} %"))
        .unwrap_or_default();
    println!(
        "callback: {samples} samples, {added} containers added, {gone} gone, {errors} errors; \
         {} streams open; busiest {busiest}",
        counters.open
    );
    Ok(())
}

/// The consumer takes 1 ms per sample (a slow sink), half what the 2,000 samples a second
/// need: samples it cannot take in time are dropped oldest first, lifecycle updates never.
fn queue(config: EngineConfig) -> Result<(), Box<dyn std::error::Error>> {
    let spawned = engine::spawn(config, 256)?;
    let started = Instant::now();
    let mut names: HashMap<u32, String> = HashMap::new();
    let mut samples = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        let Ok(update) = spawned.updates().recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match update {
            Update::Added(c) => {
                names.insert(c.key, c.name);
            }
            Update::Gone { key, .. } => {
                names.remove(&key);
            }
            Update::Sample { .. } => {
                samples += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            Update::Stale { .. } | Update::Error { .. } => {}
        }
    }
    spawned.stop();
    // What was queued before the stop is still delivered.
    for update in spawned.updates() {
        if let Update::Sample { .. } = update {
            samples += 1;
        }
    }
    let stats = spawned.updates().stats();
    let counters = spawned.join()?;
    println!(
        "queue: engine decoded {} frames; consumer read {samples} samples, {} dropped \
         (oldest first); {} containers known",
        counters.frames,
        stats.dropped,
        names.len()
    );
    Ok(())
}
