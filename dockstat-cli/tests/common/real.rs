//! The real Docker daemon some tests compare with (`../shared/scripts/real-dockerd.sh`), named
//! by the environment:
//!
//! - `DOCKSTAT_REAL_DOCKER`: its URL (`unix:///…/docker.sock`);
//! - `DOCKSTAT_REAL_DOCKER_TLS` and `DOCKSTAT_REAL_DOCKER_CERTS`: its TLS port
//!   (`tcp://127.0.0.1:PORT`) and the client certificates' directory.
//!
//! Without them a test says `SKIPPED` on stderr and passes, unless
//! `DOCKSTAT_REQUIRE_REAL_DOCKER=1` (CI sets it), which makes it fail: a missing daemon is
//! never a silent pass there.

#![allow(dead_code)] // each test file uses what it needs

/// Whether a missing daemon is a failure.
fn required() -> bool {
    std::env::var_os("DOCKSTAT_REQUIRE_REAL_DOCKER").is_some_and(|v| v == "1")
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The real daemon's URL; `None` after a `SKIPPED` line (a panic when it is required).
pub fn url() -> Option<String> {
    let url = var("DOCKSTAT_REAL_DOCKER");
    if url.is_none() {
        assert!(
            !required(),
            "DOCKSTAT_REQUIRE_REAL_DOCKER=1 but DOCKSTAT_REAL_DOCKER is not set"
        );
        eprintln!("SKIPPED: set DOCKSTAT_REAL_DOCKER to a real daemon's URL");
    }
    url
}

/// The real daemon's unix socket path, for what only a local daemon allows; `None` after a
/// `SKIPPED` line (a panic when the daemon is required and is not named at all).
pub fn socket() -> Option<String> {
    let url = url()?;
    match url.strip_prefix("unix://") {
        Some(path) => Some(path.to_string()),
        None => {
            eprintln!("SKIPPED: DOCKSTAT_REAL_DOCKER is not a unix socket: {url}");
            None
        }
    }
}

/// The daemon's TLS URL and client certificate directory; `None` after a `SKIPPED` line (a
/// panic when the daemon is required).
pub fn tls() -> Option<(String, String)> {
    match (
        var("DOCKSTAT_REAL_DOCKER_TLS"),
        var("DOCKSTAT_REAL_DOCKER_CERTS"),
    ) {
        (Some(tls), Some(certs)) => Some((tls, certs)),
        _ => {
            assert!(
                !required(),
                "DOCKSTAT_REQUIRE_REAL_DOCKER=1 but the daemon's TLS port is not set"
            );
            eprintln!(
                "SKIPPED: set DOCKSTAT_REAL_DOCKER_TLS and DOCKSTAT_REAL_DOCKER_CERTS \
                 (RDD_TLS=1 real-dockerd.sh start; real-dockerd.sh env)"
            );
            None
        }
    }
}
