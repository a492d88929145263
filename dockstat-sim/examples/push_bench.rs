//! What does `push` cost beside the engine? The engine watches N simulated containers (one
//! frame per second each) on this thread and exports them as `dockstat push` does; every
//! second the rows go to three senders, remote-write, OTLP and OTLP with gzip, each of
//! which encodes, compresses and POSTs them to a null receiver on 127.0.0.1 (it reads each
//! request and answers 204). For S seconds it measures the CPU time of this thread (the
//! engine, the exporter, the batch snapshots) per frame and of each sender's thread per
//! sample pushed (a remote-write series value, an OTLP data point), and the bytes on the
//! wire per sample and per container row.
//! Printed, not asserted: on a shared machine the numbers are indicative.
//!
//! ```sh
//! ulimit -n 20000
//! cargo run --release --example push_bench -- 10000 20    # N containers, S seconds
//! ```

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockstat::engine::{Control, Endpoint, Engine, EngineConfig, Event};
use dockstat::export::{Format, Otlp, PushConfig, RemoteWrite, Sender, Target};
use dockstat::prom::{Exporter, ExporterConfig, Snapshot};
use dockstat_sim::{Listen, Sim, SimConfig};

/// CPU time (user + system) of thread `tid` of this process, from /proc.
fn thread_cpu(tid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name and state.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The threads of this process named `name`, oldest first.
fn threads_named(name: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut tids: Vec<u32> = (dir.flatten())
        .filter_map(|e| {
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (comm.trim() == name).then(|| e.file_name().to_string_lossy().parse().ok())?
        })
        .collect();
    tids.sort_unstable();
    tids
}

/// Answers every request with 204, keeping the connection open.
fn null_receiver(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || serve(stream));
    }
}

