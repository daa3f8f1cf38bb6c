//! `security.istio.io`: `PeerAuthentication`, `RequestAuthentication` and
//! `AuthorizationPolicy` (istio/api `security/v1beta1`, served as `v1beta1` and `v1`), with
//! Istio's validation rules (the istiod webhook and the CRD schema rules).
//!
//! Also holds the pieces the policy kinds of the security, telemetry, extensions and legacy
//! groups share: the selector/`targetRef` checks (on top of the `istio.type.v1beta1` types of
//! [`crate::istio::common`]), spec decoding that tolerates unknown fields as Istio does
//! (`decode_spec`), and URL/IP/port syntax checks with Go's semantics (`go_url`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::istio::common::{PolicyTargetReference, WorkloadSelector};
use crate::istio::common::{validate_policy_target_ref, validate_workload_selector};
use crate::istio::decode::decode_spec;
use crate::istio::mesh::Duration;
use crate::validate::Findings;

// ---------------------------------------------------------------------------------------------
// PeerAuthentication
// ---------------------------------------------------------------------------------------------

/// Which mutual TLS mode workloads accept for incoming connections.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PeerAuthentication {
    /// Workloads the policy applies to; without it the policy is namespace-wide (or mesh-wide
    /// in the root namespace).
    pub selector: Option<WorkloadSelector>,
    /// The mTLS mode for all ports.
    pub mtls: Option<MutualTls>,
    /// Per-port mTLS modes (port number → settings); needs a workload selector.
    #[serde(deserialize_with = "port_keyed_map")]
    pub port_level_mtls: Option<BTreeMap<u32, MutualTls>>,
}

/// Reads a map keyed by port numbers written as strings (`"8080": {...}`).
fn port_keyed_map<'de, D, T>(d: D) -> Result<Option<BTreeMap<u32, T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let raw = Option::<BTreeMap<String, T>>::deserialize(d)?;
    let Some(raw) = raw else { return Ok(None) };
    let mut ports = BTreeMap::new();
    for (k, v) in raw {
        let port = k.parse::<u32>().map_err(|_| {
            serde::de::Error::custom(format!(
                "type conversion error from string {k:?} to a port number"
            ))
        })?;
        ports.insert(port, v);
    }
    Ok(Some(ports))
}

/// Mutual TLS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct MutualTls {
    /// The mode.
    pub mode: MtlsMode,
}

/// `PeerAuthentication.MutualTLS.Mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    /// Inherit from the parent policy (mesh default: PERMISSIVE).
    #[default]
    Unset,
    /// Plaintext only.
    Disable,
    /// Both plaintext and mTLS.
    Permissive,
    /// mTLS only.
    Strict,
}

// ---------------------------------------------------------------------------------------------
// RequestAuthentication
// ---------------------------------------------------------------------------------------------

/// Which JSON Web Tokens a workload accepts (it rejects invalid tokens; requests without a
/// token are left to authorization).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct RequestAuthentication {
    /// Workloads the policy applies to.
    pub selector: Option<WorkloadSelector>,
    /// The resource the policy is attached to (instead of `selector`).
    pub target_ref: Option<PolicyTargetReference>,
    /// The resources the policy is attached to (instead of `selector`).
    pub target_refs: Vec<PolicyTargetReference>,
    /// The accepted token issuers and how to verify their tokens.
    pub jwt_rules: Vec<JwtRule>,
}

/// How to find and verify the tokens of one issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct JwtRule {
    /// The issuer (`iss` claim).
    pub issuer: String,
    /// Accepted audiences (`aud` claim); empty accepts any.
    pub audiences: Vec<String>,
    /// URL of the issuer's public key set (http or https).
    #[serde(alias = "jwks_uri")]
    pub jwks_uri: String,
    /// The public key set inline, as JSON (instead of `jwksUri`).
    pub jwks: String,
    /// Headers the token may come in (default `Authorization: Bearer`).
    pub from_headers: Vec<JwtHeader>,
    /// Query parameters the token may come in (default `access_token`).
    pub from_params: Vec<String>,
    /// Header to which the verified payload is written, base64-encoded.
    pub output_payload_to_header: String,
    /// Cookies the token may come in.
    pub from_cookies: Vec<String>,
    /// Whether the token is forwarded upstream.
    pub forward_original_token: bool,
    /// Claims copied into request headers.
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    /// Timeout for fetching the key set.
    pub timeout: Option<Duration>,
    /// Claims whose values are space-separated lists (besides `scope` and `permission`).
    pub space_delimited_claims: Vec<String>,
}

