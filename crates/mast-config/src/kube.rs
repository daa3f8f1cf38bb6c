//! Kubernetes kinds read through `k8s-openapi`'s types: a type error in a Kubernetes object
//! (a port that is not a number, a label map that is a list) is found at its field, as the
//! API server would refuse it. Fields these types do not know are left alone (the API
//! server's own strictness depends on its version and flags).

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Namespace, Node, Pod, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::resource::Resource;
use crate::validate::Findings;

fn check_as<T: DeserializeOwned>(value: &Value, out: &mut Findings) {
    if let Err(e) = serde_path_to_error::deserialize::<_, T>(value) {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        out.error(path, e.into_inner().to_string());
    }
}

/// Decodes a Kubernetes object of a known kind into its typed form, recording type errors.
/// Only the current API versions are typed; others get the metadata checks alone.
pub fn check(r: &Resource, out: &mut Findings) {
    let v = &r.value;
    match (
        r.gvk.group.as_str(),
        r.gvk.version.as_str(),
        r.gvk.kind.as_str(),
    ) {
        ("", "v1", "Namespace") => check_as::<Namespace>(v, out),
        ("", "v1", "Service") => check_as::<Service>(v, out),
        ("", "v1", "Endpoints") => check_as::<Endpoints>(v, out),
        ("", "v1", "Pod") => check_as::<Pod>(v, out),
        ("", "v1", "Node") => check_as::<Node>(v, out),
        ("", "v1", "ConfigMap") => check_as::<ConfigMap>(v, out),
        ("", "v1", "Secret") => check_as::<Secret>(v, out),
        ("", "v1", "ServiceAccount") => check_as::<ServiceAccount>(v, out),
        ("apps", "v1", "Deployment") => check_as::<Deployment>(v, out),
        ("apps", "v1", "StatefulSet") => check_as::<StatefulSet>(v, out),
        ("apps", "v1", "DaemonSet") => check_as::<DaemonSet>(v, out),
        ("apps", "v1", "ReplicaSet") => check_as::<ReplicaSet>(v, out),
        ("discovery.k8s.io", "v1", "EndpointSlice") => check_as::<EndpointSlice>(v, out),
        ("networking.k8s.io", "v1", "Ingress") => check_as::<Ingress>(v, out),
        ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration") => {
            check_as::<MutatingWebhookConfiguration>(v, out)
        }
        ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration") => {
            check_as::<ValidatingWebhookConfiguration>(v, out)
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::loader::Loaded;
    use crate::validate::validate;

    #[test]
    fn type_errors_are_found_at_their_field() {
        let mut l = Loaded::default();
        l.add_str(
            "svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - name: http\n    port: eighty\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector:\n    matchLabels: {app: d}\n  template:\n    metadata:\n      labels: {app: d}\n    spec:\n      containers:\n      - name: c\n        image: x\n",
        );
        let errs = validate(&l.resources[0]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].finding.path, "spec.ports[0].port");
        assert_eq!(errs[0].line, 8);
        assert!(validate(&l.resources[1]).is_empty());
    }
}
