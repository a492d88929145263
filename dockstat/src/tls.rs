//! TLS for `tcp://` endpoints: the only file that names rustls.
//!
//! [`TlsConnector`] is built once per set of files ([`TlsOptions`]: the CA to trust, the
//! client certificate and key) and shared by every connection to the hosts that use it.
//! Loading checks everything a handshake would otherwise fail on late and obscurely: each
//! file is read and parsed here, and a problem is a [`TlsError::Config`] error naming the
//! file and what is wrong with it (unreadable, no PEM certificate, no private key, an
//! encrypted key, a certificate where the key should be, a key that does not match the
//! certificate). Keys may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC); the crypto provider is
//! ring, the one that builds quickly here without a C toolchain beyond what ring itself
//! needs (aws-lc-rs wants cmake and builds for minutes).
//!
//! `TlsStream` is a TLS session over a nonblocking mio `TcpStream`, driven by the reactor
//! like any transport, as in rustls' `tlsclient-mio` example. The reactor registers both
//! interests for a connection's life (edge-triggered), so a stream never changes interest;
//! instead its duties are:
//!
//! - every readiness event MUST call `TlsStream::flush` (records rustls could not write
//!   before, such as the rest of a handshake, go out as soon as the socket takes them);
//! - reads MUST continue until `WouldBlock`: a short read says nothing about what rustls has
//!   buffered or what is still in the socket, and an edge is not repeated;
//! - an end of input is clean only with the peer's close_notify; `TlsStream::unclean_eof`
//!   tells the reactor, which fails a response whose end was the connection's end (a
//!   truncation attacker could otherwise cut it short unnoticed).
//!
//! Handshake failures are classified into [`TlsError`] kinds with messages that name the host
//! and the files involved (the CA that does not know the server, the certificate the server
//! rejected), not TLS alert codes.

#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct,
    InconsistentKeys, RootCertStore, SignatureScheme,
};

use crate::error::{Error, ErrorKind, TlsError};

/// What to trust and what to present, as the docker CLI's `--tlsverify`, `--tlscacert`,
/// `--tlscert` and `--tlskey` say it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// Verify the server's certificate and name. `false` encrypts without knowing who is at
    /// the other end (the docker CLI's `--tls` without `--tlsverify`).
    pub verify: bool,
    /// PEM file of the CAs to trust; `None`: the webpki roots (Mozilla's).
    pub ca: Option<PathBuf>,
    /// PEM file of the client certificate (chain), presented when the server asks.
    pub cert: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key: Option<PathBuf>,
    /// Where the default files would have been, for messages (`DOCKER_CERT_PATH`).
    pub cert_path: Option<PathBuf>,
}

