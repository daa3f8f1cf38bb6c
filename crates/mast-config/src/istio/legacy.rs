//! The kinds Istio 1.5 still served and later removed, with Istio 1.5's validation:
//! `authentication.istio.io/v1alpha1` `Policy` and `MeshPolicy`, and `rbac.istio.io/v1alpha1`
//! `ServiceRole`, `ServiceRoleBinding`, `RbacConfig` and `ClusterRbacConfig`.
//!
//! Some of 1.5's rules depend on the object's name (`MeshPolicy` and the RBAC configs must be
//! named `default`; a namespace `Policy` named `default` must have no targets and one with no
//! targets must be named `default`). [`validate`] takes the name when the caller has it and
//! skips those rules otherwise.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::istio::common::{is_dns1123_label, validate_port};
use crate::istio::decode::decode_spec;
use crate::istio::security::go_url;
use crate::validate::Findings;

/// The name Istio 1.5 requires of mesh-wide authentication policies and RBAC configs.
pub const DEFAULT_NAME: &str = "default";

// ---------------------------------------------------------------------------------------------
// authentication.istio.io/v1alpha1
// ---------------------------------------------------------------------------------------------

/// An authentication policy (`Policy` in a namespace, `MeshPolicy` for the mesh).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Policy {
    /// Services the policy applies to; empty means the whole namespace.
    pub targets: Vec<TargetSelector>,
    /// How peers authenticate (mTLS).
    pub peers: Vec<PeerAuthenticationMethod>,
    /// Whether peer authentication may fail.
    pub peer_is_optional: bool,
    /// How request origins authenticate (JWT).
    pub origins: Vec<OriginAuthenticationMethod>,
    /// Whether origin authentication may fail.
    pub origin_is_optional: bool,
    /// Which identity becomes the request principal.
    pub principal_binding: PrincipalBinding,
}

/// A service (short name in the policy's namespace) and optionally some of its ports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TargetSelector {
    /// Short service name.
    pub name: String,
    /// Ports; empty means all.
    pub ports: Vec<AuthnPortSelector>,
}

/// A port by number or by name (a `oneof`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AuthnPortSelector {
    /// Port number.
    pub number: Option<u32>,
    /// Port name.
    pub name: Option<String>,
}

/// A peer authentication method (a `oneof`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PeerAuthenticationMethod {
    /// Mutual TLS.
    pub mtls: Option<LegacyMutualTls>,
    /// JWT (deprecated as a peer method).
    pub jwt: Option<Jwt>,
}

/// Mutual TLS settings of 1.5's authentication policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LegacyMutualTls {
    /// Deprecated: whether plaintext is also accepted.
    pub allow_tls: bool,
    /// STRICT or PERMISSIVE.
    pub mode: LegacyMtlsMode,
}

/// `MutualTls.Mode` of 1.5.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LegacyMtlsMode {
    /// mTLS only.
    #[default]
    Strict,
    /// mTLS and plaintext.
    Permissive,
}

/// An origin authentication method.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct OriginAuthenticationMethod {
    /// The JWT settings.
    pub jwt: Option<Jwt>,
}

/// `PrincipalBinding`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PrincipalBinding {
    /// The peer identity.
    #[default]
    UsePeer,
    /// The origin identity.
    UseOrigin,
}

/// JWT settings of 1.5's authentication policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Jwt {
    /// Issuer (`iss`).
    pub issuer: String,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    /// URL of the public key set.
    #[serde(alias = "jwks_uri")]
    pub jwks_uri: String,
    /// Inline public key set.
    pub jwks: String,
    /// Headers carrying the token.
    #[serde(alias = "jwt_headers")]
    pub jwt_headers: Vec<String>,
    /// Query parameters carrying the token.
    pub jwt_params: Vec<String>,
    /// Paths for which the token is (or is not) checked.
    #[serde(alias = "trigger_rules")]
    pub trigger_rules: Vec<TriggerRule>,
}

/// Paths for which JWT validation is triggered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct TriggerRule {
    /// Paths excluded.
    #[serde(alias = "excluded_paths")]
    pub excluded_paths: Vec<LegacyStringMatch>,
    /// Paths included.
    #[serde(alias = "included_paths")]
    pub included_paths: Vec<LegacyStringMatch>,
}

/// `authentication.v1alpha1.StringMatch` (a `oneof`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LegacyStringMatch {
    /// Exact match.
    pub exact: Option<String>,
    /// Prefix match.
    pub prefix: Option<String>,
    /// Suffix match.
    pub suffix: Option<String>,
    /// Regular expression.
    pub regex: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// rbac.istio.io/v1alpha1
