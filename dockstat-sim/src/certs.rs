//! Throwaway certificates for the sim's TLS listener and its tests, written as PEM files into
//! one directory, docker-machine style:
//!
//! | file | what |
//! |------|------|
//! | `ca.pem`, `ca-key.pem` | a self-signed CA |
//! | `server-cert.pem`, `server-key.pem` | the server: SANs `127.0.0.1`, `::1`, `localhost` (and [`PkiOptions::extra_names`]), serverAuth |
//! | `cert.pem`, `key.pem` | the client: CN `client`, clientAuth |
//!
//! so that `DOCKER_CERT_PATH=DIR DOCKER_TLS_VERIFY=1` works for a docker client. With
//! [`PkiOptions::variants`], also the certificates that negative tests need (see [`Variants`]).
//! Keys are ECDSA P-256 in PKCS#8 (`BEGIN PRIVATE KEY`), written with mode 0600.
//!
//! [`Pki::issue_client_cert`] signs a client certificate for a key made elsewhere (PKCS#8,
//! PKCS#1 `BEGIN RSA PRIVATE KEY` or SEC1 `BEGIN EC PRIVATE KEY`), so that a client can be
//! tested with each key form.
//!
//! None of this is for real use: the CA key sits next to the certificates, unencrypted.

use std::fs;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;

use super::SimTls;

/// File names of the basic set.
pub const CA_CERT: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
pub const SERVER_CERT: &str = "server-cert.pem";
pub const SERVER_KEY: &str = "server-key.pem";
pub const CLIENT_CERT: &str = "cert.pem";
pub const CLIENT_KEY: &str = "key.pem";

/// The only DNS name of the [`Variants::wrong_host_server`] certificate.
pub const WRONG_HOST: &str = "other.invalid";

/// Subject common names. [`Pki::issue_client_cert`] rebuilds the CA's subject from
/// [`CA_NAME`] to sign with a CA read back from disk.
const CA_NAME: &str = "dockstat sim CA";
const OTHER_CA_NAME: &str = "dockstat sim other CA";
const ORGANIZATION: &str = "dockstat sim (throwaway)";

const DAY: Duration = Duration::from_secs(86_400);
/// Validity of the good certificates: from a day ago (clock skew) to three years on.
const VALID_BEFORE: Duration = DAY;
const VALID_FOR: Duration = Duration::from_secs(3 * 365 * 86_400);

/// What to generate beyond the basic set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PkiOptions {
    /// More subject alternative names for the server certificate, besides `127.0.0.1`, `::1`
    /// and `localhost`: DNS names, or IP addresses in text form.
    pub extra_names: Vec<String>,
    /// Also write the certificates of [`Variants`].
    pub variants: bool,
}

/// A certificate (PEM, the leaf first) and its private key (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertKey {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The files of a PKI in one directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pki {
    pub dir: PathBuf,
    /// `ca.pem` and `ca-key.pem`: the CA that signs the server and client certificates.
    pub ca: CertKey,
    /// `server-cert.pem` and `server-key.pem`.
    pub server: CertKey,
    /// `cert.pem` and `key.pem`.
    pub client: CertKey,
    /// Present if generated with [`PkiOptions::variants`].
    pub variants: Option<Variants>,
}

/// Certificates a client or the server must reject, for negative tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variants {
    /// `server-expired-cert.pem`, `server-expired-key.pem`: signed by the CA with the usual
    /// names, but expired yesterday (valid from 30 days ago to 1 day ago).
    pub expired_server: CertKey,
    /// `server-wronghost-cert.pem`, `server-wronghost-key.pem`: signed by the CA, valid only
    /// for the DNS name [`WRONG_HOST`] (no IP addresses).
    pub wrong_host_server: CertKey,
    /// `other-ca.pem`, `other-ca-key.pem`: a second CA, unrelated to `ca.pem`.
    pub other_ca: CertKey,
    /// `other-server-cert.pem`, `other-server-key.pem`: a server certificate with the usual
    /// names, signed by the other CA.
    pub other_server: CertKey,
    /// `other-cert.pem`, `other-key.pem`: a client certificate signed by the other CA.
    pub other_client: CertKey,
}

