//! `deploy/`: the Docker Compose file and the plain Agent YAML parse, and
//! every address a service is given is one the Agent opens, as the library
//! reads it: the DogStatsD target through the exporter's own URL parser and
//! default port, the OTLP endpoint's port against the Agent's receiver, and
//! every variable the services are given is one the library's sources read.

use std::path::{Path, PathBuf};

use pipeline_telemetry_dogstatsd::{Target, DEFAULT_PORT};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml(p: &str) -> Value {
    let path = repo_root().join(p);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{p}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{p} is not valid YAML: {e}"))
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other}"),
    }
}

/// The port of `host:port`, `http://host:port` or `0.0.0.0:port`.
fn port(addr: &str) -> u16 {
    let tail = addr.rsplit(':').next().unwrap_or_default();
    tail.trim_end_matches('/')
        .parse()
        .unwrap_or_else(|_| panic!("no port in {addr:?}"))
}

/// Compose `${VAR:-default}` interpolation: the default.
fn interpolated(v: &str) -> String {
    match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(inner) => inner
            .split_once(":-")
            .map_or(String::new(), |(_, d)| d.to_owned()),
        None => v.to_owned(),
    }
}

/// Published container ports as (port, protocol).
fn published(service: &Value) -> Vec<(u16, String)> {
    service["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            let p = s(p);
            let (ports, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
            (port(ports), proto.to_owned())
        })
        .collect()
}

/// Whether a `*.rs` file under `crates/*/src` of the libraries reads `var`.
fn library_reads(var: &str) -> bool {
    let needle = format!("\"{var}\"");
    // The catalogue names every variable the crates read (they use its
    // constants, not literals).
    let mut stack = vec![
        repo_root().join("crates/pipeline-telemetry-catalogue/src"),
        repo_root().join("crates/pipeline-telemetry/src"),
        repo_root().join("crates/pipeline-telemetry-dogstatsd/src"),
        repo_root().join("crates/pipeline-telemetry-otel/src"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path).is_ok_and(|t| t.contains(&needle)) {
                return true;
            }
        }
    }
    false
}

