//! Decoding a frame allocates nothing once the decoder's buffers are warm: a counting global
//! allocator watches a second pass over every fixture frame, split, decoded and derived as
//! the engine does it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use dockstat::stats::{FrameDecoder, FrameSplitter, StatsStream};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Allocations are counted on the thread that measures only: the test harness's own
    /// threads allocate when they like.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTED.set(true);
    let again = run(&mut stream);
    COUNTED.set(false);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(warm, again);
    assert!(again.0 >= 25, "{} frames", again.0);
    assert_eq!(
        allocations, 0,
        "allocations while decoding {} frames",
        again.0
    );
}
