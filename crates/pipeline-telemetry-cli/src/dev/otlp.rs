//! A minimal reader of OTLP/HTTP protobuf trace exports
//! (`ExportTraceServiceRequest`, opentelemetry-proto's
//! `collector/trace/v1`): only the fields the waterfall shows. Any bytes
//! are read without panicking; a malformed message is an error.

/// One decoded span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Span {
    pub trace_id: String,
    pub span_id: String,
    pub parent_id: String,
    pub name: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// `Status.code == STATUS_CODE_ERROR`.
    pub error: bool,
    pub status_message: String,
    /// A few attributes, shortened: `(key, value)`.
    pub attributes: Vec<(String, String)>,
    /// The resource's `service.name`.
    pub service: String,
}

/// Attributes the waterfall shows, kept (once) whatever their position.
const SHOWN: &[&str] = &["resource.name", "stage", "pipeline", "pipeline_id"];
/// Attributes kept per span at most besides those, and their longest value.
const MAX_ATTRIBUTES: usize = 16;
const MAX_VALUE: usize = 200;

enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.buf.get(self.pos..end).ok_or("truncated field")?;
        self.pos = end;
        Ok(s)
    }

    /// The next `(field number, value)`, or `None` at the end.
    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>, &'static str> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| "fixed64")?))
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            _ => return Err("unsupported wire type"),
        };
        Ok(Some((key >> 3, value)))
    }
}

impl Span {
    /// Its name, and its Datadog resource (`resource.name`) when it says more.
    pub(crate) fn label(&self) -> String {
        match self.attributes.iter().find(|(k, _)| k == "resource.name") {
            Some((_, r)) if *r != self.name => format!("{} {r}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// Calls `f` with every field of `buf`.
fn fields<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(u64, Wire<'a>) -> Result<(), &'static str>,
) -> Result<(), &'static str> {
    let mut r = Reader::new(buf);
    while let Some((n, w)) = r.field()? {
        f(n, w)?;
    }
    Ok(())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(MAX_VALUE).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().take(32).map(|x| format!("{x:02x}")).collect()
}

/// `AnyValue` as text (strings, booleans, integers, doubles).
fn any_value(buf: &[u8]) -> Result<String, &'static str> {
    let mut out = String::new();
    fields(buf, |n, w| {
        out = match (n, w) {
            (1, Wire::Bytes(b)) => text(b),
            (2, Wire::Varint(v)) => (v != 0).to_string(),
            (3, Wire::Varint(v)) => (v as i64).to_string(),
            (4, Wire::Fixed64(v)) => f64::from_bits(v).to_string(),
            _ => return Ok(()),
        };
        Ok(())
    })?;
    Ok(out)
}

fn key_value(buf: &[u8]) -> Result<(String, String), &'static str> {
    let (mut k, mut v) = (String::new(), String::new());
    fields(buf, |n, w| {
        match (n, w) {
            (1, Wire::Bytes(b)) => k = text(b),
            (2, Wire::Bytes(b)) => v = any_value(b)?,
            _ => {}
        }
        Ok(())
    })?;
    Ok((k, v))
}

fn span(buf: &[u8], service: &str) -> Result<Span, &'static str> {
    let mut s = Span {
        trace_id: String::new(),
        span_id: String::new(),
        parent_id: String::new(),
        name: String::new(),
        start_ns: 0,
        end_ns: 0,
        error: false,
        status_message: String::new(),
        attributes: Vec::new(),
        service: service.to_owned(),
    };
    fields(buf, |n, w| {
        match (n, w) {
            (1, Wire::Bytes(b)) => s.trace_id = hex(b),
            (2, Wire::Bytes(b)) => s.span_id = hex(b),
            (4, Wire::Bytes(b)) => s.parent_id = hex(b),
            (5, Wire::Bytes(b)) => s.name = text(b),
            (7, Wire::Fixed64(t)) => s.start_ns = t,
            (8, Wire::Fixed64(t)) => s.end_ns = t,
            (9, Wire::Bytes(b)) => {
                let (k, v) = key_value(b)?;
                let wanted =
                    SHOWN.contains(&k.as_str()) && !s.attributes.iter().any(|(x, _)| *x == k);
                if wanted || s.attributes.len() < MAX_ATTRIBUTES {
                    s.attributes.push((k, v));
                }
            }
            (15, Wire::Bytes(b)) => fields(b, |n, w| {
                match (n, w) {
                    (2, Wire::Bytes(m)) => s.status_message = text(m),
                    (3, Wire::Varint(code)) => s.error = code == 2,
                    _ => {}
                }
                Ok(())
            })?,
            _ => {}
        }
        Ok(())
    })?;
    s.end_ns = s.end_ns.max(s.start_ns);
    Ok(s)
}

