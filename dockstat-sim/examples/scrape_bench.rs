//! Does serving `/metrics` slow the engine? The engine watches N simulated containers (one
//! frame per second each) on this thread, exports them to a scrape server on another, and
//! measures the daemon-to-delivery lag of every frame for S seconds without scraping, then S
//! seconds with a scraper thread fetching `/metrics` every second; it prints lag p50/p99/max
//! for both phases, the scrape times, and the snapshot (lock) and render times.
//!
//! ```sh
//! ulimit -n 20000
//! cargo run --release --example scrape_bench -- 10000 10    # N containers, S seconds per phase
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dockstat::engine::{Control, Endpoint, Engine, EngineConfig, Event};
use dockstat::prom::server::{MetricsServer, ServerConfig};
use dockstat::prom::{Exporter, ExporterConfig, ExpositionFormat, SharedTable, render};
use dockstat_sim::{Listen, Sim, SimConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let secs: u64 = args.next().map_or(Ok(10), |a| a.parse())?;

    // The simulated daemon runs in a child process (this program again), so that its 10,000
    // descriptors do not count against this process's open-files limit.
    let path = std::env::temp_dir().join(format!("dockstat-scrape-{}.sock", std::process::id()));
    if let Some(sim_path) = std::env::var_os("SCRAPE_BENCH_SIM") {
        let sim = Sim::start(
            Listen::Unix(sim_path.into()),
            SimConfig {
                containers: n,
                interval: Duration::from_secs(1),
                ..SimConfig::default()
            },
        )?;
        // Until the parent goes away (stdin closes).
        let _ = std::io::stdin().read(&mut [0u8; 1]);
        drop(sim);
        return Ok(());
    }
    let mut child = Command::new(std::env::current_exe()?)
        .args([n.to_string(), secs.to_string()])
        .env("SCRAPE_BENCH_SIM", &path)
        .stdin(Stdio::piped())
        .spawn()?;
    let up = Instant::now();
    while !path.exists() && up.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("unix://{}", path.display());
    let endpoint = Endpoint::parse(&url)?;
    let mut exporter = Exporter::new(ExporterConfig {
        hosts: vec![url.clone()],
        with_image: true,
        label_allowlist: vec!["sim.workload".into()],
    });
    let shared = exporter.shared();
    let render_shared = Arc::clone(&shared);
    let server = MetricsServer::start(
        std::net::TcpListener::bind("127.0.0.1:0")?,
        ServerConfig::default(),
        Box::new(move |format, out| render(&render_shared.snapshot(), format, out)),
    )?;
    let addr = server.local_addr();
    let mut engine = Engine::new(EngineConfig::new(endpoint))?;
    eprintln!(
        "{n} containers, {secs} s per phase, open-files limit {:?}",
        engine.file_limit()
    );

    // Warm up: every container streaming.
    let start = Instant::now();
    let mut seen = vec![false; 0];
    let mut distinct = 0;
    while distinct < n && start.elapsed() < Duration::from_secs(60) {
        engine.poll(Some(Duration::from_millis(100)), &mut |event| {
            if let Event::Sample { container, .. } = &event {
                let k = container.key as usize;
                if seen.len() <= k {
                    seen.resize(k + 1, false);
                }
                if !seen[k] {
                    seen[k] = true;
                    distinct += 1;
                }
            }
            exporter.on_event(&event);
            Control::Continue
        })?;
        exporter.publish(None);
    }
    eprintln!(
        "warm-up: {distinct} of {n} streaming after {:.1} s",
        start.elapsed().as_secs_f64()
    );

    for scraping in [false, true] {
        let stop = Arc::new(AtomicBool::new(false));
        let scraper = scraping.then(|| {
            let stop = Arc::clone(&stop);
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || scrape_loop(addr, &shared, &stop))
        });
        let mut lags: Vec<u64> = Vec::with_capacity(n * secs as usize + 1024);
        let until = Instant::now() + Duration::from_secs(secs);
        let mut next_publish = Instant::now();
        while Instant::now() < until {
            engine.poll(Some(Duration::from_millis(250)), &mut |event| {
                if let Event::Sample { sample, .. } = &event {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos() as i64);
                    lags.push(now.saturating_sub(sample.read.unix_nanos()).max(0) as u64);
                }
                exporter.on_event(&event);
                Control::Continue
            })?;
            let now = Instant::now();
            if now >= next_publish {
                next_publish = now + Duration::from_millis(250);
                exporter.publish(Some(&engine));
            } else {
                exporter.publish(None);
            }
        }
        stop.store(true, Ordering::SeqCst);
        lags.sort_unstable();
        let q = |p: f64| {
            lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0) as f64
                / 1e6
        };
        println!(
            "{:<16} frames {:>7}  lag p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            if scraping {
                "with scraping"
            } else {
                "without scraping"
            },
            lags.len(),
            q(0.5),
            q(0.99),
            q(1.0)
        );
        if let Some(t) = scraper {
            let s = t.join().expect("scraper");
            println!("{s}");
        }
    }
    let m = engine.metrics();
    let ms = |v: Option<u64>| v.map_or(f64::NAN, |v| v as f64 / 1e6);
    println!(
        "engine histograms (bucket upper bounds): frame time p50 <= {:.4} ms, p99 <= {:.4} ms; lag p50 <= {:.1} ms, p99 <= {:.1} ms",
        ms(m.frame_time.quantile_bound(0.5)),
        ms(m.frame_time.quantile_bound(0.99)),
        ms(m.lag.quantile_bound(0.5)),
        ms(m.lag.quantile_bound(0.99)),
    );
    drop(server);
    drop(child.stdin.take());
    let _ = child.wait();
    Ok(())
}

/// Scrapes once a second over HTTP; also times a bare snapshot (the lock hold) and a render.
fn scrape_loop(addr: SocketAddr, shared: &SharedTable, stop: &AtomicBool) -> String {
    let mut scrapes = Vec::new();
    let mut snapshots = Vec::new();
    let mut renders = Vec::new();
    let mut bytes = 0;
    let mut rows = 0;
    while !stop.load(Ordering::SeqCst) {
        let t = Instant::now();
        match fetch(addr) {
            Ok(n) => {
                bytes = n;
                scrapes.push(t.elapsed());
            }
            Err(e) => eprintln!("scrape failed: {e}"),
        }
        let t = Instant::now();
        let snap = shared.snapshot();
        snapshots.push(t.elapsed());
        rows = snap.rows.len();
        let t = Instant::now();
        let mut out = Vec::new();
        render(&snap, ExpositionFormat::Text, &mut out);
        renders.push(t.elapsed());
        std::thread::sleep(Duration::from_secs(1).saturating_sub(t.elapsed()));
    }
    let stat = |v: &mut Vec<Duration>| {
        v.sort();
        let ms = |d: Option<&Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        format!(
            "p50 {:.2} ms, max {:.2} ms",
            ms(v.get(v.len() / 2)),
            ms(v.last())
        )
    };
    format!(
        "scrapes: {} of {rows} containers, {:.1} MB each: HTTP scrape {}; snapshot under the lock {}; render {}",
        scrapes.len(),
        bytes as f64 / 1e6,
        stat(&mut scrapes),
        stat(&mut snapshots),
        stat(&mut renders)
    )
}

/// GET /metrics, reading the whole response; returns its size.
fn fetch(addr: SocketAddr) -> std::io::Result<usize> {
    let mut s = TcpStream::connect(addr)?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    Ok(buf.len())
}
