//! `AuthorizationPolicy`: access control of workloads, and Istio's
//! `ValidateAuthorizationPolicy`.

use serde::{Deserialize, Serialize};

use super::rule_values::{
    check_empty_values, check_ips, check_path_templates, check_ports, check_service_accounts,
    check_trust_domains, go_field_name, report,
};
use super::{check_attachment, validate_attribute};
use crate::istio::common::{PolicyTargetReference, WorkloadSelector};
use crate::validate::Findings;

/// Access control for workloads: rules matched against request attributes, and what to do on
/// a match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct AuthorizationPolicy {
    /// Workloads the policy applies to.
    pub selector: Option<WorkloadSelector>,
    /// The resource the policy is attached to (instead of `selector`).
    pub target_ref: Option<PolicyTargetReference>,
    /// The resources the policy is attached to (instead of `selector`).
    pub target_refs: Vec<PolicyTargetReference>,
    /// Rules; a request matching any rule triggers the action.
    pub rules: Vec<Rule>,
    /// What to do when a rule matches.
    pub action: Action,
    /// The external authorizer of a CUSTOM policy.
    pub provider: Option<ExtensionProvider>,
}

/// `AuthorizationPolicy.Action`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// Allow matching requests.
    #[default]
    Allow,
    /// Deny matching requests.
    Deny,
    /// Audit matching requests (no effect on the decision).
    Audit,
    /// Delegate the decision to an extension provider.
    Custom,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
            Action::Audit => "AUDIT",
            Action::Custom => "CUSTOM",
        }
    }
}

/// Names an extension provider of the mesh config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ExtensionProvider {
    /// The provider's name in `meshConfig.extensionProviders`.
    pub name: String,
}

/// A rule: sources, operations and conditions that must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Rule {
    /// Request sources; any may match.
    pub from: Vec<RuleFrom>,
    /// Request operations; any may match.
    pub to: Vec<RuleTo>,
    /// Further conditions; all must match.
    pub when: Vec<Condition>,
}

/// `Rule.From`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RuleFrom {
    /// The source.
    pub source: Option<Source>,
}

/// `Rule.To`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RuleTo {
    /// The operation.
    pub operation: Option<Operation>,
}

/// Attributes of the request's source; the set fields must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Source {
    /// Peer identities (`<trust domain>/ns/<ns>/sa/<sa>`), from mTLS.
    pub principals: Vec<String>,
    /// Negated `principals`.
    pub not_principals: Vec<String>,
    /// Request identities (`<iss>/<sub>`), from JWT.
    pub request_principals: Vec<String>,
    /// Negated `requestPrincipals`.
    pub not_request_principals: Vec<String>,
    /// Peer namespaces, from mTLS.
    pub namespaces: Vec<String>,
    /// Negated `namespaces`.
    pub not_namespaces: Vec<String>,
    /// Peer service accounts (`sa` or `ns/sa`).
    pub service_accounts: Vec<String>,
    /// Negated `serviceAccounts`.
    pub not_service_accounts: Vec<String>,
    /// Peer IPs or CIDRs.
    pub ip_blocks: Vec<String>,
    /// Negated `ipBlocks`.
    pub not_ip_blocks: Vec<String>,
    /// Original client IPs or CIDRs (X-Forwarded-For, proxy protocol).
    pub remote_ip_blocks: Vec<String>,
    /// Negated `remoteIpBlocks`.
    pub not_remote_ip_blocks: Vec<String>,
    /// Peer trust domains.
    pub trust_domains: Vec<String>,
    /// Negated `trustDomains`.
    pub not_trust_domains: Vec<String>,
}

/// Attributes of the request's operation; the set fields must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Operation {
    /// Hosts (`Host`/`:authority`), case-insensitive.
    pub hosts: Vec<String>,
    /// Negated `hosts`.
    pub not_hosts: Vec<String>,
    /// Destination ports, as strings.
    pub ports: Vec<String>,
    /// Negated `ports`.
    pub not_ports: Vec<String>,
    /// HTTP methods.
    pub methods: Vec<String>,
    /// Negated `methods`.
    pub not_methods: Vec<String>,
    /// Paths (exact, prefix `*`, suffix `*`, or templates with `{*}`/`{**}`).
    pub paths: Vec<String>,
    /// Negated `paths`.
    pub not_paths: Vec<String>,
}

/// A condition on a named attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Condition {
    /// The attribute (`request.headers[x]`, `source.ip`, `request.auth.claims[iss]`, …).
    pub key: String,
    /// Accepted values.
    pub values: Vec<String>,
    /// Rejected values.
    pub not_values: Vec<String>,
}

