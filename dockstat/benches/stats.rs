//! Decode + `docker stats` math per frame, over every frame of the fixtures (the real daemon's
//! cgroup v1 captures and the docs' v1/v2 frames), three ways in the same run:
//!
//! - dockstat: `FrameDecoder` + `derive` on the frame where it lies (as the engine does);
//! - serde_json into bollard's own model (`bollard_stubs::models::ContainerStatsResponse`,
//!   the types bollard 0.21 deserializes into), then the same math on that model;
//! - simd-json's generic value (`to_borrowed_value` on a copy), then the same fields and math.
//!
//! After the criterion groups, the three are timed again interleaved, and the per-frame
//! figures and ratios are printed; then dockstat alone, per frame, on each kind of frame: the
//! real daemon's cgroup v1 captures, the docs' v1 and v2 frames, and the frames the simulated
//! daemon sends (what the load bench's clients decode), cgroup v1 and v2.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bollard_stubs::models::ContainerStatsResponse;
use criterion::Criterion;
use dockstat::stats::{FrameDecoder, Platform, derive};
use simd_json::prelude::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures");

/// The frames of a chunked or plain HTTP response (head included).
fn response_frames(raw: &[u8]) -> Vec<Vec<u8>> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = &raw[split + 4..];
    let mut payload = Vec::new();
    if head.contains("transfer-encoding: chunked") {
        while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap(), 16).unwrap();
            if size == 0 || body.len() < end + size + 4 {
                break;
            }
            payload.extend_from_slice(&body[end + 2..end + 2 + size]);
            body = &body[end + 4 + size..];
        }
    } else {
        payload.extend_from_slice(body);
    }
    payload
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Frames the simulated daemon streams (one container of each workload, cgroup `cgroup`),
/// from the third frame of each stream on (the first has a zeroed precpu).
fn sim_frames(cgroup: dockstat_sim::Cgroup) -> Vec<Vec<u8>> {
    use std::io::{Read, Write};
    let socket = std::env::temp_dir().join(format!(
        "dockstat-bench-{}-{cgroup:?}.sock",
        std::process::id()
    ));
    let config = dockstat_sim::SimConfig {
        containers: 6,
        interval: Duration::from_millis(20),
        cgroup,
        ..Default::default()
    };
    let sim =
        dockstat_sim::Sim::start(dockstat_sim::Listen::Unix(socket.clone()), config).expect("sim");
    let mut frames = Vec::new();
    for name in [
        "busy-1", "idle-2", "memhog-3", "writer-4", "forky-5", "net-6",
    ] {
        let mut conn = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
        write!(
            conn,
            "GET /v1.41/containers/{name}/stats HTTP/1.1\r\nHost: docker\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 65536];
        // The head, then four frames (one chunk each).
        while raw.windows(3).filter(|w| w == b"}\n\r").count() < 4 {
            let n = conn.read(&mut buf).expect("read");
            assert!(n > 0, "the sim closed the stream");
            raw.extend_from_slice(&buf[..n]);
        }
        frames.extend(response_frames(&raw).into_iter().skip(2));
    }
    sim.shutdown();
    frames
}

fn fixture_frames() -> Vec<Vec<u8>> {
    let root = FIXTURES;
    let mut frames = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(format!("{root}/docker20-cgv1"))
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.to_string_lossy();
            (n.contains("stream") || n.contains("oneshot")) && !n.contains("404")
        })
        .collect();
    paths.sort();
    for path in paths {
        frames.extend(response_frames(&std::fs::read(&path).unwrap()));
    }
    let mut docs: Vec<_> = std::fs::read_dir(format!("{root}/frames"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    docs.sort();
    frames.extend(docs.iter().map(|p| std::fs::read(p).unwrap()));
    frames
}

/// What each path computes per frame (compared before timing, so all do the same work).
#[derive(Debug, PartialEq)]
struct Out {
    cpu_percent: f64,
    mem_used: f64,
    mem_limit: f64,
    net_rx: u64,
    block_write: u64,
    pids: u64,
}

fn dockstat(decoder: &mut FrameDecoder, frame: &[u8]) -> Out {
    let sample = decoder.decode(frame).expect("frame");
    let d = derive(&sample, Platform::Linux);
    Out {
        cpu_percent: d.cpu_percent,
        mem_used: d.mem_used,
        mem_limit: d.mem_limit,
        net_rx: d.net_rx,
        block_write: d.block_write,
        pids: d.pids,
    }
}

/// docker/cli's formulas over explicit inputs, shared by the two peers.
#[allow(clippy::too_many_arguments)]
fn math(
    total: u64,
    pre_total: u64,
    system: u64,
    pre_system: u64,
    online: u64,
    percpu: usize,
    usage: u64,
    total_inactive_file: Option<u64>,
    inactive_file: Option<u64>,
) -> (f64, f64) {
    let online = if online == 0 {
        percpu as f64
    } else {
        online as f64
    };
    let cpu_delta = total as f64 - pre_total as f64;
    let system_delta = system as f64 - pre_system as f64;
    let cpu = if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    };
    let mem = match total_inactive_file {
        Some(v) if v < usage => (usage - v) as f64,
        _ => match inactive_file.unwrap_or(0) {
            v if v < usage => (usage - v) as f64,
            _ => usage as f64,
        },
    };
    (cpu, mem)
}

