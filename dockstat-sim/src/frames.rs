//! Stats frame JSON, byte-compatible in shape with what Docker 20.10 sends for
//! `GET /containers/{id}/stats`: same keys, same key order, same `null` vs `[]` vs absent
//! choices, integers only. Pure: the caller passes the times and gets bytes appended.
//!
//! Shapes, by source:
//! - cgroup v1 (`docker20-cgv1-*.http`): `percpu_usage` present, `memory_stats` with
//!   `max_usage` and the v1 `stats` key set, `blkio_stats` lists `[]` (or the capitalised
//!   `Read`/`Write`/`Sync`/`Async`/`Discard`/`Total` entries when accounting is active).
//! - cgroup v2 (`frames/docker-2022-cgv2-*.json`): no `percpu_usage`, no `max_usage`, the v2
//!   `stats` key set, `pids_stats.limit` always present, blkio lowercase `read`/`write` with the
//!   other lists `null`.
//! - Stopped containers (`docker20-cgv1-stopped-*.http`): the all-zero frame, whatever the
//!   cgroup version (the daemon does not read cgroups for them). The first zero frame after a
//!   live one still carries the live frame's `read` as `preread` and its `cpu_stats` as
//!   `precpu_stats` (`docker20-cgv1-doomed-stop-midstream.http`): the daemon's precpu is simply
//!   the previous frame's cpu.

use super::json::{push_field_u64, push_key, push_str, push_u64};
use super::model::{BlkSample, MemSample, Model, Sample};
use super::time::{UnixNanos, ZERO_TIME, push_rfc3339_nano};
use super::{Cgroup, Flavor};

/// `precpu_stats` of a first frame (and `cpu_stats` of a stopped container's frame).
const ZERO_CPU: &str = r#"{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}}"#;

/// The frame of a container that is not running, up to `"name":`.
const ZERO_FRAME_HEAD: &str = concat!(
    r#"{"read":"0001-01-01T00:00:00Z","preread":"0001-01-01T00:00:00Z","pids_stats":{},"#,
    r#""blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,"#,
    r#""io_queue_recursive":null,"io_service_time_recursive":null,"io_wait_time_recursive":null,"#,
    r#""io_merged_recursive":null,"io_time_recursive":null,"sectors_recursive":null},"#,
    r#""num_procs":0,"storage_stats":{},"cpu_stats":{"cpu_usage":{"total_usage":0,"#,
    r#""usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"#,
    r#""throttled_periods":0,"throttled_time":0}},"precpu_stats":{"cpu_usage":{"total_usage":0,"#,
    r#""usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"#,
    r#""throttled_periods":0,"throttled_time":0}},"memory_stats":{},"name":"#
);

/// The zero frame between its `preread` value and its `precpu_stats` value.
const ZERO_FRAME_MIDDLE: &str = concat!(
    r#"","pids_stats":{},"#,
    r#""blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,"#,
    r#""io_queue_recursive":null,"io_service_time_recursive":null,"io_wait_time_recursive":null,"#,
    r#""io_merged_recursive":null,"io_time_recursive":null,"sectors_recursive":null},"#,
    r#""num_procs":0,"storage_stats":{},"cpu_stats":{"cpu_usage":{"total_usage":0,"#,
    r#""usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"#,
    r#""throttled_periods":0,"throttled_time":0}},"precpu_stats":"#
);

/// The blkio lists other than the two Docker fills from the throttle/io.stat files.
const BLKIO_REST: [&str; 6] = [
    "io_queue_recursive",
    "io_service_time_recursive",
    "io_wait_time_recursive",
    "io_merged_recursive",
    "io_time_recursive",
    "sectors_recursive",
];

/// Samples reused from frame to frame so that writing a frame does not allocate.
#[derive(Debug, Default)]
pub(crate) struct FrameScratch {
    cur: Sample,
    pre: Sample,
}

