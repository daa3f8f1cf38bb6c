//! Table tests for compilation (what is accepted, what is refused and how the refusal names
//! the field) and for route and filter-chain matching on compiled tables.

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster as PbCluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, Metadata, SocketAddress, TransportSocket, address, socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener as PbListener, filter,
};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, RetryPolicy, Route, RouteAction, RouteConfiguration,
    RouteMatch, VirtualHost, WeightedCluster, header_matcher, route, route_action, route_match,
    weighted_cluster,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CommonTlsContext, DownstreamTlsContext, SdsSecretConfig, UpstreamTlsContext, common_tls_context,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{Any, BoolValue, UInt32Value};
use envoy_types::util::pack_any;
use http::{HeaderMap, Method};

use super::Slots;
use super::compile::Compiler;
use super::listener::ConnInfo;
use super::route::{Action, ClusterChoice, RequestView, RouteTable};
use crate::tls::CertSource;

fn compiler<'a>(
    certs: &'a Arc<CertSource>,
    clusters: &'a mut Slots,
    routes: &'a mut Slots,
) -> Compiler<'a> {
    static TELEMETRY: std::sync::OnceLock<Arc<crate::telemetry::Telemetry>> =
        std::sync::OnceLock::new();
    Compiler {
        certs,
        clusters,
        routes,
        telemetry: TELEMETRY
            .get_or_init(|| crate::telemetry::Telemetry::new("test", &Default::default())),
        direction: Default::default(),
    }
}

fn route_to(name: &str, m: RouteMatch, cluster: &str) -> Route {
    Route {
        name: name.into(),
        r#match: Some(m),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster.into())),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn prefix(p: &str) -> RouteMatch {
    RouteMatch {
        path_specifier: Some(route_match::PathSpecifier::Prefix(p.into())),
        ..Default::default()
    }
}

fn exact_header(name: &str, v: &str) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::StringMatch(
            StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::Exact(v.into())),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn vhost(name: &str, domains: &[&str], routes: Vec<Route>) -> VirtualHost {
    VirtualHost {
        name: name.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        routes,
        ..Default::default()
    }
}

fn table() -> RouteTable {
    let reviews = vec![
        route_to(
            "exact",
            RouteMatch {
                path_specifier: Some(route_match::PathSpecifier::Path("/exact".into())),
                ..Default::default()
            },
            "a",
        ),
        route_to(
            "jason",
            RouteMatch {
                headers: vec![exact_header("end-user", "jason")],
                ..prefix("/api")
            },
            "b",
        ),
        route_to(
            "regex",
            RouteMatch {
                path_specifier: Some(route_match::PathSpecifier::SafeRegex(RegexMatcher {
                    regex: "/items/[0-9]+".into(),
                    ..Default::default()
                })),
                ..Default::default()
            },
            "c",
        ),
        route_to(
            "debug",
            RouteMatch {
                query_parameters: vec![QueryParameterMatcher {
                    name: "debug".into(),
                    ..Default::default()
                }],
                ..prefix("/q")
            },
            "d",
        ),
        route_to(
            "post",
            RouteMatch {
                headers: vec![exact_header(":method", "POST")],
                ..prefix("/")
            },
            "e",
        ),
        route_to(
            "nocase",
            RouteMatch {
                case_sensitive: Some(BoolValue { value: false }),
                ..prefix("/UPPER")
            },
            "g",
        ),
        route_to(
            "grpc",
            RouteMatch {
                grpc: Some(Default::default()),
                ..prefix("/pkg.Svc/")
            },
            "h",
        ),
        route_to("default", prefix("/"), "f"),
    ];
    let rc = RouteConfiguration {
        name: "9080".into(),
        virtual_hosts: vec![
            vhost(
                "reviews",
                &["reviews.default.svc.cluster.local", "reviews:9080"],
                reviews,
            ),
            vhost(
                "suffix",
                &["*.example.com"],
                vec![route_to("s", prefix("/"), "s")],
            ),
            vhost(
                "longer-suffix",
                &["*.api.example.com"],
                vec![route_to("ls", prefix("/"), "ls")],
            ),
            vhost("prefix", &["foo.*"], vec![route_to("p", prefix("/"), "p")]),
            vhost("any", &["*"], vec![route_to("any", prefix("/only"), "any")]),
        ],
        ..Default::default()
    };
    let certs = CertSource::empty();
    let (mut cs, mut rs) = (Slots::default(), Slots::default());
    compiler(&certs, &mut cs, &mut rs)
        .route_table(&pack_any(rc))
        .unwrap()
}

/// Host, path, method, headers → the virtual host and route expected.
type MatchCase<'a> = (
    &'a str,
    &'a str,
    Method,
    &'a HeaderMap,
    Option<(&'a str, &'a str)>,
);

