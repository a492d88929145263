//! A connection's requests: reading input, parsing request heads, routing them through `api`
//! and acting on the answer (a reply, a stats or events stream, a control command), and
//! refusing a failed TLS handshake. Not the frames of a stream once it runs (`stream.rs`) nor
//! the connection's buffers and state (`conn.rs`).

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::conn::{
    Close, Conn, ConnState, Ctx, StatsStream, Target, after_reply, bump, counters_json,
    frames_json, push_reply, set_state,
};
use super::stream::{on_timer, reply_frame};
use super::transport::{Got, HTTP_TO_HTTPS, Stream, looks_like_http, recv, write_records};
use crate::Flavor;
use crate::api::{self, Action, Control, H_DAEMON, H_DAEMON_JSON, StatsMode};
use crate::fault::{self, Fault};
use crate::http::{self, Framing, Parsed, ResponseHead};
use crate::time;

/// Request bytes buffered while a `stream=false` answer is pending; more closes the connection.
const MAX_PIPELINED: usize = 2 * http::MAX_HEAD;
/// A TLS connection failed (no or a bad client certificate, a protocol error, garbage, plain
/// HTTP): it alone is closed. The peer gets rustls's alert — or, if it spoke HTTP, Go's plain
/// text 400 — then the write side is shut and input drained, as for any closing connection.
/// What was queued and not yet sent is dropped (and not counted).
fn tls_failed(conn: &mut Conn, ctx: &mut Ctx, e: &rustls::Error) {
    let Stream::Tls(sock, t) = &mut conn.stream else {
        return;
    };
    if ctx.config.log_requests {
        let peer = sock
            .peer_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        let phase = if t.tls.is_handshaking() {
            "handshake"
        } else {
            "connection"
        };
        ctx.log(format_args!("TLS {phase} with {peer} failed: {e}"));
    }
    t.failed = true;
    t.inflight = 0;
    if looks_like_http(&t.head[..usize::from(t.head_len)]) {
        // A short write is as good as it gets: the socket's buffer is empty at this point.
        let _ = sock.write(HTTP_TO_HTTPS);
        // rustls's alert would follow as garbage: it goes nowhere.
        while t.tls.wants_write() {
            if !matches!(t.tls.write_tls(&mut io::sink()), Ok(n) if n > 0) {
                break;
            }
        }
    } else {
        // The alert; a full socket or a gone peer leaves nothing else to do.
        let _ = write_records(sock, &mut t.tls);
    }
    ctx.return_buffer(conn);
    conn.ends.clear();
    conn.spool = None;
    conn.inbuf = Vec::new();
    conn.keep_alive = false;
    set_state(conn, ConnState::Closing(Close::Graceful), &ctx.shared);
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
                Control::Frames => frames_json(&ctx.sent_by_name),
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
                // Podman answers `stream=false` at once, with its empty precpu.
                StatsMode::Once if ctx.config.flavor == Flavor::Podman => {
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
                        unreadable: false,
                    };
                    set_state(conn, ConnState::Stats(stream), &ctx.shared);
                    // The first frame goes out at once; the timer takes over from there.
                    if on_timer(conn, slot, now, ctx) {
                        process_requests(conn, slot, ctx);
                    }
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
            server: conn.server,
        },
    );
    framing
}