impl Pki {
    /// The docker-style file names in `dir` (no I/O; `variants` is `None`).
    pub fn at(dir: &Path) -> Pki {
        Pki {
            dir: dir.to_path_buf(),
            ca: pair(dir, CA_CERT, CA_KEY),
            server: pair(dir, SERVER_CERT, SERVER_KEY),
            client: pair(dir, CLIENT_CERT, CLIENT_KEY),
            variants: None,
        }
    }

    /// The PKI already in `dir`: `Some` if all six files of the basic set are there, `None` if
    /// none is (or `dir` does not exist).
    ///
    /// # Errors
    /// `InvalidInput` naming the missing files if only some are there: a directory with
    /// someone's `ca.pem` is not one to write a fresh CA into.
    pub fn open(dir: &Path) -> io::Result<Option<Pki>> {
        let pki = Pki::at(dir);
        let files = pki.files();
        let missing: Vec<&str> = files
            .iter()
            .filter(|p| !p.is_file())
            .filter_map(|p| p.file_name()?.to_str())
            .collect();
        if missing.is_empty() {
            Ok(Some(pki))
        } else if missing.len() == files.len() {
            Ok(None)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} has some of the TLS files but not {}: use a complete or an empty directory",
                    dir.display(),
                    missing.join(", ")
                ),
            ))
        }
    }

    /// Generates a fresh CA, server and client certificate (and the variants, if asked) into
    /// `dir`, creating it if needed and replacing files of the same names.
    ///
    /// # Errors
    /// An extra name is not a valid DNS name or IP address; a file cannot be written; key
    /// generation or signing fails. The message names what failed.
    pub fn generate(dir: &Path, opts: &PkiOptions) -> io::Result<Pki> {
        fs::create_dir_all(dir)
            .map_err(|e| context(e, format_args!("creating {}", dir.display())))?;
        let mut pki = Pki::at(dir);
        let now = SystemTime::now();
        let valid = (now - VALID_BEFORE, now + VALID_FOR);
        let ca = new_ca(CA_NAME, valid)?;
        write_ca(&ca, &pki.ca)?;
        let mut names = vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ];
        names.extend(opts.extra_names.iter().cloned());
        let server = Leaf::server(names.clone(), valid);
        server.issue(&ca, &pki.server)?;
        Leaf::client("client", valid).issue(&ca, &pki.client)?;
        if opts.variants {
            let v = Variants {
                expired_server: pair(dir, "server-expired-cert.pem", "server-expired-key.pem"),
                wrong_host_server: pair(
                    dir,
                    "server-wronghost-cert.pem",
                    "server-wronghost-key.pem",
                ),
                other_ca: pair(dir, "other-ca.pem", "other-ca-key.pem"),
                other_server: pair(dir, "other-server-cert.pem", "other-server-key.pem"),
                other_client: pair(dir, "other-cert.pem", "other-key.pem"),
            };
            let expired = (now - 30 * DAY, now - DAY);
            Leaf::server(names.clone(), expired).issue(&ca, &v.expired_server)?;
            Leaf::server(vec![WRONG_HOST.to_owned()], valid).issue(&ca, &v.wrong_host_server)?;
            let other = new_ca(OTHER_CA_NAME, valid)?;
            write_ca(&other, &v.other_ca)?;
            Leaf::server(names, valid).issue(&other, &v.other_server)?;
            Leaf::client("client", valid).issue(&other, &v.other_client)?;
            pki.variants = Some(v);
        }
        Ok(pki)
    }

    /// Signs a client certificate (CN `client`, clientAuth) with this PKI's CA for the key in
    /// the PEM file `key`, which may be PKCS#8, PKCS#1 (RSA) or SEC1 (EC), and writes it to
    /// `{name}-cert.pem` in the PKI's directory. The certificate and `key`, as it is, then
    /// form a client's pair. Returns the certificate's path.
    ///
    /// `name` is a file name stem: letters, digits, `.`, `_` and `-`.
    ///
    /// # Errors
    /// A bad `name`; `key` unreadable, not a private key, or of an algorithm rcgen cannot put
    /// in a certificate; the CA files unreadable; signing or writing fails.
    pub fn issue_client_cert(&self, key: &Path, name: &str) -> io::Result<PathBuf> {
        let name_ok = !name.is_empty()
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name:?} is not a certificate file name stem"),
            ));
        }
        let public = public_key_of(key)?;
        let ca_key = fs::read_to_string(&self.ca.key)
            .map_err(|e| context(e, format_args!("reading {}", self.ca.key.display())))?;
        let ca_key = KeyPair::from_pem(&ca_key).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("CA key {}: {e}", self.ca.key.display()),
            )
        })?;
        // The CA certificate is not parsed back (that needs rcgen's x509-parser): its subject
        // is rebuilt, and its key identifier follows from its key.
        let params = ca_params(CA_NAME, validity_now())?;
        let issuer = Issuer::new(params, ca_key);
        let cert = self.dir.join(format!("{name}-cert.pem"));
        let leaf = Leaf::client("client", validity_now());
        let pem = leaf
            .params()?
            .signed_by(&public, &issuer)
            .map_err(|e| rcgen_error(e, format_args!("signing {}", cert.display())))?
            .pem();
        write_file(&cert, pem.as_bytes(), false)?;
        Ok(cert)
    }

    /// The server side of this PKI as the sim's TLS configuration: `server-cert.pem` and
    /// `server-key.pem`, and with `verify_client` client certificates required, signed by
    /// `ca.pem`.
    pub fn sim_tls(&self, verify_client: bool) -> SimTls {
        SimTls {
            cert_chain: self.server.cert.clone(),
            key: self.server.key.clone(),
            client_ca: verify_client.then(|| self.ca.cert.clone()),
        }
    }

    /// The six files of the basic set.
    fn files(&self) -> [&Path; 6] {
        [
            &self.ca.cert,
            &self.ca.key,
            &self.server.cert,
            &self.server.key,
            &self.client.cert,
            &self.client.key,
        ]
    }
}

