//! The cgroupfs reader's errors: a cgroup that goes away, a file it may not read, a cgroup it
//! cannot find, content the kernel does not write. Each is a `Cgroup` error naming the file.

#[path = "cgroup_tree/mod.rs"]
mod tree;

use std::path::{Path, PathBuf};

use dockstat::source::cgroup::{CgroupPaths, CgroupReader, HostCpu, Roots};
use dockstat::stats::Timestamp;
use dockstat::{CgroupError, Error, ErrorKind};
use tree::{Layout, Tree, frame, write};

const PID: u32 = 77;

fn kind(e: &Error) -> ErrorKind {
    e.kind()
}

fn cgroup(k: CgroupError) -> ErrorKind {
    ErrorKind::Cgroup(k)
}

fn t(secs: i64) -> Timestamp {
    Timestamp { secs, nanos: 0 }
}

fn v2_tree(name: &str) -> (Tree, Roots, PathBuf) {
    let (json, _) = frame("docker-2022-cgv2-seed1.json");
    let tree = Tree::new(name);
    tree.write_container(&json, "cpu_stats", PID, Layout::V2);
    let roots = tree.roots();
    let dir = tree.cgroup().join(tree::v2_path(&json));
    (tree, roots, dir)
}

fn v1_tree(name: &str) -> (Tree, Roots) {
    let (json, _) = frame("docker1.12-cgv1-seed2.json");
    let tree = Tree::new(name);
    tree.write_container(&json, "cpu_stats", PID, Layout::V1Separate);
    let roots = tree.roots();
    (tree, roots)
}

fn open(roots: &Roots) -> Result<CgroupReader, Error> {
    let paths = CgroupPaths::of_pid(roots, PID)?;
    CgroupReader::open(roots, &paths, PID, "id", "/name")
}

/// The error's one line names the file.
fn names(e: &Error, file: &Path) {
    let line = e.to_string();
    assert!(
        line.contains(&file.display().to_string()),
        "{line:?} names {}",
        file.display()
    );
    assert!(!line.contains('\n'), "{line:?}");
}

#[test]
fn a_removed_cgroup_is_vanished_on_the_next_pass() {
    // Files kept open, or released (opened at each pass).
    for (v2, released) in [(true, false), (false, false), (true, true), (false, true)] {
        let (tree, roots, dir) = if v2 {
            v2_tree(&format!("vanish-{v2}-{released}"))
        } else {
            let (tree, roots) = v1_tree(&format!("vanish-v1-{released}"));
            let (json, _) = frame("docker1.12-cgv1-seed2.json");
            let dir = tree
                .cgroup()
                .join("cpuacct")
                .join(tree::v1_path(&json, Layout::V1Separate));
            (tree, roots, dir)
        };
        let host = HostCpu::open(&roots).unwrap();
        let mut reader = open(&roots).unwrap();
        if released {
            reader.release_files();
        }
        reader.sample(t(1), &host).expect("first pass");
        // As the runtime removes it once the container stops (rmdir on cgroupfs, which then
        // fails reads of open files with ENODEV; here the files are unlinked).
        std::fs::remove_dir_all(&dir).unwrap();
        let e = reader.sample(t(2), &host).unwrap_err();
        assert_eq!(kind(&e), cgroup(CgroupError::Vanished), "{e}");
        assert!(e.to_string().contains(&dir.display().to_string()), "{e}");
        // Opening it again: the files are gone.
        let e = open(&roots).unwrap_err();
        assert_eq!(kind(&e), cgroup(CgroupError::NotFound), "{e}");
        drop(tree);
    }
}

#[test]
fn a_process_that_is_gone_is_vanished() {
    let (tree, roots, _) = v2_tree("gone");
    std::fs::remove_dir_all(tree.proc().join(PID.to_string())).unwrap();
    let e = CgroupPaths::of_pid(&roots, PID).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::Vanished), "{e}");
    names(&e, &tree.proc().join(PID.to_string()).join("cgroup"));
}