/// The docker CLI's TLS flags: `--tls`, `--tlsverify[=BOOL]`, `--tlscacert`, `--tlscert`,
/// `--tlskey`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerTlsFlags {
    pub tls: bool,
    /// `Some` when `--tlsverify` was given (with its value).
    pub tlsverify: Option<bool>,
    pub cacert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsOptions {
    /// What the docker CLI uses for these flags and the environment (`DOCKER_TLS`,
    /// `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`, default `~/.docker`); `None` when TLS is off.
    ///
    /// As with docker: `--tlsverify` or a non-empty `DOCKER_TLS_VERIFY` verifies the server;
    /// giving `--tlsverify` at all (even `=false`) or `--tls` turns TLS on; the CA, certificate
    /// and key default to `ca.pem`, `cert.pem` and `key.pem` in the certificate directory and
    /// are used when they exist. Without a CA file the server is verified against the public
    /// roots.
    pub fn docker(flags: &DockerTlsFlags) -> Option<TlsOptions> {
        TlsOptions::docker_with(flags, &|name| std::env::var_os(name))
    }

    /// [`TlsOptions::docker`] with the environment given (for tests).
    pub fn docker_with(
        flags: &DockerTlsFlags,
        env: &dyn Fn(&str) -> Option<std::ffi::OsString>,
    ) -> Option<TlsOptions> {
        let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
        let verify = flags.tlsverify.unwrap_or_else(|| set("DOCKER_TLS_VERIFY"));
        if !(flags.tls || flags.tlsverify.is_some() || verify || set("DOCKER_TLS")) {
            return None;
        }
        let dir = env("DOCKER_CERT_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".docker")));
        let default = |name: &str| dir.as_ref().map(|d| d.join(name)).filter(|p| p.exists());
        // A directory named by DOCKER_CERT_PATH (or a hosts file's certpath=) must hold its
        // ca.pem, as docker requires: a mistyped one is an error naming the file when the
        // files are loaded, not a silent fallback to the public roots. Without verification,
        // a named directory that does not exist at all is the same error (on cert.pem).
        let named = env("DOCKER_CERT_PATH")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let required = |name: &str| named.as_ref().map(|d| d.join(name)).filter(|p| !p.exists());
        let missing_dir = named.as_ref().is_some_and(|d| !d.exists());
        let client = |flag: &Option<PathBuf>, name: &str| {
            flag.clone().or_else(|| default(name)).or_else(|| {
                if missing_dir && flags.cert.is_none() && flags.key.is_none() {
                    required(name)
                } else {
                    None
                }
            })
        };
        Some(TlsOptions {
            verify,
            ca: if verify {
                (flags.cacert.clone())
                    .or_else(|| default("ca.pem"))
                    .or_else(|| required("ca.pem"))
            } else {
                None
            },
            cert: client(&flags.cert, "cert.pem"),
            key: client(&flags.key, "key.pem"),
            cert_path: dir,
        })
    }
}

/// A loaded TLS client configuration, shared by every connection that uses it.
#[derive(Clone)]
pub struct TlsConnector {
    config: Arc<ClientConfig>,
    verify: bool,
    /// What the server is verified against, for messages.
    trust: String,
    /// The client certificate presented, if any.
    client_cert: Option<PathBuf>,
    cert_path: Option<PathBuf>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConnector")
            .field("verify", &self.verify)
            .field("trust", &self.trust)
            .field("client_cert", &self.client_cert)
            .finish()
    }
}

/// Two connectors are equal when they are the same loaded configuration.
impl PartialEq for TlsConnector {
    fn eq(&self, other: &TlsConnector) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for TlsConnector {}

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::Tls(TlsError::Config)).context(message)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsConnector {
    /// Loads the files of `options` and builds the client configuration.
    pub fn new(options: &TlsOptions) -> Result<TlsConnector, Error> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(format!("TLS protocol versions: {e}")))?;
        let (builder, trust) = if options.verify {
            let mut roots = RootCertStore::empty();
            let trust = match &options.ca {
                Some(path) => {
                    for (i, cert) in read_certs(path, "CA file")?.into_iter().enumerate() {
                        roots.add(cert).map_err(|e| {
                            config_error(format!(
                                "CA file {}: certificate {} cannot be used as a CA: {e}",
                                path.display(),
                                i + 1
                            ))
                        })?;
                    }
                    format!("the CA file {}", path.display())
                }
                None => {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                    "the public CA roots (no CA file given)".to_string()
                }
            };
            (builder.with_root_certificates(roots), trust)
        } else {
            let verifier = NoVerification(provider.signature_verification_algorithms);
            let builder = builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier));
            (builder, "nothing (--tls without --tlsverify)".to_string())
        };
        let config = match (&options.cert, &options.key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), None) => {
                return Err(config_error(format!(
                    "client certificate {} given without its key (--tlskey, or key.pem beside it)",
                    cert.display()
                )));
            }
            (None, Some(key)) => {
                return Err(config_error(format!(
                    "client key {} given without its certificate (--tlscert, or cert.pem beside it)",
                    key.display()
                )));
            }
            (Some(cert_file), Some(key_file)) => {
                let certs = read_certs(cert_file, "client certificate")?;
                let key = read_key(key_file)?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| key_error(e, cert_file, key_file))?
            }
        };
        Ok(TlsConnector {
            config: Arc::new(config),
            verify: options.verify,
            trust,
            client_cert: options.cert.clone(),
            cert_path: options.cert_path.clone(),
        })
    }

    /// Whether the server's certificate is verified.
    pub fn verifies(&self) -> bool {
        self.verify
    }

    /// Whether a client certificate is presented when the server asks.
    pub fn has_client_cert(&self) -> bool {
        self.client_cert.is_some()
    }
}

