use super::ndjson::ndjson_line_reference;
use super::screen::cut;
use super::sort::as_shown;
use super::*;
use dockstat::stats::{
    CpuLimit, Pressure, Pressures, Sample, Source, StallLine, Throttling, Timestamp,
};
use proptest::prelude::*;

fn derived_strategy() -> impl Strategy<Value = Derived> {
    // Floats: any bits (NaN and infinities too), and the values real samples give.
    let float = prop_oneof![
        any::<f64>(),
        (0u64..100_000_000).prop_map(|v| v as f64 / 1e4),
        (0u64..1 << 40).prop_map(|v| v as f64),
        Just(0.0),
        Just(-0.0),
        Just(f64::NAN),
    ];
    (
        (
            float.clone(),
            float.clone(),
            float.clone(),
            float.clone(),
            float,
        ),
        (any::<u32>(), any::<u64>(), any::<u64>(), any::<u64>()),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        (any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |(
                (cpu, cpu_host, mem_used, mem_limit, mem_percent),
                (online_cpus, mem_usage, net_rx, net_tx),
                (block_read, block_write, pids, interval_nanos),
                (warmup, stopped),
            )| Derived {
                cpu_percent: cpu,
                cpu_percent_host: cpu_host,
                cpu_percent_of_limit: cpu_host,
                online_cpus,
                mem_usage,
                mem_used,
                mem_limit,
                mem_percent,
                net_rx,
                net_tx,
                block_read,
                block_write,
                pids,
                warmup,
                stopped,
                interval_nanos,
            },
        )
}

/// A sample's fields beyond docker's: source, CPU split and throttling, limit, pressure.
fn extra_strategy() -> impl Strategy<Value = Sample<'static>> {
    let stall =
        || (0u32..10_000, any::<u64>()).prop_map(|(avg10, total_us)| StallLine { avg10, total_us });
    let pressure = move || {
        prop::option::of(
            (stall(), prop::option::of(stall())).prop_map(|(some, full)| Pressure { some, full }),
        )
    };
    (
        any::<bool>(),
        [
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ],
        prop::option::of((0u64..10_000_000, 0u64..1_000_000)),
        (pressure(), pressure(), pressure()),
    )
        .prop_map(
            |(cgroupfs, [user, system, periods, throttled, time], limit, (cpu, memory, io))| {
                let mut s = Sample {
                    source: if cgroupfs {
                        Source::Cgroupfs
                    } else {
                        Source::Api
                    },
                    cpu_limit: limit.map(|(quota_us, period_us)| CpuLimit {
                        quota_us,
                        period_us,
                    }),
                    pressure: Pressures { cpu, memory, io },
                    ..Sample::default()
                };
                s.cpu.user_usage = user;
                s.cpu.system_usage = system;
                s.cpu.throttling = Throttling {
                    periods,
                    throttled_periods: throttled,
                    throttled_time: time,
                };
                s
            },
        )
}

fn state(ndjson: bool, host_field: bool) -> State<Vec<u8>> {
    let hosts = vec![
        "unix:///a.sock".to_string(),
        "tcp://127.0.0.1:1".to_string(),
    ];
    State {
        troubles: vec![None, None],
        rows: BTreeMap::new(),
        keys: Keys::default(),
        departed: Departed::default(),
        ranks: HashMap::new(),
        next_seq: 0,
        out: Vec::new(),
        ndjson,
        nd: Ndjson::new(&hosts),
        live: Vec::new(),
        row_errors: 0,
        once: false,
        view: false,
        line: String::new(),
        write_error: None,
        reported: HashSet::new(),
        failed: false,
        cgroup_error: None,
        fatal: None,
        notice: None,
        host_field,
        hosts,
    }
}

