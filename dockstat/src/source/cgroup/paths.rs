//! From `<proc>/<pid>/cgroup` to the container's cgroup directories.

use std::path::{Path, PathBuf};

use super::{CgroupPaths, Roots, io_error};
use crate::error::{CgroupError, Error, ErrorKind, Result};

/// The v1 controllers a sample reads.
const V1: [&str; 5] = ["cpu", "cpuacct", "memory", "blkio", "pids"];

pub(super) fn of_pid(roots: &Roots, pid: u32) -> Result<CgroupPaths> {
    let file = roots.proc.join(pid.to_string()).join("cgroup");
    let text = std::fs::read(&file).map_err(|e| io_error(e, &file))?;
    let text = String::from_utf8_lossy(&text);
    let not_found =
        |why: &str| Error::new(ErrorKind::Cgroup(CgroupError::NotFound)).context(why.to_owned());
    // A unified hierarchy at the root: cgroup v2 only ("0::/path"). A v1 or hybrid host has
    // a line per v1 hierarchy (and maybe a "0::" line for its unified mount, not used).
    if roots.cgroup.join("cgroup.controllers").is_file() {
        let path = lines(&text)
            .find(|(hier, controllers, _)| *hier == "0" && controllers.is_empty())
            .map(|(_, _, path)| path)
            .ok_or_else(|| not_found(&format!("{}: no cgroup v2 line", file.display())))?;
        let dir = under(&roots.cgroup, path);
        if !dir.is_dir() {
            return Err(not_found(&format!(
                "{}: {} is not a directory",
                file.display(),
                dir.display()
            )));
        }
        return Ok(CgroupPaths::V2 { dir });
    }
    let mut dirs: [Option<PathBuf>; 5] = Default::default();
    for (i, controller) in V1.iter().enumerate() {
        for (_, controllers, path) in lines(&text) {
            if !controllers.split(',').any(|c| c == *controller) {
                continue;
            }
            // The mount point: the controller's own name (a joined hierarchy has symlinks
            // like cpu -> cpu,cpuacct on most distributions), or the joined name itself.
            let found = [*controller, controllers]
                .iter()
                .map(|mount| under(&roots.cgroup.join(mount), path))
                .find(|d| d.is_dir());
            if let Some(d) = found {
                dirs[i] = Some(d);
                break;
            }
        }
    }
    let [cpu, cpuacct, memory, blkio, pids] = dirs;
    let need = |d: Option<PathBuf>, name: &str| {
        d.ok_or_else(|| {
            not_found(&format!(
                "{}: no {name} cgroup under {}",
                file.display(),
                roots.cgroup.display()
            ))
        })
    };
    Ok(CgroupPaths::V1 {
        cpu: need(cpu, "cpu")?,
        cpuacct: need(cpuacct, "cpuacct")?,
        memory: need(memory, "memory")?,
        // Optional hierarchies: an empty path reads as zero.
        blkio: blkio.unwrap_or_default(),
        pids: pids.unwrap_or_default(),
    })
}

/// `hier:controllers:path` lines (the path may itself hold colons).
fn lines(text: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    text.lines().filter_map(|line| {
        let mut it = line.splitn(3, ':');
        Some((it.next()?, it.next()?, it.next()?))
    })
}

/// `path` (absolute, as the kernel writes it) under `root`.
fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}
