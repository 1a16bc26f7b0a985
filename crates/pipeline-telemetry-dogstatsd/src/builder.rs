//! Configuration of an exporter: target, global tags, flush interval.

use std::time::Duration;

use pipeline_telemetry_catalogue::env as vars;

use crate::error::InstallError;
use crate::flusher::{self, Exporter};
use crate::guard::DogStatsDGuard;
use crate::origin::Origin;
use crate::recorder;
use crate::sanitize;
use crate::target::Target;
use crate::transport::{Console, Transport, Udp, UnixStreamTransport, Unixgram};
use crate::udp::{self, Resolver};

mod env;

/// The default flush interval (no environment variable sets it).
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Builds and starts a DogStatsD exporter.
///
/// Each setter's doc names its default and the environment variable that
/// sets the same thing (declared in [`pipeline_telemetry_catalogue::env`]).
/// The environment is read only by [`from_env`](Self::from_env) and
/// [`with_env_tags`](Self::with_env_tags); a setter called afterwards wins.
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
    /// `(key, Some(value))`, or a bare tag `(tag, None)` from
    /// [`DD_TAGS`](vars::DD_TAGS).
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

/// The default interval of the client's own telemetry (no environment
/// variable sets it).
pub const DEFAULT_TELEMETRY_INTERVAL: Duration = Duration::from_secs(10);

impl DogStatsDBuilder {
    /// An exporter sending to `target`, with no global tags and every other
    /// setting at its default; the environment is not read (see
    /// [`from_env`](Self::from_env) and [`with_env_tags`](Self::with_env_tags)).
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

    /// Turns origin detection (the container id read from `/proc/self/cgroup`,
    /// sent as `|c:`) on or off. Default: on. Environment:
    /// [`DD_ORIGIN_DETECTION_ENABLED`](vars::DD_ORIGIN_DETECTION_ENABLED)
    /// (`false`, `0` or `no` turns it off).
    pub fn with_origin_detection(mut self, enabled: bool) -> Self {
        self.origin_detection = enabled;
        self
    }

    /// Sets the container id sent as `|c:` instead of detecting it (sent even
    /// with origin detection off, as the official clients do). Default:
    /// detected when origin detection is on. No environment variable.
    pub fn with_container_id(mut self, id: impl Into<String>) -> Self {
        self.container_id = Some(id.into());
        self
    }

    /// Sets the external environment sent as `|e:`. Default: none. Environment:
    /// [`DD_EXTERNAL_ENV`](vars::DD_EXTERNAL_ENV).
    pub fn with_external_env(mut self, env: impl Into<String>) -> Self {
        self.external_env = Some(env.into());
        self
    }

    /// Sets the tag cardinality sent as `|card:` (`none`, `low`,
    /// `orchestrator`, `high`). Default: none (the Agent decides). Environment:
    /// [`DD_CARDINALITY`](vars::DD_CARDINALITY), else
    /// [`DATADOG_CARDINALITY`](vars::DATADOG_CARDINALITY).
    pub fn with_cardinality(mut self, cardinality: impl Into<String>) -> Self {
        self.cardinality = Some(cardinality.into());
        self
    }

    /// Sets the `dd.internal.entity_id` tag. Default: none. Environment:
    /// [`DD_ENTITY_ID`](vars::DD_ENTITY_ID).
    pub fn with_entity_id(self, id: impl Into<String>) -> Self {
        self.with_tag("dd.internal.entity_id", id)
    }

    /// Turns the client's own telemetry (`datadog.dogstatsd.client.*`) on or
    /// off. Default: on, every [`DEFAULT_TELEMETRY_INTERVAL`]. No environment
    /// variable.
    pub fn with_telemetry(mut self, enabled: bool) -> Self {
        self.telemetry = enabled.then_some(self.telemetry.unwrap_or(DEFAULT_TELEMETRY_INTERVAL));
        self
    }

    /// How often the client's telemetry is sent (and turns it on). Default:
    /// [`DEFAULT_TELEMETRY_INTERVAL`]. No environment variable.
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
    /// bytes sent stay bounded at any call rate. No environment variable.
    pub fn with_max_samples_per_series(mut self, max: usize) -> Self {
        self.max_samples = max.max(1);
        self
    }

