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

/// The largest magnitude drawn: past it a value is drawn at the edge, so
/// that the value range stays finite.
const DRAWN_MAX: f64 = 1e300;

/// A number as a label: integers plainly (below 10^15), others with at
/// least 3 significant digits and up to 3 decimals; below 0.001 and from
/// 10^15 on in scientific notation (`6e-5`, `1.23e20`); `NaN`, `inf` and
/// `-inf` as such.
pub(crate) fn number(v: f64) -> String {
    let trim = |s: String| s.trim_end_matches('0').trim_end_matches('.').to_owned();
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 1e15 || (a < 1e-3 && a > 0.0) {
        let s = format!("{v:.2e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{exponent}", trim(mantissa.to_owned()));
    }
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else {
        // 3 significant digits for small values (0.00123), else 3 decimals.
        let decimals = (2 - a.log10().floor() as i32).max(3) as usize;
        trim(format!("{v:.decimals$}"))
    }
}

/// `secs` before now, exactly: `now`, `-30s`, `-5m`, `-2h`.
fn ago(secs: u64) -> String {
    match secs {
        0 => "now".to_owned(),
        s if s % 3_600 == 0 => format!("-{}h", s / 3_600),
        s if s % 60 == 0 => format!("-{}m", s / 60),
        s => format!("-{s}s"),
    }
}

/// Seconds between time-axis ticks: the shortest round step giving at
/// most 4 intervals over `span` seconds.
fn tick_step(span: u64) -> u64 {
    const STEPS: [u64; 17] = [
        10, 15, 20, 30, 60, 120, 300, 600, 900, 1_200, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200,
        86_400,
    ];
    STEPS
        .into_iter()
        .find(|s| span / s <= 4)
        .unwrap_or(span.div_ceil(4).max(1))
}

/// A value as drawn: finite, within `±DRAWN_MAX`.
fn drawn(v: f64) -> Option<f64> {
    v.is_finite().then(|| v.clamp(-DRAWN_MAX, DRAWN_MAX))
}

/// A graph of `series` over `(from, until]`, as lines or bars of one flush
/// interval (`step` seconds) each.
pub(crate) fn chart(series: &[Series], from: u64, until: u64, step: u64, bars: bool) -> String {
    let span = until.saturating_sub(from).max(1) as f64;
    let values = series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|p| drawn(p.1)));
    let (lo, hi) = values.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let hi = if hi <= lo { lo + lo.abs().max(1.0) } else { hi };
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
    // Ticks at whole steps before `until`, each labelled exactly.
    let step_secs = tick_step(until.saturating_sub(from));
    let ticks = (0..).map_while(|k: u64| {
        let ago = k.checked_mul(step_secs)?;
        until
            .checked_sub(ago)
            .filter(|t| *t >= from)
            .map(|t| (t, ago))
    });
    for (t, secs) in ticks {
        let at = x(t);
        let anchor = if secs == 0 {
            "end"
        } else if at < LEFT + 16.0 {
            "start"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{}\" y2=\"{}\" stroke=\"#bbb\"/>\
             <text x=\"{at:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"{anchor}\" fill=\"#555\">{}</text>",
            TOP + ph,
            TOP + ph + 4.0,
            H - 8.0,
            ago(secs)
        );
    }
    let n = series.len().max(1) as f64;
    let bar_w = ((step as f64 / span) * pw / n).max(1.0);
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points: Vec<(u64, f64)> = s
            .points
            .iter()
            .filter_map(|&(t, v)| Some((t, drawn(v)?)))
            .collect();
        if bars {
            for &(t, v) in &points {
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
        let path: Vec<String> = points
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        if points.len() <= 60 {
            for &(t, v) in &points {
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

    /// `(x, label)` of each time-axis label (the ones below the frame).
    fn time_labels(svg: &str) -> Vec<(f64, String)> {
        svg.split("<text ")
            .skip(1)
            .filter(|t| t.contains(&format!("y=\"{}\"", H - 8.0)))
            .map(|t| {
                let x = t["x=\"".len()..].split('"').next().expect("an x");
                let label = t.split('>').nth(1).expect("a label");
                let label = label.split('<').next().expect("a label");
                (x.parse().expect("a number"), label.to_owned())
            })
            .collect()
    }

    /// Seconds before now a label says.
    fn seconds(label: &str) -> u64 {
        let n = |s: &str| s.parse::<u64>().expect("a number");
        match label {
            "now" => 0,
            l if l.ends_with('h') => n(&l[1..l.len() - 1]) * 3_600,
            l if l.ends_with('m') => n(&l[1..l.len() - 1]) * 60,
            l => n(&l[1..l.len() - 1]),
        }
    }

    #[test]
    fn time_labels_sit_where_they_say() {
        let s = Series {
            name: "x".into(),
            points: vec![(1_700_000_000, 1.0)],
        };
        // Spans of a fresh session, odd ones, a full window.
        for (from, until) in [
            (1_699_999_699, 1_700_000_003),
            (1_699_999_000, 1_700_000_017),
            (1_700_000_000 - 3_600, 1_700_000_009),
            (1_700_000_000 - 86_400, 1_700_000_001),
            (1_699_999_990, 1_700_000_000),
        ] {
            let svg = chart(std::slice::from_ref(&s), from, until, 10, false);
            let labels = time_labels(&svg);
            assert!(labels.len() >= 2, "{from}..{until}: {labels:?}");
            let span = (until - from) as f64;
            for (x, label) in labels {
                let t = until - seconds(&label);
                let exact = LEFT + (t - from) as f64 / span * (W - LEFT - RIGHT);
                // The label is at its time (to the SVG's 0.1 px).
                assert!((x - exact).abs() <= 0.05, "{label} at {x}, not {exact}");
            }
        }
    }

    #[test]
    fn labels_keep_small_values_and_never_run_away() {
        assert_eq!(number(6e-5), "6e-5");
        assert_eq!(number(0.00123), "0.00123");
        assert_eq!(number(-0.0456), "-0.0456");
        assert_eq!(number(1.5e20), "1.5e20");
        assert_eq!(number(1e300), "1e300");
        assert_eq!(number(f64::MAX), "1.8e308");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::NEG_INFINITY), "-inf");
        assert_eq!(number(0.0), "0");
        let s = Series {
            name: "x".into(),
            points: vec![
                (1_010, f64::MAX),
                (1_020, -f64::MAX),
                (1_030, f64::INFINITY),
                (1_040, f64::NAN),
                (1_050, 6e-5),
            ],
        };
        for bars in [false, true] {
            let svg = chart(std::slice::from_ref(&s), 1_000, 1_300, 10, bars);
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
            let longest = svg
                .split('>')
                .filter_map(|t| t.split('<').next())
                .map(str::len)
                .max();
            assert!(longest < Some(12), "{svg}");
        }
        let tiny = Series {
            name: "x".into(),
            points: vec![(1_010, 6e-5)],
        };
        let svg = chart(&[tiny], 1_000, 1_300, 10, false);
        assert!(svg.contains(">6e-5<"), "the top of the axis: {svg}");
    }
}
