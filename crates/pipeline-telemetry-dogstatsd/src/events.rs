//! Events (`_e{..}`) and service checks (`_sc|..`): rarely sent, so they
//! are formatted on the flusher from a small bounded queue; what does not
//! fit is dropped and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use crossbeam_queue::ArrayQueue;

use crate::{flusher, sanitize};

/// Events and service checks buffered between two flushes at most.
pub const MESSAGE_CAPACITY: usize = 1024;

/// An event's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Priority {
    /// `normal`
    Normal,
    /// `low`
    Low,
}

/// An event's alert type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertType {
    /// `info`
    Info,
    /// `warning`
    Warning,
    /// `error`
    Error,
    /// `success`
    Success,
}

/// A Datadog event, e.g. "pipeline daily_etl failed".
///
/// ```
/// use pipeline_telemetry_dogstatsd::{AlertType, Event};
/// let e = Event::new("daily_etl failed", "spark: executor lost")
///     .with_alert_type(AlertType::Error)
///     .with_tag("pipeline", "daily_etl");
/// let mut line = Vec::new();
/// e.write(&mut line, "", "");
/// assert_eq!(line, b"_e{16,20}:daily_etl failed|spark: executor lost|t:error|#pipeline:daily_etl");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    title: String,
    text: String,
    timestamp: Option<u64>,
    hostname: Option<String>,
    aggregation_key: Option<String>,
    priority: Option<Priority>,
    source_type: Option<String>,
    alert_type: Option<AlertType>,
    tags: String,
}

/// A service check's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckStatus {
    /// `0`
    Ok,
    /// `1`
    Warning,
    /// `2`
    Critical,
    /// `3`
    Unknown,
}

/// A service check, e.g. one per pipeline: `pipeline.can_run`.
///
/// ```
/// use pipeline_telemetry_dogstatsd::{CheckStatus, ServiceCheck};
/// let c = ServiceCheck::new("pipeline.health", CheckStatus::Critical).with_message("spark down\nretrying");
/// let mut line = Vec::new();
/// c.write(&mut line, "", "");
/// assert_eq!(line, b"_sc|pipeline.health|2|m:spark down\\nretrying");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCheck {
    name: String,
    status: CheckStatus,
    timestamp: Option<u64>,
    hostname: Option<String>,
    tags: String,
    message: Option<String>,
}

/// Escapes newlines as the Agent expects (`\n` → `\\n`, which it turns
/// back into a newline in event titles and texts), so that free text
/// cannot end the line.
fn escape(s: &str) -> String {
    s.replace("\r\n", "\\n").replace(['\n', '\r'], "\\n")
}

/// What stands for `|` in a service check message: the Agent splits a
/// service check at every `|` (the message is not length-prefixed like an
/// event's text), so a `|` would start a field of the sender's choosing
/// (`|#env:prod|h:evilhost`).
pub const MESSAGE_PIPE: char = '¦';

/// A service check message as it goes on the wire: newlines escaped,
/// `m:` escaped as the official clients do, `|` replaced by
/// [`MESSAGE_PIPE`].
fn escape_message(s: &str) -> String {
    escape(s).replace("m:", "m\\:").replace('|', "¦")
}

/// The Agent refuses an event with an empty title; this one stands in.
pub const UNTITLED: &str = "untitled";

