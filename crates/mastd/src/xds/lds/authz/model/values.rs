//! The Envoy matchers of single attribute values: source identities and IPs, JWT claims,
//! headers, hosts, paths, ports (istiod's authz generators).

use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
use envoy_types::pb::envoy::config::rbac::v3::{Permission, Principal, permission, principal};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, header_matcher::HeaderMatchSpecifier,
};
use envoy_types::pb::envoy::extensions::path::r#match::uri_template::v3::UriTemplateMatchConfig;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    MetadataMatcher, PathMatcher, StringMatcher, ValueMatcher, path_matcher, value_matcher,
};
use envoy_types::util::pack_any;

use super::{Attr, Cond, RuleError, princ_or};
use crate::xds::lds::filters::cidr;
use crate::xds::rds::matches::{
    JWT_FILTER, JWT_PAYLOAD, jwt_claims_matcher, metadata_value_matcher, or_values,
};
use crate::xds::rds::util::{exact, prefix, regex, suffix};

/// Istio's `StringMatcherWithPrefix`: `*` any, `*x` suffix, `x*` prefix, else exact.
fn wildcard_matcher(v: &str, pre: &str) -> StringMatcher {
    if v == "*" {
        regex(".+")
    } else if let Some(s) = v.strip_prefix('*') {
        if pre.is_empty() {
            suffix(s)
        } else {
            regex(&format!("{pre}.*{}", regex_syntax_escape(s)))
        }
    } else if let Some(p) = v.strip_suffix('*') {
        prefix(&format!("{pre}{p}"))
    } else {
        exact(&format!("{pre}{v}"))
    }
}

fn regex_syntax_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn header(name: &str, v: &str, ignore_case: bool) -> HeaderMatcher {
    let spec = if v == "*" {
        HeaderMatchSpecifier::PresentMatch(true)
    } else {
        let mut m = if let Some(s) = v.strip_prefix('*') {
            suffix(s)
        } else if let Some(p) = v.strip_suffix('*') {
            prefix(p)
        } else {
            exact(v)
        };
        m.ignore_case = ignore_case;
        HeaderMatchSpecifier::StringMatch(m)
    };
    HeaderMatcher {
        name: name.into(),
        header_match_specifier: Some(spec),
        ..Default::default()
    }
}

fn bad(c: &Cond, v: &str) -> RuleError {
    RuleError::BadValue {
        key: c.key.clone(),
        value: v.into(),
    }
}

pub(super) fn permission_of(
    c: &Cond,
    vals: &[String],
    tcp: bool,
) -> Result<Option<Permission>, RuleError> {
    use permission::Rule as R;
    let v = vals[0].as_str();
    let http_only = || {
        if tcp {
            Err(RuleError::HttpOnly(c.key.clone()))
        } else {
            Ok(())
        }
    };
    let rule = match &c.attr {
        Attr::DestIp => R::DestinationIp(cidr(v).ok_or_else(|| bad(c, v))?),
        Attr::DestPort => R::DestinationPort(v.parse::<u16>().map_err(|_| bad(c, v))?.into()),
        Attr::ConnSni => R::RequestedServerName(wildcard_matcher(v, "")),
        Attr::Host => {
            http_only()?;
            R::Header(header(":authority", v, true))
        }
        Attr::Method => {
            http_only()?;
            R::Header(header(":method", v, false))
        }
        Attr::Path => {
            http_only()?;
            if v.contains("{*}") || v.contains("{**}") {
                let template = v.replace("{**}", "**").replace("{*}", "*");
                R::UriTemplate(TypedExtensionConfig {
                    name: "uri-template".into(),
                    typed_config: Some(pack_any(UriTemplateMatchConfig {
                        path_template: template,
                    })),
                })
            } else {
                R::UrlPath(PathMatcher {
                    rule: Some(path_matcher::Rule::Path(wildcard_matcher(v, ""))),
                })
            }
        }
        _ => return Err(RuleError::Unknown(c.key.clone())),
    };
    Ok(Some(Permission { rule: Some(rule) }))
}

fn authenticated(m: StringMatcher) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::Authenticated(
            principal::Authenticated {
                principal_name: Some(m),
            },
        )),
    }
}

/// Istio matches JWT claims with the `metadata` principal (deprecated in Envoy for
/// `sourced_metadata`, still accepted).
#[allow(deprecated)]
fn metadata(m: MetadataMatcher) -> Principal {
    Principal {
        identifier: Some(principal::Identifier::Metadata(m)),
    }
}

