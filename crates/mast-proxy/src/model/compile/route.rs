//! Route configurations.
//!
//! Supported: virtual hosts by domain (exact, `*suffix`, `prefix*`, `*`); path prefix / exact /
//! regex / separated-prefix matches, case sensitivity, header matches (all specifiers,
//! pseudo-headers, invert), query parameter matches, gRPC matches; cluster and weighted
//! clusters; timeouts (Envoy's 15 s default), `max_grpc_timeout`; prefix / regex / host
//! rewrites; retries (see [`RetryOn`]); redirects; direct responses; header additions and
//! removals at every level; `include_request_attempt_count`; decorator operations (span
//! names); hash policies (header, cookie, source IP, query parameter) for RING_HASH and
//! MAGLEV clusters. Accepted and ignored: metadata, stat prefixes.
//! Per-filter configs of fault injection and CORS at every level ([`super::filters`]); request
//! mirroring of routes. Refused: other per-filter configs, mirror policies of virtual hosts
//! and route configurations, per-route tracing (sampling overrides), rate limits, hedging,
//! internal redirects, `cluster_header`, subsets (`metadata_match`), runtime fractions, VHDS.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, Route as PbRoute, RouteAction, RouteConfiguration,
    RouteMatch as PbMatch, VirtualHost as PbVhost, header_matcher::HeaderMatchSpecifier,
    query_parameter_matcher::QueryParameterMatchSpecifier, route, route_action,
    route_match::PathSpecifier,
};
use http::HeaderValue;

use super::action::{direct, redirect, retry_policy, substitution};
use super::filters::{per_filter, runtime_fraction};
use super::{
    Compiler, FieldError, Result, header_adds, header_name, header_removes, regex, string_match,
    timeout,
};
use crate::model::ClusterRef;
use crate::model::filters::Fraction;
use crate::model::route::{
    Action, ClusterChoice, Forward, HashKey, HashPolicy, HeaderKey, HeaderMatch, HeaderOps, Mirror,
    PathMatch, QueryMatch, RetryPolicy, Route, RouteMatch, RouteTable, StringMatch, ValueMatch,
    VirtualHost, WeightedCluster,
};

/// Envoy's default route timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

fn refuse(set: bool, field: &str) -> Result<()> {
    if set {
        Err(FieldError::unsupported(field))
    } else {
        Ok(())
    }
}

fn ops(
    req_add: &[envoy_types::pb::envoy::config::core::v3::HeaderValueOption],
    req_rm: &[String],
    resp_add: &[envoy_types::pb::envoy::config::core::v3::HeaderValueOption],
    resp_rm: &[String],
) -> Result<HeaderOps> {
    Ok(HeaderOps {
        request_add: header_adds(req_add, "request_headers_to_add")?,
        request_remove: header_removes(req_rm, "request_headers_to_remove")?,
        response_add: header_adds(resp_add, "response_headers_to_add")?,
        response_remove: header_removes(resp_rm, "response_headers_to_remove")?,
    })
}

/// Compiles a route configuration (from RDS or inline in a connection manager).
pub fn compile(c: &mut Compiler<'_>, rc: &RouteConfiguration) -> Result<RouteTable> {
    refuse(rc.vhds.is_some(), "vhds")?;
    refuse(
        !rc.internal_only_headers.is_empty(),
        "internal_only_headers",
    )?;
    refuse(
        rc.most_specific_header_mutations_wins,
        "most_specific_header_mutations_wins",
    )?;
    refuse(
        !rc.cluster_specifier_plugins.is_empty(),
        "cluster_specifier_plugins",
    )?;
    refuse(
        !rc.request_mirror_policies.is_empty(),
        "request_mirror_policies",
    )?;
    refuse(
        rc.ignore_port_in_host_matching,
        "ignore_port_in_host_matching",
    )?;
    refuse(!rc.vhost_header.is_empty(), "vhost_header")?;
    let mut t = RouteTable {
        name: rc.name.clone(),
        per_filter: per_filter(&rc.typed_per_filter_config)?,
        headers: ops(
            &rc.request_headers_to_add,
            &rc.request_headers_to_remove,
            &rc.response_headers_to_add,
            &rc.response_headers_to_remove,
        )?,
        ..Default::default()
    };
    let mut seen = HashMap::new();
    for (i, vh) in rc.virtual_hosts.iter().enumerate() {
        let at = |e: FieldError| e.at(format!("virtual_hosts[{i}]"));
        t.vhosts.push(vhost(c, vh).map_err(at)?);
        for (j, d) in vh.domains.iter().enumerate() {
            let d = d.to_ascii_lowercase();
            if let Some(prev) = seen.insert(d.clone(), i) {
                return Err(at(FieldError::new(
                    format!("domains[{j}]"),
                    format!("{d:?} is also a domain of virtual_hosts[{prev}]"),
                )));
            }
            if d == "*" {
                t.wildcard = Some(i);
            } else if let Some(s) = d.strip_prefix('*') {
                t.suffixes.push((s.to_string(), i));
            } else if let Some(p) = d.strip_suffix('*') {
                t.prefixes.push((p.to_string(), i));
            } else {
                t.exact.insert(d, i);
            }
        }
    }
    t.suffixes.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
    t.prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
    Ok(t)
}

