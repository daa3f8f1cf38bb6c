//! Table tests of the rules of the kinds other than VirtualService (which has its own).

use serde_json::{Value, json};

use super::{Context, validate_in};
use crate::validate::{Findings, Severity};

/// Validates `spec` as `kind` in namespace `default`; returns `path: message` per finding of
/// the given severity.
fn findings(kind: &str, spec: &Value, severity: Severity) -> Vec<String> {
    let mut out = Findings::default();
    let ctx = Context {
        name: "obj",
        namespace: "default",
        delegates_disabled: false,
    };
    validate_in(&ctx, kind, "v1", spec, &mut out);
    out.into_vec()
        .into_iter()
        .filter(|f| f.severity == severity)
        .map(|f| format!("{}: {}", f.path, f.message))
        .collect()
}

/// Each case: kind, spec, and the text one error must contain ("" means no error at all).
fn check(cases: Vec<(&str, Value, &str)>) {
    for (kind, spec, want) in cases {
        let errs = findings(kind, &spec, Severity::Error);
        if want.is_empty() {
            assert!(errs.is_empty(), "{kind} {spec}: {errs:?}");
        } else {
            assert!(
                errs.iter().any(|e| e.contains(want)),
                "{kind} {spec}: want {want:?}, got {errs:?}"
            );
        }
    }
}

#[test]
fn destination_rules() {
    let dr = "DestinationRule";
    check(vec![
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
            "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}),
            "",
        ),
        (
            dr,
            json!({"subsets": [{"name": "v1"}]}),
            "spec.host: empty domain name not allowed",
        ),
        (
            dr,
            json!({"host": "r", "subsets": [{"name": "v1"}, {"name": "v1"}]}),
            "duplicate subset names: v1",
        ),
        (
            dr,
            json!({"host": "r", "subsets": [{"name": "V_1"}]}),
            "subset name is invalid: V_1",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {}}),
            "traffic policy must have at least one field",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"loadBalancer": {"consistentHash": {
            "httpHeaderName": "x", "maglev": {"tableSize": 65536}}}}}),
            "tableSize must be a prime number for maglev",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"loadBalancer": {"consistentHash": {
            "httpHeaderName": "x", "useSourceIp": true}}}}),
            "only one of httpHeaderName",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"tls": {"mode": "MUTUAL"}}}),
            "client certificate required for mutual tls",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"tls": {"mode": "MUTUAL", "credentialName": "c"}}}),
            "",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"loadBalancer": {"localityLbSetting": {
            "distribute": [{"from": "a/*", "to": {"b/*": 60, "c/*": 30}}]}}}}),
            "total locality weight 90 != 100",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"outlierDetection": {"consecutiveErrors": 5}}}),
            "",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"connectionPool": {"http": {
            "http2KeepAlive": {"interval": "10s"}}}}}),
            "http2 keepalive timeout is required",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"connectionPool": {"tcp": {"idleTimeout": "0s"}}}}),
            "",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": -1}}}}),
            "max connections must be non-negative",
        ),
        (
            dr,
            json!({"host": "r", "workloadSelector": {"matchLabels": {"app": "a"}}, "exportTo": ["other"]}),
            "cannot have exportTo beyond current namespace",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"portLevelSettings": [{"tls": {"mode": "SIMPLE"}}]}}),
            "portTrafficPolicy must have valid port",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"tunnel": {"targetHost": "a.b", "targetPort": 0}}}),
            "tunnel target port is invalid",
        ),
        (
            dr,
            json!({"host": "r", "trafficPolicy": {"loadBalancer": {"simple": "FASTEST"}}}),
            "unknown value \"FASTEST\"",
        ),
    ]);
    let warnings = findings(
        dr,
        &json!({"host": "r", "trafficPolicy": {"outlierDetection": {"consecutiveErrors": 5}}}),
        Severity::Warning,
    );
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn gateways() {
    let gw = "Gateway";
    let server = |port: Value, tls: Value| {
        let mut s = json!({"port": port, "hosts": ["*.example.com"]});
        if !tls.is_null() {
            s["tls"] = tls;
        }
        json!({"servers": [s]})
    };
    let http = json!({"number": 80, "name": "http", "protocol": "HTTP"});
    let https = json!({"number": 443, "name": "https", "protocol": "HTTPS"});
    check(vec![
        (gw, server(http.clone(), Value::Null), ""),
        (gw, json!({}), "gateway must have at least one server"),
        (
            gw,
            server(https.clone(), Value::Null),
            "server must have TLS settings for HTTPS/TLS protocols",
        ),
        (
            gw,
            server(
                http.clone(),
                json!({"mode": "SIMPLE", "credentialName": "c"}),
            ),
            "server cannot have TLS settings for plain text HTTP ports",
        ),
        (gw, server(http.clone(), json!({"httpsRedirect": true})), ""),
        (
            gw,
            server(https.clone(), json!({"mode": "SIMPLE"})),
            "SIMPLE TLS requires a server certificate",
        ),
        (
            gw,
            server(
                https.clone(),
                json!({"mode": "MUTUAL", "credentialName": "c"}),
            ),
            "",
        ),
        (
            gw,
            server(
                https.clone(),
                json!({"mode": "MUTUAL", "serverCertificate": "a", "privateKey": "b"}),
            ),
            "MUTUAL TLS requires a client CA bundle",
        ),
        (
            gw,
            server(
                https.clone(),
                json!({"mode": "ISTIO_MUTUAL", "credentialName": "c"}),
            ),
            "ISTIO_MUTUAL TLS cannot have associated credentialName",
        ),
        (
            gw,
            server(
                json!({"number": 80, "name": "x", "protocol": "FOO"}),
                Value::Null,
            ),
            "invalid protocol \"FOO\"",
        ),
        (
            gw,
            server(json!({"number": 80, "protocol": "HTTP"}), Value::Null),
            "port name must be set",
        ),
        (
            gw,
            json!({"servers": [{"port": http, "hosts": ["short"]}]}),
            "short names (non FQDN) are not allowed",
        ),
        (
            gw,
            json!({"servers": [{"port": http, "hosts": ["ns/a.example.com", "10.0.0.1", "*"]}]}),
            "",
        ),
        (
            gw,
            json!({"servers": [{"port": http, "hosts": ["a.b"]}, {"port": http, "hosts": ["a.b"]}]}),
            "port names in servers must be unique: duplicate name http",
        ),
    ]);
    let mut out = Findings::default();
    let ctx = Context {
        name: "Bad.Name",
        namespace: "default",
        delegates_disabled: false,
    };
    validate_in(&ctx, gw, "v1", &server(http, Value::Null), &mut out);
    assert!(out.has_errors());
}