fn pair(dir: &Path, cert: &str, key: &str) -> CertKey {
    CertKey {
        cert: dir.join(cert),
        key: dir.join(key),
    }
}

fn validity_now() -> (SystemTime, SystemTime) {
    let now = SystemTime::now();
    (now - VALID_BEFORE, now + VALID_FOR)
}

/// An `io::Error` of the same kind, with `what` in front of the message.
fn context(e: io::Error, what: std::fmt::Arguments<'_>) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn rcgen_error(e: rcgen::Error, what: std::fmt::Arguments<'_>) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// Sets a certificate's validity; rcgen wants `time` types, reached from its epoch helper.
fn set_validity(params: &mut CertificateParams, (from, to): (SystemTime, SystemTime)) {
    let secs = |t: SystemTime| {
        Duration::from_secs(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
        )
    };
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + secs(from);
    params.not_after = epoch + secs(to);
}

/// A random positive 16-byte serial number.
fn serial() -> io::Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| io::Error::other("no random bytes for a serial number"))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

/// The CA's parameters; the serial is fresh each time (it is not part of what a leaf refers
/// to).
fn ca_params(common_name: &str, valid: (SystemTime, SystemTime)) -> io::Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(serial()?);
    set_validity(&mut params, valid);
    Ok(params)
}

