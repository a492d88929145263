//! The floor: the least any client must do to receive the frames. A bare mio loop that opens
//! the connections, writes the requests, then only reads, counting frames by their newline.
//!
//! It reads exactly as dockstat's reactor does (`src/engine/reactor.rs`): one shared 64 KiB
//! buffer; on each event, read until `WouldBlock`, but stop after a short read (less than the
//! buffer) unless the event says the peer closed — a short read emptied the socket, and
//! edge-triggered epoll reports later data with a new event. So the syscalls per frame match
//! and the difference between the two is the HTTP, chunked, frame and JSON work.
//!
//! Counting frames without parsing: the daemon ends each JSON frame with a bare `\n`, while
//! every line of HTTP framing (head, chunk sizes, chunk ends) ends with `\r\n`, and JSON
//! cannot hold a raw `\r`. So the frames are the `\n` bytes not preceded by `\r`; one bit per
//! connection remembers whether its previous read ended with `\r`.
//!
//! Over TLS (`floor-tls`): a mio `TcpStream` with a bare rustls `ClientConnection` (ring, the
//! same CA and client certificate as the others), as in rustls' `tlsclient-mio` example: on
//! each event, write what rustls has to send, then `read_tls` until `WouldBlock` (rustls
//! reads at most about 4 KiB per call, so a short read says nothing), `process_new_packets`,
//! and count the frames in the plaintext. That is decryption and nothing else, the least a
//! TLS client must do, so `dockstat-tls ÷ floor-tls` is dockstat's own work over TLS as
//! `dockstat ÷ floor` is over the unix socket. It is only a transport under the same loop,
//! which is why it exists; a TLS floor that needed its own loop would not be worth it.
//!
//! `floor-period` is the floor of batched reads: the same loop, but a connection whose first
//! frame has come leaves the poll set and is read on a timer instead, once per read period,
//! exactly as dockstat's reactor does with `--read-period` (the same FIFO of due times and the
//! same slack: a hundredth of the period, at most 50 ms). One `read` then returns every frame
//! queued since the last one. What that still costs per frame is the kernel's per-message
//! work (each frame the server wrote is its own message in the socket's queue) and nothing of
//! dockstat's, so `dockstat-period ÷ floor-period` is dockstat's own work in batched mode, and
//! `floor-period ÷ floor` is the least any batched reader can reach on this transport.
//!
//! Over plain TCP (`floor-tcp`, `floor-period-tcp`): a mio `TcpStream`, read exactly as the
//! unix socket. The connect is a blocking one on loopback (immediate; a full backlog waits
//! rather than refuses), then the socket turns nonblocking and takes the request at once.
//!
//! Latency is `n/a` for the floor, which parses nothing. The `floor-latency` variant finds
//! `"read":"` in what it reads and parses that timestamp, for a reference latency (its CPU
//! figure is then not the floor's).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dockstat::engine::ApiVersion;
use dockstat::stats::Timestamp;
use mio::net::{TcpStream, UnixStream};
use mio::{Events, Interest, Poll, Token};
use rustls::ClientConnection;
use rustls::pki_types::ServerName;

use crate::hist::Histogram;
use crate::streams::{Streams, Tally};
use crate::sys;
use crate::target::{self, Target};

const READ_BUF_LEN: usize = 64 * 1024;
/// Pacing of connects refused with EAGAIN (the sim's listen backlog is full): the same
/// doubling back-off, 1 ms to 200 ms, as dockstat's reactor.
const RETRY_MIN: Duration = Duration::from_millis(1);
const RETRY_MAX: Duration = Duration::from_millis(200);

/// Where to connect.
enum Dial {
    Unix(PathBuf),
    Tcp(SocketAddr),
    Tls {
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    },
}

enum Transport {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsConn>),
}

struct TlsConn {
    tcp: TcpStream,
    tls: ClientConnection,
}

struct Conn {
    stream: Transport,
    /// The last byte read was `\r`.
    prev_cr: bool,
    /// A frame has arrived.
    opened: bool,
    /// `floor-period`: out of the poll set, read on the timer.
    parked: bool,
}

