//! One connection's state and its requests: reading request heads, answering them through
//! `api`, writing queued output, and what a connection is doing between requests (idle,
//! streaming stats or events, closing). Not the frames of a stats stream (`stream.rs`) nor the
//! socket underneath (`transport.rs`).

use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::stream::{SPOOL_BATCH, on_timer, reply_frame};
use super::transport::{Got, Out, Stream, flush_tls, recv, tls_failed};
use super::{Close, Ctx, MAX_PIPELINED, Shared, bump, counters_json, drop_one};
use crate::api::{self, Action, Control, H_DAEMON, H_DAEMON_JSON, Reply, StatsMode};
use crate::events::Filter;
use crate::fault::{self, Fault};
use crate::http::{self, Framing, Parsed, ResponseHead};
use crate::model::Model;
use crate::time::{self, UnixNanos};

/// Where a connection is in its life.
#[derive(Debug)]
pub(super) enum ConnState {
    /// Reading (and answering) requests.
    Idle,
    /// A `stream=false` answer is due when the timer fires. `run` is the container's run at
    /// `since` if it was running then (only then is the sample at `since` its precpu).
    Waiting {
        target: Target,
        since: UnixNanos,
        run: Option<u32>,
    },
    /// Streaming stats frames until the client leaves or the container is removed.
    Stats(StatsStream),
    /// Streaming events until the client leaves.
    Events {
        framing: Framing,
        filter: Box<Filter>,
    },
    /// Sending what is queued, then closing (gracefully, or with a reset).
    Closing(Close),
    /// Write side shut; draining input until EOF or the linger timer.
    Lingering,
}

/// The container a request is about: its slot, and its id and name, shared with the model so
/// that a removal (or the slot's reuse) shows, and the last frames can still name it.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) idx: usize,
    pub(super) id: Rc<str>,
    pub(super) name: Rc<str>,
}

impl Target {
    pub(super) fn new(model: &Model, idx: usize) -> Option<Target> {
        let c = model.containers.get(idx)?;
        Some(Target {
            idx,
            id: Rc::clone(&c.id),
            name: Rc::clone(&c.name),
        })
    }
}

/// Per-stream state: kept small, there may be 10,000 of these.
#[derive(Debug)]
pub(super) struct StatsStream {
    pub(super) target: Target,
    /// `read` of the last live frame the client got (`None` before the first, and after a
    /// zero frame).
    pub(super) prev: Option<UnixNanos>,
    /// The container's run that `prev` belongs to.
    pub(super) prev_run: u32,
    /// Deadline of the next frame.
    pub(super) next: Instant,
    /// Chunked, or raw frames until close (HTTP/1.0).
    pub(super) framing: Framing,
    /// Frames emitted on this stream (sent or queued).
    pub(super) emitted: u32,
    /// Zero frames left to send once the container is gone.
    pub(super) ending: Option<u8>,
    /// A fault still to come, and how many good frames precede it.
    pub(super) fault: Option<(u32, Fault)>,
}

/// What a byte offset in [`Conn::ends`] marks the end of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Counted {
    /// A stats frame of the container of this name.
    Frame(Rc<str>),
    Event,
}

/// Output generated as the socket takes it, after what is in [`Conn::out`]: the padding of a
/// huge frame (so the sim never holds it whole), or a frame dripped one byte at a time.
#[derive(Debug)]
pub(super) struct Spool {
    /// Padding bytes (`x`) still to write before `tail`.
    pub(super) pad: usize,
    /// What follows the padding, written from `pos` on.
    pub(super) tail: Vec<u8>,
    pub(super) pos: usize,
    /// One byte per tick of this period (zero: per turn of the loop), written by the stream's
    /// timer, instead of as fast as the socket takes them.
    pub(super) drip: Option<Duration>,
    /// The frame the spool ends, counted once its last byte is on the socket (`None`: a fault
    /// payload, not a frame).
    pub(super) frame: Option<Rc<str>>,
}

impl Spool {
    pub(super) fn is_empty(&self) -> bool {
        self.pad == 0 && self.pos == self.tail.len()
    }

