//! Docker Engine API versions and their negotiation.
//!
//! The daemon reports its API version in the `Api-Version` field of every response, `/_ping`
//! included. Like the docker CLI, dockstat uses the lower of that and the newest version it
//! knows ([`ApiVersion::MAX`]); a daemon that reports nothing is treated as
//! [`ApiVersion::FALLBACK`]. `DOCKER_API_VERSION` skips negotiation.

#![forbid(unsafe_code)]

use std::fmt;

use crate::error::{Error, ErrorKind, Result};

/// An Engine API version, `major.minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u16,
    pub minor: u16,
}

impl ApiVersion {
    /// The newest version dockstat asks for. The endpoints it uses have not changed shape in
    /// the versions between 1.24 and this one.
    pub const MAX: ApiVersion = ApiVersion {
        major: 1,
        minor: 51,
    };

    /// The version assumed for a daemon whose ping carries no `Api-Version` (the docker CLI's
    /// choice too).
    pub const FALLBACK: ApiVersion = ApiVersion {
        major: 1,
        minor: 24,
    };

    /// Parses `1.41` (an optional leading `v` is accepted).
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let (major, minor) = s.split_once('.')?;
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(major) || !digits(minor) {
            return None;
        }
        Some(ApiVersion {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }

    /// The version to use with a daemon that reports `server` (from `Api-Version`).
    pub fn negotiate(server: Option<&[u8]>) -> ApiVersion {
        server
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(ApiVersion::parse)
            .map_or(ApiVersion::FALLBACK, |v| v.min(ApiVersion::MAX))
    }

    /// `DOCKER_API_VERSION`, when set: an error if it is set but malformed.
    pub fn from_env() -> Result<Option<ApiVersion>> {
        match std::env::var("DOCKER_API_VERSION") {
            Ok(v) if !v.trim().is_empty() => ApiVersion::parse(&v).map(Some).ok_or_else(|| {
                Error::new(ErrorKind::InvalidEndpoint).context(format!(
                    "invalid DOCKER_API_VERSION {v:?}: expected a version like 1.41"
                ))
            }),
            _ => Ok(None),
        }
    }

    /// `path` under this version: `/v1.41/containers/json`.
    pub fn path(self, path: &str) -> String {
        format!("/v{}.{}{}", self.major, self.minor, path)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        let v = |s: &str| ApiVersion::parse(s).unwrap();
        assert_eq!(ApiVersion::negotiate(Some(b"1.41")), v("1.41"));
        assert_eq!(ApiVersion::negotiate(Some(b"1.99")), ApiVersion::MAX);
        assert_eq!(ApiVersion::negotiate(None), ApiVersion::FALLBACK);
        assert_eq!(
            ApiVersion::negotiate(Some(b"garbage")),
            ApiVersion::FALLBACK
        );
        assert!(v("1.9") < v("1.10"));
        assert_eq!(v("v1.41").path("/_ping"), "/v1.41/_ping");
        for bad in ["", "1", "1.", ".1", "1.x", "1.4 1", "-1.2"] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad:?}");
        }
    }
}
