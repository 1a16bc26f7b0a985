//! Datadog headers and ddtrace's rules for combining styles, ported from
//! ddtrace-py 4.16.0, `ddtrace/propagation/http.py`: `_DatadogMultiHeader`
//! (`_extract`, `_inject`), `_TraceContext` (`_get_tracestate_values`,
//! `_get_sampling_priority`) and `HTTPPropagator._resolve_contexts`.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

use crate::datadog_tags::{
    decode_tagset, encode_tagset, parse_tid, py_int, valid_decision_maker, TagsetError,
};

pub(crate) const TRACE_ID: &str = "x-datadog-trace-id";
pub(crate) const PARENT_ID: &str = "x-datadog-parent-id";
pub(crate) const SAMPLING_PRIORITY: &str = "x-datadog-sampling-priority";
pub(crate) const ORIGIN: &str = "x-datadog-origin";
pub(crate) const TAGS: &str = "x-datadog-tags";

/// The `x-datadog-*` header names, in the order ddtrace writes them.
pub const DATADOG_HEADERS: [&str; 5] = [TRACE_ID, PARENT_ID, SAMPLING_PRIORITY, ORIGIN, TAGS];

/// The environment variables that carry the `datadog` style to a child
/// process, each with the header it stands for. ddtrace-py has no
/// environment carrier of its own, so these are the header names upper-cased
/// with `_` for `-`, as OpenTelemetry's environment carrier does for
/// `traceparent` (`TRACEPARENT`).
pub const DATADOG_ENV_VARS: [(&str, &str); 5] = [
    ("X_DATADOG_TRACE_ID", TRACE_ID),
    ("X_DATADOG_PARENT_ID", PARENT_ID),
    ("X_DATADOG_SAMPLING_PRIORITY", SAMPLING_PRIORITY),
    ("X_DATADOG_ORIGIN", ORIGIN),
    ("X_DATADOG_TAGS", TAGS),
];

const TID: &str = "_dd.p.tid";
const DECISION_MAKER: &str = "_dd.p.dm";
const PROPAGATION_ERROR: &str = "_dd.propagation_error";

/// ddtrace's `Context` for what one style extracted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DdContext {
    pub(crate) trace_id: u128,
    /// 0 where ddtrace has `None`.
    pub(crate) span_id: u64,
    pub(crate) sampling_priority: Option<i64>,
    pub(crate) origin: Option<String>,
    /// Propagated tags (`_dd.p.*`) and `_dd.propagation_error`.
    pub(crate) meta: Vec<(String, String)>,
    /// The W3C `tracestate` header (tracecontext style only).
    pub(crate) tracestate: Option<TraceState>,
    /// `_dd.parent_id`: the last Datadog span id, 16 hex digits.
    pub(crate) last_parent_id: Option<String>,
}

/// `_DatadogMultiHeader._extract`.
pub(crate) fn extract_datadog(headers: &dyn Extractor) -> Option<DdContext> {
    let trace_id = py_int(headers.get(TRACE_ID)?).unwrap_or(0);
    if trace_id <= 0 || trace_id > i128::from(u64::MAX) {
        return None;
    }
    let mut trace_id = trace_id as u128;
    let parent = headers.get(PARENT_ID).unwrap_or("0");
    let priority = headers.get(SAMPLING_PRIORITY);
    let origin = headers.get(ORIGIN).map(str::to_owned);
    let tags = headers.get(TAGS).unwrap_or("");
    let mut meta = Vec::new();
    if !tags.is_empty() {
        meta = match decode_tagset(tags) {
            Ok(all) => all
                .into_iter()
                .filter(|(k, _)| k.starts_with("_dd.p.") && k != "_dd.p.upstream_services")
                .collect(),
            Err(TagsetError::MaxSize) => {
                vec![(PROPAGATION_ERROR.into(), "extract_max_size".into())]
            }
            Err(TagsetError::Decoding) => vec![(PROPAGATION_ERROR.into(), "decoding_error".into())],
        };
    }
    if let Some(pos) = meta.iter().position(|(k, _)| k == TID) {
        match parse_tid(&meta[pos].1) {
            Some(high) => trace_id |= u128::from(high) << 64,
            None => {
                let (_, bad) = meta.remove(pos);
                meta.push((PROPAGATION_ERROR.into(), format!("malformed_tid {bad}")));
            }
        }
    }
    // A malformed priority or parent id makes ddtrace drop the whole context
    // (ValueError); a negative or over-long parent id is refused here too.
    let sampling_priority = match priority {
        Some(p) => Some(i64::try_from(py_int(p)?).ok()?),
        None => None,
    };
    if let Some(pos) = meta.iter().position(|(k, _)| k == DECISION_MAKER) {
        if !valid_decision_maker(&meta[pos].1) {
            meta.remove(pos);
            meta.push((PROPAGATION_ERROR.into(), "decoding_error".into()));
        }
    }
    let span_id = u64::try_from(py_int(parent)?).ok()?;
    Some(DdContext {
        trace_id,
        span_id,
        sampling_priority,
        origin,
        meta,
        ..DdContext::default()
    })
}

