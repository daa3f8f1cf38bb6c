//! Envoy protos as istiod builds them for a sidecar in interception mode NONE: an explicit
//! outbound HTTP listener with RDS, an EDS cluster with auto mTLS (ISTIO_MUTUAL for
//! `tlsMode: istio` endpoints), an explicit inbound listener terminating mTLS, the inbound
//! cluster to the app; TCP variants.

use std::collections::HashMap;
use std::net::SocketAddr;

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, Metadata, SocketAddress, TransportSocket, address, socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, FilterChainMatch, Listener, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action,
    route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    UpstreamTlsContext, common_tls_context,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{Any, BoolValue};
use envoy_types::util::pack_any;

/// A named resource.
pub fn named<T: prost::Name + prost::Message>(name: &str, m: T) -> (String, Any) {
    (name.to_string(), pack_any(m))
}

fn socket(a: SocketAddr) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: a.ip().to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(u32::from(
                a.port(),
            ))),
            ..Default::default()
        })),
    }
}

fn sds(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.into(),
        ..Default::default()
    }
}

fn router() -> HttpFilter {
    HttpFilter {
        name: "envoy.filters.http.router".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(
            Router::default(),
        ))),
        ..Default::default()
    }
}

fn hcm_filter(h: HttpConnectionManager) -> Filter {
    Filter {
        name: "envoy.filters.network.http_connection_manager".into(),
        config_type: Some(filter::ConfigType::TypedConfig(pack_any(h))),
    }
}

fn tcp_filter(cluster: &str) -> Filter {
    let t = TcpProxy {
        stat_prefix: cluster.into(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(cluster.into())),
        ..Default::default()
    };
    Filter {
        name: "envoy.filters.network.tcp_proxy".into(),
        config_type: Some(filter::ConfigType::TypedConfig(pack_any(t))),
    }
}

/// A route to `cluster` for everything.
pub fn route_to(cluster: &str) -> Route {
    Route {
        name: "default".into(),
        r#match: Some(RouteMatch {
            path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
            ..Default::default()
        }),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster.into())),
            timeout: Some(Default::default()),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A route configuration with one virtual host.
pub fn route_config(name: &str, domains: &[&str], routes: Vec<Route>) -> RouteConfiguration {
    RouteConfiguration {
        name: name.into(),
        virtual_hosts: vec![VirtualHost {
            name: format!("{}:{name}", domains.first().copied().unwrap_or("*")),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            routes,
            include_request_attempt_count: true,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The explicit outbound HTTP listener of a Sidecar `egress` with `bind` and a port:
/// `BIND_PORT`, an HCM with RDS `route`.
pub fn outbound_http_listener(bind: SocketAddr, route: &str) -> Listener {
    let hcm = HttpConnectionManager {
        stat_prefix: format!("outbound_{}_{}", bind.ip(), bind.port()),
        route_specifier: Some(http_connection_manager::RouteSpecifier::Rds(Rds {
            route_config_name: route.into(),
            ..Default::default()
        })),
        http_filters: vec![router()],
        normalize_path: Some(BoolValue { value: true }),
        generate_request_id: Some(BoolValue { value: true }),
        ..Default::default()
    };
    Listener {
        name: format!("{}_{}", bind.ip(), bind.port()),
        address: Some(socket(bind)),
        filter_chains: vec![FilterChain {
            filters: vec![hcm_filter(hcm)],
            ..Default::default()
        }],
        traffic_direction: 2,
        ..Default::default()
    }
}

/// An explicit outbound TCP listener to `cluster`.
pub fn outbound_tcp_listener(bind: SocketAddr, cluster: &str) -> Listener {
    Listener {
        name: format!("{}_{}", bind.ip(), bind.port()),
        address: Some(socket(bind)),
        filter_chains: vec![FilterChain {
            filters: vec![tcp_filter(cluster)],
            ..Default::default()
        }],
        traffic_direction: 2,
        ..Default::default()
    }
}

fn downstream_mtls(tcp: bool) -> TransportSocket {
    let alpn: &[&str] = if tcp {
        &["istio-peer-exchange", "h2", "http/1.1"]
    } else {
        &["h2", "http/1.1"]
    };
    let ctx = DownstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            alpn_protocols: alpn.iter().map(|s| s.to_string()).collect(),
            tls_certificate_sds_secret_configs: vec![sds("default")],
            validation_context_type: Some(
                common_tls_context::ValidationContextType::CombinedValidationContext(
                    common_tls_context::CombinedCertificateValidationContext {
                        default_validation_context: Some(CertificateValidationContext::default()),
                        validation_context_sds_secret_config: Some(sds("ROOTCA")),
                        ..Default::default()
                    },
                ),
            ),
            ..Default::default()
        }),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    };
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(ctx))),
    }
}

