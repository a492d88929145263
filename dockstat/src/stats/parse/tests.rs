use super::*;

/// A frame with `n` interfaces, the last one named like the first.
fn frame_with_interfaces(n: usize, general: bool) -> Vec<u8> {
    let mut f = String::from(r#"{"networks":{"#);
    for i in 0..n {
        let name = if i + 1 == n { 0 } else { i };
        if i > 0 {
            f.push(',');
        }
        // A space makes the general path read it; otherwise the daemon's form.
        let sp = if general { " " } else { "" };
        f.push_str(&format!(
            r#""if{name}":{sp}{{"rx_bytes":{i},"rx_packets":0,"rx_errors":0,"rx_dropped":0,"tx_bytes":1,"tx_packets":0,"tx_errors":0,"tx_dropped":0}}"#
        ));
    }
    f.push_str("}}");
    f.into_bytes()
}

fn compares(n: usize, general: bool) -> (u64, u64, usize) {
    let frame = frame_with_interfaces(n, general);
    let mut d = FrameDecoder::new();
    d.names.compares.set(0);
    let s = d.decode(&frame).unwrap();
    let (rx, len) = (s.networks.rx_bytes(), s.networks.len());
    (d.names.compares.get(), rx, len)
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(3000))]
    /// The one-pass read of the daemon's memory map accepts only what the general path
    /// (SIMD scan, validation) accepts, ends where it ends and finds the same counters.
    #[test]
    fn plain_memory_map_agrees_with_the_general_path(
        entries in proptest::collection::vec((0usize..8, 0usize..6, 0usize..10, 0usize..8), 0..40),
    ) {
        const KEYS: [&str; 8] = [
            r#""cache""#, r#""inactive_file""#, r#""total_inactive_file""#, r#""rss""#,
            r#""cach\u0065""#, "\"é\"", "\"a\u{1}\"", r#""x"#,
        ];
        const COLONS: [&str; 6] = [":", ":", ":", " :", "", "::"];
        const VALUES: [&str; 10] = [
            "0", "7", "123", "01", "-1", "1.5", "null", "18446744073709551616", "[]", "",
        ];
        const SEPS: [&str; 8] = [",", ",", ",", ", ", "", ",,", "}", "]"];
        let mut map = String::from("{");
        for (i, &(k, c, v, s)) in entries.iter().enumerate() {
            map.push_str(KEYS[k]);
            map.push_str(COLONS[c]);
            map.push_str(VALUES[v]);
            if i + 1 < entries.len() {
                map.push_str(SEPS[s]);
            }
        }
        // What follows the map in a frame.
        map.push_str(r#"},"limit":1}"#);
        let c = Cursor { b: map.as_bytes() };
        let mut plain = MemoryStats::default();
        if let Some(end) = memory_map_plain(&c, 0, &mut plain, &mut MapKeys::default()) {
            let mut general = MemoryStats::default();
            let at = memory_map_scanned(&c, 0, &mut general, &mut Vec::new());
            proptest::prop_assert_eq!(at, Ok(end), "{}", map);
            proptest::prop_assert_eq!(
                (plain.cache, plain.inactive_file, plain.total_inactive_file),
                (general.cache, general.inactive_file, general.total_inactive_file),
                "{}", map
            );
        }
    }
}

