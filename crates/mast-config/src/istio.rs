//! Typed models of Istio's kinds and their validation rules, one module per API group.

pub mod common;
pub mod decode;
pub mod extensions;
pub mod legacy;
pub mod mesh;
pub mod networking;
pub mod security;
pub mod telemetry;

use serde_json::Value;

use crate::resource::Meta;
use crate::validate::Findings;

/// Validates the `spec` of an Istio kind (current or legacy) at `version`; `meta` gives the
/// name and namespace the checks that depend on them read; `options` the switches Istio has.
pub fn validate_spec(
    group: &str,
    kind: &str,
    version: &str,
    meta: &Meta,
    options: &crate::validate::Options,
    spec: &Value,
    out: &mut Findings,
) {
    match group {
        "networking.istio.io" => {
            let ctx = networking::Context {
                name: &meta.name,
                namespace: &meta.namespace,
                delegates_disabled: !options.virtual_service_delegate,
            };
            networking::validate_in(&ctx, kind, version, spec, out)
        }
        "security.istio.io" => security::validate(kind, spec, out),
        "extensions.istio.io" => extensions::validate(kind, spec, out),
        "telemetry.istio.io" => telemetry::validate(kind, spec, out),
        "authentication.istio.io" | "rbac.istio.io" => {
            legacy::validate(kind, Some(&meta.name), spec, out)
        }
        _ => {}
    }
}
