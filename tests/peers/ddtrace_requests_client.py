"""A ddtrace-instrumented `requests` client (ddtrace's own integration).

Usage: ddtrace_requests_client.py <url> [<pipeline_id>]

Sends one GET to <url> inside a ddtrace span (whose context carries the W3C
baggage item pipeline_id when given), with ddtrace's `requests`
integration injecting the context in the styles of this process's
DD_TRACE_PROPAGATION_STYLE. Prints one JSON line: {"trace_id": "<int>",
"requests_span_id": "<int>", "status": <int>, "body": "...", "headers":
{the propagation headers sent}}. The test points DD_TRACE_AGENT_URL at the
APM test agent or a closed loopback port; nothing leaves the machine.
"""
import json
import sys

from ddtrace import patch

patch(requests=True)

import requests  # noqa: E402
from ddtrace.internal import core  # noqa: E402
from ddtrace.trace import tracer  # noqa: E402

started = []
core.on("trace.span_start", lambda span: started.append(span))

PROPAGATION = ("x-datadog-", "traceparent", "tracestate", "baggage")


def main():
    url = sys.argv[1]
    with tracer.trace("client.batch", service="ddtrace-client") as root:
        if len(sys.argv) > 2:
            root.context.set_baggage_item("pipeline_id", sys.argv[2])
        response = requests.get(url, timeout=30)
    spans = [s for s in started if s.name == "requests.request"]
    sent = {k.lower(): v for k, v in response.request.headers.items() if k.lower().startswith(PROPAGATION)}
    print(
        json.dumps(
            {
                "trace_id": str(root.trace_id),
                "requests_span_id": str(spans[0].span_id) if spans else None,
                "status": response.status_code,
                "body": response.text,
                "headers": sent,
            }
        )
    )


if __name__ == "__main__":
    main()
