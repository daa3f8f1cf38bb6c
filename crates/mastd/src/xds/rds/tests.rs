//! Table tests: each VirtualService HTTP route feature and the Envoy route fields it becomes.

use envoy_types::pb::envoy::config::core::v3::{
    data_source::Specifier, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, header_matcher::HeaderMatchSpecifier,
    query_parameter_matcher::QueryParameterMatchSpecifier, redirect_action, route, route_action,
    route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::CorsPolicy;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{HttpFault, fault_abort};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use envoy_types::pb::google::protobuf::Duration;
use serde_json::{Value, json};

use super::testutil::{SnapBuilder, proxy, unpack};
use super::{egress, route_config};

pub(super) const REVIEWS: &str = "reviews.default.svc.cluster.local";

pub(super) fn snap_with(http: Value) -> crate::model::Snapshot {
    SnapBuilder::new()
        .service("reviews", "default", &[("http", 9080)], "10.0.0.2")
        .service("ratings", "default", &[("http", 9080)], "10.0.0.3")
        .service(
            "multi",
            "default",
            &[("http", 9080), ("http-admin", 8080)],
            "10.0.0.4",
        )
        .vs(
            "reviews",
            "default",
            json!({"hosts": ["reviews"], "http": http}),
        )
        .build()
}

pub(super) fn config(snap: &crate::model::Snapshot, port: &str) -> RouteConfiguration {
    let p = proxy(
        "10.1.0.1",
        "productpage-v1",
        "default",
        &[("app", "productpage")],
        json!({}),
    );
    let view = egress::view(snap, &p);
    route_config(snap, &p, &view, port)
}

pub(super) fn routes_of(http: Value) -> Vec<Route> {
    let rc = config(&snap_with(http), "9080");
    rc.virtual_hosts
        .into_iter()
        .find(|v| v.name == format!("{REVIEWS}:9080"))
        .expect("reviews vhost")
        .routes
}

pub(super) fn action(r: &Route) -> &RouteAction {
    match &r.action {
        Some(route::Action::Route(a)) => a,
        other => panic!("not a route action: {other:?}"),
    }
}

pub(super) fn cluster(r: &Route) -> &str {
    match &action(r).cluster_specifier {
        Some(route_action::ClusterSpecifier::Cluster(c)) => c,
        other => panic!("not a single cluster: {other:?}"),
    }
}

pub(super) fn path(r: &Route) -> PathSpecifier {
    r.r#match.as_ref().unwrap().path_specifier.clone().unwrap()
}

pub(super) fn secs(s: i64) -> Option<Duration> {
    Some(Duration {
        seconds: s,
        nanos: 0,
    })
}

type Check = fn(&[Route]);

#[test]
fn http_route_features() {
    let cases: Vec<(&str, Value, Check)> = vec![
        (
            "single destination, port from the only service port",
            json!([{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]),
            |r| {
                assert_eq!(r.len(), 1);
                assert_eq!(
                    cluster(&r[0]),
                    "outbound|9080|v1|reviews.default.svc.cluster.local"
                );
                assert_eq!(path(&r[0]), PathSpecifier::Prefix("/".into()));
                assert_eq!(
                    action(&r[0]).timeout,
                    secs(0),
                    "timeout defaults to 0 (disabled)"
                );
                let retry = action(&r[0]).retry_policy.clone().unwrap();
                assert_eq!(retry.num_retries.unwrap().value, 2);
                assert_eq!(
                    retry.retry_on,
                    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
                );
                assert_eq!(retry.host_selection_retry_max_attempts, 5);
                assert_eq!(
                    retry.retry_host_predicate[0].name,
                    "envoy.retry_host_predicates.previous_hosts"
                );
                assert_eq!(
                    r[0].decorator.as_ref().unwrap().operation,
                    "reviews.default.svc.cluster.local:9080/*"
                );
            },
        ),
        (
            "destination port on a multi-port service",
            json!([{"route": [{"destination": {"host": "multi", "port": {"number": 8080}}}]}]),
            |r| {
                assert_eq!(
                    cluster(&r[0]),
                    "outbound|8080||multi.default.svc.cluster.local"
                );
            },
        ),
        (
            "weighted destinations skip weight 0",
            json!([{"route": [
            {"destination": {"host": "reviews", "subset": "v1"}, "weight": 75},
            {"destination": {"host": "reviews", "subset": "v2"}, "weight": 25},
            {"destination": {"host": "reviews", "subset": "v3"}, "weight": 0}]}]),
            |r| {
                let Some(route_action::ClusterSpecifier::WeightedClusters(w)) =
                    &action(&r[0]).cluster_specifier
                else {
                    panic!()
                };
                let got: Vec<(&str, u32)> = w
                    .clusters
                    .iter()
                    .map(|c| (c.name.as_str(), c.weight.unwrap().value))
                    .collect();
                assert_eq!(
                    got,
                    vec![
                        ("outbound|9080|v1|reviews.default.svc.cluster.local", 75),
                        ("outbound|9080|v2|reviews.default.svc.cluster.local", 25)
                    ]
                );
            },
        ),
        (
            "matches: uri, headers, withoutHeaders, query, method, authority, ignoreUriCase",
            json!([{
            "match": [{"name": "m1", "uri": {"regex": "/api/.*"}, "headers": {"end-user": {"exact": "jason"}, "x-any": {}},
                       "withoutHeaders": {"x-debug": {"prefix": "1"}}, "queryParams": {"q": {"exact": "1"}, "p": {"regex": "*"}},
                       "method": {"exact": "GET"}, "authority": {"prefix": "reviews"}, "ignoreUriCase": true}],
            "name": "r", "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let m = r[0].r#match.as_ref().unwrap();
                assert_eq!(r[0].name, "r.m1");
                assert!(
                    matches!(&m.path_specifier, Some(PathSpecifier::SafeRegex(re)) if re.regex == "/api/.*")
                );
                assert!(!m.case_sensitive.unwrap().value);
                let names: Vec<&str> = m.headers.iter().map(|h| h.name.as_str()).collect();
                assert_eq!(
                    names,
                    vec!["end-user", "x-any", "x-debug", ":method", ":authority"]
                );
                assert!(matches!(
                    &m.headers[1].header_match_specifier,
                    Some(HeaderMatchSpecifier::PresentMatch(true))
                ));
                assert!(m.headers[2].invert_match && m.headers[2].treat_missing_header_as_empty);
                let q: Vec<_> = m
                    .query_parameters
                    .iter()
                    .map(|q| (q.name.as_str(), q.query_parameter_match_specifier.clone()))
                    .collect();
                assert!(matches!(
                    &q[0],
                    ("p", Some(QueryParameterMatchSpecifier::PresentMatch(true)))
                ));
                assert!(
                    matches!(&q[1].1, Some(QueryParameterMatchSpecifier::StringMatch(s)) if s.match_pattern == Some(MatchPattern::Exact("1".into())))
                );
            },
        ),
        (
            "exact and prefix uri; catch-all stops the list",
            json!([
            {"match": [{"uri": {"exact": "/login"}}, {"uri": {"prefix": "/"}}, {"uri": {"prefix": "/never"}}], "route": [{"destination": {"host": "reviews"}}]},
            {"route": [{"destination": {"host": "ratings"}}]}]),
            |r| {
                assert_eq!(r.len(), 2);
                assert_eq!(path(&r[0]), PathSpecifier::Path("/login".into()));
                assert_eq!(path(&r[1]), PathSpecifier::Prefix("/".into()));
            },
        ),
        (
            "match on another port or source labels is dropped",
            json!([
            {"match": [{"port": 8080}], "route": [{"destination": {"host": "reviews"}}]},
            {"match": [{"sourceLabels": {"app": "other"}}], "route": [{"destination": {"host": "reviews"}}]},
            {"match": [{"sourceLabels": {"app": "productpage"}, "uri": {"prefix": "/x"}}], "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                assert_eq!(r.len(), 1);
                assert_eq!(path(&r[0]), PathSpecifier::Prefix("/x".into()));
            },
        ),
        (
            "rewrite uri and authority",
            json!([{"rewrite": {"uri": "/v2", "authority": "new"}, "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let a = action(&r[0]);
                assert_eq!(a.prefix_rewrite, "/v2");
                assert_eq!(
                    a.host_rewrite_specifier,
                    Some(route_action::HostRewriteSpecifier::HostRewriteLiteral(
                        "new".into()
                    ))
                );
            },
        ),
        (
            "regex rewrite",
            json!([{"rewrite": {"uriRegexRewrite": {"match": "^/a/(.*)", "rewrite": "/b/\\1"}}, "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let rr = action(&r[0]).regex_rewrite.clone().unwrap();
                assert_eq!(rr.pattern.unwrap().regex, "^/a/(.*)");
                assert_eq!(rr.substitution, "/b/\\1");
            },
        ),
        (
            "redirect with scheme, port and code",
            json!([{"redirect": {"uri": "/new", "authority": "x.com", "scheme": "https", "port": 8443, "redirectCode": 302}}]),
            |r| {
                let Some(route::Action::Redirect(rd)) = &r[0].action else {
                    panic!()
                };
                assert_eq!(rd.host_redirect, "x.com");
                assert_eq!(
                    rd.path_rewrite_specifier,
                    Some(redirect_action::PathRewriteSpecifier::PathRedirect(
                        "/new".into()
                    ))
                );
                assert_eq!(
                    rd.scheme_rewrite_specifier,
                    Some(redirect_action::SchemeRewriteSpecifier::SchemeRedirect(
                        "https".into()
                    ))
                );
                assert_eq!(rd.port_redirect, 8443);
                assert_eq!(
                    rd.response_code,
                    redirect_action::RedirectResponseCode::Found as i32
                );
            },
        ),
        (
            "redirect to the default port drops it",
            json!([{"redirect": {"uri": "/n", "scheme": "https", "port": 443}}]),
            |r| {
                let Some(route::Action::Redirect(rd)) = &r[0].action else {
                    panic!()
                };
                assert_eq!(rd.port_redirect, 0);
                assert_eq!(
                    rd.response_code,
                    redirect_action::RedirectResponseCode::MovedPermanently as i32
                );
            },
        ),
        (
            "direct response",
            json!([{"directResponse": {"status": 503, "body": {"string": "unavailable"}}}]),
            |r| {
                let Some(route::Action::DirectResponse(d)) = &r[0].action else {
                    panic!()
                };
                assert_eq!(d.status, 503);
                assert_eq!(
                    d.body.as_ref().unwrap().specifier,
                    Some(Specifier::InlineString("unavailable".into()))
                );
            },
        ),
        (
            "header operations: route and destination",
            json!([{"headers": {"request": {"set": {"x-a": "1"}, "add": {"x-b": "2"}, "remove": ["x-c", "host"]},
                                                                    "response": {"set": {"x-d": "3"}, "remove": ["x-e"]}},
            "route": [{"destination": {"host": "reviews"}, "headers": {"request": {"set": {":authority": "auth.example"}, "add": {"x-f": "4"}}}}]}]),
            |r| {
                let names: Vec<(&str, i32)> = r[0]
                    .request_headers_to_add
                    .iter()
                    .map(|h| (h.header.as_ref().unwrap().key.as_str(), h.append_action))
                    .collect();
                assert_eq!(
                    names,
                    vec![
                        ("x-a", HeaderAppendAction::OverwriteIfExistsOrAdd as i32),
                        ("x-b", HeaderAppendAction::AppendIfExistsOrAdd as i32),
                        ("x-f", HeaderAppendAction::AppendIfExistsOrAdd as i32)
                    ]
                );
                assert_eq!(r[0].request_headers_to_remove, vec!["x-c".to_string()]);
                assert_eq!(
                    r[0].response_headers_to_add[0].header.as_ref().unwrap().key,
                    "x-d"
                );
                assert_eq!(r[0].response_headers_to_remove, vec!["x-e".to_string()]);
                assert_eq!(
                    action(&r[0]).host_rewrite_specifier,
                    Some(route_action::HostRewriteSpecifier::HostRewriteLiteral(
                        "auth.example".into()
                    ))
                );
            },
        ),
        (
            "per-destination headers on weighted clusters",
            json!([{"route": [
            {"destination": {"host": "reviews", "subset": "v1"}, "weight": 50, "headers": {"response": {"add": {"x-v": "1"}}}},
            {"destination": {"host": "reviews", "subset": "v2"}, "weight": 50}]}]),
            |r| {
                let Some(route_action::ClusterSpecifier::WeightedClusters(w)) =
                    &action(&r[0]).cluster_specifier
                else {
                    panic!()
                };
                assert_eq!(
                    w.clusters[0].response_headers_to_add[0]
                        .header
                        .as_ref()
                        .unwrap()
                        .key,
                    "x-v"
                );
                assert!(w.clusters[1].response_headers_to_add.is_empty());
            },
        ),
        (
            "timeout",
            json!([{"timeout": "1.5s", "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                assert_eq!(
                    action(&r[0]).timeout,
                    Some(Duration {
                        seconds: 1,
                        nanos: 500_000_000
                    })
                );
            },
        ),
        (
            "retries",
            json!([{"retries": {"attempts": 3, "perTryTimeout": "2s", "retryOn": "gateway-error,503", "retryRemoteLocalities": true},
                            "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let p = action(&r[0]).retry_policy.clone().unwrap();
                assert_eq!(p.num_retries.unwrap().value, 3);
                assert_eq!(p.per_try_timeout, secs(2));
                assert_eq!(p.retry_on, "gateway-error,retriable-status-codes");
                assert_eq!(p.retriable_status_codes, vec![503]);
                assert_eq!(p.retry_host_predicate.len(), 1);
                assert_eq!(
                    p.retry_priority.unwrap().name,
                    "envoy.retry_priorities.previous_priorities"
                );
            },
        ),
        (
            "retries disabled with attempts 0",
            json!([{"retries": {"attempts": 0}, "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                assert!(action(&r[0]).retry_policy.is_none());
            },
        ),
        (
            "fault delay and abort",
            json!([{"fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}, "abort": {"httpStatus": 500, "percentage": {"value": 12.5}}},
                                          "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let f: HttpFault = unpack(
                    r[0].typed_per_filter_config
                        .get("envoy.filters.http.fault")
                        .unwrap(),
                );
                let d = f.delay.unwrap();
                assert_eq!(d.percentage.unwrap().numerator, 1_000_000);
                assert!(
                    matches!(d.fault_delay_secifier, Some(envoy_types::pb::envoy::extensions::filters::common::fault::v3::fault_delay::FaultDelaySecifier::FixedDelay(x)) if x.seconds == 7)
                );
                let a = f.abort.unwrap();
                assert_eq!(a.error_type, Some(fault_abort::ErrorType::HttpStatus(500)));
                assert_eq!(a.percentage.unwrap().numerator, 125_000);
            },
        ),
        (
            "fault abort with gRPC status",
            json!([{"fault": {"abort": {"grpcStatus": "UNAVAILABLE"}}, "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let f: HttpFault = unpack(
                    r[0].typed_per_filter_config
                        .get("envoy.filters.http.fault")
                        .unwrap(),
                );
                assert_eq!(
                    f.abort.unwrap().error_type,
                    Some(fault_abort::ErrorType::GrpcStatus(14))
                );
            },
        ),
        (
            "mirrors with percentages",
            json!([{"mirror": {"host": "ratings"}, "mirrorPercentage": {"value": 50},
                                              "mirrors": [{"destination": {"host": "reviews", "subset": "v3"}, "percentage": {"value": 10}}, {"destination": {"host": "ratings"}, "percentage": {"value": 0}}],
                                              "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let m = &action(&r[0]).request_mirror_policies;
                assert_eq!(m.len(), 2);
                assert_eq!(
                    m[0].cluster,
                    "outbound|9080||ratings.default.svc.cluster.local"
                );
                assert_eq!(
                    m[0].runtime_fraction
                        .clone()
                        .unwrap()
                        .default_value
                        .unwrap()
                        .numerator,
                    500_000
                );
                assert_eq!(
                    m[1].cluster,
                    "outbound|9080|v3|reviews.default.svc.cluster.local"
                );
                assert!(!m[1].trace_sampled.unwrap().value);
            },
        ),
        (
            "cors",
            json!([{"corsPolicy": {"allowOrigins": [{"exact": "https://a.com"}, {"regex": ".*\\.b\\.com"}], "allowMethods": ["GET", "POST"],
                                        "allowHeaders": ["x-a"], "exposeHeaders": ["x-b"], "maxAge": "24h", "allowCredentials": true},
                         "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let c: CorsPolicy = unpack(
                    r[0].typed_per_filter_config
                        .get("envoy.filters.http.cors")
                        .unwrap(),
                );
                assert_eq!(c.allow_origin_string_match.len(), 2);
                assert_eq!(c.allow_methods, "GET,POST");
                assert_eq!(c.max_age, "86400");
                assert!(c.allow_credentials.unwrap().value);
                assert_eq!(
                    c.filter_enabled.unwrap().default_value.unwrap().numerator,
                    100
                );
                assert!(c.forward_not_matching_preflights.unwrap().value);
            },
        ),
        (
            "JWT claim match becomes dynamic metadata",
            json!([{"match": [{"headers": {"@request.auth.claims.group": {"exact": "admin"}}}], "route": [{"destination": {"host": "reviews"}}]}]),
            |r| {
                let m = r[0].r#match.as_ref().unwrap();
                assert!(m.headers.is_empty());
                assert_eq!(m.dynamic_metadata[0].filter, "envoy.filters.http.jwt_authn");
                assert_eq!(m.dynamic_metadata[0].path.len(), 2);
            },
        ),
    ];
    for (name, http, check) in cases {
        let routes = routes_of(http);
        eprintln!("case: {name}");
        check(&routes);
    }
}
