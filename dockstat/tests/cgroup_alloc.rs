//! A reader's pass allocates nothing once its buffers are warm: a counting global allocator
//! watches passes over v1 and v2 trees, with the host's counters read and the samples
//! derived, as the engine does it each interval.

#[path = "cgroup_tree/mod.rs"]
mod tree;

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use dockstat::source::cgroup::{CgroupPaths, CgroupReader, HostCpu};
use dockstat::stats::{Platform, Timestamp, derive};
use tree::{Layout, Tree, frame};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Allocations are counted on the thread that measures only.
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn no_allocation_per_pass_after_the_first() {
    for (file, layout) in [
        ("docker-2022-cgv2-seed2.json", Layout::V2),
        ("docker1.12-cgv1-seed2.json", Layout::V1Separate),
        ("docker1.12-cgv1-seed2.json", Layout::V1Joined),
    ] {
        let (json, _) = frame(file);
        let tree = Tree::new(&format!("alloc-{layout:?}"));
        // Two interfaces besides lo, so that the list is sorted too.
        let mut json = json;
        json["networks"]["eth1"] = json["networks"]["eth0"].clone();
        tree.write_container(&json, "cpu_stats", 9, layout);
        let roots = tree.roots();
        let paths = CgroupPaths::of_pid(&roots, 9).unwrap();
        let mut host = HostCpu::open(&roots).unwrap();
        let mut reader = CgroupReader::open(&roots, &paths, 9, "id", "/name").unwrap();
        let mut checksum = 0.0;
        let mut pass = |i: i64| {
            host.read().unwrap();
            let s = reader
                .sample(
                    Timestamp {
                        secs: 1_700_000_000 + i,
                        nanos: 0,
                    },
                    &host,
                )
                .unwrap();
            assert_eq!(s.networks.len(), 2);
            let d = derive(&s, Platform::Linux);
            checksum += d.mem_used + d.cpu_percent + d.net_rx as f64;
        };
        pass(0);
        pass(1);
        COUNTED.with(|c| c.set(true));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        for i in 2..200 {
            pass(i);
        }
        let after = ALLOCATIONS.load(Ordering::Relaxed);
        COUNTED.with(|c| c.set(false));
        assert_eq!(after - before, 0, "{layout:?}: allocations in 198 passes");
        assert!(checksum > 0.0);
    }
}