/// A hostname, aggregation key or source: no separators.
fn field(s: &str) -> String {
    s.chars()
        .map(|c| {
            if sanitize::is_tag_value_char(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn push_tag(tags: &mut String, key: &str, value: &str) {
    let before = tags.len();
    if !tags.is_empty() {
        tags.push(',');
    }
    if !sanitize::push_tag(tags, key, value) {
        tags.truncate(before);
    }
}

fn push_tags_field(out: &mut Vec<u8>, tags: &str, global: &str) {
    if tags.is_empty() && global.is_empty() {
        return;
    }
    out.extend_from_slice(b"|#");
    out.extend_from_slice(tags.as_bytes());
    if !tags.is_empty() && !global.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(global.as_bytes());
}

impl Event {
    /// An event with a title and a text (newlines are escaped; an empty
    /// title becomes [`UNTITLED`], as the Agent drops untitled events).
    /// Both are length-prefixed on the wire, so any other character,
    /// `|` included, is sent as it is.
    pub fn new(title: impl AsRef<str>, text: impl AsRef<str>) -> Self {
        let title = title.as_ref();
        Event {
            title: escape(if title.is_empty() { UNTITLED } else { title }),
            text: escape(text.as_ref()),
            timestamp: None,
            hostname: None,
            aggregation_key: None,
            priority: None,
            source_type: None,
            alert_type: None,
            tags: String::new(),
        }
    }
    /// When it happened (`|d:`), unix seconds.
    pub fn with_timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }
    /// The host (`|h:`).
    pub fn with_hostname(mut self, host: &str) -> Self {
        self.hostname = Some(field(host));
        self
    }
    /// Groups events in the event stream (`|k:`).
    pub fn with_aggregation_key(mut self, key: &str) -> Self {
        self.aggregation_key = Some(field(key));
        self
    }
    /// `|p:normal` or `|p:low`.
    pub fn with_priority(mut self, p: Priority) -> Self {
        self.priority = Some(p);
        self
    }
    /// The source type (`|s:`).
    pub fn with_source_type(mut self, s: &str) -> Self {
        self.source_type = Some(field(s));
        self
    }
    /// `|t:info|warning|error|success`.
    pub fn with_alert_type(mut self, t: AlertType) -> Self {
        self.alert_type = Some(t);
        self
    }
    /// Adds a tag (sanitised).
    pub fn with_tag(mut self, key: &str, value: &str) -> Self {
        push_tag(&mut self.tags, key, value);
        self
    }

    /// Writes the event's line: its own tags, then `global_tags`, then
    /// `extra` fields (origin detection).
    pub fn write(&self, out: &mut Vec<u8>, global_tags: &str, extra: &str) {
        let head = format!("_e{{{},{}}}:", self.title.len(), self.text.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(self.title.as_bytes());
        out.push(b'|');
        out.extend_from_slice(self.text.as_bytes());
        if let Some(d) = self.timestamp {
            out.extend_from_slice(format!("|d:{d}").as_bytes());
        }
        for (prefix, v) in [("|h:", &self.hostname), ("|k:", &self.aggregation_key)] {
            if let Some(v) = v {
                out.extend_from_slice(prefix.as_bytes());
                out.extend_from_slice(v.as_bytes());
            }
        }
        if let Some(p) = self.priority {
            out.extend_from_slice(if p == Priority::Low {
                b"|p:low"
            } else {
                b"|p:normal"
            });
        }
        if let Some(s) = &self.source_type {
            out.extend_from_slice(b"|s:");
            out.extend_from_slice(s.as_bytes());
        }
        if let Some(t) = self.alert_type {
            let t: &[u8] = match t {
                AlertType::Info => b"|t:info",
                AlertType::Warning => b"|t:warning",
                AlertType::Error => b"|t:error",
                AlertType::Success => b"|t:success",
            };
            out.extend_from_slice(t);
        }
        push_tags_field(out, &self.tags, global_tags);
        out.extend_from_slice(extra.as_bytes());
    }
}

impl ServiceCheck {
    /// A check named `name` (sanitised like a metric name).
    pub fn new(name: &str, status: CheckStatus) -> Self {
        ServiceCheck {
            name: sanitize::name(name),
            status,
            timestamp: None,
            hostname: None,
            tags: String::new(),
            message: None,
        }
    }
    /// When it was checked (`|d:`), unix seconds.
    pub fn with_timestamp(mut self, unix_seconds: u64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }
    /// The host (`|h:`).
    pub fn with_hostname(mut self, host: &str) -> Self {
        self.hostname = Some(field(host));
        self
    }
    /// Adds a tag (sanitised).
    pub fn with_tag(mut self, key: &str, value: &str) -> Self {
        push_tag(&mut self.tags, key, value);
        self
    }
    /// A message (`|m:`, always last; newlines and `m:` escaped, `|`
    /// replaced by [`MESSAGE_PIPE`] so that no input can add a field).
    pub fn with_message(mut self, message: &str) -> Self {
        self.message = Some(escape_message(message));
        self
    }

    /// Writes the service check's line.
    pub fn write(&self, out: &mut Vec<u8>, global_tags: &str, extra: &str) {
        let status = match self.status {
            CheckStatus::Ok => 0,
            CheckStatus::Warning => 1,
            CheckStatus::Critical => 2,
            CheckStatus::Unknown => 3,
        };
        out.extend_from_slice(format!("_sc|{}|{status}", self.name).as_bytes());
        if let Some(d) = self.timestamp {
            out.extend_from_slice(format!("|d:{d}").as_bytes());
        }
        if let Some(h) = &self.hostname {
            out.extend_from_slice(b"|h:");
            out.extend_from_slice(h.as_bytes());
        }
        push_tags_field(out, &self.tags, global_tags);
        out.extend_from_slice(extra.as_bytes());
        if let Some(m) = &self.message {
            out.extend_from_slice(b"|m:");
            out.extend_from_slice(m.as_bytes());
        }
    }
}

#[derive(Debug)]
pub(crate) enum Message {
    Event(Event),
    ServiceCheck(ServiceCheck),
}

static QUEUE: LazyLock<ArrayQueue<Message>> = LazyLock::new(|| ArrayQueue::new(MESSAGE_CAPACITY));
static DROPPED: AtomicU64 = AtomicU64::new(0);

fn push(m: Message) {
    if QUEUE.push(m).is_err() {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    flusher::wake_flush();
}

/// Queues an event for the next flush (never blocks; dropped and counted
/// when the queue is full).
pub fn send_event(event: Event) {
    push(Message::Event(event));
}

/// Queues a service check for the next flush.
pub fn send_service_check(check: ServiceCheck) {
    push(Message::ServiceCheck(check));
}

pub(crate) fn pop() -> Option<Message> {
    QUEUE.pop()
}

pub(crate) fn take_dropped() -> u64 {
    DROPPED.swap(0, Ordering::Relaxed)
}
