//! Where a phase's client connects: the sim's unix socket, its plain TCP listener
//! (`tcp://127.0.0.1:PORT`, as `dockerd -H tcp://…:2375`), or its TLS listener with the
//! certificates of a docker-style directory.
//!
//! Over TLS every client verifies the server against `ca.pem` and presents `cert.pem` and
//! `key.pem`, and the sim requires that certificate: `dockerd --tlsverify`, and the client
//! side of `DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=DIR`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dockstat::engine::Endpoint;
use dockstat::tls::{TlsConnector, TlsOptions};
use dockstat_sim::certs::{CA_CERT, CLIENT_CERT, CLIENT_KEY};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The sim's unix socket.
    Unix(PathBuf),
    /// The sim's TLS listener, `tcp://HOST:PORT`, and the certificate directory.
    Tls { url: String, certs: PathBuf },
    /// The sim's plain TCP listener, `tcp://HOST:PORT`.
    Tcp(String),
}

impl Target {
    pub fn is_tls(&self) -> bool {
        matches!(self, Target::Tls { .. })
    }

    /// The certificate directory's `ca.pem`, `cert.pem` and `key.pem`.
    pub fn tls_files(certs: &Path) -> (PathBuf, PathBuf, PathBuf) {
        (
            certs.join(CA_CERT),
            certs.join(CLIENT_CERT),
            certs.join(CLIENT_KEY),
        )
    }

    /// `HOST:PORT` of a TCP or TLS target's URL.
    pub fn tcp_addr(url: &str) -> &str {
        url.strip_prefix("tcp://").unwrap_or(url)
    }

    /// dockstat's endpoint for this target (for TLS: verify on, the directory's CA and client
    /// certificate, loaded here).
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        match self {
            Target::Unix(path) => Ok(Endpoint::unix(path)),
            Target::Tcp(url) => Endpoint::parse(url).map_err(|e| e.to_string()),
            Target::Tls { url, certs } => {
                let (ca, cert, key) = Target::tls_files(certs);
                let options = TlsOptions {
                    verify: true,
                    ca: Some(ca),
                    cert: Some(cert),
                    key: Some(key),
                    cert_path: Some(certs.clone()),
                };
                let connector = TlsConnector::new(&options).map_err(|e| e.to_string())?;
                Endpoint::parse_tls(url, connector).map_err(|e| e.to_string())
            }
        }
    }
}

/// A plain rustls client configuration for the TLS floor: the same provider (ring), CA and
/// client certificate as dockstat's, built without dockstat.
pub fn rustls_config(certs: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let (ca, cert, key) = Target::tls_files(certs);
    let read_certs = |path: &Path| {
        CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for c in read_certs(&ca)? {
        roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    let key = PrivateKeyDer::from_pem_file(&key).map_err(|e| format!("{}: {e}", key.display()))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_client_auth_cert(read_certs(&cert)?, key)
    .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}