#[test]
fn a_cgroup_not_under_the_root_is_not_found() {
    // v2: the process's path is not under the root (another cgroup namespace, another host).
    let (tree, roots, _) = v2_tree("notfound-v2");
    write(
        tree.proc().join(PID.to_string()).join("cgroup"),
        "0::/kubepods/pod1/abc\n",
    );
    let e = CgroupPaths::of_pid(&roots, PID).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::NotFound), "{e}");
    // v2 root, but only v1 lines.
    write(
        tree.proc().join(PID.to_string()).join("cgroup"),
        "4:memory:/docker/abc\n",
    );
    let e = CgroupPaths::of_pid(&roots, PID).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::NotFound), "{e}");
    // v1: no memory hierarchy line.
    let (tree, roots) = v1_tree("notfound-v1");
    let file = tree.proc().join(PID.to_string()).join("cgroup");
    let text = std::fs::read_to_string(&file).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.contains(":memory:"))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&file, without);
    let e = CgroupPaths::of_pid(&roots, PID).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::NotFound), "{e}");
    assert!(e.to_string().contains("memory"), "{e}");
    // Another cgroup namespace's view: relative to it, the container is above its root.
    let (tree, roots, _) = v2_tree("notfound-ns");
    write(
        tree.proc().join(PID.to_string()).join("cgroup"),
        "0::/../../system.slice/docker-abc.scope\n",
    );
    let e = CgroupPaths::of_pid(&roots, PID).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::NotFound), "{e}");
    assert!(e.to_string().contains("namespace"), "{e}");
    // An empty cgroup root (not mounted there).
    let empty = Tree::new("notfound-empty");
    write(empty.proc().join("1/cgroup"), "0::/\n");
    let roots = empty.roots();
    let e = CgroupPaths::of_pid(&roots, 1).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::NotFound), "{e}");
}

/// A file that this process may not read, even as root: a sysfs file without read
/// permission (sysfs refuses to open such a file for reading whatever the capabilities).
/// Not as root, the fixture's own file with its permissions taken away does.
fn unreadable_file(tree: &Tree) -> Option<PathBuf> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    if uid != "0" {
        use std::os::unix::fs::PermissionsExt;
        let f = tree.dir.join("secret");
        write(&f, "1\n");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o200)).ok()?;
        return Some(f);
    }
    [
        "/sys/bus/platform/drivers_probe",
        "/sys/bus/cpu/drivers_probe",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| std::fs::File::open(p).is_err_and(|e| e.raw_os_error() == Some(13)))
}

#[test]
fn a_file_without_read_permission_is_permission() {
    let (tree, roots, dir) = v2_tree("permission");
    let Some(secret) = unreadable_file(&tree) else {
        panic!("no file this process may not read: neither a write-only sysfs file nor non-root");
    };
    let file = dir.join("memory.current");
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&secret, &file).unwrap();
    let e = open(&roots).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::Permission), "{e}");
    names(&e, &file);
    // <proc>/stat too.
    let stat = tree.proc().join("stat");
    std::fs::remove_file(&stat).unwrap();
    std::os::unix::fs::symlink(&secret, &stat).unwrap();
    let e = HostCpu::open(&roots).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::Permission), "{e}");
}