/// Appends the stats frame of container `idx` read at `read`, plus the `\n` that Go's
/// `json.Encoder` writes after each value.
///
/// `pre` is the previous read time: `None` for the first frame of a stream and for one-shot
/// requests (precpu zeroed, `preread` the zero time). Containers that are not running get
/// the all-zero frame, with `pre` as its `preread` and the sample at `pre` as its precpu when
/// `pre` is given: the caller passes it only when the previous frame was a live one of the
/// container's current run. An unknown `idx` writes nothing.
pub(crate) fn push_frame(
    out: &mut Vec<u8>,
    model: &Model,
    idx: usize,
    read: UnixNanos,
    pre: Option<UnixNanos>,
    scratch: &mut FrameScratch,
) {
    let Some(c) = model.containers.get(idx) else {
        return;
    };
    if !c.running() {
        match pre {
            Some(p) => {
                out.extend_from_slice(b"{\"read\":\"");
                out.extend_from_slice(ZERO_TIME.as_bytes());
                out.extend_from_slice(b"\",\"preread\":\"");
                push_rfc3339_nano(out, p);
                out.extend_from_slice(ZERO_FRAME_MIDDLE.as_bytes());
                model.sample_into(idx, p, &mut scratch.pre);
                push_cpu(out, &scratch.pre);
                out.extend_from_slice(b",\"memory_stats\":{},\"name\":");
                push_name(out, &c.name);
                out.extend_from_slice(b",\"id\":");
                push_str(out, &c.id);
                out.extend_from_slice(b"}\n");
            }
            None => push_zero_frame(out, &c.name, &c.id),
        }
        return;
    }
    if model.flavor == Flavor::Podman {
        push_podman_frame(out, model, idx, read, pre, scratch);
        return;
    }
    let v1 = model.cgroup == Cgroup::V1;
    model.sample_into(idx, read, &mut scratch.cur);
    let s = &scratch.cur;

    out.extend_from_slice(b"{\"read\":\"");
    push_rfc3339_nano(out, read);
    out.extend_from_slice(b"\",\"preread\":\"");
    match pre {
        Some(p) => push_rfc3339_nano(out, p),
        None => out.extend_from_slice(ZERO_TIME.as_bytes()),
    }
    out.extend_from_slice(b"\",\"pids_stats\":{");
    push_field_u64(out, true, "current", s.pids);
    if let Some(limit) = s.pids_limit {
        push_field_u64(out, false, "limit", limit);
    }
    out.extend_from_slice(b"},\"blkio_stats\":{");
    push_blkio(out, v1, s.blk.as_ref());
    out.extend_from_slice(b"},\"num_procs\":0,\"storage_stats\":{},\"cpu_stats\":");
    push_cpu(out, s);
    out.extend_from_slice(b",\"precpu_stats\":");
    match pre {
        Some(p) => {
            model.sample_into(idx, p, &mut scratch.pre);
            push_cpu(out, &scratch.pre);
        }
        None => out.extend_from_slice(ZERO_CPU.as_bytes()),
    }
    let s = &scratch.cur;
    out.extend_from_slice(b",\"memory_stats\":{");
    if v1 {
        push_memory_v1(out, &s.mem);
    } else {
        push_memory_v2(out, &s.mem);
    }
    out.extend_from_slice(b"},\"name\":");
    push_name(out, &c.name);
    out.extend_from_slice(b",\"id\":");
    push_str(out, &c.id);
    if let Some(n) = s.net {
        out.extend_from_slice(b",\"networks\":{\"eth0\":{");
        push_field_u64(out, true, "rx_bytes", n.rx_bytes);
        push_field_u64(out, false, "rx_packets", n.rx_packets);
        push_field_u64(out, false, "rx_errors", 0);
        push_field_u64(out, false, "rx_dropped", 0);
        push_field_u64(out, false, "tx_bytes", n.tx_bytes);
        push_field_u64(out, false, "tx_packets", n.tx_packets);
        push_field_u64(out, false, "tx_errors", 0);
        push_field_u64(out, false, "tx_dropped", 0);
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(b"}\n");
}

/// `precpu_stats` as Podman's compat endpoint sends it: empty (containers/podman#24730).
const PODMAN_ZERO_CPU: &str = r#"{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"cpu":0,"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}}"#;

/// A running container's frame as Podman 4's compat endpoint writes it (its
/// `containers_stats_linux.go`, and the frames in containers/podman#16139 and #24730): Docker's
/// keys in Docker's order, but no `percpu_usage`, no `online_cpus`, an empty `precpu_stats`,
/// Podman's own `cpu` percentage, all of io.stat's entries (`read`, `write`, `rios`, `wios`,
/// `dbytes`, `dios`) with the other blkio lists `null`, `memory_stats` without `stats`, no
/// `pids_stats.limit`, and the name without Docker's leading `/`. `preread` is the previous
/// frame's `read` (the zero time for the first).
fn push_podman_frame(
    out: &mut Vec<u8>,
    model: &Model,
    idx: usize,
    read: UnixNanos,
    pre: Option<UnixNanos>,
    scratch: &mut FrameScratch,
) {
    let Some(c) = model.containers.get(idx) else {
        return;
    };
    model.sample_into(idx, read, &mut scratch.cur);
    // Podman's `cpu`: its own CPU % since its previous sample.
    let podman_cpu = match pre {
        Some(p) if read > p => {
            model.sample_into(idx, p, &mut scratch.pre);
            let used = scratch.cur.cpu_total.saturating_sub(scratch.pre.cpu_total);
            used as f64 / (read - p) as f64 * 100.0
        }
        _ => 0.0,
    };
    let s = &scratch.cur;
    out.extend_from_slice(b"{\"read\":\"");
    push_rfc3339_nano(out, read);
    out.extend_from_slice(b"\",\"preread\":\"");
    match pre {
        Some(p) => push_rfc3339_nano(out, p),
        None => out.extend_from_slice(ZERO_TIME.as_bytes()),
    }
    out.extend_from_slice(b"\",\"pids_stats\":{");
    push_field_u64(out, true, "current", s.pids);
    out.extend_from_slice(b"},\"blkio_stats\":{");
    push_key(out, "io_service_bytes_recursive");
    out.push(b'[');
    if let Some(b) = &s.blk {
        push_blk_entry(out, true, "read", b.read_bytes);
        push_blk_entry(out, false, "write", b.write_bytes);
        push_blk_entry(out, false, "rios", b.read_ops);
        push_blk_entry(out, false, "wios", b.write_ops);
        push_blk_entry(out, false, "dbytes", b.discard_bytes);
        push_blk_entry(out, false, "dios", b.discard_ops);
    }
    out.push(b']');
    out.extend_from_slice(b",\"io_serviced_recursive\":null");
    for key in BLKIO_REST {
        out.push(b',');
        push_key(out, key);
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"},\"num_procs\":0,\"storage_stats\":{},\"cpu_stats\":{\"cpu_usage\":{");
    push_field_u64(out, true, "total_usage", s.cpu_total);
    push_field_u64(out, false, "usage_in_kernelmode", s.cpu_kernel);
    push_field_u64(
        out,
        false,
        "usage_in_usermode",
        s.cpu_total.saturating_sub(s.cpu_kernel),
    );
    out.push(b'}');
    push_field_u64(out, false, "system_cpu_usage", s.system);
    // Go's float64 format for a JSON number (17 significant digits at most, no exponent for
    // these magnitudes).
    out.extend_from_slice(format!(",\"cpu\":{podman_cpu}").as_bytes());
    out.extend_from_slice(b",\"throttling_data\":{");
    push_field_u64(out, true, "periods", s.periods);
    push_field_u64(out, false, "throttled_periods", s.throttled_periods);
    push_field_u64(out, false, "throttled_time", s.throttled_time);
    out.extend_from_slice(b"}}");
    out.extend_from_slice(b",\"precpu_stats\":");
    out.extend_from_slice(PODMAN_ZERO_CPU.as_bytes());
    out.extend_from_slice(b",\"memory_stats\":{");
    push_field_u64(out, true, "usage", s.mem.usage);
    push_field_u64(out, false, "limit", s.mem.limit);
    out.extend_from_slice(b"},\"name\":");
    push_str(out, &c.name);
    out.extend_from_slice(b",\"id\":");
    push_str(out, &c.id);
    if let Some(n) = s.net {
        out.extend_from_slice(b",\"networks\":{\"eth0\":{");
        push_field_u64(out, true, "rx_bytes", n.rx_bytes);
        push_field_u64(out, false, "rx_packets", n.rx_packets);
        push_field_u64(out, false, "rx_errors", 0);
        push_field_u64(out, false, "rx_dropped", 0);
        push_field_u64(out, false, "tx_bytes", n.tx_bytes);
        push_field_u64(out, false, "tx_packets", n.tx_packets);
        push_field_u64(out, false, "tx_errors", 0);
        push_field_u64(out, false, "tx_dropped", 0);
        out.extend_from_slice(b"}}");
    }
    out.extend_from_slice(b"}\n");
}

/// Appends the all-zero frame Docker sends for a container that is not running
/// (`docker20-cgv1-stopped-stream.http`), plus `\n`.
pub(crate) fn push_zero_frame(out: &mut Vec<u8>, name: &str, id: &str) {
    out.extend_from_slice(ZERO_FRAME_HEAD.as_bytes());
    push_name(out, name);
    out.extend_from_slice(b",\"id\":");
    push_str(out, id);
    out.extend_from_slice(b"}\n");
}

/// `"/NAME"` as a JSON string.
fn push_name(out: &mut Vec<u8>, name: &str) {
    let start = out.len();
    push_str(out, name);
    // Insert the slash after the opening quote; cheaper than formatting a new String.
    out.insert(start + 1, b'/');
}

fn push_cpu(out: &mut Vec<u8>, s: &Sample) {
    out.extend_from_slice(b"{\"cpu_usage\":{");
    push_field_u64(out, true, "total_usage", s.cpu_total);
    if !s.percpu.is_empty() {
        out.extend_from_slice(b",\"percpu_usage\":[");
        for (i, &v) in s.percpu.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_u64(out, v);
        }
        out.push(b']');
    }
    push_field_u64(out, false, "usage_in_kernelmode", s.cpu_kernel);
    push_field_u64(out, false, "usage_in_usermode", s.cpu_user);
    out.push(b'}');
    push_field_u64(out, false, "system_cpu_usage", s.system);
    push_field_u64(out, false, "online_cpus", u64::from(s.online_cpus));
    out.extend_from_slice(b",\"throttling_data\":{");
    push_field_u64(out, true, "periods", s.periods);
    push_field_u64(out, false, "throttled_periods", s.throttled_periods);
    push_field_u64(out, false, "throttled_time", s.throttled_time);
    out.extend_from_slice(b"}}");
}

