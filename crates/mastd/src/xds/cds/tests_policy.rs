//! DestinationRules on clusters: precedence, subsets, port-level settings, connection pool,
//! outlier detection, load balancers, TLS modes.

use serde_json::{Value, json};

use super::testkit::*;

const REVIEWS: &str = "outbound|9080||reviews.default.svc.cluster.local";

fn dr(ns: &str, name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}"
    )
}

fn reviews_with(rules: &str) -> (Value, Vec<String>) {
    let snap = snapshot(&format!("{BOOKINFO}{rules}"));
    (
        cluster_json(&snap, &productpage(), REVIEWS),
        names(&snap, &productpage()),
    )
}

fn config_of(c: &Value) -> &Value {
    &c["metadata"]["filterMetadata"]["istio"]["config"]
}

#[test]
fn precedence_proxy_namespace_then_service_then_root() {
    let root = dr(
        "istio-system",
        "root",
        "  host: reviews.default.svc.cluster.local\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n",
    );
    let svc = dr(
        "default",
        "svc",
        "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n",
    );
    let other = dr(
        "other",
        "other",
        "  host: reviews.default.svc.cluster.local\n  exportTo: [other]\n",
    );
    let (c, _) = reviews_with(&root);
    assert_eq!(
        config_of(&c),
        "/apis/networking.istio.io/v1/namespaces/istio-system/destination-rule/root"
    );
    assert_eq!(c["lbPolicy"], "RANDOM");
    let (c, _) = reviews_with(&format!("{root}{svc}{other}"));
    assert_eq!(
        config_of(&c),
        "/apis/networking.istio.io/v1/namespaces/default/destination-rule/svc"
    );
    assert!(
        c.get("lbPolicy").is_none(),
        "ROUND_ROBIN is the proto default"
    );
    // a rule exported only to another namespace does not apply here
    let (c, _) = reviews_with(&other);
    assert!(
        c["metadata"]["filterMetadata"]["istio"]
            .get("config")
            .is_none()
    );
}

#[test]
fn workload_selector_rules_win_for_selected_proxies() {
    let plain = dr(
        "default",
        "a-plain",
        "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n",
    );
    let selected = dr(
        "default",
        "b-pp",
        "  host: reviews\n  workloadSelector: {matchLabels: {app: productpage}}\n  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\n",
    );
    let (c, _) = reviews_with(&format!("{plain}{selected}"));
    assert_eq!(
        config_of(&c),
        "/apis/networking.istio.io/v1/namespaces/default/destination-rule/b-pp"
    );
    let snap = snapshot(&format!("{BOOKINFO}{plain}{selected}"));
    let other = sidecar("10.0.9.9", "default", json!({"app": "other"}));
    assert_eq!(cluster_json(&snap, &other, REVIEWS)["lbPolicy"], "RANDOM");
}

#[test]
fn subsets_and_merged_rules() {
    let a = dr(
        "default",
        "a",
        "  host: reviews\n  subsets: [{name: v1, labels: {version: v1}}]\n",
    );
    let b = dr(
        "default",
        "b",
        "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n  subsets:\n  - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}\n",
    );
    let snap = snapshot(&format!("{BOOKINFO}{a}{b}"));
    let p = productpage();
    let all = names(&snap, &p);
    assert!(all.contains(&"outbound|9080|v1|reviews.default.svc.cluster.local".to_string()));
    let v2 = cluster_json(
        &snap,
        &p,
        "outbound|9080|v2|reviews.default.svc.cluster.local",
    );
    assert!(v2.get("lbPolicy").is_none(), "subset ROUND_ROBIN overrides");
    let istio = &v2["metadata"]["filterMetadata"]["istio"];
    assert_eq!(istio["subset"], "v2");
    assert_eq!(
        istio["config"],
        "/apis/networking.istio.io/v1/namespaces/default/destination-rule/a"
    );
    assert_eq!(
        v2["transportSocketMatches"][0]["transportSocket"]["typedConfig"]["sni"],
        "outbound_.9080_.v2_.reviews.default.svc.cluster.local"
    );
    let v1 = cluster_json(
        &snap,
        &p,
        "outbound|9080|v1|reviews.default.svc.cluster.local",
    );
    assert_eq!(
        v1["lbPolicy"], "RANDOM",
        "the second rule's policy fills the first's gap"
    );
}

