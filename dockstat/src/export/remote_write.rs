//! Prometheus remote-write 1.0: a batch as a snappy-compressed protobuf `WriteRequest`.
//!
//! The series are the exposition's ([`crate::prom`]): the same metric names and the same
//! labels (`host`, `id`, `name`, and `image` and `label_<key>` when the exporter adds them),
//! from the same family tables, so a dashboard reads a pushed series and a scraped one alike.
//! Each container sample carries the time the daemon took the reading (the frame's `read`,
//! in milliseconds); the host and engine series the time the batch was taken; the sender's
//! own `dockstat_push_*` series the time the batch was encoded. Labels are sorted by name,
//! `__name__` among them, and a label with an empty value is left out (Prometheus reads an
//! empty label as an absent one). The engine's histograms are not pushed. A container that
//! ended since the last batch ([`Batch::ended`]) gets a staleness marker on each of its series,
//! a millisecond after its last reading (in the daemon's time, so that a later reading, from
//! a container back from stale, is never older than the marker).
//!
//! The body is compressed with snappy's block format (not the framed one), as the protocol
//! says; the request carries `Content-Encoding: snappy`, `Content-Type:
//! application/x-protobuf` and `X-Prometheus-Remote-Write-Version: 0.1.0`.

#![forbid(unsafe_code)]

use std::fmt::Write as _;

use super::proto;
use super::sender::{Batch, Format, PushStats};
use crate::prom::{
    CONTAINER_FAMILIES, ENGINE_HISTOGRAMS, HOST_FAMILIES, Kind, Value, decode_errors,
    engine_counters, engine_gauges, histogram_points, push_label,
};

