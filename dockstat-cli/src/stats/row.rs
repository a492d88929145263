//! One container's row of `docker stats`: its fields rendered as docker renders them, and
//! the column titles.

#![forbid(unsafe_code)]

use dockstat::stats::{CpuLimit, Derived, Platform, Pressure, Pressures, Sample, Source};

use super::{Entry, StatsOpts};
use crate::format::{Cell, Row};
use crate::units::{bytes_size, human_size, truncate_id};

/// The default table's columns added by `--pressure`.
pub(super) const PRESSURE_COLUMNS: &str = "\t{{.PSICPU}}\t{{.PSIMem}}\t{{.PSIIO}}";

/// The fields beyond docker's: in a row only when asked for ([`StatsOpts::extended`]), so
/// that `--format json` and `{{json .}}` stay docker's otherwise.
pub(super) const EXTRA_FIELDS: &[&str] = &[
    "CPULimit",
    "CPULimitPerc",
    "PSICPU",
    "PSIIO",
    "PSIMem",
    "Source",
];

/// Which CPU % the CPU column shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum CpuScale {
    /// docker's: 100 % = one CPU.
    #[default]
    Docker,
    /// `--cpu-host`: 100 % = every CPU of the host.
    Host,
    /// `--cpu-limit`: 100 % = all the container may use.
    Limit,
}

impl CpuScale {
    pub(super) fn of(opts: &StatsOpts) -> CpuScale {
        if opts.cpu_limit {
            CpuScale::Limit
        } else if opts.cpu_host {
            CpuScale::Host
        } else {
            CpuScale::Docker
        }
    }

    pub(super) fn percent(self, d: &Derived) -> f64 {
        match self {
            CpuScale::Docker => d.cpu_percent,
            CpuScale::Host => d.cpu_percent_host,
            CpuScale::Limit => d.cpu_percent_of_limit,
        }
    }
}

/// What a row keeps of its latest sample beyond the derived numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Extra {
    pub(super) source: Source,
    pub(super) pressure: Pressures,
    pub(super) cpu_limit: Option<CpuLimit>,
}

impl Extra {
    pub(super) fn of(s: &Sample<'_>) -> Extra {
        Extra {
            source: s.source,
            pressure: s.pressure,
            cpu_limit: s.cpu_limit,
        }
    }
}

/// A pressure's `some avg10` as a percentage with the kernel's two decimals (`12.34%`), or
/// `--` where there is none.
pub(super) fn psi_text(p: Option<Pressure>) -> String {
    match p {
        Some(p) => format!("{}.{:02}%", p.some.avg10 / 100, p.some.avg10 % 100),
        None => "--".to_string(),
    }
}

/// A CPU limit in CPUs, as `docker run --cpus` takes it (`0.5`, `2`), or `--`.
pub(super) fn cpu_limit_text(limit: Option<CpuLimit>) -> String {
    match limit.and_then(CpuLimit::cpus) {
        Some(cpus) if cpus > 0.0 => format!("{cpus}"),
        _ => "--".to_string(),
    }
}