fn vhost(c: &mut Compiler<'_>, vh: &PbVhost) -> Result<VirtualHost> {
    refuse(vh.require_tls != 0, "require_tls")?;
    refuse(!vh.rate_limits.is_empty(), "rate_limits")?;
    #[allow(deprecated)]
    refuse(vh.cors.is_some(), "cors")?;
    refuse(vh.hedge_policy.is_some(), "hedge_policy")?;
    refuse(
        !vh.request_mirror_policies.is_empty(),
        "request_mirror_policies",
    )?;
    refuse(vh.matcher.is_some(), "matcher")?;
    refuse(
        vh.include_attempt_count_in_response,
        "include_attempt_count_in_response",
    )?;
    refuse(
        vh.retry_policy_typed_config.is_some(),
        "retry_policy_typed_config",
    )?;
    let filters = per_filter(&vh.typed_per_filter_config)?;
    let retry = vh
        .retry_policy
        .as_ref()
        .map(|r| retry_policy(r).map(Arc::new))
        .transpose()
        .map_err(|e| e.at("retry_policy"))?;
    let mut routes = Vec::with_capacity(vh.routes.len());
    for (i, r) in vh.routes.iter().enumerate() {
        routes.push(compile_route(c, r, retry.as_ref()).map_err(|e| e.at(format!("routes[{i}]")))?);
    }
    Ok(VirtualHost {
        name: vh.name.clone(),
        routes,
        headers: ops(
            &vh.request_headers_to_add,
            &vh.request_headers_to_remove,
            &vh.response_headers_to_add,
            &vh.response_headers_to_remove,
        )?,
        retry,
        attempt_count: vh.include_request_attempt_count,
        per_filter: filters,
    })
}

fn compile_route(
    c: &mut Compiler<'_>,
    r: &PbRoute,
    vh_retry: Option<&Arc<RetryPolicy>>,
) -> Result<Route> {
    let filters = per_filter(&r.typed_per_filter_config)?;
    // per-route sampling overrides: the connection manager's sampling applies to every route
    refuse(r.tracing.is_some(), "tracing")?;
    let m = r
        .r#match
        .as_ref()
        .ok_or_else(|| FieldError::new("match", "is missing"))?;
    let matcher = route_match(m).map_err(|e| e.at("match"))?;
    let action = match &r.action {
        Some(route::Action::Route(a)) => {
            Action::Forward(forward(c, a, vh_retry).map_err(|e| e.at("route"))?)
        }
        Some(route::Action::Redirect(rd)) => {
            Action::Redirect(redirect(rd).map_err(|e| e.at("redirect"))?)
        }
        Some(route::Action::DirectResponse(d)) => {
            Action::Direct(direct(d).map_err(|e| e.at("direct_response"))?)
        }
        Some(_) => return Err(FieldError::unsupported("action")),
        None => return Err(FieldError::new("action", "is missing")),
    };
    Ok(Route {
        name: r.name.as_str().into(),
        matcher,
        action,
        headers: ops(
            &r.request_headers_to_add,
            &r.request_headers_to_remove,
            &r.response_headers_to_add,
            &r.response_headers_to_remove,
        )?,
        per_filter: filters,
        decorator: r
            .decorator
            .as_ref()
            .filter(|d| !d.operation.is_empty())
            .map(|d| d.operation.as_str().into()),
    })
}

