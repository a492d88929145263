//! The sender's blocking HTTP/1.1 client: one POST at a time on a connection kept alive
//! (TLS through [`crate::tls`] for `https://`), the response read through the engine's
//! parser and limits ([`crate::conn`]), and what it says in words for the user.

use super::*;

/// The socket under a connection.
enum Stream {
    Tcp(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<BlockingTls>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Tcp(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.tcp(),
        }
    }

    /// Bounds every read and write by `deadline`.
    fn set_deadline(&self, deadline: Instant) -> io::Result<()> {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.tcp().set_read_timeout(Some(left))?;
        self.tcp().set_write_timeout(Some(left))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// The blocking HTTP/1.1 client: one POST at a time, the connection kept alive.
pub(super) struct Client {
    pub(super) target: Target,
    headers: Vec<(String, String)>,
    live: Option<(Stream, Connection)>,
    buf: Vec<u8>,
}

/// A response as the sender needs it.
struct Reply {
    code: u16,
    reason: String,
    retry_after: Option<Duration>,
    message: Vec<u8>,
}

fn io_words(e: &io::Error) -> String {
    #[cfg(feature = "tls")]
    if let Some(tls) = crate::tls::from_io(e) {
        return tls.to_string();
    }
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "timed out".to_string(),
        _ => {
            let text = e.to_string();
            let text = text.split(" (os error").next().unwrap_or(&text);
            let mut chars = text.chars();
            chars.next().map_or(String::new(), |c| {
                c.to_lowercase().chain(chars).collect::<String>()
            })
        }
    }
}

pub(super) fn retry(why: String) -> Failure {
    Failure::Retry { why, after: None }
}

impl Client {
    pub(super) fn new(target: Target, headers: &[(String, String)]) -> Client {
        Client {
            target,
            headers: headers.to_vec(),
            live: None,
            buf: vec![0; 16 << 10],
        }
    }