fn bollard(frame: &[u8]) -> Out {
    let s: ContainerStatsResponse = serde_json::from_slice(frame).expect("frame");
    let cpu = s.cpu_stats.unwrap_or_default();
    let pre = s.precpu_stats.unwrap_or_default();
    let usage = cpu.cpu_usage.clone().unwrap_or_default();
    let pre_usage = pre.cpu_usage.unwrap_or_default();
    let mem = s.memory_stats.unwrap_or_default();
    let stats = mem.stats.unwrap_or_default();
    let (cpu_percent, mem_used) = math(
        usage.total_usage.unwrap_or(0),
        pre_usage.total_usage.unwrap_or(0),
        cpu.system_cpu_usage.unwrap_or(0),
        pre.system_cpu_usage.unwrap_or(0),
        u64::from(cpu.online_cpus.unwrap_or(0)),
        usage.percpu_usage.map_or(0, |p| p.len()),
        mem.usage.unwrap_or(0),
        stats.get("total_inactive_file").copied(),
        stats.get("inactive_file").copied(),
    );
    let block_write = s
        .blkio_stats
        .and_then(|b| b.io_service_bytes_recursive)
        .unwrap_or_default()
        .iter()
        .filter(|e| {
            matches!(
                e.op.as_deref().and_then(|o| o.bytes().next()),
                Some(b'w' | b'W')
            )
        })
        .map(|e| e.value.unwrap_or(0))
        .sum();
    Out {
        cpu_percent,
        mem_used,
        mem_limit: mem.limit.unwrap_or(0) as f64,
        net_rx: s
            .networks
            .unwrap_or_default()
            .values()
            .map(|n| n.rx_bytes.unwrap_or(0))
            .sum(),
        block_write,
        pids: s.pids_stats.and_then(|p| p.current).unwrap_or(0),
    }
}

fn simd_value(scratch: &mut Vec<u8>, frame: &[u8]) -> Out {
    scratch.clear();
    scratch.extend_from_slice(frame);
    let v = simd_json::to_borrowed_value(scratch).expect("frame");
    let n = |v: &simd_json::BorrowedValue<'_>, path: &[&str]| -> u64 {
        let mut v = v;
        for p in path {
            match v.get(*p) {
                Some(x) => v = x,
                None => return 0,
            }
        }
        v.as_u64().unwrap_or(0)
    };
    let stats = v.get("memory_stats").and_then(|m| m.get("stats"));
    let stat = |k: &str| stats.and_then(|s| s.get(k)).and_then(|x| x.as_u64());
    let (cpu_percent, mem_used) = math(
        n(&v, &["cpu_stats", "cpu_usage", "total_usage"]),
        n(&v, &["precpu_stats", "cpu_usage", "total_usage"]),
        n(&v, &["cpu_stats", "system_cpu_usage"]),
        n(&v, &["precpu_stats", "system_cpu_usage"]),
        n(&v, &["cpu_stats", "online_cpus"]),
        v.get("cpu_stats")
            .and_then(|c| c.get("cpu_usage"))
            .and_then(|c| c.get("percpu_usage"))
            .and_then(|p| p.as_array())
            .map_or(0, |a| a.len()),
        n(&v, &["memory_stats", "usage"]),
        stat("total_inactive_file"),
        stat("inactive_file"),
    );
    let block_write = v
        .get("blkio_stats")
        .and_then(|b| b.get("io_service_bytes_recursive"))
        .and_then(|l| l.as_array())
        .map_or(0, |l| {
            l.iter()
                .filter(|e| {
                    matches!(
                        e.get("op")
                            .and_then(|o| o.as_str())
                            .and_then(|o| o.bytes().next()),
                        Some(b'w' | b'W')
                    )
                })
                .map(|e| e.get("value").and_then(|x| x.as_u64()).unwrap_or(0))
                .sum()
        });
    let net_rx = v
        .get("networks")
        .and_then(|n| n.as_object())
        .map_or(0, |m| {
            m.values()
                .map(|i| i.get("rx_bytes").and_then(|x| x.as_u64()).unwrap_or(0))
                .sum()
        });
    Out {
        cpu_percent,
        mem_used,
        mem_limit: n(&v, &["memory_stats", "limit"]) as f64,
        net_rx,
        block_write,
        pids: n(&v, &["pids_stats", "current"]),
    }
}

