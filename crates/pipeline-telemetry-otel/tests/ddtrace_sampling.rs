//! Sampling decisions against ddtrace-py 4.16's own `DatadogSampler` (a
//! test peer from PyPI, driven by `tests/peers/ddtrace_sampler.py`): for
//! many trace ids, span names, resources and tags, under sample rates,
//! glob rules, discard rules, a zero rate limit and the Agent's rates, our
//! sampler's priority, decision maker, `*_psr` and `_dd.p.ksr` are exactly
//! ddtrace's; and a trace continued from upstream Datadog headers carries
//! ddtrace's decision downstream.

mod common;

use opentelemetry::trace::{SpanKind, TraceId};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{SamplingDecision, ShouldSample};
use pipeline_telemetry_otel::{AgentRates, DatadogSampler, SamplingConfig};
use pipeline_telemetry_test_support::python::JsonPeer;
use serde_json::{json, Map, Value as Json};

fn peer() -> JsonPeer {
    JsonPeer::start(
        "ddtrace_sampler.py",
        &[("DD_TRACE_PROPAGATION_STYLE", "datadog")],
    )
}

/// splitmix64: the trace ids and span shapes, the same every run.
struct Ids(u64);

impl Ids {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

struct Span {
    trace_id: u128,
    name: &'static str,
    resource: &'static str,
    tags: Vec<(&'static str, Json)>,
}

fn spans(n: usize) -> Vec<Span> {
    let mut ids = Ids(42);
    let names = [
        "pipeline.run",
        "pipeline.stage",
        "healthcheck",
        "http.request",
        "X",
    ];
    let resources = ["GET /users", "POST /users", "nightly", "load", ""];
    (0..n)
        .map(|_| {
            let r = ids.next();
            let mut tags = Vec::new();
            let statuses = [json!(200), json!(503), json!("504"), json!(404.0)];
            if r & 8 != 0 {
                tags.push(("code", statuses[(r >> 20) as usize % 4].clone()));
            }
            if r & 16 != 0 {
                tags.push(("ratio", json!(((r >> 24) % 1000) as f64 / 7.0)));
            }
            if r & 32 != 0 {
                tags.push((
                    "stage",
                    json!(["load", "Extract", "transform"][(r >> 30) as usize % 3]),
                ));
            }
            Span {
                trace_id: (u128::from(ids.next()) << 64) | u128::from(ids.next()),
                name: names[(r >> 8) as usize % names.len()],
                resource: resources[(r >> 12) as usize % resources.len()],
                tags,
            }
        })
        .collect()
}

fn attributes(span: &Span) -> Vec<KeyValue> {
    // Datadog's names: as ddtrace's span has them.
    let mut attrs = vec![
        KeyValue::new("operation.name", span.name),
        KeyValue::new("resource.name", span.resource),
    ];
    for (key, value) in &span.tags {
        let value = match value {
            Json::String(s) => Value::from(s.clone()),
            Json::Number(n) if n.is_i64() => Value::I64(n.as_i64().unwrap_or_default()),
            Json::Number(n) => Value::F64(n.as_f64().unwrap_or_default()),
            other => panic!("tag {other}"),
        };
        attrs.push(KeyValue::new(*key, value));
    }
    attrs
}

/// Our sampler's answer in the peer's form.
fn ours(sampler: &DatadogSampler, span: &Span) -> Json {
    let result = sampler.should_sample(
        None,
        TraceId::from(span.trace_id),
        span.name,
        &SpanKind::Internal,
        &attributes(span),
        &[],
    );
    // A keep with priority 1 (the default decision, or an Agent rate's)
    // leaves the tracestate empty: priority 1 is the sampled flag, and the
    // decision maker is `-1` where the root carries `_dd.agent_psr` (as
    // the trace intake path writes it), else `-0`.
    let agent_rate = result
        .attributes
        .iter()
        .any(|kv| kv.key.as_str() == "_dd.agent_psr");
    let implied = if agent_rate {
        "s:1;t.dm:-1"
    } else {
        "s:1;t.dm:-0"
    };
    let dd = result.trace_state.get("dd").unwrap_or(implied).to_owned();
    assert_eq!(result.trace_state.get("dd").is_none(), dd == implied);
    let (s, dm) = dd
        .strip_prefix("s:")
        .and_then(|rest| rest.split_once(";t.dm:"))
        .unwrap_or_else(|| panic!("dd member {dd:?}"));
    let priority: i64 = s.parse().expect("a priority");
    let kept = priority > 0;
    let discard = result.decision == SamplingDecision::Drop;
    let want = match (kept, discard) {
        (true, _) => SamplingDecision::RecordAndSample,
        (false, false) => SamplingDecision::RecordOnly,
        (false, true) => SamplingDecision::Drop,
    };
    assert_eq!(result.decision, want, "{dd}");
    let attr = |key: &str| {
        result
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| match &kv.value {
                Value::F64(f) => json!(f),
                Value::String(s) => json!(s.as_str()),
                other => panic!("{key} = {other:?}"),
            })
            .unwrap_or(Json::Null)
    };
    json!({
        "priority": priority,
        "dm": dm,
        "discard": discard,
        "rule_psr": attr("_dd.rule_psr"),
        "agent_psr": attr("_dd.agent_psr"),
        "limit_psr": attr("_dd.limit_psr"),
        "ksr": attr("_dd.p.ksr"),
    })
}

struct Case {
    rules: Option<&'static str>,
    sample_rate: Option<f64>,
    rate_limit: i64,
    agent_rates: Option<Json>,
    env: Option<&'static str>,
}

const GLOBS: &str = r#"[
    {"sample_rate": 0.0, "name": "health*"},
    {"sample_rate": 0.25, "service": "S?C", "resource": "get /*"},
    {"sample_rate": 0.8, "tags": {"code": "5??"}},
    {"sample_rate": 0.6, "tags": {"ratio": "??*"}, "provenance": "customer"},
    {"sample_rate": 0.5, "tags": {"stage": "l*"}, "name": "pipeline.stage", "provenance": "dynamic"},
    {"sample_rate": "0.3", "tags": {"code": 404}},
    {"name": "no rate: skipped"}
]"#;

