//! `ExtensionProvider`: the named providers AuthorizationPolicy and Telemetry refer to, with
//! the external authorization, Prometheus and SDS providers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    DatadogTracingProvider, Duration, EnvoyFileAccessLogProvider, EnvoyHttpGrpcV3LogProvider,
    EnvoyOpenTelemetryLogProvider, EnvoyTcpGrpcV3LogProvider, LightstepTracingProvider,
    OpenCensusAgentTracingProvider, OpenTelemetryTracingProvider, SkyWalkingTracingProvider,
    StackdriverProvider, ZipkinTracingProvider,
};

/// An extension provider: a name and one provider configuration (a `oneof`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtensionProvider {
    /// Name referenced by AuthorizationPolicy and Telemetry.
    #[serde(rename = "name")]
    pub name: String,
    /// External authorization over HTTP.
    #[serde(
        rename = "envoyExtAuthzHttp",
        alias = "envoy_ext_authz_http",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_ext_authz_http: Option<EnvoyExternalAuthorizationHttpProvider>,
    /// External authorization over gRPC.
    #[serde(
        rename = "envoyExtAuthzGrpc",
        alias = "envoy_ext_authz_grpc",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_ext_authz_grpc: Option<EnvoyExternalAuthorizationGrpcProvider>,
    /// Zipkin tracing.
    #[serde(rename = "zipkin", skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<ZipkinTracingProvider>,
    /// Deprecated: Lightstep tracing.
    #[serde(rename = "lightstep", skip_serializing_if = "Option::is_none")]
    pub lightstep: Option<LightstepTracingProvider>,
    /// Datadog tracing.
    #[serde(rename = "datadog", skip_serializing_if = "Option::is_none")]
    pub datadog: Option<DatadogTracingProvider>,
    /// Stackdriver telemetry.
    #[serde(rename = "stackdriver", skip_serializing_if = "Option::is_none")]
    pub stackdriver: Option<StackdriverProvider>,
    /// Deprecated: OpenCensus agent tracing.
    #[serde(rename = "opencensus", skip_serializing_if = "Option::is_none")]
    pub opencensus: Option<OpenCensusAgentTracingProvider>,
    /// SkyWalking tracing.
    #[serde(rename = "skywalking", skip_serializing_if = "Option::is_none")]
    pub skywalking: Option<SkyWalkingTracingProvider>,
    /// OpenTelemetry tracing.
    #[serde(rename = "opentelemetry", skip_serializing_if = "Option::is_none")]
    pub opentelemetry: Option<OpenTelemetryTracingProvider>,
    /// Prometheus metrics.
    #[serde(rename = "prometheus", skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusMetricsProvider>,
    /// Access log to a file.
    #[serde(
        rename = "envoyFileAccessLog",
        alias = "envoy_file_access_log",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_file_access_log: Option<EnvoyFileAccessLogProvider>,
    /// HTTP access log service.
    #[serde(
        rename = "envoyHttpAls",
        alias = "envoy_http_als",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_http_als: Option<EnvoyHttpGrpcV3LogProvider>,
    /// TCP access log service.
    #[serde(
        rename = "envoyTcpAls",
        alias = "envoy_tcp_als",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_tcp_als: Option<EnvoyTcpGrpcV3LogProvider>,
    /// OpenTelemetry access log service.
    #[serde(
        rename = "envoyOtelAls",
        alias = "envoy_otel_als",
        skip_serializing_if = "Option::is_none"
    )]
    pub envoy_otel_als: Option<EnvoyOpenTelemetryLogProvider>,
    /// Secret discovery service.
    #[serde(rename = "sds", skip_serializing_if = "Option::is_none")]
    pub sds: Option<SdsProvider>,
}

