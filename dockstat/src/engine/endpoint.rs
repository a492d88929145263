//! Where the daemon is: `-H/--host` and `DOCKER_HOST`, as the docker CLI reads them.
//!
//! Accepted forms:
//!
//! | form | meaning |
//! |---|---|
//! | `unix:///path/to/docker.sock` | a unix socket (`unix://` alone: the default socket) |
//! | `tcp://host:port`, `tcp://host` | plain TCP; port 2375 when omitted |
//! | `http://host:port` | the same as `tcp://` |
//! | `/path/to/docker.sock` | a unix socket (a convenience; the docker CLI wants `unix://`) |
//! | `host:port` | plain TCP, as the docker CLI reads a value without a scheme |
//! | `https://host:port` | TLS, only through `Endpoint::parse_tls` (plain [`Endpoint::parse`] says TLS settings are missing) |
//!
//! With TLS (feature `tls`), `Endpoint::parse_tls` takes `tcp://`, `https://` or
//! `host:port` with a `tls::TlsConnector` (see the `tls` module for the docker CLI's
//! `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH` rules); the port defaults to 2376 there.
//!
//! `ssh://`, `npipe://` and `fd://` are refused with an error that says so. Host names are
//! resolved once, when the endpoint is parsed (a blocking lookup, before any reactor runs);
//! every resolved address is tried in order when connecting.

#![forbid(unsafe_code)]

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};
#[cfg(feature = "tls")]
use crate::tls::TlsConnector;

/// The port of `tcp://host` without a port (plain TCP).
pub(crate) const DEFAULT_TCP_PORT: u16 = 2375;

/// The port of a TLS endpoint without a port, as the docker CLI has it.
#[cfg(feature = "tls")]
pub(crate) const DEFAULT_TLS_PORT: u16 = 2376;

/// A socket address to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    /// A unix domain socket.
    Unix(PathBuf),
    /// A TCP host: the name as given and the addresses it resolved to.
    Tcp {
        host: String,
        port: u16,
        addrs: Vec<SocketAddr>,
    },
}

/// A parsed Docker daemon endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    url: String,
    address: Address,
    host_header: String,
    /// TLS over the TCP connection, when set.
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<TlsConnector>>,
}

impl Endpoint {
    /// The docker CLI's default endpoint, used without `DOCKER_HOST`.
    pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

    /// The endpoint from `DOCKER_HOST`, or [`Endpoint::DEFAULT_HOST`] when it is unset or empty.
    pub fn from_env() -> Result<Endpoint> {
        match std::env::var("DOCKER_HOST") {
            Ok(v) if !v.trim().is_empty() => Endpoint::parse(&v),
            _ => Endpoint::parse(Endpoint::DEFAULT_HOST),
        }
    }