fn push_blk_entry(out: &mut Vec<u8>, first: bool, op: &str, value: u64) {
    if !first {
        out.push(b',');
    }
    out.extend_from_slice(b"{\"major\":254,\"minor\":0,\"op\":\"");
    out.extend_from_slice(op.as_bytes());
    out.extend_from_slice(b"\",\"value\":");
    push_u64(out, value);
    out.push(b'}');
}

fn push_blkio(out: &mut Vec<u8>, v1: bool, blk: Option<&BlkSample>) {
    if v1 {
        // blkio.throttle.io_service_bytes / io_serviced: Sync covers direct writes and
        // discards, Async buffered reads; Total is their sum (kernel >= 4.x order).
        for (i, key) in ["io_service_bytes_recursive", "io_serviced_recursive"]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            push_key(out, key);
            out.push(b'[');
            if let Some(b) = blk {
                let (r, w, d) = if i == 0 {
                    (b.read_bytes, b.write_bytes, b.discard_bytes)
                } else {
                    (b.read_ops, b.write_ops, b.discard_ops)
                };
                push_blk_entry(out, true, "Read", r);
                push_blk_entry(out, false, "Write", w);
                push_blk_entry(out, false, "Sync", w + d);
                push_blk_entry(out, false, "Async", r);
                push_blk_entry(out, false, "Discard", d);
                push_blk_entry(out, false, "Total", r + w + d);
            }
            out.push(b']');
        }
        for key in BLKIO_REST {
            out.push(b',');
            push_key(out, key);
            out.extend_from_slice(b"[]");
        }
    } else {
        // cgroup v2: Docker fills only io_service_bytes_recursive, from io.stat.
        push_key(out, "io_service_bytes_recursive");
        match blk {
            Some(b) => {
                out.push(b'[');
                push_blk_entry(out, true, "read", b.read_bytes);
                push_blk_entry(out, false, "write", b.write_bytes);
                out.push(b']');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"io_serviced_recursive\":null");
        for key in BLKIO_REST {
            out.push(b',');
            push_key(out, key);
            out.extend_from_slice(b"null");
        }
    }
}

