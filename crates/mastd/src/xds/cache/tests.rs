//! The cache serves each proxy exactly what generating from scratch gives it, and proxies
//! share entries exactly when they agree on the facts an entry depends on.

use std::sync::Arc;

use mast_xds::{Proxy, types};
use serde_json::{Map, Value, json};

use super::{ClassKey, Kind};
use crate::model::Snapshot;
use crate::xds::cds::testkit::{self, router, sidecar, snapshot};
use crate::xds::{NamedResource, generate, generate_uncached};

/// Services in `a` (one private to it, one with subsets, locality failover by a `zone`
/// label and a canary rule for workloads labelled `role: canary`, one failing over to
/// `tier=a` endpoints — for proxies with labels), an external DNS service,
/// a VirtualService routing by `team` source label, a Sidecar for workloads labelled
/// `sidecar: restricted`, namespace `b` locked down, and inbound policies selecting
/// `app: server`; another service failing over by the proxy's locality. `HEADLESS` adds a
/// headless service.
const MESH: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: a}
spec:
  hosts: [web.a.svc.cluster.local]
  addresses: [240.0.0.1]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  workloadSelector: {labels: {app: web}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: a}
spec:
  hosts: [api.a.svc.cluster.local]
  addresses: [240.0.0.2]
  exportTo: ["."]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9090, name: grpc, protocol: GRPC}, {number: 9443, name: tcp, protocol: TCP}]
  workloadSelector: {labels: {app: api}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: b}
spec:
  hosts: [ext.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
  endpoints: [{address: ext.example.com, locality: r1/z1/s1}]
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web-1, namespace: a}
spec: {address: 10.1.0.1, labels: {app: web, version: v1, zone: z1, security.istio.io/tlsMode: istio}, locality: r1/z1/s1, serviceAccount: web}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: web-2, namespace: a}
spec: {address: 10.1.0.2, labels: {app: web, version: v2, zone: z2, security.istio.io/tlsMode: istio}, locality: r1/z2/s1, serviceAccount: web}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-1, namespace: a}
spec: {address: 10.1.1.1, labels: {app: api}, locality: r2/z1/s1}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: api-2, namespace: a}
spec: {address: 10.1.1.2, labels: {app: api}, locality: r1/z1/s1}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: a}
spec:
  host: api.a.svc.cluster.local
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: located, namespace: a}
spec: {address: 10.9.9.9, labels: {app: located}, locality: r2/z9/s9}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: a}
spec:
  host: web.a.svc.cluster.local
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5}
    loadBalancer: {localityLbSetting: {failoverPriority: [zone]}}
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web-canary, namespace: a}
spec:
  host: web.a.svc.cluster.local
  workloadSelector: {matchLabels: {role: canary}}
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 7}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pay, namespace: a}
spec:
  hosts: [pay.a.svc.cluster.local]
  addresses: [240.0.0.3]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8081, name: http, protocol: HTTP}]
  workloadSelector: {labels: {svc: pay}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: pay-1, namespace: a}
spec: {address: 10.1.3.1, labels: {svc: pay, tier: a}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: pay-2, namespace: a}
spec: {address: 10.1.3.2, labels: {svc: pay, tier: b}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pay, namespace: a}
spec:
  host: pay.a.svc.cluster.local
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 5}
    loadBalancer: {localityLbSetting: {failoverPriority: ["tier=a"]}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: a}
