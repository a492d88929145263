//! Frame decoder and docker stats math on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Decoded where it lies: the input is exactly `data.len()` bytes, so a read past the end
    // of the frame is caught by the address sanitizer.
    let mut decoder = dockstat::stats::FrameDecoder::new();
    let first = decoder.decode(data);
    if let Ok(sample) = first {
        let _ = dockstat::stats::derive(&sample, dockstat::stats::Platform::Linux);
        let _ = dockstat::stats::derive(&sample, dockstat::stats::Platform::Windows);
        assert!(sample.networks.iter().count() == sample.networks.len());
    }
    // A decoder that has read a frame before (the memory map's keys then known) decodes the
    // next exactly as a new one does.
    let mut fresh = dockstat::stats::FrameDecoder::new();
    let mut warm = dockstat::stats::FrameDecoder::new();
    let _ = warm.decode(data);
    assert_eq!(fresh.decode(data), warm.decode(data));
});