/// Reads every certificate of a PEM file.
fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = std::fs::read(path).map_err(|e| read_error(&e, what, path))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(format!("{what} {}: {}", path.display(), pem_error(&e))))?;
    if certs.is_empty() {
        let hint = if looks_like_key(&bytes) {
            " (it holds a private key: were the certificate and key swapped?)"
        } else {
            " (expected a PEM block -----BEGIN CERTIFICATE-----)"
        };
        return Err(config_error(format!(
            "{what} {} holds no certificate{hint}",
            path.display()
        )));
    }
    Ok(certs)
}

/// A file that cannot be read; a missing one in docker's words (`open /x/ca.pem: no such
/// file or directory`).
fn read_error(e: &std::io::Error, what: &str, path: &Path) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        let path = path.display();
        config_error(format!(
            "open {path}: no such file or directory (the {what})"
        ))
    } else {
        config_error(format!("cannot read {what} {}: {e}", path.display()))
    }
}

fn looks_like_key(pem: &[u8]) -> bool {
    memchr::memmem::find(pem, b"PRIVATE KEY-----").is_some()
}

/// Reads the private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let bytes = std::fs::read(path).map_err(|e| read_error(&e, "client key", path))?;
    let shown = path.display();
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let why = if memchr::memmem::find(&bytes, b"ENCRYPTED PRIVATE KEY").is_some() {
                "is encrypted with a passphrase; decrypt it first \
                 (openssl pkey -in KEY -out KEY.plain)"
                    .to_string()
            } else if memchr::memmem::find(&bytes, b"BEGIN CERTIFICATE").is_some() {
                "holds a certificate, not a private key (were the certificate and key swapped?)"
                    .to_string()
            } else if memchr::memmem::find(&bytes, b"-----BEGIN").is_some() {
                "holds no private key in a form dockstat reads (PEM blocks PRIVATE KEY, \
                 RSA PRIVATE KEY or EC PRIVATE KEY)"
                    .to_string()
            } else {
                "is not PEM (expected -----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or \
                 EC PRIVATE KEY; a DER key converts with openssl pkey -inform DER)"
                    .to_string()
            };
            Err(config_error(format!("client key {shown} {why}")))
        }
        Err(e) => Err(config_error(format!(
            "client key {shown}: {}",
            pem_error(&e)
        ))),
    }
}

fn pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a PEM block is not closed (no {})",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => {
            format!("malformed PEM line {:?}", String::from_utf8_lossy(line))
        }
        pem::Error::Base64Decode(why) => format!("bad base64 in a PEM block: {why}"),
        other => format!("malformed PEM: {other:?}"),
    }
}

/// A failure to use a certificate and key together.
fn key_error(e: rustls::Error, cert: &Path, key: &Path) -> Error {
    let (cert, key) = (cert.display(), key.display());
    config_error(match e {
        rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
            format!("client key {key} does not belong to the certificate {cert}")
        }
        rustls::Error::InconsistentKeys(InconsistentKeys::Unknown) => {
            format!("cannot tell whether client key {key} belongs to the certificate {cert}")
        }
        other => format!("client key {key} cannot be used (with {cert}): {other}"),
    })
}

/// The `--tls`-without-verify verifier: accepts any certificate, still checks that the
/// handshake is signed by the key in it (so the session is at least with one party).
#[derive(Debug)]
struct NoVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// Carries a classified TLS failure through `io::Error` to the reactor ([`from_io`]).
#[derive(Debug)]
struct Failure(Error);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Failure {}

/// The classified TLS error inside an `io::Error` from a [`TlsStream`], if it is one.
pub(crate) fn from_io(e: &io::Error) -> Option<Error> {
    e.get_ref()?.downcast_ref::<Failure>().map(|f| f.0.clone())
}

