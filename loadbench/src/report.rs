//! `run --report DIR`: the run as one self-contained HTML page, `DIR/index.html` (inline SVG
//! from `dockstat_sim::svg` and inline CSS; nothing is fetched), and the data it was drawn
//! from, `DIR/result.json`, which `dockstat-loadbench report --from FILE --report DIR` draws
//! again.
//!
//! The data: `{"command", "date", "machine": {"nproc", "kernel", "cpu"}, "stdout",
//! "phases": [{"name", "sent", "skipped", "result": <the phase's JSON line>}]}`. Any phase
//! names, any number of phases; a field a phase lacks is drawn as n/a.
//!
//! The page: the header (command line, date, machine, what the run printed), the latency
//! distribution of every phase that measures latency (one CDF line each, log x axis), CPU µs
//! per frame and RSS per stream as bars with the ratios to the floor and bollard ÷ dockstat,
//! then CPU % and RSS over each phase's life from its `series` samples.

use std::fmt::Write as _;
use std::path::Path;

use dockstat_sim::svg::{self, Axis, Bar, Series, escape};
use serde_json::{Value, json};

/// Chart widths, px: a full-width chart and one of two side by side.
const WIDE: f64 = 1200.0;
const HALF: f64 = 590.0;

/// The report's data for a run that just ended.
pub fn data(stdout: &str, phases: Vec<Value>) -> Value {
    let command: Vec<String> = std::env::args().map(|a| shell_word(&a)).collect();
    json!({
        "command": command.join(" "),
        "date": utc_now(),
        "machine": {
            "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "kernel": read_trimmed("/proc/sys/kernel/osrelease"),
            "cpu": std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
                c.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            }),
        },
        "stdout": stdout,
        "phases": phases,
    })
}

/// Writes `dir/index.html` and `dir/result.json` (creating `dir`).
pub fn write(dir: &Path, data: &Value) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("report {}: {e}", dir.display());
    std::fs::create_dir_all(dir).map_err(fail)?;
    std::fs::write(dir.join("result.json"), format!("{data:#}\n")).map_err(fail)?;
    std::fs::write(dir.join("index.html"), render(data)).map_err(fail)?;
    Ok(())
}

/// The page for `data`.
pub fn render(data: &Value) -> String {
    let phases: Vec<Phase> = data
        .get("phases")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .enumerate()
                .map(|(i, p)| Phase::new(i, p))
                .collect()
        })
        .unwrap_or_default();
    let mut body = String::new();
    header(&mut body, data);
    latency(&mut body, &phases);
    costs(&mut body, &phases);
    over_time(&mut body, &phases);
    svg::page("dockstat load bench", &body)
}

/// One phase as the report sees it.
struct Phase<'a> {
    name: String,
    colour: &'static str,
    result: &'a Value,
}

impl Phase<'_> {
    fn new(i: usize, p: &Value) -> Phase<'_> {
        Phase {
            name: p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            colour: svg::colour(i),
            result: p.get("result").unwrap_or(&Value::Null),
        }
    }

    fn num(&self, key: &str) -> Option<f64> {
        self.result.get(key).and_then(Value::as_f64)
    }

    /// `[[a, b], …]` pairs of the field `key` (`latency_cdf`).
    fn pairs(&self, key: &str) -> Vec<(f64, f64)> {
        self.rows(key)
            .filter_map(|r| Some((r.first()?.as_f64()?, r.get(1)?.as_f64()?)))
            .collect()
    }

    fn rows(&self, key: &str) -> impl Iterator<Item = &Vec<Value>> {
        self.result
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_array)
    }

    /// `series` as (seconds, CPU µs total, RSS KiB).
    fn samples(&self) -> Vec<(f64, f64, f64)> {
        self.rows("series")
            .filter_map(|r| {
                let v = |i: usize| r.get(i).and_then(Value::as_f64);
                Some((v(0)? / 1000.0, v(1)?, v(2)?))
            })
            .collect()
    }
}