spec:
  hosts: [web.a.svc.cluster.local]
  http:
  - match: [{sourceLabels: {team: red}}]
    route: [{destination: {host: web.a.svc.cluster.local, subset: v2}}]
  - route: [{destination: {host: web.a.svc.cluster.local, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: restricted, namespace: a}
spec:
  workloadSelector: {labels: {sidecar: restricted}}
  egress: [{hosts: [./web.a.svc.cluster.local]}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: b}
spec:
  egress: [{hosts: ["./*", "a/*"]}]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: server, namespace: a}
spec: {selector: {matchLabels: {app: server}}, mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: server, namespace: a}
spec: {selector: {matchLabels: {app: server}}, action: DENY, rules: [{from: [{source: {namespaces: [b]}}]}]}
"#;

const HEADLESS: &str = r#"
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: a}
spec:
  hosts: [db.a.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: NONE
  ports: [{number: 5432, name: tcp, protocol: TCP}]
  workloadSelector: {labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-1, namespace: a}
spec: {address: 10.1.2.1, labels: {app: db}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: db-2, namespace: a}
spec: {address: 10.9.0.2, labels: {app: db}}
"#;

fn with_meta(ip: &str, ns: &str, labels: Value, meta: Value) -> Proxy {
    let mut md = json!({"NAMESPACE": ns, "LABELS": labels});
    if let (Some(m), Value::Object(extra)) = (md.as_object_mut(), meta) {
        m.extend(extra);
    }
    Proxy::parse(
        &format!("sidecar~{ip}~pod.{ns}~{ns}.svc.cluster.local"),
        md.as_object().cloned().unwrap_or_default(),
    )
    .expect("proxy")
}

/// Proxies differing from `base` in one fact each.
fn proxies() -> Vec<(&'static str, Proxy)> {
    let base = json!({"app": "client", "pod": "x1"});
    vec![
        ("base", sidecar("10.9.0.1", "a", base.clone())),
        (
            "other IP and pod labels",
            sidecar("10.9.0.2", "a", json!({"app": "other", "pod": "x2"})),
        ),
        ("namespace b", sidecar("10.9.0.3", "b", base.clone())),
        ("namespace c", sidecar("10.9.0.15", "c", base.clone())),
        (
            "DNS domain",
            Proxy::parse(
                "sidecar~10.9.0.14~pod.a~a.svc.corp.example",
                json!({"NAMESPACE": "a", "LABELS": base.clone()})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
            .expect("proxy"),
        ),
        (
            "Sidecar selected",
            sidecar(
                "10.9.0.4",
                "a",
                json!({"app": "client", "sidecar": "restricted"}),
            ),
        ),
        (
            "canary DestinationRule selected",
            sidecar("10.9.0.5", "a", json!({"app": "client", "role": "canary"})),
        ),
        (
            "VirtualService source labels",
            sidecar("10.9.0.6", "a", json!({"app": "client", "team": "red"})),
        ),
        (
            "failover priority label",
            sidecar("10.9.0.7", "a", json!({"app": "client", "zone": "z2"})),
        ),
        ("locality", sidecar("10.9.9.9", "a", base.clone())),
        (
            "inbound policies selected",
            sidecar("10.9.0.8", "a", json!({"app": "server"})),
        ),
        ("no labels", sidecar("10.9.0.9", "a", json!({}))),
        ("IPv6", sidecar("fd00::1", "a", base.clone())),
        (
            "interception NONE",
            with_meta(
                "10.9.0.10",
                "a",
                base.clone(),
                json!({"INTERCEPTION_MODE": "NONE"}),
            ),
        ),
        (
            "TPROXY",
            with_meta(
                "10.9.0.11",
                "a",
                base.clone(),
                json!({"INTERCEPTION_MODE": "TPROXY"}),
            ),
        ),
        (
            "proxyless gRPC",
            with_meta("10.9.0.12", "a", base.clone(), json!({"GENERATOR": "grpc"})),
        ),
        (
            "serves web",
            sidecar(
                "10.1.0.1",
                "a",
                json!({"app": "web", "version": "v1", "zone": "z1"}),
            ),
        ),
        ("gateway", router("10.9.0.13", "a")),
    ]
}

/// JSON with object keys sorted (proto maps encode in hash order).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<(String, Value)> = o.into_iter().collect();
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                keys.into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        v => v,
    }
}

fn dump(list: &[Arc<NamedResource>]) -> Vec<(String, Value)> {
    list.iter()
        .map(|r| {
            (
                r.name.clone(),
                sorted(mast_xds::json::any_to_json(&r.resource)),
            )
        })
        .collect()
}

const TYPES: [&str; 4] = [
    types::CLUSTER,
    types::ENDPOINT,
    types::LISTENER,
    types::ROUTE,
];

