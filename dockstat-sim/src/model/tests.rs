use super::*;

fn model(cg: Cgroup, n: usize) -> Model {
    let config = SimConfig {
        containers: n,
        stopped: 2,
        cgroup: cg,
        ..SimConfig::default()
    };
    Model::new(&config, 1_795_416_927 * SECOND)
}

#[test]
fn names_ids_and_deterministic() {
    let m = model(Cgroup::V1, 7);
    let names: Vec<&str> = m.containers.iter().map(|c| &*c.name).collect();
    assert_eq!(
        names,
        [
            "busy-1",
            "idle-2",
            "memhog-3",
            "writer-4",
            "forky-5",
            "net-6",
            "busy-7",
            "stopped-8",
            "stopped-9"
        ]
    );
    for c in &m.containers {
        assert_eq!(c.id.len(), 64);
        assert!(
            c.id.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }
    let again = model(Cgroup::V1, 7);
    assert_eq!(m.containers[3].id, again.containers[3].id);
    let other = Model::new(
        &SimConfig {
            seed: 99,
            ..SimConfig::default()
        },
        0,
    );
    assert_ne!(m.containers[0].id, other.containers[0].id);
    // Newest first.
    assert_eq!(m.listing.first(), Some(&8));
}

#[test]
fn lookup_by_id_prefix_and_name() {
    let m = model(Cgroup::V1, 12);
    let id = m.containers[4].id.clone();
    assert_eq!(m.lookup(&id), Lookup::Found(4));
    assert_eq!(m.lookup(&id[..12]), Lookup::Found(4));
    assert_eq!(m.lookup("forky-5"), Lookup::Found(4));
    assert_eq!(m.lookup("/forky-5"), Lookup::Found(4));
    assert_eq!(m.lookup("nosuch"), Lookup::NotFound);
    assert_eq!(m.lookup(""), Lookup::NotFound);
    // With 14 ids, some single hex digit is shared by two of them.
    let ambiguous = (0..16u8).any(|d| {
        let p = format!("{d:x}");
        m.lookup(&p) == Lookup::Ambiguous
    });
    assert!(ambiguous);
}

#[test]
fn counters_are_monotonic_and_consistent() {
    for cg in [Cgroup::V1, Cgroup::V2] {
        let m = model(cg, 6);
        for idx in 0..6 {
            let mut prev = Sample::default();
            let mut s = Sample::default();
            let start = 1_795_416_927 * SECOND;
            for step in 0..200u64 {
                let t = start + step * 37_000_000;
                m.sample_into(idx, t, &mut s);
                if cg == Cgroup::V1 {
                    assert_eq!(s.percpu.iter().sum::<u64>(), s.cpu_total);
                    assert_eq!(s.percpu.len(), 2);
                    assert_eq!(s.cpu_kernel % TICK, 0);
                    assert_eq!(s.cpu_user % TICK, 0);
                } else {
                    assert!(s.percpu.is_empty());
                    assert_eq!(s.cpu_kernel + s.cpu_user, s.cpu_total);
                }
                assert!(s.cpu_kernel + s.cpu_user <= s.cpu_total);
                assert!(s.cpu_total >= prev.cpu_total);
                assert!(s.percpu.iter().zip(&prev.percpu).all(|(a, b)| a >= b));
                assert!(s.cpu_kernel >= prev.cpu_kernel && s.cpu_user >= prev.cpu_user);
                assert!(s.system >= prev.system && s.system % TICK == 0);
                assert!(s.periods >= prev.periods);
                assert!(s.throttled_periods >= prev.throttled_periods);
                assert!(s.throttled_time >= prev.throttled_time);
                assert!(s.mem.pgfault >= prev.mem.pgfault);
                assert!(s.mem.usage >= s.mem.rss + s.mem.cache);
                assert!(s.mem.usage <= s.mem.limit);
                if let (Some(a), Some(b)) = (s.blk, prev.blk) {
                    assert!(a.write_bytes >= b.write_bytes);
                    assert!(a.discard_bytes >= b.discard_bytes);
                }
                if let (Some(a), Some(b)) = (s.net, prev.net) {
                    assert!(a.rx_bytes >= b.rx_bytes && a.rx_packets >= b.rx_packets);
                    assert!(a.tx_bytes >= b.tx_bytes && a.tx_packets >= b.tx_packets);
                }
                prev = s.clone();
            }
        }
    }
}

#[test]
fn workload_rates_match_the_fixtures() {
    let m = model(Cgroup::V1, 6);
    let t0 = 1_795_416_927 * SECOND;
    let t1 = t0 + 10 * SECOND;
    let (mut a, mut b) = (Sample::default(), Sample::default());
    // busy: half a core; the docker CLI formula gives ~50 %.
    m.sample_into(0, t0, &mut a);
    m.sample_into(0, t1, &mut b);
    let cpu = (b.cpu_total - a.cpu_total) as f64 / (b.system - a.system) as f64 * 2.0 * 100.0;
    assert!((45.0..55.0).contains(&cpu), "busy cpu {cpu}");
    assert!(b.throttled_periods - a.throttled_periods >= 90);
    assert!(b.system - a.system == 2 * 10 * SECOND);
    // memhog: 512 MiB limit, ~200 MiB cache.
    m.sample_into(2, t0, &mut a);
    assert_eq!(a.mem.limit, 536_870_912);
    assert_eq!(a.mem.cache, 209_715_200);
    // writer: 16 MiB/s.
    m.sample_into(3, t0, &mut a);
    m.sample_into(3, t1, &mut b);
    let (wa, wb) = (a.blk.unwrap_or_default(), b.blk.unwrap_or_default());
    let rate = (wb.write_bytes - wa.write_bytes) / 10;
    assert!((15 << 20..=18 << 20).contains(&rate), "writer {rate}");
    // writer: under a limit it never reaches (crate::limits): periods pass, none throttled.
    assert!(
        (10..=30).contains(&(b.periods - a.periods)),
        "{}",
        b.periods - a.periods
    );
    assert_eq!((b.throttled_periods, b.throttled_time), (0, 0));
    // idle, memhog: no limit, no CFS periods.
    m.sample_into(1, t1, &mut b);
    assert_eq!((b.periods, b.throttled_periods), (0, 0));
    // forky: pids between 1 and 11, limit 64.
    let mut seen = [false; 2];
    for k in 0..8 {
        m.sample_into(4, t0 + k * SECOND / 2, &mut a);
        assert!(a.pids == 1 || a.pids == 11);
        seen[usize::from(a.pids == 11)] = true;
        assert_eq!(a.pids_limit, Some(64));
    }
    assert_eq!(seen, [true, true]);
    // net: eth0 traffic grows.
    m.sample_into(5, t0, &mut a);
    m.sample_into(5, t1, &mut b);
    let (na, nb) = (a.net.unwrap_or_default(), b.net.unwrap_or_default());
    assert!(nb.rx_bytes > na.rx_bytes && nb.tx_packets > na.tx_packets);
    // Only net has networks; only writer has v1 blkio.
    m.sample_into(1, t0, &mut a);
    assert!(a.net.is_none() && a.blk.is_none());
}

/// (action, network?, extra) of each event, for compact comparisons.
fn summary(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let mut s = e.action.to_owned();
            if let Some(n) = e.network {
                s = format!("network {s} {n:?}");
            }
            if let Some((k, v)) = e.extra {
                s = format!("{s} {k}={v}");
            }
            s
        })
        .collect()
}

