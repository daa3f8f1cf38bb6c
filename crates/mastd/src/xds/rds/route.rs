//! One VirtualService HTTP route (and match) as Envoy routes (`TranslateRoute`), and the
//! default routes used when no VirtualService applies.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::route::v3::{
    Decorator, Route, RouteAction, WeightedCluster, route, route_action,
    route_match::PathSpecifier, weighted_cluster,
};
use envoy_types::pb::envoy::r#type::matcher::v3::RegexMatchAndSubstitute;
use envoy_types::pb::google::protobuf::Any;
use envoy_types::util::pack_any;
use mast_config::istio::common::PortSelector;
use mast_config::istio::networking::destination_rule::{ConsistentHashLb, DestinationRule};
use mast_config::istio::networking::virtual_service::{
    Destination, HttpMatchRequest, HttpRoute, HttpRouteDestination, VirtualService,
};
use mast_xds::Proxy;

use super::actions;
use super::delegate::exported_to;
use super::matches::{is_catch_all, match_all, route_match};
use super::policy::{self, HeaderOps};
use super::util::{
    MESH_GATEWAY, no_timeout, outbound_cluster, parse_cluster_name, parse_duration, regex_matcher,
    resolve_short_name,
};
use crate::model::{Config, Snapshot};
use crate::registry::Service;

/// Name of the HTTP fault filter (and of its per-route config).
pub const FAULT_FILTER: &str = "envoy.filters.http.fault";
/// Name of the CORS filter (and of its per-route config).
pub const CORS_FILTER: &str = "envoy.filters.http.cors";
/// Name of the default route when no VirtualService applies.
pub const DEFAULT_ROUTE: &str = "default";

/// What route translation needs to know about where the routes go.
#[derive(Debug, Clone, Copy)]
pub struct RouteCtx<'a> {
    /// The snapshot (DestinationRules for consistent hashing).
    pub snap: &'a Snapshot,
    /// The proxy the routes are for (source labels and namespace).
    pub proxy: &'a Proxy,
    /// Services on the listener port by hostname, each with that port only.
    pub services: &'a BTreeMap<String, Arc<Service>>,
    /// The listener port.
    pub listen_port: u32,
    /// Whether the proxy is a proxyless gRPC client.
    pub grpc: bool,
}

/// The cluster of a destination (`GetDestinationCluster`): its port, else the only port of
/// the service, else the listener port.
pub fn destination_cluster(d: &Destination, service: Option<&Service>, listen_port: u32) -> String {
    let port = match (&d.port, service) {
        (Some(p), _) => p.number,
        (None, Some(s)) if s.ports.len() == 1 => u32::from(s.ports[0].port),
        _ => listen_port,
    };
    outbound_cluster(&d.subset, &d.host, port)
}

/// The DestinationRule applying to `host` for a proxy: its namespace first, then any exported
/// one, the root namespace's last.
pub fn destination_rule<'a>(
    snap: &'a Snapshot,
    proxy: &Proxy,
    host: &str,
) -> Option<&'a Config<DestinationRule>> {
    let visible = snap.destination_rules.iter().filter(|c| {
        let selector_ok = c.spec.workload_selector.as_ref().is_none_or(|s| {
            c.namespace == proxy.namespace
                && s.match_labels
                    .iter()
                    .all(|(k, v)| proxy.labels.get(k) == Some(v))
        });
        selector_ok
            && exported_to(&c.spec.export_to, &c.namespace, &proxy.namespace)
            && resolve_short_name(&c.spec.host, &c.namespace) == host
    });
    let all: Vec<_> = visible.collect();
    let rank = |c: &Config<DestinationRule>| match () {
        _ if c.namespace == proxy.namespace => 0,
        _ if c.namespace == snap.mesh.root_namespace => 2,
        _ => 1,
    };
    all.into_iter().min_by_key(|c| rank(c))
}

