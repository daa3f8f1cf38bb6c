//! The HTTP connection manager of sidecar listeners with istiod's settings, and its HTTP
//! filter chain: `jwt_authn` and `rbac` (inbound only), `fault`, `cors`, `router`.

use envoy_types::pb::envoy::config::core::v3::Http2ProtocolOptions;
use envoy_types::pb::envoy::config::listener::v3::Filter;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::http::cors::v3::Cors;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds,
    http_connection_manager::{
        CodecType, ForwardClientCertDetails, PathWithEscapedSlashesAction, RouteSpecifier,
        SetCurrentClientCertDetails, UpgradeConfig,
    },
    http_filter,
};
use envoy_types::util::pack_any;
use prost::Name;

use super::filters::{HTTP_CONNECTION_MANAGER, network_filter};
use super::mtls::ads_source;
use crate::registry::Protocol;
use crate::xds::rds::route::{CORS_FILTER, FAULT_FILTER};
use crate::xds::rds::util::{bool_value, no_timeout, warn_once};

/// `envoy.filters.http.router`.
pub const ROUTER: &str = "envoy.filters.http.router";

/// Which side of the proxy an HTTP connection manager serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Traffic from the application to services.
    Outbound,
    /// Traffic from clients to the application.
    Inbound,
}

/// Where the routes of a connection manager come from.
#[derive(Debug, Clone)]
pub enum Routes {
    /// RDS, by route configuration name.
    Rds(String),
    /// Inline (inbound routes to the local application).
    Inline(Box<RouteConfiguration>),
}

/// A typed HTTP filter.
pub fn http_filter<T: Name + prost::Message>(name: &str, config: T) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(config))),
        ..Default::default()
    }
}

/// The router filter (always last).
pub fn router() -> HttpFilter {
    http_filter(ROUTER, Router::default())
}

/// Builds the connection manager. `policy_filters` (JWT, RBAC) go first, before the fault,
/// CORS and router filters that every sidecar chain carries.
pub fn connection_manager(
    direction: Direction,
    stat_prefix: String,
    routes: Routes,
    protocol: Protocol,
    policy_filters: Vec<HttpFilter>,
) -> HttpConnectionManager {
    let mut filters = policy_filters;
    if protocol == Protocol::GrpcWeb {
        warn_once(
            "grpc-web filter",
            "gRPC-Web ports are served without the grpc_web filter (not supported by mast-proxy)",
        );
    }
    filters.push(http_filter(FAULT_FILTER, HttpFault::default()));
    filters.push(http_filter(CORS_FILTER, Cors::default()));
    filters.push(router());
    let mut hcm = HttpConnectionManager {
        codec_type: CodecType::Auto as i32,
        stat_prefix,
        http_filters: filters,
        normalize_path: bool_value(true),
        path_with_escaped_slashes_action: PathWithEscapedSlashesAction::KeepUnchanged as i32,
        use_remote_address: bool_value(false),
        upgrade_configs: vec![UpgradeConfig {
            upgrade_type: "websocket".into(),
            ..Default::default()
        }],
        stream_idle_timeout: Some(no_timeout()),
        generate_request_id: bool_value(true),
        route_specifier: Some(match routes {
            Routes::Rds(name) => RouteSpecifier::Rds(Rds {
                config_source: Some(ads_source()),
                route_config_name: name,
            }),
            Routes::Inline(rc) => RouteSpecifier::RouteConfig(*rc),
        }),
        ..Default::default()
    };
    if direction == Direction::Inbound {
        hcm.server_name = "istio-envoy".into();
        hcm.forward_client_cert_details = ForwardClientCertDetails::AppendForward as i32;
        hcm.set_current_client_cert_details = Some(SetCurrentClientCertDetails {
            subject: bool_value(true),
            uri: true,
            dns: true,
            ..Default::default()
        });
        if protocol.is_http2() {
            hcm.http2_protocol_options = Some(Http2ProtocolOptions::default());
        }
    }
    hcm
}

/// The connection manager as a network filter.
pub fn hcm_filter(hcm: HttpConnectionManager) -> Filter {
    network_filter(HTTP_CONNECTION_MANAGER, pack_any(hcm))
}