/// A TLS client session over a nonblocking TCP stream. See the [module docs](self) for what
/// the reactor must do with it.
pub(crate) struct TlsStream {
    tcp: TcpStream,
    tls: ClientConnection,
    connector: TlsConnector,
    host: String,
    unclean_eof: bool,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("host", &self.host)
            .field("handshaking", &self.tls.is_handshaking())
            .finish()
    }
}

impl TlsStream {
    /// Starts a session to `host` (a DNS name or an IP address, checked against the server's
    /// certificate) over a TCP stream that may still be connecting.
    pub(crate) fn new(tcp: TcpStream, connector: &TlsConnector, host: &str) -> io::Result<Self> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host} is not a valid TLS server name"),
            )
        })?;
        let tls = ClientConnection::new(Arc::clone(&connector.config), name)
            .map_err(|e| io::Error::other(Failure(handshake_error(e, connector, host))))?;
        Ok(TlsStream {
            tcp,
            tls,
            connector: connector.clone(),
            host: host.to_string(),
            unclean_eof: false,
        })
    }

    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// Writes what rustls has to send until the socket would block.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The input ended without the peer's close_notify.
    pub(crate) fn unclean_eof(&self) -> bool {
        self.unclean_eof
    }

    /// Classifies a rustls error and sends the alert rustls queued for it (best effort).
    fn fail(&mut self, e: rustls::Error) -> io::Error {
        let _ = self.flush();
        io::Error::other(Failure(handshake_error(e, &self.connector, &self.host)))
    }
}

impl Read for TlsStream {
    /// Plaintext, reading and decrypting records as needed; `WouldBlock` once the socket is
    /// empty and no plaintext is left; `Ok(0)` at the end of input (see
    /// [`TlsStream::unclean_eof`]).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.unclean_eof = true;
                    return Ok(0);
                }
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.tcp) {
                // The end of the TCP stream: the reader says next whether it was clean.
                Ok(0) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        return Err(self.fail(e));
                    }
                    return match self.tls.reader().read(buf) {
                        Ok(n) => Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            // rustls has not recorded the end (it cannot happen mid-read);
                            // treat it as unclean.
                            self.unclean_eof = true;
                            Ok(0)
                        }
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                            self.unclean_eof = true;
                            Ok(0)
                        }
                        Err(e) => Err(e),
                    };
                }
                Ok(_) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        return Err(self.fail(e));
                    }
                    // Handshake messages and key updates answer at once.
                    self.flush()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.flush()?;
                    return Err(e);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    /// Hands plaintext to rustls (which holds it until the handshake is done) and writes what
    /// the socket takes; `WouldBlock` only when rustls' own buffer is full.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tls.writer().write(buf)?;
        self.flush()?;
        if n == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        TlsStream::flush(self)
    }
}

/// A TLS client session over a blocking std `TcpStream` (the push sender's). Reads and
/// writes block for as long as the socket's timeouts allow; failures carry the classified
/// TLS error ([`from_io`]).
#[cfg(feature = "push")]
pub(crate) struct BlockingTls {
    tcp: std::net::TcpStream,
    tls: ClientConnection,
    connector: TlsConnector,
    host: String,
}

#[cfg(feature = "push")]
impl fmt::Debug for BlockingTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingTls")
            .field("host", &self.host)
            .finish()
    }
}