/// The remote-write 1.0 format for a [`Sender`](super::Sender).
#[derive(Debug)]
pub struct RemoteWrite {
    /// The `host` label of each of the engine's hosts, by index.
    hosts: Vec<String>,
    /// Labels added to every series that has none of that name, sorted by name.
    external: Vec<(String, String)>,
    /// The uncompressed `WriteRequest`, kept between batches.
    scratch: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl RemoteWrite {
    /// `hosts`: the `host` label of each of the engine's hosts, by index (their URLs, as
    /// [`ExporterConfig::hosts`](crate::prom::ExporterConfig::hosts) has them).
    pub fn new(hosts: Vec<String>) -> RemoteWrite {
        RemoteWrite {
            hosts,
            external: Vec::new(),
            scratch: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// Adds `labels` to every series that has no label of that name, as Prometheus'
    /// `external_labels` do: `instance` and `job`, say, so that the series of many machines
    /// pushing to one receiver stay apart. Of two labels of one name the last is kept; one
    /// with an empty value is left out.
    pub fn with_labels(mut self, labels: Vec<(String, String)>) -> RemoteWrite {
        let mut external: Vec<(String, String)> = Vec::with_capacity(labels.len());
        for (name, value) in labels {
            external.retain(|(n, _)| *n != name);
            external.push((name, value));
        }
        external.retain(|(_, v)| !v.is_empty());
        external.sort();
        self.external = external;
        self
    }
}

/// Prometheus' staleness marker: a NaN no computation yields (`value.StaleNaN`), which ends
/// a series at its timestamp.
pub(crate) const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// The sender's own series: name, kind, help, value.
fn push_families(s: &PushStats) -> [(&'static str, Kind, &'static str, u64); 11] {
    [
        (
            "dockstat_push_sent_batches_total",
            Kind::Counter,
            "Batches the receiver accepted.",
            s.sent_batches,
        ),
        (
            "dockstat_push_sent_samples_total",
            Kind::Counter,
            "Samples in batches the receiver accepted.",
            s.sent_samples,
        ),
        (
            "dockstat_push_failed_batches_total",
            Kind::Counter,
            "Batches the receiver refused with a status that is not retried (4xx but 429).",
            s.failed_batches,
        ),
        (
            "dockstat_push_failed_samples_total",
            Kind::Counter,
            "Samples in refused batches.",
            s.failed_samples,
        ),
        (
            "dockstat_push_rejected_samples_total",
            Kind::Counter,
            "Samples of accepted batches that the receiver said it rejected (OTLP partial success).",
            s.rejected_samples,
        ),
        (
            "dockstat_push_dropped_batches_total",
            Kind::Counter,
            "Batches dropped unsent: the oldest, when the buffer was full, and those left at exit.",
            s.dropped_batches,
        ),
        (
            "dockstat_push_dropped_samples_total",
            Kind::Counter,
            "Samples in dropped batches.",
            s.dropped_samples,
        ),
        (
            "dockstat_push_retries_total",
            Kind::Counter,
            "Attempts that failed and were retried (connection errors, timeouts, 5xx, 429).",
            s.retries,
        ),
        (
            "dockstat_push_sent_bytes_total",
            Kind::Counter,
            "Bytes written to the receiver: request heads and compressed bodies, retries included.",
            s.bytes,
        ),
        (
            "dockstat_push_buffered_batches",
            Kind::Gauge,
            "Batches waiting to be sent, the one being sent included.",
            s.buffered as u64,
        ),
        (
            "dockstat_push_buffer_capacity_batches",
            Kind::Gauge,
            "Batches the buffer holds before it drops the oldest.",
            s.capacity as u64,
        ),
    ]
}

/// What [`walk`] calls per series: its labels, value and timestamp.
type SeriesFn<'a> = dyn FnMut(&[(&str, &str)], f64, i64) + 'a;

/// Calls `f` with every series of `batch` (labels sorted by name, `__name__` first among
/// equals; `external` added where a series has none of the name), its value and timestamp;
/// the sender's own series when `stats` is given.
fn walk(
    hosts: &[String],
    external: &[(String, String)],
    batch: &Batch,
    stats: Option<(&PushStats, i64)>,
    f: &mut SeriesFn<'_>,
) {
    let snap = &batch.snapshot;
    let taken = batch.taken_ms;
    let mut labels: Vec<(&str, &str)> = Vec::with_capacity(16);
    let rows = (snap.rows.iter().map(|r| (r, false))).chain(batch.ended.iter().map(|r| (r, true)));
    for (row, ended) in rows {
        labels.clear();
        labels.push(("__name__", ""));
        labels.extend(
            (row.pairs.iter())
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| (n.as_str(), v.as_str())),
        );
        add_external(&mut labels, external);
        let at = labels.iter().position(|l| l.0 == "__name__").unwrap_or(0);
        let ts = if row.read_ms > 0 { row.read_ms } else { taken };
        for &(name, _, _, value) in CONTAINER_FAMILIES {
            let Some(v) = value(row) else { continue };
            labels[at].1 = name;
            if ended {
                // A millisecond after the last sample, in the daemon's time: a later
                // sample of the series (a container back from stale) is never older.
                f(&labels, f64::from_bits(STALE_NAN), ts + 1);
            } else {
                f(&labels, v.as_f64(), ts);
            }
        }
    }
    // The series of fixed labels (a few dozen a batch), with the external ones.
    let mut series = |own: &[(&str, &str)], v: f64, ts: i64| {
        if external.is_empty() {
            return f(own, v, ts);
        }
        let mut labels = own.to_vec();
        add_external(&mut labels, external);
        f(&labels, v, ts);
    };
    for (i, (_, state)) in snap.hosts.iter().enumerate() {
        let host = hosts.get(i).map_or("", String::as_str);
        for &(name, _, _, value) in HOST_FAMILIES {
            let Some(v) = value(state) else { continue };
            if host.is_empty() {
                series(&[("__name__", name)], v.as_f64(), taken);
            } else {
                series(&[("__name__", name), ("host", host)], v.as_f64(), taken);
            }
        }
    }
    if let Some(metrics) = &snap.metrics {
        let c = &snap.counters;
        for (name, _, v) in engine_gauges(c, snap.rows.len()) {
            series(&[("__name__", name)], v as f64, taken);
        }
        for (name, _, v) in engine_counters(c) {
            series(&[("__name__", name)], v as f64, taken);
        }
        let (name, _) = crate::prom::DECODE_ERRORS;
        for (kind, v) in decode_errors(c) {
            series(&[("__name__", name), ("kind", kind)], v as f64, taken);
        }
        // Classic histograms, as `serve` exposes them: `_bucket{le}`, `_sum`, `_count`.
        for (name, _, of) in ENGINE_HISTOGRAMS {
            let bucket = format!("{name}_bucket");
            let mut count = 0;
            let sum = histogram_points(of(metrics), &mut |le, cumulative| {
                series(
                    &[("__name__", &bucket), ("le", le)],
                    cumulative as f64,
                    taken,
                );
                count = cumulative;
            });
            series(&[("__name__", &format!("{name}_sum"))], sum, taken);
            series(
                &[("__name__", &format!("{name}_count"))],
                count as f64,
                taken,
            );
        }
    }
    if let Some((stats, now)) = stats {
        for (name, _, _, v) in push_families(stats) {
            series(&[("__name__", name)], Value::Int(v).as_f64(), now);
        }
    }
}

/// Adds the `external` labels whose names `labels` lacks, then sorts `labels` by name.
fn add_external<'a>(labels: &mut Vec<(&'a str, &'a str)>, external: &'a [(String, String)]) {
    let own = labels.len();
    for (name, value) in external {
        if !labels[..own].iter().any(|(n, _)| n == name) {
            labels.push((name, value));
        }
    }
    labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
}

/// The samples of `batch` without the sender's own (for counting what a dropped batch held).
pub(crate) fn samples(batch: &Batch) -> u64 {
    let mut n = 0;
    walk(&[], &[], batch, None, &mut |_, _, _| n += 1);
    n
}

impl Format for RemoteWrite {
    fn headers(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("Content-Encoding", "snappy"),
            ("Content-Type", "application/x-protobuf"),
            ("X-Prometheus-Remote-Write-Version", "0.1.0"),
        ]
    }