// ---------------------------------------------------------------------------------------------

/// A set of permissions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServiceRole {
    /// The permissions.
    pub rules: Vec<AccessRule>,
}

/// One permission: services, and the operations allowed on them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AccessRule {
    /// Service names (FQDN, prefix `*` or suffix `*`).
    pub services: Vec<String>,
    /// Hosts.
    pub hosts: Vec<String>,
    /// Negated `hosts`.
    pub not_hosts: Vec<String>,
    /// HTTP paths.
    pub paths: Vec<String>,
    /// Negated `paths`.
    pub not_paths: Vec<String>,
    /// HTTP methods.
    pub methods: Vec<String>,
    /// Negated `methods`.
    pub not_methods: Vec<String>,
    /// Ports.
    pub ports: Vec<i32>,
    /// Negated `ports`.
    pub not_ports: Vec<i32>,
    /// Further conditions.
    pub constraints: Vec<Constraint>,
}

/// A condition of an access rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Constraint {
    /// Attribute name.
    pub key: String,
    /// Accepted values.
    pub values: Vec<String>,
}

/// `EnforcementMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnforcementMode {
    /// Enforced.
    #[default]
    Enforced,
    /// Only logged.
    Permissive,
}

/// Grants a role to subjects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ServiceRoleBinding {
    /// Who gets the role.
    pub subjects: Vec<Subject>,
    /// The role, by reference.
    pub role_ref: Option<RoleRef>,
    /// Enforcement mode.
    pub mode: EnforcementMode,
    /// The permissions inline (instead of a role).
    pub actions: Vec<AccessRule>,
    /// The role by name (`/name` for the root namespace).
    pub role: String,
}

/// A subject of a binding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Subject {
    /// User (principal) name.
    pub user: String,
    /// Principal names.
    pub names: Vec<String>,
    /// Negated `names`.
    pub not_names: Vec<String>,
    /// Deprecated group.
    pub group: String,
    /// Groups (`groups` claim).
    pub groups: Vec<String>,
    /// Negated `groups`.
    pub not_groups: Vec<String>,
    /// Source namespaces.
    pub namespaces: Vec<String>,
    /// Negated `namespaces`.
    pub not_namespaces: Vec<String>,
    /// Source IPs.
    pub ips: Vec<String>,
    /// Negated `ips`.
    pub not_ips: Vec<String>,
    /// Further conditions by attribute.
    pub properties: BTreeMap<String, String>,
}

/// A reference to a `ServiceRole`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RoleRef {
    /// Must be `ServiceRole`.
    pub kind: String,
    /// The role's name.
    pub name: String,
}

/// Mesh-wide RBAC switch (`ClusterRbacConfig`, or the deprecated `RbacConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RbacConfig {
    /// Where RBAC is on.
    pub mode: RbacMode,
    /// Services and namespaces with RBAC (for `ON_WITH_INCLUSION`).
    pub inclusion: Option<RbacTarget>,
    /// Services and namespaces without RBAC (for `ON_WITH_EXCLUSION`).
    pub exclusion: Option<RbacTarget>,
    /// Enforcement mode.
    pub enforcement_mode: EnforcementMode,
}

/// `RbacConfig.Mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RbacMode {
    /// Off everywhere.
    #[default]
    Off,
    /// On everywhere.
    On,
    /// On for the listed services and namespaces only.
    OnWithInclusion,
    /// On except for the listed services and namespaces.
    OnWithExclusion,
}

/// Services and namespaces of an RBAC config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RbacTarget {
    /// Service names.
    pub services: Vec<String>,
    /// Namespaces.
    pub namespaces: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

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

