//! Span events as the JSON of the `events` meta tag: the form tracers use
//! when the Agent does not take native span events, `[{"name": ...,
//! "time_unix_nano": ..., "attributes": {...}}]`.

use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::SpanEvents;

use crate::json_fmt::push_str as string;

fn number(out: &mut String, x: f64) {
    if x.is_finite() {
        let _ = write!(out, "{x}");
    } else {
        // JSON has no NaN or infinity.
        out.push_str("null");
    }
}

fn value(out: &mut String, v: &Value) {
    match v {
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I64(i) => {
            let _ = write!(out, "{i}");
        }
        Value::F64(f) => number(out, *f),
        Value::String(s) => string(out, s.as_str()),
        Value::Array(a) => {
            out.push('[');
            match a {
                Array::Bool(xs) => list(out, xs, |o, b| {
                    o.push_str(if *b { "true" } else { "false" })
                }),
                Array::I64(xs) => list(out, xs, |o, i| {
                    let _ = write!(o, "{i}");
                }),
                Array::F64(xs) => list(out, xs, |o, f| number(o, *f)),
                Array::String(xs) => list(out, xs, |o, s| string(o, s.as_str())),
                _ => {}
            }
            out.push(']');
        }
        other => string(out, &other.to_string()),
    }
}

fn list<T>(out: &mut String, xs: &[T], mut each: impl FnMut(&mut String, &T)) {
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        each(out, x);
    }
}

/// The events of a span as a JSON array.
pub(crate) fn events(events: &SpanEvents) -> String {
    let mut out = String::from("[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        string(&mut out, &e.name);
        let nanos = e
            .timestamp
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let _ = write!(out, ",\"time_unix_nano\":{nanos}");
        if !e.attributes.is_empty() {
            out.push_str(",\"attributes\":{");
            for (j, kv) in e.attributes.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                string(&mut out, kv.key.as_str());
                out.push(':');
                value(&mut out, &kv.value);
            }
            out.push('}');
        }
        out.push('}');
    }
    out.push(']');
    out
}
