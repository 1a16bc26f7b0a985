//! The Datadog Agent's DogStatsD parser for events and service checks,
//! ported line by line from `comp/dogstatsd/server/impl/parse.go`,
//! `parse_events.go` and `parse_service_checks.go` (DataDog/datadog-agent),
//! and for metric lines and their distribution sketches (see [`metric`]):
//! the outside truth the tests read our bytes with. Lines are split at
//! `\n` with `dogstatsd_eol_required` semantics (a line not ended by `\n`
//! is dropped), fields at `|`, tags at `,`; an event's title and text are
//! length-prefixed and `\\n` in them becomes a newline; unknown optional
//! fields are ignored, as the Agent does.
#![allow(dead_code)]

pub(crate) mod metric;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AgentEvent {
    pub title: String,
    pub text: String,
    pub timestamp: Option<i64>,
    pub hostname: Option<String>,
    pub aggregation_key: Option<String>,
    pub priority: Option<String>,
    pub source_type: Option<String>,
    pub alert_type: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AgentServiceCheck {
    pub name: String,
    pub status: u8,
    pub timestamp: Option<i64>,
    pub hostname: Option<String>,
    pub message: Option<String>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AgentMessage {
    Event(AgentEvent),
    ServiceCheck(AgentServiceCheck),
    /// Anything else is read as a metric sample by the Agent; kept raw.
    Metric(String),
}

/// The lines the Agent reads from one datagram when `dogstatsd_eol_required`
/// is set: only those ended by `\n`.
pub(crate) fn eol_lines(datagram: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut parts: Vec<&[u8]> = datagram.split(|&b| b == b'\n').collect();
    // The piece after the last `\n` is not a complete line.
    let unterminated = parts.pop().filter(|p| !p.is_empty()).map_or(0, |_| 1);
    (
        parts.into_iter().filter(|l| !l.is_empty()).collect(),
        unterminated,
    )
}

/// Parses every complete line of a datagram.
pub(crate) fn parse_datagram(datagram: &[u8]) -> Result<Vec<AgentMessage>, String> {
    let (lines, unterminated) = eol_lines(datagram);
    if unterminated > 0 {
        return Err(format!(
            "a line without `\\n` would be dropped: {datagram:?}"
        ));
    }
    lines.into_iter().map(parse_message).collect()
}

pub(crate) fn parse_message(line: &[u8]) -> Result<AgentMessage, String> {
    if line.starts_with(b"_e{") {
        parse_event(line).map(AgentMessage::Event)
    } else if line.starts_with(b"_sc") {
        parse_service_check(line).map(AgentMessage::ServiceCheck)
    } else {
        Ok(AgentMessage::Metric(
            String::from_utf8_lossy(line).into_owned(),
        ))
    }
}

fn next_field(message: &[u8]) -> (&[u8], Option<&[u8]>) {
    match message.iter().position(|&b| b == b'|') {
        Some(i) => (&message[..i], Some(&message[i + 1..])),
        None => (message, None),
    }
}

fn parse_tags(raw: &[u8]) -> Vec<String> {
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|&b| b == b',')
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn clean_event_text(b: &[u8]) -> String {
    text(b).replace("\\n", "\n")
}

pub(crate) fn parse_event(message: &[u8]) -> Result<AgentEvent, String> {
    let sep = message
        .iter()
        .position(|&b| b == b':')
        .ok_or("invalid event")?;
    let (raw_header, raw_event) = (&message[..sep], &message[sep + 1..]);
    if raw_header.len() < 7 {
        return Err("invalid event header".into());
    }
    let lengths = &raw_header[3..raw_header.len() - 1];
    let comma = lengths
        .iter()
        .position(|&b| b == b',')
        .ok_or("invalid event header")?;
    let title_len: usize = text(&lengths[..comma])
        .parse()
        .map_err(|_| "invalid title length")?;
    if title_len == 0 {
        return Err("invalid event: empty title".into());
    }
    let text_len: usize = text(&lengths[comma + 1..])
        .parse()
        .map_err(|_| "invalid text length")?;
    let text_start = title_len + 1;
    let content = text_start + text_len;
    if raw_event.len() < content {
        return Err("invalid event: lengths exceed the line".into());
    }
    let mut event = AgentEvent {
        title: clean_event_text(&raw_event[..title_len]),
        text: clean_event_text(&raw_event[text_start..content]),
        ..AgentEvent::default()
    };
    if raw_event.len() == content {
        return Ok(event);
    }
    let mut rest = Some(&raw_event[content..]);
    while let Some(r) = rest {
        let (field, more) = next_field(r);
        rest = more;
        if let Some(v) = field.strip_prefix(b"d:") {
            event.timestamp = Some(text(v).parse().map_err(|_| "bad event timestamp")?);
        } else if let Some(v) = field.strip_prefix(b"h:") {
            event.hostname = Some(text(v));
        } else if let Some(v) = field.strip_prefix(b"k:") {
            event.aggregation_key = Some(text(v));
        } else if let Some(v) = field.strip_prefix(b"p:") {
            event.priority = Some(text(v));
        } else if let Some(v) = field.strip_prefix(b"s:") {
            event.source_type = Some(text(v));
        } else if let Some(v) = field.strip_prefix(b"t:") {
            event.alert_type = Some(text(v));
        } else if let Some(v) = field.strip_prefix(b"#") {
            event.tags = parse_tags(v);
        }
    }
    Ok(event)
}

pub(crate) fn parse_service_check(message: &[u8]) -> Result<AgentServiceCheck, String> {
    if message.iter().filter(|&&b| b == b'|').count() < 2 || message.len() < 4 {
        return Err("invalid service check format".into());
    }
    let (name, rest) = next_field(&message[4..]);
    if name.is_empty() {
        return Err("empty service check name".into());
    }
    let (status, mut rest) = next_field(rest.unwrap_or_default());
    let status = match status {
        b"0" => 0,
        b"1" => 1,
        b"2" => 2,
        b"3" => 3,
        _ => return Err("invalid service check status".into()),
    };
    let mut sc = AgentServiceCheck {
        name: text(name),
        status,
        ..AgentServiceCheck::default()
    };
    while let Some(r) = rest {
        let (field, more) = next_field(r);
        rest = more;
        if let Some(v) = field.strip_prefix(b"d:") {
            sc.timestamp = Some(text(v).parse().map_err(|_| "bad timestamp")?);
        } else if let Some(v) = field.strip_prefix(b"h:") {
            sc.hostname = Some(text(v));
        } else if let Some(v) = field.strip_prefix(b"#") {
            sc.tags = parse_tags(v);
        } else if let Some(v) = field.strip_prefix(b"m:") {
            sc.message = Some(text(v));
        }
    }
    Ok(sc)
}
