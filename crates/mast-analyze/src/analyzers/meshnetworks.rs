//! Istio's `meshnetworks.MeshNetworksAnalyzer`: every `fromRegistry` of MeshNetworks must name
//! a known service registry or a cluster of a multi-cluster remote secret.

use std::collections::BTreeSet;
use std::sync::Arc;

use mast_config::Resource;
use mast_config::resource::{Gvk, Meta, Origin};
use serde_json::Value;

use super::webhook::Once;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::arr_of;

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(MeshNetworksAnalyzer)]
}

/// The registries Istio always knows (its provider IDs, compared exactly).
const BUILT_IN_REGISTRIES: &[&str] = &["Mock", "Kubernetes", "External"];

/// The label marking a remote-cluster secret; each data key is a cluster (registry) name.
const MULTI_CLUSTER_SECRET_LABEL: &str = "istio/multiCluster";

/// `meshnetworks.MeshNetworksAnalyzer`.
struct MeshNetworksAnalyzer;

impl Analyzer for MeshNetworksAnalyzer {
    fn name(&self) -> &'static str {
        "meshnetworks.MeshNetworksAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Check the validity of MeshNetworks in the cluster"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SECRET]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let Some(networks) = ctx.mesh.networks.clone() else {
            return;
        };
        let registries = known_registries(ctx);
        let mn = mesh_networks_resource(networks, &ctx.mesh.istio_namespace);
        let Some(nets) = mn.value.get("networks").and_then(Value::as_object) else {
            return;
        };
        let mut once = Once::default();
        for (net, n) in nets {
            for (j, e) in arr_of(n, "endpoints").iter().enumerate() {
                let Some(registry) = e.get("fromRegistry").and_then(Value::as_str) else {
                    continue;
                };
                if !registries.contains(registry) {
                    let path = format!("/networks/{net}/endpoints/{j}");
                    let args = vec![registry.into(), net.as_str().into()];
                    once.report(
                        ctx,
                        &mn,
                        Some(&path),
                        catalogue::UNKNOWN_MESH_NETWORKS_SERVICE_REGISTRY,
                        args,
                    );
                }
            }
        }
    }
}

/// The built-in registries plus the clusters named by remote secrets.
fn known_registries(ctx: &Context<'_>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = BUILT_IN_REGISTRIES.iter().map(|s| s.to_string()).collect();
    for s in ctx.store.list(kinds::SECRET) {
        if s.meta
            .labels
            .get(MULTI_CLUSTER_SECRET_LABEL)
            .is_some_and(|v| v == "true")
        {
            for field in ["data", "stringData"] {
                if let Some(m) = s.value.get(field).and_then(Value::as_object) {
                    out.extend(m.keys().cloned());
                }
            }
        }
    }
    out
}

/// The MeshNetworks document as an object messages can name (`MeshNetworks <ns>/meshnetworks`).
fn mesh_networks_resource(value: Value, namespace: &str) -> Resource {
    Resource {
        gvk: Gvk {
            group: String::new(),
            version: "v1alpha1".to_string(),
            kind: "MeshNetworks".to_string(),
        },
        meta: Meta {
            name: "meshnetworks".to_string(),
            namespace: namespace.to_string(),
            ..Meta::default()
        },
        value,
        origin: Origin {
            file: Arc::from("<mesh networks>"),
            line: 1,
        },
        lines: Arc::default(),
    }
}
