//! Where [`OtelBuilder`]'s spans go: the OTLP endpoint and transport, the
//! Agent's host and trace intake, the request headers, the export mode.

use crate::builder::OtelBuilder;
use crate::config::{Protocol, TracesExport};

impl OtelBuilder {
    /// The OTLP receiver's base URL, e.g. `http://localhost:4317` (gRPC) or
    /// `http://localhost:4318` (HTTP; `/v1/traces` and `/v1/logs` are
    /// appended). Setting it selects [`TracesExport::Otlp`] unless
    /// [`with_traces`](Self::with_traces) says otherwise. Default: none
    /// (built from the [Agent host](Self::with_agent_host) if set, else spans
    /// go to the console). Environment:
    /// [`OTEL_EXPORTER_OTLP_ENDPOINT`](pipeline_telemetry_catalogue::env::OTEL_EXPORTER_OTLP_ENDPOINT).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self.endpoint_setting = "with_endpoint";
        self.otlp_asked = true;
        self
    }

    /// The OTLP transport. Without it, an endpoint on port 4317 means gRPC and
    /// any other HTTP/protobuf; an Agent host alone means gRPC. Environment:
    /// [`OTEL_EXPORTER_OTLP_PROTOCOL`](pipeline_telemetry_catalogue::env::OTEL_EXPORTER_OTLP_PROTOCOL).
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self.protocol_setting = "with_protocol";
        self.otlp_asked = true;
        self
    }

    /// The Datadog Agent's host (like `DD_AGENT_HOST`). Without an OTLP
    /// endpoint, spans go to its trace intake at `http://<host>:8126`
    /// ([`TracesExport::Datadog`](crate::TracesExport::Datadog)); with
    /// [`TracesExport::Otlp`](crate::TracesExport::Otlp) asked and no
    /// endpoint, OTLP goes to `http://<host>:4317` (or `:4318` for HTTP).
    /// Default: none. Environment:
    /// [`DD_AGENT_HOST`](pipeline_telemetry_catalogue::env::DD_AGENT_HOST).
    pub fn with_agent_host(mut self, host: impl Into<String>) -> Self {
        self.agent_host = Some(host.into());
        self
    }

    /// The Agent's trace intake as a URL, `http://host:8126` or
    /// `unix:///path/apm.socket` (like `DD_TRACE_AGENT_URL`); wins over the
    /// [Agent host](Self::with_agent_host) for spans sent natively.
    /// Default: none. Environment:
    /// [`DD_TRACE_AGENT_URL`](pipeline_telemetry_catalogue::env::DD_TRACE_AGENT_URL)
    /// (and [`DD_TRACE_AGENT_PORT`](pipeline_telemetry_catalogue::env::DD_TRACE_AGENT_PORT)
    /// for the port with the host).
    ///
    /// ```
    /// let builder = pipeline_telemetry_otel::OtelBuilder::new("etl")
    ///     .with_trace_agent_url("unix:///var/run/datadog/apm.socket");
    /// # drop(builder);
    /// ```
    pub fn with_trace_agent_url(mut self, url: impl Into<String>) -> Self {
        self.trace_agent_url = Some(url.into());
        self
    }

    /// Adds a header (HTTP) or metadata entry (gRPC) to every export request.
    /// Default: none. Environment: `OTEL_EXPORTER_OTLP_HEADERS`, read by the
    /// OTLP exporter itself, is honoured as well. The headers given here also
    /// go on every request to the Agent's trace intake.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    /// Where finished spans go: the Agent's trace intake, OTLP, the console
    /// or nowhere. Default: [`TracesExport::Otlp`] when an OTLP endpoint or
    /// protocol is set, else [`TracesExport::Datadog`] when an Agent address
    /// is set or the Agent's socket exists, else [`TracesExport::Console`].
    /// Environment:
    /// [`PIPELINE_TELEMETRY_TRACES`](pipeline_telemetry_catalogue::env::PIPELINE_TELEMETRY_TRACES), else
    /// [`OTEL_TRACES_EXPORTER`](pipeline_telemetry_catalogue::env::OTEL_TRACES_EXPORTER).
    pub fn with_traces(mut self, traces: TracesExport) -> Self {
        self.traces = Some(traces);
        self
    }
}
