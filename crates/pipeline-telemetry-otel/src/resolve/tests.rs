//! Export mode, endpoint and transport, strict and lenient.

use super::*;
use opentelemetry::Key;

fn strict(b: &OtelBuilder) -> Result<Resolved, InstallError> {
    resolve(b, &mut Problems::new(false))
}

#[test]
fn no_endpoint_means_console() {
    let r = strict(&OtelBuilder::new("svc")).expect("resolves");
    assert_eq!(r.traces, TracesExport::Console);
    assert!(r.target.is_none());
}

/// The Agent host alone: its trace intake on 8126, which every Agent
/// serves by default; OTLP only when asked.
#[test]
fn agent_host_means_the_trace_intake() {
    let r = strict(&OtelBuilder::new("svc").with_agent_host("dd-agent")).expect("resolves");
    assert_eq!(r.traces, TracesExport::Datadog);
    assert!(r.target.is_none());
    let i = r.intake.expect("intake");
    assert_eq!(i.addr.to_string(), "http://dd-agent:8126");
    assert_eq!(i.source, "DD_AGENT_HOST");
    // A protocol or endpoint (any OTEL_EXPORTER_OTLP_* variable) means OTLP.
    let b = from_env(&[
        ("DD_AGENT_HOST", "dd-agent"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=b"),
    ]);
    assert_eq!(strict(&b).expect("resolves").traces, TracesExport::Otlp);
    let b = from_env(&[
        ("DD_TRACE_AGENT_URL", "unix:///run/apm.sock"),
        ("DD_AGENT_HOST", "x"),
    ]);
    let i = strict(&b).expect("resolves").intake.expect("intake");
    assert_eq!(i.addr.to_string(), "unix:///run/apm.sock");
    let b = from_env(&[("DD_TRACE_AGENT_PORT", "9126")]);
    let r = strict(&b).expect("resolves");
    assert_eq!(r.traces, TracesExport::Datadog);
    assert_eq!(
        r.intake.expect("intake").addr.to_string(),
        "http://localhost:9126"
    );
    let b = from_env(&[("DD_TRACE_AGENT_PORT", "http")]);
    assert!(
        matches!(strict(&b), Err(InstallError::Config(e)) if e.setting == "DD_TRACE_AGENT_PORT")
    );
}

/// The Agent's socket, when it exists and nothing is configured.
#[test]
fn the_agents_socket_is_used_when_it_exists() {
    let dir = std::env::temp_dir().join(format!("pt-apm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sock = dir.join("apm.socket");
    let mut b = OtelBuilder::new("svc");
    b.apm_socket = sock.clone();
    assert_eq!(strict(&b).expect("resolves").traces, TracesExport::Console);
    std::fs::write(&sock, b"").expect("stand-in socket file");
    let r = strict(&b).expect("resolves");
    assert_eq!(r.traces, TracesExport::Datadog);
    assert_eq!(
        r.intake.expect("intake").addr.to_string(),
        format!("unix://{}", sock.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn agent_host_with_otlp_asked_means_grpc_on_4317() {
    let r = strict(
        &OtelBuilder::new("svc")
            .with_agent_host("dd-agent")
            .with_traces(TracesExport::Otlp),
    )
    .expect("resolves");
    assert_eq!(r.traces, TracesExport::Otlp);
    let t = r.target.expect("target");
    assert_eq!(t.endpoint, "http://dd-agent:4317");
    assert_eq!(t.protocol, Protocol::Grpc);
    assert_eq!(t.signal_url("traces"), "http://dd-agent:4317");
}

#[test]
fn http_endpoint_gets_signal_paths() {
    let b = OtelBuilder::new("svc").with_endpoint("http://127.0.0.1:4318/");
    let t = strict(&b).expect("resolves").target.expect("target");
    assert_eq!(t.protocol, Protocol::HttpProtobuf);
    assert_eq!(t.signal_url("logs"), "http://127.0.0.1:4318/v1/logs");
}

#[test]
fn http_without_the_feature_is_a_config_error() {
    let explicit = OtelBuilder::new("svc")
        .with_agent_host("dd-agent")
        .with_protocol(Protocol::HttpProtobuf);
    let err = protocol(&explicit, Some("http://dd-agent:4318"), GRPC_ONLY).expect_err("not built");
    assert_eq!(err.setting, "with_protocol");
    assert_eq!(err.value, "http/protobuf");
    assert!(err
        .reason
        .contains("`otlp-http` feature of pipeline-telemetry"));
    assert_eq!(
        protocol(&explicit, Some("http://dd-agent:4318"), ALL),
        Ok(Protocol::HttpProtobuf)
    );

    // Implied by the endpoint's port: named as the endpoint.
    let implied = OtelBuilder::new("svc").with_endpoint("http://127.0.0.1:4318");
    let err = protocol(&implied, Some("http://127.0.0.1:4318"), GRPC_ONLY).expect_err("not built");
    assert_eq!(err.setting, "with_endpoint");
    assert_eq!(err.value, "http://127.0.0.1:4318");
    assert!(err.reason.contains("`otlp-http` feature"), "{err}");
    assert_eq!(
        protocol(&implied, Some("http://127.0.0.1:4318"), ALL),
        Ok(Protocol::HttpProtobuf)
    );

    // gRPC needs no feature, whichever way it is chosen.
    let grpc = OtelBuilder::new("svc").with_endpoint("http://127.0.0.1:9000");
    let grpc = grpc.with_protocol(Protocol::Grpc);
    assert_eq!(
        protocol(&grpc, Some("http://127.0.0.1:9000"), GRPC_ONLY),
        Ok(Protocol::Grpc)
    );
    let host = OtelBuilder::new("svc").with_agent_host("dd-agent");
    assert_eq!(
        protocol(&host, Some("http://dd-agent:4317"), GRPC_ONLY),
        Ok(Protocol::Grpc)
    );
}

const ALL: Built = Built {
    grpc: true,
    http: true,
};
const GRPC_ONLY: Built = Built {
    grpc: true,
    http: false,
};
const HTTP_ONLY: Built = Built {
    grpc: false,
    http: true,
};
/// The default build: no OTLP transport.
const NONE: Built = Built {
    grpc: false,
    http: false,
};

fn lenient(b: &OtelBuilder, built: Built) -> (Resolved, Vec<String>) {
    let mut p = Problems::new(true);
    let r = resolve_with(b, &mut p, built).expect("lenient never fails");
    (r, p.list.iter().map(ToString::to_string).collect())
}

fn from_env(vars: &[(&str, &str)]) -> OtelBuilder {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    OtelBuilder::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
}

#[test]
fn an_unknown_protocol_turns_otlp_off_and_says_so() {
    let b = from_env(&[
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("PIPELINE_TELEMETRY_LOG_FORMAT", "xml"),
    ]);
    assert!(matches!(strict(&b), Err(InstallError::Config(e)) if e.value == "http/json"));
    let (r, lines) = lenient(&b, ALL);
    assert_eq!(r.traces, TracesExport::Off);
    assert!(r.target.is_none());
    assert_eq!(
        lines,
        [
            "invalid PIPELINE_TELEMETRY_LOG_FORMAT \"xml\": expected `json` or `human`; \
             writing human-readable lines",
            "invalid OTEL_EXPORTER_OTLP_PROTOCOL \"http/json\": expected `grpc` or \
             `http/protobuf`; spans are not exported",
        ]
    );
}

#[test]
fn an_https_endpoint_turns_otlp_off_and_names_the_variable() {
    let b = from_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://agent:4317")]);
    let (r, lines) = lenient(&b, ALL);
    assert_eq!((r.traces, r.target), (TracesExport::Off, None));
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].starts_with("invalid OTEL_EXPORTER_OTLP_ENDPOINT \"https://agent:4317\": ")
            && lines[0].ends_with("; spans are not exported"),
        "{lines:?}"
    );
    // Console spans need no endpoint: the bad one is only reported.
    let b = from_env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://agent:4317"),
        ("PIPELINE_TELEMETRY_TRACES", "console"),
    ]);
    let (r, lines) = lenient(&b, ALL);
    assert_eq!(r.traces, TracesExport::Console);
    assert!(
        lines[0].ends_with("; ignored: nothing is exported over OTLP"),
        "{lines:?}"
    );
}

#[test]
fn http_without_the_feature_goes_to_the_agents_grpc_port_never_an_http_one() {
    // A port of our own choosing (DD_AGENT_HOST): gRPC to 4317, said.
    let b = from_env(&[
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]);
    let (r, lines) = lenient(&b, GRPC_ONLY);
    let t = r.target.expect("target");
    assert_eq!(
        (t.endpoint.as_str(), t.protocol),
        ("http://127.0.0.1:4317", Protocol::Grpc)
    );
    assert_eq!(r.traces, TracesExport::Otlp);
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("invalid OTEL_EXPORTER_OTLP_PROTOCOL \"http/protobuf\": needs"));
    assert!(
        lines[0].ends_with(
            "; spans go over gRPC to the Agent's gRPC port (http://127.0.0.1:4317) instead"
        ),
        "{lines:?}"
    );
    // With HTTP built in, nothing to report.
    let (r, lines) = lenient(&b, ALL);
    assert_eq!(r.target.expect("target").endpoint, "http://127.0.0.1:4318");
    assert!(lines.is_empty());

    // An endpoint someone chose, on an HTTP port: no export, said.
    let b = from_env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]);
    let (r, lines) = lenient(&b, GRPC_ONLY);
    assert_eq!((r.traces, r.target), (TracesExport::Off, None));
    assert!(lines[0].ends_with("; spans are not exported"), "{lines:?}");
    assert!(strict(&b).is_err() || Protocol::HttpProtobuf.is_built_in());
}

