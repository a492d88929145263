//! A small HTTP/1.1 server for `/metrics`, on a thread of its own with its own mio `Poll`.
//!
//! It answers `GET` and `HEAD /metrics` (query strings ignored) with the body a render
//! callback writes, in the format the `Accept` header asks for; `404` for other paths, `405`
//! for other methods, `400` for anything that is not an HTTP/1.x request head, `431` for a head
//! larger than [`ServerConfig::max_head`]. A client that has not sent a complete head within
//! [`ServerConfig::timeout`] of connecting (or of its previous response) gets a `408` and is
//! closed; so is one that stops reading a response for as long. Connections are kept alive
//! (HTTP/1.1 by default, `Connection: close` ends them). Every socket is nonblocking: a slow
//! client costs a connection slot, never the server's time. Rendering runs on this thread, so
//! scrapes are served one after another, each in the time its render takes.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::ExpositionFormat;
use crate::http::grammar;

/// Limits of the server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Time allowed for a request head to arrive, and for a response to make progress.
    pub timeout: Duration,
    /// Largest request head accepted (larger: `431`).
    pub max_head: usize,
    /// Most connections held at once; more are closed as soon as accepted.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            timeout: Duration::from_secs(5),
            max_head: 8192,
            max_connections: 256,
        }
    }
}

/// Writes the exposition body in the given format.
pub type RenderFn = dyn FnMut(ExpositionFormat, &mut Vec<u8>) + Send;

/// The running server; dropping it stops its thread.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

impl MetricsServer {
    /// Serves on `listener` (already bound: port 0 works) until dropped.
    pub fn start(
        listener: std::net::TcpListener,
        config: ServerConfig,
        render: Box<RenderFn>,
    ) -> io::Result<MetricsServer> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        let mut server = Server {
            poll,
            listener,
            conns: Vec::new(),
            config,
            render,
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name("dockstat-metrics".into())
            .spawn(move || server.run())?;
        Ok(MetricsServer {
            addr,
            stop,
            waker,
            thread: Some(thread),
        })
    }

    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
    /// Close once the response is written.
    close_after: bool,
    deadline: Instant,
}

struct Server {
    poll: Poll,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    config: ServerConfig,
    render: Box<RenderFn>,
    stop: Arc<AtomicBool>,
}

/// What to do with a connection after driving it.
enum Next {
    Keep,
    Close,
}

impl Server {
    fn run(&mut self) {
        crate::sys::lower_thread_priority();
        let mut events = Events::with_capacity(256);
        while !self.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            let wait = self
                .conns
                .iter()
                .flatten()
                .map(|c| c.deadline.saturating_duration_since(now))
                .min();
            if let Err(e) = self.poll.poll(&mut events, wait) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return;
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(t) => self.drive(t - 2),
                }
            }
            self.expire();
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let live = self.conns.iter().flatten().count();
                    if live >= self.config.max_connections {
                        continue; // dropped: closed
                    }
                    let slot = match self.conns.iter().position(Option::is_none) {
                        Some(i) => i,
                        None => {
                            self.conns.push(None);
                            self.conns.len() - 1
                        }
                    };
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, Token(slot + 2), interest)
                        .is_err()
                    {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    self.conns[slot] = Some(Conn {
                        stream,
                        input: Vec::with_capacity(1024),
                        output: Vec::new(),
                        sent: 0,
                        close_after: false,
                        deadline: Instant::now() + self.config.timeout,
                    });
                    // Data may already be there.
                    self.drive(slot);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Out of descriptors and the like: try again at the next readiness.
                Err(_) => return,
            }
        }
    }

    fn close(&mut self, slot: usize) {
        if let Some(mut c) = self.conns.get_mut(slot).and_then(Option::take) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    /// Slow clients: a `408` (best effort) and the end.
    fn expire(&mut self) {
        let now = Instant::now();
        for slot in 0..self.conns.len() {
            let Some(c) = &mut self.conns[slot] else {
                continue;
            };
            if c.deadline > now {
                continue;
            }
            if c.output.is_empty() {
                let _ = c.stream.write(&response_head(
                    408,
                    "text/plain; charset=utf-8",
                    0,
                    true,
                    &[],
                ));
            }
            self.close(slot);
        }
    }

    fn drive(&mut self, slot: usize) {
        let Some(Some(mut conn)) = self.conns.get_mut(slot).map(Option::take) else {
            return;
        };
        match self.drive_conn(&mut conn) {
            Next::Keep => self.conns[slot] = Some(conn),
            Next::Close => {
                let _ = self.poll.registry().deregister(&mut conn.stream);
            }
        }
    }

    fn drive_conn(&mut self, c: &mut Conn) -> Next {
        loop {
            // Write what is pending.
            while c.sent < c.output.len() {
                match c.stream.write(&c.output[c.sent..]) {
                    Ok(0) => return Next::Close,
                    Ok(n) => {
                        c.sent += n;
                        c.deadline = Instant::now() + self.config.timeout;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Next::Close,
                }
            }
            if !c.output.is_empty() {
                // A response is complete.
                c.output = Vec::new();
                c.sent = 0;
                if c.close_after {
                    let _ = c.stream.shutdown(std::net::Shutdown::Write);
                    return Next::Close;
                }
                c.deadline = Instant::now() + self.config.timeout;
            }
            // Read until the socket is drained (edge-triggered) or the head limit is passed.
            let mut eof = false;
            let mut buf = [0u8; 4096];
            while c.input.len() <= self.config.max_head {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => c.input.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Next::Close,
                }
            }
            match grammar::head_end(&c.input, 0) {
                Some(end) if end <= self.config.max_head => {
                    let head: Vec<u8> = c.input.drain(..end).collect();
                    self.respond(c, &head);
                    continue;
                }
                _ if c.input.len() > self.config.max_head => {
                    let body = b"request head too large\n";
                    c.output =
                        response_head(431, "text/plain; charset=utf-8", body.len(), true, &[]);
                    c.output.extend_from_slice(body);
                    c.close_after = true;
                    continue;
                }
                _ if eof => return Next::Close,
                _ => return Next::Keep,
            }
        }
    }

    /// Builds the response to one request head (through its empty line) in `c.output`.
    fn respond(&mut self, c: &mut Conn, head: &[u8]) {
        let text = "text/plain; charset=utf-8";
        let (status, body, ctype, close, extra): (u16, Vec<u8>, &str, bool, &[u8]) =
            match parse_request(head) {
                Err(()) => (400, b"bad request\n".to_vec(), text, true, &[]),
                Ok(req) => {
                    let path = req.target.split(|&b| b == b'?').next().unwrap_or_default();
                    let has_body = req.has_body;
                    if req.method != b"GET" && req.method != b"HEAD" {
                        (
                            405,
                            b"method not allowed\n".to_vec(),
                            text,
                            true,
                            b"Allow: GET, HEAD\r\n",
                        )
                    } else if path != b"/metrics" {
                        (
                            404,
                            b"not found: try /metrics\n".to_vec(),
                            text,
                            has_body || req.close,
                            &[],
                        )
                    } else {
                        let format = ExpositionFormat::from_accept(req.accept);
                        let mut body = Vec::new();
                        (self.render)(format, &mut body);
                        if req.method == b"HEAD" {
                            let mut out = response_head(
                                200,
                                format.content_type(),
                                body.len(),
                                req.close || has_body,
                                &[],
                            );
                            std::mem::swap(&mut c.output, &mut out);
                            c.close_after = req.close || has_body;
                            return;
                        }
                        (200, body, format.content_type(), req.close || has_body, &[])
                    }
                }
            };
        let mut out = response_head(status, ctype, body.len(), close, extra);
        out.extend_from_slice(&body);
        c.output = out;
        c.sent = 0;
        c.close_after = close;
    }
}

