//! `--report DIR`: the page is well-formed (python3's XML parser reads all of it), has one
//! CDF line per phase that measures latency, a bar per phase, and renders: headless chromium
//! takes a 1280×2400 screenshot that is not blank. Under `CI=true` a missing chromium fails;
//! elsewhere it is a loud SKIPPED and the page is still checked.
//!
//! Chromium runs in a network namespace of its own when `unshare -n` works (as root), with
//! its background networking off and a proxy on a closed loopback port either way: the page
//! needs nothing from anywhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BENCH: &str = env!("CARGO_BIN_EXE_dockstat-loadbench");

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A phase result as `phase` prints it, with a latency distribution around `p50_us` (or
/// none) and a few samples.
fn phase(name: &str, cpu: f64, rss: f64, p50_us: Option<f64>) -> Value {
    let cdf: Option<Vec<[f64; 2]>> = p50_us.map(|p50| {
        // Whole µs and sixteenths, so that the JSON reads back exactly.
        (0..=16)
            .map(|i| {
                let us = (p50 * 2f64.powf((i as f64 - 8.0) / 4.0)).round();
                [us, i as f64 / 16.0]
            })
            .collect()
    });
    let series: Vec<[u64; 3]> = (0..8u64)
        .map(|s| [s * 1000, s * (cpu * 1000.0) as u64, 9000 + s * 100])
        .collect();
    json!({
        "name": name, "sent": 2500, "skipped": 0,
        "result": {
            "phase": name, "containers": 500, "frames_window": 1500, "frames_total": 2500,
            "cpu_us_per_frame": cpu, "rss_per_stream_bytes": rss, "cpu_percent": 1.5,
            "p50_us": p50_us, "latency_cdf": cdf, "series": series,
        }
    })
}

/// The figures' contents, as python3's XML parser sees the whole page: for each `figure`
/// id, the `data-series` of its polylines and its number of bars.
fn parse(html: &Path) -> Value {
    const SCRIPT: &str = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
out = {}
for fig in root.iter("figure"):
    lines = [e.get("data-series") for e in fig.iter() if e.tag.endswith("polyline")]
    bars = [e for e in fig.iter() if e.tag.endswith("rect") and e.get("class") == "bar"]
    out[fig.get("id")] = {"lines": lines, "bars": len(bars)}
print(json.dumps(out))
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(html)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{} is not well-formed: {}",
        html.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn lines(figures: &Value, id: &str) -> Vec<String> {
    figures[id]["lines"]
        .as_array()
        .unwrap_or_else(|| panic!("no figure {id}: {figures}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Nothing in the page is fetched: no script, no link, no external reference.
fn self_contained(html: &str) {
    for bad in [
        "<script", "<link", "<img", "src=", "href=", "url(", "@import",
    ] {
        assert!(!html.contains(bad), "the page has {bad}");
    }
    // The one URL is the SVG namespace's name.
    let urls = html.matches("http").count();
    let ns = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(urls, ns, "a URL besides the SVG namespace");
}

#[test]
fn canned_result_renders() {
    let dir = scratch("canned");
    let weird = "cli <&\"'>";
    let data = json!({
        "command": "dockstat-loadbench run --containers 500 --report /tmp/x",
        "date": "2026-12-03 12:00:00 UTC",
        "machine": {"nproc": 2, "kernel": "6.1.0", "cpu": "a <CPU>"},
        "stdout": "phase  CPU µs/f\nfloor  4.05 <&>\n",
        "phases": [
            phase("floor", 4.05, 32.0, None),
            phase("dockstat", 4.81, 900.0, Some(236.0)),
            phase("bollard", 34.5, 26_000.0, Some(312.0)),
            phase(weird, 6.0, 2000.0, Some(80.0)),
            phase("dockstat-period", 5.0, 1000.0, Some(150.0)),
        ],
    });
    let from = dir.join("in.json");
    std::fs::write(&from, data.to_string()).unwrap();
    let out = Command::new(BENCH)
        .args(["report", "--from"])
        .arg(&from)
        .arg("--report")
        .arg(dir.join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html_path = dir.join("out/index.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    self_contained(&html);
    assert!(!html.contains(weird) && html.contains("cli &lt;&amp;&quot;&#39;&gt;"));
    assert!(
        html.contains("floor  4.05 &lt;&amp;&gt;"),
        "the printed table"
    );
    assert!(html.contains("Latency n/a (not measured): floor"));
    assert!(html.contains("dockstat ÷ floor CPU per frame: 1.19"));
    assert!(html.contains("bollard ÷ dockstat CPU per frame: 7.17"));

    let figures = parse(&html_path);
    assert_eq!(
        lines(&figures, "cdf"),
        ["dockstat", "bollard", weird, "dockstat-period"],
        "one CDF line per phase with latency"
    );
    assert_eq!(figures["cpu"]["bars"], 5);
    assert_eq!(figures["rss"]["bars"], 5);
    assert_eq!(lines(&figures, "cpu-time").len(), 5);
    assert_eq!(lines(&figures, "rss-time").len(), 5);
    // The data it was drawn from is kept beside it.
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/result.json")).unwrap())
            .unwrap();
    assert!(kept == data, "result.json differs from the input");

    screenshot(&html_path, &dir.join("shot.png"));
}

#[test]
fn a_run_writes_its_report() {
    let dir = scratch("run");
    let out = Command::new(BENCH)
        .args([
            "run",
            "--containers",
            "50",
            "--warmup",
            "1",
            "--seconds",
            "2",
        ])
        .args(["--phases", "floor,dockstat", "--strict", "--report"])
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let data: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    // What was printed is in the report, as printed.
    assert_eq!(data["stdout"].as_str(), Some(&*stdout));
    assert_eq!(
        data["machine"]["kernel"].as_str().map(str::is_empty),
        Some(false)
    );
    for p in data["phases"].as_array().unwrap() {
        let series = p["result"]["series"].as_array().unwrap();
        // Open, 1 s warm-up, 2 s window, 1 s of quiet drain: samples each second, and one
        // at the end.
        assert!(series.len() >= 4, "{}: {series:?}", p["name"]);
        let t: Vec<u64> = series.iter().map(|s| s[0].as_u64().unwrap()).collect();
        assert!(t.windows(2).all(|w| w[0] <= w[1]), "{t:?}");
        assert!(series.iter().all(|s| s[2].as_u64().unwrap() > 0), "RSS");
    }
    let html_path = dir.join("index.html");
    let html = std::fs::read_to_string(&html_path).unwrap();
    self_contained(&html);
    assert!(html.contains("Latency n/a (not measured): floor"));
    let figures = parse(&html_path);
    assert_eq!(lines(&figures, "cdf"), ["dockstat"]);
    assert_eq!(lines(&figures, "rss-time"), ["floor", "dockstat"]);
}

/// Chromium's screenshot of `html` into `png`, checked; a loud SKIPPED without chromium
/// (a failure under `CI=true`).
fn screenshot(html: &Path, png: &Path) {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| {
        Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .is_ok_and(|o| o.status.success())
    }) else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("chromium is not installed (CI=true): the report's rendering cannot be checked");
        }
        eprintln!(
            "SKIPPED: chromium not installed; the report's HTML was checked, not its rendering"
        );
        return;
    };
    let profile = png.with_extension("profile");
    let isolated = Command::new("unshare")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut command = if isolated {
        let mut c = Command::new("unshare");
        c.args(["-n", chromium]);
        c
    } else {
        Command::new(chromium)
    };
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args([
            "--no-first-run",
            "--disable-background-networking",
            "--disable-sync",
        ])
        .args(["--disable-component-update", "--proxy-server=127.0.0.1:9"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1280,2400")
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("chromium");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took over 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = std::fs::remove_dir_all(&profile);
    assert!(status.success(), "chromium: {status}");
    check_png(png);
}

/// The PNG is 1280×2400 and not blank: more than a few distinct colours in its top 600 rows
/// (the header and the latency chart; decoding all of it in Python takes too long).
fn check_png(png: &Path) {
    const SCRIPT: &str = r#"
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(d):
    n, kind = struct.unpack(">I", d[pos:pos + 4])[0], d[pos + 4:pos + 8]
    body = d[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
stride = w * bpp
raw = zlib.decompressobj().decompress(idat, 700 * (stride + 1))
prev, colours = bytearray(stride), set()
for y in range(min(h, 600)):
    f = raw[y * (stride + 1)]
    row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: row[i] = (row[i] + a) & 255
        elif f == 2: row[i] = (row[i] + b) & 255
        elif f == 3: row[i] = (row[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    colours.update(bytes(row[i:i + 3]) for i in range(0, stride, bpp))
    prev = row
print(w, h, len(colours))
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(png)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}: {}",
        png.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<u64> = text
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(&v[..2], [1280, 2400], "screenshot size");
    assert!(v[2] > 16, "{} distinct colours: blank?", v[2]);
    eprintln!(
        "screenshot {}: {}×{}, {} colours in the top 600 rows",
        png.display(),
        v[0],
        v[1],
        v[2]
    );
}
