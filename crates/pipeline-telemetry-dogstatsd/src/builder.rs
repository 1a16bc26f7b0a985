//! Configuration of an exporter: target, global tags, flush interval.

use std::time::Duration;

use crate::error::{ConfigError, InstallError};
use crate::flusher::{self, Exporter};
use crate::guard::DogStatsDGuard;
use crate::origin::Origin;
use crate::recorder;
use crate::sanitize;
use crate::target::Target;
use crate::transport::{Console, Transport, Udp, UnixStreamTransport, Unixgram};
use crate::udp::{self, Resolver};

/// The default flush interval.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Builds and starts a DogStatsD exporter.
///
/// ```
/// use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, MemorySink, Target, CounterHandle};
///
/// let sink = MemorySink::new();
/// let guard = DogStatsDBuilder::new(Target::Memory(sink.clone()))
///     .with_service("ingest")
///     .with_tag("team", "data")
///     .with_origin_detection(false)
///     .start()
///     .expect("no other exporter is running");
/// CounterHandle::register("doc.example", &[]).increment(3);
/// drop(guard); // flushes
/// assert!(sink.lines().contains(&"doc.example:3|c|#service:ingest,team:data".to_string()));
/// ```
#[derive(Debug, Clone)]
pub struct DogStatsDBuilder {
    target: Target,
    /// `(key, Some(value))`, or a bare tag `(tag, None)` from `DD_TAGS`.
    tags: Vec<(String, Option<String>)>,
    flush_interval: Duration,
    max_payload: Option<usize>,
    origin_detection: bool,
    container_id: Option<String>,
    external_env: Option<String>,
    cardinality: Option<String>,
    telemetry: Option<Duration>,
    resolver: CustomResolver,
    resolve_interval: Duration,
    max_samples: usize,
}

/// A resolver set with [`DogStatsDBuilder::with_resolver`].
#[derive(Clone, Default)]
struct CustomResolver(Option<Resolver>);

impl std::fmt::Debug for CustomResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "custom" } else { "system" })
    }
}

/// The default interval of the client's own telemetry.
pub const DEFAULT_TELEMETRY_INTERVAL: Duration = Duration::from_secs(10);

impl DogStatsDBuilder {
    /// An exporter sending to `target`, with no global tags.
    pub fn new(target: Target) -> Self {
        DogStatsDBuilder {
            target,
            tags: Vec::new(),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            max_payload: None,
            origin_detection: true,
            container_id: None,
            external_env: None,
            cardinality: None,
            telemetry: Some(DEFAULT_TELEMETRY_INTERVAL),
            resolver: CustomResolver(None),
            resolve_interval: udp::DEFAULT_RESOLVE_INTERVAL,
            max_samples: crate::reservoir::DEFAULT_MAX_SAMPLES_PER_SERIES,
        }
    }