/// One container's `docker stats` fields, rendered as docker renders them; with
/// [`StatsOpts::extended`], the [`EXTRA_FIELDS`] too.
pub(super) fn row(e: &Entry, host: Option<&str>, opts: &StatsOpts) -> Row {
    let trunc = !opts.no_trunc;
    let cpu_scale = CpuScale::of(opts);
    let mut row = Row::new();
    let text = |s: String| Cell::Text(s);
    if let Some(host) = host {
        row.insert("Host", text(host.to_string()));
    }
    row.insert("Container", text(e.container.clone()));
    let id = if e.id.is_empty() {
        e.container.clone()
    } else if trunc {
        truncate_id(&e.id).to_string()
    } else {
        e.id.clone()
    };
    row.insert("ID", text(id));
    let name = if e.name.is_empty() {
        "--".to_string()
    } else {
        e.name.clone()
    };
    row.insert("Name", text(name));
    let windows = e.platform == Platform::Windows;
    match (&e.derived, &e.error) {
        (Some(d), None) if !e.stale => {
            let cpu = cpu_scale.percent(d);
            row.insert("CPUPerc", text(format!("{cpu:.2}%")));
            if opts.extended {
                let x = &e.extra;
                row.insert("Source", text(x.source.as_str().to_string()));
                row.insert("CPULimit", text(cpu_limit_text(x.cpu_limit)));
                let of_limit = d.cpu_percent_of_limit;
                row.insert("CPULimitPerc", text(format!("{of_limit:.2}%")));
                row.insert("PSICPU", text(psi_text(x.pressure.cpu)));
                row.insert("PSIMem", text(psi_text(x.pressure.memory)));
                row.insert("PSIIO", text(psi_text(x.pressure.io)));
            }
            let mem = if windows {
                bytes_size(d.mem_used)
            } else {
                format!("{} / {}", bytes_size(d.mem_used), bytes_size(d.mem_limit))
            };
            row.insert("MemUsage", text(mem));
            let mem_percent = if windows {
                "--".to_string()
            } else {
                format!("{:.2}%", d.mem_percent)
            };
            row.insert("MemPerc", text(mem_percent));
            row.insert(
                "NetIO",
                text(format!(
                    "{} / {}",
                    human_size(d.net_rx as f64),
                    human_size(d.net_tx as f64)
                )),
            );
            row.insert(
                "BlockIO",
                text(format!(
                    "{} / {}",
                    human_size(d.block_read as f64),
                    human_size(d.block_write as f64)
                )),
            );
            let pids = if windows {
                "--".to_string()
            } else {
                d.pids.to_string()
            };
            row.insert("PIDs", text(pids));
        }
        _ => {
            // No sample yet, or the stream failed: docker's "invalid" row.
            row.insert("CPUPerc", text("--".into()));
            row.insert("MemUsage", text("-- / --".into()));
            row.insert("MemPerc", text("--".into()));
            row.insert("NetIO", text("--".into()));
            row.insert("BlockIO", text("--".into()));
            row.insert("PIDs", text("--".into()));
            if opts.extended {
                for field in EXTRA_FIELDS {
                    row.insert(*field, text("--".into()));
                }
            }
        }
    }
    row
}

