//! Frame splitter on arbitrary bytes, fed in pieces of a size chosen by the first byte.
#![no_main]

use dockstat::stats::FrameSplitter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let mut splitter = FrameSplitter::new(4096);
    // A frame is never empty, never holds a newline, and is never only whitespace.
    let mut check = |frame: &[u8]| {
        assert!(!frame.contains(&b'\n'));
        assert!(!frame.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')));
    };
    for piece in body.chunks(usize::from(step).max(1)) {
        if splitter.push(piece, &mut check).is_err() {
            return;
        }
    }
    splitter.finish(&mut check);
});