    /// How often the Agent's host name (a UDP target given by name, such as
    /// `DD_AGENT_HOST=datadog-agent`) is resolved again. Default:
    /// [`DEFAULT_RESOLVE_INTERVAL`](crate::DEFAULT_RESOLVE_INTERVAL) (30 s). No
    /// environment variable. It is also resolved again soon after a send error,
    /// and retried every second while it does not resolve. Resolution happens
    /// on the flusher, never in [`start`](Self::start).
    pub fn with_resolve_interval(mut self, interval: Duration) -> Self {
        self.resolve_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Resolves the UDP target's `host:port` with `resolve` instead of the
    /// system resolver (service discovery of your own, or tests). Default: the
    /// system resolver. No environment variable.
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

    /// Replaces the target. Default: the one given to [`new`](Self::new);
    /// [`from_env`](Self::from_env) takes it from
    /// [`DD_DOGSTATSD_URL`](vars::DD_DOGSTATSD_URL), else
    /// [`DD_AGENT_HOST`](vars::DD_AGENT_HOST) and
    /// [`DD_DOGSTATSD_PORT`](vars::DD_DOGSTATSD_PORT), else
    /// [`Target::default_agent`] (the Agent's default socket when it exists,
    /// else `udp://127.0.0.1:8125`).
    pub fn with_target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    /// Sets the `service` tag. Default: none. Environment:
    /// [`DD_SERVICE`](vars::DD_SERVICE).
    pub fn with_service(self, service: impl Into<String>) -> Self {
        self.with_tag("service", service)
    }

    /// Sets the `env` tag. Default: none. Environment:
    /// [`DD_ENV`](vars::DD_ENV).
    pub fn with_env(self, env: impl Into<String>) -> Self {
        self.with_tag("env", env)
    }

    /// Sets the `version` tag. Default: none. Environment:
    /// [`DD_VERSION`](vars::DD_VERSION).
    pub fn with_version(self, version: impl Into<String>) -> Self {
        self.with_tag("version", version)
    }

    /// Adds a global tag, replacing one with the same key. Default: no tags.
    /// Environment: [`DD_TAGS`](vars::DD_TAGS) (see
    /// [`with_tags_str`](Self::with_tags_str)).
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let key = key.into();
        self.tags.retain(|(k, _)| *k != key);
        self.tags.push((key, Some(value.into())));
        self
    }

    /// Adds tags written as in [`DD_TAGS`](vars::DD_TAGS): `key:value` or bare,
    /// separated by commas or spaces (parsed by [`dd_tags`](vars::dd_tags), the
    /// one parser of that format). Each is cleaned like every other tag: a tag
    /// starts with a letter (leading characters that are not are dropped, and a
    /// tag with no letter is dropped), other separators become `_`.
    ///
    /// ```
    /// use pipeline_telemetry_dogstatsd::{DogStatsDBuilder, Target}; let b =
    /// DogStatsDBuilder::new(Target::Console).with_tags_str("team:data, #region:eu|w 42 beta");
    /// assert_eq!(b.global_tags(), "team:data,region:eu_w,beta");
    /// ```
    pub fn with_tags_str(mut self, tags: &str) -> Self {
        for (key, value) in vars::dd_tags(tags) {
            match value {
                Some(v) => self = self.with_tag(key, v),
                None => self.tags.push((key.to_owned(), None)),
            }
        }
        self
    }

    /// How often to flush. Default: [`DEFAULT_FLUSH_INTERVAL`] (1 s). Buffers
    /// filling up flush earlier. No environment variable.
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The largest datagram. Default:
    /// [`UDP_MAX_PAYLOAD`](crate::UDP_MAX_PAYLOAD) (1432 bytes) over UDP,
    /// [`UDS_MAX_PAYLOAD`](crate::UDS_MAX_PAYLOAD) (8192) over Unix sockets;
    /// at most [`MAX_PAYLOAD`](crate::MAX_PAYLOAD) (larger values are lowered
    /// to it), at least 64. No environment variable.
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = Some(bytes.clamp(64, crate::target::MAX_PAYLOAD));
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
    /// # Errors
    ///
    /// [`InstallError::RecorderAlreadySet`] if another recorder is
    /// installed (nothing is started then), or any error of
    /// [`start`](Self::start).
    pub fn install(self) -> Result<DogStatsDGuard, InstallError> {
        recorder::install()?;
        self.start()
    }

    /// Starts the exporter without touching the global `metrics` recorder
    /// (the native handles and `#[instrument_stage]` still record).
    ///
    /// # Errors
    ///
    /// [`InstallError::Connect`] when the UDP socket or the console writer
    /// cannot be opened (Unix socket targets connect lazily and never fail
    /// here), and [`InstallError::AlreadyRunning`] when another exporter is
    /// running in this process.
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