/// Istio's `ValidateAuthorizationPolicy` plus the CRD rules.
pub fn validate_authorization_policy(a: &AuthorizationPolicy, out: &mut Findings) {
    check_attachment(
        a.selector.as_ref(),
        a.target_ref.as_ref(),
        &a.target_refs,
        out,
    );
    if a.action == Action::Custom {
        check_custom_action(a, out);
    }
    if a.provider.is_some() && a.action != Action::Custom {
        out.error(
            "spec.provider",
            format!(
                "`provider` must not be with non CUSTOM action, found {}",
                a.action.name()
            ),
        );
    }
    if a.action == Action::Deny && a.rules.is_empty() {
        out.error(
            "spec.rules",
            "DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
        );
    }
    if a.rules.len() > 512 {
        out.error("spec.rules", "Too many: must have at most 512 items");
    }
    for (i, rule) in a.rules.iter().enumerate() {
        check_rule(rule, i, a.action, out);
    }
}

/// The restrictions of a CUSTOM policy: it needs rules and a provider, and may not use
/// attributes the external authorizer cannot see.
fn check_custom_action(a: &AuthorizationPolicy, out: &mut Findings) {
    if a.rules.is_empty() {
        out.error(
            "spec.rules",
            "CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request",
        );
    } else if a.provider.as_ref().is_none_or(|p| p.name.is_empty()) {
        out.error("spec.provider.name", "`provider.name` must not be empty");
    }
    for (i, rule) in a.rules.iter().enumerate() {
        for (j, from) in rule.from.iter().enumerate() {
            let Some(src) = &from.source else { continue };
            let at = format!("spec.rules[{i}].from[{j}].source");
            let unsupported: [(&str, &str, &Vec<String>); 10] = [
                ("namespaces", "From.Namespaces", &src.namespaces),
                ("notNamespaces", "From.NotNamespaces", &src.not_namespaces),
                (
                    "serviceAccounts",
                    "From.ServiceAccounts",
                    &src.service_accounts,
                ),
                (
                    "notServiceAccounts",
                    "From.NotServiceAccounts",
                    &src.not_service_accounts,
                ),
                ("trustDomains", "From.TrustDomains", &src.trust_domains),
                (
                    "notTrustDomains",
                    "From.NotTrustDomains",
                    &src.not_trust_domains,
                ),
                ("principals", "From.Principals", &src.principals),
                ("notPrincipals", "From.NotPrincipals", &src.not_principals),
                (
                    "requestPrincipals",
                    "From.RequestPrincipals",
                    &src.request_principals,
                ),
                (
                    "notRequestPrincipals",
                    "From.NotRequestPrincipals",
                    &src.not_request_principals,
                ),
            ];
            for (field, name, values) in unsupported {
                if !values.is_empty() {
                    out.error(
                        format!("{at}.{field}"),
                        format!("{name} is currently not supported with CUSTOM action"),
                    );
                }
            }
        }
        for (j, cond) in rule.when.iter().enumerate() {
            let k = cond.key.as_str();
            let peer_key = matches!(
                k,
                "source.namespace"
                    | "source.serviceAccount"
                    | "source.trustDomain"
                    | "source.principal"
            );
            if peer_key || k.starts_with("request.auth.") {
                out.error(
                    format!("spec.rules[{i}].when[{j}].key"),
                    format!("{k} is currently not supported with CUSTOM action"),
                );
            }
        }
    }
}

fn check_rule(rule: &Rule, i: usize, action: Action, out: &mut Findings) {
    let at = format!("spec.rules[{i}]");
    let mut tcp_in_from = false;
    let mut tcp_in_to = false;
    let mut from_exists = false;
    let mut to_exists = false;
    if rule.from.len() > 512 {
        out.error(
            format!("{at}.from"),
            "Too many: must have at most 512 items",
        );
    }
    for (j, from) in rule.from.iter().enumerate() {
        let p = format!("{at}.from[{j}].source");
        match &from.source {
            None => out.error(
                p,
                format!("`from.source` must not be nil, found at rule {i}"),
            ),
            Some(src) => {
                from_exists = true;
                tcp_in_from |= check_source(src, i, &p, out);
            }
        }
    }
    for (j, to) in rule.to.iter().enumerate() {
        let p = format!("{at}.to[{j}].operation");
        match &to.operation {
            None => out.error(
                p,
                format!("`to.operation` must not be nil, found at rule {i}"),
            ),
            Some(op) => {
                to_exists = true;
                tcp_in_to |= check_operation(op, i, &p, out);
            }
        }
    }
    for (j, cond) in rule.when.iter().enumerate() {
        check_condition(cond, &format!("{at}.when[{j}]"), out);
    }
    let http_only = (from_exists && !to_exists && !tcp_in_from) || (to_exists && !tcp_in_to);
    if http_only && action == Action::Deny {
        out.warning(
            at,
            "configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port",
        );
    }
}

