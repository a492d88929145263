//! Properties of the frame decoder:
//!
//! - random frames (any key order, compact or spaced out, missing fields, nulls, unknown
//!   nested fields, escaped and non-ASCII strings, counters up to 2^64 − 1) decode to the
//!   values of a serde_json reference path;
//! - mutations of real frames (bytes flipped, dropped, inserted, pieces repeated) never panic,
//!   and whenever serde_json reads the result as a well-typed frame, so does the decoder, with
//!   the same values;
//! - arbitrary bytes never panic.
//!
//! Frames are built from a seed with a small PRNG, so a failure prints a seed that reproduces
//! it along with the frame's text.

#[path = "common/stats_ref.rs"]
mod stats_ref;

use dockstat::stats::{FrameDecoder, Platform, derive};
use proptest::prelude::*;
use serde_json::Value;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A JSON value to write out, with object keys in the order given.
enum J {
    Null,
    U(u64),
    F(f64),
    B(bool),
    S(String),
    A(Vec<J>),
    O(Vec<(String, J)>),
}

struct Writer<'r> {
    rng: &'r mut Rng,
    out: String,
    spaced: bool,
}

impl Writer<'_> {
    fn ws(&mut self) {
        if self.spaced && self.rng.chance(30) {
            self.out
                .push_str([" ", "\n", "\t ", "\r\n  "][self.rng.below(4) as usize]);
        }
    }

    fn string(&mut self, s: &str) {
        self.out.push('"');
        for c in s.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                c if (c as u32) < 0x20 => self.out.push_str(&format!("\\u{:04x}", c as u32)),
                c if c.is_ascii_alphanumeric() && self.rng.chance(5) => {
                    self.out.push_str(&format!("\\u{:04x}", c as u32))
                }
                '/' if self.rng.chance(50) => self.out.push_str("\\/"),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
    }

    fn value(&mut self, v: &J) {
        match v {
            J::Null => self.out.push_str("null"),
            J::U(n) => self.out.push_str(&n.to_string()),
            J::F(f) => self.out.push_str(&format!("{f:e}")),
            J::B(b) => self.out.push_str(if *b { "true" } else { "false" }),
            J::S(s) => self.string(s),
            J::A(items) => {
                self.out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.ws();
                        self.out.push(',');
                    }
                    self.ws();
                    self.value(item);
                }
                self.ws();
                self.out.push(']');
            }
            J::O(fields) => {
                self.out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        self.ws();
                        self.out.push(',');
                    }
                    self.ws();
                    self.string(k);
                    self.ws();
                    self.out.push(':');
                    self.ws();
                    self.value(v);
                }
                self.ws();
                self.out.push('}');
            }
        }
    }
}

fn counter(r: &mut Rng) -> J {
    match r.below(20) {
        0 => J::Null,
        1 => J::U(u64::MAX),
        2 => J::U(0),
        3 => J::U(r.below(10)),
        4..=9 => J::U(r.below(1 << 20)),
        10..=15 => J::U(r.below(1 << 45)),
        _ => J::U(r.next()),
    }
}

fn text(r: &mut Rng) -> String {
    let alphabet = [
        "a", "Z", "0", "_", "-", ".", "/", "\"", "\\", "é", "😀", "\u{1}", " ", "}", "]",
    ];
    (0..r.below(12))
        .map(|_| alphabet[r.below(alphabet.len() as u64) as usize])
        .collect()
}

fn timestamp(r: &mut Rng) -> J {
    match r.below(6) {
        0 => J::Null,
        1 => J::S("0001-01-01T00:00:00Z".into()),
        _ => J::S(format!(
            "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
            r.below(60),
            1 + r.below(12),
            1 + r.below(28),
            r.below(24),
            r.below(60),
            r.below(60),
            1 + r.below(999_999_998)
        )),
    }
}

