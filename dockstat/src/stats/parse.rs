//! Frame decoder: one stats frame (`&[u8]`) into a [`Sample`] that borrows it.
//!
//! An on-demand decoder: it walks the frame's object and reads only the fields `docker stats`
//! needs, validating everything it reads, and skips every other container with a SIMD scan.
//! The 30-odd counters of `memory_stats.stats` are passed in one pass that validates each
//! entry (the daemon's text) or after the SIMD scan (any other form); either way only keys of
//! the three lengths the math needs are compared, and only their values computed. After the
//! first frame, a map with the keys of the last (the daemon's maps have the same keys in
//! every frame) is read against them: each key's text is compared as a whole.
//!
//! Unknown fields are skipped (after validating them: a frame that is not JSON is an error,
//! wherever the damage is), missing and `null` fields are tolerated, counters are `u64`, and
//! a field of the wrong type is a [`DecodeError::Shape`](crate::DecodeError::Shape).
//!
//! The numbers are those the docker CLI gets from Go's `encoding/json`, whose rules decide
//! odd frames: a repeated key's later value wins for a number, while a repeated object is
//! merged into the first (its fields replace only those it has; the memory map and
//! `networks`, Go maps, keep the earlier entries); `null` leaves a number as it was and empties
//! a map; keys name fields without regard to case (`CPU_Stats`), but map keys (interfaces,
//! the memory counters) are exact; invalid UTF-8 and lone surrogates in strings become U+FFFD.
//! Strings are borrowed from the frame; a frame whose strings hold escapes (or invalid
//! UTF-8) is copied once and their values are written after the copy. After the first
//! frames, decoding allocates nothing: its buffers (network interfaces, quote positions, that
//! copy) are reused.
//!
//! An earlier version parsed every frame with simd-json's tape (2.8 µs per 2.3 KB frame on the
//! development machine, of which its SIMD stage 1 alone was 0.7 µs); walking only what is
//! needed is several times faster, and is the reason this decoder exists.

#![forbid(unsafe_code)]

use super::cursor::{Cursor, Fail, R, Schema, Str, decode_go, decode_go_into, shape, syntax};
use super::math::{BlockOp, block_op};
use super::model::{
    BlkioStats, CpuStats, DateCache, MemoryStats, NetEntry, Networks, PidsStats, Sample,
    StorageStats, Throttling, Timestamp,
};

/// Decodes stats frames, reusing its buffers from frame to frame.
///
/// With a [`FrameSplitter`](super::FrameSplitter) for the frames of a body, and
/// [`derive`](super::derive) for what `docker stats` shows:
///
/// ```
/// use dockstat::stats::{FrameDecoder, FrameSplitter, Platform, derive};
///
/// // A body piece as the daemon streams it: one JSON document and a newline per frame (with
/// // most fields left out here).
/// let body = concat!(
///     r#"{"read":"2024-05-01T10:00:01Z","preread":"2024-05-01T10:00:00Z","name":"/web","#,
///     r#""cpu_stats":{"cpu_usage":{"total_usage":2500000000},"#,
///     r#""system_cpu_usage":22000000000,"online_cpus":2},"#,
///     r#""precpu_stats":{"cpu_usage":{"total_usage":2000000000},"#,
///     r#""system_cpu_usage":20000000000,"online_cpus":2},"#,
///     r#""memory_stats":{"usage":134217728,"limit":1073741824}}"#,
///     "\n",
/// );
/// let mut frames = FrameSplitter::default();
/// let mut decoder = FrameDecoder::new();
/// frames
///     .push(body.as_bytes(), &mut |frame| {
///         let sample = decoder.decode(frame).expect("a valid frame");
///         let d = derive(&sample, Platform::Linux);
///         assert_eq!(sample.name, "/web"); // as the daemon has it
///         assert_eq!(d.cpu_percent, 50.0); // 0.5 s of CPU in 2 s of the host's 2 CPUs
///         assert_eq!(d.mem_percent, 12.5);
///     })
///     .expect("frames within the length limit");
/// ```
#[derive(Debug, Default)]
pub struct FrameDecoder {
    networks: Vec<NetEntry>,
    /// Which entry of `networks` has a name, for a name seen again.
    names: NameIndex,
    /// The values of interface names that hold escapes (or invalid UTF-8), decoded: an
    /// entry's name offsets past the end of the frame point here (the frame is copied with
    /// these after it when the sample is made), so names are compared by value, as Go's map
    /// keys are.
    decoded_names: Vec<u8>,
    /// The memory map's reused buffers.
    map: MapScratch,
    /// A copy of the last frame that held escaped strings, their values after it.
    unescaped: Vec<u8>,
    dates: DateCache,
}