/// The names a proxy could ask for of a named type: the wildcard, what its CDS and LDS
/// carry, and names it has no cluster or route for.
fn name_sets(snap: &Snapshot, proxy: &Proxy, type_url: &str) -> Vec<Vec<String>> {
    let mut named = match type_url {
        types::ENDPOINT => crate::xds::cds::eds_cluster_names(snap, proxy),
        types::ROUTE => crate::xds::lds::route_names(snap, proxy),
        _ => return vec![vec![]],
    };
    named.extend([
        "outbound|8080|v9|web.a.svc.cluster.local".to_string(),
        "outbound|443||ext.example.com".to_string(),
        "web.a.svc.cluster.local:8080".to_string(),
        "outbound|9090||api.a.svc.cluster.local".to_string(),
        "9090".to_string(),
    ]);
    vec![vec![], named]
}

/// Every proxy gets from the cache what generating from scratch gives it, whichever proxy
/// filled the entries it is served.
fn assert_cache_is_transparent(snap: &Snapshot, proxies: &[(&str, Proxy)]) {
    for (what, proxy) in proxies {
        for t in TYPES {
            for names in name_sets(snap, proxy, t) {
                let cached = dump(&generate(snap, proxy, t, &names).expect("cached"));
                let fresh = dump(&generate_uncached(snap, proxy, t, &names).expect("uncached"));
                let cached_names: Vec<&String> = cached.iter().map(|(n, _)| n).collect();
                let fresh_names: Vec<&String> = fresh.iter().map(|(n, _)| n).collect();
                assert_eq!(
                    cached_names, fresh_names,
                    "{what}: {t} {names:?}: names served from the cache differ"
                );
                for (c, f) in cached.iter().zip(&fresh) {
                    assert_eq!(
                        c.1, f.1,
                        "{what}: {t} {names:?}: {} served from the cache differs",
                        c.0
                    );
                }
            }
        }
    }
}

#[test]
fn cached_equals_uncached_for_every_fact() {
    let list = proxies();
    for yaml in [MESH.to_string(), format!("{MESH}{HEADLESS}")] {
        let snap = snapshot(&yaml);
        assert_cache_is_transparent(&snap, &list);
        // in the reverse order, other proxies fill the entries first
        let snap = snapshot(&yaml);
        let reversed: Vec<_> = list.iter().rev().cloned().collect();
        assert_cache_is_transparent(&snap, &reversed);
    }
}

#[test]
fn cached_equals_uncached_for_bookinfo_and_the_benchmark() {
    let snap = snapshot(testkit::BOOKINFO);
    let list = vec![
        ("productpage", testkit::productpage()),
        (
            "reviews",
            sidecar(
                "10.0.1.1",
                "default",
                json!({"app": "reviews", "version": "v1"}),
            ),
        ),
        (
            "client",
            sidecar("10.0.9.1", "default", json!({"app": "x"})),
        ),
    ];
    assert_cache_is_transparent(&snap, &list);
    let snap = crate::xds::bench_fixtures::bench_snapshot(30);
    let list: Vec<_> = (0..3)
        .map(|k| ("bench", crate::xds::bench_fixtures::bench_proxy(k)))
        .collect();
    assert_cache_is_transparent(&snap, &list);
    let snap = crate::xds::bench_fixtures::bench_snapshot(30);
    for (_, p) in &list {
        for t in TYPES {
            generate(&snap, p, t, &[]).expect("generate");
        }
    }
    assert_eq!(
        snap.cache.generated(),
        4,
        "bench proxies share clusters, assignments, listeners and the route configuration"
    );
}

/// Whether `a` and `b` are served the same shared entry of `type_url` (the first resource of
/// their wildcard response: an outbound cluster, listener, route configuration or assignment).
fn shares(snap: &Snapshot, a: &Proxy, b: &Proxy, type_url: &str) -> bool {
    let first = |p: &Proxy| {
        let names = match type_url {
            types::ROUTE => vec!["8080".to_string()],
            _ => vec![],
        };
        let r = generate(snap, p, type_url, &names).expect("generate");
        r.first().cloned().expect("some resource")
    };
    Arc::ptr_eq(&first(a), &first(b))
}

