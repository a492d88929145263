//! What `dockstat stats` asks a daemon before it shows anything, as `docker stats` does.

#![forbid(unsafe_code)]

use dockstat::api::ContainerSummary;
use dockstat::engine::{ApiVersion, Client, EngineConfig, Selection};
use dockstat::{Error, ErrorKind};

/// The daemon's error for the first named container that does not exist (one inspect per
/// name, as `docker stats NAME...` checks them before it shows anything). Any other failure
/// is left to the engine, which reports it as it streams.
pub(super) fn missing_named(config: &EngineConfig, names: &[String]) -> Option<Error> {
    let mut client = Client::new(config.hosts.first()?.clone()).ok()?;
    client.set_timeout(Some(config.connect_timeout));
    client.set_api_version(config.api_version);
    for name in names {
        let target = format!("/containers/{}/json", path_segment(name));
        let response = client.get_api(&target).ok()?;
        if response.code == 404 {
            return Some(response.status_error(client.endpoint().url(), &target));
        }
    }
    None
}

/// `s` as one segment of a URL path: bytes beyond the unreserved set percent-encoded.
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What `docker stats` asks first: the daemon's API version (`/_ping`) and, unless the
/// containers are named, the container list (one entry is enough to see that the daemon
/// answers as Docker does). Its failure is the command's. The version found is kept for the
/// engine, which then does not negotiate again.
pub(super) fn preflight(config: &mut EngineConfig) -> Result<(), Error> {
    let mut client = Client::new(config.hosts[0].clone())?;
    client.set_timeout(Some(config.connect_timeout));
    let failed = |code: u16, message: String| Error::new(ErrorKind::Status(code)).context(message);
    let ping = client.get("/_ping")?;
    if ping.code >= 400 {
        return Err(failed(ping.code, ping.error_message()));
    }
    let api = match config.api_version {
        Some(api) => api,
        None => ApiVersion::negotiate(ping.header("api-version")),
    };
    if !matches!(config.selection, Selection::Named(_)) {
        let mut list = client.get(&api.path("/containers/json?limit=1"))?;
        if list.code >= 400 {
            return Err(failed(list.code, list.error_message()));
        }
        ContainerSummary::parse_list(&mut list.body).map_err(|e| e.context("container list"))?;
    }
    config.api_version = Some(api);
    Ok(())
}