/// Checks a source; returns whether it uses attributes available for TCP traffic.
fn check_source(src: &Source, rule: usize, at: &str, out: &mut Findings) -> bool {
    let peer_fields = src.principals.len()
        + src.not_principals.len()
        + src.namespaces.len()
        + src.not_namespaces.len();
    if peer_fields > 0 && src.service_accounts.len() + src.not_service_accounts.len() > 0 {
        out.error(
            at,
            format!(
                "cannot set serviceAccounts with namespaces or principals, found at rule {rule}"
            ),
        );
    }
    let lists: [(&str, &Vec<String>); 14] = [
        ("principals", &src.principals),
        ("notPrincipals", &src.not_principals),
        ("requestPrincipals", &src.request_principals),
        ("notRequestPrincipals", &src.not_request_principals),
        ("namespaces", &src.namespaces),
        ("notNamespaces", &src.not_namespaces),
        ("serviceAccounts", &src.service_accounts),
        ("notServiceAccounts", &src.not_service_accounts),
        ("ipBlocks", &src.ip_blocks),
        ("notIpBlocks", &src.not_ip_blocks),
        ("remoteIpBlocks", &src.remote_ip_blocks),
        ("notRemoteIpBlocks", &src.not_remote_ip_blocks),
        ("trustDomains", &src.trust_domains),
        ("notTrustDomains", &src.not_trust_domains),
    ];
    if lists.iter().all(|(_, v)| v.is_empty()) {
        out.error(
            at,
            format!("`from.source` must not be empty, found at rule {rule}"),
        );
    }
    for (field, values) in lists {
        let p = format!("{at}.{field}");
        let name = go_field_name(field);
        match field {
            "ipBlocks" | "notIpBlocks" | "remoteIpBlocks" | "notRemoteIpBlocks" => {
                check_ips(values, &p, out);
                report(out, &p, check_empty_values(&name, values));
            }
            "serviceAccounts" | "notServiceAccounts" => {
                report(out, &p, check_service_accounts(&name, values));
            }
            "trustDomains" | "notTrustDomains" => {
                report(out, &p, check_trust_domains(&name, values));
            }
            _ => report(out, &p, check_empty_values(&name, values)),
        }
    }
    [
        &src.principals,
        &src.not_principals,
        &src.ip_blocks,
        &src.not_ip_blocks,
        &src.namespaces,
        &src.not_namespaces,
        &src.remote_ip_blocks,
        &src.not_remote_ip_blocks,
        &src.service_accounts,
        &src.not_service_accounts,
    ]
    .iter()
    .any(|v| !v.is_empty())
}

/// Checks an operation; returns whether it uses ports (available for TCP traffic).
fn check_operation(op: &Operation, rule: usize, at: &str, out: &mut Findings) -> bool {
    let lists: [(&str, &Vec<String>); 8] = [
        ("ports", &op.ports),
        ("methods", &op.methods),
        ("paths", &op.paths),
        ("hosts", &op.hosts),
        ("notPorts", &op.not_ports),
        ("notMethods", &op.not_methods),
        ("notPaths", &op.not_paths),
        ("notHosts", &op.not_hosts),
    ];
    if lists.iter().all(|(_, v)| v.is_empty()) {
        out.error(
            at,
            format!("`to.operation` must not be empty, found at rule {rule}"),
        );
    }
    for (field, values) in lists {
        let p = format!("{at}.{field}");
        let name = go_field_name(field);
        if field.ends_with("orts") {
            check_ports(values, &p, out);
        }
        report(out, &p, check_empty_values(&name, values));
        if field.ends_with("aths") {
            report(out, &p, check_path_templates(&name, values));
        }
    }
    !op.ports.is_empty() || !op.not_ports.is_empty()
}