#[test]
fn route_matching() {
    let t = table();
    let grpc: HeaderMap = [(
        http::header::CONTENT_TYPE,
        "application/grpc".parse().unwrap(),
    )]
    .into_iter()
    .collect();
    let jason: HeaderMap = [(
        http::HeaderName::from_static("end-user"),
        "jason".parse().unwrap(),
    )]
    .into_iter()
    .collect();
    let none = HeaderMap::new();
    let cases: Vec<MatchCase<'_>> = vec![
        (
            "reviews:9080",
            "/exact",
            Method::GET,
            &none,
            Some(("reviews", "exact")),
        ),
        (
            "Reviews.Default.svc.cluster.local",
            "/exact?x=1",
            Method::GET,
            &none,
            Some(("reviews", "exact")),
        ),
        (
            "reviews:9080",
            "/exact/more",
            Method::GET,
            &none,
            Some(("reviews", "default")),
        ),
        (
            "reviews:9080",
            "/api/v1",
            Method::GET,
            &jason,
            Some(("reviews", "jason")),
        ),
        (
            "reviews:9080",
            "/api/v1",
            Method::GET,
            &none,
            Some(("reviews", "default")),
        ),
        (
            "reviews:9080",
            "/items/42",
            Method::GET,
            &none,
            Some(("reviews", "regex")),
        ),
        (
            "reviews:9080",
            "/items/42x",
            Method::GET,
            &none,
            Some(("reviews", "default")),
        ),
        (
            "reviews:9080",
            "/q?a=1&debug",
            Method::GET,
            &none,
            Some(("reviews", "debug")),
        ),
        (
            "reviews:9080",
            "/q?a=1",
            Method::GET,
            &none,
            Some(("reviews", "default")),
        ),
        (
            "reviews:9080",
            "/anything",
            Method::POST,
            &none,
            Some(("reviews", "post")),
        ),
        (
            "reviews:9080",
            "/upper/x",
            Method::GET,
            &none,
            Some(("reviews", "nocase")),
        ),
        (
            "reviews:9080",
            "/pkg.Svc/Call",
            Method::GET,
            &grpc,
            Some(("reviews", "grpc")),
        ),
        (
            "reviews:9080",
            "/pkg.Svc/Call",
            Method::GET,
            &none,
            Some(("reviews", "default")),
        ),
        (
            "www.example.com",
            "/",
            Method::GET,
            &none,
            Some(("suffix", "s")),
        ),
        (
            "v1.api.example.com",
            "/",
            Method::GET,
            &none,
            Some(("longer-suffix", "ls")),
        ),
        ("example.com", "/", Method::GET, &none, None),
        ("foo.bar", "/", Method::GET, &none, Some(("prefix", "p"))),
        (
            "other:80",
            "/only/this",
            Method::GET,
            &none,
            Some(("any", "any")),
        ),
        ("other:80", "/not", Method::GET, &none, None),
    ];
    for (host, pq, method, headers, want) in cases {
        let view = RequestView {
            host,
            path_and_query: pq,
            method: &method,
            scheme: "http",
            headers,
        };
        let got = t.find(&view).map(|(vh, r)| (vh.name.as_str(), &*r.name));
        assert_eq!(got, want, "{host} {method} {pq}");
    }
}