/// The explicit inbound listener of a Sidecar `ingress` under PeerAuthentication STRICT: one
/// mTLS chain (HTTP with an inline route to `cluster`, or TCP).
pub fn inbound_strict_listener(bind: SocketAddr, cluster: &str, tcp: bool) -> Listener {
    let filters = if tcp {
        vec![tcp_filter(cluster)]
    } else {
        let hcm = HttpConnectionManager {
            stat_prefix: format!("inbound_{}_{}", bind.ip(), bind.port()),
            server_name: "istio-envoy".into(),
            forward_client_cert_details: 2,
            set_current_client_cert_details: Some(
                http_connection_manager::SetCurrentClientCertDetails {
                    subject: Some(BoolValue { value: true }),
                    uri: true,
                    dns: true,
                    ..Default::default()
                },
            ),
            route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig({
                let mut rc = route_config(cluster, &["*"], vec![route_to(cluster)]);
                rc.virtual_hosts[0].include_request_attempt_count = false;
                rc
            })),
            http_filters: vec![router()],
            ..Default::default()
        };
        vec![hcm_filter(hcm)]
    };
    Listener {
        name: format!("{}_{}", bind.ip(), bind.port()),
        address: Some(socket(bind)),
        listener_filters: vec![ListenerFilter {
            name: "envoy.filters.listener.tls_inspector".into(),
            config_type: Some(listener_filter::ConfigType::TypedConfig(pack_any(
                TlsInspector::default(),
            ))),
            ..Default::default()
        }],
        filter_chains: vec![FilterChain {
            name: format!("{}_{}", bind.ip(), bind.port()),
            filter_chain_match: Some(FilterChainMatch {
                destination_port: Some(envoy_types::pb::google::protobuf::UInt32Value {
                    value: u32::from(bind.port()),
                }),
                transport_protocol: "tls".into(),
                ..Default::default()
            }),
            filters,
            transport_socket: Some(downstream_mtls(tcp)),
            ..Default::default()
        }],
        traffic_direction: 1,
        ..Default::default()
    }
}

/// ISTIO_MUTUAL towards servers presenting one of `sans`.
#[allow(deprecated)]
pub fn istio_mutual(sans: &[String], sni: &str) -> TransportSocket {
    let ctx = UpstreamTlsContext {
        common_tls_context: Some(CommonTlsContext {
            alpn_protocols: vec!["istio-peer-exchange".into(), "istio".into()],
            tls_certificate_sds_secret_configs: vec![sds("default")],
            validation_context_type: Some(
                common_tls_context::ValidationContextType::CombinedValidationContext(
                    common_tls_context::CombinedCertificateValidationContext {
                        default_validation_context: Some(CertificateValidationContext {
                            match_subject_alt_names: sans
                                .iter()
                                .map(|s| StringMatcher {
                                    match_pattern: Some(string_matcher::MatchPattern::Exact(
                                        s.clone(),
                                    )),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        }),
                        validation_context_sds_secret_config: Some(sds("ROOTCA")),
                        ..Default::default()
                    },
                ),
            ),
            ..Default::default()
        }),
        sni: sni.into(),
        ..Default::default()
    };
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(ctx))),
    }
}

