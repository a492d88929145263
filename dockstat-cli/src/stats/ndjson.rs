//! `stats --format ndjson`: one line of raw numbers per sample, written without `format!`
//! (each host's prefix once, integers by hand, the `read` text per second), byte for byte
//! the line the `format!` reference below writes (the tests in `stats` compare them).

#![forbid(unsafe_code)]

use dockstat::stats::{Derived, Pressure, Pressures, Sample, StallLine};

use crate::format::{TimestampText, json_string, push_f64, push_u64};

/// Renders `ndjson` lines: raw numbers for machines, one line per sample. Each host's
/// `{"host":…,"id":` is rendered once, numbers without `format!`, and the `read` time from
/// the text of the last second seen.
pub(super) struct Ndjson {
    prefixes: Vec<String>,
    read: TimestampText,
}

impl Ndjson {
    pub(super) fn new(hosts: &[String]) -> Ndjson {
        let prefixes = (hosts.iter())
            .map(|host| {
                let mut s = String::from("{\"host\":");
                json_string(&mut s, host);
                s.push_str(",\"id\":");
                s
            })
            .collect();
        Ndjson {
            prefixes,
            read: TimestampText::default(),
        }
    }

    /// Appends one line: `name` is the sample's without its `/`.
    pub(super) fn line(
        &mut self,
        out: &mut String,
        host: usize,
        sample: &Sample<'_>,
        name: &str,
        d: &Derived,
    ) {
        let (id, read) = (sample.id, sample.read);
        let bool_text = |b: bool| if b { "true" } else { "false" };
        out.push_str(&self.prefixes[host]);
        json_string(out, id);
        out.push_str(",\"name\":");
        json_string(out, name);
        // The time's text needs no escapes.
        out.push_str(",\"read\":\"");
        self.read.push(out, read);
        out.push_str("\",\"warmup\":");
        out.push_str(bool_text(d.warmup));
        out.push_str(",\"stopped\":");
        out.push_str(bool_text(d.stopped));
        out.push_str(",\"cpu_percent\":");
        json_number(out, d.cpu_percent);
        out.push_str(",\"cpu_percent_host\":");
        json_number(out, d.cpu_percent_host);
        out.push_str(",\"online_cpus\":");
        push_u64(out, u64::from(d.online_cpus));
        out.push_str(",\"mem_usage\":");
        push_u64(out, d.mem_usage);
        out.push_str(",\"mem_used\":");
        push_u64(out, d.mem_used as u64);
        out.push_str(",\"mem_limit\":");
        push_u64(out, d.mem_limit as u64);
        out.push_str(",\"mem_percent\":");
        json_number(out, d.mem_percent);
        for (key, v) in [
            (",\"net_rx\":", d.net_rx),
            (",\"net_tx\":", d.net_tx),
            (",\"block_read\":", d.block_read),
            (",\"block_write\":", d.block_write),
            (",\"pids\":", d.pids),
            (",\"interval_ns\":", d.interval_nanos),
        ] {
            out.push_str(key);
            push_u64(out, v);
        }
        out.push_str(",\"source\":\"");
        out.push_str(sample.source.as_str());
        out.push('"');
        let t = &sample.cpu.throttling;
        for (key, v) in [
            (",\"cpu_user_ns\":", sample.cpu.user_usage),
            (",\"cpu_system_ns\":", sample.cpu.system_usage),
            (",\"throttling\":{\"periods\":", t.periods),
            (",\"throttled_periods\":", t.throttled_periods),
            (",\"throttled_time_ns\":", t.throttled_time),
        ] {
            out.push_str(key);
            push_u64(out, v);
        }
        out.push('}');
        if let Some(cpus) = sample.cpu_limit.and_then(|l| l.cpus()) {
            out.push_str(",\"cpu_limit\":");
            json_number(out, cpus);
            out.push_str(",\"cpu_percent_of_limit\":");
            json_number(out, d.cpu_percent_of_limit);
        }
        push_pressures(out, &sample.pressure);
        out.push_str("}\n");
    }
}

