//! [`AmqpHeaders`]: W3C trace context and baggage in an AMQP headers table.

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use pipeline_telemetry::otel::{Carrier, MAX_HEADER_VALUE_LEN};

/// An AMQP message's headers table (lapin's [`FieldTable`]) seen as a
/// [`Carrier`], so the workspace's own propagation reads and writes
/// `traceparent`, `tracestate` and `baggage` in it.
///
/// - Reading accepts every AMQP string form: long strings (`S`, what
///   RabbitMQ clients such as pika and kombu write), short strings (`s`)
///   and byte arrays (`x`) that hold UTF-8. Values of any other type
///   (Celery puts integers, arrays and tables in the same table) read as
///   absent, and so do values longer than [`MAX_HEADER_VALUE_LEN`] bytes
///   or that are not UTF-8.
/// - Header names are matched without regard to case.
/// - Writing stores long strings under lower-case names and replaces any
///   earlier value under the same name in another case.
///
/// Wrap an owned table, `&mut FieldTable` (to write) or `&FieldTable` (to
/// read; writes to a shared table are ignored).
///
/// ```
/// use lapin::types::{AMQPValue, FieldTable, LongString};
/// use pipeline_telemetry::otel::Carrier;
/// use pipeline_telemetry_lapin::AmqpHeaders;
///
/// let mut table = FieldTable::default();
/// table.insert("TraceParent".into(), AMQPValue::LongString(LongString::from("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")));
/// table.insert("retries".into(), AMQPValue::LongInt(3));
/// let headers = AmqpHeaders(&table);
/// assert!(headers.get("traceparent").is_some());
/// assert_eq!(headers.get("retries"), None); // not a string
///
/// let mut out = AmqpHeaders(FieldTable::default());
/// out.set("baggage", "pipeline_id=42".to_owned());
/// assert_eq!(out.get("Baggage"), Some("pipeline_id=42"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AmqpHeaders<T = FieldTable>(pub T);

impl<T> AmqpHeaders<T> {
    /// The wrapped table.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// The text of an AMQP value, if it is a string of acceptable size.
fn text(value: &AMQPValue) -> Option<&str> {
    let bytes = match value {
        AMQPValue::ShortString(s) => return Some(s.as_str()),
        AMQPValue::LongString(s) => s.as_bytes(),
        AMQPValue::ByteArray(b) => b.as_slice(),
        _ => return None,
    };
    if bytes.len() > MAX_HEADER_VALUE_LEN {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

fn get<'a>(table: &'a FieldTable, key: &str) -> Option<&'a str> {
    match table.inner().get(key) {
        Some(v) => text(v),
        None => table
            .inner()
            .iter()
            .find(|(k, _)| k.as_str().eq_ignore_ascii_case(key))
            .and_then(|(_, v)| text(v)),
    }
}

fn keys(table: &FieldTable) -> Vec<&str> {
    table
        .inner()
        .iter()
        .filter(|(_, v)| text(v).is_some())
        .map(|(k, _)| k.as_str())
        .collect()
}

fn set(table: &mut FieldTable, key: &str, value: String) {
    let key = key.to_ascii_lowercase();
    let Ok(name) = ShortString::try_new(key.as_str()) else {
        return;
    };
    let other_case = table
        .inner()
        .keys()
        .any(|k| k.as_str() != key && k.as_str().eq_ignore_ascii_case(&key));
    if other_case {
        let mut map = table.inner().clone();
        map.retain(|k, _| !k.as_str().eq_ignore_ascii_case(&key));
        *table = FieldTable::from(map);
    }
    table.insert(name, AMQPValue::LongString(LongString::from(value)));
}

impl Carrier for AmqpHeaders<FieldTable> {
    fn get(&self, key: &str) -> Option<&str> {
        get(&self.0, key)
    }

    fn set(&mut self, key: &str, value: String) {
        set(&mut self.0, key, value);
    }

    fn keys(&self) -> Vec<&str> {
        keys(&self.0)
    }
}

impl Carrier for AmqpHeaders<&mut FieldTable> {
    fn get(&self, key: &str) -> Option<&str> {
        get(self.0, key)
    }