    /// Appends up to `max` bytes to `out`.
    fn feed(&mut self, out: &mut Vec<u8>, max: usize) {
        let pad = self.pad.min(max);
        out.resize(out.len() + pad, b'x');
        self.pad -= pad;
        let n = (max - pad).min(self.tail.len() - self.pos);
        out.extend_from_slice(&self.tail[self.pos..self.pos + n]);
        self.pos += n;
    }
}

pub(super) struct Conn {
    pub(super) stream: Stream,
    pub(super) inbuf: Vec<u8>,
    pub(super) out: Vec<u8>,
    /// Bytes of `out` already written.
    pub(super) out_pos: usize,
    /// Bytes written to the socket over the connection's life.
    pub(super) written: u64,
    /// Absolute end offsets (in `written` terms) of frames and events not yet fully written.
    pub(super) ends: VecDeque<(u64, Counted)>,
    pub(super) state: ConnState,
    /// Of the request being answered.
    http11: bool,
    pub(super) keep_alive: bool,
    /// Request body bytes still to skip.
    skip_body: u64,
    pub(super) peer_closed: bool,
    /// Id of this connection's live timer.
    pub(super) timer: Option<u64>,
    /// Set when the connection must be dropped now.
    pub(super) dead: bool,
    /// Output still to be generated after `out` ([`Spool`]).
    pub(super) spool: Option<Box<Spool>>,
}

impl Conn {
    pub(super) fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            inbuf: Vec::new(),
            out: Vec::new(),
            out_pos: 0,
            written: 0,
            ends: VecDeque::new(),
            state: ConnState::Idle,
            http11: true,
            keep_alive: true,
            skip_body: 0,
            peer_closed: false,
            timer: None,
            dead: false,
            spool: None,
        }
    }

    /// Bytes not yet on the socket: queued here, or (TLS) handed to rustls and not yet
    /// written in records.
    pub(super) fn pending(&self) -> usize {
        self.out.len() - self.out_pos + self.stream.inflight()
    }

    /// Absolute offset of the end of what is queued now.
    fn queued_end(&self) -> u64 {
        self.written + (self.out.len() - self.out_pos) as u64
    }

    /// Marks the end of what is queued now as the end of a frame or event.
    pub(super) fn mark_end(&mut self, what: Counted) {
        let end = self.queued_end();
        self.ends.push_back((end, what));
    }

    /// Moves up to `max` bytes of the spool to `out`; once it is empty, the frame it ends (if
    /// any) is marked, and the spool is dropped.
    pub(super) fn feed_spool(&mut self, max: usize) {
        let Some(spool) = &mut self.spool else {
            return;
        };
        spool.feed(&mut self.out, max);
        if spool.is_empty() {
            let frame = spool.frame.take();
            self.spool = None;
            if let Some(name) = frame {
                self.mark_end(Counted::Frame(name));
            }
        }
    }
}

/// Changes state, keeping the `streams_open` gauge right.
pub(super) fn set_state(conn: &mut Conn, state: ConnState, shared: &Shared) {
    if matches!(conn.state, ConnState::Stats(_)) {
        drop_one(&shared.streams_open);
    }
    if matches!(state, ConnState::Stats(_)) {
        bump(&shared.streams_open);
    }
    conn.state = state;
}

