//! Parsers of the cgroup and proc files, as the daemon's readers (containerd/cgroups, which
//! dockerd 20.10's containerd shim uses, and dockerd's own collector) take them apart.
//!
//! Each takes the file's bytes and returns `None` for content the kernel does not write;
//! none of them panics or allocates.

use crate::stats::math::{BlockOp, block_op};
use crate::stats::model::NetEntry;
use crate::stats::{BlkioStats, CpuLimit, Pressure, StallLine, Throttling};

/// The kernel's clock ticks per second (`USER_HZ`), as containerd and dockerd hard-code it.
pub(crate) const CLOCK_TICKS: u64 = 100;
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Lines of `b`, without their `\n` (a last line without one included, an empty tail not).
pub(crate) fn lines(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.split(|&c| c == b'\n').filter(move |_| !b.is_empty())
}

/// Fields of a line, split on ASCII whitespace (Go's `strings.Fields`).
pub(crate) fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|c| c.is_ascii_whitespace())
        .filter(|f| !f.is_empty())
}

/// `b` without leading and trailing ASCII whitespace.
pub(crate) fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

/// A decimal `u64` (Go's `strconv.ParseUint(s, 10, 64)`): digits only, no overflow.
pub(crate) fn u64_dec(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    Some(v)
}

/// containerd's `parseUint`: a `u64`, or 0 for a negative number (`-1`).
pub(crate) fn go_uint(b: &[u8]) -> Option<u64> {
    match b.split_first() {
        Some((b'-', rest)) if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => Some(0),
        _ => u64_dec(b),
    }
}

/// A file holding one number (`memory.usage_in_bytes`, `pids.current`, …).
pub(crate) fn single(b: &[u8]) -> Option<u64> {
    go_uint(trim(b))
}

/// A file holding one number or `max` (`memory.max`, `pids.max`): `max` is `u64::MAX`, as
/// containerd reads it.
pub(crate) fn single_or_max(b: &[u8]) -> Option<u64> {
    match trim(b) {
        b"max" => Some(u64::MAX),
        v => go_uint(v),
    }
}

/// `key value` lines (`cpu.stat`, `memory.stat`, `cpuacct.stat`): calls `f` with each key and
/// its number; `None` if a line is not two fields or its value is not a number.
pub(crate) fn kv(b: &[u8], mut f: impl FnMut(&[u8], u64)) -> Option<()> {
    for line in lines(b) {
        let mut it = fields(line);
        let (Some(key), Some(value), None) = (it.next(), it.next(), it.next()) else {
            return None;
        };
        f(key, go_uint(value)?);
    }
    Some(())
}

/// cgroup v1 `cpuacct.stat` (`user N` and `system N` in clock ticks): user and system time in
/// nanoseconds, converted as containerd converts them (Go's wrapping `uint64` arithmetic).
pub(crate) fn cpuacct_stat(b: &[u8]) -> Option<(u64, u64)> {
    let (mut user, mut system) = (None, None);
    kv(b, |k, v| match k {
        b"user" => user = Some(v),
        b"system" => system = Some(v),
        _ => {}
    })?;
    let ns = |ticks: u64| ticks.wrapping_mul(NANOS_PER_SECOND) / CLOCK_TICKS;
    Some((ns(user?), ns(system?)))
}

/// cgroup v1 `cpuacct.usage_percpu`: the number of CPUs listed (each a number).
pub(crate) fn percpu_count(b: &[u8]) -> Option<u32> {
    let mut n = 0u32;
    for f in fields(b) {
        u64_dec(f)?;
        n = n.checked_add(1)?;
    }
    Some(n)
}

/// cgroup v1 `cpu.stat`: `nr_periods`, `nr_throttled`, `throttled_time` (nanoseconds).
pub(crate) fn cpu_stat_v1(b: &[u8]) -> Option<Throttling> {
    let mut t = Throttling::default();
    kv(b, |k, v| match k {
        b"nr_periods" => t.periods = v,
        b"nr_throttled" => t.throttled_periods = v,
        b"throttled_time" => t.throttled_time = v,
        _ => {}
    })?;
    Some(t)
}

/// What cgroup v2 `cpu.stat` gives, in nanoseconds (the daemon multiplies the microseconds
/// by 1000).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CpuV2 {
    pub(crate) usage: u64,
    pub(crate) user: u64,
    pub(crate) system: u64,
    pub(crate) throttling: Throttling,
}

/// cgroup v2 `cpu.stat`.
pub(crate) fn cpu_stat_v2(b: &[u8]) -> Option<CpuV2> {
    let mut c = CpuV2::default();
    kv(b, |k, v| {
        let ns = v.wrapping_mul(1000);
        match k {
            b"usage_usec" => c.usage = ns,
            b"user_usec" => c.user = ns,
            b"system_usec" => c.system = ns,
            b"nr_periods" => c.throttling.periods = v,
            b"nr_throttled" => c.throttling.throttled_periods = v,
            b"throttled_usec" => c.throttling.throttled_time = ns,
            _ => {}
        }
    })?;
    Some(c)
}

