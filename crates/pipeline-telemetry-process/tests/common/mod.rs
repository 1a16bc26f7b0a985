//! Shared by the real-peer tests: telemetry installed against a real UDP
//! DogStatsD receiver and Datadog's APM test agent, with the JSON log lines
//! captured.
#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pipeline_telemetry::otel::{LogFormat, Protocol};
use pipeline_telemetry::{MetricsTarget, TelemetryBuilder, TelemetryGuard};
use pipeline_telemetry_test_support::{agent, UdpReceiver};
use tracing_subscriber::fmt::MakeWriter;

/// Log lines written by the JSON log layer.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
    pub(crate) fn lines(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    }
}

pub(crate) struct Writer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Writer;
    fn make_writer(&'a self) -> Writer {
        Writer(self.0.clone())
    }
}

pub(crate) struct Harness {
    pub token: String,
    pub udp: UdpReceiver,
    pub logs: Captured,
    pub guard: TelemetryGuard,
}

/// Metrics over UDP to a fresh receiver, spans over OTLP/HTTP to the test
/// agent under a token of this test, JSON logs captured.
pub(crate) fn init(label: &str) -> Harness {
    let token = agent::token(label);
    let udp = UdpReceiver::bind().expect("bind UDP receiver");
    let logs = Captured::default();
    let guard = TelemetryBuilder::from_env()
        .with_service("process-tests")
        .with_metrics_target(MetricsTarget::Udp(udp.addr()))
        .with_flush_interval(Duration::from_millis(50))
        .with_otel(|o| {
            o.with_endpoint(agent::agent().otlp_http.clone())
                .with_protocol(Protocol::HttpProtobuf)
                .with_header(agent::TOKEN_HEADER, token.clone())
                .with_log_format(LogFormat::Json)
                .with_log_writer(logs.clone())
        })
        .try_init()
        .expect("telemetry init");
    Harness {
        token,
        udp,
        logs,
        guard,
    }
}

/// Metric lines on the wire with `name` and every tag of `tags`.
pub(crate) fn matching<'a>(lines: &'a [String], name: &str, tags: &[&str]) -> Vec<&'a String> {
    lines
        .iter()
        .filter(|l| l.starts_with(&format!("{name}:")))
        .filter(|l| {
            let tag_part = l.split("|#").nth(1).unwrap_or("");
            let got: Vec<&str> = tag_part.split(',').collect();
            tags.iter().all(|t| got.contains(t))
        })
        .collect()
}

/// Sum of the counter values of `lines` (`name:<v>|c|...`).
pub(crate) fn count_sum(lines: &[&String]) -> u64 {
    lines
        .iter()
        .filter_map(|l| l.split(':').nth(1)?.split('|').next()?.parse::<u64>().ok())
        .sum()
}

/// Live (non-zombie) processes of process group `pgid`, from `/proc`.
pub(crate) fn live_in_group(pgid: i32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if f.len() > 2 && f[2].parse::<i32>().ok() == Some(pgid) && f[0] != "Z" && f[0] != "X" {
            found.push(stat.clone());
        }
    }
    found
}

/// Children of `parent` (zombies included: a child not waited for) with
/// `arg` among their arguments.
pub(crate) fn children_named(parent: u32, arg: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if f.get(1).and_then(|p| p.parse::<u32>().ok()) != Some(parent) {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        // A zombie has no command line left: named by its stat.
        if cmdline.split(|b| *b == 0).any(|a| a == arg.as_bytes())
            || f[0] == "Z" && stat.contains("(sh)")
        {
            found.push(stat.clone());
        }
    }
    found
}
