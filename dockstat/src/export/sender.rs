//! The push sender: a thread of its own that delivers batches to a receiver over HTTP/1.1,
//! with a bounded buffer, retries and counters. The wire format is a [`Format`]
//! (Prometheus remote-write, OTLP), each sender with its own buffer and counters.
//!
//! - **Never blocks the caller.** [`Sender::push`] appends the batch to the buffer under a
//!   short lock and returns. When the buffer holds [`PushConfig::buffer`] batches, the
//!   **oldest waiting batch is dropped** and counted (a monitoring receiver wants the newest
//!   readings); the batch being sent is not dropped.
//! - **In order.** Batches go one at a time, oldest first, each retried until it is accepted,
//!   refused or dropped: a receiver such as Prometheus rejects a sample older than the last
//!   one it has of the series, so a later batch never overtakes an earlier one.
//! - **Retries** with capped exponential backoff and jitter after a connection error, a
//!   timeout, a 5xx or a 429 (then after `Retry-After` seconds when the receiver gives them).
//!   Another 4xx is not retried: the batch is counted as failed and the receiver's status
//!   and message are reported.
//! - **One note per state change**, not per retry ([`Note::State`]): delivery failing (and
//!   why), failing for another reason, and delivering again.
//! - [`Sender::close`] sends what is left within a deadline and counts the rest as dropped.
//!
//! The client is blocking HTTP/1.1 on a std `TcpStream` (TLS through [`crate::tls`] for
//! `https://`), one connection kept alive between requests; the response goes through the
//! same parser and limits as the engine's ([`crate::conn`]).

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::conn::{Connection, ResponseEvent};
use crate::engine::backoff::Backoff;
use crate::error::{Error, ErrorKind, Result};
use crate::prom::{Row, Snapshot};
#[cfg(feature = "tls")]
use crate::tls::{BlockingTls, TlsConnector};

/// The rows, host states and engine counters of one interval, to be sent as one request.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The batch's number, from 1 in the order of [`Sender::push`].
    pub seq: u64,
    /// When it was taken, in milliseconds since the Unix epoch: the time of the host and
    /// engine series (container series carry their readings' own).
    pub taken_ms: i64,
    pub snapshot: Snapshot,
    /// Rows of containers that went (gone, or stale) since the last batch: their series end
    /// with a staleness marker, as Prometheus writes one for a target that disappears.
    pub ended: Vec<Row>,
}

/// The sender's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushStats {
    pub sent_batches: u64,
    pub sent_samples: u64,
    /// Refused by the receiver (a 4xx other than 429): not retried.
    pub failed_batches: u64,
    pub failed_samples: u64,
    /// Samples of accepted batches that the receiver said it rejected all the same
    /// ([`Format::rejected`]); not retried, and not in `sent_samples`.
    pub rejected_samples: u64,
    /// Dropped unsent: the oldest when the buffer was full, and those left at [`Sender::close`].
    pub dropped_batches: u64,
    pub dropped_samples: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Bytes written to the receiver (request heads and bodies, retries included).
    pub bytes: u64,
    /// Batches waiting, the one being sent included.
    pub buffered: usize,
    /// [`PushConfig::buffer`].
    pub capacity: usize,
}

/// A wire format: how a batch becomes a request body.
pub trait Format: Send + fmt::Debug + 'static {
    /// The request's header fields that say what the body is.
    fn headers(&self) -> &'static [(&'static str, &'static str)];
    /// Encodes `batch` and the sender's own counters (`stats`, at `now_ms`) into `out`
    /// (replacing what it held); returns the number of samples written.
    fn encode(&mut self, batch: &Batch, stats: &PushStats, now_ms: i64, out: &mut Vec<u8>) -> u64;
    /// The same series as text, one `name{labels} value timestamp_ms` line each (the
    /// sender's own with `stats`; OTLP adds each point's start), for a record of what was
    /// sent.
    fn describe(&mut self, batch: &Batch, stats: Option<(&PushStats, i64)>, out: &mut String);
    /// How many samples a batch holds in this format, without the sender's own (to count
    /// what a dropped batch held without encoding it).
    fn counter(&self) -> fn(&Batch) -> u64;
    /// What an accepting (2xx) response's body says was rejected all the same: how many
    /// samples, and the receiver's message (OTLP's `partial_success`). `None`: all accepted.
    fn rejected(&self, _response: &[u8]) -> Option<(u64, String)> {
        None
    }
}