#[test]
fn a_directory_where_a_file_belongs_is_unreadable() {
    let (_tree, roots, dir) = v2_tree("isdir");
    let file = dir.join("memory.stat");
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let host = HostCpu::open(&roots).unwrap();
    // Opening a directory read-only succeeds; reading it fails (EISDIR).
    let e = match open(&roots) {
        Ok(mut r) => r.sample(t(1), &host).map(|_| ()).unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(kind(&e), cgroup(CgroupError::Unreadable), "{e}");
    names(&e, &file);
}

#[test]
fn content_the_kernel_does_not_write_is_malformed() {
    let cases: &[(&str, &str)] = &[
        ("memory.current", "lots\n"),
        ("memory.current", ""),
        ("memory.max", "max max\n"),
        ("cpu.stat", "usage_usec\n"),
        ("cpu.stat", "usage_usec 12 34\n"),
        ("cpu.stat", "usage_usec 1e9\n"),
        ("cpu.max", "100000\n"),
        ("memory.stat", "anon x\n"),
        ("pids.current", "18446744073709551616\n"),
        (
            "cpu.pressure",
            "some avg10=1.5 avg60=0.00 avg300=0.00 total=0\n",
        ),
        (
            "cpu.pressure",
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        ),
        ("memory.pressure", "some avg10=0.00 total=0 extra=1\n"),
    ];
    for (i, (name, text)) in cases.iter().enumerate() {
        let (_tree, roots, dir) = v2_tree(&format!("malformed-{i}"));
        let host = HostCpu::open(&roots).unwrap();
        let mut reader = open(&roots).unwrap();
        let file = dir.join(name);
        std::fs::write(&file, text).unwrap();
        let e = reader.sample(t(1), &host).map(|_| ()).unwrap_err();
        assert_eq!(
            kind(&e),
            cgroup(CgroupError::Malformed),
            "{name} {text:?}: {e}"
        );
        names(&e, &file);
    }
    // v1 files.
    let cases: &[(&str, &str)] = &[
        ("cpuacct/cpuacct.stat", "user 1\n"),
        ("cpuacct/cpuacct.usage_percpu", "1 2 x\n"),
        ("cpu/cpu.cfs_quota_us", "none\n"),
        ("blkio/blkio.io_service_bytes_recursive", "8:0 Read\n"),
        ("pids/pids.max", "-\n"),
    ];
    let (json, _) = frame("docker1.12-cgv1-seed2.json");
    for (i, (name, text)) in cases.iter().enumerate() {
        let (tree, roots) = v1_tree(&format!("malformed-v1-{i}"));
        let host = HostCpu::open(&roots).unwrap();
        let mut reader = open(&roots).unwrap();
        let (controller, file) = name.split_once('/').unwrap();
        let file = tree
            .cgroup()
            .join(controller)
            .join(tree::v1_path(&json, Layout::V1Separate))
            .join(file);
        std::fs::write(&file, text).unwrap();
        let e = reader.sample(t(1), &host).map(|_| ()).unwrap_err();
        assert_eq!(
            kind(&e),
            cgroup(CgroupError::Malformed),
            "{name} {text:?}: {e}"
        );
        names(&e, &file);
    }
    // <proc>/stat without its cpu line, and a net/dev line without counters.
    let (tree, roots, _) = v2_tree("malformed-proc");
    write(tree.proc().join("stat"), "intr 1\ncpu0 1 2 3 4 5 6 7\n");
    let e = HostCpu::open(&roots).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::Malformed), "{e}");
    tree.write_proc_stat(1_000_000_000, 1);
    let host = HostCpu::open(&roots).unwrap();
    let mut reader = open(&roots).unwrap();
    let net = tree.proc().join(PID.to_string()).join("net/dev");
    std::fs::write(&net, "Inter-|\n face |\n  eth0: 1 2 3\n").unwrap();
    let e = reader.sample(t(1), &host).map(|_| ()).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::Malformed), "{e}");
    names(&e, &net);
}

#[test]
fn optional_files_may_be_absent() {
    // v2 without cpu.max, memory.max, io.stat, pids.*, pressure files: limits unknown, zero
    // counts, no pressure.
    let (_tree, roots, dir) = v2_tree("optional");
    for f in [
        "cpu.max",
        "memory.max",
        "io.stat",
        "pids.current",
        "pids.max",
        "cpu.pressure",
        "memory.pressure",
    ] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    let host = HostCpu::open(&roots).unwrap();
    let mut reader = open(&roots).unwrap();
    let s = reader.sample(t(1), &host).unwrap();
    assert_eq!(s.cpu_limit, None);
    assert_eq!(s.memory.limit, 0);
    assert_eq!(s.blkio, Default::default());
    assert_eq!(s.pids, Default::default());
    assert_eq!(s.pressure, Default::default());
    assert_eq!(s.memory.usage, 790_528);
}

#[test]
fn an_endless_file_is_malformed_not_unbounded() {
    let (_tree, roots, dir) = v2_tree("endless");
    let file = dir.join("memory.stat");
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
    let host = HostCpu::open(&roots).unwrap();
    let mut reader = open(&roots).unwrap();
    let e = reader.sample(t(1), &host).map(|_| ()).unwrap_err();
    assert_eq!(kind(&e), cgroup(CgroupError::Malformed), "{e}");
    names(&e, &file);
}

#[test]
fn v1_without_blkio_and_pids_hierarchies_reads_them_as_zero() {
    let (tree, roots) = v1_tree("no-blkio");
    let file = tree.proc().join(PID.to_string()).join("cgroup");
    let text = std::fs::read_to_string(&file).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.contains(":blkio:") && !l.contains(":pids:"))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&file, without);
    let paths = CgroupPaths::of_pid(&roots, PID).unwrap();
    let CgroupPaths::V1 { blkio, pids, .. } = &paths else {
        panic!("{paths:?}")
    };
    assert_eq!(
        (blkio.as_os_str(), pids.as_os_str()),
        ("".as_ref(), "".as_ref())
    );
    // Files of those names in the current directory are not read.
    let host = HostCpu::open(&roots).unwrap();
    let mut reader = CgroupReader::open(&roots, &paths, PID, "id", "/name").unwrap();
    let s = reader.sample(t(1), &host).unwrap();
    assert_eq!(s.blkio, Default::default());
    assert_eq!(s.pids, Default::default());
    assert_eq!(s.memory.usage, 51_126_272);
}
