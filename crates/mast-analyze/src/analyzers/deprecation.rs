//! Istio's `deprecation.DeprecationAnalyzer`: deprecated fields of VirtualServices and Sidecars,
//! and CustomResourceDefinitions of Istio kinds that were removed.

use super::webhook::Once;
use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Compat, Context, Kind, kinds};
use crate::util::{arr_of, str_of};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(DeprecationAnalyzer)]
}

/// Istio kinds whose CRDs are gone: (group, kind).
const REMOVED_KINDS: &[(&str, &str)] = &[
    ("rbac.istio.io", "ClusterRbacConfig"),
    ("rbac.istio.io", "RbacConfig"),
    ("rbac.istio.io", "ServiceRole"),
    ("rbac.istio.io", "ServiceRoleBinding"),
];

/// `deprecation.DeprecationAnalyzer`.
struct DeprecationAnalyzer;

impl Analyzer for DeprecationAnalyzer {
    fn name(&self) -> &'static str {
        "deprecation.DeprecationAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks for deprecated Istio types and fields"
    }

    fn inputs(&self) -> &'static [Kind] {
        // The last two are read only under Istio 1.5 compatibility.
        &[
            kinds::VIRTUAL_SERVICE,
            kinds::SIDECAR,
            kinds::CRD,
            kinds::ENVOY_FILTER,
            kinds::SERVICE_ROLE_BINDING,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        analyze_virtual_services(ctx);
        if ctx.mesh.compat == Compat::Istio1_5 {
            // 1.5 checked EnvoyFilters and ServiceRoleBindings instead of Sidecars and CRDs.
            analyze_envoy_filters(ctx);
            analyze_service_role_bindings(ctx);
            return;
        }
        analyze_sidecars(ctx);
        analyze_crds(ctx);
    }
}

/// `http[].fault.delay.percent` (replaced by `percentage`).
fn analyze_virtual_services(ctx: &mut Context<'_>) {
    let store = ctx.store;
    let mut once = Once::default();
    let v1_5 = ctx.mesh.compat == Compat::Istio1_5;
    for vs in store.list(kinds::VIRTUAL_SERVICE) {
        for (i, route) in arr_of(vs.spec(), "http").iter().enumerate() {
            let percent = route
                .pointer("/fault/delay/percent")
                .and_then(serde_json::Value::as_f64);
            if percent.is_some_and(|p| p > 0.0) {
                let text = replaced(
                    "HTTPRoute.fault.delay.percent",
                    "HTTPRoute.fault.delay.percentage",
                );
                let path = format!("/spec/http/{i}/fault/delay/percent");
                let args = vec![text.into()];
                if v1_5 {
                    // 1.5 reported every such route, identical messages included.
                    ctx.report(vs, Some(&path), catalogue::DEPRECATED, args);
                } else {
                    once.report(ctx, vs, Some(&path), catalogue::DEPRECATED, args);
                }
            }
        }
    }
}

/// `outboundTrafficPolicy.egressProxy` (ignored).
fn analyze_sidecars(ctx: &mut Context<'_>) {
    let store = ctx.store;
    for sc in store.list(kinds::SIDECAR) {
        let proxy = sc.spec().pointer("/outboundTrafficPolicy/egressProxy");
        if proxy.is_some_and(|p| !p.is_null()) {
            let text = "OutboundTrafficPolicy.EgressProxy ignored".to_string();
            let path = "/spec/outboundTrafficPolicy/egressProxy";
            ctx.report(sc, Some(path), catalogue::DEPRECATED, vec![text.into()]);
        }
    }
}

/// CRDs of removed kinds.
fn analyze_crds(ctx: &mut Context<'_>) {
    let store = ctx.store;
    for crd in store.list(kinds::CRD) {
        let group = str_of(crd.spec(), "group");
        let kind = crd
            .spec()
            .get("names")
            .map(|n| str_of(n, "kind"))
            .unwrap_or_default();
        if REMOVED_KINDS.contains(&(group, kind)) {
            let text = format!("Custom resource type {group} {kind} is removed");
            ctx.report(crd, None, catalogue::DEPRECATED, vec![text.into()]);
        }
    }
}

/// Istio 1.5: EnvoyFilter `workloadLabels` (replaced by `workloadSelector`) and `filters`.
fn analyze_envoy_filters(ctx: &mut Context<'_>) {
    let store = ctx.store;
    for ef in store.list(kinds::ENVOY_FILTER) {
        let non_empty = |field: &str| match ef.spec().get(field) {
            Some(serde_json::Value::Object(m)) => !m.is_empty(),
            Some(serde_json::Value::Array(a)) => !a.is_empty(),
            _ => false,
        };
        if non_empty("workloadLabels") {
            let text = replaced(
                "EnvoyFilter.workloadLabels",
                "EnvoyFilter.workload_selector",
            );
            let path = "/spec/workloadLabels";
            ctx.report(ef, Some(path), catalogue::DEPRECATED, vec![text.into()]);
        }
        if non_empty("filters") {
            let text = format!("{} is deprecated", "EnvoyFilter.filters");
            let path = "/spec/filters";
            ctx.report(ef, Some(path), catalogue::DEPRECATED, vec![text.into()]);
        }
    }
}

/// Istio 1.5: ServiceRoleBinding `subjects[].group`, once per subject that sets it.
fn analyze_service_role_bindings(ctx: &mut Context<'_>) {
    let store = ctx.store;
    for srb in store.list(kinds::SERVICE_ROLE_BINDING) {
        for (i, subject) in arr_of(srb.spec(), "subjects").iter().enumerate() {
            if !str_of(subject, "group").is_empty() {
                let text = "ServiceRoleBinding.subjects.group is deprecated".to_string();
                let path = format!("/spec/subjects/{i}/group");
                ctx.report(srb, Some(&path), catalogue::DEPRECATED, vec![text.into()]);
            }
        }
    }
}

fn replaced(old: &str, new: &str) -> String {
    format!("{old} is deprecated; use {new}")
}
