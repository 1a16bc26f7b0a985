//! `pipeline-telemetry-cli dev` end to end: the README's example sends its
//! metrics to it through a recording relay, and its spans and log records
//! over OTLP/HTTP, and what the page and the API show is compared with what
//! was sent; hostile datagrams do not stop it; a Unix datagram socket works.

mod dev;

use std::collections::BTreeSet;
use std::net::UdpSocket;

use dev::{example_against_dev, lines, Dev};
use serde_json::Value;

/// The metric names each widget of the shipped dashboard queries.
fn widget_metrics() -> Vec<(String, BTreeSet<String>)> {
    let text = std::fs::read_to_string(dev::root().join("dashboards/pipeline.json"))
        .expect("the shipped dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("JSON");
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .collect();
    while let Some(w) = stack.pop() {
        let def = &w["definition"];
        if def["type"] == "group" {
            stack.extend(def["widgets"].as_array().expect("group widgets"));
            continue;
        }
        let metrics = def["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["queries"].as_array().into_iter().flatten())
            .filter_map(|q| q["query"].as_str())
            .filter_map(|q| {
                q.split_once(':')
                    .and_then(|(_, rest)| rest.split('{').next())
            })
            .map(str::to_owned)
            .collect();
        out.push((def["title"].as_str().expect("title").to_owned(), metrics));
    }
    out
}

/// The Agent's weight of a distribution value sent at `rate`: int64(1/rate).
fn weight(rate: f64) -> f64 {
    if rate > 0.0 && rate < 1.0 {
        (1.0 / rate).trunc()
    } else {
        1.0
    }
}

#[test]
fn the_example_shows_on_the_dev_page_as_sent() {
    let (server, sent, stdout) = example_against_dev();
    let lines = lines(&sent);
    let runs: Vec<_> = lines
        .iter()
        .filter(|l| l.name == "prefect.flow.duration" && l.kind == "d")
        .collect();
    let count = |failed: bool| -> f64 {
        runs.iter()
            .filter(|l| !failed || l.tags.iter().any(|t| t == "status:failed"))
            .map(|l| l.values as f64 * weight(l.rate))
            .sum()
    };
    let (all, failed) = (count(false), count(true));
    // The example's known behaviour: four runs, run 3 fails in spark.
    assert_eq!((all, failed), (4.0, 1.0), "{runs:?}");
    let errors: f64 = lines
        .iter()
        .filter(|l| l.name == "pipeline.errors")
        .map(|l| l.sum / l.rate)
        .sum();
    assert!(errors >= 1.0);

    let dashboard = server.json("/api/dashboard");
    let failed_pct = &dashboard["Failed runs (%)"];
    let series = failed_pct.as_object().expect("a widget object");
    assert_eq!(series.len(), 1, "{failed_pct}");
    let value = series
        .values()
        .next()
        .and_then(|p| p[0][1].as_f64())
        .expect("a value");
    assert_eq!(value, 100.0 * failed / all, "{dashboard:#}");

    let fed: BTreeSet<String> = lines.iter().map(|l| l.name.clone()).collect();
    let widgets = widget_metrics();
    assert_eq!(
        dashboard.as_object().map(|o| o.len()),
        Some(widgets.len()),
        "every widget is in the answer"
    );
    let mut shown = 0;
    for (title, metrics) in &widgets {
        let answer = dashboard[title]
            .as_object()
            .unwrap_or_else(|| panic!("{title} is missing"));
        let has_data = answer
            .values()
            .any(|pts| pts.as_array().is_some_and(|p| !p.is_empty()));
        if metrics.iter().any(|m| fed.contains(m)) {
            assert!(has_data, "{title} ({metrics:?}) has no data: {answer:?}");
            shown += 1;
        } else {
            assert!(
                !has_data,
                "{title} ({metrics:?}) has data the example did not send: {answer:?}"
            );
        }
    }
    assert!(shown >= 8, "only {shown} widgets fed");

    let monitors = server.json("/api/monitors");
    let failures = monitors
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "Pipeline failures"))
        .expect("the Pipeline failures monitor");
    assert_eq!(failures["state"], "ALERT", "{monitors:#}");
    assert_eq!(failures["value"].as_f64(), Some(errors));
    let reason = failures["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with(&format!("{errors} > 0 (critical) over the last 5m")),
        "{reason}"
    );

    // The spans, exported by the OpenTelemetry SDK over OTLP/HTTP: one
    // trace per run, run 3 failed in its spark stage.
    let traces = server.json("/api/traces");
    let traces = traces.as_array().expect("traces");
    assert_eq!(traces.len(), 4, "{traces:#?}");
    let failed: Vec<&Value> = traces.iter().filter(|t| t["failed"] == true).collect();
    assert_eq!(failed.len(), 1, "{traces:#?}");
    assert!(
        failed[0]["title"]
            .as_str()
            .is_some_and(|t| t.ends_with("pipeline_id:3")),
        "{}",
        failed[0]["title"]
    );
    let failed_stages: Vec<&Value> = failed[0]["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .filter(|s| s["error"] == true && s["depth"].as_u64() > Some(0))
        .collect();
    assert!(
        !failed_stages.is_empty() && failed_stages.iter().all(|s| s["resource"] == "spark"),
        "{failed_stages:#?}"
    );

    // The log records, exported over OTLP/HTTP: the log stream finds the
    // failure lines, the same ones the example printed on its standard output.
    let printed: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("outcome=\"failed\""))
        .collect();
    assert_eq!(
        printed.len(),
        2,
        "a failed stage and a failed run: {stdout}"
    );
    let logs = server.json("/api/logs");
    let found = logs["Recent failures (stages and runs)"]
        .as_array()
        .expect("the log stream");
    let messages: BTreeSet<&str> = found.iter().filter_map(|r| r["message"].as_str()).collect();
    let printed_messages: BTreeSet<&str> = ["stage failed", "pipeline run failed"]
        .into_iter()
        .filter(|m| printed.iter().any(|l| l.contains(m)))
        .collect();
    assert_eq!(messages, printed_messages, "{logs:#}");
    assert_eq!(found.len(), printed.len(), "{logs:#}");
    assert!(found.iter().all(|r| r["attributes"]["outcome"] == "failed"));
    assert!(
        found.iter().any(|r| r["attributes"]["stage"] == "spark"),
        "{logs:#}"
    );

    let (status, page) = server.get("/?pipeline=daily_etl");
    assert_eq!(status, 200);
    for (title, _) in &widgets {
        assert!(
            page.contains(&format!("<h3>{title}</h3>")),
            "the page lacks {title}"
        );
    }
    assert!(
        page.contains("<svg") && page.contains("ALERT") && page.contains("http-equiv=\"refresh\"")
    );
    // Each widget the example fed is drawn in its own card: a number, or an
    // SVG graph holding a line or bars (the waterfalls' SVG elsewhere on the
    // page does not count).
    for (title, metrics) in &widgets {
        if !metrics.iter().any(|m| fed.contains(m)) {
            continue;
        }
        let card = page
            .split(&format!("<h3>{title}</h3>"))
            .nth(1)
            .and_then(|rest| rest.split("<div class=\"card\">").next())
            .unwrap_or_default();
        let graph = card.split_once("<svg").map(|(_, svg)| svg);
        let drawn = graph.is_some_and(|svg| svg.contains("<polyline") || svg.contains("<circle"))
            || graph.is_some_and(|svg| svg.matches("<rect").count() > 1)
            || card.contains("<div class=\"value\">");
        assert!(drawn, "{title}: nothing drawn in its card: {card}");
    }
    assert!(
        page.contains("<td>stage failed</td>"),
        "the log stream is not drawn"
    );
}

