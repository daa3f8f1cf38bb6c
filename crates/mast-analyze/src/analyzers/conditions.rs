//! Istio's `conditions` analyzer: negative status conditions written by controllers.

use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, kinds};
use crate::util::{arr_of, str_of};

/// The analyzers of this module.
pub fn analyzers() -> Vec<Box<dyn Analyzer>> {
    vec![Box::new(ConditionAnalyzer)]
}

/// Where a kind keeps its conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `status.conditions`.
    Direct,
    /// `status.parents[].conditions` (Gateway API routes).
    Parents,
}

/// The kinds checked, where their conditions are, and the condition types whose `False`
/// status is negative.
const CHECKED: [(Kind, Layout, &[&str]); 7] = [
    (kinds::SERVICE, Layout::Direct, &["istio.io/WaypointBound"]),
    (
        kinds::SERVICE_ENTRY,
        Layout::Direct,
        &["istio.io/WaypointBound"],
    ),
    (
        kinds::WORKLOAD_ENTRY,
        Layout::Direct,
        &["istio.io/WaypointBound"],
    ),
    (
        kinds::AUTHORIZATION_POLICY,
        Layout::Direct,
        &["ZtunnelAccepted", "WaypointAccepted"],
    ),
    (
        kinds::K8S_GATEWAY,
        Layout::Direct,
        &["Accepted", "Programmed", "ResolvedRefs"],
    ),
    (
        kinds::K8S_HTTP_ROUTE,
        Layout::Parents,
        &["Accepted", "Programmed", "ResolvedRefs"],
    ),
    (
        kinds::K8S_GRPC_ROUTE,
        Layout::Parents,
        &["Accepted", "Programmed", "ResolvedRefs"],
    ),
];

/// Reports status conditions with a negative status on Services, ServiceEntries,
/// WorkloadEntries, AuthorizationPolicies and Gateway API Gateways and routes.
pub struct ConditionAnalyzer;

impl Analyzer for ConditionAnalyzer {
    fn name(&self) -> &'static str {
        "conditions.ConditionAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks for negative status conditions on resources"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[
            kinds::SERVICE,
            kinds::SERVICE_ENTRY,
            kinds::WORKLOAD_ENTRY,
            kinds::AUTHORIZATION_POLICY,
            kinds::K8S_GATEWAY,
            kinds::K8S_HTTP_ROUTE,
            kinds::K8S_GRPC_ROUTE,
        ]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for (kind, layout, negative) in CHECKED {
            for r in store.list(kind) {
                for c in conditions(r.value.get("status"), layout) {
                    let (ty, status, reason) =
                        (str_of(c, "type"), str_of(c, "status"), str_of(c, "reason"));
                    let mut times = usize::from(negative.contains(&ty) && status == "False");
                    // A partially invalid AuthorizationPolicy is accepted (`True`) yet negative.
                    if kind == kinds::AUTHORIZATION_POLICY
                        && ty == "WaypointAccepted"
                        && reason == "PartiallyInvalid"
                    {
                        times += 1;
                    }
                    for _ in 0..times {
                        let args = vec![ty.into(), reason.into(), str_of(c, "message").into()];
                        ctx.report(
                            r,
                            Some("/status/conditions"),
                            catalogue::NEGATIVE_CONDITION_STATUS,
                            args,
                        );
                    }
                }
            }
        }
    }
}

/// The conditions of a status.
fn conditions(status: Option<&Value>, layout: Layout) -> Vec<&Value> {
    let Some(status) = status else {
        return Vec::new();
    };
    match layout {
        Layout::Direct => arr_of(status, "conditions").iter().collect(),
        Layout::Parents => arr_of(status, "parents")
            .iter()
            .flat_map(|p| arr_of(p, "conditions"))
            .collect(),
    }
}
