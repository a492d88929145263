//! The numbers `docker stats` shows, computed exactly as docker/cli computes them
//! (`cli/command/container/stats_helpers.go`): the same formulas, the same float64 operations
//! in the same order, and the same integer wrap-arounds, so the results are bit-identical.
//!
//! - CPU % (Linux) = (Δtotal_usage / Δsystem_cpu_usage) × online_cpus × 100 when both deltas
//!   are positive; `online_cpus` falls back to the number of `percpu_usage` entries, then to
//!   the host's CPUs when the stream knows them ([`StatsStream::set_host_cpus`]). Not
//!   normalised: 250 % is two and a half cores ([`Derived::cpu_percent_host`] divides by the
//!   CPUs).
//! - CPU % (Windows) = Δtotal_usage / ((read − preread) in 100 ns intervals × num_procs) × 100.
//! - Memory used = usage − total_inactive_file (cgroup v1) or usage − inactive_file (v2), each
//!   only when smaller than usage; MEM % = used / limit × 100. Windows: private working set.
//! - NET I/O sums the interfaces; BLOCK I/O sums the `io_service_bytes_recursive` entries
//!   whose `op` is `read` or `write` in any case (docker/cli goes by the first letter, which
//!   agrees on every op Docker sends; Windows: storage_stats);
//!   PIDS is `pids_stats.current`.
//!
//! The deltas come from the frame's own `precpu_stats`, so a frame's numbers never depend on
//! an assumed interval; [`Derived::interval_nanos`] is `read − preread` for callers that want
//! rates.
//!
//! Docker-compatible daemons that are not Docker (Podman's compat API) send frames these
//! formulas misread; each case is recognised from the frame itself, so no daemon detection is
//! needed, and none of them occurs in a frame Docker sends mid-stream:
//! - no `precpu_stats` (all zero) on a running container's frame that has a predecessor in the
//!   same stream: CPU % = Δtotal_usage / Δread × 100 against that previous frame (the
//!   [`StatsStream`] remembers it). Time, not `system_cpu_usage`, is the divisor because
//!   Podman's `system_cpu_usage` is the CPU time of all cgroups, not the host's CPU time with
//!   its idle time, which Docker's is (Docker's ratio × CPUs is the same time ratio);
//! - no `preread`: the interval is measured from the previous frame's `read`;
//! - no `online_cpus` and no `percpu_usage`: the count given to [`StatsStream::set_host_cpus`]
//!   (the engine gives the daemon's `NCPU` from `GET /info`), else unknown (0);
//! - `rios`, `wios`, `dbytes`, `dios` among the blkio entries: not bytes read or written;
//! - `memory_stats.stats` null or absent: memory used is `usage`, with nothing subtracted.
//!
//! [`StatsStream`]: super::StatsStream
//! [`StatsStream::set_host_cpus`]: super::StatsStream::set_host_cpus

#![forbid(unsafe_code)]

use super::model::{Sample, Timestamp};

/// Which formulas apply: the daemon's OS, from the `Ostype` header of its responses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Platform {
    #[default]
    Linux,
    Windows,
}

impl Platform {
    /// From an `Ostype` header value (`linux`, `windows`).
    pub fn from_ostype(value: &[u8]) -> Platform {
        if value.eq_ignore_ascii_case(b"windows") {
            Platform::Windows
        } else {
            Platform::Linux
        }
    }
}

/// The derived numbers of one sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Derived {
    /// CPU %, as `docker stats` shows it (100 % = one CPU).
    pub cpu_percent: f64,
    /// CPU % of the whole host (100 % = every CPU busy).
    pub cpu_percent_host: f64,
    /// CPU % of what the container may use (100 % = all of it): of its CPU limit when the
    /// sample has one ([`Sample::cpu_limit`]), at most the CPUs counted in
    /// [`Derived::online_cpus`] (a limit above them cannot be reached); else of those CPUs,
    /// which makes it [`Derived::cpu_percent_host`].
    pub cpu_percent_of_limit: f64,
    /// The CPU count used: `online_cpus`, or the `percpu_usage` count, or the host's CPUs
    /// when the stream knows them (0 when none is known).
    pub online_cpus: u32,
    /// `memory_stats.usage` as reported.
    pub mem_usage: u64,
    /// Memory used without the page cache (the MEM USAGE column).
    pub mem_used: f64,
    pub mem_limit: f64,
    pub mem_percent: f64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub block_read: u64,
    pub block_write: u64,
    pub pids: u64,
    /// The first sample of a stream: no previous reading, so CPU % covers the container's
    /// whole life (`docker stats` shows it anyway).
    pub warmup: bool,
    /// The container is not running: every reading is zero.
    pub stopped: bool,
    /// `read − preread` in nanoseconds (0 for a warm-up sample); without a `preread`, from the
    /// stream's previous frame.
    pub interval_nanos: u64,
}

