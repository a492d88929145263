//! A `dockstat serve` child for the tests that scrape it.

#![allow(dead_code)] // each test file uses what it needs

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// A `dockstat serve` child, killed when dropped.
pub struct Serve {
    pub child: Child,
    /// Where it serves `/metrics`.
    pub addr: SocketAddr,
}

impl Serve {
    /// Starts `cmd` (a `dockstat … serve --listen 127.0.0.1:0 …`), and reads the address from
    /// its first line on stderr; the rest of stderr is drained so that the child never blocks.
    pub fn start(mut cmd: Command) -> Serve {
        let mut child = cmd
            .env_remove("DOCKER_API_VERSION")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let line = lines.next().expect("a line on stderr").unwrap();
        let addr = line
            .strip_prefix("dockstat: serving metrics on http://")
            .and_then(|s| s.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .parse()
            .unwrap();
        std::thread::spawn(move || for _ in lines {});
        Serve { child, addr }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