#[cfg(feature = "push")]
impl BlockingTls {
    /// Starts a session to `host` over `tcp` and completes the handshake.
    pub(crate) fn connect(
        tcp: std::net::TcpStream,
        connector: &TlsConnector,
        host: &str,
    ) -> io::Result<BlockingTls> {
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host} is not a valid TLS server name"),
            )
        })?;
        let tls = ClientConnection::new(Arc::clone(&connector.config), name)
            .map_err(|e| io::Error::other(Failure(handshake_error(e, connector, host))))?;
        let mut stream = BlockingTls {
            tcp,
            tls,
            connector: connector.clone(),
            host: host.to_string(),
        };
        while stream.tls.is_handshaking() {
            stream
                .tls
                .complete_io(&mut stream.tcp)
                .map_err(|e| stream.classify(e))?;
        }
        // TLS 1.3: a server that refuses the client's certificate (or its absence) says so
        // in an alert after the client's side of the handshake is done, and a request
        // written meanwhile makes it reset the connection, which loses the alert. Listen
        // briefly for it, so that the failure is named rather than "connection closed".
        if stream.tls.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3) {
            let timeout = stream.tcp.read_timeout().ok().flatten();
            let _ = (stream.tcp).set_read_timeout(Some(std::time::Duration::from_millis(100)));
            // Session tickets may come first; a few records at most.
            for _ in 0..4 {
                match stream.tls.read_tls(&mut stream.tcp) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if let Err(e) = stream.tls.process_new_packets() {
                            let failure = handshake_error(e, &stream.connector, &stream.host);
                            return Err(io::Error::other(Failure(failure)));
                        }
                    }
                }
            }
            let _ = stream.tcp.set_read_timeout(timeout);
        }
        Ok(stream)
    }

    pub(crate) fn tcp(&self) -> &std::net::TcpStream {
        &self.tcp
    }

    /// A rustls error inside `e` as the classified TLS error.
    fn classify(&self, e: io::Error) -> io::Error {
        let tls = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned();
        match tls {
            Some(tls) => {
                io::Error::other(Failure(handshake_error(tls, &self.connector, &self.host)))
            }
            None => e,
        }
    }
}

#[cfg(feature = "push")]
impl Read for BlockingTls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = rustls::Stream::new(&mut self.tls, &mut self.tcp).read(buf);
        match result {
            // The end without close_notify: the caller's framing decides whether it cut the
            // response short.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Err(e) => Err(self.classify(e)),
            Ok(n) => Ok(n),
        }
    }
}

#[cfg(feature = "push")]
impl Write for BlockingTls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = rustls::Stream::new(&mut self.tls, &mut self.tcp).write(buf);
        result.map_err(|e| self.classify(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = rustls::Stream::new(&mut self.tls, &mut self.tcp).flush();
        result.map_err(|e| self.classify(e))
    }
}

/// A rustls error, in the words of what the user can do about it.
fn handshake_error(e: rustls::Error, connector: &TlsConnector, host: &str) -> Error {
    use TlsError::*;
    let trust = &connector.trust;
    let (kind, message) = match &e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => (
                UnknownIssuer,
                format!("the certificate of {host} is not signed by {trust}"),
            ),
            // webpki finds issuers by name: a different CA of the same name (two throwaway
            // PKIs, two docker-machine CAs) ends here, not in UnknownIssuer.
            CertificateError::BadSignature => (
                UnknownIssuer,
                format!(
                    "the certificate of {host} is not signed by {trust}: its signature does \
                     not verify (a different CA of the same name, or a damaged certificate)"
                ),
            ),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                let when = match cert {
                    CertificateError::ExpiredContext { not_after, .. } => {
                        format!(" on {}", date(not_after.as_secs()))
                    }
                    _ => String::new(),
                };
                (Expired, format!("the certificate of {host} expired{when}"))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                let when = match cert {
                    CertificateError::NotValidYetContext { not_before, .. } => {
                        format!(" until {}", date(not_before.as_secs()))
                    }
                    _ => String::new(),
                };
                (
                    NotYetValid,
                    format!("the certificate of {host} is not valid{when}"),
                )
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                let names = match cert {
                    CertificateError::NotValidForNameContext { presented, .. } => {
                        let names: Vec<&str> = presented.iter().map(|n| san(n)).collect();
                        format!(" (it is for {})", names.join(", "))
                    }
                    _ => String::new(),
                };
                (
                    WrongHost,
                    format!("the certificate of {host} is not valid for the name {host}{names}"),
                )
            }
            other => (
                BadServerCertificate,
                format!("the certificate of {host} is not acceptable: {other:?}"),
            ),
        },
        rustls::Error::AlertReceived(alert) => {
            let alert = *alert;
            let about_our_cert = matches!(
                alert,
                AlertDescription::CertificateRequired
                    | AlertDescription::BadCertificate
                    | AlertDescription::UnknownCA
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::UnsupportedCertificate
                    | AlertDescription::CertificateExpired
                    | AlertDescription::CertificateRevoked
                    | AlertDescription::AccessDenied
            );
            match &connector.client_cert {
                None if about_our_cert || alert == AlertDescription::HandshakeFailure => {
                    let looked = match &connector.cert_path {
                        Some(dir) => format!(
                            "no cert.pem and key.pem in {}; give them with --tlscert and --tlskey",
                            dir.display()
                        ),
                        None => "give one with --tlscert and --tlskey".to_string(),
                    };
                    (
                        ClientCertRequired,
                        format!("{host} requires a client certificate and none is set ({looked})"),
                    )
                }
                Some(cert) if about_our_cert => (
                    ClientCertRejected,
                    format!(
                        "{host} rejected the client certificate {} ({})",
                        cert.display(),
                        alert_words(alert)
                    ),
                ),
                _ => (
                    Handshake,
                    format!("{host} ended the TLS session: {}", alert_words(alert)),
                ),
            }
        }
        rustls::Error::NoCertificatesPresented => (
            BadServerCertificate,
            format!("{host} presented no certificate"),
        ),
        rustls::Error::PeerIncompatible(why) => (
            Handshake,
            format!("{host} and dockstat share no TLS version or cipher suite ({why:?})"),
        ),
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. }
        | rustls::Error::DecryptError => (
            Protocol,
            format!("{host} sent invalid TLS data (is it a TLS port?): {e}"),
        ),
        other => (Handshake, format!("TLS with {host} failed: {other}")),
    };
    Error::new(ErrorKind::Tls(kind)).context(message)
}