/// A header carrying a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct JwtHeader {
    /// Header name.
    pub name: String,
    /// Prefix before the token (e.g. `Bearer `).
    pub prefix: String,
}

/// Copies a claim into a header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ClaimToHeader {
    /// Header name.
    pub header: String,
    /// Claim name (nested claims with `.`).
    pub claim: String,
}

// ---------------------------------------------------------------------------------------------
// AuthorizationPolicy
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

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

/// Istio's `ValidatePeerAuthentication` plus the CRD rules.
pub fn validate_peer_authentication(p: &PeerAuthentication, out: &mut Findings) {
    let no_labels = p
        .selector
        .as_ref()
        .is_none_or(|s| s.match_labels.is_empty());
    if let Some(ports) = &p.port_level_mtls {
        if no_labels && !ports.is_empty() {
            out.error(
                "spec.portLevelMtls",
                "mesh/namespace peer authentication cannot have port level mTLS",
            );
        }
        if ports.is_empty() {
            out.error(
                "spec.portLevelMtls",
                "port level mTLS, if defined, must have at least one element",
            );
        }
        for port in ports.keys() {
            if *port == 0 || *port > 65535 {
                out.error(
                    format!("spec.portLevelMtls.{port}"),
                    "port must be in range 1..65535",
                );
            }
        }
    }
    check_selector(p.selector.as_ref(), out);
}

/// Istio's `ValidateRequestAuthentication` plus the CRD rules.
pub fn validate_request_authentication(r: &RequestAuthentication, out: &mut Findings) {
    check_attachment(
        r.selector.as_ref(),
        r.target_ref.as_ref(),
        &r.target_refs,
        out,
    );
    if r.jwt_rules.len() > 4096 {
        out.error("spec.jwtRules", "Too many: must have at most 4096 items");
    }
    for (i, rule) in r.jwt_rules.iter().enumerate() {
        validate_jwt_rule(rule, &format!("spec.jwtRules[{i}]"), out);
    }
}

fn validate_jwt_rule(rule: &JwtRule, at: &str, out: &mut Findings) {
    for (i, aud) in rule.audiences.iter().enumerate() {
        if aud.is_empty() {
            out.error(
                format!("{at}.audiences[{i}]"),
                "audience must be non-empty string",
            );
        }
    }
    if rule.issuer.is_empty() && rule.jwks_uri.is_empty() {
        out.error(
            format!("{at}.issuer"),
            "issuer or jwksUri must be non-empty string",
        );
    }
    if !rule.jwks_uri.is_empty()
        && let Err(e) = check_jwks_uri(&rule.jwks_uri)
    {
        out.error(format!("{at}.jwksUri"), e);
    }
    if !rule.jwks.is_empty() {
        if !rule.jwks_uri.is_empty() {
            out.error(
                format!("{at}.jwks"),
                "only one of jwks or jwksUri can be set",
            );
        }
        check_jwks(&rule.jwks, &format!("{at}.jwks"), out);
    }
    for (i, h) in rule.from_headers.iter().enumerate() {
        if h.name.is_empty() {
            out.error(
                format!("{at}.fromHeaders[{i}].name"),
                "location header name must be non-empty string",
            );
        }
    }
    for (i, p) in rule.from_params.iter().enumerate() {
        if p.is_empty() {
            out.error(
                format!("{at}.fromParams[{i}]"),
                "location query must be non-empty string",
            );
        }
    }
    for (i, c) in rule.from_cookies.iter().enumerate() {
        if c.is_empty() {
            out.error(
                format!("{at}.fromCookies[{i}]"),
                "cookie name must be non-empty string",
            );
        }
    }
    for (i, ch) in rule.output_claim_to_headers.iter().enumerate() {
        let p = format!("{at}.outputClaimToHeaders[{i}]");
        if ch.claim.is_empty() || ch.header.is_empty() {
            out.error(
                p,
                "outputClaimToHeaders header and claim value must be non-empty string",
            );
        } else if let Err(e) = strict_header_name(&ch.header) {
            out.error(format!("{p}.header"), e);
        }
    }
    if let Some(t) = rule.timeout {
        check_duration(t, &format!("{at}.timeout"), out);
    }
    if rule.space_delimited_claims.len() > 64 {
        out.error(
            format!("{at}.spaceDelimitedClaims"),
            "Too many: must have at most 64 items",
        );
    }
    for (i, c) in rule.space_delimited_claims.iter().enumerate() {
        if c.is_empty() {
            out.error(
                format!("{at}.spaceDelimitedClaims[{i}]"),
                "spaceDelimitedClaims in body should be at least 1 chars long",
            );
        }
    }
}