/// A CA, generated: its certificate's PEM and its issuer (parameters and key).
struct Ca {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn new_ca(common_name: &str, valid: (SystemTime, SystemTime)) -> io::Result<Ca> {
    let params = ca_params(common_name, valid)?;
    let key = KeyPair::generate()
        .map_err(|e| rcgen_error(e, format_args!("generating the key of {common_name}")))?;
    let cert_pem = params
        .self_signed(&key)
        .map_err(|e| rcgen_error(e, format_args!("self-signing {common_name}")))?
        .pem();
    Ok(Ca {
        cert_pem,
        issuer: Issuer::new(params, key),
    })
}

fn write_ca(ca: &Ca, to: &CertKey) -> io::Result<()> {
    write_file(&to.key, ca.issuer.key().serialize_pem().as_bytes(), true)?;
    write_file(&to.cert, ca.cert_pem.as_bytes(), false)
}

/// An end-entity certificate to issue.
struct Leaf {
    common_name: String,
    /// Subject alternative names (servers only).
    names: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
    valid: (SystemTime, SystemTime),
}

impl Leaf {
    fn server(names: Vec<String>, valid: (SystemTime, SystemTime)) -> Leaf {
        let common_name = if names.iter().any(|n| n == WRONG_HOST) {
            WRONG_HOST
        } else {
            "dockstat sim server"
        };
        Leaf {
            common_name: common_name.to_owned(),
            names,
            usage: ExtendedKeyUsagePurpose::ServerAuth,
            valid,
        }
    }

    fn client(common_name: &str, valid: (SystemTime, SystemTime)) -> Leaf {
        Leaf {
            common_name: common_name.to_owned(),
            names: Vec::new(),
            usage: ExtendedKeyUsagePurpose::ClientAuth,
            valid,
        }
    }

    fn params(&self) -> io::Result<CertificateParams> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = self
            .names
            .iter()
            .map(|n| match n.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                // rcgen takes any ASCII; rustls's DNS name rules are what clients will apply.
                Err(_) => rustls::pki_types::DnsName::try_from(n.as_str())
                    .ok()
                    .and_then(|_| n.clone().try_into().ok())
                    .map(SanType::DnsName)
                    .ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!("{n:?} is no DNS name or IP address for a certificate"),
                        )
                    }),
            })
            .collect::<io::Result<_>>()?;
        params.distinguished_name = name(&self.common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![self.usage.clone()];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(serial()?);
        set_validity(&mut params, self.valid);
        Ok(params)
    }

    /// Generates a key, signs the certificate with `ca`, and writes both.
    fn issue(&self, ca: &Ca, to: &CertKey) -> io::Result<()> {
        let key = KeyPair::generate().map_err(|e| {
            rcgen_error(
                e,
                format_args!("generating the key of {}", to.key.display()),
            )
        })?;
        let cert = self
            .params()?
            .signed_by(&key, &ca.issuer)
            .map_err(|e| rcgen_error(e, format_args!("signing {}", to.cert.display())))?;
        write_file(&to.key, key.serialize_pem().as_bytes(), true)?;
        write_file(&to.cert, cert.pem().as_bytes(), false)
    }
}

/// Writes `bytes` to `path`, replacing it; private keys get mode 0600.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> io::Result<()> {
    let what = |e| context(e, format_args!("writing {}", path.display()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if secret {
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(what)?;
    if secret {
        // An existing file keeps its mode through `open`.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(what)?;
    }
    file.write_all(bytes).map_err(what)
}

/// A public key as rcgen puts it in a certificate: the algorithm and the contents of the
/// SubjectPublicKeyInfo's BIT STRING.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PublicKey {
    alg: &'static SignatureAlgorithm,
    bits: Vec<u8>,
}

impl PublicKeyData for PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.bits
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}