/// cgroup v2 `cpu.max` (`max 100000` or `50000 100000`): the limit, `None` for `max`.
pub(crate) fn cpu_max(b: &[u8]) -> Option<Option<CpuLimit>> {
    let mut it = fields(b);
    let (Some(quota), Some(period), None) = (it.next(), it.next(), it.next()) else {
        return None;
    };
    let period_us = u64_dec(period)?;
    if quota == b"max" {
        return Some(None);
    }
    Some(Some(CpuLimit {
        quota_us: u64_dec(quota)?,
        period_us,
    }))
}

/// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`: the limit, `None` for a quota of -1.
pub(crate) fn cfs_limit(quota: &[u8], period: &[u8]) -> Option<Option<CpuLimit>> {
    let period_us = u64_dec(trim(period))?;
    let quota = trim(quota);
    if quota.first() == Some(&b'-') {
        return go_uint(quota).map(|_| None);
    }
    Some(Some(CpuLimit {
        quota_us: u64_dec(quota)?,
        period_us,
    }))
}

/// The `memory.stat` keys a sample keeps: `cache`, `inactive_file`, `total_inactive_file`
/// (0 when absent, as containerd's struct has them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemStat {
    pub(crate) cache: u64,
    pub(crate) inactive_file: u64,
    pub(crate) total_inactive_file: u64,
}

/// `memory.stat`, v1 or v2.
pub(crate) fn memory_stat(b: &[u8]) -> Option<MemStat> {
    let mut m = MemStat::default();
    kv(b, |k, v| match k {
        b"cache" => m.cache = v,
        b"inactive_file" => m.inactive_file = v,
        b"total_inactive_file" => m.total_inactive_file = v,
        _ => {}
    })?;
    Some(m)
}

/// A cgroup v1 blkio list (`8:0 Read 4096` lines, a `Total N` line), as containerd's
/// `readEntry` takes it and docker/cli sums it: added to `out`.
pub(crate) fn blkio_v1(b: &[u8], out: &mut BlkioStats) -> Option<()> {
    for line in lines(b) {
        let mut it = line
            .split(|&c| c == b' ' || c == b':')
            .filter(|f| !f.is_empty());
        let f: [Option<&[u8]>; 5] = [it.next(), it.next(), it.next(), it.next(), it.next()];
        let (op, value) = match f {
            [Some(b"Total"), Some(_), None, ..] => continue,
            [Some(_), Some(_), Some(value), None, _] => (&b""[..], value),
            [Some(_), Some(_), Some(op), Some(value), None] => (op, value),
            _ => return None,
        };
        u64_dec(f[0]?)?;
        u64_dec(f[1]?)?;
        let value = u64_dec(value)?;
        add_entry(out, op, value);
    }
    Some(())
}

fn add_entry(out: &mut BlkioStats, op: &[u8], value: u64) {
    match block_op(op) {
        BlockOp::Read => out.read = out.read.wrapping_add(value),
        BlockOp::Write => out.write = out.write.wrapping_add(value),
        BlockOp::Other => {}
    }
    out.entries = out.entries.saturating_add(1);
}

/// cgroup v2 `io.stat` (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`), as containerd
/// reads it and the daemon turns each device into a `read` and a `write` entry. Like
/// containerd, a line without a device is skipped and a device that is not a number ends the
/// list.
pub(crate) fn io_stat(b: &[u8]) -> BlkioStats {
    let mut out = BlkioStats::default();
    for line in b.split(|&c| c == b'\n') {
        let mut parts = line.split(|&c| c == b' ');
        let (Some(dev), Some(_)) = (parts.next(), parts.clone().next()) else {
            continue;
        };
        let mut majmin = dev.split(|&c| c == b':');
        let (Some(major), Some(minor), None) = (majmin.next(), majmin.next(), majmin.next()) else {
            continue;
        };
        if u64_dec(major).is_none() || u64_dec(minor).is_none() {
            return out;
        }
        let (mut rbytes, mut wbytes) = (0, 0);
        for kv in parts {
            let mut it = kv.split(|&c| c == b'=');
            let (Some(k), Some(v), None) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let Some(v) = u64_dec(v) else { continue };
            match k {
                b"rbytes" => rbytes = v,
                b"wbytes" => wbytes = v,
                _ => {}
            }
        }
        add_entry(&mut out, b"read", rbytes);
        add_entry(&mut out, b"write", wbytes);
    }
    out
}