fn per_frame(frames: &[Vec<u8>], mut f: impl FnMut(&[u8]), budget: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for frame in frames {
            f(black_box(frame));
        }
        n += frames.len() as u64;
    }
    start.elapsed().as_secs_f64() * 1e9 / n as f64
}

fn main() {
    let frames = fixture_frames();
    let mut decoder = FrameDecoder::new();
    let mut scratch = Vec::with_capacity(4096);
    for frame in &frames {
        let ours = dockstat(&mut decoder, frame);
        assert_eq!(ours, bollard(frame), "bollard path disagrees");
        assert_eq!(
            ours,
            simd_value(&mut scratch, frame),
            "simd-json path disagrees"
        );
    }
    let bytes: usize = frames.iter().map(Vec::len).sum();

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("decode+math per fixture mix");
    group.bench_function("dockstat", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(dockstat(&mut decoder, black_box(f)));
            }
        })
    });
    group.bench_function("serde_json+bollard", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(bollard(black_box(f)));
            }
        })
    });
    group.bench_function("simd-json value", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(simd_value(&mut scratch, black_box(f)));
            }
        })
    });
    group.finish();
    c.final_summary();
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: one quick pass is enough.
    }

    let (mut ours, mut serde, mut simd) = (f64::MAX, f64::MAX, f64::MAX);
    let budget = Duration::from_millis(300);
    for _ in 0..5 {
        ours = ours.min(per_frame(
            &frames,
            |f| {
                black_box(dockstat(&mut decoder, f));
            },
            budget,
        ));
        serde = serde.min(per_frame(
            &frames,
            |f| {
                black_box(bollard(f));
            },
            budget,
        ));
        simd = simd.min(per_frame(
            &frames,
            |f| {
                black_box(simd_value(&mut scratch, f));
            },
            budget,
        ));
    }
    println!(
        "decode+math over {} fixture frames (avg {} B): dockstat {ours:.0} ns/frame, \
         serde_json+bollard {serde:.0} ns/frame ({:.1}x), simd-json value {simd:.0} ns/frame ({:.1}x)",
        frames.len(),
        bytes / frames.len(),
        serde / ours,
        simd / ours
    );

    // dockstat alone, per kind of frame.
    let read = |dir: &str| -> Vec<Vec<u8>> {
        let mut paths: Vec<_> = std::fs::read_dir(format!("{FIXTURES}/{dir}"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    };
    let docs = read("frames");
    let named = |part: &str| -> Vec<Vec<u8>> {
        let root = FIXTURES;
        let mut paths: Vec<_> = std::fs::read_dir(format!("{root}/docker20-cgv1"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().contains(part))
            .collect();
        paths.sort();
        paths
            .iter()
            .flat_map(|p| response_frames(&std::fs::read(p).unwrap()))
            .filter(|f| !f.starts_with(br#"{"read":"0001"#))
            .collect()
    };
    let pick = |part: &str| -> Vec<Vec<u8>> {
        let mut paths: Vec<_> = std::fs::read_dir(format!("{FIXTURES}/frames"))
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().contains(part))
            .collect();
        paths.sort();
        paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
    };
    assert_eq!(docs.len(), pick("cgv1").len() + pick("cgv2").len());
    let sets = [
        ("daemon cgroup v1 (live frames)", named("-stream")),
        ("docs cgroup v1", pick("cgv1")),
        ("docs cgroup v2", pick("cgv2")),
        (
            "sim cgroup v1 (load bench)",
            sim_frames(dockstat_sim::Cgroup::V1),
        ),
        ("sim cgroup v2", sim_frames(dockstat_sim::Cgroup::V2)),
    ];
    for (label, set) in &sets {
        for f in set {
            decoder.decode(f).expect("frame");
        }
        // The least of many short runs: on a busy machine, a run that no other process
        // interrupted (what the frame costs in CPU, not in waiting).
        let mut best = f64::MAX;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            best = best.min(per_frame(
                set,
                |f| {
                    black_box(dockstat(&mut decoder, f));
                },
                Duration::from_micros(200),
            ));
        }
        let avg = set.iter().map(Vec::len).sum::<usize>() / set.len();
        println!(
            "  {label}: {} frames, avg {avg} B: dockstat {best:.0} ns/frame",
            set.len()
        );
    }
}
