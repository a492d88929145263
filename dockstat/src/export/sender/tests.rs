use std::net::TcpListener;

use super::*;
use crate::export::RemoteWrite;

/// A receiver on 127.0.0.1 answering each request (one per connection) with the next
/// of `replies`; what it received comes back through the channel: (when, head).
fn receiver(replies: Vec<&'static str>) -> (String, std::sync::mpsc::Receiver<(Instant, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
                if let Some(at) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                    break at + 4;
                }
            };
            let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
            let len: usize = (head.lines())
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while got.len() < head_end + len {
                let n = s.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    return;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let _ = tx.send((Instant::now(), head));
            let _ = s.write_all(reply.as_bytes());
        }
    });
    (url, rx)
}

fn notes() -> (Observer, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let observer: Observer = Box::new(move |note: &Note<'_>| {
        let line = match note {
            Note::State(line) => format!("state: {line}"),
            Note::Settled { seq, outcome, .. } => format!("batch {seq}: {outcome:?}"),
        };
        log.lock().unwrap().push(line);
    });
    (observer, seen)
}

fn fast(buffer: usize) -> PushConfig {
    PushConfig {
        timeout: Duration::from_secs(5),
        buffer,
        headers: vec![("X-Scope-OrgID".into(), "team-a".into())],
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        record: false,
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn retries_5xx_and_429_and_reports_a_refusal_once() {
    let (url, requests) = receiver(vec![
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 10\r\nConnection: close\r\n\r\noverloaded",
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 20\r\nConnection: close\r\n\r\nout of order sample\n",
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 20\r\nConnection: close\r\n\r\nout of order sample\n",
    ]);
    let (observer, seen) = notes();
    let mut sender = Sender::start(
        Target::parse(&url).unwrap(),
        fast(10),
        Box::new(RemoteWrite::new(vec![])),
        observer,
    )
    .unwrap();
    sender.push(Snapshot::default(), Vec::new());
    wait_for("the first batch", || sender.stats().sent_batches == 1);
    sender.push(Snapshot::default(), Vec::new());
    sender.push(Snapshot::default(), Vec::new());
    wait_for("two refusals", || sender.stats().failed_batches == 2);
    let stats = sender.close(Duration::from_secs(1));
    assert_eq!(
        (stats.sent_batches, stats.failed_batches, stats.retries),
        (1, 2, 2)
    );
    assert_eq!((stats.dropped_batches, stats.buffered), (0, 0));
    assert!(stats.bytes > 0);
    let got: Vec<(Instant, String)> = requests.try_iter().collect();
    assert_eq!(got.len(), 5);
    // Retry-After: 1 was honoured (the backoff alone is at most 75 ms).
    assert!(got[2].0 - got[1].0 >= Duration::from_millis(950));
    for field in [
        "POST /api/v1/write HTTP/1.1\r\n",
        "Content-Encoding: snappy\r\n",
        "Content-Type: application/x-protobuf\r\n",
        "X-Prometheus-Remote-Write-Version: 0.1.0\r\n",
        concat!("User-Agent: dockstat/", env!("CARGO_PKG_VERSION"), "\r\n"),
        "X-Scope-OrgID: team-a\r\n",
    ] {
        assert!(got[0].1.contains(field), "{field} in {}", got[0].1);
    }
    let seen = seen.lock().unwrap().clone();
    let states: Vec<&String> = seen.iter().filter(|l| l.starts_with("state")).collect();
    // One line per change: 503, 429 (another reason), delivering again, the refusal.
    assert_eq!(states.len(), 4, "{seen:#?}");
    assert!(states[0].contains("answered 503 Service Unavailable: overloaded; retrying"));
    assert!(states[1].contains("answered 429 Too Many Requests; retrying"));
    assert!(states[2].contains("delivering again"));
    assert!(
        states[3].contains("refused a batch: 400 Bad Request: out of order sample (not retried"),
        "{}",
        states[3]
    );
    assert!(seen.contains(&"batch 1: Sent".to_string()));
    assert!(seen.contains(&"batch 3: Failed".to_string()));
}

#[test]
fn a_receiver_that_is_down_keeps_the_newest_batches_and_counts_the_rest() {
    // A closed loopback port: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (observer, seen) = notes();
    let mut sender = Sender::start(
        Target::parse(&format!("http://127.0.0.1:{port}/w")).unwrap(),
        fast(2),
        Box::new(RemoteWrite::new(vec![])),
        observer,
    )
    .unwrap();
    sender.push(Snapshot::default(), Vec::new());
    wait_for("the first attempt", || sender.stats().retries > 0);
    for _ in 0..4 {
        sender.push(Snapshot::default(), Vec::new());
    }
    let stats = sender.stats();
    // Batch 1 in flight, 4 and 5 kept, 2 and 3 dropped.
    assert_eq!((stats.dropped_batches, stats.buffered), (2, 3), "{stats:?}");
    let stats = sender.close(Duration::ZERO);
    assert_eq!(
        (stats.sent_batches, stats.dropped_batches),
        (0, 5),
        "{stats:?}"
    );
    let seen = seen.lock().unwrap().clone();
    let states: Vec<&String> = seen.iter().filter(|l| l.starts_with("state")).collect();
    assert_eq!(states.len(), 1, "{seen:#?}");
    assert!(
        states[0].contains("cannot connect: connection refused; retrying"),
        "{}",
        states[0]
    );
    for seq in 1..=5 {
        assert!(seen.contains(&format!("batch {seq}: Dropped")), "{seen:#?}");
    }
}

#[test]
fn urls() {
    let t = Target::parse("http://127.0.0.1:9090/api/v1/write").unwrap();
    assert_eq!(
        (t.authority.as_str(), t.path.as_str()),
        ("127.0.0.1:9090", "/api/v1/write")
    );
    let t = Target::parse("http://[::1]:1/w?x=1").unwrap();
    assert_eq!((t.host.as_str(), t.path.as_str()), ("::1", "/w?x=1"));
    let t = Target::parse("http://localhost").unwrap();
    assert_eq!(t.path, "/");
    assert_eq!(t.addrs[0].port(), 80);
    for bad in [
        "127.0.0.1:9090/api/v1/write",
        "ftp://127.0.0.1/",
        "https://127.0.0.1/",
        "http://u:p@127.0.0.1/",
        "http://127.0.0.1:0/",
        "http://127.0.0.1:x/",
        "http:///w",
        "http://127.0.0.1/a b",
    ] {
        let e = Target::parse(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidEndpoint, "{bad}");
        assert!(e.to_string().starts_with("invalid push URL"), "{e}");
    }
}

#[test]
fn an_otlp_partial_success_is_counted_and_said_once() {
    let partial = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 9\r\n\
                   Connection: close\r\n\r\n\x0a\x07\x08\x03\x12\x03bad";
    let (url, _requests) = receiver(vec![
        partial,
        partial,
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ]);
    let (observer, seen) = notes();
    let mut sender = Sender::start(
        Target::parse(&url).unwrap(),
        fast(10),
        Box::new(crate::export::Otlp::new(vec![], false)),
        observer,
    )
    .unwrap();
    for _ in 0..3 {
        let batch = crate::export::otlp::tests::batch();
        sender.push(batch.snapshot, Vec::new());
    }
    wait_for("three batches", || sender.stats().sent_batches == 3);
    let stats = sender.close(Duration::from_secs(1));
    // 7 points a batch; the receiver rejected 3 of each of the first two.
    assert_eq!((stats.sent_samples, stats.rejected_samples), (15, 6));
    assert_eq!((stats.failed_batches, stats.retries), (0, 0));
    let seen = seen.lock().unwrap().clone();
    let states: Vec<&String> = seen.iter().filter(|l| l.starts_with("state")).collect();
    assert_eq!(states.len(), 1, "{seen:#?}");
    assert!(
        states[0].contains("accepted a batch but rejected 3 of its 7 samples: bad (not retried"),
        "{}",
        states[0]
    );
}

#[test]
fn retry_after_in_seconds_or_as_an_http_date() {
    let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
    let secs = |v: &str| retry_after(v, now).map(|d| d.as_secs());
    assert_eq!(secs(" 120 "), Some(120));
    assert_eq!(secs("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
    assert_eq!(secs("Sun, 06 Nov 1994 08:51:07 GMT"), Some(90));
    assert_eq!(secs("Sat, 05 Nov 1994 08:49:37 GMT"), Some(0), "passed");
    assert_eq!(
        secs("Mon, 01 Jan 2001 00:00:00 GMT"),
        Some(978_307_200 - 784_111_777)
    );
    for bad in [
        "",
        "-1",
        "soon",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:49:37 GMT",
        "Sun, 06 Nov 1994 08:49 GMT",
        "Sun, 06 Nov 1994 +8:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun, 06 Nov 1994 08:49:37 GMT x",
        "é, 06 Nov 1994 08:49:37 GMT",
    ] {
        assert_eq!(secs(bad), None, "{bad:?}");
    }
}
