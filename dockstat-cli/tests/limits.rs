//! The open-files limit, end to end: the simulated daemon in its own process (it needs its own
//! descriptors), `dockstat stats` under a low `ulimit -n`, and what reaches stdout and stderr.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn socket() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "dockstat-limits-{}-{}.sock",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

#[test]
fn too_few_file_descriptors_keep_what_fits_and_say_why() {
    // The simulated daemon in its own process (it needs its own descriptors), dockstat under
    // a low limit.
    let path = socket();
    let bin = env!("CARGO_BIN_EXE_dockstat");
    let mut daemon = Command::new(bin)
        .args([
            "sim",
            "--socket",
            path.to_str().unwrap(),
            "-n",
            "300",
            "--interval",
            "0.2",
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 150 -Hn 150; timeout --preserve-status -s INT 3 {bin} -H unix://{} stats --format ndjson",
            path.display()
        ))
        .output()
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("open-files limit is 150"), "{stderr}");
    assert!(stderr.contains("ulimit -n"), "{stderr}");
    let names: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["name"].as_str().unwrap_or_default().to_string())
        .collect();
    // 150 descriptors minus the 64 kept for everything else.
    assert!(
        (60..=90).contains(&names.len()),
        "{} streams delivered",
        names.len()
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn out_of_descriptors_midway_keeps_what_it_has_and_retries() {
    // Descriptors the engine cannot know about: bash opens 120 before starting dockstat
    // under a limit of 250. The limit leaves room for 186 streams on paper, enough for 150
    // containers; EMFILE comes after about 125.
    let path = socket();
    let bin = env!("CARGO_BIN_EXE_dockstat");
    let mut daemon = Command::new(bin)
        .args([
            "sim",
            "--socket",
            path.to_str().unwrap(),
            "-n",
            "150",
            "--interval",
            "0.2",
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 250 -Hn 250; for i in $(seq 120); do exec {{fd}}</dev/null; done; \
             timeout --preserve-status -s INT 4 {bin} -H unix://{} stats --format ndjson",
            path.display()
        ))
        .output()
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // One line for all of them, saying why and what happens.
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("streams cannot be opened yet"), "{stderr}");
    assert!(stderr.contains("EMFILE"), "{stderr}");
    let mut names = BTreeMap::<String, usize>::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        *names
            .entry(v["name"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    // What could be opened streams on: about 250 - 120 - a few for the process itself.
    assert!(
        (100..=140).contains(&names.len()),
        "{} streams delivered",
        names.len()
    );
    assert!(
        names.values().filter(|&&n| n >= 10).count() >= 100,
        "the open streams keep delivering: {names:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
