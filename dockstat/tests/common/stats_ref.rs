//! The reference path for the frame decoder: serde_json's `Value`, and the fields and
//! docker/cli formulas written out again from the Go source, independently of the library.
//! Also the decoder's documented semantics for odd input: a missing or `null` counter is 0
//! (or absent, where absence means something), a counter of another type is an error, and a
//! repeated key is last-wins (as in serde_json's map).

#![allow(dead_code)]

use dockstat::stats::{Derived, Timestamp};
use serde_json::Value;

/// The values the decoder reports, from the reference path.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    pub id: String,
    pub name: String,
    pub read: Timestamp,
    pub preread: Timestamp,
    pub total_inactive_file: Option<u64>,
    pub inactive_file: Option<u64>,
    pub cache: Option<u64>,
    pub max_usage: Option<u64>,
    pub pids_limit: Option<u64>,
    pub blkio_entries: u32,
    pub networks: Vec<(String, [u64; 8])>,
    /// cpu_stats then precpu_stats: usage_in_usermode, usage_in_kernelmode, and
    /// throttling_data's periods, throttled_periods, throttled_time.
    pub cpu_split: [[u64; 5]; 2],
    pub derived: Derived,
}

/// A frame whose fields the decoder reads are not of the types it expects.
#[derive(Debug)]
pub struct Mistyped;

fn counter(v: Option<&Value>) -> Result<Option<u64>, Mistyped> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or(Mistyped),
    }
}

fn count(v: &Value, key: &str) -> Result<u64, Mistyped> {
    Ok(counter(v.get(key))?.unwrap_or(0))
}

fn object(v: Option<&Value>) -> Result<Option<&serde_json::Map<String, Value>>, Mistyped> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(Mistyped),
    }
}

fn timestamp(v: Option<&Value>) -> Result<Timestamp, Mistyped> {
    match v {
        None | Some(Value::Null) => Ok(Timestamp::ZERO),
        Some(Value::String(s)) => Timestamp::parse(s.as_bytes()).ok_or(Mistyped),
        Some(_) => Err(Mistyped),
    }
}

fn string(v: Option<&Value>) -> Result<String, Mistyped> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Mistyped),
    }
}

struct Cpu {
    total: u64,
    percpu: usize,
    system: u64,
    online: u64,
    /// user, kernel, periods, throttled periods, throttled time.
    split: [u64; 5],
}

fn cpu(v: Option<&Value>) -> Result<Cpu, Mistyped> {
    let empty = serde_json::Map::new();
    let m = object(v)?.unwrap_or(&empty);
    let usage = object(m.get("cpu_usage"))?.unwrap_or(&empty);
    let percpu = match usage.get("percpu_usage") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(a)) => {
            for e in a {
                counter(Some(e))?;
            }
            a.len()
        }
        Some(_) => return Err(Mistyped),
    };
    let online = count(&Value::Object(m.clone()), "online_cpus")?;
    if online > u64::from(u32::MAX) {
        return Err(Mistyped);
    }
    let throttling = object(m.get("throttling_data"))?.unwrap_or(&empty);
    Ok(Cpu {
        total: counter(usage.get("total_usage"))?.unwrap_or(0),
        percpu,
        system: counter(m.get("system_cpu_usage"))?.unwrap_or(0),
        online,
        split: [
            counter(usage.get("usage_in_usermode"))?.unwrap_or(0),
            counter(usage.get("usage_in_kernelmode"))?.unwrap_or(0),
            counter(throttling.get("periods"))?.unwrap_or(0),
            counter(throttling.get("throttled_periods"))?.unwrap_or(0),
            counter(throttling.get("throttled_time"))?.unwrap_or(0),
        ],
    })
}

