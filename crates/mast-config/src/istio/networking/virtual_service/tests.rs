use serde_json::json;

use crate::istio::networking::{Context, validate_in};
use crate::validate::{Findings, Severity};

fn run(spec: serde_json::Value) -> Findings {
    let mut out = Findings::default();
    let ctx = Context {
        name: "vs",
        namespace: "default",
        delegates_disabled: false,
    };
    validate_in(&ctx, "VirtualService", "v1", &spec, &mut out);
    out
}

fn errors(spec: serde_json::Value) -> Vec<String> {
    run(spec)
        .into_vec()
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect()
}

fn route(host: &str) -> serde_json::Value {
    json!([{"destination": {"host": host}}])
}

#[test]
fn accepts_and_rejects() {
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "simple",
            json!({"hosts": ["reviews"], "http": [{"route": route("reviews")}]}),
            "",
        ),
        (
            "no routes",
            json!({"hosts": ["reviews"]}),
            "http, tcp or tls must be provided",
        ),
        (
            "delegate",
            json!({"http": [{"route": route("reviews")}]}),
            "",
        ),
        (
            "delegate with gateways",
            json!({"gateways": ["gw"], "http": [{"route": route("r")}]}),
            "delegate virtual service must have no gateways specified",
        ),
        (
            "mesh wildcard",
            json!({"hosts": ["*"], "http": [{"route": route("r")}]}),
            "wildcard host *",
        ),
        (
            "gateway wildcard",
            json!({"hosts": ["*"], "gateways": ["ns/gw"], "http": [{"route": route("r")}]}),
            "",
        ),
        (
            "duplicate hosts",
            json!({"hosts": ["*.foo.com", "a.foo.com"], "http": [{"route": route("r")}]}),
            "duplicate hosts in virtual service: *.foo.com & a.foo.com",
        ),
        (
            "zero total weight",
            json!({"hosts": ["r"], "http": [{"route": [
                {"destination": {"host": "a"}, "weight": 0},
                {"destination": {"host": "b"}, "weight": 0}]}]}),
            "total destination weight = 0",
        ),
        (
            "negative weight",
            json!({"hosts": ["r"], "http": [{"route": [{"destination": {"host": "a"}, "weight": -1}]}]}),
            "spec.http[0].route[0].weight: weight -1 < 0",
        ),
        (
            "bad regex",
            json!({"hosts": ["r"], "http": [{"match": [{"uri": {"regex": "a(b"}}], "route": route("r")}]}),
            "spec.http[0].match[0].uri: \"uri\":",
        ),
        (
            "bad timeout",
            json!({"hosts": ["r"], "http": [{"timeout": "10", "route": route("r")}]}),
            "spec.http[0].timeout: bad Duration: time: missing unit",
        ),
        (
            "sub-ms timeout",
            json!({"hosts": ["r"], "http": [{"timeout": "0.5ms", "route": route("r")}]}),
            "duration must be greater than 1ms",
        ),
        (
            "redirect and route",
            json!({"hosts": ["r"], "http": [{"redirect": {"uri": "/x"}, "route": route("r")}]}),
            "HTTP route cannot contain both route and redirect",
        ),
        (
            "two string matches",
            json!({"hosts": ["r"], "http": [{"match": [{"uri": {"exact": "/a", "prefix": "/b"}}], "route": route("r")}]}),
            "only one of exact, prefix, regex may be set",
        ),
        (
            "unknown field",
            json!({"hosts": ["r"], "http": [{"route": route("r"), "websocketUpgrade": true}]}),
            "spec.http[0].websocketUpgrade: unknown field",
        ),
        (
            "abort status",
            json!({"hosts": ["r"], "http": [{"fault": {"abort": {"httpStatus": 700}}, "route": route("r")}]}),
            "HTTP status 700 is not in range 200-599",
        ),
        (
            "retry on",
            json!({"hosts": ["r"], "http": [{"retries": {"attempts": 3, "retryOn": "5xx,503,bogus"}, "route": route("r")}]}),
            "\"bogus\" is not a valid retryOn policy",
        ),
        (
            "sni not in hosts",
            json!({"hosts": ["a.com"], "tls": [{"match": [{"sniHosts": ["b.com"]}], "route": route("b.com")}]}),
            "SNI host \"b.com\" is not a compatible subset",
        ),
        (
            "legacy gateway name",
            json!({"hosts": ["r"], "gateways": ["gw.ns"], "http": [{"route": route("r")}]}),
            "",
        ),
        (
            "gateway bad namespace",
            json!({"hosts": ["r"], "gateways": ["Bad_ns/gw"], "http": [{"route": route("r")}]}),
            "invalid value for namespace",
        ),
        (
            "header set host twice",
            json!({"hosts": ["r"], "http": [{"rewrite": {"authority": "a"},
                "headers": {"request": {"set": {":authority": "b"}}}, "route": route("r")}]}),
            "authority header cannot be set multiple times",
        ),
        (
            "mirror percent",
            json!({"hosts": ["r"], "http": [{"mirror_percent": 101, "mirror": {"host": "m"}, "route": route("r")}]}),
            "mirror_percent must have a max value of 100 (it has 101)",
        ),
    ];
    for (name, spec, want) in cases {
        let errs = errors(spec);
        if want.is_empty() {
            assert!(errs.is_empty(), "{name}: {errs:?}");
        } else {
            assert!(
                errs.iter().any(|e| e.contains(want)),
                "{name}: want {want:?}, got {errs:?}"
            );
        }
    }
}

#[test]
fn unreachable_rules() {
    let spec = json!({
        "hosts": ["r"],
        "http": [
            {"match": [{"uri": {"prefix": "/a"}}], "route": route("r")},
            {"name": "dup", "match": [{"uri": {"prefix": "/a"}, "name": "x"}], "route": route("r")},
            {"match": [{"uri": {"prefix": "/ab"}}], "route": route("r")},
            {"route": route("r")},
            {"route": route("r")},
        ]
    });
    let found: Vec<(String, String)> = run(spec)
        .into_vec()
        .into_iter()
        .filter_map(|f| f.analyzer_message.map(|m| (m.to_string(), f.message)))
        .collect();
    let want = [
        (
            "VirtualServiceIneffectiveMatch",
            "virtualService rule \"dup\" match \"x\" is not used (duplicate/overlapping match in rule #0)",
        ),
        (
            "VirtualServiceUnreachableRule",
            "virtualService rule \"dup\" not used (all matches used by prior rules)",
        ),
        (
            "VirtualServiceUnreachableRule",
            "virtualService rule #4 not used (only the last rule can have no matches)",
        ),
        (
            "VirtualServiceIneffectiveMatch",
            "virtualService rule #2 match #0 of prefix /ab is not used (duplicate/overlapping match in rule #0 of prefix /a on #0)",
        ),
    ];
    assert_eq!(found.len(), want.len(), "{found:#?}");
    for (code, msg) in want {
        assert!(
            found.iter().any(|(c, m)| c == code && m == msg),
            "missing {msg}: {found:#?}"
        );
    }
}