/// `security.ParseJwksURI` plus the CRD rule: an http or https URL of at most 2048 bytes.
fn check_jwks_uri(uri: &str) -> Result<(), String> {
    if uri.len() > 2048 {
        return Err("Too long: may not be more than 2048 bytes".into());
    }
    let u = go_url::parse(uri)?;
    match u.scheme.as_str() {
        "http" | "https" => {}
        other => return Err(format!("URI scheme {other:?} is not supported")),
    }
    if !u.port.is_empty() && u.port.parse::<i64>().is_err() {
        return Err(format!(
            "strconv.Atoi: parsing {:?}: value out of range",
            u.port
        ));
    }
    go_url::parse_request_uri(uri).map_err(|_| "url must have scheme http:// or https://")?;
    Ok(())
}

/// Parses an inline JWKS as the JWK library Istio uses would: a JSON key or key set whose keys
/// have a known `kty` and their public parameters. Warns about private key material.
fn check_jwks(jwks: &str, at: &str, out: &mut Findings) {
    let parsed: Value = match serde_json::from_str(jwks) {
        Ok(v) => v,
        Err(e) => {
            out.error(at, format!("jwks parse error: {e}"));
            return;
        }
    };
    let keys: Vec<&Value> = match parsed.get("keys") {
        Some(Value::Array(keys)) => keys.iter().collect(),
        Some(_) => {
            out.error(at, "jwks parse error: \"keys\" must be an array");
            return;
        }
        None => vec![&parsed],
    };
    for (i, key) in keys.iter().enumerate() {
        let Some(obj) = key.as_object() else {
            out.error(
                at,
                format!("jwks parse error: key at index {i} is not an object"),
            );
            continue;
        };
        let kty = obj.get("kty").and_then(Value::as_str).unwrap_or_default();
        let required: &[&str] = match kty {
            "RSA" => &["n", "e"],
            "EC" => &["crv", "x", "y"],
            "OKP" => &["crv", "x"],
            "oct" => &["k"],
            other => {
                out.error(
                    at,
                    format!("jwks parse error: invalid key type from JSON ({other})"),
                );
                continue;
            }
        };
        if let Some(missing) = required.iter().find(|f| !obj.contains_key(**f)) {
            out.error(
                at,
                format!("jwks parse error: failed to parse key at index {i}: required field {missing:?} is missing"),
            );
            continue;
        }
        if kty == "oct" || obj.contains_key("d") {
            out.warning(
                at,
                format!(
                    "jwks key at index {i} contains private key material; only public keys are used for verification"
                ),
            );
        }
    }
}

/// Istio's `ValidateStrictHTTPHeaderName`.
fn strict_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name cannot be empty".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!("header name {name} is not a valid header name"));
    }
    Ok(())
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

/// Istio's `security.ValidateAttribute`: the condition keys Istio knows and the syntax of
/// their values.
pub fn validate_attribute(key: &str, values: &[String]) -> Result<(), String> {
    check_empty_values(key, values)?;
    match key {
        k if k.starts_with("request.headers") => map_key(k),
        "source.ip" | "remote.ip" | "destination.ip" => ips_error(values),
        "source.namespace"
        | "source.principal"
        | "request.auth.principal"
        | "request.auth.audiences"
        | "request.auth.presenter"
        | "connection.sni" => Ok(()),
        "source.serviceAccount" => check_service_accounts(key, values),
        "source.trustDomain" => check_wildcard_values(key, values),
        k if k.starts_with("request.auth.claims") => map_key(k),
        "destination.port" => ports_error(values),
        k if k.starts_with("experimental.envoy.filters.") => map_key(k),
        "destination.namespace" => Err(format!(
            "attribute {key} is replaced by the metadata.namespace"
        )),
        k if k.starts_with("destination.labels") => Err(format!(
            "attribute {key} is replaced by the workload selector"
        )),
        "destination.name" | "destination.user" => Err(format!(
            "deprecated attribute {key}: only supported in v1alpha1"
        )),
        _ => Err(format!("unknown attribute: {key}")),
    }
}

