//! RequestAuthentication as the `envoy.filters.http.jwt_authn` filter of inbound HTTP chains
//! (`convertToEnvoyJwtConfig`): one provider per JWT rule (`origins-N`, rules sorted by
//! issuer); a token that is present must be valid, a missing one is left to authorization.

use std::collections::{BTreeSet, HashMap};

use envoy_types::pb::envoy::config::core::v3::{DataSource, HttpUri, data_source, http_uri};
use envoy_types::pb::envoy::extensions::filters::http::jwt_authn::v3::{
    JwtAuthentication, JwtClaimToHeader, JwtHeader, JwtProvider, JwtRequirement,
    JwtRequirementAndList, JwtRequirementOrList, RemoteJwks, RequirementRule, jwt_provider,
    jwt_requirement::RequiresType, requirement_rule::RequirementType,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::google::protobuf::{Duration, Empty};
use envoy_types::util::pack_any;
use mast_config::istio::security::{JwtRule, RequestAuthentication};
use mast_xds::Proxy;

use crate::model::{Config, Snapshot};
use crate::xds::rds::matches::{JWT_FILTER, JWT_PAYLOAD, match_all};
use crate::xds::rds::util::{duration, outbound_cluster};

/// The RequestAuthentications of the root namespace and the proxy's namespace that select it.
pub fn policies_for<'a>(
    snap: &'a Snapshot,
    proxy: &Proxy,
) -> Vec<&'a Config<RequestAuthentication>> {
    snap.request_authentications
        .iter()
        .filter(|c| c.namespace == snap.mesh.root_namespace || c.namespace == proxy.namespace)
        .filter(|c| c.spec.target_ref.is_none() && c.spec.target_refs.is_empty())
        .filter(|c| {
            c.spec.selector.as_ref().is_none_or(|s| {
                s.match_labels
                    .iter()
                    .all(|(k, v)| proxy.labels.get(k) == Some(v))
            })
        })
        .collect()
}

/// `(host, port)` of a JWKS URI (`http://h[:p]/...`, `https://h[:p]/...`).
fn jwks_host_port(uri: &str) -> Option<(String, u32)> {
    let (scheme, rest) = uri.split_once("://")?;
    let default = match scheme {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map(|(_, a)| a)
        .unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .map(str::parse)
            .transpose()
            .ok()?
            .unwrap_or(default);
        return Some((h.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((authority.to_string(), default)),
    }
}

fn provider(r: &JwtRule) -> JwtProvider {
    let timeout = r.timeout.map(|d| duration(d.nanos)).unwrap_or(Duration {
        seconds: 5,
        nanos: 0,
    });
    let mut claims: BTreeSet<String> = ["permission", "scope"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    claims.extend(r.space_delimited_claims.iter().cloned());
    let jwks = if !r.jwks.is_empty() || r.jwks_uri.is_empty() {
        jwt_provider::JwksSourceSpecifier::LocalJwks(DataSource {
            specifier: Some(data_source::Specifier::InlineString(r.jwks.clone())),
            ..Default::default()
        })
    } else {
        let cluster = jwks_host_port(&r.jwks_uri)
            .map(|(h, p)| outbound_cluster("", &h, p))
            .unwrap_or_default();
        jwt_provider::JwksSourceSpecifier::RemoteJwks(RemoteJwks {
            http_uri: Some(HttpUri {
                uri: r.jwks_uri.clone(),
                timeout: Some(timeout),
                http_upstream_type: Some(http_uri::HttpUpstreamType::Cluster(cluster)),
            }),
            cache_duration: Some(Duration {
                seconds: 300,
                nanos: 0,
            }),
            ..Default::default()
        })
    };
    JwtProvider {
        issuer: r.issuer.clone(),
        audiences: r.audiences.clone(),
        forward: r.forward_original_token,
        forward_payload_header: r.output_payload_to_header.clone(),
        payload_in_metadata: JWT_PAYLOAD.into(),
        normalize_payload_in_metadata: Some(jwt_provider::NormalizePayload {
            space_delimited_claims: claims.into_iter().collect(),
        }),
        claim_to_headers: r
            .output_claim_to_headers
            .iter()
            .map(|c| JwtClaimToHeader {
                header_name: c.header.clone(),
                claim_name: c.claim.clone(),
                ..Default::default()
            })
            .collect(),
        from_headers: r
            .from_headers
            .iter()
            .map(|h| JwtHeader {
                name: h.name.clone(),
                value_prefix: h.prefix.clone(),
            })
            .collect(),
        from_params: r.from_params.clone(),
        from_cookies: r.from_cookies.clone(),
        jwks_source_specifier: Some(jwks),
        ..Default::default()
    }
}

fn requires(t: RequiresType) -> JwtRequirement {
    JwtRequirement {
        requires_type: Some(t),
    }
}

/// The JWT filter for the RequestAuthentications applying to a proxy; `None` when none does.
pub fn jwt_filter(policies: &[&Config<RequestAuthentication>]) -> Option<HttpFilter> {
    let mut rules: Vec<&JwtRule> = policies
        .iter()
        .flat_map(|c| c.spec.jwt_rules.iter())
        .collect();
    if rules.is_empty() {
        return None;
    }
    rules.sort_by(|a, b| a.issuer.cmp(&b.issuer));
    let mut providers = HashMap::new();
    let mut inner = Vec::new();
    let mut outer = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let name = format!("origins-{i}");
        providers.insert(name.clone(), provider(r));
        inner.push(requires(RequiresType::RequiresAny(JwtRequirementOrList {
            requirements: vec![
                requires(RequiresType::ProviderName(name.clone())),
                requires(RequiresType::AllowMissing(Empty {})),
            ],
        })));
        outer.push(requires(RequiresType::ProviderName(name)));
    }
    let requirement = if inner.len() == 1 {
        inner.remove(0)
    } else {
        outer.push(requires(RequiresType::RequiresAll(JwtRequirementAndList {
            requirements: inner,
        })));
        requires(RequiresType::RequiresAny(JwtRequirementOrList {
            requirements: outer,
        }))
    };
    let config = JwtAuthentication {
        providers,
        rules: vec![RequirementRule {
            r#match: Some(match_all()),
            requirement_type: Some(RequirementType::Requires(requirement)),
        }],
        bypass_cors_preflight: true,
        ..Default::default()
    };
    Some(HttpFilter {
        name: JWT_FILTER.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(config))),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_uri() {
        assert_eq!(
            jwks_host_port("https://example.com/.well-known/jwks.json"),
            Some(("example.com".into(), 443))
        );
        assert_eq!(
            jwks_host_port("http://auth.ns.svc.cluster.local:8080/jwks"),
            Some(("auth.ns.svc.cluster.local".into(), 8080))
        );
        assert_eq!(jwks_host_port("ftp://x"), None);
    }
}
