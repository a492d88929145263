//! Which daemons to talk to: `-H` (any number of times), `--hosts-file`, else `DOCKER_HOST`,
//! each with its TLS settings, as the docker CLI resolves them.
//!
//! A hosts file has one host per line, optionally followed by settings that apply to that
//! host only, on top of the command line's:
//!
//! ```text
//! # comment
//! unix:///var/run/docker.sock
//! tcp://10.0.0.5:2376  certpath=/home/me/.docker/machine/machines/web1
//! tcp://10.0.0.6:2376  tlsverify tlscacert=/etc/ca.pem tlscert=c.pem tlskey=k.pem
//! tcp://10.0.0.7:2375
//! ```
//!
//! `certpath=DIR` is a docker-machine directory (`ca.pem`, `cert.pem`, `key.pem`) and turns
//! verification on, like `DOCKER_CERT_PATH` with `DOCKER_TLS_VERIFY`; `tls`, `tlsverify`,
//! `tlsverify=false`, `tlscacert=`, `tlscert=` and `tlskey=` are the flags of the same names.
//! TLS settings are ignored for unix sockets, as docker ignores them.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use dockstat::engine::Endpoint;
use dockstat::tls::{DockerTlsFlags, TlsConnector, TlsOptions};
use dockstat::{Error, ErrorKind};

use crate::Failure;

/// The host options of the command line.
#[derive(Clone, Debug, Default)]
pub(crate) struct HostOpts {
    pub(crate) hosts: Vec<String>,
    pub(crate) file: Option<PathBuf>,
    pub(crate) tls: DockerTlsFlags,
}

impl HostOpts {
    /// Whether any host was named (by `-H` or a hosts file).
    pub(crate) fn given(&self) -> bool {
        !self.hosts.is_empty() || self.file.is_some()
    }
}

/// One host and the settings it is resolved with.
struct HostLine {
    url: String,
    tls: DockerTlsFlags,
    /// `certpath=`: the certificate directory for this host.
    cert_path: Option<PathBuf>,
}

/// The endpoints to use, in order, with TLS connectors loaded (once per distinct set of
/// files). `warn` receives one line per host that encrypts without verifying.
pub(crate) fn endpoints(
    opts: &HostOpts,
    warn: &mut dyn FnMut(String),
) -> Result<Vec<Endpoint>, Failure> {
    let mut lines: Vec<HostLine> = opts
        .hosts
        .iter()
        .map(|url| HostLine {
            url: url.clone(),
            tls: opts.tls.clone(),
            cert_path: None,
        })
        .collect();
    if let Some(file) = &opts.file {
        lines.extend(read_hosts_file(file, &opts.tls)?);
        if lines.is_empty() {
            return Err(Failure::Usage(format!("{} names no host", file.display())));
        }
    }
    if lines.is_empty() {
        let url = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| Endpoint::DEFAULT_HOST.to_string());
        lines.push(HostLine {
            url,
            tls: opts.tls.clone(),
            cert_path: None,
        });
    }
    let mut connectors: HashMap<TlsOptions, TlsConnector> = HashMap::new();
    let mut endpoints = Vec::with_capacity(lines.len());
    for line in lines {
        endpoints.push(endpoint(&line, &mut connectors, warn)?);
    }
    Ok(endpoints)
}

fn endpoint(
    line: &HostLine,
    connectors: &mut HashMap<TlsOptions, TlsConnector>,
    warn: &mut dyn FnMut(String),
) -> Result<Endpoint, Failure> {
    let url = line.url.trim();
    let https = url
        .split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("https"));
    let unix = url.starts_with('/')
        || url
            .split_once("://")
            .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("unix"));
    if unix {
        return Ok(Endpoint::parse(url)?);
    }
    let mut flags = line.tls.clone();
    if https && flags.tlsverify.is_none() {
        // https:// says TLS; verified unless --tlsverify=false says otherwise.
        flags.tlsverify = Some(true);
    }
    let cert_path = line.cert_path.clone();
    let env = move |name: &str| -> Option<OsString> {
        match (name, &cert_path) {
            ("DOCKER_CERT_PATH", Some(dir)) => Some(dir.clone().into_os_string()),
            ("DOCKER_TLS_VERIFY", Some(_)) => Some("1".into()),
            _ => std::env::var_os(name),
        }
    };
    let Some(options) = TlsOptions::docker_with(&flags, &env) else {
        return Ok(Endpoint::parse(url)?);
    };
    let connector = match connectors.get(&options) {
        Some(c) => c.clone(),
        None => {
            let c = TlsConnector::new(&options)?;
            connectors.insert(options.clone(), c.clone());
            c
        }
    };
    let endpoint = Endpoint::parse_tls(url, connector)?;
    if !options.verify {
        warn(format!(
            "warning: TLS to {} without verifying the server's certificate (--tls without \
             --tlsverify): the connection is encrypted, but not to a known party",
            endpoint.url()
        ));
    }
    Ok(endpoint)
}

fn read_hosts_file(path: &Path, global: &DockerTlsFlags) -> Result<Vec<HostLine>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::Engine(
            Error::io(ErrorKind::InvalidEndpoint, e)
                .context(format!("cannot read hosts file {}", path.display())),
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut lines = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let url = words.next().unwrap_or_default().to_string();
        let mut host = HostLine {
            url,
            tls: global.clone(),
            cert_path: None,
        };
        // Relative paths are relative to the hosts file.
        let file = |v: &str| dir.join(v);
        for word in words {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            };
            match (key, value) {
                ("tls", None) => host.tls.tls = true,
                ("tlsverify", None | Some("true" | "1")) => host.tls.tlsverify = Some(true),
                ("tlsverify", Some("false" | "0")) => host.tls.tlsverify = Some(false),
                ("tlscacert", Some(v)) => host.tls.cacert = Some(file(v)),
                ("tlscert", Some(v)) => host.tls.cert = Some(file(v)),
                ("tlskey", Some(v)) => host.tls.key = Some(file(v)),
                ("certpath", Some(v)) => host.cert_path = Some(file(v)),
                _ => {
                    return Err(Failure::Usage(format!(
                        "{} line {}: unknown setting {word:?} (tls, tlsverify[=false], \
                         tlscacert=, tlscert=, tlskey=, certpath=)",
                        path.display(),
                        n + 1
                    )));
                }
            }
        }
        lines.push(host);
    }
    Ok(lines)
}