/// The `dd` list member of a tracestate, as `_get_tracestate_values` reads
/// it: (priority, `_dd.p.*` tags, origin, last parent id); `None` when
/// absent or malformed.
#[allow(clippy::type_complexity)]
fn tracestate_values(
    ts: &TraceState,
) -> Option<(
    Option<i64>,
    Vec<(String, String)>,
    Option<String>,
    Option<String>,
)> {
    let dd = ts.get("dd")?;
    let mut items = Vec::new();
    for item in dd.split(';') {
        let (k, v) = item.split_once(':')?;
        items.retain(|(key, _): &(&str, &str)| *key != k);
        items.push((k, v));
    }
    let get = |key: &str| items.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let priority = match get("s") {
        Some(s) => Some(i64::try_from(py_int(s)?).ok()?),
        None => None,
    };
    let origin = get("o")
        .filter(|o| !o.is_empty())
        .map(|o| o.replace('~', "="));
    let lpid = get("p").filter(|p| !p.is_empty()).map(str::to_owned);
    let tags = items
        .iter()
        .filter_map(|(k, v)| {
            Some((
                format!("_dd.p.{}", k.strip_prefix("t.")?),
                v.replace('~', "="),
            ))
        })
        .collect();
    Some((priority, tags, origin, lpid))
}

/// `_TraceContext._get_sampling_priority`.
pub(crate) fn w3c_sampling_priority(
    sampled: bool,
    ts: Option<i64>,
    origin: Option<&str>,
) -> Option<i64> {
    let from_rum_without_priority = ts.unwrap_or(0) == 0 && origin == Some("rum");
    let ts_set = ts.filter(|&p| p != 0);
    if !from_rum_without_priority && !sampled && ts_set.is_none_or(|p| p >= 0) {
        Some(0)
    } else if !from_rum_without_priority && sampled && ts_set.is_none_or(|p| p < 0) {
        Some(1)
    } else {
        ts
    }
}

/// `_TraceContext._get_context` from a valid W3C span context.
pub(crate) fn from_tracecontext(sc: &SpanContext) -> DdContext {
    let sampled = sc.is_sampled();
    let mut cx = DdContext {
        trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
        span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
        sampling_priority: Some(i64::from(sampled)),
        tracestate: Some(sc.trace_state().clone()),
        ..DdContext::default()
    };
    if let Some((priority, tags, origin, lpid)) = tracestate_values(sc.trace_state()) {
        cx.meta = tags;
        cx.last_parent_id = lpid;
        cx.sampling_priority = w3c_sampling_priority(sampled, priority, origin.as_deref());
        cx.origin = origin;
    }
    cx
}

/// `HTTPPropagator._resolve_contexts`: the first style's context is the
/// primary one; a tracecontext context of the same trace lends it its
/// tracestate and, when its span id differs, its span id (the primary's
/// former parent kept as `_dd.parent_id`). Contexts of other traces are
/// dropped (ddtrace records them as span links).
pub(crate) fn resolve(mut contexts: Vec<(bool, DdContext)>) -> Option<DdContext> {
    if contexts.is_empty() {
        return None;
    }
    let dd_span_id = contexts
        .iter()
        .find(|(is_w3c, _)| !is_w3c)
        .map(|(_, c)| c.span_id);
    let (_, mut primary) = contexts.remove(0);
    for (is_w3c, cx) in contexts {
        if !is_w3c || cx.trace_id != primary.trace_id {
            continue;
        }
        if cx.tracestate.is_some() {
            primary.tracestate = cx.tracestate.clone();
        }
        if primary.span_id != cx.span_id {
            if cx.last_parent_id.is_some() {
                primary.last_parent_id = cx.last_parent_id.clone();
            } else if let Some(id) = dd_span_id {
                primary.last_parent_id = Some(format!("{id:016x}"));
            }
            primary.span_id = cx.span_id;
        }
    }
    Some(primary)
}

