"""A ddtrace-instrumented WSGI server (the standard library's wsgiref behind
ddtrace's own DDWSGIMiddleware).

Usage: ddtrace_wsgi_server.py <count>

Listens on a free loopback port, prints {"port": <int>} on one line, answers
<count> requests and exits (ddtrace flushes its spans at exit). Each answer
is JSON about the `wsgi.request` span ddtrace opened for the request:
{"trace_id": "<int>", "span_id": "<int>", "parent_id": "<int>",
"pipeline_id": <the W3C baggage item ddtrace extracted, or null>,
"headers": {the propagation headers received}}. ddtrace's styles come from
DD_TRACE_PROPAGATION_STYLE; the test points DD_TRACE_AGENT_URL at the APM
test agent (or a closed loopback port).
"""
import json
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server

from ddtrace.contrib.wsgi import DDWSGIMiddleware
from ddtrace.trace import tracer

PROPAGATION = ("x-datadog-", "traceparent", "tracestate", "baggage")


def app(environ, start_response):
    span = tracer.current_root_span()
    body = {
        "trace_id": str(span.trace_id),
        "span_id": str(span.span_id),
        "parent_id": None if span.parent_id is None else str(span.parent_id),
        "pipeline_id": span.context.get_baggage_item("pipeline_id"),
        "headers": {
            k[5:].lower().replace("_", "-"): v
            for k, v in environ.items()
            if k.startswith("HTTP_") and k[5:].lower().replace("_", "-").startswith(PROPAGATION)
        },
    }
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    count = int(sys.argv[1])
    server = make_server("127.0.0.1", 0, DDWSGIMiddleware(app), handler_class=Quiet)
    print(json.dumps({"port": server.server_port}), flush=True)
    for _ in range(count):
        server.handle_request()
    server.server_close()


if __name__ == "__main__":
    main()
