//! Golden tests for the frame decoder and the `docker stats` math, over every frame in
//! `../shared/fixtures/`: real Docker 20.10 cgroup v1 captures, and the cgroup v1 (Docker
//! 1.12, pretty-printed) and v2 (2022) frames from the docs.
//!
//! Each frame is checked two ways: every decoded and derived value against a reference path
//! (serde_json plus the docker/cli formulas written out again here, independently of the
//! library), and, for the frames that show something particular, against numbers worked out
//! by hand from the formulas.

use std::path::PathBuf;

use dockstat::stats::{Derived, FrameDecoder, Platform, Sample, Throttling, Timestamp, derive};
use serde_json::Value;

fn fixtures() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    assert!(dir.is_dir(), "fixtures missing at {}", dir.display());
    dir
}

/// Every stats frame of the fixtures: (where it came from, its bytes).
fn all_frames() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let raw_dir = fixtures().join("docker20-cgv1");
    let mut names: Vec<_> = std::fs::read_dir(&raw_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| {
            (n.contains("stream") || n.contains("oneshot"))
                && !n.contains("404")
                && n.ends_with(".http")
        })
        .collect();
    names.sort();
    for name in names {
        let raw = std::fs::read(raw_dir.join(&name)).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let (head, body) = (&raw[..split], &raw[split + 4..]);
        let chunked = String::from_utf8_lossy(head)
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let payload = if chunked {
            dechunk(body)
        } else {
            body.to_vec()
        };
        for (i, line) in payload
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            out.push((format!("{name} #{i}"), line.to_vec()));
        }
    }
    let doc_dir = fixtures().join("frames");
    let mut names: Vec<_> = std::fs::read_dir(&doc_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names {
        // The documentation's frames are pretty-printed: decoded as they are.
        out.push((name.clone(), std::fs::read(doc_dir.join(&name)).unwrap()));
    }
    assert!(
        out.len() >= 59,
        "expected every fixture frame, found {}",
        out.len()
    );
    out
}

/// Whole chunks only (captures of open streams end mid-stream).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap(), 16).unwrap();
        if size == 0 || body.len() < end + 2 + size + 2 {
            break;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
    out
}

