//! Decoding a frame allocates nothing once the decoder's buffers are warm: a counting global
//! allocator watches a second pass over every fixture frame, split, decoded and derived as
//! the engine does it.

#[path = "common/counting.rs"]
mod counting;

use dockstat::stats::{FrameDecoder, FrameSplitter, StatsStream};

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

#[test]
fn no_allocation_per_frame_after_warm_up() {
    // A body like the daemon's: every fixture frame, newline-terminated, in one buffer.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/frames");
    let mut body = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for _ in 0..3 {
        for path in &names {
            let text = std::fs::read_to_string(path).unwrap();
            // One line per frame, as the daemon sends them.
            body.extend(text.split_whitespace().flat_map(str::bytes));
            body.push(b'\n');
        }
    }
    let captures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/docker20-cgv1"
    );
    for name in [
        "docker20-cgv1-busy-stream.http",
        "docker20-cgv1-netidle-stream.http",
        "docker20-cgv1-writer-stream.http",
    ] {
        let raw = std::fs::read(format!("{captures}/{name}")).unwrap();
        let mut rest = &raw[raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap(), 16).unwrap();
            if size == 0 || rest.len() < end + size + 4 {
                break;
            }
            body.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 4 + size..];
        }
    }

    // Through the pipeline the engine uses for every stream: split, decode, derive.
    let mut stream = StatsStream::new(FrameSplitter::DEFAULT_MAX_LEN);
    let mut decoder = FrameDecoder::new();
    let mut run = |stream: &mut StatsStream| -> (usize, f64) {
        let (mut frames, mut cpu) = (0, 0.0);
        // Fed in pieces of whole frames, as reads deliver them.
        for piece in body.split_inclusive(|&b| b == b'\n') {
            let mut samples = stream.push(piece, &mut decoder);
            while let Some(decoded) = samples.next() {
                cpu += decoded.expect("frame").derived.cpu_percent;
                frames += 1;
            }
        }
        (frames, cpu)
    };
    let warm = run(&mut stream);
    let (again, allocations) = counting::allocations(|| run(&mut stream));
    assert_eq!(warm, again);
    assert!(again.0 >= 25, "{} frames", again.0);
    assert_eq!(
        allocations, 0,
        "allocations while decoding {} frames",
        again.0
    );
}
