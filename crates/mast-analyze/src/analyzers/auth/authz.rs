//! `auth.AuthorizationPoliciesAnalyzer`: AuthorizationPolicies that select no workload, and
//! source namespaces that match no Namespace.

use std::collections::{BTreeMap, HashMap};

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, Store, kinds};
use crate::util::{arr_of, string_map};

/// The label that turns on sidecar injection for a namespace, and the value that does.
const INJECTION_LABEL: &str = "istio-injection";
const INJECTION_ENABLED: &str = "enabled";
/// The label/annotation a pod uses to opt in or out of injection.
const SIDECAR_INJECT: &str = "sidecar.istio.io/inject";
/// The annotation the ambient CNI sets on pods whose traffic it redirects.
const AMBIENT_REDIRECTION: &str = "ambient.istio.io/redirection";
/// The sidecar container's name.
const PROXY_CONTAINER: &str = "istio-proxy";

/// Checks that AuthorizationPolicies select running in-mesh workloads and that the namespaces
/// their sources name exist.
pub struct AuthorizationPoliciesAnalyzer;

impl Analyzer for AuthorizationPoliciesAnalyzer {
    fn name(&self) -> &'static str {
        "auth.AuthorizationPoliciesAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the validity of authorization policies"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[
            kinds::AUTHORIZATION_POLICY,
            kinds::NAMESPACE,
            kinds::POD,
            kinds::WORKLOAD_ENTRY,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let pods = mesh_pod_labels(store);
        let root = ctx.mesh.root_namespace();
        for ap in store.list(kinds::AUTHORIZATION_POLICY) {
            check_workloads(ctx, ap, &pods, &root);
            check_namespaces(ctx, ap);
        }
    }
}

type Labels = BTreeMap<String, String>;

/// The labels of in-mesh pods (sidecar or ambient), by namespace. A namespace with pods
/// appears even when none of them is in the mesh; an ambient pod with a sidecar counts twice,
/// which changes nothing.
fn mesh_pod_labels(store: &Store) -> HashMap<String, Vec<Labels>> {
    let mut map: HashMap<String, Vec<Labels>> = HashMap::new();
    for pod in store.list(kinds::POD) {
        let list = map.entry(pod.meta.namespace.clone()).or_default();
        if pod_in_mesh(store, pod) || pod_in_ambient_mode(pod) {
            list.push(pod.meta.labels.clone());
        }
    }
    // a WorkloadEntry is a workload with a proxy outside Kubernetes
    for (ns, labels) in crate::util::workload_entries(store) {
        map.entry(ns).or_default().push(labels);
    }
    map
}

/// The policy's `selector.matchLabels`, or `None` when it has no selector.
fn policy_selector(ap: &Resource) -> Option<Labels> {
    ap.spec()
        .get("selector")
        .filter(|s| !s.is_null())
        .map(|s| string_map(s.get("matchLabels")))
}

fn selects_any(selector: &Labels, pods: &[Labels]) -> bool {
    pods.iter()
        .any(|l| crate::util::selector_matches(selector, l))
}

fn check_workloads(
    ctx: &mut Context<'_>,
    ap: &Resource,
    pods: &HashMap<String, Vec<Labels>>,
    root: &str,
) {
    let selector = policy_selector(ap);
    let ns = ap.meta.namespace.as_str();
    let missing = if ns == root {
        // Mesh-wide: a selector must match a pod somewhere in the mesh.
        selector
            .as_ref()
            .filter(|s| !pods.values().any(|p| selects_any(s, p)))
    } else {
        let local = pods.get(ns).map(Vec::as_slice).unwrap_or_default();
        match &selector {
            None if local.is_empty() => {
                ctx.report(
                    ap,
                    None,
                    catalogue::NO_MATCHING_WORKLOADS_FOUND,
                    vec!["".into()],
                );
                return;
            }
            None => None,
            Some(s) => Some(s).filter(|s| !selects_any(s, local)),
        }
    };
    if let Some(s) = missing {
        let args = vec![label_selector_string(s).into()];
        ctx.report(
            ap,
            Some("/spec/selector"),
            catalogue::NO_MATCHING_WORKLOADS_FOUND,
            args,
        );
    }
}

