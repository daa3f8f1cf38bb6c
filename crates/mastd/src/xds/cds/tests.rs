//! CDS shape: names, types, defaults, auto-mTLS, inbound and fixed clusters, ServiceEntries,
//! Sidecar scoping.

use serde_json::json;

use super::testkit::*;
use crate::model::MeshSettings;

const REVIEWS: &str = "outbound|9080||reviews.default.svc.cluster.local";
const RATINGS: &str = "outbound|9090||ratings.default.svc.cluster.local";

#[test]
fn cluster_names_and_order() {
    let snap = snapshot(BOOKINFO);
    assert_eq!(
        names(&snap, &productpage()),
        vec![
            "outbound|9080||productpage.default.svc.cluster.local",
            "outbound|9443||productpage.default.svc.cluster.local",
            RATINGS,
            REVIEWS,
            "BlackHoleCluster",
            "PassthroughCluster",
            "inbound|9080||",
            "inbound|9444||",
            "InboundPassthroughCluster",
        ]
    );
    // a gateway has neither passthrough nor inbound clusters
    let gw = names(&snap, &router("10.9.9.9", "istio-system"));
    assert_eq!(gw.last().map(String::as_str), Some("BlackHoleCluster"));
    assert!(
        !gw.iter()
            .any(|n| n.contains("Passthrough") || n.starts_with("inbound"))
    );
}

#[test]
fn eds_cluster_defaults() {
    let snap = snapshot(BOOKINFO);
    let c = cluster_json(&snap, &productpage(), REVIEWS);
    assert_eq!(c["type"], "EDS");
    assert_eq!(c["edsClusterConfig"]["serviceName"], REVIEWS);
    assert_eq!(
        c["edsClusterConfig"]["edsConfig"],
        json!({"ads": {}, "initialFetchTimeout": "0s", "resourceApiVersion": "V3"})
    );
    assert_eq!(c["connectTimeout"], "10s");
    assert_eq!(c["lbPolicy"], "LEAST_REQUEST");
    assert_eq!(c["altStatName"], format!("{REVIEWS};"));
    assert_eq!(c["commonLbConfig"], json!({"healthyPanicThreshold": {}}));
    let t = &c["circuitBreakers"]["thresholds"][0];
    for k in [
        "maxConnections",
        "maxPendingRequests",
        "maxRequests",
        "maxRetries",
    ] {
        assert_eq!(t[k], u64::from(u32::MAX), "{k}");
    }
    assert_eq!(
        c["metadata"]["filterMetadata"]["istio"],
        json!({"services": [{"host": "reviews.default.svc.cluster.local", "name": "reviews", "namespace": "default"}]})
    );
    assert!(
        c.get("typedExtensionProtocolOptions").is_none(),
        "HTTP/1 port: no protocol options"
    );
}

