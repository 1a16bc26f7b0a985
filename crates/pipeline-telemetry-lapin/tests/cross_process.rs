//! A producer process and a consumer process (this test binary started
//! twice more) exchange messages through the real RabbitMQ: Datadog's APM
//! test agent receives one trace, every `rabbitmq.process` CONSUMER span a
//! child of a `rabbitmq.send` PRODUCER span of the other process, with the
//! producer run's `pipeline_id`; the PRODUCER spans name the broker
//! (`server.address`, `server.port`) given once to the `TracedChannel`.

mod common;

use std::collections::HashMap;

use pipeline_telemetry_lapin::ServerAddress;
use pipeline_telemetry_test_support::agent::{self, Span};
use pipeline_telemetry_test_support::peers;

/// Not a test on its own: the child processes' entry point.
#[test]
fn child_role() {
    common::roles::dispatch();
}

fn kind_is(span: &Span, kind: &str) -> bool {
    span.kind
        .as_deref()
        .is_some_and(|k| k.to_ascii_uppercase().contains(kind))
}

#[test]
fn one_trace_from_producer_process_to_consumer_process() {
    peers::require_tcp("127.0.0.1:5672", "RabbitMQ");
    let agent = agent::agent();
    let token = agent::token("lapin-cross-process");
    let queue = common::unique("xproc");
    let pipeline_id = format!("xproc-{}", std::process::id());
    let server = ServerAddress::from_uri(&peers::amqp_url()).expect("AMQP URL parses");
    let envs = [
        ("PT_LAPIN_TOKEN", token.as_str()),
        ("PT_LAPIN_QUEUE", queue.as_str()),
        ("PT_LAPIN_COUNT", "3"),
        ("PT_LAPIN_PIPELINE_ID", pipeline_id.as_str()),
        ("PT_TEST_AGENT_URL", agent.trace_url.as_str()),
        ("PT_OTLP_HTTP_ENDPOINT", agent.otlp_http.as_str()),
        ("PT_OTLP_GRPC_ENDPOINT", agent.otlp_grpc.as_str()),
    ];
    common::run_child("produce", &envs);
    common::run_child("consume", &envs);

    let spans = agent::poll_spans(&token, |s| {
        s.iter().filter(|s| s.name.starts_with("process ")).count() >= 3
            && s.iter().filter(|s| s.name.starts_with("publish ")).count() >= 3
    });
    let sends: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == format!("publish {queue}"))
        .collect();
    let processes: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == format!("process {queue}"))
        .collect();
    assert_eq!(sends.len(), 3, "three publishes: {spans:#?}");
    assert_eq!(processes.len(), 3, "three deliveries: {spans:#?}");

    // lapin's own `io_loop` spans are traces of their own; ours are one.
    let ours: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.name.starts_with("publish ")
                || s.name.starts_with("process ")
                || s.name.starts_with("pipeline.")
        })
        .collect();
    let trace = &sends[0].trace_id;
    assert!(
        ours.iter().all(|s| &s.trace_id == trace),
        "one trace across both processes: {spans:#?}"
    );
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    for p in &processes {
        let parent = p
            .parent_span_id
            .as_deref()
            .and_then(|id| by_id.get(id))
            .unwrap_or_else(|| panic!("consumer span's parent was exported: {p:#?}"));
        assert!(
            parent.name.starts_with("publish "),
            "parent is the PRODUCER span: {parent:#?}"
        );
        assert_ne!(
            parent.resource.get("service.name"),
            p.resource.get("service.name")
        );
        assert!(kind_is(p, "CONSUMER"), "{p:#?}");
        assert!(kind_is(parent, "PRODUCER"), "{parent:#?}");
        assert_eq!(p.attributes["pipeline_id"], pipeline_id);
        assert_eq!(p.attributes["messaging.system"], "rabbitmq");
        assert_eq!(p.attributes["messaging.operation"], "process");
        assert_eq!(p.attributes["messaging.operation.type"], "process");
        assert_eq!(p.attributes["messaging.destination.name"], queue);
        assert_eq!(p.attributes["operation.name"], "rabbitmq.process");
        assert_eq!(p.attributes["messaging.rabbitmq.settlement"], "ack");
        assert_eq!(p.attributes["server.address"], "127.0.0.1");
        assert!(p.attributes["messaging.message.id"].starts_with("m-"));
    }
    for s in &sends {
        assert_eq!(s.attributes["messaging.operation"], "send");
        assert_eq!(s.attributes["operation.name"], "rabbitmq.send");
        assert_eq!(
            s.attributes["messaging.rabbitmq.destination.routing_key"],
            queue
        );
        assert_eq!(s.attributes["messaging.message.body.size"], "5");
        // The producer gave the broker's address once, to its
        // `TracedChannel`, never at a publish.
        assert_eq!(
            s.attributes.get("server.address"),
            Some(&server.host),
            "{s:#?}"
        );
        assert_eq!(
            s.attributes.get("server.port"),
            Some(&server.port.to_string()),
            "{s:#?}"
        );
    }

    // The consumer's run and its stages hang under the CONSUMER span, with
    // the producer's pipeline_id; the #[instrument_stage] function inside
    // the handler is a stage of that run.
    let runs: Vec<&Span> = spans
        .iter()
        .filter(|s| {
            s.name == "pipeline.run"
                && s.attributes.get("pipeline").map(String::as_str) == Some("lapin_consumer")
        })
        .collect();
    assert_eq!(runs.len(), 3, "{spans:#?}");
    for r in &runs {
        assert_eq!(r.attributes["pipeline_id"], pipeline_id);
        let parent = r.parent_span_id.as_deref().and_then(|id| by_id.get(id));
        assert!(
            parent.is_some_and(|p| p.name.starts_with("process ")),
            "{r:#?}"
        );
    }
    for stage in ["handle", "parse"] {
        let n = spans
            .iter()
            .filter(|s| {
                s.name == "pipeline.stage"
                    && s.attributes.get("stage").map(String::as_str) == Some(stage)
            })
            .count();
        assert_eq!(n, 3, "stage {stage} once per delivery: {spans:#?}");
    }
}
