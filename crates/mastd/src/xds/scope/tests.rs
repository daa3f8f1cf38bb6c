use serde_json::json;

use super::*;
use crate::xds::cds::testkit::{BOOKINFO, productpage, sidecar, snapshot};

fn sc(name: &str, ns: &str, body: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{body}"
    )
}

fn hosts(snap: &Snapshot, proxy: &Proxy) -> Vec<String> {
    visible_services(snap, proxy)
        .iter()
        .map(|s| s.hostname.clone())
        .collect()
}

#[test]
fn which_sidecar_applies() {
    let root = sc("root", "istio-system", "  egress: [{hosts: [\"*/*\"]}]\n");
    let ns = sc("ns", "default", "  egress: [{hosts: [\"./*\"]}]\n");
    let sel = sc(
        "sel",
        "default",
        "  workloadSelector: {labels: {app: productpage}}\n  egress: [{hosts: [\"./*\"]}]\n",
    );
    let other = sidecar("10.0.9.9", "default", json!({"app": "x"}));
    let snap = snapshot(&format!("{BOOKINFO}{root}"));
    assert_eq!(
        sidecar_scope(&snap, &productpage()).map(|s| s.name.as_str()),
        Some("root")
    );
    let snap = snapshot(&format!("{BOOKINFO}{root}{ns}{sel}"));
    assert_eq!(
        sidecar_scope(&snap, &productpage()).map(|s| s.name.as_str()),
        Some("sel")
    );
    assert_eq!(
        sidecar_scope(&snap, &other).map(|s| s.name.as_str()),
        Some("ns")
    );
    assert!(sidecar_scope(&snapshot(BOOKINFO), &productpage()).is_none());
}

#[test]
fn egress_hosts() {
    let snap = snapshot(&format!(
        "{BOOKINFO}{}",
        sc(
            "s",
            "default",
            "  egress: [{hosts: [\"./ratings.default.svc.cluster.local\", \"*/*.svc.cluster.local\", \"~/productpage.default.svc.cluster.local\"]}]\n"
        )
    ));
    let s = sidecar_scope(&snap, &productpage()).expect("sidecar");
    let visible: Vec<bool> = snap
        .registry
        .services
        .iter()
        .map(|svc| egress_visible(s, "default", svc))
        .collect();
    // productpage, ratings, reviews (ordered by hostname)
    assert_eq!(visible, vec![false, true, true]);
    assert_eq!(
        hosts(&snap, &productpage()),
        vec![
            "ratings.default.svc.cluster.local",
            "reviews.default.svc.cluster.local"
        ]
    );
    // "./" is the proxy's namespace
    let snap = snapshot(&format!(
        "{BOOKINFO}{}",
        sc("s", "istio-system", "  egress: [{hosts: [\"./*\"]}]\n")
    ));
    let s = sidecar_scope(&snap, &productpage()).expect("root sidecar");
    assert!(egress_visible(s, "default", &snap.registry.services[1]));
    assert!(!egress_visible(s, "other", &snap.registry.services[1]));
    assert!(hosts(&snap, &sidecar("10.0.9.9", "other", json!({}))).is_empty());
}

#[test]
fn virtual_service_destinations_are_imported() {
    let vs = "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: front}\nspec:\n  hosts: [front.example.com]\n  http: [{route: [{destination: {host: reviews}}]}]\n";
    let snap = snapshot(&format!(
        "{BOOKINFO}{vs}{}",
        sc(
            "s",
            "default",
            "  egress: [{hosts: [\"./front.example.com\"]}]\n"
        )
    ));
    assert_eq!(
        hosts(&snap, &productpage()),
        vec!["reviews.default.svc.cluster.local"]
    );
}

#[test]
fn outbound_traffic_policy() {
    let snap = snapshot(BOOKINFO);
    assert!(allow_any(&snap, &productpage()));
    let snap = snapshot(&format!(
        "{BOOKINFO}{}",
        sc(
            "s",
            "default",
            "  outboundTrafficPolicy: {mode: REGISTRY_ONLY}\n"
        )
    ));
    assert!(!allow_any(&snap, &productpage()));
    assert_eq!(
        hosts(&snap, &productpage()).len(),
        3,
        "no egress listeners: everything visible"
    );
}

#[test]
fn short_names() {
    assert_eq!(
        resolve_short_name("reviews", "ns"),
        "reviews.ns.svc.cluster.local"
    );
    assert_eq!(resolve_short_name("a.b", "ns"), "a.b");
    assert_eq!(resolve_short_name("*", "ns"), "*");
    assert_eq!(resolve_short_name("10.0.0.1", "ns"), "10.0.0.1");
}

#[test]
fn proxy_locality_from_its_workload() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {istio-locality: r1.z1}}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.0.0.1}\n";
    assert_eq!(proxy_locality(&snapshot(yaml), &productpage()), "r1/z1");
}