/// Istio 1.5's `ValidateAuthenticationPolicy`.
pub fn validate_authentication_policy(
    p: &Policy,
    cluster_scoped: bool,
    name: Option<&str>,
    out: &mut Findings,
) {
    if cluster_scoped {
        if let Some(n) = name.filter(|n| *n != DEFAULT_NAME) {
            out.error(
                "metadata.name",
                format!("cluster-scoped authentication policy name must be {DEFAULT_NAME:?}, found {n:?}"),
            );
        }
        if !p.targets.is_empty() {
            out.error(
                "spec.targets",
                "cluster-scoped authentication policy must not have targets",
            );
        }
    } else {
        match name {
            Some(n) if p.targets.is_empty() && n != DEFAULT_NAME => out.error(
                "metadata.name",
                format!(
                    "authentication policy with no target rules  must be named {DEFAULT_NAME:?}, found {n:?}"
                ),
            ),
            Some(n) if !p.targets.is_empty() && n == DEFAULT_NAME => out.error(
                "spec.targets",
                format!("authentication policy with name {n:?} must not have any target rules"),
            ),
            _ => {}
        }
        for (i, t) in p.targets.iter().enumerate() {
            check_target(t, &format!("spec.targets[{i}]"), out);
        }
    }
    let mut issuers = BTreeSet::new();
    let peer_jwts = p
        .peers
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.jwt.as_ref().map(|j| (format!("spec.peers[{i}].jwt"), j)));
    let mut origin_jwts = Vec::new();
    for (i, o) in p.origins.iter().enumerate() {
        match &o.jwt {
            Some(j) => origin_jwts.push((format!("spec.origins[{i}].jwt"), j)),
            None => out.error(format!("spec.origins[{i}]"), "jwt cannot be empty"),
        }
    }
    for (at, jwt) in peer_jwts.chain(origin_jwts) {
        if !issuers.insert(jwt.issuer.clone()) {
            out.error(
                &at,
                format!("jwt with issuer {:?} already defined", jwt.issuer),
            );
        }
        check_jwt(jwt, &at, out);
    }
}

fn check_target(t: &TargetSelector, at: &str, out: &mut Findings) {
    if !is_dns1123_label(&t.name) {
        out.error(
            format!("{at}.name"),
            format!("target name {:?} must be a valid label", t.name),
        );
    }
    for (i, port) in t.ports.iter().enumerate() {
        let p = format!("{at}.ports[{i}]");
        let name = port.name.as_deref().unwrap_or_default();
        let number = port.number.unwrap_or_default();
        if name.is_empty() && number == 0 {
            out.error(&p, "subset name cannot be empty");
            out.error(&p, "port number 0 must be in the range 1..65535");
        } else if number != 0 {
            if let Err(e) = validate_port(i64::from(number)) {
                out.error(&p, e);
            }
        } else if !is_dns1123_label(name) {
            out.error(&p, format!("subset name is invalid: {name}"));
        }
    }
}

/// Istio 1.5's `validateJwt`.
fn check_jwt(jwt: &Jwt, at: &str, out: &mut Findings) {
    if jwt.issuer.is_empty() {
        out.error(format!("{at}.issuer"), "issuer must be set");
    }
    for (i, a) in jwt.audiences.iter().enumerate() {
        if a.is_empty() {
            out.error(
                format!("{at}.audiences[{i}]"),
                "audience must be non-empty string",
            );
        }
    }
    if !jwt.jwks_uri.is_empty() {
        match go_url::parse(&jwt.jwks_uri) {
            Err(e) => out.error(format!("{at}.jwksUri"), e),
            Ok(u) if u.scheme != "http" && u.scheme != "https" => out.error(
                format!("{at}.jwksUri"),
                format!("URI scheme {:?} is not supported", u.scheme),
            ),
            Ok(_) => {}
        }
    }
    for (i, h) in jwt.jwt_headers.iter().enumerate() {
        if h.is_empty() {
            out.error(
                format!("{at}.jwtHeaders[{i}]"),
                "location header must be non-empty string",
            );
        }
    }
    for (i, q) in jwt.jwt_params.iter().enumerate() {
        if q.is_empty() {
            out.error(
                format!("{at}.jwtParams[{i}]"),
                "location query must be non-empty string",
            );
        }
    }
}

/// Istio 1.5's `ValidateServiceRole` (also applied to a binding's inline `actions`).
pub fn validate_service_role(rules: &[AccessRule], at: &str, out: &mut Findings) {
    if rules.is_empty() {
        out.error(at, "at least 1 rule must be specified");
    }
    for (i, rule) in rules.iter().enumerate() {
        let p = format!("{at}[{i}]");
        let both = "cannot have both regular and *not* attributes for the same kind";
        if !rule.methods.is_empty() && !rule.not_methods.is_empty() {
            out.error(
                &p,
                format!("{both} (i.e. methods and not_methods) for rule {i}"),
            );
        }
        if !rule.ports.is_empty() && !rule.not_ports.is_empty() {
            out.error(
                &p,
                format!("{both} (i.e. ports and not_ports) for rule {i}"),
            );
        }
        let bad_port = |ports: &[i32]| ports.iter().any(|p| validate_port(i64::from(*p)).is_err());
        if bad_port(&rule.ports) || bad_port(&rule.not_ports) {
            out.error(&p, "at least one port is not in the range of [0, 65535]");
        }
        for (j, c) in rule.constraints.iter().enumerate() {
            let cp = format!("{p}.constraints[{j}]");
            if c.key.is_empty() {
                out.error(
                    format!("{cp}.key"),
                    format!("key cannot be empty for constraint {j} in rule {i}"),
                );
            }
            if c.values.is_empty() {
                out.error(
                    format!("{cp}.values"),
                    format!("at least 1 value must be specified for constraint {j} in rule {i}"),
                );
            }
            let port_field = !rule.ports.is_empty() || !rule.not_ports.is_empty();
            if c.key == "destination.port" && port_field {
                out.error(
                    format!("{cp}.key"),
                    format!("cannot define {} for rule {i} because a similar first-class field has been defined", c.key),
                );
            }
        }
    }
}

