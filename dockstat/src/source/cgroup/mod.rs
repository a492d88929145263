//! The cgroupfs source: one container's numbers from its cgroup files (v1 and v2) and its
//! network namespace, as the daemon computes its stats frames from them.
//!
//! Files are opened once and read with `pread` at offset 0 into buffers kept between passes,
//! so a sample costs a few system calls and no allocation after the first.
//!
//! What is read, and how it maps onto the daemon's frame (dockerd 20.10 gets its numbers
//! from containerd's shim, which reads them with containerd/cgroups):
//!
//! | frame field | cgroup v1 | cgroup v2 |
//! |---|---|---|
//! | `cpu_usage.total_usage` | `cpuacct.usage` | `cpu.stat` `usage_usec` × 1000 |
//! | `percpu_usage` (count) | `cpuacct.usage_percpu` | none |
//! | `usage_in_usermode` / `kernelmode` | `cpuacct.stat` ticks × 1e9 / 100 | `user_usec` / `system_usec` × 1000 |
//! | `throttling_data` | `cpu.stat` | `cpu.stat` (`throttled_usec` × 1000) |
//! | CPU limit | `cpu.cfs_quota_us` / `cpu.cfs_period_us` | `cpu.max` |
//! | `memory_stats.usage` | `memory.usage_in_bytes` | `memory.current` |
//! | `max_usage` | `memory.max_usage_in_bytes` | none |
//! | `limit` | `memory.limit_in_bytes` | `memory.max` |
//! | `stats.cache`, `inactive_file`, `total_inactive_file` | `memory.stat` | `memory.stat` (`inactive_file`) |
//! | `blkio_stats.io_service_bytes_recursive` | `blkio.io_service_bytes_recursive` (CFQ), else `blkio.throttle.io_service_bytes` | `io.stat` `rbytes` / `wbytes` |
//! | `pids_stats` | `pids.current`, `pids.max` | `pids.current`, `pids.max` |
//! | `networks` | `<proc>/<pid>/net/dev`, every interface but `lo` | the same |
//! | `system_cpu_usage`, `online_cpus` | `<proc>/stat` | the same |
//! | pressure | none | `cpu.pressure`, `memory.pressure`, `io.pressure` |
//!
//! As the daemon does, a memory limit above the machine's memory (`MemTotal` of
//! `<proc>/meminfo`, read once) is reported as the machine's memory; `max_usage` and a pids
//! limit of 0 (v1's `max`) are left out as the frame's `omitempty` leaves them out, and v2's
//! `pids.max` of `max` is `u64::MAX`. `online_cpus` counts `<proc>/stat`'s `cpuN` lines (the
//! online CPUs; dockerd 20.10 counts its own CPU affinity, the same unless it was pinned).
//! A container whose init process shares its parent's (the runtime shim's, the daemon's)
//! network namespace is on the host's network: the daemon reports no interfaces for it, and
//! neither does the reader.
//!
//! A reader keeps its files open: up to 15 on cgroup v1 (13 where CFQ is not in use), up to
//! 11 on v2, and `net/dev`.
//! A pass is one `pread` per file and one `fstat` (a cgroup copied to a plain file system
//! and removed still reads; its files' link count says it is gone).
//!
//! Errors are [`ErrorKind::Cgroup`], their context the file: ENOENT, ENODEV (a removed
//! cgroup's open file) or ESRCH is [`CgroupError::Vanished`]; EACCES or EPERM
//! [`CgroupError::Permission`]; no hierarchy for the process under the root, or a process
//! outside this process's cgroup namespace, [`CgroupError::NotFound`]; content the kernel
//! does not write (or a file over 4 MiB) [`CgroupError::Malformed`]; any other read error
//! [`CgroupError::Unreadable`].

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{CgroupError, Error, ErrorKind, Result};
use crate::stats::model::NetEntry;
use crate::stats::{
    BlkioStats, CpuLimit, CpuStats, MemoryStats, Networks, PidsStats, Pressures, Sample, Source,
    Timestamp,
};

mod parse;
mod paths;

/// Where the host's cgroup hierarchies and `/proc` are, as this process sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roots {
    /// `/sys/fs/cgroup`, or where the host's is mounted.
    pub cgroup: PathBuf,
    /// `/proc`, or where the host's is mounted.
    pub proc: PathBuf,
}