/// Writes queued output until done or `WouldBlock`, and counts the frames and events that
/// made it.
pub(super) fn flush(conn: &mut Conn, ctx: &mut Ctx) {
    let sent = loop {
        let sent = write_out(conn);
        // A spooled payload follows once the socket has taken all of `out`, a batch at a
        // time (a dripping one goes by its timer instead).
        let refill = !conn.dead
            && conn.out_pos == conn.out.len()
            && conn.spool.as_ref().is_some_and(|s| s.drip.is_none());
        if !refill {
            break sent;
        }
        conn.out.clear();
        conn.out_pos = 0;
        conn.feed_spool(SPOOL_BATCH);
    };
    while let Some((end, _)) = conn.ends.front() {
        if *end > sent {
            break;
        }
        let Some((_, what)) = conn.ends.pop_front() else {
            break;
        };
        match what {
            Counted::Frame(name) => {
                bump(&ctx.shared.frames_sent);
                *ctx.sent_by_name.entry(name).or_default() += 1;
            }
            Counted::Event => bump(&ctx.shared.events_sent),
        }
    }
    if conn.out_pos == conn.out.len() {
        // Nothing left to send: the buffer goes back to the pool (or is freed, if it grew big
        // for a large listing), so an idle connection holds none.
        ctx.return_buffer(conn);
    } else if conn.out_pos >= 64 * 1024 && conn.out_pos * 2 >= conn.out.len() {
        conn.out.drain(..conn.out_pos);
        conn.out_pos = 0;
    }
}

/// Writes `out` (through TLS or not); returns the offset (in `written` terms) up to which bytes
/// are on the socket.
fn write_out(conn: &mut Conn) -> u64 {
    if let Stream::Tls(sock, tls) = &mut conn.stream {
        let out = Out {
            buf: &conn.out,
            pos: &mut conn.out_pos,
            written: &mut conn.written,
        };
        let (sent, dead) = flush_tls(sock, tls, out);
        conn.dead |= dead;
        sent
    } else {
        flush_plain(conn)
    }
}

/// Writes from `out` until done or `WouldBlock`; returns the offset (in `written` terms) up to
/// which bytes are on the socket.
fn flush_plain(conn: &mut Conn) -> u64 {
    while conn.out_pos < conn.out.len() {
        match conn.stream.write(&conn.out[conn.out_pos..]) {
            Ok(0) => {
                conn.dead = true;
                break;
            }
            Ok(n) => {
                conn.out_pos += n;
                conn.written += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // EPIPE, ECONNRESET: the client is gone.
                conn.dead = true;
                break;
            }
        }
    }
    conn.written
}

/// Reads until `WouldBlock` or EOF, then acts on what arrived.
pub(super) fn read(conn: &mut Conn, slot: usize, ctx: &mut Ctx) {
    loop {
        match recv(&mut conn.stream, &mut ctx.readbuf) {
            Got::Eof => {
                conn.peer_closed = true;
                break;
            }
            Got::Failed(e) => {
                tls_failed(conn, ctx, &e);
                // Go on draining (raw, now) until WouldBlock: readiness is edge-triggered.
                continue;
            }
            Got::Bytes(n) => match conn.state {
                ConnState::Idle => {
                    conn.inbuf.extend_from_slice(&ctx.readbuf[..n]);
                    // Answer as we go, so that a client sending a lot at once (many
                    // pipelined requests, or an endless head) never makes the buffer grow
                    // past one head: the parser rejects heads over MAX_HEAD.
                    if conn.inbuf.len() > http::MAX_HEAD {
                        process_requests(conn, slot, ctx);
                    }
                }
                ConnState::Waiting { .. } => {
                    conn.inbuf.extend_from_slice(&ctx.readbuf[..n]);
                    if conn.inbuf.len() > MAX_PIPELINED {
                        conn.dead = true;
                        return;
                    }
                }
                // A stats stream can end (its container removed) and the connection then
                // takes requests again, so what a client sends meanwhile is kept, like Go keeps
                // it in its reader. Past the limit the input is dropped, and since the request
                // stream is then broken the connection closes when the stream ends.
                ConnState::Stats(_) => {
                    if conn.keep_alive && conn.inbuf.len() + n <= MAX_PIPELINED {
                        conn.inbuf.extend_from_slice(&ctx.readbuf[..n]);
                    } else {
                        conn.keep_alive = false;
                        conn.inbuf = Vec::new();
                    }
                }
                // Event streams and closing connections take no more requests: discard.
                ConnState::Events { .. } | ConnState::Closing(_) | ConnState::Lingering => {}
            },
            Got::Blocked => break,
            Got::Gone => {
                conn.dead = true;
                return;
            }
        }
    }
    if matches!(conn.state, ConnState::Idle) {
        process_requests(conn, slot, ctx);
    }
    if conn.peer_closed {
        match conn.state {
            // Answer what was asked before the EOF, then close.
            ConnState::Idle => set_state(conn, ConnState::Closing(Close::Graceful), &ctx.shared),
            ConnState::Closing(_) => {}
            // The client left (Go cancels the request context): stop streaming.
            ConnState::Waiting { .. }
            | ConnState::Stats(_)
            | ConnState::Events { .. }
            | ConnState::Lingering => conn.dead = true,
        }
    }
}

