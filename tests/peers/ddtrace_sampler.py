"""ddtrace-py's own DatadogSampler and RateLimiter as a sampling oracle.

Reads one JSON request per line on stdin, writes one JSON answer per line:

- {"op": "sample", "rules": <DD_TRACE_SAMPLING_RULES text or null>,
  "rate_limit": int, "agent_rates": {key: rate} or null, "service": str,
  "env": str or null, "spans": [{"trace_id": "<int>", "name": str,
  "resource": str, "tags": {key: str | int | float}}]}: a fresh
  DatadogSampler (rules read by its set_sampling_rules, the Agent's rates by
  update_rate_by_service_sample_rates) decides each span as the local root
  of its trace (sample_or_discard); answers {"rules": <number of rules
  read>, "decisions": [{"priority", "dm", "discard", "rule_psr",
  "agent_psr", "limit_psr", "ksr"}]}.
- {"op": "continue", "headers": {...}, "rules": <rules text>, "service": str,
  "resource": str}: extracts the headers (HTTPPropagator, the styles of
  DD_TRACE_PROPAGATION_STYLE), starts a local root under them, samples it
  with a fresh DatadogSampler of those rules unless the upstream decided,
  as ddtrace's trace processor does, and answers {"headers": <what
  HTTPPropagator.inject writes for it>}.
- {"op": "limiter", "rate_limit": int, "start": ns, "times": [ns, ...]}:
  a RateLimiter made at "start" on a simulated clock, asked at each time as
  is_allowed does; answers {"allowed": [bool], "effective": [float]}.

Nothing is sent anywhere: the test points DD_TRACE_AGENT_URL at a closed
loopback port and turns tracing and telemetry off.
"""
import json
import sys

from ddtrace._trace.sampler import DatadogSampler
from ddtrace._trace.span import Span
from ddtrace.internal.rate_limiter import RateLimiter
from ddtrace.propagation.http import HTTPPropagator
from ddtrace.trace import tracer


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def sample(req):
    sampler = DatadogSampler(rules=[], rate_limit=req["rate_limit"])
    if req.get("rules") is not None:
        sampler.set_sampling_rules(req["rules"])
    if req.get("agent_rates") is not None:
        sampler.update_rate_by_service_sample_rates(req["agent_rates"])
    out = []
    for s in req["spans"]:
        span = Span(s["name"], service=req["service"], resource=s["resource"], trace_id=int(s["trace_id"]))
        if req.get("env") is not None:
            span.set_tag("env", req["env"])
        for key, value in s.get("tags", {}).items():
            if isinstance(value, str):
                span.set_tag(key, value)
            else:
                span.set_metric(key, value)
        _, discard = sampler.sample_or_discard(span)
        metrics = span.get_metrics()
        out.append(
            {
                "priority": span.context.sampling_priority,
                "dm": span.context._meta.get("_dd.p.dm"),
                "discard": discard,
                "rule_psr": metrics.get("_dd.rule_psr"),
                "agent_psr": metrics.get("_dd.agent_psr"),
                "limit_psr": metrics.get("_dd.limit_psr"),
                "ksr": span.get_tag("_dd.p.ksr"),
            }
        )
    return {"rules": len(sampler.rules), "decisions": out}


def continue_trace(req):
    ctx = HTTPPropagator.extract(req["headers"])
    span = tracer.start_span("pipeline.run", child_of=ctx, service=req["service"], resource=req["resource"])
    if span.context.sampling_priority is None:
        sampler = DatadogSampler(rules=[], rate_limit=-1)
        sampler.set_sampling_rules(req["rules"])
        sampler.sample_or_discard(span)
    headers = {}
    HTTPPropagator.inject(span, headers)
    return {"headers": headers}


def limiter(req):
    lim = RateLimiter(req["rate_limit"])
    lim.last_update_ns = req["start"]
    allowed, effective = [], []
    for t in req["times"]:
        ok = lim._is_allowed(t)
        lim._update_rate_counts(ok, t)
        allowed.append(ok)
        effective.append(lim.effective_rate)
    return {"allowed": allowed, "effective": effective}


def main():
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "sample":
            answer(sample(req))
        elif req["op"] == "continue":
            answer(continue_trace(req))
        elif req["op"] == "limiter":
            answer(limiter(req))
        else:
            answer({"error": "unknown op"})


if __name__ == "__main__":
    main()
