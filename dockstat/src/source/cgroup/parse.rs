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

/// The parent's pid from `<proc>/<pid>/stat` (`pid (comm) state ppid …`; the command may
/// hold spaces and parentheses, so fields count from the last `)`).
pub(crate) fn ppid(b: &[u8]) -> Option<u32> {
    let close = b.iter().rposition(|&c| c == b')')?;
    let mut it = fields(&b[close + 1..]);
    it.next()?;
    u32::try_from(u64_dec(it.next()?)?).ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_as_go_parses_them() {
        assert_eq!(single(b"123\n"), Some(123));
        assert_eq!(single(b"18446744073709551615\n"), Some(u64::MAX));
        assert_eq!(single(b"18446744073709551616\n"), None);
        assert_eq!(single(b"-1\n"), Some(0));
        assert_eq!(single(b"-\n"), None);
        assert_eq!(single(b"+1\n"), None);
        assert_eq!(single(b""), None);
        assert_eq!(single(b"1 2"), None);
        assert_eq!(single_or_max(b"max\n"), Some(u64::MAX));
        assert_eq!(single_or_max(b"4096\n"), Some(4096));
    }

    #[test]
    fn cpu_files() {
        // Ticks to nanoseconds as containerd does it, wrapping as Go's uint64 does.
        assert_eq!(
            cpuacct_stat(b"user 573\nsystem 169\n"),
            Some((5_730_000_000, 1_690_000_000))
        );
        assert_eq!(
            cpuacct_stat(b"system 1\nuser 2\n"),
            Some((20_000_000, 10_000_000))
        );
        assert_eq!(cpuacct_stat(b"user 1\n"), None);
        let big = u64::MAX / 1000;
        let text = format!("user {big}\nsystem 0\n");
        assert_eq!(
            cpuacct_stat(text.as_bytes()).unwrap().0,
            big.wrapping_mul(1_000_000_000) / 100
        );
        assert_eq!(percpu_count(b"1 2 3 4 \n"), Some(4));
        assert_eq!(percpu_count(b"\n"), Some(0));
        assert_eq!(percpu_count(b"1 x\n"), None);
        assert_eq!(
            cpu_stat_v1(b"nr_periods 5\nnr_throttled 2\nthrottled_time 300\nnr_bursts 0\n"),
            Some(Throttling {
                periods: 5,
                throttled_periods: 2,
                throttled_time: 300
            })
        );
        let c = cpu_stat_v2(
            b"usage_usec 10\nuser_usec 7\nsystem_usec 3\nnr_periods 4\nnr_throttled 1\n\
              throttled_usec 9\nnr_bursts 0\nburst_usec 0\n",
        )
        .unwrap();
        assert_eq!((c.usage, c.user, c.system), (10_000, 7_000, 3_000));
        assert_eq!(c.throttling.throttled_time, 9_000);
        assert_eq!(cpu_max(b"max 100000\n"), Some(None));
        assert_eq!(
            cpu_max(b"50000 100000\n"),
            Some(Some(CpuLimit {
                quota_us: 50_000,
                period_us: 100_000
            }))
        );
        assert_eq!(cpu_max(b"max\n"), None);
        assert_eq!(cfs_limit(b"-1\n", b"100000\n"), Some(None));
        assert_eq!(
            cfs_limit(b"150000\n", b"100000\n"),
            Some(Some(CpuLimit {
                quota_us: 150_000,
                period_us: 100_000
            }))
        );
        assert_eq!(cfs_limit(b"x\n", b"100000\n"), None);
    }

    #[test]
    fn blkio_lists() {
        let mut b = BlkioStats::default();
        blkio_v1(
            b"8:0 Read 100\n8:0 Write 20\n8:0 Sync 5\n8:0 Async 115\n8:0 Discard 0\n8:0 Total 120\n\
              8:16 Read 1\n8:16 Write 2\n8:16 Total 3\nTotal 123\n",
            &mut b,
        )
        .unwrap();
        assert_eq!(
            b,
            BlkioStats {
                read: 101,
                write: 22,
                entries: 9
            }
        );
        let mut b = BlkioStats::default();
        blkio_v1(b"Total 0\n", &mut b).unwrap();
        assert_eq!(b, BlkioStats::default());
        // sectors_recursive's lines have no op.
        let mut b = BlkioStats::default();
        blkio_v1(b"8:0 1024\n", &mut b).unwrap();
        assert_eq!(b.entries, 1);
        assert_eq!(blkio_v1(b"8:0 Read\n", &mut b), None);
        assert_eq!(blkio_v1(b"x:0 Read 1\n", &mut b), None);
        assert_eq!(
            io_stat(
                b"254:0 rbytes=249856 wbytes=12288 rios=17 wios=3 dbytes=0 dios=0\n\
                  8:0 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n"
            ),
            BlkioStats {
                read: 249_857,
                write: 12_290,
                entries: 4
            }
        );
        // containerd: a line without a device is skipped, a device not a number ends it.
        assert_eq!(io_stat(b"\n\nx\n").entries, 0);
        assert_eq!(
            io_stat(b"8:0 rbytes=1\nx:y rbytes=5\n8:1 rbytes=7\n").read,
            1
        );
    }

    #[test]
    fn pressure_lines() {
        let p = pressure(
            b"some avg10=12.34 avg60=1.00 avg300=0.10 total=9876543\n\
              full avg10=0.05 avg60=0.00 avg300=0.00 total=1000\n",
        )
        .unwrap();
        assert_eq!(
            p.some,
            StallLine {
                avg10: 1234,
                total_us: 9_876_543
            }
        );
        assert_eq!(
            p.full,
            Some(StallLine {
                avg10: 5,
                total_us: 1000
            })
        );
        // cpu.pressure before Linux 5.13: no full line.
        let p = pressure(b"some avg10=100.00 avg60=0.00 avg300=0.00 total=1\n").unwrap();
        assert_eq!((p.some.avg10, p.full), (10_000, None));
        for bad in [
            &b""[..],
            b"full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
            b"some avg10=0.0 avg60=0.00 avg300=0.00 total=0\n",
            b"some avg10=0.00 avg60=0.00 avg300=0.00\n",
            b"some avg10=0.00 total=0\nsome avg10=0.00 total=0\n",
            b"weird avg10=0.00 total=0\n",
        ] {
            assert_eq!(pressure(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn net_dev_lines() {
        let text = b"Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n\
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0\n\
  eth1:     648       8    1    2   11    12         13        14      700       9    3    4   15    16      17         18\n\
  eth0: 117457     393    0    0    0     0          0         0    76077     261    0    0    0     0       0          0\n";
        let mut out = Vec::new();
        net_dev(text, &mut out).unwrap();
        let names: Vec<&[u8]> = out
            .iter()
            .map(|e| &text[e.name_start as usize..e.name_end as usize])
            .collect();
        assert_eq!(names, [&b"eth0"[..], b"eth1"]);
        assert_eq!(out[0].counters, [117_457, 393, 0, 0, 76_077, 261, 0, 0]);
        assert_eq!(out[1].counters, [648, 8, 1, 2, 700, 9, 3, 4]);
        assert_eq!(net_dev(b"", &mut out), Some(()));
        assert!(out.is_empty());
        assert_eq!(net_dev(b"h\nh\n  eth0 1 2\n", &mut out), None);
        assert_eq!(net_dev(b"h\nh\n  eth0: 1 2\n", &mut out), None);
    }

    #[test]
    fn proc_files() {
        let stat = b"cpu  100 0 50 1000 3 2 1 77 55 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n\
                     cpu1 1 0 1 1 0 0 0 0 0 0\nintr 1 2\nctxt 9\n";
        assert_eq!(proc_stat(stat), Some((1156 * 10_000_000, 2)));
        assert_eq!(proc_stat(b"cpu 1 2 3 4 5 6\n"), None);
        assert_eq!(proc_stat(b"intr 1\n"), None);
        assert_eq!(
            mem_total(b"MemTotal:       24683664 kB\nMemFree: 1 kB\n"),
            Some(25_276_071_936)
        );
        assert_eq!(mem_total(b"MemFree: 1 kB\n"), None);
        assert_eq!(ppid(b"4242 (sleep) S 4200 4242 4242 0 -1\n"), Some(4200));
        assert_eq!(ppid(b"7 (a) b) c) R 1 7 7\n"), Some(1));
        assert_eq!(ppid(b"7 (sleep\n"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Nothing read from a file panics, whatever its bytes.
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = single(&b);
            let _ = single_or_max(&b);
            let _ = cpuacct_stat(&b);
            let _ = percpu_count(&b);
            let _ = cpu_stat_v1(&b);
            let _ = cpu_stat_v2(&b);
            let _ = cpu_max(&b);
            let _ = cfs_limit(&b, &b);
            let _ = memory_stat(&b);
            let _ = blkio_v1(&b, &mut BlkioStats::default());
            let _ = io_stat(&b);
            let _ = pressure(&b);
            let mut out = Vec::new();
            if net_dev(&b, &mut out).is_some() {
                for e in &out {
                    prop_assert!(e.name_start <= e.name_end);
                    prop_assert!((e.name_end as usize) <= b.len());
                }
            }
            let _ = proc_stat(&b);
            let _ = mem_total(&b);
            let _ = ppid(&b);
        }

        /// The same for text shaped like the kernel's: keys, numbers, separators.
        #[test]
        fn kernel_shaped_text_never_panics(
            b in "([a-z_0-9]{0,12}[ =:.\n-]{0,2}){0,40}"
        ) {
            let b = b.as_bytes();
            let _ = cpuacct_stat(b);
            let _ = cpu_stat_v2(b);
            let _ = cpu_max(b);
            let _ = blkio_v1(b, &mut BlkioStats::default());
            let _ = io_stat(b);
            let _ = pressure(b);
            let _ = net_dev(b, &mut Vec::new());
            let _ = proc_stat(b);
        }

        /// Pressure lines as the kernel prints them read back exactly.
        #[test]
        fn pressure_round_trips(
            avg in 0u32..=10_000, a60 in 0u32..=10_000, total in any::<u64>(), full in any::<bool>()
        ) {
            let line = |kind: &str| format!(
                "{kind} avg10={}.{:02} avg60={}.{:02} avg300=0.00 total={total}\n",
                avg / 100, avg % 100, a60 / 100, a60 % 100,
            );
            let mut text = line("some");
            if full {
                text.push_str(&line("full"));
            }
            let p = pressure(text.as_bytes()).unwrap();
            let stall = StallLine { avg10: avg, total_us: total };
            prop_assert_eq!(p.some, stall);
            prop_assert_eq!(p.full, full.then_some(stall));
        }
    }
}