/// The consistent hash applying to a destination (subset and port-level settings first).
pub fn consistent_hash<'a>(
    snap: &'a Snapshot,
    proxy: &Proxy,
    d: &Destination,
) -> Option<&'a ConsistentHashLb> {
    let dr = &destination_rule(snap, proxy, &d.host)?.spec;
    let port = d.port.as_ref().map(|p| p.number);
    let port_level = |tp: &'a mast_config::istio::networking::destination_rule::TrafficPolicy| {
        let port = port?;
        tp.port_level_settings
            .iter()
            .find(|s| s.port.as_ref().map(|p| p.number) == Some(port))?
            .load_balancer
            .as_ref()?
            .consistent_hash
            .as_ref()
    };
    let top = dr.traffic_policy.as_ref();
    let subset = dr
        .subsets
        .iter()
        .find(|s| s.name == d.subset)
        .and_then(|s| s.traffic_policy.as_ref());
    subset
        .and_then(port_level)
        .or_else(|| subset.and_then(|t| t.load_balancer.as_ref()?.consistent_hash.as_ref()))
        .or_else(|| top.and_then(port_level))
        .or_else(|| top.and_then(|t| t.load_balancer.as_ref()?.consistent_hash.as_ref()))
}

/// The `istio` filter metadata naming the VirtualService a route comes from.
pub fn config_metadata(kind: &str, namespace: &str, name: &str) -> Metadata {
    let mut m = serde_json::Map::new();
    m.insert(
        "config".into(),
        format!("/apis/networking.istio.io/v1/namespaces/{namespace}/{kind}/{name}").into(),
    );
    Metadata {
        filter_metadata: HashMap::from([(
            "istio".to_string(),
            mast_xds::structs::json_to_struct(&m),
        )]),
        ..Default::default()
    }
}

/// Whether a match applies to this proxy (`sourceMatchHTTP`): gateways include `mesh`, or the
/// source labels and namespace fit.
fn source_matches(m: &HttpMatchRequest, proxy: &Proxy) -> bool {
    if !m.gateways.is_empty() {
        return m.gateways.iter().any(|g| g == MESH_GATEWAY);
    }
    m.source_labels
        .iter()
        .all(|(k, v)| proxy.labels.get(k) == Some(v))
        && (m.source_namespace.is_empty() || m.source_namespace == proxy.namespace)
}

