//! The analyzers, one module per Istio analyzer package.

pub mod annotations;
pub mod application_uid;
pub mod auth;
pub mod authn;
pub mod conditions;
pub mod deployment;
pub mod deprecation;
pub mod destinationrule;
pub mod envoyfilter;
pub mod externalcontrolplane;
pub mod gateway;
pub mod injection;
pub mod k8sgateway;
pub mod meshnetworks;
pub mod policy;
pub mod schema;
pub mod service;
pub mod serviceentry;
pub mod sidecar;
pub mod telemetry;
pub mod virtualservice;
pub mod webhook;

use crate::analyzer::Analyzer;
use crate::context::Compat;

/// Every analyzer, in a stable order.
pub fn all() -> Vec<Box<dyn Analyzer>> {
    let mut v: Vec<Box<dyn Analyzer>> = Vec::new();
    v.extend(annotations::analyzers());
    v.extend(application_uid::analyzers());
    v.extend(auth::analyzers());
    v.extend(authn::analyzers());
    v.extend(conditions::analyzers());
    v.extend(deployment::analyzers());
    v.extend(deprecation::analyzers());
    v.extend(destinationrule::analyzers());
    v.extend(envoyfilter::analyzers());
    v.extend(externalcontrolplane::analyzers());
    v.extend(gateway::analyzers());
    v.extend(injection::analyzers());
    v.extend(k8sgateway::analyzers());
    v.extend(meshnetworks::analyzers());
    v.extend(policy::analyzers());
    v.extend(schema::analyzers());
    v.extend(service::analyzers());
    v.extend(serviceentry::analyzers());
    v.extend(sidecar::analyzers());
    v.extend(telemetry::analyzers());
    v.extend(virtualservice::analyzers());
    v.extend(webhook::analyzers());
    v
}

/// Analyzers Istio 1.5 had and current Istio removed (their kinds are gone or auto-mTLS made
/// them moot): run by default only with [`Compat::Istio1_5`].
pub const ISTIO_1_5_ONLY: &[&str] = &[
    "auth.MTLSAnalyzer",
    "auth.ServiceRoleBindingAnalyzer",
    "auth.ServiceRoleServicesAnalyzer",
    "injection.JwtAnalyzer",
    "policy.DeprecatedAnalyzer",
    "sidecar.DefaultSelectorAnalyzer",
];

/// Istio 1.5's `analyzers.All()`, besides the schema validation analyzers.
pub const ISTIO_1_5: &[&str] = &[
    "annotations.K8sAnalyzer",
    "injection.JwtAnalyzer",
    "auth.MTLSAnalyzer",
    "auth.ServiceRoleBindingAnalyzer",
    "auth.ServiceRoleServicesAnalyzer",
    "deployment.MultiServiceAnalyzer",
    "deprecation.DeprecationAnalyzer",
    "gateway.IngressGatewayPortAnalyzer",
    "gateway.SecretAnalyzer",
    "injection.Analyzer",
    "injection.ImageAnalyzer",
    "policy.DeprecatedAnalyzer",
    "service.PortNameAnalyzer",
    "sidecar.DefaultSelectorAnalyzer",
    "sidecar.SelectorAnalyzer",
    "virtualservice.ConflictingMeshGatewayHostsAnalyzer",
    "virtualservice.DestinationHostAnalyzer",
    "virtualservice.DestinationRuleAnalyzer",
    "virtualservice.GatewayAnalyzer",
];

/// The analyzers a plain `analyze` runs for a release, as that release's `All()`: current
/// Istio's set, or Istio 1.5's.
pub fn default_set(compat: Compat) -> Vec<Box<dyn Analyzer>> {
    all()
        .into_iter()
        .filter(|a| match compat {
            Compat::Current => !ISTIO_1_5_ONLY.contains(&a.name()),
            Compat::Istio1_5 => {
                ISTIO_1_5.contains(&a.name()) || a.name().starts_with("schema.ValidationAnalyzer.")
            }
        })
        .collect()
}

/// The analyzer named `name`, if any.
pub fn by_name(name: &str) -> Option<Box<dyn Analyzer>> {
    all().into_iter().find(|a| a.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_sets() {
        let names = |c| default_set(c).iter().map(|a| a.name()).collect::<Vec<_>>();
        let current = names(Compat::Current);
        assert!(!current.contains(&"auth.MTLSAnalyzer"));
        assert!(current.contains(&"telemetry.ProviderAnalyzer"));
        let old = names(Compat::Istio1_5);
        assert!(old.contains(&"auth.MTLSAnalyzer"));
        assert!(!old.contains(&"telemetry.ProviderAnalyzer"));
        assert!(old.contains(&"schema.ValidationAnalyzer.VirtualService"));
        for n in ISTIO_1_5.iter().chain(ISTIO_1_5_ONLY) {
            assert!(by_name(n).is_some(), "{n} is registered");
        }
    }
}