/// A container's cgroup directories, under [`Roots::cgroup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CgroupPaths {
    /// cgroup v1: one directory per controller hierarchy. `blkio` and `pids` are empty when
    /// the host does not mount that controller (their numbers then read as zero).
    V1 {
        cpu: PathBuf,
        cpuacct: PathBuf,
        memory: PathBuf,
        blkio: PathBuf,
        pids: PathBuf,
    },
    /// cgroup v2: the one unified directory.
    V2 { dir: PathBuf },
}

impl CgroupPaths {
    /// The cgroups of process `pid` (a container's init process), from `<proc>/<pid>/cgroup`,
    /// found under `roots.cgroup` (cgroupfs and systemd drivers alike).
    ///
    /// cgroup v2 when `roots.cgroup` has a `cgroup.controllers` file (the unified hierarchy
    /// is mounted there): the `0::/path` line. Otherwise cgroup v1: for each controller the
    /// line naming it, under the mount named after it or after the line's joined controllers
    /// (`cpu,cpuacct`).
    pub fn of_pid(roots: &Roots, pid: u32) -> Result<CgroupPaths> {
        paths::of_pid(roots, pid)
    }
}

/// The host's CPU counters as the daemon reads them for `system_cpu_usage` and
/// `online_cpus`: `<proc>/stat`, read once per pass and shared by every container's sample.
#[derive(Debug)]
pub struct HostCpu {
    /// Sum of the `cpu` line's first seven fields, in nanoseconds.
    pub system_cpu_usage: u64,
    /// The number of `cpuN` lines.
    pub online_cpus: u32,
    stat: Reader,
    /// `MemTotal` in bytes (0: unknown), the daemon's cap on memory limits.
    mem_total: u64,
}

impl HostCpu {
    /// Opens `<proc>/stat` and reads it once (and `<proc>/meminfo`, once).
    pub fn open(roots: &Roots) -> Result<HostCpu> {
        let stat = Reader::open(roots.proc.join("stat"), 4096)?;
        let meminfo = roots.proc.join("meminfo");
        let mem_total = match std::fs::read(&meminfo) {
            Ok(b) => parse::mem_total(&b).unwrap_or(0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_error(e, &meminfo)),
        };
        let mut host = HostCpu {
            system_cpu_usage: 0,
            online_cpus: 0,
            stat,
            mem_total,
        };
        host.read()?;
        Ok(host)
    }

    /// Reads the counters again.
    pub fn read(&mut self) -> Result<()> {
        let (usage, cpus) =
            parse::proc_stat(self.stat.read()?).ok_or_else(|| self.stat.malformed())?;
        self.system_cpu_usage = usage;
        self.online_cpus = cpus;
        Ok(())
    }
}

/// One container's open cgroup files, read into a [`Sample`] per pass.
#[derive(Debug)]
pub struct CgroupReader {
    files: Files,
    /// `<proc>/<pid>/net/dev`; `None` for a container in the host's network namespace.
    net: Option<Reader>,
    net_entries: Vec<NetEntry>,
    id: Box<str>,
    name: Box<str>,
    /// The previous pass: `preread` and `precpu` of the next.
    prev_read: Timestamp,
    prev_cpu: CpuStats,
}

#[derive(Debug)]
enum Files {
    V1(Box<V1>),
    V2(Box<V2>),
}

#[derive(Debug)]
struct V1 {
    cpuacct_usage: Reader,
    cpuacct_percpu: Reader,
    cpuacct_stat: Reader,
    cpu_stat: Reader,
    cfs_quota: Option<Reader>,
    cfs_period: Option<Reader>,
    mem_usage: Reader,
    mem_max_usage: Option<Reader>,
    mem_limit: Reader,
    mem_stat: Reader,
    /// `blkio.io_service_bytes_recursive` and `blkio.io_serviced_recursive`, when the
    /// kernel has CFQ's files (containerd's test: the second exists).
    cfq: Option<(Reader, Reader)>,
    /// `blkio.throttle.io_service_bytes`: containerd's list when CFQ's are absent or empty.
    throttle: Option<Reader>,
    pids_current: Option<Reader>,
    pids_max: Option<Reader>,
}

#[derive(Debug)]
struct V2 {
    cpu_stat: Reader,
    cpu_max: Option<Reader>,
    mem_current: Reader,
    mem_max: Option<Reader>,
    mem_stat: Reader,
    io_stat: Option<Reader>,
    pids_current: Option<Reader>,
    pids_max: Option<Reader>,
    cpu_pressure: Option<Reader>,
    memory_pressure: Option<Reader>,
    io_pressure: Option<Reader>,
}

