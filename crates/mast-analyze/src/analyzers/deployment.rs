//! Istio's `deployment` analyzers: the Services selecting a mesh Deployment's pods must agree on
//! the protocol of each port, and on the port that forwards to each target port.

use std::collections::BTreeMap;

use mast_config::Resource;
use serde_json::Value;

use super::injection::{INJECTION_LABEL, SIDECAR_INJECT, deployment_in_mesh};
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Compat, Context, Kind, Store, kinds};
use crate::util::{arr_of, str_of, string_map};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(MultiServiceAnalyzer)]
}

/// The label and value marking a waypoint Deployment that Istio manages.
const WAYPOINT_LABEL: (&str, &str) = ("gateway.istio.io/managed", "istio.io-mesh-controller");

/// `deployment.MultiServiceAnalyzer`.
struct MultiServiceAnalyzer;

impl Analyzer for MultiServiceAnalyzer {
    fn name(&self) -> &'static str {
        "deployment.MultiServiceAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks association between services and pods"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SERVICE, kinds::DEPLOYMENT, kinds::NAMESPACE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        if ctx.mesh.compat == Compat::Istio1_5 {
            // 1.5 matched services across namespaces, required one (IST0117), no port check.
            analyze_1_5(ctx);
            return;
        }
        let store = ctx.store;
        for d in store.list(kinds::DEPLOYMENT) {
            let waypoint = d
                .meta
                .labels
                .get(WAYPOINT_LABEL.0)
                .is_some_and(|v| v == WAYPOINT_LABEL.1);
            if waypoint || !deployment_in_mesh(store, d) {
                continue;
            }
            let services = matching_services(store, d);
            report_protocol_conflicts(ctx, d, &services);
            report_target_port_conflicts(ctx, d, &services);
        }
    }
}

/// Istio 1.5's analysis: each Deployment in the mesh (by its pod template annotation, else
/// its namespace's label) needs a Service selecting its pods, and those Services must agree on
/// the protocol of each port.
fn analyze_1_5(ctx: &mut Context<'_>) {
    let store = ctx.store;
    for d in store.list(kinds::DEPLOYMENT) {
        if !in_mesh_1_5(store, d) {
            continue;
        }
        let services = matching_services_1_5(store, d);
        if services.is_empty() {
            let kind = catalogue::DEPLOYMENT_REQUIRES_SERVICE_ASSOCIATED;
            ctx.report(d, Some("/metadata/name"), kind, vec![]);
            continue;
        }
        report_protocol_conflicts(ctx, d, &services);
    }
}

/// Whether a Deployment is in the mesh as 1.5 decided it: the pod template's injection
/// annotation when set, else whether its namespace (when known) has injection enabled.
fn in_mesh_1_5(store: &Store, d: &Resource) -> bool {
    let template_meta = d.spec().pointer("/template/metadata");
    let annotations = string_map(template_meta.and_then(|m| m.get("annotations")));
    if let Some(v) = annotations.get(SIDECAR_INJECT) {
        return v == "true";
    }
    store
        .get(kinds::NAMESPACE, "", &d.meta.namespace)
        .is_some_and(|ns| {
            ns.meta
                .labels
                .get(INJECTION_LABEL)
                .is_some_and(|v| v == "enabled")
        })
}

/// The Services of any namespace whose selector (an empty one selects all) matches the
/// Deployment's pod labels, as 1.5 looked them up.
fn matching_services_1_5(store: &Store, d: &Resource) -> Vec<Svc> {
    let template = d.spec().get("template").unwrap_or(&Value::Null);
    let pod_labels = string_map(template.get("metadata").and_then(|m| m.get("labels")));
    store
        .list(kinds::SERVICE)
        .filter(|s| {
            let sel = string_map(s.spec().get("selector"));
            sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
        })
        .map(|s| Svc {
            name: s.namespaced_name(),
            ports: arr_of(s.spec(), "ports").iter().map(svc_port).collect(),
        })
        .collect()
}

/// One port of a Service.
struct SvcPort {
    port: i64,
    protocol: String,
    target_port: String,
}

/// A Service selecting the Deployment's pods: its `namespace/name` and ports.
struct Svc {
    name: String,
    ports: Vec<SvcPort>,
}

/// The Services of the Deployment's namespace whose non-empty selector matches its pod labels.
fn matching_services(store: &Store, d: &Resource) -> Vec<Svc> {
    let template = d.spec().get("template").unwrap_or(&Value::Null);
    let pod_labels = string_map(template.get("metadata").and_then(|m| m.get("labels")));
    store
        .list(kinds::SERVICE)
        .filter(|s| s.meta.namespace == d.meta.namespace)
        .filter(|s| {
            let sel = string_map(s.spec().get("selector"));
            !sel.is_empty() && sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v))
        })
        .map(|s| Svc {
            name: s.namespaced_name(),
            ports: arr_of(s.spec(), "ports").iter().map(svc_port).collect(),
        })
        .collect()
}