/// The default build has no OTLP transport: the trace intake and the
/// console need none, and OTLP asked for is refused with the feature named,
/// never sent over a transport nobody chose.
#[test]
fn a_build_without_otlp_uses_the_intake_and_names_the_feature_otlp_needs() {
    let (r, lines) = lenient(&from_env(&[("DD_AGENT_HOST", "127.0.0.1")]), NONE);
    assert_eq!((r.traces, lines.len()), (TracesExport::Datadog, 0));
    let (r, lines) = lenient(&from_env(&[]), NONE);
    assert_eq!((r.traces, lines.len()), (TracesExport::Console, 0));

    // An endpoint on the gRPC port: the `otlp` feature named, no export.
    let b = from_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")]);
    let (r, lines) = lenient(&b, NONE);
    assert_eq!((r.traces, r.target), (TracesExport::Off, None));
    assert_eq!(lines.len(), 1, "said once: {lines:?}");
    assert!(
        lines[0].starts_with(
            "invalid OTEL_EXPORTER_OTLP_ENDPOINT \"http://127.0.0.1:4317\": a port 4317 means \
             OTLP over gRPC, which needs the `otlp` feature of pipeline-telemetry"
        ),
        "{lines:?}"
    );
    assert!(lines[0].ends_with("; spans are not exported"), "{lines:?}");
    // With only HTTP built, the hint names the other protocol.
    let (_, lines) = lenient(&b, HTTP_ONLY);
    assert!(
        lines[0].contains("set the protocol to `http/protobuf`"),
        "{lines:?}"
    );

    // OTLP asked for with no endpoint or transport (a header variable):
    // no export, the feature named.
    let b = from_env(&[
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=b"),
    ]);
    let (r, lines) = lenient(&b, NONE);
    assert_eq!(r.traces, TracesExport::Off);
    assert_eq!(lines.len(), 1, "said once: {lines:?}");
    assert!(
        lines[0].starts_with("invalid OTLP export \"grpc\": needs the `otlp` feature"),
        "{lines:?}"
    );
    assert!(lines[0].ends_with("; spans are not exported"), "{lines:?}");
    // The same with only HTTP built: no transport named, so HTTP to the
    // Agent's HTTP port, nothing to report.
    let (r, lines) = lenient(&b, HTTP_ONLY);
    let t = r.target.expect("target");
    assert_eq!(
        (t.endpoint.as_str(), t.protocol, lines.len()),
        ("http://127.0.0.1:4318", Protocol::HttpProtobuf, 0)
    );
    // HTTP/protobuf named with nothing built: said once, not exported.
    let b = from_env(&[
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]);
    let (r, lines) = lenient(&b, NONE);
    assert_eq!((r.traces, r.target), (TracesExport::Off, None));
    assert_eq!(lines.len(), 1, "said once: {lines:?}");
    assert!(lines[0].ends_with("; spans are not exported"), "{lines:?}");
    // gRPC named with only HTTP built: HTTP to the Agent's HTTP port, said.
    let b = from_env(&[
        ("DD_AGENT_HOST", "127.0.0.1"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ]);
    let (r, lines) = lenient(&b, HTTP_ONLY);
    assert_eq!(r.target.expect("target").protocol, Protocol::HttpProtobuf);
    assert_eq!(lines.len(), 1, "said once: {lines:?}");
    assert!(
        lines[0].ends_with(
            "; spans go over HTTP/protobuf to the Agent's HTTP/protobuf port \
             (http://127.0.0.1:4318) instead"
        ),
        "{lines:?}"
    );
}

#[test]
fn a_dogstatsd_url_in_dd_agent_host_gives_its_host() {
    for (value, endpoint) in [
        ("udp://10.0.0.5:8125", "http://10.0.0.5:4317"),
        ("udp://[::1]:8125", "http://[::1]:4317"),
        ("udp://agent", "http://agent:4317"),
    ] {
        let b = OtelBuilder::new("svc").with_agent_host(value);
        let i = strict(&b).expect("resolves").intake.expect("intake");
        assert_eq!(
            i.addr.to_string(),
            endpoint.replace("4317", "8126"),
            "{value}"
        );
        let t = strict(&b.with_traces(TracesExport::Otlp))
            .expect("resolves")
            .target
            .expect("target");
        assert_eq!(t.endpoint, endpoint, "{value}");
    }
    let b = OtelBuilder::new("svc").with_agent_host("unix:///var/run/datadog/dsd.socket");
    let (r, lines) = lenient(&b, ALL);
    assert_eq!((r.traces, r.target), (TracesExport::Off, None));
    assert!(
        lines[0].starts_with(
            "invalid DD_AGENT_HOST \"unix:///var/run/datadog/dsd.socket\": names no Agent host"
        ) && lines[0].ends_with("; spans are not exported"),
        "{lines:?}"
    );
}

#[test]
fn dd_agent_host_with_a_dogstatsd_port_gives_its_host() {
    // The forms the DogStatsD exporter accepts in DD_AGENT_HOST: the port
    // is DogStatsD's, the host is the Agent's (this was
    // `http://[agent:8125]:4317` and `http://[::1]:8125:4317`).
    for (value, endpoint) in [
        ("agent:8125", "http://agent:4317"),
        ("127.0.0.1:8125", "http://127.0.0.1:4317"),
        ("[::1]:8125", "http://[::1]:4317"),
        ("[::1]", "http://[::1]:4317"),
        ("::1", "http://[::1]:4317"),
        (" agent ", "http://agent:4317"),
    ] {
        let b = OtelBuilder::new("svc").with_agent_host(value);
        let i = strict(&b).expect("resolves").intake.expect("intake");
        assert_eq!(
            i.addr.to_string(),
            endpoint.replace("4317", "8126"),
            "{value}"
        );
        let t = strict(&b.with_traces(TracesExport::Otlp))
            .expect("resolves")
            .target
            .expect("target");
        assert_eq!(t.endpoint, endpoint, "{value}");
    }
    // A value neither exporter can read says so, naming the variable.
    let b = OtelBuilder::new("svc").with_agent_host("[::1");
    let (r, lines) = lenient(&b, ALL);
    assert_eq!(r.target, None);
    assert!(
        lines[0].starts_with("invalid DD_AGENT_HOST") && lines[0].contains("[::1]:8125"),
        "{lines:?}"
    );
}

#[test]
fn capped_sizes_are_reported_but_never_an_error() {
    let b = from_env(&[("OTEL_BSP_MAX_QUEUE_SIZE", "100000000")]);
    let mut p = Problems::new(false);
    resolve(&b, &mut p).expect("strict accepts a capped size");
    assert_eq!(p.list.len(), 1);
    assert_eq!(
        p.list[0].to_string(),
        "invalid OTEL_BSP_MAX_QUEUE_SIZE \"100000000\": more than the cap of 65536; using 65536"
    );
}

#[test]
fn resource_carries_unified_service_tags() {
    let b = OtelBuilder::new("svc")
        .with_env("prod")
        .with_version("1.0")
        .with_resource_attribute("team", "data")
        .with_resource_attribute("service.name", "ignored");
    let r = strict(&b).expect("resolves");
    let get = |k: &'static str| {
        r.resource
            .get(&Key::from_static_str(k))
            .map(|v| v.to_string())
    };
    assert_eq!(get("service.name").as_deref(), Some("svc"));
    assert_eq!(get("deployment.environment.name").as_deref(), Some("prod"));
    assert_eq!(get("service.version").as_deref(), Some("1.0"));
    assert_eq!(get("team").as_deref(), Some("data"));
}

#[test]
fn identity_falls_back_to_resource_attributes() {
    let mut b = OtelBuilder::empty();
    b.resource_attributes
        .push(("service.name".into(), "from-attrs".into()));
    b.resource_attributes
        .push(("deployment.environment".into(), "staging".into()));
    let id = identity(&b);
    assert_eq!(id.service, "from-attrs");
    assert_eq!(id.env.as_deref(), Some("staging"));
}

/// Headers that cannot go on a request are refused on the trace intake
/// path as on the OTLP path: none reaches the request head.
#[test]
fn bad_headers_are_refused_on_the_intake_path() {
    let b = OtelBuilder::new("svc")
        .with_agent_host("agent")
        .with_header("x-token", "a\r\nContent-Length: 0");
    assert!(matches!(strict(&b), Err(InstallError::Config(_))));
    let (r, lines) = lenient(&b, ALL);
    assert_eq!(r.traces, TracesExport::Off);
    assert!(lines[0].ends_with("; spans are not exported"), "{lines:?}");
}