/// The numbers of one pass, before they are lent out as a [`Sample`].
#[derive(Default)]
struct Pass {
    cpu: CpuStats,
    memory: MemoryStats,
    pids: PidsStats,
    blkio: BlkioStats,
    pressure: Pressures,
    cpu_limit: Option<CpuLimit>,
}

impl CgroupReader {
    /// Opens the files of `paths` and `<proc>/<pid>/net/dev`; `id` and `name` (with its
    /// leading `/`) are the sample's.
    pub fn open(
        roots: &Roots,
        paths: &CgroupPaths,
        pid: u32,
        id: &str,
        name: &str,
    ) -> Result<CgroupReader> {
        let files = match paths {
            CgroupPaths::V1 {
                cpu,
                cpuacct,
                memory,
                blkio,
                pids,
            } => {
                // A hierarchy the host does not mount (an empty path) has none of its files.
                let optional = |dir: &Path, name: &str, capacity| {
                    if dir.as_os_str().is_empty() {
                        Ok(None)
                    } else {
                        Reader::open_optional(dir.join(name), capacity)
                    }
                };
                let cfq = match optional(blkio, "blkio.io_serviced_recursive", 256)? {
                    Some(serviced) => optional(blkio, "blkio.io_service_bytes_recursive", 256)?
                        .map(|bytes| (bytes, serviced)),
                    None => None,
                };
                Files::V1(Box::new(V1 {
                    cpuacct_usage: Reader::open(cpuacct.join("cpuacct.usage"), 32)?,
                    cpuacct_percpu: Reader::open(cpuacct.join("cpuacct.usage_percpu"), 256)?,
                    cpuacct_stat: Reader::open(cpuacct.join("cpuacct.stat"), 64)?,
                    cpu_stat: Reader::open(cpu.join("cpu.stat"), 256)?,
                    cfs_quota: Reader::open_optional(cpu.join("cpu.cfs_quota_us"), 32)?,
                    cfs_period: Reader::open_optional(cpu.join("cpu.cfs_period_us"), 32)?,
                    mem_usage: Reader::open(memory.join("memory.usage_in_bytes"), 32)?,
                    mem_max_usage: Reader::open_optional(
                        memory.join("memory.max_usage_in_bytes"),
                        32,
                    )?,
                    mem_limit: Reader::open(memory.join("memory.limit_in_bytes"), 32)?,
                    mem_stat: Reader::open(memory.join("memory.stat"), 1024)?,
                    cfq,
                    throttle: optional(blkio, "blkio.throttle.io_service_bytes", 256)?,
                    pids_current: optional(pids, "pids.current", 32)?,
                    pids_max: optional(pids, "pids.max", 32)?,
                }))
            }
            CgroupPaths::V2 { dir } => Files::V2(Box::new(V2 {
                cpu_stat: Reader::open(dir.join("cpu.stat"), 256)?,
                cpu_max: Reader::open_optional(dir.join("cpu.max"), 32)?,
                mem_current: Reader::open(dir.join("memory.current"), 32)?,
                mem_max: Reader::open_optional(dir.join("memory.max"), 32)?,
                mem_stat: Reader::open(dir.join("memory.stat"), 1024)?,
                io_stat: Reader::open_optional(dir.join("io.stat"), 256)?,
                pids_current: Reader::open_optional(dir.join("pids.current"), 32)?,
                pids_max: Reader::open_optional(dir.join("pids.max"), 32)?,
                cpu_pressure: Reader::open_optional(dir.join("cpu.pressure"), 128)?,
                memory_pressure: Reader::open_optional(dir.join("memory.pressure"), 128)?,
                io_pressure: Reader::open_optional(dir.join("io.pressure"), 128)?,
            })),
        };
        // A container on the host's network (`--network host`) has no interfaces of its own:
        // the daemon reports none, where net/dev would list the host's.
        let net = if in_parents_netns(&roots.proc, pid) {
            None
        } else {
            Some(Reader::open(
                roots.proc.join(pid.to_string()).join("net").join("dev"),
                1024,
            )?)
        };
        Ok(CgroupReader {
            files,
            net,
            net_entries: Vec::with_capacity(4),
            id: id.into(),
            name: name.into(),
            prev_read: Timestamp::ZERO,
            prev_cpu: CpuStats::default(),
        })
    }

