//! The stats-stream writer: a stream's timer, each frame or zero frame written on it, and the
//! stream's fault applied in place of a frame (split, dripped, oversized, reset, …). Not the
//! request that started the stream (`request.rs`), nor what the connection does once the
//! stream ends (the caller of [`on_timer`] takes its requests again).

use std::rc::Rc;
use std::time::Instant;

use super::conn::{
    Close, Conn, ConnState, Counted, Ctx, Spool, Target, after_reply, bump, push_reply, set_state,
};
use crate::api;
use crate::fault::{self, FAULT_KINDS, Fault};
use crate::frames::{push_frame, push_zero_frame};
use crate::http::{self, Framing};
use crate::model::hash2;
use crate::time::{self, UnixNanos};

/// Unsent bytes above which a stream's next frame is skipped instead of queued.
const MAX_QUEUED: usize = 32 * 1024;
/// A one-frame `stream=false` answer (Content-Length or chunked by size, like Go). `pre` is
/// the previous sample's time, given only if it is of the container's current run.
pub(super) fn reply_frame(conn: &mut Conn, ctx: &mut Ctx, target: &Target, pre: Option<UnixNanos>) {
    let mut body = Vec::with_capacity(2560);
    let read = match (ctx.config.fixed_clock, pre) {
        (Some(t), Some(_)) => t + ctx.interval.as_nanos() as u64,
        (Some(t), None) => t,
        (None, _) => time::now(),
    };
    if ctx.model.current(target.idx, &target.id).is_some() {
        push_frame(
            &mut body,
            &ctx.model,
            target.idx,
            read,
            pre,
            &mut ctx.scratch,
        );
    } else {
        // Removed while the answer was pending: what it was is all there is to say.
        push_zero_frame(&mut body, &target.name, &target.id);
    }
    // A broken name is broken in single samples from the first.
    let broken = ctx.bad_names.iter().any(|(n, _)| **n == *target.name);
    if broken {
        fault::break_name(&mut body, &target.name);
        ctx.shared.count_fault(&Fault::BadUtf8Name);
    }
    push_reply(conn, &api::stats_reply(body));
    if !broken {
        conn.mark_end(Counted::Frame(Rc::clone(&target.name)));
    }
}

/// A connection's timer fired (`due` is when it was set for): a `stream=false` answer is due,
/// a stream's next frame, or the end of lingering. Returns whether the connection is back to
/// taking requests, for the caller to process what it buffered meanwhile.
pub(super) fn on_timer(conn: &mut Conn, slot: usize, due: Instant, ctx: &mut Ctx) -> bool {
    ctx.lend_buffer(conn);
    match &conn.state {
        ConnState::Waiting { target, since, run } => {
            let current = ctx.model.current(target.idx, &target.id);
            let pre = (run.is_some() && current.map(|c| c.runs) == *run).then_some(*since);
            let ConnState::Waiting { target, .. } =
                std::mem::replace(&mut conn.state, ConnState::Idle)
            else {
                return false;
            };
            reply_frame(conn, ctx, &target, pre);
            after_reply(conn, ctx);
            // Requests pipelined behind the stats request have waited in the buffer.
            true
        }
        ConnState::Stats(_) => match tick_stream(conn, ctx) {
            Emitted::More => {
                // A dripping frame goes by its own pace, a byte a tick.
                let drip = conn.spool.as_ref().and_then(|s| s.drip);
                let interval = drip.unwrap_or(ctx.interval);
                let now = Instant::now();
                if let ConnState::Stats(s) = &mut conn.state {
                    // Keep the cadence of the original deadline, unless we fell a whole
                    // interval behind (then the missed frames are simply not sent).
                    s.next = due + interval;
                    if s.next <= now {
                        s.next = now + interval;
                    }
                    let next = s.next;
                    ctx.schedule(conn, slot, next);
                }
                false
            }
            Emitted::Halt => false,
            Emitted::End => {
                after_reply(conn, ctx);
                // Whatever the client sent during the stream is its next request.
                true
            }
        },
        ConnState::Lingering => {
            conn.dead = true;
            false
        }
        ConnState::Idle | ConnState::Events { .. } | ConnState::Closing(_) => false,
    }
}

