//! The kinds Istio 1.5 still served and later removed, with Istio 1.5's validation:
//! `authentication.istio.io/v1alpha1` `Policy` and `MeshPolicy`, and `rbac.istio.io/v1alpha1`
//! `ServiceRole`, `ServiceRoleBinding`, `RbacConfig` and `ClusterRbacConfig`.
//!
//! Some of 1.5's rules depend on the object's name (`MeshPolicy` and the RBAC configs must be
//! named `default`; a namespace `Policy` named `default` must have no targets and one with no
//! targets must be named `default`). [`validate`] takes the name when the caller has it and
//! skips those rules otherwise.

mod authentication;
mod rbac;

pub use authentication::{
    AuthnPortSelector, Jwt, LegacyMtlsMode, LegacyMutualTls, LegacyStringMatch,
    OriginAuthenticationMethod, PeerAuthenticationMethod, Policy, PrincipalBinding, TargetSelector,
    TriggerRule, validate_authentication_policy,
};
pub use rbac::{
    AccessRule, Constraint, EnforcementMode, RbacConfig, RbacMode, RbacTarget, RoleRef,
    ServiceRole, ServiceRoleBinding, Subject, validate_rbac_config, validate_service_role,
    validate_service_role_binding,
};

use serde_json::Value;

use crate::istio::decode::decode_spec;
use crate::validate::Findings;

/// The name Istio 1.5 requires of mesh-wide authentication policies and RBAC configs.
pub const DEFAULT_NAME: &str = "default";

