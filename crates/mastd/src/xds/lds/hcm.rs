//! The HTTP connection manager of sidecar listeners with istiod's settings, and its HTTP
//! filter chain: `istio.metadata_exchange`, `jwt_authn` and `rbac` (inbound only), `fault`,
//! `cors`, `istio.stats`, `router`, as istiod orders them.

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
use mast_xds::typed_struct::TypedStruct;
use prost::Name;
use serde_json::json;

use super::filters::{HTTP_CONNECTION_MANAGER, network_filter};
use super::mtls::ads_source;
use crate::registry::Protocol;
use crate::xds::rds::route::{CORS_FILTER, FAULT_FILTER};
use crate::xds::rds::util::{bool_value, no_timeout, warn_once};

/// `envoy.filters.http.router`.
pub const ROUTER: &str = "envoy.filters.http.router";
/// Istio's HTTP peer metadata exchange filter.
pub const METADATA_EXCHANGE: &str = "istio.metadata_exchange";
/// Its config type (`io.istio.http.peer_metadata.Config`), given as a `TypedStruct`.
pub const METADATA_EXCHANGE_TYPE: &str = "type.googleapis.com/io.istio.http.peer_metadata.Config";
/// Istio's stats filter (standard metrics).
pub const STATS: &str = "istio.stats";
/// Its config type (`stats.PluginConfig`), given as a `TypedStruct`.
pub const STATS_TYPE: &str = "type.googleapis.com/stats.PluginConfig";

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

fn typed_struct_filter(name: &str, type_url: &str, value: serde_json::Value) -> HttpFilter {
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(
            TypedStruct::new(type_url, value).to_any(),
        )),
        ..Default::default()
    }
}

/// `istio.metadata_exchange`: on outbound chains the proxy sends its metadata upstream and
/// learns the server's from the response; on inbound chains the other way round (Istio's
/// `istio_headers` discovery and propagation).
pub fn metadata_exchange(direction: Direction) -> HttpFilter {
    let value = match direction {
        Direction::Outbound => json!({
            "upstream_discovery": [{"istio_headers": {}}],
            "upstream_propagation": [{"istio_headers": {}}],
        }),
        Direction::Inbound => json!({
            "downstream_discovery": [{"istio_headers": {}}],
            "downstream_propagation": [{"istio_headers": {}}],
        }),
    };
    typed_struct_filter(METADATA_EXCHANGE, METADATA_EXCHANGE_TYPE, value)
}

/// `istio.stats`: Istio's standard metrics, reported as `source` on outbound chains and as
/// `destination` on inbound ones (the listener's direction decides). As istiod does, inbound
/// chains do not fall back to the Host header for `destination_service`.
pub fn stats(direction: Direction) -> HttpFilter {
    typed_struct_filter(STATS, STATS_TYPE, stats_config(direction))
}

/// The `stats.PluginConfig` of a chain in `direction`.
pub fn stats_config(direction: Direction) -> serde_json::Value {
    match direction {
        Direction::Outbound => json!({}),
        Direction::Inbound => json!({"disable_host_header_fallback": true}),
    }
}

/// The router filter (always last).
pub fn router() -> HttpFilter {
    http_filter(ROUTER, Router::default())
}

/// Builds the connection manager. `policy_filters` (JWT, RBAC) follow the metadata exchange
/// and come before the fault, CORS, stats and router filters that every sidecar chain carries.
pub fn connection_manager(
    direction: Direction,
    stat_prefix: String,
    routes: Routes,
    protocol: Protocol,
    policy_filters: Vec<HttpFilter>,
) -> HttpConnectionManager {
    let mut filters = vec![metadata_exchange(direction)];
    filters.extend(policy_filters);
    if protocol == Protocol::GrpcWeb {
        warn_once(
            "grpc-web filter",
            "gRPC-Web ports are served without the grpc_web filter (not supported by mast-proxy)",
        );
    }
    filters.push(http_filter(FAULT_FILTER, HttpFault::default()));
    filters.push(http_filter(CORS_FILTER, Cors::default()));
    filters.push(stats(direction));
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
