//! The cgroupfs reader on cgroup trees written from the daemon's own frames: each frame of
//! `../shared/fixtures/frames` is turned into the files the kernel would have shown the
//! daemon (laid out as Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/*.rst document
//! them, under the cgroupfs and systemd drivers' paths), and the reader's sample of that tree
//! must derive what the frame derives, field by field.

#[path = "cgroup_tree/mod.rs"]
mod tree;

use dockstat::source::cgroup::{CgroupPaths, CgroupReader, HostCpu};
use dockstat::stats::{
    CpuLimit, FrameDecoder, Platform, Pressure, Sample, Source, StallLine, Throttling, derive,
};
use serde_json::Value;
use tree::{Layout, Tree, frame, json_timestamp};

/// The CPU fields the frame's JSON has, whatever the decoder keeps of them.
fn json_cpu(cpu: &Value) -> (u64, u64, Throttling) {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    (
        n(&cpu["cpu_usage"]["usage_in_usermode"]),
        n(&cpu["cpu_usage"]["usage_in_kernelmode"]),
        Throttling {
            periods: n(&cpu["throttling_data"]["periods"]),
            throttled_periods: n(&cpu["throttling_data"]["throttled_periods"]),
            throttled_time: n(&cpu["throttling_data"]["throttled_time"]),
        },
    )
}

/// The reader's sample against the frame it was written from: every field the frame has,
/// and everything `derive` computes.
fn same(name: &str, s: &Sample<'_>, json: &Value, raw: &[u8]) {
    let mut decoder = FrameDecoder::new();
    let f = decoder.decode(raw).expect("fixture frame decodes");
    assert_eq!(s.source, Source::Cgroupfs);
    assert_eq!(s.id, f.id, "{name}: id");
    assert_eq!(s.name, f.name, "{name}: name");
    assert_eq!(s.read, f.read, "{name}: read");
    // Docker 1.12's frames have no preread; the reader always knows its previous pass.
    if !f.preread.is_zero() {
        assert_eq!(s.preread, f.preread, "{name}: preread");
    }
    for (what, ours, theirs, key) in [
        ("cpu", s.cpu, f.cpu, "cpu_stats"),
        ("precpu", s.precpu, f.precpu, "precpu_stats"),
    ] {
        assert_eq!(ours.total_usage, theirs.total_usage, "{name}: {what} total");
        assert_eq!(
            ours.percpu_count, theirs.percpu_count,
            "{name}: {what} percpu"
        );
        assert_eq!(
            ours.system_cpu_usage, theirs.system_cpu_usage,
            "{name}: {what} system_cpu_usage"
        );
        // Docker 1.12 did not send online_cpus; the reader counts /proc/stat's.
        if theirs.online_cpus != 0 {
            assert_eq!(
                ours.online_cpus, theirs.online_cpus,
                "{name}: {what} online"
            );
        }
        let (user, system, throttling) = json_cpu(&json[key]);
        assert_eq!(ours.user_usage, user, "{name}: {what} user");
        assert_eq!(ours.system_usage, system, "{name}: {what} system");
        assert_eq!(ours.throttling, throttling, "{name}: {what} throttling");
    }
    assert_eq!(s.memory, f.memory, "{name}: memory");
    assert_eq!(s.pids, f.pids, "{name}: pids");
    assert_eq!(s.blkio, f.blkio, "{name}: blkio");
    let ours: Vec<_> = s.networks.iter().collect();
    let theirs: Vec<_> = f.networks.iter().collect();
    assert_eq!(ours, theirs, "{name}: networks");
    let mut ours = derive(s, Platform::Linux);
    let theirs = derive(&f, Platform::Linux);
    if f.preread.is_zero() && !theirs.warmup {
        ours.interval_nanos = 0;
    }
    assert_eq!(ours, theirs, "{name}: derived");
}