    /// A unix socket endpoint.
    pub fn unix(path: impl Into<PathBuf>) -> Endpoint {
        let path = path.into();
        Endpoint {
            url: format!("unix://{}", path.display()),
            address: Address::Unix(path),
            host_header: "docker".to_string(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Parses a `DOCKER_HOST`-style URL; see the [module docs](self). `https://` needs
    /// `Endpoint::parse_tls` (feature `tls`).
    pub fn parse(url: &str) -> Result<Endpoint> {
        Endpoint::parse_with_port(url, DEFAULT_TCP_PORT)
    }

    /// Parses a TCP URL (`tcp://`, `https://`, `host:port`) for TLS with `connector`; the port
    /// defaults to 2376. Unix sockets are refused: TLS is for TCP.
    #[cfg(feature = "tls")]
    pub fn parse_tls(url: &str, connector: TlsConnector) -> Result<Endpoint> {
        let trimmed = url.trim();
        let plain = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => format!("tcp://{rest}"),
            _ => trimmed.to_string(),
        };
        let mut endpoint = Endpoint::parse_with_port(&plain, DEFAULT_TLS_PORT)?;
        if let Address::Unix(_) = endpoint.address {
            return Err(Error::new(ErrorKind::InvalidEndpoint).context(format!(
                "invalid Docker host {url}: TLS applies to tcp:// hosts, not unix sockets"
            )));
        }
        endpoint.tls = Some(std::sync::Arc::new(connector));
        Ok(endpoint)
    }

    /// The TLS configuration of this endpoint, if it uses TLS.
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Option<&TlsConnector> {
        self.tls.as_deref()
    }

    fn parse_with_port(url: &str, default_port: u16) -> Result<Endpoint> {
        let url = url.trim();
        let invalid = |why: &str| {
            Error::new(ErrorKind::InvalidEndpoint)
                .context(format!("invalid Docker host {url}: {why}"))
        };
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None if url.starts_with('/') => ("unix".to_string(), url),
            None if !url.is_empty() => ("tcp".to_string(), url),
            None => {
                return Err(Error::new(ErrorKind::InvalidEndpoint)
                    .context("invalid Docker host: the URL is empty"));
            }
        };
        match scheme.as_str() {
            "unix" => {
                let path = if rest.is_empty() {
                    "/var/run/docker.sock"
                } else {
                    rest
                };
                Ok(Endpoint::unix(Path::new(path)))
            }
            "tcp" | "http" => {
                let authority = rest.strip_suffix('/').unwrap_or(rest);
                if authority.contains('/') || authority.contains('?') {
                    return Err(invalid("a path after the host is not supported"));
                }
                let (host, port) = split_host_port(authority, default_port)
                    .ok_or_else(|| invalid("bad host:port"))?;
                let host = if host.is_empty() { "localhost" } else { host };
                let addrs: Vec<SocketAddr> = (host, port)
                    .to_socket_addrs()
                    .map_err(|e| Error::io(ErrorKind::Connect, e).context(format!("cannot resolve {host}")))?
                    .collect();
                if addrs.is_empty() {
                    return Err(Error::new(ErrorKind::Connect).context(format!("{host} has no address")));
                }
                let authority = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                Ok(Endpoint {
                    url: format!("tcp://{authority}"),
                    host_header: authority,
                    address: Address::Tcp {
                        host: host.to_string(),
                        port,
                        addrs,
                    },
                    #[cfg(feature = "tls")]
                    tls: None,
                })
            }
            "https" => Err(Error::new(ErrorKind::InvalidEndpoint).context(format!(
                "invalid Docker host {url}: an https:// host needs TLS settings (--tlsverify, DOCKER_TLS_VERIFY)"
            ))),
            "ssh" => Err(Error::new(ErrorKind::UnsupportedScheme).context(format!(
                "{url}: ssh:// is not supported; forward the socket instead \
                 (ssh -NL /tmp/docker.sock:/var/run/docker.sock HOST) and use unix:///tmp/docker.sock"
            ))),
            "npipe" => Err(Error::new(ErrorKind::UnsupportedScheme)
                .context(format!("{url}: Windows named pipes are not supported"))),
            "fd" => Err(Error::new(ErrorKind::UnsupportedScheme)
                .context(format!("{url}: fd:// is a daemon-side listener, not a client endpoint"))),
            other => Err(Error::new(ErrorKind::UnsupportedScheme)
                .context(format!("{url}: unknown scheme {other}://"))),
        }
    }

    /// The normalised URL, for messages and output (`unix:///…`, `tcp://host:port`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where to connect.
    pub(crate) fn address(&self) -> &Address {
        &self.address
    }

    /// The `Host` field for requests: `docker` on unix sockets (as curl examples and the
    /// docker CLI use a placeholder there), `host:port` over TCP.
    pub fn host_header(&self) -> &str {
        &self.host_header
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

/// Splits `host[:port]`, `[v6]` or `[v6]:port`.
fn split_host_port(s: &str, default_port: u16) -> Option<(&str, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, default_port)),
            _ => Some((host, after.strip_prefix(':')?.parse().ok()?)),
        };
    }
    match s.rsplit_once(':') {
        // A bare IPv6 address without brackets is ambiguous; refuse it.
        Some((host, _)) if host.contains(':') => None,
        Some((host, port)) => Some((host, port.parse().ok()?)),
        None => Some((s, default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let e = Endpoint::parse("unix:///tmp/x.sock").unwrap();
        assert_eq!(e.address(), &Address::Unix("/tmp/x.sock".into()));
        assert_eq!(e.host_header(), "docker");
        assert_eq!(
            Endpoint::parse("unix://").unwrap().url(),
            Endpoint::DEFAULT_HOST
        );
        assert_eq!(
            Endpoint::parse("/run/d.sock").unwrap().url(),
            "unix:///run/d.sock"
        );

        let e = Endpoint::parse("tcp://127.0.0.1:2376").unwrap();
        assert_eq!(e.url(), "tcp://127.0.0.1:2376");
        assert_eq!(e.host_header(), "127.0.0.1:2376");
        match e.address() {
            Address::Tcp { addrs, port, .. } => {
                assert_eq!(*port, 2376);
                assert_eq!(addrs[0], "127.0.0.1:2376".parse().unwrap());
            }
            a => panic!("{a:?}"),
        }
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1").unwrap().url(),
            "tcp://127.0.0.1:2375"
        );
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:1/").unwrap().url(),
            "tcp://127.0.0.1:1"
        );
        assert_eq!(
            Endpoint::parse("127.0.0.1:9").unwrap().url(),
            "tcp://127.0.0.1:9"
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:7").unwrap().url(),
            "tcp://[::1]:7"
        );
    }

    #[test]
    fn refusals() {
        for (url, kind) in [
            ("ssh://me@host", ErrorKind::UnsupportedScheme),
            (
                "npipe:////./pipe/docker_engine",
                ErrorKind::UnsupportedScheme,
            ),
            ("fd://", ErrorKind::UnsupportedScheme),
            ("gopher://x", ErrorKind::UnsupportedScheme),
            ("tcp://host:port", ErrorKind::InvalidEndpoint),
            ("tcp://127.0.0.1:99999", ErrorKind::InvalidEndpoint),
            ("tcp://127.0.0.1:2375/base", ErrorKind::InvalidEndpoint),
            ("tcp://::1:5", ErrorKind::InvalidEndpoint),
            ("", ErrorKind::InvalidEndpoint),
        ] {
            let err = Endpoint::parse(url).unwrap_err();
            assert_eq!(err.kind(), kind, "{url}: {err}");
        }
        let msg = Endpoint::parse("ssh://me@host").unwrap_err().to_string();
        assert!(msg.contains("ssh:// is not supported"), "{msg}");
    }
}