fn decode_and_derive<R>(frame: &[u8], check: impl FnOnce(&Sample<'_>, &Derived) -> R) -> R {
    let mut decoder = FrameDecoder::new();
    let bytes = frame.to_vec();
    let sample = decoder
        .decode(&bytes)
        .unwrap_or_else(|e| panic!("decode failed at byte {}: {:?}", e.at, e.kind));
    let derived = derive(&sample, Platform::Linux);
    check(&sample, &derived)
}

// ---- the reference path -------------------------------------------------------------------

fn u(v: &Value, path: &[&str]) -> u64 {
    let mut v = v;
    for p in path {
        v = match v.get(*p) {
            Some(x) => x,
            None => return 0,
        };
    }
    v.as_u64().unwrap_or(0)
}

/// docker/cli stats_helpers.go, written again from the Go source.
fn reference(frame: &Value) -> Derived {
    let cpu = &frame["cpu_stats"];
    let pre = &frame["precpu_stats"];
    let mut online = u(cpu, &["online_cpus"]) as f64;
    if online == 0.0 {
        online = cpu["cpu_usage"]["percpu_usage"]
            .as_array()
            .map_or(0, Vec::len) as f64;
    }
    let cpu_delta =
        u(cpu, &["cpu_usage", "total_usage"]) as f64 - u(pre, &["cpu_usage", "total_usage"]) as f64;
    let system_delta = u(cpu, &["system_cpu_usage"]) as f64 - u(pre, &["system_cpu_usage"]) as f64;
    let cpu_percent = if system_delta > 0.0 && cpu_delta > 0.0 {
        (cpu_delta / system_delta) * online * 100.0
    } else {
        0.0
    };
    let mem = &frame["memory_stats"];
    let usage = u(mem, &["usage"]);
    let stats = &mem["stats"];
    let mem_used = match stats.get("total_inactive_file").and_then(Value::as_u64) {
        Some(v) if v < usage => (usage - v) as f64,
        _ => {
            let v = stats
                .get("inactive_file")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if v < usage {
                (usage - v) as f64
            } else {
                usage as f64
            }
        }
    };
    let limit = u(mem, &["limit"]) as f64;
    let (mut block_read, mut block_write) = (0u64, 0u64);
    if let Some(entries) = frame["blkio_stats"]["io_service_bytes_recursive"].as_array() {
        for e in entries {
            let op = e["op"].as_str().unwrap_or("");
            // docker/cli goes by the first letter, which is the same on Docker's ops.
            if op.eq_ignore_ascii_case("read") {
                block_read += e["value"].as_u64().unwrap_or(0);
            } else if op.eq_ignore_ascii_case("write") {
                block_write += e["value"].as_u64().unwrap_or(0);
            }
        }
    }
    let (mut rx, mut tx) = (0u64, 0u64);
    if let Some(nets) = frame["networks"].as_object() {
        for n in nets.values() {
            rx += n["rx_bytes"].as_u64().unwrap_or(0);
            tx += n["tx_bytes"].as_u64().unwrap_or(0);
        }
    }
    Derived {
        cpu_percent,
        cpu_percent_host: if online > 0.0 {
            cpu_percent / online
        } else {
            0.0
        },
        cpu_percent_of_limit: if online > 0.0 {
            cpu_percent / online
        } else {
            0.0
        },
        online_cpus: online as u32,
        mem_usage: usage,
        mem_used,
        mem_limit: limit,
        mem_percent: if limit != 0.0 {
            mem_used / limit * 100.0
        } else {
            0.0
        },
        net_rx: rx,
        net_tx: tx,
        block_read,
        block_write,
        pids: u(frame, &["pids_stats", "current"]),
        warmup: frame
            .get("preread")
            .and_then(Value::as_str)
            .is_none_or(|p| p.starts_with("0001-"))
            && u(pre, &["cpu_usage", "total_usage"]) == 0
            && u(pre, &["system_cpu_usage"]) == 0,
        stopped: frame["read"]
            .as_str()
            .is_some_and(|r| r.starts_with("0001-")),
        interval_nanos: 0,
    }
}

#[test]
fn every_fixture_frame_matches_the_reference() {
    for (name, frame) in all_frames() {
        let json: Value = serde_json::from_slice(&frame).unwrap();
        let mut expected = reference(&json);
        decode_and_derive(&frame, |sample, derived| {
            expected.interval_nanos = derived.interval_nanos;
            assert_eq!(*derived, expected, "{name}");
            assert_eq!(sample.id, json["id"].as_str().unwrap_or(""), "{name}");
            assert_eq!(sample.name, json["name"].as_str().unwrap_or(""), "{name}");
            let read = json["read"].as_str().unwrap();
            assert_eq!(
                Some(sample.read),
                Timestamp::parse(read.as_bytes()),
                "{name}"
            );
            // Go's RFC3339Nano trims trailing zeros; so does Display.
            let trimmed = read.trim_end_matches('Z');
            let trimmed = if trimmed.contains('.') {
                trimmed.trim_end_matches('0').trim_end_matches('.')
            } else {
                trimmed
            };
            assert_eq!(sample.read.to_string(), format!("{trimmed}Z"), "{name}");
            let nets = json["networks"].as_object().map_or(0, |m| m.len());
            assert_eq!(sample.networks.len(), nets, "{name}");
            for n in sample.networks.iter() {
                let r = &json["networks"][n.name];
                assert_eq!(n.rx_packets, r["rx_packets"].as_u64().unwrap(), "{name}");
                assert_eq!(n.tx_dropped, r["tx_dropped"].as_u64().unwrap(), "{name}");
            }
            assert_eq!(
                sample.pids.limit,
                json["pids_stats"].get("limit").and_then(Value::as_u64)
            );
            // The user/kernel split and the throttling counters, of both readings.
            for (cpu, key) in [(&sample.cpu, "cpu_stats"), (&sample.precpu, "precpu_stats")] {
                let usage = |k| u(&json, &[key, "cpu_usage", k]);
                let throttling = |k| u(&json, &[key, "throttling_data", k]);
                assert_eq!(
                    (cpu.user_usage, cpu.system_usage),
                    (usage("usage_in_usermode"), usage("usage_in_kernelmode")),
                    "{name} {key}"
                );
                assert_eq!(
                    cpu.throttling,
                    Throttling {
                        periods: throttling("periods"),
                        throttled_periods: throttling("throttled_periods"),
                        throttled_time: throttling("throttled_time"),
                    },
                    "{name} {key}"
                );
            }
            assert_eq!(
                sample.memory.cache,
                json["memory_stats"]["stats"]
                    .get("cache")
                    .and_then(Value::as_u64),
                "{name}"
            );
        });
    }
}

fn frame_read_at(read: &str) -> Vec<u8> {
    let needle = format!("\"read\":\"{read}\"");
    all_frames()
        .into_iter()
        .map(|(_, f)| f)
        .find(|f| {
            String::from_utf8_lossy(f)
                .replace(": \"", ":\"")
                .contains(&needle)
        })
        .unwrap_or_else(|| panic!("no frame read at {read}"))
}

#[test]
fn busy_container_at_half_a_core() {
    // busy-stream frame 2: Δtotal 506645066 ns over Δsystem 2030000000 ns on 2 CPUs.
    let frame = frame_read_at("2026-11-23T06:55:27.765114596Z");
    decode_and_derive(&frame, |s, d| {
        assert_eq!(s.cpu.total_usage - s.precpu.total_usage, 506_645_066);
        assert_eq!(
            s.cpu.system_cpu_usage - s.precpu.system_cpu_usage,
            2_030_000_000
        );
        assert_eq!(d.online_cpus, 2);
        assert_eq!(d.cpu_percent, 506_645_066.0 / 2_030_000_000.0 * 2.0 * 100.0);
        assert_eq!(format!("{:.2}", d.cpu_percent), "49.92");
        assert_eq!(format!("{:.2}", d.cpu_percent_host), "24.96");
        // `--cpus 0.5`: the CFS counters advance, nearly every period throttled.
        assert_eq!(
            s.cpu.throttling,
            Throttling {
                periods: 445,
                throttled_periods: 438,
                throttled_time: 21_243_018_874,
            }
        );
        assert_eq!(s.precpu.throttling.throttled_periods, 427);
        assert_eq!(
            (s.cpu.user_usage, s.cpu.system_usage),
            (21_950_000_000, 220_000_000)
        );
        // No limit on the sample (the frame has none): of the host's CPUs.
        assert_eq!(d.cpu_percent_of_limit, d.cpu_percent_host);
        assert!(!d.warmup);
        assert_eq!(d.interval_nanos, 1_022_680_094); // the frames' own timestamps
    });
}

#[test]
fn first_frame_of_a_stream_is_a_warmup() {
    // precpu zeroed and preread 0001-01-01: the CPU % covers the whole life (docker shows it).
    let frame = frame_read_at("2026-11-23T06:55:26.742434502Z");
    decode_and_derive(&frame, |s, d| {
        assert!(s.preread.is_zero());
        assert!(d.warmup);
        assert_eq!(d.interval_nanos, 0);
        assert_eq!(
            d.cpu_percent,
            21_671_618_861.0 / 587_220_000_000.0 * 2.0 * 100.0
        );
        assert_eq!(format!("{:.2}", d.cpu_percent), "7.38");
    });
}

#[test]
fn memory_without_page_cache_v1_and_v2() {
    // cgroup v1, memhog: usage 210526208, total_inactive_file 0, limit 512 MiB.
    let frame = frame_read_at("2026-11-23T06:55:29.801076316Z");
    decode_and_derive(&frame, |s, d| {
        assert_eq!(s.memory.total_inactive_file, Some(0));
        assert_eq!(d.mem_used, 210_526_208.0);
        assert_eq!(d.mem_limit, 536_870_912.0);
        assert_eq!(format!("{:.2}", d.mem_percent), "39.21");
    });
    // cgroup v2 (docs, 2022): usage 790528 − inactive_file 135168 = 655360 (640 KiB).
    let frame = frame_read_at("2022-09-04T19:16:23.189899509Z");
    decode_and_derive(&frame, |s, d| {
        assert_eq!(s.memory.total_inactive_file, None);
        assert_eq!(s.memory.inactive_file, Some(135_168));
        assert_eq!(d.mem_used, 655_360.0);
        assert_eq!(d.mem_percent, 655_360.0 / 8_217_169_920.0 * 100.0);
        // No percpu_usage on v2: online_cpus (4) is used.
        assert_eq!(s.cpu.percpu_count, 0);
        assert_eq!(d.cpu_percent, 1_471_000.0 / 4_040_000_000.0 * 4.0 * 100.0);
        assert_eq!(s.pids.limit, Some(u64::MAX));
        assert_eq!((d.block_read, d.block_write), (249_856, 12_288));
        assert_eq!((d.net_rx, d.net_tx), (1226, 0));
    });
    // Docker 1.12: no online_cpus, four percpu entries; total_inactive_file subtracted.
    let frame = frame_read_at("2016-08-15T07:57:55.652878954Z");
    decode_and_derive(&frame, |s, d| {
        assert_eq!(s.cpu.online_cpus, 0);
        assert_eq!(d.online_cpus, 4);
        assert_eq!(d.cpu_percent, 0.0); // Δtotal_usage is 0
        assert_eq!(d.mem_used, (51_126_272 - 18_386_944) as f64);
        assert!(s.name.is_empty() && s.id.is_empty());
        // No preread field (Go's zero time), but precpu holds a reading: not a warm-up.
        assert!(s.preread.is_zero());
        assert!(!d.warmup);
    });
}

#[test]
fn block_io_counts_reads_and_writes_by_first_letter() {
    // writer: Read 0, Write 302063616, and Sync/Async/Discard/Total which do not count.
    let frame = frame_read_at("2026-11-23T06:55:30.806263831Z");
    decode_and_derive(&frame, |s, d| {
        assert_eq!(s.blkio.entries, 6);
        assert_eq!((d.block_read, d.block_write), (0, 302_063_616));
    });
}

#[test]
fn networks_pids_and_stopped_containers() {
    let frame = frame_read_at("2026-11-23T06:55:27.750806625Z");
    decode_and_derive(&frame, |s, d| {
        let eth0 = s.networks.iter().next().unwrap();
        assert_eq!(
            (eth0.name, eth0.rx_bytes, eth0.rx_packets),
            ("eth0", 1252, 14)
        );
        assert_eq!((d.net_rx, d.net_tx), (1252, 0));
    });
    let frame = frame_read_at("2026-11-23T06:55:29.796352186Z");
    decode_and_derive(&frame, |s, d| {
        assert_eq!((d.pids, s.pids.limit), (11, Some(64)));
    });
    // A stopped container: read 0001-01-01, everything zero, blkio lists null, memory {}.
    let (name, frame) = all_frames()
        .into_iter()
        .find(|(n, _)| n.starts_with("docker20-cgv1-stopped-nostream"))
        .unwrap();
    decode_and_derive(&frame, |s, d| {
        assert!(s.is_stopped() && d.stopped, "{name}");
        assert_eq!(s.name, "/stopped");
        assert_eq!(
            (d.cpu_percent, d.mem_used, d.mem_percent, d.pids),
            (0.0, 0.0, 0.0, 0)
        );
    });
}

#[test]
fn windows_frames_use_read_preread_and_num_procs() {
    // Shape of a Windows daemon's frame (docs): no system_cpu_usage, 100 ns intervals.
    let frame = br#"{"read":"2026-01-01T00:00:01Z","preread":"2026-01-01T00:00:00Z","num_procs":4,
        "cpu_stats":{"cpu_usage":{"total_usage":20000000}},"precpu_stats":{"cpu_usage":{"total_usage":10000000}},
        "memory_stats":{"commitbytes":100,"commitpeakbytes":200,"privateworkingset":5242880},
        "storage_stats":{"read_count_normalized":1,"read_size_bytes":4096,"write_count_normalized":2,"write_size_bytes":8192},
        "name":"/win","id":"w1"}"#
        .to_vec();
    let mut decoder = FrameDecoder::new();
    let s = decoder.decode(&frame).unwrap();
    let d = derive(&s, Platform::Windows);
    // 1 s = 10^7 intervals × 4 procs; 10^7 used → 25 %.
    assert_eq!(d.cpu_percent, 10_000_000.0 / 40_000_000.0 * 100.0);
    assert_eq!(d.mem_used, 5_242_880.0);
    assert_eq!((d.block_read, d.block_write), (4096, 8192));
    assert_eq!(s.memory.commit_peak_bytes, Some(200));
}