/// What became of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver accepted it (2xx).
    Sent,
    /// The receiver refused it with a status that is not retried.
    Failed,
    /// Dropped unsent.
    Dropped,
}

/// What the sender tells its observer (on the sender's thread).
#[derive(Debug)]
pub enum Note<'a> {
    /// Delivery changed state: one line for the user, such as `push to URL: connection
    /// refused; retrying…` or `push to URL: delivering again…`.
    State(&'a str),
    /// A batch is done with. `series`: its series as [`Format::describe`] writes them, when
    /// [`PushConfig::record`] is set and the batch was encoded (not for dropped ones).
    Settled {
        seq: u64,
        outcome: Outcome,
        samples: u64,
        series: Option<&'a str>,
    },
}

/// How the sender behaves. [`PushConfig::default`]: 10 s per request, 60 batches.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// Time allowed for one request: connecting, writing, and the response.
    pub timeout: Duration,
    /// Batches waiting at most (the one being sent not counted); at least 1.
    pub buffer: usize,
    /// Header fields sent with every request (`Authorization`, `X-Scope-OrgID`, …).
    pub headers: Vec<(String, String)>,
    /// First retry delay; it doubles per failed attempt up to `backoff_max`, times a random
    /// factor in [0.5, 1.5).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Hand each sent or refused batch's series to the observer as text ([`Note::Settled`]).
    pub record: bool,
}

impl Default for PushConfig {
    fn default() -> PushConfig {
        PushConfig {
            timeout: Duration::from_secs(10),
            buffer: 60,
            headers: Vec::new(),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            record: false,
        }
    }
}

/// Where batches go: an `http://` or `https://` URL, resolved once.
#[derive(Clone, Debug)]
pub struct Target {
    url: String,
    /// `host[:port]` as given: the `Host` field, and the TLS server name without the port.
    authority: String,
    /// The host alone: the TLS server name.
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    host: String,
    /// The request target: path and query.
    path: String,
    addrs: Vec<SocketAddr>,
    #[cfg(feature = "tls")]
    tls: Option<Arc<TlsConnector>>,
}

fn invalid(url: &str, why: &str) -> Error {
    Error::new(ErrorKind::InvalidEndpoint).context(format!("invalid push URL {url}: {why}"))
}

impl Target {
    /// Parses `http://host[:port]/path` (port 80) and resolves the host (a blocking lookup).
    /// `https://` needs [`Target::parse_tls`].
    pub fn parse(url: &str) -> Result<Target> {
        Target::parse_inner(url, false)
    }

