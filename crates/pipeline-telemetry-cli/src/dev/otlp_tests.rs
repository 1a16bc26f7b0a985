use proptest::prelude::*;

use super::*;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes(field: u64, b: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn fixed64(field: u64, v: u64, out: &mut Vec<u8>) {
    varint(field << 3 | 1, out);
    out.extend_from_slice(&v.to_le_bytes());
}

fn kv(key: &str, value: &str) -> Vec<u8> {
    let mut any = Vec::new();
    bytes(1, value.as_bytes(), &mut any);
    let mut out = Vec::new();
    bytes(1, key.as_bytes(), &mut out);
    bytes(2, &any, &mut out);
    out
}

/// An ExportTraceServiceRequest written field by field after
/// opentelemetry-proto's trace.proto (field numbers and wire types).
fn request() -> Vec<u8> {
    let mut span = Vec::new();
    bytes(1, &[0xab; 16], &mut span);
    bytes(2, &[1, 2, 3, 4, 5, 6, 7, 8], &mut span);
    bytes(4, &[9; 8], &mut span);
    bytes(5, b"spark", &mut span);
    varint(6 << 3, &mut span);
    varint(1, &mut span); // kind: internal
    fixed64(7, 1_000_000_000, &mut span);
    fixed64(8, 1_250_000_000, &mut span);
    bytes(9, &kv("stage", "spark"), &mut span);
    let mut status = Vec::new();
    bytes(2, b"executor lost", &mut status);
    varint(3 << 3, &mut status);
    varint(2, &mut status);
    bytes(15, &status, &mut span);
    let mut scope = Vec::new();
    bytes(1, b"\x0a\x04test", &mut scope);
    bytes(2, &span, &mut scope);
    let mut resource = Vec::new();
    bytes(1, &kv("service.name", "etl"), &mut resource);
    let mut rs = Vec::new();
    bytes(2, &scope, &mut rs); // scope spans before the resource
    bytes(1, &resource, &mut rs);
    let mut req = Vec::new();
    bytes(1, &rs, &mut req);
    req
}

#[test]
fn reads_the_fields_the_waterfall_needs() {
    let spans = decode_traces(&request()).expect("decodes");
    assert_eq!(spans.len(), 1);
    let s = &spans[0];
    assert_eq!(s.trace_id, "ab".repeat(16));
    assert_eq!(
        (s.span_id.as_str(), s.parent_id.as_str()),
        ("0102030405060708", "0909090909090909")
    );
    assert_eq!((s.name.as_str(), s.service.as_str()), ("spark", "etl"));
    assert_eq!((s.start_ns, s.end_ns), (1_000_000_000, 1_250_000_000));
    assert!(s.error);
    assert_eq!(s.status_message, "executor lost");
    assert_eq!(s.attributes, [("stage".to_owned(), "spark".to_owned())]);
}

#[test]
fn rejects_truncated_messages() {
    let req = request();
    for cut in 1..req.len() {
        // Any prefix either fails or reads fewer fields: never panics.
        let _ = decode_traces(&req[..cut]);
    }
    assert!(decode_traces(&req[..req.len() - 1]).is_err());
    assert!(decode_traces(&[0x0b]).is_err(), "group wire type");
    assert!(
        decode_traces(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err(),
        "length past the end"
    );
    assert_eq!(decode_traces(&[]), Ok(Vec::new()));
}

proptest! {
    #[test]
    fn any_bytes_decode_or_fail_without_panicking(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_traces(&body);
    }

    #[test]
    fn mutated_requests_do_not_panic(at in 0usize..200, byte in any::<u8>()) {
        let mut req = request();
        let i = at % req.len();
        req[i] = byte;
        let _ = decode_traces(&req);
    }
}

#[test]
fn only_protobuf_exports_are_read() {
    let post = |content_type: &str, encoding: &str| crate::dev::http::Request {
        method: "POST".into(),
        path: "/v1/traces".into(),
        query: Default::default(),
        content_type: content_type.into(),
        content_encoding: encoding.into(),
        body: Vec::new(),
    };
    let refused = |r| crate::dev::App::unreadable(&r).map(|answer| answer.status);
    // What a web page can send without a preflight is refused.
    for simple in [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
        "application/json",
        "application/x-protobuf-evil",
    ] {
        assert_eq!(refused(post(simple, "")), Some(415), "{simple:?}");
    }
    assert_eq!(refused(post("application/x-protobuf", "")), None);
    assert_eq!(
        refused(post("application/x-protobuf; proto=x", "identity")),
        None
    );
    assert_eq!(refused(post("application/x-protobuf", "gzip")), Some(415));
}
