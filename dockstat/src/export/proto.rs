//! The protobuf encoding of the few messages push export writes, by hand.
//!
//! Protocol Buffers' wire format (protobuf.dev/programming-guides/encoding): a message is a
//! sequence of fields, each a key (`field_number << 3 | wire_type`, as a varint) and a value:
//! wire type 0 a varint (`int64` as its two's complement, so a negative one takes ten
//! bytes), 1 eight little-endian bytes (`double`), 2 a varint length and that many bytes
//! (strings, and nested messages). Repeated fields are the field written once per element.
//!
//! A nested message is written after its length, so its length is computed first
//! ([`len_field_len`] and the `*_len` functions below): the messages are small and fixed in
//! shape, so that costs a few additions, and no byte is moved after it is written (no
//! reserved-length backpatch).
//!
//! The remote-write 1.0 messages (prometheus/prometheus `prompb/remote.proto`, `types.proto`):
//!
//! ```text
//! message WriteRequest { repeated TimeSeries timeseries = 1; … }
//! message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; … }
//! message Label        { string name = 1; string value = 2; }
//! message Sample       { double value = 1; int64 timestamp = 2; }
//! ```
//!
//! What this module does not do: decode (the tests have their own decoder), or anything
//! about what the labels are.

#![forbid(unsafe_code)]

/// Wire type 0: a varint.
pub(crate) const VARINT: u8 = 0;
/// Wire type 1: eight bytes, little-endian.
pub(crate) const FIXED64: u8 = 1;
/// Wire type 2: a length, then that many bytes.
pub(crate) const LEN: u8 = 2;

/// Appends `v` as a base-128 varint (least significant group first).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The length of `v` as a varint: 1 to 10 bytes.
pub(crate) fn varint_len(v: u64) -> usize {
    // 7 bits per byte; zero still takes one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Appends a field's key.
pub(crate) fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// The length of a key for a field number below 16 (every field here).
const KEY_LEN: usize = 1;

/// The length of a length-delimited field holding `n` bytes (its key included).
pub(crate) fn len_field_len(n: usize) -> usize {
    KEY_LEN + varint_len(n as u64) + n
}

/// Appends a length-delimited field's key and length; its `n` bytes must follow.
pub(crate) fn put_len_prefix(out: &mut Vec<u8>, field: u32, n: usize) {
    put_key(out, field, LEN);
    put_varint(out, n as u64);
}

/// Appends a `string` or `bytes` field.
pub(crate) fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_len_prefix(out, field, bytes.len());
    out.extend_from_slice(bytes);
}

/// Appends a `double` field.
pub(crate) fn put_double(out: &mut Vec<u8>, field: u32, v: f64) {
    put_key(out, field, FIXED64);
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

/// Appends an `int64` field (a negative value as its 64-bit two's complement).
pub(crate) fn put_int64(out: &mut Vec<u8>, field: u32, v: i64) {
    put_key(out, field, VARINT);
    put_varint(out, v as u64);
}

/// Appends a `fixed64` or `sfixed64` field (eight little-endian bytes).
pub(crate) fn put_fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, FIXED64);
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a varint field (`bool`, an enum, `uint32`).
pub(crate) fn put_uint(out: &mut Vec<u8>, field: u32, v: u64) {
    put_key(out, field, VARINT);
    put_varint(out, v);
}

/// Appends a nested message as field `field`, its body written by `body`: a one-byte
/// length is reserved and, for a body of 128 bytes or more, widened afterwards (the body's
/// bytes move once). For messages of many levels whose lengths are tedious to precompute
/// (OTLP's); most of them are under 128 bytes and move nothing.
pub(crate) fn put_message(out: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    put_key(out, field, LEN);
    let at = out.len();
    out.push(0);
    body(out);
    let n = out.len() - at - 1;
    let width = varint_len(n as u64);
    if width > 1 {
        out.splice(at + 1..at + 1, std::iter::repeat_n(0, width - 1));
    }
    let mut v = n as u64;
    for b in &mut out[at..at + width] {
        *b = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
    }
    out[at + width - 1] &= 0x7f;
}

/// The length of a `Label` message's body.
pub(crate) fn label_len(name: &str, value: &str) -> usize {
    len_field_len(name.len()) + len_field_len(value.len())
}

/// Appends a `Label` (as field `field` of the enclosing message).
pub(crate) fn put_label(out: &mut Vec<u8>, field: u32, name: &str, value: &str) {
    put_len_prefix(out, field, label_len(name, value));
    put_bytes(out, 1, name.as_bytes());
    put_bytes(out, 2, value.as_bytes());
}