/// What the walk finds: numbers, and where the strings are.
#[derive(Default)]
struct Found {
    id: Option<Str>,
    name: Option<Str>,
    read: Timestamp,
    preread: Timestamp,
    cpu: CpuStats,
    precpu: CpuStats,
    memory: MemoryStats,
    pids: PidsStats,
    blkio: BlkioStats,
    num_procs: u32,
    storage: StorageStats,
}

impl FrameDecoder {
    /// A decoder with no buffers yet.
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Decodes one frame (a JSON document without its trailing newline).
    ///
    /// The sample borrows the frame. The rare frame whose id, name or an interface name holds
    /// an escape is copied once into a buffer the decoder keeps, and those strings are
    /// unescaped there. On error, nothing is kept: the next frame decodes independently.
    pub fn decode<'a>(&'a mut self, frame: &'a [u8]) -> Result<Sample<'a>, Fail> {
        self.networks.clear();
        self.names.clear();
        self.decoded_names.clear();
        let mut found = Found::default();
        walk(Cursor { b: frame }, &mut found, self)?;

        let escaped = |s: Option<Str>| s.is_some_and(|s| s.escaped);
        let frame: &'a [u8] =
            if escaped(found.id) || escaped(found.name) || !self.decoded_names.is_empty() {
                // The frame is copied and each such string's value (which may be longer than
                // its text, with U+FFFD) written after it: every other offset stays valid.
                let copy = &mut self.unescaped;
                copy.clear();
                copy.extend_from_slice(frame);
                copy.extend_from_slice(&self.decoded_names);
                let mut fix = |s: &mut Option<Str>| {
                    if let Some(str) = s.as_mut().filter(|s| s.escaped) {
                        let start = copy.len();
                        decode_go(&frame[str.start..str.end], copy);
                        (str.start, str.end) = (start, copy.len());
                    }
                };
                fix(&mut found.id);
                fix(&mut found.name);
                &self.unescaped
            } else {
                frame
            };
        // Always UTF-8: a string that is not, or holds escapes, was decoded above (Go's rule
        // puts U+FFFD for each bad byte), and the others are its raw bytes, found valid by the
        // cursor. The check is only the conversion `&str` needs.
        let text = |s: Option<Str>| -> &'a str {
            s.and_then(|s| std::str::from_utf8(&frame[s.start..s.end]).ok())
                .unwrap_or_default()
        };
        Ok(Sample {
            id: text(found.id),
            name: text(found.name),
            read: found.read,
            preread: found.preread,
            cpu: found.cpu,
            precpu: found.precpu,
            memory: found.memory,
            pids: found.pids,
            blkio: found.blkio,
            num_procs: found.num_procs,
            storage: found.storage,
            networks: Networks {
                frame,
                entries: &self.networks,
            },
            ..Sample::default()
        })
    }
}

/// Keys are compared after decoding escapes; a key longer than this is unknown to us.
const KEY_BUF: usize = 64;

/// The key's value as bytes: the raw bytes, or the unescaped ones in `buf`.
#[inline(always)]
fn key<'k>(c: &Cursor<'k>, k: Str, buf: &'k mut [u8; KEY_BUF]) -> &'k [u8] {
    if !k.escaped {
        return c.raw(k);
    }
    match decode_go_into(c.raw(k), buf) {
        Some(n) => &buf[..n],
        None => b"",
    }
}

/// An object's keys in the daemon's order (the fast path), with a named index for each.
macro_rules! schema {
    ($module:ident { $($index:literal $name:ident $key:literal),* $(,)? }) => {
        // Some keys are listed only so that the daemon's order keeps the fast path.
        #[allow(dead_code)]
        mod $module {
            use super::Schema;
            $(pub(super) const $name: usize = $index;)*
            pub(super) static SCHEMA: Schema = Schema::new(&[$($key.as_bytes()),*]);
        }
    };
}

