//! Property tests for the codecs: round trips, agreement with naive reference decoders, and
//! "arbitrary bytes never panic" (with the same result however the input is split).

mod common;

use common::{Dechunked, Naive, dechunk, drive, is_interim, naive_dechunk, requested};
use dockstat::chunked::Dechunker;
use dockstat::conn::Connection;
use dockstat::http::grammar::RequestHead;
use dockstat::http::{HeadError, ResponseHead, Status, parse_response};
use dockstat::stats::{FrameError, FrameSplitter};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

const CASES: u32 = 256;

const MAX_HEADERS: usize = ResponseHead::MAX_HEADERS;
const MAX_SIZE_LINE_LEN: usize = Dechunker::MAX_SIZE_LINE_LEN;

fn find_head_end(buf: &[u8], from: usize) -> Result<Option<usize>, HeadError> {
    ResponseHead::find_end(buf, from)
}

/// Cuts `input` at the given (random) positions.
fn cut<'a>(input: &'a [u8], at: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = at.iter().map(|i| i.index(input.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut start = 0;
    for p in points {
        out.push(&input[start..p]);
        start = p;
    }
    out.push(&input[start..]);
    out
}

// ---------------------------------------------------------------------------------------------
// Chunked bodies

/// How one chunk's size line is written.
#[derive(Clone, Debug)]
struct SizeStyle {
    upper: bool,
    zeros: usize,
    /// Whitespace after the size (before any extension).
    ws: &'static str,
    /// The extension, `;` included, or empty.
    ext: Vec<u8>,
}

fn ext_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b";a".to_vec()),
        Just(b";a=b".to_vec()),
        Just(b"; name = \"quoted value\"".to_vec()),
        Just(b";k=v;k2;k3=\t3".to_vec()),
        // A name, then anything but control bytes (HTAB allowed).
        vec(any::<u8>(), 0..24).prop_map(|v| {
            let mut e = b";x".to_vec();
            e.extend(v.into_iter().map(|b| {
                if (b < 0x20 && b != b'\t') || b == 0x7f {
                    b'x'
                } else {
                    b
                }
            }));
            e
        }),
    ]
}

fn style_strategy() -> impl Strategy<Value = SizeStyle> {
    (
        any::<bool>(),
        0usize..4,
        select(vec!["", " ", "\t", " \t "]),
        ext_strategy(),
    )
        .prop_map(|(upper, zeros, ws, ext)| SizeStyle {
            upper,
            zeros,
            ws,
            ext,
        })
}

fn size_line(out: &mut Vec<u8>, size: usize, s: &SizeStyle) {
    let hex = if s.upper {
        format!("{size:X}")
    } else {
        format!("{size:x}")
    };
    out.extend(std::iter::repeat_n(b'0', s.zeros));
    out.extend_from_slice(hex.as_bytes());
    // Whitespace after the size is BWS before an extension, not allowed without one.
    if !s.ext.is_empty() {
        out.extend_from_slice(s.ws.as_bytes());
    }
    out.extend_from_slice(&s.ext);
    out.extend_from_slice(b"\r\n");
}

fn tchar_strategy() -> impl Strategy<Value = u8> {
    select(
        b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec(),
    )
}

/// A field value: visible bytes, obs-text, and SP/HTAB inside (not at either end).
fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    vec(
        prop_oneof![
            4 => 0x21u8..=0x7e,
            1 => 0x80u8..=0xff,
            1 => select(vec![b' ', b'\t']),
        ],
        0..24,
    )
    .prop_map(|mut v| {
        while v.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.remove(0);
        }
        while v.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
            v.pop();
        }
        v
    })
}

fn field_strategy() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (vec(tchar_strategy(), 1..16), value_strategy())
}

/// A valid chunked body for `payload`, cut into chunks of the given sizes, with the given
/// size-line styles and trailers.
fn encode(
    payload: &[u8],
    sizes: &[usize],
    styles: &[SizeStyle],
    trailers: &[(Vec<u8>, Vec<u8>)],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = payload;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        size_line(&mut out, n, &styles[i % styles.len()]);
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    size_line(&mut out, 0, &styles[i % styles.len()]);
    for (name, value) in trailers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A mutation of a byte string.
#[derive(Clone, Debug)]
enum Mutation {
    Insert(Index, u8),
    Delete(Index),
    Replace(Index, u8),
    Truncate(Index),
    Duplicate(Index, Index),
}

/// Bytes that matter to the chunked grammar, and a few that do not.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => select(b"\r\n;= \t0fFgx\"\x00\x7f\x01:".to_vec()),
        1 => any::<u8>(),
    ]
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
    ]
}

