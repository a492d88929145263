//! Frames of Docker-compatible daemons that are not Docker (Podman's compat API), and frames
//! with names that are not UTF-8, through the public decoder and stream.

use dockstat::stats::{FrameDecoder, StatsStream};

const PODMAN_FIRST: &str = include_str!("../src/stats/testdata/podman4-cgv2-first.json");
const PODMAN_NEXT: &str = include_str!("../src/stats/testdata/podman4-cgv2-next.json");

/// The (cpu %, interval, block read, block write) of each sample of `body` fed in two pieces
/// cut at `cut`.
fn numbers(body: &[u8], cut: usize) -> Vec<(f64, u64, u64, u64)> {
    let mut decoder = FrameDecoder::new();
    let mut stream = StatsStream::new(1 << 20);
    stream.set_host_cpus(4);
    let mut out = Vec::new();
    for piece in [&body[..cut], &body[cut..]] {
        let mut samples = stream.push(piece, &mut decoder);
        while let Some(s) = samples.next() {
            let d = s.unwrap().derived;
            out.push((d.cpu_percent, d.interval_nanos, d.block_read, d.block_write));
        }
    }
    out
}

#[test]
fn podman_frames_split_anywhere_give_the_same_numbers() {
    let body = format!("{PODMAN_FIRST}{PODMAN_NEXT}");
    let whole = numbers(body.as_bytes(), 0);
    assert_eq!(whole.len(), 2);
    assert_eq!(whole[1], (50.0, 5_000_000_000, 1_048_576, 5_698_093_056));
    for cut in 1..body.len() {
        assert_eq!(numbers(body.as_bytes(), cut), whole, "cut at {cut}");
    }
}

/// The name of `frame` (a frame with `"name":NAME` spliced in) as decoded.
fn name_of(name: &[u8]) -> Result<String, String> {
    let mut frame = br#"{"read":"2024-01-01T00:00:01Z","name":""#.to_vec();
    frame.extend_from_slice(name);
    frame.extend_from_slice(br#"","id":"abc"}"#);
    let mut decoder = FrameDecoder::new();
    decoder
        .decode(&frame)
        .map(|s| {
            assert_eq!(s.id, "abc");
            s.name.to_string()
        })
        .map_err(|e| format!("{e:?}"))
}

#[test]
fn names_that_are_not_utf8_read_as_go_reads_them() {
    // Go's decoder: every byte that does not start a valid sequence is one U+FFFD (Rust's
    // from_utf8_lossy would make one of a truncated sequence).
    let cases: &[(&[u8], &str)] = &[
        (b"/busy-\xff", "/busy-\u{fffd}"),
        (b"/\xe2\x82a", "/\u{fffd}\u{fffd}a"),
        (b"/\xf0\x90\x80", "/\u{fffd}\u{fffd}\u{fffd}"),
        (b"/\xed\xa0\x80x", "/\u{fffd}\u{fffd}\u{fffd}x"),
        (b"/\xc0\xafok", "/\u{fffd}\u{fffd}ok"),
        (b"/caf\xc3\xa9-\xff", "/caf\u{e9}-\u{fffd}"),
        // With an escape too: unescaped first, then repaired.
        (b"/a\\u0041\xff", "/aA\u{fffd}"),
    ];
    for (raw, want) in cases {
        assert_eq!(
            name_of(raw).as_deref(),
            Ok(*want),
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    // The id alike, and both in one frame.
    let frame = b"{\"name\":\"/n\xff\",\"id\":\"i\xfe\"}";
    let mut decoder = FrameDecoder::new();
    let s = decoder.decode(frame).unwrap();
    assert_eq!((s.id, s.name), ("i\u{fffd}", "/n\u{fffd}"));
    // A valid frame next reuses nothing of it.
    let s = decoder.decode(br#"{"name":"/ok","id":"x"}"#).unwrap();
    assert_eq!((s.id, s.name), ("x", "/ok"));
}

#[test]
fn other_strings_that_are_not_utf8_are_read_as_go_reads_them() {
    // Go's decoder reads every string this way: an op of "r\xff" is "r\u{fffd}", which is
    // neither "read" nor "write", so it counts as neither (docker's first-letter rule would
    // count it as read).
    let frame =
        b"{\"blkio_stats\":{\"io_service_bytes_recursive\":[{\"op\":\"r\xff\",\"value\":1}]}}";
    let mut decoder = FrameDecoder::new();
    let s = decoder.decode(frame).unwrap();
    assert_eq!((s.blkio.read, s.blkio.write), (0, 0));
}
