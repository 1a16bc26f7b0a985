//! A batch of finished spans as a Datadog `v0.4` trace payload: spans
//! grouped by trace into chunks, converted ([`convert`]), the chunk-level
//! fields a tracer sets added, and the whole written as MessagePack. No I/O.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;

use super::msgpack::Writer;
use super::names::View;
use super::span::{convert, DdSpan};
use crate::datadog_propagation::from_tracecontext;

/// An encoded payload and the number of trace chunks in it (the
/// `X-Datadog-Trace-Count` header).
#[derive(Debug)]
pub(crate) struct Payload {
    pub(crate) body: Vec<u8>,
    pub(crate) traces: usize,
}

/// Groups `spans` by trace (in first-seen order), converts them, and writes
/// the payload.
pub(crate) fn payload(spans: &[SpanData], resource: &Resource) -> Payload {
    let mut order: Vec<u128> = Vec::new();
    let mut chunks: BTreeMap<u128, Vec<&SpanData>> = BTreeMap::new();
    for s in spans {
        let id = u128::from_be_bytes(s.span_context.trace_id().to_bytes());
        chunks
            .entry(id)
            .or_insert_with(|| {
                order.push(id);
                Vec::new()
            })
            .push(s);
    }
    let mut w = Writer::default();
    w.array(order.len());
    for id in &order {
        let chunk = chunks.remove(id).unwrap_or_default();
        let mut dd: Vec<DdSpan<'_>> = chunk
            .iter()
            .map(|s| convert(&View { span: s, resource }))
            .collect();
        mark_chunk_roots(&chunk, &mut dd);
        w.array(dd.len());
        for span in &dd {
            write_span(&mut w, span);
        }
    }
    Payload {
        body: w.buf,
        traces: order.len(),
    }
}

/// On each span whose parent is not in the chunk (the local root, or the
/// top of a part flushed separately): the sampling priority, origin and
/// propagated `_dd.p.*` tags of the trace (kept in the tracestate's `dd`
/// member), `_dd.p.tid` for a 128-bit trace id, and the language.
fn mark_chunk_roots(chunk: &[&SpanData], dd: &mut [DdSpan<'_>]) {
    let ids: HashSet<u64> = dd.iter().map(|s| s.span_id).collect();
    for (otel, span) in chunk.iter().zip(dd.iter_mut()) {
        if span.parent_id != 0 && ids.contains(&span.parent_id) {
            continue;
        }
        let cx = from_tracecontext(&otel.span_context);
        let priority = cx.sampling_priority.unwrap_or(1);
        span.metrics
            .insert(Cow::Borrowed("_sampling_priority_v1"), priority as f64);
        if let Some(origin) = cx.origin {
            span.meta
                .insert(Cow::Borrowed("_dd.origin"), Cow::Owned(origin));
        }
        for (k, v) in cx.meta {
            if k.starts_with("_dd.p.") && k != "_dd.p.tid" {
                span.meta.insert(Cow::Owned(k), Cow::Owned(v));
            }
        }
        // The sampler leaves the tracestate empty when it keeps with
        // priority 1 (so that child spans copy nothing); on the trace's own
        // root the decision's maker is written here as ddtrace writes it:
        // `-1` for an Agent rate (`_dd.agent_psr` set), else `-0`.
        if span.parent_id == 0 && priority == 1 {
            let maker = if span.metrics.contains_key("_dd.agent_psr") {
                "-1"
            } else {
                "-0"
            };
            span.meta
                .entry(Cow::Borrowed("_dd.p.dm"))
                .or_insert(Cow::Borrowed(maker));
        }

        if span.trace_id_high != 0 {
            span.meta.insert(
                Cow::Borrowed("_dd.p.tid"),
                Cow::Owned(format!("{:016x}", span.trace_id_high)),
            );
        }
        span.meta
            .entry(Cow::Borrowed("language"))
            .or_insert(Cow::Borrowed("rust"));
    }
}

fn write_span(w: &mut Writer, s: &DdSpan<'_>) {
    w.map(12 + usize::from(!s.links.is_empty()));
    w.str("trace_id");
    w.uint(s.trace_id);
    w.str("span_id");
    w.uint(s.span_id);
    w.str("parent_id");
    w.uint(s.parent_id);
    w.str("start");
    w.int(s.start);
    w.str("duration");
    w.int(s.duration);
    w.str("error");
    w.int(i64::from(s.error));
    w.str("name");
    w.str(&s.name);
    w.str("resource");
    w.str(&s.resource);
    w.str("service");
    w.str(&s.service);
    w.str("type");
    w.str(&s.r#type);
    w.str("meta");
    w.map(s.meta.len());
    for (k, v) in &s.meta {
        w.str(k);
        w.str(v);
    }
    w.str("metrics");
    w.map(s.metrics.len());
    for (k, v) in &s.metrics {
        w.str(k);
        w.f64(*v);
    }
    if !s.links.is_empty() {
        w.str("span_links");
        w.array(s.links.len());
        for l in &s.links {
            let fields = 2
                + usize::from(l.trace_id_high != 0)
                + usize::from(!l.attributes.is_empty())
                + usize::from(!l.tracestate.is_empty())
                + usize::from(l.flags != 0);
            w.map(fields);
            w.str("trace_id");
            w.uint(l.trace_id);
            if l.trace_id_high != 0 {
                w.str("trace_id_high");
                w.uint(l.trace_id_high);
            }
            w.str("span_id");
            w.uint(l.span_id);
            if !l.attributes.is_empty() {
                w.str("attributes");
                w.map(l.attributes.len());
                for (k, v) in &l.attributes {
                    w.str(k);
                    w.str(v);
                }
            }
            if !l.tracestate.is_empty() {
                w.str("tracestate");
                w.str(&l.tracestate);
            }
            if l.flags != 0 {
                // Bit 31 says the flags are set (the Agent's convention).
                w.str("flags");
                w.uint(u64::from(l.flags | 1 << 31));
            }
        }
    }
}