fn junk(r: &mut Rng, depth: u32) -> J {
    match r.below(if depth > 3 { 5 } else { 7 }) {
        0 => J::Null,
        1 => J::U(r.next()),
        2 => J::F(r.next() as f64 / 7.0),
        3 => J::B(r.chance(50)),
        4 => J::S(text(r)),
        5 => J::A((0..r.below(4)).map(|_| junk(r, depth + 1)).collect()),
        _ => J::O(
            (0..r.below(4))
                .map(|_| (text(r), junk(r, depth + 1)))
                .collect(),
        ),
    }
}

/// An object from `fields` (each kept with probability `keep`), shuffled, with unknown fields.
fn object(mut fields: Vec<(String, J)>, r: &mut Rng, keep: u64) -> J {
    fields.retain(|_| r.chance(keep));
    if r.chance(20) {
        let unknown = format!("x_{}", r.below(1000));
        fields.push((unknown, junk(r, 0)));
    }
    // Fisher-Yates, sometimes: the daemon's order is the common case.
    if r.chance(60) {
        for i in (1..fields.len()).rev() {
            fields.swap(i, r.below(i as u64 + 1) as usize);
        }
    }
    J::O(fields)
}

fn cpu(r: &mut Rng) -> J {
    let mut usage = vec![
        ("total_usage".to_string(), counter(r)),
        ("usage_in_kernelmode".to_string(), counter(r)),
        ("usage_in_usermode".to_string(), counter(r)),
    ];
    if r.chance(60) {
        usage.insert(
            1,
            (
                "percpu_usage".into(),
                J::A((0..r.below(5)).map(|_| counter(r)).collect()),
            ),
        );
    }
    let usage = object(usage, r, 90);
    let throttling = object(
        vec![
            ("periods".into(), counter(r)),
            ("throttled_periods".into(), counter(r)),
            ("throttled_time".into(), counter(r)),
        ],
        r,
        90,
    );
    object(
        vec![
            ("cpu_usage".into(), usage),
            ("system_cpu_usage".into(), counter(r)),
            (
                "online_cpus".into(),
                if r.chance(80) {
                    J::U(r.below(256))
                } else {
                    J::Null
                },
            ),
            ("throttling_data".into(), throttling),
        ],
        r,
        85,
    )
}

fn frame(seed: u64) -> String {
    let r = &mut Rng(seed);
    let mut stats_keys = vec![
        "active_anon",
        "cache",
        "dirty",
        "inactive_file",
        "pgfault",
        "rss",
        "total_inactive_file",
        "total_rss",
        "file",
        "anon",
    ];
    stats_keys.retain(|_| r.chance(70));
    let stats = J::O(
        stats_keys
            .into_iter()
            .map(|k| (k.to_string(), counter(r)))
            .collect(),
    );
    let memory = object(
        vec![
            ("usage".into(), counter(r)),
            ("max_usage".into(), counter(r)),
            ("stats".into(), stats),
            ("limit".into(), counter(r)),
        ],
        r,
        85,
    );
    let ops = [
        "Read", "Write", "read", "write", "Sync", "Async", "Total", "", "Discard",
    ];
    let entries = (0..r.below(7))
        .map(|_| {
            object(
                vec![
                    ("major".into(), J::U(254)),
                    ("minor".into(), J::U(r.below(4))),
                    (
                        "op".into(),
                        J::S(ops[r.below(ops.len() as u64) as usize].into()),
                    ),
                    ("value".into(), counter(r)),
                ],
                r,
                95,
            )
        })
        .collect();
    let mut blkio = vec![("io_service_bytes_recursive".to_string(), J::A(entries))];
    for k in [
        "io_serviced_recursive",
        "io_queue_recursive",
        "io_service_time_recursive",
        "sectors_recursive",
    ] {
        let list = if r.chance(50) {
            J::Null
        } else {
            J::A((0..r.below(3)).map(|_| junk(r, 2)).collect())
        };
        blkio.push((k.into(), list));
    }
    let blkio = object(blkio, r, 90);
    let mut nets = Vec::new();
    for i in 0..r.below(4) {
        let fields = [
            "rx_bytes",
            "rx_packets",
            "rx_errors",
            "rx_dropped",
            "tx_bytes",
            "tx_packets",
            "tx_errors",
            "tx_dropped",
        ]
        .iter()
        .map(|k| (k.to_string(), counter(r)))
        .collect();
        nets.push((
            format!("eth{i}{}", if r.chance(20) { "é" } else { "" }),
            object(fields, r, 95),
        ));
    }
    let pids = object(
        vec![("current".into(), counter(r)), ("limit".into(), counter(r))],
        r,
        80,
    );
    let top = vec![
        ("read".into(), timestamp(r)),
        ("preread".into(), timestamp(r)),
        ("pids_stats".into(), pids),
        ("blkio_stats".into(), blkio),
        ("num_procs".into(), J::U(r.below(64))),
        ("storage_stats".into(), J::O(vec![])),
        ("cpu_stats".into(), cpu(r)),
        ("precpu_stats".into(), cpu(r)),
        ("memory_stats".into(), memory),
        ("name".into(), J::S(format!("/{}", text(r)))),
        (
            "id".into(),
            J::S(format!("{:016x}{:016x}", r.next(), r.next())),
        ),
        ("networks".into(), J::O(nets)),
    ];
    let top = object(top, r, 90);
    let spaced = r.chance(30);
    let mut w = Writer {
        rng: r,
        out: String::new(),
        spaced,
    };
    w.value(&top);
    w.out
}

