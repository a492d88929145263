//! Frame splitter on arbitrary bytes, fed in pieces of a size chosen by the first byte.
#![no_main]

use dockstat::stats::FrameSplitter;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let mut splitter = FrameSplitter::new(4096);
    let mut check = |frame: &[u8]| assert!(!frame.is_empty() && !frame.contains(&b'\n'));
    for piece in body.chunks(usize::from(step).max(1)) {
        if splitter.push(piece, &mut check).is_err() {
            return;
        }
    }
    splitter.finish(&mut check);
});