fn header(body: &mut String, data: &Value) {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "n/a".to_owned(),
        Some(v) => v.to_string(),
    };
    let machine = data.get("machine");
    let m = |key: &str| text(machine.and_then(|m| m.get(key)));
    let rows = [
        ("command", text(data.get("command"))),
        ("date", text(data.get("date"))),
        (
            "machine",
            format!("{} CPUs ({}), Linux {}", m("nproc"), m("cpu"), m("kernel")),
        ),
    ];
    body.push_str("<table class=\"meta\">\n");
    for (key, value) in rows {
        let _ = writeln!(
            body,
            "<tr><td>{key}</td><td><code>{}</code></td></tr>",
            escape(&value)
        );
    }
    body.push_str("</table>\n");
    let _ = writeln!(
        body,
        "<h2>What the run printed</h2>\n<pre>{}</pre>",
        escape(&text(data.get("stdout")))
    );
}

fn latency(body: &mut String, phases: &[Phase]) {
    let mut series = Vec::new();
    let mut none = Vec::new();
    for p in phases {
        let cdf = p.pairs("latency_cdf");
        if cdf.is_empty() {
            none.push(p.name.as_str());
            continue;
        }
        // Steps: the fraction holds from one bucket's upper end to the next.
        let mut points = vec![(cdf[0].0, 0.0)];
        let mut last = 0.0;
        for (us, fraction) in cdf {
            points.push((us, last));
            points.push((us, fraction));
            last = fraction;
        }
        series.push(Series {
            name: p.name.clone(),
            colour: p.colour,
            dashed: false,
            points,
        });
    }
    body.push_str("<h2>Latency: delivery − the frame's <code>read</code> stamp</h2>\n");
    if !series.is_empty() {
        let x = Axis::log(
            "latency (log scale)",
            series.iter().flat_map(|s| s.points.iter().map(|p| p.0)),
        )
        .format(duration_us);
        let mut y = Axis::linear("fraction of frames", [0.0, 1.0]);
        y.max = 1.0;
        let chart = svg::line_chart(
            "Latency distribution (CDF) over the window",
            &x,
            &y,
            &series,
            WIDE,
        );
        let _ = writeln!(body, "<figure id=\"cdf\">\n{chart}</figure>");
    }
    if !none.is_empty() {
        let names: Vec<String> = none.iter().map(|n| escape(n)).collect();
        let _ = writeln!(
            body,
            "<p>Latency n/a (not measured): {}</p>",
            names.join(", ")
        );
    }
}

/// The floor a phase is compared with: `floor`, or `floor-tls` for a `-tls` phase.
fn floor_of(name: &str) -> &'static str {
    if name.ends_with("-tls") {
        "floor-tls"
    } else {
        "floor"
    }
}

fn costs(body: &mut String, phases: &[Phase]) {
    let find = |name: &str| phases.iter().find(|p| p.name == name);
    let ratio = |p: &Phase, key: &str, base: &str| -> Option<f64> {
        let base = find(base).filter(|b| b.name != p.name)?;
        Some(p.num(key)? / base.num(key).filter(|v| *v > 0.0)?)
    };
    let cpu: Vec<Bar> = phases
        .iter()
        .map(|p| {
            let value = p.num("cpu_us_per_frame");
            let mut text = value.map_or_else(String::new, |v| format!("{v:.2} µs"));
            if let Some(r) = ratio(p, "cpu_us_per_frame", floor_of(&p.name)) {
                let _ = write!(text, "  ({r:.2} × {})", floor_of(&p.name));
            }
            Bar {
                label: p.name.clone(),
                colour: p.colour,
                value,
                text,
            }
        })
        .collect();
    let rss: Vec<Bar> = phases
        .iter()
        .map(|p| {
            let value = p.num("rss_per_stream_bytes");
            Bar {
                label: p.name.clone(),
                colour: p.colour,
                value,
                text: value.map_or_else(String::new, bytes),
            }
        })
        .collect();
    body.push_str("<h2>Cost: CPU per frame and memory per stream</h2>\n<div class=\"row\">\n");
    let _ = writeln!(
        body,
        "<figure id=\"cpu\">\n{}</figure>",
        svg::bar_chart("CPU µs per frame (user + sys, window)", &cpu, HALF)
    );
    let _ = writeln!(
        body,
        "<figure id=\"rss\">\n{}</figure>",
        svg::bar_chart("RSS per stream (open − before) ÷ N", &rss, HALF)
    );
    body.push_str("</div>\n");
    // The ratios the run prints: each phase against its floor, and bollard against dockstat.
    let mut lines = Vec::new();
    for p in phases {
        let base = floor_of(&p.name);
        if let Some(r) = ratio(p, "cpu_us_per_frame", base) {
            lines.push(format!("{} ÷ {base} CPU per frame: {r:.2}", p.name));
        }
    }
    for (b, d) in [("bollard", "dockstat"), ("bollard-tls", "dockstat-tls")] {
        if let Some(r) = find(b).and_then(|p| ratio(p, "cpu_us_per_frame", d)) {
            lines.push(format!("{b} ÷ {d} CPU per frame: {r:.2}"));
        }
        if let Some(r) = find(b).and_then(|p| ratio(p, "rss_per_stream_bytes", d)) {
            lines.push(format!("{b} ÷ {d} RSS per stream: {r:.1}"));
        }
    }
    if !lines.is_empty() {
        body.push_str("<ul class=\"ratios\">\n");
        for l in lines {
            let _ = writeln!(body, "<li>{}</li>", escape(&l));
        }
        body.push_str("</ul>\n");
    }
}

