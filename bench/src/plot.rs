//! A hand-written SVG: throughput and latency (p50 dashed, p99 solid)
//! against concurrency, one line per target, log-scaled x axis.

use std::fmt::Write as _;

pub struct Series {
    pub name: String,
    pub color: &'static str,
    /// (concurrency, commands/s, p50 ms, p99 ms)
    pub points: Vec<(usize, f64, f64, f64)>,
}

const W: f64 = 460.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 40.0;

fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(v.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= v {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

#[allow(clippy::too_many_arguments)]
fn panel(
    svg: &mut String,
    x0: f64,
    title: &str,
    unit: &str,
    concurrency: &[usize],
    series: &[Series],
    value: impl Fn(&(usize, f64, f64, f64)) -> Vec<(f64, bool)>,
) {
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().flat_map(&value).map(|(v, _)| v))
        .fold(0.0f64, f64::max);
    let max = nice_max(max * 1.05);
    let (cmin, cmax) = (
        *concurrency.first().unwrap_or(&1) as f64,
        *concurrency.last().unwrap_or(&2) as f64,
    );
    let span = (cmax.ln() - cmin.ln()).max(1e-9);
    let x = |c: f64| x0 + LEFT + (c.ln() - cmin.ln()) / span * W;
    let y = |v: f64| TOP + H - v / max * H;
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" font-size="15" font-weight="bold">{title}</text>"#,
        x0 + LEFT
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{}" y="{TOP}" width="{W}" height="{H}" fill="none" stroke="#888"/>"##,
        x0 + LEFT
    );
    for i in 0..=5 {
        let v = max * i as f64 / 5.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{}" x2="{}" y1="{yy}" y2="{yy}" stroke="#ddd"/><text x="{}" y="{}" font-size="11" text-anchor="end">{}</text>"##,
            x0 + LEFT,
            x0 + LEFT + W,
            x0 + LEFT - 6.0,
            y(v) + 4.0,
            if max >= 100.0 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            },
            yy = y(v),
        );
    }
    for &c in concurrency {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{c}</text>"#,
            x(c as f64),
            TOP + H + 16.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="12" text-anchor="middle">callers in flight (log scale)</text><text x="{}" y="{}" font-size="12" transform="rotate(-90 {} {})" text-anchor="middle">{unit}</text>"#,
        x0 + LEFT + W / 2.0,
        TOP + H + 34.0,
        x0 + 18.0,
        TOP + H / 2.0,
        x0 + 18.0,
        TOP + H / 2.0
    );
    for s in series {
        let lines = s.points.first().map_or(0, |p| value(p).len());
        for line in 0..lines {
            let mut points = String::new();
            let mut dashed = false;
            for p in &s.points {
                let (v, d) = value(p)[line];
                dashed = d;
                let _ = write!(points, "{:.1},{:.1} ", x(p.0 as f64), y(v));
            }
            let _ = writeln!(
                svg,
                r#"<polyline points="{points}" fill="none" stroke="{}" stroke-width="2"{}/>"#,
                s.color,
                if dashed {
                    r#" stroke-dasharray="5,4""#
                } else {
                    ""
                }
            );
        }
    }
}

pub fn render(title: &str, series: &[Series]) -> String {
    let mut concurrency: Vec<usize> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    concurrency.sort_unstable();
    concurrency.dedup();
    let width = 2.0 * (LEFT + W + 40.0);
    let height = TOP + H + 60.0 + 22.0 * series.len() as f64 + 30.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"#
    );
    panel(
        &mut svg,
        0.0,
        "Throughput",
        "commands/s",
        &concurrency,
        series,
        |p| vec![(p.1, false)],
    );
    panel(
        &mut svg,
        LEFT + W + 40.0,
        "Latency (p50 dashed, p99 solid)",
        "ms",
        &concurrency,
        series,
        |p| vec![(p.2, true), (p.3, false)],
    );
    let legend_top = TOP + H + 60.0;
    for (i, s) in series.iter().enumerate() {
        let yy = legend_top + 22.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" x2="{}" y1="{yy}" y2="{yy}" stroke="{}" stroke-width="3"/><text x="{}" y="{}" font-size="12">{}</text>"#,
            LEFT + 30.0,
            s.color,
            LEFT + 38.0,
            yy + 4.0,
            s.name
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="{}" font-size="11" fill="#555">{title}</text></svg>"##,
        legend_top + 22.0 * series.len() as f64 + 8.0
    );
    svg
}