/// The length of a `Sample` message's body.
pub(crate) fn sample_len(timestamp_ms: i64) -> usize {
    (KEY_LEN + 8) + (KEY_LEN + varint_len(timestamp_ms as u64))
}

/// Appends a `Sample` (as field `field` of the enclosing message).
pub(crate) fn put_sample(out: &mut Vec<u8>, field: u32, value: f64, timestamp_ms: i64) {
    put_len_prefix(out, field, sample_len(timestamp_ms));
    put_double(out, 1, value);
    put_int64(out, 2, timestamp_ms);
}

/// Appends one `TimeSeries` with one sample as field 1 of a `WriteRequest`: its labels are
/// `labels` as given (the caller sorts them by name, `__name__` among them).
pub(crate) fn put_series(out: &mut Vec<u8>, labels: &[(&str, &str)], value: f64, ts_ms: i64) {
    let body: usize = labels
        .iter()
        .map(|(n, v)| len_field_len(label_len(n, v)))
        .sum::<usize>()
        + len_field_len(sample_len(ts_ms));
    put_len_prefix(out, 1, body);
    let start = out.len();
    for (name, value) in labels {
        put_label(out, 1, name, value);
    }
    put_sample(out, 2, value, ts_ms);
    debug_assert_eq!(out.len() - start, body);
}

