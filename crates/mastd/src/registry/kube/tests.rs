use super::*;
use crate::registry::Registry;

fn registry(yaml: &str) -> Registry {
    let mut l = mast_config::Loaded::default();
    l.add_str("t.yaml", yaml);
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    Registry::build(&l.resources, &MeshSettings::default())
}

const SVC: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  clusterIP: 10.0.0.7
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: web}
  - {name: grpc-api, port: 7070, targetPort: 7071}
  - {name: dns, port: 53, protocol: UDP}
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v1-abc-xyz
  namespace: bookinfo
  labels: {app: reviews, version: v1, pod-template-hash: abc, istio-locality: us-east.zone-a}
  ownerReferences: [{kind: ReplicaSet, name: reviews-v1-abc, controller: true}]
spec:
  serviceAccountName: bookinfo-reviews
  containers:
  - name: reviews
    ports: [{name: web, containerPort: 9081}]
  - name: istio-proxy
status:
  podIP: 10.1.0.1
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v2
  namespace: bookinfo
  labels: {app: reviews, version: v2, security.istio.io/tlsMode: disabled}
spec:
  containers: [{name: reviews, ports: [{name: web, containerPort: 9082}]}]
status:
  podIP: 10.1.0.2
  conditions: [{type: Ready, status: "False"}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: bookinfo, labels: {app: ratings}}
spec: {containers: [{name: ratings}]}
status: {podIP: 10.1.0.3}
"#;

#[test]
fn service_from_selected_pods() {
    let r = registry(SVC);
    assert_eq!(r.services.len(), 1);
    let s = &r.services[0];
    assert_eq!(s.hostname, "reviews.bookinfo.svc.cluster.local");
    assert_eq!(s.addresses, vec!["10.0.0.7"]);
    assert_eq!(s.resolution, Resolution::ClientSideLb);
    assert_eq!(s.origin, "Service bookinfo/reviews");
    let protos: Vec<_> = s.ports.iter().map(|p| (p.port, p.protocol)).collect();
    assert_eq!(
        protos,
        vec![
            (9080, Protocol::Http),
            (7070, Protocol::Grpc),
            (53, Protocol::Udp)
        ]
    );

    let http = r.endpoints_of(s, 9080);
    assert_eq!(http.len(), 2, "{http:?}");
    let v1 = &http[0];
    assert_eq!(
        (v1.address.as_str(), v1.port, v1.service_port),
        ("10.1.0.1", 9081, 9080)
    );
    assert_eq!(
        v1.identity,
        "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-reviews"
    );
    assert_eq!(v1.locality, "us-east/zone-a");
    assert_eq!(v1.workload, "reviews-v1");
    assert!(v1.has_proxy && v1.healthy);
    assert_eq!(
        v1.labels
            .get("topology.kubernetes.io/zone")
            .map(String::as_str),
        Some("zone-a")
    );
    let v2 = &http[1];
    assert_eq!((v2.port, v2.has_proxy, v2.healthy), (9082, false, false));
    assert_eq!(v2.identity, "spiffe://cluster.local/ns/bookinfo/sa/default");
    assert_eq!(v2.workload, "reviews-v2");

    let grpc = r.endpoints_of(s, 7070);
    assert!(grpc.iter().all(|e| e.port == 7071));
    assert_eq!(r.workloads.len(), 3);
}

#[test]
fn endpoint_slices_win_over_endpoints_and_selector() {
    let yaml = format!(
        "{SVC}---\n{}",
        r#"apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: bookinfo, labels: {kubernetes.io/service-name: reviews}}
ports: [{name: http, port: 9999}]
endpoints:
- addresses: [10.1.0.1]
  targetRef: {kind: Pod, name: reviews-v1-abc-xyz}
- addresses: [10.9.9.9]
  conditions: {ready: false}
- addresses: [10.9.9.8]
  conditions: {terminating: true}
---
apiVersion: v1
kind: Endpoints
metadata: {name: reviews, namespace: bookinfo}
subsets: [{addresses: [{ip: 10.7.7.7}], ports: [{name: http, port: 1}]}]
"#
    );
    let r = registry(&yaml);
    let eps = r.endpoints_of(&r.services[0], 9080);
    let got: Vec<_> = eps
        .iter()
        .map(|e| (e.address.as_str(), e.port, e.healthy, e.has_proxy))
        .collect();
    assert_eq!(
        got,
        vec![
            ("10.1.0.1", 9999, true, true),
            ("10.9.9.9", 9999, false, false)
        ]
    );
}

#[test]
fn endpoints_object() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: db, namespace: ns}
spec: {clusterIP: None, ports: [{name: tcp, port: 5432}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: db, namespace: ns}
subsets:
- addresses: [{ip: 10.0.0.1}]
  notReadyAddresses: [{ip: 10.0.0.2}]
  ports: [{name: tcp, port: 5433}]
"#;
    let r = registry(yaml);
    let s = &r.services[0];
    assert_eq!(s.resolution, Resolution::Passthrough);
    assert!(s.addresses.is_empty());
    let got: Vec<_> = r
        .endpoints_of(s, 5432)
        .iter()
        .map(|e| (e.address.as_str(), e.port, e.healthy))
        .collect();
    assert_eq!(
        got,
        vec![("10.0.0.1", 5433, true), ("10.0.0.2", 5433, false)]
    );
}

#[test]
fn external_name_and_export_to() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: ns, annotations: {networking.istio.io/exportTo: "."}}
spec: {type: ExternalName, externalName: api.example.com, ports: [{name: https, port: 443}]}
"#;
    let r = registry(yaml);
    let s = &r.services[0];
    assert_eq!((s.resolution, s.mesh_external), (Resolution::Dns, true));
    assert_eq!(s.visibility, Visibility::Private);
    let eps = r.endpoints_of(s, 443);
    assert_eq!(
        (eps[0].address.as_str(), eps[0].port),
        ("api.example.com", 443)
    );
}

#[test]
fn protocols_as_istio_converts_them() {
    let cases = [
        (80, "http-web", "", None, Protocol::Http),
        (80, "grpc-web-x", "", None, Protocol::GrpcWeb),
        (80, "web", "", Some("http2"), Protocol::Http2),
        (80, "http", "", Some("kubernetes.io/h2c"), Protocol::Http2),
        (80, "http", "", Some("custom"), Protocol::Unsupported),
        (3306, "db", "", None, Protocol::Tcp),
        (9000, "db", "", None, Protocol::Unsupported),
        (53, "dns", "UDP", None, Protocol::Udp),
    ];
    for (port, name, proto, app, want) in cases {
        assert_eq!(
            convert_protocol(port, name, proto, app),
            want,
            "{port} {name} {app:?}"
        );
    }
}