#[test]
fn compose_services_reach_what_the_agent_opens() {
    let compose = yaml("deploy/docker-compose.yml");
    let agent = &compose["services"]["datadog-agent"];
    let app = &compose["services"]["etl-worker"];
    assert_eq!(agent["profiles"][0], "with-datadog", "the guide's profile");
    let agent_env = &agent["environment"];
    let app_env = &app["environment"];
    let ports = published(agent);

    // Every variable the service is given is read by the library.
    for var in app_env.as_object().expect("environment").keys() {
        assert!(library_reads(var), "{var} is read by no library crate");
    }

    // DogStatsD: the exporter's own parser, the Agent's socket and port.
    let url = s(&app_env["DD_DOGSTATSD_URL"]);
    let socket = s(&agent_env["DD_DOGSTATSD_SOCKET"]);
    match Target::parse_url(&url, "DD_DOGSTATSD_URL").expect("a valid DogStatsD URL") {
        Target::UnixDatagram(path) => assert_eq!(path, Path::new(&socket)),
        other => panic!("expected a Unix datagram socket, got {other:?}"),
    }
    let socket_dir = Path::new(&socket).parent().expect("socket dir");
    for service in [agent, app] {
        assert!(
            service["volumes"]
                .as_array()
                .expect("volumes")
                .iter()
                .any(|v| s(v) == format!("dsdsocket:{}", socket_dir.display())),
            "both containers mount the socket's directory: {service}"
        );
    }
    assert_eq!(s(&agent_env["DD_DOGSTATSD_PORT"]), DEFAULT_PORT.to_string());
    assert_eq!(s(&agent_env["DD_DOGSTATSD_NON_LOCAL_TRAFFIC"]), "true");
    assert!(
        ports.contains(&(DEFAULT_PORT, "udp".to_owned())),
        "{ports:?}"
    );
    // DD_AGENT_HOST alone would mean UDP to the Agent's service name.
    assert_eq!(s(&app_env["DD_AGENT_HOST"]), "datadog-agent");

    // OTLP: the service's endpoint is the Agent's gRPC receiver; HTTP is open too.
    let endpoint = s(&app_env["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    assert!(endpoint.starts_with("http://datadog-agent:"), "{endpoint}");
    let grpc = s(&agent_env["DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_GRPC_ENDPOINT"]);
    let http = s(&agent_env["DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_HTTP_ENDPOINT"]);
    assert_eq!(port(&endpoint), port(&grpc));
    assert_eq!((port(&grpc), port(&http)), (4317, 4318));
    for p in [4317, 4318, 8126] {
        assert!(ports.contains(&(p, "tcp".to_owned())), "{p} in {ports:?}");
    }

    // Logs: JSON lines on stdout, collected with the source the lines and
    // the log pipeline use, under the service's own name.
    assert_eq!(s(&app_env["PIPELINE_TELEMETRY_LOG_FORMAT"]), "json");
    assert_eq!(s(&agent_env["DD_LOGS_ENABLED"]), "true");
    let label: Value = serde_json::from_str(&s(&app["labels"]["com.datadoghq.ad.logs"]))
        .expect("the logs label is JSON");
    assert_eq!(
        label[0]["source"],
        pipeline_telemetry_catalogue::logs::SOURCE
    );
    assert_eq!(label[0]["service"], app_env["DD_SERVICE"]);
    assert_eq!(
        interpolated(&s(&app["labels"]["com.datadoghq.tags.env"])),
        interpolated(&s(&app_env["DD_ENV"]))
    );
}

#[test]
fn the_plain_agent_yaml_opens_the_same_endpoints() {
    let agent = yaml("deploy/agent/datadog.yaml");
    let compose = yaml("deploy/docker-compose.yml");
    let env = &compose["services"]["datadog-agent"]["environment"];
    assert_eq!(agent["use_dogstatsd"], true);
    assert_eq!(s(&agent["dogstatsd_port"]), DEFAULT_PORT.to_string());
    assert_eq!(agent["dogstatsd_socket"], env["DD_DOGSTATSD_SOCKET"]);
    assert_eq!(agent["apm_config"]["enabled"], true);
    let protocols = &agent["otlp_config"]["receiver"]["protocols"];
    assert_eq!(
        protocols["grpc"]["endpoint"],
        env["DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_GRPC_ENDPOINT"]
    );
    assert_eq!(
        protocols["http"]["endpoint"],
        env["DD_OTLP_CONFIG_RECEIVER_PROTOCOLS_HTTP_ENDPOINT"]
    );
    assert_eq!(agent["otlp_config"]["logs"]["enabled"], true);
    assert_eq!(agent["logs_enabled"], true);

    let logs = yaml("deploy/agent/conf.d/pipeline.d/conf.yaml");
    assert_eq!(logs["logs"][0]["type"], "file");
    assert_eq!(
        logs["logs"][0]["source"],
        pipeline_telemetry_catalogue::logs::SOURCE
    );
}

#[test]
fn the_integration_checks_the_guide_names_are_configured() {
    let postgres = yaml("deploy/agent/conf.d/postgres.d/conf.yaml");
    let pg = &postgres["instances"][0];
    assert_eq!(s(&pg["port"]), "5432");
    assert!(pg["host"].is_string() && pg["username"].is_string());

    let rabbitmq = yaml("deploy/agent/conf.d/rabbitmq.d/conf.yaml");
    let url = s(&rabbitmq["instances"][0]["prometheus_plugin"]["url"]);
    assert_eq!(port(&url), 15692, "the rabbitmq_prometheus plugin's port");

    let spark = yaml("deploy/agent/conf.d/spark.d/conf.yaml");
    let sp = &spark["instances"][0];
    assert!(s(&sp["spark_url"]).starts_with("http://"));
    assert_eq!(sp["spark_cluster_mode"], "spark_standalone_mode");
    assert!(sp["cluster_name"].is_string());
}
