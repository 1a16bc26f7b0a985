//! Operation name, resource, span type, service and env of a span, as the
//! Datadog Agent derives them for spans it receives over OTLP. A port of
//! datadog-agent's `pkg/trace/traceutil/otel_util.go` (the "v2" operation
//! and resource logic, the Agent's default): the native path must name a
//! span as the OTLP path does, or a dashboard would see two services.

use std::borrow::Cow;

use opentelemetry::trace::SpanKind;
use opentelemetry::{Key, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

/// A span with its resource, and attribute lookups as the Agent does them.
pub(crate) struct View<'a> {
    pub(crate) span: &'a SpanData,
    pub(crate) resource: &'a Resource,
}

/// The string form of an attribute value, as the Agent writes it in meta.
pub(crate) fn value_str(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s.as_str()),
        Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        Value::I64(i) => Cow::Owned(i.to_string()),
        Value::F64(f) => Cow::Owned(f.to_string()),
        other => Cow::Owned(other.to_string()),
    }
}

impl<'a> View<'a> {
    /// The span attribute `key` (the last one written wins, as in OTLP
    /// maps).
    pub(crate) fn attr(&self, key: &str) -> Option<&'a Value> {
        self.span
            .attributes
            .iter()
            .rev()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    /// The span attribute `key` as a string, `""` when absent.
    pub(crate) fn attr_str(&self, key: &str) -> Cow<'a, str> {
        self.attr(key).map(value_str).unwrap_or(Cow::Borrowed(""))
    }

    /// The span attribute `key` as a whole number (an integral float too).
    pub(crate) fn attr_num(&self, key: &str) -> Option<i64> {
        match self.attr(key)? {
            Value::I64(i) => Some(*i),
            Value::F64(f) if f.fract() == 0.0 && f.abs() < i64::MAX as f64 => Some(*f as i64),
            _ => None,
        }
    }

    fn res(&self, key: &str) -> Option<String> {
        self.resource
            .get(&Key::new(key.to_owned()))
            .map(|v| value_str(&v).into_owned())
            .filter(|s| !s.is_empty())
    }

    /// The first of `keys` found, the resource before the span for each key
    /// (the Agent's `GetOTelAttrValInResAndSpanAttrs`).
    fn res_or_span(&self, keys: &[&str]) -> Cow<'a, str> {
        for key in keys {
            if let Some(v) = self.res(key) {
                return Cow::Owned(v);
            }
            if let Some(v) = self.attr(key) {
                return value_str(v);
            }
        }
        Cow::Borrowed("")
    }

    /// The first non-empty of `keys` among the span's attributes.
    fn span_only(&self, keys: &[&str]) -> Cow<'a, str> {
        keys.iter()
            .map(|k| self.attr_str(k))
            .find(|v| !v.is_empty())
            .unwrap_or(Cow::Borrowed(""))
    }

    fn kind(&self) -> &SpanKind {
        &self.span.span_kind
    }
}

/// The `datadog.<field>` attribute `dd` when the span sets it (the Agent's
/// override), else `derived`.
pub(crate) fn overridden<'a>(v: &View<'a>, dd: &str, derived: Cow<'a, str>) -> Cow<'a, str> {
    let explicit = v.attr_str(dd);
    if explicit.is_empty() {
        derived
    } else {
        explicit
    }
}

/// `GetOTelService`: the span's `service.name`, else the resource's, else
/// the Agent's placeholder.
pub(crate) fn service<'a>(v: &View<'a>) -> Cow<'a, str> {
    let s = v.attr_str("service.name");
    if !s.is_empty() {
        return s;
    }
    v.res("service.name")
        .map(Cow::Owned)
        .unwrap_or(Cow::Borrowed("otlpresourcenoservicename"))
}