/// Calls `f` with each item (span or log record: field 2 of a scope's
/// message) of an export request, and its resource's `service.name`. Trace
/// and log exports share that shape: `Resource{Spans,Logs}` (resource = 1,
/// scopes = 2), `Scope{Spans,Logs}` (items = 2).
fn each_item<'a>(
    body: &'a [u8],
    mut f: impl FnMut(&'a [u8], &str) -> Result<(), &'static str>,
) -> Result<(), &'static str> {
    fields(body, |n, w| {
        let (1, Wire::Bytes(resource_items)) = (n, w) else {
            return Ok(());
        };
        // The resource and the scopes come in any order: collect both.
        let mut service = String::new();
        let mut scopes = Vec::new();
        fields(resource_items, |n, w| {
            match (n, w) {
                (1, Wire::Bytes(resource)) => fields(resource, |n, w| {
                    if let (1, Wire::Bytes(kv)) = (n, w) {
                        let (k, v) = key_value(kv)?;
                        if k == "service.name" {
                            service = v;
                        }
                    }
                    Ok(())
                })?,
                (2, Wire::Bytes(scope)) => scopes.push(scope),
                _ => {}
            }
            Ok(())
        })?;
        for scope in scopes {
            fields(scope, |n, w| match (n, w) {
                (2, Wire::Bytes(item)) => f(item, &service),
                _ => Ok(()),
            })?;
        }
        Ok(())
    })
}

/// Reads an `ExportTraceServiceRequest`.
pub(crate) fn decode_traces(body: &[u8]) -> Result<Vec<Span>, &'static str> {
    let mut spans = Vec::new();
    each_item(body, |b, service| {
        spans.push(span(b, service)?);
        Ok(())
    })?;
    Ok(spans)
}

/// One decoded log record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogRecord {
    /// Unix nanoseconds (the observed time when the record has none).
    pub time_ns: u64,
    pub severity: String,
    pub body: String,
    pub attributes: Vec<(String, String)>,
    pub trace_id: String,
    pub service: String,
}

impl LogRecord {
    /// The value of attribute `key`.
    pub(crate) fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn log_record(buf: &[u8], service: &str) -> Result<LogRecord, &'static str> {
    let mut r = LogRecord {
        time_ns: 0,
        severity: String::new(),
        body: String::new(),
        attributes: Vec::new(),
        trace_id: String::new(),
        service: service.to_owned(),
    };
    let mut observed = 0;
    fields(buf, |n, w| {
        match (n, w) {
            (1, Wire::Fixed64(t)) => r.time_ns = t,
            (11, Wire::Fixed64(t)) => observed = t,
            (3, Wire::Bytes(b)) => r.severity = text(b),
            (5, Wire::Bytes(b)) => r.body = any_value(b)?,
            (6, Wire::Bytes(b)) if r.attributes.len() < 2 * MAX_ATTRIBUTES => {
                r.attributes.push(key_value(b)?)
            }
            (9, Wire::Bytes(b)) => r.trace_id = hex(b),
            _ => {}
        }
        Ok(())
    })?;
    if r.time_ns == 0 {
        r.time_ns = observed;
    }
    Ok(r)
}

/// Reads an `ExportLogsServiceRequest`.
pub(crate) fn decode_logs(body: &[u8]) -> Result<Vec<LogRecord>, &'static str> {
    let mut records = Vec::new();
    each_item(body, |b, service| {
        records.push(log_record(b, service)?);
        Ok(())
    })?;
    Ok(records)
}

#[cfg(test)]
#[path = "otlp_tests.rs"]
mod tests;