schema!(top {
    0 READ "read", 1 PREREAD "preread", 2 PIDS "pids_stats", 3 BLKIO "blkio_stats",
    4 NUM_PROCS "num_procs", 5 STORAGE "storage_stats", 6 CPU "cpu_stats",
    7 PRECPU "precpu_stats", 8 MEMORY "memory_stats", 9 NAME "name", 10 ID "id",
    11 NETWORKS "networks",
});
schema!(pids_keys { 0 CURRENT "current", 1 LIMIT "limit" });
schema!(storage_keys {
    0 READ_COUNT "read_count_normalized", 1 READ_SIZE "read_size_bytes",
    2 WRITE_COUNT "write_count_normalized", 3 WRITE_SIZE "write_size_bytes",
});
schema!(cpu_keys {
    0 USAGE "cpu_usage", 1 SYSTEM "system_cpu_usage", 2 ONLINE "online_cpus",
    3 THROTTLING "throttling_data",
});
schema!(usage_keys {
    0 TOTAL "total_usage", 1 PERCPU "percpu_usage", 2 KERNEL "usage_in_kernelmode",
    3 USER "usage_in_usermode",
});
schema!(throttling_keys {
    0 PERIODS "periods", 1 THROTTLED_PERIODS "throttled_periods", 2 THROTTLED_TIME "throttled_time",
});
schema!(blkio_keys {
    0 SERVICE_BYTES "io_service_bytes_recursive", 1 SERVICED "io_serviced_recursive",
    2 QUEUE "io_queue_recursive", 3 SERVICE_TIME "io_service_time_recursive",
    4 WAIT_TIME "io_wait_time_recursive", 5 MERGED "io_merged_recursive",
    6 TIME "io_time_recursive", 7 SECTORS "sectors_recursive",
});
schema!(blkio_entry { 0 MAJOR "major", 1 MINOR "minor", 2 OP "op", 3 VALUE "value" });
schema!(memory_keys {
    0 USAGE "usage", 1 MAX_USAGE "max_usage", 2 STATS "stats", 3 LIMIT "limit",
    4 COMMIT "commitbytes", 5 COMMIT_PEAK "commitpeakbytes", 6 WORKING_SET "privateworkingset",
});
schema!(net_keys {
    0 RX_BYTES "rx_bytes", 1 RX_PACKETS "rx_packets", 2 RX_ERRORS "rx_errors",
    3 RX_DROPPED "rx_dropped", 4 TX_BYTES "tx_bytes", 5 TX_PACKETS "tx_packets",
    6 TX_ERRORS "tx_errors", 7 TX_DROPPED "tx_dropped",
});

/// Iterates the fields of the object at `v` (`null` is an empty object) against a schema:
/// `on_field(index, value_position)` returns the position after the value.
#[inline(always)]
fn fields(
    c: &Cursor<'_>,
    v: usize,
    schema: &Schema,
    mut on_field: impl FnMut(Option<usize>, usize) -> R<usize>,
) -> R<usize> {
    let Some(mut p) = c.object(v)? else {
        return Ok(v + 4);
    };
    let mut first = true;
    let mut hint = 0;
    while let Some((index, value)) = c.field(&mut p, &mut first, schema, &mut hint)? {
        p = on_field(index, value)?;
    }
    Ok(p)
}

fn walk(c: Cursor<'_>, f: &mut Found, d: &mut FrameDecoder) -> R<()> {
    use top::*;
    let start = c.ws(0);
    if c.at(start) != b'{' {
        return Err(shape(start));
    }
    // Keys seen: a repeated object is merged into the first by the general paths (the fast
    // paths write whole objects).
    let mut seen = 0u32;
    let end = fields(&c, start, &SCHEMA, |index, v| {
        let again = index.is_some_and(|i| {
            let bit = 1 << i;
            let again = seen & bit != 0;
            seen |= bit;
            again
        });
        match index {
            Some(READ) => timestamp(&c, v, &mut f.read, &mut d.dates),
            Some(PREREAD) => timestamp(&c, v, &mut f.preread, &mut d.dates),
            Some(PIDS) if again => pids_general(&c, v, &mut f.pids),
            Some(PIDS) => pids(&c, v, &mut f.pids),
            Some(BLKIO) if again => blkio_general(&c, v, &mut f.blkio),
            Some(BLKIO) => blkio(&c, v, &mut f.blkio),
            Some(NUM_PROCS) => small_counter(&c, v, &mut f.num_procs),
            Some(STORAGE) => storage(&c, v, &mut f.storage),
            Some(CPU) if again => cpu_general(&c, v, &mut f.cpu),
            Some(CPU) => cpu(&c, v, &mut f.cpu),
            Some(PRECPU) if again => cpu_general(&c, v, &mut f.precpu),
            Some(PRECPU) => cpu(&c, v, &mut f.precpu),
            Some(MEMORY) if again => memory_general(&c, v, &mut f.memory, &mut d.map),
            Some(MEMORY) => memory(&c, v, &mut f.memory, &mut d.map),
            Some(NAME) => string(&c, v, &mut f.name),
            Some(ID) => string(&c, v, &mut f.id),
            Some(NETWORKS) if again => networks_general(&c, v, d, false),
            Some(NETWORKS) => networks(&c, v, d),
            _ => c.skip(v),
        }
    })?;
    let end = c.ws(end);
    if end != c.b.len() {
        return Err(syntax(end));
    }
    Ok(())
}