fn route_match(m: &PbMatch) -> Result<RouteMatch> {
    refuse(m.runtime_fraction.is_some(), "runtime_fraction")?;
    refuse(m.tls_context.is_some(), "tls_context")?;
    refuse(!m.dynamic_metadata.is_empty(), "dynamic_metadata")?;
    refuse(!m.cookies.is_empty(), "cookies")?;
    refuse(!m.filter_state.is_empty(), "filter_state")?;
    let path = match &m.path_specifier {
        Some(PathSpecifier::Prefix(p)) => PathMatch::Prefix(p.clone()),
        Some(PathSpecifier::Path(p)) => PathMatch::Exact(p.clone()),
        Some(PathSpecifier::SafeRegex(r)) => {
            PathMatch::Regex(regex(r).map_err(|e| e.at("safe_regex"))?)
        }
        Some(PathSpecifier::PathSeparatedPrefix(p)) => PathMatch::SeparatedPrefix(p.clone()),
        Some(_) => return Err(FieldError::unsupported("path_specifier")),
        None => return Err(FieldError::new("path_specifier", "is missing")),
    };
    let headers = m
        .headers
        .iter()
        .enumerate()
        .map(|(i, h)| header_match(h).map_err(|e| e.at(format!("headers[{i}]"))))
        .collect::<Result<_>>()?;
    let query = m
        .query_parameters
        .iter()
        .enumerate()
        .map(|(i, q)| query_match(q).map_err(|e| e.at(format!("query_parameters[{i}]"))))
        .collect::<Result<_>>()?;
    Ok(RouteMatch {
        path,
        case_sensitive: m.case_sensitive.as_ref().is_none_or(|b| b.value),
        headers,
        query,
        grpc: m.grpc.is_some(),
    })
}

#[allow(deprecated)]
pub(super) fn header_match(h: &HeaderMatcher) -> Result<HeaderMatch> {
    let key = match h.name.to_ascii_lowercase().as_str() {
        ":authority" | "host" => HeaderKey::Authority,
        ":method" => HeaderKey::Method,
        ":path" => HeaderKey::Path,
        ":scheme" => HeaderKey::Scheme,
        n if n.starts_with(':') => {
            return Err(FieldError::new(
                "name",
                format!("pseudo-header {n:?} is not supported by mast-proxy"),
            ));
        }
        n => HeaderKey::Name(header_name(n).map_err(|e| e.at("name"))?),
    };
    let s = |m: StringMatch| ValueMatch::String(m, false);
    let value = match &h.header_match_specifier {
        None => ValueMatch::Present(true),
        Some(HeaderMatchSpecifier::ExactMatch(v)) => s(StringMatch::Exact(v.clone())),
        Some(HeaderMatchSpecifier::PrefixMatch(v)) => s(StringMatch::Prefix(v.clone())),
        Some(HeaderMatchSpecifier::SuffixMatch(v)) => s(StringMatch::Suffix(v.clone())),
        Some(HeaderMatchSpecifier::ContainsMatch(v)) => s(StringMatch::Contains(v.clone())),
        Some(HeaderMatchSpecifier::SafeRegexMatch(r)) => s(StringMatch::Regex(
            regex(r).map_err(|e| e.at("safe_regex_match"))?,
        )),
        Some(HeaderMatchSpecifier::RangeMatch(r)) => ValueMatch::Range(r.start, r.end),
        Some(HeaderMatchSpecifier::PresentMatch(p)) => ValueMatch::Present(*p),
        Some(HeaderMatchSpecifier::StringMatch(m)) => {
            let (m, ic) = string_match(m).map_err(|e| e.at("string_match"))?;
            ValueMatch::String(m, ic)
        }
    };
    Ok(HeaderMatch {
        key,
        value,
        invert: h.invert_match,
        missing_as_empty: h.treat_missing_header_as_empty,
    })
}

fn query_match(q: &QueryParameterMatcher) -> Result<QueryMatch> {
    let value = match &q.query_parameter_match_specifier {
        None | Some(QueryParameterMatchSpecifier::PresentMatch(_)) => None,
        Some(QueryParameterMatchSpecifier::StringMatch(m)) => {
            Some(string_match(m).map_err(|e| e.at("string_match"))?)
        }
    };
    Ok(QueryMatch {
        name: q.name.clone(),
        value,
    })
}

fn cluster_ref(c: &mut Compiler<'_>, name: &str) -> ClusterRef {
    ClusterRef {
        name: name.into(),
        slot: c.clusters.intern(name),
    }
}

