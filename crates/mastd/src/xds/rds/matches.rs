//! VirtualService match conditions as Envoy route matches (`TranslateRouteMatch`), and the
//! JWT-claim metadata matchers routes and RBAC policies share.

use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, RouteMatch, header_matcher::HeaderMatchSpecifier,
    query_parameter_matcher::QueryParameterMatchSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    ListMatcher, MetadataMatcher, OrMatcher, StringMatcher, ValueMatcher, list_matcher,
    metadata_matcher, value_matcher,
};
use mast_config::istio::common::StringMatch;
use mast_config::istio::networking::virtual_service::HttpMatchRequest;

use super::util::{bool_value, regex_matcher, string_match, warn_once};

/// The dynamic-metadata namespace the JWT filter writes verified claims to.
pub const JWT_FILTER: &str = "envoy.filters.http.jwt_authn";
/// The key of the verified payload in that namespace.
pub const JWT_PAYLOAD: &str = "payload";

/// The catch-all match (`prefix: /`).
pub fn match_all() -> RouteMatch {
    RouteMatch {
        path_specifier: Some(PathSpecifier::Prefix("/".into())),
        ..Default::default()
    }
}

/// Whether a route match catches everything (`IsCatchAllRoute`).
pub fn is_catch_all(m: &RouteMatch) -> bool {
    let path = match &m.path_specifier {
        Some(PathSpecifier::Prefix(p)) | Some(PathSpecifier::PathSeparatedPrefix(p)) => p == "/",
        Some(PathSpecifier::SafeRegex(r)) => r.regex == ".*",
        _ => false,
    };
    path && m.headers.is_empty() && m.query_parameters.is_empty() && m.dynamic_metadata.is_empty()
}

/// An empty match, or the regex `*`, means "present" rather than a string match.
fn is_presence(m: &StringMatch) -> bool {
    (m.exact.is_none() && m.prefix.is_none() && m.regex.is_none())
        || (m.exact.is_none() && m.prefix.is_none() && m.regex.as_deref() == Some("*"))
}

/// A header matcher for `name` (`translateHeaderMatch`).
pub fn header_matcher(name: &str, m: &StringMatch) -> HeaderMatcher {
    let spec = if is_presence(m) {
        Some(HeaderMatchSpecifier::PresentMatch(true))
    } else {
        string_match(m).map(HeaderMatchSpecifier::StringMatch)
    };
    HeaderMatcher {
        name: name.to_string(),
        header_match_specifier: spec,
        ..Default::default()
    }
}

fn query_matcher(name: &str, m: &StringMatch) -> QueryParameterMatcher {
    let spec = if is_presence(m) {
        Some(QueryParameterMatchSpecifier::PresentMatch(true))
    } else {
        string_match(m).map(QueryParameterMatchSpecifier::StringMatch)
    };
    QueryParameterMatcher {
        name: name.to_string(),
        query_parameter_match_specifier: spec,
    }
}

/// The claim path of a routing header `@request.auth.claims.a.b` / `@request.auth.claims[a][b]`.
pub fn routing_claim(name: &str) -> Option<Vec<String>> {
    let rest = name.strip_prefix("@request.auth.claims")?;
    if let Some(dotted) = rest.strip_prefix('.') {
        let parts: Vec<String> = dotted.split('.').map(str::to_string).collect();
        return (!parts.iter().any(String::is_empty)).then_some(parts);
    }
    let mut out = Vec::new();
    let mut s = rest;
    while !s.is_empty() {
        let inner = s.strip_prefix('[')?;
        let end = inner.find(']')?;
        if end == 0 {
            return None;
        }
        out.push(inner[..end].to_string());
        s = &inner[end + 1..];
    }
    (!out.is_empty()).then_some(out)
}

fn string_value(m: StringMatcher) -> ValueMatcher {
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::StringMatch(m)),
    }
}

/// An OR of value matchers (the single one when there is one).
pub fn or_values(mut matchers: Vec<ValueMatcher>) -> ValueMatcher {
    if matchers.len() == 1 {
        return matchers.remove(0);
    }
    ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::OrMatch(OrMatcher {
            value_matchers: matchers,
        })),
    }
}