/// A counter into `slot` (`null` leaves it as it was).
#[inline(always)]
fn counter(c: &Cursor<'_>, v: usize, slot: &mut u64) -> R<usize> {
    let (n, next) = c.counter(v)?;
    if let Some(n) = n {
        *slot = n;
    }
    Ok(next)
}

/// A counter into an optional field (`null` leaves it as it was, as Go leaves a number).
#[inline(always)]
fn optional(c: &Cursor<'_>, v: usize, slot: &mut Option<u64>) -> R<usize> {
    let (n, next) = c.counter(v)?;
    if n.is_some() {
        *slot = n;
    }
    Ok(next)
}

/// A `uint32` counter (`null` leaves it as it was; a larger number is a shape error, as Go's
/// overflow error).
fn small_counter(c: &Cursor<'_>, v: usize, slot: &mut u32) -> R<usize> {
    let (n, next) = c.counter(v)?;
    if let Some(n) = n {
        *slot = u32::try_from(n).map_err(|_| shape(v))?;
    }
    Ok(next)
}

fn string(c: &Cursor<'_>, v: usize, slot: &mut Option<Str>) -> R<usize> {
    if c.at(v) == b'n' {
        // Go leaves a string as it was for `null`.
        return c.skip(v);
    }
    let (s, next) = c.string(v)?;
    *slot = Some(s);
    Ok(next)
}

fn timestamp(c: &Cursor<'_>, v: usize, slot: &mut Timestamp, dates: &mut DateCache) -> R<usize> {
    if c.at(v) == b'n' {
        // time.Time's UnmarshalJSON: `null` is a no-op.
        return c.skip(v);
    }
    let (s, next) = c.string(v)?;
    let mut buf = [0u8; KEY_BUF];
    *slot = Timestamp::parse_cached(key(c, s, &mut buf), dates).ok_or(shape(v))?;
    Ok(next)
}

fn pids_general(c: &Cursor<'_>, v: usize, out: &mut PidsStats) -> R<usize> {
    use pids_keys::*;
    // No reset: a repeated key is merged into the first, as Go decodes into a struct.
    fields(c, v, &SCHEMA, |index, v| match index {
        Some(CURRENT) => counter(c, v, &mut out.current),
        Some(LIMIT) => optional(c, v, &mut out.limit),
        _ => c.skip(v),
    })
}

fn storage(c: &Cursor<'_>, v: usize, out: &mut StorageStats) -> R<usize> {
    use storage_keys::*;
    fields(c, v, &SCHEMA, |index, v| match index {
        Some(READ_COUNT) => counter(c, v, &mut out.read_count_normalized),
        Some(READ_SIZE) => counter(c, v, &mut out.read_size_bytes),
        Some(WRITE_COUNT) => counter(c, v, &mut out.write_count_normalized),
        Some(WRITE_SIZE) => counter(c, v, &mut out.write_size_bytes),
        _ => c.skip(v),
    })
}

fn cpu_general(c: &Cursor<'_>, v: usize, out: &mut CpuStats) -> R<usize> {
    use cpu_keys::*;
    fields(c, v, &SCHEMA, |index, v| match index {
        Some(USAGE) => cpu_usage(c, v, out),
        Some(SYSTEM) => counter(c, v, &mut out.system_cpu_usage),
        Some(ONLINE) => small_counter(c, v, &mut out.online_cpus),
        Some(THROTTLING) => throttling(c, v, &mut out.throttling),
        _ => c.skip(v),
    })
}

