//! Turns an [`OtelBuilder`]'s settings into decisions: which export mode,
//! which endpoint and transport, and the OpenTelemetry resource.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use pipeline_telemetry_catalogue::env::DD_AGENT_HOST;

use crate::builder::OtelBuilder;
use crate::config::{
    protocol_for_endpoint, validate_endpoint, Protocol, TracesExport, HTTP_NOT_BUILT,
};
use crate::error::ConfigError;

/// The unified service tags, as they go on log lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) service: String,
    pub(crate) env: Option<String>,
    pub(crate) version: Option<String>,
}

/// Where OTLP data goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// Base URL, without a signal path.
    pub(crate) endpoint: String,
    pub(crate) protocol: Protocol,
}

impl Target {
    /// The URL handed to the exporter for one signal (`traces` or `logs`):
    /// HTTP needs the full path, gRPC the bare authority.
    pub(crate) fn signal_url(&self, signal: &str) -> String {
        match self.protocol {
            Protocol::Grpc => self.endpoint.clone(),
            Protocol::HttpProtobuf => format!("{}/v1/{signal}", self.endpoint),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) identity: Identity,
    pub(crate) resource: Resource,
    pub(crate) traces: TracesExport,
    /// Set when traces or logs are exported over OTLP.
    pub(crate) target: Option<Target>,
}

pub(crate) fn resolve(b: &OtelBuilder) -> Result<Resolved, ConfigError> {
    if let Some(e) = &b.pending_error {
        return Err(e.clone());
    }
    let endpoint = match (&b.endpoint, &b.agent_host) {
        (Some(e), _) => Some(validate_endpoint("endpoint", e)?),
        (None, Some(host)) => {
            let port = b.protocol.unwrap_or(Protocol::Grpc).default_port();
            let url = if host.contains(':') && !host.starts_with('[') {
                format!("http://[{host}]:{port}")
            } else {
                format!("http://{host}:{port}")
            };
            Some(validate_endpoint(DD_AGENT_HOST, &url)?)
        }
        (None, None) => None,
    };
    let traces = b.traces.unwrap_or(if endpoint.is_some() {
        TracesExport::Otlp
    } else {
        TracesExport::Console
    });
    let needs_target = traces == TracesExport::Otlp || b.otlp_logs;
    let target = if needs_target {
        let protocol = protocol(b, endpoint.as_deref(), Protocol::HttpProtobuf.is_built_in())?;
        let endpoint = endpoint
            .clone()
            .unwrap_or_else(|| format!("http://localhost:{}", protocol.default_port()));
        Some(Target { endpoint, protocol })
    } else {
        None
    };
    let identity = identity(b);
    let resource = resource(b, &identity);
    Ok(Resolved {
        identity,
        resource,
        traces,
        target,
    })
}

/// The transport: the one set, else the one implied by an explicit
/// endpoint's port, else gRPC. HTTP/protobuf without the `otlp-http` feature
/// (`http_built`, a parameter so that tests check both builds) is an error.
fn protocol(
    b: &OtelBuilder,
    endpoint: Option<&str>,
    http_built: bool,
) -> Result<Protocol, ConfigError> {
    let protocol = match (b.protocol, endpoint) {
        (Some(p), _) => p,
        (None, Some(e)) if b.endpoint.is_some() => {
            let p = protocol_for_endpoint(e);
            if p == Protocol::HttpProtobuf && !http_built {
                return Err(ConfigError::new(
                    "endpoint",
                    e,
                    format!(
                        "a port other than 4317 means OTLP over HTTP/protobuf, which {HTTP_NOT_BUILT} \
                         (set the protocol to `grpc` for a gRPC receiver on this port)"
                    ),
                ));
            }
            p
        }
        _ => Protocol::Grpc,
    };
    if protocol == Protocol::HttpProtobuf && !http_built {
        return Err(ConfigError::new(
            "protocol",
            protocol.as_str(),
            HTTP_NOT_BUILT,
        ));
    }
    Ok(protocol)
}

fn attribute<'a>(b: &'a OtelBuilder, keys: &[&str]) -> Option<&'a str> {
    // The last value for a key wins, like a later `with_resource_attribute`.
    b.resource_attributes
        .iter()
        .rev()
        .find(|(k, _)| keys.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
}

fn identity(b: &OtelBuilder) -> Identity {
    let service = b
        .service
        .clone()
        .or_else(|| attribute(b, &["service.name"]).map(str::to_owned))
        .unwrap_or_else(default_service_name);
    let env = b.env.clone().or_else(|| {
        attribute(
            b,
            &["deployment.environment.name", "deployment.environment"],
        )
        .map(str::to_owned)
    });
    let version = b
        .version
        .clone()
        .or_else(|| attribute(b, &["service.version"]).map(str::to_owned));
    Identity {
        service,
        env,
        version,
    }
}

