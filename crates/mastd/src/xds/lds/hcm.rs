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
use super::telemetry::{AccessLog, Side};
use crate::registry::Protocol;
use crate::xds::rds::route::{CORS_FILTER, FAULT_FILTER};
use crate::xds::rds::util::{bool_value, no_timeout, warn_once};
use envoy_types::pb::envoy::config::accesslog::v3::AccessLog as PbAccessLog;

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
/// `destination` on inbound ones (the listener's direction decides), with the Telemetry
/// API's changes. As istiod does, inbound chains do not fall back to the Host header for
/// `destination_service`.
pub fn stats(direction: Direction, side: &Side) -> HttpFilter {
    typed_struct_filter(
        STATS,
        STATS_TYPE,
        side.stats_config(direction == Direction::Inbound),
    )
}

/// Istio's default access log format (text).
pub const DEFAULT_ACCESS_LOG_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%\n";

/// Istio's default JSON access log fields.
pub fn default_json_format() -> serde_json::Value {
    json!({
        "start_time": "%START_TIME%",
        "route_name": "%ROUTE_NAME%",
        "method": "%REQ(:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "protocol": "%PROTOCOL%",
        "response_code": "%RESPONSE_CODE%",
        "response_flags": "%RESPONSE_FLAGS%",
        "response_code_details": "%RESPONSE_CODE_DETAILS%",
        "connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%",
        "bytes_received": "%BYTES_RECEIVED%",
        "bytes_sent": "%BYTES_SENT%",
        "duration": "%DURATION%",
        "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
        "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
        "user_agent": "%REQ(USER-AGENT)%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "authority": "%REQ(:AUTHORITY)%",
        "upstream_host": "%UPSTREAM_HOST%",
        "upstream_cluster": "%UPSTREAM_CLUSTER%",
        "upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%",
        "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
        "downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%",
        "requested_server_name": "%REQUESTED_SERVER_NAME%",
        "upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
    })
}

/// The file access log (`envoy.access_loggers.file`) of `log`, with its CEL filter.
pub fn access_log(log: &AccessLog) -> PbAccessLog {
    if let Some(o) = &log.otel {
        return otel_access_log(log, o);
    }
    use envoy_types::pb::envoy::config::accesslog::v3::access_log;
    use envoy_types::pb::envoy::config::core::v3::{
        DataSource, SubstitutionFormatString, data_source, substitution_format_string::Format,
    };
    use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{
        FileAccessLog, file_access_log::AccessLogFormat,
    };
    let format = if log.json {
        let fields = log
            .format
            .as_deref()
            .and_then(|f| serde_json::from_str::<serde_json::Value>(f).ok())
            .unwrap_or_else(default_json_format);
        Format::JsonFormat(crate::xds::cds::builder::to_struct(fields))
    } else {
        Format::TextFormatSource(DataSource {
            specifier: Some(data_source::Specifier::InlineString(
                log.format
                    .clone()
                    .map(|f| {
                        if f.ends_with('\n') {
                            f
                        } else {
                            format!("{f}\n")
                        }
                    })
                    .unwrap_or_else(|| DEFAULT_ACCESS_LOG_FORMAT.into()),
            )),
            ..Default::default()
        })
    };
    let file = FileAccessLog {
        path: log.path.clone(),
        access_log_format: Some(AccessLogFormat::LogFormat(SubstitutionFormatString {
            format: Some(format),
            ..Default::default()
        })),
    };
    PbAccessLog {
        name: "envoy.access_loggers.file".into(),
        filter: cel_filter(log),
        config_type: Some(access_log::ConfigType::TypedConfig(pack_any(file))),
    }
}

/// The CEL filter (`envoy.access_loggers.extension_filters.cel`) of `log`, if it has one.
fn cel_filter(
    log: &AccessLog,
) -> Option<envoy_types::pb::envoy::config::accesslog::v3::AccessLogFilter> {
    use envoy_types::pb::envoy::config::accesslog::v3::{
        AccessLogFilter, ExtensionFilter, access_log_filter, extension_filter,
    };
    use envoy_types::pb::envoy::extensions::access_loggers::filters::cel::v3::ExpressionFilter;
    log.filter.as_ref().map(|e| AccessLogFilter {
        filter_specifier: Some(access_log_filter::FilterSpecifier::ExtensionFilter(
            ExtensionFilter {
                name: "envoy.access_loggers.extension_filters.cel".into(),
                config_type: Some(extension_filter::ConfigType::TypedConfig(pack_any(
                    ExpressionFilter {
                        expression: e.clone(),
                        ..Default::default()
                    },
                ))),
            },
        )),
    })
}

/// The OpenTelemetry access log (`envoy.access_loggers.open_telemetry`) of an `envoyOtelAls`
/// provider, as istiod builds it (with the current top-level `grpc_service` and `log_name`
/// in place of the deprecated `common_config`): OTLP/gRPC to the collector's cluster, the
/// text format as the body (Istio's default without one), the labels as attributes, no
/// built-in labels.
fn otel_access_log(log: &AccessLog, o: &super::telemetry::OtelLog) -> PbAccessLog {
    use envoy_types::pb::envoy::config::accesslog::v3::access_log;
    use envoy_types::pb::envoy::config::core::v3::{GrpcService, grpc_service};
    use envoy_types::pb::envoy::extensions::access_loggers::open_telemetry::v3::OpenTelemetryAccessLogConfig;
    use envoy_types::pb::opentelemetry::proto::common::v1::{
        AnyValue, KeyValue, KeyValueList, any_value,
    };
    let string = |s: String| AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    };
    let attributes = o
        .attributes
        .as_deref()
        .and_then(|a| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(a).ok())
        .map(|m| KeyValueList {
            values: m
                .into_iter()
                .map(|(k, v)| KeyValue {
                    key: k,
                    value: Some(string(match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })),
                    ..Default::default()
                })
                .collect(),
        });
    let cfg = OpenTelemetryAccessLogConfig {
        log_name: o.log_name.clone(),
        grpc_service: Some(GrpcService {
            target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                grpc_service::EnvoyGrpc {
                    cluster_name: o.cluster.clone(),
                    authority: o.authority.clone(),
                    ..Default::default()
                },
            )),
            ..Default::default()
        }),
        disable_builtin_labels: true,
        body: Some(string(
            log.format
                .clone()
                .unwrap_or_else(|| DEFAULT_ACCESS_LOG_FORMAT.into()),
        )),
        attributes,
        ..Default::default()
    };
    PbAccessLog {
        name: "envoy.access_loggers.open_telemetry".into(),
        filter: cel_filter(log),
        config_type: Some(access_log::ConfigType::TypedConfig(pack_any(cfg))),
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
    telemetry: &Side,
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
    if !telemetry.metrics_off() {
        filters.push(stats(direction, telemetry));
    }
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
        access_log: telemetry.access_log.iter().map(access_log).collect(),
        generate_request_id: bool_value(true),
        tracing: telemetry.tracing.as_ref().map(super::tracing::hcm_tracing),
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