/// A field's value as read from a message: a varint, or a length-delimited payload (bytes,
/// a string or a nested message). Fixed-width fields are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// Reads a varint at `*at`; `None` past the end or beyond ten bytes.
fn read_varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *buf.get(*at)?;
        *at += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The last value of field `field` in message `buf` (protobuf's rule for a repeated scalar
/// field), `Ok(None)` if it has none, `Err(())` if the message is malformed. Never panics.
pub(crate) fn read_field(buf: &[u8], field: u64) -> Result<Option<Value<'_>>, ()> {
    let mut at = 0;
    let mut found = None;
    while at < buf.len() {
        let key = read_varint(buf, &mut at).ok_or(())?;
        let value = match key & 7 {
            0 => Some(Value::Varint(read_varint(buf, &mut at).ok_or(())?)),
            1 => {
                at = at
                    .checked_add(8)
                    .filter(|&end| end <= buf.len())
                    .ok_or(())?;
                None
            }
            2 => {
                let n = usize::try_from(read_varint(buf, &mut at).ok_or(())?).map_err(|_| ())?;
                let end = at
                    .checked_add(n)
                    .filter(|&end| end <= buf.len())
                    .ok_or(())?;
                let bytes = &buf[at..end];
                at = end;
                Some(Value::Bytes(bytes))
            }
            5 => {
                at = at
                    .checked_add(4)
                    .filter(|&end| end <= buf.len())
                    .ok_or(())?;
                None
            }
            _ => return Err(()),
        };
        if key >> 3 == field && value.is_some() {
            found = value;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    //! Against a small reference decoder written from the wire-format description, over
    //! arbitrary label sets, values and timestamps.

    use super::*;
    use proptest::prelude::*;

    use super::read_varint as varint;

    /// (field, wire type, payload) of each field of a message; a varint's payload is its
    /// value's eight little-endian bytes.
    fn fields(buf: &[u8]) -> Option<Vec<(u64, u8, Vec<u8>)>> {
        let mut at = 0;
        let mut out = Vec::new();
        while at < buf.len() {
            let key = varint(buf, &mut at)?;
            let (field, wt) = (key >> 3, (key & 7) as u8);
            let payload = match wt {
                0 => varint(buf, &mut at)?.to_le_bytes().to_vec(),
                1 => {
                    let b = buf.get(at..at + 8)?.to_vec();
                    at += 8;
                    b
                }
                2 => {
                    let n = varint(buf, &mut at)? as usize;
                    let b = buf.get(at..at.checked_add(n)?)?.to_vec();
                    at += n;
                    b
                }
                _ => return None,
            };
            out.push((field, wt, payload));
        }
        Some(out)
    }

    type Decoded = Vec<(Vec<(String, String)>, Vec<(f64, i64)>)>;

    /// A `WriteRequest` as (labels, samples) per series.
    fn decode_write_request(buf: &[u8]) -> Option<Decoded> {
        let mut series = Vec::new();
        for (field, wt, ts) in fields(buf)? {
            if (field, wt) != (1, 2) {
                return None;
            }
            let (mut labels, mut samples) = (Vec::new(), Vec::new());
            for (f, wt, body) in fields(&ts)? {
                match (f, wt) {
                    (1, 2) => {
                        let (mut name, mut value) = (String::new(), String::new());
                        for (f, wt, s) in fields(&body)? {
                            let s = String::from_utf8(s).ok()?;
                            match (f, wt) {
                                (1, 2) => name = s,
                                (2, 2) => value = s,
                                _ => return None,
                            }
                        }
                        labels.push((name, value));
                    }
                    (2, 2) => {
                        let (mut v, mut t) = (0.0, 0);
                        for (f, wt, b) in fields(&body)? {
                            let b: [u8; 8] = b.try_into().ok()?;
                            match (f, wt) {
                                (1, 1) => v = f64::from_bits(u64::from_le_bytes(b)),
                                (2, 0) => t = u64::from_le_bytes(b) as i64,
                                _ => return None,
                            }
                        }
                        samples.push((v, t));
                    }
                    _ => return None,
                }
            }
            series.push((labels, samples));
        }
        Some(series)
    }

    #[test]
    fn varints_as_the_encoding_guide_writes_them() {
        for (v, bytes) in [
            (0u64, &[0x00][..]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (150, &[0x96, 0x01]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
        }
        // The guide's example: field 1 (int32) = 150 is 08 96 01.
        let mut out = Vec::new();
        put_int64(&mut out, 1, 150);
        assert_eq!(out, [0x08, 0x96, 0x01]);
        // A negative int64 takes ten bytes.
        let mut out = Vec::new();
        put_int64(&mut out, 2, -1);
        assert_eq!(out.len(), 11);
    }

    #[test]
    fn a_series_by_hand() {
        let mut out = Vec::new();
        put_series(&mut out, &[("__name__", "up")], 1.0, 1000);
        let label = [&[0x0a, 0x08][..], b"__name__", &[0x12, 0x02], b"up"].concat();
        let sample = [&[0x09][..], &1.0f64.to_le_bytes(), &[0x10, 0xe8, 0x07]].concat();
        let body = [
            &[0x0a, label.len() as u8][..],
            &label,
            &[0x12, sample.len() as u8],
            &sample,
        ]
        .concat();
        let expected = [&[0x0a, body.len() as u8][..], &body].concat();
        assert_eq!(out, expected);
    }

    #[test]
    fn a_nested_message_gets_its_length_widened_when_long() {
        for n in [0usize, 1, 127, 128, 300, 20_000] {
            let mut out = vec![0xaa];
            put_message(&mut out, 3, |out| out.extend(std::iter::repeat_n(7u8, n)));
            let mut expected = vec![0xaa];
            put_bytes(&mut expected, 3, &vec![7u8; n]);
            assert_eq!(out, expected, "{n}");
        }
    }

    fn label() -> impl Strategy<Value = (String, String)> {
        // Any Unicode, long enough for two-byte lengths sometimes.
        (".{0,20}", prop_oneof![".{0,20}", ".{100,200}"])
    }

    proptest! {
        #[test]
        fn what_is_written_decodes_back(
            series in proptest::collection::vec(
                (
                    proptest::collection::vec(label(), 0..8),
                    any::<f64>(),
                    any::<i64>(),
                ),
                0..20,
            ),
        ) {
            let mut out = Vec::new();
            for (labels, value, ts) in &series {
                let refs: Vec<(&str, &str)> =
                    labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                put_series(&mut out, &refs, *value, *ts);
            }
            let decoded = decode_write_request(&out).expect("decodes");
            prop_assert_eq!(decoded.len(), series.len());
            for ((labels, samples), (want_labels, value, ts)) in decoded.iter().zip(&series) {
                prop_assert_eq!(labels, want_labels);
                prop_assert_eq!(samples.len(), 1);
                prop_assert_eq!(samples[0].0.to_bits(), value.to_bits());
                prop_assert_eq!(samples[0].1, *ts);
            }
        }

        #[test]
        fn read_field_finds_what_was_written_and_never_panics(
            v in any::<u64>(),
            text in ".{0,40}",
            noise in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut msg = Vec::new();
            put_uint(&mut msg, 1, v);
            put_bytes(&mut msg, 2, text.as_bytes());
            put_double(&mut msg, 3, 1.5);
            prop_assert_eq!(read_field(&msg, 1), Ok(Some(Value::Varint(v))));
            prop_assert_eq!(read_field(&msg, 2), Ok(Some(Value::Bytes(text.as_bytes()))));
            prop_assert_eq!(read_field(&msg, 3), Ok(None));
            let _ = read_field(&noise, 1);
        }

        #[test]
        fn varint_len_is_what_put_varint_writes(v in any::<u64>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            let mut at = 0;
            prop_assert_eq!(varint(&out, &mut at), Some(v));
        }
    }
}
