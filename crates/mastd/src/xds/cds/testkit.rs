//! Small snapshots and proxies for CDS/EDS table tests.

use envoy_types::util::pack_any;
use mast_xds::Proxy;
use serde_json::{Value, json};

use crate::model::{MeshSettings, Snapshot};

/// A snapshot from YAML (namespace `default` where none is written).
pub fn snapshot(yaml: &str) -> Snapshot {
    snapshot_with(yaml, MeshSettings::default())
}

/// A snapshot from YAML with mesh settings.
pub fn snapshot_with(yaml: &str, mesh: MeshSettings) -> Snapshot {
    let mut l = mast_config::Loaded::default();
    l.add_str("t.yaml", yaml);
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    let mut objects = l.resources;
    for r in &mut objects {
        if r.meta.namespace.is_empty() && r.kind_info().is_some_and(|k| k.namespaced) {
            r.meta.namespace = "default".into();
        }
        let errors = mast_config::validate(r);
        assert!(
            errors
                .iter()
                .all(|e| e.finding.severity != mast_config::Severity::Error),
            "invalid test object: {errors:?}"
        );
    }
    Snapshot::build(1, mesh, objects)
}

/// A sidecar proxy at `ip` in `ns` with `labels`.
pub fn sidecar(ip: &str, ns: &str, labels: Value) -> Proxy {
    let md = json!({"NAMESPACE": ns, "LABELS": labels});
    Proxy::parse(
        &format!("sidecar~{ip}~pod.{ns}~{ns}.svc.cluster.local"),
        md.as_object().cloned().unwrap_or_default(),
    )
    .expect("proxy")
}

/// A gateway proxy.
pub fn router(ip: &str, ns: &str) -> Proxy {
    Proxy::parse(
        &format!("router~{ip}~gw.{ns}~{ns}.svc.cluster.local"),
        Default::default(),
    )
    .expect("proxy")
}

/// Every cluster of the proxy as JSON, by name.
pub fn clusters_json(snap: &Snapshot, proxy: &Proxy) -> Vec<(String, Value)> {
    super::clusters(snap, proxy)
        .into_iter()
        .map(|c| (c.name.clone(), mast_xds::json::any_to_json(&pack_any(c))))
        .collect()
}

/// One cluster as JSON (panics when missing).
pub fn cluster_json(snap: &Snapshot, proxy: &Proxy, name: &str) -> Value {
    clusters_json(snap, proxy)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

/// The cluster names of the proxy.
pub fn names(snap: &Snapshot, proxy: &Proxy) -> Vec<String> {
    super::clusters(snap, proxy)
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// The assignment EDS serves for `name`, as JSON.
pub fn assignment_json(snap: &Snapshot, proxy: &Proxy, name: &str) -> Value {
    let r = crate::xds::eds::generate(snap, proxy, &[name.to_string()]);
    mast_xds::json::any_to_json(&r[0].resource)
}

/// Kubernetes `reviews` with three versions, `ratings`, and a `productpage` pod at 10.0.0.1.
pub const BOOKINFO: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {clusterIP: 10.96.0.10, selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings}
spec: {clusterIP: 10.96.0.11, selector: {app: ratings}, ports: [{name: grpc, port: 9090, targetPort: 9091}]}
---
apiVersion: v1
kind: Service
metadata: {name: productpage}
spec: {clusterIP: 10.96.0.12, selector: {app: productpage}, ports: [{name: http, port: 9080}, {name: tcp-admin, port: 9443, targetPort: 9444}]}
---
apiVersion: v1
kind: Pod
metadata: {name: productpage-1, labels: {app: productpage, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: productpage, containers: [{name: app}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: reviews, containers: [{name: app}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2, labels: {app: reviews, version: v2, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: reviews, containers: [{name: app}]}
status: {podIP: 10.0.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v3, labels: {app: reviews, version: v3}}
spec: {serviceAccountName: reviews, containers: [{name: app}]}
status: {podIP: 10.0.1.3}
---
apiVersion: v1
kind: Pod
metadata: {name: ratings-v1, labels: {app: ratings, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: ratings, containers: [{name: app}]}
status: {podIP: 10.0.2.1}
"#;

/// The productpage sidecar of [`BOOKINFO`].
pub fn productpage() -> Proxy {
    sidecar(
        "10.0.0.1",
        "default",
        json!({"app": "productpage", "version": "v1"}),
    )
}