/// Istio 1.5's `ValidateServiceRoleBinding`.
pub fn validate_service_role_binding(b: &ServiceRoleBinding, out: &mut Findings) {
    if b.subjects.is_empty() {
        out.error("spec.subjects", "at least 1 subject must be specified");
    }
    for (i, s) in b.subjects.iter().enumerate() {
        let at = format!("spec.subjects[{i}]");
        if subject_is_empty(s) {
            out.error(
                &at,
                format!("empty subjects are not allowed. Found an empty subject at index {i}"),
            );
        }
        for key in s.properties.keys() {
            if property_duplicates_field(key, s) {
                out.error(
                    format!("{at}.properties[{key:?}]"),
                    format!("cannot define {key} for binding {i} because a similar first-class field has been defined"),
                );
            }
        }
        if s.names.iter().chain(&s.not_names).any(|n| n == "*") {
            out.error(
                &at,
                format!("do not use * for names or not_names (in rule {i})"),
            );
        }
    }
    let set = usize::from(b.role_ref.is_some())
        + usize::from(!b.actions.is_empty())
        + usize::from(!b.role.is_empty());
    if set != 1 {
        out.error(
            "spec",
            "exactly one of `roleRef`, `role`, or `actions` must be specified",
        );
    }
    if let Some(r) = &b.role_ref {
        if r.kind != "ServiceRole" {
            out.error(
                "spec.roleRef.kind",
                format!(
                    "kind set to {:?}, currently the only supported value is \"ServiceRole\"",
                    r.kind
                ),
            );
        }
        if r.name.is_empty() {
            out.error("spec.roleRef.name", "`name` in `roleRef` cannot be empty");
        }
    }
    if !b.actions.is_empty() {
        validate_service_role(&b.actions, "spec.actions", out);
    }
    if b.role == "/" {
        out.error("spec.role", "`role` cannot have an empty ServiceRole name");
    }
}

fn subject_is_empty(s: &Subject) -> bool {
    s.user.is_empty()
        && s.group.is_empty()
        && s.properties.is_empty()
        && [
            &s.namespaces,
            &s.not_namespaces,
            &s.groups,
            &s.not_groups,
            &s.ips,
            &s.not_ips,
            &s.names,
            &s.not_names,
        ]
        .iter()
        .all(|v| v.is_empty())
}

fn property_duplicates_field(key: &str, s: &Subject) -> bool {
    match key {
        "source.principal" => !s.names.is_empty(),
        "request.auth.claims[groups]" => !s.groups.is_empty(),
        "source.namespace" => !s.namespaces.is_empty(),
        "source.ip" => !s.ips.is_empty(),
        _ => false,
    }
}

/// Istio 1.5's `ValidateClusterRbacConfig` / `ValidateRbacConfig`.
pub fn validate_rbac_config(c: &RbacConfig, kind: &str, name: Option<&str>, out: &mut Findings) {
    if kind == "RbacConfig" {
        out.warning(
            "kind",
            "RbacConfig is deprecated, use ClusterRbacConfig instead.",
        );
    }
    if let Some(n) = name.filter(|n| *n != DEFAULT_NAME) {
        out.error(
            "metadata.name",
            format!("{kind} has invalid name({n}), name must be {DEFAULT_NAME:?}"),
        );
        return;
    }
    if c.mode == RbacMode::OnWithInclusion && c.inclusion.is_none() {
        out.error(
            "spec.inclusion",
            "inclusion cannot be null (use 'inclusion: {}' for none)",
        );
    }
    if c.mode == RbacMode::OnWithExclusion && c.exclusion.is_none() {
        out.error(
            "spec.exclusion",
            "exclusion cannot be null (use 'exclusion: {}' for none)",
        );
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