    /// Configuration from Datadog's environment variables: the target from
    /// `DD_DOGSTATSD_URL` / `DD_AGENT_HOST` + `DD_DOGSTATSD_PORT` (default
    /// `udp://127.0.0.1:8125`), the tags `service`, `env`, `version` from
    /// `DD_SERVICE`, `DD_ENV`, `DD_VERSION`, and those in `DD_TAGS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let target = Target::from_env()?.unwrap_or_default();
        Ok(Self::new(target).with_env_tags())
    }

    /// Adds the unified service tags, `DD_TAGS`, `DD_ENTITY_ID` and the
    /// origin-detection settings (`DD_EXTERNAL_ENV`, `DD_CARDINALITY`,
    /// `DD_ORIGIN_DETECTION_ENABLED`) from the environment.
    pub fn with_env_tags(self) -> Self {
        self.with_env_tags_from(|k| std::env::var(k).ok())
    }

    /// [`with_env_tags`](Self::with_env_tags) with a custom lookup.
    pub fn with_env_tags_from(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        for (key, name) in [
            ("service", "DD_SERVICE"),
            ("env", "DD_ENV"),
            ("version", "DD_VERSION"),
        ] {
            if let Some(v) = var(name).filter(|v| !v.trim().is_empty()) {
                self = self.with_tag(key, v.trim());
            }
        }
        if let Some(tags) = var("DD_TAGS") {
            self = self.with_tags_str(&tags);
        }
        let set = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(id) = set("DD_ENTITY_ID") {
            self = self.with_tag("dd.internal.entity_id", id);
        }
        if let Some(e) = set("DD_EXTERNAL_ENV") {
            self.external_env = Some(e);
        }
        if let Some(c) = set("DD_CARDINALITY").or_else(|| set("DATADOG_CARDINALITY")) {
            self.cardinality = Some(c.to_ascii_lowercase());
        }
        if let Some(v) = set("DD_ORIGIN_DETECTION_ENABLED") {
            self.origin_detection =
                !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no");
        }
        self
    }

    /// Turns origin detection (the container id read from
    /// `/proc/self/cgroup`, sent as `|c:`) on or off (default on, or
    /// `DD_ORIGIN_DETECTION_ENABLED`).
    pub fn with_origin_detection(mut self, enabled: bool) -> Self {
        self.origin_detection = enabled;
        self
    }

    /// Sets the container id sent as `|c:` instead of detecting it (sent
    /// even with origin detection off, as the official clients do).
    pub fn with_container_id(mut self, id: impl Into<String>) -> Self {
        self.container_id = Some(id.into());
        self
    }

    /// Sets the external environment sent as `|e:` (`DD_EXTERNAL_ENV`).
    pub fn with_external_env(mut self, env: impl Into<String>) -> Self {
        self.external_env = Some(env.into());
        self
    }

    /// Sets the tag cardinality sent as `|card:` (`DD_CARDINALITY`:
    /// `none`, `low`, `orchestrator`, `high`).
    pub fn with_cardinality(mut self, cardinality: impl Into<String>) -> Self {
        self.cardinality = Some(cardinality.into());
        self
    }

    /// Sets `dd.internal.entity_id` (`DD_ENTITY_ID`).
    pub fn with_entity_id(self, id: impl Into<String>) -> Self {
        self.with_tag("dd.internal.entity_id", id)
    }

    /// Turns the client's own telemetry (`datadog.dogstatsd.client.*`, every
    /// 10 s by default) on or off.
    pub fn with_telemetry(mut self, enabled: bool) -> Self {
        self.telemetry = enabled.then_some(self.telemetry.unwrap_or(DEFAULT_TELEMETRY_INTERVAL));
        self
    }

    /// How often the client's telemetry is sent.
    pub fn with_telemetry_interval(mut self, interval: Duration) -> Self {
        self.telemetry = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// The origin-detection fields appended to each line (`|c:..|e:..|card:..`).
    pub fn origin_fields(&self) -> String {
        // An explicit id is always sent; detection only fills in a missing one.
        let container_id = match (&self.container_id, self.origin_detection) {
            (Some(id), _) => Some(id.clone()),
            (None, true) => crate::origin::detect_container_id(),
            (None, false) => None,
        };
        Origin {
            container_id,
            external_env: self.external_env.clone(),
            cardinality: self.cardinality.clone(),
        }
        .suffix()
    }

    /// The most samples one distribution series sends per flush (default
    /// [`DEFAULT_MAX_SAMPLES_PER_SERIES`](crate::DEFAULT_MAX_SAMPLES_PER_SERIES)).
    /// Past it, the series keeps a uniformly chosen subset (reservoir
    /// sampling) and sends it with the matching `|@rate`, so Datadog's
    /// count and percentiles stay unbiased while the flusher's work and the
    /// bytes sent stay bounded at any call rate.
    pub fn with_max_samples_per_series(mut self, max: usize) -> Self {
        self.max_samples = max.max(1);
        self
    }

    /// How often the Agent's host name (a UDP target given by name, such
    /// as `DD_AGENT_HOST=datadog-agent`) is resolved again (default 30 s).
    /// It is also resolved again soon after a send error, and retried
    /// every second while it does not resolve. Resolution happens on the
    /// flusher, never in [`start`](Self::start).
    pub fn with_resolve_interval(mut self, interval: Duration) -> Self {
        self.resolve_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Resolves the UDP target's `host:port` with `resolve` instead of the
    /// system resolver (service discovery of your own, or tests).
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, Target};
    /// let b = DogStatsDBuilder::new(Target::Udp("datadog-agent:8125".into()))
    ///     .with_resolver(|_host| Ok(vec![SocketAddr::from(([127, 0, 0, 1], 8125))]));
    /// ```
    pub fn with_resolver(
        mut self,
        resolve: impl Fn(&str) -> std::io::Result<Vec<std::net::SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        self.resolver = CustomResolver(Some(std::sync::Arc::new(resolve)));
        self
    }

    /// Replaces the target.
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Sets the `service` tag.
    pub fn with_service(self, service: impl Into<String>) -> Self {
        self.with_tag("service", service)
    }

    /// Sets the `env` tag.
    pub fn with_env(self, env: impl Into<String>) -> Self {
        self.with_tag("env", env)
    }

    /// Sets the `version` tag.
    pub fn with_version(self, version: impl Into<String>) -> Self {
        self.with_tag("version", version)
    }

    /// Adds a global tag, replacing one with the same key.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.tags.retain(|(k, _)| *k != key);
        self.tags.push((key, Some(value.into())));
        self
    }

    /// Adds tags written as in `DD_TAGS`: `key:value` or bare, separated by
    /// commas or spaces. Each is cleaned like every other tag: a tag starts
    /// with a letter (leading characters that are not are dropped, and a
    /// tag with no letter is dropped), other separators become `_`.
    ///
    /// ```
    /// use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, Target};
    /// let b = DogStatsDBuilder::new(Target::Console).with_tags_str("team:data, #region:eu|w 42 beta");
    /// assert_eq!(b.global_tags(), "team:data,region:eu_w,beta");
    /// ```
    pub fn with_tags_str(mut self, tags: &str) -> Self {
        for raw in tags
            .split([',', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            match raw.split_once(':') {
                Some((k, v)) if !v.is_empty() => self = self.with_tag(k, v),
                Some((k, _)) => self.tags.push((k.to_owned(), None)),
                None => self.tags.push((raw.to_owned(), None)),
            }
        }
        self
    }

    /// How often to flush (default 1 s). Buffers filling up flush earlier.
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The largest datagram (default 1432 bytes over UDP, 8192 over UDS).
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes);
        self
    }

    /// The target this builder sends to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The global tags as they go on the wire (sanitised, comma-separated).
    pub fn global_tags(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.tags {
            let before = s.len();
            if !s.is_empty() {
                s.push(',');
            }
            let pushed = match v {
                Some(v) => sanitize::push_tag(&mut s, k, v),
                None => sanitize::push_bare_tag(&mut s, k),
            };
            if !pushed {
                s.truncate(before);
            }
        }
        s
    }

    /// Starts the exporter and installs it as the global `metrics`
    /// recorder, so `metrics::counter!` and friends flow through it.
    ///
    /// Fails with [`InstallError::RecorderAlreadySet`] if another recorder
    /// is installed.
    pub fn install(self) -> Result<DogStatsDGuard, InstallError> {
        recorder::install()?;
        self.start()
    }

    /// Starts the exporter without touching the global `metrics` recorder
    /// (the native handles and `#[instrument_stage]` still record).
    pub fn start(self) -> Result<DogStatsDGuard, InstallError> {
        let max_payload = self
            .max_payload
            .unwrap_or_else(|| self.target.default_max_payload());
        let transport: Box<dyn Transport> = match &self.target {
            Target::Udp(addr) => {
                let resolver = self.resolver.0.clone().unwrap_or_else(udp::system_resolver);
                Box::new(
                    Udp::new(addr, resolver, self.resolve_interval).map_err(|source| {
                        InstallError::Connect {
                            target: format!("udp://{addr}"),
                            source,
                        }
                    })?,
                )
            }
            Target::UnixDatagram(path) => Box::new(Unixgram::new(path.clone())),
            Target::UnixStream(path) => Box::new(UnixStreamTransport::new(path.clone())),
            Target::Console => {
                Box::new(Console::new().map_err(|source| InstallError::Connect {
                    target: "console".into(),
                    source,
                })?)
            }
            Target::Memory(sink) => Box::new(sink.clone()),
        };
        let telemetry = self.telemetry.map(|interval| {
            let mut tags = self.global_tags();
            let transport_tag = transport.name();
            for (k, v) in [
                ("client", "rust"),
                ("client_version", env!("CARGO_PKG_VERSION")),
                ("client_transport", transport_tag),
            ] {
                if !tags.is_empty() {
                    tags.push(',');
                }
                crate::sanitize::push_tag(&mut tags, k, v);
            }
            (interval, tags)
        });
        let exporter = Exporter::new(
            transport,
            max_payload,
            self.global_tags(),
            self.flush_interval,
        )
        .with_origin(self.origin_fields())
        .with_max_samples(self.max_samples)
        .with_telemetry(telemetry);
        flusher::start(exporter)?;
        Ok(DogStatsDGuard::new())
    }
}