    /// How many files the reader keeps open (none once [released](Self::release_files)).
    pub fn kept_files(&mut self) -> usize {
        let mut n = 0;
        self.each_reader(&mut |r| n += usize::from(r.file.is_some()));
        n
    }

    /// Closes the files kept open: each pass then opens, reads and closes every file (three
    /// system calls a file rather than one) and holds no descriptor between passes. For
    /// containers beyond what the open-files limit can keep open.
    pub fn release_files(&mut self) {
        self.each_reader(&mut Reader::release);
    }

    /// Calls `f` with each file (destructured, so that a file added is not left out).
    fn each_reader(&mut self, f: &mut dyn FnMut(&mut Reader)) {
        let (kept, optional): (Vec<&mut Reader>, Vec<&mut Option<Reader>>) = match &mut self.files {
            Files::V1(v) => {
                let V1 {
                    cpuacct_usage,
                    cpuacct_percpu,
                    cpuacct_stat,
                    cpu_stat,
                    cfs_quota,
                    cfs_period,
                    mem_usage,
                    mem_max_usage,
                    mem_limit,
                    mem_stat,
                    cfq,
                    throttle,
                    pids_current,
                    pids_max,
                } = &mut **v;
                let mut kept = vec![
                    cpuacct_usage,
                    cpuacct_percpu,
                    cpuacct_stat,
                    cpu_stat,
                    mem_usage,
                    mem_limit,
                    mem_stat,
                ];
                if let Some((bytes, serviced)) = cfq {
                    kept.extend([bytes, serviced]);
                }
                let optional = vec![
                    cfs_quota,
                    cfs_period,
                    mem_max_usage,
                    throttle,
                    pids_current,
                    pids_max,
                ];
                (kept, optional)
            }
            Files::V2(v) => {
                let V2 {
                    cpu_stat,
                    cpu_max,
                    mem_current,
                    mem_max,
                    mem_stat,
                    io_stat,
                    pids_current,
                    pids_max,
                    cpu_pressure,
                    memory_pressure,
                    io_pressure,
                } = &mut **v;
                let kept = vec![cpu_stat, mem_current, mem_stat];
                let optional = vec![
                    cpu_max,
                    mem_max,
                    io_stat,
                    pids_current,
                    pids_max,
                    cpu_pressure,
                    memory_pressure,
                    io_pressure,
                ];
                (kept, optional)
            }
        };
        for r in kept {
            f(r);
        }
        for r in optional.into_iter().flatten() {
            f(r);
        }
        if let Some(r) = &mut self.net {
            f(r);
        }
    }

    /// One pass over the files: a sample stamped `read`, with `host`'s counters of this pass,
    /// and the previous pass as `preread` / `precpu` (none on the first, as in a stream's
    /// first frame). [`CgroupError::Vanished`] once the cgroup is gone.
    pub fn sample(&mut self, read: Timestamp, host: &HostCpu) -> Result<Sample<'_>> {
        let mut pass = match &mut self.files {
            Files::V1(f) => f.pass()?,
            Files::V2(f) => f.pass()?,
        };
        pass.cpu.system_cpu_usage = host.system_cpu_usage;
        pass.cpu.online_cpus = host.online_cpus;
        if host.mem_total > 0 && pass.memory.limit > host.mem_total {
            pass.memory.limit = host.mem_total;
        }
        let mut net_text = &[][..];
        if let Some(net) = &mut self.net {
            if parse::net_dev(net.read()?, &mut self.net_entries).is_none() {
                return Err(net.malformed());
            }
            net_text = net.data();
        }
        let preread = std::mem::replace(&mut self.prev_read, read);
        let precpu = std::mem::replace(&mut self.prev_cpu, pass.cpu);
        Ok(Sample {
            id: &self.id,
            name: &self.name,
            read,
            preread,
            cpu: pass.cpu,
            precpu,
            memory: pass.memory,
            pids: pass.pids,
            blkio: pass.blkio,
            networks: Networks {
                frame: net_text,
                entries: &self.net_entries,
            },
            source: Source::Cgroupfs,
            pressure: pass.pressure,
            cpu_limit: pass.cpu_limit,
            ..Sample::default()
        })
    }
}

