//! `--format json`'s line for one container, written straight from its [`Entry`]: the text
//! of `json_object(&row(..))` (docker's keys, sorted as Go sorts a map's), without building
//! the row, a `String` per field or `format!`.

#![forbid(unsafe_code)]

use std::fmt::Write as _;

use dockstat::stats::{CpuLimit, Platform, Pressure};

use super::row::CpuScale;
use super::{Entry, StatsOpts};
use crate::format::{json_string, push_u64};
use crate::units::{Base, push_fixed2, push_size, truncate_id};

/// The parts of a row's line that change only with its container, id or name, escaped once:
/// `,"Container":…,"Host":…,"ID":…` and `,"Name":…`. Escaping them at every sample was most of
/// a line's cost. Emptied (see [`Fixed::clear`]) whenever the entry's `container`, `id` or
/// `name` changes; the host and the options stay the same for a run.
#[derive(Default)]
pub(super) struct Fixed {
    text: String,
    /// Where `,"Name":` starts in `text`.
    name_at: usize,
}

impl Fixed {
    pub(super) fn clear(&mut self) {
        self.text.clear();
    }
}

/// Appends `e`'s JSON object (no newline): the keys of [`row`](super::row::row) in byte
/// order, `Host` with `host`, the fields beyond docker's with [`StatsOpts::extended`]. (The
/// CLI writes [`push_line_cached`]; the tests hold both to the reference.)
#[cfg(test)]
pub(super) fn push_line(out: &mut String, e: &Entry, host: Option<&str>, opts: &StatsOpts) {
    push_line_cached(out, e, &mut Fixed::default(), host, opts);
}

/// [`push_line`] with the container, id and name parts from `fixed`, escaped into it first
/// if it is empty (`e.fixed` is taken out while the line is written).
pub(super) fn push_line_cached(
    out: &mut String,
    e: &Entry,
    fixed: &mut Fixed,
    host: Option<&str>,
    opts: &StatsOpts,
) {
    if fixed.text.is_empty() {
        push_ids(&mut fixed.text, e, host, opts);
        fixed.name_at = fixed.text.len();
        push_name(&mut fixed.text, e);
    }
    let (ids, name) = fixed.text.split_at(fixed.name_at);
    push_line_with(out, e, opts, ids, name);
}

/// `,"Container":…` to the end of `"ID"`'s value.
fn push_ids(out: &mut String, e: &Entry, host: Option<&str>, opts: &StatsOpts) {
    out.push_str(",\"Container\":");
    json_string(out, &e.container);
    if let Some(host) = host {
        out.push_str(",\"Host\":");
        json_string(out, host);
    }
    out.push_str(",\"ID\":");
    let id = if e.id.is_empty() {
        &e.container
    } else if opts.no_trunc {
        &e.id
    } else {
        truncate_id(&e.id)
    };
    json_string(out, id);
}

/// `,"Name":…`.
fn push_name(out: &mut String, e: &Entry) {
    out.push_str(",\"Name\":");
    json_string(out, if e.name.is_empty() { "--" } else { &e.name });
}

/// The line, with the container, id and name parts given already written.
fn push_line_with(out: &mut String, e: &Entry, opts: &StatsOpts, ids: &str, name: &str) {
    let live = match (&e.derived, &e.error) {
        (Some(d), None) if !e.stale => Some(d),
        _ => None,
    };
    let windows = e.platform == Platform::Windows;
    let extended = opts.extended;
    const DASH: &str = "\"--\"";

    out.push_str("{\"BlockIO\":");
    match live {
        Some(d) => {
            out.push('"');
            push_size(out, d.block_read as f64, Base::Decimal, 3);
            out.push_str(" / ");
            push_size(out, d.block_write as f64, Base::Decimal, 3);
            out.push('"');
        }
        None => out.push_str(DASH),
    }
    if extended {
        out.push_str(",\"CPULimit\":");
        match live {
            Some(_) => push_cpu_limit(out, e.extra.cpu_limit),
            None => out.push_str(DASH),
        }
        out.push_str(",\"CPULimitPerc\":");
        match live {
            Some(d) => push_percent(out, d.cpu_percent_of_limit),
            None => out.push_str(DASH),
        }
    }
    out.push_str(",\"CPUPerc\":");
    match live {
        Some(d) => push_percent(out, CpuScale::of(opts).percent(d)),
        None => out.push_str(DASH),
    }
    out.push_str(ids);
    out.push_str(",\"MemPerc\":");
    match live {
        Some(d) if !windows => push_percent(out, d.mem_percent),
        _ => out.push_str(DASH),
    }
    out.push_str(",\"MemUsage\":");
    match live {
        Some(d) => {
            out.push('"');
            push_size(out, d.mem_used, Base::Binary, 4);
            if !windows {
                out.push_str(" / ");
                push_size(out, d.mem_limit, Base::Binary, 4);
            }
            out.push('"');
        }
        None => out.push_str("\"-- / --\""),
    }
    out.push_str(name);
    out.push_str(",\"NetIO\":");
    match live {
        Some(d) => {
            out.push('"');
            push_size(out, d.net_rx as f64, Base::Decimal, 3);
            out.push_str(" / ");
            push_size(out, d.net_tx as f64, Base::Decimal, 3);
            out.push('"');
        }
        None => out.push_str(DASH),
    }
    out.push_str(",\"PIDs\":");
    match live {
        Some(d) if !windows => {
            out.push('"');
            push_u64(out, d.pids);
            out.push('"');
        }
        _ => out.push_str(DASH),
    }
    if extended {
        let pressure = live.map(|_| e.extra.pressure);
        for (key, p) in [
            (",\"PSICPU\":", pressure.and_then(|p| p.cpu)),
            (",\"PSIIO\":", pressure.and_then(|p| p.io)),
            (",\"PSIMem\":", pressure.and_then(|p| p.memory)),
        ] {
            out.push_str(key);
            push_psi(out, p);
        }
        out.push_str(",\"Source\":");
        match live {
            Some(_) => json_string(out, e.extra.source.as_str()),
            None => out.push_str(DASH),
        }
    }
    out.push('}');
}