/// The column title docker shows for a field.
pub(super) fn header(field: &str) -> &str {
    match field {
        "Container" => "CONTAINER",
        "Host" => "HOST",
        "ID" => "CONTAINER ID",
        "Name" => "NAME",
        "CPUPerc" => "CPU %",
        "MemUsage" => "MEM USAGE / LIMIT",
        "MemPerc" => "MEM %",
        "NetIO" => "NET I/O",
        "BlockIO" => "BLOCK I/O",
        "PIDs" => "PIDS",
        "Source" => "SOURCE",
        "CPULimit" => "CPU LIMIT",
        "CPULimitPerc" => "CPU % OF LIMIT",
        "PSICPU" => "CPU PSI",
        "PSIMem" => "MEM PSI",
        "PSIIO" => "IO PSI",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Format, json_object};
    use dockstat::stats::StallLine;

    fn entry(extra: Extra) -> Entry {
        Entry {
            host: 0,
            container: "web".into(),
            id: "0123456789abcdef0123".into(),
            name: "web".into(),
            platform: Platform::Linux,
            derived: Some(Derived {
                cpu_percent: 150.0,
                cpu_percent_host: 37.5,
                cpu_percent_of_limit: 300.0,
                online_cpus: 4,
                mem_used: 1024.0,
                mem_limit: 4096.0,
                mem_percent: 25.0,
                pids: 3,
                ..Derived::default()
            }),
            extra,
            stale: false,
            error: None,
            json: String::new(),
            fixed: crate::stats::json::Fixed::default(),
        }
    }

    fn pressured() -> Extra {
        let line = |avg10| StallLine {
            avg10,
            total_us: 99,
        };
        Extra {
            source: Source::Cgroupfs,
            pressure: Pressures {
                cpu: Some(Pressure {
                    some: line(1234),
                    full: Some(line(1)),
                }),
                memory: None,
                io: Some(Pressure {
                    some: line(5),
                    full: None,
                }),
            },
            cpu_limit: Some(CpuLimit {
                quota_us: 50_000,
                period_us: 100_000,
            }),
        }
    }

    #[test]
    fn docker_fields_alone_unless_asked_for() {
        let e = entry(pressured());
        let plain = row(&e, None, &StatsOpts::default());
        assert_eq!(
            json_object(&plain),
            r#"{"BlockIO":"0B / 0B","CPUPerc":"150.00%","Container":"web","ID":"0123456789ab","MemPerc":"25.00%","MemUsage":"1KiB / 4KiB","Name":"web","NetIO":"0B / 0B","PIDs":"3"}"#
        );
        let opts = StatsOpts {
            cpu_limit: true,
            extended: true,
            ..StatsOpts::default()
        };
        assert_eq!(
            json_object(&row(&e, None, &opts)),
            r#"{"BlockIO":"0B / 0B","CPULimit":"0.5","CPULimitPerc":"300.00%","CPUPerc":"300.00%","Container":"web","ID":"0123456789ab","MemPerc":"25.00%","MemUsage":"1KiB / 4KiB","Name":"web","NetIO":"0B / 0B","PIDs":"3","PSICPU":"12.34%","PSIIO":"0.05%","PSIMem":"--","Source":"cgroupfs"}"#
        );
        // --cpu-host still picks the host's scale; --cpu-limit wins over it.
        let host = StatsOpts {
            cpu_host: true,
            ..StatsOpts::default()
        };
        assert_eq!(row(&e, None, &host)["CPUPerc"], Cell::Text("37.50%".into()));
        // Without a limit or pressure (the API source): dashes, and the % of the CPUs.
        let none = Extra::default();
        let r = row(&entry(none), None, &opts);
        for (field, v) in [
            ("Source", "api"),
            ("CPULimit", "--"),
            ("PSICPU", "--"),
            ("PSIMem", "--"),
            ("PSIIO", "--"),
        ] {
            assert_eq!(r[field], Cell::Text(v.into()), "{field}");
        }
        // A row without a sample: every field a dash.
        let mut waiting = entry(pressured());
        waiting.derived = None;
        let r = row(&waiting, None, &opts);
        for field in EXTRA_FIELDS {
            assert_eq!(r[field], Cell::Text("--".into()), "{field}");
        }
    }

    #[test]
    fn the_pressure_columns_of_the_table() {
        let table = format!("{}{PRESSURE_COLUMNS}", super::super::TABLE);
        let format = Format::parse("table", &table).unwrap();
        format.check_fields(super::super::FIELDS).unwrap();
        let opts = StatsOpts {
            pressure: true,
            extended: true,
            ..StatsOpts::default()
        };
        let rows = [
            row(&entry(pressured()), None, &opts),
            row(&entry(Extra::default()), None, &opts),
        ];
        let mut out = Vec::new();
        format
            .write(&mut out, &rows, &|f| header(f).to_string())
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS      CPU PSI   MEM PSI   IO PSI\n\
             0123456789ab   web       150.00%   1KiB / 4KiB         25.00%    0B / 0B   0B / 0B     3         12.34%    --        0.05%\n\
             0123456789ab   web       150.00%   1KiB / 4KiB         25.00%    0B / 0B   0B / 0B     3         --        --        --\n"
        );
    }

    #[test]
    fn psi_and_limit_texts() {
        let p = |avg10| {
            Some(Pressure {
                some: StallLine { avg10, total_us: 0 },
                full: None,
            })
        };
        assert_eq!(psi_text(p(0)), "0.00%");
        assert_eq!(psi_text(p(7)), "0.07%");
        assert_eq!(psi_text(p(10_000)), "100.00%");
        assert_eq!(psi_text(None), "--");
        let l = |quota_us, period_us| {
            Some(CpuLimit {
                quota_us,
                period_us,
            })
        };
        assert_eq!(cpu_limit_text(l(150_000, 100_000)), "1.5");
        assert_eq!(cpu_limit_text(l(200_000, 100_000)), "2");
        assert_eq!(cpu_limit_text(l(1, 0)), "--");
        assert_eq!(cpu_limit_text(None), "--");
    }
}
