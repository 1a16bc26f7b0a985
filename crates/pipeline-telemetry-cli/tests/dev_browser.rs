//! `pipeline-telemetry-cli dev` in a real browser: headless Chromium takes
//! a screenshot of the page after the README's example ran against it.
//! `PT_DEV_SCREENSHOT=<file>` keeps a copy of the screenshot.

mod dev;

use std::process::Command;

use dev::example_against_dev;
use pipeline_telemetry_monitors::dashboard::dashboard;
use serde_json::Value;

/// Finds the plot areas of a screenshot and the coloured pixels in each.
const PLOTS: &str = include_str!("dev/plots.py");

/// The titles of the dashboard's graphs (`timeseries` widgets), in order.
fn graph_titles(widgets: &Value, out: &mut Vec<String>) {
    for w in widgets.as_array().into_iter().flatten() {
        let def = &w["definition"];
        graph_titles(&def["widgets"], out);
        if def["type"] == "timeseries" {
            out.extend(def["title"].as_str().map(str::to_owned));
        }
    }
}

/// Decodes a PNG with Python's standard library and prints
/// `width height distinct_colours non_white_fraction`.
const PNG_STATS: &str = r#"
import sys, zlib, struct
data = open(sys.argv[1], 'rb').read()
assert data[:8] == b'\x89PNG\r\n\x1a\n', 'not a PNG'
pos, idat, ihdr = 8, b'', None
while pos < len(data):
    n, kind = struct.unpack('>I4s', data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b'IHDR': ihdr = struct.unpack('>IIBBBBB', body)
    if kind == b'IDAT': idat += body
    pos += 12 + n
w, h, depth, ctype = ihdr[:4]
assert depth == 8 and ctype in (2, 6), ihdr
bpp = 3 if ctype == 2 else 4
raw, stride, prev, colours, ink = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set(), 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp * 4):
        px = bytes(line[x:x + 3]); colours.add(px); ink += px != b'\xff\xff\xff'
    prev = line
print(w, h, len(colours), ink / (h * ((stride + bpp * 4 - 1) // (bpp * 4))))
"#;

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

#[test]
fn a_real_browser_renders_the_page() {
    let Some(browser) = chromium() else {
        panic!(
            "headless Chromium is needed: run scripts/setup-peers.sh, which installs \
             Debian's chromium with apt-get, or apt-get install -y chromium"
        );
    };
    let (server, _, _) = example_against_dev();
    let dir = std::env::temp_dir().join(format!("pt-dev-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let png = dir.join("dev-dashboard.png");
    let url = format!("http://{}/", server.http);
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            // Anything not on loopback goes to a dead loopback proxy.
            "--proxy-server=127.0.0.1:9",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", png.display()))
        .args(["--window-size=1400,2400", &url])
        .output()
        .expect("chromium runs");
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let size = std::fs::metadata(&png).expect("screenshot").len();
    assert!(
        size > 50_000,
        "a {size}-byte screenshot is too small to show the page"
    );
    let stats = Command::new("python3")
        .arg("-c")
        .arg(PNG_STATS)
        .arg(&png)
        .output()
        .expect("python3 runs");
    let stats = String::from_utf8_lossy(&stats.stdout);
    let f: Vec<f64> = stats
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    assert_eq!(f.len(), 4, "PNG stats: {stats}");
    assert_eq!((f[0], f[1]), (1400.0, 2400.0));
    assert!(f[2] >= 20.0, "{} colours: a blank page", f[2]);
    assert!(
        f[3] > 0.2,
        "{:.3} of the page is not white: a blank page",
        f[3]
    );
    // Every graph the example feeds is drawn: a plot area with a line, points
    // or bars in it for each (a missing or empty graph leaves its frame
    // blank, or no frame).
    let api = server.json("/api/dashboard");
    let mut titles = Vec::new();
    graph_titles(&dashboard()["widgets"], &mut titles);
    let fed: Vec<&String> = titles
        .iter()
        .filter(|t| api[t.as_str()].as_object().is_some_and(|s| !s.is_empty()))
        .collect();
    assert!(fed.len() >= 5, "the example feeds these graphs: {fed:?}");
    let plots = Command::new("python3")
        .arg("-c")
        .arg(PLOTS)
        .arg(&png)
        .output()
        .expect("python3 runs");
    let plots = String::from_utf8_lossy(&plots.stdout);
    let inked = plots
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4)?.parse::<u64>().ok())
        .filter(|ink| *ink >= 8)
        .count();
    assert!(
        inked >= fed.len(),
        "{inked} plot areas have something drawn in them, but the example feeds {} graphs ({fed:?}); \
         plot areas (x0 y0 x1 y1 coloured pixels):\n{plots}",
        fed.len()
    );
    if let Some(keep) = std::env::var_os("PT_DEV_SCREENSHOT") {
        std::fs::copy(&png, keep).expect("copies the screenshot");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
