//! A whole client connection fed a response in arbitrary pieces: the HTTP machine
//! (`Connection`: head, 1xx, framing, chunked, data after the end) and the stats pipeline
//! (`StatsStream`: frame splitter, decoder, math), as the engine drives them, with keep-alive
//! into a second exchange.
//!
//! Input: byte 0 = how many split points follow (mod 16), then that many u16 (little
//! endian) offsets into the response, then the response bytes. Property: besides never
//! panicking, what comes out (status, decoded body, frames, decode results, how it ended)
//! is the same for the response fed whole and fed in those pieces.
#![no_main]

use dockstat::conn::{Connection, ResponseEvent};
use dockstat::stats::{FrameDecoder, Samples, StatsStream};

/// Everything observable about one run.
#[derive(Debug, PartialEq, Eq, Default)]
struct Outcome {
    statuses: Vec<u16>,
    body: Vec<u8>,
    /// Per sample: name, CPU % (as bits) and memory use, or the error that ended the stream.
    samples: Vec<Result<(String, u64, u64), String>>,
    ends: usize,
    /// Bytes after the end of a response with no request outstanding.
    excess: Vec<u8>,
    failed: Option<String>,
}

/// Takes every sample out of `samples`; false once the stream has failed.
fn drain(samples: &mut Samples<'_>, out: &mut Outcome) -> bool {
    while let Some(next) = samples.next() {
        match next {
            Ok(d) => out.samples.push(Ok((
                d.sample.name.to_string(),
                d.derived.cpu_percent.to_bits(),
                d.derived.mem_usage,
            ))),
            Err(e) => {
                out.samples.push(Err(format!("{:?}", e.kind())));
                return false;
            }
        }
    }
    true
}

fn run(pieces: &[&[u8]]) -> Outcome {
    let mut out = Outcome::default();
    let mut conn = Connection::new();
    let mut stream = StatsStream::new(64 * 1024);
    let mut decoder = FrameDecoder::new();
    let mut healthy = true;
    conn.send_get("/containers/x/stats", "docker").unwrap();
    'input: for piece in pieces {
        let mut rest: &[u8] = piece;
        loop {
            let (event, used) = match conn.handle_input(rest) {
                Ok(r) => r,
                Err(e) => {
                    out.failed = Some(format!("{:?}", e.kind()));
                    break 'input;
                }
            };
            let (mut done, mut excess) = (false, false);
            match event {
                ResponseEvent::Head(head) => out.statuses.push(head.code),
                ResponseEvent::Body(data) => {
                    out.body.extend_from_slice(data);
                    if healthy {
                        healthy = drain(&mut stream.push(data, &mut decoder), &mut out);
                    }
                }
                ResponseEvent::End => {
                    out.ends += 1;
                    if healthy {
                        healthy = drain(&mut stream.finish(&mut decoder), &mut out);
                    }
                    // Keep-alive: the next exchange on the same connection.
                    if conn.is_reusable() && out.ends < 3 {
                        conn.send_get("/_ping", "docker").unwrap();
                    }
                }
                ResponseEvent::Excess(data) => {
                    out.excess.extend_from_slice(data);
                    excess = true;
                }
                ResponseEvent::NeedMore => done = true,
            }
            // Bytes no request asked for close the connection for good.
            assert!(!excess || (!conn.is_reusable() && !conn.is_busy()));
            rest = &rest[used..];
            if done {
                assert!(rest.is_empty(), "NeedMore with input left");
                break;
            }
        }
    }
    if out.failed.is_none() {
        match conn.handle_eof() {
            Ok(Some(ResponseEvent::End)) => {
                out.ends += 1;
                if healthy {
                    drain(&mut stream.finish(&mut decoder), &mut out);
                }
            }
            Ok(_) => {}
            Err(e) => out.failed = Some(format!("{:?}", e.kind())),
        }
    }
    out
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 16);
    if rest.len() < 2 * n {
        return;
    }
    let (cuts, response) = rest.split_at(2 * n);
    let mut points: Vec<usize> = cuts
        .chunks(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (response.len() + 1))
        .collect();
    points.sort_unstable();
    let mut pieces = Vec::with_capacity(n + 1);
    let mut at = 0;
    for p in points {
        pieces.push(&response[at..p]);
        at = p;
    }
    pieces.push(&response[at..]);
    let whole = run(&[response]);
    let split = run(&pieces);
    assert_eq!(whole, split);
});
