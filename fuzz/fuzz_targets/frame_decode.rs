//! Frame decoder and docker stats math on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut frame = data.to_vec();
    let mut decoder = dockstat::stats::FrameDecoder::new();
    if let Ok(sample) = decoder.decode(&mut frame) {
        let _ = dockstat::stats::derive(&sample, dockstat::stats::Platform::Linux);
        let _ = dockstat::stats::derive(&sample, dockstat::stats::Platform::Windows);
        assert!(sample.networks.iter().count() == sample.networks.len());
    }
});