#[test]
fn malformed_frames_are_typed_errors_with_offsets_and_do_not_poison_the_next() {
    let good = all_frames().remove(3).1;
    let mut decoder = FrameDecoder::new();
    let cases: &[(&[u8], usize)] = &[
        (b"{\"read\":", 8),
        (b"{\"cpu_stats\":{\"cpu_usage\":{\"total_usage\":12x}}}", 43),
        (b"{\"memory_stats\":{\"usage\":\"big\"}}", 25),
        (b"{\"name\":\"a\x01b\"}", 10),
        (b"[1,2,3]", 0),
        (b"{} trailing", 3),
        (b"{\"pids_stats\":{\"current\":-1}}", 25),
        (
            b"{\"cpu_stats\":{\"throttling_data\":{\"periods\":\"7\"}}}",
            43,
        ),
        (
            b"{\"cpu_stats\":{\"cpu_usage\":{\"usage_in_usermode\":-3}}}",
            47,
        ),
        (
            b"{\"blkio_stats\":{\"io_service_bytes_recursive\":[{\"op\":\"Read\",\"value\":1.5}]}}",
            67,
        ),
    ];
    for &(bad, offset) in cases {
        let bytes = bad.to_vec();
        let err = decoder.decode(&bytes).unwrap_err();
        assert_eq!(err.at, offset, "{}: {err:?}", String::from_utf8_lossy(bad));
        let ok = good.clone();
        assert!(decoder.decode(&ok).is_ok(), "the next frame decodes");
    }
}