/// A key of the form `a[b]`.
fn map_key(key: &str) -> Result<(), String> {
    match key.find('[') {
        Some(open) if key.ends_with(']') && open > 0 && open + 2 < key.len() => Ok(()),
        _ => Err(format!("bad key ({key}): should have format a[b]")),
    }
}

/// The Go field name Istio uses in its messages (`notIpBlocks` → `NotIpBlocks`).
fn go_field_name(field: &str) -> String {
    let mut c = field.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn report(out: &mut Findings, at: &str, r: Result<(), String>) {
    if let Err(e) = r {
        out.error(at, e);
    }
}

fn check_empty_values(key: &str, values: &[String]) -> Result<(), String> {
    if values.iter().any(String::is_empty) {
        return Err(format!("empty value not allowed, found in {key}"));
    }
    Ok(())
}

fn check_wildcard_values(key: &str, values: &[String]) -> Result<(), String> {
    check_empty_values(key, values)?;
    for v in values {
        let n = v.matches('*').count();
        if n > 1 {
            return Err(format!(
                "at most one wildcard is allowed, found in {key}: {v:?}"
            ));
        }
        if n == 1 && v != "*" && !v.starts_with('*') && !v.ends_with('*') {
            return Err(format!(
                "wildcard is only allowed at the start or end, found in {key}: {v:?}"
            ));
        }
    }
    Ok(())
}

fn check_trust_domains(key: &str, values: &[String]) -> Result<(), String> {
    check_wildcard_values(key, values)?;
    if let Some(v) = values.iter().find(|v| v.contains('/')) {
        return Err(format!(
            "trust domain must not contain '/', found in {key}: {v:?}"
        ));
    }
    Ok(())
}

fn check_service_accounts(key: &str, values: &[String]) -> Result<(), String> {
    if values.len() > 16 {
        return Err("may not have more than 16 values".into());
    }
    let format_msg = "expected format 'serviceAccount' or 'namespace/serviceAccount'";
    for v in values {
        if v.is_empty() {
            return Err(format!("empty value not allowed, found in {key}"));
        }
        if v.contains('*') {
            return Err(format!("wildcard not allowed, found in {key}"));
        }
        if v.matches('/').count() > 1 {
            return Err(format!("{format_msg}, found {v:?} in {key}"));
        }
        if v.len() > 320 {
            return Err(format!(
                "value cannot exceed 320 characters, found {v:?} in {key}"
            ));
        }
        if let Some((ns, sa)) = v.split_once('/') {
            if ns.is_empty() {
                return Err(format!(
                    "{format_msg}, found empty namespace {v:?} in {key}"
                ));
            }
            if sa.is_empty() {
                return Err(format!(
                    "{format_msg}, found empty serviceAccount {v:?} in {key}"
                ));
            }
        }
    }
    Ok(())
}

/// Istio's `CheckValidPathTemplate`: `{*}` matches one segment, `{**}` the rest and must come
/// last; other braces are invalid, and with templates every segment must be a valid literal.
fn check_path_templates(key: &str, paths: &[String]) -> Result<(), String> {
    for path in paths {
        let has_template = path.contains("{*}") || path.contains("{**}");
        let trimmed = path.trim_matches('/');
        let mut seen_any = false;
        for glob in trimmed.split('/') {
            if glob == "{*}" || glob == "{**}" {
                if seen_any {
                    return Err(format!(
                        "invalid or unsupported path {trimmed}, found in {key}. {{**}} is not the last operator"
                    ));
                }
                seen_any = glob == "{**}";
                continue;
            }
            if glob.contains(['{', '}']) {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {key}. Contains '{{' or '}}' beyond a supported path template"
                ));
            }
            if has_template && !is_valid_literal(glob) {
                return Err(format!(
                    "invalid or unsupported path {trimmed}, found in {key}. Contains segment {glob} with invalid string literal"
                ));
            }
        }
    }
    Ok(())
}

