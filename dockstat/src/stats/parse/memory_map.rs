//! `memory_stats.stats`: the memory map, a Go map of 30-odd cgroup counters of which the
//! math needs three, read in one validating pass, against the keys of the last map, or after
//! the SIMD scan (see [`memory_map`]).

use super::*;

/// The memory map's reused buffers.
#[derive(Debug, Default)]
pub(super) struct MapScratch {
    /// Its quote positions (any form but the daemon's).
    pub(super) quotes: Vec<u32>,
    /// The keys of the last map in the daemon's form.
    pub(super) keys: MapKeys,
    /// The keys of the kind of map before (or of a map being read).
    pub(super) spare: MapKeys,
}

/// `memory_stats.stats`: a map of 30-odd cgroup counters, of which the math needs three.
///
/// The daemon's text (`"key":counter` entries, no whitespace, no escapes) is read in one pass
/// that validates it as it goes ([`memory_map_plain`]): only keys of the three lengths that
/// matter are compared, and only their values are computed. A map with the same keys as one
/// of the last two kinds read that way (every frame of a host, once its first is read) is
/// read against those keys ([`memory_map_known`]), comparing each key's text as a whole.
/// Anything else goes to [`memory_map_scanned`].
///
/// As a Go map: `null` empties it, a repeated `stats` adds to the entries before, and a
/// counter that is `null` is there, as 0 (which decides the cgroup v1 memory math).
pub(super) fn memory_map(
    c: &Cursor<'_>,
    v: usize,
    out: &mut MemoryStats,
    map: &mut MapScratch,
) -> R<usize> {
    if c.object(v)?.is_none() {
        out.total_inactive_file = None;
        out.inactive_file = None;
        out.cache = None;
        return Ok(v + 4);
    }
    if let Some(end) = memory_map_known(c, v, out, &map.keys) {
        return Ok(end);
    }
    if let Some(end) = memory_map_known(c, v, out, &map.spare) {
        // Two kinds of map in turn (two daemons' cgroup versions): both stay known.
        std::mem::swap(&mut map.keys, &mut map.spare);
        return Ok(end);
    }
    match memory_map_plain(c, v, out, &mut map.spare) {
        Some(end) => {
            if !map.spare.entries.is_empty() && !map.spare.short {
                // These keys first from now on; the ones before become the spare.
                std::mem::swap(&mut map.keys, &mut map.spare);
            }
            Ok(end)
        }
        None => memory_map_scanned(c, v, out, &mut map.quotes),
    }
}

/// The memory map in any form: skipped with the SIMD scan, which validates its strings and
/// brackets and records where its quotes are. In a flat map without escapes, quote pairs are
/// its keys: only keys of the three lengths that matter are compared, and only their values
/// are parsed (fully validated). Anything else (escapes, nested values) is walked entry by
/// entry.
pub(super) fn memory_map_scanned(
    c: &Cursor<'_>,
    v: usize,
    out: &mut MemoryStats,
    quotes: &mut Vec<u32>,
) -> R<usize> {
    // Validated here, as a whole: the quote pairs are then its keys and string values.
    let map = c.scan_container(v, quotes)?;
    if map.nested || map.escapes || quotes.len() % 2 != 0 {
        return memory_map_walk(c, v, out);
    }
    for pair in quotes.chunks_exact(2) {
        let (open, close) = (pair[0] as usize, pair[1] as usize);
        let key = &c.b[open + 1..close];
        let slot = match key.len() {
            19 if key == b"total_inactive_file" => &mut out.total_inactive_file,
            13 if key == b"inactive_file" => &mut out.inactive_file,
            5 if key == b"cache" => &mut out.cache,
            _ => continue,
        };
        let colon = c.ws(close + 1);
        if c.at(colon) != b':' {
            continue; // a string value, not a key
        }
        let at = c.ws(colon + 1);
        let (n, _) = c.counter(at)?;
        *slot = Some(n.unwrap_or(0));
    }
    Ok(map.end)
}

/// The map as the daemon writes it, in one pass that validates as it goes: `{`, then entries
/// `"key":counter` (plain printable ASCII keys, plain unsigned integers) separated by `,`,
/// then `}`; a key is compared only when it has the length of one the math needs. The
/// position after the map, or `None` at the first byte that is not that form (whitespace,
/// `null`, escapes, a nested value, anything malformed), with `out` possibly written: the
/// caller then reads the whole map again with the general path, which sets the same slots
/// (or fails).
#[inline(always)]
pub(super) fn memory_map_plain(
    c: &Cursor<'_>,
    v: usize,
    out: &mut MemoryStats,
    keys: &mut MapKeys,
) -> Option<usize> {
    keys.clear();
    let mut p = c.lit(v, b"{")?;
    if c.at(p) == b'}' {
        return Some(p + 1);
    }
    loop {
        let (start, end) = c.plain_key(p)?;
        let value = c.lit(end + 1, b":")?;
        let key = &c.b[start..end];
        let (slot, which) = match key.len() {
            19 if key == b"total_inactive_file" => (Some(&mut out.total_inactive_file), 1),
            13 if key == b"inactive_file" => (Some(&mut out.inactive_file), 2),
            5 if key == b"cache" => (Some(&mut out.cache), 3),
            _ => (None, 0),
        };
        let next = match slot {
            Some(slot) => {
                let (n, next) = c.plain_u64(value)?;
                *slot = Some(n);
                next
            }
            None => c.skip_digits_to(value)?,
        };
        // The `{` or `,` before the key, the key in its quotes, and the colon.
        keys.push(&c.b[p - 1..value], which);
        match c.at(next) {
            b',' => p = next + 1,
            b'}' => return Some(next + 1),
            _ => return None,
        }
    }
}