/// What a stream keeps of its previous frame, for frames without `precpu_stats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Previous {
    pub(crate) read: Timestamp,
    pub(crate) total_usage: u64,
}

impl Previous {
    pub(crate) fn of(s: &Sample<'_>) -> Previous {
        Previous {
            read: s.read,
            total_usage: s.cpu.total_usage,
        }
    }
}

/// Computes what `docker stats` shows for one sample.
pub fn derive(s: &Sample<'_>, platform: Platform) -> Derived {
    derive_in_stream(s, platform, None, 0)
}

/// [`derive`] for a frame of a stream: `prev` is the stream's previous frame (`None` for
/// its first), `host_cpus` the daemon host's CPU count (0: unknown). Both are used only where
/// the frame lacks what Docker would have sent (see the module's notes), so on Docker's frames
/// the result is [`derive`]'s.
pub(crate) fn derive_in_stream(
    s: &Sample<'_>,
    platform: Platform,
    prev: Option<&Previous>,
    host_cpus: u32,
) -> Derived {
    // A running container's frame without precpu (Podman sends a `preread` with it all the
    // same), after a running frame of the same stream.
    let no_precpu = platform == Platform::Linux
        && s.precpu.total_usage == 0
        && s.precpu.system_cpu_usage == 0
        && !s.read.is_zero();
    let prev = prev.filter(|p| no_precpu && !p.read.is_zero());
    // A Podman frame (it has a `preread`) no later than the one before it (a clock step, two
    // in one nanosecond) has no interval to measure over: a warm-up frame, not the lifetime
    // average. A first frame as Docker sends it (no preread) keeps Docker's formula.
    let out_of_order = !s.is_warmup() && prev.is_some_and(|p| s.read <= p.read);
    let prev = prev.filter(|p| s.read > p.read);
    let warmup = (s.is_warmup() && prev.is_none()) || out_of_order;
    let interval_nanos = if s.read.is_zero() {
        0
    } else if !s.preread.is_zero() {
        u64::try_from(s.read.nanos_since(s.preread)).unwrap_or(0)
    } else if let Some(p) = prev {
        u64::try_from(s.read.nanos_since(p.read)).unwrap_or(0)
    } else {
        0
    };
    let mut d = Derived {
        net_rx: s.networks.rx_bytes(),
        net_tx: s.networks.tx_bytes(),
        warmup,
        stopped: s.is_stopped(),
        interval_nanos,
        mem_usage: s.memory.usage,
        ..Derived::default()
    };
    match platform {
        Platform::Linux => {
            d.online_cpus = if s.cpu.online_cpus != 0 {
                s.cpu.online_cpus
            } else if s.cpu.percpu_count != 0 {
                s.cpu.percpu_count
            } else if !s.read.is_zero() {
                // Not for a stopped container's all-zero frame, whose count Docker leaves 0.
                host_cpus
            } else {
                0
            };
            d.cpu_percent = match prev {
                _ if out_of_order => 0.0,
                Some(p) => cpu_percent_by_time(p, s),
                None => cpu_percent_unix(
                    s.precpu.total_usage,
                    s.precpu.system_cpu_usage,
                    s.cpu.total_usage,
                    s.cpu.system_cpu_usage,
                    d.online_cpus,
                ),
            };
            d.block_read = s.blkio.read;
            d.block_write = s.blkio.write;
            d.mem_used = mem_used_no_cache(s);
            d.mem_limit = s.memory.limit as f64;
            d.mem_percent = if d.mem_limit != 0.0 {
                d.mem_used / d.mem_limit * 100.0
            } else {
                0.0
            };
            d.pids = s.pids.current;
        }
        Platform::Windows => {
            d.online_cpus = s.num_procs;
            d.cpu_percent = cpu_percent_windows(s);
            d.block_read = s.storage.read_size_bytes;
            d.block_write = s.storage.write_size_bytes;
            d.mem_used = s.memory.private_working_set.unwrap_or(0) as f64;
        }
    }
    d.cpu_percent_host = if d.online_cpus > 0 {
        d.cpu_percent / f64::from(d.online_cpus)
    } else {
        0.0
    };
    d.cpu_percent_of_limit = cpu_percent_of_limit(s, &d);
    d
}