fn check_namespaces(ctx: &mut Context<'_>, ap: &Resource) {
    let store = ctx.store;
    for (i, rule) in arr_of(ap.spec(), "rules").iter().enumerate() {
        for (j, from) in arr_of(rule, "from").iter().enumerate() {
            let source = from.get("source").unwrap_or(&Value::Null);
            for field in ["namespaces", "notNamespaces"] {
                for (k, ns) in arr_of(source, field).iter().enumerate() {
                    let ns = ns.as_str().unwrap_or_default();
                    if !store
                        .list(kinds::NAMESPACE)
                        .any(|n| namespace_matches(&n.meta.name, ns))
                    {
                        let path = format!("/spec/rules/{i}/from/{j}/source/{field}/{k}");
                        let args = vec!["namespace".into(), ns.into()];
                        ctx.report(
                            ap,
                            Some(&path),
                            catalogue::REFERENCED_RESOURCE_NOT_FOUND,
                            args,
                        );
                    }
                }
            }
        }
    }
}

/// Whether namespace `ns` matches `pattern`: `*`, a `*suffix`, a `prefix*`, or a name
/// (compared case-insensitively).
fn namespace_matches(ns: &str, pattern: &str) -> bool {
    if pattern == "*" {
        true
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        ns.ends_with(suffix)
    } else if let Some(prefix) = pattern.strip_suffix('*') {
        ns.starts_with(prefix)
    } else {
        ns.eq_ignore_ascii_case(pattern)
    }
}

/// A label set as Kubernetes prints an equality selector: `a=1,b=2`, keys sorted.
pub(crate) fn label_selector_string(labels: &Labels) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether the pod has a sidecar or will get one, as current Istio decides: an `istio-proxy`
/// container with an image, else the pod's `sidecar.istio.io/inject` label, else that
/// annotation, else its Namespace's `istio-injection=enabled` label.
fn pod_in_mesh(store: &Store, pod: &Resource) -> bool {
    let spec = pod.spec();
    let has_proxy = arr_of(spec, "containers")
        .iter()
        .chain(arr_of(spec, "initContainers"))
        .find(|c| c.get("name").and_then(Value::as_str) == Some(PROXY_CONTAINER))
        .and_then(|c| c.get("image").and_then(Value::as_str))
        .is_some_and(|image| !image.is_empty());
    if has_proxy {
        return true;
    }
    if let Some(v) = pod
        .meta
        .labels
        .get(SIDECAR_INJECT)
        .or(pod.meta.annotations.get(SIDECAR_INJECT))
    {
        return v == "true";
    }
    store
        .get(kinds::NAMESPACE, "", &pod.meta.namespace)
        .is_some_and(|ns| {
            ns.meta.labels.get(INJECTION_LABEL).map(String::as_str) == Some(INJECTION_ENABLED)
        })
}

/// Whether the ambient data plane redirects the pod's traffic.
fn pod_in_ambient_mode(pod: &Resource) -> bool {
    pod.meta
        .annotations
        .get(AMBIENT_REDIRECTION)
        .map(String::as_str)
        == Some("enabled")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_patterns() {
        let cases = [
            ("httpbin", "*", true),
            ("prod-httpbin", "prod-*", true),
            ("httpbin-test", "*-test", true),
            ("httpbin", "*-bogus", false),
            ("httpbin", "bogus-*", false),
            ("HttpBin", "httpbin", true),
            ("httpbin", "httpbin2", false),
        ];
        for (ns, pattern, want) in cases {
            assert_eq!(namespace_matches(ns, pattern), want, "{ns} ~ {pattern}");
        }
    }

    #[test]
    fn selector_string_is_sorted() {
        let l: Labels = [("version", "v1"), ("app", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(label_selector_string(&l), "app=x,version=v1");
    }
}
