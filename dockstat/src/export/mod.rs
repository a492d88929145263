//! Push export: the engine's samples sent to a receiver, rather than scraped from it.
//!
//! - [`sender`]: a thread of its own with a bounded buffer of batches (the oldest dropped
//!   first), in-order delivery with retries and backoff, counters, and a blocking HTTP/1.1
//!   POST client (TLS through [`crate::tls`] with the `tls` feature). It never blocks the
//!   engine: [`Sender::push`] appends under a short lock.
//! - [`remote_write`]: the Prometheus remote-write 1.0 [`Format`]: the exposition's series
//!   ([`crate::prom`]) as a snappy-compressed protobuf `WriteRequest`.
//! - [`Otlp`]: the OTLP/HTTP metrics [`Format`]: the OpenTelemetry semantic conventions'
//!   container metrics as a protobuf `ExportMetricsServiceRequest`, optionally gzip.
//! - `proto`: the few protobuf encoding rules those messages need, by hand.
//!
//! A batch is a [`Snapshot`](crate::prom::Snapshot) of a [`crate::prom::Exporter`]'s table,
//! taken every interval on the engine's thread: the same rows a scrape would render.

#![forbid(unsafe_code)]

mod otlp;
mod proto;
pub mod remote_write;
pub mod sender;

pub use otlp::Otlp;
pub use remote_write::RemoteWrite;
pub use sender::{Batch, Format, Note, Outcome, PushConfig, PushStats, Sender, Target};
