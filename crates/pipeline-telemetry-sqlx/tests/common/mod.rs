//! Shared by the real-peer tests: telemetry exporting to Datadog's APM test
//! agent under a session token, DogStatsD to a real UDP socket, and the
//! local PostgreSQL (`DATABASE_URL`, else postgres@127.0.0.1:5432/test).
#![allow(dead_code)]

use std::time::Duration;

use pipeline_telemetry::otel::Protocol;
use pipeline_telemetry::{MetricsTarget, TelemetryBuilder, TelemetryGuard};
use pipeline_telemetry_sqlx::TracedPool;
use pipeline_telemetry_test_support::agent::{self, Span};
use pipeline_telemetry_test_support::{peers, UdpReceiver};

pub(crate) struct Harness {
    pub token: String,
    pub telemetry: Option<TelemetryGuard>,
    pub rt: tokio::runtime::Runtime,
    pub db: TracedPool,
    pub statsd: UdpReceiver,
}

impl Harness {
    pub(crate) fn shutdown(&mut self) {
        if let Some(t) = self.telemetry.take() {
            t.shutdown(Duration::from_secs(10))
                .expect("telemetry shutdown");
        }
    }

    pub(crate) fn spans(&self, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        agent::poll_spans(&self.token, done)
    }
}

/// A table name unique to this test process.
pub(crate) fn table(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("pt_{label}_{}_{nanos}", std::process::id())
}

pub(crate) fn start(label: &str) -> Harness {
    peers::require_tcp("127.0.0.1:5432", "PostgreSQL");
    let agent = agent::agent();
    let token = agent::token(label);
    let statsd = UdpReceiver::bind().expect("bind the DogStatsD receiver");
    let target = MetricsTarget::parse_url(&statsd.url(), "test").expect("udp url");
    let telemetry = TelemetryBuilder::from_env()
        .with_service("warehouse-loader")
        .with_metrics_target(target)
        .with_flush_interval(Duration::from_millis(100))
        .with_otel(|o| {
            o.with_endpoint(agent.otlp_http.clone())
                .with_protocol(Protocol::HttpProtobuf)
                .with_header(agent::TOKEN_HEADER, token.clone())
                .with_batch_delay(Duration::from_millis(100))
        })
        .try_init()
        .expect("telemetry init");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let db = rt
        .block_on(TracedPool::connect(&peers::database_url()))
        .unwrap_or_else(|e| panic!("{e}: run scripts/ensure-services.sh"));
    Harness {
        token,
        telemetry: Some(telemetry),
        rt,
        db,
        statsd,
    }
}

pub(crate) fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    s.attributes.get(key).map(String::as_str)
}

pub(crate) fn query_spans(spans: &[Span]) -> Vec<&Span> {
    spans
        .iter()
        .filter(|s| attr(s, "db.system.name") == Some("postgresql"))
        .collect()
}

/// Fails when `needle` appears in any attribute, event or status of any
/// span, or in any metric line.
pub(crate) fn assert_nowhere(needle: &str, spans: &[Span], lines: &[String]) {
    for s in spans {
        let mut texts: Vec<&str> = vec![s.name.as_str()];
        texts.extend(s.attributes.values().map(String::as_str));
        texts.extend(s.status_message.as_deref());
        for (name, attrs) in &s.events {
            texts.push(name);
            texts.extend(attrs.values().map(String::as_str));
        }
        assert!(
            texts.iter().all(|t| !t.contains(needle)),
            "{needle:?} leaked into span {s:#?}"
        );
    }
    for l in lines {
        assert!(!l.contains(needle), "{needle:?} leaked into metric {l}");
    }
}
