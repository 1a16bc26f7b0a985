//! [`Carrier`]: the header tables trace context travels in, with
//! implementations for HTTP headers and AMQP-style header maps.

use std::collections::BTreeMap;

use opentelemetry::propagation::{Extractor, Injector};

/// Longest header value read from a carrier; longer values (W3C allows 8192
/// bytes of baggage) are ignored as hostile.
pub const MAX_HEADER_VALUE_LEN: usize = 8192;

/// A string-keyed header table that trace context can be written into and
/// read back from: HTTP headers, AMQP message headers, Kafka headers, ...
///
/// Keys are the lower-case W3C names (`traceparent`, `tracestate`,
/// `baggage`). Implementations should look keys up case-insensitively and
/// must not panic on any content.
///
/// ```
/// use std::collections::BTreeMap;
/// use pipeline_telemetry_otel::Carrier;
///
/// let mut headers: BTreeMap<String, String> = BTreeMap::new();
/// headers.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into());
/// // Inherent `BTreeMap::get` is case-sensitive; the trait's is not.
/// assert!(Carrier::get(&headers, "Traceparent").is_some());
/// ```
pub trait Carrier {
    /// The value stored under `key`, if it is valid text.
    fn get(&self, key: &str) -> Option<&str>;
    /// Stores `value` under `key`, replacing any earlier value. Values the
    /// table cannot hold are skipped.
    fn set(&mut self, key: &str, value: String);
    /// All keys present.
    fn keys(&self) -> Vec<&str>;
}

impl Carrier for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        // Several values under one name are ambiguous: use the first.
        http::HeaderMap::get(self, key).and_then(|v| v.to_str().ok())
    }

    fn set(&mut self, key: &str, value: String) {
        let name = http::HeaderName::from_bytes(key.to_ascii_lowercase().as_bytes());
        let value = http::HeaderValue::from_str(&value);
        if let (Ok(name), Ok(value)) = (name, value) {
            self.insert(name, value);
        }
    }

    fn keys(&self) -> Vec<&str> {
        http::HeaderMap::keys(self)
            .map(http::HeaderName::as_str)
            .collect()
    }
}

impl Carrier for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        match BTreeMap::get(self, key) {
            Some(v) => Some(v.as_str()),
            None => self
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str()),
        }
    }

    fn set(&mut self, key: &str, value: String) {
        let key = key.to_ascii_lowercase();
        self.retain(|k, _| !k.eq_ignore_ascii_case(&key));
        self.insert(key, value);
    }

    fn keys(&self) -> Vec<&str> {
        BTreeMap::keys(self).map(String::as_str).collect()
    }
}

/// Lets OpenTelemetry propagators write into a [`Carrier`].
pub(crate) struct InjectInto<'a, C: ?Sized>(pub(crate) &'a mut C);

impl<C: Carrier + ?Sized> Injector for InjectInto<'_, C> {
    fn set(&mut self, key: &str, value: String) {
        self.0.set(key, value);
    }
}

/// Lets OpenTelemetry propagators read a [`Carrier`]; over-long values read
/// as absent.
pub(crate) struct ExtractFrom<'a, C: ?Sized>(pub(crate) &'a C);

impl<C: Carrier + ?Sized> Extractor for ExtractFrom<'_, C> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = self
            .0
            .get(key)
            .filter(|v| v.len() <= MAX_HEADER_VALUE_LEN)?;
        if key == "traceparent" && !well_formed_traceparent(value) {
            return None;
        }
        Some(value)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys()
    }
}

/// The W3C shape `vv-<32 hex>-<16 hex>-ff` in lower-case hex (version `ff`
/// is invalid; later versions may append `-...`). Stricter than the
/// OpenTelemetry parser, which also takes e.g. a `+` sign inside an id.
fn well_formed_traceparent(value: &str) -> bool {
    let b = value.trim().as_bytes();
    let hex = |s: &[u8]| {
        s.iter()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
    };
    let long_enough = b.len() == 55 || (b.len() > 55 && b[55] == b'-' && &b[..2] != b"00");
    long_enough
        && hex(&b[0..2])
        && &b[0..2] != b"ff"
        && b[2] == b'-'
        && hex(&b[3..35])
        && b[35] == b'-'
        && hex(&b[36..52])
        && b[52] == b'-'
        && hex(&b[53..55])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_map_skips_values_it_cannot_hold() {
        let mut h = http::HeaderMap::new();
        h.set("Baggage", "pipeline_id=42".into());
        h.set("bad key", "x".into());
        h.set("tracestate", "a=b\nc".into());
        assert_eq!(Carrier::get(&h, "baggage"), Some("pipeline_id=42"));
        assert_eq!(Carrier::keys(&h), vec!["baggage"]);
    }

    #[test]
    fn header_map_ignores_non_text_values() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            http::HeaderValue::from_bytes(b"00-\xff\xfe").expect("opaque bytes are valid"),
        );
        assert_eq!(Carrier::get(&h, "traceparent"), None);
    }

    #[test]
    fn btree_map_is_case_insensitive_and_replaces() {
        let mut m = BTreeMap::new();
        m.insert("TraceParent".to_owned(), "old".to_owned());
        assert_eq!(Carrier::get(&m, "traceparent"), Some("old"));
        m.set("traceparent", "new".into());
        assert_eq!(m.len(), 1);
        assert_eq!(Carrier::get(&m, "traceparent"), Some("new"));
    }

    #[test]
    fn traceparent_shape_is_checked() {
        let ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert!(well_formed_traceparent(ok));
        assert!(well_formed_traceparent(
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"
        ));
        for bad in [
            "00-0af7651916cd43dd8448eb211c80319c-+7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "",
        ] {
            assert!(!well_formed_traceparent(bad), "{bad}");
        }
    }

    #[test]
    fn over_long_values_read_as_absent() {
        let mut m = BTreeMap::new();
        m.set("baggage", "x".repeat(MAX_HEADER_VALUE_LEN + 1));
        assert_eq!(Extractor::get(&ExtractFrom(&m), "baggage"), None);
    }
}
