//! A reader's pass allocates nothing once its buffers are warm: a counting global allocator
//! watches passes over v1 and v2 trees, with the host's counters read and the samples
//! derived, as the engine does it each interval.

#[path = "cgroup_tree/mod.rs"]
mod tree;

#[path = "common/counting.rs"]
mod counting;

use dockstat::source::cgroup::{CgroupPaths, CgroupReader, HostCpu};
use dockstat::stats::{Platform, Timestamp, derive};
use tree::{Layout, Tree, frame};

#[global_allocator]
static GLOBAL: counting::Counting = counting::Counting;

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
        let ((), allocations) = counting::allocations(|| {
            for i in 2..200 {
                pass(i);
            }
        });
        assert_eq!(allocations, 0, "{layout:?}: allocations in 198 passes");
        assert!(checksum > 0.0);
    }
}