#[test]
fn service_entries() {
    let se = "ServiceEntry";
    let port = |proto: &str| json!([{"number": 80, "name": "p", "protocol": proto}]);
    check(vec![
        (
            se,
            json!({"hosts": ["a.example.com"], "ports": port("HTTP"), "resolution": "DNS"}),
            "",
        ),
        (
            se,
            json!({"ports": port("HTTP")}),
            "service entry must have at least one host",
        ),
        (
            se,
            json!({"hosts": ["*"], "ports": port("HTTP")}),
            "invalid host *",
        ),
        (
            se,
            json!({"hosts": ["*.example.com"], "ports": port("HTTP"), "resolution": "DNS"}),
            "hosts must be FQDN or contain only prefix wildcards",
        ),
        (
            se,
            json!({"hosts": ["a.com"], "ports": port("HTTP"), "resolution": "STATIC",
            "endpoints": [{"address": "a.b.c"}]}),
            "endpoint address \"a.b.c\" is not a valid IP address",
        ),
        (
            se,
            json!({"hosts": ["a.com", "b.com"], "ports": port("TCP"), "resolution": "DNS"}),
            "multiple hosts provided with non-HTTP, non-TLS ports",
        ),
        (
            se,
            json!({"hosts": ["a.com"], "resolution": "DNS",
            "ports": [{"number": 80, "name": "a"}, {"number": 80, "name": "b"}]}),
            "service entry port 80 already defined",
        ),
        (
            se,
            json!({"hosts": ["a.com"], "ports": port("HTTP"), "resolution": "DNS",
            "endpoints": [{"address": "1.2.3.4", "ports": {"q": 8080}}]}),
            "endpoint port 8080 is not defined by the service entry",
        ),
        (
            se,
            json!({"hosts": ["a.com"], "addresses": ["10.0.0.0/8"], "ports": port("TCP"), "resolution": "DNS"}),
            "CIDR addresses are allowed only for NONE/STATIC resolution types",
        ),
        (
            se,
            json!({"hosts": ["a.com"], "ports": port("HTTP"), "resolution": "STATIC",
            "workloadSelector": {"labels": {"app": "a"}}, "endpoints": []}),
            "only one of WorkloadSelector or Endpoints",
        ),
        (
            se,
            json!({"hosts": ["a.com"], "ports": port("HTTP"), "exportTo": ["~"]}),
            "",
        ),
        (
            se,
            json!({"hosts": ["*.a.com"], "ports": port("HTTP"), "resolution": "DYNAMIC_DNS"}),
            "",
        ),
        (
            se,
            json!({"hosts": ["a.com"], "ports": port("TCP"), "resolution": "DYNAMIC_DNS"}),
            "host must be wildcarded for resolution mode DYNAMIC_DNS",
        ),
        (
            se,
            json!({"hosts": ["a.com"], "ports": port("HTTP"), "discovery": "DNS"}),
            "unknown field \"discovery\"",
        ),
    ]);
}

