//! Talking to the sim outside the streams: ping, the container list, and the control
//! endpoint `/_sim/{counters,pause,resume}` that makes frame accounting exact.
//!
//! Uses dockstat's own blocking [`Client`]: these are a handful of requests per run, outside
//! every measurement window. Over TLS, the control connection is TLS too (the sim has one
//! listener per transport, each with its own counters).

use std::time::Duration;

use dockstat::engine::{ApiVersion, Client};

use crate::target::Target;

/// A snapshot of `GET /_sim/counters` (the fields the bench uses).
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    pub frames_sent: u64,
    pub frames_skipped: u64,
}

/// A control connection to the sim.
pub struct Control {
    client: Client,
}

impl Control {
    pub fn new(target: &Target) -> Result<Control, String> {
        let mut client = Client::new(target.endpoint()?).map_err(|e| e.to_string())?;
        // Listing 10,000 containers takes the sim a moment; nothing here should take longer.
        client.set_timeout(Some(Duration::from_secs(30)));
        Ok(Control { client })
    }

    /// Whether `/_ping` answers 200.
    pub fn ping(&mut self) -> bool {
        matches!(self.client.get("/_ping"), Ok(r) if r.code == 200)
    }

    /// The API version, negotiated with `/_ping` as the docker CLI does.
    pub fn api(&mut self) -> Result<ApiVersion, String> {
        self.client.api_version().map_err(|e| e.to_string())
    }

    /// The ids of the first `n` running containers, in the daemon's order.
    pub fn container_ids(&mut self, n: usize) -> Result<Vec<String>, String> {
        let mut r = self
            .client
            .get_api("/containers/json")
            .map_err(|e| format!("listing containers: {e}"))?;
        if r.code != 200 {
            return Err(format!("listing containers: HTTP {}", r.code));
        }
        let list =
            dockstat::api::ContainerSummary::parse_list(&mut r.body).map_err(|e| e.to_string())?;
        if list.len() < n {
            return Err(format!("the sim lists {} containers, not {n}", list.len()));
        }
        Ok(list.into_iter().take(n).map(|c| c.id).collect())
    }

    /// `GET /_sim/counters`; `None` if the sim has no control endpoint (404).
    pub fn counters(&mut self) -> Result<Option<Counters>, String> {
        let Some(v) = self.control("counters")? else {
            return Ok(None);
        };
        let field = |k: &str| {
            v.get(k)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| format!("/_sim/counters: no number {k:?} in {v}"))
        };
        Ok(Some(Counters {
            frames_sent: field("frames_sent")?,
            frames_skipped: field("frames_skipped")?,
        }))
    }

    /// Stops the sim's stats frames; `false` if the sim has no control endpoint.
    pub fn pause(&mut self) -> Result<bool, String> {
        Ok(self.control("pause")?.is_some())
    }

    /// Restarts the sim's stats frames; `false` if the sim has no control endpoint.
    pub fn resume(&mut self) -> Result<bool, String> {
        Ok(self.control("resume")?.is_some())
    }

    /// `GET /_sim/{what}` as JSON; `None` on 404.
    fn control(&mut self, what: &str) -> Result<Option<serde_json::Value>, String> {
        let path = format!("/_sim/{what}");
        let r = self.client.get(&path).map_err(|e| format!("{path}: {e}"))?;
        match r.code {
            404 => Ok(None),
            200 => serde_json::from_slice(&r.body)
                .map(Some)
                .map_err(|e| format!("{path}: {e}")),
            code => Err(format!("{path}: HTTP {code}: {}", r.error_message())),
        }
    }
}
