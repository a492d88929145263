//! OTLP/HTTP metrics: a batch as a protobuf `ExportMetricsServiceRequest`, optionally gzip.
//!
//! The messages (open-telemetry/opentelemetry-proto, `collector/metrics/v1/
//! metrics_service.proto`, `metrics/v1/metrics.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`), the fields written:
//!
//! ```text
//! ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
//! ResourceMetrics  { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
//! Resource         { repeated KeyValue attributes = 1; }
//! ScopeMetrics     { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
//! InstrumentationScope { string name = 1; string version = 2; }
//! Metric           { string name = 1; string description = 2; string unit = 3; Sum sum = 7; }
//! Sum              { repeated NumberDataPoint data_points = 1;
//!                    AggregationTemporality aggregation_temporality = 2; bool is_monotonic = 3; }
//! NumberDataPoint  { fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
//!                    double as_double = 4; sfixed64 as_int = 6; repeated KeyValue attributes = 7; }
//! KeyValue         { string key = 1; AnyValue value = 2; }
//! AnyValue         { string string_value = 1; … }
//! ```
//!
//! One `ResourceMetrics` per container: resource attributes `container.id`,
//! `container.name`, `container.image.name` (when the exporter has the image) and
//! `host.name` (the daemon's host, as [`Otlp::new`] is told it); scope `dockstat` and its
//! version. The metrics are the OpenTelemetry semantic conventions' for containers
//! (`model/container/metrics.yaml`), with their names, instruments and units: all four are
//! counters there, so cumulative monotonic sums:
//!
//! | metric | unit | value | point attributes |
//! |---|---|---|---|
//! | `container.cpu.time` | `s` | double | `cpu.mode` = `user`, `system` |
//! | `container.memory.usage` | `By` | int | |
//! | `container.network.io` | `By` | int | `network.io.direction` = `receive`, `transmit`; `network.interface.name` |
//! | `container.disk.io` | `By` | int | `disk.io.direction` = `read`, `write` |
//!
//! `time_unix_nano` is the sample's own reading time (the frame's `read`, to the
//! millisecond); `start_time_unix_nano` is when the series started: the container's first
//! sample as the exporter saw it, again after its counters went back (a restart) or after
//! it was gone ([`Row::start_ms`]). Host, engine and sender series are not sent (they are
//! remote-write's), nor is anything for a container that ended: OTLP has no staleness
//! marker; a series simply gets no more points.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::io::Write as _;

use super::proto;
use super::sender::{Batch, Format, PushStats};
use crate::prom::Row;

/// `AGGREGATION_TEMPORALITY_CUMULATIVE`.
const CUMULATIVE: u64 = 2;

/// The OTLP/HTTP protobuf metrics format for a [`Sender`](super::Sender).
#[derive(Debug)]
pub struct Otlp {
    /// (the `host` label of a row, the `host.name` it gets).
    hosts: Vec<(String, String)>,
    gzip: bool,
    scratch: Vec<u8>,
}

impl Otlp {
    /// `hosts`: per engine host, its URL (the rows' `host` label) and the `host.name` its
    /// containers get; `gzip`: compress bodies (`Content-Encoding: gzip`).
    pub fn new(hosts: Vec<(String, String)>, gzip: bool) -> Otlp {
        Otlp {
            hosts,
            gzip,
            scratch: Vec::new(),
        }
    }
}

/// A value of a data point.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Number {
    Double(f64),
    Int(u64),
}

/// A data point: up to two attributes (the first `.1` of them used), and its value.
type Point<'a> = ([(&'static str, &'a str); 2], usize, Number);

/// One metric of a container: name, description, unit, and its points.
struct Metric<'a> {
    name: &'static str,
    description: &'static str,
    unit: &'static str,
    points: Vec<Point<'a>>,
}

