//! Dechunk + frame split throughput on the real daemon's captures, beside a naive decoder.
//!
//! The input is the chunked body of every stats stream captured from Docker 20.10
//! (`../shared/fixtures/docker20-cgv1/*-stream.http`), concatenated and terminated, repeated
//! to about 1 MiB. Both decoders produce the same frames (checked before timing):
//!
//! - dockstat: `Dechunker` hands out borrowed payload slices, `FrameSplitter` hands out the
//!   frames lying whole in them without a copy.
//! - naive: what a straightforward decoder does: find each CRLF, parse the size with
//!   `from_str_radix`, append the payload to a `Vec`, then split it into owned frames.
//!
//! After the criterion groups, both are timed again interleaved and the ratio is printed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use dockstat::chunked::{Chunk, Dechunker};
use dockstat::stats::FrameSplitter;

fn fixture_body() -> Vec<u8> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/docker20-cgv1"
    );
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures directory ../shared/fixtures/docker20-cgv1")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("-stream.http"))
        .collect();
    names.sort();
    let mut chunks = Vec::new();
    for path in names {
        let raw = std::fs::read(&path).expect("fixture");
        let start = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
        let mut body = &raw[start..];
        // Keep whole chunks only (some captures end with the terminating 0-chunk).
        while let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16).unwrap();
            if size == 0 || body.len() < line_end + 2 + size + 2 {
                break;
            }
            chunks.extend_from_slice(&body[..line_end + 2 + size + 2]);
            body = &body[line_end + 2 + size + 2..];
        }
    }
    let mut out = Vec::new();
    while out.len() < 1 << 20 {
        out.extend_from_slice(&chunks);
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// dockstat's path: returns (frames, frame bytes).
fn dockstat_decode(body: &[u8]) -> (usize, usize) {
    let mut decoder = Dechunker::new();
    let mut splitter = FrameSplitter::default();
    let (mut frames, mut bytes) = (0, 0);
    let mut on_frame = |f: &[u8]| {
        frames += 1;
        bytes += f.len();
    };
    let mut input = body;
    loop {
        let (result, used) = decoder.decode(input);
        input = &input[used..];
        match result.expect("valid body") {
            Chunk::Data(data) => splitter.push(data, &mut on_frame).expect("frames"),
            Chunk::NeedMore | Chunk::End => break,
        }
    }
    (frames, bytes)
}

/// The naive reference: owned payload, owned frames.
fn naive_decode(body: &[u8]) -> (usize, usize) {
    let mut payload = Vec::new();
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("size line");
        let line = std::str::from_utf8(&rest[..line_end]).expect("ascii");
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16).expect("hex");
        rest = &rest[line_end + 2..];
        if size == 0 {
            break;
        }
        payload.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    let frames: Vec<Vec<u8>> = payload
        .split(|&b| b == b'\n')
        .filter(|f| !f.is_empty())
        .map(|f| f.to_vec())
        .collect();
    (frames.len(), frames.iter().map(Vec::len).sum())
}

fn time_per_iter(mut f: impl FnMut(), budget: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

fn main() {
    let body = fixture_body();
    let ours = dockstat_decode(&body);
    assert_eq!(
        ours,
        naive_decode(&body),
        "both decoders must see the same frames"
    );
    let (frames, _) = ours;

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("dechunk+split");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("dockstat", |b| b.iter(|| dockstat_decode(black_box(&body))));
    group.bench_function("naive", |b| b.iter(|| naive_decode(black_box(&body))));
    group.finish();
    c.final_summary();
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: one quick pass is enough.
    }

    // Interleaved rounds, so that machine noise hits both alike.
    let (mut ours_s, mut naive_s) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        ours_s = ours_s.min(time_per_iter(
            || {
                black_box(dockstat_decode(black_box(&body)));
            },
            Duration::from_millis(200),
        ));
        naive_s = naive_s.min(time_per_iter(
            || {
                black_box(naive_decode(black_box(&body)));
            },
            Duration::from_millis(200),
        ));
    }
    let mib = body.len() as f64 / (1024.0 * 1024.0);
    println!(
        "dechunk+split over {:.2} MiB ({frames} frames): dockstat {:.0} MiB/s ({:.1} ns/frame), \
         naive {:.0} MiB/s ({:.1} ns/frame), naive/dockstat time ratio {:.2}x",
        mib,
        mib / ours_s,
        ours_s * 1e9 / frames as f64,
        mib / naive_s,
        naive_s * 1e9 / frames as f64,
        naive_s / ours_s
    );
}