/// The memory map's keys in the order of the last map read in the daemon's form: Go writes a
/// map's keys sorted, and a cgroup's counters are the same from frame to frame and from
/// container to container, so the next map usually has exactly these keys.
#[derive(Debug, Default)]
pub(super) struct MapKeys {
    /// Each entry's `{"key":` (the first) or `,"key":` (the others), one after the other.
    pub(super) text: Vec<u8>,
    /// Where each entry's text ends in `text`, and which slot its counter goes to (0: none,
    /// 1: `total_inactive_file`, 2: `inactive_file`, 3: `cache`).
    pub(super) entries: Vec<(u32, u8)>,
    /// Some keys were not remembered: these are not the whole map.
    pub(super) short: bool,
}

/// Keys beyond this much text, or this many, are not remembered (the daemon's maps have about
/// 40 keys in about 900 bytes). The buffers are made this size at once, so that remembering
/// another kind of map never allocates.
const MAP_KEYS_TEXT: usize = 4096;
pub(super) const MAP_KEYS_ENTRIES: usize = 128;

impl MapKeys {
    fn clear(&mut self) {
        self.text.clear();
        self.entries.clear();
        self.short = false;
    }

    #[inline(always)]
    fn push(&mut self, text: &[u8], slot: u8) {
        if self.text.capacity() == 0 {
            self.text.reserve_exact(MAP_KEYS_TEXT);
            self.entries.reserve_exact(MAP_KEYS_ENTRIES);
        }
        if self.text.len() + text.len() > MAP_KEYS_TEXT || self.entries.len() == MAP_KEYS_ENTRIES {
            // Too many to remember (and never used: a map with only these keys would match).
            self.short = true;
            return;
        }
        self.text.extend_from_slice(text);
        self.entries.push((self.text.len() as u32, slot));
    }
}

/// The memory map read against the keys of the last one ([`MapKeys`]): each entry's key text
/// is compared as a whole with the one remembered (which [`memory_map_plain`] found plain), so
/// keys are neither scanned for their end nor matched by name. The position after the map,
/// or `None` at the first difference (other keys, whitespace, a value that is not a plain
/// counter, anything malformed), with `out` possibly written; [`memory_map_plain`] then reads
/// the map again from its start, and sets the same slots.
#[inline(always)]
pub(super) fn memory_map_known(
    c: &Cursor<'_>,
    v: usize,
    out: &mut MemoryStats,
    keys: &MapKeys,
) -> Option<usize> {
    if keys.entries.is_empty() {
        return None;
    }
    let mut p = v;
    let mut from = 0usize;
    for &(to, slot) in &keys.entries {
        let text = &keys.text[from..to as usize];
        from = to as usize;
        p = c.same(p, text)?;
        p = match slot {
            // The next entry's text starts with `,`, and `}` ends the map: checked there.
            0 => c.skip_digits_to(p)?,
            _ => {
                let (n, next) = c.plain_u64(p)?;
                let slot = match slot {
                    1 => &mut out.total_inactive_file,
                    2 => &mut out.inactive_file,
                    _ => &mut out.cache,
                };
                *slot = Some(n);
                next
            }
        };
    }
    c.lit(p, b"}")
}

pub(super) fn memory_map_walk(c: &Cursor<'_>, v: usize, out: &mut MemoryStats) -> R<usize> {
    let Some(mut p) = c.object(v)? else {
        return Ok(v + 4);
    };
    let mut first = true;
    let mut buf = [0u8; KEY_BUF];
    while let Some((k, v)) = c.next_key(&mut p, &mut first)? {
        let slot = match key(c, k, &mut buf) {
            b"total_inactive_file" => &mut out.total_inactive_file,
            b"inactive_file" => &mut out.inactive_file,
            b"cache" => &mut out.cache,
            _ => {
                p = c.skip(v)?;
                continue;
            }
        };
        let (n, next) = c.counter(v)?;
        *slot = Some(n.unwrap_or(0));
        p = next;
    }
    Ok(p)
}