/// Istio's SNI of an outbound cluster: `outbound_.PORT_.SUBSET_.HOST`.
pub fn sni(cluster: &str) -> String {
    let p: Vec<&str> = cluster.split('|').collect();
    format!("outbound_.{}_.{}_.{}", p[1], p[2], p[3])
}

/// An outbound EDS cluster with auto mTLS towards `sans`.
pub fn eds_cluster(name: &str, sans: &[String]) -> Cluster {
    let istio = mast_xds::structs::json_to_struct(
        serde_json::json!({"tlsMode": "istio"}).as_object().unwrap(),
    );
    Cluster {
        name: name.into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        connect_timeout: Some(envoy_types::pb::google::protobuf::Duration {
            seconds: 1,
            nanos: 0,
        }),
        transport_socket_matches: vec![
            cluster::TransportSocketMatch {
                name: "tlsMode-istio".into(),
                r#match: Some(istio),
                transport_socket: Some(istio_mutual(sans, &sni(name))),
            },
            cluster::TransportSocketMatch {
                name: "tlsMode-disabled".into(),
                r#match: Some(Default::default()),
                transport_socket: None,
            },
        ],
        ..Default::default()
    }
}

/// Endpoints of `cluster`; `true` marks a sidecar (`tlsMode: istio`).
pub fn assignment(cluster: &str, endpoints: &[(SocketAddr, bool)]) -> ClusterLoadAssignment {
    let lb = endpoints
        .iter()
        .map(|(a, istio)| LbEndpoint {
            host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                address: Some(socket(*a)),
                ..Default::default()
            })),
            metadata: istio.then(|| Metadata {
                filter_metadata: HashMap::from([(
                    "envoy.transport_socket_match".to_string(),
                    mast_xds::structs::json_to_struct(
                        serde_json::json!({"tlsMode": "istio"}).as_object().unwrap(),
                    ),
                )]),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: cluster.into(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: lb,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A static cluster (the inbound cluster to the app).
pub fn static_cluster(name: &str, to: SocketAddr) -> Cluster {
    Cluster {
        name: name.into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Static as i32,
        )),
        load_assignment: Some(assignment(name, &[(to, false)])),
        ..Default::default()
    }
}

/// Sets the upstream HTTP version of a cluster: HTTP/2 (`true`) or the downstream's.
pub fn with_protocol(mut c: Cluster, h2: bool) -> Cluster {
    use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
        HttpProtocolOptions, http_protocol_options,
    };
    let opts = if h2 {
        http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(http_protocol_options::ExplicitHttpConfig {
            protocol_config: Some(http_protocol_options::explicit_http_config::ProtocolConfig::Http2ProtocolOptions(Default::default())),
        })
    } else {
        http_protocol_options::UpstreamProtocolOptions::UseDownstreamProtocolConfig(
            Default::default(),
        )
    };
    let o = HttpProtocolOptions {
        upstream_protocol_options: Some(opts),
        ..Default::default()
    };
    c.typed_extension_protocol_options.insert(
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".into(),
        pack_any(o),
    );
    c
}

/// A route to `cluster` with istiod's default retry policy.
pub fn route_with_retries(cluster: &str) -> Route {
    use envoy_types::pb::envoy::config::route::v3::{RetryPolicy, retry_policy};
    let mut r = route_to(cluster);
    if let Some(route::Action::Route(a)) = r.action.as_mut() {
        a.retry_policy = Some(RetryPolicy {
            retry_on: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
                .into(),
            num_retries: Some(envoy_types::pb::google::protobuf::UInt32Value { value: 2 }),
            retry_host_predicate: vec![retry_policy::RetryHostPredicate {
                name: "envoy.retry_host_predicates.previous_hosts".into(),
                ..Default::default()
            }],
            host_selection_retry_max_attempts: 5,
            ..Default::default()
        });
    }
    r
}