#[test]
fn connection_pool() {
    let spec = r#"  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100, connectTimeout: 3s, tcpKeepalive: {probes: 3, time: 7200s, interval: 75s}}
      http: {http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRequestsPerConnection: 5, maxRetries: 2, idleTimeout: 30s, h2UpgradePolicy: UPGRADE}
"#;
    let (c, _) = reviews_with(&dr("default", "pool", spec));
    assert_eq!(c["connectTimeout"], "3s");
    assert_eq!(
        c["circuitBreakers"]["thresholds"][0],
        json!({"maxConnections": 100, "maxPendingRequests": 10, "maxRequests": 1000, "maxRetries": 2})
    );
    assert_eq!(
        c["upstreamConnectionOptions"]["tcpKeepalive"],
        json!({"keepaliveProbes": 3, "keepaliveTime": 7200, "keepaliveInterval": 75})
    );
    let opts = &c["typedExtensionProtocolOptions"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert_eq!(
        opts["commonHttpProtocolOptions"],
        json!({"idleTimeout": "30s", "maxRequestsPerConnection": 5})
    );
    assert_eq!(
        opts["explicitHttpConfig"],
        json!({"http2ProtocolOptions": {}}),
        "h2UpgradePolicy UPGRADE"
    );
    let alpn = &c["transportSocketMatches"][0]["transportSocket"]["typedConfig"]["commonTlsContext"]
        ["alpnProtocols"];
    assert_eq!(alpn, &json!(["istio-peer-exchange", "istio", "h2"]));
}

#[test]
fn outlier_detection_and_locality() {
    let spec = r#"  host: reviews
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 7, consecutiveGatewayErrors: 0, interval: 5m, baseEjectionTime: 15m, maxEjectionPercent: 50, minHealthPercent: 30}
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting: {failover: [{from: r1, to: r2}]}
"#;
    let (c, _) = reviews_with(&dr("default", "od", spec));
    assert_eq!(
        c["outlierDetection"],
        json!({"consecutive5xx": 7, "interval": "300s", "baseEjectionTime": "900s", "maxEjectionPercent": 50, "enforcingConsecutive5xx": 100, "enforcingSuccessRate": 0, "consecutiveGatewayFailure": 0, "enforcingConsecutiveGatewayFailure": 0})
    );
    assert_eq!(
        c["commonLbConfig"],
        json!({"healthyPanicThreshold": {"value": 30.0}, "localityWeightedLbConfig": {}})
    );
}

#[test]
fn load_balancers() {
    let cases = [
        (
            "{simple: LEAST_REQUEST}",
            json!("LEAST_REQUEST"),
            Value::Null,
        ),
        ("{simple: RANDOM}", json!("RANDOM"), Value::Null),
        (
            "{consistentHash: {httpHeaderName: x-user}}",
            json!("RING_HASH"),
            json!({"minimumRingSize": "1024"}),
        ),
        (
            "{consistentHash: {useSourceIp: true, ringHash: {minimumRingSize: 64}}}",
            json!("RING_HASH"),
            json!({"minimumRingSize": "64"}),
        ),
        (
            "{consistentHash: {httpCookie: {name: c, ttl: 0s}, maglev: {tableSize: 65537}}}",
            json!("MAGLEV"),
            Value::Null,
        ),
        (
            "{simple: ROUND_ROBIN, warmupDurationSecs: 60s}",
            Value::Null,
            Value::Null,
        ),
    ];
    for (lb, policy, ring) in cases {
        let (c, _) = reviews_with(&dr(
            "default",
            "lb",
            &format!("  host: reviews\n  trafficPolicy: {{loadBalancer: {lb}}}\n"),
        ));
        assert_eq!(
            c.get("lbPolicy").cloned().unwrap_or(Value::Null),
            policy,
            "{lb}"
        );
        assert_eq!(
            c.get("ringHashLbConfig").cloned().unwrap_or(Value::Null),
            ring,
            "{lb}"
        );
    }
    let (c, _) = reviews_with(&dr(
        "default",
        "lb",
        "  host: reviews\n  trafficPolicy: {loadBalancer: {consistentHash: {maglev: {tableSize: 65537}}}}\n",
    ));
    assert_eq!(c["maglevLbConfig"]["tableSize"], "65537");
    let (c, _) = reviews_with(&dr(
        "default",
        "lb",
        "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 60s}}\n",
    ));
    assert_eq!(
        c["roundRobinLbConfig"]["slowStartConfig"]["slowStartWindow"],
        "60s"
    );
    let (c, _) = reviews_with(&dr(
        "default",
        "lb",
        "  host: reviews\n  trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}\n",
    ));
    assert_eq!(
        (c["type"].clone(), c["lbPolicy"].clone()),
        (json!("ORIGINAL_DST"), json!("CLUSTER_PROVIDED"))
    );
    assert!(
        c.get("transportSocketMatches").is_none() && c.get("transportSocket").is_none(),
        "not all endpoints have a sidecar"
    );
}