/// How the request body is sent to the authorizer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyExternalAuthorizationRequestBody {
    /// Maximum bytes buffered.
    #[serde(rename = "maxRequestBytes", alias = "max_request_bytes")]
    pub max_request_bytes: u32,
    /// Whether a partial body is sent when the maximum is reached.
    #[serde(rename = "allowPartialMessage", alias = "allow_partial_message")]
    pub allow_partial_message: bool,
    /// Whether the body is sent as raw bytes.
    #[serde(rename = "packAsBytes", alias = "pack_as_bytes")]
    pub pack_as_bytes: bool,
}

/// External authorization over HTTP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyExternalAuthorizationHttpProvider {
    /// Service of the authorizer (`[namespace/]hostname`).
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Timeout.
    #[serde(rename = "timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Prefix of the check request path.
    #[serde(rename = "pathPrefix", alias = "path_prefix")]
    pub path_prefix: String,
    /// Whether requests pass when the authorizer fails.
    #[serde(rename = "failOpen", alias = "fail_open")]
    pub fail_open: bool,
    /// Whether the route cache is cleared after the check.
    #[serde(rename = "clearRouteCache", alias = "clear_route_cache")]
    pub clear_route_cache: bool,
    /// Status returned when the authorizer fails.
    #[serde(rename = "statusOnError", alias = "status_on_error")]
    pub status_on_error: String,
    /// Deprecated: request headers sent to the authorizer.
    #[serde(rename = "includeHeadersInCheck", alias = "include_headers_in_check")]
    pub include_headers_in_check: Vec<String>,
    /// Request headers sent to the authorizer.
    #[serde(
        rename = "includeRequestHeadersInCheck",
        alias = "include_request_headers_in_check"
    )]
    pub include_request_headers_in_check: Vec<String>,
    /// Extra headers sent to the authorizer.
    #[serde(
        rename = "includeAdditionalHeadersInCheck",
        alias = "include_additional_headers_in_check"
    )]
    pub include_additional_headers_in_check: BTreeMap<String, String>,
    /// Whether and how the body is sent.
    #[serde(
        rename = "includeRequestBodyInCheck",
        alias = "include_request_body_in_check",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_request_body_in_check: Option<EnvoyExternalAuthorizationRequestBody>,
    /// Authorizer headers forwarded upstream on allow.
    #[serde(
        rename = "headersToUpstreamOnAllow",
        alias = "headers_to_upstream_on_allow"
    )]
    pub headers_to_upstream_on_allow: Vec<String>,
    /// Authorizer headers returned on deny.
    #[serde(
        rename = "headersToDownstreamOnDeny",
        alias = "headers_to_downstream_on_deny"
    )]
    pub headers_to_downstream_on_deny: Vec<String>,
    /// Authorizer headers returned on allow.
    #[serde(
        rename = "headersToDownstreamOnAllow",
        alias = "headers_to_downstream_on_allow"
    )]
    pub headers_to_downstream_on_allow: Vec<String>,
}

/// External authorization over gRPC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvoyExternalAuthorizationGrpcProvider {
    /// Service of the authorizer.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
    /// Timeout.
    #[serde(rename = "timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Whether requests pass when the authorizer fails.
    #[serde(rename = "failOpen", alias = "fail_open")]
    pub fail_open: bool,
    /// Whether the route cache is cleared after the check.
    #[serde(rename = "clearRouteCache", alias = "clear_route_cache")]
    pub clear_route_cache: bool,
    /// Status returned when the authorizer fails.
    #[serde(rename = "statusOnError", alias = "status_on_error")]
    pub status_on_error: String,
    /// Whether and how the body is sent.
    #[serde(
        rename = "includeRequestBodyInCheck",
        alias = "include_request_body_in_check",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_request_body_in_check: Option<EnvoyExternalAuthorizationRequestBody>,
}

/// Prometheus metrics (no settings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrometheusMetricsProvider {}

/// Secret discovery service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SdsProvider {
    /// Name.
    #[serde(rename = "name")]
    pub name: String,
    /// Service.
    #[serde(rename = "service")]
    pub service: String,
    /// Port.
    #[serde(rename = "port")]
    pub port: u32,
}
