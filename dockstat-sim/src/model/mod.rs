//! The simulated host and its containers, and what their cgroup counters read at a given time.
//!
//! Pure: no clocks, no I/O. The model is built from a [`SimConfig`] and the sim's start time,
//! and [`Model::sample_into`] computes a container's counters *as a function of wall time*.
//! Two consequences the rest of the sim relies on:
//! - a stream needs no memory of the previous frame: `precpu_stats` is the sample at the
//!   previous `read` time, recomputed;
//! - cumulative counters (CPU time, page faults, bytes written, packets) never decrease, because
//!   each is `base + rate × wobble(t)` with a non-decreasing `wobble` (see [`wobble`]).
//!
//! Workloads mimic the containers of `shared/scripts/real-dockerd.sh spawn N mix` and the
//! numbers of the Docker 20.10 captures in `shared/fixtures/docker20-cgv1/`: `busy` burns half a
//! core under a CFS quota (throttling counters advance), `idle` sleeps, `memhog` holds 200 MiB of
//! shmem under a 512 MiB limit, `writer` writes 16 MiB a second with direct I/O, `forky` forks ten
//! sleeps every two seconds under a pids limit of 64, `net` sits on the bridge network and
//! receives a trickle of packets. Everything is deterministic from the seed.
//!
//! Lifecycle: containers are created, started, paused, stopped, killed and removed by the
//! transition methods ([`Model::apply`]), which take the time as an argument, update the state,
//! the listing and the lookup tables, and append the events the daemon would announce
//! (`events.rs` renders them). A start begins a new *run*: counters restart from the workload's
//! base values as in a fresh cgroup. A pause freezes the container's own time, so its counters
//! stand still while `system_cpu_usage` goes on (`docker20-cgv1-paused-stream.http`).
//!
//! A removed container's slot is reused by the next create; ids and names are `Rc<str>`, so a
//! stream that still holds them can tell (by pointer) that its container is gone and finish
//! with its name and id without the model keeping a tombstone.
//!
//! This file holds the containers, their lifecycle and their sampling; `workload.rs` what each
//! workload's counters do and the seed hashing, `event.rs` the events a change records.

use std::collections::HashMap;
use std::io;
use std::rc::Rc;

use super::time::{SECOND, UnixNanos};
use super::{Cgroup, Flavor, SimConfig};

mod event;
mod workload;

pub(crate) use event::{Event, Net};
pub use workload::Workload;
pub(crate) use workload::{BlkSample, MemSample, Sample, hash2};
use workload::{NetSample, at_rate, cpu_profile, hex64, mem_profile, mix, per_second, wobble};

/// `hierarchical_memory_limit` of an unlimited cgroup v1 memory controller
/// (`PAGE_COUNTER_MAX * PAGE_SIZE` on x86-64), as in the fixtures.
pub(crate) const V1_UNLIMITED: u64 = 9_223_372_036_854_771_712;

/// `pids.max` = "max" as Docker reports it on cgroup v2.
pub(crate) const V2_PIDS_UNLIMITED: u64 = u64::MAX;

/// CPU ticks are `USER_HZ` = 100 per second: `cpuacct.stat` and `/proc/stat` count in 10 ms.
const TICK: u64 = 10_000_000;

/// The image every simulated container runs.
pub(crate) const IMAGE_NAME: &str = "sim/busybox:latest";

/// Run state of a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Created, never started.
    Created,
    Running,
    /// Frozen: still "running" to the daemon (listed by `/containers/json`, live frames).
    Paused,
    Exited {
        code: i32,
        finished: UnixNanos,
    },
    /// A vacant slot: the container was removed and the slot awaits reuse.
    Removed,
}

/// When a container was paused, for freezing its counters (see [`Container::own_time`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Pauses {
    /// Nanoseconds spent paused in this run before the last pause.
    before: u64,
    /// The last pause: when it began, and when it ended if it has.
    last: Option<(UnixNanos, Option<UnixNanos>)>,
}

impl Pauses {
    /// Time spent paused in this run up to `t`. Exact for any `t` after the second-to-last
    /// pause ended, which covers the previous frame of any stream.
    fn until(&self, t: UnixNanos) -> u64 {
        let last = self.last.map_or(0, |(from, to)| {
            t.min(to.unwrap_or(UnixNanos::MAX)).saturating_sub(from)
        });
        self.before.saturating_add(last)
    }
}

/// One simulated container.
#[derive(Clone, Debug)]
pub(crate) struct Container {
    /// 64 hex digits. Shared with the streams of this container (see the module docs).
    pub(crate) id: Rc<str>,
    /// Without the leading `/`.
    pub(crate) name: Rc<str>,
    pub(crate) workload: Workload,
    /// The `sim.workload` label ("stopped" for containers created exited).
    pub(crate) label: &'static str,
    pub(crate) command: &'static str,
    pub(crate) state: State,
    pub(crate) created: UnixNanos,
    pub(crate) started: UnixNanos,
    /// `-m` limit, if any.
    pub(crate) mem_limit: Option<u64>,
    /// `--pids-limit`, if any.
    pub(crate) pids_limit: Option<u64>,
    /// Index among containers on the bridge network (for the IP address), if on it.
    pub(crate) bridge_index: Option<u32>,
    /// Shown in listings while the container runs.
    pub(crate) endpoint_id: String,
    /// Starts so far: a stream's previous sample only serves as `precpu_stats` within one run.
    pub(crate) runs: u32,
    pauses: Pauses,
    /// Seed of this container's jitter.
    key: u64,
}

impl Container {
    /// Running or paused: the daemon's `State.Running`, what `/containers/json` lists without
    /// `all`, and what gets live stats frames.
    pub(crate) fn running(&self) -> bool {
        matches!(self.state, State::Running | State::Paused)
    }

    /// Nanoseconds the container has run (not paused) in its current run at `t`.
    fn own_time(&self, t: UnixNanos) -> u64 {
        t.saturating_sub(self.started)
            .saturating_sub(self.pauses.until(t))
    }