fn push_memory_v1(out: &mut Vec<u8>, m: &MemSample) {
    push_field_u64(out, true, "usage", m.usage);
    push_field_u64(out, false, "max_usage", m.max_usage);
    out.extend_from_slice(b",\"stats\":{");
    let own: [(&str, u64); 15] = [
        ("active_anon", m.active_anon),
        ("active_file", m.active_file),
        ("cache", m.cache),
        ("dirty", 0),
        ("inactive_anon", m.inactive_anon),
        ("inactive_file", m.inactive_file),
        ("mapped_file", m.mapped_file),
        ("pgfault", m.pgfault),
        ("pgmajfault", m.pgmajfault),
        ("pgpgin", m.pgpgin),
        ("pgpgout", m.pgpgout),
        ("rss", m.rss),
        ("rss_huge", 0),
        ("unevictable", 0),
        ("writeback", 0),
    ];
    // memory.stat lists each counter and its `total_` (hierarchical) twin; Go's encoder
    // sorts map keys, which puts the limits between dirty and inactive_anon, the `total_`
    // block after rss_huge, and unevictable/writeback last.
    let mut first = true;
    for &(k, v) in &own[..4] {
        push_field_u64(out, first, k, v);
        first = false;
    }
    push_field_u64(out, false, "hierarchical_memory_limit", m.hier_limit);
    push_field_u64(out, false, "hierarchical_memsw_limit", m.hier_memsw_limit);
    for &(k, v) in &own[4..13] {
        push_field_u64(out, false, k, v);
    }
    for &(k, v) in &own {
        out.extend_from_slice(b",\"total_");
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        push_u64(out, v);
    }
    for &(k, v) in &own[13..] {
        push_field_u64(out, false, k, v);
    }
    out.push(b'}');
    push_field_u64(out, false, "limit", m.limit);
}