/// The public key of the private key in the PEM file `path`. PKCS#8 keys are loaded by rcgen
/// (ring); PKCS#1 and SEC1 keys, which ring-backed rcgen cannot load, by rustls's ring
/// provider, whose key gives its SubjectPublicKeyInfo.
fn public_key_of(path: &Path) -> io::Result<PublicKey> {
    let bad = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("key {}: {what}", path.display()),
        )
    };
    let pem = fs::read(path).map_err(|e| context(e, format_args!("reading {}", path.display())))?;
    let der = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| bad(e.to_string()))?;
    if let PrivateKeyDer::Pkcs8(pkcs8) = &der {
        let pair = KeyPair::try_from(pkcs8.secret_pkcs8_der()).map_err(|e| bad(e.to_string()))?;
        return Ok(PublicKey {
            alg: pair.algorithm(),
            bits: pair.public_key_raw().to_vec(),
        });
    }
    let signing =
        rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| bad(e.to_string()))?;
    let spki = signing
        .public_key()
        .ok_or_else(|| bad("no public key".to_owned()))?;
    let bits = spki_bits(spki.as_ref()).ok_or_else(|| bad("bad SubjectPublicKeyInfo".into()))?;
    let alg = match (signing.algorithm(), bits.len()) {
        (rustls::SignatureAlgorithm::RSA, _) => &rcgen::PKCS_RSA_SHA256,
        (rustls::SignatureAlgorithm::ECDSA, 65) => &rcgen::PKCS_ECDSA_P256_SHA256,
        (rustls::SignatureAlgorithm::ECDSA, 97) => &rcgen::PKCS_ECDSA_P384_SHA384,
        (other, _) => return Err(bad(format!("unsupported key algorithm {other:?}"))),
    };
    Ok(PublicKey {
        alg,
        bits: bits.to_vec(),
    })
}

/// The key bits of a DER SubjectPublicKeyInfo: `SEQUENCE { AlgorithmIdentifier, BIT STRING }`.
fn spki_bits(spki: &[u8]) -> Option<&[u8]> {
    let (0x30, body, []) = der_element(spki)? else {
        return None;
    };
    let (0x30, _alg, rest) = der_element(body)? else {
        return None;
    };
    let (0x03, bits, []) = der_element(rest)? else {
        return None;
    };
    // The first content byte counts unused bits: none in a key.
    match bits.split_first()? {
        (0, key) if !key.is_empty() => Some(key),
        _ => None,
    }
}

/// One DER element at the start of `input`: its tag, its contents, and what follows.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_key(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/tls")
            .join(name)
    }

    /// The public key read from a PKCS#1 or SEC1 file (through rustls) is the one rcgen reads
    /// from the same key's PKCS#8 twin.
    #[test]
    fn public_keys_agree_across_key_forms() {
        for (traditional, pkcs8) in [
            ("rsa-pkcs1.pem", "rsa-pkcs8.pem"),
            ("ec-sec1.pem", "ec-pkcs8.pem"),
        ] {
            let a = public_key_of(&test_key(traditional)).expect(traditional);
            let b = public_key_of(&test_key(pkcs8)).expect(pkcs8);
            assert_eq!(a, b, "{traditional}");
        }
        let rsa = public_key_of(&test_key("rsa-pkcs1.pem")).expect("rsa");
        assert_eq!(rsa.alg, &rcgen::PKCS_RSA_SHA256);
        let ec = public_key_of(&test_key("ec-sec1.pem")).expect("ec");
        assert_eq!(ec.alg, &rcgen::PKCS_ECDSA_P256_SHA256);
    }

    #[test]
    fn open_wants_all_or_nothing() {
        let dir = std::env::temp_dir().join(format!("dsim-pki-open-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(Pki::open(&dir).expect("missing dir"), None);
        let pki = Pki::generate(&dir, &PkiOptions::default()).expect("generate");
        assert_eq!(pki.variants, None);
        assert_eq!(Pki::open(&dir).expect("complete"), Some(Pki::at(&dir)));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&pki.client.key)
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        fs::remove_file(&pki.ca.cert).expect("remove");
        let err = Pki::open(&dir).expect_err("partial");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("ca.pem"), "{err}");
        let err = pki
            .issue_client_cert(&test_key("ec-sec1.pem"), "../x")
            .expect_err("bad name");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = pki
            .issue_client_cert(&dir.join("nope.pem"), "x")
            .expect_err("no key");
        assert!(err.to_string().contains("nope.pem"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_extra_name_is_an_error() {
        let dir = std::env::temp_dir().join(format!("dsim-pki-bad-{}", std::process::id()));
        let opts = PkiOptions {
            extra_names: vec!["not a name!".to_owned()],
            variants: false,
        };
        let err = Pki::generate(&dir, &opts).expect_err("bad name");
        assert!(err.to_string().contains("not a name!"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }
}
