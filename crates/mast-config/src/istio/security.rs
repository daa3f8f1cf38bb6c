//! `security.istio.io`: `PeerAuthentication`, `RequestAuthentication` and
//! `AuthorizationPolicy` (istio/api `security/v1beta1`, served as `v1beta1` and `v1`), with
//! Istio's validation rules (the istiod webhook and the CRD schema rules).
//!
//! Also holds the pieces the policy kinds of the security, telemetry, extensions and legacy
//! groups share: the selector/`targetRef` checks (on top of the `istio.type.v1beta1` types of
//! [`crate::istio::common`]) and URL/IP/port syntax checks with Go's semantics (`go_url`).
//! Specs are decoded by [`crate::istio::decode`].

mod attachment;
mod authorization_policy;
pub(crate) mod go_url;
mod peer_authentication;
mod request_authentication;
mod rule_values;

pub use crate::istio::common::{PolicyTargetReference, WorkloadSelector};
pub(crate) use attachment::check_attachment;
pub use authorization_policy::{
    Action, AuthorizationPolicy, Condition, ExtensionProvider, Operation, Rule, RuleFrom, RuleTo,
    Source, validate_authorization_policy,
};
pub use peer_authentication::{
    MtlsMode, MutualTls, PeerAuthentication, validate_peer_authentication,
};
pub use request_authentication::{
    ClaimToHeader, JwtHeader, JwtRule, RequestAuthentication, validate_request_authentication,
};
pub use rule_values::validate_attribute;

use serde_json::Value;

use crate::istio::decode::decode_spec;
use crate::validate::Findings;

/// Validates the spec of a `security.istio.io` kind.
pub fn validate(kind: &str, spec: &Value, out: &mut Findings) {
    match kind {
        "PeerAuthentication" => {
            if let Some(p) = decode_spec::<PeerAuthentication>(spec, out) {
                validate_peer_authentication(&p, out);
            }
        }
        "RequestAuthentication" => {
            if let Some(r) = decode_spec::<RequestAuthentication>(spec, out) {
                validate_request_authentication(&r, out);
            }
        }
        "AuthorizationPolicy" => {
            if let Some(a) = decode_spec::<AuthorizationPolicy>(spec, out) {
                validate_authorization_policy(&a, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Validates `spec` as `kind`; returns the errors as (path, message). Shared by the tests of
    /// the submodules.
    pub(super) fn run(kind: &str, spec: Value) -> Vec<(String, String)> {
        let mut out = Findings::default();
        validate(kind, &spec, &mut out);
        out.into_vec()
            .into_iter()
            .filter(|f| f.severity == crate::validate::Severity::Error)
            .map(|f| (f.path, f.message))
            .collect()
    }

    #[test]
    fn unknown_fields_are_flagged_errors_and_nulls_are_unset() {
        let mut out = Findings::default();
        let spec = json!({"mtls": {"mode": "PERMISSIVE"}, "peerLevelMtls": {"8080": {"mode": "STRICT"}}, "selector": null});
        validate("PeerAuthentication", &spec, &mut out);
        let f = out.into_vec();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, crate::validate::Severity::Error);
        assert!(f[0].unknown_field);
        assert_eq!(f[0].path, "spec.peerLevelMtls");
        let mut out = Findings::default();
        let spec = json!({"rules": [{"from": [{"source": {"principals": ["a"], "bogus": 1}}]}]});
        validate("AuthorizationPolicy", &spec, &mut out);
        let f = out.into_vec();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].path, "spec.rules[0].from[0].source.bogus");
    }
}