pub struct Floor {
    poll: Poll,
    events: Events,
    dial: Dial,
    api: ApiVersion,
    ids: Vec<String>,
    conns: Vec<Option<Conn>>,
    /// Next container to connect to: connects go in order, paced by `retry_at` after an
    /// EAGAIN, so `open` only queues.
    next: usize,
    retry_at: Option<Instant>,
    backoff: Duration,
    buf: Box<[u8]>,
    request: Vec<u8>,
    tally: Tally,
    latency: Option<Histogram>,
    /// `floor-period`: the read period, and the parked connections by due time (all wait the
    /// same period, so the order of insertion is the order of due times).
    period: Option<Duration>,
    due: VecDeque<(Instant, usize)>,
    /// The tokens of one poll's events (kept, not allocated per poll).
    ready: Vec<(usize, bool)>,
}

impl Floor {
    /// `period`: `Some` for `floor-period` (batched reads), `None` for one read per frame.
    pub fn new(
        target: &Target,
        api: ApiVersion,
        n: usize,
        latency: bool,
        period: Option<Duration>,
    ) -> Result<Floor, String> {
        let dial = match target {
            Target::Unix(path) => Dial::Unix(path.clone()),
            Target::Tcp(url) => Dial::Tcp(socket_addr(Target::tcp_addr(url))?),
            Target::Tls { url, certs } => Dial::Tls {
                addr: socket_addr(Target::tcp_addr(url))?,
                config: target::rustls_config(certs)?,
            },
        };
        Ok(Floor {
            poll: Poll::new().map_err(|e| e.to_string())?,
            events: Events::with_capacity(1024),
            dial,
            api,
            ids: Vec::with_capacity(n),
            conns: Vec::with_capacity(n),
            next: 0,
            retry_at: None,
            backoff: RETRY_MIN,
            buf: vec![0; READ_BUF_LEN].into_boxed_slice(),
            request: Vec::with_capacity(256),
            tally: Tally {
                connect_retries: Some(0),
                ..Tally::default()
            },
            latency: latency.then(Histogram::default),
            period: period.filter(|p| !p.is_zero()),
            due: VecDeque::new(),
            ready: Vec::with_capacity(1024),
        })
    }

    /// How early a parked connection may be read: as dockstat's reactor, a hundredth of the
    /// period, at most 50 ms, so that one wakeup serves the connections due close together.
    fn slack(&self) -> Duration {
        self.period
            .map_or(Duration::ZERO, |p| (p / 100).min(Duration::from_millis(50)))
    }

    /// Reads connection `i` (an event, or its period is up), then parks it if it is batched
    /// and its first frame has come; a closed or failed one is dropped.
    fn read_conn(&mut self, i: usize, read_closed: bool, now: Instant) {
        let Some(conn) = self.conns[i].as_mut() else {
            return;
        };
        let outcome = match &mut conn.stream {
            Transport::Unix(_) | Transport::Tcp(_) => read_all(
                conn,
                &mut self.buf,
                read_closed,
                &mut self.tally,
                self.latency.as_mut(),
            ),
            Transport::Tls(_) => {
                read_all_tls(conn, &mut self.buf, &mut self.tally, self.latency.as_mut())
            }
        };
        match outcome {
            Ok(()) => {
                let Some(period) = self.period else {
                    return;
                };
                if !conn.opened {
                    return; // the head first, on readiness
                }
                if !conn.parked {
                    let registry = self.poll.registry();
                    let deregistered = match &mut conn.stream {
                        Transport::Unix(s) => registry.deregister(s),
                        Transport::Tcp(s) => registry.deregister(s),
                        Transport::Tls(t) => registry.deregister(&mut t.tcp),
                    };
                    if deregistered.is_err() {
                        return; // stays on readiness, which loses nothing
                    }
                    conn.parked = true;
                }
                self.due.push_back((now + period, i));
            }
            Err(why) => {
                // Dropping the stream closes the socket (and removes it from epoll).
                self.conns[i] = None;
                match why {
                    None => self.tally.ended += 1,
                    Some(e) => {
                        self.tally.errors += 1;
                        self.tally
                            .first_error
                            .get_or_insert_with(|| format!("{}: {e}", self.ids[i]));
                    }
                }
            }
        }
    }

    /// Reads the parked connections whose period is up.
    fn read_due(&mut self, now: Instant) {
        let until = now + self.slack();
        while let Some(&(at, i)) = self.due.front() {
            if at > until {
                break;
            }
            self.due.pop_front();
            self.read_conn(i, false, now);
        }
    }