/// [`Derived::cpu_percent_of_limit`]: CPU % (100 % = one CPU) over the CPUs the container
/// may use.
fn cpu_percent_of_limit(s: &Sample<'_>, d: &Derived) -> f64 {
    let online = f64::from(d.online_cpus);
    let cpus = match s.cpu_limit.and_then(|l| l.cpus()) {
        Some(limit) if limit > 0.0 && (online == 0.0 || limit < online) => limit,
        _ => online,
    };
    if cpus > 0.0 {
        d.cpu_percent / cpus
    } else {
        0.0
    }
}

/// docker/cli `calculateCPUPercentUnix`.
fn cpu_percent_unix(prev_cpu: u64, prev_system: u64, cpu: u64, system: u64, cpus: u32) -> f64 {
    let cpu_delta = cpu as f64 - prev_cpu as f64;
    let system_delta = system as f64 - prev_system as f64;
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * f64::from(cpus) * 100.0
    } else {
        0.0
    }
}

/// CPU % of a frame without precpu against the stream's previous frame: CPU time over wall
/// time (100 % = one CPU), which is what Docker's ratio to the host's CPU time comes to.
fn cpu_percent_by_time(prev: &Previous, s: &Sample<'_>) -> f64 {
    let cpu_delta = s.cpu.total_usage as f64 - prev.total_usage as f64;
    let nanos = s.read.nanos_since(prev.read) as f64;
    if cpu_delta > 0.0 && nanos > 0.0 {
        cpu_delta / nanos * 100.0
    } else {
        0.0
    }
}

/// Which BLOCK I/O column an `io_service_bytes_recursive` entry adds to, by its `op`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockOp {
    Read,
    Write,
    /// Not bytes read or written (`Sync`, `Total`, `rios`, `dbytes`, …): left out.
    Other,
}

/// The block I/O rule: an entry is read bytes when its `op` is `read` and written bytes when
/// it is `write`, in any ASCII case; every other entry is left out.
///
/// docker/cli (`calculateBlockIO`) goes by the first letter (`r`/`R`, `w`/`W`). The two agree
/// on every op Docker sends: cgroup v1's `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`
/// and cgroup v2's `read`, `write`. Podman's compat API also lists io.stat's operation counts
/// and discards (`rios`, `wios`, `dbytes`, `dios`), which the first-letter rule would add to
/// the bytes (`rios` as read bytes, `wios` as written bytes).
pub(crate) fn block_op(op: &[u8]) -> BlockOp {
    if op.eq_ignore_ascii_case(b"read") {
        BlockOp::Read
    } else if op.eq_ignore_ascii_case(b"write") {
        BlockOp::Write
    } else {
        BlockOp::Other
    }
}

/// docker/cli `calculateCPUPercentWindows`, with Go's integer semantics: the duration
/// saturates, converts to uint64 with wrap-around, and the multiplication wraps.
fn cpu_percent_windows(s: &Sample<'_>) -> f64 {
    let nanos = s
        .read
        .nanos_since(s.preread)
        .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    let possible = ((nanos as u64) / 100).wrapping_mul(u64::from(s.num_procs));
    let used = s.cpu.total_usage.wrapping_sub(s.precpu.total_usage);
    if possible > 0 {
        used as f64 / possible as f64 * 100.0
    } else {
        0.0
    }
}