/// `,"pressure":{…}` with the resources that have one (nothing when none has).
fn push_pressures(out: &mut String, p: &Pressures) {
    let mut first = true;
    for (key, pressure) in [("cpu", p.cpu), ("memory", p.memory), ("io", p.io)] {
        let Some(pressure) = pressure else { continue };
        out.push_str(if first { ",\"pressure\":{\"" } else { ",\"" });
        first = false;
        out.push_str(key);
        out.push_str("\":");
        push_pressure(out, &pressure);
    }
    if !first {
        out.push('}');
    }
}

/// `{"some":{"avg10":12.34,"total_us":N},"full":{…}}`, `full` only when the kernel has it.
fn push_pressure(out: &mut String, p: &Pressure) {
    out.push_str("{\"some\":");
    push_stall(out, &p.some);
    if let Some(full) = &p.full {
        out.push_str(",\"full\":");
        push_stall(out, full);
    }
    out.push('}');
}

/// avg10 as the kernel prints it (a percentage with two decimals), total in microseconds.
fn push_stall(out: &mut String, s: &StallLine) {
    out.push_str("{\"avg10\":");
    push_u64(out, u64::from(s.avg10 / 100));
    out.push('.');
    let cents = s.avg10 % 100;
    if cents < 10 {
        out.push('0');
    }
    push_u64(out, u64::from(cents));
    out.push_str(",\"total_us\":");
    push_u64(out, s.total_us);
    out.push('}');
}

/// A finite float as JSON (the shortest text that reads back the same value); `0` for NaN
/// and infinities.
fn json_number(out: &mut String, x: f64) {
    if x.is_finite() {
        push_f64(out, x);
    } else {
        out.push('0');
    }
}

/// The line [`Ndjson::line`] writes, as it was first written with `format!`: the reference
/// the tests compare with.
#[cfg(test)]
pub(super) fn ndjson_line_reference(
    out: &mut String,
    host: &str,
    sample: &Sample<'_>,
    name: &str,
    read: &str,
    d: &Derived,
) {
    let id = sample.id;
    use std::fmt::Write as _;
    out.push_str("{\"host\":");
    json_string(out, host);
    out.push_str(",\"id\":");
    json_string(out, id);
    out.push_str(",\"name\":");
    json_string(out, name);
    out.push_str(",\"read\":");
    json_string(out, read);
    // Writing into a String cannot fail.
    let _ = writeln!(
        out,
        ",\"warmup\":{},\"stopped\":{},\"cpu_percent\":{},\"cpu_percent_host\":{},\
         \"online_cpus\":{},\"mem_usage\":{},\"mem_used\":{},\"mem_limit\":{},\
         \"mem_percent\":{},\"net_rx\":{},\"net_tx\":{},\"block_read\":{},\
         \"block_write\":{},\"pids\":{},\"interval_ns\":{},\"source\":\"{}\",\
         \"cpu_user_ns\":{},\"cpu_system_ns\":{},\"throttling\":{{\"periods\":{},\
         \"throttled_periods\":{},\"throttled_time_ns\":{}}}{}{}}}",
        d.warmup,
        d.stopped,
        json_number_reference(d.cpu_percent),
        json_number_reference(d.cpu_percent_host),
        d.online_cpus,
        d.mem_usage,
        d.mem_used as u64,
        d.mem_limit as u64,
        json_number_reference(d.mem_percent),
        d.net_rx,
        d.net_tx,
        d.block_read,
        d.block_write,
        d.pids,
        d.interval_nanos,
        sample.source.as_str(),
        sample.cpu.user_usage,
        sample.cpu.system_usage,
        sample.cpu.throttling.periods,
        sample.cpu.throttling.throttled_periods,
        sample.cpu.throttling.throttled_time,
        match sample.cpu_limit.and_then(|l| l.cpus()) {
            Some(cpus) => format!(
                ",\"cpu_limit\":{},\"cpu_percent_of_limit\":{}",
                json_number_reference(cpus),
                json_number_reference(d.cpu_percent_of_limit)
            ),
            None => String::new(),
        },
        pressure_reference(&sample.pressure),
    );
}