/// A stats stream's tick: a byte of a dripping frame, nothing while a spooled payload is being
/// written (neither sent nor skipped), else the next frame.
fn tick_stream(conn: &mut Conn, ctx: &mut Ctx) -> Emitted {
    match &conn.spool {
        Some(spool) if spool.drip.is_some() => {
            conn.feed_spool(1);
            Emitted::More
        }
        Some(_) => Emitted::More,
        None => emit_frame(conn, ctx),
    }
}

/// What became of a stats stream at a tick.
enum Emitted {
    /// It goes on: arm the next tick.
    More,
    /// A fault ended it (stall or truncation): no more ticks.
    Halt,
    /// Its container is gone and its body is complete: the connection is free again.
    End,
}

/// Emits (or skips) the next frame of a stats stream.
fn emit_frame(conn: &mut Conn, ctx: &mut Ctx) -> Emitted {
    let pending = conn.pending();
    let ConnState::Stats(s) = &mut conn.state else {
        return Emitted::Halt;
    };
    if ctx.frames_paused {
        // Neither sent nor skipped: the control endpoint asked for silence.
        return Emitted::More;
    }
    if pending > MAX_QUEUED {
        bump(&ctx.shared.frames_skipped);
        return Emitted::More;
    }
    let read = match ctx.config.fixed_clock {
        Some(t) => t + u64::from(s.emitted) * ctx.interval.as_nanos() as u64,
        None => time::now(),
    };
    ctx.frame.clear();
    s.emitted = s.emitted.saturating_add(1);
    let framing = s.framing;
    let counted = !s.unreadable;
    let Some(c) = ctx.model.current(s.target.idx, &s.target.id) else {
        // Removed: a couple more zero frames, then the end of the body (the daemon's stats
        // publisher closes when the container is destroyed).
        let left = s.ending.get_or_insert(FRAMES_AFTER_REMOVE);
        *left = left.saturating_sub(1);
        let last = *left == 0;
        push_zero_frame(&mut ctx.frame, &s.target.name, &s.target.id);
        let name = Rc::clone(&s.target.name);
        push_body(&mut conn.out, framing, &ctx.frame, None);
        if counted {
            conn.mark_end(Counted::Frame(name));
        }
        if !last {
            return Emitted::More;
        }
        if framing == Framing::Chunked {
            http::push_last_chunk(&mut conn.out);
        } else {
            // A body delimited by the connection: closing it is the end.
            conn.keep_alive = false;
        }
        return Emitted::End;
    };
    // A previous sample of an earlier run is no precpu for this one.
    let pre = s.prev.filter(|_| s.prev_run == c.runs);
    let (running, runs) = (c.running(), c.runs);
    push_frame(
        &mut ctx.frame,
        &ctx.model,
        s.target.idx,
        read,
        pre,
        &mut ctx.scratch,
    );
    let fault = match &s.fault {
        Some((after, f)) if *after == s.emitted - 1 => {
            let f = f.clone();
            s.fault = None;
            Some(f)
        }
        _ => None,
    };
    let name = Rc::clone(&s.target.name);
    let broken_name = ctx
        .bad_names
        .iter()
        .any(|(n, after)| **n == *name && s.emitted > *after);
    let split = ctx.config.split_chunks;
    let split_key = hash2(s.target.idx as u64, u64::from(s.emitted - 1));
    // After a zero frame the next precpu is zero too: the daemon's precpu is the previous
    // frame's cpu.
    s.prev = running.then_some(read);
    s.prev_run = runs;
    if matches!(fault, Some(Fault::GarbageChunkSize | Fault::DeepNesting(_))) {
        s.unreadable = true;
    }
    if let Some(f) = &fault {
        // A status injected into a stream counts when a request gets it.
        if !matches!(f, Fault::Status(_)) {
            ctx.shared.count_fault(f);
        }
        ctx.log(format_args!(
            "fault {} on a stream of {name}",
            FAULT_KINDS[f.kind()]
        ));
    }
    let chunked = framing == Framing::Chunked;
    let frame = &mut ctx.frame;
    let out = &mut conn.out;
    match fault {
        Some(Fault::Stall) => return Emitted::Halt,
        Some(Fault::StallMidFrame) => {
            push_half(out, chunked, frame);
            return Emitted::Halt;
        }
        Some(f @ (Fault::TruncateMidChunk | Fault::ResetMidChunk)) => {
            push_half(out, chunked, frame);
            let how = if f == Fault::ResetMidChunk {
                Close::Reset
            } else {
                Close::Graceful
            };
            set_state(conn, ConnState::Closing(how), &ctx.shared);
            return Emitted::Halt;
        }
        Some(Fault::ResetMidFrame) => {
            // The first half as a whole chunk: the cut falls between two chunks of a frame.
            push_body(out, framing, &frame[..frame.len() / 2], None);
            set_state(conn, ConnState::Closing(Close::Reset), &ctx.shared);
            return Emitted::Halt;
        }
        Some(Fault::Status(status)) => {
            // Injected into an open stream (chaos): cut it between frames; the stats request
            // that follows gets the status.
            ctx.status_once.insert(name, status);
            set_state(conn, ConnState::Closing(Close::Graceful), &ctx.shared);
            return Emitted::Halt;
        }
        Some(Fault::GarbageChunkSize) => {
            out.extend_from_slice(b"zz\r\n");
            out.extend_from_slice(frame);
            out.extend_from_slice(b"\r\n");
            // Not a frame any client can receive: not counted as sent.
            return Emitted::More;
        }
        Some(Fault::Drip(every)) => {
            // The whole frame, chunk framing included, goes out a byte per tick; the caller
            // arms the first.
            let mut bytes = Vec::with_capacity(frame.len() + 16);
            push_body(&mut bytes, framing, frame, None);
            conn.spool = Some(Box::new(Spool {
                pad: 0,
                tail: bytes,
                pos: 0,
                drip: Some(every),
                frame: Some(name),
            }));
            return Emitted::More;
        }
        Some(f) => match fault::rewrite_payload(&f, frame) {
            Some(fault::Payload::Padded { pad, tail }) => {
                // The frame up to its padding now; the padding and the rest as the socket
                // takes them.
                let body = frame.len() - tail;
                if chunked {
                    http::push_chunk_size(out, frame.len() + pad);
                }
                out.extend_from_slice(&frame[..body]);
                let mut rest = frame[body..].to_vec();
                if chunked {
                    rest.extend_from_slice(b"\r\n");
                }
                // Still a frame: counted once its last byte is on the socket, as any frame.
                // A client that refuses it at its frame limit hangs up before that, so it is
                // in neither count.
                conn.spool = Some(Box::new(Spool {
                    pad,
                    tail: rest,
                    pos: 0,
                    drip: None,
                    frame: counted.then_some(name),
                }));
                return Emitted::More;
            }
            Some(fault::Payload::Replaced) => {
                push_body(out, framing, frame, None);
                return Emitted::More;
            }
            Some(fault::Payload::Frame) => push_body(out, framing, frame, None),
            // A container's fault (status, name) never reaches its streams: a good frame.
            None => push_body(out, framing, frame, None),
        },
        None if broken_name => {
            fault::break_name(frame, &name);
            ctx.shared.count_fault(&Fault::BadUtf8Name);
            push_body(out, framing, frame, None);
            return Emitted::More;
        }
        None => {
            let at = (split && frame.len() > 1)
                .then(|| 1 + (split_key % (frame.len() as u64 - 1)) as usize);
            push_body(out, framing, frame, at);
        }
    }
    if counted {
        conn.mark_end(Counted::Frame(name));
    }
    Emitted::More
}

/// Appends the chunk-size line of `frame` (when chunked) and its first half.
fn push_half(out: &mut Vec<u8>, chunked: bool, frame: &[u8]) {
    if chunked {
        http::push_chunk_size(out, frame.len());
    }
    out.extend_from_slice(&frame[..frame.len() / 2]);
}

/// Appends stream payload: one chunk, two chunks split at `split`, or raw bytes.
pub(super) fn push_body(out: &mut Vec<u8>, framing: Framing, payload: &[u8], split: Option<usize>) {
    match (framing, split) {
        (Framing::Chunked, Some(at)) if at < payload.len() => {
            http::push_chunk(out, &payload[..at]);
            http::push_chunk(out, &payload[at..]);
        }
        (Framing::Chunked, _) => http::push_chunk(out, payload),
        _ => out.extend_from_slice(payload),
    }
}

/// Zero frames a stream still sends after its container is removed, before its last chunk
/// (`docker20-cgv1-doomed-rm-midstream.http`).
const FRAMES_AFTER_REMOVE: u8 = 2;