#[test]
fn plain_memory_map_reads_the_daemons_text() {
    let map = r#"{"active_anon":0,"cache":12,"inactive_file":7,"x":3,"total_inactive_file":5}"#;
    let frame = format!(r#"{map},"limit":1}}"#);
    let c = Cursor {
        b: frame.as_bytes(),
    };
    let mut m = MemoryStats::default();
    let mut keys = MapKeys::default();
    assert_eq!(memory_map_plain(&c, 0, &mut m, &mut keys), Some(map.len()));
    assert_eq!(
        (m.cache, m.inactive_file, m.total_inactive_file),
        (Some(12), Some(7), Some(5))
    );
    // Not the daemon's form: left to the general path.
    for other in [
        r#"{"a": 1}"#,
        r#"{"a":01}"#,
        r#"{"a":1,}"#,
        r#"{"cache":null}"#,
    ] {
        let frame = format!(r#"{other},"limit":1}}"#);
        let c = Cursor {
            b: frame.as_bytes(),
        };
        assert_eq!(memory_map_plain(&c, 0, &mut m, &mut keys), None, "{other}");
    }
}

#[test]
fn known_memory_map_keys_read_the_next_map() {
    let frame = |map: &str| format!(r#"{map},"limit":1}}"#);
    let first =
        frame(r#"{"active_anon":0,"cache":12,"inactive_file":7,"x":3,"total_inactive_file":5}"#);
    let mut keys = MapKeys::default();
    let mut m = MemoryStats::default();
    let c = Cursor {
        b: first.as_bytes(),
    };
    assert!(memory_map_plain(&c, 0, &mut m, &mut keys).is_some());
    let next = r#"{"active_anon":10,"cache":1234567890123,"inactive_file":0,"x":33,"total_inactive_file":18446744073709551615}"#;
    let f = frame(next);
    let mut m = MemoryStats::default();
    assert_eq!(
        memory_map_known(&Cursor { b: f.as_bytes() }, 0, &mut m, &keys),
        Some(next.len())
    );
    assert_eq!(
        (m.cache, m.inactive_file, m.total_inactive_file),
        (Some(1_234_567_890_123), Some(0), Some(u64::MAX))
    );
    // Anything else is left to the one-pass read.
    for other in [
        r#"{"active_anon":10,"cache":1,"inactive_file":0,"x":33}"#,
        r#"{"active_anon":10,"cache":1,"inactive_file":0,"x":33,"total_inactive_file":5,"y":1}"#,
        r#"{"active_anon":10,"cache":1,"inactive_file":0,"y":33,"total_inactive_file":5}"#,
        r#"{"active_anon":10,"cache":01,"inactive_file":0,"x":33,"total_inactive_file":5}"#,
        r#"{"active_anon":10,"cache":1,"inactive_file":0,"x":3.5,"total_inactive_file":5}"#,
        r#"{"active_anon":10,"cache":1,"inactive_file":0,"x":33,"total_inactive_file":18446744073709551616}"#,
        r#"{"active_anon":10, "cache":1,"inactive_file":0,"x":33,"total_inactive_file":5}"#,
        r#"{}"#,
    ] {
        let f = frame(other);
        let c = Cursor { b: f.as_bytes() };
        assert_eq!(memory_map_known(&c, 0, &mut m, &keys), None, "{other}");
    }
    // No keys remembered: nothing matches, not even an empty map.
    let f = frame("{}");
    assert_eq!(
        memory_map_known(&Cursor { b: f.as_bytes() }, 0, &mut m, &MapKeys::default()),
        None
    );
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(3000))]
    /// A map read against the keys of another (or of itself) is read only when the one-pass
    /// read would give the same: the same end and counters.
    #[test]
    fn known_memory_map_keys_agree_with_the_one_pass_read(
        entries in proptest::collection::vec((0usize..6, 0usize..7, 0usize..7, 0usize..6), 0..24),
        same_keys in proptest::bool::ANY,
    ) {
        const KEYS: [&str; 6] = [
            r#""cache""#, r#""inactive_file""#, r#""total_inactive_file""#, r#""rss""#,
            r#""a_very_long_key_name_of_thirty_two""#, r#""x""#,
        ];
        const VALUES: [&str; 7] = ["0", "7", "123456789012", "01", "1.5", "18446744073709551616", "null"];
        const SEPS: [&str; 6] = [",", ",", ",", ",", ", ", "}"];
        let build = |second: bool| {
            let mut map = String::from("{");
            for (i, &(k, va, vb, s)) in entries.iter().enumerate() {
                let k = if second && !same_keys { (k + va) % KEYS.len() } else { k };
                map.push_str(KEYS[k]);
                map.push(':');
                map.push_str(VALUES[if second { vb } else { va % 3 }]);
                if i + 1 < entries.len() {
                    map.push_str(SEPS[if second { s } else { 0 }]);
                }
            }
            map.push_str(r#"},"limit":1}"#);
            map
        };
        let (a, b) = (build(false), build(true));
        let mut keys = MapKeys::default();
        let mut m = MemoryStats::default();
        let read = memory_map_plain(&Cursor { b: a.as_bytes() }, 0, &mut m, &mut keys);
        proptest::prop_assert!(read.is_some(), "{}", a);
        let c = Cursor { b: b.as_bytes() };
        let mut known = MemoryStats::default();
        if let Some(end) = memory_map_known(&c, 0, &mut known, &keys) {
            let mut plain = MemoryStats::default();
            let at = memory_map_plain(&c, 0, &mut plain, &mut MapKeys::default());
            proptest::prop_assert_eq!(at, Some(end), "{}", b);
            proptest::prop_assert_eq!(
                (plain.cache, plain.inactive_file, plain.total_inactive_file),
                (known.cache, known.inactive_file, known.total_inactive_file),
                "{}", b
            );
        }
    }
}

#[test]
fn interface_lookups_grow_linearly_with_the_frame() {
    for general in [false, true] {
        let (small, rx, len) = compares(1_000, general);
        // The repeated last name replaced the first interface.
        assert_eq!(len, 999);
        assert_eq!(rx, (1..1_000u64).sum::<u64>());
        let (large, _, len) = compares(10_000, general);
        assert_eq!(len, 9_999);
        // Ten times the interfaces, about ten times the comparisons (a quadratic search
        // made a hundred times as many: 50 million for 10,000 interfaces).
        assert!(
            large <= 15 * small && large < 3 * 10_000,
            "general {general}: {small} comparisons for 1,000, {large} for 10,000"
        );
    }
}

#[test]
fn a_map_of_too_many_keys_is_read_but_not_remembered() {
    let mut map = String::from("{");
    for i in 0..(MAP_KEYS_ENTRIES + 10) {
        map.push_str(&format!(r#""k{i}":{i},"#));
    }
    map.push_str(r#""cache":5}"#);
    let frame = format!(r#"{map},"limit":1}}"#);
    let c = Cursor {
        b: frame.as_bytes(),
    };
    let mut scratch = MapScratch::default();
    for _ in 0..2 {
        let mut m = MemoryStats::default();
        assert_eq!(memory_map(&c, 0, &mut m, &mut scratch), Ok(map.len()));
        assert_eq!(m.cache, Some(5));
        assert!(scratch.keys.entries.is_empty());
        assert!(scratch.spare.short);
    }
}
