//! Istio 1.5's `rbac.istio.io` checks: `auth.ServiceRoleBindingAnalyzer` (the bound role
//! exists) and `auth.ServiceRoleServicesAnalyzer` (the services a role names exist).

use std::collections::HashMap;

use mast_config::Resource;
use serde_json::Value;

use crate::analyzer::Analyzer;
use crate::catalogue;
use crate::context::{Context, Kind, Store, kinds};
use crate::util::{arr_of, fqdn};

/// Checks that each ServiceRoleBinding's `roleRef` names a ServiceRole in its namespace.
pub struct ServiceRoleBindingAnalyzer;

impl Analyzer for ServiceRoleBindingAnalyzer {
    fn name(&self) -> &'static str {
        "auth.ServiceRoleBindingAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the validity of service role bindings"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SERVICE_ROLE, kinds::SERVICE_ROLE_BINDING]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        for binding in store.list(kinds::SERVICE_ROLE_BINDING) {
            // A binding without a roleRef is the schema's business, not this check's.
            let Some(role_ref) = binding.spec().get("roleRef").filter(|r| !r.is_null()) else {
                continue;
            };
            let role = role_ref
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if store
                .get(kinds::SERVICE_ROLE, &binding.meta.namespace, role)
                .is_none()
            {
                let args = vec!["service role".into(), role.into()];
                ctx.report(
                    binding,
                    Some("/spec/roleRef/name"),
                    catalogue::REFERENCED_RESOURCE_NOT_FOUND,
                    args,
                );
            }
        }
    }
}

/// Checks that the services each ServiceRole rule names match a Service in its namespace.
pub struct ServiceRoleServicesAnalyzer;

impl Analyzer for ServiceRoleServicesAnalyzer {
    fn name(&self) -> &'static str {
        "auth.ServiceRoleServicesAnalyzer"
    }

    fn description(&self) -> &'static str {
        "Checks the validity of services referred in a service role"
    }

    fn inputs(&self) -> &'static [Kind] {
        &[kinds::SERVICE_ROLE, kinds::SERVICE]
    }

    fn analyze(&self, ctx: &mut Context<'_>) {
        let store = ctx.store;
        let services = service_hosts(store);
        for role in store.list(kinds::SERVICE_ROLE) {
            let local = services
                .get(&role.meta.namespace)
                .map(Vec::as_slice)
                .unwrap_or_default();
            check_role(ctx, role, local);
        }
    }
}

/// The FQDN of every Service, by namespace.
fn service_hosts(store: &Store) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for svc in store.list(kinds::SERVICE) {
        let ns = &svc.meta.namespace;
        map.entry(ns.clone())
            .or_default()
            .push(fqdn(&svc.meta.name, ns));
    }
    map
}

fn check_role(ctx: &mut Context<'_>, role: &Resource, local: &[String]) {
    for (i, rule) in arr_of(role.spec(), "rules").iter().enumerate() {
        for (j, svc) in arr_of(rule, "services").iter().enumerate() {
            let svc = svc.as_str().unwrap_or_default();
            if svc != "*" && !local.iter().any(|host| service_matches(svc, host)) {
                let path = format!("/spec/rules/{i}/services/{j}");
                let args = vec!["service".into(), svc.into()];
                ctx.report(
                    role,
                    Some(&path),
                    catalogue::REFERENCED_RESOURCE_NOT_FOUND,
                    args,
                );
            }
        }
    }
}

/// Whether a ServiceRole service expression names `host`: equal to it, or a prefix or a
/// suffix of it (`reviews`, `.default.svc.cluster.local`).
fn service_matches(expr: &str, host: &str) -> bool {
    host.starts_with(expr) || host.ends_with(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_expressions() {
        let host = "reviews.default.svc.cluster.local";
        let cases = [
            ("reviews", true),
            ("reviews.default.svc.cluster.local", true),
            (".default.svc.cluster.local", true),
            ("bogus", false),
            ("reviews.anothernamespace.svc.cluster.local", false),
            (".anothernamespace.svc.cluster.local", false),
        ];
        for (expr, want) in cases {
            assert_eq!(service_matches(expr, host), want, "{expr}");
        }
    }
}