#[cfg(test)]
fn pressure_reference(p: &Pressures) -> String {
    let stall = |s: &StallLine| {
        format!(
            "{{\"avg10\":{}.{:02},\"total_us\":{}}}",
            s.avg10 / 100,
            s.avg10 % 100,
            s.total_us
        )
    };
    let parts: Vec<String> = [("cpu", p.cpu), ("memory", p.memory), ("io", p.io)]
        .into_iter()
        .filter_map(|(k, p)| {
            let p = p?;
            let full = p
                .full
                .map_or(String::new(), |f| format!(",\"full\":{}", stall(&f)));
            Some(format!("\"{k}\":{{\"some\":{}{full}}}", stall(&p.some)))
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(",\"pressure\":{{{}}}", parts.join(","))
    }
}

#[cfg(test)]
fn json_number_reference(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "0".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dockstat::stats::{CpuLimit, Source, Throttling, Timestamp};

    #[test]
    fn the_new_keys_and_only_where_known() {
        let mut nd = Ndjson::new(&["unix:///s".to_string()]);
        let mut s = Sample {
            id: "abc",
            read: Timestamp {
                secs: 1_700_000_000,
                nanos: 5,
            },
            ..Sample::default()
        };
        s.cpu.user_usage = 7;
        s.cpu.system_usage = 8;
        s.cpu.throttling = Throttling {
            periods: 445,
            throttled_periods: 438,
            throttled_time: 21_243_018_874,
        };
        let d = Derived {
            cpu_percent: 150.0,
            cpu_percent_host: 37.5,
            cpu_percent_of_limit: 300.0,
            ..Derived::default()
        };
        let mut out = String::new();
        nd.line(&mut out, 0, &s, "web", &d);
        let head = r#"{"host":"unix:///s","id":"abc","name":"web","read":"2023-11-14T22:13:20.000000005Z","warmup":false,"stopped":false,"cpu_percent":150,"cpu_percent_host":37.5,"online_cpus":0,"mem_usage":0,"mem_used":0,"mem_limit":0,"mem_percent":0,"net_rx":0,"net_tx":0,"block_read":0,"block_write":0,"pids":0,"interval_ns":0"#;
        assert_eq!(
            out,
            format!(
                "{head},\"source\":\"api\",\"cpu_user_ns\":7,\"cpu_system_ns\":8,\"throttling\":{{\"periods\":445,\"throttled_periods\":438,\"throttled_time_ns\":21243018874}}}}\n"
            )
        );
        s.source = Source::Cgroupfs;
        s.cpu_limit = Some(CpuLimit {
            quota_us: 50_000,
            period_us: 100_000,
        });
        s.pressure.memory = Some(Pressure {
            some: StallLine {
                avg10: 1234,
                total_us: 5,
            },
            full: Some(StallLine {
                avg10: 1,
                total_us: 2,
            }),
        });
        s.pressure.io = Some(Pressure::default());
        out.clear();
        nd.line(&mut out, 0, &s, "web", &d);
        assert_eq!(
            out,
            format!(
                "{head},\"source\":\"cgroupfs\",\"cpu_user_ns\":7,\"cpu_system_ns\":8,\"throttling\":{{\"periods\":445,\"throttled_periods\":438,\"throttled_time_ns\":21243018874}},\
                 \"cpu_limit\":0.5,\"cpu_percent_of_limit\":300,\
                 \"pressure\":{{\"memory\":{{\"some\":{{\"avg10\":12.34,\"total_us\":5}},\"full\":{{\"avg10\":0.01,\"total_us\":2}}}},\
                 \"io\":{{\"some\":{{\"avg10\":0.00,\"total_us\":0}}}}}}}}\n"
            )
        );
        // What a JSON parser reads back.
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["pressure"]["memory"]["some"]["avg10"], 12.34);
        assert!(v["pressure"].get("cpu").is_none());
    }
}