#[test]
fn a_key_after_the_last_expected_one() {
    // Found by tests/frame_props.rs: after the eighth of eight network counters, the next key
    // was checked against a schema slot past the end.
    let frame = br#"{"networks":{"eth0":{"rx_bytes":1,"rx_packets":2,"rx_errors":3,"rx_dropped":4,
        "tx_bytes":5,"tx_packets":6,"tx_errors":7,"tx_dropped":8,"tx_dropped":9,"rx_bytes":10}}}"#
        .to_vec();
    let mut decoder = FrameDecoder::new();
    let s = decoder.decode(&frame).unwrap();
    let eth0 = s.networks.iter().next().unwrap();
    assert_eq!((eth0.rx_bytes, eth0.tx_dropped), (10, 9));
}

#[test]
fn escapes_whitespace_order_and_duplicates() {
    // Keys out of the daemon's order, escaped keys and names, whitespace, unknown fields,
    // nulls, a duplicate key (last wins), and the 64-bit maximum.
    let frame = br#" {
        "name" : "/a\u0062c\"d" , "id":"x",
        "memory_stats":{"stats":{"inactive_file":5,"total_inactive_file":7,"zz":{"cache":1},"cache":3},
                        "limit":100,"usage":50,"unknown":[1,{"a":[]}]},
        "cpu_stats":{"online_cpus":null,"cpu_usage":{"percpu_usage":[1,2,3],"total_usage":18446744073709551615},
                     "system_cpu_usage":9},
        "pids_stats":{"current":1,"current":2},
        "net\u0077orks":{"eth\u0030":{"rx_bytes":10},"eth1":{"tx_bytes":20}}
    } "#
    .to_vec();
    let mut decoder = FrameDecoder::new();
    let s = decoder.decode(&frame).unwrap();
    assert_eq!(s.name, "/abc\"d");
    assert_eq!(s.cpu.total_usage, u64::MAX);
    assert_eq!((s.cpu.percpu_count, s.cpu.online_cpus), (3, 0));
    assert_eq!(s.memory.total_inactive_file, Some(7));
    assert_eq!(s.memory.inactive_file, Some(5));
    assert_eq!(s.memory.cache, Some(3), "the nested cache is not the map's");
    assert_eq!(s.pids.current, 2);
    let names: Vec<_> = s.networks.iter().map(|n| n.name).collect();
    assert_eq!(names, ["eth0", "eth1"]);
    assert_eq!((s.networks.rx_bytes(), s.networks.tx_bytes()), (10, 20));
}

