//! The order of the rows: `--sort` and the live view's keys, comparing numbers as they are
//! shown.

#![forbid(unsafe_code)]

use std::cmp::Ordering;

use super::Entry;
use super::row::CpuScale;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SortKey {
    Cpu,
    Mem,
    Net,
    Block,
    Pids,
    Name,
}

impl SortKey {
    pub(crate) fn parse(s: &str) -> Option<SortKey> {
        Some(match s {
            "cpu" => SortKey::Cpu,
            "mem" | "memory" => SortKey::Mem,
            "net" => SortKey::Net,
            "block" | "io" => SortKey::Block,
            "pids" => SortKey::Pids,
            "name" => SortKey::Name,
            _ => return None,
        })
    }

    /// The live view's keys: c, m, n, b, p and s (name).
    pub(super) fn from_key(key: u8) -> Option<SortKey> {
        Some(match key {
            b'c' => SortKey::Cpu,
            b'm' => SortKey::Mem,
            b'n' => SortKey::Net,
            b'b' => SortKey::Block,
            b'p' => SortKey::Pids,
            b's' => SortKey::Name,
            _ => return None,
        })
    }

    /// `a` before `b`: busiest first (names A to Z), `reverse` turning that around; rows
    /// without numbers last either way. Numbers compare as shown (CPU % to two decimals,
    /// sizes to their significant digits), so that rows that look equal are ties.
    pub(super) fn compare(self, a: &Entry, b: &Entry, cpu: CpuScale, reverse: bool) -> Ordering {
        let turn = |o: Ordering| if reverse { o.reverse() } else { o };
        if self == SortKey::Name {
            return turn(a.name.cmp(&b.name));
        }
        let metric = |e: &Entry| -> Option<f64> {
            let d = e.derived?;
            Some(match self {
                SortKey::Cpu => (cpu.percent(&d) * 100.0).round(),
                SortKey::Mem => as_shown(d.mem_used, 1024.0, 4),
                SortKey::Net => as_shown(d.net_rx as f64 + d.net_tx as f64, 1000.0, 3),
                SortKey::Block => as_shown(d.block_read as f64 + d.block_write as f64, 1000.0, 3),
                SortKey::Pids => d.pids as f64,
                SortKey::Name => 0.0,
            })
        };
        match (metric(a), metric(b)) {
            (Some(x), Some(y)) => turn(y.total_cmp(&x)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
}

/// A size as `docker stats` shows it (in units of `base`, `digits` significant digits), as a
/// number: sizes that look the same compare equal.
pub(super) fn as_shown(x: f64, base: f64, digits: i32) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return x;
    }
    let (mut mantissa, mut unit) = (x, 1.0);
    while mantissa >= base {
        mantissa /= base;
        unit *= base;
    }
    let scale = 10f64.powi(digits - 1 - mantissa.log10().floor() as i32);
    (mantissa * scale).round() / scale * unit
}
