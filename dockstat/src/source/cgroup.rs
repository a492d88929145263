//! The cgroupfs source: one container's numbers from its cgroup files (v1 and v2) and its
//! network namespace, as the daemon computes its stats frames from them.
//!
//! Files are opened once and read with `pread` at offset 0 into buffers kept between passes,
//! so a sample costs a few system calls and no allocation after the first.

use std::path::PathBuf;

use crate::error::{CgroupError, Error, ErrorKind, Result};
use crate::stats::{Sample, Timestamp};

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
    /// cgroup v1: one directory per controller hierarchy.
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
    pub fn of_pid(roots: &Roots, pid: u32) -> Result<CgroupPaths> {
        let _ = (roots, pid);
        Err(Error::new(ErrorKind::Cgroup(CgroupError::NotFound)))
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
}

impl HostCpu {
    /// Opens `<proc>/stat` and reads it once.
    pub fn open(roots: &Roots) -> Result<HostCpu> {
        let _ = roots;
        Err(Error::new(ErrorKind::Cgroup(CgroupError::NotFound)))
    }

    /// Reads the counters again.
    pub fn read(&mut self) -> Result<()> {
        Ok(())
    }
}

/// One container's open cgroup files, read into a [`Sample`] per pass.
#[derive(Debug)]
pub struct CgroupReader {}

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
        let _ = (roots, paths, pid, id, name);
        Err(Error::new(ErrorKind::Cgroup(CgroupError::NotFound)))
    }

    /// One pass over the files: a sample stamped `read`, with `host`'s counters of this pass,
    /// and the previous pass as `preread` / `precpu` (none on the first, as in a stream's
    /// first frame). [`CgroupError::Vanished`] once the cgroup is gone.
    pub fn sample(&mut self, read: Timestamp, host: &HostCpu) -> Result<Sample<'_>> {
        let _ = (read, host);
        Err(Error::new(ErrorKind::Cgroup(CgroupError::Vanished)))
    }
}