fn check_against_reference(text: &[u8], decoder: &mut FrameDecoder) -> Result<(), TestCaseError> {
    let json: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(_) => return Ok(()), // not JSON: only "no panic" is asked
    };
    let Ok(expected) = stats_ref::expected(&json) else {
        return Ok(()); // a field of the wrong type: an error is the right answer
    };
    let bytes = text.to_vec();
    let sample = match decoder.decode(&bytes) {
        Ok(sample) => sample,
        // serde_json keeps only the last of repeated keys; the decoder (like Go's) still
        // rejects an earlier occurrence that is invalid.
        Err(_) if has_repeated_key(text) => return Ok(()),
        Err(e) => {
            return Err(TestCaseError::fail(format!(
                "decode failed at {} ({:?}) on {}",
                e.at,
                e.kind,
                text.escape_ascii()
            )));
        }
    };
    if has_repeated_key(text) {
        // serde_json keeps the last of repeated keys; Go (and the decoder) merge repeated
        // objects into the first: tests/frames.rs checks those by hand.
        return Ok(());
    }
    let derived = derive(&sample, Platform::Linux);
    let actual = stats_ref::actual(&sample, &derived);
    prop_assert_eq!(actual, expected, "frame: {}", String::from_utf8_lossy(text));
    Ok(())
}

/// Whether some object of this (valid) JSON text repeats a key, raw bytes compared after
/// serde_json decodes each key.
fn has_repeated_key(text: &[u8]) -> bool {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct Check;
    impl<'de> Visitor<'de> for Check {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut keys = std::collections::HashSet::new();
            let mut repeated = false;
            while let Some(key) = map.next_key::<String>()? {
                repeated |= !keys.insert(key);
                repeated |= map.next_value_seed(CheckSeed)?;
            }
            Ok(repeated)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut repeated = false;
            while let Some(r) = seq.next_element_seed(CheckSeed)? {
                repeated |= r;
            }
            Ok(repeated)
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    struct CheckSeed;
    impl<'de> serde::de::DeserializeSeed<'de> for CheckSeed {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(Check)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    de.deserialize_any(Check).unwrap_or(false)
}

fn fixture_frames() -> Vec<Vec<u8>> {
    let raw = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/docker20-cgv1/docker20-cgv1-writer-stream.http"
    ))
    .unwrap();
    let mut rest = &raw[raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4..];
    let mut frames = Vec::new();
    while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap(), 16).unwrap();
        if size == 0 || rest.len() < end + size + 4 {
            break;
        }
        frames.push(rest[end + 2..end + 1 + size].to_vec()); // without the newline
        rest = &rest[end + 4 + size..];
    }
    let doc = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/frames/docker-2022-cgv2-seed1.json"
    ))
    .unwrap();
    frames.push(doc);
    frames
}