/// docker/cli `calculateMemUsageUnixNoCache`.
fn mem_used_no_cache(s: &Sample<'_>) -> f64 {
    let usage = s.memory.usage;
    // cgroup v1: the key's presence decides, not its value.
    if let Some(v) = s.memory.total_inactive_file {
        if v < usage {
            return (usage - v) as f64;
        }
    }
    let v = s.memory.inactive_file.unwrap_or(0);
    if v < usage {
        return (usage - v) as f64;
    }
    usage as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{FrameDecoder, StatsStream};

    /// Two frames 5 s apart as Podman 4's compat endpoint writes them (the shape of
    /// containers/podman#16139): no precpu, no online_cpus, no percpu_usage, io.stat's ops,
    /// no `memory_stats.stats`, and Podman's own `cpu` field.
    const PODMAN_FIRST: &str = include_str!("testdata/podman4-cgv2-first.json");
    const PODMAN_NEXT: &str = include_str!("testdata/podman4-cgv2-next.json");

    /// docker/cli's `calculateBlockIO` rule, to compare with ours.
    fn docker_block_op(op: &[u8]) -> BlockOp {
        match op.first() {
            Some(b'r' | b'R') => BlockOp::Read,
            Some(b'w' | b'W') => BlockOp::Write,
            _ => BlockOp::Other,
        }
    }

    #[test]
    fn block_ops_agree_with_docker_on_dockers_ops_and_leave_out_podmans_counts() {
        // Every op Docker writes: cgroup v1's blkio lists, cgroup v2's io.stat bytes.
        for op in [
            "Read", "Write", "Sync", "Async", "Discard", "Total", "read", "write", "",
        ] {
            assert_eq!(
                block_op(op.as_bytes()),
                docker_block_op(op.as_bytes()),
                "{op}"
            );
        }
        assert_eq!(block_op(b"READ"), BlockOp::Read);
        assert_eq!(block_op(b"wRiTe"), BlockOp::Write);
        // Podman's extra io.stat entries: docker's rule takes rios and wios for bytes.
        for op in ["rios", "wios", "dbytes", "dios", "reads", "w", "r"] {
            assert_eq!(block_op(op.as_bytes()), BlockOp::Other, "{op}");
        }
        assert_eq!(docker_block_op(b"rios"), BlockOp::Read);
        assert_eq!(docker_block_op(b"wios"), BlockOp::Write);
    }

    #[test]
    fn a_podman_stream_is_read_with_its_previous_frame() {
        let mut decoder = FrameDecoder::new();
        let mut stream = StatsStream::new(1 << 20);
        stream.set_host_cpus(4);
        let body = format!("{PODMAN_FIRST}{PODMAN_NEXT}");
        let mut samples = stream.push(body.as_bytes(), &mut decoder);

        let first = samples.next().unwrap().unwrap();
        let d = first.derived;
        // No previous frame: Docker's formula against the all-zero precpu, as the docker CLI
        // would show it (the average since the start): 405 s / 2600 s × 4 CPUs × 100. (Not
        // flagged as a warm-up: Podman sends a `preread`, the time of its request.)
        assert!(!d.warmup);
        assert_eq!(d.online_cpus, 4);
        assert_eq!(d.cpu_percent, 405e9 / 2600e9 * 4.0 * 100.0);
        assert_eq!(d.interval_nanos, 2_102_108);
        // Bytes only: 1 MiB read and 5698093056 B written, not the 12 + 85994 operations
        // (docker's rule: 1048588 and 5698179050) nor the 4096 discarded bytes.
        assert_eq!((d.block_read, d.block_write), (1_048_576, 5_698_093_056));
        // No memory.stat: nothing to subtract. 100 MiB of 8 GiB.
        assert_eq!(d.mem_used, 104_857_600.0);
        assert_eq!(d.mem_percent, 1.220703125);
        assert_eq!((d.net_rx, d.net_tx, d.pids), (1024, 2048, 147));

        let next = samples.next().unwrap().unwrap();
        let d = next.derived;
        // 2.5 s of CPU in the 5 s since the previous frame: 50 % (one CPU = 100 %), 12.5 % of
        // the 4 CPUs. Docker's ratio to Podman's system_cpu_usage (the CPU time of all cgroups,
        // 5 s here) would say 2.5 / 5 × 4 × 100 = 200 %.
        assert!(!d.warmup);
        assert_eq!(d.cpu_percent, 50.0);
        assert_eq!(d.cpu_percent_host, 12.5);
        assert_eq!(d.interval_nanos, 5_000_000_000);
        assert!(samples.next().is_none());
    }

    #[test]
    fn without_preread_the_interval_is_measured_from_the_previous_frame() {
        let next = PODMAN_NEXT.replace(
            r#""preread":"2022-10-12T14:26:54.717104419Z""#,
            r#""preread":"0001-01-01T00:00:00Z""#,
        );
        let mut decoder = FrameDecoder::new();
        let mut stream = StatsStream::new(1 << 20);
        let body = format!("{PODMAN_FIRST}{next}\n");
        let mut samples = stream.push(body.as_bytes(), &mut decoder);
        let first = samples.next().unwrap().unwrap().derived;
        // Unknown host CPUs: no count, so no share of the host either.
        assert_eq!((first.online_cpus, first.cpu_percent_host), (0, 0.0));
        let d = samples.next().unwrap().unwrap().derived;
        assert_eq!(d.interval_nanos, 5_000_000_000);
        assert_eq!(d.cpu_percent, 50.0);
        assert!(!d.warmup);
    }

    #[test]
    fn a_frame_with_precpu_is_dockers_whatever_came_before() {
        // Docker's own frames: precpu present, so the previous frame plays no part, and a
        // first frame (no precpu, no preread) is Docker's warm-up frame.
        let docker = |total: u64, pre_total: u64, read: &str, preread: &str| {
            format!(
                concat!(
                    r#"{{"read":"{}","preread":"{}","cpu_stats":{{"cpu_usage":{{"total_usage":{},"#,
                    r#""percpu_usage":[1,2]}},"system_cpu_usage":{}}},"precpu_stats":{{"cpu_usage":"#,
                    r#"{{"total_usage":{}}},"system_cpu_usage":{}}}}}"#,
                    "\n"
                ),
                read,
                preread,
                total,
                total * 10,
                pre_total,
                if pre_total == 0 {
                    0
                } else {
                    pre_total * 10 + 1000
                },
            )
        };
        let frames = [
            docker(1_000_000, 0, "2024-01-01T00:00:01Z", "0001-01-01T00:00:00Z"),
            docker(
                3_000_000,
                1_000_000,
                "2024-01-01T00:00:02Z",
                "2024-01-01T00:00:01Z",
            ),
        ];
        let mut decoder = FrameDecoder::new();
        let mut stream = StatsStream::new(1 << 20);
        stream.set_host_cpus(64);
        for frame in &frames {
            let mut samples = stream.push(frame.as_bytes(), &mut decoder);
            let got = samples.next().unwrap().unwrap();
            let alone = derive(&got.sample, Platform::Linux);
            assert_eq!(got.derived, alone, "{frame}");
            // The percpu count, not the host's.
            assert_eq!(got.derived.online_cpus, 2);
        }
        // A stopped container's all-zero frame: no count, as Docker's.
        let zero = concat!(
            r#"{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","#,
            r#""cpu_stats":{"cpu_usage":{"total_usage":0}},"#,
            r#""precpu_stats":{"cpu_usage":{"total_usage":0}},"memory_stats":{}}"#,
            "\n"
        );
        let mut samples = stream.push(zero.as_bytes(), &mut decoder);
        let got = samples.next().unwrap().unwrap();
        assert_eq!(got.derived, derive(&got.sample, Platform::Linux));
        assert_eq!(got.derived.online_cpus, 0);
    }

    #[test]
    fn a_frame_no_later_than_the_previous_one_is_a_warm_up_not_a_spike() {
        // PODMAN_NEXT twice: the second has nothing to measure against (same `read`), and
        // Docker's formula over its empty precpu would show the lifetime average instead.
        let mut decoder = FrameDecoder::new();
        let mut stream = StatsStream::new(1 << 20);
        stream.set_host_cpus(4);
        let body = format!("{PODMAN_FIRST}{PODMAN_NEXT}{PODMAN_NEXT}");
        let mut samples = stream.push(body.as_bytes(), &mut decoder);
        let _ = samples.next().unwrap().unwrap();
        let measured = samples.next().unwrap().unwrap().derived;
        assert!(!measured.warmup && measured.cpu_percent > 0.0);
        let again = samples.next().unwrap().unwrap().derived;
        assert!(again.warmup);
        assert_eq!(again.cpu_percent, 0.0);
    }

    #[test]
    fn a_stopped_frame_or_a_restart_is_not_measured_against_the_previous_frame() {
        let stopped = PODMAN_NEXT
            .replace("2022-10-12T14:26:59.717104419Z", "0001-01-01T00:00:00Z")
            .replace("2022-10-12T14:26:54.717104419Z", "0001-01-01T00:00:00Z");
        let mut decoder = FrameDecoder::new();
        let mut stream = StatsStream::new(1 << 20);
        stream.set_host_cpus(4);
        let body = format!("{PODMAN_NEXT}{stopped}{PODMAN_FIRST}");
        let mut samples = stream.push(body.as_bytes(), &mut decoder);
        let _ = samples.next().unwrap().unwrap();
        let d = samples.next().unwrap().unwrap().derived;
        assert!(d.stopped);
        assert_eq!(d.interval_nanos, 0);
        assert_eq!(d.online_cpus, 0);
        // After the stopped frame, a frame is a first frame again; and one older than the
        // previous one is never compared with it.
        let d = samples.next().unwrap().unwrap().derived;
        assert_eq!(d.interval_nanos, 2_102_108);
        assert_eq!(d.cpu_percent, 405e9 / 2600e9 * 4.0 * 100.0);
    }

    #[test]
    fn a_podman_frame_alone_reads_as_docker_would_read_it_but_for_block_io() {
        let frame = PODMAN_NEXT.trim_end().as_bytes();
        let mut decoder = FrameDecoder::new();
        let s = decoder.decode(frame).unwrap();
        assert_eq!(s.name, "web");
        assert_eq!(s.cpu.online_cpus, 0);
        assert_eq!(s.cpu.percpu_count, 0);
        assert_eq!(s.memory.inactive_file, None);
        assert_eq!(s.blkio.entries, 6);
        let d = derive(&s, Platform::Linux);
        // Without a stream there is no previous frame: no CPU count, so 0 %.
        assert_eq!(d.cpu_percent, 0.0);
        assert_eq!(d.block_read, 1_048_576);
    }

    #[test]
    fn cpu_percent_of_the_containers_own_limit() {
        use crate::stats::CpuLimit;
        // 1.5 s of CPU in 4 s of a 4-CPU host's time (1 s of wall time): 150 %.
        let mut s = Sample {
            read: Timestamp { secs: 2, nanos: 0 },
            preread: Timestamp { secs: 1, nanos: 0 },
            ..Sample::default()
        };
        s.cpu.total_usage = 2_500_000_000;
        s.precpu.total_usage = 1_000_000_000;
        s.cpu.system_cpu_usage = 8_000_000_000;
        s.precpu.system_cpu_usage = 4_000_000_000;
        s.cpu.online_cpus = 4;
        let without = derive(&s, Platform::Linux);
        assert_eq!(without.cpu_percent, 150.0);
        // No limit: of the CPUs it may use, as --cpu-host shows it.
        assert_eq!(without.cpu_percent_of_limit, without.cpu_percent_host);
        assert_eq!(without.cpu_percent_of_limit, 37.5);
        let with = |s: &Sample<'_>, quota_us, period_us| {
            let limit = Some(CpuLimit {
                quota_us,
                period_us,
            });
            derive(
                &Sample {
                    cpu_limit: limit,
                    ..*s
                },
                Platform::Linux,
            )
        };
        // --cpus 2: 1.5 of 2 CPUs.
        assert_eq!(with(&s, 200_000, 100_000).cpu_percent_of_limit, 75.0);
        // --cpus 0.5 (a container over its limit in one interval shows more than 100 %).
        assert_eq!(with(&s, 50_000, 100_000).cpu_percent_of_limit, 300.0);
        // The other numbers do not change.
        let d = with(&s, 50_000, 100_000);
        assert_eq!(
            (d.cpu_percent, d.cpu_percent_host),
            (without.cpu_percent, without.cpu_percent_host)
        );
        // A limit above the host's CPUs cannot be reached: the CPUs count.
        assert_eq!(with(&s, 800_000, 100_000).cpu_percent_of_limit, 37.5);
        // A zero quota or period is no limit.
        assert_eq!(with(&s, 0, 100_000).cpu_percent_of_limit, 37.5);
        assert_eq!(with(&s, 50_000, 0).cpu_percent_of_limit, 37.5);
        // No CPU count known and no limit: 0, as cpu_percent_host.
        s.cpu.online_cpus = 0;
        let d = derive(&s, Platform::Linux);
        assert_eq!((d.cpu_percent_of_limit, d.cpu_percent_host), (0.0, 0.0));
        // A limit alone still gives the share of it.
        assert_eq!(
            with(&s, 100_000, 100_000).cpu_percent_of_limit,
            d.cpu_percent
        );
    }
}