#[test]
fn tls_modes() {
    let tls = |t: &str| {
        dr(
            "default",
            "tls",
            &format!("  host: reviews\n  trafficPolicy: {{tls: {t}}}\n"),
        )
    };
    let (c, _) = reviews_with(&tls("{mode: DISABLE}"));
    assert!(c.get("transportSocket").is_none() && c.get("transportSocketMatches").is_none());

    let (c, _) = reviews_with(&tls("{mode: ISTIO_MUTUAL, sni: custom.sni}"));
    assert!(
        c.get("transportSocketMatches").is_none(),
        "an explicit ISTIO_MUTUAL is not auto-mTLS"
    );
    let ctx = &c["transportSocket"]["typedConfig"];
    assert_eq!(ctx["sni"], "custom.sni");
    assert_eq!(
        ctx["commonTlsContext"]["tlsCertificateSdsSecretConfigs"][0]["name"],
        "default"
    );

    let (c, _) = reviews_with(&tls(
        "{mode: SIMPLE, sni: reviews.example.com, subjectAltNames: [reviews.example.com]}",
    ));
    let ctx = &c["transportSocket"]["typedConfig"];
    assert_eq!(ctx["sni"], "reviews.example.com");
    let v = &ctx["commonTlsContext"]["combinedValidationContext"];
    assert_eq!(
        v["validationContextSdsSecretConfig"]["name"],
        "file-root:system"
    );
    assert_eq!(
        v["defaultValidationContext"]["matchSubjectAltNames"],
        json!([{"exact": "reviews.example.com"}])
    );
    assert_eq!(
        c["metadata"]["filterMetadata"]["istio"]["alpn_override"],
        "false"
    );

    let (c, _) = reviews_with(&tls(
        "{mode: MUTUAL, clientCertificate: /etc/c.pem, privateKey: /etc/k.pem, caCertificates: /etc/ca.pem}",
    ));
    let ctx = &c["transportSocket"]["typedConfig"]["commonTlsContext"];
    assert_eq!(
        ctx["tlsCertificateSdsSecretConfigs"][0]["name"],
        "file-cert:/etc/c.pem~/etc/k.pem"
    );
    assert_eq!(
        ctx["combinedValidationContext"]["validationContextSdsSecretConfig"]["name"],
        "file-root:/etc/ca.pem"
    );
    let opts = &c["typedExtensionProtocolOptions"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert_eq!(
        opts["upstreamHttpProtocolOptions"],
        json!({"autoSni": true, "autoSanValidation": true})
    );

    // a credentialName without a workload selector is not honoured for sidecars
    let (c, _) = reviews_with(&tls("{mode: SIMPLE, credentialName: reviews-cred}"));
    assert!(c.get("transportSocket").is_none());
}

#[test]
fn port_level_settings_replace_the_top_level() {
    let spec = r#"  host: productpage
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    tls: {mode: DISABLE}
    portLevelSettings:
    - port: {number: 9443}
      connectionPool: {tcp: {maxConnections: 5}}
"#;
    let snap = snapshot(&format!("{BOOKINFO}{}", dr("default", "pp", spec)));
    let p = productpage();
    let http = cluster_json(
        &snap,
        &p,
        "outbound|9080||productpage.default.svc.cluster.local",
    );
    assert_eq!(http["lbPolicy"], "RANDOM");
    assert!(http.get("transportSocketMatches").is_none());
    let tcp = cluster_json(
        &snap,
        &p,
        "outbound|9443||productpage.default.svc.cluster.local",
    );
    assert_eq!(tcp["lbPolicy"], "LEAST_REQUEST");
    assert_eq!(tcp["circuitBreakers"]["thresholds"][0]["maxConnections"], 5);
    assert!(
        tcp.get("transportSocketMatches").is_some(),
        "auto-mTLS again on the port"
    );
    // the inbound cluster takes the rule's connection pool for the port
    let inbound = cluster_json(&snap, &p, "inbound|9444||");
    assert_eq!(
        inbound["circuitBreakers"]["thresholds"][0]["maxConnections"],
        5
    );
}