/// Validates the spec of a legacy kind. `name` is the object's `metadata.name` when known;
/// without it the name rules are skipped.
pub fn validate(kind: &str, name: Option<&str>, spec: &Value, out: &mut Findings) {
    match kind {
        "Policy" | "MeshPolicy" => {
            if let Some(p) = decode_spec::<Policy>(spec, out) {
                validate_authentication_policy(&p, kind == "MeshPolicy", name, out);
            }
        }
        "ServiceRole" => {
            if let Some(r) = decode_spec::<ServiceRole>(spec, out) {
                validate_service_role(&r.rules, "spec.rules", out);
            }
        }
        "ServiceRoleBinding" => {
            if let Some(b) = decode_spec::<ServiceRoleBinding>(spec, out) {
                validate_service_role_binding(&b, out);
            }
        }
        "RbacConfig" | "ClusterRbacConfig" => {
            if let Some(c) = decode_spec::<RbacConfig>(spec, out) {
                validate_rbac_config(&c, kind, name, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(kind: &str, name: Option<&str>, spec: Value) -> Vec<String> {
        let mut out = Findings::default();
        validate(kind, name, &spec, &mut out);
        out.into_vec()
            .into_iter()
            .filter(|f| f.severity == crate::validate::Severity::Error)
            .map(|f| format!("{}: {}", f.path, f.message))
            .collect()
    }

    #[test]
    fn legacy_rules() {
        let cases: Vec<(&str, Option<&str>, Value, Option<&str>)> = vec![
            (
                "MeshPolicy",
                Some("default"),
                json!({"peers": [{"mtls": {"mode": "PERMISSIVE"}}]}),
                None,
            ),
            (
                "MeshPolicy",
                Some("boo"),
                json!({"peers": [{"mtls": null}]}),
                Some("cluster-scoped authentication policy name must be \"default\""),
            ),
            (
                "MeshPolicy",
                None,
                json!({"targets": [{"name": "a"}]}),
                Some("must not have targets"),
            ),
            (
                "Policy",
                Some("p"),
                json!({"targets": [{"name": "bad.target"}]}),
                Some("target name \"bad.target\" must be a valid label"),
            ),
            (
                "Policy",
                Some("p"),
                json!({"targets": [{"name": "good-target", "ports": [{"number": 8080}, {"name": "http"}]}]}),
                None,
            ),
            (
                "Policy",
                Some("p"),
                json!({"targets": [{"name": "t", "ports": [{}]}]}),
                Some("subset name cannot be empty"),
            ),
            (
                "Policy",
                Some("p"),
                json!({}),
                Some("no target rules  must be named"),
            ),
            (
                "Policy",
                Some("default"),
                json!({"targets": [{"name": "a"}]}),
                Some("must not have any target rules"),
            ),
            (
                "Policy",
                Some("default"),
                json!({"origins": [{"jwt": {"issuer": "a", "jwks_uri": "ftp://x"}}], "principalBinding": "USE_ORIGIN"}),
                Some("URI scheme \"ftp\" is not supported"),
            ),
            (
                "Policy",
                Some("default"),
                json!({"origins": [{"jwt": {"issuer": "a"}}, {"jwt": {"issuer": "a"}}]}),
                Some("jwt with issuer \"a\" already defined"),
            ),
            (
                "Policy",
                Some("default"),
                json!({"origins": [{"jwt": {"issuer": "a", "trigger_rules": [{"excluded_paths": [{"exact": "/health"}]}]}}]}),
                None,
            ),
            (
                "ServiceRole",
                None,
                json!({"rules": null}),
                Some("at least 1 rule must be specified"),
            ),
            (
                "ServiceRole",
                None,
                json!({"rules": [{"services": ["*"], "methods": ["GET"], "notMethods": ["POST"]}]}),
                Some("methods and not_methods"),
            ),
            (
                "ServiceRole",
                None,
                json!({"rules": [{"services": ["*"], "ports": [70000]}]}),
                Some("not in the range"),
            ),
            (
                "ServiceRole",
                None,
                json!({"rules": [{"services": ["*"], "ports": [80], "constraints": [{"key": "destination.port", "values": ["80"]}]}]}),
                Some("similar first-class field"),
            ),
            (
                "ServiceRole",
                None,
                json!({"rules": [{"services": ["*"], "constraints": [{"key": "", "values": []}]}]}),
                Some("key cannot be empty for constraint 0 in rule 0"),
            ),
            (
                "ServiceRoleBinding",
                None,
                json!({"subjects": null}),
                Some("at least 1 subject must be specified"),
            ),
            (
                "ServiceRoleBinding",
                None,
                json!({"subjects": [{"user": "a"}]}),
                Some("exactly one of `roleRef`, `role`, or `actions`"),
            ),
            (
                "ServiceRoleBinding",
                None,
                json!({"subjects": [{}], "role": "r"}),
                Some("empty subjects are not allowed"),
            ),
            (
                "ServiceRoleBinding",
                None,
                json!({"subjects": [{"names": ["*"]}], "role": "r"}),
                Some("do not use * for names"),
            ),
            (
                "ServiceRoleBinding",
                None,
                json!({"subjects": [{"names": ["a"], "properties": {"source.principal": "b"}}], "role": "r"}),
                Some("cannot define source.principal for binding 0"),
            ),
            (
                "ServiceRoleBinding",
                None,
                json!({"subjects": [{"user": "a"}], "roleRef": {"kind": "Role", "name": ""}}),
                Some("currently the only supported value is \"ServiceRole\""),
            ),
            (
                "ServiceRoleBinding",
                None,
                json!({"subjects": [{"user": "a"}], "role": "/"}),
                Some("empty ServiceRole name"),
            ),
            (
                "ServiceRoleBinding",
                None,
                json!({"subjects": [{"user": "a"}], "actions": [{"services": ["a"]}]}),
                None,
            ),
            (
                "ClusterRbacConfig",
                Some("default"),
                json!({"mode": "ON_WITH_EXCLUSION"}),
                Some("exclusion cannot be null"),
            ),
            (
                "ClusterRbacConfig",
                Some("default"),
                json!({"mode": "ON_WITH_INCLUSION", "inclusion": {}}),
                None,
            ),
            (
                "ClusterRbacConfig",
                Some("other"),
                json!({"mode": "ON"}),
                Some("ClusterRbacConfig has invalid name(other)"),
            ),
            (
                "RbacConfig",
                None,
                json!({"mode": "ON_WITH_INCLUSION"}),
                Some("inclusion cannot be null"),
            ),
            (
                "MeshPolicy",
                Some("default"),
                json!({"peers": [{"mtls": {"mode": "LOOSE"}}]}),
                Some("Unsupported value: \"LOOSE\": supported values: \"STRICT\", \"PERMISSIVE\""),
            ),
        ];
        for (kind, name, spec, want) in cases {
            let errs = errors(kind, name, spec.clone());
            match want {
                None => assert!(errs.is_empty(), "{kind} {spec}: {errs:?}"),
                Some(w) => assert!(
                    errs.iter().any(|e| e.contains(w)),
                    "{kind} {spec}: want {w:?} in {errs:?}"
                ),
            }
        }
    }
}
