use super::*;
use crate::registry::Registry;

fn registry(yaml: &str) -> Registry {
    let mut l = mast_config::Loaded::default();
    l.add_str("t.yaml", yaml);
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    Registry::build(&l.resources, &MeshSettings::default())
}

fn ep_summary(r: &Registry, host: &str, port: u16) -> Vec<(String, u16, bool, String)> {
    let s = r
        .services
        .iter()
        .find(|s| s.hostname == host)
        .expect("service");
    r.endpoints_of(s, port)
        .iter()
        .map(|e| (e.address.clone(), e.port, e.has_proxy, e.identity.clone()))
        .collect()
}

#[test]
fn static_entry_with_inline_endpoints() {
    let r = registry(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vms, namespace: ns}
spec:
  hosts: [vm.example.internal, vm2.example.internal]
  addresses: [10.10.0.0/32]
  location: MESH_INTERNAL
  resolution: STATIC
  exportTo: [".", other]
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: 8080}
  - {number: 9000, name: tcp, protocol: TCP}
  endpoints:
  - {address: 1.1.1.1, ports: {http: 8888}, serviceAccount: vm-sa, locality: r1/z1, weight: 3}
  - {address: 2.2.2.2, labels: {security.istio.io/tlsMode: disabled}, serviceAccount: vm-sa}
"#,
    );
    assert_eq!(r.services.len(), 2);
    let s = &r.services[0];
    assert_eq!(s.hostname, "vm.example.internal");
    assert_eq!(s.addresses, vec!["10.10.0.0"]);
    assert_eq!(s.resolution, Resolution::ClientSideLb);
    assert!(!s.mesh_external);
    assert_eq!(
        s.visibility,
        Visibility::Namespaces(vec!["ns".into(), "other".into()])
    );
    assert_eq!(s.ports[0].protocol, Protocol::Http);
    let sa = "spiffe://cluster.local/ns/ns/sa/vm-sa".to_string();
    assert_eq!(
        ep_summary(&r, "vm.example.internal", 80),
        vec![
            ("1.1.1.1".into(), 8888, true, sa.clone()),
            ("2.2.2.2".into(), 8080, false, sa.clone())
        ]
    );
    assert_eq!(ep_summary(&r, "vm2.example.internal", 9000)[0].1, 9000);
    let e = &r.endpoints_of(s, 80)[0];
    assert_eq!(
        (e.weight, e.locality.as_str(), e.workload.as_str()),
        (3, "r1/z1", "vms-0")
    );
}

#[test]
fn dns_entry_without_endpoints_resolves_its_host() {
    let r = registry(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: google, namespace: default}
spec:
  hosts: [www.googleapis.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: https, protocol: HTTPS}]
"#,
    );
    let s = &r.services[0];
    assert_eq!((s.resolution, s.mesh_external), (Resolution::Dns, true));
    assert_eq!(
        ep_summary(&r, "www.googleapis.com", 443),
        vec![("www.googleapis.com".into(), 443, false, String::new())]
    );
}

#[test]
fn workload_selector_picks_entries_and_pods_of_its_namespace() {
    let r = registry(
        r#"
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: ns, labels: {app: api}}
spec: {address: 3.3.3.3, ports: {grpc: 7000}, serviceAccount: api}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-other, namespace: elsewhere}
spec: {address: 4.4.4.4, labels: {app: api}}
---
apiVersion: v1
kind: Pod
metadata: {name: api-pod, namespace: ns, labels: {app: api, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: api, containers: [{name: c}]}
status: {podIP: 10.0.0.5}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: ns}
spec:
  hosts: [api.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: api}}
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
"#,
    );
    let mut got = ep_summary(&r, "api.internal", 7070);
    got.sort();
    let sa = "spiffe://cluster.local/ns/ns/sa/api".to_string();
    assert_eq!(
        got,
        vec![
            ("10.0.0.5".into(), 7070, true, sa.clone()),
            ("3.3.3.3".into(), 7000, true, sa)
        ]
    );
    assert_eq!(r.workloads.len(), 3);
}

#[test]
fn kube_service_selects_workload_entries() {
    let r = registry(
        r#"
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: ns}
spec: {clusterIP: 10.0.0.9, selector: {app: ratings}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: ns}
spec: {address: 5.5.5.5, labels: {app: ratings, security.istio.io/tlsMode: istio}}
"#,
    );
    assert_eq!(
        ep_summary(&r, "ratings.ns.svc.cluster.local", 9080),
        vec![("5.5.5.5".into(), 9080, true, String::new())]
    );
}

#[test]
fn none_and_round_robin_resolutions() {
    let r = registry(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: ns}
spec:
  hosts: [a.example.com]
  addresses: [192.168.0.0/16]
  resolution: NONE
  ports: [{number: 5432, name: tcp, protocol: TCP}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: b, namespace: ns}
spec:
  hosts: [b.example.com]
  resolution: DNS_ROUND_ROBIN
  endpoints: [{address: lb.example.com}]
  ports: [{number: 80, name: http, protocol: HTTP}]
"#,
    );
    assert_eq!(r.services[0].resolution, Resolution::Passthrough);
    assert_eq!(r.services[0].addresses, vec!["192.168.0.0/16"]);
    assert!(r.endpoints_of(&r.services[0], 5432).is_empty());
    assert_eq!(r.services[1].resolution, Resolution::DnsRoundRobin);
    assert_eq!(
        ep_summary(&r, "b.example.com", 80),
        vec![("lb.example.com".into(), 80, false, String::new())]
    );
}

#[test]
fn workload_entry_health_from_status_when_checked() {
    let r = registry(
        r#"
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: a, namespace: ns, annotations: {proxy.istio.io/health-checks-enabled: "true"}}
spec: {address: 1.1.1.1, labels: {app: x}}
status: {conditions: [{type: Healthy, status: "False"}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: b, namespace: ns}
spec: {address: 2.2.2.2, labels: {app: x}}
"#,
    );
    let health: Vec<bool> = r.workloads.iter().map(|w| w.healthy).collect();
    assert_eq!(health, vec![false, true]);
}