/// Answers the complete requests in the input buffer, in order, while the connection is idle.
pub(super) fn process_requests(conn: &mut Conn, slot: usize, ctx: &mut Ctx) {
    if conn.inbuf.is_empty() {
        return;
    }
    ctx.lend_buffer(conn);
    answer_requests(conn, slot, ctx);
    // Requests are a few hundred bytes: keeping their buffer between them is not worth a
    // buffer per idle connection.
    if conn.inbuf.is_empty() {
        conn.inbuf = Vec::new();
    }
}

fn answer_requests(conn: &mut Conn, slot: usize, ctx: &mut Ctx) {
    while matches!(conn.state, ConnState::Idle) && !conn.dead {
        if conn.skip_body > 0 {
            let n = conn
                .inbuf
                .len()
                .min(usize::try_from(conn.skip_body).unwrap_or(usize::MAX));
            conn.inbuf.drain(..n);
            conn.skip_body -= n as u64;
            if conn.skip_body > 0 {
                return;
            }
        }
        let (action, used) = match http::parse_head(&conn.inbuf) {
            Parsed::Partial => return,
            Parsed::Error(e) => {
                ctx.log(format_args!("bad request head: {e:?}"));
                conn.out.extend_from_slice(e.reply());
                conn.inbuf.clear();
                set_state(conn, ConnState::Closing(Close::Graceful), &ctx.shared);
                return;
            }
            Parsed::Done(head, used) => {
                bump(&ctx.shared.requests);
                conn.http11 = head.http11;
                conn.keep_alive = head.keep_alive;
                conn.skip_body = head.content_length;
                let action = api::route(head.method, head.target, &ctx.model, ctx.clock());
                if ctx.config.log_requests {
                    let status = match &action {
                        Action::Reply(r) => r.status,
                        _ => 200,
                    };
                    ctx.log(format_args!("{} {} -> {status}", head.method, head.target));
                }
                (action, used)
            }
        };
        conn.inbuf.drain(..used);
        apply(conn, slot, action, ctx);
    }
}

/// Appends a complete reply with Go's framing rule.
pub(super) fn push_reply(conn: &mut Conn, reply: &Reply) {
    let framing = if reply.preset_length {
        Framing::Preset
    } else {
        http::go_framing(reply.body.len(), conn.http11)
    };
    let close = !conn.keep_alive || framing == Framing::Close;
    http::push_head(
        &mut conn.out,
        &ResponseHead {
            http11: conn.http11,
            status: reply.status,
            headers: reply.headers,
            date: time::now(),
            framing,
            sniffed_type: reply.sniffed_type,
            close,
        },
    );
    if framing == Framing::Chunked {
        http::push_chunk(&mut conn.out, &reply.body);
        http::push_last_chunk(&mut conn.out);
    } else {
        conn.out.extend_from_slice(&reply.body);
    }
    if close {
        conn.keep_alive = false;
    }
}

/// After a complete response: next request, or close.
pub(super) fn after_reply(conn: &mut Conn, ctx: &Ctx) {
    let next = if conn.keep_alive {
        ConnState::Idle
    } else {
        ConnState::Closing(Close::Graceful)
    };
    set_state(conn, next, &ctx.shared);
}

