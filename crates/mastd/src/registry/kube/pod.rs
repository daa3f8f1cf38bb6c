//! Pods as endpoints see them: IP, labels (augmented with topology), service account,
//! readiness, sidecar presence, named container ports, Istio's workload name.

use std::collections::BTreeMap;

use mast_config::Resource;
use serde_json::Value;

use super::str_at;

/// Istio's label telling whether a workload runs a sidecar (`istio`) or not (`disabled`).
pub const TLS_MODE_LABEL: &str = "security.istio.io/tlsMode";
/// Istio's locality labels, newest first (`.` stands for `/` in the legacy one).
const LOCALITY_LABELS: [&str; 2] = ["topology.istio.io/locality", "istio-locality"];
/// Istio's network label.
pub const NETWORK_LABEL: &str = "topology.istio.io/network";
/// Istio's explicit workload name label.
const WORKLOAD_NAME_LABEL: &str = "service.istio.io/workload-name";

/// A pod as the registry needs it.
#[derive(Debug, Clone)]
pub(super) struct Pod {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) ip: String,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) service_account: String,
    pub(super) has_proxy: bool,
    pub(super) ready: bool,
    pub(super) ports: BTreeMap<String, u16>,
    pub(super) workload_name: String,
    pub(super) locality: String,
    pub(super) network: String,
    /// The labels endpoints carry ([`augment_labels`]).
    pub(super) endpoint_labels: BTreeMap<String, String>,
}

/// `spiffe://<trust domain>/ns/<namespace>/sa/<service account>`.
pub fn spiffe(trust_domain: &str, namespace: &str, service_account: &str) -> String {
    format!("spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}")
}

/// The locality from Istio's locality labels, `.` separators turned into `/`.
pub fn locality_from_labels(labels: &BTreeMap<String, String>) -> String {
    LOCALITY_LABELS
        .iter()
        .find_map(|k| labels.get(*k))
        .map(|l| {
            if l.contains('/') {
                l.clone()
            } else {
                l.replace('.', "/")
            }
        })
        .unwrap_or_default()
}

/// The cluster id endpoints are labelled with (Istio's default cluster name).
pub const CLUSTER_ID: &str = "Kubernetes";

/// Labels of an endpoint as Istio augments a workload's own: topology region, zone, subzone
/// (from the locality), cluster, node, and network unless the workload sets it.
pub fn augment_labels(
    labels: &BTreeMap<String, String>,
    locality: &str,
    node: &str,
    network: &str,
) -> BTreeMap<String, String> {
    let mut out = labels.clone();
    let mut parts = locality.splitn(3, '/');
    for key in [
        "topology.kubernetes.io/region",
        "topology.kubernetes.io/zone",
        "topology.istio.io/subzone",
    ] {
        if let Some(v) = parts.next().filter(|v| !v.is_empty()) {
            out.insert(key.to_string(), v.to_string());
        }
    }
    out.insert("topology.istio.io/cluster".into(), CLUSTER_ID.into());
    if !node.is_empty() {
        out.insert("kubernetes.io/hostname".into(), node.to_string());
    }
    if !network.is_empty() {
        out.entry(NETWORK_LABEL.to_string())
            .or_insert_with(|| network.to_string());
    }
    out
}

/// The workload name Istio reports for a pod: the explicit label, else its Deployment (the
/// ReplicaSet owner without the template hash), else its owner, else the pod itself.
fn workload_name(pod: &Value, name: &str, labels: &BTreeMap<String, String>) -> String {
    if let Some(n) = labels.get(WORKLOAD_NAME_LABEL) {
        return n.clone();
    }
    let owner = pod
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .and_then(|o| {
            o.iter()
                .find(|r| r.get("controller").and_then(Value::as_bool).unwrap_or(true))
                .or(o.first())
        });
    let Some(owner) = owner else {
        return name.to_string();
    };
    let (kind, owner_name) = (str_at(owner, "/kind"), str_at(owner, "/name"));
    if kind == "ReplicaSet"
        && let Some(hash) = labels.get("pod-template-hash")
        && let Some(deployment) = owner_name.strip_suffix(&format!("-{hash}"))
    {
        return deployment.to_string();
    }
    if owner_name.is_empty() {
        name.to_string()
    } else {
        owner_name.to_string()
    }
}

pub(super) fn pod(r: &Resource) -> Option<Pod> {
    let v = &r.value;
    let ip = str_at(v, "/status/podIP");
    let ip = if ip.is_empty() {
        v.pointer("/status/podIPs/0/ip")
            .and_then(Value::as_str)
            .unwrap_or_default()
    } else {
        ip
    };
    if ip.is_empty() {
        tracing::debug!(pod = %r.namespaced_name(), "pod has no IP yet; no endpoints from it");
        return None;
    }
    let phase = str_at(v, "/status/phase");
    if phase == "Succeeded" || phase == "Failed" {
        return None;
    }
    let containers = v
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let labels = r.meta.labels.clone();
    let has_proxy = match labels.get(TLS_MODE_LABEL) {
        Some(mode) => mode == "istio",
        None => containers
            .iter()
            .any(|c| str_at(c, "/name") == "istio-proxy"),
    };
    let ports = containers
        .iter()
        .flat_map(|c| {
            c.get("ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| {
            let name = str_at(&p, "/name");
            let port = u16::try_from(p.get("containerPort")?.as_u64()?).ok()?;
            (!name.is_empty()).then(|| (name.to_string(), port))
        })
        .collect();
    // without reported conditions (a hand-written pod) the pod counts as ready
    let ready = match v.pointer("/status/conditions").and_then(Value::as_array) {
        Some(conds) => conds
            .iter()
            .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True"),
        None => true,
    };
    let mut sa = str_at(v, "/spec/serviceAccountName");
    if sa.is_empty() {
        sa = str_at(v, "/spec/serviceAccount");
    }
    let locality = locality_from_labels(&labels);
    let network = labels.get(NETWORK_LABEL).cloned().unwrap_or_default();
    Some(Pod {
        endpoint_labels: augment_labels(&labels, &locality, str_at(v, "/spec/nodeName"), &network),
        name: r.meta.name.clone(),
        namespace: r.meta.namespace.clone(),
        ip: ip.to_string(),
        workload_name: workload_name(v, &r.meta.name, &labels),
        locality,
        network,
        service_account: if sa.is_empty() {
            "default".into()
        } else {
            sa.to_string()
        },
        has_proxy,
        ready,
        ports,
        labels,
    })
}
