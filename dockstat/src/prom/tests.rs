use super::*;
use crate::engine::Container;
use crate::stats::{Derived, Sample, Timestamp};

fn container(key: u32) -> Container {
    Container {
        host: 0,
        id: format!("id{key}"),
        name: format!("c\"{key}\\\n"),
        image: "img:1".into(),
        labels: vec![("com.example/team".into(), "a\"b".into())],
        requested: String::new(),
        key,
    }
}

fn exporter() -> Exporter {
    Exporter::new(ExporterConfig {
        hosts: vec!["unix:///s".into()],
        with_image: true,
        label_allowlist: vec!["com.example/team".into(), "missing".into()],
    })
}

fn sample(e: &mut Exporter, c: &Container, rx: u64) {
    let mut s = Sample {
        read: Timestamp { secs: 1, nanos: 0 },
        ..Sample::default()
    };
    s.cpu.total_usage = 1_500_000_000;
    s.memory.cache = Some(7);
    let d = Derived {
        net_rx: rx,
        cpu_percent: 12.5,
        ..Derived::default()
    };
    e.on_event(&Event::Sample {
        container: c,
        sample: &s,
        derived: &d,
    });
}

fn text(e: &Exporter) -> String {
    let mut out = Vec::new();
    render(&e.shared().snapshot(), ExpositionFormat::Text, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn labels_are_escaped_and_allowlisted() {
    let mut e = exporter();
    let c = container(3);
    sample(&mut e, &c, 42);
    e.publish(None);
    let t = text(&e);
    let labels = r#"{host="unix:///s",id="id3",name="c\"3\\\n",image="img:1",label_com_example_team="a\"b"}"#;
    assert!(
        t.contains(&format!(
            "dockstat_container_network_receive_bytes_total{labels} 42\n"
        )),
        "{t}"
    );
    assert!(t.contains(&format!(
        "dockstat_container_cpu_seconds_total{labels} 1.5\n"
    )));
    assert!(t.contains(&format!("dockstat_container_cpu_percent{labels} 12.5\n")));
    assert!(t.contains(&format!(
        "dockstat_container_memory_cache_bytes{labels} 7\n"
    )));
    assert!(t.contains("# TYPE dockstat_container_cpu_seconds_total counter\n"));
    assert!(!t.contains("missing"));
    let mut om = Vec::new();
    render(
        &e.shared().snapshot(),
        ExpositionFormat::OpenMetrics,
        &mut om,
    );
    let om = String::from_utf8(om).unwrap();
    assert!(om.contains("# TYPE dockstat_container_cpu_seconds counter\n"));
    assert!(om.ends_with("# EOF\n"));
}

#[test]
fn stale_and_gone_containers_disappear() {
    let mut e = exporter();
    let (a, b) = (container(0), container(1));
    sample(&mut e, &a, 1);
    sample(&mut e, &b, 2);
    e.publish(None);
    assert_eq!(e.shared().snapshot().rows.len(), 2);
    e.on_event(&Event::Stale(&a));
    e.publish(None);
    let t = text(&e);
    assert!(!t.contains("id=\"id0\""), "{t}");
    assert!(t.contains("id=\"id1\""));
    sample(&mut e, &a, 3);
    e.publish(None);
    assert!(text(&e).contains("id=\"id0\""));
    e.on_event(&Event::Gone {
        container: &b,
        why: Gone::Removed,
    });
    e.publish(None);
    let t = text(&e);
    assert!(!t.contains("id=\"id1\""), "{t}");
    // A one-off's sampled containers stay.
    e.on_event(&Event::Gone {
        container: &a,
        why: Gone::Done,
    });
    e.publish(None);
    assert!(text(&e).contains("id=\"id0\""));
}

#[test]
fn hosts_render_up_or_down_with_or_without_containers() {
    let up = HostState {
        up: true,
        errors: 0,
        reconnects: 2,
        containers: 0,
        last_up: Some(std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_500)),
        cpus: 2,
    };
    let down = HostState {
        errors: 3,
        ..HostState::default()
    };
    let snap = Snapshot {
        hosts: vec![
            (r#"host="unix:///a""#.into(), up),
            (r#"host="tcp://127.0.0.1:1""#.into(), down),
        ],
        ..Snapshot::default()
    };
    let mut out = Vec::new();
    render(&snap, ExpositionFormat::Text, &mut out);
    let t = String::from_utf8(out).unwrap();
    for line in [
        "# TYPE dockstat_host_up gauge\n",
        "dockstat_host_up{host=\"unix:///a\"} 1\n",
        "dockstat_host_up{host=\"tcp://127.0.0.1:1\"} 0\n",
        "dockstat_host_containers{host=\"unix:///a\"} 0\n",
        "# TYPE dockstat_host_errors_total counter\n",
        "dockstat_host_errors_total{host=\"tcp://127.0.0.1:1\"} 3\n",
        "dockstat_host_reconnects_total{host=\"unix:///a\"} 2\n",
        "dockstat_host_last_success_timestamp_seconds{host=\"unix:///a\"} 1.5\n",
    ] {
        assert!(t.contains(line), "{line}in\n{t}");
    }
    // Never up: no timestamp to give.
    assert!(!t.contains("dockstat_host_last_success_timestamp_seconds{host=\"tcp"));
    let mut om = Vec::new();
    render(&snap, ExpositionFormat::OpenMetrics, &mut om);
    let om = String::from_utf8(om).unwrap();
    assert!(om.contains("# TYPE dockstat_host_errors counter\n"), "{om}");
    assert!(om.contains("dockstat_host_errors_total{host=\"unix:///a\"} 0\n"));
}

#[test]
fn accept_negotiation() {
    assert_eq!(ExpositionFormat::from_accept(None), ExpositionFormat::Text);
    assert_eq!(
        ExpositionFormat::from_accept(Some(
            b"application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )),
        ExpositionFormat::OpenMetrics
    );
    assert_eq!(
        ExpositionFormat::from_accept(Some(b"text/plain")),
        ExpositionFormat::Text
    );
}

#[test]
fn throttling_limit_and_pressure_are_series_only_where_known() {
    use crate::stats::{CpuLimit, Pressure, Pressures, StallLine, Throttling};
    let mut e = exporter();
    let (a, b) = (container(1), container(2));
    let mut s = Sample {
        id: "id1",
        name: "/a",
        read: Timestamp { secs: 1, nanos: 0 },
        cpu_limit: Some(CpuLimit {
            quota_us: 50_000,
            period_us: 100_000,
        }),
        pressure: Pressures {
            cpu: Some(Pressure {
                some: StallLine {
                    avg10: 1234,
                    total_us: 2_500_000,
                },
                full: None,
            }),
            memory: Some(Pressure {
                some: StallLine {
                    avg10: 0,
                    total_us: 7,
                },
                full: Some(StallLine {
                    avg10: 0,
                    total_us: 3_000_000,
                }),
            }),
            io: None,
        },
        ..Sample::default()
    };
    s.cpu.user_usage = 1_500_000_000;
    s.cpu.system_usage = 250_000_000;
    s.cpu.throttling = Throttling {
        periods: 445,
        throttled_periods: 438,
        throttled_time: 21_243_018_874,
    };
    let d = Derived::default();
    e.on_event(&Event::Sample {
        container: &a,
        sample: &s,
        derived: &d,
    });
    // No limit, no throttling, no pressure: those series are absent, not zero.
    let plain = Sample {
        id: "id2",
        name: "/b",
        read: Timestamp { secs: 1, nanos: 0 },
        ..Sample::default()
    };
    e.on_event(&Event::Sample {
        container: &b,
        sample: &plain,
        derived: &d,
    });
    e.publish(None);
    let t = text(&e);
    // The value of `family`'s series for the container with id `id`.
    let value = |family: &str, id: &str| -> Option<String> {
        t.lines()
            .find(|l| l.starts_with(&format!("{family}{{")) && l.contains(&format!("id=\"{id}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    };
    for (family, v) in [
        ("dockstat_container_cpu_user_seconds_total", "1.5"),
        ("dockstat_container_cpu_system_seconds_total", "0.25"),
        ("dockstat_container_cpu_cfs_periods_total", "445"),
        ("dockstat_container_cpu_cfs_throttled_periods_total", "438"),
        (
            "dockstat_container_cpu_cfs_throttled_seconds_total",
            "21.243018874",
        ),
        ("dockstat_container_spec_cpu_quota", "50000"),
        ("dockstat_container_spec_cpu_period", "100000"),
        (
            "dockstat_container_pressure_cpu_waiting_seconds_total",
            "2.5",
        ),
        (
            "dockstat_container_pressure_memory_waiting_seconds_total",
            "0.000007",
        ),
        (
            "dockstat_container_pressure_memory_stalled_seconds_total",
            "3.0",
        ),
    ] {
        assert_eq!(value(family, "id1").as_deref(), Some(v), "{family} in\n{t}");
    }
    assert_eq!(
        value("dockstat_container_cpu_user_seconds_total", "id2").as_deref(),
        Some("0.0")
    );
    for family in [
        "dockstat_container_pressure_cpu_stalled_seconds_total",
        "dockstat_container_pressure_io_waiting_seconds_total",
        "dockstat_container_pressure_io_stalled_seconds_total",
    ] {
        assert_eq!(value(family, "id1"), None, "{family}");
    }
    for family in [
        "dockstat_container_cpu_cfs_periods_total",
        "dockstat_container_cpu_cfs_throttled_seconds_total",
        "dockstat_container_spec_cpu_quota",
        "dockstat_container_pressure_cpu_waiting_seconds_total",
    ] {
        assert_eq!(value(family, "id2"), None, "{family}");
    }
    // HELP and TYPE for every family, and OpenMetrics' UNIT where the name has one.
    assert!(t.contains("# TYPE dockstat_container_pressure_io_stalled_seconds_total counter\n"));
    assert!(t.contains("# TYPE dockstat_container_spec_cpu_quota gauge\n"));
    let mut om = Vec::new();
    render(
        &e.shared().snapshot(),
        ExpositionFormat::OpenMetrics,
        &mut om,
    );
    let om = String::from_utf8(om).unwrap();
    assert!(om.contains(
        "# TYPE dockstat_container_cpu_cfs_throttled_seconds counter\n\
         # UNIT dockstat_container_cpu_cfs_throttled_seconds seconds\n"
    ));
    assert!(!om.contains("# UNIT dockstat_container_cpu_cfs_periods "));
    assert!(!om.contains("# UNIT dockstat_container_spec_cpu_quota "));
}