/// What [`Otlp::walk`] calls per row: the row, its resource attributes, its metrics.
type RowFn<'f> = dyn FnMut(&Row, &[(&'static str, &str)], &[Metric<'_>]) + 'f;

/// The four metrics of a row (a point's attributes: the first `n` of its pairs).
fn metrics(row: &Row) -> [Metric<'_>; 4] {
    let ns = |v: u64| Number::Double(v as f64 / 1e9);
    // `as_int` is an int64: a counter beyond it (none is, in practice) is sent as its largest.
    let int = |v: u64| Number::Int(v.min(i64::MAX as u64));
    let mut net = Vec::with_capacity(row.networks.len() * 2);
    for (name, rx, tx) in row.networks.iter() {
        net.push((
            [
                ("network.io.direction", "receive"),
                ("network.interface.name", name.as_str()),
            ],
            2,
            int(*rx),
        ));
        net.push((
            [
                ("network.io.direction", "transmit"),
                ("network.interface.name", name.as_str()),
            ],
            2,
            int(*tx),
        ));
    }
    [
        Metric {
            name: "container.cpu.time",
            description: "Total CPU time consumed",
            unit: "s",
            points: vec![
                ([("cpu.mode", "user"), ("", "")], 1, ns(row.cpu_user_nanos)),
                (
                    [("cpu.mode", "system"), ("", "")],
                    1,
                    ns(row.cpu_system_nanos),
                ),
            ],
        },
        Metric {
            name: "container.memory.usage",
            description: "Memory usage of the container.",
            unit: "By",
            points: vec![([("", ""), ("", "")], 0, int(row.mem_used))],
        },
        Metric {
            name: "container.network.io",
            description: "Network bytes for the container.",
            unit: "By",
            points: net,
        },
        Metric {
            name: "container.disk.io",
            description: "Disk bytes for the container.",
            unit: "By",
            points: vec![
                (
                    [("disk.io.direction", "read"), ("", "")],
                    1,
                    int(row.block_read),
                ),
                (
                    [("disk.io.direction", "write"), ("", "")],
                    1,
                    int(row.block_write),
                ),
            ],
        },
    ]
}

/// The data points a row becomes.
fn row_points(row: &Row) -> u64 {
    5 + 2 * row.networks.len() as u64
}

/// The data points of `batch` (for counting what a dropped batch held).
pub(crate) fn samples(batch: &Batch) -> u64 {
    batch.snapshot.rows.iter().map(row_points).sum()
}

fn ms_to_ns(ms: i64) -> u64 {
    (ms.max(0) as u64).saturating_mul(1_000_000)
}

/// A `KeyValue` with a string value, as field `field`.
fn put_attribute(out: &mut Vec<u8>, field: u32, key: &str, value: &str) {
    proto::put_message(out, field, |out| {
        proto::put_bytes(out, 1, key.as_bytes());
        proto::put_message(out, 2, |out| proto::put_bytes(out, 1, value.as_bytes()));
    });
}

impl Otlp {
    /// The resource attributes of a row: (key, value), empty values left out.
    fn resource<'a>(&'a self, row: &'a Row) -> [(&'static str, &'a str); 4] {
        let pair = |name: &str| {
            (row.pairs.iter())
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let host = pair("host");
        let host_name = (self.hosts.iter())
            .find(|(url, _)| url == host)
            .map_or(host, |(_, name)| name.as_str());
        [
            ("container.id", pair("id")),
            ("container.name", pair("name")),
            ("container.image.name", pair("image")),
            ("host.name", host_name),
        ]
    }

    /// Calls `f` with each row's resource attributes and metrics.
    fn walk<'a>(&'a self, batch: &'a Batch, f: &mut RowFn<'_>) {
        for row in &batch.snapshot.rows {
            let resource = self.resource(row);
            f(row, &resource, &metrics(row));
        }
    }
}

