//! The dockstat phase: [`Engine`] on this thread, samples counted in its callback.
//!
//! The engine is given the containers by id ([`Engine::watch`]): one stats stream each, as
//! bollard is given them, without the `/events` subscription and listing an agent would use
//! (`Selection::Running`).
//!
//! The `dockstat-period` phase is the same engine with a read period (`--read-period`, 5 s
//! by default): each stream read once per period, about five frames per read.
//!
//! Over TLS ([`Target::Tls`]) the engine is the same; only its endpoint differs (rustls with
//! ring, the server verified against `ca.pem`, the client certificate presented).

use std::time::{Duration, Instant};

use dockstat::engine::{ApiVersion, Control, Engine, EngineConfig, Event, Selection};

use crate::hist::Histogram;
use crate::streams::{Streams, Tally};
use crate::sys;
use crate::target::Target;

pub struct Dockstat {
    engine: Engine,
    /// Per stream (the engine's container key): the `read` of its last frame, in ns
    /// (`i64::MIN` before the first frame).
    last_read: Vec<i64>,
    tally: Tally,
    latency: Histogram,
}

impl Dockstat {
    /// `read_period`: the engine's (zero: read as frames come).
    pub fn new(
        target: &Target,
        api: ApiVersion,
        n: usize,
        read_period: Duration,
    ) -> Result<Dockstat, String> {
        let mut config = EngineConfig::new(target.endpoint()?);
        config.api_version = Some(api);
        config.read_period = read_period;
        config.selection = Selection::Named(Vec::new());
        Ok(Dockstat {
            engine: Engine::new(config).map_err(|e| e.to_string())?,
            // Allocated here, before the RSS baseline: the bench's bookkeeping is not
            // dockstat's memory.
            last_read: vec![i64::MIN; n],
            tally: Tally {
                duplicates: Some(0),
                ..Tally::default()
            },
            latency: Histogram::default(),
        })
    }
}

impl Streams for Dockstat {
    fn open(&mut self, id: &str) -> Result<(), String> {
        self.engine.watch(0, id);
        Ok(())
    }

    fn pump(&mut self, until: Instant) -> Result<(), String> {
        let Dockstat {
            engine,
            last_read,
            tally,
            latency,
        } = self;
        let mut handler = |event: Event<'_>| {
            match event {
                Event::Sample {
                    container, sample, ..
                } => {
                    let read = sample.read.unix_nanos();
                    latency.record(sys::now_unix_nanos() - read);
                    tally.frames += 1;
                    let last = &mut last_read[container.key as usize];
                    if *last == i64::MIN {
                        tally.opened += 1;
                    } else if read <= *last {
                        *tally.duplicates.as_mut().unwrap() += 1;
                    }
                    *last = read;
                }
                Event::Error {
                    container, error, ..
                } => {
                    tally.errors += 1;
                    tally.first_error.get_or_insert_with(|| match container {
                        Some(c) => format!("{}: {error}", c.requested),
                        None => error.to_string(),
                    });
                }
                Event::Gone { .. } => tally.ended += 1,
                Event::Added(_) | Event::Stale(_) => {}
            }
            Control::Continue
        };
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            engine
                .poll(Some(until - now), &mut handler)
                .map_err(|e| e.to_string())?;
        }
    }

    fn tally(&self) -> Tally {
        self.tally.clone()
    }

    fn latency(&self) -> Option<Histogram> {
        Some(self.latency.clone())
    }
}