#[test]
fn auto_mtls_transport_socket_matches() {
    let snap = snapshot(BOOKINFO);
    let c = cluster_json(&snap, &productpage(), REVIEWS);
    assert!(c.get("transportSocket").is_none());
    let m = &c["transportSocketMatches"];
    assert_eq!(m[0]["name"], "tlsMode-istio");
    assert_eq!(m[0]["match"], json!({"tlsMode": "istio"}));
    let tls = &m[0]["transportSocket"]["typedConfig"];
    assert_eq!(
        tls["sni"],
        "outbound_.9080_._.reviews.default.svc.cluster.local"
    );
    let common = &tls["commonTlsContext"];
    assert_eq!(
        common["alpnProtocols"],
        json!(["istio-peer-exchange", "istio"])
    );
    assert_eq!(
        common["combinedValidationContext"]["defaultValidationContext"]["matchSubjectAltNames"],
        json!([{"exact": "spiffe://cluster.local/ns/default/sa/reviews"}])
    );
    assert_eq!(
        m[1],
        json!({"name": "tlsMode-disabled", "match": {}, "transportSocket": {"name": "envoy.transport_sockets.raw_buffer", "typedConfig": {"@type": "type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}})
    );

    // mesh auto-mTLS off, or a namespace PeerAuthentication DISABLE: plaintext
    let off = snapshot_with(
        BOOKINFO,
        MeshSettings {
            auto_mtls: false,
            ..Default::default()
        },
    );
    let c = cluster_json(&off, &productpage(), REVIEWS);
    assert!(c.get("transportSocketMatches").is_none() && c.get("transportSocket").is_none());
    let pa = format!(
        "{BOOKINFO}---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {{name: plaintext}}\nspec: {{mtls: {{mode: DISABLE}}}}\n"
    );
    let c = cluster_json(&snapshot(&pa), &productpage(), REVIEWS);
    assert!(c.get("transportSocketMatches").is_none());
}

#[test]
fn http2_ports() {
    let snap = snapshot(BOOKINFO);
    let c = cluster_json(&snap, &productpage(), RATINGS);
    let opts = &c["typedExtensionProtocolOptions"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert_eq!(
        opts["explicitHttpConfig"],
        json!({"http2ProtocolOptions": {}})
    );
    let tls = &c["transportSocketMatches"][0]["transportSocket"]["typedConfig"]["commonTlsContext"];
    assert_eq!(
        tls["alpnProtocols"],
        json!(["istio-peer-exchange", "istio", "h2"])
    );
}

#[test]
fn unnamed_ports_use_the_downstream_protocol() {
    let yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {clusterIP: 10.1.1.1, ports: [{port: 8000}]}\n";
    let c = cluster_json(
        &snapshot(yaml),
        &productpage(),
        "outbound|8000||web.default.svc.cluster.local",
    );
    let opts = &c["typedExtensionProtocolOptions"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert_eq!(
        opts["useDownstreamProtocolConfig"],
        json!({"httpProtocolOptions": {}, "http2ProtocolOptions": {}})
    );
}

#[test]
fn inbound_clusters_are_static_to_localhost() {
    let snap = snapshot(BOOKINFO);
    let c = cluster_json(&snap, &productpage(), "inbound|9444||");
    assert_eq!(c["type"], "STATIC");
    assert_eq!(c["loadAssignment"]["clusterName"], "inbound|9444||");
    assert_eq!(
        c["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"],
        json!({"address": "127.0.0.1", "portValue": 9444})
    );
    assert_eq!(
        c["metadata"]["filterMetadata"]["istio"]["services"][0]["name"],
        "productpage"
    );
    assert!(
        c.get("lbPolicy").is_none()
            && c.get("transportSocket").is_none()
            && c.get("upstreamBindConfig").is_none()
    );
    assert_eq!(c["connectTimeout"], "10s");

    // a Sidecar ingress listener decides instead
    let yaml = format!(
        "{BOOKINFO}---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: pp}}\nspec:\n  workloadSelector: {{labels: {{app: productpage}}}}\n  ingress:\n  - port: {{number: 9080, protocol: HTTP, name: http}}\n    defaultEndpoint: 0.0.0.0:8080\n"
    );
    let snap = snapshot(&yaml);
    let names = names(&snap, &productpage());
    assert!(
        names.contains(&"inbound|9080||".to_string())
            && !names.contains(&"inbound|9444||".to_string())
    );
    let c = cluster_json(&snap, &productpage(), "inbound|9080||");
    assert_eq!(
        c["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"],
        json!({"address": "10.0.0.1", "portValue": 8080})
    );
    assert_eq!(
        c["upstreamBindConfig"]["sourceAddress"]["address"],
        "127.0.0.6"
    );
}

#[test]
fn fixed_clusters() {
    let snap = snapshot(BOOKINFO);
    let p = productpage();
    let bh = cluster_json(&snap, &p, "BlackHoleCluster");
    assert_eq!(
        bh,
        json!({"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": "BlackHoleCluster", "type": "STATIC", "connectTimeout": "10s", "altStatName": "BlackHoleCluster;"})
    );
    let pt = cluster_json(&snap, &p, "PassthroughCluster");
    assert_eq!(pt["type"], "ORIGINAL_DST");
    assert_eq!(pt["lbPolicy"], "CLUSTER_PROVIDED");
    let opts = &pt["typedExtensionProtocolOptions"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"];
    assert_eq!(opts["commonHttpProtocolOptions"]["idleTimeout"], "300s");
    let ip = cluster_json(&snap, &p, "InboundPassthroughCluster");
    assert_eq!(
        ip["upstreamBindConfig"]["sourceAddress"],
        json!({"address": "127.0.0.6", "portValue": 0})
    );
    assert_eq!(ip["altStatName"], "PassthroughCluster;");
}

const ENTRIES: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  subjectAltNames: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.internal]
  addresses: [10.50.0.0/16]
  location: MESH_INTERNAL
  resolution: NONE
  ports: [{number: 5432, name: tcp, protocol: TCP, targetPort: 6432}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm}
spec:
  hosts: [vm.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: vm}}
  ports: [{number: 80, name: http, protocol: HTTP}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1}
spec: {address: 1.2.3.4, labels: {app: vm}, serviceAccount: vm-sa}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: rr}
spec:
  hosts: [rr.example.com]
  resolution: DNS_ROUND_ROBIN
  ports: [{number: 80, name: http, protocol: HTTP}]
"#;

#[test]
fn service_entry_cluster_types() {
    let snap = snapshot(ENTRIES);
    let p = productpage();
    let ext = cluster_json(&snap, &p, "outbound|443||api.example.com");
    assert_eq!(ext["type"], "STRICT_DNS");
    assert_eq!(ext["dnsLookupFamily"], "V4_ONLY");
    assert_eq!(ext["respectDnsTtl"], true);
    assert_eq!(
        ext["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]["socketAddress"]
            ["address"],
        "api.example.com"
    );
    assert_eq!(ext["metadata"]["filterMetadata"]["istio"]["external"], true);
    assert!(
        ext.get("transportSocketMatches").is_none(),
        "no auto-mTLS to mesh-external services"
    );

    let db = cluster_json(&snap, &p, "outbound|5432||db.internal");
    assert_eq!(db["type"], "ORIGINAL_DST");
    assert_eq!(db["lbPolicy"], "CLUSTER_PROVIDED");
    assert_eq!(db["originalDstLbConfig"]["upstreamPortOverride"], 6432);
    assert!(
        db.get("transportSocketMatches").is_none(),
        "passthrough without endpoints: no mTLS"
    );

    let vm = cluster_json(&snap, &p, "outbound|80||vm.internal");
    assert_eq!(vm["type"], "EDS");
    let sans = &vm["transportSocketMatches"][0]["transportSocket"]["typedConfig"]["commonTlsContext"]
        ["combinedValidationContext"]["defaultValidationContext"]["matchSubjectAltNames"];
    assert_eq!(
        sans,
        &json!([{"exact": "spiffe://cluster.local/ns/default/sa/vm-sa"}])
    );

    let rr = cluster_json(&snap, &p, "outbound|80||rr.example.com");
    assert_eq!(rr["type"], "LOGICAL_DNS");
}

#[test]
fn sidecar_egress_scoping() {
    let yaml = format!(
        "{BOOKINFO}{ENTRIES}---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: default, namespace: istio-system}}\nspec:\n  egress:\n  - hosts: [\"./reviews.default.svc.cluster.local\", \"*/*.example.com\", \"~/rr.example.com\"]\n"
    );
    let snap = snapshot(&yaml);
    let outbound: Vec<String> = names(&snap, &productpage())
        .into_iter()
        .filter(|n| n.starts_with("outbound"))
        .collect();
    assert_eq!(outbound, vec!["outbound|443||api.example.com", REVIEWS]);

    // a port on the egress listener keeps only that port of imported services
    let yaml = format!(
        "{BOOKINFO}---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: pp}}\nspec:\n  egress:\n  - port: {{number: 9443, protocol: TCP, name: tcp}}\n    hosts: [\"./*\"]\n"
    );
    let snap = snapshot(&yaml);
    let outbound: Vec<String> = names(&snap, &productpage())
        .into_iter()
        .filter(|n| n.starts_with("outbound"))
        .collect();
    assert_eq!(
        outbound,
        vec!["outbound|9443||productpage.default.svc.cluster.local"]
    );
}
