"""ddtrace-py's own HTTPPropagator as a propagation oracle.

Reads one JSON request per line on stdin, writes one JSON answer per line:

- {"op": "inject", "priority"?: int, "origin"?: str}: starts a ddtrace
  span (with that sampling priority and origin when given), injects it with
  HTTPPropagator.inject and answers {"headers": {...}, "trace_id": "<int>",
  "span_id": "<int>"} (ids as decimal strings: 128-bit trace ids).
- {"op": "extract", "headers": {...}}: answers what HTTPPropagator.extract
  found: {"trace_id", "span_id", "sampling_priority", "origin", "meta"}.

The styles are ddtrace's, from DD_TRACE_PROPAGATION_STYLE* in this process's
environment (read by ddtrace at import). Nothing is sent anywhere: the test
points DD_TRACE_AGENT_URL at a closed loopback port and turns writing off.
"""
import json
import sys

from ddtrace.propagation.http import HTTPPropagator
from ddtrace.trace import tracer


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "inject":
            with tracer.trace("peer.inject", service="ddtrace-peer") as span:
                if "priority" in req:
                    span.context.sampling_priority = req["priority"]
                if "origin" in req:
                    span.context.dd_origin = req["origin"]
                headers = {}
                HTTPPropagator.inject(span, headers)
                answer({"headers": headers, "trace_id": str(span.trace_id), "span_id": str(span.span_id)})
        elif req["op"] == "extract":
            ctx = HTTPPropagator.extract(req["headers"])
            answer(
                {
                    "trace_id": None if ctx.trace_id is None else str(ctx.trace_id),
                    "span_id": None if ctx.span_id is None else str(ctx.span_id),
                    "sampling_priority": ctx.sampling_priority,
                    "origin": ctx.dd_origin,
                    "meta": {k: v for k, v in ctx._meta.items()},
                }
            )
        else:
            answer({"error": "unknown op"})


if __name__ == "__main__":
    main()