impl V1 {
    fn pass(&mut self) -> Result<Pass> {
        // Files of a removed cgroup read as ENODEV on cgroupfs; an unlinked file elsewhere
        // (a copy of the tree) as a link count of 0.
        self.cpuacct_usage.check_linked()?;
        let mut p = Pass::default();
        p.cpu.total_usage = self.cpuacct_usage.number()?;
        let r = &mut self.cpuacct_percpu;
        p.cpu.percpu_count = parse::percpu_count(r.read()?).ok_or_else(|| r.malformed())?;
        let r = &mut self.cpuacct_stat;
        (p.cpu.user_usage, p.cpu.system_usage) =
            parse::cpuacct_stat(r.read()?).ok_or_else(|| r.malformed())?;
        let r = &mut self.cpu_stat;
        p.cpu.throttling = parse::cpu_stat_v1(r.read()?).ok_or_else(|| r.malformed())?;
        if let (Some(q), Some(per)) = (&mut self.cfs_quota, &mut self.cfs_period) {
            let quota = q.read()?;
            let period = per.read()?;
            p.cpu_limit = parse::cfs_limit(quota, period).ok_or_else(|| q.malformed())?;
        }
        p.memory.usage = self.mem_usage.number()?;
        p.memory.limit = self.mem_limit.number()?;
        if let Some(r) = &mut self.mem_max_usage {
            // `max_usage` is omitted from the frame when 0.
            p.memory.max_usage = Some(r.number()?).filter(|&m| m != 0);
        }
        let r = &mut self.mem_stat;
        let m = parse::memory_stat(r.read()?).ok_or_else(|| r.malformed())?;
        p.memory.cache = Some(m.cache);
        p.memory.inactive_file = Some(m.inactive_file);
        p.memory.total_inactive_file = Some(m.total_inactive_file);
        // containerd: CFQ's lists when they have entries, else the throttle list.
        let mut cfq_entries = 0;
        if let Some((bytes, serviced)) = &mut self.cfq {
            parse::blkio_v1(bytes.read()?, &mut p.blkio).ok_or_else(|| bytes.malformed())?;
            let mut s = BlkioStats::default();
            parse::blkio_v1(serviced.read()?, &mut s).ok_or_else(|| serviced.malformed())?;
            cfq_entries = p.blkio.entries + s.entries;
        }
        if cfq_entries == 0 {
            p.blkio = BlkioStats::default();
            if let Some(r) = &mut self.throttle {
                parse::blkio_v1(r.read()?, &mut p.blkio).ok_or_else(|| r.malformed())?;
            }
        }
        if let Some(r) = &mut self.pids_current {
            p.pids.current = r.number()?;
        }
        if let Some(r) = &mut self.pids_max {
            // containerd reads "max" as 0, which the frame omits.
            let b = r.read()?;
            let max = match parse::trim(b) {
                b"max" => Some(0),
                v => parse::go_uint(v),
            };
            p.pids.limit = Some(max.ok_or_else(|| r.malformed())?).filter(|&m| m != 0);
        }
        Ok(p)
    }
}

impl V2 {
    fn pass(&mut self) -> Result<Pass> {
        self.cpu_stat.check_linked()?;
        let mut p = Pass::default();
        let r = &mut self.cpu_stat;
        let c = parse::cpu_stat_v2(r.read()?).ok_or_else(|| r.malformed())?;
        p.cpu.total_usage = c.usage;
        p.cpu.user_usage = c.user;
        p.cpu.system_usage = c.system;
        p.cpu.throttling = c.throttling;
        if let Some(r) = &mut self.cpu_max {
            p.cpu_limit = parse::cpu_max(r.read()?).ok_or_else(|| r.malformed())?;
        }
        p.memory.usage = self.mem_current.number()?;
        if let Some(r) = &mut self.mem_max {
            p.memory.limit = parse::single_or_max(r.read()?).ok_or_else(|| r.malformed())?;
        }
        let r = &mut self.mem_stat;
        let m = parse::memory_stat(r.read()?).ok_or_else(|| r.malformed())?;
        p.memory.inactive_file = Some(m.inactive_file);
        if let Some(r) = &mut self.io_stat {
            p.blkio = parse::io_stat(r.read()?);
        }
        if let Some(r) = &mut self.pids_current {
            p.pids.current = r.number()?;
        }
        if let Some(r) = &mut self.pids_max {
            let max = parse::single_or_max(r.read()?).ok_or_else(|| r.malformed())?;
            p.pids.limit = Some(max).filter(|&m| m != 0);
        }
        for (r, out) in [
            (&mut self.cpu_pressure, &mut p.pressure.cpu),
            (&mut self.memory_pressure, &mut p.pressure.memory),
            (&mut self.io_pressure, &mut p.pressure.io),
        ] {
            if let Some(r) = r {
                *out = Some(parse::pressure(r.read()?).ok_or_else(|| r.malformed())?);
            }
        }
        Ok(p)
    }
}