/// A deterministic stream of hostile datagrams (xorshift).
fn hostile(n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces: &[&[u8]] = &[
        b"pipeline.errors:1|c|#stage:<script>alert(1)</script>",
        b"pipeline.records:1e308:1e308|c|@1e-300|#stage:x",
        b"prefect.flow.duration:5|d|@0.0000001|#status:ok",
        b"x:1|c|T18446744073709551615",
        b"|||:::###@@@",
        b"\xff\xfe\x00:1|g",
        b"_e{5,4}:title|text",
    ];
    (0..n)
        .map(|_| {
            let mut d = Vec::new();
            for _ in 0..(next() % 6) {
                if next() % 3 == 0 {
                    let len = (next() % 200) as usize;
                    d.extend((0..len).map(|_| (next() % 256) as u8));
                } else {
                    d.extend_from_slice(pieces[(next() as usize) % pieces.len()]);
                    // A long, unique tag now and then: new series.
                    if next() % 4 == 0 {
                        d.extend_from_slice(
                            format!("|#k:{}{}", next(), "v".repeat((next() % 3000) as usize))
                                .as_bytes(),
                        );
                    }
                }
                d.push(b'\n');
            }
            d
        })
        .collect()
}

#[test]
fn hostile_datagrams_do_not_stop_it_and_are_escaped_on_the_page() {
    let server = Dev::start();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("binds");
    let datagrams = hostile(1_500);
    for (i, chunk) in datagrams.chunks(100).enumerate() {
        for d in chunk {
            socket
                .send_to(d, ("127.0.0.1", server.dogstatsd_port))
                .expect("sends");
        }
        // Paced: the kernel's buffer holds each batch.
        server.wait_for_datagrams((100 * i + chunk.len()) as u64);
    }
    let status = server.json("/api/status");
    assert!(status["rejected_lines"].as_u64() > Some(0), "{status}");
    let (code, page) = server.get("/");
    assert_eq!(code, 200);
    assert!(
        !page.contains("<script>"),
        "a tag reached the page unescaped"
    );
    assert!(page.contains("stage:&lt;script&gt;alert(1)&lt;/script&gt;"));
    let dashboard = server.json("/api/dashboard");
    assert!(dashboard["Failed stage calls by stage"]
        .as_object()
        .is_some_and(|s| s.contains_key("stage:<script>alert(1)</script>")));
    // Anything else on the HTTP side is refused, and the server goes on.
    for path in ["/nope", "/%ff%00", "/api/dashboard?pipeline=%E2%9C%93&&=&x"] {
        let (code, _) = server.get(path);
        assert!(code == 404 || code == 200, "{path}: {code}");
    }
    assert_eq!(server.get("/api/monitors").0, 200);
}

#[test]
fn listens_on_a_unix_datagram_socket_too() {
    let dir = std::env::temp_dir().join(format!("pt-dev-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("dsd.socket");
    let server = Dev::start_on(&format!("unix://{}", path.display()));
    let client = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    client
        .send_to(b"pipeline.runs:2|c|#pipeline:unix", &path)
        .expect("sends");
    server.wait_for_datagrams(1);
    let pipeline_runs = &server.json("/api/dashboard")["Pipeline runs"];
    assert_eq!(
        pipeline_runs["pipeline:unix"][0][1].as_f64(),
        Some(2.0),
        "{pipeline_runs}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