    fn encode(&mut self, batch: &Batch, stats: &PushStats, now_ms: i64, out: &mut Vec<u8>) -> u64 {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let mut n = 0;
        walk(
            &self.hosts,
            &self.external,
            batch,
            Some((stats, now_ms)),
            &mut |labels, v, ts| {
                proto::put_series(&mut scratch, labels, v, ts);
                n += 1;
            },
        );
        out.clear();
        out.resize(snap::raw::max_compress_len(scratch.len()), 0);
        // Compression of an in-memory buffer fails only for inputs over 4 GiB.
        match self.snappy.compress(&scratch, out) {
            Ok(len) => out.truncate(len),
            Err(_) => out.clear(),
        }
        self.scratch = scratch;
        n
    }

    fn counter(&self) -> fn(&Batch) -> u64 {
        samples
    }

    fn describe(&mut self, batch: &Batch, stats: Option<(&PushStats, i64)>, out: &mut String) {
        walk(
            &self.hosts,
            &self.external,
            batch,
            stats,
            &mut |labels, v, ts| {
                let mut set = String::new();
                for (name, value) in labels {
                    if *name != "__name__" {
                        push_label(&mut set, name, value);
                    }
                }
                let name = labels
                    .iter()
                    .find(|l| l.0 == "__name__")
                    .map_or("", |l| l.1);
                if v.to_bits() == STALE_NAN {
                    let _ = writeln!(out, "{name}{{{set}}} StaleNaN {ts}");
                } else {
                    let _ = writeln!(out, "{name}{{{set}}} {v} {ts}");
                }
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prom::{Row, Snapshot};
    use std::sync::Arc;

    fn row(pairs: &[(&str, &str)], read_ms: i64) -> Row {
        Row {
            labels: "".into(),
            pairs: pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect::<Vec<_>>()
                .into(),
            read_ms,
            cpu_nanos: 2_500_000_000,
            cpu_percent: 12.5,
            mem_used: 100,
            mem_limit: 1000,
            mem_cache: None,
            net_rx: 1,
            net_tx: 2,
            block_read: 3,
            block_write: 4,
            pids: 5,
            cpu_user_nanos: 1_500_000_000,
            cpu_system_nanos: 1_000_000_000,
            throttling: Default::default(),
            cpu_limit: None,
            pressure: Default::default(),
            start_ms: read_ms,
            networks: Arc::from([("eth0".to_string(), 1, 2)]),
        }
    }

    type Series = (Vec<(String, String)>, f64, i64);

    fn series(batch: &Batch) -> Vec<Series> {
        let mut out = Vec::new();
        walk(&[], &[], batch, None, &mut |labels, v, ts| {
            let labels = labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            out.push((labels, v, ts));
        });
        out
    }

    #[test]
    fn series_are_the_expositions_with_sorted_labels_and_the_readings_time() {
        let batch = Batch {
            snapshot: Snapshot {
                rows: vec![
                    row(
                        &[
                            ("host", "unix:///s"),
                            ("id", "abc"),
                            ("name", "web"),
                            ("label_A", "x"),
                            ("image", ""),
                        ],
                        1_700_000_000_123,
                    ),
                    row(&[("host", "unix:///s"), ("id", "d"), ("name", "db")], 0),
                ],
                ..Snapshot::default()
            },
            taken_ms: 42,
            seq: 1,
            ended: Vec::new(),
        };
        let all = series(&batch);
        // Eleven families without the cache and throttling (absent here), per row.
        assert_eq!(all.len(), 22);
        let (labels, v, ts) = &all[0];
        let names: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
        // Sorted by bytes (`_` before lower case); the empty image left out.
        assert_eq!(names, ["__name__", "host", "id", "label_A", "name"]);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(labels[0].1, "dockstat_container_cpu_seconds_total");
        assert_eq!((*v, *ts), (2.5, 1_700_000_000_123));
        // A row without a reading time takes the batch's.
        assert_eq!(all[11].2, 42);
        assert!(
            all.iter()
                .any(|(l, v, _)| l[0].1 == "dockstat_container_pids" && *v == 5.0)
        );
    }

    #[test]
    fn an_ended_container_gets_staleness_markers_after_its_last_reading() {
        let batch = Batch {
            snapshot: Snapshot::default(),
            taken_ms: 42,
            seq: 1,
            ended: vec![row(&[("host", "h"), ("id", "i"), ("name", "n")], 1_000)],
        };
        let all = series(&batch);
        assert_eq!(all.len(), 11);
        assert!(
            all.iter()
                .all(|(_, v, ts)| v.to_bits() == STALE_NAN && *ts == 1_001)
        );
        let mut text = String::new();
        RemoteWrite::new(vec![]).describe(&batch, None, &mut text);
        assert!(text.starts_with("dockstat_container_cpu_seconds_total{host=\"h\",id=\"i\",name=\"n\"} StaleNaN 1001\n"), "{text}");
    }

    #[test]
    fn the_body_is_snappy_block_compressed_protobuf() {
        let batch = Batch {
            snapshot: Snapshot {
                rows: vec![row(&[("host", "h"), ("id", "i"), ("name", "n")], 5)],
                ..Snapshot::default()
            },
            taken_ms: 6,
            seq: 1,
            ended: Vec::new(),
        };
        let mut rw = RemoteWrite::new(vec![]);
        let mut out = Vec::new();
        let n = rw.encode(&batch, &PushStats::default(), 7, &mut out);
        assert_eq!(n, 11 + 11);
        let raw = snap::raw::Decoder::new().decompress_vec(&out).unwrap();
        let mut expected = Vec::new();
        proto::put_series(
            &mut expected,
            &[
                ("__name__", "dockstat_container_cpu_seconds_total"),
                ("host", "h"),
                ("id", "i"),
                ("name", "n"),
            ],
            2.5,
            5,
        );
        assert!(raw.starts_with(&expected));
        let mut text = String::new();
        rw.describe(&batch, None, &mut text);
        assert!(
            text.starts_with(
                "dockstat_container_cpu_seconds_total{host=\"h\",id=\"i\",name=\"n\"} 2.5 5\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn external_labels_go_on_every_series_that_lacks_them() {
        let batch = Batch {
            snapshot: Snapshot {
                rows: vec![row(&[("host", "h"), ("id", "i"), ("job", "web")], 5)],
                ..Snapshot::default()
            },
            taken_ms: 6,
            seq: 1,
            ended: Vec::new(),
        };
        let labels = [
            ("job", "dockstat"),
            ("instance", "box-1"),
            ("x", "dropped"),
            ("x", ""),
        ];
        let mut rw = RemoteWrite::new(vec!["h".into()])
            .with_labels(labels.map(|(n, v)| (n.to_string(), v.to_string())).to_vec());
        let mut text = String::new();
        rw.describe(&batch, Some((&PushStats::default(), 7)), &mut text);
        let lines: Vec<&str> = text.lines().collect();
        // The row's own `job` wins; labels stay sorted by name; an empty value removes one.
        assert_eq!(
            lines[0],
            "dockstat_container_cpu_seconds_total{host=\"h\",id=\"i\",instance=\"box-1\",job=\"web\"} 2.5 5"
        );
        assert!(
            lines.contains(&"dockstat_push_retries_total{instance=\"box-1\",job=\"dockstat\"} 0 7"),
            "{text}"
        );
        assert!(
            lines.iter().all(|l| l.contains("instance=\"box-1\"")),
            "{text}"
        );
        assert!(!text.contains("x="), "{text}");
        // Encoding counts the same series.
        let mut out = Vec::new();
        assert_eq!(
            rw.encode(&batch, &PushStats::default(), 7, &mut out) as usize,
            lines.len()
        );
    }
}