/// `--format json` keeps each row's text until the row changes: what a refresh writes is
/// what rendering every row again writes, through samples, stale streams, errors, renames,
/// an id that comes with the first sample, departures and returns.
#[test]
fn json_rows_kept_between_refreshes_are_the_rows_rendered_again() {
    for (host_field, limit, no_trunc) in [(false, None, false), (true, Some(3), true)] {
        let opts = StatsOpts {
            limit,
            no_trunc,
            ..StatsOpts::default()
        };
        let mut st = state(false, host_field);
        let check = |st: &mut State<Vec<u8>>| {
            let order = st.order(None, false, CpuScale::Docker, |_| true);
            // The rows' own order (walked in step), turned around, and every other row.
            let reversed: Vec<u64> = order.iter().rev().copied().collect();
            let some: Vec<u64> = order.iter().step_by(2).copied().collect();
            for order in [order, reversed, some] {
                let mut kept = Vec::new();
                st.json_rows(&order, &opts, &mut kept);
                let mut again = Vec::new();
                let rows = st.display_rows(&order, &opts);
                Format::Json
                    .write(&mut again, &rows, &|f| f.into())
                    .unwrap();
                assert_eq!(
                    String::from_utf8(kept).unwrap(),
                    String::from_utf8(again).unwrap()
                );
            }
        };
        let containers: Vec<dockstat::engine::Container> = (0..5u32)
            .map(|k| dockstat::engine::Container {
                host: (k % 2) as usize,
                // The last one asked for by name: its id comes with its first sample.
                id: if k == 4 {
                    format!("c{k}")
                } else {
                    format!("{k:064x}")
                },
                name: format!("c{k}"),
                image: String::new(),
                labels: Vec::new(),
                requested: format!("{k:012x}"),
                key: k,
            })
            .collect();
        for c in &containers {
            st.on_event(Event::Added(c));
            check(&mut st);
        }
        for round in 0..6u64 {
            for (i, c) in containers.iter().enumerate() {
                let id = format!("{i:064x}");
                let name = if round == 3 && i == 1 {
                    "/renamed".to_string()
                } else {
                    format!("/c{i}")
                };
                let sample = dockstat::stats::Sample {
                    id: &id,
                    name: &name,
                    read: Timestamp {
                        secs: 1_700_000_000 + round as i64,
                        nanos: 5,
                    },
                    ..Default::default()
                };
                let derived = Derived {
                    cpu_percent: round as f64 * 1.37 + i as f64,
                    mem_used: (round * 1_000_003 * (i as u64 + 1)) as f64,
                    mem_limit: 8e9,
                    mem_percent: round as f64 / 3.0,
                    net_rx: round * 999,
                    pids: round + i as u64,
                    ..Derived::default()
                };
                if (round + i as u64) % 4 != 0 {
                    st.on_event(Event::Sample {
                        container: c,
                        sample: &sample,
                        derived: &derived,
                    });
                }
                check(&mut st);
            }
            let c = &containers[round as usize % 5];
            match round {
                1 => drop(st.on_event(Event::Stale(c))),
                2 => {
                    let error = Error::new(ErrorKind::Timeout).context("x");
                    st.on_event(Event::Error {
                        host: c.host,
                        container: Some(c),
                        error: &error,
                    });
                }
                3 => {
                    st.on_event(Event::Gone {
                        container: c,
                        why: dockstat::engine::Gone::Stopped,
                    });
                    check(&mut st);
                    st.on_event(Event::Added(c));
                }
                _ => {}
            }
            check(&mut st);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The ndjson writer writes, byte for byte, what the `format!` one wrote.
    #[test]
    fn ndjson_lines_as_the_reference(
        hosts in prop::collection::vec(any::<String>(), 1..3),
        samples in prop::collection::vec(
            (any::<String>(), "[a-f0-9]{0,64}", "[a-z<>&\"\\\\/.\u{2028}é-]{0,20}",
             -100i64..100, any::<u32>(), 0u32..1000, derived_strategy(), extra_strategy()),
            1..12,
        ),
        now in 1_700_000_000i64..1_900_000_000,
    ) {
        let mut nd = Ndjson::new(&hosts);
        let mut new = String::new();
        let mut old = String::new();
        for (i, (name, id, name2, dsecs, nanos, ms, d, x)) in samples.iter().enumerate() {
            let host = i % hosts.len();
            let name = if i % 2 == 0 { name } else { name2 };
            for nanos in [nanos % 1_000_000_000, ms * 1_000_000, 0] {
                let read = Timestamp { secs: now + dsecs / 10, nanos };
                let sample = Sample { id, read, ..*x };
                nd.line(&mut new, host, &sample, name, d);
                ndjson_line_reference(&mut old, &hosts[host], &sample, name, &read.to_string(), d);
            }
        }
        prop_assert_eq!(new, old);
    }
}

fn layout<'a>(block: &'a str, rows: usize, status: &'a [(String, String)]) -> Layout<'a> {
    Layout {
        block,
        header: true,
        rendered: rows,
        total: rows,
        footer: None,
        status,
    }
}

#[test]
fn the_screen_fits_the_window() {
    let block: String = std::iter::once("HEADER\n".to_string())
        .chain((1..=30).map(|i| format!("row {i}\n")))
        .collect();
    // Everything fits: as written.
    let all = layout(&block, 30, &[]).lines(Some((40, 80)));
    assert_eq!(all.len(), 31);
    assert_eq!(all[30], "row 30");
    // 10 lines: header, 8 rows, and how many more.
    let ten = layout(&block, 30, &[]).lines(Some((10, 80)));
    assert_eq!(ten.len(), 10);
    assert_eq!(ten[0], "HEADER");
    assert_eq!(ten[8], "row 8");
    assert_eq!(ten[9], "(22 more)");
    // Exactly full: no "(N more)".
    let exact = layout(&block, 30, &[]).lines(Some((31, 80)));
    assert_eq!(exact.len(), 31);
    assert_eq!(exact[30], "row 30");
    // A status line takes a row; cut to the width, keeping its count.
    let status = [(
        "unix:///x: connection refused".to_string(),
        ", retrying (3 attempts)".to_string(),
    )];
    let lines = layout(&block, 30, &status).lines(Some((10, 80)));
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[8], "(23 more)");
    assert_eq!(
        lines[9],
        "unix:///x: connection refused, retrying (3 attempts)"
    );
    let narrow = layout(&block, 30, &status).lines(Some((10, 40)));
    assert_eq!(narrow[9], "unix:///x: con..., retrying (3 attempts)");
    assert!(narrow.iter().all(|l| l.chars().count() <= 40));
    // Unknown size: nothing cut.
    assert_eq!(layout(&block, 30, &status).lines(None).len(), 32);
    // Only the rows that can fit were rendered: the count is of all of them.
    let few = Layout {
        total: 1000,
        ..layout(&block, 30, &[])
    };
    let lines = few.lines(Some((10, 80)));
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[9], "(992 more)");
    let all = Layout {
        total: 31,
        ..layout(&block, 30, &[])
    };
    assert_eq!(
        all.lines(Some((40, 80))).len(),
        31,
        "the 31st row is not there to show"
    );
    // Several lines per row: counted in lines.
    let multi = layout(&block, 15, &[]).lines(Some((10, 80)));
    assert_eq!(multi[9], "(22 more lines)");
    // A tiny window still shows the header first.
    assert_eq!(layout(&block, 30, &[]).lines(Some((1, 3))), ["HEA"]);
}