/// A frame as one or two passes of the reader: its precpu values first (when it has them),
/// then its own.
/// `released`: the reader opens its files at each pass instead of keeping them open.
fn replay(file: &str, layout: Layout, released: bool) {
    let (json, raw) = frame(file);
    let tree = Tree::new(&format!("{file}-{layout:?}-{released}"));
    let pid = 4242;
    let roots = tree.roots();
    let has_precpu = json["precpu_stats"]["cpu_usage"]["total_usage"]
        .as_u64()
        .unwrap_or(0)
        != 0;
    let first = if has_precpu {
        "precpu_stats"
    } else {
        "cpu_stats"
    };
    tree.write_container(&json, first, pid, layout);
    let paths = CgroupPaths::of_pid(&roots, pid).expect("the fixture's cgroups");
    match (&paths, layout) {
        (CgroupPaths::V2 { dir }, Layout::V2) => assert!(dir.ends_with(tree::v2_path(&json))),
        (CgroupPaths::V1 { cpu, memory, .. }, l) if l != Layout::V2 => {
            assert!(
                memory.starts_with(roots.cgroup.join("memory")),
                "{memory:?}"
            );
            assert!(cpu.ends_with(tree::v1_path(&json, l)), "{cpu:?}");
        }
        _ => panic!("{layout:?}: {paths:?}"),
    }
    let mut host = HostCpu::open(&roots).expect("host cpu");
    let mut reader = CgroupReader::open(
        &roots,
        &paths,
        pid,
        json["id"].as_str().unwrap_or(""),
        json["name"].as_str().unwrap_or(""),
    )
    .expect("open");
    assert!(reader.kept_files() >= 8, "{}", reader.kept_files());
    if released {
        reader.release_files();
        assert_eq!(reader.kept_files(), 0);
    }
    if has_precpu {
        let preread = match json_timestamp(&json["preread"]) {
            t if t.is_zero() => dockstat::stats::Timestamp {
                secs: json_timestamp(&json["read"]).secs - 1,
                nanos: 0,
            },
            t => t,
        };
        let s = reader.sample(preread, &host).expect("first pass");
        assert!(s.is_warmup());
        tree.write_container(&json, "cpu_stats", pid, layout);
        host.read().unwrap();
    }
    let s = reader
        .sample(json_timestamp(&json["read"]), &host)
        .expect("pass");
    same(&format!("{file} {layout:?}"), &s, &json, &raw);
    if layout == Layout::V2 {
        assert_eq!(s.pressure.cpu, Some(tree::CPU_PRESSURE));
        assert_eq!(
            s.pressure.memory,
            Some(Pressure {
                some: StallLine {
                    avg10: 0,
                    total_us: 0
                },
                full: Some(StallLine::default()),
            })
        );
        assert_eq!(s.pressure.io, None, "no io.pressure file: None");
    } else {
        assert_eq!(s.pressure, Default::default());
    }
    assert_eq!(s.cpu_limit, None);
}

#[test]
fn cgroup_v2_trees_derive_the_frames_numbers() {
    // Two frames of one stream: the second's precpu is the first's cpu.
    for file in ["docker-2022-cgv2-seed1.json", "docker-2022-cgv2-seed2.json"] {
        for released in [false, true] {
            replay(file, Layout::V2, released);
        }
    }
}

#[test]
fn cgroup_v1_trees_derive_the_frames_numbers() {
    for file in ["docker1.12-cgv1-seed1.json", "docker1.12-cgv1-seed2.json"] {
        for layout in [
            Layout::V1Separate,
            Layout::V1Joined,
            Layout::V1JoinedSystemd,
        ] {
            for released in [false, true] {
                replay(file, layout, released);
            }
        }
    }
}

#[test]
fn a_stream_of_passes_follows_the_files() {
    let (json, _) = frame("docker-2022-cgv2-seed1.json");
    let tree = Tree::new("stream");
    let roots = tree.roots();
    tree.write_container(&json, "cpu_stats", 7, Layout::V2);
    let paths = CgroupPaths::of_pid(&roots, 7).unwrap();
    let CgroupPaths::V2 { dir } = &paths else {
        panic!("{paths:?}")
    };
    let mut host = HostCpu::open(&roots).unwrap();
    assert_eq!(host.online_cpus, 4);
    assert_eq!(host.system_cpu_usage, 14_033_070_000_000);
    let mut reader = CgroupReader::open(&roots, &paths, 7, "abc", "/x").unwrap();
    let t0 = json_timestamp(&json["read"]);
    let first = reader.sample(t0, &host).unwrap();
    assert!(first.is_warmup());
    assert_eq!(first.cpu_limit, None);
    let first_cpu = first.cpu;
    // A CPU limit, throttling, more CPU time: the next pass sees them, with this one as its
    // previous.
    std::fs::write(dir.join("cpu.max"), "150000 100000\n").unwrap();
    std::fs::write(
        dir.join("cpu.stat"),
        "usage_usec 1220360\nuser_usec 1064371\nsystem_usec 155989\nnr_periods 40\n\
         nr_throttled 3\nthrottled_usec 2500\nnr_bursts 0\nburst_usec 0\n",
    )
    .unwrap();
    std::fs::write(dir.join("memory.max"), "67108864\n").unwrap();
    std::fs::write(dir.join("pids.max"), "50\n").unwrap();
    tree.write_proc_stat(14_033_070_000_000 + 4_000_000_000, 4);
    host.read().unwrap();
    let t1 = dockstat::stats::Timestamp {
        secs: t0.secs + 1,
        nanos: t0.nanos,
    };
    let s = reader.sample(t1, &host).unwrap();
    assert_eq!(s.preread, t0);
    assert_eq!(s.precpu, first_cpu);
    assert_eq!(
        s.cpu_limit,
        Some(CpuLimit {
            quota_us: 150_000,
            period_us: 100_000
        })
    );
    assert_eq!(s.cpu.total_usage, 1_220_360_000);
    assert_eq!(
        s.cpu.throttling,
        Throttling {
            periods: 40,
            throttled_periods: 3,
            throttled_time: 2_500_000
        }
    );
    assert_eq!(s.memory.limit, 64 << 20);
    assert_eq!(s.pids.limit, Some(50));
    let d = derive(&s, Platform::Linux);
    // 1 s of CPU in 4 s of the host's 4 CPUs' time: 100 % (one CPU).
    assert!((d.cpu_percent - 100.0).abs() < 1e-9, "{}", d.cpu_percent);
    assert_eq!(d.interval_nanos, 1_000_000_000);
    assert!(!d.warmup);
}