impl Format for Otlp {
    fn headers(&self) -> &'static [(&'static str, &'static str)] {
        if self.gzip {
            &[
                ("Content-Type", "application/x-protobuf"),
                ("Content-Encoding", "gzip"),
            ]
        } else {
            &[("Content-Type", "application/x-protobuf")]
        }
    }

    fn encode(&mut self, batch: &Batch, _: &PushStats, _: i64, out: &mut Vec<u8>) -> u64 {
        let mut body = std::mem::take(&mut self.scratch);
        body.clear();
        let mut n = 0;
        self.walk(batch, &mut |row, resource, metrics| {
            let start = ms_to_ns(row.start_ms.min(row.read_ms));
            let time = ms_to_ns(row.read_ms);
            proto::put_message(&mut body, 1, |out| {
                proto::put_message(out, 1, |out| {
                    for (key, value) in resource.iter().filter(|(_, v)| !v.is_empty()) {
                        put_attribute(out, 1, key, value);
                    }
                });
                proto::put_message(out, 2, |out| {
                    proto::put_message(out, 1, |out| {
                        proto::put_bytes(out, 1, b"dockstat");
                        proto::put_bytes(out, 2, env!("CARGO_PKG_VERSION").as_bytes());
                    });
                    for m in metrics.iter().filter(|m| !m.points.is_empty()) {
                        proto::put_message(out, 2, |out| {
                            proto::put_bytes(out, 1, m.name.as_bytes());
                            proto::put_bytes(out, 2, m.description.as_bytes());
                            proto::put_bytes(out, 3, m.unit.as_bytes());
                            proto::put_message(out, 7, |out| {
                                for (attrs, k, value) in &m.points {
                                    n += 1;
                                    proto::put_message(out, 1, |out| {
                                        proto::put_fixed64(out, 2, start);
                                        proto::put_fixed64(out, 3, time);
                                        match *value {
                                            Number::Double(v) => proto::put_double(out, 4, v),
                                            Number::Int(v) => proto::put_fixed64(out, 6, v),
                                        }
                                        for (key, value) in &attrs[..*k] {
                                            put_attribute(out, 7, key, value);
                                        }
                                    });
                                }
                                proto::put_uint(out, 2, CUMULATIVE);
                                proto::put_uint(out, 3, 1);
                            });
                        });
                    }
                });
            });
        });
        out.clear();
        if self.gzip {
            let mut gz =
                flate2::write::GzEncoder::new(std::mem::take(out), flate2::Compression::default());
            // Writing to a Vec does not fail.
            let _ = gz.write_all(&body);
            *out = gz.finish().unwrap_or_default();
        } else {
            out.extend_from_slice(&body);
        }
        self.scratch = body;
        n
    }

    /// One line per data point: `metric{resource and point attributes} value time_ms
    /// start_ms`, the attributes in the order sent.
    fn describe(&mut self, batch: &Batch, _: Option<(&PushStats, i64)>, out: &mut String) {
        self.walk(batch, &mut |row, resource, metrics| {
            for m in metrics {
                for (attrs, k, value) in &m.points {
                    let mut set = String::new();
                    for (key, v) in
                        (resource.iter().filter(|(_, v)| !v.is_empty())).chain(&attrs[..*k])
                    {
                        crate::prom::push_label(&mut set, key, v);
                    }
                    let _ = match value {
                        Number::Double(v) => writeln!(
                            out,
                            "{}{{{set}}} {v} {} {}",
                            m.name,
                            row.read_ms,
                            row.start_ms.min(row.read_ms)
                        ),
                        Number::Int(v) => writeln!(
                            out,
                            "{}{{{set}}} {v} {} {}",
                            m.name,
                            row.read_ms,
                            row.start_ms.min(row.read_ms)
                        ),
                    };
                }
            }
        });
    }

    fn counter(&self) -> fn(&Batch) -> u64 {
        samples
    }

    /// `ExportMetricsServiceResponse.partial_success`: `rejected_data_points` (field 1) and
    /// `error_message` (field 2). A body that does not decode says nothing was rejected: the
    /// status already said the batch was accepted.
    fn rejected(&self, response: &[u8]) -> Option<(u64, String)> {
        use proto::Value;
        let Ok(Some(Value::Bytes(partial))) = proto::read_field(response, 1) else {
            return None;
        };
        let rejected = match proto::read_field(partial, 1) {
            Ok(Some(Value::Varint(n))) => n as i64, // an int64
            _ => 0,
        };
        let message = match proto::read_field(partial, 2) {
            Ok(Some(Value::Bytes(m))) => crate::error::one_line(&String::from_utf8_lossy(m), 300),
            _ => String::new(),
        };
        // The spec: a warning only when no point was rejected but the message is set.
        (rejected > 0 || !message.is_empty()).then(|| (rejected.max(0) as u64, message))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::prom::Snapshot;
    use std::io::Read as _;
    use std::sync::Arc;

    /// One container's row: 7 points in OTLP.
    pub(crate) fn batch() -> Batch {
        let row = Row {
            labels: "".into(),
            pairs: [("host", "unix:///s"), ("id", "abc"), ("name", "web")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .to_vec()
                .into(),
            read_ms: 2_000,
            cpu_nanos: 3_000_000_000,
            cpu_percent: 0.0,
            mem_used: 100,
            mem_limit: 0,
            mem_cache: None,
            net_rx: 0,
            net_tx: 0,
            block_read: 3,
            block_write: 4,
            pids: 0,
            cpu_user_nanos: 2_500_000_000,
            cpu_system_nanos: 500_000_000,
            throttling: Default::default(),
            cpu_limit: None,
            pressure: Default::default(),
            start_ms: 1_000,
            networks: Arc::from([("eth0".to_string(), 5, 6)]),
        };
        Batch {
            seq: 1,
            taken_ms: 3_000,
            snapshot: Snapshot {
                rows: vec![row],
                ..Snapshot::default()
            },
            ended: Vec::new(),
        }
    }

    #[test]
    fn points_carry_the_reading_time_and_the_series_start() {
        let mut otlp = Otlp::new(vec![("unix:///s".into(), "box".into())], false);
        let mut text = String::new();
        otlp.describe(&batch(), None, &mut text);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7);
        assert_eq!(
            lines[0],
            "container.cpu.time{container.id=\"abc\",container.name=\"web\",host.name=\"box\",cpu.mode=\"user\"} 2.5 2000 1000"
        );
        assert!(
            lines[3].starts_with("container.network.io{"),
            "{}",
            lines[3]
        );
        assert!(lines[3].ends_with(
            ",network.io.direction=\"receive\",network.interface.name=\"eth0\"} 5 2000 1000"
        ));
        assert_eq!(samples(&batch()), 7);
        assert_eq!(otlp.headers(), [("Content-Type", "application/x-protobuf")]);
    }

    #[test]
    fn gzip_bodies_are_the_plain_ones_compressed() {
        let (mut plain, mut gz) = (Vec::new(), Vec::new());
        let hosts = vec![("unix:///s".to_string(), "box".to_string())];
        let n =
            Otlp::new(hosts.clone(), false).encode(&batch(), &PushStats::default(), 0, &mut plain);
        let mut gzip = Otlp::new(hosts, true);
        assert_eq!(gzip.encode(&batch(), &PushStats::default(), 0, &mut gz), n);
        assert_eq!(n, 7);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);
        assert!(gzip.headers().contains(&("Content-Encoding", "gzip")));
    }

    #[test]
    fn a_partial_success_says_what_was_rejected() {
        let otlp = Otlp::new(vec![], false);
        assert_eq!(otlp.rejected(b""), None);
        // partial_success { rejected_data_points: 3, error_message: "bad" }
        let body = b"\x0a\x07\x08\x03\x12\x03bad";
        assert_eq!(otlp.rejected(body), Some((3, "bad".to_string())));
        // A warning: nothing rejected, a message.
        assert_eq!(
            otlp.rejected(b"\x0a\x04\x12\x02hm"),
            Some((0, "hm".to_string()))
        );
        // An empty partial_success, a cut-off body, or text: all accepted.
        assert_eq!(otlp.rejected(b"\x0a\x00"), None);
        assert_eq!(otlp.rejected(b"\x0a\x07\x08"), None);
        assert_eq!(otlp.rejected(b"{\"partialSuccess\":{}}"), None);
    }
}
