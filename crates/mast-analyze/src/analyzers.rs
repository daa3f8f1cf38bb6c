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

/// The analyzer named `name`, if any.
pub fn by_name(name: &str) -> Option<Box<dyn Analyzer>> {
    all().into_iter().find(|a| a.name() == name)
}
