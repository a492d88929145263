//! Cgroup and proc trees in a temporary directory, written from a daemon frame's numbers as
//! the kernel formats its files.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dockstat::source::cgroup::Roots;
use dockstat::stats::{Pressure, StallLine, Timestamp};
use serde_json::Value;

/// How the cgroup hierarchies are mounted, and which cgroup driver named the container's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2 alone at the root, systemd driver (`system.slice/docker-<id>.scope`).
    V2,
    /// cgroup v1, each controller its own mount (`cpu`, `cpuacct`, …), cgroupfs driver
    /// (`/docker/<id>`), and an unused unified mount's `0::` line: this host's layout.
    V1Separate,
    /// cgroup v1 with `cpu,cpuacct` joined and `cpu`, `cpuacct` symlinks to it (most
    /// distributions), cgroupfs driver.
    V1Joined,
    /// cgroup v1 with `cpu,cpuacct` joined and no symlinks, systemd driver.
    V1JoinedSystemd,
}

/// `some` line of the fixtures' `cpu.pressure`.
pub const CPU_PRESSURE: Pressure = Pressure {
    some: StallLine {
        avg10: 1234,
        total_us: 9_876_543,
    },
    full: Some(StallLine {
        avg10: 5,
        total_us: 1_000,
    }),
};