#[test]
fn transitions_and_their_events() {
    let mut m = model(Cgroup::V1, 6);
    let t = 1_795_417_000 * SECOND;
    let mut ev = Vec::new();
    assert_eq!(m.up(), 6);

    let idx = m.create(None, t, &mut ev).expect("create");
    assert_eq!(idx, 8);
    let c = &m.containers[idx];
    // Numbering continues after the 6 running and 2 stopped containers.
    assert_eq!(
        (&*c.name, c.state, c.workload),
        ("memhog-9", State::Created, Workload::Memhog)
    );
    assert_eq!(m.listing.first(), Some(&idx));
    assert_eq!(m.lookup("memhog-9"), Lookup::Found(idx));
    let id = c.id.to_string();
    assert_eq!(m.lookup(&id[..20]), Lookup::Found(idx));
    assert_eq!(summary(&ev), ["create"]);
    assert_eq!(&*ev[0].container, id.as_str());

    let step = |m: &mut Model, op: Op, target: &str| {
        let mut ev = Vec::new();
        m.apply(&op, target, t + SECOND, &mut ev)
            .map(|_| summary(&ev))
    };
    assert_eq!(
        step(&mut m, Op::Start, "memhog-9").ok(),
        Some(vec!["network connect None".to_owned(), "start".to_owned()])
    );
    assert_eq!(m.up(), 7);
    assert_eq!(m.containers[idx].runs, 1);
    assert_eq!(
        step(&mut m, Op::Pause, &id).ok(),
        Some(vec!["pause".to_owned()])
    );
    assert_eq!(m.containers[idx].state, State::Paused);
    assert!(m.containers[idx].running());
    assert_eq!(
        step(&mut m, Op::Pause, &id).map_err(|e| e.kind()),
        Err(io::ErrorKind::InvalidInput)
    );
    assert_eq!(
        step(&mut m, Op::Unpause, &id).ok(),
        Some(vec!["unpause".to_owned()])
    );
    assert_eq!(
        step(&mut m, Op::Unpause, &id).map_err(|e| e.kind()),
        Err(io::ErrorKind::InvalidInput)
    );
    let err = step(&mut m, Op::Remove { force: false }, &id).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
    assert_eq!(
        step(&mut m, Op::Stop, "memhog-9").ok(),
        Some(
            [
                "kill signal=15",
                "die exitCode=143",
                "network disconnect None",
                "stop"
            ]
            .map(str::to_owned)
            .to_vec()
        )
    );
    assert_eq!(m.up(), 6);
    assert!(matches!(
        m.containers[idx].state,
        State::Exited { code: 143, .. }
    ));
    for op in [Op::Stop, Op::Kill, Op::Pause, Op::Unpause] {
        let err = step(&mut m, op, "memhog-9").err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
    }
    assert!(step(&mut m, Op::Start, "memhog-9").is_ok());
    assert_eq!(m.containers[idx].runs, 2);
    let err = step(&mut m, Op::Start, "memhog-9").err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
    assert_eq!(
        step(&mut m, Op::Remove { force: true }, "memhog-9").ok(),
        Some(
            [
                "kill signal=9",
                "die exitCode=137",
                "network disconnect None",
                "destroy"
            ]
            .map(str::to_owned)
            .to_vec()
        )
    );
    assert_eq!(m.up(), 6);
    assert_eq!(m.lookup("memhog-9"), Lookup::NotFound);
    assert_eq!(m.lookup(&id), Lookup::NotFound);
    assert!(!m.listing.contains(&idx));
    let err = step(&mut m, Op::Start, "memhog-9").err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::NotFound));

    // kill: no stop event; the net container is on the bridge.
    assert_eq!(
        step(&mut m, Op::Kill, "net-6").ok(),
        Some(
            [
                "kill signal=9",
                "die exitCode=137",
                "network disconnect Bridge"
            ]
            .map(str::to_owned)
            .to_vec()
        )
    );
    // Removing an exited container: destroy only.
    assert_eq!(
        step(&mut m, Op::Remove { force: false }, "stopped-7").ok(),
        Some(vec!["destroy".to_owned()])
    );

    // The vacant slot is reused, with a fresh id; the stale id no longer matches it.
    let old_id = Rc::clone(&m.containers[idx].id);
    let mut ev = Vec::new();
    let again = m.create(Some("/mine"), t, &mut ev).expect("create named");
    assert!(again == idx || again == 6);
    assert_eq!(&*m.containers[again].name, "mine");
    assert!(m.current(idx, &old_id).is_none());
    let err = m.create(Some("mine"), t, &mut ev).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::AlreadyExists));
    let err = m.create(Some("-bad"), t, &mut ev).err();
    assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
    // A generated name already taken is skipped.
    m.create(Some("busy-13"), t, &mut ev).expect("create");
    let next = m.create(None, t, &mut ev).expect("create");
    assert_eq!(&*m.containers[next].name, "net-12");
    let next = m.create(None, t, &mut ev).expect("create");
    assert_eq!(&*m.containers[next].name, "idle-14");
    // Lookups stay consistent after all this.
    for &i in &m.listing {
        let c = &m.containers[i];
        assert_eq!(m.lookup(&c.name), Lookup::Found(i));
        assert_eq!(m.lookup(&c.id), Lookup::Found(i));
    }
    assert_eq!(m.listing.len(), m.by_id.len());
}