/// All routes of a VirtualService for the listener port (`BuildHTTPRoutesForVirtualService`),
/// stopping after a catch-all.
pub fn virtual_service_routes(ctx: &RouteCtx<'_>, vs: &Config<VirtualService>) -> Vec<Route> {
    let mut out = Vec::new();
    for http in &vs.spec.http {
        if http.matches.is_empty() {
            out.extend(translate_route(ctx, vs, http, None));
            break;
        }
        let mut catch_all = false;
        for m in &http.matches {
            if let Some(r) = translate_route(ctx, vs, http, Some(m)) {
                catch_all = is_catch_all(r.r#match.as_ref().unwrap_or(&match_all()));
                out.push(r);
                if catch_all {
                    break;
                }
            }
        }
        if catch_all {
            break;
        }
    }
    out
}

/// Translates one HTTP route under one of its matches (or none).
pub fn translate_route(
    ctx: &RouteCtx<'_>,
    vs: &Config<VirtualService>,
    http: &HttpRoute,
    m: Option<&HttpMatchRequest>,
) -> Option<Route> {
    if let Some(m) = m {
        if m.port != 0 && m.port != ctx.listen_port {
            return None;
        }
        if !source_matches(m, ctx.proxy) {
            return None;
        }
    }
    let mut name = http.name.clone();
    if let Some(mn) = m.map(|m| &m.name).filter(|n| !n.is_empty()) {
        name = format!("{name}.{mn}");
    }
    let mut out = Route {
        name,
        r#match: Some(route_match(m)),
        metadata: Some(config_metadata("virtual-service", &vs.namespace, &vs.name)),
        stat_prefix: m.map(|m| m.stat_prefix.clone()).unwrap_or_default(),
        ..Default::default()
    };
    let ops = http
        .headers
        .as_ref()
        .map(policy::header_ops)
        .unwrap_or_default();
    out.request_headers_to_add = ops.request_add;
    out.request_headers_to_remove = ops.request_remove;
    out.response_headers_to_add = ops.response_add;
    out.response_headers_to_remove = ops.response_remove;
    out.action = Some(if let Some(r) = &http.redirect {
        route::Action::Redirect(actions::redirect(r, ctx.listen_port)?)
    } else if let Some(d) = &http.direct_response {
        route::Action::DirectResponse(actions::direct_response(d))
    } else {
        route::Action::Route(route_action(ctx, http, &mut out, ops.authority)?)
    });
    out.decorator = Some(Decorator {
        operation: operation(&out, &vs.name, ctx.listen_port),
        ..Default::default()
    });
    let mut per_filter: HashMap<String, Any> = HashMap::new();
    if let Some(f) = http.fault.as_ref().and_then(policy::fault) {
        per_filter.insert(FAULT_FILTER.into(), pack_any(f));
    }
    if let Some(c) = &http.cors_policy {
        per_filter.insert(CORS_FILTER.into(), pack_any(policy::cors(c)));
    }
    out.typed_per_filter_config = per_filter;
    Some(out)
}

/// Sets the route timeout as istiod does: 0 (disabled) unless the VirtualService sets one.
#[allow(deprecated)] // istiod still sets max_grpc_timeout rather than max_stream_duration
pub fn set_timeout(action: &mut RouteAction, timeout: Option<&str>, grpc: bool) {
    let t = timeout
        .and_then(|t| parse_duration(t, "http.timeout"))
        .unwrap_or_else(no_timeout);
    if grpc {
        action.max_stream_duration = Some(route_action::MaxStreamDuration {
            max_stream_duration: Some(t),
            ..Default::default()
        });
    } else {
        action.max_grpc_timeout = Some(t);
    }
    action.timeout = Some(t);
}

fn route_action(
    ctx: &RouteCtx<'_>,
    http: &HttpRoute,
    out: &mut Route,
    mut authority: String,
) -> Option<RouteAction> {
    let mut action = RouteAction::default();
    set_timeout(&mut action, http.timeout.as_deref(), ctx.grpc);
    if let Some(rw) = &http.rewrite {
        if let Some(re) = &rw.uri_regex_rewrite {
            action.regex_rewrite = Some(RegexMatchAndSubstitute {
                pattern: Some(regex_matcher(&re.pattern)),
                substitution: re.rewrite.clone(),
            });
        } else if !rw.uri.is_empty() {
            action.prefix_rewrite = rw.uri.clone();
        }
        if !rw.authority.is_empty() {
            authority = rw.authority.clone();
        }
    }
    if !authority.is_empty() {
        action.host_rewrite_specifier = Some(
            route_action::HostRewriteSpecifier::HostRewriteLiteral(authority),
        );
    }
    let lookup = |host: &str| ctx.services.get(host).map(|s| &**s);
    if let Some(m) = &http.mirror
        && let Some(f) = policy::mirror_fraction(http)
    {
        action.request_mirror_policies.push(policy::mirror(
            destination_cluster(m, lookup(&m.host), ctx.listen_port),
            f,
        ));
    }
    for m in &http.mirrors {
        if let (Some(d), Some(f)) = (
            &m.destination,
            policy::mirror_policy_fraction(m.percentage.as_ref()),
        ) {
            action.request_mirror_policies.push(policy::mirror(
                destination_cluster(d, lookup(&d.host), ctx.listen_port),
                f,
            ));
        }
    }
    let mut hashed = false;
    match http.route.as_slice() {
        [] => return None,
        [only] => {
            let d = only.destination.as_ref()?;
            action.cluster_specifier = Some(route_action::ClusterSpecifier::Cluster(
                destination_cluster(d, lookup(&d.host), ctx.listen_port),
            ));
            if let Some(h) = &only.headers {
                let ops = policy::header_ops(h);
                out.request_headers_to_add.extend(ops.request_add);
                out.request_headers_to_remove.extend(ops.request_remove);
                out.response_headers_to_add.extend(ops.response_add);
                out.response_headers_to_remove.extend(ops.response_remove);
                if !ops.authority.is_empty() && action.host_rewrite_specifier.is_none() {
                    action.host_rewrite_specifier = Some(
                        route_action::HostRewriteSpecifier::HostRewriteLiteral(ops.authority),
                    );
                }
            }
            if let Some(h) = consistent_hash(ctx.snap, ctx.proxy, d) {
                hashed = true;
                action.hash_policy.extend(actions::hash_policy(h));
            }
        }
        many => {
            let clusters = many
                .iter()
                .filter(|d| d.weight != 0)
                .filter_map(|d| weighted(ctx, d, &mut action))
                .collect();
            action.cluster_specifier = Some(route_action::ClusterSpecifier::WeightedClusters(
                WeightedCluster {
                    clusters,
                    ..Default::default()
                },
            ));
        }
    }
    action.retry_policy = policy::retry_policy(http.retries.as_ref(), hashed);
    Some(action)
}

fn weighted(
    ctx: &RouteCtx<'_>,
    d: &HttpRouteDestination,
    action: &mut RouteAction,
) -> Option<weighted_cluster::ClusterWeight> {
    let dest = d.destination.as_ref()?;
    let service = ctx.services.get(&dest.host).map(|s| &**s);
    let mut cw = weighted_cluster::ClusterWeight {
        name: destination_cluster(dest, service, ctx.listen_port),
        weight: super::util::u32_value(d.weight.max(0) as u32),
        ..Default::default()
    };
    if let Some(h) = &d.headers {
        let HeaderOps {
            request_add,
            request_remove,
            response_add,
            response_remove,
            authority,
        } = policy::header_ops(h);
        cw.request_headers_to_add = request_add;
        cw.request_headers_to_remove = request_remove;
        cw.response_headers_to_add = response_add;
        cw.response_headers_to_remove = response_remove;
        if !authority.is_empty() {
            cw.host_rewrite_specifier = Some(
                weighted_cluster::cluster_weight::HostRewriteSpecifier::HostRewriteLiteral(
                    authority,
                ),
            );
        }
    }
    if let Some(h) = consistent_hash(ctx.snap, ctx.proxy, dest) {
        action.hash_policy.extend(actions::hash_policy(h));
    }
    Some(cw)
}

/// The tracing operation of a route (`GetRouteOperation`): `host:port/path` for one cluster,
/// else `vsName:port/path`.
pub fn operation(r: &Route, vs_name: &str, port: u32) -> String {
    let path = match r.r#match.as_ref().and_then(|m| m.path_specifier.as_ref()) {
        Some(PathSpecifier::Prefix(p)) => format!("{p}*"),
        Some(PathSpecifier::Path(p)) => p.clone(),
        Some(PathSpecifier::SafeRegex(re)) => re.regex.clone(),
        _ => "/*".into(),
    };
    if let Some(route::Action::Route(RouteAction {
        cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(c)),
        ..
    })) = &r.action
        && let Some((_, host, p)) = parse_cluster_name(c)
    {
        return format!("{host}:{p}{path}");
    }
    format!("{vs_name}:{port}{path}")
}

