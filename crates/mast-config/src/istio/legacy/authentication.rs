//! `authentication.istio.io/v1alpha1`: `Policy` and `MeshPolicy`, with Istio 1.5's
//! `ValidateAuthenticationPolicy`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::DEFAULT_NAME;
use crate::istio::common::{is_dns1123_label, validate_port};
use crate::istio::security::go_url;
use crate::validate::Findings;

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