fn over_time(body: &mut String, phases: &[Phase]) {
    let (mut cpu, mut rss) = (Vec::new(), Vec::new());
    for p in phases {
        let samples = p.samples();
        if samples.is_empty() {
            continue;
        }
        let percent = samples
            .windows(2)
            .filter(|w| w[1].0 > w[0].0)
            .map(|w| {
                let (a, b) = (w[0], w[1]);
                (b.0, (b.1 - a.1) / ((b.0 - a.0) * 1e6) * 100.0)
            })
            .collect();
        cpu.push(Series {
            name: p.name.clone(),
            colour: p.colour,
            dashed: false,
            points: percent,
        });
        rss.push(Series {
            name: p.name.clone(),
            colour: p.colour,
            dashed: false,
            points: samples.iter().map(|s| (s.0, s.2 / 1024.0)).collect(),
        });
    }
    body.push_str(
        "<h2>Over time: each phase from opening its streams to the end of its drain</h2>\n",
    );
    if cpu.is_empty() {
        body.push_str("<p>No samples (the phases' results have no <code>series</code>).</p>\n");
        return;
    }
    let x_values = || rss.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let x = Axis::linear("seconds since the phase began opening streams", x_values());
    let y = Axis::linear(
        "CPU % (of one core)",
        cpu.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
    );
    let _ = writeln!(
        body,
        "<figure id=\"cpu-time\">\n{}</figure>",
        svg::line_chart("CPU % per second", &x, &y, &cpu, WIDE)
    );
    let y = Axis::linear(
        "RSS (MiB)",
        rss.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
    );
    let _ = writeln!(
        body,
        "<figure id=\"rss-time\">\n{}</figure>",
        svg::line_chart("RSS (MiB)", &x, &y, &rss, WIDE)
    );
}

/// `12 µs`, `3.5 ms`, `1 s`.
fn duration_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{} s", svg::number(us / 1e6))
    } else if us >= 1e3 {
        format!("{} ms", svg::number(us / 1e3))
    } else {
        format!("{} µs", svg::number(us))
    }
}

/// `724 B`, `26.0 KiB`, as the table writes them.
fn bytes(b: f64) -> String {
    if b.abs() >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// An argument as a shell would need it written.
fn shell_word(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,=:@%+".contains(c));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The time now, UTC, as `2026-12-03 16:24:48 UTC` (the calendar is dockstat's own,
/// [`Timestamp::civil`](dockstat::stats::Timestamp::civil)).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let ((y, m, d), (hour, minute, second)) = dockstat::stats::Timestamp { secs, nanos: 0 }.civil();
    format!("{y:04}-{m:02}-{d:02} {hour:02}:{minute:02}:{second:02} UTC")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("--phases"), "--phases");
        assert_eq!(shell_word("a b'c"), r"'a b'\''c'");
    }
}
