//! The engine on its own thread, with a bounded queue to a consumer that may be slow.
//!
//! [`Engine::run`] calls its handler on the engine's thread, so a handler that blocks delays
//! every stream. [`spawn`] runs the engine on a thread of its own and hands its events over
//! as owned [`Update`]s through a queue the consumer reads at its own pace:
//!
//! - The engine never waits for the consumer. It appends the events of one reactor turn under
//!   one lock and goes back to its sockets.
//! - When the consumer falls behind by more than `capacity` samples, the **oldest samples
//!   are dropped** and counted ([`QueueStats::dropped`]): a monitoring consumer wants the
//!   newest readings, and a container's next sample comes a second later.
//! - Lifecycle updates (added, stale, gone, error) are never dropped, so the consumer's view
//!   of which containers exist stays right. They are rare (a few per container start or
//!   stop), but a consumer that stops reading altogether lets them pile up.
//!
//! A sample costs no allocation on the way through: [`Update::Sample`] is the container's
//! key, the reading's time and the [`Derived`] numbers, copied. The container's id, name and
//! labels come once, with [`Update::Added`].

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Container, Control, Counters, Engine, EngineConfig, Event, Gone, StopHandle};
use crate::error::{Error, Result};
use crate::stats::{Derived, Timestamp};

/// An engine event, owned.
#[derive(Clone, Debug)]
pub enum Update {
    /// A container is watched from now on; later updates name it by `key`.
    Added(Container),
    /// A decoded frame of container `key`.
    Sample {
        key: u32,
        /// When the daemon took the reading.
        read: Timestamp,
        derived: Derived,
    },
    /// No frame for the engine's `stale_after`.
    Stale { key: u32 },
    /// The container is no longer watched; its key may be reused from now on.
    Gone { key: u32, why: Gone },
    /// A stream (`key` set) or a host's discovery failed; the engine retries.
    Error {
        host: usize,
        key: Option<u32>,
        error: Error,
    },
}

impl Update {
    fn from_event(event: &Event<'_>) -> Update {
        match *event {
            Event::Added(c) => Update::Added(c.clone()),
            Event::Sample {
                container,
                sample,
                derived,
            } => Update::Sample {
                key: container.key,
                read: sample.read,
                derived: *derived,
            },
            Event::Stale(c) => Update::Stale { key: c.key },
            Event::Gone { container, why } => Update::Gone {
                key: container.key,
                why,
            },
            Event::Error {
                host,
                container,
                error,
            } => Update::Error {
                host,
                key: container.map(|c| c.key),
                error: error.clone(),
            },
        }
    }
}

/// How the queue has fared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Updates handed to the queue by the engine.
    pub pushed: u64,
    /// Samples dropped because the consumer was more than `capacity` samples behind.
    pub dropped: u64,
    /// Updates waiting now.
    pub waiting: usize,
}

#[derive(Debug)]
struct Inner {
    /// Samples and lifecycle updates in separate queues, so that dropping the oldest sample
    /// is O(1); the sequence numbers merge them back in order.
    samples: VecDeque<(u64, Update)>,
    lifecycle: VecDeque<(u64, Update)>,
    capacity: usize,
    seq: u64,
    stats: QueueStats,
    /// The consumer is blocked in `recv`: only then is the condition variable signalled.
    sleeping: bool,
    /// The engine has finished (or its thread ended).
    closed: bool,
}