#[test]
fn lines_are_cut_and_control_characters_shown_as_question_marks() {
    assert_eq!(cut("abcdef", 4), "abcd");
    assert_eq!(cut("a\x1b[2Jb\u{9b}c", 80), "a?[2Jb?c");
    assert_eq!(cut("a\tb", 80), "a       b");
    assert_eq!(cut("a\tb", 5), "a");
    assert_eq!(cut("ééé", 2), "éé");
}

#[test]
fn painting_positions_every_line_and_clears_below_only_when_there_is_room() {
    let lines = ["a".to_string(), "b".to_string()];
    assert_eq!(
        paint(&lines, Some(5)),
        b"\x1b[1;1H\x1b[2Ka\x1b[2;1H\x1b[2Kb\x1b[3;1H\x1b[J"
    );
    // Full: clearing below the last line would clear the last line.
    assert_eq!(
        paint(&lines, Some(2)),
        b"\x1b[1;1H\x1b[2Ka\x1b[2;1H\x1b[2Kb"
    );
}

#[test]
fn sizes_compare_as_shown() {
    // 200.74MiB and 200.76MiB show as 200.7MiB and 200.8MiB: different.
    let mib = 1024.0 * 1024.0;
    assert!(as_shown(200.74 * mib, 1024.0, 4) < as_shown(200.76 * mib, 1024.0, 4));
    // 312.2KiB and 312.4KiB both show as 312.3KiB or so: 4 digits, equal.
    assert_eq!(
        as_shown(319_700.0, 1024.0, 4),
        as_shown(319_710.0, 1024.0, 4)
    );
    assert_eq!(as_shown(0.0, 1000.0, 3), 0.0);
    assert_eq!(as_shown(365_100.0, 1000.0, 3), 365_000.0);
}

#[test]
fn departed_containers_give_their_place_back_once() {
    let mut d = Departed::default();
    d.remember(0, "abc", "web", 7);
    assert_eq!(d.take(1, "abc", "web"), None, "another host");
    assert_eq!(d.take(0, "abc", "other"), Some(7), "by id");
    assert_eq!(d.take(0, "abc", "web"), None, "taken");
    d.remember(0, "abc", "web", 7);
    assert_eq!(d.take(0, "new-id", "web"), Some(7), "by name");
    for i in 0..(DEPARTED_MAX as u64 + 10) {
        d.remember(0, &format!("id{i}"), &format!("n{i}"), i);
    }
    assert_eq!(d.take(0, "id0", "n0"), None, "forgotten");
    assert_eq!(d.order.len(), DEPARTED_MAX);
    assert!(d.by_id.len() <= DEPARTED_MAX && d.by_name.len() <= DEPARTED_MAX);
}

#[test]
fn keys() {
    let keys: Vec<_> = b"cmnbpsqx".iter().map(|&k| SortKey::from_key(k)).collect();
    assert_eq!(
        keys,
        [
            Some(SortKey::Cpu),
            Some(SortKey::Mem),
            Some(SortKey::Net),
            Some(SortKey::Block),
            Some(SortKey::Pids),
            Some(SortKey::Name),
            None,
            None
        ]
    );
}