/// `GetOTelEnv`: `datadog.env`, else `deployment.environment.name`, else
/// `deployment.environment` (resource).
pub(crate) fn env(v: &View<'_>) -> Option<String> {
    let dd = v.res_or_span(&["datadog.env"]);
    if !dd.is_empty() {
        return Some(dd.into_owned());
    }
    v.res("deployment.environment.name")
        .or_else(|| v.res("deployment.environment"))
}

/// `GetOTelOperationNameV2`.
pub(crate) fn operation_name<'a>(v: &View<'a>) -> Cow<'a, str> {
    let explicit = v.attr_str("operation.name");
    if !explicit.is_empty() {
        return explicit;
    }
    let (client, server) = (
        matches!(v.kind(), SpanKind::Client),
        matches!(v.kind(), SpanKind::Server),
    );
    if v.attr("http.method").is_some() || v.attr("http.request.method").is_some() {
        if client {
            return Cow::Borrowed("http.client.request");
        }
        if server {
            return Cow::Borrowed("http.server.request");
        }
    }
    let db = v.span_only(&["db.system", "db.system.name"]);
    if !db.is_empty() && client {
        return Cow::Owned(format!("{}.query", db.to_lowercase()));
    }
    let system = v.attr_str("messaging.system");
    let op = v.span_only(&["messaging.operation", "messaging.operation.type"]);
    if !system.is_empty() && !op.is_empty() && !matches!(v.kind(), SpanKind::Internal) {
        return Cow::Owned(format!("{}.{}", system.to_lowercase(), op.to_lowercase()));
    }
    let rpc = v.attr_str("rpc.system");
    if client && rpc == "aws-api" {
        let service = v.attr_str("rpc.service");
        return Cow::Owned(if service.is_empty() {
            "aws.client.request".to_owned()
        } else {
            format!("aws.{}.request", service.to_lowercase())
        });
    }
    if !rpc.is_empty() && (client || server) {
        let side = if client { "client" } else { "server" };
        return Cow::Owned(format!("{}.{side}.request", rpc.to_lowercase()));
    }
    let (provider, invoked) = (
        v.attr_str("faas.invoked_provider"),
        v.attr_str("faas.invoked_name"),
    );
    if client && !provider.is_empty() && !invoked.is_empty() {
        return Cow::Owned(format!(
            "{}.{}.invoke",
            provider.to_lowercase(),
            invoked.to_lowercase()
        ));
    }
    let trigger = v.attr_str("faas.trigger");
    if server && !trigger.is_empty() {
        return Cow::Owned(format!("{}.invoke", trigger.to_lowercase()));
    }
    if !v.attr_str("graphql.operation.type").is_empty() {
        return Cow::Borrowed("graphql.server.request");
    }
    let protocol = v.attr_str("network.protocol.name");
    if server || client {
        let side = if server { "server" } else { "client" };
        return Cow::Owned(if protocol.is_empty() {
            format!("{side}.request")
        } else {
            format!("{}.{side}.request", protocol.to_lowercase())
        });
    }
    Cow::Borrowed(kind_str(v.kind()))
}