#[test]
fn pause_freezes_the_counters_and_restart_resets_them() {
    let mut m = model(Cgroup::V1, 1);
    let t0 = 1_795_416_927 * SECOND;
    let mut ev = Vec::new();
    let (mut a, mut b) = (Sample::default(), Sample::default());
    m.apply(&Op::Pause, "busy-1", t0, &mut ev).expect("pause");
    m.sample_into(0, t0 + SECOND, &mut a);
    m.sample_into(0, t0 + 5 * SECOND, &mut b);
    assert_eq!(a.cpu_total, b.cpu_total);
    assert!(b.system > a.system);
    m.apply(&Op::Unpause, "busy-1", t0 + 5 * SECOND, &mut ev)
        .expect("unpause");
    m.sample_into(0, t0 + 6 * SECOND, &mut b);
    assert!(b.cpu_total > a.cpu_total);
    // Half a core for the one second since the unpause, as if the pause never happened.
    let ran = b.cpu_total - a.cpu_total;
    assert!((400_000_000..600_000_000).contains(&ran), "{ran}");
    // A sample taken during the pause still reads the same after it.
    let mut c = Sample::default();
    m.sample_into(0, t0 + 3 * SECOND, &mut c);
    assert_eq!(c.cpu_total, a.cpu_total);

    m.apply(&Op::Stop, "busy-1", t0 + 7 * SECOND, &mut ev)
        .expect("stop");
    m.apply(&Op::Start, "busy-1", t0 + 8 * SECOND, &mut ev)
        .expect("start");
    m.sample_into(0, t0 + 8 * SECOND + 100_000_000, &mut c);
    // A new run: a fresh cgroup, counters from the workload's base.
    assert!(c.cpu_total < a.cpu_total, "{} {}", c.cpu_total, a.cpu_total);
}

#[test]
fn nth_running_skips_everything_else() {
    let mut m = model(Cgroup::V1, 4);
    let mut ev = Vec::new();
    m.apply(&Op::Pause, "idle-2", 0, &mut ev).expect("pause");
    let picks: Vec<Option<usize>> = (0..6).map(|n| m.nth_running(n)).collect();
    assert_eq!(
        picks,
        [Some(0), Some(2), Some(3), Some(0), Some(2), Some(3)]
    );
    for c in ["busy-1", "memhog-3", "writer-4"] {
        m.apply(&Op::Kill, c, 0, &mut ev).expect("kill");
    }
    assert_eq!(m.nth_running(7), None);
}
