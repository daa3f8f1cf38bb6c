//! `RequestAuthentication`: the JWTs workloads accept, and Istio's
//! `ValidateRequestAuthentication`.

use serde::Deserialize;
use serde_json::Value;

use super::check_attachment;
use super::go_url;
use crate::istio::common::{PolicyTargetReference, WorkloadSelector};
use crate::istio::mesh::Duration;
use crate::validate::Findings;

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

/// Istio's `ValidateDuration`: at least 1ms, in whole milliseconds.
pub(crate) fn check_duration(d: Duration, at: &str, out: &mut Findings) {
    if d < Duration::MILLISECOND {
        out.error(at, "duration must be greater than 1ms");
    } else if d.nanos % Duration::MILLISECOND.nanos != 0 {
        out.error(at, "only durations to ms precision are supported");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::istio::security::tests::run;

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
}
