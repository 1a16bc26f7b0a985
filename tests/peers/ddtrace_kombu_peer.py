"""A kombu producer or consumer instrumented by ddtrace-py's own kombu
integration (`patch(kombu=True)`).

usage: ddtrace_kombu_peer.py publish <amqp_url> <queue> <pipeline_id>
       ddtrace_kombu_peer.py consume <amqp_url> <queue>

publish: inside a `producer.batch` span whose context carries the W3C
baggage item pipeline_id, publishes b"1,2,3" (message id "kombu-1") to
<queue> through the default exchange; ddtrace's `kombu.publish` span injects
the context into the message headers in the styles of
DD_TRACE_PROPAGATION_STYLE. Prints {"trace_id", "span_id" (the publish
span), "headers"}.

consume: receives one message from <queue> (20 s at most) with a kombu
Consumer; ddtrace's `kombu.receive` span extracts the headers. Prints
{"trace_id", "span_id", "parent_id" (of that span), "pipeline_id" (the
baggage item ddtrace extracted, or null), "headers", "body"}.

Ids are decimal strings (128-bit trace ids). The queue is declared
non-durable, as the Rust side declares it. The test points
DD_TRACE_AGENT_URL at the APM test agent; nothing leaves the machine.
"""
import json
import sys

from ddtrace import patch

patch(kombu=True)

import kombu  # noqa: E402
from ddtrace.internal import core  # noqa: E402
from ddtrace.trace import tracer  # noqa: E402

started = []
core.on("trace.span_start", lambda span: started.append(span))


def text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def ids(span):
    return {
        "trace_id": str(span.trace_id),
        "span_id": str(span.span_id),
        "parent_id": None if span.parent_id is None else str(span.parent_id),
    }


def publish(url, queue_name, pipeline_id):
    queue = kombu.Queue(queue_name, routing_key=queue_name, durable=False)
    headers = {}
    with kombu.Connection(url) as conn:
        with tracer.trace("producer.batch", service="ddtrace-kombu") as root:
            root.context.set_baggage_item("pipeline_id", pipeline_id)
            conn.Producer().publish(
                b"1,2,3",
                exchange="",
                routing_key=queue_name,
                declare=[queue],
                headers=headers,
                message_id="kombu-1",
                content_type="text/plain",
                content_encoding="utf-8",
            )
    sent = [s for s in started if s.name == "kombu.publish"]
    out = ids(sent[0]) if sent else {"trace_id": str(root.trace_id)}
    out["headers"] = {k: text(v) for k, v in headers.items()}
    print(json.dumps(out))


def consume(url, queue_name):
    queue = kombu.Queue(queue_name, routing_key=queue_name, durable=False)
    got = []

    def on_message(body, message):
        span = tracer.current_span()
        seen = ids(span)
        seen["pipeline_id"] = span.context.get_baggage_item("pipeline_id")
        seen["name"] = span.name
        seen["headers"] = {k: text(v) for k, v in (message.headers or {}).items()}
        seen["body"] = text(body)
        message.ack()
        got.append(seen)

    with kombu.Connection(url) as conn:
        with conn.Consumer([queue], callbacks=[on_message], accept=["text/plain", "application/data"]):
            conn.drain_events(timeout=20)
    if not got:
        sys.exit("no message within 20 s")
    print(json.dumps(got[0]))


if __name__ == "__main__":
    if sys.argv[1] == "publish":
        publish(*sys.argv[2:5])
    else:
        consume(*sys.argv[2:4])