    fn set(&mut self, key: &str, value: String) {
        set(self.0, key, value);
    }

    fn keys(&self) -> Vec<&str> {
        keys(self.0)
    }
}

/// A read-only view: [`Carrier::set`] does nothing.
impl Carrier for AmqpHeaders<&FieldTable> {
    fn get(&self, key: &str) -> Option<&str> {
        get(self.0, key)
    }

    fn set(&mut self, _key: &str, _value: String) {}

    fn keys(&self) -> Vec<&str> {
        keys(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{ByteArray, FieldArray};

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    fn table(pairs: Vec<(&str, AMQPValue)>) -> FieldTable {
        let mut t = FieldTable::default();
        for (k, v) in pairs {
            t.insert(k.into(), v);
        }
        t
    }

    #[test]
    fn every_string_form_reads() {
        let t = table(vec![
            ("a", AMQPValue::LongString(TP.into())),
            ("b", AMQPValue::ShortString(TP.into())),
            ("c", AMQPValue::ByteArray(ByteArray::from(TP.as_bytes()))),
        ]);
        let h = AmqpHeaders(&t);
        for k in ["a", "b", "c", "A", "B", "C"] {
            assert_eq!(h.get(k), Some(TP), "{k}");
        }
        assert_eq!(h.keys(), vec!["a", "b", "c"]);
    }

    #[test]
    fn non_strings_non_utf8_and_huge_values_read_as_absent() {
        let t = table(vec![
            ("int", AMQPValue::LongInt(7)),
            ("bool", AMQPValue::Boolean(true)),
            (
                "array",
                AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongString(TP.into())])),
            ),
            ("table", AMQPValue::FieldTable(FieldTable::default())),
            (
                "latin1",
                AMQPValue::LongString(vec![0xff, 0xfe, b'x'].into()),
            ),
            ("bytes", AMQPValue::ByteArray(ByteArray::from(vec![0xc3]))),
            (
                "huge",
                AMQPValue::LongString("x".repeat(MAX_HEADER_VALUE_LEN + 1).into()),
            ),
        ]);
        let h = AmqpHeaders(&t);
        for k in ["int", "bool", "array", "table", "latin1", "bytes", "huge"] {
            assert_eq!(h.get(k), None, "{k}");
        }
        assert!(h.keys().is_empty());
    }

    #[test]
    fn set_replaces_other_cases_and_keeps_the_rest() {
        let mut t = table(vec![
            ("TraceParent", AMQPValue::LongString("old".into())),
            ("x-retries", AMQPValue::LongInt(2)),
        ]);
        let mut h = AmqpHeaders(&mut t);
        h.set("traceparent", TP.to_owned());
        assert_eq!(h.get("TRACEPARENT"), Some(TP));
        assert_eq!(t.inner().len(), 2);
        assert_eq!(t.inner().get("x-retries"), Some(&AMQPValue::LongInt(2)));
        assert!(matches!(
            t.inner().get("traceparent"),
            Some(AMQPValue::LongString(_))
        ));
    }

    #[test]
    fn names_longer_than_a_short_string_are_skipped() {
        let mut h = AmqpHeaders(FieldTable::default());
        h.set(&"k".repeat(300), "v".to_owned());
        assert!(h.0.inner().is_empty());
    }

    #[test]
    fn propagation_reads_names_in_any_case() {
        let t = table(vec![
            ("TRACEPARENT", AMQPValue::LongString(TP.into())),
            ("Baggage", AMQPValue::LongString("pipeline_id=run-9".into())),
        ]);
        let remote = pipeline_telemetry::otel::extract(&AmqpHeaders(&t));
        assert_eq!(remote.pipeline_id.as_deref(), Some("run-9"));
        assert_eq!(
            remote.trace_id().as_deref(),
            Some("0af7651916cd43dd8448eb211c80319c")
        );
    }

    #[test]
    fn shared_view_ignores_writes() {
        let t = FieldTable::default();
        let mut h = AmqpHeaders(&t);
        h.set("baggage", "pipeline_id=1".to_owned());
        assert_eq!(h.get("baggage"), None);
    }
}