/// `GetOTelResourceV2`.
pub(crate) fn resource<'a>(v: &View<'a>) -> Cow<'a, str> {
    let explicit = v.res_or_span(&["resource.name"]);
    if !explicit.is_empty() {
        return explicit;
    }
    let method = v.res_or_span(&["http.request.method", "http.method"]);
    if !method.is_empty() {
        let method = if method == "_OTHER" {
            Cow::Borrowed("HTTP")
        } else {
            method
        };
        if matches!(v.kind(), SpanKind::Server) {
            let route = v.res_or_span(&["http.route"]);
            if !route.is_empty() {
                return Cow::Owned(format!("{method} {route}"));
            }
        }
        return method;
    }
    let op = v.res_or_span(&["messaging.operation.type", "messaging.operation"]);
    if !op.is_empty() {
        let dest = v.res_or_span(&["messaging.destination", "messaging.destination.name"]);
        return if dest.is_empty() {
            op
        } else {
            Cow::Owned(format!("{op} {dest}"))
        };
    }
    let rpc_method = v.res_or_span(&["rpc.method"]);
    if !rpc_method.is_empty() {
        let service = v.res_or_span(&["rpc.service"]);
        return if service.is_empty() {
            rpc_method
        } else {
            Cow::Owned(format!("{rpc_method} {service}"))
        };
    }
    let gql = v.res_or_span(&["graphql.operation.type"]);
    if !gql.is_empty() {
        let name = v.res_or_span(&["graphql.operation.name"]);
        return if name.is_empty() {
            gql
        } else {
            Cow::Owned(format!("{gql} {name}"))
        };
    }
    if !v.res_or_span(&["db.system.name", "db.system"]).is_empty() {
        for key in ["db.statement", "db.query.text"] {
            let text = v.res_or_span(&[key]);
            if !text.is_empty() {
                return text;
            }
        }
    }
    Cow::Borrowed(v.span.name.as_ref())
}

/// `GetOTelSpanType`.
pub(crate) fn span_type<'a>(v: &View<'a>) -> Cow<'a, str> {
    let explicit = v.res_or_span(&["span.type"]);
    if !explicit.is_empty() {
        return explicit;
    }
    Cow::Borrowed(match v.kind() {
        SpanKind::Server => "web",
        SpanKind::Client => {
            let db = v.res_or_span(&["db.system.name", "db.system"]);
            if db.is_empty() {
                "http"
            } else {
                db_type(&db)
            }
        }
        _ => "custom",
    })
}

/// The Agent's `checkDBType`: the Datadog span type of a `db.system`.
fn db_type(system: &str) -> &'static str {
    match system {
        "other_sql" | "mssql" | "mysql" | "oracle" | "db2" | "postgresql" | "redshift"
        | "cloudscape" | "hsqldb" | "maxdb" | "ingres" | "firstsql" | "edb" | "cache"
        | "firebird" | "derby" | "informix" | "mariadb" | "sqlite" | "sybase" | "teradata"
        | "vertica" | "h2" | "coldfusion" | "cockroachdb" | "progress" | "hanadb" | "adabas"
        | "filemaker" | "instantdb" | "interbase" | "netezza" | "pervasive" | "pointbase"
        | "clickhouse" => "sql",
        "cassandra" => "cassandra",
        "redis" => "redis",
        "memcached" => "memcached",
        "mongodb" => "mongodb",
        "elasticsearch" => "elasticsearch",
        "opensearch" => "opensearch",
        _ => "db",
    }
}

/// The `span.kind` meta value.
pub(crate) fn kind_str(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Client => "client",
        SpanKind::Server => "server",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
    }
}

/// The Datadog meta key of an OpenTelemetry attribute (opentelemetry-mapping-go
/// `attributes.go`: HTTP semantic conventions renamed; Datadog's own
/// convention keys dropped, `""`).
pub(crate) fn dd_key(k: &str) -> Cow<'_, str> {
    let mapped = match k {
        "client.address" => "http.client_ip",
        "http.response.body.size" => "http.response.content_length",
        "http.response.status_code" => "http.status_code",
        "http.request.body.size" => "http.request.content_length",
        "http.request.header.referrer" => "http.referrer",
        "http.request.method" => "http.method",
        "http.route" => "http.route",
        "network.protocol.version" => "http.version",
        "server.address" => "http.server_name",
        "url.full" => "http.url",
        "user_agent.original" => "http.useragent",
        "service.name" | "operation.name" | "resource.name" | "span.type" => "",
        _ if k.starts_with("datadog.") => "",
        _ => {
            return match k.strip_prefix("http.request.header.") {
                Some(rest) => Cow::Owned(format!("http.request.headers.{rest}")),
                None => Cow::Borrowed(k),
            }
        }
    };
    Cow::Borrowed(mapped)
}