struct Request<'a> {
    method: &'a [u8],
    target: &'a [u8],
    accept: Option<&'a [u8]>,
    /// The client wants the connection closed (or speaks HTTP/1.0 without keep-alive).
    close: bool,
    /// It announced a body, which this server does not read: the connection ends.
    has_body: bool,
}

/// Parses a request head (request line and header fields, through the empty line).
fn parse_request(head: &[u8]) -> Result<Request<'_>, ()> {
    let mut lines = grammar::lines(head);
    let request = grammar::request_line(lines.next().ok_or(())?).ok_or(())?;
    if !request.target.starts_with(b"/") {
        return Err(());
    }
    let http10 = match request.version {
        (1, 1) => false,
        (1, 0) => true,
        _ => return Err(()),
    };
    let mut req = Request {
        method: request.method,
        target: request.target,
        accept: None,
        close: http10,
        has_body: false,
    };
    let mut ended = false;
    for line in lines {
        if line.is_empty() {
            ended = true;
            break;
        }
        let (name, value) = grammar::split_field(line).ok_or(())?;
        // A stray CR before the line end counts as whitespace (RFC 9110 §5.5 lets a recipient
        // read a CR in a value as SP).
        let value = value.trim_ascii();
        if name.eq_ignore_ascii_case(b"accept") {
            req.accept = Some(value);
        } else if name.eq_ignore_ascii_case(b"connection") {
            if value.eq_ignore_ascii_case(b"close") {
                req.close = true;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                req.close = false;
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            || (name.eq_ignore_ascii_case(b"content-length") && value != b"0")
        {
            req.has_body = true;
        }
    }
    if ended { Ok(req) } else { Err(()) }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "",
    }
}

fn response_head(status: u16, ctype: &str, len: usize, close: bool, extra: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {len}\r\n",
        reason(status)
    )
    .into_bytes();
    out.extend_from_slice(extra);
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads() {
        let r = parse_request(b"GET /metrics?x=1 HTTP/1.1\r\nAccept: text/plain\r\n\r\n").unwrap();
        assert_eq!(r.method, b"GET");
        assert_eq!(r.accept, Some(&b"text/plain"[..]));
        assert!(!r.close);
        assert!(
            parse_request(b"GET /metrics HTTP/1.0\r\n\r\n")
                .unwrap()
                .close
        );
        // A bare LF ends a line, as the simulated daemon and Go's server accept it.
        let r = parse_request(b"GET /metrics HTTP/1.1\nConnection: close\n\n").unwrap();
        assert!(r.close);
        assert!(parse_request(b"GET /metrics HTTP/1.1\r\n").is_err());
        for bad in [
            &b"\r\n\r\n"[..],
            b"GET /metrics\r\n\r\n",
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/2.0\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nbad name: x\r\n\r\n",
            b"\x16\x03\x01\x02\x00 / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                parse_request(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
