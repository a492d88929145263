//! The bollard phase: bollard 0.21 as its docs show it, one tokio task per container
//! awaiting `Docker::stats(id, stream=true)`, on tokio's default multi-threaded runtime (one
//! worker per core: two here).
//!
//! Connect failures: tokio's unix connect, like any nonblocking connect, fails with EAGAIN
//! when the sim's listen backlog is full, and bollard (hyper) hands that error to the caller.
//! So that every phase ends up with N streams, a task whose stream fails before its first
//! frame retries with the same doubling back-off as dockstat's reactor (1 ms to 200 ms), and
//! the retries are counted. An HTTP error from the daemon is not retried.
//!
//! The tasks update shared atomic counters; `pump` just sleeps on the main thread (not a
//! runtime worker) while the workers run.
//!
//! Over TLS ([`Target::Tls`]): `Docker::connect_with_ssl` (feature `ssl`: hyper-rustls,
//! rustls with ring) with the directory's `key.pem`, `cert.pem` and `ca.pem`, as
//! `DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=DIR` would have it. Bollard keeps no idle
//! connection (`pool_max_idle_per_host(0)`), so each stream is its own TCP connection and
//! TLS session, as with the unix socket. A TCP connect does not fail when the sim's backlog
//! is full (the SYN is retransmitted instead), so retries should stay at 0 there.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::StatsOptionsBuilder;
use dockstat::stats::Timestamp;
use futures_util::StreamExt;
use tokio::runtime::Runtime;

use crate::hist::{AtomicHistogram, Histogram};
use crate::streams::{Streams, Tally};
use crate::sys;
use crate::target::Target;

const RETRY_MIN: Duration = Duration::from_millis(1);
const RETRY_MAX: Duration = Duration::from_millis(200);
/// A stream still failing to connect after this long gives up.
const RETRY_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Shared {
    frames: AtomicU64,
    opened: AtomicU64,
    duplicates: AtomicU64,
    errors: AtomicU64,
    ended: AtomicU64,
    retries: AtomicU64,
    latency: AtomicHistogram,
    first_error: Mutex<Option<String>>,
    first_retry_error: Mutex<Option<String>>,
}

pub struct Bollard {
    runtime: Option<Runtime>,
    docker: Docker,
    shared: Arc<Shared>,
}

impl Bollard {
    pub fn new(target: &Target) -> Result<Bollard, String> {
        let runtime = Runtime::new().map_err(|e| e.to_string())?;
        // The sim speaks API 1.41 and refuses bollard's default 1.53 with a 400, as Docker
        // 20.10 would: negotiate, as a bollard user talking to an older daemon does.
        let docker = runtime.block_on(async {
            let docker = match target {
                Target::Unix(path) => Docker::connect_with_unix(
                    &path.to_string_lossy(),
                    120,
                    bollard::API_DEFAULT_VERSION,
                )?,
                Target::Tcp(url) => {
                    Docker::connect_with_http(url, 120, bollard::API_DEFAULT_VERSION)?
                }
                Target::Tls { url, certs } => {
                    let (ca, cert, key) = Target::tls_files(certs);
                    Docker::connect_with_ssl(
                        url,
                        &key,
                        &cert,
                        &ca,
                        120,
                        bollard::API_DEFAULT_VERSION,
                    )?
                }
            };
            docker.negotiate_version().await
        });
        let docker = docker.map_err(|e| format!("bollard: {e}"))?;
        Ok(Bollard {
            runtime: Some(runtime),
            docker,
            shared: Arc::default(),
        })
    }
}

impl Drop for Bollard {
    fn drop(&mut self) {
        // Do not wait for 10,000 tasks to notice: the process is about to exit.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Streams for Bollard {
    fn open(&mut self, id: &str) -> Result<(), String> {
        let rt = self.runtime.as_ref().expect("runtime lives until drop");
        rt.spawn(stream(
            self.docker.clone(),
            id.to_owned(),
            Arc::clone(&self.shared),
        ));
        Ok(())
    }

    fn pump(&mut self, until: Instant) -> Result<(), String> {
        std::thread::sleep(until.saturating_duration_since(Instant::now()));
        Ok(())
    }

    fn tally(&self) -> Tally {
        let s = &self.shared;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Tally {
            frames: get(&s.frames),
            opened: get(&s.opened),
            duplicates: Some(get(&s.duplicates)),
            errors: get(&s.errors),
            ended: get(&s.ended),
            connect_retries: Some(get(&s.retries)),
            first_error: s.first_error.lock().unwrap().clone(),
            first_retry_error: s.first_retry_error.lock().unwrap().clone(),
        }
    }

    fn latency(&self) -> Option<Histogram> {
        Some(self.shared.latency.snapshot())
    }
}

/// One container's stream, retried until its first frame.
async fn stream(docker: Docker, id: String, shared: Arc<Shared>) {
    let options = StatsOptionsBuilder::default()
        .stream(true)
        .one_shot(false)
        .build();
    let started = Instant::now();
    let mut backoff = RETRY_MIN;
    let mut last_read = i64::MIN;
    loop {
        let mut stats = docker.stats(&id, Some(options.clone()));
        let mut failed_to_open = false;
        while let Some(item) = stats.next().await {
            match item {
                Ok(frame) => {
                    let now = sys::now_unix_nanos();
                    shared.frames.fetch_add(1, Ordering::Relaxed);
                    let read = frame
                        .read
                        .as_deref()
                        .and_then(|r| Timestamp::parse(r.as_bytes()))
                        .map_or(0, Timestamp::unix_nanos);
                    shared.latency.record(now - read);
                    if last_read == i64::MIN {
                        shared.opened.fetch_add(1, Ordering::Relaxed);
                    } else if read <= last_read {
                        shared.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    last_read = read;
                }
                Err(e) => {
                    let retry = last_read == i64::MIN
                        && !matches!(e, bollard::errors::Error::DockerResponseServerError { .. })
                        && started.elapsed() < RETRY_FOR;
                    if !retry {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                        let mut first = shared.first_error.lock().unwrap();
                        first.get_or_insert_with(|| format!("{id}: {e}"));
                        return;
                    }
                    shared.retries.fetch_add(1, Ordering::Relaxed);
                    let mut first = shared.first_retry_error.lock().unwrap();
                    first.get_or_insert_with(|| format!("{e:?}"));
                    failed_to_open = true;
                    break;
                }
            }
        }
        if !failed_to_open {
            // The daemon ended the stream.
            shared.ended.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}