// ---- hostile frames ---------------------------------------------------------------------------

/// Whether serde_json rejects the text as JSON where Go's decoder would too: not for invalid
/// UTF-8 or lone surrogates (U+FFFD to Go), nor for serde_json's own limits (nesting, numbers
/// past f64).
fn not_json_to_go(text: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(text) {
        Ok(_) => false,
        Err(e) => {
            let m = e.to_string();
            !(m.contains("surrogate")
                || m.contains("unicode")
                || m.contains("UTF-8")
                || m.contains("recursion")
                || m.contains("number out of range"))
        }
    }
}

#[test]
fn a_frame_that_is_not_json_never_gives_a_number() {
    // The damage seen: a missing colon in the memory map, where the map was only skipped, and
    // the quote pairs read as keys were off by one.
    let frame = br#"{"read":"2024-01-02T03:04:05Z","preread":"2024-01-02T03:04:04Z","memory_stats":{"usage":917504,"stats":{"active_anon":1,"total_inactive_file"262144,"x":{"inactive_file":131072},"total_rss":3},"limit":1048576}}"#;
    let mut decoder = FrameDecoder::new();
    assert!(not_json_to_go(frame));
    assert!(decoder.decode(frame).is_err());

    // Every deletion of one byte, and every one turned into a space or a comma, that makes a
    // real frame something Go would not decode, makes it an error here too.
    let mut checked = 0;
    for (name, frame) in all_frames()
        .into_iter()
        .filter(|(n, _)| n.contains("stream"))
        .take(4)
    {
        for i in 0..frame.len() {
            for edit in 0..3u8 {
                let mut bad = frame.clone();
                match edit {
                    0 => {
                        bad.remove(i);
                    }
                    1 => bad[i] = b' ',
                    _ => bad[i] = b',',
                }
                if !not_json_to_go(&bad) {
                    continue;
                }
                checked += 1;
                if let Ok(s) = decoder.decode(&bad) {
                    panic!(
                        "{name}: edit {edit} at {i} is not JSON, yet gave usage {}: {}",
                        s.memory.usage,
                        String::from_utf8_lossy(&bad)
                    );
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn whitespace_between_frames_is_skipped_as_go_does() {
    use dockstat::stats::StatsStream;
    let frame = all_frames().remove(3).1;
    let mut body = Vec::new();
    for sep in [
        &b"\n"[..],
        b"\r\n",
        b"\n\n",
        b"\n \t \n",
        b"\n\r\n\r\n",
        b"\n",
    ] {
        body.extend_from_slice(&frame);
        body.extend_from_slice(sep);
    }
    body.extend_from_slice(b"  \r\n");
    // Whole, split at every byte near the separators, and byte by byte.
    let splits: Vec<usize> = (0..body.len())
        .filter(|&i| i % 97 == 0 || body.get(i).is_some_and(|b| b.is_ascii_whitespace()))
        .collect();
    // The CPU readings of the frame decoded whole, which every split must give too.
    let whole = decode_and_derive(&frame, |s, _| (s.cpu, s.precpu));
    assert_ne!(whole.0.throttling, Throttling::default());
    for cut in splits {
        let mut decoder = FrameDecoder::new();
        let mut stream = StatsStream::new(1 << 20);
        let mut n = 0;
        for piece in [&body[..cut], &body[cut..]] {
            let mut samples = stream.push(piece, &mut decoder);
            while let Some(s) = samples.next() {
                let s = s.unwrap_or_else(|e| panic!("cut {cut}: {e}"));
                assert_eq!((s.sample.cpu, s.sample.precpu), whole, "cut {cut}");
                n += 1;
            }
        }
        assert!(stream.finish(&mut decoder).next().is_none(), "cut {cut}");
        assert_eq!(n, 6, "cut {cut}");
    }
    let mut decoder = FrameDecoder::new();
    let mut stream = StatsStream::new(1 << 20);
    let mut n = 0;
    for b in body.chunks(1) {
        let mut samples = stream.push(b, &mut decoder);
        while let Some(s) = samples.next() {
            let s = s.unwrap();
            assert_eq!((s.sample.cpu, s.sample.precpu), whole);
            n += 1;
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn network_sums_do_not_wrap_at_2_pow_64() {
    // docker/cli adds the interfaces as float64: 2^63 + 2^63 is 2^64 (18.4EB), never 0.
    let half = 1u64 << 63;
    let frame = format!(
        r#"{{"networks":{{"eth0":{{"rx_bytes":{half},"tx_bytes":1}},"eth1":{{"rx_bytes":{half},"tx_bytes":2}}}}}}"#
    );
    decode_and_derive(frame.as_bytes(), |s, d| {
        assert_eq!(s.networks.rx_bytes(), u64::MAX);
        assert_eq!(d.net_rx as f64, 2f64.powi(64));
        assert_eq!(d.net_tx, 3);
    });
}

#[test]
fn repeated_keys_merge_as_go_decodes_them() {
    // encoding/json: a repeated object is decoded into the first (fields it lacks stay), a
    // repeated number replaces, maps keep their earlier entries, null leaves numbers alone.
    let frame =
        br#"{"memory_stats":{"usage":1000,"limit":4000,"stats":{"total_inactive_file":100}},
        "memory_stats":{"usage":2000,"stats":{"cache":7}},
        "cpu_stats":{"cpu_usage":{"total_usage":5,"percpu_usage":[1,2]},"online_cpus":4},
        "cpu_stats":{"cpu_usage":{"total_usage":9,"usage_in_usermode":4},"system_cpu_usage":null,
        "throttling_data":{"periods":10,"throttled_periods":2,"throttled_time":3}},
        "cpu_stats":{"cpu_usage":{"usage_in_kernelmode":1},"throttling_data":{"periods":11,"throttled_time":null}},
        "pids_stats":{"current":3,"limit":10},"pids_stats":{"current":null},
        "networks":{"eth0":{"rx_bytes":1,"tx_bytes":2}},"networks":{"eth1":{"rx_bytes":10}},
        "name":"/a","name":null}"#;
    decode_and_derive(frame, |s, d| {
        assert_eq!((s.memory.usage, s.memory.limit), (2000, 4000));
        assert_eq!(
            s.memory.total_inactive_file,
            Some(100),
            "the first map's entry stays"
        );
        assert_eq!(s.memory.cache, Some(7));
        assert_eq!(d.mem_used, 1900.0);
        assert_eq!(s.cpu.total_usage, 9);
        assert_eq!((s.cpu.percpu_count, s.cpu.online_cpus), (2, 4));
        assert_eq!((s.cpu.user_usage, s.cpu.system_usage), (4, 1));
        assert_eq!(
            s.cpu.throttling,
            Throttling {
                periods: 11,
                throttled_periods: 2,
                throttled_time: 3,
            }
        );
        assert_eq!((s.pids.current, s.pids.limit), (3, Some(10)));
        assert_eq!(s.networks.len(), 2);
        assert_eq!((d.net_rx, d.net_tx), (11, 2));
        assert_eq!(s.name, "/a");
    });
    // A repeated interface is replaced whole (a Go map's value is decoded fresh), also when
    // its name is written another way.
    let frame = br#"{"networks":{"eth0":{"rx_bytes":1,"tx_bytes":2},"eth0":{"rx_bytes":5}}}"#;
    decode_and_derive(frame, |s, d| {
        assert_eq!(s.networks.len(), 1);
        assert_eq!((d.net_rx, d.net_tx), (5, 0));
    });
    let frame =
        br#"{"networks":{"eth\u0030":{"rx_bytes":1},"eth1":{"rx_bytes":2},"eth0":{"rx_bytes":5},
        "e\u0074h1":{"tx_bytes":7}}}"#;
    decode_and_derive(frame, |s, d| {
        let names: Vec<_> = s.networks.iter().map(|n| n.name).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        assert_eq!((d.net_rx, d.net_tx), (5, 7));
    });
    // `null` for the memory map empties it; `null` for one of its counters is there, as 0:
    // cgroup v1 math then subtracts 0, not the cgroup v2 key.
    let frame = br#"{"memory_stats":{"usage":1000,"stats":{"total_inactive_file":null,"inactive_file":300}}}"#;
    decode_and_derive(frame, |_, d| assert_eq!(d.mem_used, 1000.0));
    let frame = br#"{"memory_stats":{"usage":1000,"stats":{"inactive_file":300},"stats":null}}"#;
    decode_and_derive(frame, |_, d| assert_eq!(d.mem_used, 1000.0));
}

#[test]
fn keys_name_fields_without_regard_to_case_as_go_does() {
    let frame = r#"{"Memory_Stats":{"USAGE":1000,"Limit":4000,"Stats":{"inactive_file":200,"Cache":5}},
        "PIDS_STATS":{"Current":7},"Name":"/x","pıds_ſtats":{"current":8}}"#;
    decode_and_derive(frame.as_bytes(), |s, d| {
        assert_eq!((s.memory.usage, s.memory.limit), (1000, 4000));
        assert_eq!(d.mem_used, 800.0);
        // Map keys are exact: "Cache" is not "cache".
        assert_eq!(s.memory.cache, None);
        // Go folds ſ to S and ı to I.
        assert_eq!(s.pids.current, 8);
        assert_eq!(s.name, "/x");
    });
    // And the Kelvin sign to K, İ to I (ToUpper(ToLower(r))).
    let frame = "{\"pids_stats\":{\"current\":1},\"p\u{130}ds_stats\":{\"current\":9},\
        \"bl\u{212a}io_stats\":{\"io_service_bytes_recursive\":[{\"major\":8,\"minor\":0,\
        \"op\":\"read\",\"value\":5}]}}";
    decode_and_derive(frame.as_bytes(), |s, d| {
        assert_eq!(s.pids.current, 9);
        assert_eq!(d.block_read, 5);
    });
}

#[test]
fn invalid_utf8_and_lone_surrogates_become_u_fffd_as_go_does() {
    let frame =
        b"{\"name\":\"/a\xffb\",\"id\":\"\\ud800x\",\"networks\":{\"e\xfe\":{\"rx_bytes\":1}},\
        \"memory_stats\":{\"usage\":10,\"stats\":{\"k\xff\":1}}}";
    decode_and_derive(frame, |s, d| {
        assert_eq!(s.name, "/a\u{fffd}b");
        assert_eq!(s.id, "\u{fffd}x");
        assert_eq!(s.networks.iter().next().unwrap().name, "e\u{fffd}");
        assert_eq!((d.net_rx, d.mem_usage), (1, 10));
    });
    // Outside strings, a byte that is not ASCII is still not JSON.
    let mut decoder = FrameDecoder::new();
    assert!(
        decoder
            .decode(b"{\"memory_stats\":{\"stats\":{\"a\":1\xff}}}")
            .is_err()
    );
}
