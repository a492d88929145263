//! Frame decoder and docker stats math on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // Decoded where it lies: the input is exactly `data.len()` bytes, so a read past the end
    // of the frame is caught by the address sanitizer.
    let mut decoder = dockstat::stats::FrameDecoder::new();
    if let Ok(sample) = decoder.decode(data) {
        let _ = dockstat::stats::derive(&sample, dockstat::stats::Platform::Linux);
        let _ = dockstat::stats::derive(&sample, dockstat::stats::Platform::Windows);
        assert!(sample.networks.iter().count() == sample.networks.len());
    }
});