fn default_route(cluster: String, operation: String) -> Route {
    Route {
        name: DEFAULT_ROUTE.into(),
        r#match: Some(match_all()),
        decorator: Some(Decorator {
            operation,
            ..Default::default()
        }),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster)),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The outbound route to a service port without VirtualService: no timeout, istiod's default
/// retries, and the DestinationRule's consistent hash if any.
pub fn default_outbound_route(ctx: &RouteCtx<'_>, svc: &Service, port: u16) -> Route {
    let cluster = outbound_cluster("", &svc.hostname, u32::from(port));
    let mut r = default_route(cluster, format!("{}:{port}/*", svc.hostname));
    if let Some(route::Action::Route(a)) = r.action.as_mut() {
        a.retry_policy = policy::retry_policy(None, false);
        set_timeout(a, None, false);
        let d = Destination {
            host: svc.hostname.clone(),
            subset: String::new(),
            port: Some(PortSelector {
                number: u32::from(port),
            }),
        };
        if let Some(h) = consistent_hash(ctx.snap, ctx.proxy, &d).and_then(actions::hash_policy) {
            a.hash_policy.push(h);
        }
    }
    r
}

/// The inbound route to the local application: no timeout, no stream duration limit, and
/// retries of requests reset before reaching it (none for gRPC).
pub fn default_inbound_route(cluster: String, operation: String, grpc: bool) -> Route {
    let mut r = default_route(cluster, operation);
    if let Some(route::Action::Route(a)) = r.action.as_mut() {
        a.timeout = Some(no_timeout());
        a.max_stream_duration = Some(route_action::MaxStreamDuration {
            max_stream_duration: Some(no_timeout()),
            grpc_timeout_header_max: Some(no_timeout()),
            ..Default::default()
        });
        if !grpc {
            a.retry_policy = Some(policy::inbound_retry_policy());
        }
    }
    r
}
