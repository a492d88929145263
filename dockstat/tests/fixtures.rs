//! Replays raw responses captured from a real Docker 20.10 daemon (cgroup v1) through
//! `Connection` and `FrameSplitter`, whole, split in two and byte by byte.
//!
//! The captures are in `../shared/fixtures/docker20-cgv1/` (head and undecoded body as sent);
//! their README lists what each holds. The expectations below come from that README and from
//! reading the captures.

mod common;

use std::path::PathBuf;

use common::{Mode, OwnedHead, modes, requested};
use dockstat::ErrorKind;
use dockstat::conn::ResponseEvent;
use dockstat::stats::FrameSplitter;

/// How a capture's body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    /// `Transfer-Encoding: chunked`, ended by the last chunk.
    Chunked,
    /// `Transfer-Encoding: chunked`, still open when the capture stopped.
    OpenStream,
    /// `Content-Length`.
    Length,
}

/// What a frame looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// A JSON object: `{…}`.
    Object,
    /// A JSON array: `[…]` (`/containers/json`).
    Array,
    /// Plain text (`/_ping` answers `OK`).
    Text,
}

struct Expect {
    file: &'static str,
    code: u16,
    body: Body,
    frames: usize,
    shape: Shape,
    content_type: Option<&'static str>,
    api_version: bool,
}

const JSON: Option<&str> = Some("application/json");

#[rustfmt::skip]
const EXPECT: &[Expect] = &[
    Expect { file: "docker20-400-version-too-new.http",        code: 400, body: Body::Length,     frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-404-route.http",                  code: 404, body: Body::Length,     frames: 1, shape: Shape::Object, content_type: JSON, api_version: false },
    Expect { file: "docker20-404-stats-nostream.http",         code: 404, body: Body::Length,     frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-404-stats.http",                  code: 404, body: Body::Length,     frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-cgv1-busy-nostream.http",         code: 200, body: Body::Chunked,    frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-cgv1-busy-oneshot.http",          code: 200, body: Body::Chunked,    frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-cgv1-busy-stream.http",           code: 200, body: Body::OpenStream, frames: 6, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-doomed-rm-midstream.http",   code: 200, body: Body::Chunked,    frames: 2, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-doomed-stop-midstream.http", code: 200, body: Body::OpenStream, frames: 8, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-forky-stream.http",          code: 200, body: Body::OpenStream, frames: 5, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-idle-stream.http",           code: 200, body: Body::OpenStream, frames: 5, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-memhog-stream.http",         code: 200, body: Body::OpenStream, frames: 5, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-netidle-nostream.http",      code: 200, body: Body::Length,     frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-cgv1-netidle-stream.http",        code: 200, body: Body::OpenStream, frames: 5, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-paused-stream.http",         code: 200, body: Body::OpenStream, frames: 5, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-stopped-nostream.http",      code: 200, body: Body::Length,     frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-cgv1-stopped-stream.http",        code: 200, body: Body::OpenStream, frames: 4, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-cgv1-writer-stream.http",         code: 200, body: Body::OpenStream, frames: 5, shape: Shape::Object, content_type: None, api_version: true },
    Expect { file: "docker20-containers-json-all.http",        code: 200, body: Body::Chunked,    frames: 1, shape: Shape::Array,  content_type: JSON, api_version: true },
    Expect { file: "docker20-containers-json.http",            code: 200, body: Body::Chunked,    frames: 1, shape: Shape::Array,  content_type: JSON, api_version: true },
    Expect { file: "docker20-events.http",                     code: 200, body: Body::OpenStream, frames: 9, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-ping.http",                       code: 200, body: Body::Length,     frames: 1, shape: Shape::Text,   content_type: Some("text/plain; charset=utf-8"), api_version: true },
    Expect { file: "docker20-v141-busy-nostream.http",         code: 200, body: Body::Chunked,    frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
    Expect { file: "docker20-version.http",                    code: 200, body: Body::Length,     frames: 1, shape: Shape::Object, content_type: JSON, api_version: true },
];

fn fixture_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/docker20-cgv1");
    assert!(
        dir.is_dir(),
        "fixture directory {} is missing: these tests replay captures from a real daemon",
        dir.display()
    );
    dir
}

/// Every `*.http` capture, by file name.
fn captures() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(fixture_dir())
        .expect("read the fixture directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "http"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read a capture"))
        })
        .collect();
    v.sort();
    v
}