/// An RFC 3986 `pchar` run (what Envoy accepts in a path template literal).
fn is_valid_literal(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@=".contains(&b))
}

fn check_ips(values: &[String], at: &str, out: &mut Findings) {
    for (i, v) in values.iter().enumerate() {
        if let Err(e) = ip_or_cidr(v) {
            out.error(format!("{at}[{i}]"), e);
        }
    }
}

fn ips_error(values: &[String]) -> Result<(), String> {
    let errs: Vec<String> = values.iter().filter_map(|v| ip_or_cidr(v).err()).collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Istio's `ValidateIPs` for one value: an address, or a CIDR range when it contains `/`.
pub(crate) fn ip_or_cidr(v: &str) -> Result<(), String> {
    if let Some((addr, bits)) = v.split_once('/') {
        let ip: IpAddr = addr.parse().map_err(|_| {
            format!("bad CIDR range ({v}): netip.ParsePrefix({v:?}): ParseAddr({addr:?}): unable to parse IP")
        })?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let ok = !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
            && !(bits.len() > 1 && bits.starts_with('0'))
            && bits.parse::<u32>().is_ok_and(|n| n <= max);
        if !ok {
            return Err(format!(
                "bad CIDR range ({v}): netip.ParsePrefix({v:?}): bad bits after slash: {bits:?}"
            ));
        }
        return Ok(());
    }
    v.parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("bad IP address ({v})"))
}

fn check_ports(values: &[String], at: &str, out: &mut Findings) {
    for (i, v) in values.iter().enumerate() {
        if let Err(e) = port_string(v) {
            out.error(format!("{at}[{i}]"), e);
        }
    }
}