/// `throttling_data` (a repeated key is merged into the first, as Go decodes into a struct;
/// `null` leaves it as it was).
fn throttling(c: &Cursor<'_>, v: usize, out: &mut Throttling) -> R<usize> {
    use throttling_keys::*;
    fields(c, v, &SCHEMA, |index, v| match index {
        Some(PERIODS) => counter(c, v, &mut out.periods),
        Some(THROTTLED_PERIODS) => counter(c, v, &mut out.throttled_periods),
        Some(THROTTLED_TIME) => counter(c, v, &mut out.throttled_time),
        _ => c.skip(v),
    })
}

fn cpu_usage(c: &Cursor<'_>, v: usize, out: &mut CpuStats) -> R<usize> {
    use usage_keys::*;
    fields(c, v, &SCHEMA, |index, v| match index {
        Some(TOTAL) => counter(c, v, &mut out.total_usage),
        Some(PERCPU) => {
            let mut count = 0u32;
            let next = match c.array(v)? {
                None => v + 4,
                Some(mut e) => {
                    let mut first = true;
                    while let Some(at) = c.next_element(&mut e, &mut first)? {
                        // Go's len(): a null element (decoded as 0) counts too.
                        let (_, next) = c.counter(at)?;
                        count += 1;
                        e = next;
                    }
                    e
                }
            };
            out.percpu_count = count;
            Ok(next)
        }
        Some(KERNEL) => counter(c, v, &mut out.system_usage),
        Some(USER) => counter(c, v, &mut out.user_usage),
        _ => c.skip(v),
    })
}

fn blkio_general(c: &Cursor<'_>, v: usize, out: &mut BlkioStats) -> R<usize> {
    fields(c, v, &blkio_keys::SCHEMA, |index, v| {
        if index != Some(blkio_keys::SERVICE_BYTES) {
            return c.skip(v);
        }
        *out = BlkioStats::default();
        let Some(mut e) = c.array(v)? else {
            return Ok(v + 4);
        };
        let mut first = true;
        while let Some(at) = c.next_element(&mut e, &mut first)? {
            let mut op = BlockOp::Other;
            let mut value = 0u64;
            e = fields(c, at, &blkio_entry::SCHEMA, |index, v| match index {
                Some(blkio_entry::OP) => {
                    if c.at(v) == b'n' {
                        return c.skip(v);
                    }
                    let (s, next) = c.string(v)?;
                    let mut buf = [0u8; KEY_BUF];
                    op = block_op(key(c, s, &mut buf));
                    Ok(next)
                }
                Some(blkio_entry::VALUE) => counter(c, v, &mut value),
                _ => c.skip(v),
            })?;
            match op {
                BlockOp::Read => out.read = out.read.wrapping_add(value),
                BlockOp::Write => out.write = out.write.wrapping_add(value),
                BlockOp::Other => {}
            }
            out.entries += 1;
        }
        Ok(e)
    })
}

fn memory_general(
    c: &Cursor<'_>,
    v: usize,
    out: &mut MemoryStats,
    map: &mut MapScratch,
) -> R<usize> {
    use memory_keys::*;
    fields(c, v, &SCHEMA, |index, v| match index {
        Some(USAGE) => counter(c, v, &mut out.usage),
        Some(MAX_USAGE) => optional(c, v, &mut out.max_usage),
        Some(STATS) => memory_map(c, v, out, map),
        Some(LIMIT) => counter(c, v, &mut out.limit),
        Some(COMMIT) => optional(c, v, &mut out.commit_bytes),
        Some(COMMIT_PEAK) => optional(c, v, &mut out.commit_peak_bytes),
        Some(WORKING_SET) => optional(c, v, &mut out.private_working_set),
        _ => c.skip(v),
    })
}

/// `networks`, a Go map: `null` empties it; a repeated `networks` key adds to the interfaces
/// before (`first` is false); a repeated interface name replaces the earlier entry.
fn networks_general(c: &Cursor<'_>, v: usize, d: &mut FrameDecoder, first: bool) -> R<usize> {
    let object = c.object(v)?;
    if first || object.is_none() {
        d.networks.clear();
        d.names.clear();
        d.decoded_names.clear();
    }
    let Some(mut p) = object else {
        return Ok(v + 4);
    };
    let mut first = true;
    while let Some((name, v)) = c.next_key(&mut p, &mut first)? {
        let mut entry = NetEntry {
            name_start: name.start as u32,
            name_end: name.end as u32,
            counters: [0; 8],
        };
        p = fields(c, v, &net_keys::SCHEMA, |index, v| match index {
            Some(i) => counter(c, v, &mut entry.counters[i]),
            None => c.skip(v),
        })?;
        let key = if name.escaped {
            // Its value, after the frame's bytes: `eth\u0030` is `eth0`.
            let at = d.decoded_names.len();
            decode_go(c.raw(name), &mut d.decoded_names);
            entry.name_start = (c.b.len() + at) as u32;
            entry.name_end = (c.b.len() + d.decoded_names.len()) as u32;
            &d.decoded_names[at..]
        } else {
            c.raw(name)
        };
        // A repeated interface name replaces the earlier entry (last wins, as in a map).
        let same = d.names.find(c.b, &d.decoded_names, &d.networks, key);
        match same {
            Some(i) => d.networks[i] = entry,
            None => d.networks.push(entry),
        }
    }
    Ok(p)
}