    fn network(&self) -> Net {
        if self.bridge_index.is_some() {
            Net::Bridge
        } else {
            Net::None
        }
    }
}

/// A synthetic image for `/images/json`.
#[derive(Clone, Debug)]
pub(crate) struct Image {
    pub(crate) id: String,
    pub(crate) repo_tag: &'static str,
    pub(crate) digest: Option<String>,
    pub(crate) created_secs: u64,
    pub(crate) size: u64,
}

/// The simulated host.
#[derive(Clone, Debug)]
pub(crate) struct Host {
    pub(crate) ncpu: u32,
    pub(crate) mem_total: u64,
    pub(crate) boot: UnixNanos,
}

/// A lifecycle operation (see [`Model::apply`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// Create a container with this name, or `WORKLOAD-NUMBER`.
    Create(Option<String>),
    Start,
    Stop,
    Kill,
    Pause,
    Unpause,
    Remove {
        force: bool,
    },
}

/// How a running container is brought down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Halt {
    /// `docker stop`: SIGTERM, which the workload obeys (exit 143), then the `stop` event. The
    /// fixture's container ignored SIGTERM as a shell running as PID 1 does, so it shows a
    /// second kill (signal 9) ten seconds later and exit 137; the sim's workloads exit at once.
    Stop,
    /// `docker kill` (and `rm -f`): SIGKILL, exit 137, no `stop` event.
    Kill,
}

/// The daemon's rule for container names (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn gone(name: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("No such container: {name}"),
    )
}

fn conflict(name: &str, id: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
        ),
    )
}

/// The whole simulated daemon state.
#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub(crate) cgroup: Cgroup,
    pub(crate) flavor: Flavor,
    pub(crate) host: Host,
    pub(crate) containers: Vec<Container>,
    pub(crate) images: Vec<Image>,
    /// Network ids of the `none` and `bridge` networks.
    pub(crate) none_net_id: String,
    pub(crate) bridge_net_id: String,
    /// Container indices, newest first (the order of `/containers/json`).
    pub(crate) listing: Vec<usize>,
    by_name: HashMap<Rc<str>, usize>,
    /// Container indices sorted by id, for prefix lookups.
    by_id: Vec<usize>,
    seed: u64,
    /// Number of the next container created (names `WORKLOAD-NUMBER`, ids from the seed).
    next_number: usize,
    /// Containers on the bridge so far (for their addresses).
    bridge_count: u32,
    /// Vacant slots of removed containers.
    free: Vec<usize>,
    /// Containers running or paused.
    up: usize,
    /// [`SimConfig::pid_base`].
    pub(crate) pid_base: u32,
    /// [`SimConfig::nano_cpus`], `cpu_quota`, `cpu_period`: every container's limit when
    /// set, else each workload's (see [`crate::limits`]).
    pub(crate) cpu_limit: crate::limits::CpuLimit,
}

/// Result of looking a container up by id, id prefix or name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    Found(usize),
    NotFound,
    /// An id prefix matching several containers (the daemon answers 500 for this).
    Ambiguous,
}

impl Model {
    /// Builds the model. `now` is the sim's start time: containers were created before it.
    pub(crate) fn new(config: &SimConfig, now: UnixNanos) -> Model {
        let seed = config.seed;
        let total = config.containers + config.stopped;
        let ncpu = config.ncpu.max(1);
        // Containers were created one after another, a couple of seconds apart, the first
        // one a few minutes before the sim started (so `Status` reads "Up N minutes").
        let span = 2 * SECOND * total as u64;
        let first_created = now.saturating_sub(240 * SECOND + span + (mix(seed) % 120) * SECOND);
        let uptime = 3600 * SECOND + (mix(seed ^ 0xb007) % 86_400) * SECOND;
        let host = Host {
            ncpu,
            mem_total: config.mem_total,
            boot: first_created.saturating_sub(uptime),
        };
        let image_created = first_created / SECOND;
        let images = vec![
            Image {
                id: format!("sha256:{}", hex64(hash2(seed, 0x1a6e_0001))),
                repo_tag: IMAGE_NAME,
                digest: None,
                created_secs: image_created.saturating_sub(86_400),
                size: 2_148_488,
            },
            Image {
                id: format!("sha256:{}", hex64(hash2(seed, 0x1a6e_0002))),
                repo_tag: "sim/alpine:3.20",
                digest: Some(format!(
                    "sim/alpine@sha256:{}",
                    hex64(hash2(seed, 0xd1_0002))
                )),
                created_secs: image_created.saturating_sub(40 * 86_400),
                size: 7_797_760,
            },
            Image {
                id: format!("sha256:{}", hex64(hash2(seed, 0x1a6e_0003))),
                repo_tag: "sim/debian:bookworm-slim",
                digest: Some(format!(
                    "sim/debian@sha256:{}",
                    hex64(hash2(seed, 0xd1_0003))
                )),
                created_secs: image_created.saturating_sub(90 * 86_400),
                size: 74_812_390,
            },
        ];
        let mut model = Model {
            // Podman's io.stat entries are cgroup v2's.
            cgroup: match config.flavor {
                Flavor::Podman => Cgroup::V2,
                Flavor::Docker => config.cgroup,
            },
            flavor: config.flavor,
            host,
            containers: Vec::with_capacity(total),
            images,
            none_net_id: hex64(hash2(seed, 0x4e_0001)),
            bridge_net_id: hex64(hash2(seed, 0x4e_0002)),
            listing: Vec::with_capacity(total),
            by_name: HashMap::with_capacity(total),
            by_id: Vec::with_capacity(total),
            seed,
            next_number: 1,
            bridge_count: 0,
            free: Vec::new(),
            up: 0,
            pid_base: config.pid_base,
            cpu_limit: crate::limits::CpuLimit {
                nano_cpus: config.nano_cpus,
                cpu_quota: config.cpu_quota,
                cpu_period: config.cpu_period,
            },
        };
        for i in 0..total {
            let running = i < config.containers;
            let number = model.next_number;
            model.next_number += 1;
            let key = hash2(seed, number as u64);
            let created = first_created + 2 * SECOND * i as u64 + key % SECOND;
            let started = created + 150_000_000 + key % 200_000_000;
            let mut c = if running {
                model.container(number, None, created)
            } else {
                // Containers created exited ran `true` once, without a network.
                let mut c = model.container(number, Some(format!("stopped-{number}")), created);
                c.workload = Workload::Idle;
                c.label = "stopped";
                c.command = "true";
                c.mem_limit = None;
                c.pids_limit = None;
                c.state = State::Exited {
                    code: 0,
                    finished: started + 50_000_000 + key % 50_000_000,
                };
                c
            };
            if c.workload == Workload::Net && running {
                model.bridge_count += 1;
                c.bridge_index = Some(model.bridge_count);
            }
            c.started = started;
            c.runs = 1;
            if running {
                c.state = State::Running;
                model.up += 1;
            }
            model.containers.push(c);
        }
        let containers = &model.containers;
        model.listing = (0..containers.len()).collect();
        model.listing.sort_by(|&a, &b| {
            containers[b]
                .created
                .cmp(&containers[a].created)
                .then(b.cmp(&a))
        });
        model.by_name = containers
            .iter()
            .enumerate()
            .map(|(i, c)| (Rc::clone(&c.name), i))
            .collect();
        model.by_id = (0..containers.len()).collect();
        model
            .by_id
            .sort_by(|&a, &b| containers[a].id.cmp(&containers[b].id));
        model
    }