fn mutate(mut v: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        match m {
            Mutation::Insert(i, b) => {
                let at = i.index(v.len() + 1);
                v.insert(at, *b);
            }
            Mutation::Delete(i) if !v.is_empty() => {
                v.remove(i.index(v.len()));
            }
            Mutation::Replace(i, b) if !v.is_empty() => {
                let at = i.index(v.len());
                v[at] = *b;
            }
            Mutation::Truncate(i) => v.truncate(i.index(v.len() + 1)),
            Mutation::Duplicate(a, b) if !v.is_empty() => {
                let (x, y) = (a.index(v.len()), b.index(v.len()));
                let (lo, hi) = (x.min(y), x.max(y).min(x.min(y) + 16));
                let seg = v[lo..hi].to_vec();
                v.splice(hi..hi, seg);
            }
            _ => {}
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn chunked_round_trip(
        payload in vec(any::<u8>(), 0..2048),
        sizes in vec(1usize..400, 1..16),
        styles in vec(style_strategy(), 1..8),
        trailers in vec(field_strategy(), 0..4),
        at in vec(any::<Index>(), 0..24),
    ) {
        let body = encode(&payload, &sizes, &styles, &trailers);
        let (data, end) = dechunk(&cut(&body, &at));
        prop_assert_eq!(end, Dechunked::End(body.len()));
        prop_assert_eq!(data, payload);
    }

    #[test]
    fn chunked_agrees_with_naive_decoder(
        payload in vec(any::<u8>(), 0..96),
        sizes in vec(1usize..40, 1..6),
        styles in vec(style_strategy(), 1..4),
        trailers in vec(field_strategy(), 0..3),
        mutations in vec(mutation_strategy(), 0..4),
        at in vec(any::<Index>(), 0..12),
    ) {
        let body = mutate(encode(&payload, &sizes, &styles, &trailers), &mutations);
        let (whole_data, whole) = dechunk(&[&body]);
        let (data, end) = dechunk(&cut(&body, &at));
        // The same in pieces as whole.
        prop_assert_eq!(end, whole);
        prop_assert_eq!(&data, &whole_data);
        // Accepted or rejected as the reference says. Error variants are not compared: where
        // several rules break at once, the reference may name a different one first.
        match (end, naive_dechunk(&body)) {
            (Dechunked::End(n), Naive::Accept(p, m)) => {
                prop_assert_eq!(n, m);
                prop_assert_eq!(data, p);
            }
            (Dechunked::Err(..), Naive::Reject) | (Dechunked::NeedMore, Naive::Incomplete) => {}
            (real, reference) => prop_assert!(
                false,
                "decoder {:?}, reference {:?} on {:?}",
                real,
                reference,
                String::from_utf8_lossy(&body)
            ),
        }
    }

    #[test]
    fn chunked_never_panics(
        body in prop_oneof![
            vec(any::<u8>(), 0..256),
            vec(interesting_byte(), 0..256),
        ],
        at in vec(any::<Index>(), 0..16),
    ) {
        let (whole_data, whole) = dechunk(&[&body]);
        let (data, end) = dechunk(&cut(&body, &at));
        prop_assert_eq!(end, whole);
        prop_assert_eq!(data, whole_data);
    }

    #[test]
    fn chunked_long_lines_never_panic(
        fill in select(vec![b'0', b'e', b' ', b'\t']),
        len in (MAX_SIZE_LINE_LEN - 4)..(MAX_SIZE_LINE_LEN + 4),
        at in vec(any::<Index>(), 0..8),
    ) {
        // Size lines around the length limit, made of digits, extension bytes or whitespace.
        let mut body = b"5".to_vec();
        if fill == b'e' {
            body.push(b';');
        }
        body.resize(len, fill);
        body.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        let (_, whole) = dechunk(&[&body]);
        let (_, end) = dechunk(&cut(&body, &at));
        prop_assert_eq!(end, whole);
        // Digits make the size overflow; whitespace that no `;` follows is not BWS.
        let ok = matches!(whole, Dechunked::End(_));
        prop_assert_eq!(ok, len <= MAX_SIZE_LINE_LEN && fill == b'e', "len {} fill {:?}", len, fill as char);
    }
}

// ---------------------------------------------------------------------------------------------
// Response heads

/// Bytes that matter to the head grammar.
fn head_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => select(b"\r\n: \tAa0-".to_vec()),
        1 => any::<u8>(),
    ]
}