pub struct Tree {
    pub dir: PathBuf,
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn write(path: impl AsRef<Path>, text: impl AsRef<[u8]>) {
    let path = path.as_ref();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A fixture frame: its JSON, and its bytes as the decoder takes them.
pub fn frame(file: &str) -> (Value, Vec<u8>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/frames")
        .join(file);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let raw = raw.trim_ascii_end().to_vec();
    (serde_json::from_slice(&raw).unwrap(), raw)
}

pub fn json_timestamp(v: &Value) -> Timestamp {
    v.as_str()
        .map(|s| Timestamp::parse(s.as_bytes()).unwrap())
        .unwrap_or(Timestamp::ZERO)
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The frame's container id, or one for Docker 1.12's frames, which have none.
pub fn id_of(json: &Value) -> &str {
    json["id"]
        .as_str()
        .unwrap_or("9c8f1b2d3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c")
}

pub fn v2_path(json: &Value) -> String {
    format!("system.slice/docker-{}.scope", id_of(json))
}

pub fn v1_path(json: &Value, layout: Layout) -> String {
    let id = id_of(json);
    match layout {
        Layout::V1JoinedSystemd | Layout::V2 => format!("system.slice/docker-{id}.scope"),
        Layout::V1Separate | Layout::V1Joined => format!("docker/{id}"),
    }
}

impl Tree {
    pub fn new(name: &str) -> Tree {
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let dir = std::env::temp_dir().join(format!("dockstat-cg-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tree { dir }
    }

    pub fn roots(&self) -> Roots {
        Roots {
            cgroup: self.dir.join("cgroup"),
            proc: self.dir.join("proc"),
        }
    }

    pub fn cgroup(&self) -> PathBuf {
        self.dir.join("cgroup")
    }

    pub fn proc(&self) -> PathBuf {
        self.dir.join("proc")
    }

    /// `<proc>/stat` whose `cpu` line sums to `system_ns` in the first seven fields, with
    /// `cpus` `cpuN` lines.
    pub fn write_proc_stat(&self, system_ns: u64, cpus: u32) {
        assert_eq!(system_ns % 10_000_000, 0, "whole clock ticks");
        let t = system_ns / 10_000_000;
        let (user, system, iowait, irq, softirq) = (t / 4, t / 8, 3, 2, 1);
        let idle = t - user - system - iowait - irq - softirq;
        // steal, guest and guest_nice are not part of the sum.
        let mut s = format!("cpu  {user} 0 {system} {idle} {iowait} {irq} {softirq} 77 55 0\n");
        for i in 0..cpus {
            writeln!(s, "cpu{i} 1 0 1 1 0 0 0 0 0 0").unwrap();
        }
        s.push_str("intr 12345 0 0 0\nctxt 999\nbtime 1660000000\nprocesses 321\n");
        s.push_str("procs_running 1\nprocs_blocked 0\nsoftirq 10 1 2 3 4 0 0 0 0 0 0\n");
        write(self.proc().join("stat"), s);
    }

    /// The container of frame `json` as process `pid`, with the CPU numbers of its
    /// `cpu_key` (`cpu_stats` or `precpu_stats`) and its other numbers.
    pub fn write_container(&self, json: &Value, cpu_key: &str, pid: u32, layout: Layout) {
        let cpu = &json[cpu_key];
        let mem = &json["memory_stats"];
        let online = match n(&cpu["online_cpus"]) {
            0 => cpu["cpu_usage"]["percpu_usage"]
                .as_array()
                .map_or(1, |a| a.len() as u32),
            c => c as u32,
        };
        self.write_proc_stat(n(&cpu["system_cpu_usage"]), online);
        // The memory limit: "unlimited" with MemTotal as the frame's limit when it is whole
        // kB (the daemon reports the machine's memory then), else the limit itself.
        let limit = n(&mem["limit"]);
        let (limit_file, mem_total_kb) = if limit % 1024 == 0 {
            (None, limit / 1024)
        } else {
            (Some(limit), limit / 512 + 1)
        };
        write(
            self.proc().join("meminfo"),
            format!(
                "MemTotal:       {mem_total_kb} kB\nMemFree:         1000 kB\nMemAvailable:    2000 kB\n"
            ),
        );
        let mut memory_stat = String::new();
        if let Some(m) = mem["stats"].as_object() {
            for (k, v) in m {
                writeln!(memory_stat, "{k} {}", n(v)).unwrap();
            }
        }
        let pid_dir = self.proc().join(pid.to_string());
        write(pid_dir.join("net/dev"), net_dev(&json["networks"]));
        let blkio = json["blkio_stats"]["io_service_bytes_recursive"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let pids_limit = json["pids_stats"]["limit"].as_u64();
        let usage = &cpu["cpu_usage"];
        let total = n(&usage["total_usage"]);
        let user = n(&usage["usage_in_usermode"]);
        let system = n(&usage["usage_in_kernelmode"]);
        let throttling = &cpu["throttling_data"];
        if layout == Layout::V2 {
            let rel = v2_path(json);
            write(
                self.cgroup().join("cgroup.controllers"),
                "cpuset cpu io memory hugetlb pids rdma misc\n",
            );
            write(pid_dir.join("cgroup"), format!("0::/{rel}\n"));
            let d = self.cgroup().join(rel);
            write(
                d.join("cgroup.controllers"),
                "cpuset cpu io memory hugetlb pids rdma misc\n",
            );
            let us = |ns: u64| {
                assert_eq!(ns % 1000, 0, "whole microseconds");
                ns / 1000
            };
            write(
                d.join("cpu.stat"),
                format!(
                    "usage_usec {}\nuser_usec {}\nsystem_usec {}\nnr_periods {}\nnr_throttled {}\nthrottled_usec {}\nnr_bursts 0\nburst_usec 0\n",
                    us(total),
                    us(user),
                    us(system),
                    n(&throttling["periods"]),
                    n(&throttling["throttled_periods"]),
                    us(n(&throttling["throttled_time"])),
                ),
            );
            write(d.join("cpu.max"), "max 100000\n");
            write(d.join("cpu.weight"), "100\n");
            write(d.join("memory.current"), format!("{}\n", n(&mem["usage"])));
            write(
                d.join("memory.max"),
                limit_file.map_or("max\n".to_owned(), |l| format!("{l}\n")),
            );
            write(d.join("memory.stat"), memory_stat);
            // io.stat: a line per device, rbytes and wbytes from the frame's read and write
            // entries (the ops and discard counts are the kernel's, not the frame's).
            let mut devices: Vec<(String, u64, u64)> = Vec::new();
            for e in &blkio {
                let dev = format!("{}:{}", n(&e["major"]), n(&e["minor"]));
                let i = match devices.iter().position(|d| d.0 == dev) {
                    Some(i) => i,
                    None => {
                        devices.push((dev, 0, 0));
                        devices.len() - 1
                    }
                };
                match e["op"].as_str().unwrap() {
                    "read" => devices[i].1 = n(&e["value"]),
                    "write" => devices[i].2 = n(&e["value"]),
                    op => panic!("{op}"),
                }
            }
            let mut io = String::new();
            for (dev, r, w) in devices {
                writeln!(
                    io,
                    "{dev} rbytes={r} wbytes={w} rios=17 wios=3 dbytes=0 dios=0"
                )
                .unwrap();
            }
            write(d.join("io.stat"), io);
            write(
                d.join("pids.current"),
                format!("{}\n", n(&json["pids_stats"]["current"])),
            );
            match pids_limit {
                Some(u64::MAX) => write(d.join("pids.max"), "max\n"),
                Some(l) => write(d.join("pids.max"), format!("{l}\n")),
                None => {}
            }
            write(
                d.join("cpu.pressure"),
                "some avg10=12.34 avg60=1.00 avg300=0.10 total=9876543\nfull avg10=0.05 avg60=0.00 avg300=0.00 total=1000\n",
            );
            write(
                d.join("memory.pressure"),
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            );
            return;
        }
        let rel = v1_path(json, layout);
        let (cpu_mount, cpuacct_mount) = match layout {
            Layout::V1Separate => ("cpu", "cpuacct"),
            _ => ("cpu,cpuacct", "cpu,cpuacct"),
        };
        let root = self.cgroup();
        let cpu_dir = root.join(cpu_mount).join(&rel);
        let cpuacct_dir = root.join(cpuacct_mount).join(&rel);
        let mem_dir = root.join("memory").join(&rel);
        let blkio_dir = root.join("blkio").join(&rel);
        let pids_dir = root.join("pids").join(&rel);
        std::fs::create_dir_all(root.join("unified").join(&rel)).unwrap();
        if layout == Layout::V1Joined {
            for link in ["cpu", "cpuacct"] {
                let _ = std::os::unix::fs::symlink("cpu,cpuacct", root.join(link));
            }
        }
        let cpu_line = match layout {
            Layout::V1Separate => format!("2:cpuacct:/{rel}\n1:cpu:/{rel}\n"),
            _ => format!("2:cpu,cpuacct:/{rel}\n"),
        };
        write(
            pid_dir.join("cgroup"),
            format!(
                "9:name=systemd:/{rel}\n8:pids:/{rel}\n7:blkio:/{rel}\n6:freezer:/{rel}\n4:memory:/{rel}\n3:cpuset:/{rel}\n{cpu_line}0::/{rel}\n"
            ),
        );
        let percpu = usage["percpu_usage"]
            .as_array()
            .map(|a| a.iter().map(|v| format!("{} ", n(v))).collect::<String>())
            .unwrap_or_default();
        write(cpuacct_dir.join("cpuacct.usage"), format!("{total}\n"));
        write(
            cpuacct_dir.join("cpuacct.usage_percpu"),
            format!("{percpu}\n"),
        );
        let ticks = |ns: u64| {
            assert_eq!(ns % 10_000_000, 0, "whole clock ticks");
            ns / 10_000_000
        };
        write(
            cpuacct_dir.join("cpuacct.stat"),
            format!("user {}\nsystem {}\n", ticks(user), ticks(system)),
        );
        write(
            cpu_dir.join("cpu.stat"),
            format!(
                "nr_periods {}\nnr_throttled {}\nthrottled_time {}\nnr_bursts 0\nburst_time 0\n",
                n(&throttling["periods"]),
                n(&throttling["throttled_periods"]),
                n(&throttling["throttled_time"]),
            ),
        );
        write(cpu_dir.join("cpu.cfs_quota_us"), "-1\n");
        write(cpu_dir.join("cpu.cfs_period_us"), "100000\n");
        write(cpu_dir.join("cpu.shares"), "1024\n");
        write(
            mem_dir.join("memory.usage_in_bytes"),
            format!("{}\n", n(&mem["usage"])),
        );
        write(
            mem_dir.join("memory.max_usage_in_bytes"),
            format!("{}\n", n(&mem["max_usage"])),
        );
        write(
            mem_dir.join("memory.limit_in_bytes"),
            format!("{}\n", limit_file.unwrap_or(9_223_372_036_854_771_712)),
        );
        write(mem_dir.join("memory.stat"), memory_stat);
        // blkio as CFQ writes it: a line per device and op, then the grand total.
        let list = |entries: &[Value]| {
            let mut s = String::new();
            let mut grand = 0;
            for e in entries {
                let op = e["op"].as_str().unwrap();
                writeln!(
                    s,
                    "{}:{} {op} {}",
                    n(&e["major"]),
                    n(&e["minor"]),
                    n(&e["value"])
                )
                .unwrap();
                if op == "Total" {
                    grand += n(&e["value"]);
                }
            }
            writeln!(s, "Total {grand}").unwrap();
            s
        };
        let serviced = json["blkio_stats"]["io_serviced_recursive"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        write(
            blkio_dir.join("blkio.io_service_bytes_recursive"),
            list(&blkio),
        );
        write(
            blkio_dir.join("blkio.io_serviced_recursive"),
            list(&serviced),
        );
        write(
            blkio_dir.join("blkio.throttle.io_service_bytes"),
            "Total 0\n",
        );
        write(blkio_dir.join("blkio.throttle.io_serviced"), "Total 0\n");
        write(
            pids_dir.join("pids.current"),
            format!("{}\n", n(&json["pids_stats"]["current"])),
        );
        match pids_limit {
            Some(l) => write(pids_dir.join("pids.max"), format!("{l}\n")),
            None => write(pids_dir.join("pids.max"), "max\n"),
        }
    }
}

/// `/proc/<pid>/net/dev` as the kernel prints it, `lo` first and the frame's interfaces in
/// reverse order; the columns the daemon does not report hold numbers of their own.
pub fn net_dev(networks: &Value) -> String {
    let mut s = String::from(
        "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    );
    let line = |s: &mut String, name: &str, c: [u64; 8]| {
        writeln!(
            s,
            "{name:>6}:{:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>10} {:>9} {:>8} {:>7} {:>4} {:>4} {:>4} {:>5} {:>7} {:>10}",
            c[0], c[1], c[2], c[3], 11, 12, 13, 14, c[4], c[5], c[6], c[7], 15, 16, 17, 18
        )
        .unwrap();
    };
    line(&mut s, "lo", [1000, 10, 0, 0, 1000, 10, 0, 0]);
    if let Some(map) = networks.as_object() {
        for (name, v) in map.iter().rev() {
            let c = [
                "rx_bytes",
                "rx_packets",
                "rx_errors",
                "rx_dropped",
                "tx_bytes",
                "tx_packets",
                "tx_errors",
                "tx_dropped",
            ]
            .map(|k| n(&v[k]));
            line(&mut s, name, c);
        }
    }
    s
}