    /// Connects to the next containers until done or the backlog is full.
    fn open_some(&mut self, now: Instant) {
        while self.next < self.ids.len() && self.retry_at.is_none_or(|at| now >= at) {
            let i = self.next;
            let connected = match &self.dial {
                Dial::Unix(path) => UnixStream::connect(path).map(Transport::Unix),
                Dial::Tcp(addr) => std::net::TcpStream::connect(addr).and_then(|s| {
                    s.set_nonblocking(true)?;
                    Ok(Transport::Tcp(TcpStream::from_std(s)))
                }),
                Dial::Tls { addr, config } => TcpStream::connect(*addr).map(|tcp| {
                    let name = ServerName::from(addr.ip());
                    let tls = ClientConnection::new(Arc::clone(config), name)
                        .expect("a client connection to an IP address");
                    Transport::Tls(Box::new(TlsConn { tcp, tls }))
                }),
            };
            match connected {
                Ok(mut stream) => {
                    self.retry_at = None;
                    self.backoff = RETRY_MIN;
                    self.next += 1;
                    self.request.clear();
                    let target = self
                        .api
                        .path(&format!("/containers/{}/stats?stream=1", self.ids[i]));
                    let _ = write!(
                        self.request,
                        "GET {target} HTTP/1.1\r\nHost: docker\r\n\r\n"
                    );
                    let registry = self.poll.registry();
                    let (sent, registered) = match &mut stream {
                        // A fresh socket's send buffer takes the whole request at once.
                        Transport::Unix(s) => (
                            s.write(&self.request),
                            registry.register(s, Token(i), Interest::READABLE),
                        ),
                        Transport::Tcp(s) => (
                            s.write(&self.request),
                            registry.register(s, Token(i), Interest::READABLE),
                        ),
                        // rustls holds the request until the handshake is done; the TCP
                        // connect is still in progress: the first writable event sends the
                        // ClientHello.
                        Transport::Tls(t) => (
                            t.tls.writer().write(&self.request),
                            registry.register(
                                &mut t.tcp,
                                Token(i),
                                Interest::READABLE | Interest::WRITABLE,
                            ),
                        ),
                    };
                    match (sent, registered) {
                        (Ok(n), Ok(())) if n == self.request.len() => {
                            self.conns[i] = Some(Conn {
                                stream,
                                prev_cr: false,
                                opened: false,
                                parked: false,
                            });
                        }
                        (sent, registered) => self.fail(format!(
                            "{}: request not sent: {sent:?} {registered:?}",
                            self.ids[i]
                        )),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *self.tally.connect_retries.get_or_insert(0) += 1;
                    if self.tally.first_retry_error.is_none() {
                        self.tally.first_retry_error = Some(e.to_string());
                    }
                    self.retry_at = Some(now + self.backoff);
                    self.backoff = (self.backoff * 2).min(RETRY_MAX);
                }
                Err(e) => {
                    self.next += 1;
                    self.fail(format!("{}: connect: {e}", self.ids[i]));
                }
            }
        }
    }

    fn fail(&mut self, why: String) {
        self.tally.errors += 1;
        self.tally.first_error.get_or_insert(why);
    }
}

impl Streams for Floor {
    fn open(&mut self, id: &str) -> Result<(), String> {
        self.ids.push(id.to_owned());
        self.conns.push(None);
        self.open_some(Instant::now());
        Ok(())
    }

    fn pump(&mut self, until: Instant) -> Result<(), String> {
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            self.open_some(now);
            self.read_due(now);
            let mut timeout = until - now;
            if let Some(at) = self.retry_at {
                timeout = timeout.min(at.saturating_duration_since(now));
            }
            if let Some(&(at, _)) = self.due.front() {
                timeout = timeout.min(at.saturating_duration_since(now));
            }
            match self.poll.poll(&mut self.events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("epoll: {e}")),
            }
            // The events' tokens, copied out so that reading may borrow `self` whole.
            let mut ready = std::mem::take(&mut self.ready);
            ready.extend(
                self.events
                    .iter()
                    .map(|e| (e.token().0, e.is_read_closed())),
            );
            // A parked connection's due time counts from its read (only `floor-period`).
            let now = if self.period.is_some() {
                Instant::now()
            } else {
                now
            };
            for &(i, read_closed) in &ready {
                self.read_conn(i, read_closed, now);
            }
            ready.clear();
            self.ready = ready;
        }
    }

    fn tally(&self) -> Tally {
        self.tally.clone()
    }

    fn latency(&self) -> Option<Histogram> {
        self.latency.clone()
    }
}