fn string_values(vals: &[String]) -> ValueMatcher {
    or_values(
        vals.iter()
            .map(|v| ValueMatcher {
                match_pattern: Some(value_matcher::MatchPattern::StringMatch(wildcard_matcher(
                    v, "",
                ))),
            })
            .collect(),
    )
}

fn claim(claim: &str, m: StringMatcher) -> Principal {
    let value = ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::StringMatch(m)),
    };
    metadata(metadata_value_matcher(
        JWT_FILTER,
        &[JWT_PAYLOAD.to_string(), claim.to_string()],
        value,
    ))
}

fn request_principal(v: &str) -> Principal {
    let any = || regex(".+");
    let (iss, sub) = match v.rfind('/') {
        Some(i) => (&v[..i], Some(&v[i + 1..])),
        None => (v, None),
    };
    let (mi, ms) = if v == "*" {
        (any(), any())
    } else if v.starts_with('*') {
        match sub {
            Some(sub) => (
                if iss == "*" { any() } else { suffix(&iss[1..]) },
                exact(sub),
            ),
            None => (any(), suffix(v.strip_prefix('*').unwrap_or(v))),
        }
    } else if v.ends_with('*') {
        match sub {
            Some(sub) => (
                exact(iss),
                if sub == "*" {
                    any()
                } else {
                    prefix(&sub[..sub.len() - 1])
                },
            ),
            None => (prefix(v.strip_suffix('*').unwrap_or(v)), any()),
        }
    } else {
        (exact(iss), exact(sub.unwrap_or_default()))
    };
    Principal {
        identifier: Some(principal::Identifier::AndIds(principal::Set {
            ids: vec![claim("iss", mi), claim("sub", ms)],
        })),
    }
}

pub(super) fn principal_of(
    c: &Cond,
    vals: &[String],
    tcp: bool,
    namespace: &str,
) -> Result<Option<Principal>, RuleError> {
    use principal::Identifier as I;
    let v = vals[0].as_str();
    let http_only = || {
        if tcp {
            Err(RuleError::HttpOnly(c.key.clone()))
        } else {
            Ok(())
        }
    };
    let p = match &c.attr {
        Attr::SrcIp => Principal {
            identifier: Some(I::DirectRemoteIp(cidr(v).ok_or_else(|| bad(c, v))?)),
        },
        Attr::RemoteIp => Principal {
            identifier: Some(I::RemoteIp(cidr(v).ok_or_else(|| bad(c, v))?)),
        },
        Attr::SrcNamespace => {
            let ns = v
                .split('*')
                .map(regex_syntax_escape)
                .collect::<Vec<_>>()
                .join(".*");
            authenticated(regex(&format!(".*/ns/{ns}/.*")))
        }
        Attr::SrcServiceAccount => {
            let (ns, sa) = v.split_once('/').unwrap_or((namespace, v));
            authenticated(regex(&format!(
                "spiffe://.+/ns/{}/(.+/|)sa/{}(/.+)?",
                regex_syntax_escape(ns),
                regex_syntax_escape(sa)
            )))
        }
        Attr::SrcTrustDomain => authenticated(if v == "*" {
            prefix("spiffe://")
        } else if !v.contains('*') {
            prefix(&format!("spiffe://{v}/"))
        } else {
            let (a, b) = v.split_once('*').unwrap_or((v, ""));
            regex(&format!(
                "spiffe://{}[^/]*{}/.*",
                regex_syntax_escape(a),
                regex_syntax_escape(b)
            ))
        }),
        Attr::SrcPrincipal => authenticated(wildcard_matcher(v, "spiffe://")),
        Attr::RequestHeader(h) => {
            http_only()?;
            Principal {
                identifier: Some(I::Header(header(h, v, false))),
            }
        }
        Attr::RequestPrincipal => {
            http_only()?;
            let mut ids: Vec<Principal> = vals.iter().map(|v| request_principal(v)).collect();
            if ids.len() == 1 {
                ids.remove(0)
            } else {
                princ_or(ids)
            }
        }
        Attr::RequestAudiences | Attr::RequestPresenter => {
            http_only()?;
            let claim = if c.attr == Attr::RequestAudiences {
                "aud"
            } else {
                "azp"
            };
            metadata(jwt_claims_matcher(
                &[claim.to_string()],
                string_values(vals),
            ))
        }
        Attr::RequestClaims(claims) => {
            http_only()?;
            metadata(jwt_claims_matcher(claims, string_values(vals)))
        }
        _ => return Err(RuleError::Unknown(c.key.clone())),
    };
    Ok(Some(p))
}