impl Inner {
    fn pop(&mut self) -> Option<Update> {
        let from_samples = match (self.samples.front(), self.lifecycle.front()) {
            (Some((a, _)), Some((b, _))) => a < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let queue = if from_samples {
            &mut self.samples
        } else {
            &mut self.lifecycle
        };
        queue.pop_front().map(|(_, u)| u)
    }

    fn waiting(&self) -> usize {
        self.samples.len() + self.lifecycle.len()
    }
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A consumer that panicked while holding the lock leaves nothing half-done here.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one turn's updates, dropping the oldest samples beyond capacity.
    fn push(&self, batch: &mut Vec<Update>) {
        if batch.is_empty() {
            return;
        }
        let mut inner = self.lock();
        inner.stats.pushed += batch.len() as u64;
        for update in batch.drain(..) {
            let seq = inner.seq;
            inner.seq += 1;
            if matches!(update, Update::Sample { .. }) {
                if inner.samples.len() == inner.capacity {
                    inner.samples.pop_front();
                    inner.stats.dropped += 1;
                }
                inner.samples.push_back((seq, update));
            } else {
                inner.lifecycle.push_back((seq, update));
            }
        }
        if inner.sleeping {
            self.ready.notify_one();
        }
    }

    fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        self.ready.notify_all();
    }
}

/// The consumer's end: updates in the order the engine produced them, less dropped samples.
///
/// Iterating blocks for the next update and ends when the engine has finished and every
/// update has been read.
#[derive(Debug)]
pub struct Updates {
    shared: Arc<Shared>,
}

/// Why [`Updates::recv_timeout`] returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing arrived in time; the engine is still running.
    Timeout,
    /// The engine has finished and everything was read.
    Finished,
}

impl Updates {
    /// The next update, waiting for it; `None` once the engine has finished and the queue
    /// is empty.
    pub fn recv(&self) -> Option<Update> {
        self.wait(None).ok()
    }

    /// The next update, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> std::result::Result<Update, RecvError> {
        self.wait(Some(Instant::now() + timeout))
    }

    /// The next update if one is waiting.
    pub fn try_recv(&self) -> Option<Update> {
        self.shared.lock().pop()
    }

    /// Moves every waiting update into `out` under one lock (cheaper than `recv` per update
    /// for a consumer that works in batches); returns how many.
    pub fn drain_into(&self, out: &mut Vec<Update>) -> usize {
        let mut inner = self.shared.lock();
        let n = inner.waiting();
        out.reserve(n);
        while let Some(u) = inner.pop() {
            out.push(u);
        }
        n
    }

    /// Pushed, dropped and waiting counts.
    pub fn stats(&self) -> QueueStats {
        let inner = self.shared.lock();
        QueueStats {
            waiting: inner.waiting(),
            ..inner.stats
        }
    }

    /// Whether the engine has finished (updates may still be waiting).
    pub fn is_finished(&self) -> bool {
        self.shared.lock().closed
    }

    fn wait(&self, deadline: Option<Instant>) -> std::result::Result<Update, RecvError> {
        let mut inner = self.shared.lock();
        loop {
            if let Some(u) = inner.pop() {
                return Ok(u);
            }
            if inner.closed {
                return Err(RecvError::Finished);
            }
            inner.sleeping = true;
            inner = match deadline {
                None => self
                    .shared
                    .ready
                    .wait(inner)
                    .unwrap_or_else(|e| e.into_inner()),
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        inner.sleeping = false;
                        return Err(RecvError::Timeout);
                    }
                    self.shared
                        .ready
                        .wait_timeout(inner, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            inner.sleeping = false;
        }
    }
}

impl Iterator for &Updates {
    type Item = Update;

    fn next(&mut self) -> Option<Update> {
        self.recv()
    }
}

/// An engine running on its own thread.
#[derive(Debug)]
pub struct Spawned {
    updates: Updates,
    stop: StopHandle,
    thread: JoinHandle<Result<Counters>>,
}

impl Spawned {
    /// The engine's updates (`for u in spawned.updates() { … }`).
    pub fn updates(&self) -> &Updates {
        &self.updates
    }

