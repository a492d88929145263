//! `stats --format ndjson`: one line of raw numbers per sample, written without `format!`
//! (each host's prefix once, integers by hand, the `read` text per second), byte for byte
//! the line the `format!` reference below writes (the tests in `stats` compare them).

#![forbid(unsafe_code)]

use dockstat::stats::{Derived, Timestamp};

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

    /// Appends one line.
    pub(super) fn line(
        &mut self,
        out: &mut String,
        host: usize,
        id: &str,
        name: &str,
        read: Timestamp,
        d: &Derived,
    ) {
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
        out.push_str("}\n");
    }
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
    id: &str,
    name: &str,
    read: &str,
    d: &Derived,
) {
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
         \"block_write\":{},\"pids\":{},\"interval_ns\":{}}}",
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
    );
}

#[cfg(test)]
fn json_number_reference(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "0".into()
    }
}
