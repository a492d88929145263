//! End-to-end tests of the sim over TLS: a throwaway PKI from [`certs`](crate::certs), a
//! sim on [`Listen::Tls`], and blocking rustls clients (ring provider, `StreamOwned` over a
//! std `TcpStream`). Server and client certificates that must fail, client certificates for
//! each private key form, stream accounting, many streams at once, and what a TLS port does
//! with plain HTTP or garbage.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, RootCertStore, StreamOwned,
};

use super::*;
use crate::SimTls;
use crate::certs::{CertKey, Pki, PkiOptions};

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// A PKI with all its variants, in a temp dir removed with the returned guard.
fn pki() -> (TempSock, Pki) {
    let tmp = TempSock::new();
    let opts = PkiOptions {
        variants: true,
        ..PkiOptions::default()
    };
    let pki = Pki::generate(&tmp.dir, &opts).expect("generate PKI");
    (tmp, pki)
}

fn tls_config(cert: &CertKey, client_ca: Option<&Path>) -> SimTls {
    SimTls {
        cert_chain: cert.cert.clone(),
        key: cert.key.clone(),
        client_ca: client_ca.map(Path::to_path_buf),
    }
}

fn start_tls(tls: SimTls, config: SimConfig) -> Sim {
    let listen = Listen::Tls {
        addr: "127.0.0.1:0".parse().expect("addr"),
        tls,
    };
    Sim::start(listen, config).expect("start TLS sim")
}

fn addr(sim: &Sim) -> String {
    let url = sim.url();
    let addr = url.strip_prefix("tcp://").expect("tcp:// URL");
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{url}"
    );
    addr.to_owned()
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("open certificates")
        .collect::<Result<_, _>>()
        .expect("certificates")
}

/// A client trusting `ca`, presenting `client` (certificate and key files) if given.
fn client(ca: &Path, client: Option<(&Path, &Path)>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for c in certs(ca) {
        roots.add(c).expect("trust anchor");
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
    Arc::new(match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                certs(cert),
                PrivateKeyDer::from_pem_file(key).expect("client key"),
            )
            .expect("client certificate and key"),
    })
}

/// Connects to the sim as `server_name` (what docker does for `tcp://127.0.0.1:PORT`: the IP
/// address) without handshaking yet.
fn connect_as(sim: &Sim, config: &Arc<ClientConfig>, server_name: &str) -> Tls {
    let sock = TcpStream::connect(addr(sim)).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let name = ServerName::try_from(server_name.to_owned()).expect("server name");
    let conn = ClientConnection::new(Arc::clone(config), name).expect("client connection");
    StreamOwned::new(conn, sock)
}

fn connect_tls(sim: &Sim, config: &Arc<ClientConfig>) -> BufReader<Tls> {
    BufReader::new(connect_as(sim, config, "127.0.0.1"))
}

/// Completes the handshake, or says why it failed.
fn handshake(s: &mut Tls) -> std::io::Result<()> {
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(())
}

