//! Hand-written SVG graphs, rendered on the server (no script, no CDN).

use std::fmt::Write as _;

use super::view::Series;

pub(crate) const PALETTE: &[&str] = &[
    "#632ca6", "#1f77b4", "#e6550d", "#2ca02c", "#d62728", "#8c564b", "#e377c2", "#17becf",
];

const W: f64 = 560.0;
const H: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

/// Escapes text for HTML and SVG.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A number as a graph label: integers plainly, others with up to 3 decimals.
pub(crate) fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn ago(secs: u64) -> String {
    match secs {
        0 => "now".to_owned(),
        s if s >= 90 => format!("-{}m", (s + 30) / 60),
        s => format!("-{s}s"),
    }
}

/// A graph of `series` over `(from, until]`, as lines or bars of one flush
/// interval (`step` seconds) each.
pub(crate) fn chart(series: &[Series], from: u64, until: u64, step: u64, bars: bool) -> String {
    let span = until.saturating_sub(from).max(1) as f64;
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi) = values.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let hi = if hi <= lo { lo + 1.0 } else { hi };
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |t: u64| LEFT + (t.saturating_sub(from) as f64 / span) * pw;
    let y = |v: f64| TOP + ph - ((v - lo) / (hi - lo)) * ph;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" style=\"width:100%;height:auto\" role=\"img\">\
         <rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\" fill=\"#fafafa\" stroke=\"#ddd\"/>"
    );
    for i in 0..=2 {
        let v = lo + (hi - lo) * f64::from(i) / 2.0;
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y(v) + 4.0,
            number(v),
            y = y(v),
        );
    }
    for i in 0..=3u64 {
        let t = from + (until - from) * i / 3;
        let anchor = match i {
            0 => "start",
            3 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"{anchor}\" fill=\"#555\">{}</text>",
            x(t),
            H - 8.0,
            ago(until - t)
        );
    }
    let n = series.len().max(1) as f64;
    let bar_w = ((step as f64 / span) * pw / n).max(1.0);
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        if bars {
            for &(t, v) in &s.points {
                let (top, bottom) = (y(v.max(0.0)), y(v.min(0.0)));
                // The interval still running is cut at the frame.
                let left = x(t) + bar_w * i as f64;
                let width = bar_w.min(W - RIGHT - left).max(0.5);
                let _ = write!(
                    svg,
                    "<rect x=\"{left:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{color}\"/>",
                    (bottom - top).max(0.5)
                );
            }
            continue;
        }
        let path: Vec<String> = s
            .points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        if s.points.len() <= 60 {
            for &(t, v) in &s.points {
                let _ = write!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"/>",
                    x(t),
                    y(v)
                );
            }
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_hostile_names_and_draws_each_point() {
        assert_eq!(
            escape("<a href='x'>&\"\u{7}"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\u{fffd}"
        );
        let s = Series {
            name: "x".into(),
            points: vec![(1_010, 1.0), (1_020, 3.0)],
        };
        let svg = chart(std::slice::from_ref(&s), 1_000, 1_300, 10, false);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("<polyline"));
        let bars = chart(&[s], 1_000, 1_300, 10, true);
        assert_eq!(bars.matches("<rect").count(), 3, "the frame and two bars");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.125), "0.125");
        assert_eq!(number(33.3333), "33.333");
    }
}