/// A metadata matcher on `filter` at `keys` whose value is a list containing a match, or
/// (extended JWT form) the value itself matching.
pub fn metadata_list_matcher(
    filter: &str,
    keys: &[String],
    value: ValueMatcher,
    extended: bool,
) -> MetadataMatcher {
    let list = ValueMatcher {
        match_pattern: Some(value_matcher::MatchPattern::ListMatch(Box::new(
            ListMatcher {
                match_pattern: Some(list_matcher::MatchPattern::OneOf(Box::new(value.clone()))),
            },
        ))),
    };
    let value = if extended {
        ValueMatcher {
            match_pattern: Some(value_matcher::MatchPattern::OrMatch(OrMatcher {
                value_matchers: vec![list, value],
            })),
        }
    } else {
        list
    };
    MetadataMatcher {
        filter: filter.to_string(),
        path: path(keys),
        value: Some(value),
        invert: false,
    }
}

/// A metadata matcher on `filter` at `keys` whose value must match.
pub fn metadata_value_matcher(
    filter: &str,
    keys: &[String],
    value: ValueMatcher,
) -> MetadataMatcher {
    MetadataMatcher {
        filter: filter.to_string(),
        path: path(keys),
        value: Some(value),
        invert: false,
    }
}

fn path(keys: &[String]) -> Vec<metadata_matcher::PathSegment> {
    keys.iter()
        .map(|k| metadata_matcher::PathSegment {
            segment: Some(metadata_matcher::path_segment::Segment::Key(k.clone())),
        })
        .collect()
}

/// The matcher of JWT claims (nested) in the JWT filter's verified payload.
pub fn jwt_claims_matcher(claims: &[String], value: ValueMatcher) -> MetadataMatcher {
    let mut keys = vec![JWT_PAYLOAD.to_string()];
    keys.extend(claims.iter().cloned());
    metadata_list_matcher(JWT_FILTER, &keys, value, true)
}

fn metadata_match(name: &str, m: &StringMatch) -> Option<MetadataMatcher> {
    let claims = routing_claim(name)?;
    let Some(sm) = string_match(m) else {
        warn_once(
            &format!("claim-match {name}"),
            &format!("match on {name} without a value is not supported; condition ignored"),
        );
        return None;
    };
    Some(jwt_claims_matcher(&claims, string_value(sm)))
}

/// Translates one VirtualService match (or none: everything) to an Envoy route match.
pub fn route_match(m: Option<&HttpMatchRequest>) -> RouteMatch {
    let mut out = match_all();
    let Some(m) = m else { return out };
    for (name, sm) in &m.headers {
        match metadata_match(name, sm) {
            Some(md) => out.dynamic_metadata.push(md),
            None if routing_claim(name).is_some() => {}
            None => out.headers.push(header_matcher(name, sm)),
        }
    }
    for (name, sm) in &m.without_headers {
        match metadata_match(name, sm) {
            Some(mut md) => {
                md.invert = true;
                out.dynamic_metadata.push(md);
            }
            None if routing_claim(name).is_some() => {}
            None => {
                let mut h = header_matcher(name, sm);
                h.invert_match = true;
                h.treat_missing_header_as_empty = !is_presence(sm);
                out.headers.push(h);
            }
        }
    }
    out.headers.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(uri) = &m.uri {
        if let Some(e) = &uri.exact {
            out.path_specifier = Some(PathSpecifier::Path(e.clone()));
        } else if let Some(p) = &uri.prefix {
            out.path_specifier = Some(PathSpecifier::Prefix(p.clone()));
        } else if let Some(r) = &uri.regex {
            out.path_specifier = Some(PathSpecifier::SafeRegex(regex_matcher(r)));
        }
    }
    out.case_sensitive = bool_value(!m.ignore_uri_case);
    for (name, sm) in [
        (":method", &m.method),
        (":authority", &m.authority),
        (":scheme", &m.scheme),
    ] {
        if let Some(sm) = sm {
            out.headers.push(header_matcher(name, sm));
        }
    }
    out.query_parameters = m
        .query_params
        .iter()
        .map(|(k, v)| query_matcher(k, v))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims() {
        assert_eq!(
            routing_claim("@request.auth.claims.group.id"),
            Some(vec!["group".into(), "id".into()])
        );
        assert_eq!(
            routing_claim("@request.auth.claims[group][id]"),
            Some(vec!["group".into(), "id".into()])
        );
        assert_eq!(routing_claim("@request.auth.claims"), None);
        assert_eq!(routing_claim("x-user"), None);
    }
}