fn head_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..128),
        vec(head_byte(), 0..128).prop_map(|v| [&b"HTTP/1.1 200 OK\r\n"[..], &v].concat()),
        vec(head_byte(), 0..64).prop_map(|v| [&b"HTTP/1."[..], &v].concat()),
        (vec(head_byte(), 0..64), vec(any::<u8>(), 0..32)).prop_map(|(v, body)| {
            [&b"HTTP/1.1 200 OK\r\n"[..], &v, b"\r\n\r\n", &body].concat()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn head_never_panics_and_split_does_not_matter(
        input in head_input(),
        from in any::<Index>(),
        k in any::<Index>(),
    ) {
        let _ = parse_response(&input);
        // Any resume offset up to the length is accepted.
        let _ = find_head_end(&input, from.index(input.len() + 1));
        // Searching a prefix and resuming where it stopped gives the whole-input answer.
        let whole = find_head_end(&input, 0);
        let k = k.index(input.len() + 1);
        let resumed = match find_head_end(&input[..k], 0) {
            Ok(None) => find_head_end(&input, k),
            r => r,
        };
        prop_assert_eq!(resumed, whole);
        // And parse_response agrees with find_head_end on completeness.
        match (whole, parse_response(&input)) {
            (Ok(None), Ok(Status::Partial)) | (Err(_), Err(_)) | (Ok(Some(_)), _) => {}
            (w, p) => prop_assert!(false, "find_head_end {:?}, parse_response {:?}", w, p),
        }
    }

    #[test]
    fn connection_never_panics(
        input in prop_oneof![
            head_input(),
            vec(head_byte(), 0..256).prop_map(|v| {
                [&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"[..], &v].concat()
            }),
            vec(any::<u8>(), 0..64).prop_map(|v| {
                [&b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n"[..], &v]
                    .concat()
            }),
        ],
        at in vec(any::<Index>(), 0..16),
    ) {
        let pieces = cut(&input, &at);
        let mut conn = requested();
        let t = drive(&mut conn, &pieces);
        let _ = conn.handle_eof();
        // Split or whole, the same outcome.
        let mut whole_conn = requested();
        let w = drive(&mut whole_conn, &[&input]);
        prop_assert_eq!(t.error.map(|e| (e.0, e.1)), w.error.map(|e| (e.0, e.1)));
        prop_assert_eq!(t.body, w.body);
        prop_assert_eq!(t.end, w.end);
        prop_assert_eq!(t.head.map(|h| h.0), w.head.map(|h| h.0));
        // Anything fed to an idle or closed connection never panics either.
        let mut idle = Connection::new();
        let _ = idle.handle_input(&input);
        let _ = idle.handle_eof();
    }

    #[test]
    fn head_round_trip(
        minor in 0u8..=1,
        code in 100u16..=599,
        reason in vec(prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff, Just(b'\t')], 0..24),
        with_reason in any::<bool>(),
        fields in vec(field_strategy(), 0..MAX_HEADERS),
        ows in vec((select(vec!["", " ", "\t", "  \t"]), select(vec!["", " ", "\t "])), 1..8),
        at in vec(any::<Index>(), 0..8),
    ) {
        let mut head = format!("HTTP/1.{minor} {code}").into_bytes();
        if with_reason {
            head.push(b' ');
            head.extend_from_slice(&reason);
        }
        head.extend_from_slice(b"\r\n");
        for (i, (name, value)) in fields.iter().enumerate() {
            let (before, after) = ows[i % ows.len()];
            head.extend_from_slice(name);
            head.push(b':');
            head.extend_from_slice(before.as_bytes());
            head.extend_from_slice(value);
            head.extend_from_slice(after.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        head.extend_from_slice(b"\r\n");

        let Ok(Status::Complete(h)) = parse_response(&head) else {
            return Err(TestCaseError::fail(format!("did not parse: {:?}", String::from_utf8_lossy(&head))));
        };
        prop_assert_eq!(h.minor_version, minor);
        prop_assert_eq!(h.code, code);
        prop_assert_eq!(h.reason, if with_reason { &reason[..] } else { &b""[..] });
        prop_assert_eq!(h.len(), head.len());
        let got: Vec<(Vec<u8>, Vec<u8>)> =
            h.headers().map(|f| (f.name.to_vec(), f.value.to_vec())).collect();
        prop_assert_eq!(&got, &fields);
        prop_assert_eq!(h.header_count(), fields.len());

        // The same head through a connection, in random pieces.
        if !is_interim(code) && h.framing().is_ok() {
            let mut conn = requested();
            let t = drive(&mut conn, &cut(&head, &at));
            let (got, consumed) = t.head.expect("head event");
            prop_assert_eq!(consumed, head.len());
            prop_assert_eq!(got.headers, fields);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Frame splitter

/// The frames and error of a naive split: lines at `\n`, empty ones skipped, the first line
/// longer than `max` (terminated or not) is an error.
/// A line of only JSON whitespace, which the splitter skips (as Go's decoder skips it).
fn blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

fn naive_frames(input: &[u8], max: usize) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut frames = Vec::new();
    let mut lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let last = lines.pop().unwrap_or_default();
    for l in lines {
        if l.len() > max {
            return (frames, Some(FrameError::TooLong { max }));
        }
        if !blank(l) {
            frames.push(l.to_vec());
        }
    }
    if last.len() > max {
        return (frames, Some(FrameError::TooLong { max }));
    }
    (frames, None)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn frames_agree_with_naive_split(
        input in vec(prop_oneof![3 => select(b"{}a\n \r".to_vec()), 1 => any::<u8>()], 0..256),
        max in 0usize..24,
        at in vec(any::<Index>(), 0..16),
    ) {
        let mut s = FrameSplitter::new(max);
        let mut frames = Vec::new();
        let mut error = None;
        for p in cut(&input, &at) {
            if let Err(e) = s.push(p, &mut |f: &[u8]| frames.push(f.to_vec())) {
                error = Some(e);
                break;
            }
        }
        let (expect_frames, expect_error) = naive_frames(&input, max);
        prop_assert_eq!(&frames, &expect_frames);
        prop_assert_eq!(error, expect_error);
        if error.is_none() {
            // The unterminated rest is held, and finish delivers it.
            let tail = input.rsplit(|&b| b == b'\n').next().unwrap_or_default();
            prop_assert_eq!(s.pending(), tail.len());
            let mut last = Vec::new();
            s.finish(&mut |f: &[u8]| last.push(f.to_vec()));
            let want: Vec<Vec<u8>> = if blank(tail) { vec![] } else { vec![tail.to_vec()] };
            prop_assert_eq!(last, want);
            prop_assert_eq!(s.pending(), 0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request heads: the grammar servers share

/// Where a head ends when a bare LF may end a line: just past the first LF that follows
/// another LF, with at most a CR between them. Written the slow way, one LF at a time.
fn naive_head_end(buf: &[u8]) -> Option<usize> {
    let lfs: Vec<usize> = (0..buf.len()).filter(|&i| buf[i] == b'\n').collect();
    lfs.windows(2).find_map(|w| {
        let between = &buf[w[0] + 1..w[1]];
        (between.is_empty() || between == b"\r").then_some(w[1] + 1)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn request_head_end_agrees_with_the_naive_search_however_split(
        input in prop_oneof![
            vec(select(b"\r\nA :".to_vec()), 0..64),
            vec(head_byte(), 0..128),
        ],
        k in any::<Index>(),
        from in any::<Index>(),
    ) {
        let whole = RequestHead::find_end(&input, 0);
        prop_assert_eq!(whole, naive_head_end(&input));
        let k = k.index(input.len() + 1);
        let resumed =
            RequestHead::find_end(&input[..k], 0).or_else(|| RequestHead::find_end(&input, k));
        prop_assert_eq!(resumed, whole);
        // Any resume offset is accepted.
        let _ = RequestHead::find_end(&input, from.index(input.len() + 1));
        if let Some(head) = whole.and_then(|end| RequestHead::parse(&input[..end])) {
            let first = input.split(|&b| b == b'\n').next().unwrap_or_default();
            let first = first.strip_suffix(b"\r").unwrap_or(first);
            prop_assert_eq!(head.method.len() + head.target.len() + 10, first.len());
            for (name, value) in head.fields().flatten() {
                prop_assert!(!name.is_empty());
                prop_assert!(name.iter().all(|&b| RequestHead::may_start_with(b)));
                prop_assert!(!value.starts_with(b" ") && !value.ends_with(b"\t"));
                prop_assert!(!value.contains(&b'\n'));
            }
        }
    }
}
