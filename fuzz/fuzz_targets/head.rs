//! Response head parser and framing rules on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(dockstat::http::Status::Complete(head)) = dockstat::http::parse_response(data) {
        let _ = head.framing();
        assert_eq!(head.headers().count(), head.header_count());
    }
});