#[allow(deprecated)]
fn forward(
    c: &mut Compiler<'_>,
    a: &RouteAction,
    vh_retry: Option<&Arc<RetryPolicy>>,
) -> Result<Forward> {
    refuse(a.metadata_match.is_some(), "metadata_match")?;
    let mut mirrors = Vec::with_capacity(a.request_mirror_policies.len());
    for (i, p) in a.request_mirror_policies.iter().enumerate() {
        let at = |e: FieldError| e.at(format!("request_mirror_policies[{i}]"));
        refuse(!p.cluster_header.is_empty(), "cluster_header").map_err(at)?;
        refuse(
            !p.request_headers_mutations.is_empty(),
            "request_headers_mutations",
        )
        .map_err(at)?;
        refuse(!p.host_rewrite_literal.is_empty(), "host_rewrite_literal").map_err(at)?;
        if p.cluster.is_empty() {
            return Err(at(FieldError::new("cluster", "is empty")));
        }
        mirrors.push(Mirror {
            cluster: cluster_ref(c, &p.cluster),
            fraction: runtime_fraction(p.runtime_fraction.as_ref(), Fraction::ALL),
            host_suffix: !p.disable_shadow_host_suffix_append,
        });
    }
    refuse(!a.rate_limits.is_empty(), "rate_limits")?;
    #[allow(deprecated)]
    refuse(a.cors.is_some(), "cors")?;
    refuse(a.hedge_policy.is_some(), "hedge_policy")?;
    refuse(
        a.internal_redirect_policy.is_some(),
        "internal_redirect_policy",
    )?;
    refuse(a.path_rewrite_policy.is_some(), "path_rewrite_policy")?;
    refuse(a.append_x_forwarded_host, "append_x_forwarded_host")?;
    refuse(
        a.cluster_not_found_response_code != 0,
        "cluster_not_found_response_code",
    )?;
    refuse(
        a.retry_policy_typed_config.is_some(),
        "retry_policy_typed_config",
    )?;
    refuse(a.early_data_policy.is_some(), "early_data_policy")?;
    refuse(
        timeout(a.idle_timeout.as_ref(), None).is_some(),
        "idle_timeout",
    )?;
    let mut grpc_timeout_max = a.max_grpc_timeout.as_ref().map(|d| timeout(Some(d), None));
    if let Some(msd) = &a.max_stream_duration {
        refuse(
            timeout(msd.max_stream_duration.as_ref(), None).is_some(),
            "max_stream_duration.max_stream_duration",
        )?;
        refuse(
            msd.grpc_timeout_header_offset.is_some(),
            "max_stream_duration.grpc_timeout_header_offset",
        )?;
        if let Some(d) = &msd.grpc_timeout_header_max {
            grpc_timeout_max = Some(timeout(Some(d), None));
        }
    }
    let clusters = match &a.cluster_specifier {
        Some(route_action::ClusterSpecifier::Cluster(name)) => {
            ClusterChoice::Single(cluster_ref(c, name))
        }
        Some(route_action::ClusterSpecifier::WeightedClusters(w)) => {
            let mut entries = Vec::new();
            let mut upper = 0u32;
            for (i, cw) in w.clusters.iter().enumerate() {
                let at = |e: FieldError| e.at(format!("weighted_clusters.clusters[{i}]"));
                refuse(cw.metadata_match.is_some(), "metadata_match").map_err(at)?;
                refuse(!cw.cluster_header.is_empty(), "cluster_header").map_err(at)?;
                refuse(
                    !cw.typed_per_filter_config.is_empty(),
                    "typed_per_filter_config",
                )
                .map_err(at)?;
                let weight = cw.weight.as_ref().map(|w| w.value).unwrap_or(0);
                if weight == 0 {
                    continue;
                }
                upper = upper.saturating_add(weight);
                let host_rewrite = match &cw.host_rewrite_specifier {
                    Some(envoy_types::pb::envoy::config::route::v3::weighted_cluster::cluster_weight::HostRewriteSpecifier::HostRewriteLiteral(h)) => {
                        Some(HeaderValue::from_str(h).map_err(|_| at(FieldError::new("host_rewrite_literal", "is not a header value")))?)
                    }
                    None => None,
                };
                entries.push(WeightedCluster {
                    cluster: cluster_ref(c, &cw.name),
                    weight,
                    upper,
                    headers: ops(
                        &cw.request_headers_to_add,
                        &cw.request_headers_to_remove,
                        &cw.response_headers_to_add,
                        &cw.response_headers_to_remove,
                    )
                    .map_err(at)?,
                    host_rewrite,
                });
            }
            if entries.is_empty() {
                return Err(FieldError::new(
                    "weighted_clusters",
                    "no cluster has a weight",
                ));
            }
            ClusterChoice::Weighted {
                total: upper,
                entries,
            }
        }
        Some(route_action::ClusterSpecifier::ClusterHeader(_)) => {
            return Err(FieldError::unsupported("cluster_header"));
        }
        Some(_) => return Err(FieldError::unsupported("cluster_specifier_plugin")),
        None => return Err(FieldError::new("cluster_specifier", "is missing")),
    };
    let host_rewrite = match &a.host_rewrite_specifier {
        Some(route_action::HostRewriteSpecifier::HostRewriteLiteral(h)) => Some(
            HeaderValue::from_str(h)
                .map_err(|_| FieldError::new("host_rewrite_literal", "is not a header value"))?,
        ),
        Some(route_action::HostRewriteSpecifier::AutoHostRewrite(b)) if !b.value => None,
        Some(_) => return Err(FieldError::unsupported("host_rewrite_specifier")),
        None => None,
    };
    let regex_rewrite = match &a.regex_rewrite {
        Some(rr) => {
            let p = rr
                .pattern
                .as_ref()
                .ok_or_else(|| FieldError::new("regex_rewrite.pattern", "is missing"))?;
            let re = regex::Regex::new(&p.regex)
                .map_err(|e| FieldError::new("regex_rewrite.pattern", e.to_string()))?;
            Some((re, substitution(&rr.substitution)))
        }
        None => None,
    };
    let retry = match &a.retry_policy {
        Some(r) => Some(Arc::new(retry_policy(r).map_err(|e| e.at("retry_policy"))?)),
        None => vh_retry.cloned(),
    };
    let hash_policies = a
        .hash_policy
        .iter()
        .enumerate()
        .map(|(i, h)| hash_policy(h).map_err(|e| e.at(format!("hash_policy[{i}]"))))
        .collect::<Result<Vec<_>>>()?;
    Ok(Forward {
        hash_policies,
        clusters,
        timeout: timeout(a.timeout.as_ref(), Some(DEFAULT_TIMEOUT)),
        prefix_rewrite: (!a.prefix_rewrite.is_empty()).then(|| a.prefix_rewrite.clone()),
        regex_rewrite,
        host_rewrite,
        retry,
        grpc_timeout_max,
        mirrors,
    })
}