/// What the decoder and `derive(Linux)` must report for `frame`.
pub fn expected(frame: &Value) -> Result<Expected, Mistyped> {
    let top = object(Some(frame))?.ok_or(Mistyped)?;
    let empty = serde_json::Map::new();
    let now = cpu(top.get("cpu_stats"))?;
    let pre = cpu(top.get("precpu_stats"))?;

    let mem = object(top.get("memory_stats"))?.unwrap_or(&empty);
    let usage = counter(mem.get("usage"))?.unwrap_or(0);
    let limit = counter(mem.get("limit"))?.unwrap_or(0);
    let max_usage = counter(mem.get("max_usage"))?;
    let stats = object(mem.get("stats"))?.unwrap_or(&empty);
    // A Go map: a `null` counter is there, as 0.
    let map_counter = |key: &str| match stats.get(key) {
        Some(Value::Null) => Ok(Some(0)),
        v => counter(v),
    };
    let total_inactive_file = map_counter("total_inactive_file")?;
    let inactive_file = map_counter("inactive_file")?;
    let cache = map_counter("cache")?;

    let pids = object(top.get("pids_stats"))?.unwrap_or(&empty);
    let pids_current = counter(pids.get("current"))?.unwrap_or(0);
    let pids_limit = counter(pids.get("limit"))?;

    let (mut block_read, mut block_write, mut blkio_entries) = (0u64, 0u64, 0u32);
    let blkio = object(top.get("blkio_stats"))?.unwrap_or(&empty);
    match blkio.get("io_service_bytes_recursive") {
        None | Some(Value::Null) => {}
        Some(Value::Array(entries)) => {
            for e in entries {
                blkio_entries += 1;
                let e = object(Some(e))?.unwrap_or(&empty);
                let op = string(e.get("op"))?;
                let value = counter(e.get("value"))?.unwrap_or(0);
                // Bytes only: `read` and `write` in any case (docker's first-letter rule
                // agrees on Docker's ops, and would count Podman's `rios`/`wios` too).
                if op.eq_ignore_ascii_case("read") {
                    block_read = block_read.wrapping_add(value);
                } else if op.eq_ignore_ascii_case("write") {
                    block_write = block_write.wrapping_add(value);
                }
            }
        }
        Some(_) => return Err(Mistyped),
    }

    let mut networks = Vec::new();
    // docker/cli adds them as float64: no wrap at 2^64 (exact here, up to u64::MAX).
    let (mut rx, mut tx) = (0u128, 0u128);
    if let Some(nets) = object(top.get("networks"))? {
        for (name, n) in nets {
            let n = object(Some(n))?.unwrap_or(&empty);
            let mut c = [0u64; 8];
            for (i, k) in [
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
            .enumerate()
            {
                c[i] = counter(n.get(*k))?.unwrap_or(0);
            }
            rx += u128::from(c[0]);
            tx += u128::from(c[4]);
            networks.push((name.clone(), c));
        }
    }
    let num_procs = counter(top.get("num_procs"))?.unwrap_or(0);
    if num_procs > u64::from(u32::MAX) {
        return Err(Mistyped);
    }
    if let Some(storage) = object(top.get("storage_stats"))? {
        for k in [
            "read_count_normalized",
            "read_size_bytes",
            "write_count_normalized",
            "write_size_bytes",
        ] {
            counter(storage.get(k))?;
        }
    }

    // docker/cli stats_helpers.go.
    let online = if now.online == 0 {
        now.percpu as f64
    } else {
        now.online as f64
    };
    let cpu_delta = now.total as f64 - pre.total as f64;
    let system_delta = now.system as f64 - pre.system as f64;
    let cpu_percent = if system_delta > 0.0 && cpu_delta > 0.0 {
        (cpu_delta / system_delta) * online * 100.0
    } else {
        0.0
    };
    let mem_used = match total_inactive_file {
        Some(v) if v < usage => (usage - v) as f64,
        _ => {
            let v = inactive_file.unwrap_or(0);
            if v < usage {
                (usage - v) as f64
            } else {
                usage as f64
            }
        }
    };
    let mem_limit = limit as f64;
    let read = timestamp(top.get("read"))?;
    let preread = timestamp(top.get("preread"))?;
    let derived = Derived {
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
        mem_limit,
        mem_percent: if mem_limit != 0.0 {
            mem_used / mem_limit * 100.0
        } else {
            0.0
        },
        net_rx: u64::try_from(rx).unwrap_or(u64::MAX),
        net_tx: u64::try_from(tx).unwrap_or(u64::MAX),
        block_read,
        block_write,
        pids: pids_current,
        warmup: preread.is_zero() && pre.total == 0 && pre.system == 0,
        stopped: read.is_zero(),
        interval_nanos: if preread.is_zero() || read.is_zero() {
            0
        } else {
            u64::try_from(read.nanos_since(preread)).unwrap_or(0)
        },
    };
    Ok(Expected {
        id: string(top.get("id"))?,
        name: string(top.get("name"))?,
        read,
        preread,
        total_inactive_file,
        inactive_file,
        cache,
        max_usage,
        pids_limit,
        blkio_entries,
        networks,
        cpu_split: [now.split, pre.split],
        derived,
    })
}

/// What the decoder reported, in the same form.
pub fn actual(s: &dockstat::stats::Sample<'_>, d: &Derived) -> Expected {
    let mut networks: Vec<(String, [u64; 8])> = s
        .networks
        .iter()
        .map(|n| {
            (
                n.name.to_string(),
                [
                    n.rx_bytes,
                    n.rx_packets,
                    n.rx_errors,
                    n.rx_dropped,
                    n.tx_bytes,
                    n.tx_packets,
                    n.tx_errors,
                    n.tx_dropped,
                ],
            )
        })
        .collect();
    networks.sort_by(|a, b| a.0.cmp(&b.0));
    Expected {
        id: s.id.to_string(),
        name: s.name.to_string(),
        read: s.read,
        preread: s.preread,
        total_inactive_file: s.memory.total_inactive_file,
        inactive_file: s.memory.inactive_file,
        cache: s.memory.cache,
        max_usage: s.memory.max_usage,
        pids_limit: s.pids.limit,
        blkio_entries: s.blkio.entries,
        networks,
        cpu_split: [&s.cpu, &s.precpu].map(|c| {
            [
                c.user_usage,
                c.system_usage,
                c.throttling.periods,
                c.throttling.throttled_periods,
                c.throttling.throttled_time,
            ]
        }),
        derived: *d,
    }
}