#[test]
fn weighted_clusters_pick_by_weight() {
    let w = |name: &str, weight: u32| weighted_cluster::ClusterWeight {
        name: name.into(),
        weight: Some(UInt32Value { value: weight }),
        ..Default::default()
    };
    let mut r = route_to("w", prefix("/"), "x");
    if let Some(route::Action::Route(a)) = r.action.as_mut() {
        a.cluster_specifier = Some(route_action::ClusterSpecifier::WeightedClusters(
            WeightedCluster {
                clusters: vec![w("v1", 75), w("v2", 25), w("v3", 0)],
                ..Default::default()
            },
        ));
    }
    let rc = RouteConfiguration {
        name: "w".into(),
        virtual_hosts: vec![vhost("w", &["*"], vec![r])],
        ..Default::default()
    };
    let certs = CertSource::empty();
    let (mut cs, mut rs) = (Slots::default(), Slots::default());
    let t = compiler(&certs, &mut cs, &mut rs)
        .route_table(&pack_any(rc))
        .unwrap();
    let Action::Forward(f) = &t.vhosts[0].routes[0].action else {
        panic!("forward")
    };
    let ClusterChoice::Weighted { total, .. } = &f.clusters else {
        panic!("weighted")
    };
    assert_eq!(*total, 100);
    let names: Vec<String> = [0, 74, 75, 99]
        .iter()
        .map(|r| f.clusters.pick(|_| *r).0.name.to_string())
        .collect();
    assert_eq!(names, ["v1", "v1", "v2", "v2"]);
    assert_eq!(
        f.timeout,
        Some(std::time::Duration::from_secs(15)),
        "Envoy's default route timeout"
    );
    assert_eq!(cs.get("v1"), Some(f.clusters.pick(|_| 0).0.slot));
}

fn http_filter_of<T: prost::Name + prost::Message>(name: &str, m: T) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(m))),
        ..Default::default()
    }
}

fn hcm(filters: Vec<HttpFilter>) -> HttpConnectionManager {
    HttpConnectionManager {
        stat_prefix: "inbound".into(),
        http_filters: filters,
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(
            RouteConfiguration {
                name: "inbound|8080||".into(),
                virtual_hosts: vec![vhost(
                    "inbound",
                    &["*"],
                    vec![route_to("default", prefix("/"), "inbound|8080||")],
                )],
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn sds(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.into(),
        ..Default::default()
    }
}

fn listener(chains: Vec<FilterChain>) -> PbListener {
    PbListener {
        name: "127.0.0.1_8080".into(),
        address: Some(Address {
            address: Some(address::Address::SocketAddress(SocketAddress {
                address: "127.0.0.1".into(),
                port_specifier: Some(socket_address::PortSpecifier::PortValue(8080)),
                ..Default::default()
            })),
        }),
        filter_chains: chains,
        ..Default::default()
    }
}

fn hcm_chain(
    name: &str,
    m: Option<FilterChainMatch>,
    h: HttpConnectionManager,
    tls: bool,
) -> FilterChain {
    let ctx = DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            alpn_protocols: vec!["h2".into(), "http/1.1".into()],
            tls_certificate_sds_secret_configs: vec![sds("default")],
            validation_context_type: Some(
                common_tls_context::ValidationContextType::ValidationContextSdsSecretConfig(sds(
                    "ROOTCA",
                )),
            ),
            ..Default::default()
        }),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    };
    FilterChain {
        name: name.into(),
        filter_chain_match: m,
        filters: vec![Filter {
            name: "envoy.filters.network.http_connection_manager".into(),
            config_type: Some(filter::ConfigType::TypedConfig(pack_any(h))),
        }],
        transport_socket: tls.then(|| TransportSocket {
            name: "envoy.transport_sockets.tls".into(),
            config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(ctx))),
        }),
        ..Default::default()
    }
}

fn router() -> HttpFilter {
    http_filter_of("envoy.filters.http.router", Router::default())
}

#[test]
fn permissive_inbound_listener_selects_chains() {
    let tls_match = FilterChainMatch {
        transport_protocol: "tls".into(),
        application_protocols: vec!["istio-http/1.1".into(), "istio".into(), "istio-h2".into()],
        ..Default::default()
    };
    let plain = FilterChainMatch {
        transport_protocol: "raw_buffer".into(),
        ..Default::default()
    };
    let filters = || {
        vec![
            http_filter_of("envoy.filters.http.fault", HttpFault::default()),
            router(),
        ]
    };
    let l = listener(vec![
        hcm_chain("mtls", Some(tls_match), hcm(filters()), true),
        hcm_chain("plain", Some(plain), hcm(filters()), false),
    ]);
    let certs = CertSource::empty();
    let (mut cs, mut rs) = (Slots::default(), Slots::default());
    let l = compiler(&certs, &mut cs, &mut rs)
        .listener(&pack_any(l))
        .unwrap();
    assert_eq!(l.address, "127.0.0.1:8080".parse().unwrap());
    let s = |transport: &'static str, alpn: &[&str]| {
        let info = ConnInfo {
            local: Some(l.address),
            server_name: None,
            transport,
            alpn: alpn.iter().map(|a| a.to_string()).collect(),
            negotiated: None,
        };
        l.select(&info).map(|c| c.name.clone())
    };
    assert_eq!(
        s("tls", &["istio-http/1.1", "istio"]).as_deref(),
        Some("mtls")
    );
    assert_eq!(s("raw_buffer", &["http/1.1"]).as_deref(), Some("plain"));
    assert_eq!(
        s("tls", &["h2"]),
        None,
        "TLS without Istio ALPN matches no chain"
    );
    let chain = &l.chains[0];
    let tls = chain.tls.as_ref().unwrap();
    assert!(tls.require_client);
    assert!(Arc::ptr_eq(
        tls.config_for(&["istio-h2".into(), "istio".into(), "h2".into()]),
        &tls.by_alpn[0].1
    ));
    assert!(Arc::ptr_eq(
        tls.config_for(&["istio-http/1.1".into()]),
        &tls.no_alpn
    ));
}

