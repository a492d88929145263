//! Plain SVG charts for self-contained HTML reports (the load bench's and the soak's): axes
//! with ticks, polylines, horizontal bars and a legend, drawn as text. Nothing is fetched:
//! no script, font or image, the styles are inline.
//!
//! Every piece of text that goes into a document passes through [`escape`], and every
//! element is closed (`<line/>`), so a page from [`page`] is also well-formed XML.

use std::fmt::Write as _;

/// Escapes `&`, `<`, `>`, `"` and `'` for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; tabs and newlines are.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Distinct colours, one per series, in order (Okabe–Ito and a few more).
const PALETTE: [&str; 12] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#7f3c8d",
    "#a5aa99", "#8c564b", "#f0e442", "#17becf",
];

/// The colour of series `i` (the palette repeats past its end).
pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// How an axis maps values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    Linear,
    /// Base 10; values at or below zero are drawn at the axis' minimum.
    Log,
}

/// One axis: its range, scale, title and how tick values are written.
#[derive(Clone, Debug)]
pub struct Axis {
    pub min: f64,
    pub max: f64,
    pub scale: Scale,
    pub title: String,
    pub format: fn(f64) -> String,
}

impl Axis {
    /// A linear axis from 0 (or the data's minimum, if negative) to a round number above
    /// the data's maximum.
    pub fn linear(title: &str, values: impl IntoIterator<Item = f64>) -> Axis {
        let (mut lo, mut hi) = (0.0f64, 0.0f64);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi <= lo {
            hi = lo + 1.0;
        }
        let step = nice_step(hi - lo);
        Axis {
            min: (lo / step).floor() * step,
            max: (hi / step).ceil() * step,
            scale: Scale::Linear,
            title: title.to_owned(),
            format: number,
        }
    }

    /// A log axis over the decades that hold the positive values.
    pub fn log(title: &str, values: impl IntoIterator<Item = f64>) -> Axis {
        let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
        for v in values.into_iter().filter(|v| v.is_finite() && *v > 0.0) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if hi == 0.0 {
            (lo, hi) = (1.0, 10.0);
        }
        let (lo, mut hi) = (
            10f64.powf(lo.log10().floor()),
            10f64.powf(hi.log10().ceil()),
        );
        if hi <= lo {
            hi = lo * 10.0;
        }
        Axis {
            min: lo,
            max: hi,
            scale: Scale::Log,
            title: title.to_owned(),
            format: number,
        }
    }

    /// With this tick format.
    pub fn format(mut self, format: fn(f64) -> String) -> Axis {
        self.format = format;
        self
    }

    /// Where `v` falls, 0 at `min` to 1 at `max` (clamped).
    pub fn frac(&self, v: f64) -> f64 {
        let f = match self.scale {
            Scale::Linear => (v - self.min) / (self.max - self.min),
            Scale::Log if v <= 0.0 => 0.0,
            Scale::Log => (v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10()),
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }

    /// Tick values: round steps (linear) or each power of ten (log).
    pub fn ticks(&self) -> Vec<f64> {
        match self.scale {
            Scale::Linear => {
                let step = nice_step(self.max - self.min);
                let mut v = (self.min / step).ceil() * step;
                let mut out = Vec::new();
                while v <= self.max + step * 1e-9 && out.len() < 50 {
                    out.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
                    v += step;
                }
                out
            }
            Scale::Log => {
                let mut v = self.min;
                let mut out = Vec::new();
                while v <= self.max * 1.000_001 && out.len() < 50 {
                    out.push(v);
                    v *= 10.0;
                }
                out
            }
        }
    }
}

/// A step of 1, 2 or 5 × 10ⁿ giving four to ten ticks over `span`.
fn nice_step(span: f64) -> f64 {
    let raw = span / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| span / s <= 10.0)
        .unwrap_or(10.0 * magnitude);
    if step.is_finite() && step > 0.0 {
        step
    } else {
        1.0
    }
}