/// Whether process `pid` is in its parent's network namespace. A container's init process
/// is the child of its runtime shim, which runs in the daemon's namespace (the host's): so
/// this is `--network host`. Anything unreadable (the host's pid 1 may not be) is no.
fn in_parents_netns(proc: &Path, pid: u32) -> bool {
    let dir = proc.join(pid.to_string());
    let Some(ppid) = std::fs::read(dir.join("stat"))
        .ok()
        .and_then(|stat| parse::ppid(&stat))
    else {
        return false;
    };
    let link = |p: &Path| std::fs::read_link(p.join("ns").join("net")).ok();
    match (link(&dir), link(&proc.join(ppid.to_string()))) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The longest file a [`Reader`] reads (far beyond any cgroup or proc file it opens): a
/// longer one is [`CgroupError::Malformed`] rather than memory without bound.
const MAX_FILE_LEN: usize = 4 << 20;

/// One file, read whole with `pread` at offset 0 into a buffer kept between reads; kept
/// open, or (once [released](Reader::release)) opened and closed at each read.
#[derive(Debug)]
struct Reader {
    file: Option<File>,
    path: PathBuf,
    buf: Vec<u8>,
    len: usize,
}

impl Reader {
    fn open(path: PathBuf, capacity: usize) -> Result<Reader> {
        match File::open(&path) {
            Ok(file) => Ok(Reader {
                file: Some(file),
                path,
                buf: vec![0; capacity.max(16)],
                len: 0,
            }),
            Err(e) => Err(io_error(e, &path)),
        }
    }

    /// `None` when the file does not exist (a controller or kernel without it).
    fn open_optional(path: PathBuf, capacity: usize) -> Result<Option<Reader>> {
        match Reader::open(path, capacity) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.io_error().and_then(io::Error::raw_os_error) == Some(libc::ENOENT) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// The whole file, in one `pread` at offset 0: a short read is the end of the file (as
    /// the kernel's seq files give it). A file that fills the buffer is read again, whole,
    /// into one twice as large (only when it is longer than ever before), so that a file is
    /// never pieced together from two moments.
    fn read(&mut self) -> Result<&[u8]> {
        let opened;
        let file = match &self.file {
            Some(file) => file,
            None => {
                opened = File::open(&self.path).map_err(|e| io_error(e, &self.path))?;
                &opened
            }
        };
        loop {
            let n = match file.read_at(&mut self.buf, 0) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e, &self.path)),
            };
            if n < self.buf.len() {
                self.len = n;
                return Ok(&self.buf[..n]);
            }
            if self.buf.len() >= MAX_FILE_LEN {
                return Err(self.malformed());
            }
            let grown = (self.buf.len() * 2).min(MAX_FILE_LEN);
            self.buf.resize(grown, 0);
        }
    }

    /// What the last [`Reader::read`] read.
    fn data(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// A file of one number.
    fn number(&mut self) -> Result<u64> {
        match parse::single(self.read()?) {
            Some(v) => Ok(v),
            None => Err(self.malformed()),
        }
    }

    /// Closes the file; each read then opens it anew.
    fn release(&mut self) {
        self.file = None;
    }

    /// [`CgroupError::Vanished`] when the file has been unlinked (a released file is found
    /// missing by its next read instead).
    fn check_linked(&self) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        match file.metadata() {
            Ok(m) if m.nlink() == 0 => {
                Err(Error::new(ErrorKind::Cgroup(CgroupError::Vanished))
                    .context(self.path.display()))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(io_error(e, &self.path)),
        }
    }

    fn malformed(&self) -> Error {
        Error::new(ErrorKind::Cgroup(CgroupError::Malformed)).context(self.path.display())
    }
}

/// An I/O error on a cgroup or proc file, by what it says about the container.
fn io_error(e: io::Error, path: &Path) -> Error {
    let kind = match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENODEV | libc::ESRCH) => CgroupError::Vanished,
        Some(libc::EACCES | libc::EPERM) => CgroupError::Permission,
        _ => CgroupError::Unreadable,
    };
    Error::io(ErrorKind::Cgroup(kind), e).context(path.display())
}
