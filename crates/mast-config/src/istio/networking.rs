//! `networking.istio.io`: typed specs of VirtualService, DestinationRule, Gateway,
//! ServiceEntry, Sidecar, WorkloadEntry, WorkloadGroup, EnvoyFilter and ProxyConfig, and
//! Istio's validation of each (`pkg/config/validation` in Istio).
//!
//! Each kind's module holds its serde types (strict: unknown fields are errors) and a
//! `validate` method that records findings with field paths rooted at `spec`.

pub mod destination_rule;
pub mod envoy_filter;
pub mod gateway;
pub mod proxy_config;
pub mod service_entry;
pub mod sidecar;
pub mod virtual_service;
pub mod workload;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::istio::common::decode_spec;
use crate::validate::Findings;

/// What validation knows of the object besides its spec. Checks that need a field left empty
/// here are skipped (or, for `exportTo`, compare `.` with itself only).
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// `metadata.namespace`.
    pub namespace: &'a str,
    /// Istio's `PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE=false` (Istio 1.5 had no delegates): a
    /// VirtualService without hosts is then an error.
    pub delegates_disabled: bool,
}

/// Validates the spec of a `networking.istio.io` kind at `version`; unknown kinds are left
/// alone (the kind table decides what is known).
pub fn validate(kind: &str, version: &str, spec: &Value, out: &mut Findings) {
    validate_in(&Context::default(), kind, version, spec, out);
}

/// [`validate`] with the object's name and namespace, for the checks that need them.
pub fn validate_in(ctx: &Context<'_>, kind: &str, version: &str, spec: &Value, out: &mut Findings) {
    let _ = version;
    match kind {
        "VirtualService" => run(spec, out, |v: virtual_service::VirtualService, out| {
            v.validate(ctx, out)
        }),
        "DestinationRule" => run(spec, out, |v: destination_rule::DestinationRule, out| {
            v.validate(ctx, out)
        }),
        "Gateway" => run(spec, out, |v: gateway::Gateway, out| v.validate(ctx, out)),
        "ServiceEntry" => run(spec, out, |v: service_entry::ServiceEntry, out| {
            v.validate(ctx, out)
        }),
        "Sidecar" => run(spec, out, |v: sidecar::Sidecar, out| v.validate(ctx, out)),
        "WorkloadEntry" => run(spec, out, |v: workload::WorkloadEntry, out| v.validate(out)),
        "WorkloadGroup" => run(spec, out, |v: workload::WorkloadGroup, out| v.validate(out)),
        "EnvoyFilter" => run(spec, out, |v: envoy_filter::EnvoyFilter, out| {
            v.validate(out)
        }),
        "ProxyConfig" => run(spec, out, |v: proxy_config::ProxyConfig, out| {
            v.validate(out)
        }),
        _ => {}
    }
}

fn run<T: DeserializeOwned>(
    spec: &Value,
    out: &mut Findings,
    check: impl FnOnce(T, &mut Findings),
) {
    if let Some(v) = decode_spec::<T>(spec, out) {
        check(v, out);
    }
}

#[cfg(test)]
mod tests;