/// A number in few characters: `0.25`, `12`, `1.5k`, `2M`.
pub fn number(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = if scaled.fract() == 0.0 || scaled.abs() >= 100.0 {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 10.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// One line of a line chart.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub colour: &'static str,
    /// Drawn dashed (and in the legend too): a line that may lie on another stays visible.
    pub dashed: bool,
    pub points: Vec<(f64, f64)>,
}

/// Plot area margins: left (tick labels and title), right, top (title), bottom (ticks, title).
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;
/// Height of one legend row.
const LEGEND_ROW: f64 = 18.0;

/// A line chart: each series a polyline in its colour (`class="line"`, `data-series` its
/// name), axes with ticks and grid, a title, and a legend underneath (one entry per series,
/// wrapped in rows).
pub fn line_chart(title: &str, x: &Axis, y: &Axis, series: &[Series], width: f64) -> String {
    let plot_h = 220.0;
    let legend = legend_layout(series.iter().map(|s| s.name.as_str()), width);
    let height = TOP + plot_h + BOTTOM + legend.rows as f64 * LEGEND_ROW + 6.0;
    let plot_w = width - LEFT - RIGHT;
    let px = |v: f64| LEFT + x.frac(v) * plot_w;
    let py = |v: f64| TOP + (1.0 - y.frac(v)) * plot_h;
    let mut svg = open_svg(width, height, title);
    axes(&mut svg, x, y, plot_w, plot_h);
    for s in series {
        let mut points = String::new();
        for &(a, b) in s
            .points
            .iter()
            .filter(|(a, b)| a.is_finite() && b.is_finite())
        {
            let _ = write!(points, "{:.1},{:.1} ", px(a), py(b));
        }
        let _ = writeln!(
            svg,
            r#"<polyline class="line" data-series="{}" fill="none" stroke="{}" stroke-width="1.8" stroke-linejoin="round"{} points="{}"/>"#,
            escape(&s.name),
            s.colour,
            dash(s),
            points.trim_end()
        );
    }
    legend.draw(&mut svg, series, TOP + plot_h + BOTTOM);
    svg.push_str("</svg>\n");
    svg
}

/// One bar: its label, its value (`None`: drawn as "n/a") and the text written after it.
#[derive(Clone, Debug)]
pub struct Bar {
    pub label: String,
    pub colour: &'static str,
    pub value: Option<f64>,
    pub text: String,
}

/// A horizontal bar chart, one row per bar (`class="bar"`), each labelled with its text.
pub fn bar_chart(title: &str, bars: &[Bar], width: f64) -> String {
    let row = 26.0;
    let label_w = 130.0;
    let text_w = 150.0;
    let height = TOP + bars.len() as f64 * row + 10.0;
    let max = bars
        .iter()
        .filter_map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let bar_w = width - label_w - text_w - 16.0;
    let mut svg = open_svg(width, height, title);
    for (i, b) in bars.iter().enumerate() {
        let top = TOP + i as f64 * row;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 6.0,
            top + row / 2.0 + 4.0,
            escape(&b.label)
        );
        let length = match b.value {
            Some(v) if max > 0.0 && v.is_finite() => (v.max(0.0) / max * bar_w).max(1.0),
            _ => 0.0,
        };
        let _ = writeln!(
            svg,
            r#"<rect class="bar" x="{label_w:.1}" y="{:.1}" width="{length:.1}" height="{:.1}" fill="{}"/>"#,
            top + 4.0,
            row - 8.0,
            b.colour
        );
        let text = if b.value.is_some() { &b.text } else { "n/a" };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            label_w + length + 6.0,
            top + row / 2.0 + 4.0,
            escape(text)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A whole HTML page: the title as heading, inline styles, then `body` (already escaped
/// markup). Well-formed XML too.
pub fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<title>{title}</title>
<style>
body {{ font: 14px/1.4 sans-serif; margin: 16px 24px; color: #222; background: #fff; }}
h1 {{ font-size: 20px; margin: 0 0 8px; }}
h2 {{ font-size: 16px; margin: 20px 0 6px; }}
pre {{ font: 11px/1.3 monospace; background: #f4f4f4; padding: 8px; white-space: pre-wrap; }}
figure {{ margin: 0; }}
table.meta td {{ padding: 1px 12px 1px 0; vertical-align: top; }}
.row {{ display: flex; flex-wrap: wrap; gap: 16px; }}
svg {{ font: 11px sans-serif; background: #fff; }}
svg .title {{ font: bold 13px sans-serif; }}
.ok {{ color: #070; font-weight: bold; }}
.fail {{ color: #b00; font-weight: bold; }}
</style>
</head>
<body>
<h1>{title}</h1>
{body}</body>
</html>
"#,
        title = escape(title)
    )
}

fn open_svg(width: f64, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\">\n<text class=\"title\" x=\"{LEFT}\" \
         y=\"18\">{}</text>\n",
        escape(title)
    )
}

/// Frame, grid, ticks and titles of the plot area.
fn axes(svg: &mut String, x: &Axis, y: &Axis, plot_w: f64, plot_h: f64) {
    let (left, top, right, bottom) = (LEFT, TOP, LEFT + plot_w, TOP + plot_h);
    for t in x.ticks() {
        let at = left + x.frac(t) * plot_w;
        let _ = writeln!(
            svg,
            r##"<line x1="{at:.1}" y1="{top:.1}" x2="{at:.1}" y2="{bottom:.1}" stroke="#e4e4e4"/><text x="{at:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 14.0,
            escape(&(x.format)(t))
        );
    }
    for t in y.ticks() {
        let at = top + (1.0 - y.frac(t)) * plot_h;
        let _ = writeln!(
            svg,
            r##"<line x1="{left:.1}" y1="{at:.1}" x2="{right:.1}" y2="{at:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left - 4.0,
            at + 4.0,
            escape(&(y.format)(t))
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{left:.1}" y="{top:.1}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#888"/>"##
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        left + plot_w / 2.0,
        bottom + 32.0,
        escape(&x.title)
    );
    let _ = writeln!(
        svg,
        r#"<text x="14" y="{:.1}" text-anchor="middle" transform="rotate(-90 14 {:.1})">{}</text>"#,
        top + plot_h / 2.0,
        top + plot_h / 2.0,
        escape(&y.title)
    );
}

fn dash(s: &Series) -> &'static str {
    if s.dashed {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    }
}

/// Legend entries in rows across the width.
struct Legend {
    rows: usize,
    /// (x, row) of each entry.
    places: Vec<(f64, usize)>,
}

fn legend_layout<'a>(names: impl Iterator<Item = &'a str>, width: f64) -> Legend {
    let (mut x, mut row, mut places) = (LEFT, 0, Vec::new());
    for name in names {
        // About 6.5 px per character at 11 px, plus the swatch.
        let w = 28.0 + name.chars().count() as f64 * 6.5;
        if x + w > width - RIGHT && x > LEFT {
            (x, row) = (LEFT, row + 1);
        }
        places.push((x, row));
        x += w + 10.0;
    }
    Legend {
        rows: if places.is_empty() { 0 } else { row + 1 },
        places,
    }
}

impl Legend {
    fn draw(&self, svg: &mut String, series: &[Series], top: f64) {
        for (s, &(x, row)) in series.iter().zip(&self.places) {
            let y = top + row as f64 * LEGEND_ROW + 10.0;
            let _ = writeln!(
                svg,
                r#"<g class="legend"><line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="3"{}/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
                x + 20.0,
                s.colour,
                dash(s),
                x + 24.0,
                y + 4.0,
                escape(&s.name)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn log_axis_covers_decades() {
        let a = Axis::log("x", [3.0, 4200.0]);
        assert_eq!((a.min, a.max), (1.0, 10_000.0));
        assert_eq!(a.ticks(), vec![1.0, 10.0, 100.0, 1000.0, 10_000.0]);
        assert_eq!(a.frac(100.0), 0.5);
        assert_eq!(a.frac(0.0), 0.0);
    }

    #[test]
    fn linear_ticks_are_round() {
        let a = Axis::linear("y", [0.0, 87.0]);
        assert_eq!(a.max, 90.0);
        assert_eq!(a.ticks().first(), Some(&0.0));
        assert_eq!(number(12_500.0), "12.5k");
        assert_eq!(number(0.25), "0.25");
    }

    #[test]
    fn charts_close_every_element() {
        let x = Axis::linear("t", [0.0, 10.0]);
        let y = Axis::linear("v", [0.0, 1.0]);
        let s = [Series {
            name: "a<b".into(),
            colour: colour(0),
            dashed: true,
            points: vec![(0.0, 0.0), (10.0, 1.0)],
        }];
        let svg = line_chart("t", &x, &y, &s, 600.0);
        assert!(svg.contains("a&lt;b") && !svg.contains("a<b"));
        assert_eq!(
            svg.matches("stroke-dasharray").count(),
            2,
            "the line and its legend"
        );
        assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
        let bars = bar_chart(
            "b",
            &[Bar {
                label: "x".into(),
                colour: colour(1),
                value: None,
                text: String::new(),
            }],
            400.0,
        );
        assert!(bars.contains("n/a"));
    }
}