/// An independent, naive reading of a capture: split the head at the first empty line, then
/// de-chunk by reading hex size lines until the last chunk or the end of the data.
/// Returns the head, the payload, and whether the last chunk (or the full Content-Length) was
/// seen.
fn naive(capture: &[u8]) -> (&[u8], Vec<u8>, bool) {
    let text_end = capture.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (head, mut body) = capture.split_at(text_end);
    let head_text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if !head_text.contains("transfer-encoding: chunked") {
        return (head, body.to_vec(), true);
    }
    let mut payload = Vec::new();
    while !body.is_empty() {
        let nl = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&body[..nl]).unwrap(), 16).unwrap();
        body = &body[nl + 2..];
        if size == 0 {
            assert_eq!(body, b"\r\n", "no trailers in the captures");
            return (head, payload, true);
        }
        payload.extend_from_slice(&body[..size]);
        assert_eq!(&body[size..size + 2], b"\r\n");
        body = &body[size + 2..];
    }
    (head, payload, false)
}

/// What one replay produced.
struct Replay {
    head: OwnedHead,
    body: Vec<u8>,
    frames: Vec<Vec<u8>>,
    ended: bool,
    consumed: usize,
}

/// Feeds `capture` in `mode`'s pieces, sending each body piece through a frame splitter as it
/// arrives (as the engine does).
fn replay(name: &str, capture: &[u8], mode: &Mode) -> Replay {
    let m = &mode.name;
    let mut conn = requested();
    let mut splitter = FrameSplitter::default();
    let mut frames = Vec::new();
    let mut head = None;
    let mut body = Vec::new();
    let mut ended = false;
    let mut consumed = 0;
    'feed: for piece in mode.pieces(capture) {
        let mut rest = piece;
        loop {
            let (event, used) = conn
                .handle_input(rest)
                .unwrap_or_else(|e| panic!("{name} ({m}): {e}"));
            consumed += used;
            match event {
                ResponseEvent::Head(h) => {
                    assert!(head.is_none(), "{name} ({m}): second head");
                    head = Some(OwnedHead::of(&h));
                }
                ResponseEvent::Body(b) => {
                    body.extend_from_slice(b);
                    splitter
                        .push(b, &mut |f: &[u8]| frames.push(f.to_vec()))
                        .unwrap_or_else(|e| panic!("{name} ({m}): {e}"));
                }
                ResponseEvent::End => {
                    ended = true;
                    splitter.finish(&mut |f: &[u8]| frames.push(f.to_vec()));
                    break 'feed;
                }
                ResponseEvent::NeedMore => {
                    assert_eq!(used, rest.len(), "{name} ({m})");
                    break;
                }
                ResponseEvent::Excess(_) => panic!("{name} ({m}): excess before the end"),
            }
            rest = &rest[used..];
        }
    }
    if ended {
        assert!(
            conn.is_reusable(),
            "{name} ({m}): keep-alive after a complete response"
        );
        assert_eq!(splitter.pending(), 0);
    } else {
        // An open stream: the server closing it now cuts the response short.
        assert_eq!(
            conn.handle_eof().map(|_| ()).unwrap_err().kind(),
            ErrorKind::Truncated,
            "{name} ({m}): EOF in an open stream"
        );
        assert_eq!(
            splitter.pending(),
            0,
            "{name} ({m}): streams end frames at chunk ends"
        );
    }
    assert_eq!(conn.buffered(), 0, "{name} ({m}): head memory held");
    Replay {
        head: head.unwrap_or_else(|| panic!("{name} ({m}): no head")),
        body,
        frames,
        ended,
        consumed,
    }
}

