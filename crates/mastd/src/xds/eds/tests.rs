//! EDS: endpoints, subsets, metadata, health, localities, mTLS marking.

use serde_json::{Value, json};

use super::parse_cluster_name;
use crate::xds::cds::testkit::*;

const REVIEWS: &str = "outbound|9080||reviews.default.svc.cluster.local";

fn addresses(la: &Value) -> Vec<String> {
    la["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["lbEndpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            e["endpoint"]["address"]["socketAddress"]["address"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn cluster_names_parse() {
    assert_eq!(
        parse_cluster_name("outbound|9080|v1|reviews.default.svc.cluster.local"),
        Some((9080, "v1", "reviews.default.svc.cluster.local"))
    );
    assert_eq!(
        parse_cluster_name("outbound|80||a.b"),
        Some((80, "", "a.b"))
    );
    assert_eq!(parse_cluster_name("inbound|80||"), None);
    assert_eq!(parse_cluster_name("outbound|x||a"), None);
}

#[test]
fn endpoints_metadata_and_health() {
    let snap = snapshot(BOOKINFO);
    let la = assignment_json(&snap, &productpage(), REVIEWS);
    assert_eq!(la["clusterName"], REVIEWS);
    assert_eq!(addresses(&la), vec!["10.0.1.1", "10.0.1.2", "10.0.1.3"]);
    let eps = &la["endpoints"][0]["lbEndpoints"];
    assert_eq!(la["endpoints"][0]["loadBalancingWeight"], 3);
    assert_eq!(eps[0]["healthStatus"], "HEALTHY");
    assert_eq!(eps[0]["loadBalancingWeight"], 1);
    assert_eq!(
        eps[0]["endpoint"]["address"]["socketAddress"]["portValue"],
        9080
    );
    assert_eq!(
        eps[0]["metadata"]["filterMetadata"],
        json!({"envoy.transport_socket_match": {"tlsMode": "istio"}, "istio": {"workload": "reviews-v1;default;reviews;v1;Kubernetes"}})
    );
    // reviews-v3 has no sidecar: no mTLS marking
    assert_eq!(
        eps[2]["metadata"]["filterMetadata"],
        json!({"istio": {"workload": "reviews-v3;default;reviews;v3;Kubernetes"}})
    );
    // target ports
    let ratings = assignment_json(
        &snap,
        &productpage(),
        "outbound|9090||ratings.default.svc.cluster.local",
    );
    assert_eq!(
        ratings["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]["portValue"],
        9091
    );
}

#[test]
fn unknown_clusters_are_empty() {
    let snap = snapshot(BOOKINFO);
    for name in [
        "outbound|9080||nope.default.svc.cluster.local",
        "outbound|1||reviews.default.svc.cluster.local",
        "inbound|9080||",
    ] {
        assert_eq!(
            assignment_json(&snap, &productpage(), name),
            json!({"@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment", "clusterName": name})
        );
    }
    // without names: every EDS cluster of the proxy's CDS
    let all = super::generate(&snap, &productpage(), &[]);
    let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
    assert!(names.contains(&REVIEWS) && !names.iter().any(|n| n.starts_with("inbound")));
}

const SUBSETS: &str = r#"---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v3, labels: {version: v3}, trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}}
  - {name: plain, labels: {app: reviews}, trafficPolicy: {tls: {mode: DISABLE}}}
"#;

#[test]
fn subsets_filter_and_set_tls_marking() {
    let snap = snapshot(&format!("{BOOKINFO}{SUBSETS}"));
    let p = productpage();
    let v1 = assignment_json(
        &snap,
        &p,
        "outbound|9080|v1|reviews.default.svc.cluster.local",
    );
    assert_eq!(addresses(&v1), vec!["10.0.1.1"]);
    // ISTIO_MUTUAL marks only endpoints with a sidecar
    let v3 = assignment_json(
        &snap,
        &p,
        "outbound|9080|v3|reviews.default.svc.cluster.local",
    );
    assert_eq!(addresses(&v3), vec!["10.0.1.3"]);
    assert!(
        v3["endpoints"][0]["lbEndpoints"][0]["metadata"]["filterMetadata"]
            .get("envoy.transport_socket_match")
            .is_none()
    );
    let plain = assignment_json(
        &snap,
        &p,
        "outbound|9080|plain|reviews.default.svc.cluster.local",
    );
    assert_eq!(addresses(&plain).len(), 3);
    assert!(
        plain["endpoints"][0]["lbEndpoints"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["metadata"]["filterMetadata"]
                .get("envoy.transport_socket_match")
                .is_none())
    );
}

#[test]
fn peer_authentication_disable_on_a_workload_port() {
    let pa = r#"---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: v2-plain}
spec:
  selector: {matchLabels: {version: v2}}
  mtls: {mode: STRICT}
  portLevelMtls: {"9080": {mode: DISABLE}}
"#;
    let snap = snapshot(&format!("{BOOKINFO}{pa}"));
    let la = assignment_json(&snap, &productpage(), REVIEWS);
    let marked: Vec<bool> = la["endpoints"][0]["lbEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["metadata"]["filterMetadata"]
                .get("envoy.transport_socket_match")
                .is_some()
        })
        .collect();
    assert_eq!(marked, vec![true, false, false]);
}

const ZONED: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: api}
spec: {clusterIP: 10.96.1.1, selector: {app: api}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client, topology.istio.io/locality: r1.z1}}
spec: {containers: [{name: c}]}
status: {podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: api-b, labels: {app: api, topology.istio.io/locality: r2.z1}}
spec: {containers: [{name: c}]}
status: {podIP: 10.2.0.1, conditions: [{type: Ready, status: "False"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-a, labels: {app: api, topology.istio.io/locality: r1.z1}}
spec: {containers: [{name: c}]}
status: {podIP: 10.1.0.2}
"#;

#[test]
fn localities_priorities_and_unhealthy_endpoints() {
    let client = sidecar("10.1.0.1", "default", json!({"app": "client"}));
    let name = "outbound|80||api.default.svc.cluster.local";
    let la = assignment_json(&snapshot(ZONED), &client, name);
    let groups: Vec<(Value, Value)> = la["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["locality"].clone(),
                g.get("priority").cloned().unwrap_or(json!(0)),
            )
        })
        .collect();
    assert_eq!(
        groups,
        vec![
            (json!({"region": "r1", "zone": "z1"}), json!(0)),
            (json!({"region": "r2", "zone": "z1"}), json!(0))
        ]
    );
    assert_eq!(
        la["endpoints"][1]["lbEndpoints"][0]["healthStatus"],
        "UNHEALTHY"
    );

    // with outlier detection, farther localities fail over; minHealthPercent drops unhealthy ones
    let dr = |od: &str| {
        format!(
            "{ZONED}---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: api}}\nspec: {{host: api, trafficPolicy: {{outlierDetection: {od}}}}}\n"
        )
    };
    let la = assignment_json(&snapshot(&dr("{consecutive5xxErrors: 1}")), &client, name);
    assert_eq!(la["endpoints"][1]["priority"], 1);
    let la = assignment_json(
        &snapshot(&dr("{consecutive5xxErrors: 1, minHealthPercent: 50}")),
        &client,
        name,
    );
    assert_eq!(addresses(&la), vec!["10.1.0.2"]);
}