fn cluster(name: &str) -> PbCluster {
    PbCluster {
        name: name.into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        ..Default::default()
    }
}

fn istio_mutual() -> TransportSocket {
    let ctx = UpstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            alpn_protocols: vec!["istio-peer-exchange".into(), "istio".into()],
            tls_certificate_sds_secret_configs: vec![sds("default")],
            validation_context_type: Some(
                common_tls_context::ValidationContextType::ValidationContextSdsSecretConfig(sds(
                    "ROOTCA",
                )),
            ),
            ..Default::default()
        }),
        sni: "outbound_.9080_._.reviews.default.svc.cluster.local".into(),
        ..Default::default()
    };
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(ctx))),
    }
}

#[test]
fn auto_mtls_cluster_and_endpoints() {
    let mut c = cluster("outbound|9080||reviews.default.svc.cluster.local");
    let istio: serde_json::Map<String, serde_json::Value> = serde_json::json!({"tlsMode": "istio"})
        .as_object()
        .unwrap()
        .clone();
    c.transport_socket_matches = vec![
        cluster::TransportSocketMatch {
            name: "tlsMode-istio".into(),
            r#match: Some(mast_xds::structs::json_to_struct(&istio)),
            transport_socket: Some(istio_mutual()),
        },
        cluster::TransportSocketMatch {
            name: "tlsMode-disabled".into(),
            r#match: Some(Default::default()),
            transport_socket: None,
        },
    ];
    let certs = CertSource::empty();
    let (mut cs, mut rs) = (Slots::default(), Slots::default());
    let spec = compiler(&certs, &mut cs, &mut rs)
        .cluster(&pack_any(c))
        .unwrap();
    assert_eq!(
        spec.eds_name.as_deref(),
        Some("outbound|9080||reviews.default.svc.cluster.local")
    );
    let ep = |ip: &str,
              md: Option<&serde_json::Map<String, serde_json::Value>>,
              health: i32,
              prio: u32| LocalityLbEndpoints {
        priority: prio,
        lb_endpoints: vec![LbEndpoint {
            health_status: health,
            metadata: md.map(|m| Metadata {
                filter_metadata: HashMap::from([(
                    "envoy.transport_socket_match".to_string(),
                    mast_xds::structs::json_to_struct(m),
                )]),
                ..Default::default()
            }),
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                address: Some(Address {
                    address: Some(address::Address::SocketAddress(SocketAddress {
                        address: ip.into(),
                        port_specifier: Some(socket_address::PortSpecifier::PortValue(9080)),
                        ..Default::default()
                    })),
                }),
                ..Default::default()
            })),
            ..Default::default()
        }],
        ..Default::default()
    };
    let cla = ClusterLoadAssignment {
        cluster_name: "outbound|9080||reviews.default.svc.cluster.local".into(),
        endpoints: vec![
            ep("10.0.0.1", Some(&istio), 1, 0),
            ep("10.0.0.2", None, 0, 0),
            ep("10.0.0.3", None, 2, 0),
            ep("10.0.1.1", None, 0, 1),
        ],
        ..Default::default()
    };
    let (name, a) = super::compile::assignment(&pack_any(cla)).unwrap();
    assert_eq!(name, "outbound|9080||reviews.default.svc.cluster.local");
    assert_eq!(a.priorities.len(), 2);
    let rt = crate::upstream::ClusterRt::new(Arc::new(spec), Some(&a));
    let hosts = rt.hosts();
    assert_eq!(hosts.all.len(), 4);
    assert_eq!(
        hosts.active().len(),
        2,
        "unhealthy and lower-priority hosts are not in the first level"
    );
    assert!(
        hosts.all[0].tls.as_ref().is_some_and(|t| t.in_mesh),
        "tlsMode: istio gets ISTIO_MUTUAL"
    );
    assert!(hosts.all[1].tls.is_none(), "other endpoints get plaintext");
    // 2 of 3 hosts of priority 0 healthy: 1.4 × 2/3 = 93% there, 7% spills to priority 1
    // (Envoy's overprovisioning); the unhealthy host never gets traffic
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for _ in 0..4000 {
        *seen
            .entry(rt.pick(&[], 1).unwrap().addr.to_string())
            .or_default() += 1;
    }
    assert!(!seen.contains_key("10.0.0.3:9080"), "{seen:?}");
    let spilled = seen.get("10.0.1.1:9080").copied().unwrap_or(0);
    assert!(
        (150..=450).contains(&spilled),
        "7% of 4000 expected: {seen:?}"
    );
    assert!(
        seen.get("10.0.0.1:9080").is_some_and(|n| *n > 1500)
            && seen.get("10.0.0.2:9080").is_some_and(|n| *n > 1500),
        "round robin over both healthy hosts: {seen:?}"
    );
}