#[test]
fn a_container_on_the_hosts_network_has_no_interfaces() {
    let (json, _) = frame("docker-2022-cgv2-seed1.json");
    let tree = Tree::new("hostnet");
    let roots = tree.roots();
    tree.write_container(&json, "cpu_stats", 12, Layout::V2);
    // Process 12, child of its shim, process 10.
    tree::write(
        tree.proc().join("12/stat"),
        "12 (sleep) S 10 12 12 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 1 1 1\n",
    );
    let ns = |pid: u32, target: &str| {
        let dir = tree.proc().join(pid.to_string()).join("ns");
        std::fs::create_dir_all(&dir).unwrap();
        let _ = std::fs::remove_file(dir.join("net"));
        std::os::unix::fs::symlink(target, dir.join("net")).unwrap();
    };
    let host = HostCpu::open(&roots).unwrap();
    let paths = CgroupPaths::of_pid(&roots, 12).unwrap();
    // Its own namespace: its interfaces.
    ns(10, "net:[4026531840]");
    ns(12, "net:[4026532301]");
    let mut reader = CgroupReader::open(&roots, &paths, 12, "a", "/a").unwrap();
    let s = reader.sample(json_timestamp(&json["read"]), &host).unwrap();
    assert_eq!(s.networks.len(), 1);
    // The shim's, the host's (`--network host`): none, as the daemon reports it, rather than
    // the host's interfaces.
    ns(12, "net:[4026531840]");
    let mut reader = CgroupReader::open(&roots, &paths, 12, "a", "/a").unwrap();
    let s = reader.sample(json_timestamp(&json["read"]), &host).unwrap();
    assert!(s.networks.is_empty());
    assert_eq!(derive(&s, Platform::Linux).net_rx, 0);
}

#[test]
fn a_file_longer_than_its_buffer_is_read_whole() {
    let (json, _) = frame("docker-2022-cgv2-seed1.json");
    let tree = Tree::new("long");
    let roots = tree.roots();
    tree.write_container(&json, "cpu_stats", 5, Layout::V2);
    let paths = CgroupPaths::of_pid(&roots, 5).unwrap();
    let CgroupPaths::V2 { dir } = &paths else {
        panic!("{paths:?}")
    };
    let host = HostCpu::open(&roots).unwrap();
    let mut reader = CgroupReader::open(&roots, &paths, 5, "a", "/a").unwrap();
    reader.sample(json_timestamp(&json["read"]), &host).unwrap();
    // memory.stat grows past every buffer size so far, its key at the very end.
    let mut text: String = (0..2000).map(|i| format!("key_{i} {i}\n")).collect();
    text.push_str("inactive_file 4096\n");
    std::fs::write(dir.join("memory.stat"), &text).unwrap();
    let s = reader.sample(json_timestamp(&json["read"]), &host).unwrap();
    assert_eq!(s.memory.inactive_file, Some(4096));
    // And shrinks again.
    std::fs::write(dir.join("memory.stat"), "inactive_file 1\n").unwrap();
    let s = reader.sample(json_timestamp(&json["read"]), &host).unwrap();
    assert_eq!(s.memory.inactive_file, Some(1));
}
