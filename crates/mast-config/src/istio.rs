//! Typed models of Istio's kinds and their validation rules, one module per API group.

pub mod common;
pub mod extensions;
pub mod legacy;
pub mod mesh;
pub mod networking;
pub mod security;
pub mod telemetry;

use serde_json::Value;

use crate::validate::Findings;

/// Validates the `spec` of an Istio kind (current or legacy) at `version`.
pub fn validate_spec(group: &str, kind: &str, version: &str, spec: &Value, out: &mut Findings) {
    let _ = version;
    match group {
        "networking.istio.io" => networking::validate(kind, version, spec, out),
        "security.istio.io" => security::validate(kind, spec, out),
        "extensions.istio.io" => extensions::validate(kind, spec, out),
        "telemetry.istio.io" => telemetry::validate(kind, spec, out),
        "authentication.istio.io" | "rbac.istio.io" => legacy::validate(kind, None, spec, out),
        _ => {}
    }
}