#[test]
fn every_capture_has_expectations() {
    let names: Vec<String> = captures().into_iter().map(|(n, _)| n).collect();
    assert!(!names.is_empty(), "no *.http captures found");
    for n in &names {
        assert!(
            EXPECT.iter().any(|e| e.file == n),
            "no expectation for capture {n}"
        );
    }
    for e in EXPECT {
        assert!(
            names.iter().any(|n| n == e.file),
            "capture {} is missing",
            e.file
        );
    }
}

#[test]
fn captures_replay_in_every_mode() {
    for (name, capture) in captures() {
        let Some(exp) = EXPECT.iter().find(|e| e.file == name) else {
            panic!("no expectation for capture {name}");
        };
        let (naive_head, naive_body, naive_complete) = naive(&capture);
        assert_eq!(
            naive_complete,
            exp.body != Body::OpenStream,
            "{name}: naive reading"
        );

        for mode in modes(capture.len()) {
            let m = &mode.name;
            let r = replay(&name, &capture, &mode);

            // Head.
            let h = &r.head;
            assert_eq!(h.code, exp.code, "{name} ({m}): status");
            assert_eq!(h.minor, 1, "{name} ({m})");
            assert_eq!(h.len, naive_head.len(), "{name} ({m}): head length");
            assert_eq!(
                h.header("Api-Version"),
                exp.api_version.then_some(&b"1.41"[..]),
                "{name} ({m}): Api-Version"
            );
            assert_eq!(
                h.header("Content-Type"),
                exp.content_type.map(str::as_bytes),
                "{name} ({m}): Content-Type"
            );
            match exp.body {
                Body::Chunked | Body::OpenStream => {
                    assert_eq!(
                        h.header("Transfer-Encoding"),
                        Some(&b"chunked"[..]),
                        "{name} ({m})"
                    );
                    assert_eq!(h.header("Content-Length"), None, "{name} ({m})");
                }
                Body::Length => {
                    let len = naive_body.len().to_string();
                    assert_eq!(
                        h.header("Content-Length"),
                        Some(len.as_bytes()),
                        "{name} ({m})"
                    );
                    assert_eq!(h.header("Transfer-Encoding"), None, "{name} ({m})");
                }
            }
            if exp.code == 200 && exp.body != Body::Length && exp.api_version {
                assert!(
                    h.header("Server")
                        .is_some_and(|s| s.starts_with(b"Docker/20.10.24")),
                    "{name} ({m}): Server"
                );
            }

            // Body and completion.
            assert!(
                r.body == naive_body,
                "{name} ({m}): decoded body differs from the naive decoder"
            );
            assert_eq!(
                r.ended,
                exp.body != Body::OpenStream,
                "{name} ({m}): completion"
            );
            assert_eq!(r.consumed, capture.len(), "{name} ({m}): bytes consumed");

            // Frames.
            assert_eq!(r.frames.len(), exp.frames, "{name} ({m}): frame count");
            for (i, f) in r.frames.iter().enumerate() {
                let (first, last) = (f[0], f[f.len() - 1]);
                let ok = match exp.shape {
                    Shape::Object => first == b'{' && last == b'}',
                    Shape::Array => first == b'[' && last == b']',
                    Shape::Text => f == b"OK",
                };
                assert!(ok, "{name} ({m}): frame {i} is not {:?}", exp.shape);
            }
        }
    }
}

#[test]
fn stats_streams_have_one_frame_per_chunk() {
    // The README's framing fact: one JSON object and "\n" per chunk.
    for (name, capture) in captures() {
        if !name.contains("-stream") {
            continue;
        }
        let (_, payload, _) = naive(&capture);
        let mut splitter = FrameSplitter::default();
        let mut n = 0;
        splitter.push(&payload, &mut |_: &[u8]| n += 1).unwrap();
        let chunks = String::from_utf8_lossy(&capture).matches("}\n\r\n").count();
        assert_eq!(n, chunks, "{name}");
    }
}