/// The rustls error inside an I/O error from a rustls stream.
fn tls_error(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

fn send_tls(conn: &mut BufReader<Tls>, request: &str) {
    conn.get_mut()
        .write_all(request.as_bytes())
        .expect("write request");
}

fn request_tls(sim: &Sim, config: &Arc<ClientConfig>, target: &str) -> (Head, Vec<u8>) {
    let mut conn = connect_tls(sim, config);
    send_tls(&mut conn, &get(target));
    read_response(&mut conn)
}

/// Sends a request and expects the server to refuse the connection: the error the client
/// gets on the way (a TLS 1.3 client learns that its certificate was refused only when it
/// reads, after its handshake is done).
fn refused(sim: &Sim, config: &Arc<ClientConfig>) -> rustls::Error {
    let mut s = connect_as(sim, config, "127.0.0.1");
    let result = handshake(&mut s)
        .and_then(|()| s.write_all(get("/_ping").as_bytes()))
        .and_then(|()| {
            let mut all = Vec::new();
            s.read_to_end(&mut all).map(|_| all)
        });
    let e = result.expect_err("the server should refuse this client");
    tls_error(&e)
        .unwrap_or_else(|| panic!("not a TLS error: {e:?}"))
        .clone()
}

fn test_key(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/tls")
        .join(name)
}

#[test]
fn tls_ping_keep_alive_and_close_notify() {
    let (_tmp, pki) = pki();
    let sim = start_tls(pki.sim_tls(false), config(2, 1));
    let trust = client(&pki.ca.cert, None);

    let mut conn = connect_tls(&sim, &trust);
    send_tls(&mut conn, &get("/_ping"));
    let (head, body) = read_response(&mut conn);
    assert_eq!((head.status, body.as_slice()), (200, b"OK".as_slice()));
    // Keep-alive: more requests on the same connection, a HEAD and a listing.
    send_tls(
        &mut conn,
        "HEAD /_ping HTTP/1.1\r\nHost: docker\r\n\r\nGET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: docker\r\n\r\n",
    );
    let head = read_head(&mut conn);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Content-Length"), Some("0"));
    let (head, body) = read_response(&mut conn);
    assert_eq!(head.status, 200);
    assert_eq!(text(&body).matches("\"Id\":").count(), 3);
    // Connection: close ends with close_notify: a clean EOF, not an unexpected one.
    send_tls(
        &mut conn,
        "GET /version HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
    );
    let head = read_head(&mut conn);
    assert_eq!(head.status, 200);
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .expect("clean close_notify at the end");
    assert!(text(&rest).contains("\"ApiVersion\":\"1.41\""));
    // The single-frame answers over TLS.
    let (head, body) = request_tls(&sim, &trust, "/containers/busy-1/stats?stream=false");
    assert_eq!(head.status, 200);
    assert!(text(&body).starts_with("{\"read\":"));
    // Counted once the server sees the write return, which may be after the client read it.
    eventually("the frame counted", || sim.counters().frames_sent == 1);
    assert_eq!(sim.counters().requests, 5);

    // Shutting the sim down sends close_notify to an open stream, too.
    let mut stream = connect_tls(&sim, &trust);
    send_tls(&mut stream, &get("/containers/busy-1/stats"));
    assert_eq!(read_head(&mut stream).status, 200);
    read_chunk(&mut stream).expect("frame");
    sim.shutdown();
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("clean close_notify at shutdown");
}

#[test]
fn tls_stream_frames_are_counted_exactly() {
    let (_tmp, pki) = pki();
    let sim = start_tls(
        pki.sim_tls(false),
        SimConfig {
            interval: Duration::from_millis(10),
            ..config(1, 0)
        },
    );
    let trust = client(&pki.ca.cert, None);
    let mut stream = connect_tls(&sim, &trust);
    send_tls(&mut stream, &get("/containers/busy-1/stats"));
    let head = read_head(&mut stream);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Transfer-Encoding"), Some("chunked"));
    let mut prev = read_chunk(&mut stream).expect("frame");
    for _ in 0..5 {
        let f = read_chunk(&mut stream).expect("frame");
        assert_eq!(
            string_field(text(&f), "preread"),
            string_field(text(&prev), "read")
        );
        prev = f;
    }
    let (_, body) = request_tls(&sim, &trust, "/_sim/pause");
    assert_eq!(body, b"{\"ok\":true}\n");
    // Drain: whatever was written before the pause (and the frames it took), until quiet.
    // Every frame ends in `}\n`, and nothing else in a stream does.
    stream
        .get_ref()
        .sock
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut rest = stream.buffer().to_vec();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.get_mut().read(&mut buf) {
            Ok(0) => panic!("stream ended"),
            Ok(n) => rest.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let read = 6 + rest.windows(2).filter(|w| w == b"}\n").count() as u64;
    assert!(
        rest.is_empty() || rest.ends_with(b"}\n\r\n"),
        "a whole frame last: {}",
        String::from_utf8_lossy(&rest[rest.len().saturating_sub(100)..])
    );
    let c = sim.counters();
    assert_eq!(c.frames_sent, read, "{c:?}");
    assert_eq!(c.frames_skipped, 0);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sim.counters().frames_sent, read);
}

#[test]
fn client_certificates_required_and_checked() {
    let (_tmp, pki) = pki();
    let sim = start_tls(
        pki.sim_tls(true),
        SimConfig {
            log_requests: true,
            ..config(1, 0)
        },
    );
    let v = pki.variants.as_ref().expect("variants");
    // No certificate.
    let e = refused(&sim, &client(&pki.ca.cert, None));
    assert_eq!(
        e,
        rustls::Error::AlertReceived(AlertDescription::CertificateRequired)
    );
    // A certificate of another CA.
    let other = client(
        &pki.ca.cert,
        Some((&v.other_client.cert, &v.other_client.key)),
    );
    let e = refused(&sim, &other);
    assert!(
        matches!(
            e,
            rustls::Error::AlertReceived(
                AlertDescription::UnknownCA | AlertDescription::BadCertificate
            )
        ),
        "{e:?}"
    );
    // The generated client certificate.
    let good = client(&pki.ca.cert, Some((&pki.client.cert, &pki.client.key)));
    let (head, body) = request_tls(&sim, &good, "/_ping");
    assert_eq!((head.status, body.as_slice()), (200, b"OK".as_slice()));
    eventually("refused connections to close", || {
        sim.counters().connections_open == 0
    });
    let c = sim.counters();
    assert_eq!((c.connections_accepted, c.requests), (3, 1));
}

#[test]
fn bad_server_certificates_are_rejected() {
    let (_tmp, pki) = pki();
    let v = pki.variants.as_ref().expect("variants");
    let trust = client(&pki.ca.cert, None);
    let handshake_error = |sim: &Sim, config: &Arc<ClientConfig>, name: &str| {
        let mut s = connect_as(sim, config, name);
        let e = handshake(&mut s).expect_err("the client should refuse this server");
        tls_error(&e)
            .unwrap_or_else(|| panic!("not a TLS error: {e:?}"))
            .clone()
    };

    let sim = start_tls(tls_config(&v.expired_server, None), config(1, 0));
    let e = handshake_error(&sim, &trust, "127.0.0.1");
    assert!(
        matches!(
            e,
            rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            )
        ),
        "{e:?}"
    );

    let sim = start_tls(tls_config(&v.wrong_host_server, None), config(1, 0));
    for name in ["127.0.0.1", "localhost"] {
        let e = handshake_error(&sim, &trust, name);
        assert!(
            matches!(
                e,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{name}: {e:?}"
        );
    }
    // The certificate is good for its own name.
    let mut s = connect_as(&sim, &trust, crate::certs::WRONG_HOST);
    handshake(&mut s).expect("valid for other.invalid");

    let sim = start_tls(tls_config(&v.other_server, None), config(1, 0));
    let e = handshake_error(&sim, &trust, "127.0.0.1");
    assert_eq!(
        e,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
    // A client trusting the other CA takes it.
    let (head, _) = request_tls(&sim, &client(&v.other_ca.cert, None), "/_ping");
    assert_eq!(head.status, 200);

    // The good one, by IP (v4 and the name localhost; ::1 is in it too).
    let sim = start_tls(pki.sim_tls(false), config(1, 0));
    for name in ["127.0.0.1", "localhost"] {
        let mut s = connect_as(&sim, &trust, name);
        handshake(&mut s).expect(name);
    }
}

#[test]
fn client_keys_in_every_pem_form() {
    let (_tmp, pki) = pki();
    let sim = start_tls(pki.sim_tls(true), config(1, 0));
    for (key, stem) in [
        ("rsa-pkcs1.pem", "rsa-pkcs1"),
        ("rsa-pkcs8.pem", "rsa-pkcs8"),
        ("ec-sec1.pem", "ec-sec1"),
        ("ec-pkcs8.pem", "ec-pkcs8"),
    ] {
        let key = test_key(key);
        let cert = pki.issue_client_cert(&key, stem).expect(stem);
        assert_eq!(cert, pki.dir.join(format!("{stem}-cert.pem")));
        let config = client(&pki.ca.cert, Some((&cert, &key)));
        let (head, body) = request_tls(&sim, &config, "/_ping");
        assert_eq!(
            (head.status, body.as_slice()),
            (200, b"OK".as_slice()),
            "{stem}"
        );
    }
    // The PKCS#1 file is what it says.
    let pem = std::fs::read_to_string(test_key("rsa-pkcs1.pem")).expect("key");
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let pem = std::fs::read_to_string(test_key("ec-sec1.pem")).expect("key");
    assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"));
}

#[test]
fn events_faults_and_removal_over_tls() {
    let (_tmp, pki) = pki();
    let sim = start_tls(
        pki.sim_tls(false),
        SimConfig {
            interval: Duration::from_millis(20),
            faults: vec![FaultRule {
                container: "idle-2".to_owned(),
                after_frames: 1,
                fault: Fault::TruncateMidChunk,
            }],
            ..config(2, 0)
        },
    );
    let trust = client(&pki.ca.cert, None);
    let mut events = connect_tls(&sim, &trust);
    send_tls(&mut events, &get("/v1.41/events"));
    assert_eq!(read_head(&mut events).status, 200);
    // A stream of a container that is then removed: zero frames, the last chunk, and the
    // connection takes requests again.
    let mut stream = connect_tls(&sim, &trust);
    send_tls(&mut stream, &get("/containers/busy-1/stats"));
    assert_eq!(read_head(&mut stream).status, 200);
    read_chunk(&mut stream).expect("frame");
    sim.remove("busy-1", true).expect("remove");
    for action in ["kill", "die", "disconnect", "destroy"] {
        let chunk = read_chunk(&mut events).expect("event");
        assert!(
            text(&chunk).contains(&format!("\"Action\":\"{action}\"")),
            "{}",
            text(&chunk)
        );
    }
    while read_chunk(&mut stream).is_some() {}
    send_tls(&mut stream, &get("/_ping"));
    assert_eq!(read_response(&mut stream).1, b"OK");
    assert!(sim.counters().events_sent >= 4);
    // A fault: one good frame, then half a chunk and a close.
    let mut faulty = connect_tls(&sim, &trust);
    send_tls(&mut faulty, &get("/containers/idle-2/stats"));
    assert_eq!(read_head(&mut faulty).status, 200);
    read_chunk(&mut faulty).expect("good frame");
    let size = usize::from_str_radix(&read_line(&mut faulty), 16).expect("size");
    let mut rest = Vec::new();
    faulty
        .read_to_end(&mut rest)
        .expect("closed with close_notify");
    assert_eq!(rest.len(), size / 2);
}

#[test]
fn slow_tls_reader_gets_frames_skipped() {
    let (_tmp, pki) = pki();
    let sim = start_tls(
        pki.sim_tls(false),
        SimConfig {
            interval: Duration::from_millis(1),
            ..config(1, 0)
        },
    );
    let trust = client(&pki.ca.cert, None);
    let mut conn = connect_tls(&sim, &trust);
    send_tls(&mut conn, &get("/containers/busy-1/stats"));
    // Do not read: the socket buffers fill, then the sim's bounded queue.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.counters().frames_skipped < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = sim.counters();
    assert!(c.frames_skipped >= 20, "{c:?}");
    // The stream is intact: everything queued is whole frames.
    assert_eq!(read_head(&mut conn).status, 200);
    for _ in 0..50 {
        let f = read_chunk(&mut conn).expect("frame");
        assert!(f.starts_with(b"{\"read\":") && f.ends_with(b"}\n"));
    }
}

/// Plain HTTP to the TLS port gets Go's 400 and a clean close; garbage gets an alert; a TLS
/// stream open meanwhile goes on undisturbed.
#[test]
fn plain_http_and_garbage_on_the_tls_port() {
    let (_tmp, pki) = pki();
    let sim = start_tls(
        pki.sim_tls(false),
        SimConfig {
            interval: Duration::from_millis(20),
            log_requests: true,
            ..config(1, 0)
        },
    );
    let trust = client(&pki.ca.cert, None);
    let mut stream = connect_tls(&sim, &trust);
    send_tls(&mut stream, &get("/containers/busy-1/stats"));
    assert_eq!(read_head(&mut stream).status, 200);
    read_chunk(&mut stream).expect("frame");

    let mut plain = TcpStream::connect(addr(&sim)).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    plain
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    plain.read_to_string(&mut answer).expect("answer, then EOF");
    assert_eq!(
        answer,
        "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    );

    let mut garbage = TcpStream::connect(addr(&sim)).expect("connect");
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    garbage
        .write_all(&[0x17, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4, 5, 6, 7, 8])
        .expect("write");
    let mut alert = Vec::new();
    garbage.read_to_end(&mut alert).expect("alert, then EOF");
    // One alert record: type 21, a version, length 2, level fatal.
    assert!(
        alert.len() >= 7 && alert[0] == 0x15 && alert[5] == 2,
        "{alert:?}"
    );

    // A handshake that stops halfway is the peer's business until it closes.
    let mut half = TcpStream::connect(addr(&sim)).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .expect("write");
    drop(half);

    for _ in 0..3 {
        read_chunk(&mut stream).expect("frames go on");
    }
    eventually("the failed connections to close", || {
        sim.counters().connections_open == 1
    });
    assert_eq!(sim.counters().streams_open, 1);
}

/// 1,000 TLS streams at once, opened and read by a few client threads: each gets its head
/// and frames. (Handshakes dominate: in a debug build about 1 ms of server CPU each.)
#[test]
fn thousand_tls_streams() {
    const STREAMS: usize = 1000;
    const THREADS: usize = 8;
    let (_tmp, pki) = pki();
    let sim = start_tls(
        pki.sim_tls(false),
        SimConfig {
            interval: Duration::from_millis(100),
            ..config(50, 0)
        },
    );
    let trust = client(&pki.ca.cert, None);
    let t0 = Instant::now();
    let all_open = Arc::new(Barrier::new(THREADS + 1));
    let sim = Arc::new(sim);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (sim, trust, all_open) =
                (Arc::clone(&sim), Arc::clone(&trust), Arc::clone(&all_open));
            std::thread::spawn(move || {
                let mine: Vec<usize> = (t..STREAMS).step_by(THREADS).collect();
                let mut conns: Vec<_> = mine
                    .iter()
                    .map(|&i| {
                        let mut c = connect_tls(&sim, &trust);
                        send_tls(
                            &mut c,
                            &get(&format!("/containers/{}/stats", sim_name(i % 50))),
                        );
                        assert_eq!(read_head(&mut c).status, 200);
                        read_chunk(&mut c).expect("first frame");
                        c
                    })
                    .collect();
                all_open.wait();
                for (c, &i) in conns.iter_mut().zip(&mine) {
                    for _ in 0..2 {
                        let frame = read_chunk(c).expect("frame");
                        let want = format!("\"name\":\"/{}\"", sim_name(i % 50));
                        assert!(text(&frame).contains(&want));
                    }
                }
                all_open.wait();
                conns
            })
        })
        .collect();
    all_open.wait();
    let opened = t0.elapsed();
    let c = sim.counters();
    assert_eq!(c.streams_open, STREAMS as u64);
    assert_eq!(c.connections_open, STREAMS as u64);
    all_open.wait();
    eventually("3 frames a stream counted", || {
        sim.counters().frames_sent >= 3 * STREAMS as u64
    });
    let conns: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    eprintln!(
        "{STREAMS} TLS streams opened in {opened:?}, all read in {:?}",
        t0.elapsed()
    );
    drop(conns);
    eventually("all streams to close", || {
        let c = sim.counters();
        c.streams_open == 0 && c.connections_open == 0
    });
}

#[test]
fn bad_tls_files_are_start_errors() {
    let (_tmp, pki) = pki();
    let start = |tls: SimTls| {
        let listen = Listen::Tls {
            addr: "127.0.0.1:0".parse().expect("addr"),
            tls,
        };
        Sim::start(listen, config(1, 0)).expect_err("bad TLS files")
    };
    let missing = pki.dir.join("missing.pem");
    let e = start(SimTls {
        cert_chain: missing.clone(),
        ..pki.sim_tls(false)
    });
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("missing.pem"), "{e}");
    // A key that is not the certificate's.
    let e = start(SimTls {
        key: pki.client.key.clone(),
        ..pki.sim_tls(false)
    });
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // A CA file with no certificate in it.
    let e = start(SimTls {
        client_ca: Some(pki.ca.key.clone()),
        ..pki.sim_tls(false)
    });
    assert!(e.to_string().contains("ca-key.pem"), "{e}");
}
