//! Samples from somewhere other than the daemon's stats stream.
//!
//! [`cgroup`]: a container's numbers read from the cgroup files the daemon itself reads, into
//! the same [`Sample`](crate::stats::Sample), so that the docker math and every output work
//! unchanged. The engine still learns the containers and their lifecycle from the API; only
//! the numbers come from here.

#![forbid(unsafe_code)]

pub mod cgroup;