pub(super) fn apply(conn: &mut Conn, slot: usize, action: Action, ctx: &mut Ctx) {
    match action {
        Action::Reply(mut reply) => {
            // A listing names containers: broken names are broken there too.
            ctx.break_names(&mut reply.body);
            push_reply(conn, &reply);
            after_reply(conn, ctx);
        }
        Action::Control(control) => {
            let body = match control {
                Control::Counters => counters_json(&ctx.shared.counters()),
                Control::Pause | Control::Resume => {
                    ctx.frames_paused = control == Control::Pause;
                    ctx.log(format_args!("stats frames paused: {}", ctx.frames_paused));
                    b"{\"ok\":true}\n".to_vec()
                }
                Control::Restart { down_ms } => {
                    // The server restarts once this answer is on its way (see `serve`).
                    ctx.restart = Some(Duration::from_millis(down_ms));
                    b"{\"ok\":true}\n".to_vec()
                }
            };
            push_reply(conn, &api::control_reply(body));
            after_reply(conn, ctx);
        }
        Action::Events(filter) => {
            let framing = push_stream_head(conn, H_DAEMON_JSON);
            set_state(conn, ConnState::Events { framing, filter }, &ctx.shared);
            if !ctx.subscribers.contains(&slot) {
                ctx.subscribers.push(slot);
            }
        }
        Action::Stats { idx, mode } => {
            let Some(target) = Target::new(&ctx.model, idx) else {
                // The router found the container in this very model: cannot happen.
                push_reply(conn, &api::page_not_found());
                after_reply(conn, ctx);
                return;
            };
            if let Some(status) = ctx.status_fault(&target.name) {
                ctx.shared.count_fault(&Fault::Status(status));
                let message = fault::status_message(status, &target.name);
                push_reply(conn, &api::error_reply(status, &message));
                after_reply(conn, ctx);
                return;
            }
            match mode {
                StatsMode::OneShot => {
                    reply_frame(conn, ctx, &target, None);
                    after_reply(conn, ctx);
                }
                StatsMode::Once => {
                    // The daemon needs two samples a collector tick apart: answer one interval
                    // later with precpu from now.
                    let since = ctx.clock();
                    let run = ctx
                        .model
                        .current(idx, &target.id)
                        .filter(|c| c.running())
                        .map(|c| c.runs);
                    set_state(conn, ConnState::Waiting { target, since, run }, &ctx.shared);
                    let at = Instant::now() + ctx.interval;
                    ctx.schedule(conn, slot, at);
                }
                StatsMode::Stream => {
                    let framing = push_stream_head(conn, H_DAEMON);
                    // Status and name faults are not the stream's: they are applied above, and
                    // where names are written.
                    let fault = ctx
                        .config
                        .faults
                        .iter()
                        .filter(|r| !matches!(r.fault, Fault::Status(_) | Fault::BadUtf8Name))
                        .find(|r| r.container.as_str() == &*target.name)
                        .map(|r| (r.after_frames, r.fault.clone()));
                    let now = Instant::now();
                    let stream = StatsStream {
                        target,
                        prev: None,
                        prev_run: 0,
                        next: now,
                        framing,
                        emitted: 0,
                        ending: None,
                        fault,
                    };
                    set_state(conn, ConnState::Stats(stream), &ctx.shared);
                    // The first frame goes out at once; the timer takes over from there.
                    on_timer(conn, slot, now, ctx);
                }
            }
        }
    }
}

/// Writes the head of a never-ending response; returns the body framing.
fn push_stream_head(conn: &mut Conn, headers: &'static [(&'static str, &'static str)]) -> Framing {
    let framing = if conn.http11 {
        Framing::Chunked
    } else {
        Framing::Close
    };
    http::push_head(
        &mut conn.out,
        &ResponseHead {
            http11: conn.http11,
            status: 200,
            headers,
            date: time::now(),
            framing,
            sniffed_type: None,
            close: !conn.keep_alive,
        },
    );
    framing
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At 10,000 streams the state of a connection is what scales: a few hundred bytes plus
    /// its socket, with no buffer held while it has nothing to send.
    #[test]
    fn connection_state_stays_small() {
        assert!(
            std::mem::size_of::<Conn>() <= 320,
            "{}",
            std::mem::size_of::<Conn>()
        );
        assert!(std::mem::size_of::<ConnState>() <= 128);
    }
}