    /// A handle that stops the engine from any thread.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Asks the engine to stop; updates already queued stay readable, and iterating ends
    /// after them.
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// Waits for the engine's thread; returns its final counters, or the error that ended it.
    pub fn join(self) -> Result<Counters> {
        match self.thread.join() {
            Ok(r) => r,
            // The engine does not panic on network input; a panic is a bug, passed on.
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Starts an engine for `config` on a new thread, its updates queued for the caller with room
/// for `capacity` samples (see the [module docs](self) for what happens beyond).
///
/// Errors creating the engine (the reactor, the open-files limit) are returned here; errors
/// while it runs arrive as [`Update::Error`].
pub fn spawn(config: EngineConfig, capacity: usize) -> Result<Spawned> {
    let mut engine = Engine::new(config)?;
    let stop = engine.stop_handle();
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            samples: VecDeque::with_capacity(capacity.min(1 << 16)),
            lifecycle: VecDeque::new(),
            capacity: capacity.max(1),
            seq: 0,
            stats: QueueStats::default(),
            sleeping: false,
            closed: false,
        }),
        ready: Condvar::new(),
    });
    let producer = Arc::clone(&shared);
    let thread = std::thread::Builder::new()
        .name("dockstat-engine".into())
        .spawn(move || {
            // Closes the queue however the thread ends, so that the consumer never waits
            // forever.
            struct Close(Arc<Shared>);
            impl Drop for Close {
                fn drop(&mut self) {
                    self.0.close();
                }
            }
            let close = Close(producer);
            let mut batch = Vec::with_capacity(1024);
            while !engine.is_stopped() && !engine.is_done() {
                engine.poll(None, &mut |event| {
                    batch.push(Update::from_event(&event));
                    Control::Continue
                })?;
                close.0.push(&mut batch);
            }
            Ok(engine.counters())
        })
        .map_err(|e| Error::io(crate::ErrorKind::Io, e))?;
    Ok(Spawned {
        updates: Updates { shared },
        stop,
        thread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(capacity: usize) -> Arc<Shared> {
        Arc::new(Shared {
            inner: Mutex::new(Inner {
                samples: VecDeque::new(),
                lifecycle: VecDeque::new(),
                capacity,
                seq: 0,
                stats: QueueStats::default(),
                sleeping: false,
                closed: false,
            }),
            ready: Condvar::new(),
        })
    }

    fn sample(key: u32, secs: i64) -> Update {
        Update::Sample {
            key,
            read: Timestamp { secs, nanos: 0 },
            derived: Derived::default(),
        }
    }

    fn describe(u: &Update) -> String {
        match u {
            Update::Sample { key, read, .. } => format!("s{key}@{}", read.secs),
            Update::Stale { key } => format!("stale{key}"),
            Update::Gone { key, .. } => format!("gone{key}"),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn keeps_order_and_drops_only_the_oldest_samples() {
        let shared = queue(3);
        let updates = Updates {
            shared: Arc::clone(&shared),
        };
        let mut batch = vec![
            sample(1, 1),
            Update::Stale { key: 2 },
            sample(1, 2),
            sample(1, 3),
            Update::Gone {
                key: 2,
                why: Gone::Removed,
            },
            sample(1, 4),
            sample(1, 5),
        ];
        shared.push(&mut batch);
        assert!(batch.is_empty());
        let stats = updates.stats();
        assert_eq!(
            stats,
            QueueStats {
                pushed: 7,
                dropped: 2,
                waiting: 5
            }
        );
        let mut got = Vec::new();
        updates.drain_into(&mut got);
        let got: Vec<String> = got.iter().map(describe).collect();
        assert_eq!(got, ["stale2", "s1@3", "gone2", "s1@4", "s1@5"]);
    }

    #[test]
    fn recv_wakes_on_push_and_ends_after_close() {
        let shared = queue(8);
        let updates = Updates {
            shared: Arc::clone(&shared),
        };
        assert_eq!(
            updates
                .recv_timeout(Duration::from_millis(10))
                .map(|u| describe(&u)),
            Err(RecvError::Timeout)
        );
        let producer = Arc::clone(&shared);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            producer.push(&mut vec![sample(7, 1)]);
            std::thread::sleep(Duration::from_millis(50));
            producer.close();
        });
        assert_eq!(
            updates.recv().map(|u| describe(&u)).as_deref(),
            Some("s7@1")
        );
        assert!(updates.recv().is_none());
        assert!(updates.is_finished());
        t.join().unwrap();
    }
}