fn ports_error(values: &[String]) -> Result<(), String> {
    let errs: Vec<String> = values.iter().filter_map(|v| port_string(v).err()).collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Istio's `ValidatePorts` for one value: a decimal number up to 65535.
fn port_string(port: &str) -> Result<(), String> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "bad port ({port}): strconv.ParseUint: parsing {port:?}: invalid syntax"
        ));
    }
    match port.parse::<u32>() {
        Err(_) => Err(format!(
            "bad port ({port}): strconv.ParseUint: parsing {port:?}: value out of range"
        )),
        Ok(p) if p > 65535 => Err(format!("bad port ({port}): <nil>")),
        Ok(_) => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared policy checks
// ---------------------------------------------------------------------------------------------

/// The checks every policy kind with `selector`/`targetRef`/`targetRefs` gets: at most one of
/// them, a well-formed selector, and supported target references.
pub(crate) fn check_attachment(
    selector: Option<&WorkloadSelector>,
    target_ref: Option<&PolicyTargetReference>,
    target_refs: &[PolicyTargetReference],
    out: &mut Findings,
) {
    let set = usize::from(selector.is_some())
        + usize::from(target_ref.is_some())
        + usize::from(!target_refs.is_empty());
    if set > 1 {
        out.error(
            "spec",
            "only one of targetRefs or workloadSelector can be set",
        );
    }
    check_selector(selector, out);
    if let Some(t) = target_ref {
        check_target_ref(t, "spec.targetRef", out);
    }
    if target_refs.len() > 16 {
        out.error("spec.targetRefs", "Too many: must have at most 16 items");
    }
    for (i, t) in target_refs.iter().enumerate() {
        check_target_ref(t, &format!("spec.targetRefs[{i}]"), out);
    }
}

/// Istio's `validateWorkloadSelector` plus the CRD limits on label values.
pub(crate) fn check_selector(selector: Option<&WorkloadSelector>, out: &mut Findings) {
    validate_workload_selector(selector, out, "spec.selector");
    let Some(sel) = selector else { return };
    for (k, v) in &sel.match_labels {
        if v.len() > 63 {
            out.error(
                format!("spec.selector.matchLabels[{k:?}]"),
                "Too long: may not be more than 63 bytes",
            );
        }
    }
    if sel.match_labels.len() > 4096 {
        out.error(
            "spec.selector.matchLabels",
            "Too many: must have at most 4096 items",
        );
    }
}

/// Istio's `validatePolicyTargetReference` plus the CRD's syntax rules for group and kind.
pub(crate) fn check_target_ref(t: &PolicyTargetReference, at: &str, out: &mut Findings) {
    validate_policy_target_ref(t, out, at);
    let group_ok = t.group.is_empty()
        || t.group.len() <= 253 && t.group.split('.').all(crate::meta::is_dns1123_label);
    if !group_ok {
        out.error(
            format!("{at}.group"),
            format!("group {:?} is not a valid DNS subdomain", t.group),
        );
    }
    let kind_ok = t.kind.len() <= 63
        && t.kind
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && t.kind
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !t.kind.ends_with('-');
    if !kind_ok {
        out.error(
            format!("{at}.kind"),
            format!("kind {:?} is not a valid kind name", t.kind),
        );
    }
}

/// Istio's `ValidateDuration`: at least 1ms, in whole milliseconds.
pub(crate) fn check_duration(d: Duration, at: &str, out: &mut Findings) {
    if d < Duration::MILLISECOND {
        out.error(at, "duration must be greater than 1ms");
    } else if d.nanos % Duration::MILLISECOND.nanos != 0 {
        out.error(at, "only durations to ms precision are supported");
    }
}

// ---------------------------------------------------------------------------------------------
// Go's net/url, as far as Istio's checks depend on it
// ---------------------------------------------------------------------------------------------

/// Parsing of URLs with the rules of Go's `net/url` (`url.Parse`, `url.ParseRequestURI`),
/// which Istio and the Kubernetes CEL URL library use.
pub(crate) mod go_url {
    /// The parts of a parsed URL that the checks read.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct Url {
        /// Lower-cased scheme (may be empty).
        pub scheme: String,
        /// Host without port.
        pub host: String,
        /// Port digits (may be empty).
        pub port: String,
    }

    /// `url.Parse`: the fragment after `#` is split off first.
    pub fn parse(raw: &str) -> Result<Url, String> {
        let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
        let url = parse_inner(u, false).map_err(|e| format!("parse {raw:?}: {e}"))?;
        unescape_check(frag).map_err(|e| format!("parse {raw:?}: {e}"))?;
        Ok(url)
    }

    /// `url.ParseRequestURI`: an absolute URL or an absolute path; no fragment.
    pub fn parse_request_uri(raw: &str) -> Result<Url, String> {
        parse_inner(raw, true).map_err(|e| format!("parse {raw:?}: {e}"))
    }

    fn parse_inner(raw: &str, via_request: bool) -> Result<Url, String> {
        if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err("net/url: invalid control character in URL".into());
        }
        if raw.is_empty() && via_request {
            return Err("empty url".into());
        }
        let mut url = Url::default();
        if raw == "*" {
            return Ok(url);
        }
        let (scheme, rest) = split_scheme(raw)?;
        url.scheme = scheme.to_ascii_lowercase();
        let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
            &rest[..rest.len() - 1]
        } else {
            rest.split_once('?').map_or(rest, |(p, _)| p)
        };
        if !rest.starts_with('/') {
            if !url.scheme.is_empty() {
                return Ok(url);
            }
            if via_request {
                return Err("invalid URI for request".into());
            }
            let first = rest.split('/').next().unwrap_or_default();
            if first.contains(':') {
                return Err("first path segment in URL cannot contain colon".into());
            }
        }
        let mut path = rest;
        if (!url.scheme.is_empty() || !via_request && !rest.starts_with("///"))
            && rest.starts_with("//")
        {
            let after = &rest[2..];
            let (authority, p) = match after.find('/') {
                Some(i) => (&after[..i], &after[i..]),
                None => (after, ""),
            };
            let (host, port) = parse_authority(authority)?;
            url.host = host;
            url.port = port;
            path = p;
        }
        unescape_check(path)?;
        Ok(url)
    }

    fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
        for (i, b) in raw.bytes().enumerate() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' => {}
                b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
                b':' if i == 0 => return Err("missing protocol scheme".into()),
                b':' => return Ok((&raw[..i], &raw[i + 1..])),
                _ => return Ok(("", raw)),
            }
        }
        Ok(("", raw))
    }

    fn parse_authority(authority: &str) -> Result<(String, String), String> {
        let host = match authority.rfind('@') {
            Some(i) => {
                let user = &authority[..i];
                let ok = user
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b));
                if !ok {
                    return Err("net/url: invalid userinfo".into());
                }
                unescape_check(user)?;
                &authority[i + 1..]
            }
            None => authority,
        };
        let (name, port) = if let Some(stripped) = host.strip_prefix('[') {
            let Some(close) = stripped.find(']') else {
                return Err("missing ']' in host".into());
            };
            let colon_port = &stripped[close + 1..];
            if !valid_optional_port(colon_port) {
                return Err(format!("invalid port {colon_port:?} after host"));
            }
            (&stripped[..close], colon_port.trim_start_matches(':'))
        } else if let Some(i) = host.rfind(':') {
            let colon_port = &host[i..];
            if !valid_optional_port(colon_port) {
                return Err(format!("invalid port {colon_port:?} after host"));
            }
            (&host[..i], &colon_port[1..])
        } else {
            (host, "")
        };
        for c in name.chars() {
            let ok =
                !c.is_ascii() || c.is_ascii_alphanumeric() || "-_.~!$&'()*+,;=:[]<>\"%".contains(c);
            if !ok {
                return Err(format!(
                    "invalid character {:?} in host name",
                    c.to_string()
                ));
            }
        }
        unescape_check(name)?;
        Ok((name.to_string(), port.to_string()))
    }

    fn valid_optional_port(p: &str) -> bool {
        p.is_empty()
            || p.strip_prefix(':')
                .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Every `%` must start a two-hex-digit escape.
    fn unescape_check(s: &str) -> Result<(), String> {
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let ok =
                    i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit();
                if !ok {
                    let end = (i + 3).min(b.len());
                    return Err(format!("invalid URL escape {:?}", &s[i..end]));
                }
                i += 3;
            } else {
                i += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(kind: &str, spec: Value) -> Vec<(String, String)> {
        let mut out = Findings::default();
        validate(kind, &spec, &mut out);
        out.into_vec()
            .into_iter()
            .filter(|f| f.severity == crate::validate::Severity::Error)
            .map(|f| (f.path, f.message))
            .collect()
    }

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

    #[test]
    fn peer_authentication_rules() {
        let cases: Vec<(&str, Value, &[&str])> = vec![
            ("strict", json!({"mtls": {"mode": "STRICT"}}), &[]),
            (
                "empty port map",
                json!({"portLevelMtls": {}}),
                &["must have at least one element"],
            ),
            (
                "ports without selector",
                json!({"portLevelMtls": {"80": {"mode": "STRICT"}}}),
                &["cannot have port level mTLS"],
            ),
            (
                "ports with selector",
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"80": {"mode": "DISABLE"}}}),
                &[],
            ),
            (
                "port zero",
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"0": {"mode": "DISABLE"}}}),
                &["port must be in range 1..65535"],
            ),
            (
                "port too high",
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"42949672": {"mode": "DISABLE"}}}),
                &["port must be in range 1..65535"],
            ),
            (
                "port not a number",
                json!({"selector": {"matchLabels": {"a": "b"}}, "portLevelMtls": {"acd": {"mode": "DISABLE"}}}),
                &["acd"],
            ),
            (
                "bad mode",
                json!({"mtls": {"mode": "BLAH"}}),
                &["Unsupported value: \"BLAH\""],
            ),
        ];
        for (name, spec, want) in cases {
            let got = run("PeerAuthentication", spec);
            assert_eq!(got.is_empty(), want.is_empty(), "{name}: {got:?}");
            for w in want {
                assert!(
                    got.iter().any(|(p, m)| m.contains(w) || p.contains(w)),
                    "{name}: want {w:?} in {got:?}"
                );
            }
        }
    }

    #[test]
    fn request_authentication_rules() {
        let cases: Vec<(&str, Value, &[&str])> = vec![
            (
                "issuer",
                json!({"jwtRules": [{"issuer": "example.com"}]}),
                &[],
            ),
            (
                "jwks uri only",
                json!({"jwtRules": [{"jwksUri": "https://example.com/.well-known/jwks.json"}]}),
                &[],
            ),
            (
                "snake jwks_uri",
                json!({"jwtRules": [{"issuer": "a", "jwks_uri": "https://example.com/jwks"}]}),
                &[],
            ),
            (
                "no issuer",
                json!({"jwtRules": [{"issuer": ""}]}),
                &["issuer or jwksUri must be non-empty string"],
            ),
            (
                "bad scheme",
                json!({"jwtRules": [{"issuer": "a", "jwksUri": "ftp://x/y"}]}),
                &["URI scheme \"ftp\" is not supported"],
            ),
            (
                "control char",
                json!({"jwtRules": [{"issuer": "a", "jwksUri": "hTPp\\\u{8}lah"}]}),
                &["invalid control character"],
            ),
            (
                "bad port",
                json!({"jwtRules": [{"issuer": "a", "jwksUri": "http://x:abc/y"}]}),
                &["invalid port"],
            ),
            (
                "empty audience",
                json!({"jwtRules": [{"issuer": "a", "audiences": [""]}]}),
                &["audience must be non-empty string"],
            ),
            (
                "empty header",
                json!({"jwtRules": [{"issuer": "a", "fromHeaders": [{"prefix": "x"}]}]}),
                &["location header name must be non-empty string"],
            ),
            (
                "empty param",
                json!({"jwtRules": [{"issuer": "a", "fromParams": [""]}]}),
                &["location query must be non-empty string"],
            ),
            (
                "empty cookie",
                json!({"jwtRules": [{"issuer": "a", "fromCookies": [""]}]}),
                &["cookie name must be non-empty string"],
            ),
            (
                "claim header bad",
                json!({"jwtRules": [{"issuer": "a", "outputClaimToHeaders": [{"header": "x:y", "claim": "sub"}]}]}),
                &["header name x:y is not a valid header name"],
            ),
            (
                "claim header empty",
                json!({"jwtRules": [{"issuer": "a", "outputClaimToHeaders": [{"header": "x"}]}]}),
                &["outputClaimToHeaders header and claim value must be non-empty string"],
            ),
            (
                "timeout too small",
                json!({"jwtRules": [{"issuer": "a", "timeout": "100us"}]}),
                &["duration must be greater than 1ms"],
            ),
            (
                "timeout ok",
                json!({"jwtRules": [{"issuer": "a", "timeout": "5s"}]}),
                &[],
            ),
            (
                "jwks bad json",
                json!({"jwtRules": [{"issuer": "a", "jwks": "{"}]}),
                &["jwks parse error"],
            ),
            (
                "jwks ok",
                json!({"jwtRules": [{"issuer": "a", "jwks": "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"x\",\"e\":\"AQAB\"}]}"}]}),
                &[],
            ),
            (
                "jwks and uri",
                json!({"jwtRules": [{"issuer": "a", "jwksUri": "https://x/y", "jwks": "{\"keys\":[]}"}]}),
                &["only one of jwks or jwksUri"],
            ),
        ];
        for (name, spec, want) in cases {
            let got = run("RequestAuthentication", spec);
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

    #[test]
    fn go_urls() {
        let cases: &[(&str, bool, bool)] = &[
            // (url, url.Parse ok, url.ParseRequestURI ok)
            ("https://example.com/a", true, true),
            ("example.com/a", true, false),
            ("oci://ghcr.io/x:1.0", true, true),
            ("http://#%blah$#@", false, false),
            ("#%blah$#@", false, false),
            (":foo", false, false),
            ("http://x:8080/", true, true),
            ("http://x:80a/", false, false),
            ("http://[::1]:80/", true, true),
            ("a:b/c", true, true),
            ("/abs/path", true, true),
            ("http://x/%zz", false, false),
        ];
        for (u, parse, req) in cases {
            assert_eq!(
                go_url::parse(u).is_ok(),
                *parse,
                "Parse {u}: {:?}",
                go_url::parse(u)
            );
            assert_eq!(
                go_url::parse_request_uri(u).is_ok(),
                *req,
                "ParseRequestURI {u}"
            );
        }
    }
}