    /// A new container in state `Created`, numbered `number` (which picks its workload, id
    /// and jitter), named `name` or `WORKLOAD-NUMBER`. Not yet in any table.
    fn container(&self, number: usize, name: Option<String>, created: UnixNanos) -> Container {
        let key = hash2(self.seed, number as u64);
        let workload = Workload::CYCLE[(number - 1) % Workload::CYCLE.len()];
        let name = name.unwrap_or_else(|| format!("{}-{number}", workload.name()));
        Container {
            id: Rc::from(hex64(key)),
            name: Rc::from(name),
            workload,
            label: workload.name(),
            command: workload.command(),
            state: State::Created,
            created,
            started: created,
            mem_limit: (workload == Workload::Memhog).then_some(536_870_912),
            pids_limit: (workload == Workload::Forky).then_some(64),
            bridge_index: None,
            endpoint_id: hex64(hash2(key, 0xe4d)),
            runs: 0,
            pauses: Pauses::default(),
            key,
        }
    }

    /// The image id every container runs.
    pub(crate) fn container_image_id(&self) -> &str {
        self.images.first().map_or("", |i| i.id.as_str())
    }

    /// Finds a container the way the daemon does: full id, then name (with or without the
    /// leading `/`), then unique id prefix.
    pub(crate) fn lookup(&self, what: &str) -> Lookup {
        if what.is_empty() {
            return Lookup::NotFound;
        }
        let name = what.strip_prefix('/').unwrap_or(what);
        // A name wins over an id prefix, but not over a full id that is someone else's.
        if let Some(&i) = self.by_name.get(name)
            && (what.len() != 64 || &*self.containers[i].id == what)
        {
            return Lookup::Found(i);
        }
        let start = self
            .by_id
            .partition_point(|&i| &*self.containers[i].id < what);
        let mut matches = self.by_id[start..]
            .iter()
            .take_while(|&&i| self.containers[i].id.starts_with(what));
        match (matches.next(), matches.next()) {
            (Some(&i), None) => Lookup::Found(i),
            (Some(&i), Some(_)) if &*self.containers[i].id == what => Lookup::Found(i),
            (Some(_), Some(_)) => Lookup::Ambiguous,
            (None, _) => Lookup::NotFound,
        }
    }

    /// Containers running or paused.
    pub(crate) fn up(&self) -> usize {
        self.up
    }

    /// The container at `idx` if it is still the one whose id is `id` (not removed, slot not
    /// reused).
    pub(crate) fn current(&self, idx: usize, id: &Rc<str>) -> Option<&Container> {
        self.containers
            .get(idx)
            .filter(|c| c.state != State::Removed && Rc::ptr_eq(&c.id, id))
    }

    /// The `n`-th running (not paused) container in slot order, `n` taken modulo their
    /// number; `None` when nothing runs.
    pub(crate) fn nth_running(&self, n: u64) -> Option<usize> {
        let running = || {
            self.containers
                .iter()
                .enumerate()
                .filter(|(_, c)| c.state == State::Running)
        };
        let count = running().count() as u64;
        if count == 0 {
            return None;
        }
        let k = usize::try_from(n % count).unwrap_or(0);
        running().nth(k).map(|(i, _)| i)
    }