#[test]
fn decisions_match_ddtrace() {
    let mut peer = peer();
    let spans = spans(3000);
    let prod_rates =
        json!({"service:svc,env:prod": 0.3, "service:,env:": 1.0, "service:other,env:prod": 0.0});
    let cases = [
        Case {
            rules: None,
            sample_rate: None,
            rate_limit: -1,
            agent_rates: None,
            env: None,
        },
        Case {
            rules: None,
            sample_rate: None,
            rate_limit: -1,
            agent_rates: Some(prod_rates.clone()),
            env: Some("prod"),
        },
        // The Agent's rates for another env: no match, no fallback.
        Case {
            rules: None,
            sample_rate: None,
            rate_limit: -1,
            agent_rates: Some(prod_rates.clone()),
            env: Some("staging"),
        },
        Case {
            rules: None,
            sample_rate: Some(0.37),
            rate_limit: -1,
            agent_rates: Some(prod_rates.clone()),
            env: Some("prod"),
        },
        Case {
            rules: Some(GLOBS),
            sample_rate: None,
            rate_limit: -1,
            agent_rates: Some(prod_rates.clone()),
            env: Some("prod"),
        },
        Case {
            rules: Some(GLOBS),
            sample_rate: Some(0.9),
            rate_limit: -1,
            agent_rates: None,
            env: None,
        },
        Case {
            rules: Some(GLOBS),
            sample_rate: None,
            rate_limit: 0,
            agent_rates: None,
            env: Some("prod"),
        },
        Case {
            rules: Some(
                r#"[{"sample_rate": 0.5, "name": "pipeline.*", "discard": true},
                            {"sample_rate": 1, "resource": "nightly"},
                            {"sample_rate": 0, "tags": {"env": "prod"}}]"#,
            ),
            sample_rate: None,
            rate_limit: -1,
            agent_rates: None,
            env: Some("prod"),
        },
    ];
    for (n, case) in cases.iter().enumerate() {
        // ddtrace 4.x no longer reads DD_TRACE_SAMPLE_RATE: the rule it
        // stood for (and that ddtrace 2.x made of it) is appended.
        let rules = match (case.rules, case.sample_rate) {
            (r, None) => r.map(str::to_owned),
            (None, Some(rate)) => Some(format!(r#"[{{"sample_rate": {rate}}}]"#)),
            (Some(r), Some(rate)) => {
                let mut list: Vec<Json> = serde_json::from_str(r).expect("rules");
                list.push(json!({"sample_rate": rate}));
                Some(Json::Array(list).to_string())
            }
        };
        let span_reqs: Vec<Json> = spans
            .iter()
            .map(|s| {
                let tags: Map<String, Json> =
                    s.tags.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
                json!({"trace_id": s.trace_id.to_string(), "name": s.name, "resource": s.resource, "tags": tags})
            })
            .collect();
        let theirs = peer.ask(&json!({
            "op": "sample", "rules": rules, "rate_limit": case.rate_limit,
            "agent_rates": case.agent_rates, "service": "svc", "env": case.env, "spans": span_reqs,
        }));

        let mut config = SamplingConfig::new().with_rate_limit(case.rate_limit);
        if let Some(r) = case.rules {
            // One rule has no `sample_rate`: ddtrace skips it without an
            // error, and so does the environment reading.
            let (lenient, _) = lenient_rules(r);
            config = config.with_rules_json(&lenient).expect("valid rules");
        }
        if let Some(rate) = case.sample_rate {
            config = config.with_sample_rate(rate);
        }
        let rates = AgentRates::new();
        if let Some(r) = &case.agent_rates {
            rates
                .update_from_json(json!({ "rate_by_service": r }).to_string().as_bytes())
                .expect("rates");
        }
        let sampler = DatadogSampler::new(&config, "svc", case.env, &rates);
        let decisions = theirs["decisions"].as_array().expect("decisions");
        let (mut kept, mut mechanisms) = (0, std::collections::BTreeSet::new());
        for (span, want) in spans.iter().zip(decisions) {
            let got = ours(&sampler, span);
            assert_eq!(
                &got, want,
                "case {n}, span {}/{}/{:?}",
                span.name, span.resource, span.tags
            );
            kept += usize::from(got["priority"].as_i64() > Some(0));
            mechanisms.insert(got["dm"].as_str().unwrap_or_default().to_owned());
        }
        eprintln!(
            "case {n}: {kept} of {} kept, decision makers {mechanisms:?}",
            spans.len()
        );
    }
}

/// The rules with those lacking `sample_rate` left out (ddtrace skips them).
fn lenient_rules(json: &str) -> (String, usize) {
    let list: Vec<Json> = serde_json::from_str(json).expect("rules");
    let kept: Vec<Json> = list
        .into_iter()
        .filter(|r| r.get("sample_rate").is_some())
        .collect();
    let n = kept.len();
    (Json::Array(kept).to_string(), n)
}

/// A trace continued from upstream Datadog headers (priority absent, 2, 1,
/// 0 or -1; with or without a decision maker) and sent on: our
/// `x-datadog-sampling-priority` and `x-datadog-tags` are ddtrace's, which
/// samples only when the upstream did not decide and never overwrites an
/// upstream `_dd.p.dm`.
#[test]
fn continued_traces_carry_ddtrace_decisions_downstream() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    const RULES: &str = r#"[{"sample_rate": 0, "resource": "drop-*"}, {"sample_rate": 1}]"#;
    let mut peer = peer();
    let config = SamplingConfig::new()
        .with_rules_json(RULES)
        .expect("rules")
        .with_rate_limit(-1);
    let sampler = DatadogSampler::new(&config, "svc", None, &AgentRates::new());
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_sampler(sampler)
        .build();
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("sampling"))),
    );
    let mut n = 0;
    for priority in [None, Some(2), Some(1), Some(0), Some(-1)] {
        for tags in ["", "_dd.p.dm=-4", "_dd.p.x=y"] {
            for resource in ["drop-me", "keep-me"] {
                n += 1;
                let mut headers = std::collections::BTreeMap::new();
                headers.insert("x-datadog-trace-id".to_owned(), (9000 + n).to_string());
                headers.insert("x-datadog-parent-id".to_owned(), "77".to_owned());
                if !tags.is_empty() {
                    headers.insert("x-datadog-tags".to_owned(), tags.to_owned());
                }
                if let Some(p) = priority {
                    headers.insert("x-datadog-sampling-priority".to_owned(), p.to_string());
                }
                let theirs = peer.ask(&json!({
                    "op": "continue", "headers": headers, "rules": RULES,
                    "service": "svc", "resource": resource,
                }));
                let ours = tracing::dispatcher::with_default(&dispatch, || {
                    let span = tracing::info_span!("pipeline.run", "resource.name" = resource);
                    pipeline_telemetry_otel::extract(&headers)
                        .set_parent(&span)
                        .expect("a parent");
                    let mut out = std::collections::BTreeMap::new();
                    pipeline_telemetry_otel::inject_context(&span, &mut out);
                    out
                });
                for key in [
                    "x-datadog-trace-id",
                    "x-datadog-sampling-priority",
                    "x-datadog-tags",
                ] {
                    assert_eq!(
                        ours.get(key).map(String::as_str),
                        theirs["headers"][key].as_str(),
                        "{key} from {headers:?} for {resource}: ours {ours:?}, ddtrace {theirs}"
                    );
                }
            }
        }
    }
}