/// Compiles a route's `hash_policy`.
fn hash_policy(h: &route_action::HashPolicy) -> Result<HashPolicy> {
    use route_action::hash_policy::PolicySpecifier as P;
    let key = match &h.policy_specifier {
        Some(P::Header(hd)) => {
            refuse(hd.regex_rewrite.is_some(), "header.regex_rewrite")?;
            HashKey::Header(
                http::HeaderName::from_bytes(hd.header_name.as_bytes()).map_err(|_| {
                    FieldError::new(
                        "header.header_name",
                        format!("{:?} is not a header name", hd.header_name),
                    )
                })?,
            )
        }
        Some(P::Cookie(c)) => {
            refuse(!c.attributes.is_empty(), "cookie.attributes")?;
            if c.name.is_empty() {
                return Err(FieldError::new("cookie.name", "is empty"));
            }
            HashKey::Cookie {
                name: c.name.clone(),
                ttl: super::duration(c.ttl.as_ref()),
                path: c.path.clone(),
            }
        }
        Some(P::ConnectionProperties(cp)) if cp.source_ip => HashKey::SourceIp,
        Some(P::ConnectionProperties(_)) => {
            return Err(FieldError::new(
                "connection_properties.source_ip",
                "is false (nothing to hash)",
            ));
        }
        Some(P::QueryParameter(q)) => HashKey::Query(q.name.clone()),
        Some(P::FilterState(_)) => return Err(FieldError::unsupported("filter_state")),
        None => return Err(FieldError::new("policy_specifier", "is missing")),
    };
    Ok(HashPolicy {
        key,
        terminal: h.terminal,
    })
}