#[test]
fn proxies_share_entries_exactly_when_the_facts_they_read_agree() {
    let snap = snapshot(MESH);
    let all = proxies();
    let p = |name: &str| {
        all.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| p.clone())
            .expect("proxy")
    };
    let base = p("base");
    // (proxy, shares clusters+endpoints, shares listeners, shares routes)
    let cases = [
        ("other IP and pod labels", true, true, true),
        ("namespace b", false, false, false),
        ("namespace c", false, false, false),
        ("DNS domain", true, true, false),
        ("Sidecar selected", false, false, false),
        ("canary DestinationRule selected", false, false, false),
        ("VirtualService source labels", false, false, false),
        ("failover priority label", false, false, false),
        ("locality", false, true, true),
        ("inbound policies selected", true, true, true),
        ("no labels", false, false, false),
        ("IPv6", false, false, true),
        ("interception NONE", true, false, true),
        ("TPROXY", true, false, true),
        ("proxyless gRPC", false, false, false),
    ];
    for (name, clusters, listeners, routes) in cases {
        let other = p(name);
        assert_eq!(
            shares(&snap, &base, &other, types::CLUSTER),
            clusters,
            "{name}: clusters"
        );
        assert_eq!(
            shares(&snap, &base, &other, types::ENDPOINT),
            clusters,
            "{name}: endpoints"
        );
        if name != "proxyless gRPC" && name != "interception NONE" {
            // (gRPC listeners are per client; NONE has no outbound capture listener first)
            assert_eq!(
                shares(&snap, &base, &other, types::LISTENER),
                listeners,
                "{name}: listeners"
            );
        }
        assert_eq!(
            ClassKey::of(&snap, &base, Kind::Listeners)
                == ClassKey::of(&snap, &other, Kind::Listeners),
            listeners,
            "{name}: listener key"
        );
        if name != "proxyless gRPC" {
            assert_eq!(
                shares(&snap, &base, &other, types::ROUTE),
                routes,
                "{name}: routes"
            );
        }
        assert_eq!(
            ClassKey::of(&snap, &base, Kind::Routes) == ClassKey::of(&snap, &other, Kind::Routes),
            routes,
            "{name}: route key"
        );
    }
}

#[test]
fn headless_services_make_outbound_listeners_depend_on_the_proxy_ip() {
    let snap = snapshot(&format!("{MESH}{HEADLESS}"));
    let a = sidecar("10.9.0.1", "a", json!({"app": "client"}));
    let b = sidecar("10.9.0.2", "a", json!({"app": "client"}));
    assert!(!shares(&snap, &a, &b, types::LISTENER));
    assert!(shares(&snap, &a, &b, types::CLUSTER));
    assert!(shares(&snap, &a, &b, types::ROUTE));
}

#[test]
fn a_new_snapshot_starts_empty() {
    let proxy = sidecar("10.9.0.1", "a", json!({"app": "client"}));
    let old = snapshot(MESH);
    generate(&old, &proxy, types::CLUSTER, &[]).expect("generate");
    assert_eq!(old.cache.generated(), 1);
    let new = snapshot(MESH);
    assert_eq!(new.cache.generated(), 0);
    let (a, b) = (
        generate(&old, &proxy, types::CLUSTER, &[]).expect("generate"),
        generate(&new, &proxy, types::CLUSTER, &[]).expect("generate"),
    );
    assert!(!Arc::ptr_eq(&a[0], &b[0]));
}

#[test]
fn the_locality_index_finds_what_a_scan_finds() {
    let snap = snapshot(&format!("{MESH}{HEADLESS}"));
    for (what, p) in proxies() {
        assert_eq!(
            snap.proxy_locality(&p),
            crate::xds::scope::proxy_locality(&snap, &p),
            "{what}"
        );
    }
}

#[test]
fn concurrent_proxies_share_one_generation() {
    let snap = Arc::new(crate::xds::bench_fixtures::bench_snapshot(50));
    let handles: Vec<_> = (0..8)
        .map(|k| {
            let snap = snap.clone();
            std::thread::spawn(move || {
                let p = crate::xds::bench_fixtures::bench_proxy(k);
                TYPES
                    .iter()
                    .map(|t| generate(&snap, &p, t, &[]).expect("generate"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    for r in &results[1..] {
        for (t, list) in r.iter().enumerate() {
            assert!(Arc::ptr_eq(&list[0], &results[0][t][0]));
        }
    }
    assert_eq!(snap.cache.generated(), 4);
}