/// The address of `HOST:PORT`.
fn socket_addr(host: &str) -> Result<SocketAddr, String> {
    host.to_socket_addrs()
        .map_err(|e| format!("{host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host}: no address"))
}

/// Reads what one event announced. `Err(None)`: the peer closed; `Err(Some(e))`: failed.
fn read_all(
    conn: &mut Conn,
    buf: &mut [u8],
    read_closed: bool,
    tally: &mut Tally,
    mut latency: Option<&mut Histogram>,
) -> Result<(), Option<io::Error>> {
    loop {
        let read = match &mut conn.stream {
            Transport::Unix(s) => s.read(buf),
            Transport::Tcp(s) => s.read(buf),
            Transport::Tls(_) => unreachable!("read_all is for unix and plain TCP streams"),
        };
        let n = match read {
            Ok(0) => return Err(None),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Some(e)),
        };
        count(
            &buf[..n],
            &mut conn.prev_cr,
            &mut conn.opened,
            tally,
            latency.as_deref_mut(),
        );
        if n < buf.len() && !read_closed {
            return Ok(());
        }
    }
}

/// [`read_all`] over TLS: sends what rustls has to send, reads the socket until `WouldBlock`
/// and counts the frames in the plaintext.
fn read_all_tls(
    conn: &mut Conn,
    buf: &mut [u8],
    tally: &mut Tally,
    mut latency: Option<&mut Histogram>,
) -> Result<(), Option<io::Error>> {
    let Transport::Tls(t) = &mut conn.stream else {
        unreachable!("read_all_tls is for TLS streams")
    };
    let TlsConn { tcp, tls } = &mut **t;
    loop {
        while tls.wants_write() {
            match tls.write_tls(tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Some(e)),
            }
        }
        let eof = match tls.read_tls(tcp) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Some(e)),
        };
        let state = tls
            .process_new_packets()
            .map_err(|e| Some(io::Error::other(e)))?;
        let mut left = state.plaintext_bytes_to_read();
        while left > 0 {
            let n = tls.reader().read(buf).map_err(Some)?;
            left -= n;
            count(
                &buf[..n],
                &mut conn.prev_cr,
                &mut conn.opened,
                tally,
                latency.as_deref_mut(),
            );
        }
        if eof || state.peer_has_closed() {
            return Err(None);
        }
    }
}

/// Counts the frames (and for `floor-latency` records the latencies) of what a read gave.
fn count(
    data: &[u8],
    prev_cr: &mut bool,
    opened: &mut bool,
    tally: &mut Tally,
    latency: Option<&mut Histogram>,
) {
    let frames = count_frames(data, prev_cr);
    if frames > 0 {
        tally.frames += frames;
        if !*opened {
            *opened = true;
            tally.opened += 1;
        }
    }
    if let Some(h) = latency {
        record_latency(data, h);
    }
}

/// Frames ended in `data`: `\n` bytes not preceded by `\r`.
fn count_frames(data: &[u8], prev_cr: &mut bool) -> u64 {
    let mut frames = 0;
    for i in memchr::memchr_iter(b'\n', data) {
        let after_cr = if i == 0 {
            *prev_cr
        } else {
            data[i - 1] == b'\r'
        };
        frames += u64::from(!after_cr);
    }
    *prev_cr = data.last() == Some(&b'\r');
    frames
}

/// `floor-latency` only: the delay of every frame whose `"read":"…"` lies whole in `data`
/// (frames arrive one per read, so a timestamp cut between two reads is rare).
fn record_latency(data: &[u8], h: &mut Histogram) {
    const KEY: &[u8] = b"\"read\":\"";
    for at in memchr::memmem::find_iter(data, KEY) {
        let rest = &data[at + KEY.len()..];
        let Some(end) = memchr::memchr(b'"', rest) else {
            continue;
        };
        if let Some(t) = Timestamp::parse(&rest[..end]) {
            h.record(sys::now_unix_nanos() - t.unix_nanos());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_bare_newlines_across_reads() {
        let stream: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5\r\n{\"a\":\r\n3\r\n1}\n\r\n4\r\n{\"b\"\r\n4\r\n:2}\n\r\n";
        for split in 0..stream.len() {
            let mut prev_cr = false;
            let (a, b) = stream.split_at(split);
            let n = count_frames(a, &mut prev_cr) + count_frames(b, &mut prev_cr);
            assert_eq!(n, 2, "split at {split}");
        }
    }
}