fn refused(any: Any) -> String {
    let certs = CertSource::empty();
    let (mut cs, mut rs) = (Slots::default(), Slots::default());
    let mut c = compiler(&certs, &mut cs, &mut rs);
    let r = match any.type_url.rsplit('.').next().unwrap() {
        "Listener" => c.listener(&any).map(|_| ()),
        "RouteConfiguration" => c.route_table(&any).map(|_| ()),
        "Cluster" => c.cluster(&any).map(|_| ()),
        other => panic!("{other}"),
    };
    match r {
        Err(e) => e.to_string(),
        Ok(()) => String::new(),
    }
}

#[test]
fn what_cannot_be_honoured_is_refused_by_field() {
    let with_route = |f: &dyn Fn(&mut Route)| {
        let mut r = route_to("r", prefix("/"), "c");
        f(&mut r);
        pack_any(RouteConfiguration {
            name: "rc".into(),
            virtual_hosts: vec![vhost("v", &["*"], vec![r])],
            ..Default::default()
        })
    };
    let with_action = |f: &dyn Fn(&mut RouteAction)| {
        with_route(&|r: &mut Route| {
            if let Some(route::Action::Route(a)) = r.action.as_mut() {
                f(a)
            }
        })
    };
    let with_cluster = |f: &dyn Fn(&mut PbCluster)| {
        let mut c = cluster("c");
        f(&mut c);
        pack_any(c)
    };
    let wasm = HttpFilter {
        name: "envoy.filters.http.wasm".into(),
        ..Default::default()
    };
    let optional_wasm = HttpFilter {
        is_optional: true,
        ..wasm.clone()
    };
    let lis = |filters: Vec<HttpFilter>| {
        pack_any(listener(vec![hcm_chain("c", None, hcm(filters), false)]))
    };
    let traced = |provider: Option<(&str, Any)>,
                  f: &dyn Fn(&mut http_connection_manager::Tracing)| {
        use envoy_types::pb::envoy::config::trace::v3::tracing;
        let mut t = http_connection_manager::Tracing {
            provider: provider.map(|(name, any)| tracing::Http {
                name: name.into(),
                config_type: Some(tracing::http::ConfigType::TypedConfig(any)),
            }),
            ..Default::default()
        };
        f(&mut t);
        let mut h = hcm(vec![router()]);
        h.tracing = Some(t);
        pack_any(listener(vec![hcm_chain("c", None, h, false)]))
    };
    use envoy_types::pb::envoy::config::trace::v3::{OpenTelemetryConfig, ZipkinConfig};
    let zipkin = |shared: Option<bool>| ZipkinConfig {
        collector_cluster: "zipkin".into(),
        collector_endpoint: "/api/v2/spans".into(),
        collector_endpoint_version: 1,
        shared_span_context: shared.map(|value| BoolValue { value }),
        ..Default::default()
    };
    let cases: Vec<(&str, Any, &str)> = vec![
        (
            "zipkin as istiod sends it",
            traced(
                Some(("envoy.tracers.zipkin", pack_any(zipkin(Some(false))))),
                &|_| {},
            ),
            "",
        ),
        (
            "zipkin sharing span contexts (Envoy's default)",
            traced(
                Some(("envoy.tracers.zipkin", pack_any(zipkin(None)))),
                &|_| {},
            ),
            "tracing.provider.typed_config.shared_span_context",
        ),
        (
            "opentelemetry without an exporter",
            traced(
                Some((
                    "envoy.tracers.opentelemetry",
                    pack_any(OpenTelemetryConfig::default()),
                )),
                &|_| {},
            ),
            "",
        ),
        (
            "another tracer",
            traced(
                Some((
                    "envoy.tracers.datadog",
                    pack_any(envoy_types::pb::envoy::config::trace::v3::DatadogConfig::default()),
                )),
                &|_| {},
            ),
            "tracer \"envoy.tracers.datadog\"",
        ),
        (
            "upstream spans",
            traced(None, &|t| {
                t.spawn_upstream_span = Some(BoolValue { value: true })
            }),
            "tracing.spawn_upstream_span",
        ),
        (
            "formatter tag",
            traced(None, &|t| {
                t.custom_tags
                    .push(envoy_types::pb::envoy::r#type::tracing::v3::CustomTag {
                        tag: "x".into(),
                        r#type: Some(
                            envoy_types::pb::envoy::r#type::tracing::v3::custom_tag::Type::Value(
                                "%REQ(x)%".into(),
                            ),
                        ),
                    })
            }),
            "tracing.custom_tags[0].value",
        ),
        (
            "per-route tracing",
            with_route(&|r| r.tracing = Some(Default::default())),
            "tracing",
        ),
        (
            "fault per route",
            with_route(&|r| {
                r.typed_per_filter_config.insert(
                    "envoy.filters.http.fault".into(),
                    pack_any(HttpFault::default()),
                );
            }),
            "",
        ),
        (
            "rate-limiting fault",
            with_route(&|r| {
                r.typed_per_filter_config.insert(
                    "envoy.filters.http.fault".into(),
                    pack_any(HttpFault {
                        response_rate_limit: Some(Default::default()),
                        ..Default::default()
                    }),
                );
            }),
            "routes[0].typed_per_filter_config[\"envoy.filters.http.fault\"].response_rate_limit",
        ),
        (
            "another filter's per-route config",
            with_route(&|r| {
                r.typed_per_filter_config.insert(
                    "envoy.filters.http.ext_authz".into(),
                    Any {
                        type_url: "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute".into(),
                        value: vec![],
                    },
                );
            }),
            "routes[0].typed_per_filter_config[\"envoy.filters.http.ext_authz\"]: per-route config of a filter",
        ),
        (
            "mirroring",
            with_action(&|a| {
                a.request_mirror_policies.push(
                    envoy_types::pb::envoy::config::route::v3::route_action::RequestMirrorPolicy {
                        cluster: "shadow".into(),
                        ..Default::default()
                    },
                )
            }),
            "",
        ),
        (
            "mirroring by header",
            with_action(&|a| {
                a.request_mirror_policies.push(
                    envoy_types::pb::envoy::config::route::v3::route_action::RequestMirrorPolicy {
                        cluster_header: "x-shadow".into(),
                        ..Default::default()
                    },
                )
            }),
            "virtual_hosts[0].routes[0].route.request_mirror_policies[0].cluster_header",
        ),
        (
            "retry_on",
            with_action(&|a| {
                a.retry_policy = Some(RetryPolicy {
                    retry_on: "connect-failure,envoy-ratelimited".into(),
                    ..Default::default()
                })
            }),
            "retry_policy.retry_on: condition \"envoy-ratelimited\"",
        ),
        (
            "istio default retries",
            with_action(&|a| {
                a.retry_policy = Some(RetryPolicy { retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes".into(), ..Default::default() })
            }),
            "",
        ),
        (
            "duplicate domain",
            pack_any(RouteConfiguration {
                name: "d".into(),
                virtual_hosts: vec![vhost("a", &["x"], vec![]), vhost("b", &["X"], vec![])],
                ..Default::default()
            }),
            "virtual_hosts[1].domains[0]",
        ),
        (
            "wasm filter",
            lis(vec![wasm, router()]),
            "http_filters[0].name: HTTP filter \"envoy.filters.http.wasm\"",
        ),
        (
            "optional wasm filter",
            lis(vec![optional_wasm, router()]),
            "",
        ),
        (
            "no router",
            lis(vec![]),
            "the last HTTP filter must be envoy.filters.http.router",
        ),
        (
            "tproxy",
            pack_any(PbListener {
                transparent: Some(BoolValue { value: true }),
                ..listener(vec![])
            }),
            "transparent (TPROXY interception is not supported",
        ),
        (
            "ring hash with murmur",
            with_cluster(&|c| {
                c.lb_policy = cluster::LbPolicy::RingHash as i32;
                c.lb_config = Some(cluster::LbConfig::RingHashLbConfig(
                    cluster::RingHashLbConfig {
                        hash_function: 1,
                        ..Default::default()
                    },
                ));
            }),
            "ring_hash_lb_config.hash_function (only XX_HASH)",
        ),
        (
            "maglev table not prime",
            with_cluster(&|c| {
                c.lb_policy = cluster::LbPolicy::Maglev as i32;
                c.lb_config = Some(cluster::LbConfig::MaglevLbConfig(cluster::MaglevLbConfig {
                    table_size: Some(envoy_types::pb::google::protobuf::UInt64Value {
                        value: 1000,
                    }),
                }));
            }),
            "maglev_lb_config.table_size: 1000 is not a prime",
        ),
        (
            "outlier detection with Envoy's default success rate",
            with_cluster(&|c| c.outlier_detection = Some(Default::default())),
            "outlier_detection.enforcing_success_rate",
        ),
        (
            "outlier detection as istiod writes it",
            with_cluster(&|c| {
                c.outlier_detection = Some(
                    envoy_types::pb::envoy::config::cluster::v3::OutlierDetection {
                        consecutive_5xx: Some(UInt32Value { value: 3 }),
                        enforcing_success_rate: Some(UInt32Value { value: 0 }),
                        ..Default::default()
                    },
                )
            }),
            "",
        ),
        (
            "outlier detection by failure percentage",
            with_cluster(&|c| {
                c.outlier_detection = Some(
                    envoy_types::pb::envoy::config::cluster::v3::OutlierDetection {
                        enforcing_success_rate: Some(UInt32Value { value: 0 }),
                        enforcing_failure_percentage: Some(UInt32Value { value: 100 }),
                        ..Default::default()
                    },
                )
            }),
            "outlier_detection.enforcing_failure_percentage",
        ),
        (
            "limited circuit breaker",
            with_cluster(&|c| {
                c.circuit_breakers = Some(envoy_types::pb::envoy::config::cluster::v3::CircuitBreakers {
                thresholds: vec![envoy_types::pb::envoy::config::cluster::v3::circuit_breakers::Thresholds { max_connections: Some(UInt32Value { value: 100 }), ..Default::default() }],
                ..Default::default()
            })
            }),
            "",
        ),
        (
            "retry budget",
            with_cluster(&|c| {
                c.circuit_breakers = Some(envoy_types::pb::envoy::config::cluster::v3::CircuitBreakers {
                thresholds: vec![envoy_types::pb::envoy::config::cluster::v3::circuit_breakers::Thresholds { retry_budget: Some(Default::default()), ..Default::default() }],
                ..Default::default()
            })
            }),
            "circuit_breakers.thresholds[0].retry_budget",
        ),
        (
            "istio default circuit breaker",
            with_cluster(&|c| {
                c.circuit_breakers = Some(envoy_types::pb::envoy::config::cluster::v3::CircuitBreakers {
                thresholds: vec![envoy_types::pb::envoy::config::cluster::v3::circuit_breakers::Thresholds { max_connections: Some(UInt32Value { value: u32::MAX }), ..Default::default() }],
                ..Default::default()
            })
            }),
            "",
        ),
        (
            "credential secret",
            with_cluster(&|c| {
                let ctx = UpstreamTlsContext {
                    common_tls_context: Some(CommonTlsContext {
                        tls_certificate_sds_secret_configs: vec![sds("kubernetes://egress")],
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                c.transport_socket = Some(TransportSocket {
                    name: "envoy.transport_sockets.tls".into(),
                    config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(ctx))),
                });
            }),
            "transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name",
        ),
        (
            "istio mutual",
            with_cluster(&|c| c.transport_socket = Some(istio_mutual())),
            "",
        ),
    ];
    for (what, any, want) in cases {
        let got = refused(any);
        if want.is_empty() {
            assert_eq!(got, "", "{what} should compile");
        } else {
            assert!(
                got.contains(want),
                "{what}: {got:?} does not contain {want:?}"
            );
        }
    }
}