    fn connect(&self, deadline: Instant) -> std::result::Result<Stream, Failure> {
        let mut last = None;
        for addr in &self.target.addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(retry("timed out connecting".into()));
            }
            match TcpStream::connect_timeout(addr, left) {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    return self.wrap(tcp, deadline);
                }
                Err(e) => last = Some(e),
            }
        }
        let why = last.map_or_else(|| "no address".to_string(), |e| io_words(&e));
        Err(retry(format!("cannot connect: {why}")))
    }

    #[cfg_attr(not(feature = "tls"), allow(clippy::unnecessary_wraps))]
    fn wrap(&self, tcp: TcpStream, deadline: Instant) -> std::result::Result<Stream, Failure> {
        #[cfg(feature = "tls")]
        if let Some(connector) = &self.target.tls {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            let _ = tcp.set_read_timeout(Some(left));
            let _ = tcp.set_write_timeout(Some(left));
            return BlockingTls::connect(tcp, connector, &self.target.host)
                .map(|s| Stream::Tls(Box::new(s)))
                .map_err(|e| retry(io_words(&e)));
        }
        let _ = deadline;
        Ok(Stream::Tcp(tcp))
    }

    /// One POST of `body`; for a 2xx, `Ok` with the response body (its first
    /// [`MAX_ERROR_BODY`] bytes). `written`: bytes written to the socket.
    pub(super) fn post(
        &mut self,
        body: &[u8],
        content: &[(&str, &str)],
        deadline: Instant,
        written: &mut u64,
    ) -> std::result::Result<Vec<u8>, Failure> {
        // A kept-alive connection the receiver closed meanwhile fails before any response
        // byte: then once more on a new one.
        let reused = self.live.is_some();
        let reply = match self.exchange(body, content, deadline, written) {
            Err(Exchange::Stale) if reused => match self.exchange(body, content, deadline, written)
            {
                Err(Exchange::Stale) => {
                    return Err(retry("the connection closed before a response".into()));
                }
                Err(Exchange::Failed(f)) => return Err(f),
                Ok(reply) => reply,
            },
            Err(Exchange::Stale) => {
                return Err(retry("the connection closed before a response".into()));
            }
            Err(Exchange::Failed(f)) => return Err(f),
            Ok(reply) => reply,
        };
        let message = crate::error::one_line(&String::from_utf8_lossy(&reply.message), 300);
        let status = match (reply.reason.as_str(), message.as_str()) {
            ("", "") => format!("{}", reply.code),
            (reason, "") => format!("{} {reason}", reply.code),
            ("", m) => format!("{}: {m}", reply.code),
            (reason, m) => format!("{} {reason}: {m}", reply.code),
        };
        match reply.code {
            200..=299 => Ok(reply.message),
            429 | 500..=599 => Err(Failure::Retry {
                why: format!("the receiver answered {status}"),
                after: reply.retry_after.map(|d| d.min(MAX_RETRY_AFTER)),
            }),
            _ => Err(Failure::Refused(format!(
                "the receiver refused a batch: {status} (not retried; the batch is counted as failed)"
            ))),
        }
    }

    fn exchange(
        &mut self,
        body: &[u8],
        content: &[(&str, &str)],
        deadline: Instant,
        written: &mut u64,
    ) -> std::result::Result<Reply, Exchange> {
        let (mut stream, mut conn) = match self.live.take() {
            Some(live) => live,
            None => (
                self.connect(deadline).map_err(Exchange::Failed)?,
                Connection::new(),
            ),
        };
        let fields: Vec<(&str, &str)> = (content.iter().copied())
            .chain(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .collect();
        let failed = |e: Error| Exchange::Failed(retry(e.to_string()));
        conn.send_post(
            &self.target.path,
            &self.target.authority,
            &fields,
            body.len(),
        )
        .map_err(failed)?;
        stream
            .set_deadline(deadline)
            .map_err(|e| Exchange::Failed(retry(io_words(&e))))?;
        let head_len = conn.transmit().len();
        let sent = stream
            .write_all(conn.transmit())
            .and_then(|()| stream.write_all(body))
            .and_then(|()| stream.flush());
        conn.advance_transmit(head_len);
        *written += (head_len + body.len()) as u64;
        if let Err(e) = sent {
            return Err(match e.kind() {
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Exchange::Stale,
                _ => Exchange::Failed(retry(io_words(&e))),
            });
        }
        let mut reply: Option<Reply> = None;
        let mut any = false;
        loop {
            if Instant::now() >= deadline {
                return Err(Exchange::Failed(retry(
                    "timed out waiting for the response".into(),
                )));
            }
            let n = match stream.read(&mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !any => {
                    return Err(Exchange::Stale);
                }
                Err(e) => {
                    return Err(Exchange::Failed(retry(match e.kind() {
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                            "timed out waiting for the response".to_string()
                        }
                        _ => io_words(&e),
                    })));
                }
            };
            if n == 0 {
                return match conn.handle_eof() {
                    Ok(Some(_)) => {
                        reply.ok_or_else(|| Exchange::Failed(retry("no response".into())))
                    }
                    Ok(None) | Err(_) if !any => Err(Exchange::Stale),
                    _ => Err(failed(Error::new(ErrorKind::Truncated))),
                };
            }
            any = true;
            let mut input = &self.buf[..n];
            loop {
                let (event, used) = conn.handle_input(input).map_err(failed)?;
                match event {
                    ResponseEvent::Head(head) => {
                        let retry_after = head
                            .header("retry-after")
                            .and_then(|v| std::str::from_utf8(v).ok())
                            .and_then(|v| retry_after(v, SystemTime::now()));
                        reply = Some(Reply {
                            code: head.code,
                            reason: String::from_utf8_lossy(head.reason).into_owned(),
                            retry_after,
                            message: Vec::new(),
                        });
                    }
                    ResponseEvent::Body(piece) => {
                        if let Some(r) = &mut reply {
                            let room = MAX_ERROR_BODY.saturating_sub(r.message.len());
                            r.message.extend_from_slice(&piece[..piece.len().min(room)]);
                        }
                    }
                    ResponseEvent::End => {
                        if conn.is_reusable() {
                            self.live = Some((stream, conn));
                        }
                        return reply.ok_or_else(|| Exchange::Failed(retry("no response".into())));
                    }
                    ResponseEvent::Excess(_) => {
                        return reply.ok_or_else(|| Exchange::Failed(retry("no response".into())));
                    }
                    ResponseEvent::NeedMore => break,
                }
                input = &input[used..];
            }
        }
    }
}

/// A `Retry-After` value: delay-seconds, or an HTTP-date (RFC 9110's IMF-fixdate, `Sun, 06
/// Nov 1994 08:49:37 GMT`) as the time left until it from `now` (zero once it has passed).
/// `None` for anything else.
pub(super) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    let rest = value.get(5..)?.strip_suffix(" GMT")?;
    if value.as_bytes().get(3..5) != Some(b", ") {
        return None;
    }
    let mut parts = rest.split(' ');
    let (day, month, year, time) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || day.len() != 2 || year.len() != 4 || time.len() != 8 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let number = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (day, year) = (number(day)?, number(year)?);
    let mut hms = time
        .split(':')
        .map(|p| (p.len() == 2).then(|| number(p)).flatten());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let at =
        crate::stats::model::days_from_civil(year, month, day) * 86_400 + h * 3_600 + m * 60 + sec;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

/// How an exchange failed.
enum Exchange {
    /// The connection was closed before any response byte (a kept-alive one may be stale).
    Stale,
    Failed(Failure),
}