/// 512 cases in the test suite; `PROPTEST_CASES=100000` for a longer run.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn random_frames_match_serde_json(seed in any::<u64>()) {
        let text = frame(seed);
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("generator wrote bad JSON ({e}): {text}"));
        let mut decoder = FrameDecoder::new();
        match stats_ref::expected(&json) {
            Ok(_) => check_against_reference(text.as_bytes(), &mut decoder)?,
            // The generator writes the right types everywhere the decoder reads.
            Err(_) => prop_assert!(false, "generator wrote a mistyped frame: {text}"),
        }
    }

    #[test]
    fn mutated_real_frames(which in 0usize..6, edits in prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..4), 1..6)) {
        let frames = fixture_frames();
        let mut bytes = frames[which % frames.len()].clone();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = usize::from(at) % bytes.len();
            match kind {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                2 => bytes.insert(i, byte),
                _ => {
                    let end = (i + usize::from(byte)).min(bytes.len());
                    let piece = bytes[i..end].to_vec();
                    bytes.splice(i..i, piece);
                }
            }
        }
        let mut decoder = FrameDecoder::new();
        // Warm with the frame before the damage (the memory map's keys are then known).
        let _ = decoder.decode(&frames[which % frames.len()]);
        let copy = bytes.clone();
        let _ = decoder.decode(&copy);
        check_against_reference(&bytes, &mut decoder)?;
    }

    /// A frame Go would not decode (damaged anywhere, also in parts the decoder skips) never
    /// gives numbers.
    #[test]
    fn mutated_frames_that_are_not_json_are_errors(which in 0usize..6, edits in prop::collection::vec((any::<u16>(), prop::sample::select(&b"{}[]:,\" 0a-.e"[..]), 0u8..3), 1..4)) {
        let frames = fixture_frames();
        let mut bytes = frames[which % frames.len()].clone();
        for (at, byte, kind) in edits {
            let i = usize::from(at) % bytes.len().max(1);
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
        }
        // (serde_json's own limits are not JSON's: its nesting depth, and numbers past f64.)
        let not_json = match serde_json::from_slice::<Value>(&bytes) {
            Ok(_) => false,
            Err(e) => {
                let m = e.to_string();
                !m.contains("recursion") && !m.contains("number out of range")
            }
        };
        if not_json {
            let mut decoder = FrameDecoder::new();
            let result = decoder.decode(&bytes).map(|s| s.memory.usage);
            prop_assert!(result.is_err(), "decoded {:?} from {}", result, String::from_utf8_lossy(&bytes));
            // Also after the undamaged frame (the memory map's keys then known).
            let _ = decoder.decode(&frames[which % frames.len()]);
            let result = decoder.decode(&bytes).map(|s| s.memory.usage);
            prop_assert!(result.is_err(), "decoded {:?} from {}", result, String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut decoder = FrameDecoder::new();
        let copy = bytes.clone();
        let _ = decoder.decode(&copy);
        let mut braced = b"{\"memory_stats\":{\"stats\":".to_vec();
        braced.extend_from_slice(&bytes);
        let _ = decoder.decode(&braced);
    }
}

#[test]
fn repeated_key_detector() {
    assert!(has_repeated_key(br#"{"a":1,"a":2}"#));
    assert!(has_repeated_key(br#"{"x":{"b":[1,{"c":1,"c":2}]}}"#));
    assert!(!has_repeated_key(br#"{"a":1,"b":{"a":2}}"#));
}