#[test]
fn sidecars() {
    let sc = "Sidecar";
    let ingress = |ep: &str| {
        json!({"ingress": [{"port": {"number": 9080, "protocol": "HTTP", "name": "h"},
        "defaultEndpoint": ep}]})
    };
    check(vec![
        (
            sc,
            json!({"egress": [{"hosts": ["./*", "istio-system/*"]}]}),
            "",
        ),
        (sc, json!({}), "sidecar: empty configuration provided"),
        (
            sc,
            json!({"egress": null}),
            "sidecar: empty configuration provided",
        ),
        (
            sc,
            json!({"egress": [{"hosts": ["foo.com"]}]}),
            "host must be of form namespace/dnsName",
        ),
        (
            sc,
            json!({"egress": [{"hosts": ["*/*"]}, {"port": {"number": 80, "protocol": "HTTP", "name": "h"},
            "hosts": ["*/*"]}]}),
            "the egress listener with empty port should be the last listener",
        ),
        (sc, ingress("127.0.0.1:8080"), ""),
        (sc, ingress("unix:///var/run/app.sock"), ""),
        (
            sc,
            ingress("10.0.0.1:8080"),
            "sidecar: defaultEndpoint must be of form",
        ),
        (sc, ingress("127.0.0.1:http"), "is not a number"),
        (
            sc,
            json!({"egress": [{"hosts": ["ns/a.com", "ns/a.com"]}]}),
            "",
        ),
        (
            sc,
            json!({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY", "egressProxy": {"host": "p", "port": {"number": 80}}}}),
            "egress_proxy must be set only with ALLOW_ANY",
        ),
        (
            sc,
            json!({"outboundTrafficPolicy": {"mode": "ALLOW_ANY", "egressProxy": {"host": "p"}}}),
            "egress_proxy port must be non-nil",
        ),
        (
            sc,
            json!({"egress": [{"port": {"number": 0, "protocol": "HTTP", "name": "h"}, "bind": "10.0.0.1",
            "hosts": ["*/*"]}]}),
            "ports with 0 value must have a unix domain socket bind address",
        ),
    ]);
    let warnings = findings(
        sc,
        &json!({"egress": [{"hosts": ["ns/a.com", "ns/a.com"]}]}),
        Severity::Warning,
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("duplicated egress host: ns/a.com")),
        "{warnings:?}"
    );
}

#[test]
fn workloads() {
    check(vec![
        (
            "WorkloadEntry",
            json!({"address": "10.0.0.1", "ports": {"http": 8080}}),
            "",
        ),
        ("WorkloadEntry", json!({"address": "vm.example.com"}), ""),
        (
            "WorkloadEntry",
            json!({"labels": {"app": "a"}}),
            "address is required",
        ),
        ("WorkloadEntry", json!({"network": "n1"}), ""),
        (
            "WorkloadEntry",
            json!({"address": "unix:///sock", "ports": {"http": 80}}),
            "must not include ports",
        ),
        (
            "WorkloadEntry",
            json!({"address": "10.0.0.1", "ports": {"http": 0}}),
            "port number 0",
        ),
        (
            "WorkloadGroup",
            json!({"metadata": {"labels": {"app": "a"}}}),
            "template is required",
        ),
        (
            "WorkloadGroup",
            json!({"template": {}, "probe": {"httpGet": {"port": 80}}}),
            "",
        ),
        (
            "WorkloadGroup",
            json!({"template": {}, "probe": {"httpGet": {"port": 80, "scheme": "FTP"}}}),
            "httpGet.scheme must be one of",
        ),
        (
            "WorkloadGroup",
            json!({"template": {}, "probe": {"periodSeconds": 5}}),
            "unknown health check method",
        ),
        (
            "WorkloadGroup",
            json!({"template": {}, "probe": {"exec": {}}}),
            "exec.command is required",
        ),
    ]);
}

#[test]
fn envoy_filters() {
    let ef = "EnvoyFilter";
    let patch = |apply: &str, m: Value, p: Value| json!({"configPatches": [{"applyTo": apply, "match": m, "patch": p}]});
    let merge = json!({"operation": "MERGE", "value": {"a": 1}});
    check(vec![
        (
            ef,
            patch(
                "CLUSTER",
                json!({"cluster": {"service": "a.b"}}),
                merge.clone(),
            ),
            "",
        ),
        (
            ef,
            json!({"configPatches": [{"patch": merge.clone()}]}),
            "Envoy filter: missing applyTo",
        ),
        (
            ef,
            patch(
                "CLUSTER",
                json!({"cluster": {"name": "c"}}),
                json!({"operation": "REMOVE"}),
            ),
            "",
        ),
        (
            ef,
            patch(
                "CLUSTER",
                json!({"cluster": {"name": "c"}}),
                json!({"operation": "MERGE"}),
            ),
            "missing patch value for non-remove operation",
        ),
        (
            ef,
            patch(
                "CLUSTER",
                json!({"listener": {"portNumber": 80}}),
                merge.clone(),
            ),
            "applyTo for cluster class objects cannot have non cluster match",
        ),
        (
            ef,
            patch(
                "NETWORK_FILTER",
                json!({"listener": {"filterChain": {"filter": {
            "name": "envoy.filters.network.http_connection_manager", "subFilter": {"name": "x"}}}}}),
                merge.clone(),
            ),
            "subfilter match can be used with applyTo HTTP_FILTER only",
        ),
        (
            ef,
            patch(
                "HTTP_FILTER",
                json!({"listener": {"filterChain": {"filter": {
            "name": "envoy.filters.network.http_connection_manager", "subFilter": {"name": "x"}}}}}),
                merge.clone(),
            ),
            "",
        ),
        (
            ef,
            patch(
                "HTTP_FILTER",
                json!({"proxy": {"proxyVersion": "1\\.2("}}),
                merge.clone(),
            ),
            "invalid regex for proxy version",
        ),
        (
            ef,
            patch(
                "HTTP_FILTER",
                Value::Null,
                json!({"operation": "INSERT_BEFORE", "value": {"typed_config": {
            "@type": "type.googleapis.com/envoy.config.filter.http.lua.v2.Lua"}}}),
            ),
            "referenced type unknown (hint: try using the v3 XDS API)",
        ),
        (
            ef,
            json!({"workloadSelector": {"labels": {"app": "*"}}}),
            "wildcard is not supported in selector",
        ),
        (
            ef,
            json!({"filters": [{"filterName": "f", "filterType": "HTTP", "filterConfig": {},
            "insertPosition": {"index": "BEFORE"}}]}),
            "missing relativeTo filter with BEFORE/AFTER index",
        ),
    ]);
}

#[test]
fn proxy_configs() {
    check(vec![
        (
            "ProxyConfig",
            json!({"concurrency": 2, "selector": {"matchLabels": {"app": "a"}}}),
            "",
        ),
        (
            "ProxyConfig",
            json!({"concurrency": -1}),
            "concurrency must be greater than or equal to 0",
        ),
        (
            "ProxyConfig",
            json!({"selector": {"matchLabels": {"app": "*"}}}),
            "wildcard is not supported",
        ),
    ]);
    let w = findings("ProxyConfig", &json!({"selector": {}}), Severity::Warning);
    assert_eq!(
        w,
        vec!["spec.selector: workload selector specified without labels"]
    );
}
