use super::*;
use std::io::Write;

#[test]
fn median_and_its_error() {
    assert_eq!(median(&[]), 0.0);
    assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    // A burst does not move the median, and barely its error.
    let quiet = [2.0, 4.0, 2.0, 4.0, 2.0, 4.0];
    let burst = [2.0, 4.0, 2.0, 4.0, 2.0, 400.0];
    assert_eq!(median(&quiet), median(&burst));
    assert_eq!(median_error(&quiet), median_error(&burst));
    assert_eq!(median_error(&[5.0]), 0.0);
}

#[test]
fn daemon_process_names() {
    for comm in [
        "dockerd",
        "containerd",
        "containerd-shim",
        "containerd-shim-runc-v2",
    ] {
        assert!(is_daemon(comm), "{comm}");
    }
    for comm in ["docker", "containerd-stress", "runc", "dockerd-rootless"] {
        assert!(!is_daemon(comm), "{comm}");
    }
}

#[test]
fn this_process_ticks_and_run_time() {
    let t = ticks(std::process::id()).expect("/proc/self/stat");
    assert!(t.start > 0);
    assert!(run_ns(std::process::id()).is_some_and(|ns| ns > 0));
    assert!(ticks(u32::MAX).is_none());
}

#[test]
fn lines_are_counted_by_id_or_by_name() {
    let path = std::env::temp_dir().join(format!("daemon-cost-test-{}", std::process::id()));
    let mut w = File::create(&path).unwrap();
    let ids = ["aaa".to_owned(), "bbb".to_owned()];
    let names = ["one".to_owned(), "two".to_owned()];
    let mut c = LineCounter::new(File::open(&path).unwrap(), &ids, &names);
    writeln!(w, r#"{{"host":"h","id":"aaa","name":"one","read":"x"}}"#).unwrap();
    // A line whose id is the name it was asked by.
    writeln!(w, r#"{{"host":"h","id":"two","name":"two","read":"x"}}"#).unwrap();
    write!(w, r#"{{"host":"h","id":"ccc","name":"three"}}"#).unwrap();
    c.read().unwrap();
    assert_eq!((c.counts.clone(), c.strays), (vec![1, 1], 0));
    assert!(c.all_seen());
    // The partial line counts once it ends.
    writeln!(w).unwrap();
    c.read().unwrap();
    assert_eq!((c.counts.clone(), c.strays), (vec![1, 1], 1));
    std::fs::remove_file(&path).unwrap();
}