/// OpenTelemetry's fallback: `unknown_service:<executable name>`.
fn default_service_name() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
    });
    match exe {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

fn resource(b: &OtelBuilder, id: &Identity) -> Resource {
    let mut attrs: Vec<KeyValue> = b
        .resource_attributes
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "service.name"
                    | "service.version"
                    | "deployment.environment"
                    | "deployment.environment.name"
            )
        })
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .collect();
    attrs.push(KeyValue::new("telemetry.sdk.name", "opentelemetry"));
    attrs.push(KeyValue::new("telemetry.sdk.language", "rust"));
    attrs.push(KeyValue::new("telemetry.sdk.version", SDK_VERSION));
    if let Some(env) = &id.env {
        // The current semantic convention, and the older key that Agents
        // before the rename still read.
        attrs.push(KeyValue::new("deployment.environment.name", env.clone()));
        attrs.push(KeyValue::new("deployment.environment", env.clone()));
    }
    if let Some(version) = &id.version {
        attrs.push(KeyValue::new("service.version", version.clone()));
    }
    Resource::builder_empty()
        .with_attributes(attrs)
        .with_service_name(id.service.clone())
        .build()
}

/// The `opentelemetry` API version this crate is built against.
const SDK_VERSION: &str = "0.33";

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::Key;

    #[test]
    fn no_endpoint_means_console() {
        let r = resolve(&OtelBuilder::new("svc")).expect("resolves");
        assert_eq!(r.traces, TracesExport::Console);
        assert!(r.target.is_none());
    }

    #[test]
    fn agent_host_means_grpc_on_4317() {
        let r = resolve(&OtelBuilder::new("svc").with_agent_host("dd-agent")).expect("resolves");
        assert_eq!(r.traces, TracesExport::Otlp);
        let t = r.target.expect("target");
        assert_eq!(t.endpoint, "http://dd-agent:4317");
        assert_eq!(t.protocol, Protocol::Grpc);
        assert_eq!(t.signal_url("traces"), "http://dd-agent:4317");
    }

    #[test]
    fn http_endpoint_gets_signal_paths() {
        let b = OtelBuilder::new("svc").with_endpoint("http://127.0.0.1:4318/");
        let t = resolve(&b).expect("resolves").target.expect("target");
        assert_eq!(t.protocol, Protocol::HttpProtobuf);
        assert_eq!(t.signal_url("logs"), "http://127.0.0.1:4318/v1/logs");
    }

    #[test]
    fn http_without_the_feature_is_a_config_error() {
        let explicit = OtelBuilder::new("svc")
            .with_agent_host("dd-agent")
            .with_protocol(Protocol::HttpProtobuf);
        let err = protocol(&explicit, Some("http://dd-agent:4318"), false).expect_err("not built");
        assert_eq!(err.setting, "protocol");
        assert_eq!(err.value, "http/protobuf");
        assert!(err
            .reason
            .contains("`otlp-http` feature of pipeline-telemetry"));
        assert_eq!(
            protocol(&explicit, Some("http://dd-agent:4318"), true),
            Ok(Protocol::HttpProtobuf)
        );

        // Implied by the endpoint's port: named as the endpoint.
        let implied = OtelBuilder::new("svc").with_endpoint("http://127.0.0.1:4318");
        let err = protocol(&implied, Some("http://127.0.0.1:4318"), false).expect_err("not built");
        assert_eq!(err.setting, "endpoint");
        assert_eq!(err.value, "http://127.0.0.1:4318");
        assert!(err.reason.contains("`otlp-http` feature"), "{err}");
        assert_eq!(
            protocol(&implied, Some("http://127.0.0.1:4318"), true),
            Ok(Protocol::HttpProtobuf)
        );

        // gRPC needs no feature, whichever way it is chosen.
        let grpc = OtelBuilder::new("svc").with_endpoint("http://127.0.0.1:9000");
        let grpc = grpc.with_protocol(Protocol::Grpc);
        assert_eq!(
            protocol(&grpc, Some("http://127.0.0.1:9000"), false),
            Ok(Protocol::Grpc)
        );
        let host = OtelBuilder::new("svc").with_agent_host("dd-agent");
        assert_eq!(
            protocol(&host, Some("http://dd-agent:4317"), false),
            Ok(Protocol::Grpc)
        );
    }

    #[test]
    fn resource_carries_unified_service_tags() {
        let b = OtelBuilder::new("svc")
            .with_env("prod")
            .with_version("1.0")
            .with_resource_attribute("team", "data")
            .with_resource_attribute("service.name", "ignored");
        let r = resolve(&b).expect("resolves");
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
}