/// A subject alternative name as webpki presents it (`DnsName("a.b")`, `IpAddress(1.2.3.4)`),
/// as the name alone.
fn san(presented: &str) -> &str {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(presented)
}

fn alert_words(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::CertificateRequired => "it requires a certificate".to_string(),
        AlertDescription::UnknownCA => "signed by a CA it does not trust".to_string(),
        AlertDescription::BadCertificate => "a bad certificate".to_string(),
        AlertDescription::CertificateExpired => "the certificate expired".to_string(),
        AlertDescription::CertificateRevoked => "the certificate is revoked".to_string(),
        AlertDescription::HandshakeFailure => "handshake failure".to_string(),
        AlertDescription::ProtocolVersion => "no common TLS version".to_string(),
        other => format!("alert {other:?}"),
    }
}

/// `YYYY-MM-DD` (UTC) for seconds since the epoch.
fn date(secs: u64) -> String {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let ((y, m, d), _) = crate::stats::Timestamp { secs, nanos: 0 }.civil();
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_semantics() {
        let dir = std::env::temp_dir().join(format!("dockstat-tls-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let env = |vars: &'static [(&'static str, &'static str)], dir: PathBuf| {
            move |name: &str| -> Option<std::ffi::OsString> {
                if name == "DOCKER_CERT_PATH" {
                    return Some(dir.clone().into_os_string());
                }
                vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.into())
            }
        };
        let off = DockerTlsFlags::default();
        // Nothing asked: no TLS.
        assert_eq!(TlsOptions::docker_with(&off, &env(&[], dir.clone())), None);
        // DOCKER_TLS_VERIFY: verify, with the directory's files.
        let o = TlsOptions::docker_with(&off, &env(&[("DOCKER_TLS_VERIFY", "1")], dir.clone()))
            .unwrap();
        assert!(o.verify);
        assert_eq!(o.ca, Some(dir.join("ca.pem")));
        assert_eq!(o.cert, Some(dir.join("cert.pem")));
        // An empty DOCKER_TLS_VERIFY is unset, as in docker.
        assert_eq!(
            TlsOptions::docker_with(&off, &env(&[("DOCKER_TLS_VERIFY", "")], dir.clone())),
            None
        );
        // --tls: encrypted, not verified, no CA; client files still presented.
        let tls = DockerTlsFlags {
            tls: true,
            ..DockerTlsFlags::default()
        };
        let o = TlsOptions::docker_with(&tls, &env(&[], dir.clone())).unwrap();
        assert!(!o.verify);
        assert_eq!(o.ca, None);
        assert_eq!(o.key, Some(dir.join("key.pem")));
        // --tlsverify=false beats DOCKER_TLS_VERIFY but keeps TLS on.
        let no = DockerTlsFlags {
            tlsverify: Some(false),
            ..DockerTlsFlags::default()
        };
        let o =
            TlsOptions::docker_with(&no, &env(&[("DOCKER_TLS_VERIFY", "1")], dir.clone())).unwrap();
        assert!(!o.verify);
        // Explicit files win; missing defaults are left out.
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let explicit = DockerTlsFlags {
            tlsverify: Some(true),
            cacert: Some("/x/ca.pem".into()),
            ..DockerTlsFlags::default()
        };
        let o = TlsOptions::docker_with(&explicit, &env(&[], empty.clone())).unwrap();
        assert_eq!(o.ca, Some(PathBuf::from("/x/ca.pem")));
        assert_eq!((o.cert, o.key), (None, None));
        // A named directory without ca.pem is an error naming the file (when loaded), not
        // the public roots; missing client files in an existing directory are left out.
        let verify = env(&[("DOCKER_TLS_VERIFY", "1")], empty.clone());
        let o = TlsOptions::docker_with(&off, &verify).unwrap();
        assert_eq!(o.ca, Some(empty.join("ca.pem")));
        assert_eq!((&o.cert, &o.key), (&None, &None));
        let e = TlsConnector::new(&o).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tls(TlsError::Config));
        let open = format!(
            "open {}: no such file or directory",
            empty.join("ca.pem").display()
        );
        assert!(e.to_string().contains(&open), "{e}");
        // A named directory that does not exist: without verification, its cert.pem.
        let gone = dir.join("gone");
        let o = TlsOptions::docker_with(&tls, &env(&[], gone.clone())).unwrap();
        assert_eq!(o.cert, Some(gone.join("cert.pem")));
        let e = TlsConnector::new(&o).unwrap_err();
        let open = format!(
            "open {}: no such file or directory",
            gone.join("cert.pem").display()
        );
        assert!(e.to_string().contains(&open), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn presented_names_without_webpki_wrappers() {
        assert_eq!(san("DnsName(\"other.invalid\")"), "other.invalid");
        assert_eq!(san("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(san("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_795_416_926), "2026-11-23");
    }

    #[test]
    fn file_errors_name_the_file_and_the_problem() {
        let dir = std::env::temp_dir().join(format!("dockstat-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let missing = dir.join("nope.pem");
        let not_pem = write("garbage.pem", "hello");
        let key_as_cert = write(
            "key-as-cert.pem",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        );
        let encrypted = write(
            "enc.pem",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
        );
        let cases = [
            (
                TlsOptions {
                    verify: true,
                    ca: Some(missing.clone()),
                    ..TlsOptions::default()
                },
                "no such file or directory (the CA file)",
            ),
            (
                TlsOptions {
                    verify: true,
                    ca: Some(not_pem.clone()),
                    ..TlsOptions::default()
                },
                "holds no certificate",
            ),
            (
                TlsOptions {
                    verify: true,
                    ca: Some(key_as_cert.clone()),
                    ..TlsOptions::default()
                },
                "swapped",
            ),
            (
                TlsOptions {
                    cert: Some(not_pem.clone()),
                    ..TlsOptions::default()
                },
                "without its key",
            ),
            (
                TlsOptions {
                    cert: Some(key_as_cert.clone()),
                    key: Some(encrypted.clone()),
                    ..TlsOptions::default()
                },
                "holds no certificate",
            ),
        ];
        for (options, expect) in cases {
            let err = TlsConnector::new(&options).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Tls(TlsError::Config));
            assert!(err.to_string().contains(expect), "{err}");
        }
        let err = read_key(&encrypted).unwrap_err().to_string();
        assert!(
            err.contains("encrypted with a passphrase") && err.contains("enc.pem"),
            "{err}"
        );
        let err = read_key(&not_pem).unwrap_err().to_string();
        assert!(err.contains("is not PEM"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