fn check_condition(cond: &Condition, at: &str, out: &mut Findings) {
    let key = cond.key.as_str();
    if key.is_empty() {
        out.error(format!("{at}.key"), "`key` must not be empty");
        return;
    }
    if cond.values.is_empty() && cond.not_values.is_empty() {
        out.error(
            at,
            format!("at least one of `values` or `notValues` must be set for key {key}"),
        );
        return;
    }
    if let Err(e) = validate_attribute(key, &cond.values) {
        out.error(
            format!("{at}.values"),
            format!("invalid `value` for `key` {key}: {e}"),
        );
    }
    if let Err(e) = validate_attribute(key, &cond.not_values) {
        out.error(
            format!("{at}.notValues"),
            format!("invalid `notValue` for `key` {key}: {e}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::istio::security::tests::run;
    use crate::istio::security::validate;

    /// (kind, spec, expected error path fragments and message fragments; empty = valid)
    #[test]
    fn authorization_policy_rules() {
        let cases: Vec<(&str, Value, &[&str])> = vec![
            ("empty spec allows nothing", json!({}), &[]),
            (
                "deny without rules",
                json!({"action": "DENY"}),
                &["DENY action without `rules`"],
            ),
            (
                "deny with empty rule",
                json!({"action": "DENY", "rules": [{}]}),
                &[],
            ),
            (
                "custom without provider",
                json!({"action": "CUSTOM", "rules": [{}]}),
                &["`provider.name` must not be empty"],
            ),
            (
                "custom without rules",
                json!({"action": "CUSTOM", "provider": {"name": "x"}}),
                &["CUSTOM action without `rules`"],
            ),
            (
                "custom ok",
                json!({"action": "CUSTOM", "provider": {"name": "x"}, "rules": [{"to": [{"operation": {"paths": ["/a"]}}]}]}),
                &[],
            ),
            (
                "custom with principals",
                json!({"action": "CUSTOM", "provider": {"name": "x"}, "rules": [{"from": [{"source": {"principals": ["a"]}}]}]}),
                &["From.Principals is currently not supported with CUSTOM action"],
            ),
            (
                "custom with claim key",
                json!({"action": "CUSTOM", "provider": {"name": "x"}, "rules": [{"when": [{"key": "request.auth.claims[iss]", "values": ["a"]}]}]}),
                &["request.auth.claims[iss] is currently not supported"],
            ),
            (
                "provider with allow",
                json!({"provider": {"name": "x"}, "rules": [{}]}),
                &["`provider` must not be with non CUSTOM action, found ALLOW"],
            ),
            (
                "audit with provider",
                json!({"action": "AUDIT", "provider": {"name": "x"}, "rules": [{}]}),
                &["found AUDIT"],
            ),
            (
                "empty source",
                json!({"rules": [{"from": [{"source": {}}]}]}),
                &["`from.source` must not be empty, found at rule 0"],
            ),
            (
                "nil source",
                json!({"rules": [{"from": [{}]}]}),
                &["`from.source` must not be nil"],
            ),
            (
                "empty operation",
                json!({"rules": [{"to": [{"operation": {}}]}]}),
                &["`to.operation` must not be empty"],
            ),
            (
                "bad ip",
                json!({"rules": [{"from": [{"source": {"ipBlocks": ["1.2.3.4/33"]}}]}]}),
                &["bad CIDR range (1.2.3.4/33)"],
            ),
            (
                "bad ip addr",
                json!({"rules": [{"from": [{"source": {"notRemoteIpBlocks": ["1.2.3"]}}]}]}),
                &["bad IP address (1.2.3)"],
            ),
            (
                "good ips",
                json!({"rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/8", "::1", "fe80::/10"]}}]}]}),
                &[],
            ),
            (
                "bad port",
                json!({"rules": [{"to": [{"operation": {"ports": ["70000"]}}]}]}),
                &["bad port (70000)"],
            ),
            (
                "port not a number",
                json!({"rules": [{"to": [{"operation": {"notPorts": ["http"]}}]}]}),
                &["bad port (http)"],
            ),
            (
                "empty principal",
                json!({"rules": [{"from": [{"source": {"principals": [""]}}]}]}),
                &["empty value not allowed, found in Principals"],
            ),
            (
                "sa with namespaces",
                json!({"rules": [{"from": [{"source": {"serviceAccounts": ["a/b"], "namespaces": ["a"]}}]}]}),
                &["cannot set serviceAccounts with namespaces or principals"],
            ),
            (
                "sa wildcard",
                json!({"rules": [{"from": [{"source": {"serviceAccounts": ["a/*"]}}]}]}),
                &["wildcard not allowed"],
            ),
            (
                "sa two slashes",
                json!({"rules": [{"from": [{"source": {"serviceAccounts": ["a/b/c"]}}]}]}),
                &["expected format"],
            ),
            (
                "trust domain slash",
                json!({"rules": [{"from": [{"source": {"trustDomains": ["a/b"]}}]}]}),
                &["trust domain must not contain '/'"],
            ),
            (
                "trust domain middle wildcard",
                json!({"rules": [{"from": [{"source": {"trustDomains": ["a*b"]}}]}]}),
                &["wildcard is only allowed at the start or end"],
            ),
            (
                "path template ok",
                json!({"rules": [{"to": [{"operation": {"paths": ["/a/{*}/b/{**}"]}}]}]}),
                &[],
            ),
            (
                "path template any not last",
                json!({"rules": [{"to": [{"operation": {"paths": ["/a/{**}/b"]}}]}]}),
                &[],
            ),
            (
                "path template any then one",
                json!({"rules": [{"to": [{"operation": {"paths": ["/{**}/{*}"]}}]}]}),
                &["{**} is not the last operator"],
            ),
            (
                "path brace",
                json!({"rules": [{"to": [{"operation": {"paths": ["/a/{foo}"]}}]}]}),
                &["Contains '{' or '}'"],
            ),
            (
                "when without key",
                json!({"rules": [{"when": [{"values": ["x"]}]}]}),
                &["`key` must not be empty"],
            ),
            (
                "when without values",
                json!({"rules": [{"when": [{"key": "source.ip"}]}]}),
                &["at least one of `values` or `notValues`"],
            ),
            (
                "when bad ip",
                json!({"rules": [{"when": [{"key": "source.ip", "values": ["x"]}]}]}),
                &["invalid `value` for `key` source.ip"],
            ),
            (
                "when bad port",
                json!({"rules": [{"when": [{"key": "destination.port", "notValues": ["-1"]}]}]}),
                &["invalid `notValue` for `key` destination.port"],
            ),
            (
                "when bad claim key",
                json!({"rules": [{"when": [{"key": "request.auth.claims[]", "values": ["x"]}]}]}),
                &["bad key (request.auth.claims[])"],
            ),
            (
                "when claim key",
                json!({"rules": [{"when": [{"key": "request.auth.claims[groups]", "values": ["x"]}]}]}),
                &[],
            ),
            (
                "when header",
                json!({"rules": [{"when": [{"key": "request.headers[x-token]", "notValues": ["x"]}]}]}),
                &[],
            ),
            (
                "when unknown",
                json!({"rules": [{"when": [{"key": "source.foo", "values": ["x"]}]}]}),
                &["unknown attribute: source.foo"],
            ),
            (
                "when destination labels",
                json!({"rules": [{"when": [{"key": "destination.labels[app]", "values": ["x"]}]}]}),
                &["replaced by the workload selector"],
            ),
            (
                "selector wildcard",
                json!({"selector": {"matchLabels": {"app": "a*"}}}),
                &["wildcard is not supported in selector"],
            ),
            (
                "selector and targetRef",
                json!({"selector": {"matchLabels": {"app": "a"}}, "targetRef": {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "g"}}),
                &["only one of targetRefs or workloadSelector"],
            ),
            (
                "bad targetRef kind",
                json!({"targetRef": {"kind": "Pod", "name": "p"}}),
                &["targetRef must be to one of"],
            ),
            (
                "targetRef namespace",
                json!({"targetRefs": [{"kind": "Service", "name": "p", "namespace": "x"}]}),
                &["cross namespace referencing is not supported"],
            ),
            (
                "bad action",
                json!({"action": "BLOCK"}),
                &["Unsupported value: \"BLOCK\""],
            ),
            (
                "bad type",
                json!({"rules": [{"from": {"source": {}}}]}),
                &["invalid type"],
            ),
        ];
        for (name, spec, want) in cases {
            let got = run("AuthorizationPolicy", spec);
            assert_eq!(got.is_empty(), want.is_empty(), "{name}: {got:?}");
            for w in want {
                assert!(
                    got.iter().any(|(_, m)| m.contains(w)),
                    "{name}: want {w:?} in {got:?}"
                );
            }
        }
    }

    #[test]
    fn deny_http_only_warns() {
        let mut out = Findings::default();
        let spec =
            json!({"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["GET"]}}]}]});
        validate("AuthorizationPolicy", &spec, &mut out);
        assert!(!out.has_errors());
        assert!(
            out.as_slice()
                .iter()
                .any(|f| f.message.contains("deny all traffic to TCP ports"))
        );
        let mut out = Findings::default();
        let spec = json!({"action": "DENY", "rules": [{"to": [{"operation": {"ports": ["80"]}}]}]});
        validate("AuthorizationPolicy", &spec, &mut out);
        assert!(out.as_slice().is_empty(), "{:?}", out.as_slice());
    }
}