/// Up to this many interfaces, a name is looked up by comparing it with each.
const LINEAR_NAMES: usize = 8;

/// Which interface entry has a name: a linear search for the usual one or two interfaces, a
/// hash table beyond, so that a frame with thousands of interfaces costs time in proportion
/// to its length. Names are compared as raw bytes.
#[derive(Debug, Default)]
struct NameIndex {
    /// Open addressing: an entry's index + 1, 0 for an empty slot.
    slots: Vec<u32>,
    /// Entries `0..indexed` are in `slots`.
    indexed: usize,
    /// Name comparisons made (tests count them).
    #[cfg(test)]
    compares: std::cell::Cell<u64>,
}

impl NameIndex {
    fn clear(&mut self) {
        self.indexed = 0;
    }

    /// The entry of `entries` named `name` (raw bytes of the frame `b`).
    fn find(
        &mut self,
        b: &[u8],
        decoded: &[u8],
        entries: &[NetEntry],
        name: &[u8],
    ) -> Option<usize> {
        if entries.len() > LINEAR_NAMES {
            self.catch_up(b, decoded, entries);
        }
        let same = |e: &NetEntry| {
            #[cfg(test)]
            self.compares.set(self.compares.get() + 1);
            name_of(b, decoded, e) == name
        };
        if entries.len() <= LINEAR_NAMES {
            return entries.iter().position(same);
        }
        let mask = self.slots.len() - 1;
        let mut at = hash(name) & mask;
        loop {
            match self.slots[at] {
                0 => return None,
                s if same(&entries[s as usize - 1]) => return Some(s as usize - 1),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Adds the entries not in the table yet, keeping it at most half full.
    fn catch_up(&mut self, b: &[u8], decoded: &[u8], entries: &[NetEntry]) {
        if self.indexed == 0 || self.slots.len() < 2 * entries.len() {
            // A new frame, or a full table: start over, at four times the entries (a
            // table kept from a larger frame is reused, not shrunk below that).
            let want = (4 * entries.len()).next_power_of_two();
            if self.slots.len() < 2 * entries.len() || self.slots.len() > 4 * want {
                self.slots = vec![0; want];
            } else {
                self.slots.fill(0);
            }
            self.indexed = 0;
        }
        let mask = self.slots.len() - 1;
        for (i, e) in entries.iter().enumerate().skip(self.indexed) {
            let mut at = hash(name_of(b, decoded, e)) & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = i as u32 + 1;
        }
        self.indexed = entries.len();
    }
}

/// An entry's name: in the frame `b`, or past its end in the decoded names.
fn name_of<'n>(b: &'n [u8], decoded: &'n [u8], e: &NetEntry) -> &'n [u8] {
    let (start, end) = (e.name_start as usize, e.name_end as usize);
    match start.checked_sub(b.len()) {
        Some(at) => &decoded[at..at + (end - start)],
        None => &b[start..end],
    }
}

/// FNV-1a: enough for interface names, which a peer chooses but the table only needs spread.
fn hash(name: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h ^ (h >> 32)) as usize
}

// ---- Fast paths ---------------------------------------------------------------------------
//
// The daemon writes each object with the same keys in the same order and no whitespace. Each
// fast path below reads that exact text with constant-length comparisons; at the first byte
// that differs (another daemon version, a stopped container's empty objects, a warm-up
// frame's shorter precpu, anything malformed) it returns `None`, and the general walk reads
// the object again from its start, with full generality and proper errors. A fast path
// writes its results only once it has read the whole object.

fn pids(c: &Cursor<'_>, v: usize, out: &mut PidsStats) -> R<usize> {
    match pids_fast(c, v, out) {
        Some(next) => Ok(next),
        None => pids_general(c, v, out),
    }
}

#[inline(always)]
fn pids_fast(c: &Cursor<'_>, v: usize, out: &mut PidsStats) -> Option<usize> {
    let (current, p) = c.plain_u64(c.lit(v, b"{\"current\":")?)?;
    let (limit, p) = match c.lit(p, b",\"limit\":") {
        Some(q) => {
            let (limit, q) = c.plain_u64(q)?;
            (Some(limit), q)
        }
        None => (None, p),
    };
    let p = c.lit(p, b"}")?;
    *out = PidsStats { current, limit };
    Some(p)
}

fn cpu(c: &Cursor<'_>, v: usize, out: &mut CpuStats) -> R<usize> {
    match cpu_fast(c, v, out) {
        Some(next) => Ok(next),
        None => cpu_general(c, v, out),
    }
}

#[inline(always)]
fn cpu_fast(c: &Cursor<'_>, v: usize, out: &mut CpuStats) -> Option<usize> {
    let (total_usage, mut p) = c.plain_u64(c.lit(v, b"{\"cpu_usage\":{\"total_usage\":")?)?;
    // cgroup v1 only.
    let mut percpu_count = 0u32;
    if let Some(q) = c.lit(p, b",\"percpu_usage\":[") {
        p = q;
        if c.at(p) == b']' {
            p += 1;
        } else {
            loop {
                let q = c.skip_digits_to(p)?;
                percpu_count += 1;
                match c.at(q) {
                    b',' => p = q + 1,
                    b']' => {
                        p = q + 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
    }
    let (system_usage, p) = c.plain_u64(c.lit(p, b",\"usage_in_kernelmode\":")?)?;
    let (user_usage, p) = c.plain_u64(c.lit(p, b",\"usage_in_usermode\":")?)?;
    let (system_cpu_usage, p) = c.plain_u64(c.lit(p, b"},\"system_cpu_usage\":")?)?;
    let (online, p) = c.plain_u64(c.lit(p, b",\"online_cpus\":")?)?;
    let (periods, p) = c.plain_u64(c.lit(p, b",\"throttling_data\":{\"periods\":")?)?;
    let (throttled_periods, p) = c.plain_u64(c.lit(p, b",\"throttled_periods\":")?)?;
    let (throttled_time, p) = c.plain_u64(c.lit(p, b",\"throttled_time\":")?)?;
    let p = c.lit(p, b"}}")?;
    *out = CpuStats {
        total_usage,
        percpu_count,
        system_cpu_usage,
        online_cpus: u32::try_from(online).ok()?,
        user_usage,
        system_usage,
        throttling: Throttling {
            periods,
            throttled_periods,
            throttled_time,
        },
    };
    Some(p)
}

fn memory(c: &Cursor<'_>, v: usize, out: &mut MemoryStats, map: &mut MapScratch) -> R<usize> {
    match memory_fast(c, v, out, map) {
        Some(next) => Ok(next),
        None => memory_general(c, v, out, map),
    }
}

#[inline(always)]
fn memory_fast(
    c: &Cursor<'_>,
    v: usize,
    out: &mut MemoryStats,
    map: &mut MapScratch,
) -> Option<usize> {
    let (usage, mut p) = c.plain_u64(c.lit(v, b"{\"usage\":")?)?;
    // cgroup v1 only.
    let mut max_usage = None;
    if let Some(q) = c.lit(p, b",\"max_usage\":") {
        let (m, q) = c.plain_u64(q)?;
        max_usage = Some(m);
        p = q;
    }
    let mut stats = MemoryStats::default();
    let p = memory_map(c, c.lit(p, b",\"stats\":")?, &mut stats, map).ok()?;
    let (limit, p) = c.plain_u64(c.lit(p, b",\"limit\":")?)?;
    let p = c.lit(p, b"}")?;
    *out = MemoryStats {
        usage,
        limit,
        max_usage,
        ..stats
    };
    Some(p)
}

fn blkio(c: &Cursor<'_>, v: usize, out: &mut BlkioStats) -> R<usize> {
    match blkio_fast(c, v, out) {
        Some(next) => Ok(next),
        None => blkio_general(c, v, out),
    }
}

#[inline(always)]
fn blkio_fast(c: &Cursor<'_>, v: usize, out: &mut BlkioStats) -> Option<usize> {
    let p = c.lit(v, b"{\"io_service_bytes_recursive\":")?;
    let mut totals = BlkioStats::default();
    let mut p = blkio_list_fast(c, p, &mut totals)?;
    // The other lists are not needed, but read the same way: the daemon's exact text is
    // valid JSON; anything else goes to the general path, which validates it.
    // (Each key a constant at its call, so that the comparison compiles to a few loads.)
    let mut unused = BlkioStats::default();
    macro_rules! list {
        ($($key:literal),*) => {$(
            p = blkio_list_fast(c, c.lit(p, $key)?, &mut unused)?;
        )*};
    }
    list!(
        b",\"io_serviced_recursive\":",
        b",\"io_queue_recursive\":",
        b",\"io_service_time_recursive\":",
        b",\"io_wait_time_recursive\":",
        b",\"io_merged_recursive\":",
        b",\"io_time_recursive\":",
        b",\"sectors_recursive\":"
    );
    let p = c.lit(p, b"}")?;
    *out = totals;
    Some(p)
}

/// A blkio list in the daemon's text (`null`, or `[` entries of major, minor, op and value
/// `]`), added to `totals`: the position after it.
#[inline(always)]
fn blkio_list_fast(c: &Cursor<'_>, mut p: usize, totals: &mut BlkioStats) -> Option<usize> {
    if let Some(q) = c.lit(p, b"null") {
        return Some(q);
    }
    p = c.lit(p, b"[")?;
    if c.at(p) == b']' {
        return Some(p + 1);
    }
    loop {
        let q = c.skip_digits_to(c.lit(p, b"{\"major\":")?)?;
        let q = c.skip_digits_to(c.lit(q, b",\"minor\":")?)?;
        let (op_start, op_end) = c.plain_key(c.lit(q, b",\"op\":")?)?;
        let (value, q) = c.plain_u64(c.lit(op_end + 1, b",\"value\":")?)?;
        // Bytes read and written only: see `block_op` (Podman's `rios`, `wios` … are not).
        match block_op(&c.b[op_start..op_end]) {
            BlockOp::Read => totals.read = totals.read.wrapping_add(value),
            BlockOp::Write => totals.write = totals.write.wrapping_add(value),
            BlockOp::Other => {}
        }
        totals.entries += 1;
        let q = c.lit(q, b"}")?;
        match c.at(q) {
            b',' => p = q + 1,
            b']' => return Some(q + 1),
            _ => return None,
        }
    }
}

fn networks(c: &Cursor<'_>, v: usize, d: &mut FrameDecoder) -> R<usize> {
    match networks_fast(c, v, d) {
        Some(next) => Ok(next),
        None => networks_general(c, v, d, true),
    }
}

#[inline(always)]
fn networks_fast(c: &Cursor<'_>, v: usize, d: &mut FrameDecoder) -> Option<usize> {
    d.networks.clear();
    d.names.clear();
    d.decoded_names.clear();
    let mut p = c.lit(v, b"{")?;
    if c.at(p) == b'}' {
        return Some(p + 1);
    }
    loop {
        let (name_start, name_end) = c.plain_key(p)?;
        let mut q = name_end + 1;
        let mut counters = [0u64; 8];
        // (Each key a constant at its call, so that the comparison compiles to a few loads.)
        macro_rules! counters {
            ($($i:literal $key:literal),*) => {$(
                let (n, next) = c.plain_u64(c.lit(q, $key)?)?;
                counters[$i] = n;
                q = next;
            )*};
        }
        counters!(
            0 b":{\"rx_bytes\":",
            1 b",\"rx_packets\":",
            2 b",\"rx_errors\":",
            3 b",\"rx_dropped\":",
            4 b",\"tx_bytes\":",
            5 b",\"tx_packets\":",
            6 b",\"tx_errors\":",
            7 b",\"tx_dropped\":"
        );
        let q = c.lit(q, b"}")?;
        let name = &c.b[name_start..name_end];
        // A repeated name would replace the earlier entry: leave that to the general path.
        if d.names
            .find(c.b, &d.decoded_names, &d.networks, name)
            .is_some()
        {
            return None;
        }
        d.networks.push(NetEntry {
            name_start: name_start as u32,
            name_end: name_end as u32,
            counters,
        });
        match c.at(q) {
            b',' => p = q + 1,
            b'}' => return Some(q + 1),
            _ => return None,
        }
    }
}

mod memory_map;
#[cfg(test)]
use memory_map::{
    MAP_KEYS_ENTRIES, MapKeys, memory_map_known, memory_map_plain, memory_map_scanned,
};
use memory_map::{MapScratch, memory_map};

#[cfg(test)]
mod tests;