fn serve(mut s: TcpStream) {
    let mut buf = vec![0u8; 1 << 20];
    let mut got: Vec<u8> = Vec::new();
    loop {
        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
        let len: usize = (head.lines())
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while got.len() < end + 4 + len {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        got.drain(..end + 4 + len);
        if s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").is_err() {
            return;
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let secs: u64 = args.next().map_or(Ok(20), |a| a.parse())?;

    // The simulated daemon in a child process (this program again), as in scrape_bench.
    let path = std::env::temp_dir().join(format!("dockstat-pushb-{}.sock", std::process::id()));
    if let Some(sim_path) = std::env::var_os("PUSH_BENCH_SIM") {
        let sim = Sim::start(
            Listen::Unix(sim_path.into()),
            SimConfig {
                containers: n,
                interval: Duration::from_secs(1),
                ..SimConfig::default()
            },
        )?;
        let _ = std::io::stdin().read(&mut [0u8; 1]);
        drop(sim);
        return Ok(());
    }
    let mut child = Command::new(std::env::current_exe()?)
        .args([n.to_string(), secs.to_string()])
        .env("PUSH_BENCH_SIM", &path)
        .stdin(Stdio::piped())
        .spawn()?;
    let up = Instant::now();
    while !path.exists() && up.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("unix://{}", path.display());

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let receiver = format!("http://{}/api/v1/write", listener.local_addr()?);
    std::thread::spawn(move || null_receiver(listener));

    let mut exporter = Exporter::new(ExporterConfig {
        hosts: vec![url.clone()],
        ..ExporterConfig::default()
    });
    let shared = exporter.shared();
    let formats: [(&str, Box<dyn Format>); 3] = [
        (
            "remote-write",
            Box::new(RemoteWrite::new(vec![url.clone()])),
        ),
        (
            "otlp",
            Box::new(Otlp::new(vec![(url.clone(), "bench".into())], false)),
        ),
        (
            "otlp+gzip",
            Box::new(Otlp::new(vec![(url.clone(), "bench".into())], true)),
        ),
    ];
    let mut senders = Vec::new();
    for (name, format) in formats {
        let sender = Sender::start(
            Target::parse(&receiver)?,
            PushConfig::default(),
            format,
            Box::new(|note| {
                if let dockstat::export::Note::State(line) = note {
                    eprintln!("{line}");
                }
            }),
        )?;
        // Started one after the other: the thread ids rise in this order.
        while threads_named("dockstat-push").len() <= senders.len() {
            std::thread::sleep(Duration::from_millis(1));
        }
        senders.push((name, sender));
    }
    let mut engine = Engine::new(EngineConfig::new(Endpoint::parse(&url)?))?;
    eprintln!(
        "{n} containers, {secs} s, open-files limit {:?}",
        engine.file_limit()
    );

    let mut frames = 0u64;
    let poll = |engine: &mut Engine, exporter: &mut Exporter, frames: &mut u64| {
        engine.poll(Some(Duration::from_millis(100)), &mut |event| {
            if let Event::Sample { .. } = &event {
                *frames += 1;
            }
            exporter.on_event(&event);
            Control::Continue
        })
    };
    // Warm up: every container streaming.
    let start = Instant::now();
    while shared.snapshot().rows.len() < n && start.elapsed() < Duration::from_secs(90) {
        poll(&mut engine, &mut exporter, &mut frames)?;
        exporter.publish(None);
    }
    eprintln!(
        "warm-up: {} of {n} streaming after {:.1} s",
        shared.snapshot().rows.len(),
        start.elapsed().as_secs_f64()
    );

    let main_tid = std::process::id();
    let push_tids = threads_named("dockstat-push");
    if push_tids.len() != senders.len() {
        return Err("not one thread per sender".into());
    }
    let engine_cpu0 = thread_cpu(main_tid);
    let before: Vec<_> = (senders.iter().zip(&push_tids))
        .map(|((_, s), &tid)| (thread_cpu(tid), s.stats()))
        .collect();
    let mut rows = 0u64;
    frames = 0;
    let mut batches = 0u32;
    let mut batch_time = Duration::ZERO;
    let mut sent_at: HashMap<Arc<str>, i64> = HashMap::new();
    let until = Instant::now() + Duration::from_secs(secs);
    let mut next_batch = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        poll(&mut engine, &mut exporter, &mut frames)?;
        if Instant::now() >= next_batch {
            next_batch += Duration::from_secs(1);
            let t = Instant::now();
            exporter.publish(Some(&engine));
            let mut snap: Snapshot = shared.snapshot();
            let mut now = HashMap::with_capacity(snap.rows.len());
            snap.rows.retain(|r| {
                now.insert(Arc::clone(&r.labels), r.read_ms);
                sent_at.get(&r.labels).is_none_or(|&p| r.read_ms > p)
            });
            sent_at = now;
            rows += snap.rows.len() as u64;
            for (_, sender) in &mut senders {
                sender.push(snap.clone(), Vec::new());
            }
            batch_time += t.elapsed();
            batches += 1;
        } else {
            exporter.publish(None);
        }
    }
    // Let the last batch go out.
    std::thread::sleep(Duration::from_secs(2));
    let engine_cpu = thread_cpu(main_tid) - engine_cpu0;
    println!(
        "engine thread: {frames} frames, {:.2} s CPU, {:.2} us per frame (batches' snapshots \
         included: {:.1} ms per batch on this thread)",
        engine_cpu.as_secs_f64(),
        engine_cpu.as_secs_f64() * 1e6 / frames.max(1) as f64,
        batch_time.as_secs_f64() * 1e3 / f64::from(batches.max(1)),
    );
    // Each sender's batches are the same rows (the engine's batch time is counted once).
    for (((name, sender), &tid), (cpu0, stats0)) in senders.iter().zip(&push_tids).zip(&before) {
        let (push_cpu, stats) = (thread_cpu(tid) - *cpu0, sender.stats());
        let samples = stats.sent_samples - stats0.sent_samples;
        let bytes = stats.bytes - stats0.bytes;
        println!(
            "{name} sender: {} batches, {rows} rows, {samples} samples, {:.2} s CPU, {:.3} us \
             per sample; {bytes} bytes on the wire, {:.2} bytes per sample, {:.1} per row; {} \
             dropped, {} retries",
            stats.sent_batches - stats0.sent_batches,
            push_cpu.as_secs_f64(),
            push_cpu.as_secs_f64() * 1e6 / samples.max(1) as f64,
            bytes as f64 / samples.max(1) as f64,
            bytes as f64 / rows.max(1) as f64,
            stats.dropped_batches,
            stats.retries,
        );
    }
    drop(senders);
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(())
}
