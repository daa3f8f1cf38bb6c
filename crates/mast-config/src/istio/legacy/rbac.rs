//! `rbac.istio.io/v1alpha1`: `ServiceRole`, `ServiceRoleBinding`, `RbacConfig` and
//! `ClusterRbacConfig`, with Istio 1.5's validation of each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::DEFAULT_NAME;
use crate::istio::common::validate_port;
use crate::validate::Findings;

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