fn svc_port(p: &Value) -> SvcPort {
    let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
    let protocol = match str_of(p, "protocol") {
        "" => "TCP",
        other => other,
    };
    SvcPort {
        port,
        protocol: protocol.to_string(),
        target_port: target_port_or_port(p.get("targetPort"), port),
    }
}

/// A `targetPort` as Kubernetes prints it, defaulting to the port when it is unset or zero.
fn target_port_or_port(target: Option<&Value>, port: i64) -> String {
    let t = match target {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if t.is_empty() || t == "0" {
        port.to_string()
    } else {
        t
    }
}

/// Reports each port that the Services expose with more than one protocol.
fn report_protocol_conflicts(ctx: &mut Context<'_>, d: &Resource, services: &[Svc]) {
    let mut by_port: BTreeMap<i64, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for s in services {
        for p in &s.ports {
            by_port
                .entry(p.port)
                .or_default()
                .entry(&p.protocol)
                .or_default()
                .push(&s.name);
        }
    }
    for (port, protocols) in by_port.into_iter().filter(|(_, p)| p.len() > 1) {
        let mut names: Vec<String> = protocols
            .values()
            .flatten()
            .map(|n| n.to_string())
            .collect();
        names.sort();
        let args = vec![d.meta.name.clone().into(), port.into(), names.into()];
        ctx.report(
            d,
            Some("/metadata/name"),
            catalogue::DEPLOYMENT_ASSOCIATED_TO_MULTIPLE_SERVICES,
            args,
        );
    }
}

/// Reports each target port that the Services reach from more than one port.
fn report_target_port_conflicts(ctx: &mut Context<'_>, d: &Resource, services: &[Svc]) {
    let mut by_target: BTreeMap<&str, BTreeMap<i64, &str>> = BTreeMap::new();
    for s in services {
        for p in &s.ports {
            by_target
                .entry(&p.target_port)
                .or_default()
                .insert(p.port, &s.name);
        }
    }
    for (target, ports) in by_target.into_iter().filter(|(_, p)| p.len() > 1) {
        let mut names: Vec<String> = ports.values().map(|n| n.to_string()).collect();
        names.sort();
        let numbers: Vec<String> = ports.keys().map(i64::to_string).collect();
        let args = vec![
            d.meta.name.clone().into(),
            names.into(),
            target.into(),
            numbers.into(),
        ];
        ctx.report(
            d,
            Some("/metadata/name"),
            catalogue::DEPLOYMENT_CONFLICTING_PORTS,
            args,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn target_ports_default_to_the_port() {
        let cases = [
            (None, "80"),
            (Some(json!(0)), "80"),
            (Some(json!(8080)), "8080"),
            (Some(json!("http")), "http"),
            (Some(json!("")), "80"),
        ];
        for (t, want) in cases {
            assert_eq!(target_port_or_port(t.as_ref(), 80), want);
        }
    }

    const INPUT_1_5: &str = "
apiVersion: v1
kind: Namespace
metadata: {name: inj, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: by-ns, namespace: inj}
spec: {template: {metadata: {labels: {app: a}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ann-off, namespace: inj}
spec: {template: {metadata: {labels: {app: b}, annotations: {sidecar.istio.io/inject: 'false'}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ann-on, namespace: plain}
spec: {template: {metadata: {labels: {app: c}, annotations: {sidecar.istio.io/inject: 'true'}}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: label-on, namespace: plain}
spec: {template: {metadata: {labels: {app: d, sidecar.istio.io/inject: 'true'}}}}
---
apiVersion: v1
kind: Service
metadata: {name: a-elsewhere, namespace: plain}
spec: {selector: {app: a}}
---
apiVersion: v1
kind: Service
metadata: {name: everything, namespace: other}
spec: {}
";

    #[test]
    fn istio_1_5_mesh_membership_and_service_lookup() {
        let mut loaded = mast_config::Loaded::default();
        loaded.add_str("t.yaml", INPUT_1_5);
        let store = crate::analysis_store(loaded.resources);
        let deployment = |name: &str| {
            store
                .list(kinds::DEPLOYMENT)
                .find(|d| d.meta.name == name)
                .expect("deployment")
        };
        let cases = [
            ("by-ns", true),
            ("ann-off", false),
            ("ann-on", true),
            ("label-on", false),
        ];
        for (name, want) in cases {
            assert_eq!(in_mesh_1_5(&store, deployment(name)), want, "{name}");
        }
        let names = |d: &str| -> Vec<String> {
            let mut n: Vec<String> = matching_services_1_5(&store, deployment(d))
                .into_iter()
                .map(|s| s.name)
                .collect();
            n.sort();
            n
        };
        assert_eq!(names("by-ns"), ["other/everything", "plain/a-elsewhere"]);
        assert_eq!(names("ann-on"), ["other/everything"]);
    }
}