fn push_memory_v2(out: &mut Vec<u8>, m: &MemSample) {
    push_field_u64(out, true, "usage", m.usage);
    out.extend_from_slice(b",\"stats\":{");
    let slab_reclaimable = m.slab / 3 / 4096 * 4096;
    let stats: [(&str, u64); 31] = [
        ("active_anon", m.active_anon),
        ("active_file", m.active_file),
        ("anon", m.rss),
        ("anon_thp", 0),
        ("file", m.cache),
        ("file_dirty", 0),
        ("file_mapped", m.mapped_file),
        ("file_writeback", 0),
        ("inactive_anon", m.inactive_anon),
        ("inactive_file", m.inactive_file),
        ("kernel_stack", m.kernel_stack),
        ("pgactivate", m.pgfault / 180),
        ("pgdeactivate", 0),
        ("pgfault", m.pgfault),
        ("pglazyfree", 0),
        ("pglazyfreed", 0),
        ("pgmajfault", m.pgmajfault),
        ("pgrefill", 0),
        ("pgscan", 0),
        ("pgsteal", 0),
        ("shmem", m.shmem),
        ("slab", m.slab),
        ("slab_reclaimable", slab_reclaimable),
        ("slab_unreclaimable", m.slab - slab_reclaimable),
        ("sock", 0),
        ("thp_collapse_alloc", 0),
        ("thp_fault_alloc", 0),
        ("unevictable", 0),
        ("workingset_activate", 0),
        ("workingset_nodereclaim", 0),
        ("workingset_refault", 0),
    ];
    for (i, &(k, v)) in stats.iter().enumerate() {
        push_field_u64(out, i == 0, k, v);
    }
    out.push(b'}');
    push_field_u64(out, false, "limit", m.limit);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::SimConfig;
    use crate::time::SECOND;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    pub(crate) const T0: u64 = 1_795_416_927 * SECOND + 745_601_815;

    fn model(cgroup: Cgroup) -> Model {
        let config = SimConfig {
            containers: 6,
            stopped: 1,
            cgroup,
            ..SimConfig::default()
        };
        Model::new(&config, T0)
    }

    fn frame_at(m: &Model, idx: usize, read: u64) -> String {
        let mut out = Vec::new();
        push_frame(&mut out, m, idx, read, None, &mut FrameScratch::default());
        String::from_utf8(out).unwrap_or_default()
    }

    fn frame(m: &Model, idx: usize, pre: Option<u64>) -> String {
        let mut out = Vec::new();
        push_frame(
            &mut out,
            m,
            idx,
            T0 + 2 * SECOND,
            pre,
            &mut FrameScratch::default(),
        );
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn podman_frames_have_podmans_shape() {
        let config = SimConfig {
            containers: 6,
            cgroup: Cgroup::V2,
            flavor: Flavor::Podman,
            ..SimConfig::default()
        };
        let m = Model::new(&config, T0);
        let busy = (0..6)
            .find(|&i| m.containers[i].name.starts_with("busy"))
            .unwrap();
        let text = frame(&m, busy, Some(T0 - 3 * SECOND));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        let cpu = &v["cpu_stats"];
        assert!(cpu["cpu_usage"]["total_usage"].as_u64().unwrap() > 0);
        assert!(cpu["cpu_usage"].get("percpu_usage").is_none());
        assert!(cpu.get("online_cpus").is_none());
        assert!(cpu["cpu"].as_f64().unwrap() > 0.0, "{text}");
        assert!(cpu["system_cpu_usage"].as_u64().unwrap() > 0);
        let pre = &v["precpu_stats"];
        assert_eq!(pre["cpu_usage"]["total_usage"], 0);
        assert!(pre.get("system_cpu_usage").is_none());
        assert!(v["memory_stats"].get("stats").is_none());
        assert!(v["memory_stats"]["usage"].as_u64().unwrap() > 0);
        assert_eq!(v["preread"], "2026-11-23T06:55:24.745601815Z");
        assert_eq!(v["name"].as_str(), Some(&*m.containers[busy].name));
        let ops: Vec<&str> = v["blkio_stats"]["io_service_bytes_recursive"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["op"].as_str().unwrap())
            .collect();
        assert_eq!(ops, ["read", "write", "rios", "wios", "dbytes", "dios"]);
        assert!(v["blkio_stats"]["io_serviced_recursive"].is_null());
        // A first frame: the zero time as preread, Podman's cpu 0.
        let first: serde_json::Value = serde_json::from_str(&frame(&m, busy, None)).unwrap();
        assert_eq!(first["preread"], "0001-01-01T00:00:00Z");
        assert_eq!(first["cpu_stats"]["cpu"], 0);
    }

    /// Runs a python3 snippet on `input` (stdin) and returns its stdout; `None` when python3
    /// is missing, so the check degrades to the Rust-side assertions.
    pub(crate) fn python(script: &str, input: &[u8]) -> Option<String> {
        let mut child = Command::new("python3")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(input).ok()?;
        let out = child.wait_with_output().ok()?;
        assert!(out.status.success(), "python3 failed on {input:?}");
        String::from_utf8(out.stdout).ok()
    }

    /// The key paths of a JSON document, in document order, e.g. `cpu_stats.cpu_usage.total_usage`.
    const KEY_PATHS: &str = r#"
import json, sys
def walk(v, p):
    if isinstance(v, dict):
        for k, x in v.items():
            print(p + k); walk(x, p + k + ".")
    elif isinstance(v, list) and v and isinstance(v[0], dict):
        walk(v[0], p + "[].")
for line in sys.stdin.read().splitlines():
    walk(json.loads(line), "")
    print("--")
"#;

    fn fixture_frame(path: &str, n: usize) -> Option<String> {
        let raw = std::fs::read(path).ok()?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let body = text.split_once("\r\n\r\n")?.1;
        body.lines()
            .filter(|l| l.starts_with('{'))
            .nth(n)
            .map(str::to_owned)
    }

    /// `shared/` sits beside the crate (in CI too: a fresh clone with shared/ beside it).
    pub(crate) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures");

    #[test]
    fn v1_frames_have_the_fixture_key_order() {
        let m = model(Cgroup::V1);
        for (idx, fixture, n) in [
            // busy is compared with idle: in the capture, busy's blkio lists had entries only
            // because the writer's throttle rule switched accounting on for the whole disk.
            (0, "docker20-cgv1/docker20-cgv1-idle-stream.http", 1),
            (0, "docker20-cgv1/docker20-cgv1-idle-stream.http", 0),
            (1, "docker20-cgv1/docker20-cgv1-idle-stream.http", 1),
            (2, "docker20-cgv1/docker20-cgv1-memhog-stream.http", 1),
            (4, "docker20-cgv1/docker20-cgv1-forky-stream.http", 1),
            (5, "docker20-cgv1/docker20-cgv1-netidle-stream.http", 1),
        ] {
            let pre = (n > 0).then_some(T0 + SECOND);
            let ours = frame(&m, idx, pre);
            let Some(theirs) = fixture_frame(&format!("{FIXTURES}/{fixture}"), n) else {
                eprintln!("fixture {fixture} not found; skipping the comparison");
                continue;
            };
            let (Some(a), Some(b)) = (
                python(KEY_PATHS, ours.as_bytes()),
                python(KEY_PATHS, theirs.as_bytes()),
            ) else {
                eprintln!("python3 not available; skipping the comparison");
                return;
            };
            assert_eq!(a, b, "key paths differ from {fixture} frame {n}");
        }
    }

    #[test]
    fn v1_writer_blkio_matches_the_fixture_shape() {
        let m = model(Cgroup::V1);
        let ours = frame(&m, 3, Some(T0 + SECOND));
        let path = format!("{FIXTURES}/docker20-cgv1/docker20-cgv1-writer-stream.http");
        if let (Some(theirs), Some(a)) =
            (fixture_frame(&path, 1), python(KEY_PATHS, ours.as_bytes()))
        {
            assert_eq!(Some(a), python(KEY_PATHS, theirs.as_bytes()));
        }
        let ops: Vec<&str> = ours
            .match_indices("\"op\":\"")
            .map(|(i, _)| &ours[i + 6..i + 9])
            .collect();
        assert_eq!(&ops[..6], ["Rea", "Wri", "Syn", "Asy", "Dis", "Tot"]);
        assert!(ours.contains("\"io_queue_recursive\":[]"));
    }

    #[test]
    fn memhog_limits() {
        let m = model(Cgroup::V1);
        let f = frame(&m, 2, None);
        assert!(f.contains(
            "\"hierarchical_memory_limit\":536870912,\"hierarchical_memsw_limit\":1073741824"
        ));
        assert!(f.contains("\"cache\":209715200"));
        assert!(f.contains("\"limit\":536870912},\"name\":\"/memhog-3\""));
    }

    #[test]
    fn v2_frames_have_the_2022_key_order() {
        let m = model(Cgroup::V2);
        let path = format!("{FIXTURES}/frames/docker-2022-cgv2-seed2.json");
        let Ok(theirs) = std::fs::read(&path) else {
            eprintln!("{path} not found; skipping");
            return;
        };
        // The 2022 frame is a container with networking: compare with `net-6`.
        let ours = frame(&m, 5, Some(T0 + SECOND));
        let (Some(a), Some(b)) = (
            python(KEY_PATHS, ours.as_bytes()),
            python(KEY_PATHS, &theirs),
        ) else {
            return;
        };
        assert_eq!(a, b);
        assert!(ours.contains("\"pids_stats\":{\"current\":1,\"limit\":18446744073709551615}"));
        assert!(ours.contains("{\"major\":254,\"minor\":0,\"op\":\"read\",\"value\":249856}"));
        assert!(ours.contains("\"io_serviced_recursive\":null"));
        assert!(!ours.contains("percpu_usage"));
        assert!(!ours.contains("max_usage"));
    }

    #[test]
    fn first_frame_precpu_is_zeroed_like_the_fixture() {
        let m = model(Cgroup::V1);
        let f = frame(&m, 0, None);
        assert!(f.contains("\"preread\":\"0001-01-01T00:00:00Z\""));
        assert!(f.contains(&format!(",\"precpu_stats\":{ZERO_CPU},")));
        if let Some(theirs) = fixture_frame(
            &format!("{FIXTURES}/docker20-cgv1/docker20-cgv1-busy-stream.http"),
            0,
        ) {
            assert!(theirs.contains(&format!(",\"precpu_stats\":{ZERO_CPU},")));
        }
        let later = frame(&m, 0, Some(T0 + SECOND));
        assert!(later.contains("\"preread\":\"2026-11-23T06:55:28.745601815Z\""));
        assert!(later.contains("\"read\":\"2026-11-23T06:55:29.745601815Z\""));
    }

    #[test]
    fn precpu_is_the_previous_cpu_stats() {
        let m = model(Cgroup::V1);
        let t1 = T0 + SECOND;
        let mut a = Vec::new();
        push_frame(&mut a, &m, 0, t1, None, &mut FrameScratch::default());
        let b = frame(&m, 0, Some(t1));
        let a = String::from_utf8(a).unwrap_or_default();
        let cpu_of = |s: &str, key: &str| -> String {
            let start = s.find(key).map_or(0, |i| i + key.len());
            s[start..]
                .split(",\"precpu_stats\"")
                .next()
                .unwrap_or("")
                .split(",\"memory_stats\"")
                .next()
                .unwrap_or("")
                .to_owned()
        };
        assert_eq!(
            cpu_of(&a, "\"cpu_stats\":"),
            cpu_of(&b, "\"precpu_stats\":")
        );
    }

    #[test]
    fn stopped_frame_matches_the_fixture_byte_for_byte() {
        for cg in [Cgroup::V1, Cgroup::V2] {
            let m = model(cg);
            let ours = frame(&m, 6, None);
            let c = &m.containers[6];
            let path = format!("{FIXTURES}/docker20-cgv1/docker20-cgv1-stopped-stream.http");
            let Some(theirs) = fixture_frame(&path, 0) else {
                return;
            };
            let theirs = theirs
                .replace("\"/stopped\"", &format!("\"/{}\"", c.name))
                .replace(
                    "99ae47c47ca35132559206e1e5b4024fa991d778c9df431d2b77847d74cfa546",
                    &c.id,
                );
            assert_eq!(ours, format!("{theirs}\n"));
        }
    }

    #[test]
    fn first_zero_frame_after_a_stop_carries_the_last_cpu_like_the_fixture() {
        use crate::model::Op;
        let pre = T0 + SECOND;
        // The live frame read at `pre`, before the stop.
        let mut fresh = model(Cgroup::V1);
        let live = frame_at(&fresh, 1, pre);
        let mut m = model(Cgroup::V1);
        m.apply(&Op::Stop, "idle-2", pre + 1, &mut Vec::new())
            .expect("stop");
        let ours = frame(&m, 1, Some(pre));
        let c = &m.containers[1];
        let between = |f: &str, from: &str, to: &str| -> String {
            let start = f.find(from).map_or(0, |i| i + from.len());
            let end = f.find(to).unwrap_or(f.len());
            f[start..end].to_owned()
        };
        let precpu = |f: &str| between(f, ",\"precpu_stats\":", ",\"memory_stats\"");
        // The precpu is the live frame's cpu_stats.
        assert_eq!(
            precpu(&ours),
            between(&live, "\"cpu_stats\":", ",\"precpu_stats\"")
        );
        assert!(ours.starts_with(
            "{\"read\":\"0001-01-01T00:00:00Z\",\"preread\":\"2026-11-23T06:55:28.745601815Z\",\"pids_stats\":{},"
        ));
        // Without a previous live frame: the plain zero frame.
        fresh
            .apply(&Op::Stop, "idle-2", T0, &mut Vec::new())
            .expect("stop");
        assert!(frame(&fresh, 1, None).contains("\"preread\":\"0001-01-01T00:00:00Z\""));
        let path = format!("{FIXTURES}/docker20-cgv1/docker20-cgv1-doomed-stop-midstream.http");
        let Some(theirs) = fixture_frame(&path, 3) else {
            return;
        };
        // Byte for byte, once the fixture's name, id, preread and precpu are ours.
        let theirs = theirs
            .replace("\"/doomed\"", &format!("\"/{}\"", c.name))
            .replace(
                "ac561d6ec4e1eb3779298822bb20fa4b6dd6ee16c3307c6f4180a7f4a93944b3",
                &c.id,
            )
            .replace(
                "2026-11-23T06:56:29.194340628Z",
                "2026-11-23T06:55:28.745601815Z",
            )
            .replace(&precpu(&theirs), &precpu(&ours));
        assert_eq!(ours, format!("{theirs}\n"));
    }

    #[test]
    fn frames_are_valid_json_everywhere() {
        for cg in [Cgroup::V1, Cgroup::V2] {
            let m = model(cg);
            let mut all = Vec::new();
            for idx in 0..7 {
                push_frame(&mut all, &m, idx, T0, None, &mut FrameScratch::default());
                push_frame(
                    &mut all,
                    &m,
                    idx,
                    T0 + 3 * SECOND,
                    Some(T0 + 2 * SECOND),
                    &mut FrameScratch::default(),
                );
            }
            let count = all.iter().filter(|&&b| b == b'\n').count();
            assert_eq!(count, 14);
            if let Some(out) = python(
                "import json,sys\nprint(sum(1 for l in sys.stdin if json.loads(l)))",
                &all,
            ) {
                assert_eq!(out.trim(), "14");
            }
        }
    }
}