/// A pressure file (`some avg10=0.00 avg60=0.00 avg300=0.00 total=0`, and a `full` line
/// since Linux 5.2 for memory and io, 5.13 for cpu), as Documentation/accounting/psi.rst
/// gives it.
pub(crate) fn pressure(b: &[u8]) -> Option<Pressure> {
    let (mut some, mut full) = (None, None);
    for line in lines(b) {
        let mut it = fields(line);
        let kind = it.next()?;
        let mut stall = StallLine::default();
        let (mut avg10, mut total) = (false, false);
        for f in it {
            let eq = f.iter().position(|&c| c == b'=')?;
            let (k, v) = (&f[..eq], &f[eq + 1..]);
            match k {
                b"avg10" => {
                    stall.avg10 = hundredths(v)?;
                    avg10 = true;
                }
                b"avg60" | b"avg300" => {
                    hundredths(v)?;
                }
                b"total" => {
                    stall.total_us = u64_dec(v)?;
                    total = true;
                }
                _ => return None,
            }
        }
        if !(avg10 && total) {
            return None;
        }
        match kind {
            b"some" if some.is_none() => some = Some(stall),
            b"full" if full.is_none() => full = Some(stall),
            _ => return None,
        }
    }
    Some(Pressure { some: some?, full })
}

/// `12.34` as 1234 (the kernel prints `%lu.%02lu`).
fn hundredths(v: &[u8]) -> Option<u32> {
    let dot = v.iter().position(|&c| c == b'.')?;
    let (int, frac) = (&v[..dot], &v[dot + 1..]);
    if frac.len() != 2 {
        return None;
    }
    let int = u32::try_from(u64_dec(int)?).ok()?;
    let frac = u32::try_from(u64_dec(frac)?).ok()?;
    int.checked_mul(100)?.checked_add(frac)
}

/// `<proc>/<pid>/net/dev`: every interface but `lo`, its name as offsets into `b`, sorted by
/// name (the daemon's JSON object has its keys in that order), into `out`.
///
/// The counters are the kernel's `rtnl_link_stats64` as the daemon reads them over netlink,
/// except that the file's receive `drop` column adds `rx_missed_errors` (0 for veth).
pub(crate) fn net_dev(b: &[u8], out: &mut Vec<NetEntry>) -> Option<()> {
    out.clear();
    let mut offset = 0usize;
    for (i, line) in b.split_inclusive(|&c| c == b'\n').enumerate() {
        let start = offset;
        offset += line.len();
        if i < 2 {
            continue;
        }
        let colon = line.iter().position(|&c| c == b':')?;
        let name = trim(&line[..colon]);
        if name.is_empty() {
            return None;
        }
        let lead = line[..colon].len() - line[..colon].trim_ascii_start().len();
        let name_start = start + lead;
        let name_end = name_start + name.len();
        let mut n = [0u64; 16];
        let mut it = fields(&line[colon + 1..]);
        for slot in &mut n {
            *slot = u64_dec(it.next()?)?;
        }
        if it.next().is_some() {
            return None;
        }
        if name == b"lo" {
            continue;
        }
        out.push(NetEntry {
            name_start: u32::try_from(name_start).ok()?,
            name_end: u32::try_from(name_end).ok()?,
            counters: [n[0], n[1], n[2], n[3], n[8], n[9], n[10], n[11]],
        });
    }
    out.sort_unstable_by(|a, c| {
        let name = |e: &NetEntry| &b[e.name_start as usize..e.name_end as usize];
        name(a).cmp(name(c))
    });
    Some(())
}

/// `<proc>/stat` as dockerd's `getSystemCPUUsage` reads it: the `cpu` line's first seven
/// fields summed, times 1e9 / `CLK_TCK` (Go's wrapping arithmetic); and the `cpuN` lines
/// counted (the online CPUs).
pub(crate) fn proc_stat(b: &[u8]) -> Option<(u64, u32)> {
    let mut usage = None;
    let mut cpus = 0u32;
    for line in lines(b) {
        let mut it = fields(line);
        let Some(first) = it.next() else { continue };
        if first == b"cpu" {
            if usage.is_some() {
                return None;
            }
            let mut ticks = 0u64;
            for _ in 0..7 {
                ticks = ticks.wrapping_add(u64_dec(it.next()?)?);
            }
            usage = Some(ticks.wrapping_mul(NANOS_PER_SECOND) / CLOCK_TICKS);
        } else if let Some(n) = first.strip_prefix(b"cpu") {
            if u64_dec(n).is_some() {
                cpus = cpus.checked_add(1)?;
            }
        }
    }
    Some((usage?, cpus))
}

/// `MemTotal` of `<proc>/meminfo` in bytes, as the daemon's `system.ReadMemInfo` gives it.
pub(crate) fn mem_total(b: &[u8]) -> Option<u64> {
    for line in lines(b) {
        let mut it = fields(line);
        if it.next() == Some(b"MemTotal:") {
            let v = u64_dec(it.next()?)?;
            return match it.next() {
                Some(b"kB") => v.checked_mul(1024),
                None => Some(v),
                Some(_) => None,
            };
        }
    }
    None
}
