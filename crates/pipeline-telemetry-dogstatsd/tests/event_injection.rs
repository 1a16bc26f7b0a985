//! No input can add a field to an event or a service check: for arbitrary
//! strings as names, tags, titles, texts, messages and hostnames, the
//! bytes we send are read back with a port of the Agent's own parser
//! (`agent_parser`), and exactly the intended fields come out. One case,
//! the injection the Agent fell for before (`m:run x|#env:prod|h:evilhost`),
//! goes through the whole exporter to a real UDP socket.

mod agent_parser;

use std::time::Duration;

use agent_parser::{parse_datagram, AgentMessage};
use pipeline_telemetry_dogstatsd::encoder::Encoder;
use pipeline_telemetry_dogstatsd::sanitize;
use pipeline_telemetry_dogstatsd::{
    send_service_check, CheckStatus, DogStatsDBuilder, Event, ServiceCheck, Target,
};
use pipeline_telemetry_test_support::UdpReceiver;
use proptest::prelude::*;

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".*",
        "[a-z|#,:@\\\\\n\r mhdt]{0,24}",
        "(x\\|#env:prod\\|h:evilhost\\|m:y){1,3}",
        proptest::collection::vec(any::<char>(), 0..120).prop_map(|c| c.into_iter().collect()),
    ]
}

/// The tags we intend, as sanitised `key:value` strings.
fn intended_tags(tags: &[(String, String)]) -> Vec<String> {
    tags.iter()
        .filter_map(|(k, v)| {
            let mut t = String::new();
            sanitize::push_tag(&mut t, k, v).then_some(t)
        })
        .collect()
}

/// A host, aggregation key or source type as documented: every character
/// that is not allowed in a tag value becomes `_`.
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

/// How the Agent reads back an event title or text: newlines (any of
/// `\r\n`, `\r`, `\n`) come back as `\n`, and so does a literal `\n`
/// (the protocol's only escape).
fn read_back(s: &str) -> String {
    s.replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace("\\n", "\n")
}

/// The service check message as documented: newlines escaped as `\n`,
/// `m:` as `m\:`, `|` replaced by `¦`.
fn message_on_wire(s: &str) -> String {
    s.replace("\r\n", "\\n")
        .replace(['\n', '\r'], "\\n")
        .replace("m:", "m\\:")
        .replace('|', "¦")
}

/// The bytes of one line as the exporter packs it into a datagram.
fn datagram(line: &[u8]) -> Vec<u8> {
    let mut enc = Encoder::new(65_000);
    let mut out = Vec::new();
    enc.push_line(line, &mut |d| out.extend_from_slice(d));
    enc.finish(&mut |d| out.extend_from_slice(d));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn events_carry_exactly_their_fields(
        title in any_text(),
        body in any_text(),
        host in any_text(),
        key in any_text(),
        source in any_text(),
        tags in proptest::collection::vec((any_text(), any_text()), 0..5),
        ts in proptest::option::of(0u64..4_000_000_000),
    ) {
        let mut e = Event::new(&title, &body)
            .with_hostname(&host)
            .with_aggregation_key(&key)
            .with_source_type(&source);
        if let Some(ts) = ts {
            e = e.with_timestamp(ts);
        }
        for (k, v) in &tags {
            e = e.with_tag(k, v);
        }
        let mut line = Vec::new();
        e.write(&mut line, "env:dev", "");
        let bytes = datagram(&line);
        let parsed = parse_datagram(&bytes).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed.len(), 1, "{:?}", parsed);
        let AgentMessage::Event(got) = &parsed[0] else {
            return Err(TestCaseError::fail(format!("not an event: {parsed:?}")));
        };
        let want_title = if title.is_empty() { "untitled".to_owned() } else { read_back(&title) };
        prop_assert_eq!(&got.title, &want_title);
        prop_assert_eq!(&got.text, &read_back(&body));
        prop_assert_eq!(got.hostname.clone(), Some(field(&host)));
        prop_assert_eq!(got.aggregation_key.clone(), Some(field(&key)));
        prop_assert_eq!(got.source_type.clone(), Some(field(&source)));
        prop_assert_eq!(got.timestamp, ts.map(|t| t as i64));
        prop_assert_eq!(got.priority.clone(), None);
        prop_assert_eq!(got.alert_type.clone(), None);
        let mut want_tags = intended_tags(&tags);
        want_tags.push("env:dev".into());
        prop_assert_eq!(&got.tags, &want_tags);
    }

    #[test]
    fn service_checks_carry_exactly_their_fields(
        name in any_text(),
        host in any_text(),
        message in any_text(),
        tags in proptest::collection::vec((any_text(), any_text()), 0..5),
        ts in proptest::option::of(0u64..4_000_000_000),
    ) {
        let mut c = ServiceCheck::new(&name, CheckStatus::Warning)
            .with_hostname(&host)
            .with_message(&message);
        if let Some(ts) = ts {
            c = c.with_timestamp(ts);
        }
        for (k, v) in &tags {
            c = c.with_tag(k, v);
        }
        let mut line = Vec::new();
        c.write(&mut line, "", "|c:ci-abc");
        let bytes = datagram(&line);
        let parsed = parse_datagram(&bytes).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed.len(), 1, "{:?}", parsed);
        let AgentMessage::ServiceCheck(got) = &parsed[0] else {
            return Err(TestCaseError::fail(format!("not a service check: {parsed:?}")));
        };
        prop_assert_eq!(&got.name, &sanitize::name(&name));
        prop_assert_eq!(got.status, 1);
        prop_assert_eq!(got.hostname.clone(), Some(field(&host)));
        prop_assert_eq!(got.timestamp, ts.map(|t| t as i64));
        prop_assert_eq!(got.message.clone(), Some(message_on_wire(&message)));
        prop_assert_eq!(&got.tags, &intended_tags(&tags));
    }
}

#[test]
fn service_check_message_cannot_set_tags_or_host_on_the_wire() {
    let receiver = UdpReceiver::bind().expect("bind");
    let guard = DogStatsDBuilder::new(Target::Udp(receiver.addr()))
        .with_origin_detection(false)
        .with_telemetry(false)
        .start()
        .expect("start");
    let hostile = "run x|#env:prod|h:evilhost";
    send_service_check(
        ServiceCheck::new("pipeline.run", CheckStatus::Critical)
            .with_tag("pipeline", hostile)
            .with_message(&format!(
                "pipeline {hostile} failed (pipeline_id {hostile})"
            )),
    );
    drop(guard);
    let datagrams = receiver.drain(Duration::from_millis(300));
    let parsed: Vec<AgentMessage> = datagrams
        .iter()
        .flat_map(|d| parse_datagram(d).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(parsed.len(), 1, "{parsed:?}");
    let AgentMessage::ServiceCheck(sc) = &parsed[0] else {
        panic!("not a service check: {parsed:?}");
    };
    assert_eq!(sc.hostname, None, "{sc:?}");
    assert_eq!(sc.tags, vec!["pipeline:run_x__env:prod_h:evilhost"]);
    assert_eq!(
        sc.message.as_deref(),
        Some("pipeline run x¦#env:prod¦h:evilhost failed (pipeline_id run x¦#env:prod¦h:evilhost)")
    );
}