    /// Applies a lifecycle operation to the container named or identified by `target` (by
    /// anything [`Model::lookup`] accepts; ignored for `Create`) at time `now`, appending the
    /// events the daemon would send. Returns the container's slot.
    ///
    /// # Errors
    /// `NotFound` for an unknown container, `InvalidInput` for an ambiguous id prefix, a bad
    /// name or a transition the state does not allow, `AlreadyExists` for a name in use.
    pub(crate) fn apply(
        &mut self,
        op: &Op,
        target: &str,
        now: UnixNanos,
        events: &mut Vec<Event>,
    ) -> io::Result<usize> {
        if let Op::Create(name) = op {
            return self.create(name.as_deref(), now, events);
        }
        let idx = match self.lookup(target) {
            Lookup::Found(idx) => idx,
            Lookup::NotFound => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("No such container: {target}"),
                ));
            }
            Lookup::Ambiguous => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("multiple IDs found with provided prefix: {target}"),
                ));
            }
        };
        let done = match *op {
            Op::Create(_) => Ok(()),
            Op::Start => self.start(idx, now, events),
            Op::Stop => self.halt(idx, now, Halt::Stop, events),
            Op::Kill => self.halt(idx, now, Halt::Kill, events),
            Op::Pause => self.pause(idx, now, events),
            Op::Unpause => self.unpause(idx, now, events),
            Op::Remove { force } => self.remove(idx, now, force, events),
        };
        done.map(|()| idx)
    }

    /// Creates a container (state `Created`), in a vacant slot if there is one.
    pub(crate) fn create(
        &mut self,
        name: Option<&str>,
        now: UnixNanos,
        events: &mut Vec<Event>,
    ) -> io::Result<usize> {
        let name = match name {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !valid_name(n) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                        ),
                    ));
                }
                if let Some(&other) = self.by_name.get(n) {
                    return Err(conflict(n, &self.containers[other].id));
                }
                Some(n.to_owned())
            }
            None => None,
        };
        // A generated name may have been taken by an explicit one: skip its number then.
        let c = loop {
            let number = self.next_number;
            self.next_number += 1;
            let c = self.container(number, name.clone(), now);
            if name.is_some() || !self.by_name.contains_key(&*c.name) {
                break c;
            }
        };
        let mut c = c;
        if c.workload == Workload::Net {
            self.bridge_count += 1;
            c.bridge_index = Some(self.bridge_count);
        }
        let idx = match self.free.pop() {
            Some(i) => {
                self.containers[i] = c;
                i
            }
            None => {
                self.containers.push(c);
                self.containers.len() - 1
            }
        };
        let c = &self.containers[idx];
        self.by_name.insert(Rc::clone(&c.name), idx);
        let at = self
            .by_id
            .partition_point(|&i| self.containers[i].id < c.id);
        self.by_id.insert(at, idx);
        // The newest container: first in the listing.
        self.listing.insert(0, idx);
        events.push(self.event(idx, now, "create", None));
        Ok(idx)
    }

    fn start(&mut self, idx: usize, now: UnixNanos, events: &mut Vec<Event>) -> io::Result<()> {
        let c = &mut self.containers[idx];
        match c.state {
            State::Created | State::Exited { .. } => {}
            State::Running | State::Paused => {
                return Err(invalid(format!("container {} is already running", c.name)));
            }
            State::Removed => return Err(gone(&c.name)),
        }
        c.state = State::Running;
        c.started = now;
        c.runs = c.runs.saturating_add(1);
        c.pauses = Pauses::default();
        self.up += 1;
        events.push(self.network_event(idx, now, "connect"));
        events.push(self.event(idx, now, "start", None));
        Ok(())
    }

    /// `docker stop` or `docker kill`: see [`Halt`].
    fn halt(
        &mut self,
        idx: usize,
        now: UnixNanos,
        how: Halt,
        events: &mut Vec<Event>,
    ) -> io::Result<()> {
        let c = &mut self.containers[idx];
        if !c.running() {
            return Err(invalid(format!("Container {} is not running", c.name)));
        }
        if let Some((_, end @ None)) = &mut c.pauses.last {
            *end = Some(now);
        }
        let (signal, code, exit) = match how {
            Halt::Stop => ("15", 143, "143"),
            Halt::Kill => ("9", 137, "137"),
        };
        c.state = State::Exited {
            code,
            finished: now,
        };
        self.up = self.up.saturating_sub(1);
        events.push(self.event(idx, now, "kill", Some(("signal", signal))));
        events.push(self.event(idx, now, "die", Some(("exitCode", exit))));
        events.push(self.network_event(idx, now, "disconnect"));
        if how == Halt::Stop {
            events.push(self.event(idx, now, "stop", None));
        }
        Ok(())
    }

    fn pause(&mut self, idx: usize, now: UnixNanos, events: &mut Vec<Event>) -> io::Result<()> {
        let c = &mut self.containers[idx];
        match c.state {
            State::Running => {}
            State::Paused => {
                return Err(invalid(format!("Container {} is already paused", c.id)));
            }
            _ => return Err(invalid(format!("Container {} is not running", c.id))),
        }
        c.state = State::Paused;
        let p = &mut c.pauses;
        p.before = p.until(now);
        p.last = Some((now, None));
        events.push(self.event(idx, now, "pause", None));
        Ok(())
    }

    fn unpause(&mut self, idx: usize, now: UnixNanos, events: &mut Vec<Event>) -> io::Result<()> {
        let c = &mut self.containers[idx];
        if c.state != State::Paused {
            return Err(invalid(format!("Container {} is not paused", c.id)));
        }
        c.state = State::Running;
        if let Some((_, end @ None)) = &mut c.pauses.last {
            *end = Some(now);
        }
        events.push(self.event(idx, now, "unpause", None));
        Ok(())
    }

    /// `docker rm`; with `force`, a running container is killed first (as `docker rm -f`
    /// does: kill 9, die 137, network disconnect, then destroy).
    fn remove(
        &mut self,
        idx: usize,
        now: UnixNanos,
        force: bool,
        events: &mut Vec<Event>,
    ) -> io::Result<()> {
        let c = &self.containers[idx];
        match c.state {
            State::Running | State::Paused if force => {
                self.halt(idx, now, Halt::Kill, events)?;
            }
            State::Running => {
                return Err(invalid(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            State::Paused => {
                return Err(invalid(format!(
                    "You cannot remove a paused container {}. Unpause and then stop the container before attempting removal or force remove",
                    c.id
                )));
            }
            State::Removed => return Err(gone(&c.name)),
            State::Created | State::Exited { .. } => {}
        }
        events.push(self.event(idx, now, "destroy", None));
        let c = &mut self.containers[idx];
        c.state = State::Removed;
        let (name, id) = (Rc::clone(&c.name), Rc::clone(&c.id));
        self.by_name.remove(&*name);
        let at = self.by_id.partition_point(|&i| self.containers[i].id < id);
        if self.by_id.get(at) == Some(&idx) {
            self.by_id.remove(at);
        } else {
            // Unreachable with distinct ids; a linear sweep keeps the tables right regardless.
            self.by_id.retain(|&i| i != idx);
        }
        self.listing.retain(|&i| i != idx);
        self.free.push(idx);
        Ok(())
    }

    fn event(
        &self,
        idx: usize,
        now: UnixNanos,
        action: &'static str,
        extra: Option<(&'static str, &'static str)>,
    ) -> Event {
        let c = &self.containers[idx];
        Event {
            time: now,
            action,
            extra,
            network: None,
            container: Rc::clone(&c.id),
            name: Rc::clone(&c.name),
            label: c.label,
        }
    }

    fn network_event(&self, idx: usize, now: UnixNanos, action: &'static str) -> Event {
        Event {
            network: Some(self.containers[idx].network()),
            ..self.event(idx, now, action, None)
        }
    }

    /// Host CPU time at `t` (`system_cpu_usage`): every CPU counts every jiffy since boot.
    pub(crate) fn system_cpu(&self, t: UnixNanos) -> u64 {
        let up = u128::from(t.saturating_sub(self.host.boot));
        let v = up * u128::from(self.host.ncpu) / u128::from(TICK) * u128::from(TICK);
        u64::try_from(v).unwrap_or(u64::MAX)
    }

    /// Fills `s` with container `idx`'s counters at wall time `t`. Meaningful for running
    /// containers; stopped ones get the fixture's all-zero frame and never call this.
    pub(crate) fn sample_into(&self, idx: usize, t: UnixNanos, s: &mut Sample) {
        let Some(c) = self.containers.get(idx) else {
            *s = Sample::default();
            return;
        };
        let up = c.own_time(t);
        let ncpu = self.host.ncpu as usize;
        let cpu = cpu_profile(c.workload);

        // CPU: each CPU's counter is its own non-decreasing function; the total is their sum,
        // so `percpu_usage` always adds up to `total_usage` like cpuacct.usage_percpu.
        s.percpu.clear();
        let weights: u64 = (0..ncpu)
            .map(|i| 1 + hash2(c.key, 100 + i as u64) % 3)
            .sum();
        let mut total = 0u64;
        for i in 0..ncpu {
            let w = 1 + hash2(c.key, 100 + i as u64) % 3;
            let e = wobble(hash2(c.key, 200 + i as u64), up, cpu.amp);
            let base = cpu.base * w / weights;
            let v = at_rate(base, cpu.rate * w / weights, e);
            total = total.saturating_add(v);
            s.percpu.push(v);
        }
        match self.cgroup {
            Cgroup::V1 => {
                // cpuacct.stat counts whole ticks, and the two parts lag the precise total.
                // Both parts scale floor(total / 1000), so each is non-decreasing on its own.
                s.cpu_kernel = total / 1000 * cpu.kernel_permille / TICK * TICK;
                s.cpu_user = total / 1000 * (1000 - cpu.kernel_permille) / TICK * TICK;
                s.cpu_total = total;
            }
            Cgroup::V2 => {
                // cpu.stat has usage_usec = user_usec + system_usec; no per-CPU values.
                s.cpu_kernel = total / 1000 * cpu.kernel_permille / 1000 * 1000;
                s.cpu_user = total / 1000 * (1000 - cpu.kernel_permille) / 1000 * 1000;
                s.cpu_total = s.cpu_kernel + s.cpu_user;
                s.percpu.clear();
            }
        }
        s.system = self.system_cpu(t);
        s.online_cpus = self.host.ncpu;
        let limit = crate::limits::container_limit(self.cpu_limit, c.workload);
        match limit.and_then(|l| l.nanos_per_second()) {
            // A limit the workload would exceed.
            Some(limit) if cpu.rate >= limit => {
                // 100 ms CFS periods while runnable; nearly all hit the quota, and each
                // throttled period waits out the rest of it (~48 ms with a 50 ms quota).
                let e = wobble(hash2(c.key, 300), up, 20_000_000);
                s.periods = e / 100_000_000;
                s.throttled_periods = s.periods - s.periods / 60;
                s.throttled_time = at_rate(0, 477_000_000, e);
            }
            // A limit it stays under: the periods it is runnable in (about two a second for
            // short bursts) pass, none throttled.
            Some(_) => {
                let e = wobble(hash2(c.key, 300), up, 20_000_000);
                s.periods = e / 500_000_000;
                s.throttled_periods = 0;
                s.throttled_time = 0;
            }
            None => {
                s.periods = 0;
                s.throttled_periods = 0;
                s.throttled_time = 0;
            }
        }

        // Pids.
        s.pids = match c.workload {
            Workload::Writer => 2,
            // Ten sleeps run for most of each 2 s round; between rounds only sh is left.
            Workload::Forky if (up + c.key % (2 * SECOND)) % (2 * SECOND) < 3 * SECOND / 2 => 11,
            _ => 1,
        };
        s.pids_limit = match self.cgroup {
            Cgroup::V1 => c.pids_limit,
            Cgroup::V2 => Some(c.pids_limit.unwrap_or(V2_PIDS_UNLIMITED)),
        };

        self.memory_into(c, up, s);
        s.blk = self.blkio(c, up);
        s.net = (c.workload == Workload::Net).then(|| {
            let rx = wobble(hash2(c.key, 500), up, 300_000_000);
            let tx = wobble(hash2(c.key, 501), up, 300_000_000);
            let rx_bytes = at_rate(1_252, 1_180, rx);
            let tx_bytes = at_rate(0, 590, tx);
            NetSample {
                rx_bytes,
                rx_packets: 14 + (rx_bytes - 1_252) / 90,
                tx_bytes,
                tx_packets: tx_bytes / 74,
            }
        });
    }

    fn memory_into(&self, c: &Container, up: u64, s: &mut Sample) {
        const PAGE: u64 = 4096;
        let p = mem_profile(c.workload);
        let m = &mut s.mem;
        // Per-container variety of ±3 %, in whole pages.
        let vary = |v: u64| v / 1000 * (970 + c.key % 61) / PAGE * PAGE;
        m.rss = vary(p.rss);
        m.cache = p.cache;
        m.shmem = p.shmem;
        m.mapped_file = p.mapped_file;
        let swing = per_second(hash2(c.key, 400), up, 1) * p.active_swing;
        m.active_anon = (p.active_anon + swing).min(m.rss + m.shmem);
        m.inactive_anon = m.rss + m.shmem - m.active_anon;
        m.active_file = p.active_file.min(m.cache - m.shmem);
        m.inactive_file = m.cache - m.shmem - m.active_file;
        let forky_extra = if c.workload == Workload::Forky && s.pids > 1 {
            10 * 16_384
        } else {
            0
        };
        let jitter = per_second(hash2(c.key, 401), up, p.usage_jitter) / PAGE * PAGE;
        m.usage = m.rss + m.cache + vary(p.kernel) + jitter + forky_extra;
        m.max_usage = p.max_usage.max(m.usage);
        m.kernel_stack = 16_384 * s.pids;
        m.slab = m.usage - m.rss - m.cache - m.kernel_stack.min(m.usage - m.rss - m.cache);
        let e = wobble(hash2(c.key, 402), up, 200_000_000);
        m.pgfault = at_rate(p.pgfault.0, p.pgfault.1, e);
        m.pgmajfault = p.pgmajfault;
        m.pgpgin = at_rate(p.pgpgin.0, p.pgpgin.1, e);
        m.pgpgout = at_rate(p.pgpgout.0, p.pgpgout.1, e);
        let host = self.host.mem_total;
        m.limit = c.mem_limit.map_or(host, |l| l.min(host));
        m.hier_limit = c.mem_limit.unwrap_or(V1_UNLIMITED);
        // Docker sets memory+swap to twice the memory limit when only -m is given.
        m.hier_memsw_limit = c.mem_limit.map_or(V1_UNLIMITED, |l| l.saturating_mul(2));
    }

    fn blkio(&self, c: &Container, up: u64) -> Option<BlkSample> {
        const MIB: u64 = 1 << 20;
        match (self.cgroup, c.workload) {
            (_, Workload::Writer) => {
                // One 16 MiB burst a second (dd, then sleep 1); the previous file's blocks are
                // discarded when it is overwritten, one burst behind.
                let bursts = wobble(hash2(c.key, 600), up, 100_000_000) / SECOND;
                let write_bytes = 2 * MIB + bursts * 16 * MIB;
                Some(BlkSample {
                    read_bytes: if self.cgroup == Cgroup::V2 {
                        249_856
                    } else {
                        0
                    },
                    write_bytes,
                    discard_bytes: bursts.saturating_sub(1) * 16 * MIB,
                    read_ops: 0,
                    write_ops: 3 + bursts * 17,
                    discard_ops: bursts.saturating_sub(1),
                })
            }
            // cgroup v2 has io.stat for anything that read its image; v1 blkio accounting
            // stays empty without a throttle rule (see the fixtures' README).
            // (The operation counts show only in Podman's frames: 4 KiB each.)
            (Cgroup::V2, _) => Some(BlkSample {
                read_bytes: 249_856,
                write_bytes: 12_288,
                read_ops: 61,
                write_ops: 3,
                ..BlkSample::default()
            }),
            (Cgroup::V1, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(cg: Cgroup, n: usize) -> Model {
        let config = SimConfig {
            containers: n,
            stopped: 2,
            cgroup: cg,
            ..SimConfig::default()
        };
        Model::new(&config, 1_795_416_927 * SECOND)
    }

    #[test]
    fn names_ids_and_deterministic() {
        let m = model(Cgroup::V1, 7);
        let names: Vec<&str> = m.containers.iter().map(|c| &*c.name).collect();
        assert_eq!(
            names,
            [
                "busy-1",
                "idle-2",
                "memhog-3",
                "writer-4",
                "forky-5",
                "net-6",
                "busy-7",
                "stopped-8",
                "stopped-9"
            ]
        );
        for c in &m.containers {
            assert_eq!(c.id.len(), 64);
            assert!(
                c.id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        let again = model(Cgroup::V1, 7);
        assert_eq!(m.containers[3].id, again.containers[3].id);
        let other = Model::new(
            &SimConfig {
                seed: 99,
                ..SimConfig::default()
            },
            0,
        );
        assert_ne!(m.containers[0].id, other.containers[0].id);
        // Newest first.
        assert_eq!(m.listing.first(), Some(&8));
    }

    #[test]
    fn lookup_by_id_prefix_and_name() {
        let m = model(Cgroup::V1, 12);
        let id = m.containers[4].id.clone();
        assert_eq!(m.lookup(&id), Lookup::Found(4));
        assert_eq!(m.lookup(&id[..12]), Lookup::Found(4));
        assert_eq!(m.lookup("forky-5"), Lookup::Found(4));
        assert_eq!(m.lookup("/forky-5"), Lookup::Found(4));
        assert_eq!(m.lookup("nosuch"), Lookup::NotFound);
        assert_eq!(m.lookup(""), Lookup::NotFound);
        // With 14 ids, some single hex digit is shared by two of them.
        let ambiguous = (0..16u8).any(|d| {
            let p = format!("{d:x}");
            m.lookup(&p) == Lookup::Ambiguous
        });
        assert!(ambiguous);
    }

    #[test]
    fn counters_are_monotonic_and_consistent() {
        for cg in [Cgroup::V1, Cgroup::V2] {
            let m = model(cg, 6);
            for idx in 0..6 {
                let mut prev = Sample::default();
                let mut s = Sample::default();
                let start = 1_795_416_927 * SECOND;
                for step in 0..200u64 {
                    let t = start + step * 37_000_000;
                    m.sample_into(idx, t, &mut s);
                    if cg == Cgroup::V1 {
                        assert_eq!(s.percpu.iter().sum::<u64>(), s.cpu_total);
                        assert_eq!(s.percpu.len(), 2);
                        assert_eq!(s.cpu_kernel % TICK, 0);
                        assert_eq!(s.cpu_user % TICK, 0);
                    } else {
                        assert!(s.percpu.is_empty());
                        assert_eq!(s.cpu_kernel + s.cpu_user, s.cpu_total);
                    }
                    assert!(s.cpu_kernel + s.cpu_user <= s.cpu_total);
                    assert!(s.cpu_total >= prev.cpu_total);
                    assert!(s.percpu.iter().zip(&prev.percpu).all(|(a, b)| a >= b));
                    assert!(s.cpu_kernel >= prev.cpu_kernel && s.cpu_user >= prev.cpu_user);
                    assert!(s.system >= prev.system && s.system % TICK == 0);
                    assert!(s.periods >= prev.periods);
                    assert!(s.throttled_periods >= prev.throttled_periods);
                    assert!(s.throttled_time >= prev.throttled_time);
                    assert!(s.mem.pgfault >= prev.mem.pgfault);
                    assert!(s.mem.usage >= s.mem.rss + s.mem.cache);
                    assert!(s.mem.usage <= s.mem.limit);
                    if let (Some(a), Some(b)) = (s.blk, prev.blk) {
                        assert!(a.write_bytes >= b.write_bytes);
                        assert!(a.discard_bytes >= b.discard_bytes);
                    }
                    if let (Some(a), Some(b)) = (s.net, prev.net) {
                        assert!(a.rx_bytes >= b.rx_bytes && a.rx_packets >= b.rx_packets);
                        assert!(a.tx_bytes >= b.tx_bytes && a.tx_packets >= b.tx_packets);
                    }
                    prev = s.clone();
                }
            }
        }
    }

    #[test]
    fn workload_rates_match_the_fixtures() {
        let m = model(Cgroup::V1, 6);
        let t0 = 1_795_416_927 * SECOND;
        let t1 = t0 + 10 * SECOND;
        let (mut a, mut b) = (Sample::default(), Sample::default());
        // busy: half a core; the docker CLI formula gives ~50 %.
        m.sample_into(0, t0, &mut a);
        m.sample_into(0, t1, &mut b);
        let cpu = (b.cpu_total - a.cpu_total) as f64 / (b.system - a.system) as f64 * 2.0 * 100.0;
        assert!((45.0..55.0).contains(&cpu), "busy cpu {cpu}");
        assert!(b.throttled_periods - a.throttled_periods >= 90);
        assert!(b.system - a.system == 2 * 10 * SECOND);
        // memhog: 512 MiB limit, ~200 MiB cache.
        m.sample_into(2, t0, &mut a);
        assert_eq!(a.mem.limit, 536_870_912);
        assert_eq!(a.mem.cache, 209_715_200);
        // writer: 16 MiB/s.
        m.sample_into(3, t0, &mut a);
        m.sample_into(3, t1, &mut b);
        let (wa, wb) = (a.blk.unwrap_or_default(), b.blk.unwrap_or_default());
        let rate = (wb.write_bytes - wa.write_bytes) / 10;
        assert!((15 << 20..=18 << 20).contains(&rate), "writer {rate}");
        // writer: under a limit it never reaches (crate::limits): periods pass, none throttled.
        assert!(
            (10..=30).contains(&(b.periods - a.periods)),
            "{}",
            b.periods - a.periods
        );
        assert_eq!((b.throttled_periods, b.throttled_time), (0, 0));
        // idle, memhog: no limit, no CFS periods.
        m.sample_into(1, t1, &mut b);
        assert_eq!((b.periods, b.throttled_periods), (0, 0));
        // forky: pids between 1 and 11, limit 64.
        let mut seen = [false; 2];
        for k in 0..8 {
            m.sample_into(4, t0 + k * SECOND / 2, &mut a);
            assert!(a.pids == 1 || a.pids == 11);
            seen[usize::from(a.pids == 11)] = true;
            assert_eq!(a.pids_limit, Some(64));
        }
        assert_eq!(seen, [true, true]);
        // net: eth0 traffic grows.
        m.sample_into(5, t0, &mut a);
        m.sample_into(5, t1, &mut b);
        let (na, nb) = (a.net.unwrap_or_default(), b.net.unwrap_or_default());
        assert!(nb.rx_bytes > na.rx_bytes && nb.tx_packets > na.tx_packets);
        // Only net has networks; only writer has v1 blkio.
        m.sample_into(1, t0, &mut a);
        assert!(a.net.is_none() && a.blk.is_none());
    }

    /// (action, network?, extra) of each event, for compact comparisons.
    fn summary(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                let mut s = e.action.to_owned();
                if let Some(n) = e.network {
                    s = format!("network {s} {n:?}");
                }
                if let Some((k, v)) = e.extra {
                    s = format!("{s} {k}={v}");
                }
                s
            })
            .collect()
    }

    #[test]
    fn transitions_and_their_events() {
        let mut m = model(Cgroup::V1, 6);
        let t = 1_795_417_000 * SECOND;
        let mut ev = Vec::new();
        assert_eq!(m.up(), 6);

        let idx = m.create(None, t, &mut ev).expect("create");
        assert_eq!(idx, 8);
        let c = &m.containers[idx];
        // Numbering continues after the 6 running and 2 stopped containers.
        assert_eq!(
            (&*c.name, c.state, c.workload),
            ("memhog-9", State::Created, Workload::Memhog)
        );
        assert_eq!(m.listing.first(), Some(&idx));
        assert_eq!(m.lookup("memhog-9"), Lookup::Found(idx));
        let id = c.id.to_string();
        assert_eq!(m.lookup(&id[..20]), Lookup::Found(idx));
        assert_eq!(summary(&ev), ["create"]);
        assert_eq!(&*ev[0].container, id.as_str());

        let step = |m: &mut Model, op: Op, target: &str| {
            let mut ev = Vec::new();
            m.apply(&op, target, t + SECOND, &mut ev)
                .map(|_| summary(&ev))
        };
        assert_eq!(
            step(&mut m, Op::Start, "memhog-9").ok(),
            Some(vec!["network connect None".to_owned(), "start".to_owned()])
        );
        assert_eq!(m.up(), 7);
        assert_eq!(m.containers[idx].runs, 1);
        assert_eq!(
            step(&mut m, Op::Pause, &id).ok(),
            Some(vec!["pause".to_owned()])
        );
        assert_eq!(m.containers[idx].state, State::Paused);
        assert!(m.containers[idx].running());
        assert_eq!(
            step(&mut m, Op::Pause, &id).map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
        assert_eq!(
            step(&mut m, Op::Unpause, &id).ok(),
            Some(vec!["unpause".to_owned()])
        );
        assert_eq!(
            step(&mut m, Op::Unpause, &id).map_err(|e| e.kind()),
            Err(io::ErrorKind::InvalidInput)
        );
        let err = step(&mut m, Op::Remove { force: false }, &id).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        assert_eq!(
            step(&mut m, Op::Stop, "memhog-9").ok(),
            Some(
                [
                    "kill signal=15",
                    "die exitCode=143",
                    "network disconnect None",
                    "stop"
                ]
                .map(str::to_owned)
                .to_vec()
            )
        );
        assert_eq!(m.up(), 6);
        assert!(matches!(
            m.containers[idx].state,
            State::Exited { code: 143, .. }
        ));
        for op in [Op::Stop, Op::Kill, Op::Pause, Op::Unpause] {
            let err = step(&mut m, op, "memhog-9").err();
            assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        }
        assert!(step(&mut m, Op::Start, "memhog-9").is_ok());
        assert_eq!(m.containers[idx].runs, 2);
        let err = step(&mut m, Op::Start, "memhog-9").err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        assert_eq!(
            step(&mut m, Op::Remove { force: true }, "memhog-9").ok(),
            Some(
                [
                    "kill signal=9",
                    "die exitCode=137",
                    "network disconnect None",
                    "destroy"
                ]
                .map(str::to_owned)
                .to_vec()
            )
        );
        assert_eq!(m.up(), 6);
        assert_eq!(m.lookup("memhog-9"), Lookup::NotFound);
        assert_eq!(m.lookup(&id), Lookup::NotFound);
        assert!(!m.listing.contains(&idx));
        let err = step(&mut m, Op::Start, "memhog-9").err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::NotFound));

        // kill: no stop event; the net container is on the bridge.
        assert_eq!(
            step(&mut m, Op::Kill, "net-6").ok(),
            Some(
                [
                    "kill signal=9",
                    "die exitCode=137",
                    "network disconnect Bridge"
                ]
                .map(str::to_owned)
                .to_vec()
            )
        );
        // Removing an exited container: destroy only.
        assert_eq!(
            step(&mut m, Op::Remove { force: false }, "stopped-7").ok(),
            Some(vec!["destroy".to_owned()])
        );

        // The vacant slot is reused, with a fresh id; the stale id no longer matches it.
        let old_id = Rc::clone(&m.containers[idx].id);
        let mut ev = Vec::new();
        let again = m.create(Some("/mine"), t, &mut ev).expect("create named");
        assert!(again == idx || again == 6);
        assert_eq!(&*m.containers[again].name, "mine");
        assert!(m.current(idx, &old_id).is_none());
        let err = m.create(Some("mine"), t, &mut ev).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::AlreadyExists));
        let err = m.create(Some("-bad"), t, &mut ev).err();
        assert_eq!(err.map(|e| e.kind()), Some(io::ErrorKind::InvalidInput));
        // A generated name already taken is skipped.
        m.create(Some("busy-13"), t, &mut ev).expect("create");
        let next = m.create(None, t, &mut ev).expect("create");
        assert_eq!(&*m.containers[next].name, "net-12");
        let next = m.create(None, t, &mut ev).expect("create");
        assert_eq!(&*m.containers[next].name, "idle-14");
        // Lookups stay consistent after all this.
        for &i in &m.listing {
            let c = &m.containers[i];
            assert_eq!(m.lookup(&c.name), Lookup::Found(i));
            assert_eq!(m.lookup(&c.id), Lookup::Found(i));
        }
        assert_eq!(m.listing.len(), m.by_id.len());
    }

    #[test]
    fn pause_freezes_the_counters_and_restart_resets_them() {
        let mut m = model(Cgroup::V1, 1);
        let t0 = 1_795_416_927 * SECOND;
        let mut ev = Vec::new();
        let (mut a, mut b) = (Sample::default(), Sample::default());
        m.apply(&Op::Pause, "busy-1", t0, &mut ev).expect("pause");
        m.sample_into(0, t0 + SECOND, &mut a);
        m.sample_into(0, t0 + 5 * SECOND, &mut b);
        assert_eq!(a.cpu_total, b.cpu_total);
        assert!(b.system > a.system);
        m.apply(&Op::Unpause, "busy-1", t0 + 5 * SECOND, &mut ev)
            .expect("unpause");
        m.sample_into(0, t0 + 6 * SECOND, &mut b);
        assert!(b.cpu_total > a.cpu_total);
        // Half a core for the one second since the unpause, as if the pause never happened.
        let ran = b.cpu_total - a.cpu_total;
        assert!((400_000_000..600_000_000).contains(&ran), "{ran}");
        // A sample taken during the pause still reads the same after it.
        let mut c = Sample::default();
        m.sample_into(0, t0 + 3 * SECOND, &mut c);
        assert_eq!(c.cpu_total, a.cpu_total);

        m.apply(&Op::Stop, "busy-1", t0 + 7 * SECOND, &mut ev)
            .expect("stop");
        m.apply(&Op::Start, "busy-1", t0 + 8 * SECOND, &mut ev)
            .expect("start");
        m.sample_into(0, t0 + 8 * SECOND + 100_000_000, &mut c);
        // A new run: a fresh cgroup, counters from the workload's base.
        assert!(c.cpu_total < a.cpu_total, "{} {}", c.cpu_total, a.cpu_total);
    }

    #[test]
    fn nth_running_skips_everything_else() {
        let mut m = model(Cgroup::V1, 4);
        let mut ev = Vec::new();
        m.apply(&Op::Pause, "idle-2", 0, &mut ev).expect("pause");
        let picks: Vec<Option<usize>> = (0..6).map(|n| m.nth_running(n)).collect();
        assert_eq!(
            picks,
            [Some(0), Some(2), Some(3), Some(0), Some(2), Some(3)]
        );
        for c in ["busy-1", "memhog-3", "writer-4"] {
            m.apply(&Op::Kill, c, 0, &mut ev).expect("kill");
        }
        assert_eq!(m.nth_running(7), None);
    }
}
