//! Chunked decoder on arbitrary bytes, fed in pieces of a size chosen by the first byte.
#![no_main]

use dockstat::chunked::{Chunk, Dechunker};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let mut decoder = Dechunker::new();
    for mut piece in body.chunks(usize::from(step).max(1)) {
        loop {
            let (result, used) = decoder.decode(piece);
            assert!(used <= piece.len());
            piece = &piece[used..];
            match result {
                Ok(Chunk::Data(d)) => assert!(!d.is_empty()),
                Ok(Chunk::NeedMore) | Ok(Chunk::End) => break,
                Err(_) => return,
            }
        }
    }
});