    /// Parses `https://host[:port]/path` (port 443), or `http://` without TLS; the server's
    /// certificate is checked as `connector` says.
    #[cfg(feature = "tls")]
    pub fn parse_tls(url: &str, connector: TlsConnector) -> Result<Target> {
        let mut target = Target::parse_inner(url, true)?;
        if url
            .trim()
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            target.tls = Some(Arc::new(connector));
        }
        Ok(target)
    }

    fn parse_inner(url: &str, tls: bool) -> Result<Target> {
        let url = url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid(url, "expected http://HOST:PORT/PATH"))?;
        let default_port = if scheme.eq_ignore_ascii_case("http") {
            80
        } else if scheme.eq_ignore_ascii_case("https") {
            if !tls {
                return Err(invalid(url, "https:// needs TLS settings"));
            }
            443
        } else {
            return Err(invalid(url, "the scheme must be http:// or https://"));
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        crate::http::write_post(&mut Vec::new(), &path, "h", &[], 0)
            .map_err(|_| invalid(url, "the path must be printable ASCII without spaces"))?;
        if authority.contains('@') {
            return Err(invalid(
                url,
                "user:password@ is not supported; send --header 'Authorization: Basic …'",
            ));
        }
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, after) = v6
                    .split_once(']')
                    .ok_or_else(|| invalid(url, "unclosed [ in the host"))?;
                let port = match after {
                    "" => None,
                    p => Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| invalid(url, "bad port"))?,
                    ),
                };
                (host, port)
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        if host.is_empty() || !host.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(invalid(url, "no host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| invalid(url, "the port must be a number from 1 to 65535"))?,
        };
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| invalid(url, &format!("cannot resolve {host}: {e}")))?
            .collect();
        if addrs.is_empty() {
            return Err(invalid(url, &format!("{host} resolves to no address")));
        }
        Ok(Target {
            url: url.to_string(),
            authority: authority.to_string(),
            host: host.to_string(),
            path,
            addrs,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<Batch>,
    in_flight: bool,
    /// Set by [`Sender::close`]: send until then, then stop.
    closing: Option<Instant>,
    stats: PushStats,
    /// Batches dropped from the buffer, not yet told to the observer: (seq, samples).
    dropped: Vec<(u64, u64)>,
}

#[derive(Debug, Default)]
struct Shared {
    inner: Mutex<Inner>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sender thread and the buffer in front of it. See the [module docs](self).
pub struct Sender {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    seq: u64,
    capacity: usize,
    samples: fn(&Batch) -> u64,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("seq", &self.seq)
            .field("stats", &self.stats())
            .finish()
    }
}

/// A note's receiver, on the sender's thread.
pub type Observer = Box<dyn FnMut(&Note<'_>) + Send>;

impl Sender {
    /// Starts the sender thread. Invalid `headers` are an error here (a name that is not a
    /// token, a value with a control character).
    pub fn start(
        target: Target,
        config: PushConfig,
        format: Box<dyn Format>,
        observer: Observer,
    ) -> Result<Sender> {
        let fields: Vec<(&str, &str)> = (config.headers.iter())
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        if crate::http::write_post(&mut Vec::new(), "/", "h", &fields, 0).is_err() {
            return Err(Error::new(ErrorKind::InvalidRequest(
                crate::http::RequestError::InvalidHost,
            ))
            .context("a --header is not NAME: VALUE with a token NAME and a printable VALUE"));
        }
        let capacity = config.buffer.max(1);
        let samples = format.counter();
        let shared = Arc::new(Shared::default());
        shared.lock().stats.capacity = capacity;
        let thread = std::thread::Builder::new()
            .name("dockstat-push".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || Worker::new(target, config, format, observer, shared).run()
            })
            .map_err(|e| Error::io(ErrorKind::Io, e).context("push sender thread"))?;
        Ok(Sender {
            shared,
            thread: Some(thread),
            seq: 0,
            capacity,
            samples,
        })
    }

    /// Queues `snapshot`, taken now, as the next batch, with the last rows of the containers
    /// that `ended` since the previous one; never waits for the network. When the buffer is
    /// full the oldest waiting batch is dropped and counted.
    pub fn push(&mut self, snapshot: Snapshot, ended: Vec<Row>) {
        self.seq += 1;
        let batch = Batch {
            seq: self.seq,
            taken_ms: now_ms(),
            snapshot,
            ended,
        };
        let mut inner = self.shared.lock();
        while inner.queue.len() >= self.capacity {
            let Some(old) = inner.queue.pop_front() else {
                break;
            };
            let samples = (self.samples)(&old);
            inner.stats.dropped_batches += 1;
            inner.stats.dropped_samples += samples;
            inner.dropped.push((old.seq, samples));
        }
        inner.queue.push_back(batch);
        inner.stats.buffered = inner.queue.len() + usize::from(inner.in_flight);
        drop(inner);
        self.shared.wake.notify_one();
    }

    /// The counters now.
    pub fn stats(&self) -> PushStats {
        self.shared.lock().stats
    }

    /// Sends what is buffered for at most `within`, then stops the thread; what is left is
    /// counted as dropped. Returns the final counters.
    pub fn close(mut self, within: Duration) -> PushStats {
        self.shared.lock().closing = Some(Instant::now() + within);
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.stats()
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared.lock().closing = Some(Instant::now());
            self.shared.wake.notify_all();
            let _ = thread.join();
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Why an attempt failed, in words for the user, and whether to try again.
#[derive(Debug)]
enum Failure {
    /// Try again: after `after` when the receiver said so.
    Retry {
        why: String,
        after: Option<Duration>,
    },
    /// The receiver refused the batch; not retried.
    Refused(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Delivery {
    Unknown,
    Up,
    Down(String),
    Refusing(String),
}

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How much of an error response's body is read for its message.
const MAX_ERROR_BODY: usize = 4096;

struct Worker {
    client: Client,
    config: PushConfig,
    format: Box<dyn Format>,
    observer: Observer,
    shared: Arc<Shared>,
    delivery: Delivery,
    /// The receiver's reason for the last samples it rejected in an accepted batch, until a
    /// batch is accepted whole.
    rejecting: Option<String>,
    backoff: Backoff,
    last_now: i64,
}

impl Worker {
    fn new(
        target: Target,
        config: PushConfig,
        format: Box<dyn Format>,
        observer: Observer,
        shared: Arc<Shared>,
    ) -> Worker {
        let seed = now_ms() as u64 ^ u64::from(std::process::id()).rotate_left(32);
        Worker {
            client: Client::new(target, &config.headers),
            backoff: Backoff::new(config.backoff_min, config.backoff_max, seed),
            config,
            format,
            observer,
            shared,
            delivery: Delivery::Unknown,
            rejecting: None,
            last_now: 0,
        }
    }

    fn url(&self) -> &str {
        &self.client.target.url
    }

    fn note_drops(&mut self, dropped: Vec<(u64, u64)>) {
        for (seq, samples) in dropped {
            (self.observer)(&Note::Settled {
                seq,
                outcome: Outcome::Dropped,
                samples,
                series: None,
            });
        }
    }

    /// One line when an accepted batch had samples rejected, again only when the receiver's
    /// reason changes or after a batch accepted whole.
    fn note_rejected(&mut self, rejected: Option<&(u64, String)>, samples: u64) {
        let Some((n, why)) = rejected else {
            self.rejecting = None;
            return;
        };
        if self.rejecting.as_deref() == Some(why.as_str()) {
            return;
        }
        self.rejecting = Some(why.clone());
        let why = if why.is_empty() {
            "no reason given"
        } else {
            why
        };
        let line = format!(
            "push to {}: the receiver accepted a batch but rejected {n} of its {samples} \
             samples: {why} (not retried; counted in dockstat_push_rejected_samples_total)",
            self.url()
        );
        (self.observer)(&Note::State(&line));
    }

    fn set_delivery(&mut self, to: Delivery) {
        if to == self.delivery {
            return;
        }
        let url = self.url().to_string();
        let line = match (&self.delivery, &to) {
            (_, Delivery::Down(why)) => Some(format!(
                "push to {url}: {why}; retrying, keeping up to {} batches meanwhile",
                self.config.buffer.max(1)
            )),
            (_, Delivery::Refusing(why)) => Some(format!("push to {url}: {why}")),
            (Delivery::Down(_), Delivery::Up) => {
                let dropped = self.shared.lock().stats.dropped_batches;
                Some(format!(
                    "push to {url}: delivering again ({dropped} batches dropped so far)"
                ))
            }
            _ => None,
        };
        self.delivery = to;
        if let Some(line) = line {
            (self.observer)(&Note::State(&line));
        }
    }

    fn run(mut self) {
        let mut body = Vec::new();
        loop {
            let (batch, dropped, closing) = {
                let mut inner = self.shared.lock();
                loop {
                    if !inner.dropped.is_empty() || !inner.queue.is_empty() {
                        break;
                    }
                    if inner.closing.is_some() {
                        break;
                    }
                    inner = (self.shared.wake.wait(inner)).unwrap_or_else(|e| e.into_inner());
                }
                let batch = inner.queue.pop_front();
                inner.in_flight = batch.is_some();
                inner.stats.buffered = inner.queue.len() + usize::from(inner.in_flight);
                (batch, std::mem::take(&mut inner.dropped), inner.closing)
            };
            self.note_drops(dropped);
            let Some(batch) = batch else {
                if closing.is_some() {
                    break;
                }
                continue;
            };
            let stats = self.shared.lock().stats;
            let now = now_ms().max(self.last_now + 1);
            self.last_now = now;
            let samples = self.format.encode(&batch, &stats, now, &mut body);
            let (outcome, response) = self.deliver(&body);
            let rejected = match outcome {
                Outcome::Sent => self.format.rejected(&response),
                _ => None,
            };
            self.note_rejected(rejected.as_ref(), samples);
            {
                let mut inner = self.shared.lock();
                let s = &mut inner.stats;
                match outcome {
                    Outcome::Sent => {
                        let rejected = rejected.as_ref().map_or(0, |r| r.0.min(samples));
                        s.sent_batches += 1;
                        s.sent_samples += samples - rejected;
                        s.rejected_samples += rejected;
                    }
                    Outcome::Failed => {
                        s.failed_batches += 1;
                        s.failed_samples += samples;
                    }
                    Outcome::Dropped => {
                        s.dropped_batches += 1;
                        s.dropped_samples += samples;
                    }
                }
                inner.in_flight = false;
                inner.stats.buffered = inner.queue.len();
            }
            let mut text = String::new();
            let series = (self.config.record && outcome != Outcome::Dropped).then(|| {
                self.format.describe(&batch, Some((&stats, now)), &mut text);
                text.as_str()
            });
            (self.observer)(&Note::Settled {
                seq: batch.seq,
                outcome,
                samples,
                series,
            });
        }
        // Whatever is still queued when the deadline passed.
        let left: Vec<(u64, u64)> = {
            let mut inner = self.shared.lock();
            let left: Vec<Batch> = inner.queue.drain(..).collect();
            let mut out = std::mem::take(&mut inner.dropped);
            for b in &left {
                let samples = self.format.counter()(b);
                inner.stats.dropped_batches += 1;
                inner.stats.dropped_samples += samples;
                out.push((b.seq, samples));
            }
            inner.stats.buffered = 0;
            out
        };
        self.note_drops(left);
    }

    /// Sends one body until it is accepted, refused, or the close deadline passes.
    /// With [`Outcome::Sent`], the response's body (its first [`MAX_ERROR_BODY`] bytes).
    fn deliver(&mut self, body: &[u8]) -> (Outcome, Vec<u8>) {
        let mut attempts = 0u32;
        loop {
            let closing = self.shared.lock().closing;
            let now = Instant::now();
            if closing.is_some_and(|d| now >= d) {
                return (Outcome::Dropped, Vec::new());
            }
            let mut deadline = now + self.config.timeout;
            if let Some(close) = closing {
                deadline = deadline.min(close);
            }
            let mut written = 0u64;
            let result = self
                .client
                .post(body, self.format.headers(), deadline, &mut written);
            self.shared.lock().stats.bytes += written;
            let (why, after) = match result {
                Ok(response) => {
                    self.set_delivery(Delivery::Up);
                    return (Outcome::Sent, response);
                }
                Err(Failure::Refused(why)) => {
                    self.set_delivery(Delivery::Refusing(why));
                    return (Outcome::Failed, Vec::new());
                }
                Err(Failure::Retry { why, after }) => (why, after),
            };
            self.shared.lock().stats.retries += 1;
            self.set_delivery(Delivery::Down(why));
            let delay = after.unwrap_or_else(|| self.backoff.delay(attempts));
            attempts = attempts.saturating_add(1);
            // Wait, waking early for close (then only until its deadline).
            let until = Instant::now() + delay;
            let mut inner = self.shared.lock();
            loop {
                let now = Instant::now();
                let end = match inner.closing {
                    Some(close) => until.min(close),
                    None => until,
                };
                if now >= end {
                    break;
                }
                inner = (self.shared.wake.wait_timeout(inner, end - now))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        }
    }
}

mod client;
use client::Client;
#[cfg(test)]
use client::retry_after;

#[cfg(test)]
mod tests;