/// A tracestate `dd` member value character: printable ASCII without
/// `,` and `;` (ddtrace writes `=` as `~`).
fn w3c_value(v: &str) -> Option<String> {
    let v = v.replace('=', "~");
    let ok = !v.is_empty()
        && !v.ends_with(' ')
        && v.bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b';');
    ok.then_some(v)
}

/// The OpenTelemetry span context of a resolved Datadog context: sampled
/// unless the priority says drop; the Datadog state (priority, origin,
/// `_dd.p.*`) is kept in the tracestate's `dd` member, where W3C carries it.
pub(crate) fn to_span_context(cx: &DdContext, datadog_primary: bool) -> Option<SpanContext> {
    if cx.trace_id == 0 || cx.span_id == 0 {
        return None;
    }
    let sampled = cx.sampling_priority.is_none_or(|p| p > 0);
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let mut state = cx.tracestate.clone().unwrap_or_default();
    if datadog_primary {
        let mut dd = Vec::new();
        if let Some(p) = cx.sampling_priority {
            dd.push(format!("s:{p}"));
        }
        if let Some(o) = cx.origin.as_deref().and_then(w3c_value) {
            dd.push(format!("o:{o}"));
        }
        if let Some(p) = &cx.last_parent_id {
            dd.push(format!("p:{p}"));
        }
        for (k, v) in &cx.meta {
            if let (Some(k), Some(v)) = (k.strip_prefix("_dd.p."), w3c_value(v)) {
                if k != "tid"
                    && !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_graphic() && !b",;:=~".contains(&b))
                {
                    dd.push(format!("t.{k}:{v}"));
                }
            }
        }
        if !dd.is_empty() {
            state = state.insert("dd", dd.join(";")).unwrap_or(state);
        }
    }
    let trace_id = TraceId::from_bytes(cx.trace_id.to_be_bytes());
    let span_id = SpanId::from_bytes(cx.span_id.to_be_bytes());
    Some(SpanContext::new(trace_id, span_id, flags, true, state))
}

/// The span context to inject in `tracecontext` style: for a span of ours
/// (not remote), the tracestate's `dd` member names it as the last Datadog
/// parent (`p:`), in front of the other `dd` items and members, as ddtrace's
/// `_TraceContext._inject` does for its active span
/// (`ddtrace/internal/utils/http.py`, `w3c_tracestate_add_p`). A `p` taken
/// over from upstream would name the span before ours: ddtrace reads it as
/// `_dd.parent_id`. A remote context is sent on as received.
pub(crate) fn with_last_parent(sc: &SpanContext) -> SpanContext {
    if sc.is_remote() {
        return sc.clone();
    }
    let p = format!("p:{}", sc.span_id());
    let dd = match sc.trace_state().get("dd") {
        Some(old) => std::iter::once(p.as_str())
            .chain(old.split(';').filter(|i| !i.starts_with("p:")))
            .collect::<Vec<_>>()
            .join(";"),
        None => p.clone(),
    };
    let Ok(state) = sc.trace_state().insert("dd", dd) else {
        return sc.clone();
    };
    SpanContext::new(
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags(),
        sc.is_remote(),
        state,
    )
}

/// `_DatadogMultiHeader._inject` for an OpenTelemetry span context: the
/// priority, origin and `_dd.p.*` tags come from its tracestate's `dd`
/// member (as ddtrace keeps them), `_dd.p.tid` from the trace id's high
/// 64 bits.
pub(crate) fn inject_datadog(sc: &SpanContext, max_tags_len: usize, headers: &mut dyn Injector) {
    if !sc.is_valid() {
        return;
    }
    let trace_id = u128::from_be_bytes(sc.trace_id().to_bytes());
    let span_id = u64::from_be_bytes(sc.span_id().to_bytes());
    let w3c = from_tracecontext(sc);
    headers.set(TRACE_ID, (trace_id as u64).to_string());
    headers.set(PARENT_ID, span_id.to_string());
    if let Some(p) = w3c.sampling_priority {
        headers.set(SAMPLING_PRIORITY, p.to_string());
    }
    if let Some(origin) = &w3c.origin {
        headers.set(ORIGIN, origin.clone());
    }
    let mut tags: Vec<(String, String)> = w3c.meta.into_iter().filter(|(k, _)| k != TID).collect();
    let high = (trace_id >> 64) as u64;
    if high != 0 {
        tags.push((TID.to_owned(), format!("{high:016x}")));
    }
    if max_tags_len > 0 && !tags.is_empty() {
        if let Some(value) = encode_tagset(&tags, max_tags_len) {
            headers.set(TAGS, value);
        }
    }
}