/// `"12.34%"`.
fn push_percent(out: &mut String, x: f64) {
    out.push('"');
    push_fixed2(out, x);
    out.push_str("%\"");
}

/// [`psi_text`](super::row::psi_text) as a JSON string.
fn push_psi(out: &mut String, p: Option<Pressure>) {
    match p {
        Some(p) => {
            let avg10 = p.some.avg10;
            out.push('"');
            push_u64(out, u64::from(avg10 / 100));
            out.push('.');
            let cents = (avg10 % 100) as u8;
            out.push(char::from(b'0' + cents / 10));
            out.push(char::from(b'0' + cents % 10));
            out.push_str("%\"");
        }
        None => out.push_str("\"--\""),
    }
}

/// [`cpu_limit_text`](super::row::cpu_limit_text) as a JSON string (a float's `{}`: digits,
/// a point, maybe `inf`; nothing to escape).
fn push_cpu_limit(out: &mut String, limit: Option<CpuLimit>) {
    match limit.and_then(CpuLimit::cpus) {
        Some(cpus) if cpus > 0.0 => {
            let _ = write!(out, "\"{cpus}\"");
        }
        _ => out.push_str("\"--\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::json_object;
    use crate::stats::row::{Extra, row};
    use dockstat::stats::{Derived, Pressures, Source, StallLine};
    use proptest::prelude::*;

    /// Floats as the engine may derive them, and the awkward ones: NaN, infinities, zero of
    /// both signs, huge, negative, and values next to a `{:.2}` rounding tie.
    fn float() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            0.0..1000.0f64,
            (0u64..10_000_000, -3i64..=3).prop_map(|(k, ulps)| step(k as f64 / 100.0, ulps)),
            (0u64..10_000_000, -3i64..=3)
                .prop_map(|(k, ulps)| step(k as f64 / 100.0 + 0.005, ulps)),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(-0.004),
            Just(1e300),
            Just(-12.345),
        ]
    }

    /// `x` moved by `ulps` units in the last place.
    fn step(x: f64, ulps: i64) -> f64 {
        f64::from_bits((x.to_bits() as i64 + ulps) as u64)
    }

    /// Byte counts: any, and next to each unit's boundaries.
    fn size() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            0u64..5_000_000,
            (0u32..7, 0u64..2000, -3i64..=3).prop_map(|(unit, m, d)| {
                let base = if unit % 2 == 0 { 1000u64 } else { 1024 };
                (m * base.pow(unit / 2 + 1)).saturating_add_signed(d)
            }),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-z0-9<>&\"\\\\/\u{1}\u{7f}\u{2028}é-]{0,10}"
    }

    prop_compose! {
        fn derived()(
            cpu in float(), host in float(), of_limit in float(), mem_percent in float(),
            mem_used in prop_oneof![float(), size().prop_map(|s| s as f64)],
            mem_limit in prop_oneof![float(), size().prop_map(|s| s as f64)],
            net in (size(), size()), block in (size(), size()), pids in any::<u64>(),
        ) -> Derived {
            Derived {
                cpu_percent: cpu,
                cpu_percent_host: host,
                cpu_percent_of_limit: of_limit,
                mem_used,
                mem_limit,
                mem_percent,
                net_rx: net.0,
                net_tx: net.1,
                block_read: block.0,
                block_write: block.1,
                pids,
                ..Derived::default()
            }
        }
    }

    fn pressure() -> impl Strategy<Value = Option<Pressure>> {
        proptest::option::of((0u32..20_000).prop_map(|avg10| Pressure {
            some: StallLine { avg10, total_us: 0 },
            full: None,
        }))
    }

    prop_compose! {
        fn extra()(
            cgroupfs in any::<bool>(),
            cpu in pressure(), memory in pressure(), io in pressure(),
            limit in proptest::option::of((0u64..1_000_000, 0u64..200_000)),
        ) -> Extra {
            Extra {
                source: if cgroupfs { Source::Cgroupfs } else { Source::Api },
                pressure: Pressures { cpu, memory, io },
                cpu_limit: limit.map(|(quota_us, period_us)| CpuLimit { quota_us, period_us }),
            }
        }
    }

    /// An [`Entry`]'s parts (an entry has no `Debug` for proptest to show).
    #[derive(Clone, Debug)]
    struct Parts {
        container: String,
        id: String,
        name: String,
        windows: bool,
        derived: Option<Derived>,
        extra: Extra,
        stale: bool,
        error: Option<String>,
    }

    impl Parts {
        fn entry(self) -> Entry {
            Entry {
                host: 0,
                container: self.container,
                id: self.id,
                name: self.name,
                platform: if self.windows {
                    Platform::Windows
                } else {
                    Platform::Linux
                },
                derived: self.derived,
                extra: self.extra,
                stale: self.stale,
                error: self.error,
                json: String::new(),
                fixed: Fixed::default(),
            }
        }
    }

    prop_compose! {
        fn entry()(
            container in text(), id in prop_oneof![text(), "[0-9a-f]{64}", "sha256:[0-9a-f]{20}"],
            name in text(), windows in any::<bool>(),
            derived in proptest::option::of(derived()), extra in extra(),
            stale in any::<bool>(), error in proptest::option::of(Just("boom".to_string())),
        ) -> Parts {
            Parts { container, id, name, windows, derived, extra, stale, error }
        }
    }

    prop_compose! {
        fn opts()(
            no_trunc in any::<bool>(), cpu_host in any::<bool>(), cpu_limit in any::<bool>(),
            pressure in any::<bool>(), extended in any::<bool>(),
        ) -> StatsOpts {
            StatsOpts {
                no_trunc,
                cpu_host,
                cpu_limit,
                pressure,
                extended,
                ..StatsOpts::default()
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// The direct line is the reference's text, byte for byte.
        #[test]
        fn the_line_is_json_object_of_the_row(
            parts in entry(), opts in opts(), host in proptest::option::of(text()),
        ) {
            let e = parts.entry();
            let mut line = String::new();
            push_line(&mut line, &e, host.as_deref(), &opts);
            let reference = json_object(&row(&e, host.as_deref(), &opts));
            // With the fixed parts escaped now (cold), then taken as they are (warm).
            let mut fixed = Fixed::default();
            for _ in 0..2 {
                let mut cached = String::new();
                push_line_cached(&mut cached, &e, &mut fixed, host.as_deref(), &opts);
                prop_assert_eq!(&cached, &reference);
            }
            prop_assert_eq!(line, reference);
        }
    }

    #[test]
    fn a_line_as_docker_writes_it() {
        let e = Entry {
            host: 0,
            container: "web".into(),
            id: "0123456789abcdef0123".into(),
            name: "web".into(),
            platform: Platform::Linux,
            derived: Some(Derived {
                cpu_percent: 150.0,
                mem_used: 51_126_272.0,
                mem_limit: 25_276_502_016.0,
                mem_percent: 0.2022,
                net_rx: 1230,
                net_tx: 999,
                block_read: 4_263_800,
                pids: 3,
                ..Derived::default()
            }),
            extra: Extra::default(),
            stale: false,
            error: None,
            json: String::new(),
            fixed: Fixed::default(),
        };
        let mut line = String::new();
        push_line(&mut line, &e, Some("unix:///a\"b"), &StatsOpts::default());
        assert_eq!(
            line,
            r#"{"BlockIO":"4.26MB / 0B","CPUPerc":"150.00%","Container":"web","Host":"unix:///a\"b","ID":"0123456789ab","MemPerc":"0.20%","MemUsage":"48.76MiB / 23.54GiB","Name":"web","NetIO":"1.23kB / 999B","PIDs":"3"}"#
        );
    }
}
